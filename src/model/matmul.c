#include "model/matmul.h"

#include <cblas.h>
#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* ------------------------------------------------------------------ bf16 */

static inline bf16 bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)((u >> 16) | 0x40);   /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                        /* nearest, ties to even */
    return (bf16)(u >> 16);
}

void bf16_from_f32(bf16 *dst, const float *src, size_t n)
{
    size_t i = 0;
#ifdef __AVX512BF16__
    /* One instruction per 16 values (nearest, ties to even, NaN kept quiet;
     * it also flushes fp32 subnormals, below 1.2e-38, to zero). */
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
#endif
    for (; i < n; i++) dst[i] = bf16_round(src[i]);
}

void f32_from_bf16(float *dst, const bf16 *src, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &u, sizeof u);
    }
}

int matmul_cpu_has_bf16(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int amx_bf16 = (d >> 22) & 1;
    int max_sub = (int)a;
    int avx512_bf16 = 0;
    if (max_sub >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) avx512_bf16 = (a >> 5) & 1;
    return avx512_bf16 || amx_bf16;
}

/* --------------------------------------------------------------- backend */

enum { BACKEND_ONEDNN, BACKEND_OPENBLAS };
static int backend = -1;
static dnnl_engine_t engine;
static pthread_once_t backend_once = PTHREAD_ONCE_INIT;

static void backend_choose(void)
{
    const char *want = getenv("PLATEAU_MATMUL");
    backend = BACKEND_ONEDNN;
    if (want && strcasecmp(want, "openblas") == 0) backend = BACKEND_OPENBLAS;
    else if (want && *want && strcasecmp(want, "onednn") != 0)
        fprintf(stderr, "plateau: PLATEAU_MATMUL=%s is not a backend (expected onednn or openblas); using onednn\n",
                want);
    if (backend == BACKEND_ONEDNN && dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) {
        fprintf(stderr, "plateau: oneDNN has no CPU engine; using OpenBLAS\n");
        backend = BACKEND_OPENBLAS;
    }
}

static int backend_get(void)
{
    pthread_once(&backend_once, backend_choose);
    return backend;
}

/* ------------------------------------------------------------ oneDNN cache */

/* One cached primitive with its three memory objects, whose data handles
 * are set on each call. Everything is per thread (no locks): a thread's
 * primitives, memories and stream are only ever used by that thread. */
typedef struct {
    int   bf16, ta, tb, M, N, K, lda, ldb, ldc, nested;
    float alpha, beta;
} MmKey;

typedef struct {
    MmKey          key;
    int            used;
    dnnl_primitive_t prim;
    dnnl_memory_t  a, b, c;
    const char    *impl;
} MmEntry;

typedef struct {
    MmEntry     *slots;
    size_t       cap, count;
    dnnl_stream_t stream;
} MmCache;

static __thread MmCache *tls_cache;

static uint64_t key_hash(const MmKey *k)
{
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = (const unsigned char *)k;
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void die_dnnl(dnnl_status_t st, const char *what, const MmKey *k)
{
    fprintf(stderr, "plateau: oneDNN %s failed (status %d) for a %s matmul %dx%dx%d (lda %d ldb %d ldc %d)\n", what,
            (int)st, k->bf16 ? "bf16" : "fp32", k->M, k->N, k->K, k->lda, k->ldb, k->ldc);
    abort();
}

#define DNNL_CHECK(call, what, k)                     \
    do {                                              \
        dnnl_status_t st_ = (call);                   \
        if (st_ != dnnl_success) die_dnnl(st_, what, k); \
    } while (0)

static void entry_create(MmEntry *e, const MmKey *k)
{
    dnnl_data_type_t in = k->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t amd, bmd, cmd;
    dnnl_dims_t adims = {k->M, k->K}, bdims = {k->K, k->N}, cdims = {k->M, k->N};
    dnnl_dims_t astr = {k->ta ? 1 : k->lda, k->ta ? k->lda : 1};
    dnnl_dims_t bstr = {k->tb ? 1 : k->ldb, k->tb ? k->ldb : 1};
    dnnl_dims_t cstr = {k->ldc, 1};
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&amd, 2, adims, in, astr), "describing A", k);
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&bmd, 2, bdims, in, bstr), "describing B", k);
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&cmd, 2, cdims, dnnl_f32, cstr), "describing C", k);
    dnnl_matmul_desc_t desc;
    DNNL_CHECK(dnnl_matmul_desc_init(&desc, &amd, &bmd, NULL, &cmd), "describing the matmul", k);

    dnnl_primitive_attr_t attr;
    DNNL_CHECK(dnnl_primitive_attr_create(&attr), "creating attributes", k);
    if (k->alpha != 1.0f) DNNL_CHECK(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha), "alpha", k);
    if (k->beta != 0.0f) {
        dnnl_post_ops_t po;
        DNNL_CHECK(dnnl_post_ops_create(&po), "creating post-ops", k);
        DNNL_CHECK(dnnl_post_ops_append_sum(po, k->beta), "beta", k);
        DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, po), "setting post-ops", k);
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL), "choosing a kernel", k);
    dnnl_primitive_attr_destroy(attr);
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    e->impl = impl ? strdup(impl) : "?";
    DNNL_CHECK(dnnl_primitive_create(&e->prim, pd), "creating the primitive", k);
    dnnl_primitive_desc_destroy(pd);
    DNNL_CHECK(dnnl_memory_create(&e->a, &amd, engine, DNNL_MEMORY_NONE), "memory A", k);
    DNNL_CHECK(dnnl_memory_create(&e->b, &bmd, engine, DNNL_MEMORY_NONE), "memory B", k);
    DNNL_CHECK(dnnl_memory_create(&e->c, &cmd, engine, DNNL_MEMORY_NONE), "memory C", k);
    e->key = *k;
    e->used = 1;
}

static MmCache *cache_get(const MmKey *k)
{
    MmCache *c = tls_cache;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) abort();
        c->cap = 64;
        c->slots = calloc(c->cap, sizeof *c->slots);
        if (!c->slots) abort();
        DNNL_CHECK(dnnl_stream_create(&c->stream, engine, dnnl_stream_default_flags), "creating a stream", k);
        tls_cache = c;
    }
    return c;
}

static void cache_grow(MmCache *c)
{
    size_t cap = c->cap * 2;
    MmEntry *slots = calloc(cap, sizeof *slots);
    if (!slots) abort();
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->slots[i].used) continue;
        size_t j = key_hash(&c->slots[i].key) & (cap - 1);
        while (slots[j].used) j = (j + 1) & (cap - 1);
        slots[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
}

static MmEntry *cache_find(MmCache *c, const MmKey *k)
{
    size_t j = key_hash(k) & (c->cap - 1);
    for (;; j = (j + 1) & (c->cap - 1)) {
        MmEntry *e = &c->slots[j];
        if (!e->used) break;
        if (memcmp(&e->key, k, sizeof *k) == 0) return e;
    }
    if (2 * (c->count + 1) > c->cap) {
        cache_grow(c);
        return cache_find(c, k);
    }
    c->count++;
    entry_create(&c->slots[j], k);
    return &c->slots[j];
}

static MmKey key_make(int bf, int ta, int tb, int M, int N, int K, float alpha, int lda, int ldb, float beta,
                      int ldc)
{
    MmKey k;
    memset(&k, 0, sizeof k);   /* the key is hashed and compared bytewise */
    k.bf16 = bf, k.ta = ta, k.tb = tb, k.M = M, k.N = N, k.K = K;
    k.lda = lda, k.ldb = ldb, k.ldc = ldc;
    k.nested = omp_in_parallel();
    k.alpha = alpha, k.beta = beta;
    return k;
}

static void onednn_run(const MmKey *k, const void *A, const void *B, float *C)
{
    MmCache *c = cache_get(k);
    MmEntry *e = cache_find(c, k);
    dnnl_memory_set_data_handle(e->a, (void *)A);
    dnnl_memory_set_data_handle(e->b, (void *)B);
    dnnl_memory_set_data_handle(e->c, C);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    DNNL_CHECK(dnnl_primitive_execute(e->prim, c->stream, 3, args), "executing", k);
    DNNL_CHECK(dnnl_stream_wait(c->stream), "waiting", k);
}

/* ---------------------------------------------------------------- matmul */

/* Per-thread fp32 copies of bf16 operands for the OpenBLAS backend; they
 * grow to the largest product seen and stay. */
static __thread float *tls_widen[2];
static __thread size_t tls_widen_n[2];

static float *widen_scratch(int which, size_t n)
{
    if (n > tls_widen_n[which]) {
        free(tls_widen[which]);
        tls_widen[which] = malloc(n * sizeof(float));
        if (!tls_widen[which]) abort();
        tls_widen_n[which] = n;
    }
    return tls_widen[which];
}

/* An empty product (K == 0) only scales C; oneDNN rejects zero dimensions. */
static int degenerate(int M, int N, int K, float beta, float *C, int ldc)
{
    if (M > 0 && N > 0 && K > 0) return 0;
    if (K == 0)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
    return 1;
}

/* oneDNN 2.6 runs an fp32 product whose A is stored transposed with its
 * generic gemm kernel, at about 2/3 of the speed of the brgemm kernel it
 * uses for a row-major A (weight gradients, dW = dY^T X, are all of this
 * kind; measured 65 against 81 GFLOP/s on one core). So A is transposed into
 * a per-thread buffer of TRANSPOSE_M x TRANSPOSE_K at a time, and each slab
 * is one row-major product added into its rows of C. (bf16 products with a
 * transposed A run at full speed and are left alone.) */
#define TRANSPOSE_M 2048
#define TRANSPOSE_K 512
static __thread float *tls_slab;
static __thread size_t tls_slab_n;

static void onednn_transposed_a(int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                                const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M > TRANSPOSE_M) {
        for (int m0 = 0; m0 < M; m0 += TRANSPOSE_M)
            onednn_transposed_a(trans_b, M - m0 < TRANSPOSE_M ? M - m0 : TRANSPOSE_M, N, K, alpha, A + m0, lda, B,
                                ldb, beta, C + (size_t)m0 * ldc, ldc);
        return;
    }
    size_t need = (size_t)M * TRANSPOSE_K;
    if (need > tls_slab_n) {
        free(tls_slab);
        tls_slab = malloc(need * sizeof(float));
        if (!tls_slab) abort();
        tls_slab_n = need;
    }
    for (int k0 = 0; k0 < K; k0 += TRANSPOSE_K) {
        int kb = K - k0 < TRANSPOSE_K ? K - k0 : TRANSPOSE_K;
        for (int m0 = 0; m0 < M; m0 += 32)   /* slab[m, j] = A[k0 + j, m], in 32 x 32 tiles */
            for (int j0 = 0; j0 < kb; j0 += 32) {
                int m1 = m0 + 32 < M ? m0 + 32 : M, j1 = j0 + 32 < kb ? j0 + 32 : kb;
                for (int m = m0; m < m1; m++)
                    for (int j = j0; j < j1; j++) tls_slab[(size_t)m * kb + j] = A[(size_t)(k0 + j) * lda + m];
            }
        const float *Bk = trans_b ? B + k0 : B + (size_t)k0 * ldb;
        MmKey k = key_make(0, 0, trans_b, M, N, kb, alpha, kb, ldb, k0 ? 1.0f : beta, ldc);
        onednn_run(&k, tls_slab, Bk, C);
    }
}

void matmul(int trans_a, int trans_b, int M, int N, int K, float alpha,
            const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (degenerate(M, N, K, beta, C, ldc)) return;
    if (backend_get() == BACKEND_OPENBLAS) {
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (trans_a) {
        onednn_transposed_a(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    MmKey k = key_make(0, trans_a, trans_b, M, N, K, alpha, lda, ldb, beta, ldc);
    onednn_run(&k, A, B, C);
}

void matmul_bf16(int trans_a, int trans_b, int M, int N, int K, float alpha,
                 const bf16 *A, int lda, const bf16 *B, int ldb, float beta, float *C, int ldc)
{
    if (degenerate(M, N, K, beta, C, ldc)) return;
    if (backend_get() == BACKEND_OPENBLAS) {
        /* Debian's OpenBLAS is built without sbgemm: widen (exactly) to fp32. */
        size_t na = (size_t)(trans_a ? K : M) * lda, nb = (size_t)(trans_b ? N : K) * ldb;
        float *a = widen_scratch(0, na), *b = widen_scratch(1, nb);
        f32_from_bf16(a, A, na);
        f32_from_bf16(b, B, nb);
        matmul(trans_a, trans_b, M, N, K, alpha, a, lda, b, ldb, beta, C, ldc);
        return;
    }
    MmKey k = key_make(1, trans_a, trans_b, M, N, K, alpha, lda, ldb, beta, ldc);
    onednn_run(&k, A, B, C);
}

const char *matmul_backend(void)
{
    static char name[256];
    if (backend_get() == BACKEND_OPENBLAS) {
        const char *core = openblas_get_corename ? openblas_get_corename() : NULL;
        snprintf(name, sizeof name, "openblas (%s kernels)", core ? core : "unknown");
        return name;
    }
    /* The kernels oneDNN picks for a 512^3 product. */
    const char *impl[2] = {"?", "?"};
    for (int bf = 0; bf < 2; bf++) {
        MmKey k = key_make(bf, 0, 1, 512, 512, 512, 1.0f, 512, 512, 0.0f, 512);
        MmCache *c = cache_get(&k);
        impl[bf] = cache_find(c, &k)->impl;
    }
    const dnnl_version_t *v = dnnl_version();
    snprintf(name, sizeof name, "onednn %d.%d.%d (fp32 %s, bf16 %s)", v->major, v->minor, v->patch, impl[0], impl[1]);
    return name;
}
