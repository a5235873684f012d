/* The one interface every matrix product in plateau goes through, so the
 * backend (OpenBLAS today; oneDNN or bf16 later) changes in one place.
 *
 * Row-major: C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C.
 * trans_a: A is stored as [K,M] (lda >= M) instead of [M,K] (lda >= K);
 * trans_b: B is stored as [N,K] (ldb >= K) instead of [K,N] (ldb >= N).
 * Leading dimensions are in floats. Threads: the backend's (OpenMP). */
#ifndef PLATEAU_MATMUL_H
#define PLATEAU_MATMUL_H

void matmul(int trans_a, int trans_b, int M, int N, int K, float alpha,
            const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Name of the backend, for benchmark output. */
const char *matmul_backend(void);

#endif
