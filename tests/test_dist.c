/* Data-parallel training over MPI ranks, from the command line: `mpirun
 * --oversubscribe -np 2 plateau train` (one thread per rank) matches one
 * process with one thread on the same global batch up to float summation
 * order, reruns bit for bit, and a run killed with SIGKILL and resumed (under
 * 2 ranks, or under 1) ends where the uninterrupted run ends. Also the pieces
 * the reduction is made of: how a step's micro-batches are shared out, and
 * the sum in rank order.
 *
 * Runs ./plateau (or $PLATEAU_BIN) under mpirun (or $PLATEAU_MPIRUN). The
 * MPI cases are skipped, with a message, when plateau was built without MPI
 * or mpirun is missing. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include "core/file.h"
#include "data/shard.h"
#include "dist/comm.h"
#include "model/config.h"
#include "support/checkpoint_files.h"
#include "support/fixture.h"
#include "support/scratch.h"
#include "support/store_rows.h"
#include "support/tiny_study.h"
#include "train/adamw.h"
#include "study/store.h"
#include "train/checkpoint.h"

static char g_root[256], g_data[512];
static const char *g_bin, *g_mpirun;
static int g_have_mpi;

/* ---- the pieces ----------------------------------------------------------- */

static void micro_batches_are_shared_out_contiguously_earlier_ranks_taking_the_remainder(void **state)
{
    (void)state;
    /* 7 micro-batches over 3 ranks: 3, 2, 2 starting at 0, 3, 5. */
    const int want_first[3] = {0, 3, 5}, want_n[3] = {3, 2, 2};
    for (int r = 0; r < 3; r++) {
        int first, n;
        dist_share(7, r, 3, &first, &n);
        assert_int_equal(first, want_first[r]);
        assert_int_equal(n, want_n[r]);
    }
    /* Fewer micro-batches than ranks: the last rank idles. */
    int first, n;
    dist_share(2, 2, 3, &first, &n);
    assert_int_equal(n, 0);
    assert_int_equal(first, 2);
    dist_share(8, 0, 1, &first, &n);
    assert_int_equal(first, 0);
    assert_int_equal(n, 8);
}

static void ranks_are_summed_in_rank_order_in_double(void **state)
{
    (void)state;
    /* Three ranks' slots of two elements each, stride 2. Element 0: in float,
     * (1e8 + 1) rounds back to 1e8 and the sum would be 0; in double it is 1.
     * Element 1: 0.1f + 0.2f + 0.3f in double, rounded once. */
    const float slots[6] = {1e8f, 0.1f, 1.0f, 0.2f, -1e8f, 0.3f};
    float out[2];
    dist_sum_in_rank_order(out, slots, 3, 2, 2);
    assert_true(out[0] == 1.0f);
    assert_true(out[1] == (float)((double)0.1f + (double)0.2f + (double)0.3f));
    /* One slot: a copy. */
    dist_sum_in_rank_order(out, slots, 1, 2, 2);
    assert_true(out[0] == 1e8f && out[1] == 0.1f);
}

static void one_process_group_is_rank_zero_of_one(void **state)
{
    (void)state;
    const DistGroup *g = dist_self();
    assert_int_equal(g->rank, 0);
    assert_int_equal(g->size, 1);
    assert_true(dist_is_root(g));
    /* Collectives over one rank leave the values alone. */
    DistReducer r;
    dist_reducer_create(&r, g);
    float x[3] = {1.5f, -2.0f, 3.25f};
    double d[2] = {0.125, 7.0};
    Err e;
    assert_int_equal(dist_sum_floats(&r, x, 3, &e), 0);
    assert_int_equal(dist_sum_doubles(&r, d, 2, &e), 0);
    assert_true(x[0] == 1.5f && x[1] == -2.0f && x[2] == 3.25f && d[0] == 0.125 && d[1] == 7.0);
    assert_int_equal(dist_first_differing(g, 42), -1);
    dist_reducer_free(&r);
}

/* ---- runs ----------------------------------------------------------------- */

/* Starts `[mpirun -np ranks] plateau args...` in its own process group with
 * output to g_root/log.txt; ranks 0 runs plateau directly. */
static pid_t spawn(int ranks, const char *const *args)
{
    char log[512];
    snprintf(log, sizeof log, "%s/log.txt", g_root);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        const char *argv[80];
        int n = 0;
        char np[16];
        snprintf(np, sizeof np, "%d", ranks);
        if (ranks > 0) {
            /* LeakSanitizer (make test SANITIZE=1) would report OpenMPI's own
             * allocations, freed by no one at exit; mpirun hands the ranks only
             * the environment named with -x. */
            const char *pre[] = {g_mpirun, "--oversubscribe", "-np", np, "-x", "OMP_NUM_THREADS=1",
                                 "-x", "OMP_WAIT_POLICY=passive", "-x", "LSAN_OPTIONS=detect_leaks=0", NULL};
            for (int i = 0; pre[i]; i++) argv[n++] = pre[i];
        }
        argv[n++] = g_bin;
        for (int i = 0; args[i]; i++) argv[n++] = args[i];
        argv[n] = NULL;
        if (ranks > 0) execvp(g_mpirun, (char *const *)argv);
        else execv(g_bin, (char *const *)argv);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

static void run_ok(int ranks, const char *const *args)
{
    int status;
    waitpid(spawn(ranks, args), &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char log[512], *text = NULL;
        Err e;
        snprintf(log, sizeof log, "%s/log.txt", g_root);
        read_file(log, &text, NULL, &e);
        fail_msg("plateau %s under %d ranks failed:\n%s", args[0], ranks, text ? text : "(no output)");
    }
}

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_root, name); }

/* ||w_b - w_a|| / ||w_a|| of two checkpoints, with their lineages and
 * optimizer step counts. */
static double weights_rel_err(const char *a, const char *b, Lineage *la, Lineage *lb, int64_t *t_b)
{
    AdamW oa, ob;
    size_t n;
    float *pa = checkpoint_files_load(a, la, &oa, &n), *pb = checkpoint_files_load(b, lb, &ob, &n);
    double rel = rel_err(pb, pa, n);
    *t_b = ob.t;
    free(pa);
    free(pb);
    adamw_free(&oa);
    adamw_free(&ob);
    return rel;
}

/* micro with a 256-token vocabulary: 4 micro-batches of 4 x 64 per step,
 * so 2 ranks take 2 each. fp32 products: the comparison with one process is
 * about summation order, which bf16 rounding of the products would swamp. */
#define TRAIN_ARGS(out, steps)                                                                                      \
    "train", "--preset", "micro", "--vocab", "256", "--seed", "7", "--data", g_data, "--steps", steps, "--lr",     \
        "2e-3", "--warmup", "2", "--micro-batch", "4", "--seq-len", "64", "--batch-tokens", "1024", "--out", out, \
        "--precision", "fp32", "--quiet", "--log-every", "0"

#define SKIP_WITHOUT_MPI()                                                                                  \
    do {                                                                                                    \
        if (!g_have_mpi) {                                                                                  \
            printf("    skipped: %s\n", dist_available() ? "mpirun not found" : "plateau built without MPI"); \
            skip();                                                                                         \
        }                                                                                                   \
    } while (0)

static void two_ranks_match_one_process_and_rerun_bit_identical(void **state)
{
    (void)state;
    SKIP_WITHOUT_MPI();
    char one[512], two[512], again[512], a[600], b[600], c[600];
    path_in(one, sizeof one, "one");
    path_in(two, sizeof two, "two");
    path_in(again, sizeof again, "two-again");
    setenv("OMP_NUM_THREADS", "1", 1);
    run_ok(0, (const char *const[]){TRAIN_ARGS(one, "20"), NULL});
    unsetenv("OMP_NUM_THREADS");
    run_ok(2, (const char *const[]){TRAIN_ARGS(two, "20"), NULL});
    run_ok(2, (const char *const[]){TRAIN_ARGS(again, "20"), NULL});

    checkpoint_step_path(a, sizeof a, one, 20);
    checkpoint_step_path(b, sizeof b, two, 20);
    checkpoint_step_path(c, sizeof c, again, 20);
    Lineage la, lb;
    int64_t t;
    double rel = weights_rel_err(a, b, &la, &lb, &t);
    printf("    after 20 steps: ||w(2 ranks) - w(1)|| / ||w(1)|| = %.3g\n", rel);
    assert_true(rel < 1e-5);
    assert_int_equal(la.ranks, 1);
    assert_int_equal(lb.ranks, 2);
    assert_int_equal(lb.step, 20);
    assert_int_equal(lb.tokens, 20 * 1024);   /* the global batch, not a rank's share */
    assert_int_equal(lb.cursor.step, la.cursor.step);
    assert_int_equal(t, 20);
    /* The same rank count: the same bits. */
    assert_same_checkpoint_file(b, c, "model.safetensors");
    assert_same_checkpoint_file(b, c, "train_state.bin");
}

/* SIGKILL to an mpirun and, at the same moment, to its ranks (OpenMPI puts
 * each rank in its own process group, and a rank outlives its launcher for a
 * moment); returns once none of them is left. */
static void kill_job(pid_t mpirun, int *status)
{
    pid_t ranks[64];
    int n = 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)mpirun, (int)mpirun);
    FILE *f = fopen(path, "r");
    if (f) {
        int pid;
        while (n < 64 && fscanf(f, "%d", &pid) == 1) ranks[n++] = pid;
        fclose(f);
    }
    for (int i = 0; i < n; i++) kill(ranks[i], SIGKILL);
    kill(-mpirun, SIGKILL);
    waitpid(mpirun, status, 0);
    for (int i = 0; i < n; i++)
        for (int tries = 0; tries < 5000 && kill(ranks[i], 0) == 0; tries++)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    for (int i = 0; i < n; i++) assert_int_equal(kill(ranks[i], 0), -1);
    printf("    killed mpirun and its %d ranks\n", n);
    assert_true(n >= 2);
}

/* Starts `mpirun -np ranks plateau args` and kills the whole job as soon as
 * ready(arg) holds, polling every millisecond; returns its wait status (a
 * job that finished first shows as exited, which callers reject). */
static int run_killed_when(int ranks, const char *const *args, int (*ready)(const char *), const char *arg)
{
    pid_t pid = spawn(ranks, args);
    int status = 0, done = 0;
    while (!ready(arg) && !done) {
        nanosleep(&(struct timespec){0, 1000000}, NULL);
        done = waitpid(pid, &status, WNOHANG) == pid;
    }
    if (!done) kill_job(pid, &status);
    return status;
}

static int exists(const char *path) { return file_exists(path); }

/* Kills the whole job (mpirun and both ranks) once checkpoint `at` is on disk. */
static void kill_after_checkpoint(const char *run_dir, int at, const char *const *args)
{
    char ckpt[600];
    checkpoint_step_path(ckpt, sizeof ckpt, run_dir, at);
    int status = run_killed_when(2, args, exists, ckpt);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);   /* the run is far slower than the polling */
}

static void sigkill_under_two_ranks_then_resume_equals_never_stopping(void **state)
{
    (void)state;
    SKIP_WITHOUT_MPI();
    char whole[512], killed[512], other[512], a[600], b[600];
    path_in(whole, sizeof whole, "whole");
    path_in(killed, sizeof killed, "killed");
    path_in(other, sizeof other, "killed-then-one");
    run_ok(2, (const char *const[]){TRAIN_ARGS(whole, "30"), "--ckpt-every", "5", NULL});

    kill_after_checkpoint(killed, 10, (const char *const[]){TRAIN_ARGS(killed, "30"), "--ckpt-every", "5", NULL});
    int64_t reached;
    assert_int_equal(checkpoint_latest(killed, a, sizeof a, &reached, &(Err){{0}}), 0);
    printf("    killed after checkpoint 10; latest on disk: step %lld\n", (long long)reached);
    assert_true(reached >= 10 && reached < 30);
    /* Copy the killed run before resuming it, for the resume under 1 rank. */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", killed, other);
    assert_int_equal(system(cmd), 0);

    run_ok(2, (const char *const[]){TRAIN_ARGS(killed, "30"), "--ckpt-every", "5", "--resume", NULL});
    checkpoint_step_path(a, sizeof a, whole, 30);
    checkpoint_step_path(b, sizeof b, killed, 30);
    assert_same_checkpoint_file(a, b, "model.safetensors");
    assert_same_checkpoint_file(a, b, "train_state.bin");

    /* The data cursor is global: the other half resumed by one process
     * continues the same batches, equal up to summation order. */
    setenv("OMP_NUM_THREADS", "1", 1);
    run_ok(0, (const char *const[]){TRAIN_ARGS(other, "30"), "--ckpt-every", "5", "--resume", NULL});
    unsetenv("OMP_NUM_THREADS");
    checkpoint_step_path(b, sizeof b, other, 30);
    Lineage la, lb;
    int64_t t;
    double rel = weights_rel_err(a, b, &la, &lb, &t);
    printf("    resumed under 1 rank: ||w - w(2 ranks, never stopped)|| / ||w|| = %.3g\n", rel);
    assert_true(rel < 1e-5);
    assert_int_equal(lb.ranks, 1);
    assert_int_equal(lb.cursor.step, la.cursor.step);
    assert_int_equal(lb.tokens, la.tokens);
    assert_int_equal(t, 30);
}

/* tests/two_hosts.sh: one rank in each of two network namespaces, over TCP,
 * gives the bits of the one-host run. Skipped (exit 77) without root. */
static void two_namespaces_as_two_hosts_give_the_one_host_bits(void **state)
{
    (void)state;
    SKIP_WITHOUT_MPI();
    const char *script = "tests/two_hosts.sh";
    if (access(script, R_OK) != 0) {
        printf("    skipped: %s not found (run from the repository root)\n", script);
        skip();
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "PLATEAU_BIN='%s' sh %s > '%s/two_hosts.log' 2>&1", g_bin, script, g_root);
    int status = system(cmd);
    char log[512], *text = NULL;
    Err e;
    snprintf(log, sizeof log, "%s/two_hosts.log", g_root);
    if (read_file(log, &text, NULL, &e) == 0) printf("%s", text);
    free(text);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (rc == 77) skip();
    assert_int_equal(rc, 0);
}

/* ---- studies over ranks --------------------------------------------------- */

static void recorded_store_calls_replay_to_the_rows_of_direct_calls(void **state)
{
    (void)state;
    Store *rec, *direct, *replayed;
    Err e;
    char d1[600], d2[600];
    path_in(d1, sizeof d1, "store-direct");
    path_in(d2, sizeof d2, "store-replayed");
    assert_int_equal(store_open_recording(&rec, &e), 0);
    assert_int_equal(store_open(&direct, d1, &e), 0);
    assert_int_equal(store_open(&replayed, d2, &e), 0);
    const StepMetrics m[2] = {{.step = 1, .tokens = 512, .loss = 5.5, .lr = 1e-3, .grad_norm = 0.25},
                              {.step = 2, .tokens = 1024, .loss = 5.25, .lr = 2e-3, .grad_norm = 0.125}};
    const EvalRow valid = {.task = "pt", .metric = "loss", .value = 4.75, .std_err = 0.125, .n = 1741};
    const EvalRow pt[2] = {{.task = "average", .metric = "acc", .value = 0.5, .std_err = NAN, .n = 12},
                           {.task = "bios_city", .metric = "acc_norm", .value = 0.25, .std_err = 0.0625, .n = 12}};
    const TraceEstimate tr = {.mean = 305.25, .std_error = 1.5, .probes = 3};
    for (int k = 0; k < 2; k++) {
        Store *st = k ? direct : rec;
        assert_int_equal(store_record_metrics(st, "0123456789abcdef", m, 2, &e), 0);
        assert_int_equal(store_record_evals(st, "0123456789abcdef", 32, "valid", &valid, 1, &e), 0);
        assert_int_equal(store_record_evals(st, "0123456789abcdef", 32, "pt", pt, 2, &e), 0);
        assert_int_equal(store_record_sharpness(st, "0123456789abcdef", 8, "sft", &tr, NAN, &e), 0);
        const long item[3] = {4, 9, 17};
        const int correct[3] = {1, 0, 1};
        const double score[3] = {-0.5, NAN, -2.25};
        assert_int_equal(store_record_items(st, "0123456789abcdef", 32, "sft", "eval_qa_test", "answer_logprob", 3,
                                            item, correct, score, &e), 0);
    }
    /* A recording store answers the status of segments it was told of, and
     * refuses what it cannot keep. */
    SegmentStatus status;
    char ckpt[64];
    store_recording_know(rec, "fedcba9876543210", SEG_DONE, "/runs/x/step-00000032");
    assert_int_equal(store_segment_status(rec, "fedcba9876543210", &status, ckpt, sizeof ckpt, &e), 0);
    assert_int_equal(status, SEG_DONE);
    assert_string_equal(ckpt, "/runs/x/step-00000032");
    assert_int_equal(store_segment_status(rec, "0000000000000000", &status, NULL, 0, &e), -1);
    assert_int_equal(store_run_begin(rec, "s", "[study]", &(int64_t){0}, &e), -1);
    assert_non_null(strstr(e.msg, "recording store"));

    size_t n;
    const void *bytes = store_recording_bytes(rec, &n);
    assert_true(n > 0);
    assert_int_equal(store_replay(replayed, bytes, n, &e), 0);
    for (int k = 0; k < 2; k++) {
        Store *st = k ? replayed : direct;
        StepMetrics *got;
        SharpnessRecord *gs;
        int gn;
        assert_int_equal(store_read_metrics(st, "0123456789abcdef", &got, &gn, &e), 0);
        assert_int_equal(gn, 2);
        assert_true(got[1].step == 2 && got[1].loss == 5.25 && got[1].lr == 2e-3 && got[1].grad_norm == 0.125 &&
                    got[1].tokens == 1024);
        free(got);
        double v, se;
        assert_int_equal(store_eval(st, "0123456789abcdef", "valid", "pt", "loss", &v, &se, &e), 1);
        assert_true(v == 4.75 && se == 0.125);
        assert_int_equal(store_eval(st, "0123456789abcdef", "pt", "bios_city", "acc_norm", &v, &se, &e), 1);
        assert_true(v == 0.25 && se == 0.0625);
        assert_int_equal(store_read_sharpness(st, "0123456789abcdef", &gs, &gn, &e), 0);
        assert_int_equal(gn, 1);
        assert_true(gs[0].step == 8 && gs[0].trace == 305.25 && gs[0].probes == 3 && isnan(gs[0].top_eigenvalue));
        assert_string_equal(gs[0].data, "sft");
        free(gs);
        ItemScore *gi;
        assert_int_equal(store_read_items(st, "0123456789abcdef", "sft", NULL, &gi, &gn, &e), 1);
        assert_int_equal(gn, 3);
        assert_true(gi[0].correct == 1 && gi[0].score == -0.5 && gi[1].correct == 0 && isnan(gi[1].score) &&
                    gi[2].score == -2.25);
        free(gi);
    }
    /* Cut short: refused, naming the entry (the items, the fifth). */
    assert_int_equal(store_replay(replayed, bytes, n - 3, &e), -1);
    assert_non_null(strstr(e.msg, "entry 4"));
    store_close(rec);
    store_close(direct);
    store_close(replayed);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static int three_segment_folders(const char *segments_dir) { return count_entries(segments_dir) >= 3; }

/* A tiny study: nano on 40 bios people, three arms that share the WSO trunk
 * (a WSD arm decays off it; a WSM arm merges its checkpoints at steps 24 and
 * 32, a segment that trains nothing and finds its inputs by the runner's
 * layout, on whichever rank runs it), two SFT learning rates: 10 segments. */
static const char TINY_STUDY[] =
    "[study]\n" TINY_STUDY_WORLD "seeds = 7\npretrain_tokens = 16384\n"
    "sft_epochs = 1\nbatch_tokens = 512\nmicro_batch = 8\nseq_len = 64\npeak_lr = 3e-3\nwarmup_steps = 4\n"
    "sft_lrs = 1e-3, 3e-3\nsft_warmup_steps = 1\nsft_batch_tokens = 1024\nprobes = 3\nprobe_every = 8\n"
    "probe_sequences = 2\neval_items = 12\n"
    "[arm wso]\nschedule = wso\n[arm wsd0]\nschedule = wsd\nalpha_pre = 0\n"
    "[arm wsm]\nschedule = wsm\nmerge_last = 2\nmerge_every = 8\n";

static void study_over_ranks_gives_the_rows_of_one_process_and_resumes_under_any_count(void **state)
{
    (void)state;
    SKIP_WITHOUT_MPI();
    char ini[512], one[512], two[512], killed[512], segs[600];
    path_in(ini, sizeof ini, "tiny.ini");
    path_in(one, sizeof one, "study-one");
    path_in(two, sizeof two, "study-two");
    path_in(killed, sizeof killed, "study-killed");
    Err e;
    assert_int_equal(write_file_atomic(ini, TINY_STUDY, strlen(TINY_STUDY), &e), 0);
    setenv("OMP_NUM_THREADS", "1", 1);
    run_ok(0, (const char *const[]){"study", "run", ini, "--out", one, "--quiet", NULL});
    unsetenv("OMP_NUM_THREADS");
    run_ok(2, (const char *const[]){"study", "run", ini, "--out", two, "--quiet", NULL});
    int lines;
    char *a = store_rows(one, &lines), *b = store_rows(two, NULL);
    printf("    %d store rows; 2 ranks %s one process\n", lines, strcmp(a, b) ? "DIFFER from" : "equal");
    assert_true(lines > 100);
    assert_same_store_rows(a, b);
    free(b);

    /* Three ranks (two running segments side by side), killed once three
     * segments have folders, then finished by one process. */
    snprintf(segs, sizeof segs, "%s/segments", killed);
    int status = run_killed_when(3, (const char *const[]){"study", "run", ini, "--out", killed, "--quiet", NULL},
                                 three_segment_folders, segs);
    printf("    3 ranks killed with %d segment folders on disk\n", count_entries(segs));
    assert_true(WIFSIGNALED(status));
    setenv("OMP_NUM_THREADS", "1", 1);
    run_ok(0, (const char *const[]){"study", "run", ini, "--out", killed, "--quiet", NULL});
    unsetenv("OMP_NUM_THREADS");
    b = store_rows(killed, NULL);
    assert_same_store_rows(a, b);
    free(a);
    free(b);
}

/* --jobs runs worker processes on one machine; under mpirun the ranks do
 * that already, so the two together are one clear error on rank 0. */
static void jobs_under_ranks_is_refused(void **state)
{
    (void)state;
    SKIP_WITHOUT_MPI();
    char ini[512], out[512], log[600], *text = NULL;
    path_in(ini, sizeof ini, "jobs.ini");
    path_in(out, sizeof out, "study-jobs");
    Err e;
    assert_int_equal(write_file_atomic(ini, TINY_STUDY, strlen(TINY_STUDY), &e), 0);
    int status;
    waitpid(spawn(2, (const char *const[]){"study", "run", ini, "--out", out, "--jobs", "2", NULL}), &status, 0);
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(log, sizeof log, "%s/log.txt", g_root);
    assert_int_equal(read_file(log, &text, NULL, &e), 0);
    assert_non_null(strstr(text, "--jobs runs segments side by side in worker processes of one machine; under "
                                 "mpirun the 2 ranks do that already"));
    free(text);
    assert_false(file_exists(out));
}

/* ---- set-up ---------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    if (!(g_bin = scratch_plateau_bin("test_dist"))) return -1;
    g_mpirun = getenv("PLATEAU_MPIRUN") ? getenv("PLATEAU_MPIRUN") : "mpirun";
    char probe[300];
    snprintf(probe, sizeof probe, "command -v '%s' >/dev/null 2>&1", g_mpirun);
    g_have_mpi = dist_available() && system(probe) == 0;
    /* mpirun refuses root unless told; CI runs as root. */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    setenv("OMP_WAIT_POLICY", "passive", 0);
    if (scratch_create(g_root, sizeof g_root, "dist")) return -1;
    /* Text-like bytes: a sentence with a slowly drifting letter, so batches differ. */
    static const char text[] = "a deterministic sum in rank order gives the same bits on every rerun. ";
    enum { N_TOK = 40000 };
    static uint16_t tok[N_TOK];
    for (int i = 0; i < N_TOK; i++) tok[i] = (uint16_t)(unsigned char)text[i % (sizeof text - 1)] ^ ((i / 997) & 7);
    Err e;
    path_in(g_data, sizeof g_data, "train.bin");
    if (shard_write(g_data, tok, N_TOK, &e)) {
        fprintf(stderr, "test_dist: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return scratch_remove(g_root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(micro_batches_are_shared_out_contiguously_earlier_ranks_taking_the_remainder),
        cmocka_unit_test(ranks_are_summed_in_rank_order_in_double),
        cmocka_unit_test(one_process_group_is_rank_zero_of_one),
        cmocka_unit_test(two_ranks_match_one_process_and_rerun_bit_identical),
        cmocka_unit_test(sigkill_under_two_ranks_then_resume_equals_never_stopping),
        cmocka_unit_test(two_namespaces_as_two_hosts_give_the_one_host_bits),
        cmocka_unit_test(recorded_store_calls_replay_to_the_rows_of_direct_calls),
        cmocka_unit_test(study_over_ranks_gives_the_rows_of_one_process_and_resumes_under_any_count),
        cmocka_unit_test(jobs_under_ranks_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
