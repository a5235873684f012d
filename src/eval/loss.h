/* Validation loss: the mean next-token cross-entropy (natural log) of a
 * held-out token stream.
 *
 * The tokens are cut into windows of T + 1 tokens, T = max_tokens - 1
 * inputs, exactly as the training loader cuts them (data/loader.h):
 *   LOADER_STREAM  window w is tokens [wT, wT + T]: consecutive windows share
 *                  one boundary token, so every token after the first is
 *                  predicted once; a tail shorter than a window is not scored.
 *                  For held-out pre-training text.
 *   LOADER_ROWS    window w is row w, tokens [w(T+1), w(T+1) + T]; the data
 *                  must be whole rows. For SFT data packed by data/chat.h.
 * Windows are scored max_rows at a time; the result does not depend on that.
 *
 * mask (may be NULL: every target counts) is aligned with the tokens:
 * mask[j] != 0 means predicting token j counts (the SFT convention: only
 * assistant tokens and the end token are learned). Windows with no counted
 * target are skipped.
 *
 * mean_loss = counted-token mean; mean_stderr = ratio-estimator standard error
 * over windows weighted by their counted tokens (eval/stats.h): windows, not
 * tokens, are the independent units. */
#ifndef PLATEAU_EVAL_LOSS_H
#define PLATEAU_EVAL_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/progress.h"
#include "data/loader.h"
#include "eval/scorer.h"
#include "model/llama.h"

typedef struct {
    double  mean_loss;   /* nats per counted token */
    double  mean_stderr; /* standard error of mean_loss, over windows */
    int64_t n_scored;    /* targets counted */
    int64_t n_windows;   /* windows with at least one counted target */
} LossResult;

/* Number of windows loss_evaluate cuts n_tokens into. */
int64_t loss_window_count(size_t n_tokens, int max_tokens, LoaderLayout layout);

/* progress (may be NULL) counts windows. */
int loss_evaluate(const uint16_t *tokens, const uint16_t *mask, size_t n_tokens, LoaderLayout layout,
                  const TokenScorer *s, LossResult *r, Progress *progress, Err *e);

/* The same on a Model over a stream (LOADER_STREAM), B windows of T inputs per forward pass (B <= m->max_B,
 * T <= m->max_T); tokens must be < vocab_size (the message names the position). */
int eval_stream_loss(Model *m, const uint16_t *tokens, size_t n_tokens, int B, int T, LossResult *out, Err *e);

#endif
