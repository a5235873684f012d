/* Pearlmutter's R-operator for the Llama kernels: the directional derivative
 * R{f} = d/de f(w + e v) |_{e=0} of every forward and backward quantity, for
 * exact Hessian-vector products (src/probe/hvp.c).
 *
 * Naming: for a primal tensor x, Rx is its tangent; dx is the primal
 * gradient d(loss)/dx from the ordinary backward pass; Rdx = R{dx} is the
 * tangent of that gradient. V* are the parameter directions (v viewed as
 * weights), HV* the Hessian-vector product accumulated per parameter.
 * Shapes as in model/ops.h: N = B*T rows, row-major.
 *
 * Like model/ops.h, every kernel is serial over the rows (or attention tasks,
 * or weight rows / columns) it is given; the caller (hvp.c) decides which
 * thread runs which, so a whole pass is one parallel region, and matmul()
 * runs single-threaded inside it. Forward tangents (`*_rforward`) overwrite
 * their outputs; backward tangents ADD into parameter products (HV*) and,
 * where stated, into input tangents. Every sum is in a fixed order, so the
 * bits do not depend on the thread count. */
#ifndef PLATEAU_ROP_H
#define PLATEAU_ROP_H

#include "model/ops.h"

/* RMSNorm y = x * r * w, r = (mean(x^2) + eps)^(-1/2).
 * Rr[N] = -r^3 mean(x Rx);  Ry[N,C] = (Rx r + x Rr) w + x r Vw. */
void rmsnorm_rforward(float *Ry, float *Rr, const float *x, const float *Rx, const float *w, const float *Vw,
                      const float *r, int N, int C);
/* Tangent of rmsnorm_backward's input gradient: with dx = r w dy - k x,
 * k = r^3 mean(w dy x), Rdx[N,C] += R{dx}. */
void rmsnorm_rbackward_input(float *Rdx, const float *dy, const float *Rdy, const float *x, const float *Rx,
                             const float *w, const float *Vw, const float *r, const float *Rr, int N, int C);
/* Tangent of its gain gradient, for columns [c0, c1) over all N rows:
 * HVw[c] += sum_n (Rdy x r + dy Rx r + dy x Rr). */
void rmsnorm_rbackward_weight(float *HVw, const float *dy, const float *Rdy, const float *x, const float *Rx,
                              const float *r, const float *Rr, int N, int C, int c0, int c1);

/* y = x W^T:  Ry[N,OC] = Rx[N,C] W^T + x VW^T + beta * Ry. */
void linear_rforward(float *Ry, const float *x, const float *Rx, const float *W, const float *VW, int N, int C,
                     int OC, float beta);
/* dx = dy W:  Rdx[N,C] = Rdy W + dy VW + beta * Rdx. */
void linear_rbackward_input(float *Rdx, const float *dy, const float *Rdy, const float *W, const float *VW, int N,
                            int C, int OC, float beta);
/* dW = dy^T x, rows [o0, o1) of it over all N rows (HVW is the whole [OC, C]):
 * HVW[o0:o1, :] += Rdy[:, o0:o1]^T x + dy[:, o0:o1]^T Rx. */
void linear_rbackward_weight(float *HVW, const float *dy, const float *Rdy, const float *x, const float *Rx, int N,
                             int C, int OC, int o0, int o1);

/* h = silu(g) u on gu [N, 2F] (gate | up): Rh[N,F] = silu'(g) Rg u + silu(g) Ru. */
void swiglu_rforward(float *Rh, const float *gu, const float *Rgu, int N, int F);
/* Tangent of swiglu_backward: Rdgu [N, 2F] (overwritten). */
void swiglu_rbackward(float *Rdgu, const float *dh, const float *Rdh, const float *gu, const float *Rgu, int N, int F);

/* Attention, in the model's tiles (model/ops.h): nothing [T, T] is kept;
 * each tile's P is recomputed from the forward's lse [B, H, T].
 * Scratch per thread: ROP_ATT_SCRATCH floats. */
#define ROP_ATT_SCRATCH (4 * ATT_BLOCK * ATT_KBLOCK + 2 * ATT_BLOCK)

/* Tangent of attention_forward for the (sequence, query head) tasks bh in
 * [task0, task1). qkv/Rqkv [B*T, H*hd + 2*KVH*hd] (q, k rotated), out and
 * lse from attention_forward. With RS = (Rq k^T + q Rk^T) / sqrt(hd):
 * writes Rdot [B, H, T], Rdot_i = sum_j P_ij RS_ij (what R{P} = P (RS - Rdot)
 * needs), and Rout [B*T, H*hd] = R{P} v + P Rv. */
void attention_rforward(float *Rout, float *Rdot, const float *qkv, const float *Rqkv, const float *out,
                        const float *lse, float *scratch, int T, int H, int KVH, int hd, int task0, int task1);
/* Tangent of attention_backward for the (sequence, kv head) tasks bk in
 * [task0, task1): their columns of Rdqkv (overwritten). dout/Rdout [B*T, H*hd]
 * the gradient wrt the attention output and its tangent; out, lse from the
 * forward; Rout, Rdot from attention_rforward. */
void attention_rbackward(float *Rdqkv, float *scratch, const float *dout, const float *Rdout, const float *qkv,
                         const float *Rqkv, const float *out, const float *Rout, const float *lse, const float *Rdot,
                         int T, int H, int KVH, int hd, int task0, int task1);

/* Cross-entropy backward dz = c (p - onehot) with p = softmax(z), per-row
 * weights c[N]: in place, Rz [N,V] (tangent of the logits) becomes
 * R{dz} = c p (Rz - <p, Rz>). probs [N,V] = p. */
void crossentropy_rbackward(float *Rz, const float *probs, const float *c, int N, int V);

#endif
