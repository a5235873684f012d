/* The results store: one SQLite database per study output folder
 * (DIR/results.sqlite) holding what a study ran and measured.
 *
 * Tables (created on first open; `schema_version` in table meta):
 *   runs        one row per `study run` invocation: study name, spec text, start/finish
 *   segments    the plan's segments: id, parent id, stage, arms, seed, schedule text,
 *               step range, SFT LR, status (pending | running | done), checkpoint path
 *   arm_runs    per (study, arm, seed): the segment ids that end pre-training,
 *               mid-training (NULL if two-stage) and the base model SFT starts from
 *   sft_sweep   per (study, arm, seed, SFT LR): the SFT segment id, and whether
 *               it is the LR chosen for that base model (chosen = 1)
 *   metrics     per (segment, step): loss, lr, grad_norm, tokens (trainer log)
 *   evaluations per (segment, step, suite, task, metric): value, stderr, n
 *               (the suites a study records, among them "precond" and
 *               "sft_change" for the per-model measures: study/runner.h)
 *   sharpness   per (segment, step, data 'pt' | 'sft'): trace, stderr, probes, top eigenvalue
 *   items       per (segment, step, suite, task, item): correct (0/1, the
 *               accuracy's verdict on the item), score (its continuous
 *               companion) and score_metric naming it ("margin" for
 *               multiple choice, "answer_logprob" for generation; eval/mc.h,
 *               eval/qa.h); item is the 0-based line of the task file
 *
 * View item_results: the items with what they belong to, one row per
 * (study, arm, seed) whose pre-training end, mid-training end or SFT run
 * the segment is: study, arm, seed, stage ('pretrain' | 'mid' | 'sft'),
 * sft_lr (NULL before SFT), suite, task, item, correct, score,
 * score_metric, segment, step. For example, the held-out SFT answers of
 * every chosen SFT run:
 *   SELECT r.arm, r.seed, r.item, r.correct, r.score FROM item_results r
 *     JOIN sft_sweep w ON w.segment = r.segment AND w.chosen = 1
 *    WHERE r.suite = 'sft';
 *
 * Crash safety: the database runs in WAL mode with synchronous=FULL and every
 * public write is one transaction, so killing the process at any instant
 * leaves the store consistent and shows only whole calls. A segment becomes
 * `done` only through store_segment_done, which refuses unless its checkpoint
 * is already on disk: the runner commits the checkpoint first (atomic rename),
 * then marks the segment. A segment found `running` after a crash was
 * interrupted: treat it as not done. Re-recording a (segment, step) replaces
 * the earlier row, so a segment re-run after a crash leaves one log.
 *
 * One Store per process and thread; not thread-safe.
 *
 * A recording store (store_open_recording) has no database: it keeps the
 * calls a segment makes (store_segment_running / done, store_record_metrics /
 * evals / sharpness) as bytes, in order, and answers store_segment_status
 * for the segments it was told of; any other call is an error. A worker (an
 * MPI rank, or a `study run --jobs N` process) that runs a segment for the
 * process owning DIR/results.sqlite records into one and sends the bytes
 * (study/farm.h); the owner applies them with store_replay, so its database
 * sees the same calls, in the same order, as a one-process run. */
#ifndef PLATEAU_STUDY_STORE_H
#define PLATEAU_STUDY_STORE_H

#include <stdint.h>

#include "core/error.h"
#include "eval/suite.h"
#include "probe/spectrum.h"
#include "study/plan.h"
#include "train/trainer.h"

typedef struct Store Store;

#define STORE_FILE "results.sqlite"

typedef enum { SEG_PENDING, SEG_RUNNING, SEG_DONE } SegmentStatus;
const char *segment_status_name(SegmentStatus s);

/* Opens DIR/results.sqlite, creating the folder, the file and the tables as
 * needed; a missing or empty database becomes a new store. An existing file
 * that is not a plateau store (not SQLite, or a database with tables but no
 * meta table holding schema_version), or a store that fails SQLite's
 * quick_check (damaged), is an error naming it, and the file is left byte
 * for byte as it was. */
int store_open(Store **out, const char *dir, Err *e);
void store_close(Store *s);

/* The recording store (above); store_close frees it. */
int store_open_recording(Store **out, Err *e);
/* What store_segment_status answers for segment (e.g. a parent, done, with
 * its checkpoint); the last few told are kept. */
void store_recording_know(Store *s, const char *segment, SegmentStatus status, const char *checkpoint);
/* The calls recorded since the last clear, as bytes owned by s. */
const void *store_recording_bytes(const Store *s, size_t *n);
void store_recording_clear(Store *s);
/* Applies recorded bytes to a database store, call by call, in order. Bytes
 * that do not decode are refused naming the entry, before or after the
 * entries that did (each call is its own transaction, as when made directly). */
int store_replay(Store *s, const void *bytes, size_t n, Err *e);
const char *store_path(const Store *s);

/* Refuses a store that holds runs of another study (a different name): an
 * output folder belongs to one study, which re-runs resume. */
int store_check_study(Store *s, const char *study, Err *e);

/* A run of the study: records the name and the study file's full text. */
int store_run_begin(Store *s, const char *study, const char *spec_text, int64_t *run_id, Err *e);
int store_run_finish(Store *s, int64_t run_id, Err *e);
/* The latest run's study name and study-file text (*spec_text malloc'd).
 * Returns 1 found, 0 when no run was recorded, -1 on error. */
int store_last_run(Store *s, char *study, size_t study_size, char **spec_text, Err *e);

/* Records the plan: every segment (new ones as pending; known ones keep
 * their status and checkpoint) and the arm -> segment maps, in one
 * transaction. An SFT learning rate the plan's arm and seed no longer sweep
 * leaves sft_sweep (so it is neither chosen nor reported; its segment and
 * results stay, and sweeping it again finds them done). */
int store_register_plan(Store *s, const Plan *p, Err *e);

/* Segment life cycle. running: the runner has started it (a done segment
 * cannot go back). done: checkpoint must exist on disk. */
int store_segment_running(Store *s, const char *segment, Err *e);
int store_segment_done(Store *s, const char *segment, const char *checkpoint, Err *e);
/* Status and checkpoint path (checkpoint may be NULL). Unknown id: error. */
int store_segment_status(Store *s, const char *segment, SegmentStatus *status, char *checkpoint,
                         size_t checkpoint_size, Err *e);
/* status[i] for every segment of the plan (for resuming: run those not done,
 * in plan order). Segments the store does not know are pending. */
int store_plan_status(Store *s, const Plan *p, SegmentStatus *status, Err *e);

/* The trainer's metrics of n steps (train/trainer.h: step and tokens on the
 * stage clock, loss, lr, grad norm), in one transaction. tokens_per_s is a
 * wall-clock measurement and is not stored. */
int store_record_metrics(Store *s, const char *segment, const StepMetrics *m, int n, Err *e);
/* Rows of a segment in step order, tokens_per_s NaN; *out is malloc'd (caller frees). */
int store_read_metrics(Store *s, const char *segment, StepMetrics **out, int *n, Err *e);

/* The evaluator's rows (eval/suite.h: task, metric, value, std_err, n; the
 * row kind is not stored) for the model at `step` of segment, under `suite`
 * (e.g. "pt", "sft", "valid"), in one transaction. */
int store_record_evals(Store *s, const char *segment, int64_t step, const char *suite, const EvalRow *rows, int n,
                       Err *e);
/* The value at the segment's latest recorded step. Returns 1 found, 0 absent, -1 error. */
int store_eval(Store *s, const char *segment, const char *suite, const char *task, const char *metric,
               double *value, double *std_err, Err *e);

/* A row of the sharpness table, as read back. */
typedef struct {
    int64_t step;
    char    data[8];         /* "pt" or "sft": which held-out batches */
    double  trace;           /* Hutchinson estimate of Tr(H) */
    double  std_err;
    int     probes;          /* Rademacher vectors */
    double  top_eigenvalue;  /* NaN if not measured */
} SharpnessRecord;

/* The Hutchinson estimate (probe/spectrum.h) at `step` of segment on the
 * `data` ("pt" or "sft") probe batch; top_eigenvalue NaN if not measured. */
int store_record_sharpness(Store *s, const char *segment, int64_t step, const char *data, const TraceEstimate *trace,
                           double top_eigenvalue, Err *e);
/* Every probe of a segment in step order (pt and sft mixed); caller frees. */
int store_read_sharpness(Store *s, const char *segment, SharpnessRecord **out, int *n, Err *e);

/* Per-arm results for the report. role: "pretrain_end", "mid_end" or "base".
 * One row per (arm, seed) of the study that has the evaluation, in arm then
 * seed order as registered. */
typedef struct {
    char     arm[STUDY_NAME_MAX];
    uint64_t seed;
    char     segment[SEGMENT_ID_LEN + 1];
    double   sft_lr;    /* store_sft_evals rows only; 0 otherwise */
    double   value;
    double   std_err;
} ArmValue;
int store_arm_evals(Store *s, const char *study, const char *role, const char *suite, const char *task,
                    const char *metric, ArmValue **out, int *n, Err *e);
/* The segments (arm, seed) trains through, from its first segment to the
 * one of `role` ("pretrain_end", "mid_end" or "base"), in training order, as
 * the plan registered them. Writes up to max ids; *n receives how many there
 * are (0 when the arm has no such segment, e.g. mid_end of a two-stage study). */
typedef struct {
    char id[SEGMENT_ID_LEN + 1];
} SegmentId;
int store_arm_path(Store *s, const char *study, const char *arm, uint64_t seed, const char *role,
                   SegmentId *ids, int max, int *n, Err *e);

/* The same for the SFT segments: one row per (arm, seed, SFT LR) evaluated,
 * in arm, seed, LR order. */
int store_sft_evals(Store *s, const char *study, const char *suite, const char *task, const char *metric,
                    ArmValue **out, int *n, Err *e);

/* Records the sweep's choice for one base model (report_math's
 * choose_sft_lr on the validation score): exactly that LR becomes chosen.
 * Fails if the sweep has no run at that LR. */
int store_choose_sft_lr(Store *s, const char *study, const char *arm, uint64_t seed, double sft_lr, Err *e);
/* The chosen LR and its SFT segment. Returns 1 found, 0 not chosen yet, -1 error. */
int store_chosen_sft(Store *s, const char *study, const char *arm, uint64_t seed, double *sft_lr,
                     char segment[SEGMENT_ID_LEN + 1], Err *e);

/* Per-item results of one task evaluated at `step` of segment: n items,
 * item[i] (NULL: i) the position in the task file of the i-th, with its 0/1
 * and continuous score, in one transaction (a re-run replaces them). */
int store_record_items(Store *s, const char *segment, int64_t step, const char *suite, const char *task,
                       const char *score_metric, long n, const long *item, const int *correct, const double *score,
                       Err *e);

typedef struct {
    int    correct;   /* 0/1 */
    double score;     /* NaN when not recorded */
} ItemScore;

/* The items of (segment, suite) at the segment's latest step with items,
 * every task (task NULL) or one, in task then item order; *out is malloc'd
 * (caller frees, NULL when none). Returns 1 found, 0 when the segment has
 * none, -1 on error. */
int store_read_items(Store *s, const char *segment, const char *suite, const char *task, ItemScore **out, int *n,
                     Err *e);

#endif
