/* Cost of one Hessian-vector product as a multiple of one gradient
 * (forward + backward) on the benchmark shape S: dim 256, 4 layers, 4 heads,
 * 2 kv heads, ffn 768, vocab 4096, T 256, B 8 (every position counted).
 *
 *   gradient   model_forward + model_backward (the trainer's step without AdamW),
 *              in fp32 and in bf16 (the training default where the CPU has
 *              it); Hessian-vector products are always fp32 (probe/hvp.h)
 *   hvp        hvp_apply at a fixed point and batch: what every Hutchinson
 *              probe, power step and Lanczos step pays
 *   set+hvp    hvp_set_batch + hvp_apply: a single product at a new point
 *              (the primal forward and backward included)
 *
 * Each is timed `reps` times interleaved; the median is reported (the
 * machine may be shared). Usage: bench_hvp [reps] (default 7). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"
#include "core/rng.h"
#include "model/llama.h"
#include "model/matmul.h"
#include "probe/hvp.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    if (reps < 1) reps = 1;
    Config c = {.dim = 256, .n_layers = 4, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 768, .vocab_size = 4096,
                .seq_len = 256, .rope_theta = 10000.f, .norm_eps = 1e-5f, .tied = 0};
    int B = 8, T = 256, N = B * T;
    Err e;
    Model m;
    if (model_create(&m, &c, B, T, &e)) die(&e);
    model_init_weights(&m, 1);
    int *tokens = malloc((size_t)N * sizeof(int)), *targets = malloc((size_t)N * sizeof(int));
    Rng r = rng_stream(1, 99);
    for (int i = 0; i < N; i++) {
        tokens[i] = (int)rng_below(&r, (uint64_t)c.vocab_size);
        targets[i] = (int)rng_below(&r, (uint64_t)c.vocab_size);
    }
    size_t n = m.n_params;
    float *v = malloc(n * sizeof(float)), *hv = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = (rng_u64(&r) & 1) ? 1.0f : -1.0f;
    Hvp h;
    if (hvp_create(&h, &m, B, T, &e)) die(&e);

    /* warm-up */
    model_forward(&m, tokens, targets, NULL, B, T);
    model_backward(&m, 1.0f);
    hvp_set_batch(&h, tokens, targets, NULL, B, T);
    hvp_apply(&h, v, hv);

    double *tg = calloc((size_t)reps, sizeof(double)), *th = calloc((size_t)reps, sizeof(double));
    double *ts = calloc((size_t)reps, sizeof(double)), *tb = calloc((size_t)reps, sizeof(double));
    for (int k = 0; k < reps; k++) {
        if (model_set_precision(&m, PRECISION_BF16, &e)) die(&e);
        double tb0 = now_seconds();
        model_zero_grad(&m);
        model_forward(&m, tokens, targets, NULL, B, T);
        model_backward(&m, 1.0f);
        tb[k] = (now_seconds() - tb0) * 1e3;
        if (model_set_precision(&m, PRECISION_FP32, &e)) die(&e);
        double t0 = now_seconds();
        model_zero_grad(&m);
        model_forward(&m, tokens, targets, NULL, B, T);
        model_backward(&m, 1.0f);
        double t1 = now_seconds();
        hvp_set_batch(&h, tokens, targets, NULL, B, T);
        double t2 = now_seconds();
        hvp_apply(&h, v, hv);
        double t3 = now_seconds();
        tg[k] = (t1 - t0) * 1e3;
        ts[k] = (t2 - t1) * 1e3 + (t3 - t2) * 1e3;
        th[k] = (t3 - t2) * 1e3;
    }
    double g = median(tg, reps), hv_ms = median(th, reps), set_ms = median(ts, reps), g16 = median(tb, reps);
    printf("shape S: dim %d, %d layers, %d heads, %d kv heads, ffn %d, vocab %d, B %d x T %d; %zu parameters\n",
           c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.ffn_dim, c.vocab_size, B, T, n);
    printf("threads %d, matmul %s, median of %d; HVP buffers %.0f MiB\n", omp_get_max_threads(), matmul_backend(),
           reps, h.bytes / 1048576.0);
    printf("gradient (forward+backward)  %9.1f ms   1.00x\n", g);
    printf("hvp at a fixed point          %9.1f ms   %.2fx   (target <= 2.5x)\n", hv_ms, hv_ms / g);
    printf("set_batch + hvp (new point)   %9.1f ms   %.2fx\n", set_ms, set_ms / g);
    printf("gradient in bf16              %9.1f ms   %.2fx   (hvp = %.2fx a bf16 gradient)\n", g16, g16 / g,
           hv_ms / g16);
    hvp_free(&h);
    model_free(&m);
    free(tokens), free(targets), free(v), free(hv), free(tg), free(th), free(ts), free(tb);
    return 0;
}
