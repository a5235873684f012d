/* Findings statistics (study/stats.h): hand-set per-seed and per-item numbers
 * that give each of the three verdicts, with intervals equal to the numbers
 * of tools/stats_reference.py (plain Python: t quantiles from the incomplete
 * beta function, the bootstrap's exact distribution by enumeration). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "study/findings.h"
#include "study/stage_eval.h"
#include "study/stats.h"

#define NEAR(x, want, tol) assert_true(fabs((x) - (want)) <= (tol))

static void quantiles_are_gsls_and_match_tables(void **state)
{
    (void)state;
    NEAR(t_quantile(0.975, 1), 12.706204736174659, 1e-9);
    NEAR(t_quantile(0.975, 2), 4.302652729749456, 1e-9);
    NEAR(t_quantile(0.80, 2), 1.0606601717798223, 1e-9);
    NEAR(normal_quantile(0.975), 1.9599639845400536, 1e-12);
}

/* a - b = 1, 1.5, 1: mean 7/6, sd sqrt(1/12), se 1/6, half-width t(0.975, 2)/6. */
static void paired_t_above_zero_agrees_with_a_positive_paper_effect(void **state)
{
    (void)state;
    const double a[3] = {10, 12, 11}, b[3] = {9, 10.5, 10};
    Effect ef;
    Err e;
    if (effect_paired_t(a, b, 3, &ef, &e)) fail_msg("%s", e.msg);
    NEAR(ef.estimate, 7.0 / 6.0, 1e-12);
    NEAR(ef.std_err, 1.0 / 6.0, 1e-12);
    NEAR(ef.lo, 0.44955787837509076, 1e-9);
    NEAR(ef.hi, 1.8837754549582426, 1e-9);
    assert_int_equal(ef.n_seeds, 3);
    assert_int_equal(verdict_of(ef.lo, ef.hi, 0, +1), VERDICT_AGREES);
    assert_string_equal(verdict_name(verdict_of(ef.lo, ef.hi, 0, +1)), "agrees");
    /* the same interval against a paper that saw the other sign */
    assert_int_equal(verdict_of(ef.lo, ef.hi, 0, -1), VERDICT_CONTRADICTS);
}

/* Two seeds: a - b = -2, -2.5, se 0.25, t(0.975, 1) = 12.71: the interval
 * holds 0. At sigma = 0.25 sqrt(2) an effect of 1 needs 4 seeds for 80%
 * power, one of 0.3 needs 13. */
static void two_seeds_contain_zero_and_say_how_many_would_resolve(void **state)
{
    (void)state;
    const double a[2] = {5, 6}, b[2] = {7, 8.5};
    Effect ef;
    Err e;
    if (effect_paired_t(a, b, 2, &ef, &e)) fail_msg("%s", e.msg);
    NEAR(ef.estimate, -2.25, 1e-12);
    NEAR(ef.lo, -5.426551184043665, 1e-9);
    NEAR(ef.hi, 0.9265511840436647, 1e-9);
    assert_int_equal(verdict_of(ef.lo, ef.hi, 0, +1), VERDICT_UNRESOLVED);
    assert_string_equal(verdict_name(VERDICT_UNRESOLVED), "unresolved");
    assert_int_equal(effect_seeds_to_resolve(&ef, 1.0), 4);
    assert_int_equal(effect_seeds_to_resolve(&ef, -0.3), 13);
    assert_int_equal(seeds_to_resolve(0, 1), SEEDS_TO_RESOLVE_MAX + 1);
    assert_int_equal(seeds_to_resolve(1, 0), 2);
}

static void paired_t_skips_unmeasured_seeds_and_needs_two(void **state)
{
    (void)state;
    const double a[3] = {1, NAN, 3}, b[3] = {0, 0, NAN};
    Effect ef;
    Err e;
    assert_int_equal(effect_paired_t(a, b, 3, &ef, &e), -1);
    assert_non_null(strstr(e.msg, "got 1"));
}

/* d = [[-1, -2], [-3, -4]] (seed x item). The 16 equally likely resamples
 * of 2 seeds x 2 items have means from -4 to -1, each end with probability
 * 1/16 > 2.5%, so the percentile interval is exactly [-4, -1] and the
 * bootstrap standard error approaches the exact 0.79057. */
static void bootstrap_below_zero_contradicts_and_equals_the_enumeration(void **state)
{
    (void)state;
    const double a[4] = {0, 0, 0, 0}, b[4] = {1, 2, 3, 4};
    Effect ef;
    Err e;
    if (effect_paired_bootstrap(a, b, 2, 2, BOOTSTRAP_RESAMPLES, 7, &ef, &e)) fail_msg("%s", e.msg);
    NEAR(ef.estimate, -2.5, 1e-12);
    assert_true(ef.lo == -4.0 && ef.hi == -1.0);
    NEAR(ef.std_err, 0.7905694150420949, 0.03);
    assert_int_equal(ef.n_seeds, 2);
    assert_int_equal(ef.n_items, 2);
    assert_int_equal(verdict_of(ef.lo, ef.hi, 0, +1), VERDICT_CONTRADICTS);
    assert_string_equal(verdict_name(VERDICT_CONTRADICTS), "contradicts");

    /* the same resampling seed gives the same bits; another seed moves the SE */
    Effect again, other;
    if (effect_paired_bootstrap(a, b, 2, 2, BOOTSTRAP_RESAMPLES, 7, &again, &e) ||
        effect_paired_bootstrap(a, b, 2, 2, BOOTSTRAP_RESAMPLES, 8, &other, &e))
        fail_msg("%s", e.msg);
    assert_memory_equal(&again.std_err, &ef.std_err, sizeof(double));
    assert_true(other.std_err != ef.std_err);
}

static void bootstrap_of_a_constant_difference_has_no_width(void **state)
{
    (void)state;
    double a[3 * 50], b[3 * 50];
    for (int i = 0; i < 150; i++) {
        a[i] = 0.25 * (i % 7);
        b[i] = a[i] - 0.5;
    }
    Effect ef;
    Err e;
    if (effect_paired_bootstrap(a, b, 3, 50, 500, 1, &ef, &e)) fail_msg("%s", e.msg);
    NEAR(ef.estimate, 0.5, 1e-12);
    NEAR(ef.lo, 0.5, 1e-12);
    NEAR(ef.hi, 0.5, 1e-12);
    b[17] = NAN;
    assert_int_equal(effect_paired_bootstrap(a, b, 3, 50, 500, 1, &ef, &e), -1);
    assert_non_null(strstr(e.msg, "seed 1 item 18"));
}

/* log ratios ln 2, ln 3: t on the log scale, exponentiated. */
static void sharpness_ratio_interval_is_a_t_interval_of_log_ratios(void **state)
{
    (void)state;
    const double num[2] = {20, 30}, den[2] = {10, 10};
    Effect ef;
    Err e;
    if (effect_ratio(num, NULL, den, NULL, 2, &ef, &e)) fail_msg("%s", e.msg);
    NEAR(ef.estimate, 2.449489742783178, 1e-12);
    NEAR(ef.lo, 0.18635876781948454, 1e-9);
    NEAR(ef.hi, 32.195963035191724, 1e-7);
    assert_true(ef.log_scale);
    assert_int_equal(verdict_of(ef.lo, ef.hi, 1, +1), VERDICT_UNRESOLVED);
    assert_int_equal(effect_seeds_to_resolve(&ef, log(2.0)), 4);

    /* one seed: the delta method on the two values' own standard errors */
    const double n1[1] = {30}, n1se[1] = {3}, d1[1] = {10}, d1se[1] = {1};
    if (effect_ratio(n1, n1se, d1, d1se, 1, &ef, &e)) fail_msg("%s", e.msg);
    NEAR(ef.estimate, 3.0, 1e-12);
    NEAR(ef.lo, 2.2737524396167768, 1e-9);
    NEAR(ef.hi, 3.958214554578722, 1e-9);
    assert_int_equal(verdict_of(ef.lo, ef.hi, 1, +1), VERDICT_AGREES);

    const double neg[2] = {20, -5};
    assert_int_equal(effect_ratio(neg, NULL, den, NULL, 2, &ef, &e), -1);
    assert_non_null(strstr(e.msg, "positive"));
}

/* Two clusters, each rising, lying apart: Pearson r = -0.95 with an
 * interval that excludes 0, but within the clusters the trend is +0.5 and
 * unresolved; Spearman sees -0.66. */
static void two_clusters_alone_do_not_make_a_within_group_correlation(void **state)
{
    (void)state;
    const double x[6] = {1, 2, 3, 10, 11, 12}, y[6] = {10, 12, 11, 1, 3, 2};
    const int g[6] = {0, 0, 0, 1, 1, 1};
    Correlation c;
    Err e;
    if (pearson(x, y, 6, &c, &e)) fail_msg("%s", e.msg);
    NEAR(c.r, -0.952191235059761, 1e-12);
    NEAR(c.lo, -0.9949180855079037, 1e-9);
    NEAR(c.hi, -0.6188651082364028, 1e-9);
    assert_int_equal(verdict_of(c.lo, c.hi, 0, -1), VERDICT_AGREES);
    if (within_group_r(x, y, g, 6, 2, &c, &e)) fail_msg("%s", e.msg);
    NEAR(c.r, 0.5, 1e-12);
    NEAR(c.lo, -0.6840027615024981, 1e-9);
    NEAR(c.hi, 0.9591524318388243, 1e-9);
    assert_int_equal(verdict_of(c.lo, c.hi, 0, -1), VERDICT_UNRESOLVED);
    if (spearman(x, y, 6, &c, &e)) fail_msg("%s", e.msg);
    NEAR(c.r, -0.6571428571428571, 1e-12);
    assert_int_equal(points_to_resolve(-0.709), 14);
}

/* Ties share their mean rank: y = 2,4,5,4,5 ranks 1, 2.5, 4.5, 2.5, 4.5. */
static void spearman_ranks_ties_and_uses_the_fieller_interval(void **state)
{
    (void)state;
    const double x[5] = {1, 2, 3, 4, 5}, y[5] = {2, 4, 5, 4, 5};
    Correlation c;
    Err e;
    if (spearman(x, y, 5, &c, &e)) fail_msg("%s", e.msg);
    NEAR(c.r, 0.7378647873726218, 1e-12);
    NEAR(c.lo, -0.44712356359997923, 1e-9);
    NEAR(c.hi, 0.9827649535021883, 1e-9);
    const double flat[3] = {1, 1, 1};
    assert_int_equal(spearman(x, flat, 3, &c, &e), -1);
}

/* Arms {1, 3} and {5, 9}: within sqrt((2 + 8) / 2), between the SD of 2 and 7. */
static void probe_batch_check_compares_seed_spread_with_arm_spread(void **state)
{
    (void)state;
    double x[2][STUDY_MAX_SEEDS] = {{1, 3, NAN}, {5, 9, NAN}}, within, between;
    seed_and_arm_spread((const double(*)[STUDY_MAX_SEEDS])x, 2, 3, &within, &between);
    NEAR(within, sqrt(5.0), 1e-12);
    NEAR(between, sqrt(12.5), 1e-12);
}

/* Two seeds 10 and 12: 11 -+ t(0.975, 1) * 1 holds 0; one seed 10 with
 * probe standard error 4: 10 -+ 1.96 * 4 does not. */
static void a_trace_whose_interval_holds_zero_is_unresolved(void **state)
{
    (void)state;
    char cell[64];
    const double two[2] = {10, 12}, se2[2] = {1, 1};
    format_trace_cell(cell, sizeof cell, two, se2, 2);
    assert_string_equal(cell, "unresolved [-1.71, 23.7]");
    const double one[1] = {10}, se1[1] = {4};
    format_trace_cell(cell, sizeof cell, one, se1, 1);
    assert_string_equal(cell, "10 [2.16, 17.84]");
}

/* One estimate on a progress line: resolved when |trace| > 1.959964 * its
 * standard error, so 19.6 ± 10 is and 19.5 ± 10 is not; no standard error
 * leaves the value alone. */
static void one_trace_estimate_prints_its_error_and_unresolved_when_it_holds_zero(void **state)
{
    (void)state;
    char line[64];
    format_trace_estimate(line, sizeof line, 812.34, 41.2);
    assert_string_equal(line, "812.3 ± 41");
    format_trace_estimate(line, sizeof line, 19.6, 10);
    assert_string_equal(line, "19.6 ± 10");
    format_trace_estimate(line, sizeof line, 19.5, 10);
    assert_string_equal(line, "unresolved (19.5 ± 10)");
    format_trace_estimate(line, sizeof line, -393.996, 1779.05);
    assert_string_equal(line, "unresolved (-394 ± 1.8e+03)");
    format_trace_estimate(line, sizeof line, 5, NAN);
    assert_string_equal(line, "5");
    assert_int_equal(trace_resolved(-20, 10), 1);
    assert_int_equal(trace_resolved(-19.5, 10), 0);
}

/* A segment's closing line after its sharpness probe: both batches, each
 * with its standard error, appended to what the line holds. */
static void segment_line_states_both_traces_with_their_errors(void **state)
{
    (void)state;
    char line[128] = "segment 3/9 done";
    const TraceEstimate tr[PROBE_DATA_COUNT] = {[PROBE_PT] = {.mean = 812.34, .std_error = 41.2, .probes = 50},
                                                [PROBE_SFT] = {.mean = -393.996, .std_error = 1779.05, .probes = 10}};
    stage_eval_sharpness_line(tr, line, sizeof line);
    assert_string_equal(line, "segment 3/9 done | Tr(H) pt 812.3 ± 41, sft unresolved (-394 ± 1.8e+03)");
}

/* The interval the sharpness chart draws: seeds {10, 12, NaN} give 11 -+
 * t(0.975, 1) * 1 = 12.706205 from two seeds; one seed 10 with probe
 * standard error 4 gives 1.959964 * 4; none gives NaN. */
static void trace_interval_is_t_over_seeds_or_z_over_one_seeds_probes(void **state)
{
    (void)state;
    double mean, half;
    const double two[3] = {10, 12, NAN}, se[3] = {1, 1, 1};
    assert_int_equal(trace_interval(two, se, 3, &mean, &half), 2);
    NEAR(mean, 11, 1e-12);
    NEAR(half, 12.706205, 1e-5);
    const double one[3] = {NAN, 10, NAN}, se1[3] = {NAN, 4, NAN};
    assert_int_equal(trace_interval(one, se1, 3, &mean, &half), 1);
    NEAR(mean, 10, 1e-12);
    NEAR(half, 7.839856, 1e-5);
    const double none[2] = {NAN, NAN};
    assert_int_equal(trace_interval(none, se, 2, &mean, &half), 0);
    assert_true(isnan(mean) && isnan(half));
}

/* Per-seed cells: {1, 2, 3} has mean 2 and half-width t(0.975, 2) / sqrt(3)
 * = 4.302653 * 0.577350 = 2.484138; {10, 12, 14} has 12 -+ 4.968275. An
 * eigenvalue's interval that holds 0 is unresolved; a threshold that is the
 * same in every seed has no interval, and one at LR 0 is infinite. */
static void per_seed_cells_give_t_intervals_unresolved_and_infinite_values(void **state)
{
    (void)state;
    char cell[64];
    const double small[3] = {1, 2, 3}, big[3] = {10, 12, 14};
    format_interval_cell(cell, sizeof cell, small, 3, 3, 0);
    assert_string_equal(cell, "2 [-0.484, 4.48]");
    format_interval_cell(cell, sizeof cell, small, 3, 3, 1);
    assert_string_equal(cell, "unresolved [-0.484, 4.48]");
    format_interval_cell(cell, sizeof cell, big, 3, 4, 1);
    assert_string_equal(cell, "12 [7.032, 16.97]");
    const double same[3] = {9500, 9500, 9500}, inf[3] = {INFINITY, INFINITY, INFINITY};
    format_interval_cell(cell, sizeof cell, same, 3, 4, 1);
    assert_string_equal(cell, "9500 (every seed)");
    format_interval_cell(cell, sizeof cell, inf, 3, 4, 1);
    assert_string_equal(cell, "∞");
    const double none[2] = {NAN, NAN};
    format_interval_cell(cell, sizeof cell, none, 2, 4, 0);
    assert_string_equal(cell, "n/a");
}

/* Per-seed differences that are constant over items (1, 3, 2 in the three
 * seeds): the bootstrap sees no item spread and, drawing from 3 seeds,
 * stays within [1, 3]; the paired t over the seed means 1, 3, 2 gives
 * 2 -+ t(0.975, 2) / sqrt(3) = 2 -+ 2.484138, which is wider and wins. With
 * a single seed there is no t interval and the bootstrap stands. */
static void seed_spread_widens_a_bootstrap_that_cannot_see_it(void **state)
{
    (void)state;
    double a[3 * 4], b[3 * 4];
    const double d[3] = {1, 3, 2};
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 4; i++) {
            b[s * 4 + i] = 0.25 * i;
            a[s * 4 + i] = b[s * 4 + i] + d[s];
        }
    Effect boot, both;
    Err e;
    if (effect_paired_bootstrap(a, b, 3, 4, 2000, 1, &boot, &e)) fail_msg("%s", e.msg);
    assert_true(boot.lo >= 1 && boot.hi <= 3);
    if (effect_seeds_and_items(a, b, 3, 4, 2000, 1, NULL, &both, &e)) fail_msg("%s", e.msg);
    NEAR(both.estimate, 2, 1e-12);
    NEAR(both.lo, 2 - 2.4841377118, 1e-8);
    NEAR(both.hi, 2 + 2.4841377118, 1e-8);
    assert_non_null(strstr(both.method, "widened to the paired t over seeds"));
    if (effect_seeds_and_items(a, b, 1, 4, 2000, 1, NULL, &both, &e)) fail_msg("%s", e.msg);
    NEAR(both.lo, 1, 1e-12);
    NEAR(both.hi, 1, 1e-12);
    assert_string_equal(both.method, "paired bootstrap over seeds x items");
}

/* Three arms x three seeds, arms 10 12 11 / 9 10.5 10 / 5 8 6. Arm means
 * 11, 9.8333, 6.3333; seed means 8, 10.1667, 9; grand mean 9.0556. The
 * residuals y - arm mean - seed mean + grand mean are 0.0556 -0.1111 0.0556
 * / 0.2222 -0.4444 0.2222 / -0.2778 0.5556 -0.2778, sum of squares 0.7778
 * over (3 - 1)(3 - 1) = 4 degrees of freedom: MSE 0.19444, std_err of arm 0
 * - arm 1 = sqrt(2 MSE / 3) = 0.360041, t(0.975, 4) = 2.776445:
 * 1.16667 [0.16703, 2.16630], where the paired t of those two arms alone
 * (tools/stats_reference.py: 1.1667 -+ 4.3027 x 0.3333) is [-0.268,
 * 2.601]. The paired t is the blocked t of two arms; on the log scale
 * arm 2 / arm 0 = 0.56652 [0.46130, 0.69573]; an effect of 0.5 at this
 * spread needs 14 seeds at 3 arms (t's with 2(n - 1) degrees of freedom).
 * A pool that leaves arm 2 out gives the paired t; a seed missing in arm 2
 * drops arm 2 from the pool, not the seed. */
static void blocked_t_pools_the_seed_spread_of_every_arm(void **state)
{
    (void)state;
    const double y[3 * 3] = {10, 12, 11, 9, 10.5, 10, 5, 8, 6};
    Effect ef, paired;
    Err e;
    if (effect_blocked_t(y, 3, 3, NULL, 0, 1, 0, &ef, &e)) fail_msg("%s", e.msg);
    NEAR(ef.estimate, 1.1666666667, 1e-9);
    NEAR(ef.std_err, 0.3600411499, 1e-9);
    NEAR(ef.lo, 0.1670321783, 1e-8);
    NEAR(ef.hi, 2.1663011550, 1e-8);
    assert_int_equal(ef.n_arms, 3);
    assert_int_equal(ef.n_seeds, 3);
    assert_string_equal(ef.method, "blocked t over seeds");
    assert_int_equal(effect_seeds_to_resolve(&ef, 0.5), 14);

    if (effect_blocked_t(y, 2, 3, NULL, 0, 1, 0, &ef, &e) || effect_paired_t(y, y + 3, 3, &paired, &e))
        fail_msg("%s", e.msg);
    NEAR(ef.lo, paired.lo, 1e-12);
    NEAR(ef.hi, paired.hi, 1e-12);
    NEAR(ef.std_err, paired.std_err, 1e-12);
    assert_string_equal(ef.method, "paired t over seeds");
    assert_int_equal(effect_seeds_to_resolve(&ef, 0.5), effect_seeds_to_resolve(&paired, 0.5));
    const unsigned char none[3] = {0, 0, 0}, third[3] = {0, 0, 1};
    if (effect_blocked_t(y, 3, 3, none, 0, 1, 0, &ef, &e)) fail_msg("%s", e.msg);   /* a pool of the pair alone */
    NEAR(ef.hi, paired.hi, 1e-12);
    assert_int_equal(ef.n_arms, 2);
    if (effect_blocked_t(y, 3, 3, third, 0, 1, 0, &ef, &e)) fail_msg("%s", e.msg);
    NEAR(ef.hi, 2.1663011550, 1e-8);

    if (effect_blocked_t(y, 3, 3, NULL, 2, 0, 1, &ef, &e)) fail_msg("%s", e.msg);
    NEAR(ef.estimate, 0.5665163349, 1e-9);
    NEAR(ef.lo, 0.4612989632, 1e-8);
    NEAR(ef.hi, 0.6957326666, 1e-8);
    assert_int_equal(ef.log_scale, 1);

    double gap[3 * 3];
    memcpy(gap, y, sizeof gap);
    gap[2 * 3 + 1] = NAN;
    if (effect_blocked_t(gap, 3, 3, NULL, 0, 1, 0, &ef, &e)) fail_msg("%s", e.msg);
    assert_int_equal(ef.n_arms, 2);
    NEAR(ef.lo, paired.lo, 1e-12);
    gap[0] = NAN;
    gap[1] = NAN;
    assert_int_equal(effect_blocked_t(gap, 3, 3, NULL, 0, 1, 0, &ef, &e), -1);
    assert_non_null(strstr(e.msg, "at least 2 seeds"));
    gap[0] = 10;
    gap[1] = 12;
    gap[3] = -1;
    assert_int_equal(effect_blocked_t(gap, 3, 3, NULL, 0, 1, 1, &ef, &e), -1);
    assert_non_null(strstr(e.msg, "must be positive"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quantiles_are_gsls_and_match_tables),
        cmocka_unit_test(paired_t_above_zero_agrees_with_a_positive_paper_effect),
        cmocka_unit_test(two_seeds_contain_zero_and_say_how_many_would_resolve),
        cmocka_unit_test(paired_t_skips_unmeasured_seeds_and_needs_two),
        cmocka_unit_test(bootstrap_below_zero_contradicts_and_equals_the_enumeration),
        cmocka_unit_test(bootstrap_of_a_constant_difference_has_no_width),
        cmocka_unit_test(sharpness_ratio_interval_is_a_t_interval_of_log_ratios),
        cmocka_unit_test(two_clusters_alone_do_not_make_a_within_group_correlation),
        cmocka_unit_test(spearman_ranks_ties_and_uses_the_fieller_interval),
        cmocka_unit_test(probe_batch_check_compares_seed_spread_with_arm_spread),
        cmocka_unit_test(a_trace_whose_interval_holds_zero_is_unresolved),
        cmocka_unit_test(one_trace_estimate_prints_its_error_and_unresolved_when_it_holds_zero),
        cmocka_unit_test(trace_interval_is_t_over_seeds_or_z_over_one_seeds_probes),
        cmocka_unit_test(segment_line_states_both_traces_with_their_errors),
        cmocka_unit_test(per_seed_cells_give_t_intervals_unresolved_and_infinite_values),
        cmocka_unit_test(seed_spread_widens_a_bootstrap_that_cannot_see_it),
        cmocka_unit_test(blocked_t_pools_the_seed_spread_of_every_arm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
