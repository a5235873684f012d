#include "study/report.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/plot.h"
#include "study/plan.h"
#include "study/report_math.h"
#include "study/report_table.h"
#include "study/runner.h"
#include "study/spec.h"
#include "study/store.h"
#include "train/schedule.h"

/* The paper's Deltas (docs/PAPER.md, Results) for the arms a study can name:
 * two-stage 1B (PT valid loss, PT task avg, SFT task avg) and three-stage 1B
 * (MT valid loss, MT task avg, SFT task avg). */
typedef struct {
    ScheduleKind kind;
    double       alpha_pre, alpha_mid;   /* alpha_mid < 0: two-stage row */
    const char  *name;
    double       d_loss, d_pt, d_sft;
} PaperRow;

static const PaperRow PAPER[] = {
    {SCHED_WSO, 1.0, -1, "WSO", 0.071, -1.7, +0.3},
    {SCHED_WSD, 0.1, -1, "WSD0.1", 0.004, -1.5, +0.0},
    {SCHED_WSD, 0.0, -1, "WSD0.0", 0.000, -1.2, -1.0},
    {SCHED_LINEAR, 0.1, -1, "Lin0.1", 0.021, -2.0, -0.7},
    {SCHED_LINEAR, 0.0, -1, "Lin0.0", 0.016, +0.0, -0.9},
    {SCHED_COSINE, 0.1, -1, "Cos0.1", 0.019, -0.1, -0.7},
    {SCHED_COSINE, 0.0, -1, "Cos0.0", 0.016, -2.5, -0.7},
    {SCHED_WSO, 1.0, 1.0, "WSO(1,1)", 0.062, -0.1, +0.8},
    {SCHED_WSO, 1.0, 0.0, "WSD(1,0)", 0.000, +0.0, +0.0},
    {SCHED_WSD, 0.1, 1.0, "WSD(0.1,1)", 0.038, -1.5, -0.5},
    {SCHED_WSD, 0.1, 0.0, "WSD(0.1,0)", 0.047, -1.7, -1.3},
    {SCHED_LINEAR, 0.1, 1.0, "Lin(0.1,1)", 0.053, -2.1, -2.5},
    {SCHED_LINEAR, 0.1, 0.0, "Lin(0.1,0)", 0.058, -3.3, -3.8},
    {SCHED_COSINE, 0.1, 1.0, "Cos(0.1,1)", 0.053, -2.4, -2.9},
    {SCHED_COSINE, 0.1, 0.0, "Cos(0.1,0)", 0.059, -3.1, -3.7},
};
#define PAPER_R (-0.709)

static const PaperRow *paper_row(const StudySpec *s, const ArmSpec *a)
{
    int three = study_is_three_stage(s);
    for (size_t i = 0; i < sizeof PAPER / sizeof PAPER[0]; i++) {
        const PaperRow *p = &PAPER[i];
        if ((p->alpha_mid >= 0) != three) continue;
        ScheduleKind k = a->schedule;
        double ap = a->alpha_pre;
        if (k == SCHED_WSD && ap == 1.0) k = SCHED_WSO;
        if (k != p->kind || fabs(ap - p->alpha_pre) > 1e-9) continue;
        if (k == SCHED_WSD && a->decay != DECAY_LINEAR) continue;
        if (three && fabs(a->alpha_mid - p->alpha_mid) > 1e-9) continue;
        return p;
    }
    return NULL;
}

/* ---- what the store holds, per arm and seed ------------------------------ */

enum { COL_LOSS, COL_PT, COL_MT, COL_SFT, N_COLS };

typedef struct {
    StudySpec spec;
    Plan      plan;
    Store    *st;
    const char *dir;
    int       three;
    ReportColumn cols[N_COLS];
    double    sft_lr[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];
    double    sharp_pt[STUDY_MAX_ARMS][STUDY_MAX_SEEDS], sharp_sft[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];
    double    sharp_pt_se[STUDY_MAX_ARMS][STUDY_MAX_SEEDS], sharp_sft_se[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];
    const char *sft_suite;   /* "sft" (held-out people) or "sft_valid" when the world has no test split */
} Report;

static int fill_role(Report *R, int col, const char *role, const char *suite, const char *task, const char *metric,
                     double scale, Err *e)
{
    ArmValue *v;
    int n;
    if (store_arm_evals(R->st, R->spec.name, role, suite, task, metric, &v, &n, e)) return -1;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < R->spec.n_arms; a++)
            for (int s = 0; s < R->spec.n_seeds; s++)
                if (strcmp(v[i].arm, R->spec.arms[a].name) == 0 && v[i].seed == R->spec.seeds[s])
                    R->cols[col].value[a][s] = v[i].value * scale;
    free(v);
    return 0;
}

static int load_results(Report *R, Err *e)
{
    StudySpec *s = &R->spec;
    report_column_init(&R->cols[COL_LOSS], R->three ? "MT valid loss" : "PT valid loss", LOWER_IS_BETTER, 3);
    report_column_init(&R->cols[COL_PT], "PT task avg", HIGHER_IS_BETTER, 1);
    report_column_init(&R->cols[COL_MT], "MT task avg", HIGHER_IS_BETTER, 1);
    report_column_init(&R->cols[COL_SFT], "SFT task avg", HIGHER_IS_BETTER, 1);
    if (fill_role(R, COL_LOSS, R->three ? "mid_end" : "pretrain_end", "valid", "pt", "loss", 1, e) ||
        fill_role(R, COL_PT, "pretrain_end", "pt", "average", "acc", 100, e) ||
        (R->three && fill_role(R, COL_MT, "mid_end", "pt", "average", "acc", 100, e)))
        return -1;
    /* Does the world have a held-out test split? (files worlds do not) */
    ArmValue *v;
    int n;
    if (store_sft_evals(R->st, s->name, "sft", "average", "exact_match", &v, &n, e)) return -1;
    free(v);
    R->sft_suite = n > 0 ? "sft" : "sft_valid";
    int64_t T_pre = study_pretrain_steps(s);
    for (int a = 0; a < s->n_arms; a++)
        for (int k = 0; k < s->n_seeds; k++) {
            R->sft_lr[a][k] = R->sharp_pt[a][k] = R->sharp_sft[a][k] = NAN;
            R->sharp_pt_se[a][k] = R->sharp_sft_se[a][k] = NAN;
            double lr, val, se;
            char seg[SEGMENT_ID_LEN + 1];
            int found = store_chosen_sft(R->st, s->name, s->arms[a].name, s->seeds[k], &lr, seg, e);
            if (found < 0) return -1;
            if (found) {
                R->sft_lr[a][k] = lr;
                int f = store_eval(R->st, seg, R->sft_suite, "average", "exact_match", &val, &se, e);
                if (f < 0) return -1;
                if (f) R->cols[COL_SFT].value[a][k] = 100 * val;
            }
            /* Sharpness of the base model SFT starts from: the end of
             * pre-training, or of mid-training in a three-stage study. */
            const PlanSegment *g = &R->plan.segments[R->plan.runs[a][k].base];
            int64_t at = R->three ? study_mid_steps(s) : T_pre;
            SharpnessRecord *sr;
            int m;
            if (store_read_sharpness(R->st, g->id, &sr, &m, e)) return -1;
            for (int i = 0; i < m; i++)
                if (sr[i].step == at) {
                    int pt = strcmp(sr[i].data, "pt") == 0;
                    (pt ? R->sharp_pt : R->sharp_sft)[a][k] = sr[i].trace;
                    (pt ? R->sharp_pt_se : R->sharp_sft_se)[a][k] = sr[i].std_err;
                }
            free(sr);
        }
    return 0;
}

/* ---- text helpers -------------------------------------------------------- */

static void fmt_num(char *out, size_t size, double x, int decimals)
{
    if (isnan(x)) snprintf(out, size, "n/a");
    else snprintf(out, size, "%.*f", decimals, x);
}

static void fmt_mean(char *out, size_t size, const double *x, int n, int decimals)
{
    MeanStdErr m = mean_std_err(x, n);
    if (m.n == 0) snprintf(out, size, "n/a");
    else if (isnan(m.std_err)) snprintf(out, size, "%.*f", decimals, m.mean);
    else snprintf(out, size, "%.*f ± %.*f", decimals, m.mean, decimals, m.std_err);
}

/* A Tr(H) cell: mean ± standard error over seeds; with one seed, ± the
 * Hutchinson estimate's own standard error over its probes. */
static void fmt_trace(char *out, size_t size, const double *x, const double *probe_se, int n)
{
    if (n == 1 && !isnan(x[0]) && !isnan(probe_se[0])) snprintf(out, size, "%.1f ± %.1f", x[0], probe_se[0]);
    else fmt_mean(out, size, x, n, 1);
}

static int write_text(const char *dir, const char *name, char *buf, size_t len, Err *e)
{
    char path[4096];
    path_join(path, sizeof path, dir, name);
    return write_file_atomic(path, buf, len, e);
}

/* ---- plots --------------------------------------------------------------- */

/* The arm's segments from the init to segment `end`, in training order. */
static int arm_path(const Plan *p, int end, int *out, int max)
{
    int n = 0;
    for (int i = end; i >= 0 && n < max; i = p->segments[i].parent) out[n++] = i;
    for (int i = 0; i < n / 2; i++) {
        int t = out[i];
        out[i] = out[n - 1 - i];
        out[n - 1 - i] = t;
    }
    return n;
}

typedef struct {
    double *x, *y, *err;
    size_t  n, cap;
} Series;

static void series_push(Series *s, double x, double y, double err)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->x = realloc(s->x, s->cap * sizeof *s->x);
        s->y = realloc(s->y, s->cap * sizeof *s->y);
        s->err = realloc(s->err, s->cap * sizeof *s->err);
        if (!s->x || !s->y || !s->err) abort();
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
static int draw(Report *R, const char *name, const Plot *pl, Series *s, int n, int errs, int style, Err *e)
{
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

static int plot_schedules(Report *R, Err *e)
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
    int rc = draw(R, "lr_schedules.png", &pl, ser, s->n_arms, 0, PLOT_LINES, e);
    series_free(ser, s->n_arms);
    return rc;
}

/* Training loss along pre-training (and mid-training) of each arm's first
 * seed, as a running mean over a 2% window of the steps. */
static int plot_losses(Report *R, Err *e)
{
    const StudySpec *s = &R->spec;
    Series ser[STUDY_MAX_ARMS] = {{0}};
    int64_t total = study_pretrain_steps(s) + study_mid_steps(s);
    int win = (int)(total / 50) + 1;
    for (int a = 0; a < s->n_arms; a++) {
        int path[256];
        int end = R->three ? R->plan.runs[a][0].mid_end : R->plan.runs[a][0].pretrain_end;
        int n = arm_path(&R->plan, end, path, 256);
        double *ring = calloc((size_t)win, sizeof *ring), sum = 0;
        int64_t k = 0, offset = 0;
        for (int i = 0; i < n; i++) {
            const PlanSegment *g = &R->plan.segments[path[i]];
            if (g->stage == STAGE_MID && (i == 0 || R->plan.segments[path[i - 1]].stage != STAGE_MID))
                offset = study_pretrain_steps(s);
            MetricRow *rows;
            int m;
            if (store_read_metrics(R->st, g->id, &rows, &m, e)) {
                free(ring);
                series_free(ser, s->n_arms);
                return -1;
            }
            for (int j = 0; j < m; j++) {
                double l = isfinite(rows[j].loss) ? rows[j].loss : 0;
                sum += l - ring[k % win];
                ring[k % win] = l;
                k++;
                if (k >= win || k == 1) series_push(&ser[a], (double)(offset + rows[j].step), sum / (k < win ? k : win), NAN);
            }
            free(rows);
        }
        free(ring);
    }
    Plot pl = {"Training loss (running mean)", "step", "loss", 0, 0, 0, "top right", NULL};
    int rc = draw(R, "loss_curves.png", &pl, ser, s->n_arms, 0, PLOT_LINES, e);
    series_free(ser, s->n_arms);
    return rc;
}

static int plot_sharpness(Report *R, const char *data, const char *name, Err *e)
{
    const StudySpec *s = &R->spec;
    Series ser[STUDY_MAX_ARMS] = {{0}};
    for (int a = 0; a < s->n_arms; a++) {
        int path[256];
        int n = arm_path(&R->plan, R->plan.runs[a][0].pretrain_end, path, 256);
        for (int i = 0; i < n; i++) {
            SharpnessRecord *sr;
            int m;
            if (store_read_sharpness(R->st, R->plan.segments[path[i]].id, &sr, &m, e)) {
                series_free(ser, s->n_arms);
                return -1;
            }
            for (int j = 0; j < m; j++)
                if (strcmp(sr[j].data, data) == 0) series_push(&ser[a], (double)sr[j].step, sr[j].trace, sr[j].std_err);
            free(sr);
        }
    }
    char title[128];
    snprintf(title, sizeof title, "Sharpness Tr(H) along pre-training, %s probe batch", strcmp(data, "pt") ? "SFT" : "PT");
    Plot pl = {title, "pre-training step", "Hutchinson trace of the Hessian", 0, 0, 0, "top left", NULL};
    int rc = draw(R, name, &pl, ser, s->n_arms, 1, PLOT_LINESPOINTS, e);
    series_free(ser, s->n_arms);
    return rc;
}

static int plot_scatter(Report *R, Err *e)
{
    const StudySpec *s = &R->spec;
    Series ser[STUDY_MAX_ARMS] = {{0}};
    for (int a = 0; a < s->n_arms; a++)
        for (int k = 0; k < s->n_seeds; k++)
            if (!isnan(R->sharp_pt[a][k]) && !isnan(R->cols[COL_SFT].value[a][k]))
                series_push(&ser[a], R->sharp_pt[a][k], R->cols[COL_SFT].value[a][k], NAN);
    char ylabel[64];
    snprintf(ylabel, sizeof ylabel, "SFT task avg (exact match %%)");
    Plot pl = {"Sharpness of the base model vs SFT score", "Tr(H) on the PT probe batch", ylabel, 0, 0, 0,
               "outside right top", "set offsets graph 0.08, graph 0.08, graph 0.08, graph 0.08; set pointsize 2"};
    int rc = draw(R, "sharpness_vs_sft.png", &pl, ser, s->n_arms, 0, PLOT_POINTS, e);
    series_free(ser, s->n_arms);
    return rc;
}

/* ---- the report ---------------------------------------------------------- */

static const char *yes_no(int x) { return x ? "yes" : "no"; }

/* The arm that is WSO in every stage, or -1. */
static int wso_arm(const StudySpec *s)
{
    for (int a = 0; a < s->n_arms; a++)
        if (!arm_decays(s, &s->arms[a])) return a;
    return -1;
}

static double arm_mean(const double *values, int n) { return mean_std_err(values, n).mean; }

static void write_findings(Report *R, FILE *md, const Correlation *corr, int corr_ok, const char *corr_err)
{
    const StudySpec *s = &R->spec;
    int w = wso_arm(s);
    fprintf(md, "## Findings\n\nEach answer is computed from the numbers above (means over seeds); the paper's answer "
                "is in brackets.\n\n");
    if (w < 0) {
        fprintf(md, "- This study has no WSO arm (constant LR after warmup in every stage), so the WSO findings do "
                    "not apply.\n");
    } else {
        const char *wn = s->arms[w].name;
        double w_loss = arm_mean(R->cols[COL_LOSS].value[w], s->n_seeds);
        double w_sft = arm_mean(R->cols[COL_SFT].value[w], s->n_seeds);
        double w_sh = arm_mean(R->sharp_pt[w], s->n_seeds);
        double best_loss = NAN, best_other_sft = NAN, min_decay_sh = NAN;
        int best_loss_arm = -1, best_sft_arm = -1, n_decay = 0, n_sharper = 0;
        for (int a = 0; a < s->n_arms; a++) {
            if (a == w) continue;
            double sf = arm_mean(R->cols[COL_SFT].value[a], s->n_seeds);
            if (!isnan(sf) && (isnan(best_other_sft) || sf > best_other_sft)) {
                best_other_sft = sf;
                best_sft_arm = a;
            }
            if (!arm_decays(s, &s->arms[a])) continue;
            double l = arm_mean(R->cols[COL_LOSS].value[a], s->n_seeds);
            if (!isnan(l) && (isnan(best_loss) || l < best_loss)) {
                best_loss = l;
                best_loss_arm = a;
            }
            double sh = arm_mean(R->sharp_pt[a], s->n_seeds);
            if (!isnan(sh)) {
                n_decay++;
                n_sharper += sh > w_sh;
                if (isnan(min_decay_sh) || sh < min_decay_sh) min_decay_sh = sh;
            }
        }
        const char *loss_name = R->three ? "MT" : "PT";
        if (best_loss_arm >= 0 && !isnan(w_loss))
            fprintf(md, "- decay arms reach a lower %s loss than WSO: **%s** (best decay arm %s %.4f vs %s %.4f) [paper: yes]\n",
                    loss_name, yes_no(best_loss < w_loss), s->arms[best_loss_arm].name, best_loss, wn, w_loss);
        else
            fprintf(md, "- decay arms reach a lower %s loss than WSO: n/a (missing results) [paper: yes]\n", loss_name);
        if (best_sft_arm >= 0 && !isnan(w_sft))
            fprintf(md, "- WSO has the best SFT average: **%s** (%s %.1f vs best other arm %s %.1f%s) [paper: yes]\n",
                    yes_no(w_sft > best_other_sft), wn, w_sft, s->arms[best_sft_arm].name, best_other_sft,
                    w_sft == best_other_sft ? ": a tie" : "");
        else
            fprintf(md, "- WSO has the best SFT average: n/a (missing results) [paper: yes]\n");
        if (n_decay > 0 && !isnan(w_sh))
            fprintf(md, "- decayed models are sharper than WSO: **%s** (%d of %d decay arms above %s's Tr(H) = %.4g at "
                        "the end of %s; the least sharp decay arm has %.4g) [paper: yes, about 2-3x]\n",
                    yes_no(n_sharper == n_decay), n_sharper, n_decay, wn, w_sh,
                    R->three ? "mid-training" : "pre-training", min_decay_sh);
        else
            fprintf(md, "- decayed models are sharper than WSO: n/a (missing sharpness) [paper: yes]\n");
    }
    if (corr_ok)
        fprintf(md, "- sharpness correlates negatively with SFT score: **%s** (r = %.3f, n = %d%s) [paper: yes, r = %.3f]\n",
                yes_no(corr->r < 0), corr->r, corr->n, corr->ci_defined ? "" : ", too few points for an interval",
                PAPER_R);
    else
        fprintf(md, "- sharpness correlates negatively with SFT score: n/a (%s) [paper: yes, r = %.3f]\n", corr_err,
                PAPER_R);
    fprintf(md, "\n");
}

/* The score of always answering the most common answer of each attribute
 * among the held-out items (a majority-guess baseline for exact match), in
 * percent; NaN if the world has no such file. */
static double majority_baseline(const char *dir)
{
    char path[4096], *text;
    size_t bytes;
    Err e;
    path_join(path, sizeof path, dir, "world/eval_qa_test.jsonl");
    if (!file_exists(path) || read_file(path, &text, &bytes, &e)) return NAN;
    enum { MAX_KEYS = 4096 };
    static char keys[MAX_KEYS][160];
    static int counts[MAX_KEYS];
    int n_keys = 0;
    long items = 0;
    for (char *line = text, *end = text + bytes; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl) *nl = 0;
        cJSON *j = cJSON_Parse(line);
        const cJSON *ans = j ? cJSON_GetObjectItemCaseSensitive(j, "answer") : NULL;
        const cJSON *att = j ? cJSON_GetObjectItemCaseSensitive(j, "attribute") : NULL;
        if (cJSON_IsString(ans)) {
            char key[160];
            snprintf(key, sizeof key, "%s\t%s", cJSON_IsString(att) ? att->valuestring : "", ans->valuestring);
            int k = 0;
            while (k < n_keys && strcmp(keys[k], key)) k++;
            if (k == n_keys && n_keys < MAX_KEYS) {
                snprintf(keys[n_keys], sizeof keys[n_keys], "%s", key);
                counts[n_keys++] = 0;
            }
            if (k < n_keys) counts[k]++;
            items++;
        }
        cJSON_Delete(j);
        line = nl ? nl + 1 : end;
    }
    free(text);
    /* Per attribute, the count of its most common answer. */
    long best_sum = 0;
    for (int k = 0; k < n_keys; k++) {
        size_t al = strcspn(keys[k], "\t");
        int best = 1;   /* is k the first key with the largest count for its attribute? */
        for (int j = 0; j < n_keys && best; j++) {
            if (j == k || strcspn(keys[j], "\t") != al || strncmp(keys[j], keys[k], al)) continue;
            if (counts[j] > counts[k] || (counts[j] == counts[k] && j < k)) best = 0;
        }
        if (best) best_sum += counts[k];
    }
    return items ? 100.0 * (double)best_sum / (double)items : NAN;
}

static int write_report(Report *R, Err *e)
{
    StudySpec *s = &R->spec;
    char *md_buf = NULL, *csv_buf = NULL;
    size_t md_len = 0, csv_len = 0;
    FILE *md = open_memstream(&md_buf, &md_len);
    if (!md) return err_set(e, "report: out of memory");

    fprintf(md, "# Study %s\n\n", s->name);
    fprintf(md, "World %s", world_kind_name(s->world));
    if (s->world == WORLD_BIOS) fprintf(md, " (%d people)", s->people);
    fprintf(md, ", model preset %s, %d seed%s, %" PRId64 " pre-training steps of %" PRId64 " tokens", s->preset,
            s->n_seeds, s->n_seeds == 1 ? "" : "s", study_pretrain_steps(s), s->batch_tokens);
    if (R->three) fprintf(md, ", %" PRId64 " mid-training steps", study_mid_steps(s));
    fprintf(md, ", SFT learning rates swept over {");
    for (int i = 0; i < s->n_sft_lrs; i++) fprintf(md, "%s%g", i ? ", " : "", s->sft_lrs[i]);
    fprintf(md, "}. Results store: `results.sqlite`; study file: `%s`.\n\n", STUDY_SPEC_COPY);

    /* Main table. */
    /* Columns the study measures (a files world has no multiple-choice tasks). */
    int cols_idx[N_COLS], nc = 0;
    for (int c = 0; c < N_COLS; c++) {
        if (c == COL_MT && !R->three) continue;
        int any = 0;
        for (int a = 0; a < s->n_arms; a++)
            for (int k = 0; k < s->n_seeds; k++) any |= !isnan(R->cols[c].value[a][k]);
        if (any || c == COL_LOSS || c == COL_SFT) cols_idx[nc++] = c;
    }
    ReportColumn cols[N_COLS];
    ReportColumnResult res[N_COLS];
    int deltas_ok = 1;
    for (int c = 0; c < nc; c++) {
        cols[c] = R->cols[cols_idx[c]];
        Err ce;
        if (report_column_compute(s, &cols[c], &res[c], &ce)) deltas_ok = 0;
    }
    fprintf(md, "## Results\n\nPT/MT task avg: zero-shot multiple-choice accuracy (%%) on the world's cloze items; "
                "SFT task avg: exact match (%%) of greedy answers about the %s, at the SFT learning rate chosen on "
                "the SFT validation split.\n\n",
            strcmp(R->sft_suite, "sft") == 0 ? "held-out test people (never seen in SFT)" : "SFT validation split");
    if (deltas_ok) {
        report_table_markdown(md, s, cols, res, nc);
    } else {
        fprintf(md, "| arm |");
        for (int c = 0; c < nc; c++) fprintf(md, " %s |", cols[c].label);
        fprintf(md, "\n|---|");
        for (int c = 0; c < nc; c++) fprintf(md, "---:|");
        fprintf(md, "\n");
        for (int a = 0; a < s->n_arms; a++) {
            fprintf(md, "| %s |", s->arms[a].name);
            for (int c = 0; c < nc; c++) {
                char m[64];
                fmt_mean(m, sizeof m, cols[c].value[a], s->n_seeds, cols[c].decimals);
                fprintf(md, " %s |", m);
            }
            fprintf(md, "\n");
        }
        fprintf(md, "\nNo Δ columns: no decay-based arm has results yet.\n");
    }
    fprintf(md, "\nSFT learning rate chosen on the validation split:");
    for (int a = 0; a < s->n_arms; a++) {
        fprintf(md, "%s %s ", a ? ";" : "", s->arms[a].name);
        for (int k = 0; k < s->n_seeds; k++)
            if (isnan(R->sft_lr[a][k])) fprintf(md, "%sn/a", k ? "/" : "");
            else fprintf(md, "%s%g", k ? "/" : "", R->sft_lr[a][k]);
    }
    fprintf(md, "%s.\n", s->n_seeds > 1 ? " (per seed)" : "");
    double chance = majority_baseline(R->dir);
    if (!isnan(chance))
        fprintf(md, "\nChance level for the SFT task avg: always answering the most common value of the asked "
                    "attribute scores %.1f%% on the held-out items.\n", chance);
    fprintf(md, "\nTable as CSV: `main.csv` (means, standard errors, Δ), per seed: `per_seed.csv`.\n\n");

    FILE *csv = open_memstream(&csv_buf, &csv_len);
    fprintf(csv, "arm,metric,mean,std_err,n_seeds,delta\n");
    for (int a = 0; a < s->n_arms; a++)
        for (int c = 0; c < nc; c++) {
            MeanStdErr m = mean_std_err(cols[c].value[a], s->n_seeds);
            fprintf(csv, "%s,%s,%.6g,%.6g,%d,%.6g\n", s->arms[a].name, cols[c].label, m.mean, m.std_err, m.n,
                    deltas_ok ? res[c].delta[a] : NAN);
        }
    for (int a = 0; a < s->n_arms; a++) {
        MeanStdErr m = mean_std_err(R->sft_lr[a], s->n_seeds);
        fprintf(csv, "%s,chosen SFT LR,%.6g,%.6g,%d,nan\n", s->arms[a].name, m.mean, m.std_err, m.n);
    }
    fclose(csv);
    if (write_text(R->dir, "main.csv", csv_buf, csv_len, e)) goto fail;
    free(csv_buf);
    csv_buf = NULL;

    csv = open_memstream(&csv_buf, &csv_len);
    fprintf(csv, "arm,seed");
    for (int c = 0; c < nc; c++) fprintf(csv, ",%s", cols[c].label);
    fprintf(csv, ",sft_lr,sharpness_pt,sharpness_pt_stderr,sharpness_sft,sharpness_sft_stderr\n");
    for (int a = 0; a < s->n_arms; a++)
        for (int k = 0; k < s->n_seeds; k++) {
            fprintf(csv, "%s,%" PRIu64, s->arms[a].name, s->seeds[k]);
            for (int c = 0; c < nc; c++) fprintf(csv, ",%.6g", cols[c].value[a][k]);
            fprintf(csv, ",%g,%.6g,%.6g,%.6g,%.6g\n", R->sft_lr[a][k], R->sharp_pt[a][k], R->sharp_pt_se[a][k],
                    R->sharp_sft[a][k], R->sharp_sft_se[a][k]);
        }
    fclose(csv);
    if (write_text(R->dir, "per_seed.csv", csv_buf, csv_len, e)) goto fail;
    free(csv_buf);
    csv_buf = NULL;

    /* The SFT sweep. */
    {
        ArmValue *val, *test = NULL;
        int nv, nt = 0;
        if (store_sft_evals(R->st, s->name, "sft_valid", "average", "exact_match", &val, &nv, e)) goto fail;
        if (strcmp(R->sft_suite, "sft") == 0 &&
            store_sft_evals(R->st, s->name, "sft", "average", "exact_match", &test, &nt, e)) {
            free(val);
            goto fail;
        }
        fprintf(md, "## SFT learning-rate sweep\n\nExact match (%%, ± its standard error over items) per SFT learning "
                    "rate; the chosen one (best validation score, ties to the smaller LR) is marked *.\n\n| arm | seed | SFT LR | validation | test |\n|---|---:|---:|---:|---:|\n");
        csv = open_memstream(&csv_buf, &csv_len);
        fprintf(csv, "arm,seed,sft_lr,valid_exact_match,test_exact_match,chosen\n");
        for (int i = 0; i < nv; i++) {
            double t = NAN, t_se = NAN;
            for (int j = 0; j < nt; j++)
                if (strcmp(test[j].segment, val[i].segment) == 0) {
                    t = test[j].value;
                    t_se = test[j].std_err;
                }
            int chosen = 0;
            for (int a = 0; a < s->n_arms; a++)
                for (int k = 0; k < s->n_seeds; k++)
                    if (strcmp(s->arms[a].name, val[i].arm) == 0 && s->seeds[k] == val[i].seed &&
                        R->sft_lr[a][k] == val[i].sft_lr)
                        chosen = 1;
            char ts[64], vs[64];
            fmt_num(ts, sizeof ts, 100 * t, 1);
            if (!isnan(t_se)) snprintf(ts + strlen(ts), sizeof ts - strlen(ts), " ± %.1f", 100 * t_se);
            snprintf(vs, sizeof vs, "%.1f ± %.1f", 100 * val[i].value, 100 * val[i].std_err);
            fprintf(md, "| %s | %" PRIu64 " | %g%s | %s | %s |\n", val[i].arm, val[i].seed, val[i].sft_lr,
                    chosen ? " *" : "", vs, ts);
            fprintf(csv, "%s,%" PRIu64 ",%g,%.6g,%.6g,%d\n", val[i].arm, val[i].seed, val[i].sft_lr, val[i].value, t,
                    chosen);
        }
        fclose(csv);
        free(val);
        free(test);
        fprintf(md, "\nAs CSV: `sft_sweep.csv`.\n\n");
        if (write_text(R->dir, "sft_sweep.csv", csv_buf, csv_len, e)) goto fail;
        free(csv_buf);
        csv_buf = NULL;
    }

    /* Sharpness and its correlation with the SFT score. */
    double xs[STUDY_MAX_ARMS * STUDY_MAX_SEEDS], ys[STUDY_MAX_ARMS * STUDY_MAX_SEEDS];
    int np = 0;
    for (int a = 0; a < s->n_arms; a++)
        for (int k = 0; k < s->n_seeds; k++)
            if (!isnan(R->sharp_pt[a][k]) && !isnan(R->cols[COL_SFT].value[a][k])) {
                xs[np] = R->sharp_pt[a][k];
                ys[np++] = R->cols[COL_SFT].value[a][k];
            }
    Correlation corr = {0};
    Err ce;
    int corr_ok = pearson(xs, ys, np, &corr, &ce) == 0;
    fprintf(md, "## Sharpness\n\nTr(H) by Hutchinson (%d Rademacher probes) at the end of %s, on fixed "
                "held-out batches of pre-training text (PT) and of SFT conversations (SFT), the same batches for "
                "every model; mean ± standard error over seeds (with one seed: ± the standard error of the Hutchinson "
                "estimate over its probes).\n\n| arm | Tr(H), PT data | Tr(H), SFT data | SFT task avg |\n|---|---:|---:|---:|\n",
            s->probes, R->three ? "mid-training" : "pre-training");
    csv = open_memstream(&csv_buf, &csv_len);
    fprintf(csv, "arm,sharpness_pt_mean,sharpness_pt_stderr,sharpness_sft_mean,sharpness_sft_stderr,sft_avg_mean\n");
    for (int a = 0; a < s->n_arms; a++) {
        char p[64], q[64], r[64];
        fmt_trace(p, sizeof p, R->sharp_pt[a], R->sharp_pt_se[a], s->n_seeds);
        fmt_trace(q, sizeof q, R->sharp_sft[a], R->sharp_sft_se[a], s->n_seeds);
        fmt_mean(r, sizeof r, R->cols[COL_SFT].value[a], s->n_seeds, 1);
        fprintf(md, "| %s | %s | %s | %s |\n", s->arms[a].name, p, q, r);
        MeanStdErr mp = mean_std_err(R->sharp_pt[a], s->n_seeds), ms = mean_std_err(R->sharp_sft[a], s->n_seeds);
        fprintf(csv, "%s,%.6g,%.6g,%.6g,%.6g,%.6g\n", s->arms[a].name, mp.mean, mp.std_err, ms.mean, ms.std_err,
                arm_mean(R->cols[COL_SFT].value[a], s->n_seeds));
    }
    fclose(csv);
    if (write_text(R->dir, "sharpness.csv", csv_buf, csv_len, e)) goto fail;
    free(csv_buf);
    csv_buf = NULL;
    if (corr_ok && corr.ci_defined)
        fprintf(md, "\nPearson r between PT-data sharpness and SFT score over the (arm, seed) models: r = %.3f, 95%% CI "
                    "[%.3f, %.3f], n = %d (paper: r = %.3f over its 1B models).\n\n",
                corr.r, corr.lo, corr.hi, corr.n, PAPER_R);
    else if (corr_ok)
        fprintf(md, "\nPearson r between PT-data sharpness and SFT score over the (arm, seed) models: r = %.3f, n = %d "
                    "(no confidence interval for n <= 3; paper: r = %.3f).\n\n",
                corr.r, corr.n, PAPER_R);
    else
        fprintf(md, "\nPearson r between PT-data sharpness and SFT score: undefined (%s).\n\n", ce.msg);
    fprintf(md, "As CSV: `sharpness.csv`.\n\n");

    /* The paper next to this run. */
    fprintf(md, "## Next to the paper\n\nΔ from the best decay-based arm, this run vs the paper's %s 1B table "
                "(docs/PAPER.md). The paper's reference arm may be absent here, so compare signs and order, not "
                "sizes; SFT here is knowledge extraction on a synthetic world, not the paper's benchmarks.\n\n"
                "| arm | paper row | Δ %s loss: paper | this run | Δ %s avg: paper | this run | Δ SFT avg: paper | this run |\n"
                "|---|---|---:|---:|---:|---:|---:|---:|\n",
            R->three ? "three-stage" : "two-stage", R->three ? "MT" : "PT valid", R->three ? "MT task" : "PT task");
    csv = open_memstream(&csv_buf, &csv_len);
    fprintf(csv, "arm,paper_row,paper_delta_loss,delta_loss,paper_delta_task,delta_task,paper_delta_sft,delta_sft\n");
    int task_col = -1, sft_col = nc - 1;
    for (int c = 0; c < nc; c++)
        if (cols_idx[c] == (R->three ? COL_MT : COL_PT)) task_col = c;
    for (int a = 0; a < s->n_arms; a++) {
        const PaperRow *p = paper_row(s, &s->arms[a]);
        char d0[32] = "n/a", d1[32] = "n/a", d2[32] = "n/a", p0[32] = "-", p1[32] = "-", p2[32] = "-";
        if (deltas_ok) {
            format_delta(d0, sizeof d0, res[0].delta[a], 3);
            if (task_col >= 0) format_delta(d1, sizeof d1, res[task_col].delta[a], 1);
            format_delta(d2, sizeof d2, res[sft_col].delta[a], 1);
        }
        if (p) {
            format_delta(p0, sizeof p0, p->d_loss, 3);
            format_delta(p1, sizeof p1, p->d_pt, 1);
            format_delta(p2, sizeof p2, p->d_sft, 1);
        }
        fprintf(md, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", s->arms[a].name, p ? p->name : "(none)", p0, d0, p1,
                d1, p2, d2);
        fprintf(csv, "%s,%s,%s,%s,%s,%s,%s,%s\n", s->arms[a].name, p ? p->name : "", p ? p0 : "", d0, p ? p1 : "", d1,
                p ? p2 : "", d2);
    }
    fclose(csv);
    fprintf(md, "\nAs CSV: `paper.csv`.\n\n");
    if (write_text(R->dir, "paper.csv", csv_buf, csv_len, e)) goto fail;
    free(csv_buf);
    csv_buf = NULL;

    write_findings(R, md, &corr, corr_ok, ce.msg);

    /* Plots. */
    fprintf(md, "## Plots\n\n");
    if (!plot_available()) {
        fprintf(md, "gnuplot is not installed: no plots.\n");
    } else {
        /* A chart that cannot be drawn is named in the report, never fatal. */
        static const char *const names[5] = {"lr_schedules.png", "loss_curves.png", "sharpness.png",
                                             "sharpness_sft.png", "sharpness_vs_sft.png"};
        static const char *const titles[5] = {"Learning-rate schedules", "Training loss",
                                              "Sharpness along pre-training, PT data",
                                              "Sharpness along pre-training, SFT data", "Sharpness vs SFT score"};
        for (int k = 0; k < 5; k++) {
            Err pe;
            int rc = k == 0 ? plot_schedules(R, &pe)
                     : k == 1 ? plot_losses(R, &pe)
                     : k == 2 ? plot_sharpness(R, "pt", names[k], &pe)
                     : k == 3 ? plot_sharpness(R, "sft", names[k], &pe)
                              : plot_scatter(R, &pe);
            if (rc == 0) fprintf(md, "![%s](%s)\n\n", titles[k], names[k]);
            else if (rc > 0) fprintf(md, "%s: no data yet.\n\n", titles[k]);
            else fprintf(md, "%s: not drawn (%s).\n\n", titles[k], pe.msg);
        }
    }
    fclose(md);
    md = NULL;
    if (write_text(R->dir, "report.md", md_buf, md_len, e)) goto fail;
    free(md_buf);
    return 0;
fail:
    if (md) fclose(md);
    free(md_buf);
    free(csv_buf);
    return -1;
}

int study_report(const char *dir, Err *e)
{
    Report *R = calloc(1, sizeof *R);
    if (!R) return err_set(e, "report: out of memory");
    R->dir = dir;
    char path[4096];
    path_join(path, sizeof path, dir, STUDY_SPEC_COPY);
    int rc = -1;
    if (!file_exists(path)) {
        err_set(e, "%s: not a study output folder (no %s; run `plateau study run` first)", dir, STUDY_SPEC_COPY);
        goto out;
    }
    char store_file[4096];
    path_join(store_file, sizeof store_file, dir, STORE_FILE);
    if (!file_exists(store_file)) {
        err_set(e, "%s: no results store %s", dir, STORE_FILE);
        goto out;
    }
    /* The spec as last run (and its name, which is the original file's). */
    if (store_open(&R->st, dir, e)) goto out;
    char name[STUDY_NAME_MAX], *text = NULL;
    int found = store_last_run(R->st, name, sizeof name, &text, e);
    if (found <= 0) {
        if (found == 0) err_set(e, "%s: the results store records no run", dir);
        goto out;
    }
    int bad = study_spec_parse(&R->spec, path, text, e);
    free(text);
    if (bad) goto out;
    snprintf(R->spec.name, sizeof R->spec.name, "%s", name);
    R->three = study_is_three_stage(&R->spec);
    if (plan_build(&R->plan, &R->spec, 0, e)) goto out;
    rc = load_results(R, e);
    if (!rc) rc = write_report(R, e);
out:
    if (R->plan.segments) plan_free(&R->plan);
    if (R->st) store_close(R->st);
    free(R);
    return rc;
}
