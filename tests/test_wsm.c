/* The WSM arm of a study and the per-model measures: the study file's merge
 * keys and their errors, the merge node of the plan, the findings lines on
 * hand-set numbers, and a tiny study with a wsm arm end to end (its merged
 * checkpoint equals train/merge.h's merge of the same trunk checkpoints bit
 * for bit, the new evaluation rows are in the store, and a study stopped
 * before the merge resumes to the same bits). */
#define _GNU_SOURCE   /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "study/findings.h"
#include "study/plan.h"
#include "study/report.h"
#include "study/runner.h"
#include "study/spec.h"
#include "study/store.h"
#include "support/checkpoint_files.h"
#include "support/tiny_study.h"
#include "train/merge.h"

/* A two-stage study of 200 pre-training steps; arms start at line 15. */
static const char BASE[] =
    "[study]\n"
    "world = bios\n"
    "people = 100\n"
    "preset = nano\n"
    "seeds = 1\n"
    "pretrain_tokens = 25600\n"
    "sft_tokens = 1280\n"
    "batch_tokens = 128\n"
    "micro_batch = 2\n"
    "seq_len = 64\n"
    "peak_lr = 1e-3\n"
    "warmup_steps = 20\n"
    "sft_lrs = 1e-4\n"
    "sft_warmup_steps = 2\n";

static int parse_with(StudySpec *s, const char *study_extra, const char *arms, Err *e)
{
    char text[8192];
    snprintf(text, sizeof text, "%s%s%s", BASE, study_extra, arms);
    return study_spec_parse(s, "x.ini", text, e);
}

static void expect_error(const char *study_extra, const char *arms, const char *message)
{
    StudySpec s;
    Err e = {{0}};
    int rc = parse_with(&s, study_extra, arms, &e);
    if (rc == 0 || strcmp(e.msg, message) != 0) fprintf(stderr, "got: %s\nwant: %s\n", rc ? e.msg : "(no error)", message);
    assert_int_equal(rc, -1);
    assert_string_equal(e.msg, message);
}

static void wsm_keys_are_checked_with_one_clear_message(void **state)
{
    (void)state;
    expect_error("", "[arm m]\nschedule = wsm\nmerge_last = 5\nmerge_every = 41\n",
                 "x.ini:18: [arm m] merge_every = 41: merge_last x merge_every = 205 exceeds the 200 pre-training "
                 "steps (the oldest merged checkpoint must be after step 0)");
    expect_error("", "[arm m]\nschedule = wsm\nmerge_last = 3\nmerge_every = 10\nmerge_weights = 0.5,0.5\n",
                 "x.ini:19: [arm m] merge_weights = 0.5,0.5: merge weights '0.5,0.5': 2 weights given, 3 checkpoints "
                 "to merge");
    expect_error("", "[arm m]\nschedule = wsm\nmerge_last = 2\nmerge_every = 10\nmerge_weights = 0.5,0.6\n",
                 "x.ini:19: [arm m] merge_weights = 0.5,0.6: merge weights '0.5,0.6': they sum to 1.1, expected 1");
    expect_error("", "[arm w]\nschedule = wso\nmerge_last = 3\n",
                 "x.ini:17: [arm w] merge_last: only used by schedule = wsm");
    expect_error("", "[arm d]\nschedule = wsd\nalpha_pre = 0\nmerge_weights = uniform\n",
                 "x.ini:18: [arm d] merge_weights: only used by schedule = wsm");
    expect_error("", "[arm m]\nschedule = wsm\nmerge_last = 3\n",
                 "x.ini:15: [arm m] schedule = wsm is missing merge_every (pre-training steps between them, >= 1)");
    expect_error("", "[arm m]\nschedule = wsm\nmerge_last = 1\nmerge_every = 10\n",
                 "x.ini:17: [arm m] merge_last = 1: expected a number of checkpoints in [2, 64]");
    expect_error("mid_tokens = 1280\n", "[arm m]\nschedule = wsm\nmerge_last = 2\nmerge_every = 10\nalpha_mid = 1\n",
                 "x.ini:16: [arm m] schedule = wsm: only in two-stage studies (mid_tokens = 0)");
    expect_error("precond_steps = -1\n", "[arm w]\nschedule = wso\n",
                 "x.ini:15: [study] precond_steps = -1: expected a number of Lanczos steps in [0, 1000] (0: no P^-1 H "
                 "eigenvalue)");
    StudySpec s;
    Err e;
    if (parse_with(&s, "", "[arm w]\nschedule = wso\n", &e)) fail_msg("%s", e.msg);
    assert_int_equal(s.precond_steps, 8);   /* the default */
    expect_error("", "[arm m]\nschedule = wsx\n", "x.ini:16: [arm m] schedule = wsx: expected wso, wsd, cosine, "
                                                  "linear or wsm");
}

/* wso, wsd0 and a wsm arm merging K = 4 checkpoints every 10 steps with the
 * 1-sqrt weights: the WSO trunk ends at steps 170, 180, 190 and 200, the merge
 * node's inputs are those four segments oldest first, its parent is WSO's
 * pre-training end, its weights are merge.h's, and its SFT starts from it. */
static void the_plan_ends_the_trunk_at_the_merge_steps_and_adds_a_merge_node(void **state)
{
    (void)state;
    StudySpec s;
    Plan p;
    Err e;
    const char *arms = "[arm wso]\nschedule = wso\n[arm wsd0]\nschedule = wsd\nalpha_pre = 0\n"
                       "[arm m]\nschedule = wsm\nmerge_last = 4\nmerge_every = 10\nmerge_weights = 1-sqrt\n";
    if (parse_with(&s, "", arms, &e) || plan_build(&p, &s, 0, &e)) fail_msg("%s", e.msg);
    assert_true(s.arms[2].wsm && s.arms[2].schedule == SCHED_WSO && s.arms[2].alpha_pre == 1.0);
    assert_false(arm_decays(&s, &s.arms[2]));
    assert_false(arm_is_wso(&s, &s.arms[2]));
    assert_true(arm_is_wso(&s, &s.arms[0]));
    const ArmRun *wso = &p.runs[0][0], *m = &p.runs[2][0];
    const PlanSegment *node = &p.segments[m->pretrain_end];
    assert_int_equal(node->n_merge, 4);
    assert_int_equal(node->start_step, 200);
    assert_int_equal(node->end_step, 200);
    assert_int_equal(node->parent, wso->pretrain_end);
    assert_true(node->arms == 1u << 2);
    double c[4];
    merge_wsm_weights(MERGE_SQRT, 4, c);
    for (int j = 0; j < 4; j++) {
        const PlanSegment *in = &p.segments[node->merge_inputs[j]];
        assert_int_equal(in->end_step, 170 + 10 * j);
        assert_true(in->arms & 1u);   /* WSO's own trunk */
        assert_true(node->merge.c[j] == c[j]);
        if (j > 0) assert_int_equal(in->parent, node->merge_inputs[j - 1]);
    }
    assert_int_equal(node->merge_inputs[3], wso->pretrain_end);
    assert_int_equal(m->base, m->pretrain_end);
    assert_int_equal(p.segments[m->sft[0]].parent, m->pretrain_end);
    assert_true(plan_ends_stage(&p, m->pretrain_end));
    /* the merge weights are part of the node's id; the trunk's ids are not changed by them */
    StudySpec s2;
    Plan p2;
    const char *arms2 = "[arm wso]\nschedule = wso\n[arm wsd0]\nschedule = wsd\nalpha_pre = 0\n"
                        "[arm m]\nschedule = wsm\nmerge_last = 4\nmerge_every = 10\n";
    if (parse_with(&s2, "", arms2, &e) || plan_build(&p2, &s2, 0, &e)) fail_msg("%s", e.msg);
    assert_string_not_equal(p2.segments[p2.runs[2][0].pretrain_end].id, node->id);
    assert_string_equal(p2.segments[p2.runs[0][0].pretrain_end].id, p.segments[wso->pretrain_end].id);
    /* printed */
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    plan_print(&p, fp);
    fclose(fp);
    char want[128];
    snprintf(want, sizeof want, "merge    at 200, no steps");
    if (!strstr(text, want) || !strstr(text, "merge last 4 every 10 weights 1-sqrt: #"))
        fail_msg("plan print lacks the merge node:\n%s", text);
    free(text);
    plan_free(&p);
    plan_free(&p2);
}

static void make_temp_dir(char *out, size_t size)
{
    snprintf(out, size, "/tmp/plateau-wsm-XXXXXX");
    assert_non_null(mkdtemp(out));
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_temp_dir(const char *dir)
{
    assert_int_equal(strncmp(dir, "/tmp/plateau-wsm-", 17), 0);
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Findings from hand-set numbers, arms wso, d (wsd to 0) and m (wsm), seeds
 * 1, 2, 3 (t(0.975, 2) = 4.302653):
 *   forgetting  wso 0.10 0.12 0.11, d 0.15 0.16 0.18: differences -0.05
 *               -0.04 -0.07, mean -0.05333, se 0.0088192: [-0.09128,
 *               -0.01539], below 0 as the flat-minimum account predicts: agrees;
 *   distance    wso 0.02 0.03 0.025, d 0.02 each: mean 0.005, se 0.0028868:
 *               [-0.00742, 0.01742]: unresolved;
 *   PT loss     m 2.30 2.40 2.36 - d 2.40 2.48 2.46: -0.10 -0.08 -0.10, mean
 *               -0.09333, se 0.0066667: [-0.12202, -0.06465]: agrees (lower);
 *   SFT EM      m 75 50 100 - d 50 50 50 (no items stored: paired t): mean 25,
 *               se 14.434: [-37.1, 87.1]: unresolved;
 *   Tr(H)       m / wso = 150/100, 180/120, 100/80: log ratios 0.405465
 *               0.405465 0.223144, mean 0.344691, se 0.060774: exp ->
 *               1.4116 [1.0868, 1.8334]: above 1: agrees;
 *   P^-1 H      m / wso = 1500/3000, 1650/3300, 1350/2700: 0.5 every seed,
 *               [0.50, 0.50], below 1: agrees. */
static void findings_of_the_new_measures_from_a_hand_set_store(void **state)
{
    (void)state;
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    StudySpec s;
    Plan p;
    Err e;
    if (parse_with(&s, "", "[arm wso]\nschedule = wso\n[arm d]\nschedule = wsd\nalpha_pre = 0\n"
                           "[arm m]\nschedule = wsm\nmerge_last = 2\nmerge_every = 10\n", &e))
        fail_msg("%s", e.msg);
    s.n_seeds = 3;
    s.seeds[1] = 2;
    s.seeds[2] = 3;
    if (plan_build(&p, &s, 0, &e)) fail_msg("%s", e.msg);
    Store *st;
    if (store_open(&st, dir, &e) || store_register_plan(st, &p, &e)) fail_msg("%s", e.msg);
    const double loss[3][3] = {{2.50, 2.60, 2.55}, {2.40, 2.48, 2.46}, {2.30, 2.40, 2.36}};
    const double forget[3][3] = {{0.10, 0.12, 0.11}, {0.15, 0.16, 0.18}, {0.2, 0.2, 0.2}};
    const double dist[3][3] = {{0.02, 0.03, 0.025}, {0.02, 0.02, 0.02}, {0.03, 0.03, 0.03}};
    const double em[3][3] = {{0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0.75, 0.5, 1.0}};
    const double trace[3][3] = {{100, 120, 80}, {100, 100, 100}, {150, 180, 100}};
    const double eig[3][3] = {{3000, 3300, 2700}, {1000, 1000, 1000}, {1500, 1650, 1350}};
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < 3; k++) {
            const PlanSegment *base = &p.segments[p.runs[a][k].pretrain_end];
            const char *sft = p.segments[p.runs[a][k].sft[0]].id;
            EvalRow ev = {.task = "pt", .metric = "loss", .value = loss[a][k], .std_err = 0.01, .n = 1000};
            EvalRow pre[2] = {{.task = "pt", .metric = "top_eig", .value = eig[a][k], .std_err = NAN, .n = 2},
                              {.task = "pt", .metric = "threshold", .value = 38000, .std_err = NAN, .n = 0}};
            EvalRow sc[3] = {{.task = "pt", .metric = "forgetting", .value = forget[a][k], .std_err = NAN, .n = 100},
                             {.task = "weights", .metric = "rel_distance", .value = dist[a][k], .std_err = NAN, .n = 9},
                             {.task = "sft", .metric = "trace", .value = 50 + a, .std_err = 1, .n = 10}};
            EvalRow sfte = {.task = "average", .metric = "exact_match", .value = em[a][k], .n = 4};
            TraceEstimate sh = {trace[a][k], 1.0, 50};
            if (store_record_evals(st, base->id, 200, "valid", &ev, 1, &e) ||
                store_record_evals(st, base->id, 200, "precond", pre, 2, &e) ||
                store_record_sharpness(st, base->id, base->end_step, "pt", &sh, NAN, &e) ||
                store_record_evals(st, sft, 10, "sft", &sfte, 1, &e) ||
                store_record_evals(st, sft, 10, "sft_change", sc, 3, &e) ||
                store_choose_sft_lr(st, s.name, s.arms[a].name, s.seeds[k], s.sft_lrs[0], &e))
                fail_msg("%s", e.msg);
        }
    ModelMeasures *mm = malloc(sizeof *mm);
    if (model_measures_load(mm, &s, st, &e)) fail_msg("%s", e.msg);
    assert_true(mm->forgetting[1][2] == 0.18 && mm->rel_distance[0][1] == 0.03 && mm->sft_trace[2][0] == 52 &&
                mm->sft_trace_se[2][0] == 1 && mm->precond_eig[2][1] == 1650 && mm->threshold[0][0] == 38000);
    free(mm);
    Findings *f = malloc(sizeof *f);
    if (findings_compute(f, &s, st, &e)) fail_msg("%s", e.msg);
    char *md = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&md, &len);
    findings_write(fp, f);
    fclose(fp);
    const char *want[] = {
        "- forgetting after SFT (nats/token), WSO - best decay arm (d): -0.0533 [-0.0913, -0.0154] **agrees** "
        "(paired t over seeds, 3 seeds; flat-minimum prediction: lower for WSO)\n",
        "- relative weight distance of SFT, WSO - best decay arm (d): +0.0050 [-0.0074, +0.0174] **unresolved**",
        "- PT validation loss, m - best WSD arm (d): -0.093 [-0.122, -0.065] **agrees** (paired t over seeds, 3 "
        "seeds; WSM's claim (Tian et al. 2025): lower for WSM)\n",
        "- SFT exact match (%), m - best WSD arm (d): +25.0 [-37.1, +87.1] **unresolved**",
        "- Tr(H) on PT data at the end of pre-training, m / WSO: 1.41x [1.09, 1.83] **agrees** (paired t over seeds "
        "of the log ratio, 3 seeds; a merge acting as a decay is sharper, as the paper's decay arms are (about "
        "2-3x))\n",
        "- top eigenvalue of P^-1 H at the end of pre-training (2 sequences), m / WSO: 0.50x [0.50, 0.50] **agrees** "
        "(paired t over seeds of the log ratio, 3 seeds; Cohen et al. 2022: a decay releases it, so below 1 if the "
        "merge acts as one)\n",
        /* the wsm arm is neither WSO nor a decay arm of the paper's findings */
        "- PT validation loss, WSO - best decay arm (d): +0.103 [+0.065, +0.141] **agrees**",
        "- Tr(H) on PT data at the end of pre-training, d / WSO:"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(md, want[i])) fail_msg("findings lack\n%s\nin\n%s", want[i], md);
    assert_null(strstr(md, "m / WSO: 1.41x [1.09, 1.83] **agrees** (paired t over seeds of the log ratio, 3 seeds; "
                           "paper"));
    assert_null(strstr(md, "best decay arm (m)"));
    free(md);
    free(f);
    store_close(st);
    plan_free(&p);
    remove_temp_dir(dir);
}

/* ---- a tiny study with a wsm arm, end to end ------------------------------- */

static const char TINY[] =
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
    "sft_lrs = 1e-3\n"
    "sft_warmup_steps = 1\n"
    "sft_batch_tokens = 1024\n"
    "probes = 3\n"
    "probe_every = 0\n"
    "probe_sequences = 2\n"
    "eval_items = 12\n"
    "[arm wso]\nschedule = wso\n"
    "[arm wsm]\nschedule = wsm\nmerge_last = 3\nmerge_every = 4\nmerge_weights = cosine\n";

static void run_study(const char *ini, const char *out, int max_segments)
{
    StudyRunOptions o = {1, max_segments};
    Err e;
    int rc = study_run(ini, out, &o, &e);
    if (rc) fprintf(stderr, "study_run: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

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

static void a_tiny_study_with_a_wsm_arm_runs_merges_and_measures(void **state)
{
    (void)state;
    char root[256], ini[300], full[300], resumed[300], by_hand[300];
    make_temp_dir(root, sizeof root);
    snprintf(ini, sizeof ini, "%s/wsm.ini", root);
    snprintf(full, sizeof full, "%s/full", root);
    snprintf(resumed, sizeof resumed, "%s/resumed", root);
    snprintf(by_hand, sizeof by_hand, "%s/by_hand", root);
    Err e;
    assert_int_equal(write_file_atomic(ini, TINY, strlen(TINY), &e), 0);
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
    if (merge_weights_parse("cosine", 3, &w, &e) || merge_checkpoints(inputs, 3, &w, by_hand, &lin, &e))
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

    /* stopped after the trunk, resumed: the same merged checkpoint and measures */
    run_study(ini, resumed, 3);   /* the three trunk segments */
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
    remove_temp_dir(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wsm_keys_are_checked_with_one_clear_message),
        cmocka_unit_test(the_plan_ends_the_trunk_at_the_merge_steps_and_adds_a_merge_node),
        cmocka_unit_test(findings_of_the_new_measures_from_a_hand_set_store),
        cmocka_unit_test(a_tiny_study_with_a_wsm_arm_runs_merges_and_measures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
