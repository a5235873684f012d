/* plateau train: one stage (pretrain, mid or sft) of a lineage, from a
 * checkpoint or a preset, on a token shard, under one LR schedule, with
 * periodic checkpoints that a killed run resumes from bit for bit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_opts.h"
#include "cli/probe_opts.h"
#include "core/file.h"
#include "data/shard.h"
#include "model/llama.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/schedule.h"
#include "train/loader_source.h"
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
    {"out", "DIR", "run directory: checkpoints go to DIR/step-N (required)"},
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
    {"seq-len", "T", "training sequence length (default: the model's context)"},
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
    "counters with fresh moments and no weight decay. Prints step, loss, lr, grad norm and tokens/s.";

/* Splits "a,b,c" into paths (pointers into a copy stored in *buf, which the
 * caller frees). Returns the count, or -1 if there are more than max. */
static int split_paths(const char *list, char **buf, const char **paths, int max)
{
    *buf = strdup(list);
    int n = 0;
    for (char *save = NULL, *p = strtok_r(*buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (n == max) return -1;
        paths[n++] = p;
    }
    return n;
}

typedef struct {
    ScheduleSpec spec;
    int64_t      stage_start;  /* stage-clock step of the schedule's step 0 */
} StageLr;

static double stage_lr(const void *ctx, int64_t step)
{
    const StageLr *s = ctx;
    return schedule_lr(&s->spec, step - s->stage_start);
}

static int build_schedule(const Args *a, const char *stage, int64_t steps, const Lineage *parent, int have_parent,
                          ScheduleSpec *out, Err *e)
{
    const char *kind_name = args_str(a, "schedule", strcmp(stage, "mid") == 0 ? "mid" :
                                                     strcmp(stage, "sft") == 0 ? "cosine" : "wso");
    ScheduleKind kind;
    if (schedule_kind_from_name(kind_name, &kind))
        return err_set(e, "--schedule: unknown schedule '%s' (expected wso, wsd, cosine, linear, constant, mid)",
                       kind_name);
    int sft = strcmp(stage, "sft") == 0;
    double lr, alpha, rho, alpha_mid;
    long warmup;
    long def_warmup = sft ? (long)schedule_sft_warmup(steps) : (long)(steps / 80);
    DecayShape shape = DECAY_LINEAR;
    if (args_double(a, "lr", sft ? 1e-5 : 3e-4, &lr, e) || args_double(a, "alpha", sft ? 0.0 : 0.1, &alpha, e) ||
        args_double(a, "rho", SCHEDULE_DEFAULT_RHO, &rho, e) || args_double(a, "alpha-mid", 0.0, &alpha_mid, e) ||
        args_long(a, "warmup", def_warmup, &warmup, e))
        return -1;
    if (args_has(a, "decay-shape") && schedule_shape_from_name(args_str(a, "decay-shape", ""), &shape))
        return err_set(e, "--decay-shape: unknown shape '%s' (expected linear, 1-sqrt, cosine, exp)",
                       args_str(a, "decay-shape", ""));
    switch (kind) {
    case SCHED_WSO: *out = schedule_wso(lr, warmup, steps); break;
    case SCHED_CONSTANT: *out = schedule_constant(lr, warmup, steps); break;
    case SCHED_WSD: *out = schedule_wsd(lr, warmup, steps, alpha, rho, shape); break;
    case SCHED_COSINE: *out = sft && !args_has(a, "alpha") ? schedule_sft(lr, warmup, steps)
                                                          : schedule_cosine(lr, warmup, steps, alpha); break;
    case SCHED_LINEAR: *out = schedule_linear(lr, warmup, steps, alpha); break;
    case SCHED_MID: {
        if (!have_parent || parent->schedule[0] == 0)
            return err_set(e, "--schedule mid continues the parent's schedule, but the parent checkpoint has none "
                              "(start mid from a pre-training checkpoint)");
        ScheduleSpec ps;
        if (schedule_parse(parent->schedule, &ps, e)) return err_wrap(e, "parent checkpoint lineage");
        /* A parent stopped before its end continues from where it stopped; a
         * branch of a mid stage starts where that stage started. */
        double start = args_has(a, "lr")       ? lr
                       : ps.kind == SCHED_MID ? ps.peak
                                              : schedule_eta(&ps, parent->step - parent->stage_start_step);
        *out = schedule_mid(start, steps, alpha_mid);
        break;
    }
    }
    if (schedule_validate(out, e)) return -1;
    return 0;
}

/* The counters a stage starts from: continuing the parent's clock (mid from
 * pretrain, or a branch within the same stage) or its own (sft, fresh init). */
static void stage_clock(const char *stage, const Lineage *p, int have_parent, int64_t *stage_start, int64_t *start,
                        int64_t *tokens)
{
    *stage_start = *start = *tokens = 0;
    if (!have_parent || strcmp(p->stage, "init") == 0) return;
    if (strcmp(p->stage, stage) == 0) {      /* a branch of the same stage */
        *stage_start = p->stage_start_step;
        *start = p->step;
        *tokens = p->tokens;
    } else if (strcmp(stage, "mid") == 0) {  /* mid after pretrain */
        *stage_start = *start = p->step;
        *tokens = p->tokens;
    }
}

int cmd_train(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;

    const char *data_path, *out_dir, *stage = args_str(&a, "stage", "pretrain");
    long steps, micro, seq_len_arg, batch_tokens_arg, ckpt_every, log_every, seed;
    double wd, clip;
    if (strcmp(stage, "pretrain") && strcmp(stage, "mid") && strcmp(stage, "sft")) {
        err_set(&e, "--stage: expected pretrain, mid or sft, got '%s'", stage);
        die(&e);
    }
    int sft = strcmp(stage, "sft") == 0;
    if (args_require(&a, "data", &data_path, &e) || args_require(&a, "out", &out_dir, &e) ||
        args_require(&a, "steps", &(const char *){0}, &e) || args_long(&a, "steps", 0, &steps, &e) ||
        args_long(&a, "micro-batch", 8, &micro, &e) || args_long(&a, "seq-len", 0, &seq_len_arg, &e) ||
        args_long(&a, "batch-tokens", 0, &batch_tokens_arg, &e) || args_long(&a, "ckpt-every", 0, &ckpt_every, &e) ||
        args_long(&a, "log-every", 1, &log_every, &e) || args_long(&a, "seed", 1, &seed, &e) ||
        args_double(&a, "weight-decay", sft ? 0.0 : 0.1, &wd, &e) || args_double(&a, "clip", 1.0, &clip, &e))
        die(&e);
    if (steps < 0 || micro <= 0 || ckpt_every < 0) {
        err_set(&e, "--steps must be >= 0, --micro-batch > 0, --ckpt-every >= 0");
        die(&e);
    }
    if (args_has(&a, "init") == args_has(&a, "preset")) {
        err_set(&e, "give exactly one of --init CKPT and --preset NAME");
        die(&e);
    }
    if (args_has(&a, "reset-optimizer") && args_has(&a, "keep-optimizer")) {
        err_set(&e, "--reset-optimizer and --keep-optimizer contradict each other");
        die(&e);
    }

    /* Where the weights come from: a periodic checkpoint of this very run
     * (--resume), the parent checkpoint, or a fresh init. */
    char src_dir[4096] = "", resume_dir[4096] = "";
    int resuming = 0;
    int64_t at;
    int found = checkpoint_latest(out_dir, resume_dir, sizeof resume_dir, &at, &e);
    if (found < 0) die(&e);
    if (args_has(&a, "resume")) {
        checkpoint_clean_temporaries(out_dir);   /* left by a killed save */
        resuming = found == 0;
    } else if (found == 0) {
        err_set(&e, "%s already holds checkpoints (latest %s): pass --resume to continue that run, or another --out",
                out_dir, resume_dir);
        die(&e);
    }
    Config cfg;
    Lineage parent = {0}, resumed = {0};
    int have_parent = 0;
    if (args_has(&a, "init")) {
        if (checkpoint_resolve(args_str(&a, "init", ""), src_dir, sizeof src_dir, &e) ||
            checkpoint_read_config(src_dir, &cfg, &e))
            die(&e);
        have_parent = 1;
    } else if (cli_model_config(&a, &cfg, &e)) {
        die(&e);
    }

    int T = seq_len_arg > 0 ? (int)seq_len_arg : cfg.seq_len;
    if (T > cfg.seq_len) {
        err_set(&e, "--seq-len %d exceeds the model's context of %d", T, cfg.seq_len);
        die(&e);
    }
    int64_t per_micro = micro * (int64_t)T;
    int64_t batch_tokens = batch_tokens_arg > 0 ? batch_tokens_arg : per_micro;
    if (batch_tokens % per_micro) {
        err_set(&e, "--batch-tokens %" PRId64 " is not a multiple of --micro-batch x --seq-len = %" PRId64, batch_tokens,
                per_micro);
        die(&e);
    }
    int accum = (int)(batch_tokens / per_micro);

    Model m;
    if (model_create(&m, &cfg, (int)micro, T, &e)) die(&e);
    AdamWConfig ocfg = adamw_defaults();
    ocfg.weight_decay = (float)wd;
    ocfg.clip = (float)clip;
    AdamW opt;
    adamw_create(&opt, &ocfg, &m.table);

    int has_opt = 0;
    if (have_parent) {
        if (checkpoint_load(src_dir, &cfg, m.params, &opt, &has_opt, &parent, &e)) die(&e);
        opt.cfg = ocfg;   /* the stage's own settings, not the parent's */
        if (!args_has(&a, "seed")) seed = (long)parent.seed;   /* same data order as the parent */
    } else {
        model_init_weights(&m, (uint64_t)seed);
    }

    int64_t stage_start, start, tokens;
    stage_clock(stage, &parent, have_parent, &stage_start, &start, &tokens);
    ScheduleSpec spec;
    if (build_schedule(&a, stage, steps, &parent, have_parent, &spec, &e)) die(&e);
    char spec_text[SCHEDULE_TEXT_MAX];
    schedule_format(&spec, spec_text, sizeof spec_text);

    Segment seg = {0};
    Lineage *lin = &seg.lineage;
    snprintf(lin->parent_id, sizeof lin->parent_id, "%s", have_parent ? parent.id : "");
    snprintf(lin->stage, sizeof lin->stage, "%s", stage);
    snprintf(lin->schedule, sizeof lin->schedule, "%s", spec_text);
    snprintf(lin->data, sizeof lin->data, "%s%s%s", data_path, args_has(&a, "mask") ? " mask=" : "",
             args_str(&a, "mask", ""));
    lin->seed = (uint64_t)seed;
    lin->stage_start_step = stage_start;
    snprintf(lin->tokenizer, sizeof lin->tokenizer, "%s", args_str(&a, "tokenizer", parent.tokenizer));
    if (!lin->tokenizer[0])
        fprintf(stderr, "plateau: note: no --tokenizer, so the checkpoints carry none (generate and export will ask for one)\n");

    /* Optimizer policy: a branch of the same stage and mid keep the
     * parent's moments, sft starts fresh; the flags override. */
    int keep = has_opt && !sft;
    if (args_has(&a, "reset-optimizer")) keep = 0;
    if (args_has(&a, "keep-optimizer")) {
        if (have_parent && !has_opt) {
            err_set(&e, "--keep-optimizer: %s has no optimizer state (a fresh init)", src_dir);
            die(&e);
        }
        keep = 1;
    }
    if (!keep) adamw_reset(&opt);

    if (resuming) {
        /* The run's own checkpoint replaces everything above; the spec must
         * be the one it was started with. */
        if (checkpoint_load(resume_dir, &cfg, m.params, &opt, &has_opt, &resumed, &e)) die(&e);
        const char *what = strcmp(resumed.stage, stage) ? "--stage"
                           : strcmp(resumed.schedule, spec_text) ? "the schedule"
                           : resumed.seed != (uint64_t)seed ? "--seed"
                           : resumed.batch_tokens != batch_tokens ? "--batch-tokens"
                           : resumed.micro_batch != micro ? "--micro-batch"
                           : resumed.seq_len != T ? "--seq-len"
                           : strcmp(resumed.parent_id, lin->parent_id) ? "the parent checkpoint" : NULL;
        if (what) {
            err_set(&e, "--resume: %s differs from the run in %s (its schedule: %s); use another --out or the same options",
                    what, resume_dir, resumed.schedule);
            die(&e);
        }
        start = resumed.step;
        tokens = resumed.tokens;
        stage_start = resumed.stage_start_step;
    }
    lin->stage_start_step = stage_start;

    /* Data: the same batch for the same (seed, step), whatever the schedule. */
    char *data_list = NULL, *mask_list = NULL;
    const char *token_paths[64], *mask_paths[64];
    int n_shards = split_paths(data_path, &data_list, token_paths, 64), n_masks = 0;
    if (args_has(&a, "mask")) n_masks = split_paths(args_str(&a, "mask", ""), &mask_list, mask_paths, 64);
    if (n_shards <= 0 || (args_has(&a, "mask") && n_masks != n_shards)) {
        err_set(&e, "--data and --mask: 1 to 64 comma-separated files each, one mask per token shard (got %d and %d)",
                n_shards, n_masks);
        die(&e);
    }
    const char *layout = args_str(&a, "layout", "stream");
    if (strcmp(layout, "stream") && strcmp(layout, "rows")) {
        err_set(&e, "--layout: expected stream or rows, got '%s'", layout);
        die(&e);
    }
    LoaderConfig lc = {token_paths, n_masks ? mask_paths : NULL, n_shards, T, (int)micro, accum, (uint64_t)seed,
                       strcmp(layout, "rows") == 0 ? LOADER_ROWS : LOADER_STREAM, 0, cfg.vocab_size};
    LoaderSource data;
    if (loader_source_open(&data, &lc, &e)) die(&e);
    if (resuming) {
        int64_t next;
        if (loader_resume(&data.loader, &resumed.cursor, &next, &e)) {
            err_wrap(&e, "--resume from %s", resume_dir);
            die(&e);
        }
    }
    BatchSource src = loader_source(&data);

    StageLr slr = {spec, stage_start};
    seg.start_step = start;
    seg.end_step = stage_start + steps;
    seg.start_tokens = tokens;
    seg.micro_batch = (int)micro;
    seg.seq_len = T;
    seg.accum = accum;
    seg.lr = stage_lr;
    seg.lr_ctx = &slr;
    seg.run_dir = out_dir;
    seg.ckpt_every = ckpt_every;
    seg.log_every = log_every;
    seg.progress = !args_has(&a, "quiet");

    printf("train: stage %s, steps [%" PRId64 ", %" PRId64 ") of [%" PRId64 ", %" PRId64 "), schedule %s\n", stage,
           seg.start_step, seg.end_step, stage_start, seg.end_step, spec_text);
    printf("train: %s%s, batch %" PRId64 " tokens (%ld x %d x %d), %zu parameters, AdamW wd %g%s\n",
           resuming ? "resumed from " : have_parent ? "from " : "fresh init, seed ",
           resuming ? resume_dir : have_parent ? src_dir : args_str(&a, "seed", "1"), batch_tokens, micro, T, accum,
           m.n_params, (double)opt.cfg.weight_decay, keep || resuming ? ", moments kept" : ", fresh moments");
    fflush(stdout);
    if (seg.start_step > seg.end_step) {
        err_set(&e, "the parent is at step %" PRId64 ", past this stage's end %" PRId64, seg.start_step, seg.end_step);
        die(&e);
    }
    SharpnessHook probe;
    int probing;
    if (probe_hook_install(&a, &probe, &m, T, &seg, out_dir, args_has(&a, "quiet") && log_every == 0, &probing, &e))
        die(&e);
    StepMetrics last;
    if (trainer_run(&m, &opt, &src, &seg, &last, &e)) die(&e);
    if (probing && probe.failed) die(&probe.err);
    if (probing) sharpness_hook_close(&probe);
    char final_dir[4096];
    checkpoint_step_path(final_dir, sizeof final_dir, out_dir, seg.end_step);
    printf("train: done at step %" PRId64 ", %" PRId64 " tokens, checkpoint %s (id %s)\n", last.step, last.tokens,
           final_dir, seg.lineage.id);
    loader_source_close(&data);
    free(data_list);
    free(mask_list);
    adamw_free(&opt);
    model_free(&m);
    return 0;
}
