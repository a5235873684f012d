/* AdamW with decoupled weight decay and global gradient-norm clipping.
 *
 * Defaults follow the paper: beta1 0.9, beta2 0.95, eps 1e-8, weight decay
 * 0.1 applied only to tensors whose ParamEntry.decay is set (matrices, not
 * norm gains), clip 1.0. The update for step t (1-based, bias-corrected):
 *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
 *   p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p)     (decay only where set)
 * which is torch.optim.AdamW's update. */
#ifndef PLATEAU_ADAMW_H
#define PLATEAU_ADAMW_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"

typedef struct {
    float beta1, beta2, eps, weight_decay, clip;   /* clip <= 0: no clipping */
} AdamWConfig;

typedef struct {
    AdamWConfig cfg;
    size_t      n;
    float      *m;      /* [n] first moments */
    float      *v;      /* [n] second moments */
    float      *decay;  /* [n] 1 where weight decay applies, else 0 */
    int64_t     t;      /* updates taken so far */
} AdamW;

AdamWConfig adamw_defaults(void);
/* Allocates moments (zero) and the decay mask from the parameter table. */
void  adamw_create(AdamW *o, const AdamWConfig *cfg, const ParamTable *table);
void  adamw_free(AdamW *o);
/* Zeroes the moments and the step count (SFT starts fresh by default). */
void  adamw_reset(AdamW *o);
/* L2 norm of the whole gradient vector, accumulated in double. */
double grad_norm(const float *grads, size_t n);
/* Clips grads in place to cfg.clip (if the norm exceeds it), then updates
 * params with learning rate lr. Returns the norm before clipping. A norm that
 * is not finite (NaN or infinite gradients) changes nothing: params, moments
 * and t stay as they were, and the norm is returned for the caller to report. */
double adamw_step(AdamW *o, float *params, float *grads, float lr);

#endif
