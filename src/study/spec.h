/* A study file: what to train, how long, how many seeds, and the arms that
 * differ only in their learning-rate schedules.
 *
 *   [study]                      one section, required
 *   world = bios | wordnet | files
 *   people = 2000                bios only: how many synthetic people
 *   pretrain_data = PATH         files only: .txt (<|endoftext|>-separated), .jsonl,
 *                                .jsonl.gz or .jsonl.zst (data/docsource.h)
 *   text_field = text            files only: the JSONL field holding each document
 *   sft_data = PATH.jsonl        files only: {"messages": [...]} lines (Tulu 3
 *                                layout; .gz, .zst too)
 *   preset = micro               model preset (model/config.h)
 *   seeds = 1, 2, 3
 *   pretrain_tokens = 20M        token counts take K, M, G, T (powers of 1000)
 *   mid_tokens = 0               0: two stages (pre-train, SFT); > 0: three
 *   sft_epochs = 1   or   sft_tokens = 2M   (exactly one of them)
 *   batch_tokens = 16K           tokens per optimizer step (pre and mid)
 *   micro_batch = 4              sequences per forward/backward
 *   seq_len = 256
 *   peak_lr = 3e-4
 *   warmup_steps = 100
 *   sft_lrs = 1e-5, 5e-5, 1e-4   the SFT peak-LR sweep
 *   sft_warmup_steps = 10
 *   sft_batch_tokens = 8K        optional; default batch_tokens
 *   probes = 50                  Hutchinson vectors per sharpness probe
 *   probe_every = 0              pre-training steps between probes; 0: stage ends only
 *   probe_sequences = 1          sequences of seq_len tokens in each fixed probe batch
 *   vocab = 4096                 optional: tokenizer vocabulary, at least STUDY_VOCAB_MIN
 *                                (default: the preset's, raised to STUDY_VOCAB_MIN: nano's
 *                                256 cannot hold the 256 byte tokens and the chat
 *                                template's special tokens)
 *   eval_items = 0               items evaluated per task file, a seeded sample
 *                                (the same items for every model; 0: all)
 *   precond_steps = 8            Lanczos steps for the top eigenvalue of P^-1 H at the end
 *                                of pre-training (study/stage_eval.h); 0: not measured
 *   precision = bf16             matrix products in fp32 or bf16 (default: bf16
 *                                where the CPU has avx512_bf16 or AMX, else fp32)
 *
 *   [arm NAME]                   one per arm, at least one
 *   schedule = wso | wsd | cosine | linear | wsm
 *   alpha_pre = 0.1              final LR / peak LR; wso is 1 (and may say so)
 *   alpha_mid = 0                three-stage studies only, required there
 *   rho = 0.75                   wsd only: stable fraction of post-warmup steps
 *   decay = linear | 1-sqrt | cosine | exp   wsd only: decay shape (default linear)
 *   merge_last = 8               wsm only, required: K >= 2 checkpoints merged
 *   merge_every = 10             wsm only, required: S >= 1 steps between them
 *   merge_weights = uniform      wsm only: uniform | cosine | 1-sqrt | c1,...,cK
 *                                (train/merge.h; default uniform, a linear decay)
 *
 * A wsm arm (WSM, Tian et al. 2025) does not train: it is the merge of the
 * WSO trunk's checkpoints at pre-training steps T - j*S, j = 0 .. K-1 (T the
 * pre-training steps; K*S <= T), oldest first, with the weights above; the
 * plan ends WSO segments at those steps (study/plan.h). Its LR is WSO's, so
 * alpha_pre is 1 (and may say so). Two-stage studies only.
 *
 * Unknown sections and keys are errors (a typo must not silently become a
 * default). Every error names file:line, the section and key, the value, and
 * what was expected. */
#ifndef PLATEAU_STUDY_SPEC_H
#define PLATEAU_STUDY_SPEC_H

#include <stdint.h>

#include "core/error.h"
#include "model/llama.h"
#include "train/merge.h"
#include "train/schedule.h"

#define STUDY_MAX_ARMS 32
#define STUDY_MAX_SEEDS 16
/* The largest seed: the store keeps seeds in SQLite's signed 64-bit INTEGER. */
#define STUDY_SEED_MAX INT64_MAX
#define STUDY_MAX_SFT_LRS 16
#define STUDY_NAME_MAX 64
#define STUDY_PATH_MAX 1024
/* The smallest tokenizer a study trains: 256 byte tokens, the chat template's
 * special tokens and some merges. */
#define STUDY_VOCAB_MIN 300

typedef enum { WORLD_BIOS, WORLD_WORDNET, WORLD_FILES } WorldKind;

typedef struct {
    char         name[STUDY_NAME_MAX];
    ScheduleKind schedule;    /* SCHED_WSO, SCHED_WSD, SCHED_COSINE or SCHED_LINEAR */
    double       alpha_pre;   /* in [0, 1]; 1 for wso */
    double       alpha_mid;   /* in [0, 1]; three-stage only (else 1, unused) */
    double       rho;         /* wsd: stable fraction of post-warmup steps, in (0, 1) */
    DecayShape   decay;       /* wsd only */
    int          wsm;         /* 1: schedule = wsm (schedule holds SCHED_WSO, the trunk it merges) */
    int          merge_last;  /* wsm: K, checkpoints merged */
    int64_t      merge_every; /* wsm: S, pre-training steps between them */
    char         merge_weights[256];   /* wsm: the weight spec as written */
    MergeWeights merge;       /* wsm: the weights, oldest first (parsed from merge_weights) */
    int          line;        /* line of the [arm NAME] header, for messages */
} ArmSpec;

typedef struct {
    char      path[STUDY_PATH_MAX];     /* the study file, as given */
    char      name[STUDY_NAME_MAX];     /* file name without folder and .ini */

    WorldKind world;
    int       people;                   /* bios */
    char      pretrain_data[STUDY_PATH_MAX];   /* files */
    char      sft_data[STUDY_PATH_MAX];        /* files */
    char      text_field[32];                  /* files: JSONL text field ("text") */

    char      preset[32];
    uint64_t  seeds[STUDY_MAX_SEEDS];
    int       n_seeds;

    int64_t   pretrain_tokens;
    int64_t   mid_tokens;               /* 0: two-stage study */
    double    sft_epochs;               /* > 0 when SFT length is given in epochs */
    int64_t   sft_tokens;               /* > 0 when given in tokens */

    int64_t   batch_tokens;
    int       micro_batch;              /* sequences */
    int       seq_len;
    double    peak_lr;
    int64_t   warmup_steps;

    double    sft_lrs[STUDY_MAX_SFT_LRS];
    int       n_sft_lrs;
    int64_t   sft_warmup_steps;
    int64_t   sft_batch_tokens;

    int       probes;
    int64_t   probe_every;
    int       probe_sequences;          /* sequences in each fixed probe batch */
    int       precond_steps;            /* Lanczos steps for P^-1 H; 0: not measured */
    int       vocab;                    /* 0: the preset's vocabulary */
    int64_t   eval_items;               /* per task file; 0: all */
    Precision precision;                /* of every segment's training */
    char      calibration[STUDY_PATH_MAX];  /* the peak LR's evidence (study/calibrate.h), as given: relative
                                               to the study file's folder; "" none */

    ArmSpec   arms[STUDY_MAX_ARMS];
    int       n_arms;
} StudySpec;

/* Parses and validates a study file. On error fills e with
 * "FILE:LINE: [section] key = value: expected ..." (or "FILE: [section]: ..."
 * for something missing) and returns -1. */
int study_spec_load(StudySpec *s, const char *path, Err *e);

/* Same, from text in memory; `path` only names it in messages. */
int study_spec_parse(StudySpec *s, const char *path, const char *text, Err *e);

/* Derived step counts. Pre- and mid-training steps are tokens / batch_tokens
 * (validation guarantees they are whole and positive). */
int64_t study_pretrain_steps(const StudySpec *s);
int64_t study_mid_steps(const StudySpec *s);
static inline int study_is_three_stage(const StudySpec *s) { return s->mid_tokens > 0; }

const char *world_kind_name(WorldKind w);

/* A decay-based arm is one whose learning rate ends below its peak in some
 * stage: not WSO with alpha_mid = 1. The paper's Delta compares against the
 * best of these. */
int arm_decays(const StudySpec *s, const ArmSpec *a);

/* WSO: constant LR after warmup in every stage, and not a merge (the paper's
 * reference arm). A wsm arm is neither WSO nor a decay arm. */
int arm_is_wso(const StudySpec *s, const ArmSpec *a);

#endif
