/* `plateau study run --jobs N` on a tiny study (nano on 40 bios people, two
 * seeds, two arms sharing the WSO trunk, two SFT learning rates: 14
 * segments, two of them ready at once from the start): two one-thread jobs
 * give exactly the rows and checkpoint bytes of one process at one thread;
 * a --jobs 2 run stopped by Ctrl-C, and then killed outright, resumes under
 * --jobs 1 to the same rows, and leaves no worker process behind.
 *
 * Runs ./plateau (or $PLATEAU_BIN), built by `make` before the tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "support/checkpoint_files.h"
#include "support/plateau_cli.h"
#include "support/store_rows.h"
#include "support/tiny_study.h"

static char g_root[64];

static const char TINY_STUDY[] =
    "[study]\n" TINY_STUDY_WORLD "seeds = 7, 8\npretrain_tokens = 16384\n"
    "sft_epochs = 1\nbatch_tokens = 512\nmicro_batch = 8\nseq_len = 64\npeak_lr = 3e-3\nwarmup_steps = 4\n"
    "sft_lrs = 1e-3, 3e-3\nsft_warmup_steps = 1\nsft_batch_tokens = 1024\nprobes = 3\nprobe_every = 8\n"
    "probe_sequences = 2\neval_items = 12\n"
    "[arm wso]\nschedule = wso\n[arm wsd0]\nschedule = wsd\nalpha_pre = 0\n";
#define N_SEGMENTS 14

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_root, name); }

/* Starts `plateau study run INI --out OUT --jobs JOBS --quiet --no-report`
 * at `threads` OpenMP threads in its own process group, output to OUT.log. */
static pid_t spawn_study(const char *ini, const char *out, const char *jobs, const char *threads)
{
    char log[600];
    snprintf(log, sizeof log, "%s.log", out);
    const char *args[] = {"study", "run", ini, "--out", out, "--jobs", jobs, "--quiet", "--no-report", NULL};
    return cli_spawn_with(args, &(CliSpawn){.log = log, .omp_threads = threads, .own_group = 1});
}

static char *log_of(const char *out)
{
    char log[600], *text = NULL;
    Err e;
    snprintf(log, sizeof log, "%s.log", out);
    if (read_file(log, &text, NULL, &e)) return strdup("(no output)");
    return text;
}

static void run_study_ok(const char *ini, const char *out, const char *jobs, const char *threads)
{
    int status;
    waitpid(spawn_study(ini, out, jobs, threads), &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("study run --jobs %s failed:\n%s", jobs, log_of(out));
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

/* The worker processes of pid (its children, as /proc lists them). */
static int children_of(pid_t pid, pid_t *kids, int max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *f = fopen(path, "r");
    int n = 0, k;
    if (!f) return 0;
    while (n < max && fscanf(f, "%d", &k) == 1) kids[n++] = k;
    fclose(f);
    return n;
}

/* 1 once pid is gone (or a zombie nobody reaps: then its parent is gone too). */
static int gone_within(pid_t pid, double seconds)
{
    for (int tries = 0; tries < seconds * 1000; tries++) {
        char path[64], state = 0;
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f) return 1;
        int ok = fscanf(f, "%*d %*s %c", &state) == 1;
        fclose(f);
        if (ok && state == 'Z') return 1;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return 0;
}

/* Starts a --jobs 2 run and sends `sig` to its process group (group = 1:
 * the study process and its jobs, as Ctrl-C in a terminal does) or to the
 * study process alone, once `folders` segment folders exist and both jobs
 * are running; returns its wait status, and checks that its workers are
 * gone soon after. */
static int interrupt_jobs(const char *ini, const char *out, int folders, int sig, int group)
{
    char segs[600];
    snprintf(segs, sizeof segs, "%s/segments", out);
    pid_t pid = spawn_study(ini, out, "2", "2"), kids[8];
    int status = 0, n_kids = 0, exited = 0;
    while (!exited && (count_entries(segs) < folders || (n_kids = children_of(pid, kids, 8)) < 2)) {
        nanosleep(&(struct timespec){0, 1000000}, NULL);
        exited = waitpid(pid, &status, WNOHANG) == pid;
    }
    if (exited) fail_msg("the study finished before it could be stopped:\n%s", log_of(out));
    kill(group ? -pid : pid, sig);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    for (int k = 0; k < n_kids; k++) assert_true(gone_within(kids[k], 10));
    printf("    signal %d with %d segment folders and 2 jobs: stopped, no worker left\n", sig, count_entries(segs));
    return status;
}

/* Ctrl-C to a --jobs 2 run still preparing its data (no job started yet):
 * the process ends by the signal, as before, after one line saying what it
 * was doing and that the same command resumes. */
static void interrupt_preparation(const char *ini, const char *out)
{
    char copy[600];
    snprintf(copy, sizeof copy, "%s/study.ini", out);   /* written just before the data */
    pid_t pid = spawn_study(ini, out, "2", "2");
    int status = 0, exited = 0;
    while (!exited && !file_exists(copy)) {
        nanosleep(&(struct timespec){0, 200000}, NULL);
        exited = waitpid(pid, &status, WNOHANG) == pid;
    }
    if (exited) fail_msg("the study ended before it could be stopped:\n%s", log_of(out));
    kill(-pid, SIGINT);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    char *log = log_of(out), want[700];
    snprintf(want, sizeof want,
             "plateau: interrupted by SIGINT (Ctrl-C) while preparing %s/data; run the same command again to resume\n",
             out);
    printf("    %s", log);
    if (strcmp(log, want) != 0) fail_msg("got:\n%s\nwant:\n%s", log, want);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
    free(log);
}

/* Fails unless every checkpoint under one/segments has the same model and
 * optimizer bytes under two/segments. */
static void assert_same_checkpoints(const char *one, const char *two)
{
    char segs[600];
    snprintf(segs, sizeof segs, "%s/segments", one);
    DIR *d = opendir(segs);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        char seg_a[900];
        snprintf(seg_a, sizeof seg_a, "%s/%s", segs, de->d_name);
        DIR *s = opendir(seg_a);
        assert_non_null(s);
        for (struct dirent *ck; (ck = readdir(s));) {
            if (strncmp(ck->d_name, "step-", 5)) continue;
            char a[1200], b[1200];
            snprintf(a, sizeof a, "%s/%s", seg_a, ck->d_name);
            snprintf(b, sizeof b, "%s/segments/%s/%s", two, de->d_name, ck->d_name);
            assert_same_checkpoint_file(a, b, "model.safetensors");
            assert_same_checkpoint_file(a, b, "train_state.bin");
            n++;
        }
        closedir(s);
    }
    closedir(d);
    assert_int_equal(n, N_SEGMENTS);
}

static void two_jobs_give_the_rows_and_bytes_of_one_process_and_resume_under_one(void **state)
{
    (void)state;
    char ini[256], one[256], two[256], stopped[256];
    path_in(ini, sizeof ini, "tiny.ini");
    path_in(one, sizeof one, "one");
    path_in(two, sizeof two, "two");
    path_in(stopped, sizeof stopped, "stopped");
    Err e;
    assert_int_equal(write_file_atomic(ini, TINY_STUDY, strlen(TINY_STUDY), &e), 0);

    /* T = 2 threads over 2 jobs: one thread each, as one process at T = 1. */
    run_study_ok(ini, one, "1", "1");
    run_study_ok(ini, two, "2", "2");
    char *log = log_of(two);
    assert_null(strstr(log, "plateau:"));
    free(log);
    int rows;
    char *a = store_rows(one, &rows), *b = store_rows(two, NULL);
    printf("    %d store rows; --jobs 2 %s --jobs 1\n", rows, strcmp(a, b) ? "DIFFER from" : "equal");
    assert_true(rows > 500);
    assert_same_store_rows(a, b);
    free(b);
    assert_same_checkpoints(one, two);

    /* Ctrl-C while the data is prepared, Ctrl-C (to the whole group: the
     * jobs ignore it, the study process stops them), then SIGKILL to the
     * study process alone (its jobs die with it), then --jobs 1. */
    interrupt_preparation(ini, stopped);
    int status = interrupt_jobs(ini, stopped, 1, SIGINT, 1);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    log = log_of(stopped);
    printf("    %s", log);
    assert_non_null(strstr(log, "interrupted by SIGINT (Ctrl-C) while segments "));
    assert_non_null(strstr(log, "(job 1)"));
    assert_non_null(strstr(log, "(job 2)"));
    free(log);
    status = interrupt_jobs(ini, stopped, 6, SIGKILL, 0);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    run_study_ok(ini, stopped, "1", "1");
    b = store_rows(stopped, NULL);
    assert_same_store_rows(a, b);
    free(a);
    free(b);
    assert_same_checkpoints(one, stopped);
}

/* A bad --jobs is one clear error before anything runs, and a malformed
 * count states the same range as one out of range. */
static void bad_job_counts_are_refused_by_name(void **state)
{
    (void)state;
    char ini[256], out[256];
    path_in(ini, sizeof ini, "tiny.ini");
    path_in(out, sizeof out, "refused");
    static const char *const BAD[] = {"0", "-1", "two", "65"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        int status;
        waitpid(spawn_study(ini, out, BAD[i], "1"), &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
        char *log = log_of(out), want[96];
        snprintf(want, sizeof want, "plateau: --jobs: expected an integer in [1, 64], got '%s'\n", BAD[i]);
        if (strcmp(log, want) != 0) fail_msg("got:\n%s\nwant:\n%s", log, want);
        free(log);
    }
    assert_false(file_exists(out));
}

static int setup(void **state)
{
    (void)state;
    return cli_setup("jobs", g_root, sizeof g_root);
}

static int teardown(void **state)
{
    (void)state;
    return cli_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_jobs_give_the_rows_and_bytes_of_one_process_and_resume_under_one),
        cmocka_unit_test(bad_job_counts_are_refused_by_name),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
