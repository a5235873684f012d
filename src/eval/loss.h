/* Validation loss: the mean next-token cross-entropy (natural log) of a
 * held-out token stream.
 *
 * The stream is cut into non-overlapping windows of T = max_tokens - 1
 * inputs: window w reads tokens [wT, wT + T] and predicts tokens
 * wT + 1 .. wT + T, so every token after the first is predicted exactly once
 * with as much context as its window gives. A last, shorter window takes the
 * remainder (at least one target). Windows are scored max_rows at a time.
 *
 * mask (may be NULL: every target counts) is aligned with the tokens:
 * mask[j] != 0 means predicting token j counts, the SFT convention where
 * only assistant tokens and the end token are learned. Windows with no
 * counted target are skipped.
 *
 * loss = counted-token mean; stderr = ratio-estimator standard error over
 * windows weighted by their counted tokens (eval/stats.h). */
#ifndef PLATEAU_LOSS_H
#define PLATEAU_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/progress.h"
#include "eval/scorer.h"

typedef struct {
    double loss, stderr;
    long   n_windows;     /* windows with at least one counted target */
    double n_tokens;      /* counted targets */
} LossResult;

int loss_evaluate(const uint16_t *tokens, const uint16_t *mask, size_t n_tokens,
                  const TokenScorer *s, LossResult *r, Progress *progress, Err *e);

/* Number of windows loss_evaluate cuts n_tokens into (for progress totals). */
long loss_window_count(size_t n_tokens, int max_tokens);

#endif
