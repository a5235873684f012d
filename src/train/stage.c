#include "train/stage.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const STAGE_NAMES[STAGE_COUNT] = {"pretrain", "mid", "sft"};

const char *stage_name(Stage s)
{
    assert(s >= 0 && s < STAGE_COUNT);
    return STAGE_NAMES[s];
}

int stage_from_name(const char *name, Stage *out)
{
    for (int s = 0; s < STAGE_COUNT; s++)
        if (strcmp(name, STAGE_NAMES[s]) == 0) {
            *out = (Stage)s;
            return 0;
        }
    return -1;
}

AdamWConfig stage_adamw(Stage s)
{
    AdamWConfig c = adamw_defaults();
    if (s == STAGE_SFT) c.weight_decay = 0.0f;
    return c;
}

int stage_load_start(StageStart *from, Model *m, AdamW *o, const char *parent_dir, uint64_t init_seed, Err *e)
{
    memset(from, 0, sizeof *from);
    if (!parent_dir) {
        model_init_weights(m, init_seed);
        return 0;
    }
    from->has_parent = 1;
    snprintf(from->parent_dir, sizeof from->parent_dir, "%s", parent_dir);
    model_params_changed(m);   /* new weights: the bf16 copy must follow */
    return checkpoint_load(parent_dir, &m->cfg, m->params, o, &from->has_moments, &from->parent, e);
}

int stage_mid_schedule(const Lineage *parent, int64_t steps, double alpha_mid, ScheduleSpec *out, Err *e)
{
    if (parent->schedule[0] == 0)
        return err_set(e, "mid-training continues its parent's schedule, but the parent checkpoint records none "
                          "(start mid from a pre-training checkpoint)");
    ScheduleSpec ps;
    if (schedule_parse(parent->schedule, &ps, e)) return err_wrap(e, "parent checkpoint lineage");
    double start = ps.kind == SCHED_MID ? ps.peak : schedule_eta(&ps, parent->step - parent->stage_start_step);
    *out = schedule_mid(start, steps, alpha_mid);
    return 0;
}

/* The clock position a stage starts at: origin, steps and tokens done. */
static void clock_start(Stage stage, const StageStart *from, int64_t *origin, int64_t *step, int64_t *tokens)
{
    const Lineage *p = &from->parent;
    *origin = *step = *tokens = 0;
    if (!from->has_parent || strcmp(p->stage, "init") == 0) return;
    if (strcmp(p->stage, stage_name(stage)) == 0) {   /* a branch of the same stage */
        *origin = p->stage_start_step;
        *step = p->step;
        *tokens = p->tokens;
    } else if (stage == STAGE_MID) {                 /* mid continues pre-training's clock */
        *origin = *step = p->step;
        *tokens = p->tokens;
    }
}

static int apply_moments_policy(StageRun *r, AdamW *o, const StageStart *from, const StageConfig *c, Err *e)
{
    int keep = from->has_moments && c->stage != STAGE_SFT;
    if (c->moments == MOMENTS_RESET) keep = 0;
    if (c->moments == MOMENTS_KEEP) {
        if (from->has_parent && !from->has_moments)
            return err_set(e, "keeping the optimizer state: %s has none (a fresh init)", from->parent_dir);
        keep = 1;
    }
    o->cfg = c->adamw;   /* the stage's own settings, not the parent's */
    if (!keep) adamw_reset(o);
    r->moments_kept = keep;
    return 0;
}

/* "a.bin,b.bin mask=a.mask,b.mask" */
static void data_text(const StageConfig *c, char *out, size_t size)
{
    size_t used = 0;
    out[0] = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *const *paths = pass ? c->mask_paths : c->token_paths;
        if (!paths) continue;
        for (int k = 0; k < c->n_shards && used < size; k++)
            used += (size_t)snprintf(out + used, size - used, "%s%s", k ? "," : pass ? " mask=" : "", paths[k]);
    }
}

static double stage_lr(const void *ctx, int64_t step)
{
    const StageRun *r = ctx;
    assert(step >= r->origin);   /* the trainer never runs a step before the stage began */
    return schedule_lr(&r->schedule, step - r->origin);
}

int stage_prepare(StageRun *r, const Model *m, AdamW *o, const StageStart *from, const StageConfig *c, Err *e)
{
    memset(r, 0, sizeof *r);
    clock_start(c->stage, from, &r->origin, &r->step, &r->tokens);
    r->end = r->origin + c->end_step;
    if (r->step > r->end)
        return err_set(e, "the parent is at step %" PRId64 ", past this stage's end %" PRId64, r->step, r->end);
    if (c->tokenizer && checkpoint_tokenizer_check(c->tokenizer, &m->cfg, e)) return -1;
    if (apply_moments_policy(r, o, from, c, e)) return -1;
    r->schedule = c->schedule;

    LoaderConfig lc = {
        .token_paths = c->token_paths,
        .mask_paths = c->mask_paths,
        .n_shards = c->n_shards,
        .seq_len = c->seq_len,
        .batch_size = c->micro_batch,
        .n_micro = c->accum,
        .seed = c->seed,
        .layout = c->layout,
        .vocab_size = m->cfg.vocab_size,
    };
    if (loader_source_open(&r->loader, &lc, e)) return -1;
    r->batches = loader_source(&r->loader);

    r->train = (TrainRun){
        .start_step = r->step,
        .end_step = r->end,
        .start_tokens = r->tokens,
        .micro_batch = c->micro_batch,
        .seq_len = c->seq_len,
        .accum = c->accum,
        .lr = stage_lr,
        .lr_ctx = r,
        .run_dir = c->run_dir,
        .ckpt_every = c->ckpt_every,
        .lineage = {.seed = c->seed, .stage_start_step = r->origin},
    };
    Lineage *lin = &r->train.lineage;
    snprintf(lin->parent_id, sizeof lin->parent_id, "%s", from->has_parent ? from->parent.id : "");
    snprintf(lin->stage, sizeof lin->stage, "%s", stage_name(c->stage));
    schedule_format(&c->schedule, lin->schedule, sizeof lin->schedule);
    data_text(c, lin->data, sizeof lin->data);
    snprintf(lin->tokenizer, sizeof lin->tokenizer, "%s", c->tokenizer ? c->tokenizer : from->parent.tokenizer);
    snprintf(lin->precision, sizeof lin->precision, "%s", precision_name(c->precision));
    return 0;
}

int stage_resume(StageRun *r, const Lineage *at, Err *e)
{
    /* The same parent and stage give the same origin. */
    assert(at->stage_start_step == r->origin);
    r->step = r->train.start_step = at->step;
    r->tokens = r->train.start_tokens = at->tokens;
    int64_t next;
    return loader_resume(&r->loader.loader, &at->cursor, &next, e);
}

int stage_train(StageRun *r, Model *m, AdamW *o, int64_t until, int save, StepMetrics *last, Err *e)
{
    TrainRun *s = &r->train;
    const char *run_dir = s->run_dir;
    assert(stage_clock(r, until) <= r->end);
    s->start_step = r->step;
    s->end_step = stage_clock(r, until);
    s->start_tokens = r->tokens;
    if (!save) s->run_dir = NULL;
    StepMetrics met;
    int rc = trainer_run(m, o, &r->batches, s, &met, e);
    s->run_dir = run_dir;
    if (rc) return -1;
    r->step = met.step;
    r->tokens = met.tokens;
    if (last) *last = met;
    return 0;
}

void stage_close(StageRun *r)
{
    loader_source_close(&r->loader);
}
