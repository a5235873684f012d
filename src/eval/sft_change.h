/* What supervised fine-tuning did to a base model, per (base, SFT) pair:
 *   forgetting           L_pt(theta_sft) - L_pt(theta_base): the rise of the
 *                        pre-training validation loss (nats per token; > 0
 *                        means SFT forgot pre-training text), both measured on
 *                        the same held-out stream with eval_stream_loss;
 *   relative distance    ||theta_sft - theta_base||_2 / ||theta_base||_2 over
 *                        all parameters (ParamTable layout; a tied head counts
 *                        once), sums in double.
 * The flat-minimum account of the paper (Yano et al. 2026) predicts that a
 * base pre-trained without LR decay moves less and forgets less for the same
 * SFT gain; these two numbers (with the SFT-data sharpness of the fine-tuned
 * model, probe/sharpness.h) are what the study compares per arm. */
#ifndef PLATEAU_SFT_CHANGE_H
#define PLATEAU_SFT_CHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "eval/loss.h"
#include "model/llama.h"

typedef struct {
    LossResult pt_base;              /* PT validation loss of the base */
    LossResult pt_sft;               /* ... and of the fine-tuned model */
    double     forgetting;           /* pt_sft.mean_loss - pt_base.mean_loss */
    double     weight_distance;      /* ||theta_sft - theta_base|| */
    double     base_norm;            /* ||theta_base|| */
    double     rel_weight_distance;  /* weight_distance / base_norm */
} SftChange;

/* ||theta - theta_base|| / ||theta_base|| over n entries (double sums, in
 * order). dist and base_norm (may be NULL) receive the two norms. A zero
 * base gives +inf for a non-zero difference and 0 for none. */
double weight_relative_distance(const float *theta, const float *theta_base, size_t n, double *dist, double *base_norm);

/* Measures both numbers on model m (whose config the two parameter vectors
 * [m->n_params] follow): loads theta_base into m->params and scores the
 * held-out stream pt_tokens[n_tokens] in B x T windows (eval_stream_loss),
 * then the same with theta_sft. m->params holds theta_sft afterwards. */
int sft_change_measure(Model *m, const float *theta_base, const float *theta_sft, const uint16_t *pt_tokens,
                       size_t n_tokens, int B, int T, SftChange *out, Err *e);

#endif
