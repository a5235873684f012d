#include "eval/loss.h"

#include <stdlib.h>
#include <string.h>

#include "eval/lm.h"
#include "eval/stats.h"

int64_t loss_window_count(size_t n_tokens, int max_tokens, LoaderLayout layout)
{
    size_t T = max_tokens > 1 ? (size_t)(max_tokens - 1) : 0;
    if (T == 0 || n_tokens < T + 1) return 0;
    return layout == LOADER_ROWS ? (int64_t)(n_tokens / (T + 1)) : (int64_t)((n_tokens - 1) / T);
}

int loss_evaluate(const uint16_t *tokens, const uint16_t *mask, size_t n_tokens, LoaderLayout layout,
                  const TokenScorer *s, LossResult *r, Progress *progress, Err *e)
{
    memset(r, 0, sizeof *r);
    int T = s->max_tokens - 1, B = s->max_rows;
    size_t stride = layout == LOADER_ROWS ? (size_t)T + 1 : (size_t)T;
    int64_t n_win = loss_window_count(n_tokens, s->max_tokens, layout);
    if (n_win == 0)
        return err_set(e, "validation loss: %zu tokens are fewer than one window of %d + 1", n_tokens, T);
    if (layout == LOADER_ROWS && n_tokens % stride)
        return err_set(e, "validation loss: %zu tokens are not whole rows of %zu (T + 1) tokens; "
                          "rows data must be packed at this sequence length", n_tokens, stride);
    double *win_loss = xcalloc((unsigned long)n_win, sizeof(double));
    double *win_count = xcalloc((unsigned long)n_win, sizeof(double));
    int *buf = xmalloc((unsigned long)B * (unsigned long)(T + 1) * sizeof(int));
    const int **seqs = xmalloc((unsigned long)B * sizeof *seqs);
    int *lens = xmalloc((unsigned long)B * sizeof(int));
    float *lp = xmalloc((unsigned long)B * (unsigned long)T * sizeof(float));
    int rc = -1;

    for (int64_t w0 = 0; w0 < n_win; w0 += B) {
        int nb = (int)(n_win - w0 < B ? n_win - w0 : B);
        for (int b = 0; b < nb; b++) {
            const uint16_t *src = tokens + (size_t)(w0 + b) * stride;
            int *row = buf + (size_t)b * (T + 1);
            for (int j = 0; j <= T; j++) row[j] = src[j];
            seqs[b] = row;
            lens[b] = T + 1;
        }
        if (s->token_logprobs(s->ctx, seqs, lens, nb, lp, T, e)) goto done;
        for (int b = 0; b < nb; b++) {
            size_t start = (size_t)(w0 + b) * stride;
            double sum = 0, count = 0;
            for (int j = 0; j < T; j++) {
                if (mask && !mask[start + j + 1]) continue;
                sum -= lp[(size_t)b * T + j];
                count += 1;
            }
            win_count[w0 + b] = count;
            win_loss[w0 + b] = count > 0 ? sum / count : 0;
        }
        if (progress) progress_update(progress, (uint64_t)(w0 + nb));
    }
    double counted = 0;
    for (int64_t w = 0; w < n_win; w++) {
        counted += win_count[w];
        r->n_windows += win_count[w] > 0;
    }
    if (counted == 0) {
        err_set(e, "validation loss: the mask selects no tokens");
        goto done;
    }
    r->n_scored = (int64_t)counted;
    weighted_mean_stderr(win_loss, win_count, (long)n_win, &r->mean_loss, &r->mean_stderr);
    rc = 0;
done:
    free(win_loss);
    free(win_count);
    free(buf);
    free(seqs);
    free(lens);
    free(lp);
    return rc;
}

int eval_stream_loss(Model *m, const uint16_t *tokens, size_t n_tokens, int B, int T, LossResult *out, Err *e)
{
    if (B <= 0 || T <= 0 || B > m->max_B || T > m->max_T)
        return err_set(e, "eval: batch %d x %d does not fit the model's buffers %d x %d", B, T, m->max_B, m->max_T);
    for (size_t i = 0; i < n_tokens; i++)
        if (tokens[i] >= m->cfg.vocab_size)
            return err_set(e, "eval: token %u at position %zu is outside the model's vocabulary of %d", tokens[i], i,
                           m->cfg.vocab_size);
    LmScorer lm;
    lm_scorer_init(&lm, m);
    TokenScorer s = lm.scorer;
    s.max_rows = B;
    s.max_tokens = T + 1;
    int rc = loss_evaluate(tokens, NULL, n_tokens, LOADER_STREAM, &s, out, NULL, e);
    lm_scorer_free(&lm);
    return rc;
}
