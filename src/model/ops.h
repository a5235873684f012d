/* The kernels of the Llama decoder, each a forward/backward pair.
 *
 * N = B*T rows (tokens), row-major. Backward functions ADD into parameter
 * gradients (dweight, dembed) and, where stated, into input gradients, so
 * several uses of one tensor accumulate. Every loop is either parallel over
 * independent outputs or a fixed-order serial sum, so the bits never depend
 * on scheduling (only, through BLAS blocking, on the thread count).
 *
 * Attention works on a packed projection qkv [N, q_dim + 2*kv_dim]: per
 * token, the query heads, then the key heads, then the value heads, each
 * head_dim wide (this is the output of one matmul against the contiguous
 * q_proj/k_proj/v_proj weights). Query head h reads kv head h / (H/KVH). */
#ifndef PLATEAU_OPS_H
#define PLATEAU_OPS_H

/* out[N,C] = embed[tokens[n], :] */
void embedding_forward(float *out, const int *tokens, const float *embed, int N, int C);
/* dembed[tokens[n], :] += dout[n, :]   (serial over n: fixed order) */
void embedding_backward(float *dembed, const float *dout, const int *tokens, int N, int C);

/* out[N,C] = inp * rstd * weight, rstd[N] = 1/sqrt(mean(inp^2) + eps) */
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps);
/* dinp[N,C] += d(out)/d(inp)^T dout; dweight[C] += sum_n dout*inp*rstd.
 * scratch: RMSNORM_CHUNKS * C floats. */
#define RMSNORM_CHUNKS 32
void rmsnorm_backward(float *dinp, float *dweight, float *scratch, const float *dout, const float *inp,
                      const float *weight, const float *rstd, int N, int C);

/* Rotary tables: cos/sin[T, hd/2] for pair i at position t, angle
 * t * theta^(-2i/hd) (computed in double). */
void rope_tables(float *cos_t, float *sin_t, int T, int hd, double theta);
/* In place on n_heads heads of head_dim hd starting at column 0 of rows of
 * stride ld, [B*T rows]; position of row b*T+t is t. Hugging Face
 * rotate_half layout: x[i] pairs with x[i + hd/2]. */
void rope_forward(float *x, int ld, const float *cos_t, const float *sin_t, int B, int T, int n_heads, int hd);
/* The transpose (rotation by the negative angle), in place on gradients. */
void rope_backward(float *dx, int ld, const float *cos_t, const float *sin_t, int B, int T, int n_heads, int hd);

/* Causal grouped-query attention.
 * qkv [N, H*hd + 2*KVH*hd] (q, k already rotated) ->
 *   att [B, H, T, T] softmax probabilities (zero above the diagonal),
 *   out [N, H*hd] = att @ v per head. */
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int H, int KVH, int hd);
/* dqkv [N, H*hd + 2*KVH*hd] = gradient wrt qkv (overwritten, not added).
 * scratch: at least n_threads * T * T floats (n_threads = omp_get_max_threads()). */
void attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv, const float *att,
                        int B, int T, int H, int KVH, int hd);

/* gu [N, 2F]: gate in columns [0,F), up in [F,2F). h[N,F] = silu(gate) * up */
void swiglu_forward(float *h, const float *gu, int N, int F);
/* dgu [N, 2F] = gradient wrt gu (overwritten) */
void swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F);

/* out[N,OC] = inp[N,C] @ w[OC,C]^T + beta * out */
void linear_forward(float *out, const float *inp, const float *w, int N, int C, int OC, float beta);
/* dinp[N,C] = dout @ w + beta_inp * dinp; dw[OC,C] += dout^T @ inp */
void linear_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                     int N, int C, int OC, float beta_inp);

/* Per row: lse[n] = logsumexp(logits[n,:]), losses[n] = lse - logits[n, targets[n]]. */
void crossentropy_forward(float *losses, float *lse, const float *logits, const int *targets, int N, int V);
/* dlogits[N,V] = weight[n] * (softmax(logits[n]) - onehot(targets[n])) (overwritten). */
void crossentropy_backward(float *dlogits, const float *logits, const float *lse, const int *targets,
                           const float *weight, int N, int V);

#endif
