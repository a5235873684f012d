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
 * Forward tangents (`*_rforward`) overwrite their outputs; backward tangents
 * (`*_rbackward`) ADD into parameter products (HV*) and, where stated, into
 * input tangents, like the ordinary backward kernels. Loops are parallel over
 * independent outputs or fixed-order serial sums: same thread count, same bits. */
#ifndef PLATEAU_ROP_H
#define PLATEAU_ROP_H

/* RMSNorm y = x * r * w, r = (mean(x^2) + eps)^(-1/2).
 * Rr[N] = -r^3 mean(x Rx);  Ry[N,C] = (Rx r + x Rr) w + x r Vw. */
void rmsnorm_rforward(float *Ry, float *Rr, const float *x, const float *Rx, const float *w, const float *Vw,
                      const float *r, int N, int C);
/* Tangent of rmsnorm_backward: with dx = r w dy - k x, k = r^3 mean(w dy x),
 * Rdx[N,C] += R{dx};  HVw[C] += sum_n (Rdy x r + dy Rx r + dy x Rr). */
void rmsnorm_rbackward(float *Rdx, float *HVw, const float *dy, const float *Rdy, const float *x, const float *Rx,
                       const float *w, const float *Vw, const float *r, const float *Rr, int N, int C);

/* y = x W^T:  Ry[N,OC] = Rx[N,C] W^T + x VW^T + beta * Ry. */
void linear_rforward(float *Ry, const float *x, const float *Rx, const float *W, const float *VW, int N, int C,
                     int OC, float beta);
/* dx = dy W, dW = dy^T x:
 * Rdx[N,C] = Rdy W + dy VW + beta * Rdx;  HVW[OC,C] += Rdy^T x + dy^T Rx. */
void linear_rbackward(float *Rdx, float *HVW, const float *dy, const float *Rdy, const float *x, const float *Rx,
                      const float *W, const float *VW, int N, int C, int OC, float beta);

/* h = silu(g) u on gu [N, 2F] (gate | up): Rh[N,F] = silu'(g) Rg u + silu(g) Ru. */
void swiglu_rforward(float *Rh, const float *gu, const float *Rgu, int N, int F);
/* Tangent of swiglu_backward: Rdgu [N, 2F] (overwritten). */
void swiglu_rbackward(float *Rdgu, const float *dh, const float *Rdh, const float *gu, const float *Rgu, int N, int F);

/* Attention arrays [B,H,T,T] are computed only on and below the diagonal, in
 * row blocks of ROP_ATT_BLOCK; entries right of the diagonal up to the end of
 * the row's block must be zero, entries beyond are never read. This zeroes
 * that part of P as attention_forward left it (whatever its own blocking). */
#define ROP_ATT_BLOCK 64
void attention_zero_above_diagonal(float *att, int B, int H, int T);

/* The primal attention backward of model/ops.h that also keeps, per head,
 * dP = dO v^T [B, H, T, T] (before the softmax backward), which the tangent
 * of the backward needs. dqkv overwritten. scratch: n_threads * T * T floats. */
void attention_backward_keep(float *dqkv, float *dP_all, float *scratch, const float *dout, const float *qkv,
                             const float *att, int B, int T, int H, int KVH, int hd);
/* Tangent of attention_forward. qkv/Rqkv [N, H*hd + 2*KVH*hd] (q, k rotated),
 * att [B,H,T,T] the probabilities P.  Writes Ratt = R{P} [B,H,T,T] (zero
 * above the diagonal) and Rout = RP v + P Rv [N, H*hd]. */
void attention_rforward(float *Rout, float *Ratt, const float *qkv, const float *Rqkv, const float *att,
                        int B, int T, int H, int KVH, int hd);
/* Tangent of attention_backward: Rdqkv [N, H*hd + 2*KVH*hd] (overwritten).
 * dout/Rdout [N, H*hd] the gradient wrt the attention output and its
 * tangent; dP_all from attention_backward_keep.
 * scratch: at least n_threads * 2 * T * T floats (n_threads = omp_get_max_threads()). */
void attention_rbackward(float *Rdqkv, float *scratch, const float *dout, const float *Rdout, const float *qkv,
                         const float *Rqkv, const float *att, const float *Ratt, const float *dP_all,
                         int B, int T, int H, int KVH, int hd);

/* Cross-entropy backward dz = c (p - onehot) with p = softmax(z), per-row
 * weights c[N]: in place, Rz [N,V] (tangent of the logits) becomes
 * R{dz} = c p (Rz - <p, Rz>). probs [N,V] = p. */
void crossentropy_rbackward(float *Rz, const float *probs, const float *c, int N, int V);

#endif
