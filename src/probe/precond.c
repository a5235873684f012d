#include "probe/precond.h"

#include <math.h>
#include <stdlib.h>

int adam_preconditioner(const float *v, size_t n, float beta2, int64_t t, float eps, float *p, Err *e)
{
    if (t < 1)
        return err_set(e, "Adam preconditioner: the optimizer state has taken %lld updates, at least 1 is needed",
                       (long long)t);
    double correction = 1.0 - pow((double)beta2, (double)t);
    if (!(correction > 0)) return err_set(e, "Adam preconditioner: beta2 %g gives no bias correction", (double)beta2);
    for (size_t i = 0; i < n; i++) {
        if (!(v[i] >= 0) || !isfinite(v[i]))
            return err_set(e, "Adam preconditioner: second moment %zu is %g, expected a finite value >= 0", i,
                           (double)v[i]);
        p[i] = (float)(sqrt((double)v[i] / correction) + (double)eps);
    }
    return 0;
}

double adam_stability_threshold(double beta1, double lr) { return (2 + 2 * beta1) / ((1 - beta1) * lr); }

PrecondVerdict precond_verdict(double eigenvalue, const float *p, size_t n, float eps, double beta1, double lr)
{
    PrecondVerdict v = {.lr = lr, .threshold = NAN, .eps_share = 1, .unresolved = NULL};
    if (isfinite(lr)) v.threshold = lr > 0 ? adam_stability_threshold(beta1, lr) : INFINITY;
    if (p && n) {
        size_t at_eps = 0;
        for (size_t i = 0; i < n; i++) at_eps += (double)p[i] <= 2.0 * (double)eps;   /* sqrt(v_hat) <= eps */
        v.eps_share = (double)at_eps / (double)n;
    }
    if (!p)
        v.unresolved = "the checkpoint's AdamW moments are empty (no update taken yet), so there is no P";
    else if (!isfinite(lr))
        v.unresolved = "the checkpoint records no schedule, so there is no LR to compare with";
    else if (lr == 0)
        v.unresolved = "the checkpoint's LR is 0 (warmup's first step or the end of a decay to 0): Adam's threshold "
                       "is infinite";
    else if (v.eps_share > PRECOND_EPS_SHARE_MAX || fabs(eigenvalue) * (double)eps >= PRECOND_EPS_SCALE)
        v.unresolved = "eps dominates P (the moments are nearly empty where the eigenvector lies, so P^-1 ~ 1/eps "
                       "decides the value): train longer before reading it";
    else if (eigenvalue < 0)
        v.unresolved = "the eigenvalue of largest magnitude is negative: no edge of stability to compare";
    return v;
}

typedef struct {
    const HessianOp *inner;
    const double    *d;     /* [n] p^-1/2 */
    float           *tmp;   /* [n] D v */
} Scaled;

/* hv = D H D v */
static void scaled_hvp(void *ctx, const float *v, float *hv)
{
    const Scaled *s = ctx;
    size_t n = s->inner->n;
    for (size_t i = 0; i < n; i++) s->tmp[i] = (float)(s->d[i] * v[i]);
    s->inner->fn(s->inner->ctx, s->tmp, hv);
    for (size_t i = 0; i < n; i++) hv[i] = (float)(s->d[i] * hv[i]);
}

/* The scaled operator D H D over op, D = p^-1/2 (checked > 0). */
static int scaled_open(Scaled *s, HessianOp *scaled, const HessianOp *op, const float *p, Err *e)
{
    size_t n = op->n;
    double *d = xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        if (!(p[i] > 0)) {
            free(d);
            return err_set(e, "preconditioned Hessian: P[%zu] = %g, expected > 0", i, (double)p[i]);
        }
        d[i] = 1.0 / sqrt((double)p[i]);
    }
    *s = (Scaled){.inner = op, .d = d, .tmp = xmalloc(n * sizeof(float))};
    *scaled = (HessianOp){scaled_hvp, s, n};
    return 0;
}

static void scaled_close(Scaled *s)
{
    free(s->tmp);
    free((double *)s->d);
}

int precond_power_iteration(const HessianOp *op, const float *p, const PowerOptions *opt, PowerResult *out, Err *e)
{
    Scaled s;
    HessianOp scaled;
    if (scaled_open(&s, &scaled, op, p, e)) return -1;
    int rc = power_iteration(&scaled, opt, out, e);
    scaled_close(&s);
    return rc;
}

int precond_lanczos_extremes(const HessianOp *op, const float *p, int steps, uint64_t seed, double *lo, double *hi,
                             int *used, Err *e)
{
    Scaled s;
    HessianOp scaled;
    if (scaled_open(&s, &scaled, op, p, e)) return -1;
    LanczosResult r;
    int rc = lanczos(&scaled, steps, seed, NULL, &r, e);
    scaled_close(&s);
    if (rc) return -1;
    *lo = r.values[0];
    *hi = r.values[r.k - 1];
    if (used) *used = r.k;
    lanczos_free(&r);
    return 0;
}
