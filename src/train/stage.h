/* One training stage (pre-training, mid-training or SFT), set up the same
 * way for every caller: `plateau train` and the study runner both turn
 * (start state, stage, schedule, optimizer recipe, data) into a trainer call
 * here, so the rules below are written once.
 *
 * The step clock (checkpoint.h, Lineage):
 *   - a fresh init, or a parent of stage "init": the clock starts at 0;
 *   - a parent of the same stage (a branch, e.g. WSD from the WSO trunk):
 *     the parent's clock continues, and so does its stage origin;
 *   - mid after pre-training: the parent's clock continues (the stage's
 *     origin is the parent's step), so a mid checkpoint after k mid steps
 *     is numbered T_pre + k;
 *   - SFT: its own clock from 0.
 * "Stage steps" below count from the stage's origin (step 0 is the stage's
 * first update); "clock steps" are what checkpoints and metrics record:
 * clock = origin + stage step. The schedule is a function of stage steps, and
 * the data of a stage are read from their beginning (trainer.h).
 *
 * The optimizer state: the parent's AdamW moments are kept for a branch of
 * the same stage and for mid-training, and reset for SFT or when the parent
 * has none (a fresh init); MOMENTS_KEEP / MOMENTS_RESET override that. The
 * stage's own AdamWConfig always replaces the parent's.
 *
 * The lineage every checkpoint of the stage records: parent id, stage name,
 * schedule text, the data as "PATH[,PATH...][ mask=PATH[,PATH...]]", seed,
 * the stage origin, the tokenizer it carries (the configured one, else
 * the parent's) and the precision of the products; the trainer fills the
 * counters and the data cursor. */
#ifndef PLATEAU_STAGE_H
#define PLATEAU_STAGE_H

#include <stdint.h>

#include "core/error.h"
#include "data/loader.h"
#include "model/llama.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/loader_source.h"
#include "train/schedule.h"
#include "train/trainer.h"

typedef enum { STAGE_PRETRAIN, STAGE_MID, STAGE_SFT } Stage;
#define STAGE_COUNT 3

const char *stage_name(Stage s);                      /* "pretrain", "mid", "sft" */
int stage_from_name(const char *name, Stage *out);    /* 0, or -1 for another name */

/* The paper's optimizer recipe (PAPER.md, Recipe): AdamW(0.9, 0.95, 1e-8),
 * clip 1.0, weight decay 0.1 for pre- and mid-training and 0 for SFT. */
AdamWConfig stage_adamw(Stage s);

typedef enum {
    MOMENTS_BY_STAGE,   /* the rule above */
    MOMENTS_KEEP,       /* keep the parent's (an error if it has none) */
    MOMENTS_RESET,      /* start from zero moments */
} MomentsPolicy;

/* Where a stage starts: a parent checkpoint, or a fresh initialisation. */
typedef struct {
    int     has_parent;
    char    parent_dir[4096];   /* the resolved checkpoint directory */
    Lineage parent;             /* its lineage (zero for a fresh init) */
    int     has_moments;        /* it holds optimizer state */
} StageStart;

/* Loads the weights (and the optimizer state, if any) of the checkpoint
 * parent_dir into m and o, or, with parent_dir NULL, initialises m from
 * init_seed. m and o must already be created for the model's config. */
int stage_load_start(StageStart *from, Model *m, AdamW *o, const char *parent_dir, uint64_t init_seed, Err *e);

/* Mid-training's schedule after `parent`: its LR starts where the parent's
 * schedule stopped (eta at the parent's stage step; a parent that is itself
 * a mid stage is branched from where that stage started) and decays over
 * `steps` to alpha_mid times that (PAPER.md, Schedules). Errors if the
 * parent records no schedule. */
int stage_mid_schedule(const Lineage *parent, int64_t steps, double alpha_mid, ScheduleSpec *out, Err *e);

typedef struct {
    Stage              stage;
    uint64_t           seed;          /* data order; recorded in the lineage */
    ScheduleSpec       schedule;      /* in stage steps */
    int64_t            end_step;      /* stage steps done when this run ends */
    AdamWConfig        adamw;
    MomentsPolicy      moments;
    /* data */
    const char *const *token_paths;   /* [n_shards] */
    const char *const *mask_paths;    /* [n_shards], or NULL */
    int                n_shards;
    LoaderLayout       layout;
    /* batching: micro_batch x seq_len tokens, accum micro-batches a step */
    int                micro_batch, seq_len, accum;
    const char        *tokenizer;     /* tokenizer.json the checkpoints keep; NULL: the parent's own, if any */
    Precision          precision;     /* the model's (model_set_precision); recorded in the lineage */
    /* checkpoints: run_dir/step-N (clock steps) every ckpt_every clock steps
     * (0: only at the end); run_dir NULL: none */
    const char        *run_dir;
    int64_t            ckpt_every;
} StageConfig;

typedef struct {
    TrainRun     train;          /* the trainer call; callers may set on_step,
                                    progress and log_every */
    int64_t      origin;         /* clock step of the stage's step 0 */
    int64_t      step, tokens;   /* clock position: steps and tokens done */
    int64_t      end;            /* clock step this run ends at */
    int          moments_kept;   /* 1: the parent's moments were kept */
    ScheduleSpec schedule;       /* the LR adapter's schedule (stage steps) */
    LoaderSource loader;
    BatchSource  batches;
} StageRun;

/* Sets up the run of c from the start state `from` (stage_load_start on the
 * same m and o): the clock, the optimizer policy and recipe (applied to o),
 * the loader, the LR adapter and the lineage. r must not move until
 * stage_close (the trainer call points into it). Errors: a parent already
 * past c->end_step, MOMENTS_KEEP without moments, unreadable data. */
int stage_prepare(StageRun *r, const Model *m, AdamW *o, const StageStart *from, const StageConfig *c, Err *e);

/* Continues from a checkpoint of this very run (same parent and stage; its
 * lineage in `at`, already loaded into the model and optimizer): moves the
 * clock and the data cursor there. Errors when the data differ from the
 * cursor's (data/loader.h, loader_resume). */
int stage_resume(StageRun *r, const Lineage *at, Err *e);

/* Trains from the current position to stage step `until` (<= the run's end),
 * writing checkpoints only when `save` is 1. *last (may be NULL) receives the
 * last step's metrics. An on_step that stops early leaves the position at the
 * step it stopped after. */
int stage_train(StageRun *r, Model *m, AdamW *o, int64_t until, int save, StepMetrics *last, Err *e);

/* Clock step of stage step s. */
static inline int64_t stage_clock(const StageRun *r, int64_t s) { return r->origin + s; }

/* Releases the loader of a prepared run. */
void stage_close(StageRun *r);

#endif
