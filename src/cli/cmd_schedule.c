/* plateau schedule: shows the learning rate a schedule gives at every step,
 * as landmarks, as CSV, or as a chart comparing several schedules. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/plot.h"
#include "train/schedule.h"

static const OptSpec OPTS[] = {
    {"schedule", "KIND|SPEC", "wso, wsd, cosine, linear, constant, or a full text spec (default wsd)"},
    {"steps", "N", "total steps of the stage (default 1000)"},
    {"warmup", "N", "linear warmup steps (default steps/10)"},
    {"peak", "LR", "peak learning rate eta_max (default 3e-4)"},
    {"alpha", "A", "final LR as a fraction of the peak, the paper's alpha_pre (default 0.1)"},
    {"rho", "R", "wsd: stable share of the post-warmup steps (default 0.75)"},
    {"shape", "S", "wsd decay shape: linear, 1-sqrt, cosine, exp (default linear)"},
    {"compare", "LIST", "several schedules, e.g. wso,wsd:0.1,wsd:0,cosine:0.1,linear:0 (KIND[:ALPHA[:SHAPE]])"},
    {"mid-steps", "N", "append a mid-training stage of N steps to each schedule (default 0)"},
    {"alpha-mid", "A", "mid-training: final LR as a fraction of where pre-training ended (default 0: decay to zero)"},
    {"csv", NULL, "print step,lr for every step (one column per schedule)"},
    {"plot", "FILE.png", "draw the schedules on one chart with gnuplot"},
    {"title", "TEXT", "chart title (default: the common settings)"},
    {NULL, NULL, NULL},
};

static const char *USAGE = "plateau schedule [--schedule KIND|SPEC | --compare LIST | SPEC...] [options]";
static const char *ABOUT =
    "Prints the learning rate of every step of a schedule so you see what you will run.\n"
    "Without --csv or --plot, prints each schedule's text form and its landmarks.\n"
    "The update of step s (0-based) uses the paper's eta(s+1). Full text specs look like\n"
    "  wsd:peak=3e-4,warmup=100,total=1000,alpha=0.1,rho=0.75,shape=linear\n"
    "and may also be given as positional arguments.";

#define MAX_CURVES 32

typedef struct {
    ScheduleSpec pre;
    ScheduleSpec mid;      /* used when has_mid */
    int          has_mid;
    char         label[SCHEDULE_TEXT_MAX + 32];
} Curve;

static int64_t curve_steps(const Curve *c)
{
    return c->pre.total + (c->has_mid ? c->mid.total : 0);
}

static double curve_lr(const Curve *c, int64_t step)
{
    if (!c->has_mid || step < c->pre.total) return schedule_lr(&c->pre, step);
    return schedule_lr(&c->mid, step - c->pre.total);
}

/* Common settings from the options, for kinds given by name. */
typedef struct {
    double  peak, alpha, rho;
    int64_t steps, warmup;
    DecayShape shape;
} Common;

/* Every error of this command but writing the chart is the command line's. */
static void usage_fail(const char *msg)
{
    Err e;
    err_set(&e, "%s", msg);
    args_fail(&e);
}

/* "KIND[:ALPHA[:SHAPE]]" -> spec and a legend label. */
static void parse_compare_item(const Common *c, const char *item, Curve *out)
{
    char buf[128], msg[256];
    snprintf(buf, sizeof buf, "%s", item);
    char *alpha_s = strchr(buf, ':'), *shape_s = NULL;
    if (alpha_s) {
        *alpha_s++ = 0;
        shape_s = strchr(alpha_s, ':');
        if (shape_s) *shape_s++ = 0;
    }
    ScheduleKind kind;
    if (schedule_kind_from_name(buf, &kind) || kind == SCHED_MID) {
        snprintf(msg, sizeof msg, "--compare: '%s': unknown schedule '%s' (expected wso, wsd, cosine, linear or constant)",
                 item, buf);
        usage_fail(msg);
    }
    double alpha = c->alpha;
    if (alpha_s && *alpha_s) {
        char *end;
        alpha = strtod(alpha_s, &end);
        if (end == alpha_s || *end) {
            snprintf(msg, sizeof msg, "--compare: '%s': alpha '%s' is not a number", item, alpha_s);
            usage_fail(msg);
        }
    }
    DecayShape shape = c->shape;
    if (shape_s && schedule_shape_from_name(shape_s, &shape)) {
        snprintf(msg, sizeof msg, "--compare: '%s': shape '%s' is not linear, 1-sqrt, cosine or exp", item, shape_s);
        usage_fail(msg);
    }
    out->pre = schedule_of_kind(kind, c->peak, c->warmup, c->steps, alpha, c->rho, shape);
    Err e;
    if (schedule_validate(&out->pre, &e)) {
        err_wrap(&e, "--compare: '%s'", item);
        args_fail(&e);
    }
    ScheduleSpec s = out->pre;
    if (s.kind == SCHED_WSO || s.kind == SCHED_CONSTANT) snprintf(out->label, sizeof out->label, "%s", buf);
    else if (s.kind == SCHED_WSD && s.shape != DECAY_LINEAR)
        snprintf(out->label, sizeof out->label, "wsd %s alpha=%g", schedule_shape_name(s.shape), s.alpha);
    else snprintf(out->label, sizeof out->label, "%s alpha=%g", buf, s.alpha);
}

static void print_landmarks(const Curve *c)
{
    char text[SCHEDULE_TEXT_MAX];
    schedule_format(&c->pre, text, sizeof text);
    const ScheduleSpec *s = &c->pre;
    int64_t decay = schedule_decay_start(s);
    printf("%s\n", text);
    printf("  step %-8lld lr %.6g   (first update)\n", 0LL, schedule_lr(s, 0));
    if (s->warmup > 0) printf("  step %-8lld lr %.6g   (end of warmup)\n", (long long)(s->warmup - 1), schedule_lr(s, s->warmup - 1));
    if (decay < s->total) {
        int64_t middle = decay + (s->total - decay) / 2;
        printf("  step %-8lld lr %.6g   (decay starts: the first step below the wso curve)\n", (long long)decay,
               schedule_lr(s, decay));
        printf("  step %-8lld lr %.6g   (middle of the decay)\n", (long long)middle, schedule_lr(s, middle));
    } else {
        printf("  no decay: the LR holds after warmup\n");
    }
    printf("  step %-8lld lr %.6g   (last update)\n", (long long)(s->total - 1), schedule_lr(s, s->total - 1));
    double sum = 0;
    for (int64_t t = 0; t < s->total; t++) sum += schedule_lr(s, t);
    printf("  mean lr %.6g over %lld steps\n", sum / (double)s->total, (long long)s->total);
    if (c->has_mid) {
        schedule_format(&c->mid, text, sizeof text);
        printf("  then %s\n", text);
        printf("  mid step %-4lld lr %.6g   (first)   last lr %.6g\n", 0LL, schedule_lr(&c->mid, 0),
               schedule_lr(&c->mid, c->mid.total - 1));
    }
}

static void print_csv(const Curve *curves, int n)
{
    int64_t steps = 0;
    for (int i = 0; i < n; i++)
        if (curve_steps(&curves[i]) > steps) steps = curve_steps(&curves[i]);
    printf("step");
    if (n == 1) printf(",lr");
    else
        for (int i = 0; i < n; i++) printf(",\"%s\"", curves[i].label);
    printf("\n");
    for (int64_t t = 0; t < steps; t++) {
        printf("%lld", (long long)t);
        for (int i = 0; i < n; i++) {
            if (t < curve_steps(&curves[i])) printf(",%.9g", curve_lr(&curves[i], t));
            else printf(",");
        }
        printf("\n");
    }
}

static void draw(const char *path, const char *title, const Curve *curves, int n)
{
    /* a dotted line where mid-training starts, when all curves share it */
    char extra[256] = "set format y '%.1e'";
    int same_boundary = curves[0].has_mid;
    for (int i = 1; i < n; i++) same_boundary &= curves[i].pre.total == curves[0].pre.total;
    if (same_boundary)
        snprintf(extra, sizeof extra,
                 "set format y '%%.1e'\nset arrow from %lld, graph 0 to %lld, graph 1 nohead dt 3 lc rgb '#888888'",
                 (long long)curves[0].pre.total, (long long)curves[0].pre.total);
    PlotSeries series[MAX_CURVES];
    double *buf[MAX_CURVES];
    for (int i = 0; i < n; i++) {
        int64_t steps = curve_steps(&curves[i]);
        buf[i] = xmalloc(2 * (size_t)steps * sizeof(double));
        double *x = buf[i], *y = buf[i] + steps;
        for (int64_t t = 0; t < steps; t++) {
            x[t] = (double)t;
            y[t] = curve_lr(&curves[i], t);
        }
        series[i] = (PlotSeries){curves[i].label, x, y, NULL, (size_t)steps, PLOT_LINES};
    }
    Plot p = {.title = title, .x_label = "step", .y_label = "learning rate", .key = "bottom center", .extra = extra};
    Err e;
    int rc = plot_png(path, &p, series, n, &e);
    for (int i = 0; i < n; i++) free(buf[i]);
    if (rc) die(&e);
    fprintf(stderr, "plateau: wrote %s (%d schedule%s)\n", path, n, n == 1 ? "" : "s");
}

/* The one curve of --schedule (a kind or a text spec) when nothing else names one. */
static void default_curve(const Args *a, const Common *c, Curve *out)
{
    Err e;
    const char *sched = args_str(a, "schedule", "wsd");
    if (strchr(sched, ':')) {
        if (schedule_parse(sched, &out->pre, &e)) args_fail(&e);
        schedule_format(&out->pre, out->label, sizeof out->label);
        return;
    }
    ScheduleKind kind;
    if (schedule_kind_from_name(sched, &kind) || kind == SCHED_MID) {
        err_set(&e, "--schedule: unknown schedule '%s' (expected wso, wsd, cosine, linear, constant "
                    "or a text spec such as wsd:peak=3e-4,total=1000,alpha=0.1)", sched);
        args_fail(&e);
    }
    char item[64];
    snprintf(item, sizeof item, "%s:%.17g", sched, c->alpha);
    parse_compare_item(c, item, out);
}

/* Mid-training after each curve: from its final LR, over mid_steps. */
static void append_mid(Curve *curves, int n, int64_t mid_steps, double alpha_mid)
{
    Err e;
    for (int i = 0; i < n; i++) {
        curves[i].has_mid = 1;
        curves[i].mid = schedule_mid(schedule_final_lr(&curves[i].pre), mid_steps, alpha_mid);
        if (schedule_validate(&curves[i].mid, &e)) {
            err_wrap(&e, "--mid-steps/--alpha-mid");
            args_fail(&e);
        }
        size_t len = strlen(curves[i].label);
        snprintf(curves[i].label + len, sizeof curves[i].label - len, ", mid alpha=%g", alpha_mid);
    }
}

int cmd_schedule(int argc, char **argv)
{
    Args a;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    Err e;
    Common c;
    long steps, warmup, mid_steps;
    double alpha_mid;
    if (args_long(&a, "steps", 1000, &steps, &e) || args_long(&a, "warmup", steps / 10, &warmup, &e) ||
        args_double(&a, "peak", 3e-4, &c.peak, &e) || args_double(&a, "alpha", 0.1, &c.alpha, &e) ||
        args_double(&a, "rho", SCHEDULE_DEFAULT_RHO, &c.rho, &e) || args_long(&a, "mid-steps", 0, &mid_steps, &e) ||
        args_double(&a, "alpha-mid", SCHEDULE_DEFAULT_ALPHA_MID, &alpha_mid, &e))
        args_fail(&e);
    c.steps = steps;
    c.warmup = warmup;
    const char *shape = args_str(&a, "shape", "linear");
    if (schedule_shape_from_name(shape, &c.shape)) {
        err_set(&e, "--shape: '%s' is not linear, 1-sqrt, cosine or exp", shape);
        args_fail(&e);
    }
    if (mid_steps < 0) usage_fail("--mid-steps must be >= 0");

    Curve curves[MAX_CURVES];
    int n = 0;
    memset(curves, 0, sizeof curves);
    const char *compare = args_str(&a, "compare", NULL);
    if (compare) {
        char list[1024];
        snprintf(list, sizeof list, "%s", compare);
        for (char *save = NULL, *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
            if (n == MAX_CURVES) usage_fail("--compare: at most 32 schedules");
            parse_compare_item(&c, item, &curves[n++]);
        }
    }
    for (int i = 0; i < a.n_positional; i++) {
        if (n == MAX_CURVES) usage_fail("at most 32 schedules");
        if (schedule_parse(a.positional[i], &curves[n].pre, &e)) args_fail(&e);
        schedule_format(&curves[n].pre, curves[n].label, sizeof curves[n].label);
        n++;
    }
    if (n == 0) {
        default_curve(&a, &c, &curves[0]);
        n = 1;
    } else if (args_has(&a, "schedule")) {
        usage_fail("give either --schedule or --compare/positional specs, not both");
    }
    if (mid_steps > 0) append_mid(curves, n, mid_steps, alpha_mid);

    const char *plot_path = args_str(&a, "plot", NULL);
    if (args_has(&a, "csv")) print_csv(curves, n);
    if (plot_path) {
        char title[256];
        if (args_has(&a, "title")) snprintf(title, sizeof title, "%s", args_str(&a, "title", ""));
        else if (compare)
            snprintf(title, sizeof title, "learning rate: peak %g, warmup %lld, %lld steps%s", c.peak,
                     (long long)c.warmup, (long long)c.steps, mid_steps > 0 ? " + mid-training" : "");
        else snprintf(title, sizeof title, "learning rate schedule%s", n > 1 ? "s" : "");
        draw(plot_path, title, curves, n);
    }
    if (!args_has(&a, "csv") && !plot_path)
        for (int i = 0; i < n; i++) print_landmarks(&curves[i]);
    return 0;
}
