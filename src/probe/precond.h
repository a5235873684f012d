/* The preconditioned Hessian of Adam: the top eigenvalue of P^-1 H, with
 * P = diag(sqrt(v_hat) + eps) the preconditioner of the AdamW update
 * (train/adamw.h), v_hat = v / (1 - beta2^t) the bias-corrected second
 * moment of a checkpoint's optimizer state.
 *
 * Why: under Adam the step is lr * P^-1 m, so the stability condition of
 * gradient descent applies to P^-1 H rather than H. Cohen et al., "Adaptive
 * Gradient Methods at the Edge of Stability" (2022), find that at a constant
 * learning rate the top eigenvalue of P^-1 H rises to and hovers near the
 * stability threshold of Adam with momentum, (2 + 2 beta1) / ((1 - beta1) lr)
 * (38 / lr for beta1 = 0.9), and falls when the learning rate decays: the
 * sharpness a schedule controls, beside the paper's Tr(H).
 *
 * Method: P^-1 H is not symmetric, but it is similar to the symmetric
 * D H D, D = P^-1/2 (P^-1 H = D (D H D) D^-1), so both have the same real
 * eigenvalues; power iteration (probe/spectrum.h) runs on D H D, one
 * Hessian-vector product per step. The result is the eigenvalue of largest
 * magnitude. */
#ifndef PLATEAU_PRECOND_H
#define PLATEAU_PRECOND_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "probe/spectrum.h"

/* p[i] = sqrt(v[i] / (1 - beta2^t)) + eps, computed in double and rounded
 * to float. t >= 1 (the number of updates the moments have seen); fails
 * naming t otherwise, or a negative or non-finite v[i] by index. */
int adam_preconditioner(const float *v, size_t n, float beta2, int64_t t, float eps, float *p, Err *e);

/* Adam's stability threshold (2 + 2 beta1) / ((1 - beta1) lr), in the units
 * of the eigenvalue of P^-1 H (per unit learning rate step). */
double adam_stability_threshold(double beta1, double lr);

/* Whether a measured top eigenvalue of P^-1 H can be read against Adam's
 * threshold. It cannot when the checkpoint's LR is 0 (the threshold is
 * infinite: step 0 of a warmup, the end of a decay to 0) or unknown, when
 * the moments are nearly empty (early in training sqrt(v_hat) ~ 0, so
 * P^-1 ~ 1/eps = 1e8 dominates the product), or when the eigenvalue of
 * largest magnitude is negative. */
typedef struct {
    double      lr;          /* the LR the checkpoint's next update takes; NaN: unknown */
    double      threshold;   /* adam_stability_threshold(beta1, lr); inf at lr 0, NaN unknown */
    double      eps_share;   /* share of parameters with sqrt(v_hat) <= eps */
    const char *unresolved;  /* NULL, or why the value is not comparable (one line, static text) */
} PrecondVerdict;

/* eps decides the eigenvalue when more than PRECOND_EPS_SHARE_MAX of the
 * parameters have sqrt(v_hat) <= eps, or when |eigenvalue| * eps >=
 * PRECOND_EPS_SCALE: an eigenvalue within a factor 100 of the 1/eps a
 * parameter with v_hat = 0 contributes per unit curvature comes from such
 * parameters, not from the moments (early checkpoints: |value| ~ 1e7-1e8
 * at eps 1e-8, against Adam's threshold 38/lr ~ 1e5). */
#define PRECOND_EPS_SHARE_MAX 0.5
#define PRECOND_EPS_SCALE     0.01

/* The verdict on eigenvalue (NaN: not measured) for preconditioner p[n]
 * (from adam_preconditioner with this eps; NULL: the moments are empty)
 * at learning rate lr (NaN: unknown). */
PrecondVerdict precond_verdict(double eigenvalue, const float *p, size_t n, float eps, double beta1, double lr);

/* The top eigenvalue of P^-1 H by power iteration on D H D (D = p^-1/2;
 * p[n] > 0, op->n entries). Same options, start vector and stopping rule
 * as power_iteration. */
int precond_power_iteration(const HessianOp *op, const float *p, const PowerOptions *opt, PowerResult *out, Err *e);

/* The largest (*hi) and smallest (*lo) eigenvalues of P^-1 H by `steps`
 * steps of Lanczos on D H D (probe/spectrum.h: full reorthogonalisation,
 * Gaussian start from seed): the extreme Ritz values, which bound the
 * spectrum from inside and reach its ends in far fewer Hessian-vector
 * products than power iteration, whose error shrinks only as
 * (lambda_2 / lambda_1)^k (study/stage_eval.h has a measurement). *hi is
 * the eigenvalue Adam's stability threshold bounds; power iteration returns
 * the one of largest magnitude, which early in training can be *lo.
 * *used receives the steps taken (fewer on an early breakdown, e.g. n <
 * steps). Keeps `steps` vectors of n floats. Fails as
 * precond_power_iteration does. */
int precond_lanczos_extremes(const HessianOp *op, const float *p, int steps, uint64_t seed, double *lo, double *hi,
                             int *used, Err *e);

#endif
