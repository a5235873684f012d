/* A study's segments spread over workers: MPI ranks (`mpirun -np N plateau
 * study run`, farm_link_mpi) or worker processes of one machine (`study run
 * --jobs N`, study/jobs.h). Endpoint 0 (rank 0, or the process the user
 * started) owns the plan's progress and the results store and runs no
 * segment itself: it hands every segment whose parent is done to a free
 * worker (lowest number first, segments in plan order), and when a worker
 * reports a segment finished it applies the results that worker recorded
 * (store_replay) and marks it done, which may make its children ready.
 * Workers 1..N-1 run one segment at a time, whole, with a recording store
 * (study/store.h) that knows the parent's checkpoint; checkpoints go to the
 * study folder, which every worker must see at the same path (one machine,
 * or a shared filesystem).
 *
 * Every segment runs exactly as the one-process runner runs it, so the store
 * ends with the same rows; only the order in which segments finish differs.
 * A killed launch leaves its unfinished segments `running`, which a new run
 * under any number of ranks or jobs (or none) treats as not done. */
#ifndef PLATEAU_STUDY_FARM_H
#define PLATEAU_STUDY_FARM_H

#include <stddef.h>

#include "core/error.h"
#include "dist/comm.h"
#include "study/cost.h"
#include "study/plan.h"
#include "study/store.h"

/* How the endpoints talk. Messages are whole byte strings with a tag >= 0;
 * tags below FARM_TAG_FIRST are the caller's (e.g. to set workers up before
 * farm_work), the rest the farm's. */
#define FARM_TAG_FIRST 8
typedef struct FarmLink FarmLink;
struct FarmLink {
    int         size;          /* endpoints: 0 serves, 1..size-1 work */
    const char *worker_noun;   /* "rank" or "job": how messages name a worker */
    /* As dist_send / dist_recv (dist/comm.h): recv returns a malloc'd
     * message (at least one byte) from `from` (DIST_ANY: any worker). */
    int (*send)(FarmLink *l, int to, int tag, const void *buf, size_t n, Err *e);
    int (*recv)(FarmLink *l, int from, void **buf, size_t *n, int *sender, int *tag, Err *e);
    /* Endpoint 0, when the farm fails: stops every worker at once, even in
     * the middle of a segment. NULL: each gets the stop message after its
     * segment (MPI ranks; mpirun ends the rest). */
    void (*halt)(FarmLink *l);
    void       *ctx;
};

/* The ranks of g as a link (rank r is endpoint r). */
FarmLink farm_link_mpi(const DistGroup *g);

typedef struct {
    const Plan    *plan;
    /* rank 0 */
    Store         *store;          /* the database */
    SegmentStatus *status;         /* [plan->n_segments], updated as segments finish */
    int            max_segments;   /* > 0: hand out at most this many */
    /* Called on endpoint 0 when segment i is handed to a worker (may be NULL). */
    void (*started)(void *ctx, int i, int worker);
    /* Called on endpoint 0 after segment i's results are in the store and it
     * is done; transcript is what the worker printed while running it, done
     * and spent_s the work it measured (study/segment_run.h). */
    int (*finished)(void *ctx, int i, int worker, const char *transcript, Cost done, Cost spent_s, Err *e);
    /* Called on workers to run segment i into `recording`, to print lines
     * into transcript (at most transcript_size bytes) and to return the
     * work done and the seconds it took, per kind. */
    int (*run)(void *ctx, int i, char *transcript, size_t transcript_size, Cost *done, Cost *spent_s, Err *e);
    Store         *recording;      /* workers: the store run() writes to */
    void          *ctx;
} Farm;

/* Endpoint 0: hands out segments until every one is done (or max_segments
 * were handed out and have finished), then tells every worker to stop. *ran
 * gets the number of segments run. A worker's failure stops the launch with
 * its message, naming the worker and the segment; a failure of the link
 * itself (a worker that died, an interruption) names the segments that were
 * running, which stay not done. */
int farm_serve(FarmLink *l, Farm *f, int *ran, Err *e);

/* Endpoints > 0 (self: this one's number, for messages): runs segments as
 * they come until told to stop. */
int farm_work(FarmLink *l, int self, Farm *f, Err *e);

#endif
