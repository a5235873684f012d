/* What can be learned about a Hessian from its products with vectors alone:
 * the trace (Hutchinson), the top eigenvalue (power iteration) and the
 * spectral density (Lanczos). Model-agnostic: the operator is a function
 * pointer, so a quadratic with a known Hessian goes through the same code as
 * the model (src/probe/hvp.h gives the model's operator).
 *
 * Randomness: all vectors come from the seeded stream RNG_STREAM_PROBE
 * (core/rng.h): Hutchinson's probes from rng_stream(seed, RNG_STREAM_PROBE)
 * in order, the power-iteration start from sub-stream 1 and Lanczos's from
 * sub-stream 2 (rng_stream(seed, mix64(RNG_STREAM_PROBE) + k)). Same seed,
 * same vectors; with a deterministic operator, same bits. Sums are in double. */
#ifndef PLATEAU_SPECTRUM_H
#define PLATEAU_SPECTRUM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/progress.h"

/* hv[n] = H v. v and hv do not overlap. */
typedef void (*HvpFn)(void *ctx, const float *v, float *hv);

typedef struct {
    HvpFn  fn;
    void  *ctx;
    size_t n;    /* dimension */
} HessianOp;

/* ------------------------------------------------------------- Hutchinson */

typedef struct {
    int       probes;      /* maximum number of probes (the paper: 50) */
    int       min_probes;  /* the stopping rule looks only after this many (>= 2) */
    double    rel_tol;     /* stop when std_error / |mean| < rel_tol; 0: run all probes */
    uint64_t  seed;
    Progress *progress;    /* may be NULL; updated after each probe */
} TraceOptions;

typedef struct {
    double mean;        /* (1/N) sum z^T H z: the trace estimate */
    double std_error;   /* sample standard deviation / sqrt(N); 0 when N = 1 */
    int    probes;      /* N actually used */
} TraceEstimate;

/* Defaults: 50 probes, min 10, no stopping rule, seed 0. */
TraceOptions trace_options_default(void);

/* Tr(H) by Hutchinson with Rademacher z (entries +-1, so E[z z^T] = I).
 * Fails only on impossible options. */
int hutchinson_trace(const HessianOp *op, const TraceOptions *opt, TraceEstimate *out, Err *e);

/* --------------------------------------------------------- power iteration */

typedef struct {
    int       max_iters;   /* default 100 */
    double    rel_tol;     /* stop when |l_k - l_{k-1}| / |l_{k-1}| < rel_tol (default 1e-4) */
    uint64_t  seed;
    Progress *progress;    /* may be NULL; total = max_iters */
} PowerOptions;

typedef struct {
    double eigenvalue;  /* Rayleigh quotient v^T H v at the last iterate */
    int    iters;
    int    converged;   /* 1: the tolerance was met before max_iters */
} PowerResult;

PowerOptions power_options_default(void);

/* The eigenvalue of largest magnitude (the "top eigenvalue" of PyHessian;
 * for a Hessian near a minimum it is the largest). The start is Gaussian. */
int power_iteration(const HessianOp *op, const PowerOptions *opt, PowerResult *out, Err *e);

/* ------------------------------------------------------------------ Lanczos */

typedef struct {
    int     k;        /* Ritz pairs (<= steps requested: fewer on an early breakdown) */
    double *values;   /* [k] Ritz values, ascending */
    double *weights;  /* [k] squared first components of the Ritz vectors; sum 1 */
} LanczosResult;

/* k steps of Lanczos from a Gaussian start with full reorthogonalisation
 * (k vectors of n floats are kept). Ritz values approximate the extreme
 * eigenvalues first; (values, weights) is a quadrature of the spectral
 * density (stochastic Lanczos quadrature with one start vector). */
int  lanczos(const HessianOp *op, int steps, uint64_t seed, Progress *progress, LanczosResult *out, Err *e);
void lanczos_free(LanczosResult *r);

/* The Gaussian-smoothed density sum_i w_i N(t; value_i, sigma^2) at n_grid
 * points t evenly spaced over [lo, hi]; writes t[n_grid], density[n_grid]. */
void lanczos_density(const LanczosResult *r, double sigma, double lo, double hi, int n_grid, double *t,
                     double *density);

/* Eigen-decomposition of a symmetric tridiagonal matrix (diagonal a[k],
 * off-diagonal b[k-1]) by cyclic Jacobi: values ascending, and the squared
 * first component of each unit eigenvector in first_sq. */
void tridiag_eigen(int k, const double *a, const double *b, double *values, double *first_sq);

#endif
