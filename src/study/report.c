#include "study/report.h"

#include <cJSON.h>
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "study/findings.h"
#include "study/regime.h"
#include "study/report_math.h"
#include "study/report_plots.h"
#include "study/report_results.h"
#include "study/report_sft_change.h"
#include "study/report_table.h"
#include "study/runner.h"
#include "study/spec.h"
#include "study/store.h"
#include "study/sweep.h"
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
    if (a->wsm) return NULL;   /* WSM is not one of the paper's arms */
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

/* ---- text helpers -------------------------------------------------------- */

static void fmt_mean(char *out, size_t size, const double *x, int n, int decimals)
{
    MeanStdErr m = mean_std_err(x, n);
    report_mean_cell(out, size, &m, decimals, n);
}

/* ---- the report ---------------------------------------------------------- */

static int write_findings(const ReportResults *R, FILE *md, Err *e)
{
    Findings *f = xmalloc(sizeof *f);
    if (findings_compute(f, &R->spec, R->store, e)) {
        free(f);
        return -1;
    }
    fprintf(md, "## Findings\n\nEach claim of the paper as an effect with its 95%% interval and a verdict: **agrees** "
                "(the whole interval lies on the paper's side of no effect: 0 for a difference or a correlation, 1 "
                "for a ratio), **contradicts** (it lies on the other side) or **unresolved** (it holds no effect; "
                "then the seeds that would resolve it at this run's variance). Accuracies and their continuous companions are resampled by a paired bootstrap over seeds "
                "x items (%d resamples, resampling seed %d), widened where the seeds' spread is wider; losses and "
                "per-model measures by a t over seeds, sharpness ratios by the same on per-seed log ratios; "
                "correlations by Fisher z. The t over seeds is a blocked t: the seeds are blocks (the arms of a seed "
                "share init and data order), and the seed-to-seed spread is pooled over the arms of one kind, "
                "(arms - 1)(seeds - 1) degrees of freedom where a pair of arms alone has seeds - 1, so that an "
                "interval's width does not swing with the luck of two arms' seeds. The kinds: arms that hold the "
                "peak LR for a stable phase (WSO, WSD, WSM), which share WSO's run until they decay and scatter "
                "little about it, and arms that decay from warmup (cosine, linear), which scatter more; a contrast "
                "pools the kind of its arm that shares least of WSO's run, and assumes the arms of a kind scatter "
                "alike. Quantiles from GSL.\n\n",
            BOOTSTRAP_RESAMPLES, FINDINGS_BOOTSTRAP_SEED);
    if (!f->has_wso)
        fprintf(md, "- This study has no WSO arm (constant LR after warmup in every stage), so the WSO findings do "
                    "not apply.\n");
    findings_write(md, f);
    fprintf(md, "\n");
    free(f);
    return 0;
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

/* ---- the sections ---------------------------------------------------------- */

static int write_header(const ReportResults *R, FILE *md, Err *e)
{
    const StudySpec *s = &R->spec;
    fprintf(md, "# Study %s\n\n", s->name);
    Regime regime;
    if (study_regime(&regime, s, R->dir, e)) return -1;
    regime_write(md, &regime, s);
    fprintf(md, "World %s", world_kind_name(s->world));
    if (s->world == WORLD_BIOS) fprintf(md, " (%d people)", s->people);
    fprintf(md, ", model preset %s, %d seed%s, %" PRId64 " pre-training steps of %" PRId64 " tokens", s->preset,
            s->n_seeds, s->n_seeds == 1 ? "" : "s", study_pretrain_steps(s), s->batch_tokens);
    if (R->three) fprintf(md, ", %" PRId64 " mid-training steps", study_mid_steps(s));
    fprintf(md, ", trained in %s", s->precision == PRECISION_BF16 ? "bf16 mixed precision (bf16 products, fp32 "
                                                                    "accumulation, weights and optimizer)"
                                                                  : "fp32");
    fprintf(md, ", SFT learning rates swept over {");
    for (int i = 0; i < s->n_sft_lrs; i++) fprintf(md, "%s%g", i ? ", " : "", s->sft_lrs[i]);
    fprintf(md, "}. Results store: `results.sqlite`; study file: `%s`.\n\n", STUDY_SPEC_COPY);
    return 0;
}

/* The main table: the columns the study measures (a files world has no
 * multiple-choice tasks), their means and Deltas. */
typedef struct {
    int                n;               /* columns shown */
    int                which[N_COLS];   /* their COL_ indices */
    ReportColumn       cols[N_COLS];
    ReportColumnResult res[N_COLS];
    int                deltas_ok;       /* some decay-based arm has results */
} MainTable;

static void main_table_build(const ReportResults *R, MainTable *t)
{
    const StudySpec *s = &R->spec;
    t->n = 0;
    t->deltas_ok = 1;
    for (int c = 0; c < N_COLS; c++) {
        if (c == COL_MT && !R->three) continue;
        int any = 0;
        for (int a = 0; a < s->n_arms; a++)
            for (int k = 0; k < s->n_seeds; k++) any |= !isnan(R->cols[c].value[a][k]);
        if (any || c == COL_LOSS || c == COL_SFT) t->which[t->n++] = c;
    }
    /* The loss column comes first and the SFT column last, always shown. */
    assert(t->n >= 2 && t->which[0] == COL_LOSS && t->which[t->n - 1] == COL_SFT);
    for (int c = 0; c < t->n; c++) {
        t->cols[c] = R->cols[t->which[c]];
        Err ignored;
        if (report_column_compute(s, &t->cols[c], &t->res[c], &ignored)) t->deltas_ok = 0;
    }
}

/* The table without Deltas, while no decay-based arm has results. */
static void write_means_only(const ReportResults *R, const MainTable *t, FILE *md)
{
    const StudySpec *s = &R->spec;
    fprintf(md, "| arm |");
    for (int c = 0; c < t->n; c++) fprintf(md, " %s |", t->cols[c].label);
    fprintf(md, "\n|---|");
    for (int c = 0; c < t->n; c++) fprintf(md, "---:|");
    fprintf(md, "\n");
    for (int a = 0; a < s->n_arms; a++) {
        fprintf(md, "| %s |", s->arms[a].name);
        for (int c = 0; c < t->n; c++) {
            char m[64];
            fmt_mean(m, sizeof m, t->cols[c].value[a], s->n_seeds, t->cols[c].decimals);
            fprintf(md, " %s |", m);
        }
        fprintf(md, "\n");
    }
    fprintf(md, "\nNo Δ columns: no decay-based arm has results yet.\n");
}

static void write_main_table(const ReportResults *R, const MainTable *t, FILE *md)
{
    const StudySpec *s = &R->spec;
    fprintf(md, "## Results\n\nPT/MT task avg: zero-shot multiple-choice accuracy (%%) on the world's cloze items; "
                "SFT task avg: exact match (%%) of greedy answers about the %s, at the SFT learning rate chosen on "
                "the SFT validation split.\n\n",
            strcmp(R->sft_suite, "sft") == 0 ? "held-out test people (never seen in SFT)" : "SFT validation split");
    if (t->deltas_ok) report_table_markdown(md, s, t->cols, t->res, t->n);
    else write_means_only(R, t, md);
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
}

static int write_main_csv(const ReportResults *R, const MainTable *t, Err *e)
{
    const StudySpec *s = &R->spec;
    ReportCsv csv;
    report_csv_open(&csv, "arm,metric,mean,std_err,n_seeds,delta\n");
    for (int a = 0; a < s->n_arms; a++)
        for (int c = 0; c < t->n; c++) {
            MeanStdErr m = mean_std_err(t->cols[c].value[a], s->n_seeds);
            fprintf(csv.f, "%s,%s,%.6g,%.6g,%d,%.6g\n", s->arms[a].name, t->cols[c].label, m.mean, m.std_err, m.n,
                    t->deltas_ok ? t->res[c].delta[a] : NAN);
        }
    for (int a = 0; a < s->n_arms; a++) {
        MeanStdErr m = mean_std_err(R->sft_lr[a], s->n_seeds);
        fprintf(csv.f, "%s,chosen SFT LR,%.6g,%.6g,%d,nan\n", s->arms[a].name, m.mean, m.std_err, m.n);
    }
    if (report_csv_save(&csv, R->dir, "main.csv", e)) return -1;

    report_csv_open(&csv, "arm,seed");
    for (int c = 0; c < t->n; c++) fprintf(csv.f, ",%s", t->cols[c].label);
    fprintf(csv.f, ",sft_lr,sharpness_pt,sharpness_pt_stderr,sharpness_sft,sharpness_sft_stderr\n");
    for (int a = 0; a < s->n_arms; a++)
        for (int k = 0; k < s->n_seeds; k++) {
            fprintf(csv.f, "%s,%" PRIu64, s->arms[a].name, s->seeds[k]);
            for (int c = 0; c < t->n; c++) fprintf(csv.f, ",%.6g", t->cols[c].value[a][k]);
            fprintf(csv.f, ",%g,%.6g,%.6g,%.6g,%.6g\n", R->sft_lr[a][k], R->sharp_pt[a][k], R->sharp_pt_se[a][k],
                    R->sharp_sft[a][k], R->sharp_sft_se[a][k]);
        }
    return report_csv_save(&csv, R->dir, "per_seed.csv", e);
}

/* Pearson r between the base models' PT-data sharpness and SFT score;
 * returns 0 when defined, else -1 with the reason in e. */
static int sharpness_correlation(const ReportResults *R, Correlation *corr, Err *e)
{
    const StudySpec *s = &R->spec;
    double xs[STUDY_MAX_ARMS * STUDY_MAX_SEEDS], ys[STUDY_MAX_ARMS * STUDY_MAX_SEEDS];
    int n = 0;
    for (int a = 0; a < s->n_arms; a++)
        for (int k = 0; k < s->n_seeds; k++)
            if (!isnan(R->sharp_pt[a][k]) && !isnan(R->cols[COL_SFT].value[a][k])) {
                xs[n] = R->sharp_pt[a][k];
                ys[n++] = R->cols[COL_SFT].value[a][k];
            }
    memset(corr, 0, sizeof *corr);
    return pearson(xs, ys, n, corr, e);
}

static void write_correlation(FILE *md, const Correlation *corr, int corr_ok, const char *why_not)
{
    if (corr_ok && corr->ci_defined)
        fprintf(md, "\nPearson r between PT-data sharpness and SFT score over the (arm, seed) models: r = %.3f, 95%% CI "
                    "[%.3f, %.3f], n = %d (paper: r = %.3f over its 1B models).\n\n",
                corr->r, corr->lo, corr->hi, corr->n, PAPER_R);
    else if (corr_ok)
        fprintf(md, "\nPearson r between PT-data sharpness and SFT score over the (arm, seed) models: r = %.3f, n = %d "
                    "(no confidence interval for n <= 3; paper: r = %.3f).\n\n",
                corr->r, corr->n, PAPER_R);
    else
        fprintf(md, "\nPearson r between PT-data sharpness and SFT score: undefined (%s).\n\n", why_not);
}

static int write_sharpness(const ReportResults *R, FILE *md, const Correlation *corr, int corr_ok,
                           const char *why_not, Err *e)
{
    const StudySpec *s = &R->spec;
    fprintf(md, "## Sharpness\n\nTr(H) by Hutchinson (Rademacher probes until the standard error is below 5%% of "
                "|Tr(H)|, at most %d) at the end of %s, on fixed held-out batches of pre-training text (PT) and of SFT "
                "conversations (SFT), the same batches for every model; mean over seeds [95%% t interval] (with one "
                "seed: the estimate [-+ 1.96 standard errors over its probes]). A value whose interval holds 0 is "
                "unresolved.\n\n| arm | Tr(H), PT data | Tr(H), SFT data | SFT task avg |\n|---|---:|---:|---:|\n",
            s->probes, R->three ? "mid-training" : "pre-training");
    ReportCsv csv;
    report_csv_open(&csv, "arm,sharpness_pt_mean,sharpness_pt_stderr,sharpness_sft_mean,sharpness_sft_stderr,sft_avg_mean\n");
    for (int a = 0; a < s->n_arms; a++) {
        char p[64], q[64], r[64];
        format_trace_cell(p, sizeof p, R->sharp_pt[a], R->sharp_pt_se[a], s->n_seeds);
        format_trace_cell(q, sizeof q, R->sharp_sft[a], R->sharp_sft_se[a], s->n_seeds);
        fmt_mean(r, sizeof r, R->cols[COL_SFT].value[a], s->n_seeds, 1);
        fprintf(md, "| %s | %s | %s | %s |\n", s->arms[a].name, p, q, r);
        MeanStdErr mp = mean_std_err(R->sharp_pt[a], s->n_seeds), ms = mean_std_err(R->sharp_sft[a], s->n_seeds);
        fprintf(csv.f, "%s,%.6g,%.6g,%.6g,%.6g,%.6g\n", s->arms[a].name, mp.mean, mp.std_err, ms.mean, ms.std_err,
                mean_std_err(R->cols[COL_SFT].value[a], s->n_seeds).mean);
    }
    if (report_csv_save(&csv, R->dir, "sharpness.csv", e)) return -1;
    write_correlation(md, corr, corr_ok, why_not);
    for (int d = 0; d < 2; d++) {
        double within, between;
        seed_and_arm_spread((const double(*)[STUDY_MAX_SEEDS])(d ? R->sharp_sft : R->sharp_pt), s->n_arms, s->n_seeds,
                            &within, &between);
        if (isnan(within) || isnan(between)) continue;
        fprintf(md, "Spread of Tr(H) on %s data: %.3g between seeds of one arm (pooled standard deviation), %.3g "
                    "between arms (standard deviation of the arm means): %s.\n\n",
                d ? "SFT" : "PT", within, between,
                within < between ? "the probe batch separates the arms"
                                 : "the probe batch is too small to separate the arms (raise probe_sequences)");
    }
    fprintf(md, "As CSV: `sharpness.csv`.\n\n");
    return 0;
}

/* One arm's row of the paper comparison, in md and csv. */
static void write_paper_row(const ReportResults *R, const MainTable *t, int a, int task_col, FILE *md, FILE *csv)
{
    const StudySpec *s = &R->spec;
    const PaperRow *p = paper_row(s, &s->arms[a]);
    char d0[32] = "n/a", d1[32] = "n/a", d2[32] = "n/a", p0[32] = "-", p1[32] = "-", p2[32] = "-";
    if (t->deltas_ok) {
        format_delta(d0, sizeof d0, t->res[0].delta[a], 3);
        if (task_col >= 0) format_delta(d1, sizeof d1, t->res[task_col].delta[a], 1);
        format_delta(d2, sizeof d2, t->res[t->n - 1].delta[a], 1);
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

static int write_paper_comparison(const ReportResults *R, const MainTable *t, FILE *md, Err *e)
{
    fprintf(md, "## Next to the paper\n\nΔ from the best decay-based arm, this run vs the paper's %s 1B table "
                "(docs/PAPER.md). The paper's reference arm may be absent here, so compare signs and order, not "
                "sizes; SFT here is knowledge extraction on a synthetic world, not the paper's benchmarks.\n\n"
                "| arm | paper row | Δ %s loss: paper | this run | Δ %s avg: paper | this run | Δ SFT avg: paper | this run |\n"
                "|---|---|---:|---:|---:|---:|---:|---:|\n",
            R->three ? "three-stage" : "two-stage", R->three ? "MT" : "PT valid", R->three ? "MT task" : "PT task");
    ReportCsv csv;
    report_csv_open(&csv, "arm,paper_row,paper_delta_loss,delta_loss,paper_delta_task,delta_task,paper_delta_sft,delta_sft\n");
    int task_col = -1;
    for (int c = 0; c < t->n; c++)
        if (t->which[c] == (R->three ? COL_MT : COL_PT)) task_col = c;
    for (int a = 0; a < R->spec.n_arms; a++) write_paper_row(R, t, a, task_col, md, csv.f);
    fprintf(md, "\nAs CSV: `paper.csv`.\n\n");
    return report_csv_save(&csv, R->dir, "paper.csv", e);
}

/* report.md, section by section, with a CSV file per table beside it. */
static int write_report(const ReportResults *R, Err *e)
{
    char *md_buf = NULL;
    size_t md_len = 0;
    FILE *md = open_memstream(&md_buf, &md_len);
    if (!md) return err_set(e, "report: cannot open a memory stream");
    MainTable table;
    main_table_build(R, &table);
    Correlation corr;
    Err why_not;
    int corr_ok = sharpness_correlation(R, &corr, &why_not) == 0;
    int rc = write_header(R, md, e);
    if (!rc) {
        write_main_table(R, &table, md);
        rc = write_main_csv(R, &table, e);
    }
    if (!rc) rc = sweep_write(md, &R->spec, R->store, R->dir, e);
    if (!rc) rc = write_sharpness(R, md, &corr, corr_ok, why_not.msg, e);
    if (!rc) rc = write_paper_comparison(R, &table, md, e);
    if (!rc) rc = report_sft_change_write(R, md, e);
    if (!rc) rc = write_findings(R, md, e);
    if (!rc) report_plots_write(R, md);
    fclose(md);
    if (!rc) {
        char path[4096];
        path_join(path, sizeof path, R->dir, "report.md");
        rc = write_file_atomic(path, md_buf, md_len, e);
    }
    free(md_buf);
    return rc;
}

/* The study as last run (its name is the original file's), from the store. */
static int read_last_spec(ReportResults *R, const char *spec_copy, Err *e)
{
    char name[STUDY_NAME_MAX], *text = NULL;
    int found = store_last_run(R->store, name, sizeof name, &text, e);
    if (found <= 0) return found == 0 ? err_set(e, "%s: the results store records no run", R->dir) : -1;
    int rc = study_spec_parse(&R->spec, spec_copy, text, e);
    free(text);
    if (rc) return -1;
    snprintf(R->spec.name, sizeof R->spec.name, "%s", name);
    R->three = study_is_three_stage(&R->spec);
    return 0;
}

int study_report(const char *dir, Err *e)
{
    char spec_copy[4096], store_file[4096];
    path_join(spec_copy, sizeof spec_copy, dir, STUDY_SPEC_COPY);
    path_join(store_file, sizeof store_file, dir, STORE_FILE);
    if (!file_exists(spec_copy))
        return err_set(e, "%s: not a study output folder (no %s; run `plateau study run` first)", dir,
                       STUDY_SPEC_COPY);
    if (!file_exists(store_file)) return err_set(e, "%s: no results store %s", dir, STORE_FILE);
    ReportResults *R = xcalloc(1, sizeof *R);
    R->dir = dir;
    int rc = store_open(&R->store, dir, e);
    if (!rc) rc = read_last_spec(R, spec_copy, e);
    if (!rc) rc = report_results_load(R, e);
    if (!rc) rc = write_report(R, e);
    if (R->store) store_close(R->store);
    free(R);
    return rc;
}
