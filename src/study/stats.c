#include "study/stats.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>

#include "core/rng.h"

double t_quantile(double p, double df) { return gsl_cdf_tdist_Pinv(p, df); }

double normal_quantile(double p) { return gsl_cdf_ugaussian_Pinv(p); }

static const double UPPER = 0.5 + STATS_LEVEL / 2;   /* 0.975 */

/* Mean, and standard error with divisor n - 1, of x[0..n). */
static void mean_se(const double *x, int n, double *mean, double *se)
{
    *mean = gsl_stats_mean(x, 1, (size_t)n);
    *se = n > 1 ? gsl_stats_sd_m(x, 1, (size_t)n, *mean) / sqrt((double)n) : NAN;
}

static void t_interval(const double *x, int n, Effect *out)
{
    mean_se(x, n, &out->estimate, &out->std_err);
    double half = t_quantile(UPPER, n - 1) * out->std_err;
    out->lo = out->estimate - half;
    out->hi = out->estimate + half;
    out->n_seeds = n;
}

int effect_paired_t(const double *a, const double *b, int n, Effect *out, Err *e)
{
    double *d = xmalloc((unsigned long)(n > 0 ? n : 1) * sizeof *d);
    int k = 0;
    for (int s = 0; s < n; s++)
        if (!isnan(a[s]) && !isnan(b[s])) d[k++] = a[s] - b[s];
    if (k < 2) {
        free(d);
        return err_set(e, "a paired t interval needs at least 2 seeds measured in both arms, got %d", k);
    }
    *out = (Effect){.method = "paired t over seeds"};
    t_interval(d, k, out);
    free(d);
    return 0;
}

int effect_blocked_t(const double *y, int n_arms, int n_seeds, const unsigned char *pool, int a, int b,
                     int log_scale, Effect *out, Err *e)
{
    int *seed = xmalloc((unsigned long)(n_seeds > 0 ? n_seeds : 1) * sizeof *seed);
    int *arm = xmalloc((unsigned long)(n_arms > 0 ? n_arms : 1) * sizeof *arm);
    int n = 0, K = 0, rc = 0;
    for (int s = 0; s < n_seeds; s++)
        if (!isnan(y[a * n_seeds + s]) && !isnan(y[b * n_seeds + s])) seed[n++] = s;
    /* a and b first, then every other arm of the pool measured at each of those seeds */
    arm[K++] = a;
    arm[K++] = b;
    for (int k = 0; k < n_arms; k++) {
        int complete = k != a && k != b && (!pool || pool[k]);
        for (int j = 0; j < n && complete; j++)
            if (isnan(y[k * n_seeds + seed[j]]) || (log_scale && !(y[k * n_seeds + seed[j]] > 0))) complete = 0;
        if (complete) arm[K++] = k;
    }
    if (n < 2) rc = err_set(e, "a t interval over seeds needs at least 2 seeds measured in both arms, got %d", n);
    for (int i = 0; i < 2 && !rc && log_scale; i++)
        for (int j = 0; j < n && !rc; j++)
            if (!(y[arm[i] * n_seeds + seed[j]] > 0))
                rc = err_set(e, "a ratio of values that must be positive has %.4g (seed %d)",
                             y[arm[i] * n_seeds + seed[j]], seed[j] + 1);
    if (rc) {
        free(seed);
        free(arm);
        return -1;
    }
    double *v = xmalloc((size_t)K * (size_t)n * sizeof *v), *arm_mean = xcalloc((size_t)K, sizeof *arm_mean),
           *seed_mean = xcalloc((size_t)n, sizeof *seed_mean), grand = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < n; j++) {
            double x = y[arm[i] * n_seeds + seed[j]];
            v[i * n + j] = log_scale ? log(x) : x;
            arm_mean[i] += v[i * n + j] / n;
            seed_mean[j] += v[i * n + j] / K;
            grand += v[i * n + j] / ((double)K * n);
        }
    double ss = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < n; j++) {
            double r = v[i * n + j] - arm_mean[i] - seed_mean[j] + grand;
            ss += r * r;
        }
    int df = (K - 1) * (n - 1);
    *out = (Effect){.n_seeds = n, .n_arms = K, .log_scale = log_scale};
    out->method = log_scale ? (K == 2 ? "paired t over seeds of the log ratio" : "blocked t over seeds of the log ratio")
                            : (K == 2 ? "paired t over seeds" : "blocked t over seeds");
    out->estimate = arm_mean[0] - arm_mean[1];
    out->std_err = sqrt(2 * (ss / df) / n);
    double half = t_quantile(UPPER, df) * out->std_err;
    out->lo = out->estimate - half;
    out->hi = out->estimate + half;
    if (log_scale) {
        out->estimate = exp(out->estimate);
        out->lo = exp(out->lo);
        out->hi = exp(out->hi);
    }
    free(v);
    free(arm_mean);
    free(seed_mean);
    free(seed);
    free(arm);
    return 0;
}

int effect_paired_bootstrap(const double *a, const double *b, int n_seeds, int n_items, int resamples,
                            uint64_t seed, Effect *out, Err *e)
{
    if (n_seeds < 1 || n_items < 1 || resamples < 2)
        return err_set(e, "bootstrap needs at least 1 seed, 1 item and 2 resamples (got %d, %d, %d)", n_seeds,
                       n_items, resamples);
    size_t cells = (size_t)n_seeds * (size_t)n_items;
    double *d = xmalloc(cells * sizeof *d);
    double total = 0;
    for (size_t c = 0; c < cells; c++) {
        if (isnan(a[c]) || isnan(b[c])) {
            free(d);
            return err_set(e, "bootstrap: seed %zu item %zu has no score in one arm", c / (size_t)n_items + 1,
                           c % (size_t)n_items + 1);
        }
        d[c] = a[c] - b[c];
        total += d[c];
    }
    /* Item counts of a resample: the mean over drawn cells is
     * sum_s sum_i count_i d[s][i] / (n m) over the drawn seeds s. */
    int *seed_draw = xmalloc((unsigned long)n_seeds * sizeof *seed_draw);
    int *item_count = xmalloc((unsigned long)n_items * sizeof *item_count);
    double *seed_sum = xmalloc((unsigned long)n_seeds * sizeof *seed_sum);
    double *means = xmalloc((unsigned long)resamples * sizeof *means);
    Rng rng = rng_stream(seed, BOOTSTRAP_STREAM);
    for (int r = 0; r < resamples; r++) {
        for (int s = 0; s < n_seeds; s++) seed_draw[s] = (int)rng_below(&rng, (uint64_t)n_seeds);
        for (int i = 0; i < n_items; i++) item_count[i] = 0;
        for (int i = 0; i < n_items; i++) item_count[rng_below(&rng, (uint64_t)n_items)]++;
        for (int s = 0; s < n_seeds; s++) {
            const double *row = d + (size_t)s * (size_t)n_items;
            double sum = 0;
            for (int i = 0; i < n_items; i++) sum += item_count[i] * row[i];
            seed_sum[s] = sum;
        }
        double sum = 0;
        for (int s = 0; s < n_seeds; s++) sum += seed_sum[seed_draw[s]];
        means[r] = sum / (double)cells;
    }
    gsl_sort(means, 1, (size_t)resamples);
    *out = (Effect){.method = "paired bootstrap over seeds x items"};
    out->estimate = total / (double)cells;
    out->lo = gsl_stats_quantile_from_sorted_data(means, 1, (size_t)resamples, 1 - UPPER);
    out->hi = gsl_stats_quantile_from_sorted_data(means, 1, (size_t)resamples, UPPER);
    out->std_err = gsl_stats_sd(means, 1, (size_t)resamples);
    out->n_seeds = n_seeds;
    out->n_items = n_items;
    free(seed_draw);
    free(item_count);
    free(seed_sum);
    free(means);
    free(d);
    return 0;
}

int effect_seeds_and_items(const double *a, const double *b, int n_seeds, int n_items, int resamples, uint64_t seed,
                           const Effect *over_seeds, Effect *out, Err *e)
{
    if (effect_paired_bootstrap(a, b, n_seeds, n_items, resamples, seed, out, e)) return -1;
    Effect t;
    if (over_seeds) t = *over_seeds;
    else if (n_seeds < 2) return 0;
    else {   /* the paired t of the per-seed item means */
        double *ma = xmalloc((unsigned long)n_seeds * sizeof *ma), *mb = xmalloc((unsigned long)n_seeds * sizeof *mb);
        for (int s = 0; s < n_seeds; s++) {
            double sa = 0, sb = 0;
            for (int i = 0; i < n_items; i++) {
                sa += a[(size_t)s * (size_t)n_items + (size_t)i];
                sb += b[(size_t)s * (size_t)n_items + (size_t)i];
            }
            ma[s] = sa / n_items;
            mb[s] = sb / n_items;
        }
        int rc = effect_paired_t(ma, mb, n_seeds, &t, e);
        free(ma);
        free(mb);
        if (rc) return -1;
    }
    if (t.lo < out->lo || t.hi > out->hi) {
        out->lo = t.lo < out->lo ? t.lo : out->lo;
        out->hi = t.hi > out->hi ? t.hi : out->hi;
        out->std_err = t.std_err > out->std_err ? t.std_err : out->std_err;
        out->n_arms = t.n_arms;
        out->method = t.n_arms > 2 ? "paired bootstrap over seeds x items, widened to the blocked t over seeds"
                                   : "paired bootstrap over seeds x items, widened to the paired t over seeds";
    }
    return 0;
}

int effect_ratio(const double *num, const double *num_se, const double *den, const double *den_se, int n,
                 Effect *out, Err *e)
{
    double *l = xmalloc((unsigned long)(n > 0 ? n : 1) * sizeof *l);
    int k = 0, last = -1;
    for (int s = 0; s < n; s++) {
        if (isnan(num[s]) || isnan(den[s])) continue;
        if (num[s] <= 0 || den[s] <= 0) {
            free(l);
            return err_set(e, "a ratio of %.4g to %.4g (seed %d): both must be positive", num[s], den[s], s + 1);
        }
        l[k++] = log(num[s] / den[s]);
        last = s;
    }
    *out = (Effect){.log_scale = 1};
    if (k >= 2) {
        out->method = "paired t over seeds of the log ratio";
        t_interval(l, k, out);
    } else if (k == 1 && num_se && den_se && !isnan(num_se[last]) && !isnan(den_se[last])) {
        out->method = "delta method on one seed's log ratio";
        double rn = num_se[last] / num[last], rd = den_se[last] / den[last];
        out->estimate = l[0];
        out->std_err = sqrt(rn * rn + rd * rd);
        out->lo = l[0] - normal_quantile(UPPER) * out->std_err;
        out->hi = l[0] + normal_quantile(UPPER) * out->std_err;
        out->n_seeds = 1;
    } else {
        free(l);
        return err_set(e, "a ratio interval needs 2 seeds, or 1 seed with standard errors (got %d)", k);
    }
    out->estimate = exp(out->estimate);
    out->lo = exp(out->lo);
    out->hi = exp(out->hi);
    free(l);
    return 0;
}

/* r and a Fisher-z interval with standard error se on the z scale (se <= 0 or NaN: undefined). */
static void fisher_interval(Correlation *c, double se)
{
    c->ci_defined = se > 0 && isfinite(se);
    c->lo = c->hi = NAN;
    if (!c->ci_defined) return;
    if (fabs(c->r) == 1) {
        c->lo = c->hi = c->r;   /* atanh(+-1) is infinite: a perfect fit has no width */
        return;
    }
    double z = atanh(c->r), half = normal_quantile(UPPER) * se;
    c->lo = tanh(z - half);
    c->hi = tanh(z + half);
}

static int pearson_r(const double *x, const double *y, int n, double *r, Err *e)
{
    if (n < 2) return err_set(e, "a correlation needs at least 2 pairs, got %d", n);
    double mx = gsl_stats_mean(x, 1, (size_t)n), my = gsl_stats_mean(y, 1, (size_t)n);
    double sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (sxx == 0) return err_set(e, "the correlation is undefined: the first variable has the same value in all %d pairs", n);
    if (syy == 0) return err_set(e, "the correlation is undefined: the second variable has the same value in all %d pairs", n);
    *r = fmax(-1, fmin(1, sxy / sqrt(sxx * syy)));
    return 0;
}

int pearson(const double *x, const double *y, int n, Correlation *out, Err *e)
{
    *out = (Correlation){.n = n};
    if (pearson_r(x, y, n, &out->r, e)) return -1;
    fisher_interval(out, n > 3 ? 1 / sqrt((double)(n - 3)) : NAN);
    return 0;
}

/* ranks[i] of x[i] among x[0..n), 1-based, ties sharing their mean rank. */
static void ranks_of(const double *x, int n, double *ranks)
{
    size_t *order = xmalloc((unsigned long)n * sizeof *order);
    gsl_sort_index(order, x, 1, (size_t)n);
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && x[order[j + 1]] == x[order[i]]) j++;
        for (int k = i; k <= j; k++) ranks[order[k]] = (i + j) / 2.0 + 1;
        i = j + 1;
    }
    free(order);
}

int spearman(const double *x, const double *y, int n, Correlation *out, Err *e)
{
    *out = (Correlation){.n = n};
    if (n < 2) return err_set(e, "a correlation needs at least 2 pairs, got %d", n);
    double *rx = xmalloc((unsigned long)n * sizeof *rx), *ry = xmalloc((unsigned long)n * sizeof *ry);
    ranks_of(x, n, rx);
    ranks_of(y, n, ry);
    int rc = pearson_r(rx, ry, n, &out->r, e);
    free(rx);
    free(ry);
    if (rc) return -1;
    fisher_interval(out, n > 3 ? sqrt(1.06 / (n - 3)) : NAN);
    return 0;
}

int within_group_r(const double *x, const double *y, const int *group, int n, int n_groups, Correlation *out,
                   Err *e)
{
    *out = (Correlation){.n = n};
    double *gx = xcalloc((unsigned long)n_groups, sizeof *gx), *gy = xcalloc((unsigned long)n_groups, sizeof *gy);
    int *count = xcalloc((unsigned long)n_groups, sizeof *count);
    double *cx = xmalloc((unsigned long)(n > 0 ? n : 1) * sizeof *cx), *cy = xmalloc((unsigned long)(n > 0 ? n : 1) * sizeof *cy);
    for (int i = 0; i < n; i++) {
        gx[group[i]] += x[i];
        gy[group[i]] += y[i];
        count[group[i]]++;
    }
    int k = 0;
    for (int g = 0; g < n_groups; g++) k += count[g] > 0;
    for (int i = 0; i < n; i++) {
        cx[i] = x[i] - gx[group[i]] / count[group[i]];
        cy[i] = y[i] - gy[group[i]] / count[group[i]];
    }
    int rc = pearson_r(cx, cy, n, &out->r, e);
    if (!rc) fisher_interval(out, n - k - 2 > 0 ? 1 / sqrt((double)(n - k - 2)) : NAN);
    else err_wrap(e, "within-group");
    free(gx);
    free(gy);
    free(count);
    free(cx);
    free(cy);
    return rc;
}

const char *verdict_name(Verdict v)
{
    return v == VERDICT_AGREES ? "agrees" : v == VERDICT_CONTRADICTS ? "contradicts" : "unresolved";
}

Verdict verdict_of(double lo, double hi, double null, int paper_sign)
{
    if (isnan(lo) || isnan(hi)) return VERDICT_UNRESOLVED;
    int side = lo > null ? +1 : hi < null ? -1 : 0;
    if (side == 0) return VERDICT_UNRESOLVED;
    return side == paper_sign ? VERDICT_AGREES : VERDICT_CONTRADICTS;
}

int seeds_to_resolve_blocked(double delta, double sigma, int n_arms)
{
    if (!(sigma >= 0) || delta == 0 || isnan(delta)) return SEEDS_TO_RESOLVE_MAX + 1;
    int k1 = n_arms > 2 ? n_arms - 1 : 1;
    for (int n = 2; n <= SEEDS_TO_RESOLVE_MAX; n++) {
        double df = (double)k1 * (n - 1);
        if ((t_quantile(UPPER, df) + t_quantile(STATS_POWER, df)) * sigma / sqrt((double)n) <= fabs(delta)) return n;
    }
    return SEEDS_TO_RESOLVE_MAX + 1;
}

int seeds_to_resolve(double delta, double sigma) { return seeds_to_resolve_blocked(delta, sigma, 2); }

int effect_seeds_to_resolve(const Effect *ef, double delta)
{
    return seeds_to_resolve_blocked(delta, ef->std_err * sqrt((double)ef->n_seeds), ef->n_arms);
}

int points_to_resolve(double r)
{
    if (!(fabs(r) > 0) || fabs(r) >= 1) return fabs(r) >= 1 ? 4 : SEEDS_TO_RESOLVE_MAX + 1;
    double need = (normal_quantile(UPPER) + normal_quantile(STATS_POWER)) / fabs(atanh(r));
    return 3 + (int)ceil(need * need);
}
