/* Exact Hessian-vector products of the model's masked mean token loss with
 * respect to ALL parameters, on one fixed batch.
 *
 * Method: forward-over-reverse, Pearlmutter's R-operator. H v is the
 * directional derivative of the gradient along v, R{grad} = d/de grad(w + e v).
 * A tangent forward pass carries R{x} of every activation alongside the
 * primal (a linear y = x W^T becomes Ry = Rx W^T + x V^T), then a tangent
 * backward pass differentiates every step of the ordinary backward (dx = dy W
 * becomes Rdx = Rdy W + dy V, and the weight gradient dW = dy^T x becomes
 * H v|_W = Rdy^T x + dy^T Rx). Kernels: probe/rop.h.
 *
 * Why this method: it is exact up to fp32 rounding (relative error ~1e-6 on
 * the tiny fixture, against the 1e-4 required), and cheap. The primal forward
 * and backward depend only on (weights, batch), not on v, so hvp_set_batch
 * runs them once and keeps every activation and activation gradient; each
 * hvp_apply then costs one tangent forward (2 matmuls per forward matmul) and
 * one tangent backward (4 per forward matmul), about 2x a gradient, and the
 * probes of a Hutchinson estimate, the steps of power iteration and Lanczos
 * all share one primal pass. Central differences of gradients would cost 2
 * gradients but lose ~3 digits to fp32 cancellation (1e-4 is out of reach),
 * and a double-precision build of the model is ~4x an fp32 gradient.
 *
 * Memory: all buffers are allocated once by hvp_create, for batches up to
 * max_B x max_T: per layer about 3x the model's training activations
 * (primal, activation gradients, tangents) plus two extra [B,H,T,T] arrays. */
#ifndef PLATEAU_HVP_H
#define PLATEAU_HVP_H

#include <stddef.h>

#include "core/error.h"
#include "model/llama.h"

typedef struct HvpBuffers HvpBuffers;  /* private to hvp.c */

typedef struct {
    const Model *model;   /* weights are read from model->params */
    size_t       n;       /* number of parameters (length of v and H v) */
    int          max_B, max_T;
    int          B, T;    /* the batch set by hvp_set_batch */
    float        loss;    /* masked mean loss on that batch */
    double       n_counted;
    int          ready;   /* a batch is set */
    size_t       bytes;   /* size of the buffers */
    HvpBuffers  *buf;
} Hvp;

/* Allocates every buffer for batches up to max_B x max_T of model m (which
 * must outlive h). */
int  hvp_create(Hvp *h, const Model *m, int max_B, int max_T, Err *e);
void hvp_free(Hvp *h);

/* Fixes the point and the batch: runs the primal forward and backward at the
 * model's current weights on tokens/targets/mask [B, T] (mask NULL: every
 * position counts; as in model_forward) and keeps what hvp_apply needs.
 * Returns the loss. Call again whenever the weights change. */
float hvp_set_batch(Hvp *h, const int *tokens, const int *targets, const float *mask, int B, int T);

/* hv[n] = H v, H the Hessian of the masked mean loss at the point and batch
 * of the last hvp_set_batch. v and hv are in ParamTable layout (like
 * model->params) and must not overlap. With a tied head, v's embedding
 * block is the one direction of the shared matrix. */
void hvp_apply(Hvp *h, const float *v, float *hv);

/* The HvpFn of probe/sharpness.h for an Hvp (ctx = Hvp*). */
void hvp_fn(void *ctx, const float *v, float *hv);

#endif
