#include "eval/qa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/chat.h"
#include "eval/stats.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static size_t trim(char *s)
{
    size_t a = 0, n = strlen(s);
    while (a < n && is_space(s[a])) a++;
    while (n > a && is_space(s[n - 1])) n--;
    memmove(s, s + a, n - a);
    s[n - a] = 0;
    return n - a;
}

void answer_normalise(char *s)
{
    size_t n = trim(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z') s[i] = (char)(s[i] - 'A' + 'a');
    while (n > 0 && s[n - 1] == '.') s[--n] = 0;
    trim(s);
}

int answer_matches(const char *prediction, const char *reference)
{
    size_t np = strlen(prediction) + 1, nr = strlen(reference) + 1;
    char *a = xmalloc(np), *b = xmalloc(nr);
    memcpy(a, prediction, np);
    memcpy(b, reference, nr);
    answer_normalise(a);
    answer_normalise(b);
    int same = strcmp(a, b) == 0;
    free(a);
    free(b);
    return same;
}

int qa_prompt_tokens(const Tokenizer *tok, const QaItem *it, int **ids, size_t *n, size_t *cap, Err *e)
{
    return chat_encode_prompt(tok, &it->conv, ids, n, cap, e);
}

void qa_result_free(QaResult *r)
{
    if (r->predictions)
        for (long i = 0; i < r->n; i++) free(r->predictions[i]);
    free(r->predictions);
    free(r->item_correct);
    free(r->attrs);
    memset(r, 0, sizeof *r);
}

static QaAttributeScore *attr_slot(QaResult *r, const char *name, int *cap)
{
    for (int i = 0; i < r->n_attrs; i++)
        if (strcmp(r->attrs[i].name, name) == 0) return &r->attrs[i];
    if (r->n_attrs == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        r->attrs = realloc(r->attrs, (size_t)*cap * sizeof *r->attrs);
        if (!r->attrs) return NULL;
    }
    QaAttributeScore *a = &r->attrs[r->n_attrs++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    return a;
}

int qa_evaluate(const Task *t, const Tokenizer *tok, const Generator *g, int max_new, long limit,
                QaResult *r, Progress *progress, Err *e)
{
    memset(r, 0, sizeof *r);
    if (t->kind != TASK_QA)
        return err_set(e, "%s: expected generation items (\"messages\", \"answer\")", t->path);
    if (max_new < 1) return err_set(e, "max_new must be at least 1 (got %d)", max_new);
    long n_items = limit > 0 && limit < t->n_items ? limit : t->n_items;
    int stop = tokenizer_special(tok, SPECIAL_ENDOFTEXT), B = g->max_batch;
    int **prompts = xcalloc((unsigned long)B, sizeof *prompts), **outs = xcalloc((unsigned long)B, sizeof *outs);
    size_t *caps = xcalloc((unsigned long)B, sizeof *caps);
    int *n_prompts = xcalloc((unsigned long)B, sizeof(int)), *limits = xcalloc((unsigned long)B, sizeof(int));
    int *n_outs = xcalloc((unsigned long)B, sizeof(int));
    for (int b = 0; b < B; b++) outs[b] = xmalloc((unsigned long)max_new * sizeof(int));
    int attr_cap = 0, rc = -1;
    r->predictions = xcalloc((unsigned long)n_items, sizeof *r->predictions);
    r->item_correct = xcalloc((unsigned long)n_items, sizeof *r->item_correct);

    for (long i0 = 0; i0 < n_items; i0 += B) {
        int nb = (int)(n_items - i0 < B ? n_items - i0 : B);
        for (int b = 0; b < nb; b++) {
            size_t n = 0;
            if (qa_prompt_tokens(tok, &t->qa[i0 + b], &prompts[b], &n, &caps[b], e)) goto done;
            if ((long)n >= g->max_tokens) {
                err_set(e, "%s: item %ld: the prompt is %zu tokens; the model's context holds %d",
                        t->path, i0 + b + 1, n, g->max_tokens);
                goto done;
            }
            n_prompts[b] = (int)n;
            int room = g->max_tokens - (int)n;
            limits[b] = max_new < room ? max_new : room;
        }
        if (g->generate(g->ctx, (const int *const *)prompts, n_prompts, nb, limits, stop, outs, n_outs, e)) {
            err_wrap(e, "%s: items %ld..%ld", t->path, i0 + 1, i0 + nb);
            goto done;
        }
        for (int b = 0; b < nb; b++) {
            const QaItem *it = &t->qa[i0 + b];
            size_t bytes;
            char *text = tokenizer_decode(tok, outs[b], (size_t)n_outs[b], &bytes);
            if (!text) {
                err_set(e, "out of memory while decoding a generation");
                goto done;
            }
            r->predictions[i0 + b] = text;
            r->n = i0 + b + 1;
            r->generated_tokens += n_outs[b];
            int ok = answer_matches(text, it->answer);
            r->item_correct[i0 + b] = ok;
            r->correct += ok;
            QaAttributeScore *a = attr_slot(r, it->attribute, &attr_cap);
            if (!a) {
                err_set(e, "out of memory");
                goto done;
            }
            a->n++;
            a->correct += ok;
        }
        if (progress) progress_update(progress, (uint64_t)(i0 + nb));
    }
    r->em = (double)r->correct / (double)r->n;
    r->em_stderr = stderr_proportion(r->em, r->n);
    for (int k = 0; k < r->n_attrs; k++) {
        QaAttributeScore *a = &r->attrs[k];
        a->em = (double)a->correct / (double)a->n;
        a->em_stderr = stderr_proportion(a->em, a->n);
    }
    rc = 0;
done:
    for (int b = 0; b < B; b++) {
        free(prompts[b]);
        free(outs[b]);
    }
    free(prompts);
    free(outs);
    free(caps);
    free(n_prompts);
    free(limits);
    free(n_outs);
    if (rc) qa_result_free(r);
    return rc;
}

/* The item with its reference answer as the assistant's reply, rendered
 * with the loss mask; the answer's tokens are those with mask 1. */
static int answer_sequence(const Tokenizer *tok, const QaItem *it, int space_reply, int **ids, uint8_t **mask,
                           size_t *n, size_t *cap, Err *e)
{
    ChatConversation c = {xmalloc((unsigned long)(it->conv.n_messages + 1) * sizeof(ChatMessage)),
                          it->conv.n_messages + 1};
    memcpy(c.messages, it->conv.messages, (size_t)it->conv.n_messages * sizeof(ChatMessage));
    size_t len = strlen(it->answer);
    char *reply = xmalloc(len + 2);
    snprintf(reply, len + 2, "%s%s", space_reply && it->answer[0] != ' ' ? " " : "", it->answer);
    c.messages[it->conv.n_messages] = (ChatMessage){CHAT_ASSISTANT, reply};
    *n = 0;
    int rc = chat_encode(tok, &c, ids, mask, n, cap, e);
    free(reply);
    free(c.messages);
    return rc;
}

int qa_answer_logprob(const Task *t, const Tokenizer *tok, const TokenScorer *s, long limit, int space_reply,
                      double *score, double *mean, double *mean_stderr, Progress *progress, Err *e)
{
    if (t->kind != TASK_QA)
        return err_set(e, "%s: expected generation items (\"messages\", \"answer\")", t->path);
    long n_items = limit > 0 && limit < t->n_items ? limit : t->n_items;
    int B = s->max_rows, stride = s->max_tokens - 1, rc = -1;
    int **ids = xcalloc((unsigned long)B, sizeof *ids);
    uint8_t **mask = xcalloc((unsigned long)B, sizeof *mask);
    size_t *caps = xcalloc((unsigned long)B, sizeof *caps);
    const int **seqs = xmalloc((unsigned long)B * sizeof *seqs);
    int *lens = xmalloc((unsigned long)B * sizeof(int)), *skip = xmalloc((unsigned long)B * sizeof(int));
    float *lp = xmalloc((unsigned long)B * (unsigned long)stride * sizeof(float));
    for (long i0 = 0; i0 < n_items; i0 += B) {
        int nb = (int)(n_items - i0 < B ? n_items - i0 : B);
        for (int b = 0; b < nb; b++) {
            size_t n, first = 0;
            if (answer_sequence(tok, &t->qa[i0 + b], space_reply, &ids[b], &mask[b], &n, &caps[b], e)) goto done;
            while (first < n && !mask[b][first]) first++;
            /* the window must hold the answer and the token before it */
            size_t keep = n > (size_t)s->max_tokens ? (size_t)s->max_tokens : n;
            if (first == 0 || n - first + 1 > keep) {
                err_set(e, "%s: item %ld: the answer is %zu tokens; the model's window holds %d with its prompt",
                        t->path, i0 + b + 1, n - first, s->max_tokens);
                goto done;
            }
            skip[b] = (int)(n - keep);
            seqs[b] = ids[b] + skip[b];
            lens[b] = (int)keep;
        }
        if (s->token_logprobs(s->ctx, seqs, lens, nb, lp, stride, e)) goto done;
        for (int b = 0; b < nb; b++) {
            double sum = 0;
            int counted = 0;
            for (int j = 0; j + 1 < lens[b]; j++)
                if (mask[b][skip[b] + j + 1]) {
                    sum += lp[(size_t)b * stride + j];
                    counted++;
                }
            score[i0 + b] = sum / counted;
        }
        if (progress) progress_update(progress, (uint64_t)(i0 + nb));
    }
    weighted_mean_stderr(score, NULL, n_items, mean, mean_stderr);
    rc = 0;
done:
    for (int b = 0; b < B; b++) {
        free(ids[b]);
        free(mask[b]);
    }
    free(ids);
    free(mask);
    free(caps);
    free(seqs);
    free(lens);
    free(skip);
    free(lp);
    return rc;
}
