/* Stages from the command line: a run killed with SIGKILL and resumed ends
 * bit-identical to one never stopped; a WSD arm is the WSO trunk until its
 * decay starts and can branch from the trunk's checkpoint; pretrain -> mid
 * -> sft chain their lineage, counters and optimizer state as specified;
 * the same three stages run by `plateau train` and by a study give the same
 * checkpoints. Runs ./plateau (or $PLATEAU_BIN), built by `make` before the
 * tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "data/shard.h"
#include "model/config.h"
#include "support/checkpoint_files.h"
#include "support/plateau_cli.h"
#include "study/plan.h"
#include "study/spec.h"
#include "study/store.h"
#include "support/tiny_study.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/schedule.h"

static char g_root[256];

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_root, name); }

static void write_shards(void)
{
    static const char text[] = "the quick brown fox jumps over the lazy dog; pack my box with five dozen jugs. ";
    uint16_t tok[4000], mask[4000];
    for (int i = 0; i < 4000; i++) {
        tok[i] = (uint16_t)(unsigned char)text[i % (sizeof text - 1)];
        mask[i] = (i % 10) >= 6;   /* 4 in 10 targets count, as an SFT answer would */
    }
    char p[512];
    Err e;
    path_in(p, sizeof p, "train.bin");
    assert_int_equal(shard_write(p, tok, 4000, &e), 0);
    for (int i = 0; i < 4000; i++) tok[i] = (uint16_t)(tok[i] ^ 1);
    path_in(p, sizeof p, "mid.bin");
    assert_int_equal(shard_write(p, tok, 4000, &e), 0);
    path_in(p, sizeof p, "sft.bin");
    assert_int_equal(shard_write(p, tok, 4000, &e), 0);
    path_in(p, sizeof p, "sft_mask.bin");
    assert_int_equal(shard_write(p, mask, 4000, &e), 0);
}

static int setup(void **state)
{
    (void)state;
    if (cli_setup("stages", g_root, sizeof g_root)) return -1;
    write_shards();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return cli_teardown();
}

static char *slurp(const char *dir, const char *name, size_t *n)
{
    char p[1024], *text;
    Err e;
    path_join(p, sizeof p, dir, name);
    if (read_file(p, &text, n, &e)) fail_msg("%s", e.msg);
    return text;
}

static void assert_different_file(const char *dir_a, const char *dir_b, const char *name)
{
    size_t na, nb;
    char *a = slurp(dir_a, name, &na), *b = slurp(dir_b, name, &nb);
    if (na == nb && memcmp(a, b, na) == 0) fail_msg("%s is the same in %s and %s", name, dir_a, dir_b);
    free(a);
    free(b);
}

static void load(const char *dir, Lineage *lin, AdamW *opt) { free(checkpoint_files_load(dir, lin, opt, NULL)); }

#define TRAIN_ARGS(out, steps) \
    "train", "--preset", "nano", "--seed", "5", "--data", train_bin, "--steps", steps, "--lr", "3e-3", \
        "--micro-batch", "4", "--seq-len", "32", "--batch-tokens", "256", "--ckpt-every", "10", "--out", out, \
        "--quiet", "--log-every", "0"

/* Trains 150 steps in one go and, in `killed`, with SIGKILLs after
 * checkpoints and resumes; the two final checkpoints must be identical. */
static void kill_resume_and_compare(const char *precision, char *killed, size_t killed_size)
{
    char train_bin[512], whole[512], a[1024], b[1024], out[8192], name[64];
    path_in(train_bin, sizeof train_bin, "train.bin");
    snprintf(name, sizeof name, "whole-%s", precision);
    path_in(whole, sizeof whole, name);
    snprintf(name, sizeof name, "killed-%s", precision);
    path_in(killed, killed_size, name);
    const char *uninterrupted[] = {TRAIN_ARGS(whole, "150"), "--precision", precision, NULL};
    cli_run_ok(uninterrupted);

    /* Kill the run as soon as a checkpoint appears (so at whatever step it
     * has reached, possibly in the middle of writing the next checkpoint),
     * resume, kill again, ... then let it finish. */
    const char *resumed[] = {TRAIN_ARGS(killed, "150"), "--resume", "--precision", precision, NULL};
    int kills = 0;
    for (int at = 20; at <= 100; at += 40) {
        pid_t pid = cli_spawn(resumed);
        checkpoint_step_path(a, sizeof a, killed, at);
        struct timespec ms = {0, 200000};
        int status;
        while (!file_exists(a) && waitpid(pid, &status, WNOHANG) == 0) nanosleep(&ms, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        kills += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        int64_t reached = 0;
        checkpoint_latest(killed, b, sizeof b, &reached, &(Err){{0}});
        printf("    killed after checkpoint %d was written; latest checkpoint on disk: step %lld\n", at,
               (long long)reached);
    }
    assert_true(kills >= 1);   /* the runs are far slower than the polling */
    int rc = cli_run(resumed, out, sizeof out);
    if (rc) fail_msg("resume exited %d:\n%s", rc, out);
    assert_non_null(strstr(out, "resumed from"));

    checkpoint_step_path(a, sizeof a, whole, 150);
    checkpoint_step_path(b, sizeof b, killed, 150);
    assert_same_checkpoint_file(a, b, "model.safetensors");
    assert_same_checkpoint_file(a, b, "train_state.bin");
    Lineage la, lb;
    AdamW oa, ob;
    load(a, &la, &oa);
    load(b, &lb, &ob);
    assert_string_equal(la.id, lb.id);   /* weights, moments and lineage alike */
    assert_int_equal(lb.step, 150);
    assert_int_equal(lb.tokens, 150 * 256);
    assert_int_equal(ob.t, 150);
    assert_string_equal(lb.precision, precision);
    printf("    %s: the killed and resumed run ends identical to the uninterrupted one (id %s)\n", precision, lb.id);
    adamw_free(&oa);
    adamw_free(&ob);
}

/* In both precisions; then the refusals and the no-op resume. */
static void resume_after_sigkill_is_bit_identical(void **state)
{
    (void)state;
    char train_bin[512], killed[512], fp32[512], a[1024], b[1024], out[8192];
    path_in(train_bin, sizeof train_bin, "train.bin");
    kill_resume_and_compare("fp32", fp32, sizeof fp32);
    kill_resume_and_compare("bf16", killed, sizeof killed);
    const char *resumed[] = {TRAIN_ARGS(killed, "150"), "--resume", "--precision", "bf16", NULL};
    checkpoint_step_path(a, sizeof a, fp32, 150);
    checkpoint_step_path(b, sizeof b, killed, 150);
    assert_different_file(a, b, "model.safetensors");   /* the precision did change the bits */

    /* Resuming with other data or another seed is refused, naming what changed. */
    char mid_bin[512];
    path_in(mid_bin, sizeof mid_bin, "mid.bin");
    const char *other_data[] = {TRAIN_ARGS(killed, "150"), "--resume", NULL};
    other_data[6] = mid_bin;
    assert_int_equal(cli_run(other_data, out, sizeof out), 1);
    assert_non_null(strstr(out, "the data differs from the run being resumed"));
    const char *other_seed[] = {TRAIN_ARGS(killed, "150"), "--resume", NULL};
    other_seed[4] = "6";
    assert_int_equal(cli_run(other_seed, out, sizeof out), 1);
    assert_non_null(strstr(out, "--resume: --seed differs"));
    const char *other_precision[] = {TRAIN_ARGS(killed, "150"), "--resume", "--precision", "fp32", NULL};
    assert_int_equal(cli_run(other_precision, out, sizeof out), 1);
    /* naming both precisions, not the schedule */
    if (!strstr(out, "--resume: --precision differs from the run in ") ||
        !strstr(out, "(it has bf16, this command fp32)"))
        fail_msg("resume with another precision said:\n%s", out);

    /* Resuming a finished run changes nothing, and names the checkpoint it
     * ends at with its id. */
    Lineage la, lb;
    AdamW oa, ob;
    load(b, &la, &oa);
    int rc = cli_run(resumed, out, sizeof out);
    if (rc) fail_msg("resume of a finished run exited %d:\n%s", rc, out);
    char done[1200];
    snprintf(done, sizeof done, "train: done at step 150, %d tokens, checkpoint %s (id %s)\n", 150 * 256, b, la.id);
    if (!strstr(out, done)) fail_msg("expected \"%s\" in:\n%s", done, out);
    load(b, &lb, &ob);
    assert_string_equal(la.id, lb.id);
    adamw_free(&oa);
    adamw_free(&ob);
}

/* A tokenizer that cannot go into the checkpoints stops the run before its
 * first step, not when the first checkpoint is written. */
static void a_bad_tokenizer_is_refused_before_the_first_step(void **state)
{
    (void)state;
    char train_bin[512], run_dir[512], missing[512], out[8192];
    path_in(train_bin, sizeof train_bin, "train.bin");
    path_in(run_dir, sizeof run_dir, "bad-tokenizer");
    path_in(missing, sizeof missing, "no-such-tokenizer.json");
    const char *args[] = {"train", "--preset", "nano", "--seed", "5", "--data", train_bin, "--steps", "20",
                          "--micro-batch", "4", "--seq-len", "32", "--batch-tokens", "256", "--out", run_dir,
                          "--tokenizer", missing, "--log-every", "1", NULL};
    assert_int_equal(cli_run(args, out, sizeof out), 1);
    assert_non_null(strstr(out, "no-such-tokenizer.json"));
    assert_null(strstr(out, "| loss"));
    assert_false(file_exists(run_dir));
}

/* train and schedule agree with the study files: a schedule whose decay
 * phase gets no step (wsd over 7 steps with 5 of warmup: the stable phase
 * ends at 5 + round(0.75 x 2) = 7) is refused before anything is trained,
 * instead of training at the peak to the end while reporting its alpha. */
static void train_and_schedule_refuse_a_decay_that_gets_no_step(void **state)
{
    (void)state;
    char train_bin[512], run_dir[512], out[8192];
    path_in(train_bin, sizeof train_bin, "train.bin");
    path_in(run_dir, sizeof run_dir, "no-decay");
    const char *train[] = {TRAIN_ARGS(run_dir, "7"), "--schedule", "wsd", "--warmup", "5", "--alpha", "0.1", NULL};
    assert_int_equal(cli_run(train, out, sizeof out), 2);   /* the command line's error (cli/args.h) */
    const char *want = "the decay phase gets 0 of 7 steps (warmup 5, then the stable phase";
    if (!strstr(out, want)) fail_msg("train said:\n%s", out);
    assert_false(file_exists(run_dir));
    const char *schedule[] = {"schedule", "--schedule", "wsd", "--steps", "7", "--warmup", "5", "--alpha", "0.1", NULL};
    assert_int_equal(cli_run(schedule, out, sizeof out), 2);
    if (!strstr(out, want)) fail_msg("schedule said:\n%s", out);
    const char *cosine[] = {TRAIN_ARGS(run_dir, "7"), "--schedule", "cosine", "--warmup", "7", NULL};
    assert_int_equal(cli_run(cosine, out, sizeof out), 2);
    if (!strstr(out, "schedule cosine: the decay phase gets 0 of 7 steps (warmup 7)")) fail_msg("train said:\n%s", out);
    /* one step more and the decay has its step: the run is accepted */
    const char *eight[] = {TRAIN_ARGS(run_dir, "8"), "--schedule", "wsd", "--warmup", "5", "--alpha", "0.1", NULL};
    cli_run_ok(eight);
}

static void damaged_checkpoints_are_refused_naming_the_file(void **state)
{
    (void)state;
    char train_bin[512], run_dir[512], ck[1024], out[8192], p[1100];
    path_in(train_bin, sizeof train_bin, "train.bin");
    path_in(run_dir, sizeof run_dir, "damaged");
    const char *first[] = {TRAIN_ARGS(run_dir, "20"), NULL};
    cli_run_ok(first);
    checkpoint_step_path(ck, sizeof ck, run_dir, 20);

    /* truncated weights */
    path_join(p, sizeof p, ck, "model.safetensors");
    struct stat st;
    stat(p, &st);
    assert_int_equal(truncate(p, st.st_size - 8), 0);
    char other[512];
    path_in(other, sizeof other, "from-damaged");
    const char *from[] = {"train", "--init", ck, "--data", train_bin, "--steps", "5", "--out", other, "--quiet", NULL};
    assert_int_equal(cli_run(from, out, sizeof out), 1);
    assert_non_null(strstr(out, "plateau: "));
    assert_non_null(strstr(out, "step-00000020/model.safetensors: truncated: "));
    assert_null(strstr(out, "skipping"));
    assert_false(file_exists(other));

    /* a run directory that holds checkpoints is not overwritten by accident */
    assert_int_equal(cli_run(first, out, sizeof out), 1);
    assert_non_null(strstr(out, "already holds checkpoints"));

    /* one flipped bit in the optimizer state */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", run_dir);
    assert_int_equal(system(cmd), 0);
    cli_run_ok(first);
    path_join(p, sizeof p, ck, "train_state.bin");
    FILE *fp = fopen(p, "r+b");
    fseek(fp, 100, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, 100, SEEK_SET);
    fputc(c ^ 4, fp);
    fclose(fp);
    assert_int_equal(cli_run(from, out, sizeof out), 1);
    assert_non_null(strstr(out, "step-00000020/train_state.bin: corrupted: checksum"));
    assert_false(file_exists(other));

    /* --resume skips a damaged latest checkpoint, naming it, and redoes its steps */
    const char *more[] = {TRAIN_ARGS(run_dir, "20"), "--resume", NULL};
    int rc = cli_run(more, out, sizeof out);
    if (rc) fail_msg("resume exited %d:\n%s", rc, out);
    assert_non_null(strstr(out, "skipping"));
    assert_non_null(strstr(out, "train_state.bin: corrupted"));
    assert_int_equal(checkpoint_verify(ck, &(Err){{0}}), 0);
}

static void wsd_is_the_wso_trunk_until_its_decay_and_branches_from_it(void **state)
{
    (void)state;
    char train_bin[512], wso[512], wsd[512], branch[512], a[1024], b[1024];
    path_in(train_bin, sizeof train_bin, "train.bin");
    path_in(wso, sizeof wso, "wso");
    path_in(wsd, sizeof wsd, "wsd");
    path_in(branch, sizeof branch, "branch");
    /* 40 steps, no warmup, rho 0.75: the decay starts after step 30. */
    const char *trunk[] = {TRAIN_ARGS(wso, "40"), "--schedule", "wso", "--warmup", "0", NULL};
    const char *arm[] = {TRAIN_ARGS(wsd, "40"), "--schedule", "wsd", "--warmup", "0", "--alpha", "0", NULL};
    cli_run_ok(trunk);
    cli_run_ok(arm);
    for (int s = 10; s <= 30; s += 10) {
        checkpoint_step_path(a, sizeof a, wso, s);
        checkpoint_step_path(b, sizeof b, wsd, s);
        assert_same_checkpoint_file(a, b, "model.safetensors");
        assert_same_checkpoint_file(a, b, "train_state.bin");
    }
    checkpoint_step_path(a, sizeof a, wso, 40);
    checkpoint_step_path(b, sizeof b, wsd, 40);
    size_t na, nb;
    char *x = slurp(a, "model.safetensors", &na), *y = slurp(b, "model.safetensors", &nb);
    assert_memory_not_equal(x, y, na);   /* the decay did change the end */
    free(x);
    free(y);

    /* WSD from the trunk's step-30 checkpoint = WSD from scratch. */
    char trunk30[1024];
    checkpoint_step_path(trunk30, sizeof trunk30, wso, 30);
    const char *br[] = {"train", "--init", trunk30, "--data", train_bin, "--steps", "40", "--lr", "3e-3",
                        "--micro-batch", "4", "--seq-len", "32", "--batch-tokens", "256", "--out", branch,
                        "--schedule", "wsd", "--warmup", "0", "--alpha", "0", "--quiet", "--log-every", "0", NULL};
    cli_run_ok(br);
    checkpoint_step_path(a, sizeof a, branch, 40);
    assert_same_checkpoint_file(a, b, "model.safetensors");
    assert_same_checkpoint_file(a, b, "train_state.bin");
    Lineage lb, lt;
    AdamW ob, ot;
    load(a, &lb, &ob);
    load(trunk30, &lt, &ot);
    assert_string_equal(lb.parent_id, lt.id);
    assert_int_equal(lb.step, 40);
    assert_int_equal(lb.stage_start_step, 0);
    adamw_free(&ob);
    adamw_free(&ot);
}

static void three_stage_pipeline_chains_lineage(void **state)
{
    (void)state;
    char train_bin[512], mid_bin[512], sft_bin[512], mask_bin[512], pre[512], mid[512], sft[512];
    path_in(train_bin, sizeof train_bin, "train.bin");
    path_in(mid_bin, sizeof mid_bin, "mid.bin");
    path_in(sft_bin, sizeof sft_bin, "sft.bin");
    path_in(mask_bin, sizeof mask_bin, "sft_mask.bin");
    path_in(pre, sizeof pre, "p-pre");
    path_in(mid, sizeof mid, "p-mid");
    path_in(sft, sizeof sft, "p-sft");
    const char *s1[] = {TRAIN_ARGS(pre, "30"), "--schedule", "wsd", "--alpha", "0.1", "--warmup", "3", NULL};
    const char *s2[] = {"train", "--stage", "mid", "--init", pre, "--data", mid_bin, "--steps", "10", "--alpha-mid",
                        "0", "--micro-batch", "4", "--seq-len", "32", "--out", mid, "--quiet", "--log-every", "0",
                        NULL};
    const char *s3[] = {"train", "--stage", "sft", "--init", mid, "--data", sft_bin, "--mask", mask_bin, "--steps",
                        "10", "--lr", "1e-3", "--micro-batch", "4", "--seq-len", "32", "--out", sft, "--quiet",
                        "--log-every", "0", NULL};
    cli_run_ok(s1);
    cli_run_ok(s2);
    cli_run_ok(s3);

    char a[1024], b[1024], c[1024];
    checkpoint_step_path(a, sizeof a, pre, 30);
    checkpoint_step_path(b, sizeof b, mid, 40);   /* mid continues the step count */
    checkpoint_step_path(c, sizeof c, sft, 10);   /* sft counts its own */
    Lineage la, lb, lc;
    AdamW oa, ob, oc;
    load(a, &la, &oa);
    load(b, &lb, &ob);
    load(c, &lc, &oc);

    assert_string_equal(la.stage, "pretrain");
    assert_string_equal(la.parent_id, "");
    assert_string_equal(la.schedule, "wsd:peak=0.003,warmup=3,total=30,alpha=0.1,rho=0.75,shape=linear");

    assert_string_equal(lb.stage, "mid");
    assert_string_equal(lb.parent_id, la.id);
    assert_int_equal(lb.stage_start_step, 30);
    assert_int_equal(lb.step, 40);
    assert_int_equal(lb.tokens, 30 * 256 + 10 * 128);
    /* no re-warmup: the mid LR starts at pre-training's final 0.1 * 3e-3 */
    ScheduleSpec ms;
    Err e;
    assert_int_equal(schedule_parse(lb.schedule, &ms, &e), 0);
    assert_int_equal(ms.kind, SCHED_MID);
    assert_true(fabs(ms.peak - 3e-4) < 1e-15 && ms.total == 10 && ms.alpha == 0);
    assert_int_equal(lb.cursor.step, 10);   /* mid reads its own data from its start */
    assert_int_equal(la.cursor.step, 30);
    assert_int_equal(ob.t, 40);   /* moments kept */
    assert_true(ob.cfg.weight_decay == 0.1f);

    assert_string_equal(lc.stage, "sft");
    assert_string_equal(lc.parent_id, lb.id);
    assert_int_equal(lc.stage_start_step, 0);
    assert_int_equal(lc.step, 10);
    assert_int_equal(lc.tokens, 10 * 128);
    assert_int_equal(oc.t, 10);   /* moments reset */
    assert_true(oc.cfg.weight_decay == 0.0f);
    assert_non_null(strstr(lc.data, "mask="));
    assert_string_equal(lc.schedule, "cosine:peak=0.001,warmup=1,total=10,alpha=0");
    adamw_free(&oa);
    adamw_free(&ob);
    adamw_free(&oc);
}

/* A three-stage study of one arm, one seed and one SFT learning rate: 16
 * pre-training steps (WSD to 10%), 8 mid-training steps decaying to 0, 4 SFT
 * steps. */
static const char THREE_STAGE_STUDY[] =
    "[study]\n"
    TINY_STUDY_WORLD
    "seeds = 7\n"
    "pretrain_tokens = 8192\n"
    "mid_tokens = 4096\n"
    "sft_tokens = 4096\n"
    "batch_tokens = 512\n"
    "micro_batch = 8\n"
    "seq_len = 64\n"
    "peak_lr = 3e-3\n"
    "warmup_steps = 2\n"
    "sft_lrs = 1e-3\n"
    "sft_warmup_steps = 1\n"
    "sft_batch_tokens = 1024\n"
    "probes = 2\n"
    "probe_sequences = 1\n"
    "eval_items = 2\n"
    "[arm wsd]\n"
    "schedule = wsd\n"
    "alpha_pre = 0.1\n"
    "alpha_mid = 0\n";

/* The final checkpoint of plan segment `index` of the study in dir. */
static void study_checkpoint(const char *dir, const Plan *plan, int index, char *out, size_t size)
{
    Store *st;
    Err e;
    SegmentStatus status = SEG_PENDING;
    if (store_open(&st, dir, &e) ||
        store_segment_status(st, plan->segments[index].id, &status, out, size, &e))
        fail_msg("%s", e.msg);
    store_close(st);
    assert_int_equal(status, SEG_DONE);
}

static void assert_same_checkpoint(const char *a, const char *b)
{
    assert_same_checkpoint_file(a, b, "model.safetensors");
    assert_same_checkpoint_file(a, b, "train_state.bin");
    assert_same_checkpoint_file(a, b, "lineage.json");
    assert_same_checkpoint_file(a, b, "config.json");
    assert_same_checkpoint_file(a, b, "tokenizer.json");
    assert_same_checkpoint_file(a, b, "checksums.json");   /* and so the same id */
}

static void train_and_study_give_the_same_three_stage_checkpoints(void **state)
{
    (void)state;
    char ini[512], study[512], data[600], pt[700], mid_bin[700], sft_bin[700], mask[700], tok[700];
    path_in(ini, sizeof ini, "three.ini");
    path_in(study, sizeof study, "three-study");
    Err e;
    assert_int_equal(write_file_atomic(ini, THREE_STAGE_STUDY, strlen(THREE_STAGE_STUDY), &e), 0);
    /* One process at the thread count `plateau train` gets below (a nano
     * study would otherwise run one-thread jobs: study/runner.h). */
    const char *run_study[] = {"study", "run", ini, "--out", study, "--jobs", "1", "--quiet", NULL};
    cli_run_ok(run_study);

    /* The same stages by hand, on the study's own shards. */
    path_join(data, sizeof data, study, "data");
    path_join(pt, sizeof pt, data, "pt_train.bin");
    path_join(mid_bin, sizeof mid_bin, data, "mid.bin");
    path_join(sft_bin, sizeof sft_bin, data, "sft_train.bin");
    path_join(mask, sizeof mask, data, "sft_train.mask.bin");
    path_join(tok, sizeof tok, data, "tokenizer.json");   /* the study's checkpoints carry it */
    char pre[512], mid[512], sft[512];
    path_in(pre, sizeof pre, "three-pre");
    path_in(mid, sizeof mid, "three-mid");
    path_in(sft, sizeof sft, "three-sft");
#define BATCHING "--micro-batch", "8", "--seq-len", "64", "--quiet", "--log-every", "0"
    const char *s1[] = {"train", "--preset", "nano", "--vocab", "400", "--tokenizer", tok, "--seed", "7", "--data", pt,
                        "--steps", "16", "--lr", "3e-3", "--schedule", "wsd", "--alpha", "0.1", "--warmup", "2",
                        "--batch-tokens", "512", "--out", pre, BATCHING, NULL};
    const char *s2[] = {"train", "--stage", "mid", "--init", pre, "--data", mid_bin, "--steps", "8", "--alpha-mid",
                        "0", "--batch-tokens", "512", "--out", mid, BATCHING, NULL};
    const char *s3[] = {"train", "--stage", "sft", "--init", mid, "--data", sft_bin, "--mask", mask, "--layout",
                        "rows", "--steps", "4", "--lr", "1e-3", "--warmup", "1", "--batch-tokens", "1024",
                        "--out", sft, BATCHING, NULL};
#undef BATCHING
    cli_run_ok(s1);
    cli_run_ok(s2);
    cli_run_ok(s3);

    StudySpec spec;
    Plan plan;
    if (study_spec_load(&spec, ini, &e) || plan_build(&plan, &spec, 0, &e)) fail_msg("%s", e.msg);
    const ArmRun *r = &plan.runs[0][0];
    char by_study[3][1024], by_hand[3][1024];
    study_checkpoint(study, &plan, r->pretrain_end, by_study[0], sizeof by_study[0]);
    study_checkpoint(study, &plan, r->mid_end, by_study[1], sizeof by_study[1]);
    study_checkpoint(study, &plan, r->sft[0], by_study[2], sizeof by_study[2]);
    plan_free(&plan);
    checkpoint_step_path(by_hand[0], sizeof by_hand[0], pre, 16);
    checkpoint_step_path(by_hand[1], sizeof by_hand[1], mid, 24);   /* mid continues pre-training's clock */
    checkpoint_step_path(by_hand[2], sizeof by_hand[2], sft, 4);
    for (int k = 0; k < 3; k++) assert_same_checkpoint(by_study[k], by_hand[k]);

    /* The lineage the two share: one clock for pre- and mid-training. */
    static const int64_t STEP[3] = {16, 24, 4}, ORIGIN[3] = {0, 16, 0}, MOMENTS_T[3] = {16, 24, 4};
    Lineage lin[3];
    for (int k = 0; k < 3; k++) {
        AdamW opt;
        load(by_study[k], &lin[k], &opt);
        assert_int_equal(lin[k].step, STEP[k]);
        assert_int_equal(lin[k].stage_start_step, ORIGIN[k]);
        assert_int_equal(opt.t, MOMENTS_T[k]);   /* moments kept into mid, reset for SFT */
        adamw_free(&opt);
    }
    assert_string_equal(lin[1].parent_id, lin[0].id);
    assert_string_equal(lin[2].parent_id, lin[1].id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resume_after_sigkill_is_bit_identical),
        cmocka_unit_test(a_bad_tokenizer_is_refused_before_the_first_step),
        cmocka_unit_test(damaged_checkpoints_are_refused_naming_the_file),
        cmocka_unit_test(train_and_schedule_refuse_a_decay_that_gets_no_step),
        cmocka_unit_test(wsd_is_the_wso_trunk_until_its_decay_and_branches_from_it),
        cmocka_unit_test(three_stage_pipeline_chains_lineage),
        cmocka_unit_test(train_and_study_give_the_same_three_stage_checkpoints),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
