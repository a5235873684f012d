/* The one training loop: runs optimizer steps [start, end) of one stage on
 * one schedule (a TrainRun), from whatever state the model and optimizer
 * hold. Pre-training, mid-training and SFT all run through here; they differ
 * only in data, schedule, step range, initial state and optimizer policy,
 * which the caller sets up.
 *
 * One optimizer step: the batch source fills `accum` micro-batches of
 * micro_batch x seq_len tokens (with an optional loss mask); each is run
 * forward and backward with loss_scale = its counted positions / the step's
 * counted positions, so the accumulated gradient is exactly that of the mean
 * loss over the whole batch; then one AdamW update (global clip) at the
 * schedule's learning rate for that step. Nothing is allocated inside the
 * step loop. Checkpoints go to run_dir/step-NNNNNNNN every ckpt_every steps
 * and at the end, each numbered by the steps completed on the stage clock.
 *
 * Data parallelism (run->group with more than one rank): every rank runs
 * the same TrainRun from the same weights; rank r computes its contiguous
 * share of each step's micro-batches (dist_share), each with the same loss
 * scale as above (its counted positions over the whole batch's), and the
 * gradients are summed over ranks in rank order (dist/comm.h), so the update
 * is that of the whole batch, identical on every rank, and one process
 * would give the same up to float summation order. Loss, grad norm and
 * clipping are those of the whole batch. Rank 0 alone writes checkpoints,
 * logs and the progress bar, and alone calls on_step; its decision to stop
 * reaches every rank.
 *
 * Determinism: the batch for (step, micro) must depend only on those two
 * numbers and the source's own fixed state, so a run resumed from any
 * checkpoint, or branched onto another schedule, sees the same data
 * (train/loader_source.h adapts the data loader, which guarantees this). */
#ifndef PLATEAU_TRAINER_H
#define PLATEAU_TRAINER_H

#include <stdint.h>

#include "core/error.h"
#include "dist/comm.h"
#include "model/llama.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

/* Fills micro-batch `micro` of data step `step` (the stage's own count:
 * the stage-clock step minus lineage.stage_start_step, so a mid stage reads
 * its data from the beginning): tokens and targets
 * [B, T]; mask [B, T] when the source has masks (mask is NULL otherwise).
 * Returns 0, or -1 with e set. */
typedef int (*BatchFillFn)(void *ctx, int64_t step, int micro, int B, int T, int *tokens, int *targets,
                           float *mask, Err *e);
/* The source's position after `steps_done` data steps, saved in checkpoints. */
typedef void (*BatchCursorFn)(void *ctx, int64_t steps_done, LoaderCursor *cursor);

typedef struct {
    BatchFillFn   fill;
    BatchCursorFn cursor;    /* may be NULL: the cursor records only the step count */
    void         *ctx;
    int           has_mask;  /* 1: fill writes a loss mask */
} BatchSource;

/* Learning rate for the update taken at `step` (0-based on the stage clock:
 * the first update of a run from scratch is step 0). */
typedef double (*LrFn)(const void *ctx, int64_t step);

typedef struct {
    int64_t step;          /* steps completed, after this update */
    int64_t tokens;        /* tokens trained on so far (stage clock) */
    double  loss;          /* mean loss over the batch's counted positions */
    double  lr;
    double  grad_norm;     /* before clipping */
    double  tokens_per_s;  /* this step's throughput (all ranks together) */
    double  step_s;        /* wall time of the step, seconds */
    double  reduce_s;      /* of which summing gradients over ranks, including
                              waiting for the slowest rank (0 alone) */
} StepMetrics;

/* One call of the trainer: a step range and how to run it. */
typedef struct {
    int64_t     start_step;    /* first update to take (steps already done) */
    int64_t     end_step;      /* stop when this many steps are done */
    int64_t     start_tokens;  /* tokens already trained on at start_step */
    int         micro_batch;   /* sequences per micro-batch, <= model's max_B */
    int         seq_len;       /* <= model's max_T */
    int         accum;         /* micro-batches per optimizer step */
    LrFn        lr;
    const void *lr_ctx;
    /* Checkpoints (run_dir NULL: none). lineage is the template every
     * checkpoint records; step, tokens and data_cursor are filled in. */
    const char *run_dir;
    int64_t     ckpt_every;    /* 0: only at the end */
    Lineage     lineage;
    /* Reporting. on_step (may be NULL) sees every step; returning non-zero
     * stops the run early (after that step, with no checkpoint). */
    int (*on_step)(void *ctx, const StepMetrics *m);
    void       *on_step_ctx;
    int64_t     log_every;     /* print a line to stdout every N steps (0: never) */
    int         progress;      /* 1: progress bar on stderr */
    /* Ranks that share every step (NULL: this process alone). Every rank
     * passes the same run; see data parallelism above. */
    const DistGroup *group;
    /* Set by trainer_run: 1 when it failed because the run diverged (see
     * below), so a caller that sweeps learning rates can record the point. */
    int         diverged;
} TrainRun;

/* Runs `run` on model m with optimizer o and data from src. On success the
 * model holds the weights after end_step (or the step on_step stopped at)
 * and *last (may be NULL) the last step's metrics; also sets run->lineage.id
 * to the last checkpoint's id when one was written, or, for a run of no
 * steps whose end checkpoint exists (a finished run resumed), to that one's.
 * A run that diverges (a non-finite loss or gradient norm, or weights that
 * overflow before a checkpoint) fails with "training diverged at step N"
 * and the value: that step's update is not applied when the gradient is not
 * finite, and no checkpoint of step N or later is written (earlier ones stay
 * as they were). */
int trainer_run(Model *m, AdamW *o, const BatchSource *src, TrainRun *run, StepMetrics *last, Err *e);

/* A constant learning rate: ctx points to a double. */
double lr_constant(const void *ctx, int64_t step);

#endif
