#include "study/sharpness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

/* Gradient of the batch's mean loss into m->grads (chunks of max_B
 * sequences, each weighted by its share of the counted positions). */
static void batch_gradient(Model *m, const int *tokens, const int *targets, const float *mask, int n_seq, int T)
{
    double total = 0;
    double counted[1024];
    int chunks = (n_seq + m->max_B - 1) / m->max_B;
    for (int c = 0; c < chunks; c++) {
        int b0 = c * m->max_B, B = n_seq - b0 < m->max_B ? n_seq - b0 : m->max_B;
        double k = (double)B * T;
        if (mask) {
            k = 0;
            for (size_t i = 0; i < (size_t)B * T; i++) k += mask[(size_t)b0 * T + i] != 0.0f;
        }
        counted[c] = k;
        total += k;
    }
    model_zero_grad(m);
    for (int c = 0; c < chunks; c++) {
        if (counted[c] == 0) continue;
        int b0 = c * m->max_B, B = n_seq - b0 < m->max_B ? n_seq - b0 : m->max_B;
        size_t off = (size_t)b0 * T;
        model_forward(m, tokens + off, targets + off, mask ? mask + off : NULL, B, T);
        model_backward(m, (float)(counted[c] / total));
    }
}

int hutchinson_trace(Model *m, const int *tokens, const int *targets, const float *mask, int n_seq, int T,
                     int probes, uint64_t seed, SharpnessResult *out, Err *e)
{
    if (n_seq <= 0 || T <= 0 || T > m->max_T || probes <= 0)
        return err_set(e, "sharpness: %d sequences of %d tokens (model holds %d) and %d probes: expected positive "
                          "counts within the model's buffers", n_seq, T, m->max_T, probes);
    if ((n_seq + m->max_B - 1) / m->max_B > 1024)
        return err_set(e, "sharpness: %d sequences is more than 1024 forward passes of %d", n_seq, m->max_B);
    const size_t n = m->n_params;
    float *theta = xmalloc(n * sizeof *theta);
    float *gplus = xmalloc(n * sizeof *gplus);
    signed char *z = xmalloc(n);
    memcpy(theta, m->params, n * sizeof *theta);
    double norm2 = 0;
    for (size_t i = 0; i < n; i++) norm2 += (double)theta[i] * theta[i];
    const double eps = 1e-3 * (norm2 > 0 ? sqrt(norm2) : 1.0) / sqrt((double)n);

    Rng rng = rng_stream(seed, RNG_STREAM_PROBE);
    double sum = 0, sum2 = 0;
    for (int p = 0; p < probes; p++) {
        for (size_t i = 0; i < n; i += 64) {
            uint64_t bits = rng_u64(&rng);
            for (size_t j = i; j < n && j < i + 64; j++) z[j] = (bits >> (j - i)) & 1 ? 1 : -1;
        }
        #pragma omp parallel for
        for (size_t i = 0; i < n; i++) m->params[i] = (float)(theta[i] + eps * z[i]);
        batch_gradient(m, tokens, targets, mask, n_seq, T);
        memcpy(gplus, m->grads, n * sizeof *gplus);
        #pragma omp parallel for
        for (size_t i = 0; i < n; i++) m->params[i] = (float)(theta[i] - eps * z[i]);
        batch_gradient(m, tokens, targets, mask, n_seq, T);
        double q = 0;
        #pragma omp parallel for reduction(+ : q)
        for (size_t i = 0; i < n; i++) q += (double)z[i] * ((double)gplus[i] - (double)m->grads[i]);
        q /= 2 * eps;
        sum += q;
        sum2 += q * q;
    }
    memcpy(m->params, theta, n * sizeof *theta);
    model_zero_grad(m);
    free(theta);
    free(gplus);
    free(z);
    out->probes = probes;
    out->trace = sum / probes;
    if (probes > 1) {
        double var = (sum2 - sum * sum / probes) / (probes - 1);
        out->std_err = sqrt(var > 0 ? var : 0) / sqrt((double)probes);
    } else {
        out->std_err = NAN;
    }
    return 0;
}
