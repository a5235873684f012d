/* A study's segments spread over MPI ranks (`mpirun -np N plateau study
 * run`). Rank 0 owns the plan's progress and the results store and runs no
 * segment itself: it hands every segment whose parent is done to a free rank
 * (lowest rank first, segments in plan order), and when a rank reports a
 * segment finished it applies the results that rank recorded (store_replay)
 * and marks it done, which may make its children ready. Ranks 1..N-1 run one
 * segment at a time, whole, with a recording store (study/store.h) that knows
 * the parent's checkpoint; checkpoints go to the study folder, which every
 * rank must see at the same path (one machine, or a shared filesystem).
 *
 * Every segment runs exactly as the one-process runner runs it, so the store
 * ends with the same rows; only the order in which segments finish differs.
 * A killed launch leaves its unfinished segments `running`, which a new run
 * under any number of ranks (or none) treats as not done. */
#ifndef PLATEAU_STUDY_FARM_H
#define PLATEAU_STUDY_FARM_H

#include <stddef.h>

#include "core/error.h"
#include "dist/comm.h"
#include "study/plan.h"
#include "study/store.h"

typedef struct {
    const Plan    *plan;
    /* rank 0 */
    Store         *store;          /* the database */
    SegmentStatus *status;         /* [plan->n_segments], updated as segments finish */
    int            max_segments;   /* > 0: hand out at most this many */
    /* Called on rank 0 after segment i's results are in the store and it is
     * done; transcript is what the rank printed while running it. */
    int (*finished)(void *ctx, int i, int rank, const char *transcript, Err *e);
    /* Called on ranks > 0 to run segment i into `recording` (R's store), and
     * to print lines into transcript (at most transcript_size bytes). */
    int (*run)(void *ctx, int i, char *transcript, size_t transcript_size, Err *e);
    Store         *recording;      /* ranks > 0: the store run() writes to */
    void          *ctx;
} Farm;

/* Rank 0: hands out segments until every one is done (or max_segments were
 * handed out and have finished), then tells every rank to stop. *ran gets
 * the number of segments run. A rank's failure stops the launch with its
 * message, naming the rank and the segment. */
int farm_serve(const DistGroup *g, Farm *f, int *ran, Err *e);

/* Ranks > 0: runs segments as they come until told to stop. */
int farm_work(const DistGroup *g, Farm *f, Err *e);

#endif
