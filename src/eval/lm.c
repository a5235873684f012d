#include "eval/lm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static int lm_token_logprobs(void *ctx, const int *const *seqs, const int *lens, int n_rows,
                             float *lp, int stride, Err *e)
{
    LmScorer *s = ctx;
    Model *m = s->m;
    int T = 0, V = m->cfg.vocab_size;
    if (n_rows < 1 || n_rows > m->max_B)
        return err_set(e, "scorer: %d sequences in one batch (the model holds 1..%d)", n_rows, m->max_B);
    for (int r = 0; r < n_rows; r++) {
        if (lens[r] < 2 || lens[r] - 1 > m->max_T)
            return err_set(e, "scorer: a sequence of %d tokens (the model scores 2..%d)", lens[r], m->max_T + 1);
        if (lens[r] - 1 > T) T = lens[r] - 1;
    }
    for (int r = 0; r < n_rows; r++)
        for (int t = 0; t < T; t++) {
            int tok = t < lens[r] - 1 ? seqs[r][t] : 0;
            if (tok < 0 || tok >= V || (t + 1 < lens[r] && (seqs[r][t + 1] < 0 || seqs[r][t + 1] >= V)))
                return err_set(e, "scorer: token id out of range for a vocabulary of %d", V);
            s->batch[(size_t)r * T + t] = tok;
        }
    model_forward(m, s->batch, NULL, NULL, n_rows, T);
    const float *logits = model_logits(m);
    int n_pos = n_rows * T;
#pragma omp parallel for
    for (int p = 0; p < n_pos; p++) {
        int r = p / T, t = p % T;
        if (t >= lens[r] - 1) continue;
        const float *z = logits + (size_t)p * V;
        float mx = z[0];
        for (int i = 1; i < V; i++)
            if (z[i] > mx) mx = z[i];
        double sum = 0;
        for (int i = 0; i < V; i++) sum += exp((double)(z[i] - mx));
        lp[(size_t)r * stride + t] = (float)((double)(z[seqs[r][t + 1]] - mx) - log(sum));
    }
    return 0;
}

void lm_scorer_init(LmScorer *s, Model *m)
{
    s->m = m;
    s->batch = xmalloc((unsigned long)m->max_B * (unsigned long)m->max_T * sizeof(int));
    s->scorer.ctx = s;
    s->scorer.max_rows = m->max_B;
    s->scorer.max_tokens = m->max_T + 1;
    s->scorer.token_logprobs = lm_token_logprobs;
}

void lm_scorer_free(LmScorer *s)
{
    free(s->batch);
    memset(s, 0, sizeof *s);
}

static int lm_generate(void *ctx, const int *prompt, int n_prompt, int max_new, int stop_token,
                       int *out, int *n_out, Err *e)
{
    LmGenerator *g = ctx;
    Model *m = g->m;
    int V = m->cfg.vocab_size;
    *n_out = 0;
    if (n_prompt < 1 || max_new < 1 || n_prompt + max_new > m->max_T)
        return err_set(e, "generate: %d prompt + %d new tokens exceed the model's %d-token context",
                       n_prompt, max_new, m->max_T);
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= V)
            return err_set(e, "generate: prompt token %d out of range for a vocabulary of %d", prompt[i], V);
    if (g->use_cache) {
        decoder_reset(&g->dec);
        const float *logits = decoder_forward(&g->dec, prompt, n_prompt);
        for (;;) {
            int next = argmax(logits, V);
            if (next == stop_token) break;
            out[(*n_out)++] = next;
            if (*n_out == max_new) break;
            logits = decoder_forward(&g->dec, &next, 1);
        }
    } else {
        int len = n_prompt;
        memcpy(g->seq, prompt, (size_t)n_prompt * sizeof(int));
        for (;;) {
            model_forward(m, g->seq, NULL, NULL, 1, len);
            int next = argmax(model_logits(m) + (size_t)(len - 1) * V, V);
            if (next == stop_token) break;
            out[(*n_out)++] = next;
            if (*n_out == max_new) break;
            g->seq[len++] = next;
        }
    }
    return 0;
}

int lm_generator_init(LmGenerator *g, Model *m, int use_cache, Err *e)
{
    memset(g, 0, sizeof *g);
    g->m = m;
    g->use_cache = use_cache;
    if (use_cache && decoder_create(&g->dec, m, m->max_T, e)) return -1;
    g->seq = xmalloc((unsigned long)m->max_T * sizeof(int));
    g->gen.ctx = g;
    g->gen.max_tokens = m->max_T;
    g->gen.generate = lm_generate;
    return 0;
}

void lm_generator_free(LmGenerator *g)
{
    if (g->use_cache) decoder_free(&g->dec);
    free(g->seq);
    memset(g, 0, sizeof *g);
}
