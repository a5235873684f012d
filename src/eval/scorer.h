/* What evaluation needs from a language model, as two small interfaces, so
 * the scoring logic (multiple choice, exact match, loss) is tested with
 * hand-made scorers whose answers are known, and runs unchanged on a Model.
 *
 * TokenScorer: log-probabilities of each token of a batch of sequences given
 * the tokens before it (teacher forcing).
 * Generator:   greedy continuation of one prompt. */
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
    int   max_tokens;   /* n_prompt + max_new <= max_tokens */
    /* Greedy decoding: appends to out[] the argmax token after prompt[0..n_prompt),
     * then after that, ... until it emits stop_token (not stored) or has
     * stored max_new tokens. *n_out = tokens stored. Ties go to the lower id. */
    int (*generate)(void *ctx, const int *prompt, int n_prompt, int max_new, int stop_token,
                    int *out, int *n_out, Err *e);
} Generator;

#endif
