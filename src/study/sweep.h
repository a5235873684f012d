/* The report's SFT learning-rate sweep section: per base model (arm, seed)
 * and SFT learning rate, the validation and test exact match and answer
 * log-likelihood (eval/qa.h), the chosen learning rate (the best validation
 * log-likelihood, runner.h SFT_LR_CHOICE_METRIC) marked *, and how far
 * apart the sweep's points were: the chosen LR's validation log-likelihood
 * minus the runner-up's, with the standard error of that difference paired
 * over the validation items (sd of the per-item differences / sqrt(n)), so
 * a reader sees whether the split could tell the points apart.
 * Also writes DIR/sft_sweep.csv. */
#ifndef PLATEAU_STUDY_SWEEP_H
#define PLATEAU_STUDY_SWEEP_H

#include <stdio.h>

#include "core/error.h"
#include "study/spec.h"
#include "study/store.h"

typedef struct {
    double diff;      /* best - runner-up validation log-likelihood (nats/token) */
    double std_err;   /* paired over items; NaN without per-item results */
    long   n_items;
} SweepGap;

/* The gap between two SFT runs' validation items (segments a and b). Returns
 * 1 when both have the same items, 0 when not, -1 on error. */
int sweep_gap(Store *st, const char *seg_a, const char *seg_b, SweepGap *out, Err *e);

int sweep_write(FILE *md, const StudySpec *s, Store *st, const char *dir, Err *e);

#endif
