#include "eval/sft_change.h"

#include <math.h>
#include <string.h>

double weight_relative_distance(const float *theta, const float *theta_base, size_t n, double *dist, double *base_norm)
{
    double dd = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)theta[i] - (double)theta_base[i];
        dd += d * d;
        bb += (double)theta_base[i] * (double)theta_base[i];
    }
    double dn = sqrt(dd), bn = sqrt(bb);
    if (dist) *dist = dn;
    if (base_norm) *base_norm = bn;
    if (bn == 0) return dn == 0 ? 0 : INFINITY;
    return dn / bn;
}

int sft_change_measure(Model *m, const float *theta_base, const float *theta_sft, const uint16_t *pt_tokens,
                       size_t n_tokens, int B, int T, SftChange *out, Err *e)
{
    memset(out, 0, sizeof *out);
    memcpy(m->params, theta_base, m->n_params * sizeof(float));
    model_params_changed(m);   /* the bf16 copy of the weights follows */
    if (eval_stream_loss(m, pt_tokens, n_tokens, B, T, &out->pt_base, e)) return err_wrap(e, "base model");
    memcpy(m->params, theta_sft, m->n_params * sizeof(float));
    model_params_changed(m);
    if (eval_stream_loss(m, pt_tokens, n_tokens, B, T, &out->pt_sft, e)) return err_wrap(e, "fine-tuned model");
    out->forgetting = out->pt_sft.mean_loss - out->pt_base.mean_loss;
    out->rel_weight_distance =
        weight_relative_distance(theta_sft, theta_base, m->n_params, &out->weight_distance, &out->base_norm);
    return 0;
}
