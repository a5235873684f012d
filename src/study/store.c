#include "study/store.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/file.h"
#include "study/store_log.h"

#define SCHEMA_VERSION "1"

struct Store {
    sqlite3  *db;     /* NULL for a recording store */
    char      path[4096];
    StoreLog *log;    /* a recording store's calls (store_open_recording) */
};

const char *segment_status_name(SegmentStatus s)
{
    switch (s) {
    case SEG_PENDING: return "pending";
    case SEG_RUNNING: return "running";
    case SEG_DONE: return "done";
    }
    return "?";
}

static int status_from_name(const char *name, SegmentStatus *out)
{
    for (int k = SEG_PENDING; k <= SEG_DONE; k++)
        if (strcmp(name, segment_status_name((SegmentStatus)k)) == 0) {
            *out = (SegmentStatus)k;
            return 0;
        }
    return -1;
}

static int db_fail(Store *s, Err *e, const char *what)
{
    return err_set(e, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int not_recordable(Store *s, Err *e)
{
    return err_set(e, "%s: a recording store keeps segment status, metrics, evaluations and sharpness only", s->path);
}

static int exec(Store *s, const char *sql, Err *e)
{
    if (!s->db) return not_recordable(s, e);
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(e, "%s: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int prepare(Store *s, sqlite3_stmt **st, const char *sql, Err *e)
{
    if (!s->db) return not_recordable(s, e);
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) return db_fail(s, e, "preparing a statement");
    return 0;
}

/* Every public write goes through begin ... commit, or rollback on error. */
static int begin(Store *s, Err *e) { return exec(s, "BEGIN IMMEDIATE", e); }
static int commit(Store *s, Err *e) { return exec(s, "COMMIT", e); }
static void rollback(Store *s) { sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); }

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS runs("
    "  id INTEGER PRIMARY KEY, study TEXT NOT NULL, spec_text TEXT NOT NULL,"
    "  started_at TEXT NOT NULL, finished_at TEXT);"
    "CREATE TABLE IF NOT EXISTS segments("
    "  id TEXT PRIMARY KEY, parent TEXT NOT NULL, stage TEXT NOT NULL CHECK(stage IN ('pretrain','mid','sft')),"
    "  arms TEXT NOT NULL, seed INTEGER NOT NULL, schedule TEXT NOT NULL,"
    "  start_step INTEGER NOT NULL, end_step INTEGER NOT NULL, sft_lr REAL,"
    "  status TEXT NOT NULL CHECK(status IN ('pending','running','done')),"
    "  checkpoint TEXT, spec_text TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS arm_runs("
    "  study TEXT NOT NULL, arm TEXT NOT NULL, arm_index INTEGER NOT NULL, seed INTEGER NOT NULL,"
    "  seed_index INTEGER NOT NULL, pretrain_end TEXT NOT NULL, mid_end TEXT, base TEXT NOT NULL,"
    "  PRIMARY KEY(study, arm, seed));"
    "CREATE TABLE IF NOT EXISTS sft_sweep("
    "  study TEXT NOT NULL, arm TEXT NOT NULL, seed INTEGER NOT NULL, sft_lr REAL NOT NULL,"
    "  segment TEXT NOT NULL, chosen INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(study, arm, seed, sft_lr));"
    "CREATE TABLE IF NOT EXISTS metrics("
    "  segment TEXT NOT NULL, step INTEGER NOT NULL, loss REAL, lr REAL, grad_norm REAL, tokens INTEGER,"
    "  PRIMARY KEY(segment, step));"
    "CREATE TABLE IF NOT EXISTS evaluations("
    "  segment TEXT NOT NULL, step INTEGER NOT NULL, suite TEXT NOT NULL, task TEXT NOT NULL,"
    "  metric TEXT NOT NULL, value REAL, stderr REAL, n INTEGER,"
    "  PRIMARY KEY(segment, step, suite, task, metric));"
    "CREATE TABLE IF NOT EXISTS sharpness("
    "  segment TEXT NOT NULL, step INTEGER NOT NULL, data TEXT NOT NULL CHECK(data IN ('pt','sft')),"
    "  trace REAL, stderr REAL, probes INTEGER, top_eigenvalue REAL,"
    "  PRIMARY KEY(segment, step, data));"
    "CREATE TABLE IF NOT EXISTS items("
    "  segment TEXT NOT NULL, step INTEGER NOT NULL, suite TEXT NOT NULL, task TEXT NOT NULL,"
    "  item INTEGER NOT NULL, correct INTEGER NOT NULL, score REAL, score_metric TEXT NOT NULL,"
    "  PRIMARY KEY(segment, step, suite, task, item));"
    "CREATE VIEW IF NOT EXISTS item_results AS"
    "  SELECT w.study, w.arm, w.seed, 'sft' AS stage, w.sft_lr, i.suite, i.task, i.item, i.correct, i.score,"
    "         i.score_metric, i.segment, i.step FROM items i JOIN sft_sweep w ON w.segment = i.segment"
    "  UNION ALL"
    "  SELECT r.study, r.arm, r.seed, 'pretrain', NULL, i.suite, i.task, i.item, i.correct, i.score,"
    "         i.score_metric, i.segment, i.step FROM items i JOIN arm_runs r ON r.pretrain_end = i.segment"
    "  UNION ALL"
    "  SELECT r.study, r.arm, r.seed, 'mid', NULL, i.suite, i.task, i.item, i.correct, i.score,"
    "         i.score_metric, i.segment, i.step FROM items i JOIN arm_runs r ON r.mid_end = i.segment;";

/* Before anything is written (WAL mode alone rewrites the file's header):
 * a database with tables must have plateau's meta table with its
 * schema_version row, which the first open writes in the same transaction
 * as the tables, and pass SQLite's quick_check; an empty (or new) database
 * becomes a store. */
/* A database SQLite cannot read: damaged (its own words), or not SQLite. */
static int unreadable_store(Store *s, Err *e)
{
    if (sqlite3_errcode(s->db) == SQLITE_CORRUPT)
        return err_set(e, "%s: a damaged plateau results store (SQLite: %s); left unchanged: restore it from a copy, "
                          "or move it away to start a new store", s->path, sqlite3_errmsg(s->db));
    return err_set(e, "%s: not a plateau results store (%s); left unchanged: move it away or use another folder",
                   s->path, sqlite3_errmsg(s->db));
}

static int check_is_plateau_store(Store *s, Err *e)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT count(*) FROM sqlite_master),"
                           " (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
                           -1, &st, NULL) != SQLITE_OK)
        return unreadable_store(s, e);
    int rc = sqlite3_step(st);
    int objects = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    int has_meta = rc == SQLITE_ROW && sqlite3_column_int(st, 1);
    if (rc != SQLITE_ROW) {
        unreadable_store(s, e);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    if (objects == 0) return 0;
    int versioned = 0;
    if (has_meta) {   /* a meta table that cannot be read is a damaged store, not another database */
        if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM meta WHERE key = 'schema_version'", -1, &st, NULL) !=
            SQLITE_OK)
            return unreadable_store(s, e);
        rc = sqlite3_step(st);
        versioned = rc == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
        if (rc != SQLITE_ROW) {
            unreadable_store(s, e);
            sqlite3_finalize(st);
            return -1;
        }
        sqlite3_finalize(st);
    }
    if (!versioned)
        return err_set(e, "%s: an SQLite database of something else (%d schema object%s, no table meta with a "
                          "schema_version row), not a plateau results store; left unchanged: move it away or use "
                          "another folder", s->path, objects, objects == 1 ? "" : "s");
    /* a damaged store would take writes and fail half-way (tens of ms for a store of 20 MB) */
    char said[256] = "";
    if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            snprintf(said, sizeof said, "%s", (const char *)sqlite3_column_text(st, 0));
        else snprintf(said, sizeof said, "%s", sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
    } else snprintf(said, sizeof said, "%s", sqlite3_errmsg(s->db));
    if (strcmp(said, "ok") != 0)
        return err_set(e, "%s: a damaged plateau results store (SQLite's quick_check: %s); left unchanged: restore it "
                          "from a copy, or move it away to start a new store", s->path, said);
    return 0;
}

int store_open(Store **out, const char *dir, Err *e)
{
    *out = NULL;
    if (make_dirs(dir, e)) return -1;
    Store *s = xcalloc(1, sizeof *s);
    path_join(s->path, sizeof s->path, dir, STORE_FILE);
    if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        err_set(e, "%s: cannot open the results store: %s", s->path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_close(s);
        return -1;
    }
    sqlite3_busy_timeout(s->db, 10000);
    if (check_is_plateau_store(s, e)) {
        store_close(s);
        return -1;
    }
    /* WAL: readers never block the writer and a killed writer leaves the main
     * file untouched; FULL: a committed transaction survives a power cut. */
    if (exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", e) ||
        begin(s, e)) {
        err_wrap(e, "%s is not a plateau results store (or is damaged)", s->path);
        store_close(s);
        return -1;
    }
    if (exec(s, SCHEMA, e)) {
        rollback(s);
        store_close(s);
        return -1;
    }
    sqlite3_stmt *st;
    if (prepare(s, &st, "SELECT value FROM meta WHERE key = 'schema_version'", e)) {
        rollback(s);
        store_close(s);
        return -1;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!v || strcmp(v, SCHEMA_VERSION) != 0) {
            err_set(e, "%s: results store schema version %s, this plateau reads version %s", s->path, v ? v : "?",
                    SCHEMA_VERSION);
            sqlite3_finalize(st);
            rollback(s);
            store_close(s);
            return -1;
        }
    }
    sqlite3_finalize(st);
    if ((rc == SQLITE_DONE && exec(s, "INSERT INTO meta(key, value) VALUES('schema_version', '" SCHEMA_VERSION "')", e)) ||
        commit(s, e)) {
        rollback(s);
        store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void store_close(Store *s)
{
    if (!s) return;
    if (s->db) sqlite3_close(s->db);
    if (s->log) free(s->log->buf);
    free(s->log);
    free(s);
}

int store_open_recording(Store **out, Err *e)
{
    (void)e;
    Store *s = xcalloc(1, sizeof *s);
    snprintf(s->path, sizeof s->path, "(recording store)");
    s->log = xcalloc(1, sizeof *s->log);
    *out = s;
    return 0;
}

void store_recording_know(Store *s, const char *segment, SegmentStatus status, const char *checkpoint)
{
    StoreLog *l = s->log;
    int k = 0;
    while (k < l->n_known && strcmp(l->known_id[k], segment)) k++;
    if (k == l->n_known) {
        if (k == (int)(sizeof l->known_status / sizeof l->known_status[0])) k = 0;   /* forget the oldest */
        else l->n_known++;
    }
    snprintf(l->known_id[k], sizeof l->known_id[k], "%s", segment);
    l->known_status[k] = status;
    snprintf(l->known_checkpoint[k], sizeof l->known_checkpoint[k], "%s", checkpoint ? checkpoint : "");
}

const void *store_recording_bytes(const Store *s, size_t *n)
{
    *n = s->log ? s->log->len : 0;
    return s->log ? s->log->buf : NULL;
}

void store_recording_clear(Store *s)
{
    if (s->log) s->log->len = 0;
}

const char *store_path(const Store *s) { return s->path; }

/* Runs a prepared statement to completion (no rows expected) and finalizes it. */
static int step_done(Store *s, sqlite3_stmt *st, const char *what, Err *e)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        db_fail(s, e, what);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

int store_check_study(Store *s, const char *study, Err *e)
{
    sqlite3_stmt *st;
    if (prepare(s, &st, "SELECT study FROM runs WHERE study != ? LIMIT 1", e)) return -1;
    sqlite3_bind_text(st, 1, study, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        err_set(e, "%s holds the results of study '%s', not '%s': give another --out, or delete that folder to "
                   "start over", s->path, (const char *)sqlite3_column_text(st, 0), study);
    else if (rc != SQLITE_DONE) db_fail(s, e, "reading the study's runs");
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_run_begin(Store *s, const char *study, const char *spec_text, int64_t *run_id, Err *e)
{
    sqlite3_stmt *st;
    if (begin(s, e)) return -1;
    if (prepare(s, &st, "INSERT INTO runs(study, spec_text, started_at) VALUES(?, ?, datetime('now'))", e)) goto fail;
    sqlite3_bind_text(st, 1, study, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, spec_text, -1, SQLITE_TRANSIENT);
    if (step_done(s, st, "recording the run", e)) goto fail;
    *run_id = sqlite3_last_insert_rowid(s->db);
    if (commit(s, e)) goto fail;
    return 0;
fail:
    rollback(s);
    return -1;
}

int store_run_finish(Store *s, int64_t run_id, Err *e)
{
    sqlite3_stmt *st;
    if (begin(s, e)) return -1;
    if (prepare(s, &st, "UPDATE runs SET finished_at = datetime('now') WHERE id = ?", e)) goto fail;
    sqlite3_bind_int64(st, 1, run_id);
    if (step_done(s, st, "finishing the run", e)) goto fail;
    if (sqlite3_changes(s->db) != 1) {
        err_set(e, "%s: no run with id %" PRId64, s->path, run_id);
        goto fail;
    }
    if (commit(s, e)) goto fail;
    return 0;
fail:
    rollback(s);
    return -1;
}

int store_last_run(Store *s, char *study, size_t study_size, char **spec_text, Err *e)
{
    sqlite3_stmt *st;
    if (prepare(s, &st, "SELECT study, spec_text FROM runs ORDER BY id DESC LIMIT 1", e)) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return db_fail(s, e, "reading the last run");
    }
    snprintf(study, study_size, "%s", (const char *)sqlite3_column_text(st, 0));
    *spec_text = xstrdup((const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    return 1;
}

static int record_segment(Store *s, sqlite3_stmt *st, const Plan *p, const PlanSegment *seg, Err *e)
{
    char arms[2048];
    plan_arm_names(p, seg->arms, arms, sizeof arms);
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, seg->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, seg->parent_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, stage_name(seg->stage), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, arms, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)seg->seed);
    sqlite3_bind_text(st, 6, seg->schedule_text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, seg->start_step);
    sqlite3_bind_int64(st, 8, seg->end_step);
    if (seg->stage == STAGE_SFT) sqlite3_bind_double(st, 9, seg->sft_lr);
    else sqlite3_bind_null(st, 9);
    sqlite3_bind_text(st, 10, seg->spec_text, -1, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, e, "recording a segment");
}

/* The arm_runs row of (arm a, seed index k) and its sft_sweep rows; gone
 * deletes its rows of the learning rates the plan no longer sweeps. */
static int record_arm_run(Store *s, sqlite3_stmt *run, sqlite3_stmt *sft, sqlite3_stmt *gone, const Plan *p, int a,
                          int k, Err *e)
{
    const StudySpec *sp = &p->spec;
    const ArmRun *r = &p->runs[a][k];
    sqlite3_reset(run);
    sqlite3_bind_text(run, 1, sp->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(run, 2, sp->arms[a].name, -1, SQLITE_STATIC);
    sqlite3_bind_int(run, 3, a);
    sqlite3_bind_int64(run, 4, (sqlite3_int64)sp->seeds[k]);
    sqlite3_bind_int(run, 5, k);
    sqlite3_bind_text(run, 6, p->segments[r->pretrain_end].id, -1, SQLITE_STATIC);
    if (r->mid_end >= 0) sqlite3_bind_text(run, 7, p->segments[r->mid_end].id, -1, SQLITE_STATIC);
    else sqlite3_bind_null(run, 7);
    sqlite3_bind_text(run, 8, p->segments[r->base].id, -1, SQLITE_STATIC);
    if (sqlite3_step(run) != SQLITE_DONE) return db_fail(s, e, "recording an arm");
    /* an SFT LR the study no longer sweeps leaves the sweep (its segment and results stay) */
    sqlite3_reset(gone);
    sqlite3_bind_text(gone, 1, sp->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(gone, 2, sp->arms[a].name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(gone, 3, (sqlite3_int64)sp->seeds[k]);
    for (int l = 0; l < sp->n_sft_lrs; l++) sqlite3_bind_double(gone, l + 4, sp->sft_lrs[l]);
    if (sqlite3_step(gone) != SQLITE_DONE)
        return db_fail(s, e, "dropping an SFT learning rate the study no longer sweeps");
    for (int l = 0; l < sp->n_sft_lrs; l++) {
        sqlite3_reset(sft);
        sqlite3_bind_text(sft, 1, sp->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(sft, 2, sp->arms[a].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(sft, 3, (sqlite3_int64)sp->seeds[k]);
        sqlite3_bind_double(sft, 4, sp->sft_lrs[l]);
        sqlite3_bind_text(sft, 5, p->segments[r->sft[l]].id, -1, SQLITE_STATIC);
        if (sqlite3_step(sft) != SQLITE_DONE) return db_fail(s, e, "recording an SFT run");
    }
    return 0;
}

int store_register_plan(Store *s, const Plan *p, Err *e)
{
    sqlite3_stmt *seg = NULL, *run = NULL, *sft = NULL, *gone = NULL;
    int rc = -1;
    char drop[128 + 5 * STUDY_MAX_SFT_LRS] = "DELETE FROM sft_sweep WHERE study = ?1 AND arm = ?2 AND seed = ?3 AND "
                                             "sft_lr NOT IN (?4";
    for (int l = 1; l < p->spec.n_sft_lrs; l++)
        snprintf(drop + strlen(drop), sizeof drop - strlen(drop), ", ?%d", l + 4);
    snprintf(drop + strlen(drop), sizeof drop - strlen(drop), ")");
    if (begin(s, e)) return -1;
    if (prepare(s, &seg,
                "INSERT INTO segments(id, parent, stage, arms, seed, schedule, start_step, end_step, sft_lr, status,"
                " checkpoint, spec_text, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', NULL, ?10,"
                " datetime('now')) ON CONFLICT(id) DO UPDATE SET arms = excluded.arms, schedule = excluded.schedule,"
                " end_step = excluded.end_step",
                e) ||
        prepare(s, &run,
                "INSERT OR REPLACE INTO arm_runs(study, arm, arm_index, seed, seed_index, pretrain_end, mid_end, base)"
                " VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                e) ||
        prepare(s, &sft, "INSERT INTO sft_sweep(study, arm, seed, sft_lr, segment) VALUES(?, ?, ?, ?, ?)"
                        " ON CONFLICT(study, arm, seed, sft_lr) DO UPDATE SET segment = excluded.segment", e) ||
        prepare(s, &gone, drop, e))
        goto out;
    for (int i = 0; i < p->n_segments; i++)
        if (record_segment(s, seg, p, &p->segments[i], e)) goto out;
    for (int a = 0; a < p->spec.n_arms; a++)
        for (int k = 0; k < p->spec.n_seeds; k++)
            if (record_arm_run(s, run, sft, gone, p, a, k, e)) goto out;
    rc = 0;
out:
    sqlite3_finalize(seg);
    sqlite3_finalize(run);
    sqlite3_finalize(sft);
    sqlite3_finalize(gone);
    if (rc == 0 && commit(s, e) == 0) return 0;
    rollback(s);
    return -1;
}

int store_segment_status(Store *s, const char *segment, SegmentStatus *status, char *checkpoint,
                         size_t checkpoint_size, Err *e)
{
    if (s->log) {
        for (int k = 0; k < s->log->n_known; k++)
            if (strcmp(s->log->known_id[k], segment) == 0) {
                *status = s->log->known_status[k];
                if (checkpoint && checkpoint_size)
                    snprintf(checkpoint, checkpoint_size, "%s", s->log->known_checkpoint[k]);
                return 0;
            }
        return err_set(e, "%s: segment %s was not handed to it", s->path, segment);
    }
    sqlite3_stmt *st;
    if (prepare(s, &st, "SELECT status, checkpoint FROM segments WHERE id = ?", e)) return -1;
    sqlite3_bind_text(st, 1, segment, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE) err_set(e, "%s: no segment %s (was the plan registered?)", s->path, segment);
        else db_fail(s, e, "reading a segment");
        sqlite3_finalize(st);
        return -1;
    }
    const char *name = (const char *)sqlite3_column_text(st, 0);
    if (!name || status_from_name(name, status)) {
        err_set(e, "%s: segment %s has status '%s' (expected pending, running or done)", s->path, segment,
                name ? name : "NULL");
        sqlite3_finalize(st);
        return -1;
    }
    if (checkpoint && checkpoint_size) {
        const char *c = (const char *)sqlite3_column_text(st, 1);
        snprintf(checkpoint, checkpoint_size, "%s", c ? c : "");
    }
    sqlite3_finalize(st);
    return 0;
}

static int set_status(Store *s, const char *segment, SegmentStatus to, const char *checkpoint, Err *e)
{
    SegmentStatus now;
    if (begin(s, e)) return -1;
    if (store_segment_status(s, segment, &now, NULL, 0, e)) goto fail;
    if (now == SEG_DONE && to != SEG_DONE) {
        err_set(e, "%s: segment %s is already done; it cannot become %s again", s->path, segment,
                segment_status_name(to));
        goto fail;
    }
    sqlite3_stmt *st;
    if (prepare(s, &st, "UPDATE segments SET status = ?, checkpoint = coalesce(?, checkpoint),"
                        " updated_at = datetime('now') WHERE id = ?", e))
        goto fail;
    sqlite3_bind_text(st, 1, segment_status_name(to), -1, SQLITE_STATIC);
    if (checkpoint) sqlite3_bind_text(st, 2, checkpoint, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, segment, -1, SQLITE_STATIC);
    if (step_done(s, st, "updating a segment", e) || commit(s, e)) goto fail;
    return 0;
fail:
    rollback(s);
    return -1;
}

int store_segment_running(Store *s, const char *segment, Err *e)
{
    if (s->log) {
        store_log_running(s->log, segment);
        return 0;
    }
    return set_status(s, segment, SEG_RUNNING, NULL, e);
}

int store_segment_done(Store *s, const char *segment, const char *checkpoint, Err *e)
{
    if (!checkpoint || !*checkpoint || !file_exists(checkpoint))
        return err_set(e, "%s: segment %s cannot be marked done: its checkpoint '%s' is not on disk", s->path,
                       segment, checkpoint ? checkpoint : "");
    if (s->log) {
        store_log_done(s->log, segment, checkpoint);
        return 0;
    }
    return set_status(s, segment, SEG_DONE, checkpoint, e);
}

int store_plan_status(Store *s, const Plan *p, SegmentStatus *status, Err *e)
{
    sqlite3_stmt *st;
    if (prepare(s, &st, "SELECT status FROM segments WHERE id = ?", e)) return -1;
    for (int i = 0; i < p->n_segments; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, p->segments[i].id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        status[i] = SEG_PENDING;
        if (rc == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(st, 0);
            if (!name || status_from_name(name, &status[i])) {
                sqlite3_finalize(st);
                return err_set(e, "%s: segment %s has an unknown status", s->path, p->segments[i].id);
            }
        } else if (rc != SQLITE_DONE) {
            db_fail(s, e, "reading segment status");
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return 0;
}

/* Runs the INSERT `sql` once per row i < n in one transaction, bind filling
 * the statement's parameters for row i; all rows or none are written. */
typedef void (*RowBind)(sqlite3_stmt *st, const void *rows, long i);

static int insert_rows(Store *s, const char *sql, long n, RowBind bind, const void *rows, const char *what, Err *e)
{
    sqlite3_stmt *st;
    if (begin(s, e)) return -1;
    if (prepare(s, &st, sql, e)) goto fail;
    for (long i = 0; i < n; i++) {
        sqlite3_reset(st);
        bind(st, rows, i);
        if (sqlite3_step(st) != SQLITE_DONE) {
            db_fail(s, e, what);
            sqlite3_finalize(st);
            goto fail;
        }
    }
    sqlite3_finalize(st);
    if (commit(s, e)) goto fail;
    return 0;
fail:
    rollback(s);
    return -1;
}

static void bind_double_or_null(sqlite3_stmt *st, int col, double x)
{
    if (isnan(x)) sqlite3_bind_null(st, col);
    else sqlite3_bind_double(st, col, x);
}

typedef struct {
    const char        *segment;
    const StepMetrics *m;
} MetricRows;

static void bind_metric(sqlite3_stmt *st, const void *rows, long i)
{
    const MetricRows *r = rows;
    sqlite3_bind_text(st, 1, r->segment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->m[i].step);
    sqlite3_bind_double(st, 3, r->m[i].loss);
    sqlite3_bind_double(st, 4, r->m[i].lr);
    sqlite3_bind_double(st, 5, r->m[i].grad_norm);
    sqlite3_bind_int64(st, 6, r->m[i].tokens);
}

int store_record_metrics(Store *s, const char *segment, const StepMetrics *m, int n, Err *e)
{
    if (s->log) {
        store_log_metrics(s->log, segment, m, n);
        return 0;
    }
    MetricRows rows = {segment, m};
    return insert_rows(s, "INSERT OR REPLACE INTO metrics(segment, step, loss, lr, grad_norm, tokens) VALUES(?, ?, ?, ?, ?, ?)",
                       n, bind_metric, &rows, "recording metrics", e);
}

static double column_double_or_nan(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

/* Steps a prepared statement to its end, filling one row of row_bytes per
 * result with fill, and finalizes it. On success *out holds *n rows (the
 * caller frees); on a database error nothing is returned. */
typedef void (*RowFill)(sqlite3_stmt *st, void *row);

static int collect_rows(Store *s, sqlite3_stmt *st, size_t row_bytes, RowFill fill, void **out, int *n,
                        const char *what, Err *e)
{
    int cap = 0, rc;
    char *rows = NULL;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            rows = xrealloc(rows, (size_t)cap * row_bytes);
        }
        fill(st, rows + (size_t)(*n)++ * row_bytes);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(rows);
        *out = NULL;
        *n = 0;
        return db_fail(s, e, what);
    }
    *out = rows;
    return 0;
}

static void fill_metric(sqlite3_stmt *st, void *row)
{
    StepMetrics *m = row;
    m->tokens_per_s = NAN;
    m->step = sqlite3_column_int64(st, 0);
    m->loss = column_double_or_nan(st, 1);
    m->lr = column_double_or_nan(st, 2);
    m->grad_norm = column_double_or_nan(st, 3);
    m->tokens = sqlite3_column_int64(st, 4);
}

int store_read_metrics(Store *s, const char *segment, StepMetrics **out, int *n, Err *e)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (prepare(s, &st, "SELECT step, loss, lr, grad_norm, tokens FROM metrics WHERE segment = ? ORDER BY step", e))
        return -1;
    sqlite3_bind_text(st, 1, segment, -1, SQLITE_STATIC);
    return collect_rows(s, st, sizeof(StepMetrics), fill_metric, (void **)out, n, "reading metrics", e);
}

typedef struct {
    const char   *segment, *suite;
    int64_t       step;
    const EvalRow *r;
} EvalRows;

/* Columns 1-3 of the evaluations and items tables: where a result belongs. */
static void bind_segment_step_suite(sqlite3_stmt *st, const char *segment, int64_t step, const char *suite)
{
    sqlite3_bind_text(st, 1, segment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, step);
    sqlite3_bind_text(st, 3, suite, -1, SQLITE_STATIC);
}

static void bind_eval(sqlite3_stmt *st, const void *rows, long i)
{
    const EvalRows *r = rows;
    bind_segment_step_suite(st, r->segment, r->step, r->suite);
    sqlite3_bind_text(st, 4, r->r[i].task, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r->r[i].metric, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 6, r->r[i].value);
    bind_double_or_null(st, 7, r->r[i].std_err);
    sqlite3_bind_int64(st, 8, r->r[i].n);
}

int store_record_evals(Store *s, const char *segment, int64_t step, const char *suite, const EvalRow *r, int n,
                       Err *e)
{
    if (s->log) {
        store_log_evals(s->log, segment, step, suite, r, n);
        return 0;
    }
    EvalRows rows = {segment, suite, step, r};
    return insert_rows(s, "INSERT OR REPLACE INTO evaluations(segment, step, suite, task, metric, value, stderr, n)"
                          " VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                       n, bind_eval, &rows, "recording an evaluation", e);
}

int store_eval(Store *s, const char *segment, const char *suite, const char *task, const char *metric, double *value,
               double *std_err, Err *e)
{
    sqlite3_stmt *st;
    if (prepare(s, &st, "SELECT value, stderr FROM evaluations WHERE segment = ? AND suite = ? AND task = ?"
                        " AND metric = ? ORDER BY step DESC LIMIT 1", e))
        return -1;
    sqlite3_bind_text(st, 1, segment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, suite, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, task, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, metric, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        *value = column_double_or_nan(st, 0);
        if (std_err) *std_err = column_double_or_nan(st, 1);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        db_fail(s, e, "reading an evaluation");
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return found;
}

int store_record_sharpness(Store *s, const char *segment, int64_t step, const char *data, const TraceEstimate *trace,
                           double top_eigenvalue, Err *e)
{
    if (strcmp(data, "pt") != 0 && strcmp(data, "sft") != 0)
        return err_set(e, "sharpness data '%s': expected pt or sft", data);
    if (s->log) {
        store_log_sharpness(s->log, segment, step, data, trace, top_eigenvalue);
        return 0;
    }
    sqlite3_stmt *st;
    if (begin(s, e)) return -1;
    if (prepare(s, &st, "INSERT OR REPLACE INTO sharpness(segment, step, data, trace, stderr, probes, top_eigenvalue)"
                        " VALUES(?, ?, ?, ?, ?, ?, ?)", e))
        goto fail;
    sqlite3_bind_text(st, 1, segment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, step);
    sqlite3_bind_text(st, 3, data, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, trace->mean);
    if (isnan(trace->std_error)) sqlite3_bind_null(st, 5);
    else sqlite3_bind_double(st, 5, trace->std_error);
    sqlite3_bind_int(st, 6, trace->probes);
    if (isnan(top_eigenvalue)) sqlite3_bind_null(st, 7);
    else sqlite3_bind_double(st, 7, top_eigenvalue);
    if (step_done(s, st, "recording sharpness", e) || commit(s, e)) goto fail;
    return 0;
fail:
    rollback(s);
    return -1;
}

static void fill_sharpness(sqlite3_stmt *st, void *row)
{
    SharpnessRecord *r = row;
    r->step = sqlite3_column_int64(st, 0);
    snprintf(r->data, sizeof r->data, "%s", (const char *)sqlite3_column_text(st, 1));
    r->trace = column_double_or_nan(st, 2);
    r->std_err = column_double_or_nan(st, 3);
    r->probes = sqlite3_column_int(st, 4);
    r->top_eigenvalue = column_double_or_nan(st, 5);
}

int store_read_sharpness(Store *s, const char *segment, SharpnessRecord **out, int *n, Err *e)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (prepare(s, &st, "SELECT step, data, trace, stderr, probes, top_eigenvalue FROM sharpness WHERE segment = ?"
                        " ORDER BY step, data", e))
        return -1;
    sqlite3_bind_text(st, 1, segment, -1, SQLITE_STATIC);
    return collect_rows(s, st, sizeof(SharpnessRecord), fill_sharpness, (void **)out, n, "reading sharpness", e);
}

static void fill_arm_value(sqlite3_stmt *st, void *row)
{
    ArmValue *v = row;
    snprintf(v->arm, sizeof v->arm, "%s", (const char *)sqlite3_column_text(st, 0));
    v->seed = (uint64_t)sqlite3_column_int64(st, 1);
    snprintf(v->segment, sizeof v->segment, "%s", (const char *)sqlite3_column_text(st, 2));
    v->sft_lr = sqlite3_column_double(st, 3);
    v->value = column_double_or_nan(st, 4);
    v->std_err = column_double_or_nan(st, 5);
}

/* Rows of (arm, seed, segment, sft_lr, value, stderr) from a query with the
 * study, suite, task and metric bound as ?1..?4. */
static int read_arm_values(Store *s, const char *sql, const char *study, const char *suite, const char *task,
                           const char *metric, ArmValue **out, int *n, Err *e)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (prepare(s, &st, sql, e)) return -1;
    sqlite3_bind_text(st, 1, study, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, suite, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, task, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, metric, -1, SQLITE_STATIC);
    return collect_rows(s, st, sizeof(ArmValue), fill_arm_value, (void **)out, n, "reading per-arm results", e);
}

/* The latest evaluation of a segment, as a correlated subquery. */
#define LATEST_EVAL(seg_col)                                                                                         \
    "JOIN evaluations v ON v.segment = " seg_col " AND v.suite = ?2 AND v.task = ?3 AND v.metric = ?4"              \
    " AND v.step = (SELECT max(step) FROM evaluations w WHERE w.segment = v.segment AND w.suite = v.suite"           \
    " AND w.task = v.task AND w.metric = v.metric) "

int store_arm_evals(Store *s, const char *study, const char *role, const char *suite, const char *task,
                    const char *metric, ArmValue **out, int *n, Err *e)
{
    /* Column names cannot be bound, so the role picks one of three fixed queries. */
    const char *sql;
    if (strcmp(role, "pretrain_end") == 0)
        sql = "SELECT a.arm, a.seed, a.pretrain_end, 0.0, v.value, v.stderr FROM arm_runs a " LATEST_EVAL("a.pretrain_end")
              "WHERE a.study = ?1 ORDER BY a.arm_index, a.seed_index";
    else if (strcmp(role, "mid_end") == 0)
        sql = "SELECT a.arm, a.seed, a.mid_end, 0.0, v.value, v.stderr FROM arm_runs a " LATEST_EVAL("a.mid_end")
              "WHERE a.study = ?1 ORDER BY a.arm_index, a.seed_index";
    else if (strcmp(role, "base") == 0)
        sql = "SELECT a.arm, a.seed, a.base, 0.0, v.value, v.stderr FROM arm_runs a " LATEST_EVAL("a.base")
              "WHERE a.study = ?1 ORDER BY a.arm_index, a.seed_index";
    else
        return err_set(e, "per-arm results for role '%s': expected pretrain_end, mid_end or base", role);
    return read_arm_values(s, sql, study, suite, task, metric, out, n, e);
}

int store_arm_path(Store *s, const char *study, const char *arm, uint64_t seed, const char *role,
                   SegmentId *ids, int max, int *n, Err *e)
{
    if (strcmp(role, "pretrain_end") && strcmp(role, "mid_end") && strcmp(role, "base"))
        return err_set(e, "segments of role '%s': expected pretrain_end, mid_end or base", role);
    sqlite3_stmt *st;
    if (prepare(s, &st,
                "WITH RECURSIVE path(id, parent, depth) AS ("
                " SELECT g.id, g.parent, 0 FROM arm_runs a JOIN segments g ON g.id ="
                "  CASE ?4 WHEN 'pretrain_end' THEN a.pretrain_end WHEN 'mid_end' THEN a.mid_end ELSE a.base END"
                "  WHERE a.study = ?1 AND a.arm = ?2 AND a.seed = ?3"
                " UNION ALL SELECT g.id, g.parent, p.depth + 1 FROM path p JOIN segments g ON g.id = p.parent)"
                " SELECT id FROM path ORDER BY depth DESC", e))
        return -1;
    sqlite3_bind_text(st, 1, study, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, arm, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seed);
    sqlite3_bind_text(st, 4, role, -1, SQLITE_STATIC);
    int rc;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n < max) snprintf(ids[*n].id, sizeof ids[*n].id, "%s", (const char *)sqlite3_column_text(st, 0));
        (*n)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_fail(s, e, "reading an arm's segments");
    return 0;
}

int store_sft_evals(Store *s, const char *study, const char *suite, const char *task, const char *metric,
                    ArmValue **out, int *n, Err *e)
{
    const char *sql = "SELECT f.arm, f.seed, f.segment, f.sft_lr, v.value, v.stderr FROM sft_sweep f "
                      "JOIN arm_runs a ON a.study = f.study AND a.arm = f.arm AND a.seed = f.seed "
                      LATEST_EVAL("f.segment") "WHERE f.study = ?1 ORDER BY a.arm_index, a.seed_index, f.sft_lr";
    return read_arm_values(s, sql, study, suite, task, metric, out, n, e);
}

int store_choose_sft_lr(Store *s, const char *study, const char *arm, uint64_t seed, double sft_lr, Err *e)
{
    sqlite3_stmt *st;
    if (begin(s, e)) return -1;
    if (prepare(s, &st, "UPDATE sft_sweep SET chosen = (sft_lr = ?4) WHERE study = ?1 AND arm = ?2 AND seed = ?3", e))
        goto fail;
    sqlite3_bind_text(st, 1, study, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, arm, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seed);
    sqlite3_bind_double(st, 4, sft_lr);
    if (step_done(s, st, "choosing the SFT learning rate", e)) goto fail;
    if (prepare(s, &st, "SELECT count(*) FROM sft_sweep WHERE study = ?1 AND arm = ?2 AND seed = ?3 AND chosen = 1", e))
        goto fail;
    sqlite3_bind_text(st, 1, study, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, arm, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seed);
    int chosen = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (chosen != 1) {
        err_set(e, "%s: study %s arm %s seed %" PRIu64 " has no SFT run at learning rate %g", s->path, study, arm, seed,
                sft_lr);
        goto fail;
    }
    if (commit(s, e)) goto fail;
    return 0;
fail:
    rollback(s);
    return -1;
}

int store_chosen_sft(Store *s, const char *study, const char *arm, uint64_t seed, double *sft_lr,
                     char segment[SEGMENT_ID_LEN + 1], Err *e)
{
    sqlite3_stmt *st;
    if (prepare(s, &st, "SELECT sft_lr, segment FROM sft_sweep WHERE study = ? AND arm = ? AND seed = ? AND chosen = 1",
                e))
        return -1;
    sqlite3_bind_text(st, 1, study, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, arm, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seed);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        *sft_lr = sqlite3_column_double(st, 0);
        if (segment) snprintf(segment, SEGMENT_ID_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 1));
        found = 1;
    } else if (rc != SQLITE_DONE) {
        db_fail(s, e, "reading the chosen SFT learning rate");
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return found;
}

typedef struct {
    const char   *segment, *suite, *task, *score_metric;
    int64_t       step;
    const long   *item;
    const int    *correct;
    const double *score;
} ItemRows;

static void bind_item(sqlite3_stmt *st, const void *rows, long i)
{
    const ItemRows *r = rows;
    bind_segment_step_suite(st, r->segment, r->step, r->suite);
    sqlite3_bind_text(st, 4, r->task, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, r->item ? r->item[i] : i);
    sqlite3_bind_int(st, 6, r->correct[i] != 0);
    bind_double_or_null(st, 7, r->score[i]);
    sqlite3_bind_text(st, 8, r->score_metric, -1, SQLITE_STATIC);
}

int store_record_items(Store *s, const char *segment, int64_t step, const char *suite, const char *task,
                       const char *score_metric, long n, const long *item, const int *correct, const double *score,
                       Err *e)
{
    if (s->log) {
        store_log_items(s->log, segment, step, suite, task, score_metric, n, item, correct, score);
        return 0;
    }
    ItemRows rows = {segment, suite, task, score_metric, step, item, correct, score};
    return insert_rows(s, "INSERT OR REPLACE INTO items(segment, step, suite, task, item, correct, score, score_metric)"
                          " VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                       n, bind_item, &rows, "recording per-item results", e);
}

static void fill_item(sqlite3_stmt *st, void *row)
{
    ItemScore *it = row;
    it->correct = sqlite3_column_int(st, 0);
    it->score = column_double_or_nan(st, 1);
}

int store_read_items(Store *s, const char *segment, const char *suite, const char *task, ItemScore **out, int *n,
                     Err *e)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (prepare(s, &st, "SELECT correct, score FROM items WHERE segment = ?1 AND suite = ?2"
                        " AND (?3 IS NULL OR task = ?3) AND step = (SELECT MAX(step) FROM items"
                        " WHERE segment = ?1 AND suite = ?2 AND (?3 IS NULL OR task = ?3)) ORDER BY task, item", e))
        return -1;
    sqlite3_bind_text(st, 1, segment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, suite, -1, SQLITE_STATIC);
    if (task) sqlite3_bind_text(st, 3, task, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 3);
    if (collect_rows(s, st, sizeof(ItemScore), fill_item, (void **)out, n, "reading per-item results", e)) return -1;
    return *n > 0;
}
