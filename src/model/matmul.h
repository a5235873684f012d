/* The one interface every matrix product in plateau goes through, so the
 * backend and the precision change in one place.
 *
 * Row-major: C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C.
 * trans_a: A is stored as [K,M] (lda >= M) instead of [M,K] (lda >= K);
 * trans_b: B is stored as [N,K] (ldb >= K) instead of [K,N] (ldb >= N).
 * Leading dimensions are in elements. C is always fp32 and accumulation is
 * fp32 in both precisions.
 *
 * Backends: oneDNN (libdnnl, its matmul primitive; the default when the
 * library initialises) or OpenBLAS (cblas_sgemm / cblas_sbgemm), chosen once
 * per process by the environment variable PLATEAU_MATMUL=onednn|openblas.
 * oneDNN primitives are created once per (precision, shape, strides, alpha,
 * beta, threading) and reused from a per-thread cache, since creating one
 * costs 0.3-1 ms.
 *
 * Threads: called outside an OpenMP parallel region, a product uses the
 * OpenMP team (oneDNN and OpenBLAS share libgomp's pool); called inside one,
 * it runs single-threaded on the calling thread. Results are a deterministic
 * function of the inputs, the shape and that threading. */
#ifndef PLATEAU_MATMUL_H
#define PLATEAU_MATMUL_H

#include <stddef.h>
#include <stdint.h>

/* bfloat16: the upper 16 bits of an IEEE fp32 number. */
typedef uint16_t bf16;

void matmul(int trans_a, int trans_b, int M, int N, int K, float alpha,
            const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* The same product with bf16 inputs and an fp32 C (fp32 accumulation). */
void matmul_bf16(int trans_a, int trans_b, int M, int N, int K, float alpha,
                 const bf16 *A, int lda, const bf16 *B, int ldb, float beta, float *C, int ldc);

/* dst[i] = src[i] rounded to the nearest bf16, ties to even (NaN stays NaN). */
void bf16_from_f32(bf16 *dst, const float *src, size_t n);
/* dst[i] = src[i] widened exactly to fp32. */
void f32_from_bf16(float *dst, const bf16 *src, size_t n);

/* The CPU runs bf16 products natively (avx512_bf16 or AMX-BF16): the
 * condition under which plateau trains in bf16 by default. */
int matmul_cpu_has_bf16(void);

/* The backend and the kernels it picked for a representative fp32 and bf16
 * product, e.g. "onednn 2.6.3 (fp32 brg:avx512_core, bf16
 * brg:avx512_core_bf16)" or "openblas (Haswell kernels)". */
const char *matmul_backend(void);

#endif
