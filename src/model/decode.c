#include "model/decode.h"

#include <assert.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/ops.h"

int decoder_create(Decoder *d, const Model *m, int max_T, Err *e)
{
    memset(d, 0, sizeof *d);
    const Config *c = &m->cfg;
    if (max_T <= 0) return err_set(e, "decoder: max_T must be positive (got %d)", max_T);
    int hd = config_head_dim(c), q_dim = hd * c->n_heads, kv = config_kv_dim(c);
    size_t T = (size_t)max_T, L = (size_t)c->n_layers;
    d->m = m;
    d->max_T = max_T;
    d->n_threads = omp_get_max_threads();
    d->k_cache = xcalloc(L * T * (size_t)kv, sizeof(float));
    d->v_cache = xcalloc(L * T * (size_t)kv, sizeof(float));
    d->x = xcalloc(T * (size_t)c->dim, sizeof(float));
    d->xn = xcalloc(T * (size_t)c->dim, sizeof(float));
    d->rstd = xcalloc(T, sizeof(float));
    d->qkv = xcalloc(T * (size_t)(q_dim + 2 * kv), sizeof(float));
    d->att_out = xcalloc(T * (size_t)q_dim, sizeof(float));
    d->gu = xcalloc(T * 2 * (size_t)c->ffn_dim, sizeof(float));
    d->h = xcalloc(T * (size_t)c->ffn_dim, sizeof(float));
    d->scores = xcalloc((size_t)d->n_threads * T, sizeof(float));
    d->cos_tab = xcalloc(T * (size_t)(hd / 2), sizeof(float));
    d->sin_tab = xcalloc(T * (size_t)(hd / 2), sizeof(float));
    d->logits = xcalloc((size_t)c->vocab_size, sizeof(float));
    rope_tables(d->cos_tab, d->sin_tab, max_T, hd, c->rope_theta);
    return 0;
}

void decoder_free(Decoder *d)
{
    free(d->k_cache);
    free(d->v_cache);
    free(d->x);
    free(d->xn);
    free(d->rstd);
    free(d->qkv);
    free(d->att_out);
    free(d->gu);
    free(d->h);
    free(d->scores);
    free(d->cos_tab);
    free(d->sin_tab);
    free(d->logits);
    memset(d, 0, sizeof *d);
}

void decoder_reset(Decoder *d) { d->pos = 0; }

/* Causal grouped-query attention of n new rows (positions pos..pos+n-1)
 * against the cache (positions 0..pos+n-1): out[n, H*hd]. */
static void cached_attention(Decoder *d, float *out, const float *qkv, int qkvd, const float *kc,
                             const float *vc, int n, int pos, int H, int KVH, int hd)
{
    int kvd = KVH * hd, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for collapse(2) num_threads(d->n_threads) if (n * H > 1)
    for (int r = 0; r < n; r++)
        for (int h = 0; h < H; h++) {
            float *att = d->scores + (size_t)omp_get_thread_num() * d->max_T;
            const float *q = qkv + (size_t)r * qkvd + (size_t)h * hd;
            int kh = h / group, len = pos + r + 1;
            float mx = -INFINITY;
            for (int t = 0; t < len; t++) {
                const float *k = kc + (size_t)t * kvd + (size_t)kh * hd;
                float s = 0;
                for (int i = 0; i < hd; i++) s += q[i] * k[i];
                s *= scale;
                att[t] = s;
                if (s > mx) mx = s;
            }
            float sum = 0;
            for (int t = 0; t < len; t++) {
                att[t] = expf(att[t] - mx);
                sum += att[t];
            }
            float inv = 1.0f / sum;
            float *o = out + (size_t)r * H * hd + (size_t)h * hd;
            for (int i = 0; i < hd; i++) o[i] = 0;
            for (int t = 0; t < len; t++) {
                const float *v = vc + (size_t)t * kvd + (size_t)kh * hd;
                float p = att[t] * inv;
                for (int i = 0; i < hd; i++) o[i] += p * v[i];
            }
        }
}

const float *decoder_forward(Decoder *d, const int *tokens, int n)
{
    const Model *m = d->m;
    const Config *c = &m->cfg;
    const Weights *w = &m->w;
    int dim = c->dim, hd = config_head_dim(c), H = c->n_heads, KVH = c->n_kv_heads;
    int qd = hd * H, kvd = config_kv_dim(c), qkvd = qd + 2 * kvd, f = c->ffn_dim, pos = d->pos;
    assert(n >= 1 && pos + n <= d->max_T);
    /* rotary tables starting at this chunk's first position */
    const float *cos_t = d->cos_tab + (size_t)pos * (hd / 2), *sin_t = d->sin_tab + (size_t)pos * (hd / 2);

    embedding_forward(d->x, tokens, w->embed, n, dim);
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *lw = &w->layers[l];
        float *kc = d->k_cache + (size_t)l * d->max_T * kvd;
        float *vc = d->v_cache + (size_t)l * d->max_T * kvd;

        rmsnorm_forward(d->xn, d->rstd, d->x, lw->attn_norm, n, dim, c->norm_eps);
        linear_forward(d->qkv, d->xn, lw->wq, n, dim, qkvd, 0.0f);               /* [n, q|k|v] */
        rope_forward(d->qkv, qkvd, cos_t, sin_t, 1, n, H, hd);
        rope_forward(d->qkv + qd, qkvd, cos_t, sin_t, 1, n, KVH, hd);
        for (int r = 0; r < n; r++) {
            const float *src = d->qkv + (size_t)r * qkvd;
            memcpy(kc + (size_t)(pos + r) * kvd, src + qd, (size_t)kvd * sizeof(float));
            memcpy(vc + (size_t)(pos + r) * kvd, src + qd + kvd, (size_t)kvd * sizeof(float));
        }
        cached_attention(d, d->att_out, d->qkv, qkvd, kc, vc, n, pos, H, KVH, hd);
        linear_forward(d->x, d->att_out, lw->wo, n, qd, dim, 1.0f);               /* x += o_proj */

        rmsnorm_forward(d->xn, d->rstd, d->x, lw->mlp_norm, n, dim, c->norm_eps);
        linear_forward(d->gu, d->xn, lw->w_gate, n, dim, 2 * f, 0.0f);           /* [n, gate|up] */
        swiglu_forward(d->h, d->gu, n, f);
        linear_forward(d->x, d->h, lw->w_down, n, f, dim, 1.0f);                  /* x += down_proj */
    }
    /* final norm and output head, last position only */
    const float *last = d->x + (size_t)(n - 1) * dim;
    rmsnorm_forward(d->xn, d->rstd, last, w->final_norm, 1, dim, c->norm_eps);
    linear_forward(d->logits, d->xn, w->lm_head, 1, dim, c->vocab_size, 0.0f);
    d->pos += n;
    return d->logits;
}
