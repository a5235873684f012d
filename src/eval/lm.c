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

/* The whole sequence through model_forward for every new token. */
static void generate_full(LmGenerator *g, const int *prompt, int n_prompt, int max_new, int stop_token,
                          int *out, int *n_out)
{
    Model *m = g->m;
    int V = m->cfg.vocab_size, len = n_prompt;
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

/* All sequences together through the cache: each prompt is prefilled in one
 * pass, then every unfinished sequence adds one row per step. */
static void generate_cached(LmGenerator *g, const int *const *prompts, const int *n_prompts, int n,
                            const int *max_new, int stop_token, int *const *outs, int *n_outs)
{
    Decoder *d = &g->dec;
    int V = g->m->cfg.vocab_size, rows = 0;
    decoder_reset(d);
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < n_prompts[i]; t++) g->slots[t] = i;
        decoder_step(d, g->slots, prompts[i], n_prompts[i]);
    }
    for (int i = 0; i < n; i++) g->active[i] = 1;
    for (;;) {
        rows = 0;
        for (int i = 0; i < n; i++) {
            if (!g->active[i]) continue;
            int next = argmax(d->logits + (size_t)i * V, V);
            if (next == stop_token) {
                g->active[i] = 0;
                continue;
            }
            outs[i][n_outs[i]++] = next;
            if (n_outs[i] == max_new[i]) {
                g->active[i] = 0;
                continue;
            }
            g->slots[rows] = i;
            g->next[rows++] = next;
        }
        if (rows == 0) break;
        decoder_step(d, g->slots, g->next, rows);
    }
}

static int lm_generate(void *ctx, const int *const *prompts, const int *n_prompts, int n, const int *max_new,
                       int stop_token, int *const *outs, int *n_outs, Err *e)
{
    LmGenerator *g = ctx;
    Model *m = g->m;
    int V = m->cfg.vocab_size;
    if (n < 1 || n > g->gen.max_batch)
        return err_set(e, "generate: %d sequences in one call (the generator holds 1..%d)", n, g->gen.max_batch);
    for (int i = 0; i < n; i++) {
        n_outs[i] = 0;
        if (n_prompts[i] < 1 || max_new[i] < 1 || n_prompts[i] + max_new[i] > m->max_T)
            return err_set(e, "generate: %d prompt + %d new tokens exceed the model's %d-token context",
                           n_prompts[i], max_new[i], m->max_T);
        for (int t = 0; t < n_prompts[i]; t++)
            if (prompts[i][t] < 0 || prompts[i][t] >= V)
                return err_set(e, "generate: prompt token %d out of range for a vocabulary of %d", prompts[i][t], V);
    }
    if (g->use_cache) generate_cached(g, prompts, n_prompts, n, max_new, stop_token, outs, n_outs);
    else
        for (int i = 0; i < n; i++) generate_full(g, prompts[i], n_prompts[i], max_new[i], stop_token, outs[i], &n_outs[i]);
    return 0;
}

int lm_generator_init(LmGenerator *g, Model *m, int max_batch, int use_cache, Err *e)
{
    memset(g, 0, sizeof *g);
    if (max_batch < 1) return err_set(e, "generator: max_batch must be positive (got %d)", max_batch);
    g->m = m;
    g->use_cache = use_cache;
    if (use_cache && decoder_create(&g->dec, m, max_batch, m->max_T, e)) return -1;
    int R = m->max_T > max_batch ? m->max_T : max_batch;
    g->seq = xmalloc((unsigned long)m->max_T * sizeof(int));
    g->slots = xmalloc((unsigned long)R * sizeof(int));
    g->next = xmalloc((unsigned long)max_batch * sizeof(int));
    g->active = xmalloc((unsigned long)max_batch * sizeof(int));
    g->gen.ctx = g;
    g->gen.max_tokens = m->max_T;
    g->gen.max_batch = max_batch;
    g->gen.generate = lm_generate;
    return 0;
}

void lm_generator_free(LmGenerator *g)
{
    if (g->use_cache) decoder_free(&g->dec);
    free(g->seq);
    free(g->slots);
    free(g->next);
    free(g->active);
    memset(g, 0, sizeof *g);
}
