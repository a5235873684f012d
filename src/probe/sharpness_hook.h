/* Sharpness along a training run: the trainer's on_step hook that measures
 * Tr(H) (probe/sharpness.h) every K optimizer steps and at the segment's last
 * step, on one fixed probe batch, and records it with the step in a CSV
 * (step,tokens,trace,std_error,probes,loss,seconds), rewritten atomically
 * after every measurement. Rows of an earlier run in the same file at steps
 * before this segment's start are kept, so a resumed run continues the file. */
#ifndef PLATEAU_SHARPNESS_HOOK_H
#define PLATEAU_SHARPNESS_HOOK_H

#include <stdint.h>

#include "core/error.h"
#include "data/loader.h"
#include "model/llama.h"
#include "train/trainer.h"

typedef struct {
    const Model *model;
    Batch        batch;
    int64_t      every;       /* K: probe when step % K == 0 */
    int64_t      end_step;    /* and at this step */
    int          probes;
    uint64_t     seed;
    char         csv_path[4096];
    char        *rows;        /* the CSV text so far (header included) */
    size_t       rows_len;
    int          quiet;       /* 1: no line on stdout per measurement */
    Err          err;         /* the failure that stopped the run, if any */
    int          failed;
    /* Another on_step to call first (e.g. the CLI's own), may be NULL. */
    int        (*chain)(void *ctx, const StepMetrics *m);
    void        *chain_ctx;
} SharpnessHook;

/* Loads the probe batch (probe_batch_load's arguments) and any existing CSV
 * at csv_path, dropping its rows at steps >= start_step. */
int sharpness_hook_open(SharpnessHook *h, const Model *m, const char *token_path, const char *mask_path,
                        LoaderLayout layout, int B, int T, int64_t every, int64_t start_step, int64_t end_step,
                        int probes, uint64_t seed, const char *csv_path, Err *e);
void sharpness_hook_close(SharpnessHook *h);

/* TrainRun.on_step with ctx = SharpnessHook*. Returns non-zero (stopping the
 * run) only if a measurement or the CSV write failed; h->err says why. */
int sharpness_hook_on_step(void *ctx, const StepMetrics *m);

#endif
