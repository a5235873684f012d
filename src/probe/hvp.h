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
 * Why this method: it is exact up to fp32 rounding (3e-7 relative against
 * the float64 PyTorch Hessian of the tiny fixtures, where 1e-4 is required),
 * and cheap. The primal forward and backward depend only on (weights, batch),
 * not on v, so hvp_set_batch runs them once and keeps every activation and
 * activation gradient; each hvp_apply is then one tangent forward (2 matmuls
 * per forward matmul) and one tangent backward (4 per forward matmul): 2.0x
 * a gradient on the benchmark shape S (bench/RESULTS.md; 2.7-2.8x for a
 * lone product at a new point, primal pass included, as forward-over-reverse
 * needs 8/3 of a gradient's matrix work). Every Hutchinson probe,
 * power step and Lanczos step shares one primal pass. Central differences of
 * fp32 gradients cost 2 gradients but trade truncation against cancellation:
 * on the nano model the error is 3.5e-3, 3.9e-4, 5.1e-5, 8.1e-5, 2.4e-4 at
 * steps 1e-3, 3.3e-4, 1.1e-4, 3.7e-5, 1.2e-5 -- at best 5e-5, 150x worse
 * than this, and only at a step that has to be tuned per model, against a
 * 1e-4 bar. A double-precision build of the model would be ~4x a gradient.
 *
 * Precision: always fp32, whatever precision the model trains in. Its own
 * passes read the fp32 master weights, never the model's bf16 copy. A
 * Hessian-vector product is a difference of nearby gradients in disguise:
 * the curvature along v is a small change of the gradient, and rounding
 * every product's inputs to bf16 (8 bits of mantissa, relative error 4e-3)
 * would add noise of the size of the signal to Tr(H) and the top
 * eigenvalue, and break the 1e-4 agreement with the exact Hessian.
 *
 * Memory: all buffers are allocated once by hvp_create, for batches up to
 * max_B x max_T: per layer about 3x the model's training activations
 * (primal, activation gradients, tangents) and the tangents of the
 * activation gradients; attention keeps [B, H, T] per-row statistics (the
 * log-sum-exp and rowdot(P, R{S})) and recomputes its tiles, so memory is
 * linear in T (`bytes` below).
 *
 * Threads: each pass is one parallel region in which threads own rows (whole
 * sequences when B divides evenly), as in the model's passes; the bits do
 * not depend on the thread count. */
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
