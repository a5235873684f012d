/* plateau train: one stage (pretrain, mid or sft) of a lineage, from a
 * checkpoint or a preset, on a token shard, under one LR schedule, with
 * periodic checkpoints that a killed run resumes from bit for bit. */
#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_opts.h"
#include "cli/probe_opts.h"
#include "core/file.h"
#include "data/loader.h"
#include "data/shard.h"
#include "dist/comm.h"
#include "model/llama.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/schedule.h"
#include "train/stage.h"
#include "train/trainer.h"

static const OptSpec OPTS[] = {
    {"init", "CKPT", "start from this checkpoint (or the latest in this run directory)"},
    {"preset", "NAME", "or start from a fresh model of this preset (with --vocab, --tied)"},
    {"vocab", "N", "with --preset: vocabulary size (default: the preset's)"},
    {"tied", NULL, "with --preset: tie the output head to the embedding"},
    {"untied", NULL, "with --preset: separate output head"},
    {"tokenizer", "FILE", "tokenizer.json to keep in the checkpoints (default: --init's own)"},
    {"data", "FILES", "training tokens: llm.c token shards, comma-separated (required)"},
    {"mask", "FILES", "loss masks: shards of 0/1 aligned with --data (token i counts as a target where 1)"},
    {"layout", "L", "stream (windows over the concatenated tokens; default) or rows (packed rows of T+1)"},
    {"out", "DIR", "run directory: checkpoints go to DIR/step-NNNNNNNN, the step in 8 digits (required)"},
    {"stage", "S", "pretrain, mid or sft (default pretrain)"},
    {"steps", "N", "optimizer steps of this stage (required)"},
    {"lr", "X", "peak learning rate (pretrain default 3e-4; sft default 1e-5; mid continues the parent's)"},
    {"schedule", "K", "wso, wsd, cosine, linear, constant (pretrain default wso); mid: mid; sft: cosine"},
    {"warmup", "N", "warmup steps (default steps/80, the paper's 1000 of 80k; sft: min(100, steps/10))"},
    {"alpha", "A", "final LR / peak for wsd, cosine, linear (default 0.1; sft 0)"},
    {"rho", "R", "wsd: stable share of the post-warmup steps (default 0.75)"},
    {"decay-shape", "S", "wsd decay: linear, 1-sqrt, cosine, exp (default linear)"},
    {"alpha-mid", "A", "mid: final LR / the parent's final LR (default 0: decay to zero)"},
    {"batch-tokens", "N", "tokens per optimizer step (default micro-batch x seq-len)"},
    {"micro-batch", "B", "sequences per forward pass (default 8)"},
    {"seq-len", "T", "training sequence length (default: the model's context; a fresh model's context is T)"},
    {"precision", "P", "fp32 or bf16 matrix products (default: bf16 where the CPU has avx512_bf16 or AMX)"},
    {"seed", "S", "seed of the data order, and of the init with --preset (default 1)"},
    {"weight-decay", "W", "AdamW weight decay (default 0.1; sft 0)"},
    {"clip", "C", "global gradient-norm clip (default 1.0; 0 disables)"},
    {"reset-optimizer", NULL, "start from zero AdamW moments (the sft default)"},
    {"keep-optimizer", NULL, "keep the parent's AdamW moments (the default for mid and continued runs)"},
    {"ckpt-every", "K", "write a checkpoint every K steps (default: only at the end)"},
    {"resume", NULL, "continue from the latest checkpoint in --out, if any"},
    {"log-every", "N", "print a metrics line every N steps (default 1)"},
    {"quiet", NULL, "no progress bar"},
    PROBE_OPTS,
    {NULL, NULL, NULL},
};

static const char USAGE[] =
    "plateau train (--init CKPT | --preset NAME) --data FILE --steps N --out DIR [--stage S] [--schedule K] [options]";
static const char ABOUT[] =
    "Runs one training stage and writes checkpoints that record their lineage. mid continues the parent's step and\n"
    "token counters and its AdamW moments, and its LR starts where the parent's schedule ended; sft starts its own\n"
    "counters with fresh moments and no weight decay. Prints step, loss, lr, grad norm and tokens/s.\n"
    "Under `mpirun -np N` the ranks share every step's micro-batches (data parallel, same global batch) and\n"
    "rank 0 alone writes checkpoints and output; --resume accepts a run written by any number of ranks.";

#define MAX_SHARDS 64

/* The command line, checked. */
typedef struct {
    Stage       stage;
    const char *out_dir;
    long        steps, micro_batch, seq_len, batch_tokens, ckpt_every, log_every, seed;
    double      weight_decay, clip;
    MomentsPolicy moments;
    Precision   precision;
    ScheduleKind schedule;      /* --schedule, else the stage's default */
    DecayShape  decay_shape;
    ScheduleSpec lr_schedule;   /* built here unless mid, which continues its parent's */
    Config      fresh;          /* with --preset: the model to create */
    /* data: --data and --mask as lists of shards */
    char      **token_paths, **mask_paths;
    int         n_shards, n_masks;
    LoaderLayout layout;
} TrainOptions;

static int parse_data_options(const Args *a, TrainOptions *o, Err *e)
{
    if (args_require(a, "data", &(const char *){0}, e)) return -1;
    o->n_shards = args_list(a, "data", &o->token_paths);
    o->n_masks = args_list(a, "mask", &o->mask_paths);
    if (o->n_shards <= 0 || o->n_shards > MAX_SHARDS || (args_has(a, "mask") && o->n_masks != o->n_shards))
        return err_set(e, "--data and --mask: 1 to %d comma-separated files each, one mask per token shard (got %d "
                          "and %d)", MAX_SHARDS, o->n_shards, o->n_masks);
    const char *layout = args_str(a, "layout", "stream");
    if (strcmp(layout, "stream") && strcmp(layout, "rows"))
        return err_set(e, "--layout: expected stream or rows, got '%s'", layout);
    o->layout = strcmp(layout, "rows") == 0 ? LOADER_ROWS : LOADER_STREAM;
    return 0;
}

static int build_schedule(const Args *a, const TrainOptions *o, const StageStart *from, ScheduleSpec *out, Err *e);

static int parse_train_options(const Args *a, TrainOptions *o, Err *e)
{
    const char *stage = args_str(a, "stage", "pretrain");
    if (stage_from_name(stage, &o->stage))
        return err_set(e, "--stage: expected pretrain, mid or sft, got '%s'", stage);
    AdamWConfig recipe = stage_adamw(o->stage);
    if (args_require(a, "out", &o->out_dir, e) || args_require(a, "steps", &(const char *){0}, e) ||
        args_long(a, "steps", 0, &o->steps, e) || args_long(a, "micro-batch", 8, &o->micro_batch, e) ||
        args_long(a, "seq-len", 0, &o->seq_len, e) || args_long(a, "batch-tokens", 0, &o->batch_tokens, e) ||
        args_long(a, "ckpt-every", 0, &o->ckpt_every, e) || args_long(a, "log-every", 1, &o->log_every, e) ||
        args_long(a, "seed", 1, &o->seed, e) ||
        args_double(a, "weight-decay", recipe.weight_decay, &o->weight_decay, e) ||
        args_double(a, "clip", recipe.clip, &o->clip, e))
        return -1;
    if (args_has(a, "init") == args_has(a, "preset"))
        return err_set(e, "give exactly one of --init CKPT and --preset NAME");
    if (args_has(a, "reset-optimizer") && args_has(a, "keep-optimizer"))
        return err_set(e, "--reset-optimizer and --keep-optimizer contradict each other");
    o->moments = args_has(a, "reset-optimizer") ? MOMENTS_RESET
                 : args_has(a, "keep-optimizer") ? MOMENTS_KEEP
                                                 : MOMENTS_BY_STAGE;
    o->precision = precision_default();
    if (args_has(a, "precision") && precision_parse(args_str(a, "precision", ""), "--precision", &o->precision, e))
        return -1;
    const char *kind_name = args_str(a, "schedule", o->stage == STAGE_MID ? "mid" : o->stage == STAGE_SFT ? "cosine" : "wso");
    if (schedule_kind_from_name(kind_name, &o->schedule))
        return err_set(e, "--schedule: unknown schedule '%s' (expected wso, wsd, cosine, linear, constant, mid)",
                       kind_name);
    o->decay_shape = DECAY_LINEAR;
    if (args_has(a, "decay-shape") && schedule_shape_from_name(args_str(a, "decay-shape", ""), &o->decay_shape))
        return err_set(e, "--decay-shape: unknown shape '%s' (expected linear, 1-sqrt, cosine, exp)",
                       args_str(a, "decay-shape", ""));
    if (args_has(a, "preset") && cli_model_config(a, &o->fresh, e)) return -1;
    if (o->schedule != SCHED_MID && build_schedule(a, o, NULL, &o->lr_schedule, e)) return -1;
    if (probe_opts_check(a, e)) return -1;
    return parse_data_options(a, o, e);
}

/* The stage's schedule from the command line; mid continues the parent's
 * (from: the start, needed by mid only). */
static int build_schedule(const Args *a, const TrainOptions *o, const StageStart *from, ScheduleSpec *out, Err *e)
{
    int sft = o->stage == STAGE_SFT;
    int64_t steps = o->steps;
    ScheduleKind kind = o->schedule;
    double lr, alpha, rho, alpha_mid;
    long warmup;
    long default_warmup = sft ? (long)schedule_sft_warmup(steps) : (long)(steps / 80);
    if (args_double(a, "lr", sft ? 1e-5 : 3e-4, &lr, e) || args_double(a, "alpha", sft ? 0.0 : 0.1, &alpha, e) ||
        args_double(a, "rho", SCHEDULE_DEFAULT_RHO, &rho, e) ||
        args_double(a, "alpha-mid", SCHEDULE_DEFAULT_ALPHA_MID, &alpha_mid, e) ||
        args_long(a, "warmup", default_warmup, &warmup, e))
        return -1;
    if (kind == SCHED_MID) {
        if (!from->has_parent)
            return err_set(e, "--schedule mid continues the parent's schedule: start mid from a pre-training "
                              "checkpoint (--init)");
        if (stage_mid_schedule(&from->parent, steps, alpha_mid, out, e)) return -1;
        if (args_has(a, "lr")) *out = schedule_mid(lr, steps, alpha_mid);
    } else if (kind == SCHED_COSINE && sft && !args_has(a, "alpha")) {
        *out = schedule_sft(lr, warmup, steps);
    } else {
        *out = schedule_of_kind(kind, lr, warmup, steps, alpha, rho, o->decay_shape);
    }
    return schedule_validate(out, e);
}

/* The model's config: the parent checkpoint's or the preset's. */
static int model_config(const Args *a, const TrainOptions *o, char *parent_dir, size_t size, Config *cfg, Err *e)
{
    if (!args_has(a, "init")) {
        *cfg = o->fresh;
        return 0;
    }
    if (checkpoint_resolve(args_str(a, "init", ""), parent_dir, size, e)) return -1;
    return checkpoint_read_config(parent_dir, cfg, e);
}

/* A checkpoint of this very run to continue from (--resume), or "": an
 * existing run is never overwritten by accident. */
static int find_resume(const Args *a, const char *out_dir, char *resume_dir, size_t size, Err *e)
{
    int64_t at;
    int found = checkpoint_latest(out_dir, resume_dir, size, &at, e);
    if (found < 0) return -1;
    if (args_has(a, "resume")) {
        if (dist_is_root(dist_world())) checkpoint_clean_temporaries(out_dir);   /* left by a killed save; rank 0 writes */
        if (found != 0) resume_dir[0] = 0;
        return 0;
    }
    if (found == 0)
        return err_set(e, "%s already holds checkpoints (latest %s): pass --resume to continue that run, or another "
                          "--out", out_dir, resume_dir);
    resume_dir[0] = 0;
    return 0;
}

/* What differs between the run in a checkpoint (was) and this command's
 * (now), with both values, into *what, *was_v, *now_v; 0 when nothing does. */
static int run_difference(const Lineage *was, const Lineage *now, const TrainRun *s, const char **what, char *was_v,
                          char *now_v, size_t size)
{
    int64_t batch = (int64_t)s->accum * s->micro_batch * s->seq_len;
#define DIFF_STR(name, a, b) \
    if (strcmp(a, b)) { *what = name; snprintf(was_v, size, "%s", a); snprintf(now_v, size, "%s", b); return 1; }
#define DIFF_INT(name, a, b) \
    if ((a) != (b)) { *what = name; snprintf(was_v, size, "%" PRId64, (int64_t)(a)); \
                      snprintf(now_v, size, "%" PRId64, (int64_t)(b)); return 1; }
    DIFF_STR("--stage", was->stage, now->stage);
    DIFF_STR("the schedule", was->schedule, now->schedule);
    DIFF_INT("--seed", was->seed, now->seed);
    DIFF_INT("--batch-tokens", was->batch_tokens, batch);
    DIFF_INT("--micro-batch", was->micro_batch, s->micro_batch);
    DIFF_INT("--seq-len", was->seq_len, s->seq_len);
    DIFF_STR("--precision", was->precision, now->precision);
    DIFF_STR("the parent checkpoint", was->parent_id, now->parent_id);
#undef DIFF_STR
#undef DIFF_INT
    return 0;
}

/* Continues the run from its checkpoint resume_dir, which must have been
 * started with the same options (its lineage says how). */
static int resume_run(StageRun *run, Model *m, AdamW *opt, const char *resume_dir, Err *e)
{
    Lineage was;
    int has_opt;
    if (checkpoint_load(resume_dir, &m->cfg, m->params, opt, &has_opt, &was, e)) return -1;
    const char *what;
    char was_v[300], now_v[300];
    if (run_difference(&was, &run->train.lineage, &run->train, &what, was_v, now_v, sizeof was_v))
        return err_set(e, "--resume: %s differs from the run in %s (it has %s, this command %s); use another --out "
                          "or the same options", what, resume_dir, was_v[0] ? was_v : "none",
                       now_v[0] ? now_v : "none");
    if (stage_resume(run, &was, e)) return err_wrap(e, "--resume from %s", resume_dir);
    return 0;
}

/* micro_batch x seq_len x accum = batch tokens. */
static int batching(const TrainOptions *o, const Config *cfg, int *T, int *accum, Err *e)
{
    *T = o->seq_len > 0 ? (int)o->seq_len : cfg->seq_len;
    if (*T > cfg->seq_len) return err_set(e, "--seq-len %d exceeds the model's context of %d", *T, cfg->seq_len);
    int64_t per_micro = o->micro_batch * (int64_t)*T;
    int64_t batch_tokens = o->batch_tokens > 0 ? o->batch_tokens : per_micro;
    if (batch_tokens % per_micro)
        return err_set(e, "--batch-tokens %" PRId64 " is not a multiple of --micro-batch x --seq-len = %" PRId64,
                       batch_tokens, per_micro);
    *accum = (int)(batch_tokens / per_micro);
    return 0;
}

/* The data and the machine can hold one micro-batch of T tokens: checked
 * before the model's buffers are allocated, so a --seq-len too long for the
 * data is one message, not gigabytes allocated first. */
static int check_batch_fits(const TrainOptions *o, const Config *cfg, int T, Err *e)
{
    LoaderConfig lc = {.token_paths = (const char *const *)o->token_paths, .n_shards = o->n_shards, .seq_len = T,
                       .layout = o->layout};
    size_t n_tokens;
    int64_t windows;
    if (loader_count_windows(&lc, &n_tokens, &windows, e)) return -1;
    if (windows < o->micro_batch)
        return err_set(e, "--seq-len %d: the data (%s%s: %zu tokens) hold %" PRId64 " window%s of %d tokens, fewer "
                          "than one micro-batch of %ld; lower --seq-len or --micro-batch",
                       T, o->token_paths[0], o->n_shards > 1 ? " and the other shards" : "", n_tokens, windows,
                       windows == 1 ? "" : "s", T + 1, o->micro_batch);
    double need = (double)model_train_step_bytes(cfg, (int)o->micro_batch, T, omp_get_max_threads(), o->precision);
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
    if (have > 0 && need > have)
        return err_set(e, "--seq-len %d x --micro-batch %ld: a training step needs %.1f GiB, more than this "
                          "machine's %.1f GiB (see `plateau model info`); lower --seq-len or --micro-batch",
                       T, o->micro_batch, need / 1073741824.0, have / 1073741824.0);
    return 0;
}

static void print_start(const Args *a, const StageRun *run, const Model *m, const AdamW *opt, const char *from,
                        int resumed)
{
    const TrainRun *s = &run->train;
    printf("train: stage %s, steps [%" PRId64 ", %" PRId64 ") of [%" PRId64 ", %" PRId64 "), schedule %s\n",
           s->lineage.stage, s->start_step, s->end_step, run->origin, s->end_step, s->lineage.schedule);
    printf("train: %s%s, batch %" PRId64 " tokens (%d x %d x %d), %zu parameters, %s, AdamW wd %g%s\n",
           resumed ? "resumed from " : from ? "from " : "fresh init, seed ", from ? from : args_str(a, "seed", "1"),
           (int64_t)s->accum * s->micro_batch * s->seq_len, s->micro_batch, s->seq_len, s->accum, m->n_params,
           precision_name(m->precision), (double)opt->cfg.weight_decay, run->moments_kept || resumed ? ", moments kept" : ", fresh moments");
    const DistGroup *g = run->train.group;
    if (g && g->size > 1)
        printf("train: data parallel over %d ranks, %d micro-batches of each step per rank%s\n", g->size,
               (s->accum + g->size - 1) / g->size,
               s->accum % g->size ? " (uneven: --batch-tokens / (micro-batch x seq-len) is not a multiple of the ranks)"
                                  : "");
    fflush(stdout);
}

/* Trains the prepared run, with the sharpness probe if asked for. */
static int train(const Args *a, const TrainOptions *o, StageRun *run, Model *m, AdamW *opt, Err *e)
{
    SharpnessHook probe;
    int probing = 0;   /* rank 0 alone measures and writes sharpness */
    run->train.log_every = o->log_every;
    run->train.progress = !args_has(a, "quiet");
    if (dist_is_root(run->train.group) &&
        probe_hook_install(a, &probe, m, run->train.seq_len, &run->train, o->out_dir,
                           args_has(a, "quiet") && o->log_every == 0, &probing, e))
        return -1;
    StepMetrics last;
    int rc = stage_train(run, m, opt, run->end - run->origin, 1, &last, e);
    if (!rc && probing && probe.failed) {
        *e = probe.err;
        rc = -1;
    }
    if (probing) sharpness_hook_close(&probe);
    if (rc) return -1;
    char final_dir[4096];
    checkpoint_step_path(final_dir, sizeof final_dir, o->out_dir, run->end);
    printf("train: done at step %" PRId64 ", %" PRId64 " tokens, checkpoint %s (id %s)\n", last.step, last.tokens,
           final_dir, run->train.lineage.id);
    return 0;
}

static int train_stage(const Args *a, TrainOptions *o, Err *e)
{
    char parent_dir[4096] = "", resume_dir[4096];
    Config cfg;
    int T = 0, accum = 0;
    if (find_resume(a, o->out_dir, resume_dir, sizeof resume_dir, e) ||
        model_config(a, o, parent_dir, sizeof parent_dir, &cfg, e))
        return -1;
    if (!parent_dir[0] && o->seq_len > 0) cfg.seq_len = (int)o->seq_len;   /* a fresh model's context is T */
    if (batching(o, &cfg, &T, &accum, e) || check_batch_fits(o, &cfg, T, e)) return -1;
    Model m;
    if (model_create(&m, &cfg, (int)o->micro_batch, T, e)) return -1;
    if (model_set_precision(&m, o->precision, e)) {
        model_free(&m);
        return -1;
    }
    AdamW opt;
    AdamWConfig recipe = stage_adamw(o->stage);
    recipe.weight_decay = (float)o->weight_decay;
    recipe.clip = (float)o->clip;
    adamw_create(&opt, &recipe, &m.table);
    StageStart from;
    StageRun run;
    const char *parent = parent_dir[0] ? parent_dir : NULL;
    int rc = stage_load_start(&from, &m, &opt, parent, (uint64_t)o->seed, e);
    if (!rc && parent && !args_has(a, "seed")) o->seed = (long)from.parent.seed;   /* the parent's data order */
    StageConfig c = {
        .stage = o->stage, .seed = (uint64_t)o->seed, .end_step = o->steps, .adamw = recipe, .moments = o->moments,
        .token_paths = (const char *const *)o->token_paths,
        .mask_paths = o->n_masks ? (const char *const *)o->mask_paths : NULL, .n_shards = o->n_shards,
        .layout = o->layout, .micro_batch = (int)o->micro_batch, .seq_len = T, .accum = accum,
        .run_dir = o->out_dir, .ckpt_every = o->ckpt_every, .tokenizer = args_str(a, "tokenizer", NULL),
        .precision = o->precision,
    };
    if (!rc && o->schedule == SCHED_MID) rc = build_schedule(a, o, &from, &c.schedule, e);
    else c.schedule = o->lr_schedule;
    if (!rc) rc = stage_prepare(&run, &m, &opt, &from, &c, e);
    if (!rc && !run.train.lineage.tokenizer[0] && dist_is_root(dist_world()))
        fprintf(stderr, "plateau: note: no --tokenizer, so the checkpoints carry none (generate and export will ask "
                        "for one)\n");
    if (!rc) run.train.group = dist_world();   /* data parallel under mpirun */
    if (!rc) {
        if (resume_dir[0]) rc = resume_run(&run, &m, &opt, resume_dir, e);
        if (!rc) print_start(a, &run, &m, &opt, resume_dir[0] ? resume_dir : parent, resume_dir[0] != 0);
        if (!rc) rc = train(a, o, &run, &m, &opt, e);
        stage_close(&run);
    }
    adamw_free(&opt);
    model_free(&m);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    TrainOptions o = {0};
    if (parse_train_options(&a, &o, &e)) args_fail(&e);
    int rc = train_stage(&a, &o, &e);
    args_list_free(o.token_paths, o.n_shards);
    args_list_free(o.mask_paths, o.n_masks);
    if (rc) die(&e);
    return 0;
}
