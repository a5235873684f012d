#include "eval/loss.h"

#include <stdlib.h>

int eval_stream_loss(Model *m, const uint16_t *tokens, size_t n_tokens, int B, int T, LossResult *out, Err *e)
{
    if (B <= 0 || T <= 0 || B > m->max_B || T > m->max_T)
        return err_set(e, "eval: batch %d x %d does not fit the model's buffers %d x %d", B, T, m->max_B, m->max_T);
    for (size_t i = 0; i < n_tokens; i++)
        if (tokens[i] >= m->cfg.vocab_size)
            return err_set(e, "eval: token %u at position %zu is outside the model's vocabulary of %d", tokens[i], i,
                           m->cfg.vocab_size);
    int64_t n_windows = n_tokens > (size_t)T ? (int64_t)((n_tokens - 1) / (size_t)T) : 0;
    if (n_windows == 0)
        return err_set(e, "eval: %zu tokens are fewer than one window of %d + 1", n_tokens, T);
    int *in = xmalloc((size_t)B * T * sizeof(int)), *tg = xmalloc((size_t)B * T * sizeof(int));
    double sum = 0;
    for (int64_t w0 = 0; w0 < n_windows; w0 += B) {
        int b_now = (int)(n_windows - w0 < B ? n_windows - w0 : B);
        for (int b = 0; b < b_now; b++) {
            const uint16_t *src = tokens + (size_t)(w0 + b) * T;
            for (int t = 0; t < T; t++) {
                in[b * T + t] = src[t];
                tg[b * T + t] = src[t + 1];
            }
        }
        float l = model_forward(m, in, tg, NULL, b_now, T);
        sum += (double)l * b_now * T;
    }
    free(in);
    free(tg);
    out->n_windows = n_windows;
    out->n_scored = n_windows * T;
    out->mean_loss = sum / (double)out->n_scored;
    return 0;
}
