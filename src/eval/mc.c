#include "eval/mc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/stats.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

void mc_request_free(McRequest *r)
{
    free(r->tokens);
    memset(r, 0, sizeof *r);
}

int mc_request_build(McRequest *r, const Tokenizer *tok, const char *context, const char *choice,
                     int max_tokens, Err *e)
{
    memset(r, 0, sizeof *r);
    size_t ctx_bytes = strlen(context), choice_bytes = strlen(choice);
    while (ctx_bytes > 0 && is_space(context[ctx_bytes - 1])) ctx_bytes--;
    /* joint text: the context without its trailing whitespace, then the rest */
    size_t joint_bytes = strlen(context) + choice_bytes;
    char *joint = xmalloc(joint_bytes + 1);
    memcpy(joint, context, strlen(context));
    memcpy(joint + strlen(context), choice, choice_bytes + 1);

    int *ctx = NULL, *whole = NULL, *apart = NULL;
    size_t n_ctx = 0, cap_ctx = 0, n_whole = 0, cap_whole = 0, n_apart = 0, cap_apart = 0;
    int rc = -1;
    if (tokenizer_encode(tok, joint, ctx_bytes, &ctx, &n_ctx, &cap_ctx) ||
        tokenizer_encode(tok, joint, joint_bytes, &whole, &n_whole, &cap_whole)) {
        err_set(e, "out of memory while tokenising a multiple-choice item");
        goto done;
    }
    const int *cont = whole + n_ctx;
    size_t n_cont = n_whole > n_ctx ? n_whole - n_ctx : 0;
    if (n_ctx > 0 && (n_cont == 0 || memcmp(whole, ctx, n_ctx * sizeof *ctx) != 0)) {
        /* a merge spans the boundary: rule 2' of mc.h */
        if (tokenizer_encode(tok, joint + ctx_bytes, joint_bytes - ctx_bytes, &apart, &n_apart, &cap_apart)) {
            err_set(e, "out of memory while tokenising a multiple-choice item");
            goto done;
        }
        cont = apart;
        n_cont = n_apart;
        r->fallback = 1;
    }
    if (n_ctx == 0) {
        /* no context: condition on the end-of-text token, score the whole encoding */
        int eot = tokenizer_special(tok, SPECIAL_ENDOFTEXT);
        if (cap_ctx < 1) ctx = realloc(ctx, sizeof *ctx);
        ctx[0] = eot;
        n_ctx = 1;
        cont = whole;
        n_cont = n_whole;
    }
    if (n_cont == 0) {
        err_set(e, "choice \"%s\" adds no tokens after context \"%s\"", choice, context);
        goto done;
    }
    if ((long)n_cont >= max_tokens) {
        err_set(e, "choice \"%s\" is %zu tokens; the model's window holds %d with its context",
                choice, n_cont, max_tokens);
        goto done;
    }
    size_t n = n_ctx + n_cont, skip = n > (size_t)max_tokens ? n - (size_t)max_tokens : 0;
    r->n_tokens = (int)(n - skip);
    r->n_cont = (int)n_cont;
    r->tokens = xmalloc((unsigned long)r->n_tokens * sizeof(int));
    for (size_t i = skip; i < n; i++)
        r->tokens[i - skip] = i < n_ctx ? ctx[i] : cont[i - n_ctx];
    rc = 0;
done:
    free(joint);
    free(ctx);
    free(whole);
    free(apart);
    return rc;
}

void mc_pick(const double *loglik, const char *const *choices, int n_choices, int *best, int *best_norm)
{
    int b = 0, bn = 0;
    double bn_val = loglik[0] / (double)strlen(choices[0]);
    for (int i = 1; i < n_choices; i++) {
        if (loglik[i] > loglik[b]) b = i;
        double v = loglik[i] / (double)strlen(choices[i]);
        if (v > bn_val) {
            bn = i;
            bn_val = v;
        }
    }
    *best = b;
    *best_norm = bn;
}

double mc_margin(const double *loglik, int n_choices, int answer)
{
    double best_wrong = -INFINITY;
    for (int c = 0; c < n_choices; c++)
        if (c != answer && loglik[c] > best_wrong) best_wrong = loglik[c];
    return loglik[answer] - best_wrong;
}

void mc_result_free(McResult *r)
{
    free(r->items);
    free(r->attrs);
    memset(r, 0, sizeof *r);
}

static McAttributeScore *attr_slot(McResult *r, const char *name, int *cap)
{
    for (int i = 0; i < r->n_attrs; i++)
        if (strcmp(r->attrs[i].name, name) == 0) return &r->attrs[i];
    if (r->n_attrs == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        McAttributeScore *p = xmalloc((unsigned long)*cap * sizeof *p);
        if (r->n_attrs) memcpy(p, r->attrs, (size_t)r->n_attrs * sizeof *p);
        free(r->attrs);
        r->attrs = p;
    }
    McAttributeScore *a = &r->attrs[r->n_attrs++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    return a;
}

int mc_evaluate(const Task *t, const Tokenizer *tok, const TokenScorer *s, long limit,
                McResult *r, double *loglik, Progress *progress, Err *e)
{
    memset(r, 0, sizeof *r);
    if (t->kind != TASK_MC)
        return err_set(e, "%s: expected multiple-choice items (\"context\", \"choices\", \"answer\")", t->path);
    long n_items = limit > 0 && limit < t->n_items ? limit : t->n_items;
    long n_rows = 0;
    for (long i = 0; i < n_items; i++) n_rows += t->mc[i].n_choices;
    long *row_item = xmalloc((unsigned long)n_rows * sizeof(long));
    int *row_choice = xmalloc((unsigned long)n_rows * sizeof(int));
    double *ll = xcalloc((unsigned long)n_rows, sizeof(double));
    unsigned char *fallback = xcalloc((unsigned long)n_items, 1);
    for (long i = 0, k = 0; i < n_items; i++)
        for (int c = 0; c < t->mc[i].n_choices; c++, k++) {
            row_item[k] = i;
            row_choice[k] = c;
        }

    int B = s->max_rows, stride = s->max_tokens - 1;
    McRequest *req = xcalloc((unsigned long)B, sizeof *req);
    const int **seqs = xmalloc((unsigned long)B * sizeof *seqs);
    int *lens = xmalloc((unsigned long)B * sizeof(int));
    float *lp = xmalloc((unsigned long)B * (unsigned long)stride * sizeof(float));
    int rc = -1;

    for (long start = 0; start < n_rows; start += B) {
        int nb = (int)(n_rows - start < B ? n_rows - start : B);
        for (int b = 0; b < nb; b++) {
            const McItem *it = &t->mc[row_item[start + b]];
            if (mc_request_build(&req[b], tok, it->context, it->choices[row_choice[start + b]],
                                 s->max_tokens, e)) {
                err_wrap(e, "%s: item %ld", t->path, row_item[start + b] + 1);
                goto done;
            }
            seqs[b] = req[b].tokens;
            lens[b] = req[b].n_tokens;
        }
        if (s->token_logprobs(s->ctx, seqs, lens, nb, lp, stride, e)) goto done;
        for (int b = 0; b < nb; b++) {
            fallback[row_item[start + b]] |= (unsigned char)req[b].fallback;
            double sum = 0;
            for (int j = lens[b] - 1 - req[b].n_cont; j < lens[b] - 1; j++) sum += lp[(size_t)b * stride + j];
            ll[start + b] = sum;
            mc_request_free(&req[b]);
        }
        if (progress) {
            long end = start + nb;   /* items whose every choice is scored */
            progress_update(progress, (uint64_t)(end == n_rows ? n_items : row_item[end]));
        }
    }

    int attr_cap = 0;
    r->items = xmalloc((unsigned long)n_items * sizeof *r->items);
    double *margins = xmalloc((unsigned long)n_items * sizeof *margins);
    for (long i = 0, k = 0; i < n_items; k += t->mc[i].n_choices, i++) {
        const McItem *it = &t->mc[i];
        int best, best_norm;
        mc_pick(ll + k, (const char *const *)it->choices, it->n_choices, &best, &best_norm);
        r->items[i] = (McItemScore){best == it->answer, mc_margin(ll + k, it->n_choices, it->answer)};
        margins[i] = r->items[i].margin;
        McAttributeScore *a = attr_slot(r, it->attribute, &attr_cap);
        a->n++;
        a->correct += best == it->answer;
        a->correct_norm += best_norm == it->answer;
        r->correct += best == it->answer;
        r->correct_norm += best_norm == it->answer;
        r->n_fallback += fallback[i];
    }
    r->n = n_items;
    r->acc = (double)r->correct / (double)n_items;
    r->acc_norm = (double)r->correct_norm / (double)n_items;
    r->acc_stderr = stderr_proportion(r->acc, n_items);
    r->acc_norm_stderr = stderr_proportion(r->acc_norm, n_items);
    weighted_mean_stderr(margins, NULL, n_items, &r->margin, &r->margin_stderr);
    free(margins);
    for (int k = 0; k < r->n_attrs; k++) {
        McAttributeScore *a = &r->attrs[k];
        a->acc = (double)a->correct / (double)a->n;
        a->acc_norm = (double)a->correct_norm / (double)a->n;
        a->acc_stderr = stderr_proportion(a->acc, a->n);
        a->acc_norm_stderr = stderr_proportion(a->acc_norm, a->n);
    }
    if (loglik) memcpy(loglik, ll, (size_t)n_rows * sizeof(double));
    rc = 0;
done:
    for (int b = 0; b < B; b++) mc_request_free(&req[b]);
    free(req);
    free(seqs);
    free(lens);
    free(lp);
    free(ll);
    free(fallback);
    free(row_item);
    free(row_choice);
    return rc;
}
