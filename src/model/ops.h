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

/* Causal grouped-query attention for the (sequence, query head) tasks
 * bh in [task0, task1), bh = b*H + h:
 * qkv [B*T, H*hd + 2*KVH*hd] (q, k already rotated) ->
 *   att [B, H, T, T] softmax probabilities (lower triangle only),
 *   out [B*T, H*hd] = att @ v per head. */
void attention_forward(float *out, float *att, const float *qkv, int T, int H, int KVH, int hd, int task0, int task1);
/* Causal attention computes only the lower triangle, in row blocks of
 * ATT_BLOCK: row block [r0, r1) needs keys [0, r1). Entries of att to the
 * right of a row block's end are never written or read. The Hessian-vector
 * product's tangent kernels (probe/rop.c) use the same blocks. */
#define ATT_BLOCK 64

/* For the (sequence, kv head) tasks bk in [task0, task1), bk = b*KVH + g:
 * dqkv [B*T, H*hd + 2*KVH*hd] = gradient wrt qkv (overwritten, not added),
 * for the q columns of the group's heads and its k, v columns.
 * scratch: T * T floats. dP_keep: NULL, or [B, H, T, T] receiving each
 * head's dP = dO v^T before the softmax backward (the Hessian-vector
 * product's tangent backward needs it). */
void attention_backward(float *dqkv, float *dP_keep, float *scratch, const float *dout, const float *qkv,
                        const float *att, int T, int H, int KVH, int hd, int task0, int task1);

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
