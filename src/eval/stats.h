/* Standard errors for evaluation scores.
 *
 * Accuracy (acc, acc_norm, exact match) over n items with proportion p:
 *   stderr = sqrt(p (1 - p) / n)
 * the binomial standard error with the population variance (divisor n).
 * lm-evaluation-harness reports the sample standard deviation over sqrt(n),
 * which for 0/1 scores is sqrt(p (1 - p) / (n - 1)); the two differ by the
 * factor sqrt(n / (n - 1)) (0.5% at n = 100). plateau uses divisor n.
 *
 * A mean of per-unit values x_i (per-window losses) with weights w_i (tokens
 * counted in the window):
 *   mean   = sum w_i x_i / sum w_i
 *   stderr = sqrt(n / (n - 1) * sum w_i^2 (x_i - mean)^2) / sum w_i
 * the ratio-estimator standard error; with equal weights this is exactly the
 * sample standard deviation (divisor n - 1) over sqrt(n). Windows, not
 * tokens, are the units because tokens of one window are not independent.
 * With fewer than two units the standard error is reported as 0. */
#ifndef PLATEAU_STATS_H
#define PLATEAU_STATS_H

double stderr_proportion(double p, long n);

/* w may be NULL (all weights 1). Units with w_i == 0 are ignored. */
void weighted_mean_stderr(const double *x, const double *w, long n, double *mean, double *stderr_out);

/* Standard error of the plain mean of k independent scores with standard
 * errors se[i]: sqrt(sum se_i^2) / k (the suite average's stderr). */
double stderr_of_average(const double *se, int k);

#endif
