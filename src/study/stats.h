/* The statistics of a study's findings: every comparison is an effect with a
 * 95% interval and a three-way verdict against the paper's sign.
 *
 * Effects (all at level 0.95; quantiles from GSL's gsl_cdf_tdist_Pinv and
 * gsl_cdf_ugaussian_Pinv, sample quantiles from gsl_stats_quantile_from_sorted_data):
 *
 *   paired t over seeds      d_s = a_s - b_s for the n seeds both arms measured
 *                            (the arms of a seed share init and data order);
 *                            estimate = mean d, std_err = sd(d) / sqrt(n) with
 *                            divisor n - 1, interval = mean -+ t(0.975, n-1) std_err.
 *                            (Student's paired t; e.g. Wasserman, All of
 *                            Statistics, 2004, ch. 10.)
 *   blocked t over seeds     the arms x seeds table y[k][s] of every arm measured
 *   (arm contrasts)          at each seed both compared arms have (K arms, n
 *                            seeds; the seeds are blocks, as the arms of a seed
 *                            share init and data order). The residual
 *                            r = y[k][s] - mean_k - mean_s + grand mean pools
 *                            the seed-to-seed spread of all K arms:
 *                            MSE = sum r^2 / ((K - 1)(n - 1)); estimate =
 *                            mean_a - mean_b, std_err = sqrt(2 MSE / n),
 *                            interval = estimate -+ t(0.975, (K-1)(n-1)) std_err
 *                            (the randomized complete block design; Montgomery,
 *                            Design and Analysis of Experiments, ch. 4). With
 *                            K = 2 it is the paired t exactly. With 3 seeds a
 *                            pair alone has 2 degrees of freedom, so the width
 *                            of its interval swings by 2-10x between
 *                            replications; 5 arms give 8. It assumes the arms
 *                            scatter alike between seeds (on the log scale for
 *                            ratios): an arm noisier than the rest widens the
 *                            contrasts of the others, and its own are then
 *                            narrower than its spread alone would make them.
 *   paired bootstrap         per-item scores a[s][i], b[s][i] of the same items
 *   over seeds x items       under the same seeds; d = a - b. Each of R resamples
 *                            draws n seeds and m items with replacement,
 *                            independently (a two-way crossed bootstrap), and
 *                            takes the mean of d over the drawn (seed, item)
 *                            cells. estimate = mean of d over all cells;
 *                            interval = the 2.5% and 97.5% sample quantiles of
 *                            the R means (percentile method, Efron & Tibshirani,
 *                            An Introduction to the Bootstrap, 1993, ch. 13);
 *                            std_err = their standard deviation. The draws come
 *                            from rng_stream(seed, BOOTSTRAP_STREAM): same
 *                            inputs and seed, same interval.
 *   ratio (sharpness)        per seed l_s = log(num_s / den_s), every value
 *                            positive. n >= 2: paired t on l_s (the blocked t
 *                            on log values when other arms are given); n = 1: the
 *                            delta method, var(l) = (se_num/num)^2 +
 *                            (se_den/den)^2, with the normal quantile. The
 *                            estimate and interval are exp() of those on the
 *                            log scale, so the null value is 1.
 *   Pearson r                Fisher z: tanh(atanh(r) -+ z(0.975) / sqrt(n - 3))
 *                            (Fisher 1921), n > 3.
 *   Spearman rho             Pearson r of the ranks (ties share their mean
 *                            rank), interval tanh(atanh(rho) -+ z(0.975)
 *                            sqrt(1.06 / (n - 3))) (Fieller, Hartley & Pearson
 *                            1957), n > 3.
 *   within-group r           Pearson r after subtracting each group's means
 *                            of x and y (the pooled within-arm correlation, so
 *                            that groups lying apart cannot make r on their
 *                            own); interval tanh(atanh(r) -+ z(0.975) /
 *                            sqrt(n - k - 2)) for k groups (the Fisher z of a
 *                            partial correlation given k - 1 group indicators),
 *                            n - k - 2 > 0.
 *
 * Verdict: an interval [lo, hi] and the null value v (0 for differences and
 * correlations, 1 for ratios) agree with the paper when they exclude v on
 * the paper's side, contradict it when they exclude v on the other side, and
 * are unresolved when they contain v.
 *
 * Seeds to resolve: the smallest n >= 2 seeds for which a paired t test at
 * level 0.05 two-sided has 80% power against an effect of size delta when one
 * seed's effect has standard deviation sigma:
 *   (t(0.975, n-1) + t(0.80, n-1)) sigma / sqrt(n) <= |delta|
 * (the usual sample-size rule, e.g. Cohen, Statistical Power Analysis, 1988,
 * with t in place of z for small n); for a blocked t over K arms the t's have
 * (K - 1)(n - 1) degrees of freedom. sigma = std_err * sqrt(n_seeds) of this
 * run's effect. For a correlation over points: the smallest n with
 * (z(0.975) + z(0.80)) / sqrt(n - 3) <= |atanh(r)|, in points. */
#ifndef PLATEAU_STUDY_STATS_H
#define PLATEAU_STUDY_STATS_H

#include <stdint.h>

#include "core/error.h"

#define STATS_LEVEL 0.95
#define STATS_POWER 0.80
#define BOOTSTRAP_STREAM 0x626f6f74   /* rng stream id of the bootstrap draws */
#define BOOTSTRAP_RESAMPLES 2000
#define SEEDS_TO_RESOLVE_MAX 1000     /* larger answers are reported as "> 1000" */

/* Quantiles of Student's t with df degrees of freedom and of the standard normal. */
double t_quantile(double p, double df);
double normal_quantile(double p);

typedef struct {
    double      estimate;
    double      lo, hi;      /* 95% interval */
    double      std_err;     /* of the estimate (log scale for ratios) */
    int         n_seeds;     /* seeds behind it */
    int         n_items;     /* items per seed (bootstrap), else 0 */
    int         log_scale;   /* 1: a ratio; std_err is of log(estimate) */
    int         n_arms;      /* blocked t: arms its error pools (2: a paired t); else 0 */
    const char *method;      /* a phrase for the report, e.g. "paired t over 3 seeds" (static text) */
} Effect;

/* Paired t over seeds: a[s] - b[s], s < n, skipping seeds where either is
 * NaN. Fails with fewer than 2 complete pairs. */
int effect_paired_t(const double *a, const double *b, int n, Effect *out, Err *e);

/* Blocked t of arm a - arm b (see above) from y[k * n_seeds + s], k <
 * n_arms, NaN where not measured; log_scale: of log(y), every value used
 * positive, and the estimate and interval are exp() of those (a ratio).
 * Pools a, b and every arm k with pool[k] != 0 (pool NULL: every arm) that
 * is measured at each seed both a and b have. Fails with fewer than 2 such
 * seeds, or a value <= 0 on the log scale, naming it. */
int effect_blocked_t(const double *y, int n_arms, int n_seeds, const unsigned char *pool, int a, int b,
                     int log_scale, Effect *out, Err *e);

/* Paired bootstrap of a[s * n_items + i] - b[s * n_items + i] over seeds and
 * items (see above), `resamples` resamples drawn from `seed`. Needs
 * n_seeds >= 1, n_items >= 1, resamples >= 2 and no NaN. */
int effect_paired_bootstrap(const double *a, const double *b, int n_seeds, int n_items, int resamples,
                            uint64_t seed, Effect *out, Err *e);

/* What the findings use for per-item scores: the paired bootstrap above,
 * widened to `over_seeds` where that interval is wider: an interval over
 * seeds of the per-seed item means (the findings give the blocked t over
 * every arm's means), or with NULL the paired t of a's and b's (n_seeds >= 2). A percentile bootstrap that draws from
 * 3 seeds sees at most 10 distinct seed sets and understates the spread
 * between seeds: the quick study run at 1 and at 2 threads (float sums that
 * differ, so independent replications) gave SFT exact-match effects of +2.0
 * [-1.7, +6.1] and -3.6 [-7.1, -0.1], each outside the other's interval.
 * The t interval over seeds carries the seeds' spread at its small-sample
 * width; the bootstrap carries the items' when seeds agree. */
int effect_seeds_and_items(const double *a, const double *b, int n_seeds, int n_items, int resamples, uint64_t seed,
                           const Effect *over_seeds, Effect *out, Err *e);

/* Ratio num/den paired by seed (see above); num_se and den_se (the values'
 * own standard errors) are used only when n = 1 and may be NULL otherwise.
 * Seeds with a NaN are skipped; a value <= 0 is an error naming it. */
int effect_ratio(const double *num, const double *num_se, const double *den, const double *den_se, int n,
                 Effect *out, Err *e);

typedef struct {
    double r;
    int    n;            /* points */
    int    ci_defined;   /* 0 when the interval's df is not positive */
    double lo, hi;       /* 95% interval; NaN if undefined */
} Correlation;

/* Pearson's r between x and y over the n pairs with the Fisher-z interval;
 * fails for n < 2 or when either has no spread (r undefined), naming which. */
int pearson(const double *x, const double *y, int n, Correlation *out, Err *e);
/* Spearman's rho with the Fieller-Hartley-Pearson interval. */
int spearman(const double *x, const double *y, int n, Correlation *out, Err *e);
/* The pooled within-group correlation; group[i] in [0, n_groups). */
int within_group_r(const double *x, const double *y, const int *group, int n, int n_groups, Correlation *out,
                   Err *e);

typedef enum { VERDICT_AGREES, VERDICT_CONTRADICTS, VERDICT_UNRESOLVED } Verdict;
const char *verdict_name(Verdict v);   /* "agrees", "contradicts", "unresolved" */

/* paper_sign: +1 when the paper's effect lies above null, -1 below. */
Verdict verdict_of(double lo, double hi, double null, int paper_sign);

/* Seeds needed (see above) for |delta| at per-seed standard deviation sigma;
 * 2 when sigma is 0, SEEDS_TO_RESOLVE_MAX + 1 when not reached by then or
 * when delta is 0. */
int seeds_to_resolve(double delta, double sigma);
/* The same for a blocked t over n_arms arms ((K - 1)(n - 1) degrees of freedom). */
int seeds_to_resolve_blocked(double delta, double sigma, int n_arms);
/* The same for an effect measured here (sigma = std_err * sqrt(n_seeds),
 * delta on the effect's own scale: log(ratio) for a ratio; a blocked t's
 * degrees of freedom when n_arms > 2). */
int effect_seeds_to_resolve(const Effect *ef, double delta);
/* Points needed for a correlation of size r to be resolved (see above). */
int points_to_resolve(double r);

#endif
