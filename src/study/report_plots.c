#include "study/report_plots.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/plot.h"
#include "study/findings.h"
#include "study/plan.h"
#include "train/schedule.h"

typedef struct {
    double *x, *y, *err;
    size_t  n, cap;
} Series;

static void series_push(Series *s, double x, double y, double err)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->x = xrealloc(s->x, s->cap * sizeof *s->x);
        s->y = xrealloc(s->y, s->cap * sizeof *s->y);
        s->err = xrealloc(s->err, s->cap * sizeof *s->err);
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->err[s->n++] = err;
}

static void series_free(Series *s, int n)
{
    for (int i = 0; i < n; i++) {
        free(s[i].x);
        free(s[i].y);
        free(s[i].err);
    }
}

#define LABEL_MAX (STUDY_NAME_MAX + 48)   /* an arm's legend entry */

/* Draws one chart, a series per arm with its label, style and (errs) error
 * bars; a chart with no points yet (a study still running) is not drawn,
 * and returns 1. */
static int draw_styled(const ReportResults *R, const char *name, const Plot *pl, Series *s,
                       const char labels[][LABEL_MAX], const PlotStyle *style, int errs, Err *e)
{
    int n = R->spec.n_arms;
    size_t points = 0;
    for (int a = 0; a < n; a++) points += s[a].n;
    if (points == 0) return 1;
    PlotSeries ps[STUDY_MAX_ARMS];
    for (int a = 0; a < n; a++)
        ps[a] = (PlotSeries){labels[a], s[a].x, s[a].y, errs ? s[a].err : NULL, s[a].n, style[a]};
    char path[4096];
    path_join(path, sizeof path, R->dir, name);
    return plot_png(path, pl, ps, n, e);
}

/* The same, every series labelled by its arm, in one style, without error
 * bars. */
static int draw(const ReportResults *R, const char *name, const Plot *pl, Series *s, PlotStyle style, Err *e)
{
    char labels[STUDY_MAX_ARMS][LABEL_MAX];
    PlotStyle styles[STUDY_MAX_ARMS];
    for (int a = 0; a < R->spec.n_arms; a++) {
        snprintf(labels[a], sizeof labels[a], "%s", R->spec.arms[a].name);
        styles[a] = style;
    }
    return draw_styled(R, name, pl, s, labels, styles, 0, e);
}

/* The segments of arm a's first seed up to its `role` segment. */
static int first_seed_path(const ReportResults *R, int a, const char *role, SegmentId *path, int *n, Err *e)
{
    const StudySpec *s = &R->spec;
    if (store_arm_path(R->store, s->name, s->arms[a].name, s->seeds[0], role, path, REPORT_MAX_PATH, n, e))
        return -1;
    if (*n > REPORT_MAX_PATH) *n = REPORT_MAX_PATH;
    return 0;
}

static int plot_schedules(const ReportResults *R, const char *name, Err *e)
{
    const StudySpec *s = &R->spec;
    int64_t T = study_pretrain_steps(s), M = study_mid_steps(s);
    Series ser[STUDY_MAX_ARMS] = {{0}};
    for (int a = 0; a < s->n_arms; a++) {
        ScheduleSpec pre = arm_pretrain_schedule(s, &s->arms[a]);
        int64_t stride = (T + M) / 400 + 1;
        for (int64_t t = 0; t <= T; t += t + stride > T && t < T ? T - t : stride)
            series_push(&ser[a], (double)t, schedule_lr(&pre, t < T ? t : T - 1), NAN);
        if (R->three) {
            ScheduleSpec mid = arm_mid_schedule(s, &s->arms[a]);
            for (int64_t t = 0; t < M; t += stride) series_push(&ser[a], (double)(T + t), schedule_lr(&mid, t), NAN);
        }
    }
    Plot pl = {"Learning-rate schedules", "step", "learning rate", 0, 0, 0, "top right", NULL};
    int rc = draw(R, name, &pl, ser, PLOT_LINES, e);
    series_free(ser, s->n_arms);
    return rc;
}

/* Appends a running mean over `win` steps of the segment's loss to ser. */
typedef struct {
    double *ring, sum;
    int     win;
    int64_t k;
} RunningMean;

static int push_segment_losses(const ReportResults *R, const char *segment, RunningMean *rm, Series *ser, Err *e)
{
    StepMetrics *rows;
    int m;
    if (store_read_metrics(R->store, segment, &rows, &m, e)) return -1;
    for (int j = 0; j < m; j++) {
        double l = isfinite(rows[j].loss) ? rows[j].loss : 0;
        rm->sum += l - rm->ring[rm->k % rm->win];
        rm->ring[rm->k % rm->win] = l;
        rm->k++;
        if (rm->k >= rm->win || rm->k == 1)
            series_push(ser, (double)rows[j].step, rm->sum / (double)(rm->k < rm->win ? rm->k : rm->win), NAN);
    }
    free(rows);
    return 0;
}

/* Training loss along pre-training (and mid-training, which continues its
 * step clock) of each arm's first seed, as a running mean over a 2% window
 * of the steps. A wsm arm trains nothing before its merge (its path is
 * WSO's trunk), so it has a line only where it trains in mid-training. */
static int plot_losses(const ReportResults *R, const char *name, Err *e)
{
    const StudySpec *s = &R->spec;
    Series ser[STUDY_MAX_ARMS] = {{0}};
    int64_t total = study_pretrain_steps(s) + study_mid_steps(s);
    int win = (int)(total / 50) + 1, rc = 0;
    for (int a = 0; a < s->n_arms && !rc; a++) {
        SegmentId path[REPORT_MAX_PATH];
        int n;
        rc = first_seed_path(R, a, R->three ? "mid_end" : "pretrain_end", path, &n, e);
        RunningMean rm = {.ring = xcalloc((size_t)win, sizeof(double)), .win = win};
        int from = 0;
        if (s->arms[a].wsm) {   /* from the segment after the merge node */
            SegmentId merged[REPORT_MAX_PATH];
            int n_merged = 0;
            if (!rc) rc = first_seed_path(R, a, "pretrain_end", merged, &n_merged, e);
            from = n_merged;
        }
        for (int i = from; i < n && !rc; i++) rc = push_segment_losses(R, path[i].id, &rm, &ser[a], e);
        free(rm.ring);
    }
    char title[96], labels[STUDY_MAX_ARMS][LABEL_MAX];
    PlotStyle styles[STUDY_MAX_ARMS];
    for (int a = 0; a < s->n_arms; a++) {
        snprintf(labels[a], sizeof labels[a], "%s%s", s->arms[a].name,
                 s->arms[a].wsm && ser[a].n == 0 ? " (a merge: trains nothing)" : "");
        styles[a] = PLOT_LINES;
    }
    snprintf(title, sizeof title, "Training loss (running mean), seed %llu", (unsigned long long)s->seeds[0]);
    Plot pl = {title, "step", "loss", 0, 0, 0, "top right", NULL};
    if (!rc) rc = draw_styled(R, name, &pl, ser, labels, styles, 0, e);
    series_free(ser, s->n_arms);
    return rc;
}

/* The probes of `data` along arm a's path for seed index k into the arm's
 * points (one per step, the seed's value at [k]). A wsm arm's path is WSO's
 * trunk up to its merge node: only the node, its last segment, is its own. */
static int add_seed_probes(const ReportResults *R, int a, int k, const char *data, TracePoint **pts, int *n, Err *e)
{
    const StudySpec *s = &R->spec;
    SegmentId path[REPORT_MAX_PATH];
    int n_path;
    if (store_arm_path(R->store, s->name, s->arms[a].name, s->seeds[k], "pretrain_end", path, REPORT_MAX_PATH,
                       &n_path, e))
        return -1;
    if (n_path > REPORT_MAX_PATH) n_path = REPORT_MAX_PATH;
    for (int i = s->arms[a].wsm && n_path > 0 ? n_path - 1 : 0; i < n_path; i++) {
        SharpnessRecord *sr;
        int m;
        if (store_read_sharpness(R->store, path[i].id, &sr, &m, e)) return -1;
        for (int j = 0; j < m; j++) {
            if (strcmp(sr[j].data, data)) continue;
            int p = 0;
            while (p < *n && (*pts)[p].step != sr[j].step) p++;
            if (p == *n) {
                *pts = xrealloc(*pts, (size_t)(*n + 1) * sizeof **pts);
                (*pts)[p] = (TracePoint){.step = sr[j].step};
                for (int q = 0; q < STUDY_MAX_SEEDS; q++) (*pts)[p].trace[q] = (*pts)[p].std_err[q] = NAN;
                (*n)++;
            }
            (*pts)[p].trace[k] = sr[j].trace;
            (*pts)[p].std_err[k] = sr[j].std_err;
        }
        free(sr);
    }
    return 0;
}

static int by_step(const void *x, const void *y)
{
    int64_t a = ((const TracePoint *)x)->step, b = ((const TracePoint *)y)->step;
    return (a > b) - (a < b);
}

int report_sharpness_points(const ReportResults *R, int a, const char *data, TracePoint **out, int *n, Err *e)
{
    *out = NULL;
    *n = 0;
    for (int k = 0; k < R->spec.n_seeds; k++)
        if (add_seed_probes(R, a, k, data, out, n, e)) {
            free(*out);
            *out = NULL;
            *n = 0;
            return -1;
        }
    if (*n) qsort(*out, (size_t)*n, sizeof **out, by_step);
    for (int p = 0; p < *n; p++) {
        TracePoint *t = &(*out)[p];
        t->n_seeds = trace_interval(t->trace, t->std_err, R->spec.n_seeds, &t->mean, &t->half);
    }
    return 0;
}

/* Which seeds the chart averages, for its title: "seed 1 (95% interval over
 * its probes)", "mean of seeds 1, 2, 3 (95% t interval)", or while a point
 * still lacks a seed (a study still running) "mean of the seeds probed so
 * far, of 1, 2, 3 (95% t interval)". */
static void seeds_shown(const StudySpec *s, int complete, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "%s", s->n_seeds == 1 ? "seed "
                                                    : complete     ? "mean of seeds "
                                                                   : "mean of the seeds probed so far, of ");
    for (int k = 0; k < s->n_seeds && used < size; k++)
        used += (size_t)snprintf(out + used, size - used, "%s%llu", k ? ", " : "", (unsigned long long)s->seeds[k]);
    if (used < size)
        snprintf(out + used, size - used, " (95%% %s)", s->n_seeds == 1 ? "interval over its probes" : "t interval");
}

/* Tr(H) along pre-training per arm, report_sharpness_points; a wsm arm is
 * one marked point at its merge step. */
static int plot_sharpness(const ReportResults *R, const char *data, const char *name, Err *e)
{
    const StudySpec *s = &R->spec;
    Series ser[STUDY_MAX_ARMS] = {{0}};
    PlotStyle style[STUDY_MAX_ARMS];
    char labels[STUDY_MAX_ARMS][LABEL_MAX];
    int rc = 0, complete = 1;
    for (int a = 0; a < s->n_arms && !rc; a++) {
        TracePoint *pts;
        int n;
        rc = report_sharpness_points(R, a, data, &pts, &n, e);
        for (int p = 0; p < n; p++) {
            series_push(&ser[a], (double)pts[p].step, pts[p].mean, pts[p].half);
            complete &= pts[p].n_seeds == s->n_seeds;
        }
        style[a] = s->arms[a].wsm ? PLOT_POINTS : PLOT_LINESPOINTS;
        if (s->arms[a].wsm && n > 0)
            snprintf(labels[a], sizeof labels[a], "%s (merge at step %lld)", s->arms[a].name, (long long)pts[0].step);
        else snprintf(labels[a], sizeof labels[a], "%s", s->arms[a].name);
        free(pts);
    }
    char title[256], seeds[128];
    seeds_shown(s, complete, seeds, sizeof seeds);
    snprintf(title, sizeof title, "Sharpness Tr(H) along pre-training, %s probe batch: %s",
             strcmp(data, "pt") ? "SFT" : "PT", seeds);
    Plot pl = {title, "pre-training step", "Hutchinson trace of the Hessian", 0, 0, 0, "top left", NULL};
    if (!rc) rc = draw_styled(R, name, &pl, ser, labels, style, 1, e);
    series_free(ser, s->n_arms);
    return rc;
}

static int plot_sharpness_pt(const ReportResults *R, const char *name, Err *e)
{
    return plot_sharpness(R, "pt", name, e);
}

static int plot_sharpness_sft(const ReportResults *R, const char *name, Err *e)
{
    return plot_sharpness(R, "sft", name, e);
}

/* One point per (arm, seed): x against the SFT score. */
static int plot_vs_sft(const ReportResults *R, const char *name, const double x[][STUDY_MAX_SEEDS], const char *title,
                       const char *xlabel, Err *e)
{
    const StudySpec *s = &R->spec;
    Series ser[STUDY_MAX_ARMS] = {{0}};
    for (int a = 0; a < s->n_arms; a++)
        for (int k = 0; k < s->n_seeds; k++)
            if (!isnan(x[a][k]) && !isnan(R->cols[COL_SFT].value[a][k]))
                series_push(&ser[a], x[a][k], R->cols[COL_SFT].value[a][k], NAN);
    Plot pl = {title, xlabel, "SFT task avg (exact match %)", 0, 0, 0, "outside right top",
               "set offsets graph 0.08, graph 0.08, graph 0.08, graph 0.08; set pointsize 2"};
    int rc = draw(R, name, &pl, ser, PLOT_POINTS, e);
    series_free(ser, s->n_arms);
    return rc;
}

static int plot_scatter(const ReportResults *R, const char *name, Err *e)
{
    return plot_vs_sft(R, name, R->sharp_pt, "Sharpness of the base model vs SFT score", "Tr(H) on the PT probe batch",
                       e);
}

/* Forgetting against the SFT score. */
static int plot_forgetting(const ReportResults *R, const char *name, Err *e)
{
    return plot_vs_sft(R, name, R->measures.forgetting, "What SFT costs and gains per base model",
                       "forgetting: PT validation loss after SFT - before (nats/token)", e);
}

typedef struct {
    const char *file, *title;
    int (*draw)(const ReportResults *R, const char *name, Err *e);
} Chart;

static const Chart CHARTS[] = {
    {"lr_schedules.png", "Learning-rate schedules", plot_schedules},
    {"loss_curves.png", "Training loss", plot_losses},
    {"sharpness.png", "Sharpness along pre-training, PT data", plot_sharpness_pt},
    {"sharpness_sft.png", "Sharpness along pre-training, SFT data", plot_sharpness_sft},
    {"sharpness_vs_sft.png", "Sharpness vs SFT score", plot_scatter},
    {"forgetting_vs_sft.png", "Forgetting vs SFT score", plot_forgetting},
};

void report_plots_write(const ReportResults *R, FILE *md)
{
    fprintf(md, "## Plots\n\n");
    if (!plot_available()) {
        fprintf(md, "gnuplot is not installed: no plots.\n");
        return;
    }
    for (size_t k = 0; k < sizeof CHARTS / sizeof CHARTS[0]; k++) {
        Err e;
        int rc = CHARTS[k].draw(R, CHARTS[k].file, &e);
        if (rc == 0) fprintf(md, "![%s](%s)\n\n", CHARTS[k].title, CHARTS[k].file);
        else if (rc > 0) fprintf(md, "%s: no data yet.\n\n", CHARTS[k].title);
        else fprintf(md, "%s: not drawn (%s).\n\n", CHARTS[k].title, e.msg);
    }
}
