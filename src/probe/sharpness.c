#include "probe/sharpness.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json_number.h"
#include "core/progress.h"
#include "probe/hvp.h"
#include "probe/precond.h"

SharpnessOptions sharpness_options_default(void)
{
    SharpnessOptions o = {.probes = 50, .min_probes = 10, .rel_tol = 0, .seed = 0, .eig = 0, .eig_iters = 100,
                          .eig_tol = 1e-4, .lanczos_steps = 0, .precond = NULL, .progress = 0};
    return o;
}

/* Power iteration on H (precond NULL) or on P^-1 H, with o's options and bar. */
static int top_eigenvalue(const HessianOp *op, const float *precond, const SharpnessOptions *o, const char *label,
                          PowerResult *out, Err *e)
{
    PowerOptions po = power_options_default();
    po.max_iters = o->eig_iters;
    po.rel_tol = o->eig_tol;
    po.seed = o->seed;
    Progress bar;
    if (o->progress) {
        progress_start(&bar, label, (uint64_t)o->eig_iters, "iters");
        po.progress = &bar;
    }
    int rc = precond ? precond_power_iteration(op, precond, &po, out, e) : power_iteration(op, &po, out, e);
    if (o->progress) progress_finish(&bar);
    return rc;
}

int sharpness_measure(const Model *m, const Batch *b, const SharpnessOptions *o, SharpnessResult *out, Err *e)
{
    memset(out, 0, sizeof *out);
    double t0 = now_seconds();
    if (b->T > m->cfg.seq_len)
        return err_set(e, "sharpness: batch sequence length %d exceeds the model's context %d", b->T, m->cfg.seq_len);
    Hvp h;
    if (hvp_create(&h, m, b->B, b->T, e)) return err_wrap(e, "sharpness");
    out->loss = hvp_set_batch(&h, b->tokens, b->targets, b->mask, b->B, b->T);
    out->n_counted = h.n_counted;
    out->B = b->B;
    out->T = b->T;
    HessianOp op = {hvp_fn, &h, h.n};
    Progress bar;
    int rc = 0;

    TraceOptions to = trace_options_default();
    to.probes = o->probes;
    to.min_probes = o->min_probes;
    to.rel_tol = o->rel_tol;
    to.seed = o->seed;
    if (o->progress) {
        progress_start(&bar, "sharpness Tr(H)", (uint64_t)o->probes, "probes");
        to.progress = &bar;
    }
    rc = hutchinson_trace(&op, &to, &out->trace, e);
    if (o->progress) progress_finish(&bar);

    if (!rc && o->eig) {
        rc = top_eigenvalue(&op, NULL, o, "top eigenvalue", &out->eig, e);
        out->has_eig = !rc;
    }
    if (!rc && o->precond) {
        rc = top_eigenvalue(&op, o->precond, o, "top eigenvalue of P^-1 H", &out->precond_eig, e);
        out->has_precond_eig = !rc;
    }
    if (!rc && o->lanczos_steps > 0) {
        if (o->progress) progress_start(&bar, "Lanczos density", (uint64_t)o->lanczos_steps, "steps");
        rc = lanczos(&op, o->lanczos_steps, o->seed, o->progress ? &bar : NULL, &out->density, e);
        if (o->progress) progress_finish(&bar);
        out->has_density = !rc;
    }
    hvp_free(&h);
    out->seconds = now_seconds() - t0;
    return rc ? err_wrap(e, "sharpness") : 0;
}

int sharpness_probe(const Model *m, const Batch *b, int probes, uint64_t seed, SharpnessResult *out, Err *e)
{
    SharpnessOptions o = sharpness_options_default();
    o.probes = probes;
    o.seed = seed;
    return sharpness_measure(m, b, &o, out, e);
}

int sharpness_precond_extremes(const Model *m, const Batch *b, const float *precond, int steps, uint64_t seed,
                               double *lo, double *hi, int *used, Err *e)
{
    if (b->T > m->cfg.seq_len)
        return err_set(e, "sharpness: batch sequence length %d exceeds the model's context %d", b->T, m->cfg.seq_len);
    Hvp h;
    if (hvp_create(&h, m, b->B, b->T, e)) return err_wrap(e, "sharpness");
    hvp_set_batch(&h, b->tokens, b->targets, b->mask, b->B, b->T);
    HessianOp op = {hvp_fn, &h, h.n};
    int rc = precond_lanczos_extremes(&op, precond, steps, seed, lo, hi, used, e);
    hvp_free(&h);
    return rc ? err_wrap(e, "sharpness") : 0;
}

void sharpness_result_free(SharpnessResult *r)
{
    if (r->has_density) lanczos_free(&r->density);
    memset(r, 0, sizeof *r);
}

int probe_batch_load(Batch *b, const char *token_path, const char *mask_path, LoaderLayout layout, int B, int T,
                     int vocab_size, Err *e)
{
    const char *tp[1] = {token_path}, *mp[1] = {mask_path};
    LoaderConfig lc = {.token_paths = tp, .mask_paths = mask_path ? mp : NULL, .n_shards = 1, .seq_len = T,
                       .batch_size = B, .n_micro = 1, .seed = 0, .layout = layout, .sequential = 1,
                       .vocab_size = vocab_size};
    Loader L;
    if (loader_open(&L, &lc, e)) return -1;
    if (L.n_windows < B) {
        int64_t have = L.n_windows;
        loader_close(&L);
        return err_set(e, "%s: holds %lld windows of %d tokens, the probe batch needs %d", token_path,
                       (long long)have, T + 1, B);
    }
    batch_create(b, B, T);
    double counted = 0;
    for (int i = 0; i < B; i++) {
        size_t off = (size_t)i * T;
        loader_window(&L, i, b->tokens + off, b->targets + off, b->mask + off);
        if (!mask_path)
            for (int t = 0; t < T; t++) b->mask[off + t] = 1.0f;
        for (int t = 0; t < T; t++) counted += b->mask[off + t];
        b->windows[i] = i;
    }
    b->n_counted = counted;
    loader_close(&L);
    if (counted == 0) {
        batch_free(b);
        return err_set(e, "%s: the probe batch (first %d windows) has no counted position in %s", token_path, B,
                       mask_path);
    }
    return 0;
}

int sharpness_write_json(const char *path, const SharpnessResult *r, const SharpnessOptions *o, const char *source,
                         const char *data, Err *e)
{
    cJSON *j = cJSON_CreateObject();
    if (source) cJSON_AddStringToObject(j, "checkpoint", source);
    if (data) cJSON_AddStringToObject(j, "data", data);
    cJSON_AddNumberToObject(j, "batch_size", r->B);
    cJSON_AddNumberToObject(j, "seq_len", r->T);
    cJSON_AddNumberToObject(j, "counted_positions", r->n_counted);
    json_add_exact(j, "loss", r->loss);
    json_add_exact(j, "trace", r->trace.mean);
    json_add_exact(j, "trace_std_error", r->trace.std_error);
    cJSON_AddNumberToObject(j, "probes", r->trace.probes);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddStringToObject(j, "method", "Hutchinson, Rademacher probes; exact Hessian-vector products (R-operator)");
    if (r->has_precond_eig || r->has_precond_verdict) {
        cJSON *pe = cJSON_AddObjectToObject(j, "precond_top_eigenvalue");
        json_add_exact(pe, "value", r->has_precond_eig ? r->precond_eig.eigenvalue : NAN);
        cJSON_AddNumberToObject(pe, "iterations", r->has_precond_eig ? r->precond_eig.iters : 0);
        cJSON_AddBoolToObject(pe, "converged", r->has_precond_eig && r->precond_eig.converged);
        if (r->has_precond_verdict) {
            const PrecondVerdict *v = &r->precond;
            json_add_exact(pe, "lr", v->lr);
            json_add_exact(pe, "threshold", v->threshold);   /* null when infinite (lr 0) or unknown */
            json_add_exact(pe, "eps_share", v->eps_share);
            cJSON_AddStringToObject(pe, "status", v->unresolved ? "unresolved" : "resolved");
            if (v->unresolved) cJSON_AddStringToObject(pe, "unresolved", v->unresolved);
        }
    }
    if (r->has_eig) {
        cJSON *eg = cJSON_AddObjectToObject(j, "top_eigenvalue");
        json_add_exact(eg, "value", r->eig.eigenvalue);
        cJSON_AddNumberToObject(eg, "iterations", r->eig.iters);
        cJSON_AddBoolToObject(eg, "converged", r->eig.converged);
    }
    if (r->has_density && r->density.k > 0) {
        const LanczosResult *d = &r->density;
        cJSON *dn = cJSON_AddObjectToObject(j, "density");
        cJSON_AddNumberToObject(dn, "lanczos_steps", d->k);
        cJSON_AddItemToObject(dn, "ritz_values", json_exact_array(d->values, d->k));
        cJSON_AddItemToObject(dn, "ritz_weights", json_exact_array(d->weights, d->k));
        double lo = d->values[0], hi = d->values[d->k - 1];
        double sigma = (hi - lo) > 0 ? (hi - lo) / 100 : 1e-3 * (fabs(hi) + 1);
        enum { G = 200 };
        double t[G], y[G];
        lanczos_density(d, sigma, lo - 5 * sigma, hi + 5 * sigma, G, t, y);
        json_add_exact(dn, "sigma", sigma);
        cJSON_AddItemToObject(dn, "grid", json_exact_array(t, G));
        cJSON_AddItemToObject(dn, "density", json_exact_array(y, G));
    }
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    int rc = json_write(path, j, e);
    cJSON_Delete(j);
    return rc;
}
