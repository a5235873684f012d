/* Merging checkpoints: theta = sum_j c_j theta_j, the weighted average of K
 * checkpoints of one run, and the weights that make the average emulate a
 * learning-rate decay (WSM, "Warmup-Stable and Merge": Tian et al. 2025,
 * "WSM: Decay-Free Learning Rate Schedule via Checkpoint Merging for LLM
 * Pre-training", arXiv 2507.17634).
 *
 * Why a merge emulates a decay (WSM's duality): let theta_0 .. theta_{K-1}
 * be checkpoints of a constant-LR run, oldest first, and D_i = theta_i -
 * theta_{i-1} the update made between two of them (i = 1 .. K-1). Then
 *   sum_j c_j theta_j = theta_0 + sum_{i>=1} w_i D_i,   w_i = sum_{j>=i} c_j,
 * so update i arrives scaled by w_i, as if its learning rate had been
 * multiplied by w_i. Conversely a decay 1 >= w_1 >= ... >= w_{K-1} >= 0 is
 * emulated by c_0 = 1 - w_1, c_j = w_j - w_{j+1}, c_{K-1} = w_{K-1} (all >= 0,
 * summing to 1).
 *
 * plateau samples a decay shape d (d(0) = 1, d(1) = 0) at w_i = d(i / K):
 *   MERGE_UNIFORM  d(x) = 1 - x             -> c_j = 1/K (uniform = linear decay)
 *   MERGE_COSINE   d(x) = (1 + cos(pi x))/2
 *   MERGE_SQRT     d(x) = 1 - sqrt(x)       (WSD's 1-sqrt cooldown)
 * so the merge window of (K-1) * merge_every steps plays the decay phase.
 *
 * Arithmetic: every parameter (and AdamW moment) is accumulated in double in
 * input order and rounded once to float, so a merge of K copies of one
 * checkpoint (weights summing to 1) equals it bit for bit. */
#ifndef PLATEAU_MERGE_H
#define PLATEAU_MERGE_H

#include <stddef.h>

#include "core/error.h"
#include "train/checkpoint.h"

typedef enum { MERGE_UNIFORM, MERGE_COSINE, MERGE_SQRT, MERGE_EXPLICIT } MergeShape;

/* Weights for k checkpoints: k, and for MERGE_EXPLICIT the list. */
typedef struct {
    MergeShape shape;
    int        k;                          /* number of checkpoints, 1 .. LINEAGE_MAX_MERGED */
    double     c[LINEAGE_MAX_MERGED];      /* oldest first, > 0, sum 1 */
} MergeWeights;

/* The WSM weights c[k] of a decay shape (not MERGE_EXPLICIT), oldest first,
 * as described above. k = 1 gives c = {1}. */
void merge_wsm_weights(MergeShape shape, int k, double *c);

/* Parses a weight spec for k checkpoints: "uniform", "cosine", "1-sqrt", or
 * k comma-separated positive normal numbers (not 0, subnormal, NaN or
 * infinite) of at least FLT_EPSILON (2^-23: a smaller weight moves no bit
 * of a float32 parameter), so every checkpoint contributes, summing to 1 (within
 * 1e-6; they are then divided by their sum). Errors name the spec, the
 * weight and what was expected. */
int merge_weights_parse(const char *spec, int k, MergeWeights *w, Err *e);

/* The text form: the shape's name, or the numbers with %.17g (parses back to
 * the same weights). */
void merge_weights_format(const MergeWeights *w, char *out, size_t out_size);

/* out[i] = sum_j c[j] * inputs[j][i] (double accumulation, input order,
 * one rounding). out may alias none of the inputs. */
void merge_params(const float *const *inputs, const double *c, int k, size_t n, float *out);

/* Merges the checkpoints dirs[0..k-1] (oldest first: steps must not
 * decrease; configs and tokenizers must be equal, always; each input must be
 * of one run with the one before, or its parent or child (checkpoint.h,
 * lineage_unrelated), unless any_lineage) with weights w into a new
 * checkpoint at out_dir (written atomically; an existing out_dir is refused,
 * never replaced). The weights and, where every input has one,
 * the AdamW moments are merged; the step count t, clocks, data cursor,
 * schedule and tokenizer are the newest input's, and so is the parent id, so
 * the merged model continues or branches like that checkpoint. Its lineage
 * lists every input (id, step, weight). *out_lin (may be NULL) receives it. */
int merge_checkpoints(const char *const *dirs, int k, const MergeWeights *w, const char *out_dir, int any_lineage,
                      Lineage *out_lin, Err *e);

#endif
