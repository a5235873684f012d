/* The study runner end to end on a tiny study (nano model, 40 bios people,
 * three arms: wso, wsd0 and cos0.1): prefix sharing runs fewer steps than the
 * arms alone yet gives the same bits, and a study killed at any moment
 * resumes to the same results as one never interrupted.
 *
 * The killed study is forked first, before this process has started any
 * OpenMP threads (a forked child must not inherit a thread pool). */
#define _GNU_SOURCE   /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/file.h"
#include "data/tokenizer.h"
#include "study/plan.h"
#include "study/calibrate.h"
#include "study/report.h"
#include "study/report_plots.h"
#include "study/runner.h"
#include "study/spec.h"
#include "study/store.h"
#include "support/checkpoint_files.h"
#include "support/tiny_study.h"
#include "train/merge.h"

static const char STUDY_HEAD[] =
    "[study]\n"
    TINY_STUDY_WORLD
    "seeds = 7\n"
    "pretrain_tokens = 16384\n"      /* 32 steps */
    "sft_epochs = 1\n"
    "batch_tokens = 512\n"
    "micro_batch = 8\n"
    "seq_len = 64\n"
    "peak_lr = 3e-3\n"
    "warmup_steps = 4\n"
    "sft_lrs = 1e-3, 3e-3\n"
    "sft_warmup_steps = 1\n"
    "sft_batch_tokens = 1024\n"
    "probes = 3\n"
    "probe_every = 8\n"
    "probe_sequences = 2\n"
    "eval_items = 12\n";
static const char ARM_WSO[] = "[arm wso]\nschedule = wso\n";
static const char ARM_WSD[] = "[arm wsd0]\nschedule = wsd\nalpha_pre = 0\n";
static const char ARM_COS[] = "[arm cos0.1]\nschedule = cosine\nalpha_pre = 0.1\n";

#define N_ARMS 3
static const char *const ARMS[N_ARMS] = {"wso", "wsd0", "cos0.1"};
#define PRETRAIN_STEPS 32

static char g_root[64];          /* temporary folder of every study below */
static char g_full[256];         /* the three-arm study, uninterrupted */
static int  g_full_done;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void write_study(const char *path, const char *arms)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s", STUDY_HEAD, arms);
    Err e;
    assert_int_equal(write_file_atomic(path, text, strlen(text), &e), 0);
}

/* Runs a study quietly; max_segments > 0 stops after that many. */
static void run_study(const char *ini, const char *out, int max_segments)
{
    StudyRunOptions o = {.quiet = 1, .max_segments = max_segments};
    Err e;
    int rc = study_run(ini, out, &o, &e);
    if (rc) fprintf(stderr, "study_run: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

/* The uninterrupted three-arm study, run once for every test that needs it. */
static const char *full_study(void)
{
    if (!g_full_done) {
        char ini[256];
        snprintf(ini, sizeof ini, "%s/tiny.ini", g_root);
        char arms[512];
        snprintf(arms, sizeof arms, "%s%s%s", ARM_WSO, ARM_WSD, ARM_COS);
        write_study(ini, arms);
        snprintf(g_full, sizeof g_full, "%s/full", g_root);
        run_study(ini, g_full, 0);
        g_full_done = 1;
    }
    return g_full;
}

/* Everything the report reads about one arm, as numbers. */
typedef struct {
    double pt_loss, pt_acc;
    double sft_valid[2], sft_test[2];   /* per SFT LR, in sweep order */
    double chosen_lr;
    double sharp_pt[8], sharp_sft[8];   /* along pre-training, probe order */
    int    n_sharp;
} ArmResults;

static double arm_eval(Store *st, const char *study, const char *arm, const char *suite, const char *task,
                       const char *metric)
{
    ArmValue *v;
    int n;
    Err e;
    assert_int_equal(store_arm_evals(st, study, "pretrain_end", suite, task, metric, &v, &n, &e), 0);
    double x = NAN;
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].arm, arm) == 0) x = v[i].value;
    free(v);
    return x;
}

static void arm_results(const char *dir, const char *study, const char *arm, ArmResults *r)
{
    memset(r, 0, sizeof *r);
    Store *st;
    Err e;
    assert_int_equal(store_open(&st, dir, &e), 0);
    r->pt_loss = arm_eval(st, study, arm, "valid", "pt", "loss");
    r->pt_acc = arm_eval(st, study, arm, "pt", "average", "acc");
    for (int s = 0; s < 2; s++) {
        const char *suite = s ? "sft" : "sft_valid";
        ArmValue *v;
        int n, k = 0;
        assert_int_equal(store_sft_evals(st, study, suite, "average", "exact_match", &v, &n, &e), 0);
        for (int i = 0; i < n; i++)
            if (strcmp(v[i].arm, arm) == 0 && k < 2) (s ? r->sft_test : r->sft_valid)[k++] = v[i].value;
        assert_int_equal(k, 2);
        free(v);
    }
    char seg[SEGMENT_ID_LEN + 1];
    assert_int_equal(store_chosen_sft(st, study, arm, 7, &r->chosen_lr, seg, &e), 1);
    /* Sharpness along the arm's pre-training path. */
    ArmValue *v;
    int n;
    assert_int_equal(store_arm_evals(st, study, "pretrain_end", "valid", "pt", "loss", &v, &n, &e), 0);
    char end[SEGMENT_ID_LEN + 1] = "";
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].arm, arm) == 0) snprintf(end, sizeof end, "%s", v[i].segment);
    free(v);
    assert_true(end[0]);
    SharpnessRecord *sr;
    assert_int_equal(store_read_sharpness(st, end, &sr, &n, &e), 0);
    for (int i = 0; i < n; i++) {
        if (sr[i].step != PRETRAIN_STEPS) continue;
        if (strcmp(sr[i].data, "pt") == 0) r->sharp_pt[0] = sr[i].trace;
        else r->sharp_sft[0] = sr[i].trace;
        r->n_sharp++;
    }
    free(sr);
    store_close(st);
}

static void assert_same_results(const ArmResults *a, const ArmResults *b)
{
    assert_true(memcmp(&a->pt_loss, &b->pt_loss, sizeof a->pt_loss) == 0);
    assert_true(memcmp(&a->pt_acc, &b->pt_acc, sizeof a->pt_acc) == 0);
    assert_true(memcmp(a->sft_valid, b->sft_valid, sizeof a->sft_valid) == 0);
    assert_true(memcmp(a->sft_test, b->sft_test, sizeof a->sft_test) == 0);
    assert_true(a->chosen_lr == b->chosen_lr);
    assert_int_equal(a->n_sharp, 2);
    assert_int_equal(b->n_sharp, 2);
    assert_true(memcmp(a->sharp_pt, b->sharp_pt, sizeof a->sharp_pt) == 0);
    assert_true(memcmp(a->sharp_sft, b->sharp_sft, sizeof a->sharp_sft) == 0);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* ---- tests --------------------------------------------------------------- */

static int count_row(void *ctx, int n, char **values, char **names)
{
    (void)names;
    if (n == 1 && values[0]) *(long *)ctx = atol(values[0]);
    return 0;
}

static long query_count(const char *db_path, const char *sql)
{
    sqlite3 *db;
    long n = -1;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, count_row, &n, NULL), SQLITE_OK);
    sqlite3_close(db);
    return n;
}

/* `plateau study plan --estimate`: the data is prepared and the plan
 * registered, so that `study run` reuses them, but no run is recorded and
 * nothing trains; then the study runs from that folder as from an empty one. */
static void estimate_prepares_the_study_and_trains_nothing(void **state)
{
    (void)state;
    char ini[256], out[256], db[300], segs[300];
    snprintf(ini, sizeof ini, "%s/estimate.ini", g_root);
    snprintf(out, sizeof out, "%s/estimate", g_root);
    write_study(ini, ARM_WSO);
    StudyRunOptions o = {.quiet = 1, .estimate_only = 1};
    Err e;
    assert_int_equal(study_run(ini, out, &o, &e), 0);
    snprintf(db, sizeof db, "%s/results.sqlite", out);
    snprintf(segs, sizeof segs, "%s/segments", out);
    assert_int_equal(query_count(db, "SELECT count(*) FROM runs"), 0);
    assert_int_equal(query_count(db, "SELECT count(*) FROM metrics"), 0);
    assert_int_equal(query_count(db, "SELECT count(*) FROM segments WHERE status != 'pending'"), 0);
    long planned = query_count(db, "SELECT count(*) FROM segments");
    assert_true(planned >= 3);   /* the trunk, its SFT sweep of two learning rates */
    assert_int_equal(count_entries(segs), 0);
    run_study(ini, out, 0);
    assert_int_equal(query_count(db, "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL"), 1);
    assert_int_equal(query_count(db, "SELECT count(*) FROM segments WHERE status = 'done'"), planned);
    /* the folder now belongs to study "estimate": another study, run or
     * estimated there, is refused before anything in it is touched */
    char other[256], copy[300], *before, *after;
    size_t nb, na;
    snprintf(other, sizeof other, "%s/other.ini", g_root);
    snprintf(copy, sizeof copy, "%s/study.ini", out);
    write_study(other, ARM_WSD);
    assert_int_equal(read_file(copy, &before, &nb, &e), 0);
    assert_int_equal(study_run(other, out, &o, &e), -1);
    assert_non_null(strstr(e.msg, "holds the results of study 'estimate', not 'other'"));
    StudyRunOptions run = {.quiet = 1};
    assert_int_equal(study_run(other, out, &run, &e), -1);
    assert_int_equal(read_file(copy, &after, &na, &e), 0);
    assert_true(na == nb && memcmp(before, after, nb) == 0);
    free(before);
    free(after);
    assert_int_equal(query_count(db, "SELECT count(*) FROM segments"), planned);
}

/* SIGKILL during pre-training, and again during SFT, then run again: the
 * store ends with exactly the results of an uninterrupted run. */
static void killed_study_resumes_to_the_results_of_an_uninterrupted_one(void **state)
{
    (void)state;
    char ini[256], out[256], segs[300];
    snprintf(ini, sizeof ini, "%s/killed.ini", g_root);
    char arms[512];
    snprintf(arms, sizeof arms, "%s%s%s", ARM_WSO, ARM_WSD, ARM_COS);
    write_study(ini, arms);
    snprintf(out, sizeof out, "%s/killed", g_root);
    snprintf(segs, sizeof segs, "%s/segments", out);

    /* Killed twice: while the fifth segment (pre-training) trains, then, on
     * the re-run, while the eighth (an SFT run) does. */
    Store *st;
    Err e;
    StudySpec spec;
    Plan plan;
    assert_int_equal(study_spec_load(&spec, ini, &e), 0);
    assert_int_equal(plan_build(&plan, &spec, 0, &e), 0);
    const int kill_at[2] = {5, 8};
    for (int round = 0; round < 2; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            StudyRunOptions o = {.quiet = 1};
            Err ce;
            _exit(study_run(ini, out, &o, &ce) ? 1 : 0);
        }
        /* TrainRun folders appear as segments start. */
        int status = 0, exited = 0;
        for (int i = 0; i < 60000 && !exited; i++) {
            if (count_entries(segs) >= kill_at[round]) break;
            exited = waitpid(pid, &status, WNOHANG) == pid;
            usleep(1000);
        }
        assert_false(exited);
        usleep(2000);   /* into the segment: loading, training or evaluating */
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));

        /* The store is readable and shows the interrupted work as not done. */
        assert_int_equal(store_open(&st, out, &e), 0);
        SegmentStatus *before = calloc((size_t)plan.n_segments, sizeof *before);
        assert_int_equal(store_plan_status(st, &plan, before, &e), 0);
        int done_before = 0;
        for (int i = 0; i < plan.n_segments; i++) done_before += before[i] == SEG_DONE;
        assert_in_range(done_before, kill_at[round] - 1, plan.n_segments - 1);
        store_close(st);
        free(before);
    }

    run_study(ini, out, 0);   /* resumes */
    const char *full = full_study();
    for (int a = 0; a < N_ARMS; a++) {
        ArmResults x, y;
        arm_results(out, "killed", ARMS[a], &x);
        arm_results(full, "tiny", ARMS[a], &y);
        assert_same_results(&x, &y);
    }
    /* One metrics row per step of every segment: the re-run replaced the partial log. */
    assert_int_equal(store_open(&st, out, &e), 0);
    for (int i = 0; i < plan.n_segments; i++) {
        if (plan.segments[i].stage == STAGE_SFT) continue;
        StepMetrics *rows;
        int n;
        assert_int_equal(store_read_metrics(st, plan.segments[i].id, &rows, &n, &e), 0);
        assert_int_equal(n, plan.segments[i].end_step - plan.segments[i].start_step);
        free(rows);
    }
    store_close(st);
    plan_free(&plan);
}

/* The WSD arm rides the WSO trunk until its decay starts, so the study runs
 * fewer pre-training steps than the arms would alone. */
static void wsd_arm_reuses_the_wso_trunk(void **state)
{
    (void)state;
    const char *full = full_study();
    char ini[256];
    snprintf(ini, sizeof ini, "%s/tiny.ini", g_root);
    StudySpec spec;
    Plan plan;
    Err e;
    assert_int_equal(study_spec_load(&spec, ini, &e), 0);
    assert_int_equal(plan_build(&plan, &spec, 0, &e), 0);
    Store *st;
    assert_int_equal(store_open(&st, full, &e), 0);
    /* Steps actually trained, counted from the store's per-step log. */
    int64_t pretrain_rows = 0;
    for (int i = 0; i < plan.n_segments; i++) {
        if (plan.segments[i].stage != STAGE_PRETRAIN) continue;
        StepMetrics *rows;
        int n;
        assert_int_equal(store_read_metrics(st, plan.segments[i].id, &rows, &n, &e), 0);
        pretrain_rows += n;
        free(rows);
    }
    /* wso and wsd0 share steps [0, 4 + 0.75 * 28) = [0, 25); cos0.1 shares the warmup [0, 4). */
    assert_int_equal(pretrain_rows, 32 + (32 - 25) + (32 - 4));
    assert_true(pretrain_rows < N_ARMS * PRETRAIN_STEPS);
    int wso_end = plan.runs[0][0].pretrain_end, wsd_end = plan.runs[1][0].pretrain_end;
    assert_int_equal(plan.segments[wsd_end].start_step, 25);
    assert_int_equal(plan.segments[wsd_end].parent, plan.segments[wso_end].parent);
    store_close(st);
    plan_free(&plan);
}

/* A study of the WSD arm alone trains it as one segment, not as the shared
 * trunk plus a branch; its results and weights are the same bits. */
static void shared_arm_equals_the_arm_run_alone(void **state)
{
    (void)state;
    const char *full = full_study();
    char ini[256], out[256];
    snprintf(ini, sizeof ini, "%s/alone.ini", g_root);
    write_study(ini, ARM_WSD);
    snprintf(out, sizeof out, "%s/alone", g_root);
    run_study(ini, out, 0);
    ArmResults x, y;
    arm_results(out, "alone", "wsd0", &x);
    arm_results(full, "tiny", "wsd0", &y);
    assert_same_results(&x, &y);
    assert_true(x.pt_loss < 6.0);   /* it learned something: ln(400) = 5.99 */

    /* The final weights of pre-training are byte-identical. */
    char a_path[512], b_path[512];
    StudySpec sa, sb;
    Plan pa, pb;
    Err e;
    assert_int_equal(study_spec_load(&sa, ini, &e), 0);
    snprintf(b_path, sizeof b_path, "%s/tiny.ini", g_root);
    assert_int_equal(study_spec_load(&sb, b_path, &e), 0);
    assert_int_equal(plan_build(&pa, &sa, 0, &e), 0);
    assert_int_equal(plan_build(&pb, &sb, 0, &e), 0);
    const PlanSegment *ga = &pa.segments[pa.runs[0][0].pretrain_end], *gb = &pb.segments[pb.runs[1][0].pretrain_end];
    assert_int_equal(ga->start_step, 0);    /* alone: one segment */
    assert_int_equal(gb->start_step, 25);   /* shared: a branch off the trunk */
    snprintf(a_path, sizeof a_path, "%s/segments/%s/step-%08d/model.safetensors", out, ga->id, PRETRAIN_STEPS);
    snprintf(b_path, sizeof b_path, "%s/segments/%s/step-%08d/model.safetensors", full, gb->id, PRETRAIN_STEPS);
    char *da, *db;
    size_t na, nb;
    assert_int_equal(read_file(a_path, &da, &na, &e), 0);
    assert_int_equal(read_file(b_path, &db, &nb, &e), 0);
    assert_int_equal(na, nb);
    assert_true(memcmp(da, db, na) == 0);
    free(da);
    free(db);
    plan_free(&pa);
    plan_free(&pb);
}

/* Re-running a finished study trains nothing and changes no result. */
static void rerun_of_a_finished_study_trains_nothing(void **state)
{
    (void)state;
    const char *full = full_study();
    char ini[256];
    snprintf(ini, sizeof ini, "%s/tiny.ini", g_root);
    ArmResults before, after;
    arm_results(full, "tiny", "wso", &before);
    time_t t0 = time(NULL);
    run_study(ini, full, 0);
    assert_true(time(NULL) - t0 < 20);
    arm_results(full, "tiny", "wso", &after);
    assert_same_results(&before, &after);
}

/* The report exists, names every arm and answers every finding. */
static void report_has_the_table_and_the_findings(void **state)
{
    (void)state;
    const char *full = full_study();
    Err e;
    int rc = study_report(full, &e);
    if (rc) fprintf(stderr, "study_report: %s\n", e.msg);
    assert_int_equal(rc, 0);
    char path[512];
    snprintf(path, sizeof path, "%s/report.md", full);
    char *text;
    size_t n;
    assert_int_equal(read_file(path, &text, &n, &e), 0);
    for (int a = 0; a < N_ARMS; a++) assert_non_null(strstr(text, ARMS[a]));
    /* the regime first, then one line per finding, each with its verdict word */
    const char *regime = strstr(text, "- parameters: ");
    assert_non_null(regime);
    assert_true(regime < strstr(text, "## Results"));
    assert_non_null(strstr(text, "- tokens per parameter: "));
    assert_non_null(strstr(text, "- each pre-training document seen "));
    assert_non_null(strstr(text, "- peak LR 0.003: set in the study file"));
    static const char *const findings[] = {
        "- PT validation loss, WSO - best decay arm (", "- PT task accuracy (%), WSO - best decay arm (",
        "- multiple-choice margin (nats), WSO - best decay arm (", "- SFT exact match (%), WSO - best decay arm (",
        "- SFT answer log-likelihood (nats/token), WSO - best decay arm (",
        "- Tr(H) on PT data at the end of pre-training, wsd0 / WSO: ",
        "- Pearson r, PT-data Tr(H) vs SFT exact match over (arm, seed) models: ", "- Spearman rho, the same points: ",
        "- within-arm r (each arm's means removed), the same points: "};
    for (size_t k = 0; k < sizeof findings / sizeof *findings; k++) {
        const char *line = strstr(text, findings[k]);
        if (!line) fail_msg("report lacks the finding \"%s\"", findings[k]);
        const char *end = strchr(line, '\n');
        int words = 0;
        for (const char *w = line; w && w < end; w = strstr(w + 1, "**"))
            words += !strncmp(w, "**agrees**", 10) || !strncmp(w, "**contradicts**", 15) ||
                     !strncmp(w, "**unresolved**", 14);
        if (words != 1) fail_msg("finding \"%.*s\" has %d verdict words", (int)(end - line), line, words);
    }
    /* the SFT sweep says how far apart its points were */
    assert_non_null(strstr(text, "How far apart the sweep's points were"));
    free(text);
    snprintf(path, sizeof path, "%s/main.csv", full);
    assert_true(file_exists(path));
}

/* The calibration sweep over the whole pre-training (fraction 1) at factor
 * 1 is exactly the study's WSO arm: same init, data order and schedule, so
 * the same PT validation loss bits; calibration.json records the sweep and
 * the report's regime line cites it, unless it measured another setup. */
static void calibration_at_the_study_peak_lr_reproduces_the_wso_arm(void **state)
{
    (void)state;
    const char *full = full_study();
    char ini[256];
    snprintf(ini, sizeof ini, "%s/tiny.ini", g_root);
    Calibration c;
    Err e;
    if (study_calibrate(ini, full, 1.0, 1, 0, &c, &e)) fail_msg("%s", e.msg);
    assert_int_equal(c.n, 5);
    assert_int_equal(c.steps, PRETRAIN_STEPS);
    assert_true(c.points[2].peak_lr == 3e-3);
    ArmResults wso;
    arm_results(full, "tiny", "wso", &wso);
    assert_memory_equal(&c.points[2].valid_loss, &wso.pt_loss, sizeof(double));
    for (int i = 0; i < c.n; i++) assert_true(c.points[c.chosen].valid_loss <= c.points[i].valid_loss);
    char path[512], *text;
    size_t n;
    snprintf(path, sizeof path, "%s/calibration.json", full);
    assert_int_equal(read_file(path, &text, &n, &e), 0);
    cJSON *j = cJSON_Parse(text);   /* valid JSON, the chosen LR exactly */
    free(text);
    if (!j) fail_msg("%s is not JSON", path);
    const cJSON *chosen = cJSON_GetObjectItem(j, "chosen_peak_lr");
    assert_true(cJSON_IsNumber(chosen) && chosen->valuedouble == c.points[c.chosen].peak_lr);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sweep")), 5);
    cJSON_Delete(j);
    assert_int_equal(study_report(full, &e), 0);
    snprintf(path, sizeof path, "%s/report.md", full);
    assert_int_equal(read_file(path, &text, &n, &e), 0);
    char want[128];
    if (c.chosen == 2) snprintf(want, sizeof want, "- peak LR 0.003: chosen by the calibration sweep");
    else snprintf(want, sizeof want, "- peak LR 0.003: set in the study file; the calibration sweep (calibration.json) chose %g",
                  c.points[c.chosen].peak_lr);
    if (!strstr(text, want)) fail_msg("report lacks \"%s\"", want);
    free(text);

    /* a sweep of another setup (here: a preset the study does not use) is named, not cited */
    snprintf(path, sizeof path, "%s/calibration.json", full);
    assert_int_equal(read_file(path, &text, &n, &e), 0);
    j = cJSON_Parse(text);
    free(text);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "setup"), "preset", cJSON_CreateString("other"));
    text = cJSON_Print(j);
    cJSON_Delete(j);
    assert_int_equal(write_file_atomic(path, text, strlen(text), &e), 0);
    free(text);
    assert_int_equal(study_report(full, &e), 0);
    snprintf(path, sizeof path, "%s/report.md", full);
    assert_int_equal(read_file(path, &text, &n, &e), 0);
    const char *other = "- peak LR 0.003: set in the study file, not chosen by measurement: calibration.json measured "
                        "another setup (the sweep trained with preset = \"other\", this study has preset = ";
    if (!strstr(text, other)) fail_msg("report lacks \"%s\"", other);
    free(text);
    remove(path);
    snprintf(path, sizeof path, "%s/calibration.json", full);
    remove(path);
}

/* A three-stage study: mid-training arms branch off the shared pre-training,
 * each base model is evaluated after mid-training, and the report's table
 * gains the MT column. */
static void three_stage_study_runs_mid_training_from_the_shared_pretraining(void **state)
{
    (void)state;
    char ini[256], out[256], text[4096];
    snprintf(ini, sizeof ini, "%s/three.ini", g_root);
    snprintf(out, sizeof out, "%s/three", g_root);
    snprintf(text, sizeof text, "%s%s", STUDY_HEAD,
             "mid_tokens = 4096\n[arm wso]\nschedule = wso\nalpha_mid = 1\n"
             "[arm wsd10]\nschedule = wso\nalpha_mid = 0\n");
    Err e;
    assert_int_equal(write_file_atomic(ini, text, strlen(text), &e), 0);
    run_study(ini, out, 0);
    StudySpec spec;
    Plan plan;
    assert_int_equal(study_spec_load(&spec, ini, &e), 0);
    assert_int_equal(plan_build(&plan, &spec, 0, &e), 0);
    /* Both arms pre-train at a constant LR: one pre-training path, two mid runs. */
    assert_int_equal(plan.runs[0][0].pretrain_end, plan.runs[1][0].pretrain_end);
    assert_true(plan.runs[0][0].mid_end != plan.runs[1][0].mid_end);
    Store *st;
    assert_int_equal(store_open(&st, out, &e), 0);
    ArmValue *v;
    int n;
    assert_int_equal(store_arm_evals(st, "three", "mid_end", "valid", "pt", "loss", &v, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_true(v[0].value != v[1].value);   /* the two mid-training schedules differ */
    free(v);
    store_close(st);
    plan_free(&plan);
    char path[512], *md;
    size_t bytes;
    snprintf(path, sizeof path, "%s/report.md", out);
    assert_int_equal(study_report(out, &e), 0);
    assert_int_equal(read_file(path, &md, &bytes, &e), 0);
    assert_non_null(strstr(md, "| MT task avg |"));
    assert_non_null(strstr(md, "WSD(1,0)"));   /* the paper's three-stage row */
    free(md);
}

/* ---- a study with a WSM arm -------------------------------------------------- */

static void checkpoint_of(Store *st, const char *segment, char *out, size_t size)
{
    SegmentStatus status;
    Err e;
    if (store_segment_status(st, segment, &status, out, size, &e)) fail_msg("%s", e.msg);
    assert_int_equal(status, SEG_DONE);
}

static const char *const CKPT_FILES[] = {"model.safetensors", "train_state.bin", "lineage.json", "config.json"};

static double eval_of(Store *st, const char *segment, const char *suite, const char *task, const char *metric)
{
    double v;
    Err e;
    int found = store_eval(st, segment, suite, task, metric, &v, NULL, &e);
    if (found < 0) fail_msg("%s", e.msg);
    if (!found) fail_msg("segment %s has no %s/%s/%s", segment, suite, task, metric);
    return v;
}

/* The sharpness chart's points: WSO's every probe of its trunk (steps 8,
 * 16, 24, 32 at probe_every 8), the wsm arm only its merge node's own probe
 * at step 32 (not the trunk it shares with WSO); one seed, so the interval
 * is z(0.975) times the probe's standard error. */
static void sharpness_chart_shows_the_merge_as_one_point(const StudySpec *s, Store *st, const char *dir,
                                                         const char *node)
{
    ReportResults R = {.spec = *s, .store = st, .dir = dir};
    TracePoint *wso, *wsm;
    int n_wso, n_wsm;
    Err e;
    if (report_sharpness_points(&R, 0, "pt", &wso, &n_wso, &e) ||
        report_sharpness_points(&R, 1, "pt", &wsm, &n_wsm, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(n_wso, 4);
    for (int p = 0; p < 4; p++) assert_int_equal(wso[p].step, 8 * (p + 1));
    assert_int_equal(n_wsm, 1);
    assert_int_equal(wsm[0].step, 32);
    assert_int_equal(wsm[0].n_seeds, 1);
    SharpnessRecord *sr;
    int m;
    if (store_read_sharpness(st, node, &sr, &m, &e)) fail_msg("%s", e.msg);
    int found = 0;
    for (int j = 0; j < m; j++)
        if (strcmp(sr[j].data, "pt") == 0) {
            assert_true(sr[j].step == 32 && wsm[0].mean == sr[j].trace && wsm[0].trace[0] == sr[j].trace);
            assert_true(fabs(wsm[0].half - 1.959964 * sr[j].std_err) < 1e-5 * sr[j].std_err);
            found++;
        }
    assert_int_equal(found, 1);
    assert_true(wso[3].mean != wsm[0].mean);   /* WSO's end is the last input, not the merge */
    free(sr);
    free(wso);
    free(wsm);
}

/* wso and a WSM arm merging WSO's checkpoints at steps 24, 28 and 32 with
 * cosine weights: the merge node's checkpoint equals train/merge.h's merge
 * of the same trunk checkpoints bit for bit, every (arm, seed) has the new
 * evaluation rows, the report has the section and the lines, and a study
 * stopped after the trunk resumes to the same merge and measures. */
static void a_tiny_study_with_a_wsm_arm_runs_merges_and_measures(void **state)
{
    (void)state;
    char root[256], ini[300], full[300], resumed[300], by_hand[300];
    snprintf(root, sizeof root, "%s/wsm", g_root);
    snprintf(ini, sizeof ini, "%s.ini", root);
    snprintf(full, sizeof full, "%s/full", root);
    snprintf(resumed, sizeof resumed, "%s/resumed", root);
    snprintf(by_hand, sizeof by_hand, "%s/by_hand", root);
    Err e;
    char arms[512];
    snprintf(arms, sizeof arms, "%s[arm wsm]\nschedule = wsm\nmerge_last = 3\nmerge_every = 4\nmerge_weights = cosine\n",
             ARM_WSO);
    write_study(ini, arms);
    run_study(ini, full, 0);

    StudySpec s;
    Plan p;
    if (study_spec_load(&s, ini, &e) || plan_build(&p, &s, 0, &e)) fail_msg("%s", e.msg);
    Store *st;
    if (store_open(&st, full, &e)) fail_msg("%s", e.msg);
    /* the merge node's checkpoint = merge_checkpoints of the trunk's, bit for bit */
    const PlanSegment *node = &p.segments[p.runs[1][0].pretrain_end];
    assert_int_equal(node->n_merge, 3);
    char dirs[3][4096], merged[4096];
    const char *inputs[3];
    for (int j = 0; j < 3; j++) {
        checkpoint_of(st, p.segments[node->merge_inputs[j]].id, dirs[j], sizeof dirs[j]);
        inputs[j] = dirs[j];
    }
    checkpoint_of(st, node->id, merged, sizeof merged);
    MergeWeights w;
    Lineage lin;
    if (merge_weights_parse("cosine", 3, &w, &e) || merge_checkpoints(inputs, 3, &w, by_hand, 0, &lin, &e))
        fail_msg("%s", e.msg);
    for (size_t i = 0; i < sizeof CKPT_FILES / sizeof *CKPT_FILES; i++)
        assert_same_checkpoint_file(merged, by_hand, CKPT_FILES[i]);
    assert_int_equal(lin.n_merged, 3);
    assert_int_equal(lin.merged[0].step, 24);
    assert_int_equal(lin.merged[2].step, 32);

    /* the new evaluation rows of every (arm, seed) */
    for (int a = 0; a < 2; a++) {
        const char *base = p.segments[p.runs[a][0].pretrain_end].id, *sft = p.segments[p.runs[a][0].sft[0]].id;
        double eig = eval_of(st, base, "precond", "pt", "top_eig");
        double lr = eval_of(st, base, "precond", "pt", "lr");
        assert_true(eig > 0 && isfinite(eig));
        assert_true(lr == 3e-3);   /* both end at WSO's peak */
        assert_true(fabs(eval_of(st, base, "precond", "pt", "threshold") / (3.8 / (0.1 * 3e-3)) - 1) < 1e-6);
        double forgetting = eval_of(st, sft, "sft_change", "pt", "forgetting");
        double before = eval_of(st, base, "valid", "pt", "loss");
        double after = forgetting + before;   /* the same windows as the base's PT validation loss */
        assert_true(isfinite(after) && after > 0);
        double dist = eval_of(st, sft, "sft_change", "weights", "rel_distance");
        assert_true(dist > 0 && dist < 1);
        assert_true(eval_of(st, sft, "sft_change", "sft", "trace") != 0);
    }
    /* the report has the section and the lines */
    char report[400], *text;
    size_t bytes;
    snprintf(report, sizeof report, "%s/report.md", full);
    if (study_report(full, &e) || read_file(report, &text, &bytes, &e)) fail_msg("%s", e.msg);
    assert_non_null(strstr(text, "## What SFT changes per base model"));
    assert_non_null(strstr(text, "| wsm | "));
    assert_non_null(strstr(text, "top eigenvalue of P^-1 H at the end of pre-training (8 sequences), wsm / WSO"));
    free(text);
    sharpness_chart_shows_the_merge_as_one_point(&s, st, full, node->id);

    /* stopped after the trunk, resumed: the same merged checkpoint and measures */
    run_study(ini, resumed, 4);   /* 4 of the trunk's 5 segments ([0, 8) .. [24, 28)) */
    run_study(ini, resumed, 0);
    Store *st2;
    if (store_open(&st2, resumed, &e)) fail_msg("%s", e.msg);
    char merged2[4096];
    checkpoint_of(st2, node->id, merged2, sizeof merged2);
    for (size_t i = 0; i < 2; i++)   /* weights and optimizer state (the lineage names the folder's data) */
        assert_same_checkpoint_file(merged, merged2, CKPT_FILES[i]);
    const char *sft = p.segments[p.runs[1][0].sft[0]].id;
    assert_true(eval_of(st, node->id, "precond", "pt", "top_eig") == eval_of(st2, node->id, "precond", "pt", "top_eig"));
    assert_true(eval_of(st, sft, "sft_change", "pt", "forgetting") ==
                eval_of(st2, sft, "sft_change", "pt", "forgetting"));
    store_close(st2);
    store_close(st);
    plan_free(&p);
}

/* The nano preset's 256 tokens cannot hold a study's tokenizer (256 bytes
 * and the chat template's special tokens): without a vocab key the study
 * trains its tokenizer, and sizes its model, at STUDY_VOCAB_MIN. */
static void nano_study_without_a_vocab_key_runs_at_the_smallest_study_vocabulary(void **state)
{
    (void)state;
    static const char text[] =
        "[study]\nworld = bios\npeople = 40\npreset = nano\nseeds = 7\npretrain_tokens = 4096\nsft_epochs = 1\n"
        "batch_tokens = 512\nmicro_batch = 8\nseq_len = 64\npeak_lr = 3e-3\nwarmup_steps = 1\nsft_lrs = 1e-3\n"
        "sft_warmup_steps = 1\nprobes = 1\nprobe_sequences = 1\neval_items = 4\n[arm wso]\nschedule = wso\n";
    char ini[256], out[256], path[512];
    snprintf(ini, sizeof ini, "%s/nano.ini", g_root);
    snprintf(out, sizeof out, "%s/nano", g_root);
    Err e;
    assert_int_equal(write_file_atomic(ini, text, strlen(text), &e), 0);
    run_study(ini, out, 0);
    snprintf(path, sizeof path, "%s/results.sqlite", out);
    assert_int_equal(query_count(path, "SELECT count(*) FROM segments WHERE status != 'done'"), 0);
    assert_int_equal(query_count(path, "SELECT count(*) FROM segments"), 2);   /* pre-training, one SFT run */
    Tokenizer *tk;
    snprintf(path, sizeof path, "%s/data/tokenizer.json", out);
    assert_int_equal(tokenizer_load(&tk, path, &e), 0);
    assert_int_equal(tokenizer_vocab_size(tk), STUDY_VOCAB_MIN);
    tokenizer_free(tk);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/plateau-runner-XXXXXX");
    return mkdtemp(g_root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (strncmp(g_root, "/tmp/plateau-runner-", 20) == 0) nftw(g_root, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(killed_study_resumes_to_the_results_of_an_uninterrupted_one),
        cmocka_unit_test(wsd_arm_reuses_the_wso_trunk),
        cmocka_unit_test(shared_arm_equals_the_arm_run_alone),
        cmocka_unit_test(rerun_of_a_finished_study_trains_nothing),
        cmocka_unit_test(estimate_prepares_the_study_and_trains_nothing),
        cmocka_unit_test(report_has_the_table_and_the_findings),
        cmocka_unit_test(calibration_at_the_study_peak_lr_reproduces_the_wso_arm),
        cmocka_unit_test(three_stage_study_runs_mid_training_from_the_shared_pretraining),
        cmocka_unit_test(a_tiny_study_with_a_wsm_arm_runs_merges_and_measures),
        cmocka_unit_test(nano_study_without_a_vocab_key_runs_at_the_smallest_study_vocabulary),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
