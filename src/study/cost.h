/* How long the rest of a study should take on this machine. Work is counted
 * in training-token equivalents: a forward pass is a third of a training
 * step's FLOPs; cached greedy decoding runs one token at a time, far below
 * the matmul rate, so a generated token counts as a whole training token;
 * each Hutchinson probe is two gradients of the probe batch. Dividing by a
 * throughput measured on the study's own model gives seconds. */
#ifndef PLATEAU_STUDY_COST_H
#define PLATEAU_STUDY_COST_H

#include <stddef.h>

#include "core/error.h"
#include "study/study_state.h"

#define STUDY_MAX_NEW_TOKENS 24   /* longest generated answer (bios answers are < 10 tokens) */

typedef struct {
    double train, eval, probe;   /* training-token equivalents */
} Cost;

/* The work of plan segment i: its training steps, its sharpness probes and
 * the evaluation at its end when it ends a stage. */
Cost cost_of_segment(const StudyState *S, int i);
/* The sum over the segments whose status is not SEG_DONE; *todo receives their number. */
Cost cost_of_remaining(const StudyState *S, const SegmentStatus *status, int *todo);
double cost_total(Cost c);

/* Seconds the work `left` should take, each kind at the rate measured so far
 * (spent_s seconds for the `done` units of that kind), and at tokens_per_s
 * for a kind not yet measured:
 *   sum over k in {train, eval, probe} of left_k * (done_k > 0 ? spent_k / done_k : 1 / tokens_per_s)
 * so that evaluation and sharpness, which run far from the training matmul
 * rate, are estimated as this machine runs them once a stage end has been
 * seen. */
double cost_eta_seconds(Cost left, Cost done, Cost spent_s, double tokens_per_s);

/* Seconds until every segment not done has finished when `jobs` workers
 * take them as the farm hands them out (study/farm.h: the first segment in
 * plan order whose parent has finished goes to a free worker), each lasting
 * cost_eta_seconds of its own cost at the rates above. started_ago (NULL:
 * none running) gives, for a segment running now, how many seconds ago it
 * started (< 0: not running): it keeps a worker for the rest of its
 * duration (at least 0). With jobs = 1 and nothing running this is
 * cost_eta_seconds of the sum, the one-process runner's estimate: a list
 * schedule of the plan's DAG, as in Graham's list scheduling (1969). */
double cost_makespan_seconds(const StudyState *S, const SegmentStatus *status, const double *started_ago, int jobs,
                             Cost done, Cost spent_s, double tokens_per_s);

/* Training tokens per second of the study's model on this machine, as the
 * trainer runs it: three pre-training steps from a scratch initialisation
 * on the study's own batches, the best step after the first (which warms
 * caches and threads up). Leaves the model and optimizer in a state every
 * segment replaces with its own start state. Returns -1 with e set on error. */
double cost_measure_throughput(StudyState *S, Err *e);

/* "42s", "3m07s", "2h05m", or "?" for a negative or absurd duration. */
void format_duration(char *out, size_t size, double seconds);

#endif
