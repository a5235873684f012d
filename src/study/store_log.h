/* The results store's writes as bytes: what a recording store
 * (store_open_recording, study/store.h) keeps instead of writing SQLite, so a
 * worker (MPI rank or --jobs process) that runs a segment for the process
 * owning the database can send its results there in one message, and
 * store_replay applies them.
 *
 * Encoding: a sequence of entries, each an op byte then its fields in order;
 * integers (i32, i64) and reals (IEEE doubles, NaN kept) as their bytes in
 * the machine's order, strings as an i32 length and the bytes. The workers
 * of one launch run the same binary on the same architecture, so they share it. A decoder checks
 * every length against the bytes left and names the entry that is wrong.
 * Private to study/store.c. */
#ifndef PLATEAU_STUDY_STORE_LOG_H
#define PLATEAU_STUDY_STORE_LOG_H

#include <stddef.h>

#include "core/error.h"
#include "study/store.h"

typedef struct {
    unsigned char *buf;
    size_t         len, cap;
    /* segments whose status the recording store can answer (a parent) */
    char           known_id[4][SEGMENT_ID_LEN + 1];
    SegmentStatus  known_status[4];
    char           known_checkpoint[4][4096];
    int            n_known;
} StoreLog;

void store_log_running(StoreLog *l, const char *segment);
void store_log_done(StoreLog *l, const char *segment, const char *checkpoint);
void store_log_metrics(StoreLog *l, const char *segment, const StepMetrics *m, int n);
void store_log_evals(StoreLog *l, const char *segment, int64_t step, const char *suite, const EvalRow *r, int n);
void store_log_items(StoreLog *l, const char *segment, int64_t step, const char *suite, const char *task,
                     const char *score_metric, long n, const long *item, const int *correct, const double *score);
void store_log_sharpness(StoreLog *l, const char *segment, int64_t step, const char *data, const TraceEstimate *t,
                         double top_eigenvalue);

#endif
