/* Sharpness of a model on a fixed probe batch: Tr(H) of the mean loss by
 * Hutchinson's estimator (PAPER.md, Sharpness),
 *
 *   Tr(H) ~ (1/N) sum_i z_i^T H z_i,   z_i Rademacher (+-1 per parameter),
 *
 * with the standard error of that mean over the N probes. Each Hessian-vector
 * product is a central difference of gradients,
 *
 *   H z ~ (g(theta + eps z) - g(theta - eps z)) / (2 eps),
 *   eps = 1e-3 * ||theta|| / ||z||   (a step of 0.1% of the weights' norm),
 *
 * exact for a quadratic loss and accurate to O(eps^2) otherwise; two
 * gradients of the probe batch per probe vector. The probe vectors come from
 * the RNG_STREAM_PROBE stream of `seed`, so every model is probed with the same
 * vectors on the same batch. The parameters are restored bit for bit
 * afterwards; gradients and activations are overwritten.
 *
 * The batch is n_seq sequences of T inputs: tokens/targets [n_seq, T] and an
 * optional mask (NULL: every position counts), evaluated max_B at a time. */
#ifndef PLATEAU_STUDY_SHARPNESS_H
#define PLATEAU_STUDY_SHARPNESS_H

#include <stdint.h>

#include "core/error.h"
#include "model/llama.h"

typedef struct {
    double trace;     /* Hutchinson estimate of Tr(H) */
    double std_err;   /* over probes; NaN for one probe */
    int    probes;
} SharpnessResult;

int hutchinson_trace(Model *m, const int *tokens, const int *targets, const float *mask, int n_seq, int T,
                     int probes, uint64_t seed, SharpnessResult *out, Err *e);

#endif
