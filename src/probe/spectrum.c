#include "probe/spectrum.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

/* Dot products over fixed blocks summed in block order: the bits do not
 * depend on the thread count. */
#define DOT_BLOCKS 64
/* Vectors shorter than this are handled by the calling thread alone. */
#define PAR_MIN_N 65536

static double dot(const float *a, const float *b, size_t n)
{
    double part[DOT_BLOCKS];
    size_t per = (n + DOT_BLOCKS - 1) / DOT_BLOCKS;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_N)
    for (int k = 0; k < DOT_BLOCKS; k++) {
        size_t i0 = (size_t)k * per, i1 = i0 + per < n ? i0 + per : n;
        double s = 0;
        for (size_t i = i0; i < i1; i++) s += (double)a[i] * b[i];
        part[k] = s;
    }
    double s = 0;
    for (int k = 0; k < DOT_BLOCKS; k++) s += part[k];
    return s;
}

static void scale(float *x, double s, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_N)
    for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] * s);
}

/* y -= s x */
static void axpy_neg(float *y, double s, const float *x, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_N)
    for (size_t i = 0; i < n; i++) y[i] = (float)(y[i] - s * x[i]);
}

static void fill_normal(float *x, size_t n, Rng *r)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_normal(r);
}

/* ------------------------------------------------------------- Hutchinson */

TraceOptions trace_options_default(void)
{
    TraceOptions o = {.probes = 50, .min_probes = 10, .rel_tol = 0, .seed = 0, .progress = NULL};
    return o;
}

int hutchinson_trace(const HessianOp *op, const TraceOptions *opt, TraceEstimate *out, Err *e)
{
    if (opt->probes < 1) return err_set(e, "hutchinson: probes must be at least 1 (got %d)", opt->probes);
    if (opt->rel_tol < 0) return err_set(e, "hutchinson: tolerance must be >= 0 (got %g)", opt->rel_tol);
    size_t n = op->n;
    float *z = xmalloc(n * sizeof(float)), *hz = xmalloc(n * sizeof(float));
    Rng r = rng_stream(opt->seed, RNG_STREAM_PROBE);
    int min_probes = opt->min_probes < 2 ? 2 : opt->min_probes;
    /* Welford's running mean and sum of squared deviations. */
    double mean = 0, m2 = 0;
    int k = 0;
    while (k < opt->probes) {
        for (size_t i = 0; i < n; i += 64) {
            uint64_t bits = rng_u64(&r);
            size_t end = i + 64 < n ? i + 64 : n;
            for (size_t j = i; j < end; j++, bits >>= 1) z[j] = (bits & 1) ? 1.0f : -1.0f;
        }
        op->fn(op->ctx, z, hz);
        double s = dot(z, hz, n);
        k++;
        double delta = s - mean;
        mean += delta / k;
        m2 += delta * (s - mean);
        if (opt->progress) progress_update(opt->progress, (uint64_t)k);
        if (opt->rel_tol > 0 && k >= min_probes) {
            double se = sqrt(m2 / (k - 1) / k);
            if (se < opt->rel_tol * fabs(mean)) break;
        }
    }
    out->mean = mean;
    out->probes = k;
    out->std_error = k > 1 ? sqrt(m2 / (k - 1) / k) : 0.0;
    free(z);
    free(hz);
    return 0;
}

/* --------------------------------------------------------- power iteration */

PowerOptions power_options_default(void)
{
    PowerOptions o = {.max_iters = 100, .rel_tol = 1e-4, .seed = 0, .progress = NULL};
    return o;
}

int power_iteration(const HessianOp *op, const PowerOptions *opt, PowerResult *out, Err *e)
{
    if (opt->max_iters < 1) return err_set(e, "power iteration: max_iters must be at least 1 (got %d)", opt->max_iters);
    size_t n = op->n;
    float *v = xmalloc(n * sizeof(float)), *hv = xmalloc(n * sizeof(float));
    Rng r = rng_substream(opt->seed, RNG_STREAM_PROBE, 1);   /* power iteration's start */
    fill_normal(v, n, &r);
    scale(v, 1.0 / sqrt(dot(v, v, n)), n);
    double lambda = 0, prev = 0;
    int it = 0, converged = 0;
    while (it < opt->max_iters) {
        op->fn(op->ctx, v, hv);
        lambda = dot(v, hv, n);   /* Rayleigh quotient of the unit v */
        it++;
        if (opt->progress) progress_update(opt->progress, (uint64_t)it);
        if (it > 1 && fabs(lambda - prev) < opt->rel_tol * fabs(prev)) {
            converged = 1;
            break;
        }
        prev = lambda;
        double norm = sqrt(dot(hv, hv, n));
        if (norm == 0) {   /* H v = 0: v is in the null space; 0 is all we can say */
            converged = 1;
            break;
        }
        memcpy(v, hv, n * sizeof(float));
        scale(v, 1.0 / norm, n);
    }
    out->eigenvalue = lambda;
    out->iters = it;
    out->converged = converged;
    free(v);
    free(hv);
    return 0;
}

/* ------------------------------------------------------------------ Lanczos */

void tridiag_eigen(int k, const double *a, const double *b, double *values, double *first_sq)
{
    /* Dense copy A and eigenvectors Q (A = Q D Q^T), cyclic Jacobi rotations
     * until the off-diagonal mass is negligible. k is small (<= a few hundred). */
    double *A = xcalloc((size_t)k * k, sizeof(double)), *Q = xcalloc((size_t)k * k, sizeof(double));
    for (int i = 0; i < k; i++) {
        A[(size_t)i * k + i] = a[i];
        Q[(size_t)i * k + i] = 1;
        if (i + 1 < k) A[(size_t)i * k + i + 1] = A[(size_t)(i + 1) * k + i] = b[i];
    }
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, total = 0;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                double x = A[(size_t)i * k + j] * A[(size_t)i * k + j];
                total += x;
                if (i != j) off += x;
            }
        if (off <= 1e-30 * total || off == 0) break;
        for (int p = 0; p < k; p++)
            for (int q = p + 1; q < k; q++) {
                double apq = A[(size_t)p * k + q];
                if (apq == 0) continue;
                double app = A[(size_t)p * k + p], aqq = A[(size_t)q * k + q];
                double theta = (aqq - app) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int i = 0; i < k; i++) {   /* A <- A J */
                    double aip = A[(size_t)i * k + p], aiq = A[(size_t)i * k + q];
                    A[(size_t)i * k + p] = c * aip - s * aiq;
                    A[(size_t)i * k + q] = s * aip + c * aiq;
                }
                for (int i = 0; i < k; i++) {   /* A <- J^T A */
                    double api = A[(size_t)p * k + i], aqi = A[(size_t)q * k + i];
                    A[(size_t)p * k + i] = c * api - s * aqi;
                    A[(size_t)q * k + i] = s * api + c * aqi;
                }
                for (int i = 0; i < k; i++) {   /* Q <- Q J */
                    double qip = Q[(size_t)i * k + p], qiq = Q[(size_t)i * k + q];
                    Q[(size_t)i * k + p] = c * qip - s * qiq;
                    Q[(size_t)i * k + q] = s * qip + c * qiq;
                }
            }
    }
    /* Sort ascending (insertion sort on indices; k is small). */
    int *idx = xmalloc((size_t)k * sizeof(int));
    for (int i = 0; i < k; i++) idx[i] = i;
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && A[(size_t)idx[j] * k + idx[j]] < A[(size_t)idx[j - 1] * k + idx[j - 1]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (int i = 0; i < k; i++) {
        values[i] = A[(size_t)idx[i] * k + idx[i]];
        first_sq[i] = Q[idx[i]] * Q[idx[i]];   /* row 0, column idx[i] */
    }
    free(idx);
    free(A);
    free(Q);
}

int lanczos(const HessianOp *op, int steps, uint64_t seed, Progress *progress, LanczosResult *out, Err *e)
{
    memset(out, 0, sizeof *out);
    if (steps < 1) return err_set(e, "lanczos: steps must be at least 1 (got %d)", steps);
    size_t n = op->n;
    if ((size_t)steps > n) steps = (int)n;
    float *Qv = malloc((size_t)(steps + 1) * n * sizeof(float));
    if (!Qv) return err_set(e, "lanczos: out of memory for %d vectors of %zu floats", steps + 1, n);
    float *w = xmalloc(n * sizeof(float));
    double *alpha = xcalloc((size_t)steps, sizeof(double)), *beta = xcalloc((size_t)steps, sizeof(double));
    Rng r = rng_substream(seed, RNG_STREAM_PROBE, 2);   /* Lanczos' start */
    fill_normal(Qv, n, &r);
    scale(Qv, 1.0 / sqrt(dot(Qv, Qv, n)), n);
    int k = 0;
    while (k < steps) {
        float *q = Qv + (size_t)k * n;
        op->fn(op->ctx, q, w);
        alpha[k] = dot(q, w, n);
        k++;
        if (progress) progress_update(progress, (uint64_t)k);
        if (k == steps) break;
        /* Full reorthogonalisation (twice is enough) against q_0 .. q_{k-1}:
         * this also removes the alpha q_k and beta q_{k-1} terms. */
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < k; i++) axpy_neg(w, dot(w, Qv + (size_t)i * n, n), Qv + (size_t)i * n, n);
        double bnorm = sqrt(dot(w, w, n));
        if (bnorm <= 1e-10 * fabs(alpha[k - 1]) || bnorm == 0) break;   /* invariant subspace found */
        beta[k - 1] = bnorm;
        float *next = Qv + (size_t)k * n;
        memcpy(next, w, n * sizeof(float));
        scale(next, 1.0 / bnorm, n);
    }
    out->k = k;
    out->values = xcalloc((size_t)k, sizeof(double));
    out->weights = xcalloc((size_t)k, sizeof(double));
    tridiag_eigen(k, alpha, beta, out->values, out->weights);
    free(Qv);
    free(w);
    free(alpha);
    free(beta);
    return 0;
}

void lanczos_free(LanczosResult *r)
{
    free(r->values);
    free(r->weights);
    memset(r, 0, sizeof *r);
}

void lanczos_density(const LanczosResult *r, double sigma, double lo, double hi, int n_grid, double *t,
                     double *density)
{
    double norm = 1.0 / (sigma * sqrt(2 * M_PI));
    for (int g = 0; g < n_grid; g++) {
        double x = n_grid > 1 ? lo + (hi - lo) * g / (n_grid - 1) : lo;
        double s = 0;
        for (int i = 0; i < r->k; i++) {
            double u = (x - r->values[i]) / sigma;
            s += r->weights[i] * norm * exp(-0.5 * u * u);
        }
        t[g] = x;
        density[g] = s;
    }
}
