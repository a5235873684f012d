/* The numbers of a study report, as pure functions of hand-checkable inputs:
 * means with standard errors over seeds, the paper's Delta columns, Pearson's
 * r (study/stats.h), and the choice of SFT learning rate. */
#ifndef PLATEAU_STUDY_REPORT_MATH_H
#define PLATEAU_STUDY_REPORT_MATH_H

#include <stddef.h>

#include "core/error.h"
#include "study/stats.h"   /* Correlation, pearson */

typedef struct {
    double mean;
    double std_err;   /* sample standard deviation / sqrt(n); NaN when n < 2 */
    int    n;         /* values that were not NaN */
} MeanStdErr;

/* Mean and standard error of the non-NaN values of x[0..n). n = 0 (or all
 * NaN) gives mean NaN. */
MeanStdErr mean_std_err(const double *x, int n);

typedef enum { LOWER_IS_BETTER, HIGHER_IS_BETTER } Direction;

/* The paper's Delta (PAPER.md, Results): for one metric, each arm's value
 * minus the best value among the decay-based arms (decays[i] != 0), best
 * being the lowest for a loss and the highest for a score. So the best
 * decay-based arm shows +0.0; a positive Delta is a higher value (worse for
 * a loss, better for a score), e.g. WSO +0.071 on loss and +0.3 on SFT avg.
 * NaN values stay NaN and never count as best. Fails if no decay-based arm
 * has a value. *best (may be NULL) receives the index of the reference arm. */
int delta_from_best_decay(const double *value, const int *decays, int n, Direction dir, double *delta, int *best,
                          Err *e);

/* Formats a Delta with a sign and the given decimals, writing "+0.0" (not
 * "-0.0") for anything that rounds to zero, as the paper prints the best arm. */
void format_delta(char *out, size_t size, double delta, int decimals);

/* The SFT learning rate chosen for one base model: the index of the best
 * validation score in the sweep (dir: which way is better), ties going to
 * the smaller learning rate; NaN scores (runs not evaluated) are skipped.
 * Returns -1 when no score is a number. */
int choose_sft_lr(const double *lrs, const double *val_score, int n, Direction dir);

#endif
