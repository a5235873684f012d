/* The kernels of the Llama decoder, each a forward/backward pair.
 *
 * Every kernel is serial over the rows (tokens) it is given, row-major; the
 * caller (llama.c) decides which thread runs which rows, so one parallel
 * region spans a whole pass and threads meet only where data crosses rows.
 * Matrix products go through matmul(), which runs single-threaded inside a
 * parallel region. Backward kernels ADD into parameter gradients (dweight,
 * dembed) and, where stated, into input gradients.
 *
 * Attention works on a packed projection qkv [N, q_dim + 2*kv_dim]: per
 * token, the query heads, then the key heads, then the value heads, each
 * head_dim wide (the output of one matmul against the contiguous
 * q_proj/k_proj/v_proj weights). Query head h reads kv head h / (H/KVH). */
#ifndef PLATEAU_OPS_H
#define PLATEAU_OPS_H

#include "model/matmul.h"

/* out[N,C] = embed[tokens[n], :] */
void embedding_forward(float *out, const int *tokens, const float *embed, int N, int C);
/* dembed[tokens[n], c] += dout[n, c] for columns c in [c0, c1), rows in order */
void embedding_backward(float *dembed, const float *dout, const int *tokens, int N, int C, int c0, int c1);

/* out[N,C] = inp * rstd * weight, rstd[N] = 1/sqrt(mean(inp^2) + eps) */
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps);
/* dinp[N,C] += d(out)/d(inp)^T dout; dweight[C] += sum_n dout*inp*rstd */
void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                      const float *weight, const float *rstd, int N, int C);

/* Rotary tables: cos/sin[T, hd/2] for pair i at position t, angle
 * t * theta^(-2i/hd) (computed in double). */
void rope_tables(float *cos_t, float *sin_t, int T, int hd, double theta);
/* In place on n_heads heads of head_dim hd starting at column 0 of N rows of
 * stride ld; the first row is row0 of a batch of sequences of T tokens, so
 * row i sits at position (row0 + i) % T. Hugging Face rotate_half layout:
 * x[i] pairs with x[i + hd/2]. */
void rope_forward(float *x, int ld, const float *cos_t, const float *sin_t, int row0, int N, int T, int n_heads, int hd);
/* The transpose (rotation by the negative angle), in place on gradients. */
void rope_backward(float *dx, int ld, const float *cos_t, const float *sin_t, int row0, int N, int T, int n_heads,
                   int hd);

/* Causal grouped-query attention, flash-style: no [T, T] array is kept.
 * Queries are taken in row blocks of ATT_BLOCK and keys in blocks of
 * ATT_KBLOCK (only blocks that start at or before the row block's end); a
 * tile's scores exist only in the per-thread scratch, and each row keeps a
 * running max m and sum l of exp(s - m), so that
 *   out_i = sum_j exp(s_ij - m_i) v_j / l_i,   lse_i = m_i + log l_i,
 * with s_ij = q_i . k_j / sqrt(hd) for j <= i (Dao et al. 2022, "FlashAttention",
 * Algorithm 1). Backward recomputes each tile's P = exp(s - lse) and uses
 * sum_j P_ij dP_ij = dO_i . O_i, so it needs only out and lse.
 * Memory: lse is [B, H, T], scratch ATT_SCRATCH floats per thread. */
#define ATT_BLOCK 64
#define ATT_KBLOCK 128
#define ATT_SCRATCH (2 * ATT_BLOCK * ATT_KBLOCK + 2 * ATT_BLOCK)

/* For the (sequence, query head) tasks bh in [task0, task1), bh = b*H + h:
 * qkv [B*T, H*hd + 2*KVH*hd] (q, k already rotated) ->
 *   out [B*T, H*hd] = softmax(q k^T / sqrt(hd), causal) v per head,
 *   lse [B, H, T] the log-sum-exp of each row of scores. */
void attention_forward(float *out, float *lse, const float *qkv, float *scratch, int T, int H, int KVH, int hd,
                       int task0, int task1);

/* For the (sequence, kv head) tasks bk in [task0, task1), bk = b*KVH + g:
 * dqkv [B*T, H*hd + 2*KVH*hd] = gradient wrt qkv (overwritten, not added)
 * in the q columns of the group's heads and its k, v columns, given
 * dout [B*T, H*hd] the gradient wrt out, and out, lse of the forward.
 * Per tile: dP = dO v^T, dS = P (dP - dO.O), dq = dS k / sqrt(hd),
 * dk += dS^T q / sqrt(hd), dv += P^T dO. */
void attention_backward(float *dqkv, float *scratch, const float *dout, const float *out, const float *lse,
                        const float *qkv, int T, int H, int KVH, int hd, int task0, int task1);

/* One tile's probabilities, as backward recomputes them: P[i - r0, j - c0]
 * (row stride ATT_KBLOCK) = exp(q_i . k_j / sqrt(hd) - lse[i]) for j <= i,
 * else 0, for rows [r0, r1) and keys [c0, c1) of one head; q and k point at
 * the head's first row, stride ld. Shared with the HVP's tangent kernels. */
void attention_tile_probs(float *P, const float *q, const float *k, int ld, const float *lse, int r0, int r1, int c0,
                          int c1, int hd);

/* gu [N, 2F]: gate in columns [0,F), up in [F,2F). h[N,F] = silu(gate) * up */
void swiglu_forward(float *h, const float *gu, int N, int F);
/* dgu [N, 2F] = gradient wrt gu (overwritten) */
void swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F);

/* out[N,OC] = inp[N,C] @ w[OC,C]^T + beta * out */
void linear_forward(float *out, const float *inp, const float *w, int N, int C, int OC, float beta);
/* dinp[N,C] = dout[N,OC] @ w + beta * dinp */
void linear_backward_input(float *dinp, const float *dout, const float *w, int N, int C, int OC, float beta);
/* Rows [o0, o1) of the weight gradient: dw[o, :] += sum_n dout[n, o] * inp[n, :]
 * over all N rows (dw points at the whole [OC, C] matrix). */
void linear_backward_weight(float *dw, const float *dout, const float *inp, int N, int C, int OC, int o0, int o1);

/* Per row: lse[n] = logsumexp(logits[n,:]), losses[n] = lse - logits[n, targets[n]]
 * (targets NULL: losses untouched). */
void crossentropy_forward(float *losses, float *lse, const float *logits, const int *targets, int N, int V);
/* dlogits[N,V] = weight[n] * (softmax(logits[n]) - onehot(targets[n])) (overwritten). */
void crossentropy_backward(float *dlogits, const float *logits, const float *lse, const int *targets,
                           const float *weight, int N, int V);

#endif
