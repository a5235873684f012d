/* Held-out loss: the mean next-token cross-entropy of a model over a token
 * stream, read as consecutive non-overlapping windows of T+1 tokens (T
 * inputs, their T next tokens as targets), B windows per forward pass. The
 * tail shorter than a window is not scored. Every scored position weighs the
 * same, so the result does not depend on B. */
#ifndef PLATEAU_EVAL_LOSS_H
#define PLATEAU_EVAL_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/llama.h"

typedef struct {
    double  mean_loss;   /* nats per scored token */
    int64_t n_scored;    /* positions scored */
    int64_t n_windows;
} LossResult;

/* tokens [n_tokens] must be < vocab_size (checked; the message names the
 * position); B <= m->max_B, T <= m->max_T. */
int eval_stream_loss(Model *m, const uint16_t *tokens, size_t n_tokens, int B, int T, LossResult *out, Err *e);

#endif
