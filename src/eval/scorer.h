/* What evaluation needs from a language model, as two small interfaces, so
 * the scoring logic (multiple choice, exact match, loss) is tested with
 * hand-made scorers whose answers are known, and runs unchanged on a Model.
 *
 * TokenScorer: log-probabilities of each token of a batch of sequences given
 * the tokens before it (teacher forcing).
 * Generator:   greedy continuation of a batch of prompts. */
#ifndef PLATEAU_SCORER_H
#define PLATEAU_SCORER_H

#include "core/error.h"

typedef struct {
    void *ctx;
    int   max_rows;     /* sequences per call */
    int   max_tokens;   /* longest sequence per call (a window of T inputs is T + 1 tokens) */
    /* For each row r < n_rows, seqs[r] holds lens[r] tokens, 2 <= lens[r] <= max_tokens.
     * Fills lp[r * stride + j] = log p(seqs[r][j + 1] | seqs[r][0..j]) for
     * 0 <= j < lens[r] - 1 (natural log). stride >= max_tokens - 1. */
    int (*token_logprobs)(void *ctx, const int *const *seqs, const int *lens, int n_rows,
                          float *lp, int stride, Err *e);
} TokenScorer;

typedef struct {
    void *ctx;
    int   max_tokens;   /* n_prompts[i] + max_new[i] <= max_tokens */
    int   max_batch;    /* sequences per call */
    /* Greedy decoding of n <= max_batch sequences: appends to outs[i] the
     * argmax token after prompts[i][0..n_prompts[i]), then after that, ...
     * until it emits stop_token (not stored) or has stored max_new[i] tokens;
     * n_outs[i] = tokens stored. Ties go to the lower id. Each sequence's
     * tokens are the ones it would get alone. */
    int (*generate)(void *ctx, const int *const *prompts, const int *n_prompts, int n, const int *max_new,
                    int stop_token, int *const *outs, int *n_outs, Err *e);
} Generator;

#endif
