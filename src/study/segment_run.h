/* One plan segment through the trainer (train/stage.h): from its parent's
 * checkpoint (or its seed's init), over its step range, with the sharpness
 * probes due inside it; then, at the end of a stage, the evaluation
 * (study/stage_eval.h); the checkpoint is written before the segment is
 * marked done in the store. Per-step metrics go to the store as they come. */
#ifndef PLATEAU_STUDY_SEGMENT_RUN_H
#define PLATEAU_STUDY_SEGMENT_RUN_H

#include "core/error.h"
#include "study/cost.h"
#include "study/study_state.h"

/* Progress over the whole study, for the ETA each segment prints. */
typedef struct {
    double units_total;    /* training-token equivalents (study/cost.h) left when the study started */
    double units_done;     /* of those, finished */
    Cost   left, done;     /* the same per kind of work */
    Cost   spent_s;        /* seconds measured on the done work, per kind */
    double started_s;      /* now_seconds() when the first segment started */
    double tokens_per_s;   /* measured before starting */
    int    number, count;  /* the segment running now is number `number` of `count` */
} StudyProgress;

/* Runs plan segment i; on success adds its cost to p->units_done. */
int segment_run(StudyState *S, int i, StudyProgress *p, Err *e);

#endif
