/* Learning-rate schedules against the paper's closed forms, recomputed here
 * from PAPER.md independently of src/train/schedule.c. Convention under test:
 * the update of step s uses the paper's eta(s + 1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train/schedule.h"

#define PEAK 3e-4
#define TW 100
#define TEND 1000
/* T_stable = T_w + 0.75*(T_end - T_w) = 100 + 675 */
#define TSTABLE 775

static void assert_close(double got, double want, const char *what)
{
    int ok = want == 0 ? got == 0 : fabs(got - want) <= 1e-7 * fabs(want);
    if (!ok) fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

/* PAPER.md, Schedules, at position t (T_pre = TEND). */
static double paper_eta(const char *kind, double a, double t)
{
    if (t <= TW) return PEAK * t / TW;
    if (!strcmp(kind, "wso") || !strcmp(kind, "constant")) return PEAK;
    if (!strcmp(kind, "wsd")) {
        if (t <= TSTABLE) return PEAK;
        return PEAK * ((1 - a) * (TEND - t) / (TEND - TSTABLE) + a);
    }
    if (!strcmp(kind, "cosine")) return PEAK * (a + (1 - a) / 2 * (1 + cos(M_PI * (t - TW) / (TEND - TW))));
    return PEAK * ((1 - a) * (TEND - t) / (TEND - TW) + a);   /* linear */
}

static ScheduleSpec spec_of(const char *kind, double a)
{
    if (!strcmp(kind, "wso")) return schedule_wso(PEAK, TW, TEND);
    if (!strcmp(kind, "constant")) return schedule_constant(PEAK, TW, TEND);
    if (!strcmp(kind, "wsd")) return schedule_wsd(PEAK, TW, TEND, a, 0.75, DECAY_LINEAR);
    if (!strcmp(kind, "cosine")) return schedule_cosine(PEAK, TW, TEND, a);
    return schedule_linear(PEAK, TW, TEND, a);
}

static void every_kind_matches_the_paper_at_its_landmarks(void **state)
{
    (void)state;
    const char *kinds[] = {"wso", "constant", "wsd", "cosine", "linear"};
    const double alphas[] = {0.0, 0.1, 1.0};
    for (int k = 0; k < 5; k++)
        for (int i = 0; i < 3; i++) {
            ScheduleSpec s = spec_of(kinds[k], alphas[i]);
            Err e;
            assert_int_equal(schedule_validate(&s, &e), 0);
            double a = (!strcmp(kinds[k], "wso") || !strcmp(kinds[k], "constant")) ? 1.0 : alphas[i];
            int decay_from = !strcmp(kinds[k], "wsd") ? TSTABLE : TW;
            int decay_mid = (decay_from + TEND) / 2;
            const int steps[] = {0, TW / 2, TW - 1, TW, decay_from, decay_mid, TEND - 2, TEND - 1};
            for (int j = 0; j < 8; j++) {
                char what[96];
                snprintf(what, sizeof what, "%s alpha=%g step %d", kinds[k], alphas[i], steps[j]);
                assert_close(schedule_lr(&s, steps[j]), paper_eta(kinds[k], a, steps[j] + 1), what);
            }
            /* the convention: first update at peak/T_w, last exactly at alpha*peak */
            assert_true(schedule_lr(&s, 0) == PEAK / TW);
            assert_true(schedule_lr(&s, TW - 1) == PEAK);
            assert_close(schedule_lr(&s, TEND - 1), a * PEAK, "last step");
            assert_close(schedule_final_lr(&s), a * PEAK, "final lr");
        }
    /* A few values worked by hand, so the test's own formulas are checked too. */
    ScheduleSpec wsd0 = spec_of("wsd", 0.0), cos1 = spec_of("cosine", 0.1), lin1 = spec_of("linear", 0.1);
    assert_close(schedule_lr(&wsd0, 887), 3e-4 * 112.0 / 225.0, "wsd0 step 887");   /* t=888 */
    assert_close(schedule_lr(&cos1, 549), 3e-4 * 0.55, "cos0.1 half way");            /* t=550 */
    assert_close(schedule_lr(&lin1, 549), 3e-4 * 0.55, "lin0.1 half way");
    assert_close(schedule_lr(&lin1, 99), 3e-4, "lin end of warmup");
    assert_close(schedule_lr(&lin1, 100), 3e-4 * (0.9 * 899.0 / 900.0 + 0.1), "lin first decay step");
}

static void steps_outside_the_stage_are_clamped(void **state)
{
    (void)state;
    ScheduleSpec s = spec_of("linear", 0.1);
    assert_true(schedule_lr(&s, TEND) == schedule_lr(&s, TEND - 1));
    assert_true(schedule_lr(&s, 5 * TEND) == schedule_final_lr(&s));
    assert_true(schedule_eta(&s, -3) == 0.0);
    ScheduleSpec no_warmup = schedule_cosine(1e-3, 0, 10, 0.0);
    assert_true(schedule_eta(&no_warmup, 0) == 1e-3);
}

static void wso_with_any_alpha_equals_wsd_with_alpha_one(void **state)
{
    (void)state;
    const double alphas[] = {0.0, 0.1, 0.5, 1.0};
    const DecayShape shapes[] = {DECAY_LINEAR, DECAY_1_SQRT, DECAY_COSINE, DECAY_EXP};
    for (int i = 0; i < 4; i++) {
        ScheduleSpec wso = {SCHED_WSO, PEAK, TW, TEND, alphas[i], 0.3, DECAY_EXP};
        ScheduleSpec constant = {SCHED_CONSTANT, PEAK, TW, TEND, alphas[i], 0.75, DECAY_LINEAR};
        ScheduleSpec wsd1 = schedule_wsd(PEAK, TW, TEND, 1.0, 0.75, shapes[i]);
        for (int64_t step = 0; step < TEND; step++) {
            assert_true(schedule_lr(&wso, step) == schedule_lr(&wsd1, step));
            assert_true(schedule_lr(&constant, step) == schedule_lr(&wsd1, step));
        }
        assert_true(schedule_equal(&wso, &(ScheduleSpec){SCHED_WSO, PEAK, TW, TEND, 1.0, 0.75, DECAY_LINEAR}));
    }
}

static void mid_training_with_alpha_one_holds_the_parent_lr(void **state)
{
    (void)state;
    ScheduleSpec pre = spec_of("wsd", 0.1);
    ScheduleSpec mid = schedule_mid(schedule_final_lr(&pre), 400, 1.0);
    assert_close(mid.peak, 3e-5, "parent's final lr");
    for (int64_t step = 0; step < 400; step++) assert_true(schedule_lr(&mid, step) == mid.peak);
    assert_int_equal(schedule_decay_start(&mid), 400);
}

static void mid_training_with_alpha_zero_goes_from_parent_lr_to_zero(void **state)
{
    (void)state;
    ScheduleSpec pre = spec_of("cosine", 0.1);
    double end_pre = schedule_final_lr(&pre);
    ScheduleSpec mid = schedule_mid(end_pre, 400, 0.0);
    Err e;
    assert_int_equal(schedule_validate(&mid, &e), 0);
    /* continuous at T_pre: the mid stage's position 0 is the parent's last */
    assert_true(schedule_eta(&mid, 0) == end_pre);
    /* paper: eta(T_pre)*((1-a_mid)*(T_pre+T_mid-t)/T_mid + a_mid), t = T_pre+step+1 */
    const int steps[] = {0, 199, 398};
    for (int j = 0; j < 3; j++) {
        double t = TEND + steps[j] + 1;
        assert_close(schedule_lr(&mid, steps[j]), end_pre * ((TEND + 400 - t) / 400), "mid alpha 0");
    }
    assert_close(schedule_lr(&mid, 0), 3e-5 * 399.0 / 400.0, "first mid update");
    assert_true(schedule_lr(&mid, 399) == 0.0);
    assert_int_equal(schedule_decay_start(&mid), 0);
    /* alpha_mid 0.1 ends at 10% of where the parent ended */
    ScheduleSpec mid01 = schedule_mid(end_pre, 400, 0.1);
    assert_close(schedule_lr(&mid01, 399), 3e-6, "mid alpha 0.1 end");
}

static void sft_warms_up_then_follows_cosine_to_zero(void **state)
{
    (void)state;
    ScheduleSpec s = schedule_sft(1e-5, 100, 1000);
    assert_close(schedule_lr(&s, 0), 1e-7, "sft first step");
    assert_close(schedule_lr(&s, 99), 1e-5, "sft end of warmup");
    assert_close(schedule_lr(&s, 549), 0.5e-5, "sft half way (cos(pi/2))");
    assert_close(schedule_lr(&s, 324), 1e-5 * 0.5 * (1 + cos(M_PI * 0.25)), "sft quarter way");
    assert_true(schedule_lr(&s, 999) == 0.0);
    for (int64_t step = 100; step < 1000; step++) assert_true(schedule_lr(&s, step) <= schedule_lr(&s, step - 1));
    assert_int_equal(schedule_sft_warmup(7000), 100);
    assert_int_equal(schedule_sft_warmup(1000), 100);
    assert_int_equal(schedule_sft_warmup(200), 20);
}

static void every_wsd_shape_runs_from_peak_to_alpha_peak(void **state)
{
    (void)state;
    const DecayShape shapes[] = {DECAY_LINEAR, DECAY_1_SQRT, DECAY_COSINE, DECAY_EXP};
    const double alphas[] = {0.0, 0.1, 1.0};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) {
            ScheduleSpec s = schedule_wsd(PEAK, TW, TEND, alphas[j], 0.75, shapes[i]);
            assert_true(schedule_eta(&s, TSTABLE) == PEAK);
            assert_true(schedule_lr(&s, TSTABLE - 1) == PEAK);
            assert_close(schedule_lr(&s, TEND - 1), alphas[j] * PEAK, schedule_shape_name(shapes[i]));
            for (int64_t step = TSTABLE; step < TEND; step++) {
                double lr = schedule_lr(&s, step), prev = schedule_lr(&s, step - 1);
                assert_true(lr <= prev);
                assert_true(lr >= alphas[j] * PEAK);
                if (alphas[j] < 1 && step < TEND - 1) assert_true(lr < prev && lr > alphas[j] * PEAK);
            }
        }
    /* Values a quarter of the way into the decay (warmup 0, rho 0, 400
     * steps: position 100 is p = 0.25), worked by hand. */
    struct { DecayShape shape; double alpha, fraction; } q[] = {
        {DECAY_LINEAR, 0.1, 0.1 + 0.9 * 0.75},
        {DECAY_1_SQRT, 0.1, 0.1 + 0.9 * 0.5},
        {DECAY_1_SQRT, 0.0, 0.5},
        {DECAY_COSINE, 0.0, 0.8535533905932737},   /* (1 + cos(pi/4))/2 */
        {DECAY_EXP, 0.1, 0.5623413251903491},      /* 0.1^0.25 */
        {DECAY_EXP, 0.0, 0.1778279410038923},      /* (1e-3)^0.25 */
    };
    for (size_t k = 0; k < sizeof q / sizeof q[0]; k++) {
        ScheduleSpec s = schedule_wsd(1.0, 0, 400, q[k].alpha, 0.0, q[k].shape);
        assert_close(schedule_lr(&s, 99), q[k].fraction, schedule_shape_name(q[k].shape));
    }
    /* exp with alpha 0: the floor just before the end, then exactly 0 */
    ScheduleSpec ex = schedule_wsd(1.0, 0, 400, 0.0, 0.0, DECAY_EXP);
    assert_close(schedule_lr(&ex, 398), pow(1e-3, 399.0 / 400.0), "exp floor");
    assert_true(schedule_lr(&ex, 399) == 0.0);
}

/* The first step whose LRs differ, found by walking every step. */
static int64_t prefix_by_walking(const ScheduleSpec *a, const ScheduleSpec *b)
{
    int64_t n = a->total < b->total ? a->total : b->total;
    for (int64_t step = 0; step < n; step++)
        if (schedule_lr(a, step) != schedule_lr(b, step)) return step;
    return n;
}

/* The common prefix comes from the breakpoints, so 10^12-step schedules
 * answer at once, and on ordinary schedules it equals the walk over every
 * step (no pair of different formulas here happens to agree bit for bit). */
static void common_prefix_comes_from_breakpoints(void **state)
{
    (void)state;
    const int64_t T = 1000000000000LL, W = 10000000000LL;
    ScheduleSpec wso = schedule_wso(1e-3, W, T), wsd = schedule_wsd(1e-3, W, T, 0.1, 0.75, DECAY_LINEAR);
    /* T_stable = 10^10 + round(0.75 x 99 x 10^10) = 7.525 x 10^11 */
    assert_int_equal(schedule_common_prefix(&wso, &wsd), 752500000000LL);
    ScheduleSpec cos = schedule_cosine(1e-3, W, T, 0.1), lin = schedule_linear(1e-3, W, T, 0.0);
    assert_int_equal(schedule_common_prefix(&cos, &lin), W);
    assert_int_equal(schedule_common_prefix(&wsd, &wsd), T);
    ScheduleSpec other_peak = schedule_wso(2e-3, W, T);
    assert_int_equal(schedule_common_prefix(&wso, &other_peak), 0);

    ScheduleSpec s[] = {
        schedule_wso(PEAK, TW, TEND),
        schedule_wso(PEAK, TW, 3 * TEND),
        schedule_constant(PEAK, TW, TEND / 2),
        schedule_wso(PEAK, TW + 1, TEND),
        schedule_wso(2 * PEAK, TW, TEND),
        schedule_wsd(PEAK, TW, TEND, 0.1, 0.75, DECAY_LINEAR),
        schedule_wsd(PEAK, TW, TEND, 0.0, 0.75, DECAY_LINEAR),
        schedule_wsd(PEAK, TW, TEND, 0.1, 0.75, DECAY_COSINE),
        schedule_wsd(PEAK, TW, TEND, 0.1, 0.7501, DECAY_LINEAR),   /* same T_stable as 0.75 */
        schedule_wsd(PEAK, TW, TEND, 0.1, 0.5, DECAY_EXP),
        schedule_wsd(PEAK, TW, TEND + 40, 0.1, 0.75, DECAY_LINEAR),
        schedule_wsd(PEAK, TW, TEND, 1.0, 0.75, DECAY_LINEAR),
        schedule_cosine(PEAK, TW, TEND, 0.1),
        schedule_cosine(PEAK, TW, TEND, 1.0),
        schedule_linear(PEAK, TW, TEND, 0.0),
        schedule_linear(PEAK, TW, 2 * TEND, 0.0),
        schedule_mid(PEAK, 300, 0.0),
        schedule_mid(PEAK, 300, 1.0),
        schedule_mid(PEAK, 400, 0.0),
        schedule_sft(PEAK, TW, TEND),
    };
    size_t n = sizeof s / sizeof s[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (schedule_common_prefix(&s[i], &s[j]) != prefix_by_walking(&s[i], &s[j]))
                fail_msg("pair %zu, %zu: breakpoints give %lld, the walk %lld", i, j,
                         (long long)schedule_common_prefix(&s[i], &s[j]), (long long)prefix_by_walking(&s[i], &s[j]));
}

static void decay_start_is_where_wsd_leaves_the_wso_trunk(void **state)
{
    (void)state;
    ScheduleSpec wso = schedule_wso(PEAK, TW, TEND);
    /* a longer WSO trunk has the same LRs: its total does not matter */
    ScheduleSpec wso_long = schedule_wso(PEAK, TW, 3 * TEND);
    const DecayShape shapes[] = {DECAY_LINEAR, DECAY_1_SQRT, DECAY_COSINE, DECAY_EXP};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++) {
            ScheduleSpec wsd = schedule_wsd(PEAK, TW, TEND, j ? 0.1 : 0.0, 0.75, shapes[i]);
            assert_int_equal(schedule_decay_start(&wsd), TSTABLE);
            assert_int_equal(schedule_common_prefix(&wso, &wsd), TSTABLE);
            assert_int_equal(schedule_common_prefix(&wso_long, &wsd), TSTABLE);
        }
    ScheduleSpec wsd1 = schedule_wsd(PEAK, TW, TEND, 1.0, 0.75, DECAY_LINEAR);
    assert_int_equal(schedule_decay_start(&wsd1), TEND);
    assert_int_equal(schedule_common_prefix(&wso, &wsd1), TEND);
    assert_int_equal(schedule_decay_start(&wso), TEND);
    ScheduleSpec cos0 = spec_of("cosine", 0.0), lin1 = spec_of("linear", 0.1);
    assert_int_equal(schedule_decay_start(&cos0), TW);
    assert_int_equal(schedule_common_prefix(&wso, &cos0), TW);
    assert_int_equal(schedule_common_prefix(&wso, &lin1), TW);
    /* rho 0.5 of 900 post-warmup steps */
    ScheduleSpec half = schedule_wsd(PEAK, TW, TEND, 0.0, 0.5, DECAY_COSINE);
    assert_int_equal(schedule_decay_start(&half), 550);
    assert_int_equal(schedule_common_prefix(&wso, &half), 550);
}

static void text_form_reads_back_to_the_same_spec(void **state)
{
    (void)state;
    ScheduleSpec specs[] = {
        schedule_wsd(3e-4, 100, 1000, 0.1, 0.75, DECAY_LINEAR),
        schedule_wsd(1.0 / 3.0, 7, 12345, 0.0, 0.7, DECAY_1_SQRT),
        schedule_wsd(6e-4, 0, 80000, 0.1, 0.8, DECAY_COSINE),
        schedule_wsd(6e-4, 0, 80000, 0.0, 0.9999, DECAY_EXP),
        schedule_wso(3e-4, 1000, 80000),
        schedule_constant(2e-3, 5, 50),
        schedule_cosine(3e-4, 1000, 80000, 0.1),
        schedule_linear(3e-4, 1000, 80000, 0.0),
        schedule_mid(schedule_final_lr(&(ScheduleSpec){SCHED_COSINE, 3e-4, 10, 97, 0.1, 0.75, DECAY_LINEAR}), 36, 0.0),
        schedule_sft(5e-6, 100, 7000),
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        char text[SCHEDULE_TEXT_MAX];
        int n = schedule_format(&specs[i], text, sizeof text);
        assert_true(n > 0 && n < SCHEDULE_TEXT_MAX);
        ScheduleSpec back;
        Err e;
        if (schedule_parse(text, &back, &e)) fail_msg("%s", e.msg);
        assert_true(schedule_equal(&back, &specs[i]));
        assert_memory_equal(&back.peak, &specs[i].peak, sizeof(double));
        assert_memory_equal(&back.alpha, &specs[i].alpha, sizeof(double));
        assert_memory_equal(&back.rho, &specs[i].rho, sizeof(double));
    }
    char text[SCHEDULE_TEXT_MAX];
    schedule_format(&specs[0], text, sizeof text);
    assert_string_equal(text, "wsd:peak=0.0003,warmup=100,total=1000,alpha=0.1,rho=0.75,shape=linear");
    schedule_format(&specs[4], text, sizeof text);
    assert_string_equal(text, "wso:peak=0.0003,warmup=1000,total=80000");
    schedule_format(&specs[9], text, sizeof text);
    assert_string_equal(text, "cosine:peak=5e-06,warmup=100,total=7000,alpha=0");

    /* defaults: warmup 0, rho 0.75, shape linear; fields in any order */
    ScheduleSpec s;
    Err e;
    assert_int_equal(schedule_parse("wsd:alpha=0,total=10,peak=1e-3", &s, &e), 0);
    assert_true(schedule_equal(&s, &(ScheduleSpec){SCHED_WSD, 1e-3, 0, 10, 0.0, 0.75, DECAY_LINEAR}));
}

static void bad_specs_are_errors_naming_the_field(void **state)
{
    (void)state;
    struct { const char *text, *needle; } bad[] = {
        {"wsd:peak=3e-4,warmup=100,total=1000,alpha=1.5", "alpha must be in [0, 1], got 1.5"},
        {"wsd:peak=3e-4,warmup=2000,total=1000,alpha=0", "warmup (2000 steps) must not exceed total"},
        {"wsd:peak=3e-4,warmup=-1,total=1000,alpha=0", "warmup must be >= 0"},
        {"cosine:peak=3e-4,total=1000", "missing field alpha"},
        {"wso:peak=3e-4", "missing field total"},
        {"wsd:warmup=3", "missing field peak, total, alpha"},
        {"wsd:peak=3e-4,total=1000,alpha=0,rho=2", "rho must be in [0, 1]"},
        {"wsd:peak=3e-4,total=1000,alpha=0,shape=square", "shape must be linear, 1-sqrt, cosine or exp, got 'square'"},
        {"cosine:peak=3e-4,total=1000,alpha=0,rho=0.5", "no field 'rho' for cosine"},
        {"wsd:peak=3e-4,total=1000,alpha=0,beta=2", "unknown field 'beta'"},
        {"wsd:peak=abc,total=10,alpha=0", "field peak: expected a finite number, got 'abc'"},
        {"wsd:peak=3e-4,total=10.5,alpha=0", "field total: expected a whole number of steps"},
        {"wso:peak=3e-4,total=0", "total must be > 0"},
        {"wso:peak=-1,total=10", "peak must be a finite LR > 0"},
        {"wso:peak=3e-4,total=10,peak=1", "field peak is given twice"},
        {"mid:start=1e-4,total=10,alpha=0,warmup=5", "no field 'warmup' for mid"},
        {"mid:peak=1e-4,total=10,alpha=0", "no field 'peak' for mid (its fields: start, total, alpha)"},
        {"zigzag:peak=1", "unknown kind 'zigzag'"},
        {"wso:peak,total=10", "field 'peak' has no value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ScheduleSpec s = schedule_wso(1, 0, 1);
        Err e = {{0}};
        assert_int_equal(schedule_parse(bad[i].text, &s, &e), -1);
        if (!strstr(e.msg, bad[i].needle)) fail_msg("'%s' gave '%s'", bad[i].text, e.msg);
        assert_non_null(strstr(e.msg, bad[i].text));   /* quotes the whole spec */
        assert_true(s.peak == 1 && s.total == 1);       /* out untouched */
    }
    ScheduleSpec s = schedule_linear(1e-3, 20, 10, 0.0);
    Err e;
    assert_int_equal(schedule_validate(&s, &e), -1);
    assert_string_equal(e.msg, "schedule linear: warmup (20 steps) must not exceed total (10 steps)");
}

/* One rule for every entry point (train, schedule, study): a decaying
 * schedule whose decay phase would get no step is refused, since it would
 * train at the peak to the end while promising alpha x peak. wsd over 7
 * steps with 5 of warmup: T_stable = 5 + round(0.75 x 2) = 7. */
static void a_decay_that_gets_no_step_is_refused(void **state)
{
    (void)state;
    Err e;
    ScheduleSpec no_decay[] = {
        schedule_wsd(1e-3, 5, 7, 0.1, 0.75, DECAY_LINEAR),
        schedule_wsd(1e-3, 0, 100, 0.0, 1.0, DECAY_COSINE),
        schedule_cosine(1e-3, 10, 10, 0.1),
        schedule_linear(1e-3, 10, 10, 0.0),
    };
    for (size_t i = 0; i < sizeof no_decay / sizeof no_decay[0]; i++) {
        assert_int_equal(schedule_validate(&no_decay[i], &e), -1);
        if (!strstr(e.msg, "the decay phase gets 0 of")) fail_msg("%zu: %s", i, e.msg);
    }
    assert_string_equal(e.msg, "schedule linear: the decay phase gets 0 of 10 steps (warmup 10), so the last update "
                               "would be at the peak, not at alpha x peak; use fewer warmup steps or more steps");
    ScheduleSpec parsed;
    assert_int_equal(schedule_parse("wsd:peak=0.001,warmup=5,total=7,alpha=0.1", &parsed, &e), -1);
    assert_non_null(strstr(e.msg, "the decay phase gets 0 of 7 steps (warmup 5, then the stable phase"));

    /* Nothing to honour without a decay (alpha = 1), and one decay step is
     * enough: 8 steps give T_stable = 5 + round(2.25) = 7, and the last
     * update (step 7) is exactly at alpha x peak. */
    ScheduleSpec flat = schedule_wsd(1e-3, 5, 7, 1.0, 0.75, DECAY_LINEAR);
    assert_int_equal(schedule_validate(&flat, &e), 0);
    ScheduleSpec one = schedule_wsd(1e-3, 5, 8, 0.1, 0.75, DECAY_LINEAR);
    assert_int_equal(schedule_validate(&one, &e), 0);
    assert_true(schedule_lr(&one, 6) == 1e-3);
    assert_true(schedule_lr(&one, 7) == 1e-3 * 0.1);
    ScheduleSpec cos1 = schedule_cosine(1e-3, 9, 10, 0.1);
    assert_int_equal(schedule_validate(&cos1, &e), 0);
    assert_true(schedule_lr(&cos1, 9) == 1e-3 * 0.1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_kind_matches_the_paper_at_its_landmarks),
        cmocka_unit_test(steps_outside_the_stage_are_clamped),
        cmocka_unit_test(wso_with_any_alpha_equals_wsd_with_alpha_one),
        cmocka_unit_test(mid_training_with_alpha_one_holds_the_parent_lr),
        cmocka_unit_test(mid_training_with_alpha_zero_goes_from_parent_lr_to_zero),
        cmocka_unit_test(sft_warms_up_then_follows_cosine_to_zero),
        cmocka_unit_test(every_wsd_shape_runs_from_peak_to_alpha_peak),
        cmocka_unit_test(decay_start_is_where_wsd_leaves_the_wso_trunk),
        cmocka_unit_test(text_form_reads_back_to_the_same_spec),
        cmocka_unit_test(bad_specs_are_errors_naming_the_field),
        cmocka_unit_test(a_decay_that_gets_no_step_is_refused),
        cmocka_unit_test(common_prefix_comes_from_breakpoints),
    };
    return cmocka_run_group_tests_name("schedule", tests, NULL, NULL);
}
