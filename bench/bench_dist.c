/* Data-parallel training throughput: the trainer over the ranks of an mpirun
 * launch (or one process), on random tokens, with the share of the step spent
 * summing gradients over ranks.
 *
 *   OMP_NUM_THREADS=2 ./build/bench/bench_dist [micro|S|M ...] [--steps N] [--accum A]
 *   mpirun --oversubscribe -np 2 -x OMP_NUM_THREADS=1 ./build/bench/bench_dist ...
 *
 * The global batch is A micro-batches of B x T (default A = 2, so 2 ranks take
 * one each) whatever the rank count. Printed per shape: tokens/s of the whole
 * launch (after one warm-up step; also of the fastest step, the one least
 * disturbed on a shared machine), the gradient sum's share of the step as the
 * trainer measures it (transfer plus waiting for the slowest rank), and the
 * sum alone: the same exchange repeated after a barrier, with the bytes each
 * rank sends and receives, 2 (N-1)/N x 4 bytes x parameters; and tokens per
 * CPU-second over all ranks (warm-up step included), which a shared machine
 * disturbs far less than the wall clock. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_shapes.h"
#include "core/progress.h"
#include "core/rng.h"
#include "dist/comm.h"
#include "model/llama.h"
#include "train/adamw.h"
#include "train/trainer.h"

typedef struct {
    const char *name;
    Config c;
    int B, T;
} Shape;

/* micro is the preset of the quick study (dim 128, 4 layers); S and M as bench_train. */
static const Shape SHAPES[] = {
    {"micro", {128, 4, 4, 2, 384, 2048, 256, 10000.f, 1e-5f, 0}, 8, 256},
    BENCH_SHAPE_S,
    BENCH_SHAPE_M,
};
#define N_SHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])

/* Random tokens as a pure function of (step, micro), like the loader. */
typedef struct {
    int vocab;
} RandomData;

static int random_fill(void *ctx, int64_t step, int micro, int B, int T, int *tokens, int *targets, float *mask,
                       Err *e)
{
    (void)mask, (void)e;
    const RandomData *d = ctx;
    Rng r = rng_stream((uint64_t)step * 1000 + (uint64_t)micro, RNG_STREAM_DATA);
    for (int i = 0; i < B * T; i++) tokens[i] = (int)rng_below(&r, (uint64_t)d->vocab);
    for (int i = 0; i < B * T; i++) targets[i] = i + 1 < B * T ? tokens[i + 1] : tokens[0];
    return 0;
}

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct {
    double step_s, reduce_s;
    double best_s, best_reduce_s;   /* the fastest step, and its gradient sum */
    int    n;
} Totals;

static int collect(void *ctx, const StepMetrics *m)
{
    Totals *t = ctx;
    if (m->step > 1) {   /* the first step warms caches and threads */
        t->step_s += m->step_s;
        t->reduce_s += m->reduce_s;
        if (t->n == 0 || m->step_s < t->best_s) {
            t->best_s = m->step_s;
            t->best_reduce_s = m->reduce_s;
        }
        t->n++;
    }
    return 0;
}

static void run_shape(const Shape *s, int steps, int accum)
{
    const DistGroup *g = dist_world();
    Model m;
    Err e;
    if (model_create(&m, &s->c, s->B, s->T, &e)) {
        fprintf(stderr, "bench_dist: %s\n", e.msg);
        dist_abort();
    }
    model_init_weights(&m, 1);
    AdamWConfig ac = adamw_defaults();
    AdamW opt;
    adamw_create(&opt, &ac, &m.table);
    RandomData data = {s->c.vocab_size};
    BatchSource src = {.fill = random_fill, .ctx = &data};
    double lr = 1e-3;
    Totals tot = {0};
    TrainRun run = {.start_step = 0, .end_step = 1 + steps, .micro_batch = s->B, .seq_len = s->T, .accum = accum,
                   .lr = lr_constant, .lr_ctx = &lr, .on_step = collect, .on_step_ctx = &tot, .group = g};
    double cpu0 = cpu_seconds();
    if (trainer_run(&m, &opt, &src, &run, NULL, &e)) {
        fprintf(stderr, "bench_dist: %s\n", e.msg);
        dist_abort();
    }
    /* CPU seconds of the training, summed over ranks below: on a shared
     * machine the wall clock measures the other jobs as much as this one. */
    double cpu[1] = {cpu_seconds() - cpu0};
    /* The exchange alone, every rank starting together. */
    DistReducer red;
    dist_reducer_create(&red, g);
    double sum_s = 0;
    const int reps = 3;
    for (int k = 0; k < reps; k++) {
        double t = 0;
        dist_sum_doubles(&red, &t, 1, &e);   /* a barrier: returns when every rank arrived */
        double t0 = now_seconds();
        if (dist_sum_floats(&red, m.grads, m.n_params, &e)) {
            fprintf(stderr, "bench_dist: %s\n", e.msg);
            dist_abort();
        }
        sum_s += now_seconds() - t0;
    }
    sum_s /= reps;
    if (dist_sum_doubles(&red, cpu, 1, &e)) {
        fprintf(stderr, "bench_dist: %s\n", e.msg);
        dist_abort();
    }
    dist_reducer_free(&red);
    double bytes = g->size > 1 ? 2.0 * (g->size - 1) / g->size * 4.0 * (double)m.n_params : 0;
    if (dist_is_root(g)) {
        int64_t batch = (int64_t)accum * s->B * s->T;
        double step = tot.n ? tot.step_s / tot.n : 0;
        printf("%-5s %5.1fM params, %d rank%s x %d thread%s, batch %lld tokens (%d x %d x %d): %7.0f tok/s, "
               "%7.1f ms/step, gradient sum %5.1f%% of the step (%6.1f ms); exchange alone %6.1f ms for %.1f MB "
               "per rank = %.2f GB/s; best step %.0f tok/s, sum %.1f%% of it; %.0f tokens per CPU-second\n",
               s->name, m.n_params / 1e6, g->size, g->size == 1 ? "" : "s", omp_get_max_threads(),
               omp_get_max_threads() == 1 ? "" : "s", (long long)batch, s->B, s->T, accum,
               step > 0 ? (double)batch / step : 0, 1e3 * step, step > 0 ? 100 * tot.reduce_s / tot.step_s : 0,
               tot.n ? 1e3 * tot.reduce_s / tot.n : 0, 1e3 * sum_s, bytes / 1e6,
               sum_s > 0 ? bytes / sum_s / 1e9 : 0, tot.best_s > 0 ? (double)batch / tot.best_s : 0,
               tot.best_s > 0 ? 100 * tot.best_reduce_s / tot.best_s : 0,
               cpu[0] > 0 ? (double)batch * (1 + steps) / cpu[0] : 0);
        fflush(stdout);
    }
    adamw_free(&opt);
    model_free(&m);
}

int main(int argc, char **argv)
{
    dist_init(&argc, &argv);
    int steps = 3, accum = 2, want[N_SHAPES] = {0}, any = 0;
    for (int i = 1; i < argc; i++) {
        int k = 0;
        while (k < N_SHAPES && strcmp(argv[i], SHAPES[k].name)) k++;
        if (k < N_SHAPES) want[k] = any = 1;
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--accum") && i + 1 < argc) accum = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_dist [micro] [S] [M] [--steps N] [--accum A]\n");
            dist_abort();
        }
    }
    if (steps < 1) steps = 1;
    if (accum < 1) accum = 1;
    for (int k = 0; k < N_SHAPES; k++)
        if (!any || want[k]) run_shape(&SHAPES[k], steps, accum);
    dist_finalize();
    return 0;
}
