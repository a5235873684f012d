/* A study as a DAG of training segments (DESIGN.md, principle 2).
 *
 * A segment continues a parent state for a step range [start, end) of one
 * stage under one schedule, reading one data stream. Arms share computation
 * wherever their states are provably identical:
 *   - every arm of a seed starts from the same init(seed, preset);
 *   - two arms share a pre-training (or mid-training) segment for exactly as
 *     long as their learning rates are bit-identical at every step, as computed
 *     by the schedule functions (schedule_common_prefix): a WSD arm rides the
 *     WSO trunk until its decay starts, cosine and linear share the warmup,
 *     and any new schedule shares correctly without being named here;
 *   - a mid-training arm starts from its pre-training arm's final segment, and
 *     mid-training arms with the same pre-training and identical mid LRs merge;
 *   - every SFT learning rate of the sweep starts from the same base model.
 * Data order, batch, optimizer and model are the same for all arms of a
 * seed, so equal LRs mean equal bits (DESIGN.md, principle 3).
 *
 * A segment's id is the checksum (core/checksum.h) of a canonical text:
 * its parent's id, stage, step range, data stream, optimizer recipe and a
 * checksum of the exact LR of every step in the range. The optimizer recipe
 * is the stage's (train/stage.h, stage_adamw), so the runner hands the
 * trainer exactly what the id names. The schedule's name is
 * deliberately not part of it: a shared segment gets the same id whichever
 * member arm describes it, so adding or renaming arms never invalidates a
 * finished segment with the same range. SFT segments hash their sweep
 * parameters (peak LR, warmup, length) instead of an LR checksum, since their
 * step count may only be known once the SFT data are built.
 *
 * A merge segment (a wsm arm, study/spec.h) trains no steps: it merges the
 * checkpoints at the ends of merge_inputs (segments of its own WSO trunk,
 * which the plan ends at steps T - j*merge_every), oldest first, with its
 * weights (train/merge.h). Its parent is the newest input, whose ancestors
 * the other inputs are, so it is ready exactly when its parent is done,
 * like any segment. Its id hashes the inputs' ids and the weights.
 *
 * Segments are stored in topological order: a parent always comes before its
 * children, so running them in index order is a valid schedule.
 *
 * Size. Prefix sharing works from the schedules' breakpoints, but each
 * segment's id walks its steps' LRs, so a plan holds at most PLAN_MAX_STEPS
 * pre- and mid-training steps over all arms and seeds (as if each ran alone):
 * 10^7, over a hundred times the paper's 80k-step runs for one arm and seed,
 * and planned in well under a second. Larger studies are refused with the
 * count. */
#ifndef PLATEAU_STUDY_PLAN_H
#define PLATEAU_STUDY_PLAN_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "study/prepare.h"
#include "study/spec.h"
#include "train/merge.h"
#include "train/schedule.h"
#include "train/stage.h"

#define PLAN_MAX_STEPS 10000000LL

#define SEGMENT_ID_LEN 16   /* hex digits of a 64-bit checksum */

typedef struct {
    char     id[SEGMENT_ID_LEN + 1];
    uint64_t seed;
    char     text[STUDY_WORLD_TEXT_MAX + 256];   /* canonical text hashed into id */
} PlanInit;

typedef struct {
    char         id[SEGMENT_ID_LEN + 1];
    int          parent;          /* index into Plan.segments; -1: starts from inits[init] */
    int          init;            /* index into Plan.inits (the seed's init) */
    char         parent_id[SEGMENT_ID_LEN + 1];
    Stage        stage;
    uint64_t     seed;
    int64_t      start_step;      /* in the stage's own step count (0 = stage start) */
    int64_t      end_step;        /* exclusive; -1: an SFT run whose length comes from its data */
    ScheduleSpec schedule;        /* the stage schedule of the first member arm; every
                                     member's LR is identical on [start_step, end_step) */
    char         schedule_text[SCHEDULE_TEXT_MAX];
    double       sft_lr;          /* SFT only: the sweep's peak LR */
    uint32_t     arms;            /* bit i set: arm i of the spec passes through */
    char         data[STUDY_WORLD_TEXT_MAX + 256];   /* the data stream, as text */
    char         spec_text[STUDY_WORLD_TEXT_MAX + 1280];   /* canonical text hashed into id */
    int          n_merge;         /* > 0: a merge segment of this many inputs (stage pretrain,
                                     start_step = end_step = T); 0: a training segment */
    int          merge_inputs[LINEAGE_MAX_MERGED];   /* segment indices, oldest first */
    MergeWeights merge;           /* their weights */
} PlanSegment;

/* What one (arm, seed) runs, as segment indices. */
typedef struct {
    int pretrain_end;                 /* segment that ends pre-training */
    int mid_end;                      /* segment that ends mid-training; -1 if two-stage */
    int base;                         /* the model SFT starts from (mid_end, else pretrain_end) */
    int sft[STUDY_MAX_SFT_LRS];       /* one per spec.sft_lrs[k] */
} ArmRun;

/* Steps of each stage: what running every (arm, seed) separately would cost
 * (SFT: every (arm, seed, lr)) and what the plan runs. SFT counts are 0 when
 * the SFT length is only known from data. */
typedef struct {
    int64_t separate_steps[3];
    int64_t planned_steps[3];
    int     segments[3];
} PlanSaving;

typedef struct {
    StudySpec  spec;              /* a copy: the plan stands alone */
    char       world[STUDY_WORLD_TEXT_MAX + 8];   /* "world=" study_world_text, in every id */
    PlanInit   inits[STUDY_MAX_SEEDS];
    int        n_inits;           /* = spec.n_seeds, in spec order */
    PlanSegment   *segments;          /* owned; topological order */
    int        n_segments;
    ArmRun     runs[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];   /* [arm][seed index] */
    int64_t    sft_steps;         /* steps of one SFT run; 0 = unknown until data */
    PlanSaving saving;
} Plan;

/* The stage schedules of an arm under the spec's shared settings. */
ScheduleSpec arm_pretrain_schedule(const StudySpec *s, const ArmSpec *a);
/* Mid-training continues from where pre-training ended. Only for three-stage studies. */
ScheduleSpec arm_mid_schedule(const StudySpec *s, const ArmSpec *a);

/* Steps of one SFT run when the study gives SFT in tokens; 0 when in epochs
 * (the runner computes it from the SFT data and passes it to plan_build). */
int64_t study_sft_steps(const StudySpec *s);

/* Expands arms x seeds x SFT learning rates into the segment DAG.
 * sft_steps: steps of one SFT run when the study gives SFT in epochs and the
 * caller knows the data size (0: leave SFT lengths open; ignored when the
 * study gives sft_tokens). Free with plan_free. */
int plan_build(Plan *p, const StudySpec *s, int64_t sft_steps, Err *e);
void plan_free(Plan *p);

/* Segments that can run now: not done, and starting from an init or from a
 * done parent (done[i] != 0 for finished segments). Writes up to max
 * indices to out in plan order; returns how many there are. Independent
 * segments (e.g. on different ranks) may run in any order among these. */
int plan_runnable(const Plan *p, const int *done, int *out, int max);

/* 1 if segment i ends a stage for some (arm, seed): the end of its
 * pre-training or mid-training, or any SFT segment. */
int plan_ends_stage(const Plan *p, int i);

/* Index of the segment with this id, or -1. */
int plan_find(const Plan *p, const char *id);

/* Space-separated names of the arms in mask (e.g. "wso wsd0.1"); arm names hold no spaces. */
void plan_arm_names(const Plan *p, uint32_t arms, char *out, size_t out_size);

/* Pre-training steps p (after p updates) in (start, end] where a sharpness
 * probe is due: multiples of spec.probe_every, and the stage end. Writes up
 * to max of them to out; returns how many are due. */
int plan_probe_steps(const Plan *p, const PlanSegment *seg, int64_t *out, int max);

/* The pre-training steps at which a wsm arm's merged checkpoints lie, oldest
 * first: T - j*merge_every for j = K-1 .. 0. Returns K (0 for other arms). */
int plan_merge_steps(const StudySpec *s, const ArmSpec *a, int64_t *steps);

/* What prefix sharing saves in one stage (what: its name), as the plan and
 * the study's run print it: "pre-training: 2034 steps planned, 4200 if every
 * arm ran alone; sharing saves 2166 steps (51.6%)"; the percentage is of
 * `separate`. Steps are summed over every seed. */
void plan_saving_text(const char *what, int64_t separate, int64_t planned, char *out, size_t size);

/* Human-readable DAG: header, one line per segment (a merge as "merge of K
 * at step T"), each arm's path, the saving per stage (plan_saving_text). */
void plan_print(const Plan *p, FILE *fp);

#endif
