/* Sharpness: exact Hessian-vector products (R-operator) against the float64
 * PyTorch Hessian of tools/hessian_reference.py, the full Hessian built from
 * them, Hutchinson / power iteration / Lanczos on known spectra, and
 * determinism across thread counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "support/fixture.h"
#include "core/rng.h"
#include "model/llama.h"
#include <cJSON.h>
#include <unistd.h>

#include "data/shard.h"
#include "probe/hvp.h"
#include "probe/sharpness.h"
#include "probe/sharpness_hook.h"
#include "probe/spectrum.h"

/* fixture reading: tests/support/fixture.h */

static float fixture_scalar(const Fixture *fx, const char *name) { return *(const float *)fixture_get(fx, name)->data; }

/* The fixture's model at its point, with its batch fixed in an Hvp. */
typedef struct {
    Fixture fx;
    Model   m;
    Hvp     h;
    int     B, T, K;
    size_t  n;
} Tiny;

static void tiny_open(Tiny *t, const char *file)
{
    fixture_load(&t->fx, file);
    const int *ci = fixture_get(&t->fx, "config")->data;
    const float *hp = fixture_get(&t->fx, "hyper")->data;
    Config c = {.dim = ci[0], .n_layers = ci[1], .n_heads = ci[2], .n_kv_heads = ci[3], .ffn_dim = ci[4],
                .vocab_size = ci[5], .seq_len = ci[6], .tied = ci[7], .rope_theta = hp[0], .norm_eps = hp[1]};
    t->B = ci[8], t->T = ci[9], t->n = (size_t)ci[10], t->K = ci[11];
    Err e;
    assert_int_equal(model_create(&t->m, &c, t->B, t->T, &e), 0);
    assert_int_equal(t->m.n_params, t->n);
    /* The fixture's flat vectors (v, H v) use the ParamTable layout too. */
    fixture_load_params(&t->fx, &t->m.table, t->m.params, "w/");
    assert_int_equal(hvp_create(&t->h, &t->m, t->B, t->T, &e), 0);
    float loss = hvp_set_batch(&t->h, fixture_get(&t->fx, "tokens")->data, fixture_get(&t->fx, "targets")->data,
                               fixture_get(&t->fx, "mask")->data, t->B, t->T);
    assert_true(fabs(loss - fixture_scalar(&t->fx, "loss")) < 1e-5 * fabs(fixture_scalar(&t->fx, "loss")));
}

static void tiny_close(Tiny *t)
{
    hvp_free(&t->h);
    model_free(&t->m);
    fixture_free(&t->fx);
}

static HessianOp tiny_op(Tiny *t)
{
    HessianOp op = {hvp_fn, &t->h, t->n};
    return op;
}

/* ----------------------------------------------- against the exact Hessian */

static void check_products(const char *file)
{
    Tiny t;
    tiny_open(&t, file);
    const float *v = fixture_get(&t.fx, "v")->data, *hv_ref = fixture_get(&t.fx, "hv")->data;
    float *hv = calloc(t.n, sizeof(float));
    double worst = 0;
    for (int k = 0; k < t.K; k++) {
        hvp_apply(&t.h, v + (size_t)k * t.n, hv);
        double r = rel_err(hv, hv_ref + (size_t)k * t.n, t.n);
        /* and per tensor, so an error confined to one small tensor shows */
        for (int i = 0; i < t.m.table.count; i++) {
            const ParamEntry *p = &t.m.table.entries[i];
            double rt = rel_err(hv + p->offset, hv_ref + (size_t)k * t.n + p->offset, p->numel);
            if (rt >= 1e-4) fail_msg("%s: H v[%d] on %s off by %.2e (relative norm)", file, k, p->name, rt);
        }
        worst = fmax(worst, r);
    }
    printf("  %s: %zu parameters, worst H v relative error %.1e over %d random v\n", file, t.n, worst, t.K);
    assert_true(worst < 1e-4);
    free(hv);
    tiny_close(&t);
}

static void test_hvp_matches_exact_products_gqa_masked(void **s)
{
    (void)s;
    check_products("hessian_gqa_masked.bin");
}

static void test_hvp_matches_exact_products_tied_head(void **s)
{
    (void)s;
    check_products("hessian_tied.bin");
}

static void test_hvp_matches_exact_products_across_attention_blocks(void **s)
{
    (void)s;
    check_products("hessian_long.bin");   /* T = 150: three 64-row blocks */
}

/* The full Hessian, column j = H e_j. */
static float *full_hessian(Tiny *t)
{
    size_t n = t->n;
    float *H = malloc(n * n * sizeof(float)), *e = calloc(n, sizeof(float));
    for (size_t j = 0; j < n; j++) {
        e[j] = 1.0f;
        hvp_apply(&t->h, e, H + j * n);   /* stored as column j in row j: H is symmetric */
        e[j] = 0.0f;
    }
    free(e);
    return H;
}

static void check_full_hessian(const char *file)
{
    Tiny t;
    tiny_open(&t, file);
    size_t n = t.n;
    float *H = full_hessian(&t);
    double asym = 0, norm = 0, trace = 0;
    for (size_t i = 0; i < n; i++) {
        trace += H[i * n + i];
        for (size_t j = 0; j < n; j++) {
            double a = H[i * n + j], b = H[j * n + i];
            asym += (a - b) * (a - b);
            norm += a * a;
        }
    }
    asym = sqrt(asym / norm);
    double ref = fixture_scalar(&t.fx, "trace");
    const float *diag_ref = fixture_get(&t.fx, "diag")->data;
    float *diag = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) diag[i] = H[i * n + i];
    double diag_rel = rel_err(diag, diag_ref, n);
    /* The columns, as products with basis vectors, against the fixture's H v: H^T v = H v. */
    const float *v = fixture_get(&t.fx, "v")->data, *hv_ref = fixture_get(&t.fx, "hv")->data;
    float *hv = calloc(n, sizeof(float));
    for (size_t j = 0; j < n; j++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += (double)H[j * n + i] * v[i];
        hv[j] = (float)s;
    }
    double cols_rel = rel_err(hv, hv_ref, n);
    printf("  %s: full Hessian %zux%zu: asymmetry %.1e, trace %.6f (exact %.6f), diagonal rel %.1e, "
           "H v from columns rel %.1e\n", file, n, n, asym, trace, ref, diag_rel, cols_rel);
    assert_true(asym < 1e-5);
    assert_true(fabs(trace - ref) < 1e-4 * fabs(ref));
    assert_true(diag_rel < 1e-4);
    assert_true(cols_rel < 1e-4);
    free(hv);
    free(diag);
    free(H);
    tiny_close(&t);
}

static void test_full_hessian_is_symmetric_with_the_exact_trace_gqa_masked(void **s)
{
    (void)s;
    check_full_hessian("hessian_gqa_masked.bin");
}

static void test_full_hessian_is_symmetric_with_the_exact_trace_tied_head(void **s)
{
    (void)s;
    check_full_hessian("hessian_tied.bin");
}

static void test_hutchinson_with_many_probes_lands_within_three_standard_errors(void **s)
{
    (void)s;
    const char *files[] = {"hessian_gqa_masked.bin", "hessian_tied.bin"};
    for (int f = 0; f < 2; f++) {
        Tiny t;
        tiny_open(&t, files[f]);
        HessianOp op = tiny_op(&t);
        TraceOptions o = trace_options_default();
        o.probes = 3000;
        o.seed = 7;
        TraceEstimate est;
        Err e;
        assert_int_equal(hutchinson_trace(&op, &o, &est, &e), 0);
        double exact = fixture_scalar(&t.fx, "trace");
        printf("  %s: Hutchinson %d probes: %.4f +- %.4f (exact %.4f, %.2f standard errors away)\n", files[f],
               est.probes, est.mean, est.std_error, exact, fabs(est.mean - exact) / est.std_error);
        assert_int_equal(est.probes, 3000);
        assert_true(est.std_error > 0);
        assert_true(fabs(est.mean - exact) < 3 * est.std_error);
        /* The standard error is the spread of single probes over sqrt(N); a
         * single probe's variance is 2 * sum_{i != j} H_ij^2 (Rademacher),
         * so it cannot be tiny: sanity-bound it against the exact Frobenius
         * mass seen through the spectrum, sum lambda^2 >= sum_{i != j} H_ij^2 / 1. */
        const FixArray *ev = fixture_get(&t.fx, "eigenvalues");
        double fro2 = 0;
        for (size_t i = 0; i < ev->numel; i++) fro2 += (double)((float *)ev->data)[i] * ((float *)ev->data)[i];
        assert_true(est.std_error * est.std_error * est.probes < 2 * fro2);
        tiny_close(&t);
    }
}

static void test_power_iteration_finds_the_exact_dominant_eigenvalue(void **s)
{
    (void)s;
    const char *files[] = {"hessian_gqa_masked.bin", "hessian_tied.bin"};
    for (int f = 0; f < 2; f++) {
        Tiny t;
        tiny_open(&t, files[f]);
        HessianOp op = tiny_op(&t);
        PowerOptions o = power_options_default();
        o.max_iters = 2000;
        o.rel_tol = 1e-9;
        o.seed = 3;
        PowerResult r;
        Err e;
        assert_int_equal(power_iteration(&op, &o, &r, &e), 0);
        double exact = fixture_scalar(&t.fx, "eig_dominant");
        printf("  %s: power iteration %.6f after %d iterations (exact %.6f, rel %.1e)\n", files[f], r.eigenvalue,
               r.iters, exact, fabs(r.eigenvalue - exact) / fabs(exact));
        assert_true(fabs(r.eigenvalue - exact) < 1e-3 * fabs(exact));
        tiny_close(&t);
    }
}

static void test_lanczos_ritz_values_reach_the_exact_extreme_eigenvalues(void **s)
{
    (void)s;
    Tiny t;
    tiny_open(&t, "hessian_gqa_masked.bin");
    HessianOp op = tiny_op(&t);
    LanczosResult r;
    Err e;
    assert_int_equal(lanczos(&op, 80, 5, NULL, &r, &e), 0);
    const FixArray *ev = fixture_get(&t.fx, "eigenvalues");
    const float *lam = ev->data;
    double lo = lam[0], hi = lam[ev->numel - 1], wsum = 0;
    for (int i = 0; i < r.k; i++) wsum += r.weights[i];
    printf("  Lanczos 80 steps: Ritz range [%.6f, %.6f] (exact [%.6f, %.6f]), weights sum %.6f\n", r.values[0],
           r.values[r.k - 1], lo, hi, wsum);
    assert_int_equal(r.k, 80);
    assert_true(fabs(r.values[0] - lo) < 1e-3 * fabs(lo));
    assert_true(fabs(r.values[r.k - 1] - hi) < 1e-3 * fabs(hi));
    assert_true(fabs(wsum - 1) < 1e-6);
    /* The smoothed density integrates to 1 over a wide enough grid. */
    enum { G = 2001 };
    static double tg[G], dg[G];
    lanczos_density(&r, 0.05, lo - 1, hi + 1, G, tg, dg);
    double integral = 0;
    for (int g = 1; g < G; g++) integral += 0.5 * (dg[g] + dg[g - 1]) * (tg[g] - tg[g - 1]);
    assert_true(fabs(integral - 1) < 1e-3);
    lanczos_free(&r);
    tiny_close(&t);
}

/* ------------------------------------------------- a quadratic, known H */

/* loss = 1/2 w^T H w with H given as diagonal + symmetric tridiagonal coupling. */
typedef struct {
    size_t n;
    const double *diag;
    double off;   /* H[i][i+1] = H[i+1][i] = off */
} Quadratic;

static void quadratic_hvp(void *ctx, const float *v, float *hv)
{
    const Quadratic *q = ctx;
    for (size_t i = 0; i < q->n; i++) {
        double s = q->diag[i] * v[i];
        if (i > 0) s += q->off * v[i - 1];
        if (i + 1 < q->n) s += q->off * v[i + 1];
        hv[i] = (float)s;
    }
}

static void test_quadratic_with_diagonal_hessian_gives_exact_trace_and_top_eigenvalue(void **s)
{
    (void)s;
    enum { N = 200 };
    double d[N], trace = 0;
    for (int i = 0; i < N; i++) {
        d[i] = (i % 2 ? -1.0 : 1.0) * (0.5 + 0.01 * i);   /* mixed signs, |d| <= 2.49 */
        trace += d[i];
    }
    d[17] = 10.0;   /* the dominant eigenvalue */
    trace += 10.0 - (-(0.5 + 0.17));
    Quadratic q = {N, d, 0.0};
    HessianOp op = {quadratic_hvp, &q, N};
    Err e;
    /* Rademacher z: z^T D z = sum d_i exactly for every probe: zero spread. */
    TraceOptions to = trace_options_default();
    to.probes = 5;
    TraceEstimate est;
    assert_int_equal(hutchinson_trace(&op, &to, &est, &e), 0);
    assert_int_equal(est.probes, 5);
    assert_true(fabs(est.mean - trace) < 1e-6 * fabs(trace));   /* the operator rounds H v to float */
    assert_true(est.std_error == 0);
    /* The stopping rule stops at min_probes when the spread is zero. */
    to.probes = 50;
    to.min_probes = 4;
    to.rel_tol = 1e-3;
    assert_int_equal(hutchinson_trace(&op, &to, &est, &e), 0);
    assert_int_equal(est.probes, 4);
    PowerOptions po = power_options_default();
    po.rel_tol = 1e-10;
    po.max_iters = 500;
    PowerResult pr;
    assert_int_equal(power_iteration(&op, &po, &pr, &e), 0);
    printf("  quadratic: trace %.6f (exact %.6f), top eigenvalue %.8f in %d iterations\n", est.mean, trace,
           pr.eigenvalue, pr.iters);
    assert_true(pr.converged);
    assert_true(fabs(pr.eigenvalue - 10.0) < 1e-5);
    /* Lanczos with k = n steps recovers the whole spectrum with weights z_i^2. */
    LanczosResult lr;
    assert_int_equal(lanczos(&op, N, 1, NULL, &lr, &e), 0);
    double sorted[N];
    memcpy(sorted, d, sizeof d);
    for (int i = 1; i < N; i++)
        for (int j = i; j > 0 && sorted[j] < sorted[j - 1]; j--) {
            double x = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = x;
        }
    assert_int_equal(lr.k, N);
    double worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(lr.values[i] - sorted[i]));
    printf("  quadratic: Lanczos %d steps, worst Ritz value error %.1e\n", N, worst);
    assert_true(worst < 1e-4);
    lanczos_free(&lr);
}

static void test_quadratic_with_coupling_has_the_predicted_probe_spread(void **s)
{
    (void)s;
    /* With off-diagonal c on a chain of n, a probe's z^T H z = trace + 2c sum z_i z_{i+1}:
     * variance 4 c^2 (n-1), so the standard error of N probes is 2|c| sqrt((n-1)/N). */
    enum { N = 101, P = 400 };
    double d[N], trace = 0;
    for (int i = 0; i < N; i++) trace += d[i] = 1.0 + 0.1 * i;
    Quadratic q = {N, d, 0.25};
    HessianOp op = {quadratic_hvp, &q, N};
    TraceOptions to = trace_options_default();
    to.probes = P;
    to.seed = 11;
    TraceEstimate est;
    Err e;
    assert_int_equal(hutchinson_trace(&op, &to, &est, &e), 0);
    double se_pred = 2 * 0.25 * sqrt((N - 1.0) / P);
    printf("  coupled quadratic: %.4f +- %.4f (exact %.4f, predicted standard error %.4f)\n", est.mean,
           est.std_error, trace, se_pred);
    assert_true(fabs(est.mean - trace) < 3 * est.std_error);
    assert_true(est.std_error > 0.85 * se_pred && est.std_error < 1.15 * se_pred);
}

/* ---------------------------------------------------------- determinism */

/* The nano preset at random weights, a masked 4 x 64 batch (large enough
 * that attention, cross-entropy and BLAS split work across threads), a
 * 20-probe trace. */
static TraceEstimate nano_trace(int threads, uint64_t seed)
{
    omp_set_num_threads(threads);
    Config c;
    Err e;
    assert_int_equal(config_preset(&c, "nano", &e), 0);
    enum { B = 4, T = 64 };
    Model m;
    assert_int_equal(model_create(&m, &c, B, T, &e), 0);
    model_init_weights(&m, 5);
    int tokens[B * T], targets[B * T];
    float mask[B * T];
    Rng r = rng_stream(9, 77);
    for (int i = 0; i < B * T; i++) {
        tokens[i] = (int)rng_below(&r, (uint64_t)c.vocab_size);
        targets[i] = (int)rng_below(&r, (uint64_t)c.vocab_size);
        mask[i] = i % 3 != 0;
    }
    Hvp h;
    assert_int_equal(hvp_create(&h, &m, B, T, &e), 0);
    hvp_set_batch(&h, tokens, targets, mask, B, T);
    HessianOp op = {hvp_fn, &h, m.n_params};
    TraceOptions o = trace_options_default();
    o.probes = 20;
    o.seed = seed;
    TraceEstimate est;
    assert_int_equal(hutchinson_trace(&op, &o, &est, &e), 0);
    hvp_free(&h);
    model_free(&m);
    omp_set_num_threads(1);
    return est;
}

/* H v on the nano model, a masked B x 64 batch, with `threads` threads. */
static void nano_hvp(int threads, int B, float *hv, size_t *n_out)
{
    omp_set_num_threads(threads);
    Config c;
    Err e;
    assert_int_equal(config_preset(&c, "nano", &e), 0);
    enum { T = 64 };
    Model m;
    assert_int_equal(model_create(&m, &c, B, T, &e), 0);
    model_init_weights(&m, 6);
    int tokens[4 * T], targets[4 * T];
    float mask[4 * T];
    Rng r = rng_stream(10, 78);
    for (int i = 0; i < B * T; i++) {
        tokens[i] = (int)rng_below(&r, (uint64_t)c.vocab_size);
        targets[i] = (int)rng_below(&r, (uint64_t)c.vocab_size);
        mask[i] = i % 5 != 0;
    }
    float *v = malloc(m.n_params * sizeof(float));
    for (size_t i = 0; i < m.n_params; i++) v[i] = (float)rng_normal(&r);
    Hvp h;
    assert_int_equal(hvp_create(&h, &m, B, T, &e), 0);
    hvp_set_batch(&h, tokens, targets, mask, B, T);
    hvp_apply(&h, v, hv);
    *n_out = m.n_params;
    hvp_free(&h);
    model_free(&m);
    free(v);
    omp_set_num_threads(1);
}

static void test_hvp_with_two_threads_equals_one_thread_whether_sequences_split_evenly_or_not(void **s)
{
    (void)s;
    /* B = 4: each thread owns two whole sequences; B = 3: rows are split
     * mid-sequence and the threads meet around attention. */
    for (int B = 3; B <= 4; B++) {
        size_t n;
        float *one = malloc(200000 * sizeof(float)), *two = malloc(200000 * sizeof(float));
        nano_hvp(1, B, one, &n);
        assert_true(n <= 200000);
        nano_hvp(2, B, two, &n);
        double rel = rel_err(two, one, n);
        printf("  nano B=%d: H v with 2 threads vs 1: rel %.1e\n", B, rel);
        assert_true(rel < 1e-6);
        free(one);
        free(two);
    }
}

/* Field by field: memcmp over the struct would also compare its padding. */
static void assert_same_estimate(const TraceEstimate *a, const TraceEstimate *b)
{
    assert_memory_equal(&a->mean, &b->mean, sizeof a->mean);
    assert_memory_equal(&a->std_error, &b->std_error, sizeof a->std_error);
    assert_int_equal(a->probes, b->probes);
}

static void test_trace_is_bit_reproducible_and_invariant_to_thread_count(void **s)
{
    (void)s;
    TraceEstimate a1 = nano_trace(1, 42), b1 = nano_trace(1, 42);
    TraceEstimate a2 = nano_trace(2, 42), b2 = nano_trace(2, 42);
    TraceEstimate other = nano_trace(2, 43);
    printf("  nano: 1 thread %.6f +- %.6f, 2 threads %.6f +- %.6f, seed 43: %.6f\n", a1.mean, a1.std_error,
           a2.mean, a2.std_error, other.mean);
    assert_same_estimate(&a1, &b1);
    assert_same_estimate(&a2, &b2);
    assert_true(fabs(a1.mean - a2.mean) < a1.std_error);
    assert_true(a1.mean != other.mean);   /* the seed picks the probes */
}

static void test_hvp_agrees_with_central_differences_of_the_model_gradient(void **s)
{
    (void)s;
    /* A second, independent route at the nano shape (vocab 256, GQA) with
     * T = 300, so attention spans five 64-row blocks and three 128-key
     * blocks, each tile recomputed from the log-sum-exp:
     * (g(w + eps v) - g(w - eps v)) / (2 eps) from model_backward. The
     * truncation error is O(eps^2) (measured at T 32: 1.3e-1, 8.4e-3, 5.3e-4 at
     * eps 6.3e-3, 1.6e-3, 3.9e-4), fp32 rounding O(1e-7 / eps); at eps 5e-4
     * both are below 1e-2, which is what this asserts. Also u^T H v = v^T H u. */
    Config c;
    Err e;
    assert_int_equal(config_preset(&c, "nano", &e), 0);
    c.seq_len = 300;
    enum { B = 2, T = 300 };
    Model m;
    assert_int_equal(model_create(&m, &c, B, T, &e), 0);
    model_init_weights(&m, 8);
    size_t n = m.n_params;
    int tokens[B * T], targets[B * T];
    float mask[B * T];
    Rng r = rng_stream(4, 1);
    for (int i = 0; i < B * T; i++) {
        tokens[i] = (int)rng_below(&r, 256);
        targets[i] = (int)rng_below(&r, 256);
        mask[i] = i % 4 != 1;
    }
    float *v = malloc(n * sizeof(float)), *hv = malloc(n * sizeof(float)), *w0 = malloc(n * sizeof(float));
    float *gp = malloc(n * sizeof(float)), *fd = malloc(n * sizeof(float));
    float *u = malloc(n * sizeof(float)), *hu = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = (float)rng_normal(&r), u[i] = (float)rng_normal(&r);
    Hvp h;
    assert_int_equal(hvp_create(&h, &m, B, T, &e), 0);
    float loss_h = hvp_set_batch(&h, tokens, targets, mask, B, T);
    hvp_apply(&h, v, hv);
    hvp_apply(&h, u, hu);
    double uhv = 0, vhu = 0;
    for (size_t i = 0; i < n; i++) uhv += (double)u[i] * hv[i], vhu += (double)v[i] * hu[i];
    memcpy(w0, m.params, n * sizeof(float));
    const float eps = 5e-4f;
    for (int sign = 1; sign >= -1; sign -= 2) {
        for (size_t i = 0; i < n; i++) m.params[i] = w0[i] + sign * eps * v[i];
        model_zero_grad(&m);
        model_forward(&m, tokens, targets, mask, B, T);
        model_backward(&m, 1.0f);
        if (sign == 1) memcpy(gp, m.grads, n * sizeof(float));
    }
    for (size_t i = 0; i < n; i++) fd[i] = (gp[i] - m.grads[i]) / (2 * eps);
    memcpy(m.params, w0, n * sizeof(float));
    float loss_m = model_forward(&m, tokens, targets, mask, B, T);
    double rel = rel_err(hv, fd, n);
    printf("  nano T=%d: H v vs central differences rel %.1e; u^T H v %.6f, v^T H u %.6f; loss %.7f (model %.7f)\n",
           T, rel, uhv, vhu, loss_h, loss_m);
    assert_true(rel < 1e-2);
    assert_true(fabs(uhv - vhu) < 1e-5 * fabs(uhv));
    assert_true(loss_h == loss_m);   /* the same kernels in the same order */
    hvp_free(&h);
    model_free(&m);
    free(v), free(hv), free(w0), free(gp), free(fd), free(u), free(hu);
}

/* ------------------------------------------------ probe data, hook, JSON */

/* A temp folder with val.bin (token i = i % 251) and val.mask.bin (1 where i % 3 == 0). */
static void write_probe_shards(char *dir, char *tokens_path, char *mask_path, size_t n)
{
    strcpy(dir, "/tmp/plateau_sharpness_XXXXXX");
    assert_non_null(mkdtemp(dir));
    uint16_t *tok = malloc(n * sizeof(uint16_t)), *mask = malloc(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) {
        tok[i] = (uint16_t)(i % 251);
        mask[i] = i % 3 == 0;
    }
    sprintf(tokens_path, "%s/val.bin", dir);
    sprintf(mask_path, "%s/val.mask.bin", dir);
    Err e;
    assert_int_equal(shard_write(tokens_path, tok, n, &e), 0);
    assert_int_equal(shard_write(mask_path, mask, n, &e), 0);
    free(tok);
    free(mask);
}

static void remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_probe_batch_is_the_first_windows_in_file_order(void **s)
{
    (void)s;
    char dir[64], tp[128], mp[128];
    write_probe_shards(dir, tp, mp, 100);
    Batch b;
    Err e;
    /* stream: window w is tokens [w*T, w*T + T]; the mask is that of the targets */
    assert_int_equal(probe_batch_load(&b, tp, mp, LOADER_STREAM, 3, 8, 256, &e), 0);
    double counted = 0;
    for (int w = 0; w < 3; w++)
        for (int t = 0; t < 8; t++) {
            int i = w * 8 + t;
            assert_int_equal(b.tokens[i], i % 251);
            assert_int_equal(b.targets[i], (i + 1) % 251);
            assert_true(b.mask[i] == (float)((i + 1) % 3 == 0));
            counted += b.mask[i];
        }
    assert_true(b.n_counted == counted);
    batch_free(&b);
    /* rows: row w is tokens [w*(T+1), w*(T+1) + T]; 100 = 10 rows of 10 */
    assert_int_equal(probe_batch_load(&b, tp, NULL, LOADER_ROWS, 2, 9, 256, &e), 0);
    assert_int_equal(b.tokens[9], 10);
    assert_int_equal(b.targets[9 + 8], 19);
    assert_true(b.mask[5] == 1.0f && b.n_counted == 18);
    batch_free(&b);
    /* too few windows: the message names the file */
    assert_int_equal(probe_batch_load(&b, tp, mp, LOADER_STREAM, 20, 8, 256, &e), -1);
    assert_non_null(strstr(e.msg, "val.bin"));
    remove_dir(dir);
}

static void test_hook_records_every_k_steps_and_a_resumed_run_keeps_earlier_rows(void **s)
{
    (void)s;
    char dir[64], tp[128], mp[128], csv[160];
    write_probe_shards(dir, tp, mp, 200);
    sprintf(csv, "%s/sharpness.csv", dir);
    Config c;
    Err e;
    assert_int_equal(config_preset(&c, "nano", &e), 0);
    Model m;
    assert_int_equal(model_create(&m, &c, 1, 16, &e), 0);
    model_init_weights(&m, 2);
    SharpnessHook h;
    assert_int_equal(sharpness_hook_open(&h, &m, tp, mp, LOADER_STREAM, 2, 16, 2, 0, 5, 4, 9, csv, &e), 0);
    h.quiet = 1;
    for (int64_t step = 1; step <= 5; step++) {
        StepMetrics met = {.step = step, .tokens = step * 32};
        assert_int_equal(sharpness_hook_on_step(&h, &met), 0);
    }
    sharpness_hook_close(&h);
    char *text;
    size_t n;
    assert_int_equal(read_file(csv, &text, &n, &e), 0);
    /* header, then steps 2, 4 and the last step 5 */
    int lines = 0, steps[8];
    for (char *p = text; (p = strchr(p, '\n')); p++) lines++;
    assert_int_equal(lines, 4);
    char *row = strchr(text, '\n') + 1;
    for (int i = 0; i < 3; i++, row = strchr(row, '\n') + 1) steps[i] = atoi(row);
    assert_int_equal(steps[0], 2), assert_int_equal(steps[1], 4), assert_int_equal(steps[2], 5);
    /* the recorded trace is sharpness_probe's on the same batch and seed, to the printed digits */
    Batch b;
    assert_int_equal(probe_batch_load(&b, tp, mp, LOADER_STREAM, 2, 16, 256, &e), 0);
    SharpnessResult r;
    assert_int_equal(sharpness_probe(&m, &b, 4, 9, &r, &e), 0);
    char expect[64];
    snprintf(expect, sizeof expect, "\n5,160,%.9g,", r.trace.mean);
    assert_non_null(strstr(text, expect));
    free(text);
    /* a run resumed at step 4 keeps the row of step 2 and rewrites from there */
    assert_int_equal(sharpness_hook_open(&h, &m, tp, mp, LOADER_STREAM, 2, 16, 2, 4, 6, 4, 9, csv, &e), 0);
    h.quiet = 1;
    StepMetrics met = {.step = 6, .tokens = 192};
    assert_int_equal(sharpness_hook_on_step(&h, &met), 0);
    sharpness_hook_close(&h);
    assert_int_equal(read_file(csv, &text, &n, &e), 0);
    assert_non_null(strstr(text, "\n2,64,"));
    assert_null(strstr(text, "\n4,128,"));
    assert_non_null(strstr(text, "\n6,192,"));
    free(text);
    /* the JSON record carries the same numbers */
    SharpnessOptions o = sharpness_options_default();
    char json[160];
    sprintf(json, "%s/s.json", dir);
    assert_int_equal(sharpness_write_json(json, &r, &o, "ckpt", tp, &e), 0);
    assert_int_equal(read_file(json, &text, &n, &e), 0);
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    assert_true(cJSON_GetObjectItem(j, "trace")->valuedouble == r.trace.mean);
    assert_true(cJSON_GetObjectItem(j, "trace_std_error")->valuedouble == r.trace.std_error);
    assert_int_equal(cJSON_GetObjectItem(j, "probes")->valueint, 4);
    cJSON_Delete(j);
    free(text);
    sharpness_result_free(&r);
    batch_free(&b);
    model_free(&m);
    remove_dir(dir);
}

int main(void)
{
    /* One thread unless a test says otherwise: these shapes are far too small
     * to gain from two, and a loaded machine makes spinning threads slow. */
    omp_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hvp_matches_exact_products_gqa_masked),
        cmocka_unit_test(test_hvp_matches_exact_products_tied_head),
        cmocka_unit_test(test_hvp_matches_exact_products_across_attention_blocks),
        cmocka_unit_test(test_full_hessian_is_symmetric_with_the_exact_trace_gqa_masked),
        cmocka_unit_test(test_full_hessian_is_symmetric_with_the_exact_trace_tied_head),
        cmocka_unit_test(test_hutchinson_with_many_probes_lands_within_three_standard_errors),
        cmocka_unit_test(test_power_iteration_finds_the_exact_dominant_eigenvalue),
        cmocka_unit_test(test_lanczos_ritz_values_reach_the_exact_extreme_eigenvalues),
        cmocka_unit_test(test_quadratic_with_diagonal_hessian_gives_exact_trace_and_top_eigenvalue),
        cmocka_unit_test(test_quadratic_with_coupling_has_the_predicted_probe_spread),
        cmocka_unit_test(test_hvp_with_two_threads_equals_one_thread_whether_sequences_split_evenly_or_not),
        cmocka_unit_test(test_trace_is_bit_reproducible_and_invariant_to_thread_count),
        cmocka_unit_test(test_hvp_agrees_with_central_differences_of_the_model_gradient),
        cmocka_unit_test(test_probe_batch_is_the_first_windows_in_file_order),
        cmocka_unit_test(test_hook_records_every_k_steps_and_a_resumed_run_keeps_earlier_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
