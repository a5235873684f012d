/* Evaluating a loaded model in one call: what `plateau eval` does after
 * loading a checkpoint, for any caller that holds a Model (the study runner).
 *
 *   pt    multiple-choice tasks (opts.tasks, or the world's eval_mc_*.jsonl)
 *   sft   generation tasks (opts.tasks, or the world's eval_qa_*.jsonl),
 *         greedy with the KV cache, opts.batch answers per decoding batch,
 *         and the reference answers' log-likelihood (eval/qa.h) in batches
 *         of up to the model's max_B
 *   loss  opts.loss_tokens (with opts.loss_mask, in opts.loss_layout) and,
 *         with a world, its held-out SFT conversations sft_valid.jsonl
 * The model must hold batches of opts.batch x opts.seq_len for pt and loss
 * (model_create max_B, max_T); sft only needs max_T >= opts.seq_len. Reads
 * the parameters, overwrites the activations. */
#ifndef PLATEAU_EVALUATE_H
#define PLATEAU_EVALUATE_H

#include "core/error.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "eval/suite.h"
#include "model/llama.h"

typedef struct {
    const char        *suite;         /* "pt", "sft" or "loss" */
    const char        *world;         /* world folder, or NULL */
    const char *const *tasks;         /* task files; NULL: the world's for the suite */
    int                n_tasks;
    const char        *loss_tokens;   /* loss: an llm.c token shard, or NULL */
    const char        *loss_mask;     /* loss: its 0/1 mask shard, or NULL */
    LoaderLayout       loss_layout;   /* LOADER_STREAM for text, LOADER_ROWS for packed SFT data */
    long               limit;         /* items per task (windows for loss); <= 0: all */
    int                max_new;       /* sft: longest answer in tokens */
    int                batch;         /* sequences per forward pass / answers per decoding batch */
    int                seq_len;       /* context window; 0: the model's max_T */
    int                show_samples;  /* sft: print the first N generations per task to stderr */
    int                quiet;         /* 1: no progress bars */
    int                space_replies; /* sft: score references with a leading space (data/chat.h) */
    uint64_t           sample_seed;   /* != 0: limit items per task as a seeded sample (eval/task.h task_sample) */
} EvalOptions;

/* Defaults: no world or tasks, stream layout, all items, max_new 32, batch 16, seq_len 0,
 * references scored as written. */
void eval_options_default(EvalOptions *o, const char *suite);

/* Initialises *r and fills it with the suite's rows. tok may be NULL only
 * for the loss suite without a world. */
int eval_model(EvalReport *r, Model *m, const Tokenizer *tok, const EvalOptions *o, Err *e);

#endif
