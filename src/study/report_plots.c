#include "study/report_plots.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/plot.h"
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

/* Draws one chart; a chart with no points yet (a study still running) is
 * not drawn, and returns 1. */
static int draw(const ReportResults *R, const char *name, const Plot *pl, Series *s, int errs, int style, Err *e)
{
    int n = R->spec.n_arms;
    size_t points = 0;
    for (int a = 0; a < n; a++) points += s[a].n;
    if (points == 0) return 1;
    PlotSeries ps[STUDY_MAX_ARMS];
    for (int a = 0; a < n; a++)
        ps[a] = (PlotSeries){R->spec.arms[a].name, s[a].x, s[a].y, errs ? s[a].err : NULL, s[a].n, style};
    char path[4096];
    path_join(path, sizeof path, R->dir, name);
    return plot_png(path, pl, ps, n, e);
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
    int rc = draw(R, name, &pl, ser, 0, PLOT_LINES, e);
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
 * of the steps. */
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
        for (int i = 0; i < n && !rc; i++) rc = push_segment_losses(R, path[i].id, &rm, &ser[a], e);
        free(rm.ring);
    }
    Plot pl = {"Training loss (running mean)", "step", "loss", 0, 0, 0, "top right", NULL};
    if (!rc) rc = draw(R, name, &pl, ser, 0, PLOT_LINES, e);
    series_free(ser, s->n_arms);
    return rc;
}

static int plot_sharpness(const ReportResults *R, const char *data, const char *name, Err *e)
{
    const StudySpec *s = &R->spec;
    Series ser[STUDY_MAX_ARMS] = {{0}};
    int rc = 0;
    for (int a = 0; a < s->n_arms && !rc; a++) {
        SegmentId path[REPORT_MAX_PATH];
        int n;
        rc = first_seed_path(R, a, "pretrain_end", path, &n, e);
        for (int i = 0; i < n && !rc; i++) {
            SharpnessRecord *sr;
            int m;
            rc = store_read_sharpness(R->store, path[i].id, &sr, &m, e);
            for (int j = 0; j < m && !rc; j++)
                if (strcmp(sr[j].data, data) == 0) series_push(&ser[a], (double)sr[j].step, sr[j].trace, sr[j].std_err);
            if (!rc) free(sr);
        }
    }
    char title[128];
    snprintf(title, sizeof title, "Sharpness Tr(H) along pre-training, %s probe batch", strcmp(data, "pt") ? "SFT" : "PT");
    Plot pl = {title, "pre-training step", "Hutchinson trace of the Hessian", 0, 0, 0, "top left", NULL};
    if (!rc) rc = draw(R, name, &pl, ser, 1, PLOT_LINESPOINTS, e);
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
    int rc = draw(R, name, &pl, ser, 0, PLOT_POINTS, e);
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
