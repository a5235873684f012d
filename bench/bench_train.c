/* Training throughput: forward + backward + AdamW on random tokens, for the
 * benchmark shapes S and M, next to the sgemm ceiling measured in the same run.
 *
 *   OMP_NUM_THREADS=2 ./build/bench/bench_train [S|M ...] [--steps N] [--warmup N]
 *
 * Model GFLOP/s counts config_train_flops_per_token (full T x T attention). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "model/llama.h"
#include "model/matmul.h"
#include "train/adamw.h"

typedef struct {
    const char *name;
    Config c;
    int B, T;
} Shape;

static const Shape SHAPES[] = {
    {"S", {256, 4, 4, 2, 768, 4096, 256, 10000.f, 1e-5f, 0}, 8, 256},
    {"M", {512, 8, 8, 4, 1536, 8192, 256, 10000.f, 1e-5f, 0}, 8, 256},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Best of a few runs of one n^3 sgemm, GFLOP/s. */
static double sgemm_gflops(int n)
{
    float *a = malloc((size_t)n * n * sizeof(float)), *b = malloc((size_t)n * n * sizeof(float));
    float *c = malloc((size_t)n * n * sizeof(float));
    Rng r = rng_stream(1, 1);
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)rng_uniform(&r) - 0.5f;
        b[i] = (float)rng_uniform(&r) - 0.5f;
    }
    double best = 1e30;
    for (int rep = 0; rep < 6; rep++) {
        double t0 = now_s();
        matmul(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = now_s() - t0;
        if (rep > 0 && dt < best) best = dt;   /* first run warms up */
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

static void run_shape(const Shape *s, int warmup, int steps, double sgemm)
{
    Model m;
    Err e;
    if (model_create(&m, &s->c, s->B, s->T, &e)) {
        fprintf(stderr, "bench_train: %s\n", e.msg);
        exit(1);
    }
    model_init_weights(&m, 1);
    AdamWConfig ac = adamw_defaults();
    AdamW opt;
    adamw_create(&opt, &ac, &m.table);
    int N = s->B * s->T;
    int *tokens = malloc((size_t)(N + 1) * sizeof(int));
    Rng r = rng_stream(2, RNG_STREAM_DATA);
    double t_fwd = 0, t_bwd = 0, t_opt = 0, t0 = 0, best = 1e30;
    float loss = 0;
    for (int it = 0; it < warmup + steps; it++) {
        for (int i = 0; i <= N; i++) tokens[i] = (int)rng_below(&r, (uint64_t)s->c.vocab_size);
        if (it == warmup) t0 = now_s(), t_fwd = t_bwd = t_opt = 0;
        double a = now_s();
        model_zero_grad(&m);
        loss = model_forward(&m, tokens, tokens + 1, NULL, s->B, s->T);
        double b = now_s();
        model_backward(&m, 1.0f);
        double c = now_s();
        adamw_step(&opt, m.params, m.grads, 1e-3f);
        double d = now_s();
        t_fwd += b - a;
        t_bwd += c - b;
        t_opt += d - c;
        if (it >= warmup && d - a < best) best = d - a;
    }
    double dt = now_s() - t0;
    double ms = 1e3 * dt / steps, tok_s = (double)N * steps / dt;
    double gflops = tok_s * config_train_flops_per_token(&s->c, s->T) / 1e9;
    printf("%-5s %8.0f tok/s %9.1f ms/step %7.1f GFLOP/s %5.0f%% of sgemm   "
           "(fwd %.1f, bwd %.1f, adamw %.1f ms; best step %.1f ms = %.0f tok/s; %.1fM params; loss %.3f)\n",
           s->name, tok_s, ms, gflops, 100 * gflops / sgemm, 1e3 * t_fwd / steps, 1e3 * t_bwd / steps,
           1e3 * t_opt / steps, 1e3 * best, N / best, m.n_params / 1e6, loss);
    fflush(stdout);
    free(tokens);
    adamw_free(&opt);
    model_free(&m);
}

int main(int argc, char **argv)
{
    int steps = 5, warmup = 2, want[2] = {0, 0}, any = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "S")) want[0] = any = 1;
        else if (!strcmp(argv[i], "M")) want[1] = any = 1;
        else {
            fprintf(stderr, "usage: bench_train [S] [M] [--steps N] [--warmup N]\n");
            return 2;
        }
    }
    if (steps < 1) steps = 1;
    double sgemm = sgemm_gflops(2048);
    printf("backend %s, %d threads, sgemm 2048^3: %.1f GFLOP/s\n", matmul_backend(), omp_get_max_threads(), sgemm);
    for (int k = 0; k < 2; k++)
        if (!any || want[k]) run_shape(&SHAPES[k], warmup, steps, sgemm);
    return 0;
}
