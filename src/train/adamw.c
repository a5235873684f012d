#include "train/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Reductions are split into this many fixed chunks whatever the thread
 * count, and the partial sums are added in chunk order: same bits always. */
#define NORM_CHUNKS 64

AdamWConfig adamw_defaults(void)
{
    AdamWConfig c = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .clip = 1.0f};
    return c;
}

void adamw_create(AdamW *o, const AdamWConfig *cfg, const ParamTable *table)
{
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n = table->total;
    size_t n = o->n ? o->n : 1;
    o->m = xcalloc(n, sizeof(float));
    o->v = xcalloc(n, sizeof(float));
    o->decay = xcalloc(n, sizeof(float));
    for (int i = 0; i < table->count; i++) {
        const ParamEntry *p = &table->entries[i];
        for (size_t j = 0; j < p->numel; j++) o->decay[p->offset + j] = p->decay ? 1.0f : 0.0f;
    }
}

void adamw_free(AdamW *o)
{
    free(o->m);
    free(o->v);
    free(o->decay);
    memset(o, 0, sizeof *o);
}

void adamw_reset(AdamW *o)
{
    memset(o->m, 0, o->n * sizeof(float));
    memset(o->v, 0, o->n * sizeof(float));
    o->t = 0;
}

double grad_norm(const float *grads, size_t n)
{
    double part[NORM_CHUNKS];
    size_t chunk = (n + NORM_CHUNKS - 1) / NORM_CHUNKS;
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (int c = 0; c < NORM_CHUNKS; c++) {
        size_t lo = (size_t)c * chunk, hi = lo + chunk < n ? lo + chunk : n;
        double s = 0;
        for (size_t i = lo; i < hi; i++) s += (double)grads[i] * grads[i];
        part[c] = s;
    }
    double s = 0;
    for (int c = 0; c < NORM_CHUNKS; c++) s += part[c];
    return sqrt(s);
}

/* One pass over every parameter; write_grads (a constant at each call site,
 * so the loop is specialised) stores the clipped gradient back. */
static inline void adamw_update(AdamW *o, float *params, float *grads, float clip_scale, int write_grads,
                                float lr, float step_size, float bc2_sqrt)
{
    const AdamWConfig *c = &o->cfg;
    float b1 = c->beta1, b2 = c->beta2, eps = c->eps, lr_wd = lr * c->weight_decay;
    float *m = o->m, *v = o->v;
    const float *dmask = o->decay;
    size_t n = o->n;
    /* p*(1 - lr*wd*mask) is torch's p*(1 - lr*wd) where decay applies and p
     * itself elsewhere (the mask is 0 or 1, so the product is exact). */
#pragma omp parallel for simd schedule(static) if (n >= 65536)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i] * clip_scale;
        if (write_grads) grads[i] = g;
        float p = params[i] * (1.0f - lr_wd * dmask[i]);
        float mi = m[i] + (1.0f - b1) * (g - m[i]);       /* torch: exp_avg.lerp_(grad, 1-beta1) */
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] = p - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

double adamw_step(AdamW *o, float *params, float *grads, float lr)
{
    const AdamWConfig *c = &o->cfg;
    double norm = grad_norm(grads, o->n);
    if (!isfinite(norm)) return norm;   /* one NaN would spread into every moment */
    /* torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6), capped at 1. */
    float clip_scale = 1.0f;
    if (c->clip > 0) {
        double coef = c->clip / (norm + 1e-6);
        if (coef < 1.0) clip_scale = (float)coef;
    }
    o->t++;
    float bc1 = (float)(1.0 - pow(c->beta1, (double)o->t));
    float bc2_sqrt = (float)sqrt(1.0 - pow(c->beta2, (double)o->t));
    float step_size = lr / bc1;
    if (clip_scale != 1.0f)
        adamw_update(o, params, grads, clip_scale, 1, lr, step_size, bc2_sqrt);
    else
        adamw_update(o, params, grads, 1.0f, 0, lr, step_size, bc2_sqrt);
    return norm;
}
