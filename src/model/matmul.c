#include "model/matmul.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise recent Xeons
 * (e.g. family 6 model 207) and falls back to its Prescott (SSE3) kernels:
 * about 40 GFLOP/s on 2 cores instead of 150-200 with the AVX-512 ones. When
 * that happened and the user did not choose a core type, re-run OpenBLAS's
 * kernel selection with SkylakeX, the AVX-512 kernels this build carries.
 * Runs once at load, after OpenBLAS's own initialiser and before any BLAS
 * call; the weak symbols leave other BLAS builds untouched. Setting
 * OPENBLAS_CORETYPE yourself overrides this. */
char *openblas_get_corename(void) __attribute__((weak));
void  gotoblas_dynamic_init(void) __attribute__((weak));
void  gotoblas_dynamic_quit(void) __attribute__((weak));

__attribute__((constructor)) static void matmul_select_kernels(void)
{
    if (!openblas_get_corename || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return;
    if (getenv("OPENBLAS_CORETYPE") || !__builtin_cpu_supports("avx512f")) return;
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "prescott") != 0) return;
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
}

void matmul(int trans_a, int trans_b, int M, int N, int K, float alpha,
            const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *matmul_backend(void)
{
    static char name[64];
    const char *core = openblas_get_corename ? openblas_get_corename() : NULL;
    if (!core) return "openblas-sgemm";
    snprintf(name, sizeof name, "openblas-sgemm (%s kernels)", core);
    return name;
}
