/* The guards of a study's output folder (study/folder.h, study/store.h),
 * through `plateau study run` as a user meets them on a tiny study (nano on
 * 40 bios people, one seed, wso and wsd0): a folder in use by another run is
 * refused at once and left as it was, and a lock whose holder was killed
 * does not outlive it; a foreign SQLite file named results.sqlite is refused
 * byte for byte unchanged, an empty one becomes a store; a study file edited
 * so that its data changes is refused unless --rebuild-data, which keeps
 * every segment already written; any other edit runs with one line saying
 * so and reuses the segments it did not change.
 *
 * Runs ./plateau (or $PLATEAU_BIN), built by `make` before the tests. */
#define _GNU_SOURCE   /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/checksum.h"
#include "core/file.h"
#include "data/textbuf.h"
#include "study/folder.h"
#include "support/plateau_cli.h"
#include "support/tiny_study.h"

static char g_root[64];

#define TINY_HEAD                                                                                              \
    "[study]\n" TINY_STUDY_WORLD "seeds = 7\nsft_epochs = 1\nbatch_tokens = 512\nmicro_batch = 8\nseq_len = 64\n" \
    "peak_lr = 3e-3\nwarmup_steps = 4\nsft_warmup_steps = 1\nsft_batch_tokens = 1024\nprobes = 3\n"            \
    "probe_every = 8\nprobe_sequences = 2\neval_items = 12\n"
#define TINY_ARMS "[arm wso]\nschedule = wso\n[arm wsd0]\nschedule = wsd\nalpha_pre = 0\n"

/* The tiny study as FOLDER/tiny.ini (every version is named tiny, so the
 * store takes each for the same study), with pretrain_tokens and sft_lrs. */
static void write_tiny(char *ini, size_t size, const char *folder, const char *pretrain_tokens, const char *sft_lrs)
{
    char dir[256], text[2048];
    Err e;
    snprintf(dir, sizeof dir, "%s/%s", g_root, folder);
    snprintf(ini, size, "%s/tiny.ini", dir);
    snprintf(text, sizeof text, TINY_HEAD "pretrain_tokens = %s\nsft_lrs = %s\n" TINY_ARMS, pretrain_tokens, sft_lrs);
    if (make_dirs(dir, &e) || write_file_atomic(ini, text, strlen(text), &e)) fail_msg("%s", e.msg);
}

/* status of `plateau study run INI --out OUT --jobs 1 --no-report [extra]`, its output in log */
static int run_study(const char *ini, const char *out, const char *extra, char *log, size_t log_size)
{
    const char *args[] = {"study", "run", ini, "--out", out, "--jobs", "1", "--no-report", extra, NULL};
    return cli_run(args, log, log_size);
}

/* A first, complete run of the 32-step tiny study into ROOT/name. */
static void first_run(char *out, size_t size, const char *name)
{
    char ini[512], log[16384];
    write_tiny(ini, sizeof ini, "v1", "16384", "1e-3");
    snprintf(out, size, "%s/%s", g_root, name);
    if (run_study(ini, out, NULL, log, sizeof log) != 0) fail_msg("the first run failed:\n%s", log);
}

/* ---- a folder's every file, as (path, size, checksum) lines ------------- */

static TextBuf     g_snapshot;
static const char *g_skip;   /* a file name left out (NULL: none) */

static int snapshot_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    if (flag != FTW_F || (g_skip && strcmp(path + ftw->base, g_skip) == 0)) return 0;
    char *data, line[4200];
    size_t bytes;
    Err e;
    if (read_file(path, &data, &bytes, &e)) fail_msg("%s", e.msg);
    Checksum c;
    checksum_init(&c);
    checksum_update(&c, data, bytes);
    free(data);
    snprintf(line, sizeof line, "%s %zu %016llx\n", path, bytes, (unsigned long long)checksum_final(&c));
    textbuf_puts(&g_snapshot, line);
    return 0;
}

/* The folder's files (without any named skip), malloc'd. nftw walks a
 * folder in readdir order, which no file operation here changes. */
static char *snapshot(const char *dir, const char *skip)
{
    g_snapshot = (TextBuf){0};
    g_skip = skip;
    assert_int_equal(nftw(dir, snapshot_entry, 8, FTW_PHYS), 0);
    textbuf_putc(&g_snapshot, 0);
    return g_snapshot.data;
}

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part)) fail_msg("expected \"%s\" in:\n%s", part, text);
}

/* `plateau study VERB INI --out OUT ...` (run: as run_study; calibrate:
 * --quiet) exits 1 saying `want` (its whole output in log), and every file
 * of OUT but the lock file (whose pid line the refused command may rewrite)
 * is as it was. */
static void assert_refused_unchanged(const char *verb, const char *ini, const char *out, const char *want, char *log,
                                     size_t log_size)
{
    char *before = snapshot(out, FOLDER_LOCK_FILE);
    const char *run[] = {"study", verb, ini, "--out", out, "--jobs", "1", "--no-report", NULL};
    const char *calibrate[] = {"study", verb, ini, "--out", out, "--quiet", NULL};
    assert_int_equal(cli_run(strcmp(verb, "run") == 0 ? run : calibrate, log, log_size), 1);
    assert_contains(log, want);
    char *after = snapshot(out, FOLDER_LOCK_FILE);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

/* Overwrites n bytes of path at offset with 0xab. */
static void overwrite(const char *path, long offset, size_t n)
{
    char junk[4096];
    assert_true(n <= sizeof junk);
    memset(junk, 0xab, n);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, offset, SEEK_SET), 0);
    assert_int_equal(fwrite(junk, 1, n, f), n);
    fclose(f);
}

/* ---- one run at a time ---------------------------------------------------- */

static void a_folder_in_use_refuses_a_second_run_and_calibrate_before_writing(void **state)
{
    (void)state;
    char out[256], ini[512], log[16384], want[512];
    first_run(out, sizeof out, "held");
    write_tiny(ini, sizeof ini, "v1", "16384", "1e-3");
    FolderLock lock;
    Err e;
    if (folder_lock(&lock, out, "study run", &e)) fail_msg("%s", e.msg);   /* this process: the run going on */
    char *before = snapshot(out, NULL);

    assert_int_equal(run_study(ini, out, NULL, log, sizeof log), 1);
    snprintf(want, sizeof want, "%s: in use by another plateau study run (pid %ld); wait for it or stop it", out,
             (long)getpid());
    assert_contains(log, want);
    const char *calibrate[] = {"study", "calibrate", ini, "--out", out, "--quiet", NULL};
    assert_int_equal(cli_run(calibrate, log, sizeof log), 1);
    assert_contains(log, want);
    char *after = snapshot(out, NULL);
    assert_string_equal(after, before);   /* not a byte written, the lock file included */
    const char *report[] = {"study", "report", out, NULL};   /* a reader is welcome meanwhile */
    assert_int_equal(cli_run(report, log, sizeof log), 0);

    folder_unlock(&lock);
    assert_int_equal(run_study(ini, out, NULL, log, sizeof log), 0);
    assert_contains(log, "plan: 5 segments (0 to run)");
    free(before);
    free(after);
}

static void a_killed_holder_leaves_no_stale_lock(void **state)
{
    (void)state;
    char out[256], ini[512], log[16384], lock_path[600];
    snprintf(out, sizeof out, "%s/killed", g_root);
    snprintf(lock_path, sizeof lock_path, "%s/%s", out, FOLDER_LOCK_FILE);
    pid_t pid = fork();
    if (pid == 0) {
        FolderLock lock;
        Err e;
        if (folder_lock(&lock, out, "study run", &e)) _exit(3);
        for (;;) pause();
    }
    /* the child has the lock once its pid is in the file */
    char *text = NULL, want[32];
    snprintf(want, sizeof want, "%ld study run\n", (long)pid);
    for (int tries = 0; tries < 20000; tries++) {
        Err e;
        free(text);
        text = NULL;
        if (file_exists(lock_path) && !read_file(lock_path, &text, NULL, &e) && strcmp(text, want) == 0) break;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    assert_string_equal(text, want);
    free(text);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    write_tiny(ini, sizeof ini, "v1", "16384", "1e-3");
    if (run_study(ini, out, NULL, log, sizeof log) != 0) fail_msg("a killed holder's lock outlived it:\n%s", log);
}

/* ---- results.sqlite ------------------------------------------------------- */

static void a_foreign_database_is_refused_and_left_unchanged(void **state)
{
    (void)state;
    char out[256], db_path[300], ini[512], log[16384];
    snprintf(out, sizeof out, "%s/foreign", g_root);
    snprintf(db_path, sizeof db_path, "%s/results.sqlite", out);
    Err e;
    if (make_dirs(out, &e)) fail_msg("%s", e.msg);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE x(a); INSERT INTO x VALUES (42);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    write_tiny(ini, sizeof ini, "v1", "16384", "1e-3");
    char want[800];
    snprintf(want, sizeof want, "%s: an SQLite database of something else (1 schema object, no table meta with a "
                                "schema_version row), not a plateau results store", db_path);
    assert_refused_unchanged("run", ini, out, want, log, sizeof log);
}

/* A plateau store damaged in the middle (3000 bytes overwritten) is refused
 * by SQLite's quick_check before anything is written, not taken and then
 * failed half-way; one whose meta table, first page or end is damaged is
 * called damaged too, not "not a store". */
static void a_damaged_store_is_refused_and_left_unchanged(void **state)
{
    (void)state;
    char out[256], db_path[300], ini[512], want[600], log[16384];
    first_run(out, sizeof out, "damaged");
    snprintf(db_path, sizeof db_path, "%s/results.sqlite", out);
    struct stat sb;
    assert_int_equal(stat(db_path, &sb), 0);
    assert_true(sb.st_size > 40000);
    write_tiny(ini, sizeof ini, "v1", "16384", "1e-3");
    overwrite(db_path, 20000, 3000);
    snprintf(want, sizeof want, "%s: a damaged plateau results store (SQLite's quick_check: ", db_path);
    assert_refused_unchanged("run", ini, out, want, log, sizeof log);
    /* the index of its meta table overwritten (page 3, after meta's own page 2: the first table the
       schema creates), cut short, or its first page overwritten, SQLite cannot read it at all:
       damaged too, not another database */
    snprintf(want, sizeof want, "%s: a damaged plateau results store (SQLite", db_path);
    overwrite(db_path, 8192, 4096);
    assert_refused_unchanged("run", ini, out, want, log, sizeof log);
    assert_int_equal(truncate(db_path, sb.st_size / 2), 0);
    assert_refused_unchanged("run", ini, out, want, log, sizeof log);
    overwrite(db_path, 100, 3000);
    assert_refused_unchanged("run", ini, out, want, log, sizeof log);
}

/* `study calibrate` into a folder that holds another study's results is
 * refused, as `study run` is: its calibration.json would be cited by the
 * other study's report. */
static void calibrate_refuses_another_studys_folder(void **state)
{
    (void)state;
    char out[256], ini[512], other[600], log[16384], *text;
    size_t n;
    Err e;
    first_run(out, sizeof out, "owned");
    write_tiny(ini, sizeof ini, "v1", "16384", "1e-3");
    snprintf(other, sizeof other, "%s/v1/other.ini", g_root);   /* the same study under another name */
    if (read_file(ini, &text, &n, &e) || write_file_atomic(other, text, n, &e)) fail_msg("%s", e.msg);
    free(text);
    assert_refused_unchanged("calibrate", other, out, "holds the results of study 'tiny', not 'other'", log,
                             sizeof log);
}

static void an_empty_results_file_becomes_a_store(void **state)
{
    (void)state;
    char out[256], db_path[300], ini[512], log[16384];
    snprintf(out, sizeof out, "%s/empty", g_root);
    snprintf(db_path, sizeof db_path, "%s/results.sqlite", out);
    Err e;
    if (make_dirs(out, &e) || write_file_atomic(db_path, "", 0, &e)) fail_msg("%s", e.msg);
    write_tiny(ini, sizeof ini, "v1", "16384", "1e-3");
    const char *args[] = {"study", "plan", ini, "--estimate", "--out", out, "--jobs", "1", NULL};
    if (cli_run(args, log, sizeof log) != 0) fail_msg("%s", log);
    assert_contains(log, "plan: 5 segments (5 to run)");
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- an edited study file ------------------------------------------------- */

static void an_edit_that_changes_the_data_is_refused_unless_rebuild_data_which_keeps_the_old_segments(void **state)
{
    (void)state;
    char out[256], ini[512], log[16384], segs[300];
    first_run(out, sizeof out, "edited-data");
    snprintf(segs, sizeof segs, "%s/segments", out);
    char *old_segments = snapshot(segs, NULL);
    write_tiny(ini, sizeof ini, "v2", "20480", "1e-3");   /* 40 steps */
    static const char *const SAID = "data was built for other settings than study tiny's (pretrain_tokens 16384 -> "
                                    "20480)";
    assert_refused_unchanged("run", ini, out, SAID, log, sizeof log);
    assert_contains(log, "use a new --out folder, or pass --rebuild-data");
    /* a calibration into the run's folder too */
    assert_refused_unchanged("calibrate", ini, out, SAID, log, sizeof log);

    if (run_study(ini, out, "--rebuild-data", log, sizeof log) != 0) fail_msg("%s", log);
    assert_contains(log, "data was built for other settings (pretrain_tokens 16384 -> 20480): the world and data are "
                         "rebuilt; segments of the old data stay in the store but are not reported");
    assert_contains(log, "plan: 5 segments (5 to run)");
    char *json, data_json[300];
    Err e;
    snprintf(data_json, sizeof data_json, "%s/data/data.json", out);
    if (read_file(data_json, &json, NULL, &e)) fail_msg("%s", e.msg);
    assert_contains(json, "pretrain_tokens=20480 seq_len=64");
    /* every file of the old segments is still there, as it was */
    char *now = snapshot(segs, NULL);
    for (char *line = old_segments; *line;) {
        char *end = strchr(line, '\n');
        *end = 0;
        assert_contains(now, line);
        line = end + 1;
    }
    free(json);
    free(now);
    free(old_segments);
}

/* A rebuild that fails half-way (here: the tokenizer cannot be written, as
 * a folder stands in its place) must not leave the old data.json, which
 * would vouch for world/ and data/ files that are now half new. */
static void a_rebuild_stopped_half_way_leaves_no_data_json_to_vouch_for_it(void **state)
{
    (void)state;
    char out[256], ini[512], log[16384], path[600];
    first_run(out, sizeof out, "half-rebuilt");
    snprintf(path, sizeof path, "%s/data/tokenizer.json", out);
    assert_int_equal(remove(path), 0);
    assert_int_equal(mkdir(path, 0755), 0);
    write_tiny(ini, sizeof ini, "v2", "20480", "1e-3");
    assert_int_equal(run_study(ini, out, "--rebuild-data", log, sizeof log), 1);
    assert_contains(log, "tokenizer.json");
    snprintf(path, sizeof path, "%s/data/data.json", out);
    assert_false(file_exists(path));
}

static void another_edit_runs_with_a_line_and_reuses_the_unchanged_segments(void **state)
{
    (void)state;
    char out[256], ini[512], log[16384], want[800];
    first_run(out, sizeof out, "edited-plan");
    write_tiny(ini, sizeof ini, "v3", "16384", "1e-3, 3e-3");   /* one more SFT learning rate */
    if (run_study(ini, out, NULL, log, sizeof log) != 0) fail_msg("%s", log);
    snprintf(want, sizeof want,
             "%s differs from the study file of the last run here (sft_lrs 1e-3 -> 1e-3, 3e-3): the data is reused",
             ini);
    assert_contains(log, want);
    assert_contains(log, "plan: 7 segments (2 to run)");   /* the two new SFT segments alone */
    /* the same file again: nothing to say */
    if (run_study(ini, out, NULL, log, sizeof log) != 0) fail_msg("%s", log);
    assert_null(strstr(log, "differs from"));
    assert_contains(log, "plan: 7 segments (0 to run)");
}

static void an_edit_is_described_key_by_key(void **state)
{
    (void)state;
    static const char WAS[] = "[study]\nseeds = 7\nsft_lrs = 1e-3   ; one\nprobes = 3\n"
                              "[arm wso]\nschedule = wso\n[arm cos]\nschedule = cosine\nalpha_pre = 0.1\n";
    static const char NOW[] = "; edited\n[study]\nseeds = 7\nsft_lrs = 1e-3, 3e-3\n"
                              "[arm wso]\nschedule = wsd\n[arm wsd0]\nschedule = wsd\nalpha_pre = 0\n";
    char change[512];
    folder_describe_spec_change(WAS, NOW, change, sizeof change);
    assert_string_equal(change, "sft_lrs 1e-3 -> 1e-3, 3e-3; [arm wso] schedule wso -> wsd; [arm wsd0] added; "
                                "probes removed; [arm cos] removed");
    folder_describe_spec_change(WAS, "; a comment\n[study]\n  seeds=7\nsft_lrs = 1e-3\nprobes = 3\n[arm wso]\n"
                                     "schedule = wso\n[arm cos]\nschedule = cosine\nalpha_pre = 0.1\n",
                                change, sizeof change);
    assert_string_equal(change, "comments and layout only");
    folder_describe_spec_change(WAS, NOW, change, 24);   /* truncated, still a string */
    assert_int_equal(strlen(change), 23);
}

static int setup(void **state)
{
    (void)state;
    return cli_setup("folder", g_root, sizeof g_root);
}

static int teardown(void **state)
{
    (void)state;
    return cli_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_folder_in_use_refuses_a_second_run_and_calibrate_before_writing),
        cmocka_unit_test(a_killed_holder_leaves_no_stale_lock),
        cmocka_unit_test(a_foreign_database_is_refused_and_left_unchanged),
        cmocka_unit_test(a_damaged_store_is_refused_and_left_unchanged),
        cmocka_unit_test(calibrate_refuses_another_studys_folder),
        cmocka_unit_test(an_empty_results_file_becomes_a_store),
        cmocka_unit_test(an_edit_that_changes_the_data_is_refused_unless_rebuild_data_which_keeps_the_old_segments),
        cmocka_unit_test(a_rebuild_stopped_half_way_leaves_no_data_json_to_vouch_for_it),
        cmocka_unit_test(another_edit_runs_with_a_line_and_reuses_the_unchanged_segments),
        cmocka_unit_test(an_edit_is_described_key_by_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
