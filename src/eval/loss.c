#include "eval/loss.h"

#include <stdlib.h>
#include <string.h>

#include "eval/stats.h"

long loss_window_count(size_t n_tokens, int max_tokens)
{
    size_t T = (size_t)(max_tokens - 1);
    if (n_tokens < 2 || T < 1) return 0;
    return (long)((n_tokens - 1 + T - 1) / T);
}

int loss_evaluate(const uint16_t *tokens, const uint16_t *mask, size_t n_tokens,
                  const TokenScorer *s, LossResult *r, Progress *progress, Err *e)
{
    memset(r, 0, sizeof *r);
    int T = s->max_tokens - 1, B = s->max_rows;
    long n_win = loss_window_count(n_tokens, s->max_tokens);
    if (n_win == 0) return err_set(e, "validation loss needs at least 2 tokens (got %zu)", n_tokens);
    double *win_loss = xcalloc((unsigned long)n_win, sizeof(double));
    double *win_count = xcalloc((unsigned long)n_win, sizeof(double));
    int *buf = xmalloc((unsigned long)B * (unsigned long)(T + 1) * sizeof(int));
    const int **seqs = xmalloc((unsigned long)B * sizeof *seqs);
    int *lens = xmalloc((unsigned long)B * sizeof(int));
    float *lp = xmalloc((unsigned long)B * (unsigned long)T * sizeof(float));
    int rc = -1;

    for (long w0 = 0; w0 < n_win; w0 += B) {
        int nb = (int)(n_win - w0 < B ? n_win - w0 : B);
        for (int b = 0; b < nb; b++) {
            size_t start = (size_t)(w0 + b) * T;
            size_t len = n_tokens - start < (size_t)T + 1 ? n_tokens - start : (size_t)T + 1;
            int *row = buf + (size_t)b * (T + 1);
            for (size_t j = 0; j < len; j++) row[j] = tokens[start + j];
            seqs[b] = row;
            lens[b] = (int)len;
        }
        if (s->token_logprobs(s->ctx, seqs, lens, nb, lp, T, e)) goto done;
        for (int b = 0; b < nb; b++) {
            size_t start = (size_t)(w0 + b) * T;
            double sum = 0, count = 0;
            for (int j = 0; j < lens[b] - 1; j++) {
                if (mask && !mask[start + j + 1]) continue;
                sum -= lp[(size_t)b * T + j];
                count += 1;
            }
            win_count[w0 + b] = count;
            win_loss[w0 + b] = count > 0 ? sum / count : 0;
        }
        if (progress) progress_update(progress, (uint64_t)(w0 + nb));
    }
    for (long w = 0; w < n_win; w++) {
        r->n_tokens += win_count[w];
        r->n_windows += win_count[w] > 0;
    }
    if (r->n_tokens == 0) {
        err_set(e, "validation loss: the mask selects no tokens");
        goto done;
    }
    weighted_mean_stderr(win_loss, win_count, n_win, &r->loss, &r->stderr);
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
