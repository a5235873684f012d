/* Training throughput: forward + backward + AdamW on random tokens, for the
 * benchmark shapes S and M in fp32 and bf16, next to the matrix-product
 * ceilings measured in the same run: the backend's fp32 and bf16 products
 * (best of model-like shapes, M = 2048 rows, N, K in 512..8192) and
 * OpenBLAS sgemm 2048^3 called directly.
 *
 *   OMP_NUM_THREADS=2 ./build/bench/bench_train [S|M ...] [fp32|bf16 ...] [--steps N] [--warmup N] [--cpu]
 *
 * --cpu times by the process's CPU clock divided by the thread count
 * instead of the wall clock: on a machine shared with other jobs, a
 * stand-in for the idle machine's figures (with OMP_WAIT_POLICY=passive).
 * Serial stretches (one thread busy, the other asleep) look up to
 * threads-times faster than they are, so it flatters programs with much
 * serial work; wall-clock figures on an idle machine are the reference.
 *
 * Model GFLOP/s counts config_train_flops_per_token (full T x T attention). */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_shapes.h"
#include "core/rng.h"
#include "model/llama.h"
#include "model/matmul.h"
#include "train/adamw.h"

typedef struct {
    const char *name;
    Config c;
    int B, T;
} Shape;

static const Shape SHAPES[] = {BENCH_SHAPE_S, BENCH_SHAPE_M};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* CPU seconds of the whole process. On a shared machine, work per CPU
 * second times the thread count approximates the idle machine's work per
 * wall second (threads wait passively: run with OMP_WAIT_POLICY=passive). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int g_cpu;   /* --cpu: every figure per CPU second x threads */

static double clock_s(void) { return g_cpu ? cpu_s() / omp_get_max_threads() : now_s(); }

/* Best of a few runs of one M x N x K product, GFLOP/s: through matmul()
 * (fp32), matmul_bf16() (bf16) or cblas_sgemm directly (openblas). */
enum { CEIL_FP32, CEIL_BF16, CEIL_OPENBLAS };

static double product_gflops(int kind, int M, int N, int K)
{
    size_t na = (size_t)M * K, nb = (size_t)K * N;
    float *a = malloc(na * sizeof(float)), *b = malloc(nb * sizeof(float)), *c = malloc((size_t)M * N * sizeof(float));
    bf16 *a16 = malloc(na * sizeof(bf16)), *b16 = malloc(nb * sizeof(bf16));
    Rng r = rng_stream(1, 1);
    for (size_t i = 0; i < na; i++) a[i] = (float)rng_uniform(&r) - 0.5f;
    for (size_t i = 0; i < nb; i++) b[i] = (float)rng_uniform(&r) - 0.5f;
    bf16_from_f32(a16, a, na);
    bf16_from_f32(b16, b, nb);
    double best = 1e30;
    for (int rep = 0; rep < 6; rep++) {
        double t0 = clock_s();
        if (kind == CEIL_FP32) matmul(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        else if (kind == CEIL_BF16) matmul_bf16(0, 0, M, N, K, 1.0f, a16, K, b16, N, 0.0f, c, N);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        double dt = clock_s() - t0;
        if (rep > 0 && dt < best) best = dt;   /* first run warms up (and creates the primitive) */
    }
    free(a), free(b), free(c), free(a16), free(b16);
    return 2.0 * M * N * (double)K / best / 1e9;
}

/* The ceiling of one kind: the best over model-like shapes. */
static double ceiling_gflops(int kind)
{
    static const int shapes[][2] = {{2048, 2048}, {512, 1536}, {1536, 512}, {8192, 512}, {512, 8192}};
    double best = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double g = product_gflops(kind, 2048, shapes[i][0], shapes[i][1]);
        if (g > best) best = g;
    }
    return best;
}

static void run_shape(const Shape *s, Precision prec, int warmup, int steps, double ceiling)
{
    Model m;
    Err e;
    if (model_create(&m, &s->c, s->B, s->T, &e) || model_set_precision(&m, prec, &e)) {
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
        if (it == warmup) t0 = clock_s(), t_fwd = t_bwd = t_opt = 0;
        double a = clock_s();
        model_zero_grad(&m);
        loss = model_forward(&m, tokens, tokens + 1, NULL, s->B, s->T);
        double b = clock_s();
        model_backward(&m, 1.0f);
        double c = clock_s();
        adamw_step(&opt, m.params, m.grads, 1e-3f);
        model_params_changed(&m);
        double d = clock_s();
        t_fwd += b - a;
        t_bwd += c - b;
        t_opt += d - c;
        if (it >= warmup && d - a < best) best = d - a;
    }
    double dt = clock_s() - t0;
    double ms = 1e3 * dt / steps, tok_s = (double)N * steps / dt;
    double gflops = tok_s * config_train_flops_per_token(&s->c, s->T) / 1e9;
    printf("%-2s %-5s %8.0f tok/s %9.1f ms/step %7.1f GFLOP/s %5.0f%% of its ceiling   "
           "(fwd %.1f, bwd %.1f, adamw %.1f ms; best step %.1f ms = %.0f tok/s; %.1fM params; loss %.3f)\n",
           s->name, precision_name(prec), tok_s, ms, gflops, 100 * gflops / ceiling, 1e3 * t_fwd / steps,
           1e3 * t_bwd / steps,
           1e3 * t_opt / steps, 1e3 * best, N / best, m.n_params / 1e6, loss);
    fflush(stdout);
    free(tokens);
    adamw_free(&opt);
    model_free(&m);
}

int main(int argc, char **argv)
{
    int steps = 5, warmup = 2, want[2] = {0, 0}, prec[2] = {0, 0}, any = 0, any_prec = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "S")) want[0] = any = 1;
        else if (!strcmp(argv[i], "M")) want[1] = any = 1;
        else if (!strcmp(argv[i], "fp32")) prec[PRECISION_FP32] = any_prec = 1;
        else if (!strcmp(argv[i], "bf16")) prec[PRECISION_BF16] = any_prec = 1;
        else if (!strcmp(argv[i], "--cpu")) g_cpu = 1;
        else {
            fprintf(stderr, "usage: bench_train [S] [M] [fp32] [bf16] [--steps N] [--warmup N] [--cpu]\n");
            return 2;
        }
    }
    if (steps < 1) steps = 1;
    double ceil[3];
    for (int k = 0; k < 3; k++) ceil[k] = ceiling_gflops(k);
    const char *core = getenv("OPENBLAS_CORETYPE");
    printf("backend %s, %d threads%s\n", matmul_backend(), omp_get_max_threads(),
           g_cpu ? "; every figure per CPU second x threads (--cpu)" : "");
    printf("ceilings (GFLOP/s, best of M=2048 x N,K in 512..8192): fp32 %.1f, bf16 %.1f; "
           "openblas sgemm %.1f (OPENBLAS_CORETYPE=%s)\n", ceil[CEIL_FP32], ceil[CEIL_BF16], ceil[CEIL_OPENBLAS],
           core ? core : "unset");
    fflush(stdout);
    for (int k = 0; k < 2; k++)
        for (int p = 0; p < 2; p++)
            if ((!any || want[k]) && (!any_prec || prec[p]))
                run_shape(&SHAPES[k], (Precision)p, warmup, steps, p == PRECISION_BF16 ? ceil[CEIL_BF16] : ceil[CEIL_FP32]);
    return 0;
}
