/* Checkpoints: a model's weights, its optimizer state and where it came from,
 * as one directory that Hugging Face tools can also read:
 *
 *   model.safetensors  weights, F32, Hugging Face Llama tensor names
 *   config.json        LlamaForCausalLM config, plus a "plateau" object
 *   train_state.bin    AdamW moments and step count (absent for a fresh init)
 *   lineage.json       parent id, stage, schedule, step/token counters, seed,
 *                      data cursor: enough to continue or branch the run
 *   tokenizer.json     the tokenizer the model was trained with (when known),
 *                      so evaluating, generating and exporting need nothing else
 *   checksums.json     size and checksum of every file above, and the id
 *
 * The id is a hash of the checksums of all files, so it names the contents
 * and (through lineage.json, which holds the parent id) the whole history.
 *
 * Saving is atomic at the directory level: everything is written into a
 * temporary sibling "<dir>.tmp.<pid>", fsynced, then swapped into place; the
 * previous checkpoint at <dir> stays complete until the new one is.
 * Loading verifies every file's size and checksum first, then the config
 * against what the caller expects, then each tensor's name, dtype and shape;
 * any difference is refused with one message naming the file and the field
 * or tensor and what was expected. Every number read (config sizes, lineage
 * counters and the data cursor against the step, manifest sizes, optimizer
 * hyperparameters and moments) is checked against its range before use, so
 * a file re-sealed after editing is refused like a damaged one. */
#ifndef PLATEAU_CHECKPOINT_H
#define PLATEAU_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "data/loader.h"
#include "model/config.h"
#include "train/adamw.h"

#define CKPT_ID_CHARS 16
#define LINEAGE_MAX_MERGED 64

/* One input of a merged checkpoint (train/merge.h): which checkpoint, at
 * which step of its clock, with which weight. */
typedef struct {
    char    id[CKPT_ID_CHARS + 1];
    int64_t step;
    double  weight;
} MergedInput;

typedef struct {
    char     id[CKPT_ID_CHARS + 1];         /* this checkpoint (set by save and load) */
    char     parent_id[CKPT_ID_CHARS + 1];  /* "" for a fresh initialisation */
    char     stage[16];                     /* "init", "pretrain", "mid", "sft" */
    char     schedule[256];                 /* the LR schedule spec, as text */
    char     data[512];                     /* the data source, as text (paths) */
    int64_t  step;                 /* optimizer steps on the stage's clock (mid continues pretrain's) */
    int64_t  tokens;               /* training tokens on that clock */
    int64_t  stage_start_step;     /* the clock's value where this stage began */
    int64_t  stage_end_step;       /* the clock's value where this stage ends */
    int64_t  batch_tokens;         /* tokens per optimizer step */
    int      seq_len;              /* training sequence length */
    int      micro_batch;          /* sequences per micro-batch (affects bits, so recorded) */
    char     precision[8];         /* "fp32" or "bf16": the matrix products' precision (affects bits);
                                      "" is written as, and an older checkpoint without it read as, "fp32" */
    uint64_t seed;                 /* run seed (init and data streams derive from it) */
    int      ranks;                /* processes that trained up to this checkpoint (data parallel; 0 or 1: one) */
    LoaderCursor cursor;           /* data loader position after `step` steps */
    /* A merge of checkpoints (train/merge.h) names every input, oldest first,
     * in lineage.json's "merged" array; n_merged = 0 (the field is then not
     * written) for a checkpoint that training produced. */
    int          n_merged;
    MergedInput  merged[LINEAGE_MAX_MERGED];
    /* Not part of lineage.json: the tokenizer.json that save copies into the
     * checkpoint ("" for none), and that load sets to the checkpoint's own
     * copy (or ""), so a child of a checkpoint carries its tokenizer on. */
    char     tokenizer[4096];
} Lineage;

/* Writes a complete checkpoint to dir (created or replaced atomically).
 * opt may be NULL (no optimizer state: a fresh init). Sets lin->id.
 * lin->tokenizer, when set, must be a tokenizer.json whose vocabulary fits
 * the model's (at most c->vocab_size tokens); it is copied byte for byte. */
int checkpoint_save(const char *dir, const Config *c, const float *params, const AdamW *opt,
                    Lineage *lin, Err *e);

/* Checks that the tokenizer.json at path loads and that its ids fit c's
 * vocabulary: what checkpoint_save asks of lin->tokenizer, so that a run can
 * refuse a bad tokenizer before it trains rather than when it first saves. */
int checkpoint_tokenizer_check(const char *path, const Config *c, Err *e);

/* *same = 1 when checkpoints a and b carry the same tokenizer: byte-equal
 * tokenizer.json files, or neither has one. Models whose token ids mean
 * different things must not be merged or compared. */
int checkpoint_same_tokenizer(const char *a, const char *b, int *same, Err *e);

/* NULL when checkpoints of lineages a and b lie on one run's lineage as far
 * as their lineages show: one run (same parent, stage, seed, schedule and
 * data), or one the parent of the other; else what differs, as text
 * ("their schedules differ"). */
const char *lineage_unrelated(const Lineage *a, const Lineage *b);

/* Checks checksums.json and every file it lists (present, size, checksum). */
int checkpoint_verify(const char *dir, Err *e);

/* checkpoint_verify, then the verified id into id_out (CKPT_ID_CHARS + 1). */
int checkpoint_id(const char *dir, char *id_out, Err *e);

/* Reads config.json into *c (after verifying the checkpoint). */
int checkpoint_read_config(const char *dir, Config *c, Err *e);

/* Loads a verified checkpoint whose config must equal *c: the weights into
 * params (c's ParamTable layout). If opt is non-NULL and the checkpoint has
 * optimizer state, restores opt's config, moments and step count and sets
 * *has_opt = 1; otherwise leaves opt untouched and sets *has_opt = 0.
 * lin (may be NULL) receives the lineage, with id set. */
int checkpoint_load(const char *dir, const Config *c, float *params, AdamW *opt, int *has_opt,
                    Lineage *lin, Err *e);

/* Recomputes checksums.json for the files present in dir and returns the new
 * id in id_out (may be NULL). save calls this; tools that edit a checkpoint
 * deliberately (and tests that forge bad ones) call it too. */
int checkpoint_seal(const char *dir, char *id_out, Err *e);

/* Periodic checkpoints of a run live in run_dir/step-NNNNNNNN. Writes the
 * path of the one with the highest step that verifies into out and its step
 * into *step; returns 1 when there is none (not an error), -1 on error. */
int checkpoint_latest(const char *run_dir, char *out, size_t out_size, int64_t *step, Err *e);

/* Removes temporaries "step-N.tmp.PID" that a killed save left in run_dir.
 * Only for a run directory no other process is writing to. */
void checkpoint_clean_temporaries(const char *run_dir);

/* run_dir/step-NNNNNNNN for a step. */
void checkpoint_step_path(char *out, size_t out_size, const char *run_dir, int64_t step);

/* A checkpoint path as the user gave it, or a run directory: if dir holds
 * checksums.json it is used as is, otherwise its latest step checkpoint. */
int checkpoint_resolve(const char *dir, char *out, size_t out_size, Err *e);

#endif
