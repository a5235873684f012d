#include "train/schedule.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const KIND_NAMES[] = {
    [SCHED_WSO] = "wso",       [SCHED_CONSTANT] = "constant", [SCHED_WSD] = "wsd",
    [SCHED_COSINE] = "cosine", [SCHED_LINEAR] = "linear",     [SCHED_MID] = "mid",
};
#define N_KINDS ((int)(sizeof KIND_NAMES / sizeof KIND_NAMES[0]))

static const char *const SHAPE_NAMES[] = {
    [DECAY_LINEAR] = "linear", [DECAY_1_SQRT] = "1-sqrt", [DECAY_COSINE] = "cosine", [DECAY_EXP] = "exp",
};
#define N_SHAPES ((int)(sizeof SHAPE_NAMES / sizeof SHAPE_NAMES[0]))

const char *schedule_kind_name(ScheduleKind k)
{
    return (k >= 0 && (int)k < N_KINDS) ? KIND_NAMES[k] : "?";
}

const char *schedule_shape_name(DecayShape s)
{
    return (s >= 0 && (int)s < N_SHAPES) ? SHAPE_NAMES[s] : "?";
}

int schedule_kind_from_name(const char *name, ScheduleKind *out)
{
    for (int k = 0; k < N_KINDS; k++)
        if (strcmp(name, KIND_NAMES[k]) == 0) { *out = (ScheduleKind)k; return 0; }
    return -1;
}

int schedule_shape_from_name(const char *name, DecayShape *out)
{
    for (int k = 0; k < N_SHAPES; k++)
        if (strcmp(name, SHAPE_NAMES[k]) == 0) { *out = (DecayShape)k; return 0; }
    return -1;
}

/* ---- constructors ---------------------------------------------------- */

static ScheduleSpec make(ScheduleKind kind, double peak, int64_t warmup, int64_t total, double alpha)
{
    ScheduleSpec s = {kind, peak, warmup, total, alpha, SCHEDULE_DEFAULT_RHO, DECAY_LINEAR};
    return schedule_canonical(&s);
}

ScheduleSpec schedule_wso(double peak, int64_t warmup, int64_t total)
{
    return make(SCHED_WSO, peak, warmup, total, 1.0);
}

ScheduleSpec schedule_constant(double peak, int64_t warmup, int64_t total)
{
    return make(SCHED_CONSTANT, peak, warmup, total, 1.0);
}

ScheduleSpec schedule_wsd(double peak, int64_t warmup, int64_t total, double alpha, double rho,
                          DecayShape shape)
{
    ScheduleSpec s = {SCHED_WSD, peak, warmup, total, alpha, rho, shape};
    return s;
}

ScheduleSpec schedule_cosine(double peak, int64_t warmup, int64_t total, double alpha)
{
    return make(SCHED_COSINE, peak, warmup, total, alpha);
}

ScheduleSpec schedule_linear(double peak, int64_t warmup, int64_t total, double alpha)
{
    return make(SCHED_LINEAR, peak, warmup, total, alpha);
}

ScheduleSpec schedule_of_kind(ScheduleKind k, double peak, int64_t warmup, int64_t total, double alpha, double rho,
                              DecayShape shape)
{
    assert(k != SCHED_MID);
    switch (k) {
    case SCHED_WSD: return schedule_wsd(peak, warmup, total, alpha, rho, shape);
    case SCHED_COSINE: return schedule_cosine(peak, warmup, total, alpha);
    case SCHED_LINEAR: return schedule_linear(peak, warmup, total, alpha);
    case SCHED_CONSTANT: return schedule_constant(peak, warmup, total);
    default: return schedule_wso(peak, warmup, total);
    }
}

ScheduleSpec schedule_mid(double start_lr, int64_t total, double alpha_mid)
{
    return make(SCHED_MID, start_lr, 0, total, alpha_mid);
}

ScheduleSpec schedule_sft(double peak, int64_t warmup, int64_t total)
{
    return make(SCHED_COSINE, peak, warmup, total, 0.0);
}

int64_t schedule_sft_warmup(int64_t total)
{
    return total >= 1000 ? 100 : total / 10;
}

ScheduleSpec schedule_canonical(const ScheduleSpec *s)
{
    ScheduleSpec c = *s;
    if (c.kind != SCHED_WSD) {
        c.rho = SCHEDULE_DEFAULT_RHO;
        c.shape = DECAY_LINEAR;
    }
    if (c.kind == SCHED_WSO || c.kind == SCHED_CONSTANT) c.alpha = 1.0;
    if (c.kind == SCHED_MID) c.warmup = 0;
    return c;
}

int schedule_equal(const ScheduleSpec *a, const ScheduleSpec *b)
{
    ScheduleSpec x = schedule_canonical(a), y = schedule_canonical(b);
    return x.kind == y.kind && x.peak == y.peak && x.warmup == y.warmup && x.total == y.total &&
           x.alpha == y.alpha && x.rho == y.rho && x.shape == y.shape;
}

/* ---- validation ------------------------------------------------------- */

/* T_stable: the last position at eta_max before the WSD decay. */
static int64_t wsd_stable_end(const ScheduleSpec *s)
{
    return s->warmup + llround(s->rho * (double)(s->total - s->warmup));
}

/* k names the spec in messages: "schedule wsd" or "schedule '<text>'". */
static int check(const ScheduleSpec *s, const char *k, Err *e)
{
    if (s->kind == SCHED_MID) {
        if (!isfinite(s->peak) || s->peak < 0)
            return err_set(e, "%s: start (the parent's final LR) must be finite and >= 0, got %g", k, s->peak);
        if (s->warmup != 0)
            return err_set(e, "%s: warmup must be 0 (mid-training continues without re-warmup), got %lld", k,
                           (long long)s->warmup);
    } else if (!isfinite(s->peak) || s->peak <= 0) {
        return err_set(e, "%s: peak must be a finite LR > 0, got %g", k, s->peak);
    }
    if (s->total <= 0) return err_set(e, "%s: total must be > 0 steps, got %lld", k, (long long)s->total);
    if (s->warmup < 0) return err_set(e, "%s: warmup must be >= 0 steps, got %lld", k, (long long)s->warmup);
    if (s->warmup > s->total)
        return err_set(e, "%s: warmup (%lld steps) must not exceed total (%lld steps)", k,
                       (long long)s->warmup, (long long)s->total);
    if (!(s->alpha >= 0 && s->alpha <= 1)) return err_set(e, "%s: alpha must be in [0, 1], got %g", k, s->alpha);
    if (!(s->rho >= 0 && s->rho <= 1)) return err_set(e, "%s: rho must be in [0, 1], got %g", k, s->rho);
    if (s->shape < 0 || (int)s->shape >= N_SHAPES)
        return err_set(e, "%s: shape must be linear, 1-sqrt, cosine or exp, got %d", k, (int)s->shape);
    /* Every phase must get at least one step: a decaying schedule whose decay
     * rounds to no steps would train at the peak to the end while its spec
     * promises alpha x peak at the last update. */
    if (s->alpha < 1 && (s->kind == SCHED_WSD || s->kind == SCHED_COSINE || s->kind == SCHED_LINEAR)) {
        int64_t decay_start = s->kind == SCHED_WSD ? wsd_stable_end(s) : s->warmup;
        if (decay_start >= s->total)
            return err_set(e, "%s: the decay phase gets 0 of %lld steps (warmup %lld%s), so the last update would be "
                              "at the peak, not at alpha x peak; use fewer warmup steps%s or more steps", k,
                           (long long)s->total, (long long)s->warmup,
                           s->kind == SCHED_WSD ? ", then the stable phase to step round(rho x post-warmup steps)" : "",
                           s->kind == SCHED_WSD ? ", a lower rho" : "");
    }
    return 0;
}

int schedule_validate(const ScheduleSpec *s, Err *e)
{
    if (s->kind < 0 || (int)s->kind >= N_KINDS) return err_set(e, "schedule: unknown kind %d", (int)s->kind);
    char ctx[32];
    snprintf(ctx, sizeof ctx, "schedule %s", KIND_NAMES[s->kind]);
    return check(s, ctx, e);
}

/* ---- the curves ------------------------------------------------------- */

/* f(p) of a decay shape (1 at p = 0, 0 at p = 1); exp is handled apart. */
static double decay_fraction(DecayShape shape, double p)
{
    switch (shape) {
    case DECAY_1_SQRT: return 1.0 - sqrt(p);
    case DECAY_COSINE: return 0.5 * (1.0 + cos(M_PI * p));
    default:           return 1.0 - p;
    }
}

static double wsd_decay(const ScheduleSpec *s, int64_t t, int64_t t_stable)
{
    double a = s->alpha, len = (double)(s->total - t_stable);
    double p = (double)(t - t_stable) / len;
    switch (s->shape) {
    case DECAY_LINEAR:
        /* the paper's form, exact at both ends */
        return s->peak * ((1.0 - a) * (double)(s->total - t) / len + a);
    case DECAY_EXP:
        if (a > 0) return s->peak * pow(a, p);
        return t >= s->total ? 0.0 : s->peak * pow(SCHEDULE_EXP_FLOOR, p);
    default:
        if (t >= s->total) return s->peak * a;
        return s->peak * (a + (1.0 - a) * decay_fraction(s->shape, p));
    }
}

double schedule_eta(const ScheduleSpec *s, int64_t t)
{
    if (t < 0) t = 0;
    if (t > s->total) t = s->total;
    double a = s->alpha;
    if (s->kind == SCHED_MID)
        return s->peak * ((1.0 - a) * (double)(s->total - t) / (double)s->total + a);
    /* Warmup, shared bit for bit by every kind. */
    if (t < s->warmup) return s->peak * (double)t / (double)s->warmup;
    if (t == s->warmup) return s->peak;
    double after = (double)(s->total - s->warmup);   /* > 0 here since t > warmup */
    switch (s->kind) {
    case SCHED_WSD: {
        int64_t t_stable = wsd_stable_end(s);
        return t <= t_stable ? s->peak : wsd_decay(s, t, t_stable);
    }
    case SCHED_COSINE:
        if (t >= s->total) return s->peak * a;
        return s->peak * (a + (1.0 - a) * 0.5 * (1.0 + cos(M_PI * (double)(t - s->warmup) / after)));
    case SCHED_LINEAR:
        return s->peak * ((1.0 - a) * (double)(s->total - t) / after + a);
    default: /* wso, constant */
        return s->peak;
    }
}

double schedule_lr(const ScheduleSpec *s, int64_t step)
{
    return schedule_eta(s, step + 1);
}

double schedule_final_lr(const ScheduleSpec *s)
{
    return schedule_eta(s, s->total);
}

int64_t schedule_decay_start(const ScheduleSpec *s)
{
    if (s->kind == SCHED_WSO || s->kind == SCHED_CONSTANT || s->alpha == 1.0) return s->total;
    switch (s->kind) {
    case SCHED_WSD: return wsd_stable_end(s);
    case SCHED_MID: return 0;
    default:        return s->warmup;   /* cosine, linear */
    }
}

/* Same LR at every position: the same curve, WSD arms compared by where
 * their decay starts rather than by rho (two rhos may round to one T_stable). */
static int same_curve(const ScheduleSpec *a, const ScheduleSpec *b)
{
    if (a->kind != SCHED_WSD || b->kind != SCHED_WSD) return schedule_equal(a, b);
    return a->peak == b->peak && a->warmup == b->warmup && a->total == b->total && a->alpha == b->alpha &&
           a->shape == b->shape && wsd_stable_end(a) == wsd_stable_end(b);
}

/* From the breakpoints alone, never step by step (a plan may hold 10^12
 * steps): every curve is a warmup peak*t/T_w on [0, T_w), the peak on
 * [T_w, D] with D = schedule_decay_start (mid: its start LR, T_w = 0), then
 * a decay on (D, total] whose formula involves every field. Two curves with
 * the same peak and warmup give the same bits up to the earlier D; past it
 * only the same curve does. Bitwise coincidences of different formulas are
 * not counted: sharing fewer steps is always safe. */
int64_t schedule_common_prefix(const ScheduleSpec *a, const ScheduleSpec *b)
{
    int64_t n = a->total < b->total ? a->total : b->total;
    ScheduleSpec x = schedule_canonical(a), y = schedule_canonical(b);
    if (same_curve(&x, &y)) return n;
    if (x.peak != y.peak || x.warmup != y.warmup) return 0;
    int64_t da = schedule_decay_start(&x), db = schedule_decay_start(&y);
    int64_t d = da < db ? da : db;   /* positions 1..d agree: steps 0..d-1 */
    return d < n ? d : n;
}

/* ---- text form -------------------------------------------------------- */

/* Shortest %g form that reads back to the same double. */
static void format_double(char *out, size_t size, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

int schedule_format(const ScheduleSpec *spec, char *out, size_t out_size)
{
    ScheduleSpec s = schedule_canonical(spec);
    char peak[32], alpha[32], rho[32];
    format_double(peak, sizeof peak, s.peak);
    format_double(alpha, sizeof alpha, s.alpha);
    format_double(rho, sizeof rho, s.rho);
    const char *k = schedule_kind_name(s.kind);
    long long w = (long long)s.warmup, n = (long long)s.total;
    switch (s.kind) {
    case SCHED_MID:
        return snprintf(out, out_size, "%s:start=%s,total=%lld,alpha=%s", k, peak, n, alpha);
    case SCHED_WSD:
        return snprintf(out, out_size, "%s:peak=%s,warmup=%lld,total=%lld,alpha=%s,rho=%s,shape=%s", k, peak, w, n,
                        alpha, rho, schedule_shape_name(s.shape));
    case SCHED_COSINE:
    case SCHED_LINEAR:
        return snprintf(out, out_size, "%s:peak=%s,warmup=%lld,total=%lld,alpha=%s", k, peak, w, n, alpha);
    default:
        return snprintf(out, out_size, "%s:peak=%s,warmup=%lld,total=%lld", k, peak, w, n);
    }
}

enum { F_PEAK, F_START, F_WARMUP, F_TOTAL, F_ALPHA, F_RHO, F_SHAPE, N_FIELDS };
static const char *const FIELD_NAMES[N_FIELDS] = {"peak", "start", "warmup", "total", "alpha", "rho", "shape"};

/* Which fields a kind takes (bit per field) and which it requires. */
static unsigned fields_allowed(ScheduleKind k)
{
    unsigned base = 1u << F_PEAK | 1u << F_WARMUP | 1u << F_TOTAL;
    switch (k) {
    case SCHED_MID: return 1u << F_START | 1u << F_TOTAL | 1u << F_ALPHA;
    case SCHED_WSD: return base | 1u << F_ALPHA | 1u << F_RHO | 1u << F_SHAPE;
    case SCHED_COSINE:
    case SCHED_LINEAR: return base | 1u << F_ALPHA;
    default: return base;
    }
}

static unsigned fields_required(ScheduleKind k)
{
    switch (k) {
    case SCHED_MID: return 1u << F_START | 1u << F_TOTAL | 1u << F_ALPHA;
    case SCHED_WSD:
    case SCHED_COSINE:
    case SCHED_LINEAR: return 1u << F_PEAK | 1u << F_TOTAL | 1u << F_ALPHA;
    default: return 1u << F_PEAK | 1u << F_TOTAL;
    }
}

static void list_fields(char *out, size_t size, unsigned mask)
{
    out[0] = 0;
    size_t used = 0;
    for (int f = 0; f < N_FIELDS; f++)
        if (mask & (1u << f)) {
            int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", FIELD_NAMES[f]);
            if (n < 0 || (size_t)n >= size - used) return;
            used += (size_t)n;
        }
}

static int parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x)) return -1;
    *out = x;
    return 0;
}

static int parse_steps(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) return -1;
    *out = x;
    return 0;
}

int schedule_parse(const char *text, ScheduleSpec *out, Err *e)
{
    char buf[512];
    if (strlen(text) >= sizeof buf) return err_set(e, "schedule '%.60s...': longer than %zu characters", text, sizeof buf - 1);
    strcpy(buf, text);

    char *colon = strchr(buf, ':');
    if (colon) *colon = 0;
    ScheduleSpec s = {SCHED_WSO, 0, 0, 0, 1.0, SCHEDULE_DEFAULT_RHO, DECAY_LINEAR};
    if (schedule_kind_from_name(buf, &s.kind))
        return err_set(e, "schedule '%s': unknown kind '%s' (expected wso, wsd, cosine, linear, constant or mid)", text,
                       buf);
    unsigned allowed = fields_allowed(s.kind), seen = 0;
    char names[96];

    for (char *field = colon ? colon + 1 : NULL; field && *field;) {
        char *next = strchr(field, ',');
        if (next) *next++ = 0;
        char *eq = strchr(field, '=');
        if (!eq) return err_set(e, "schedule '%s': field '%s' has no value (expected name=value)", text, field);
        *eq = 0;
        const char *v = eq + 1;
        int f = 0;
        while (f < N_FIELDS && strcmp(field, FIELD_NAMES[f]) != 0) f++;
        if (f == N_FIELDS || !(allowed & (1u << f))) {
            list_fields(names, sizeof names, allowed);
            return err_set(e, "schedule '%s': %s field '%s' for %s (its fields: %s)", text,
                           f == N_FIELDS ? "unknown" : "no", field, KIND_NAMES[s.kind], names);
        }
        if (seen & (1u << f)) return err_set(e, "schedule '%s': field %s is given twice", text, field);
        seen |= 1u << f;
        int bad = 0;
        switch (f) {
        case F_PEAK:
        case F_START: bad = parse_double(v, &s.peak); break;
        case F_ALPHA: bad = parse_double(v, &s.alpha); break;
        case F_RHO: bad = parse_double(v, &s.rho); break;
        case F_WARMUP: bad = parse_steps(v, &s.warmup); break;
        case F_TOTAL: bad = parse_steps(v, &s.total); break;
        case F_SHAPE:
            if (schedule_shape_from_name(v, &s.shape))
                return err_set(e, "schedule '%s': shape must be linear, 1-sqrt, cosine or exp, got '%s'", text, v);
            break;
        }
        if (bad)
            return err_set(e, "schedule '%s': field %s: expected %s, got '%s'", text, field,
                           (f == F_WARMUP || f == F_TOTAL) ? "a whole number of steps" : "a finite number", v);
        field = next;
    }
    unsigned missing = fields_required(s.kind) & ~seen;
    if (missing) {
        list_fields(names, sizeof names, missing);
        return err_set(e, "schedule '%s': missing field %s", text, names);
    }
    char ctx[sizeof buf + 16];
    snprintf(ctx, sizeof ctx, "schedule '%s'", text);
    if (check(&s, ctx, e)) return -1;
    *out = schedule_canonical(&s);
    return 0;
}
