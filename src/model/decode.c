#include "model/decode.h"

#include <assert.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/matmul.h"

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
    d->xb = xcalloc(T * (size_t)c->dim, sizeof(float));
    d->q = xcalloc(T * (size_t)q_dim, sizeof(float));
    d->att_out = xcalloc(T * (size_t)q_dim, sizeof(float));
    d->hb = xcalloc(T * (size_t)c->ffn_dim, sizeof(float));
    d->hb2 = xcalloc(T * (size_t)c->ffn_dim, sizeof(float));
    d->scores = xcalloc((size_t)d->n_threads * T, sizeof(float));
    d->cos_tab = xcalloc(T * (size_t)(hd / 2), sizeof(float));
    d->sin_tab = xcalloc(T * (size_t)(hd / 2), sizeof(float));
    d->logits = xcalloc((size_t)c->vocab_size, sizeof(float));
    /* Rotary angles pos * theta^(-2i/hd) for the HF rotate_half layout:
     * component i pairs with i + hd/2. */
    for (int p = 0; p < max_T; p++)
        for (int i = 0; i < hd / 2; i++) {
            double inv_freq = pow((double)c->rope_theta, -2.0 * i / hd);
            double a = (double)p * inv_freq;
            d->cos_tab[(size_t)p * (hd / 2) + i] = (float)cos(a);
            d->sin_tab[(size_t)p * (hd / 2) + i] = (float)sin(a);
        }
    return 0;
}

void decoder_free(Decoder *d)
{
    free(d->k_cache);
    free(d->v_cache);
    free(d->x);
    free(d->xb);
    free(d->q);
    free(d->att_out);
    free(d->hb);
    free(d->hb2);
    free(d->scores);
    free(d->cos_tab);
    free(d->sin_tab);
    free(d->logits);
    memset(d, 0, sizeof *d);
}

void decoder_reset(Decoder *d) { d->pos = 0; }

/* out[n, C] = inp[n, C] / rms(inp row) * weight[C] */
static void rmsnorm_rows(float *out, const float *inp, const float *weight, int n, int C, float eps)
{
#pragma omp parallel for if (n > 1)
    for (int r = 0; r < n; r++) {
        const float *x = inp + (size_t)r * C;
        float *o = out + (size_t)r * C;
        float ss = 0;
        for (int i = 0; i < C; i++) ss += x[i] * x[i];
        float rstd = 1.0f / sqrtf(ss / C + eps);
        for (int i = 0; i < C; i++) o[i] = x[i] * rstd * weight[i];
    }
}

/* Rotates n rows of n_heads heads of size hd in place, row r at position pos0 + r. */
static void rope_rows(float *v, int n, int n_heads, int hd, int pos0, const float *cos_tab,
                      const float *sin_tab)
{
    int half = hd / 2;
    for (int r = 0; r < n; r++) {
        const float *cs = cos_tab + (size_t)(pos0 + r) * half;
        const float *sn = sin_tab + (size_t)(pos0 + r) * half;
        for (int h = 0; h < n_heads; h++) {
            float *x = v + ((size_t)r * n_heads + h) * hd;
            for (int i = 0; i < half; i++) {
                float a = x[i], b = x[i + half];
                x[i] = a * cs[i] - b * sn[i];
                x[i + half] = b * cs[i] + a * sn[i];
            }
        }
    }
}

const float *decoder_forward(Decoder *d, const int *tokens, int n)
{
    const Model *m = d->m;
    const Config *c = &m->cfg;
    const Weights *w = &m->w;
    int dim = c->dim, hd = config_head_dim(c), nh = c->n_heads, nkv = c->n_kv_heads;
    int q_dim = hd * nh, kv = config_kv_dim(c), ffn = c->ffn_dim, pos = d->pos;
    int group = nh / nkv;
    assert(n >= 1 && pos + n <= d->max_T);
    float scale = 1.0f / sqrtf((float)hd);

    for (int r = 0; r < n; r++)
        memcpy(d->x + (size_t)r * dim, w->embed + (size_t)tokens[r] * dim, (size_t)dim * sizeof(float));

    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *lw = &w->layers[l];
        float *kc = d->k_cache + (size_t)l * d->max_T * kv;
        float *vc = d->v_cache + (size_t)l * d->max_T * kv;

        /* attention block */
        rmsnorm_rows(d->xb, d->x, lw->attn_norm, n, dim, c->norm_eps);
        matmul(0, 1, n, q_dim, dim, 1.0f, d->xb, dim, lw->wq, dim, 0.0f, d->q, q_dim);
        matmul(0, 1, n, kv, dim, 1.0f, d->xb, dim, lw->wk, dim, 0.0f, kc + (size_t)pos * kv, kv);
        matmul(0, 1, n, kv, dim, 1.0f, d->xb, dim, lw->wv, dim, 0.0f, vc + (size_t)pos * kv, kv);
        rope_rows(d->q, n, nh, hd, pos, d->cos_tab, d->sin_tab);
        rope_rows(kc + (size_t)pos * kv, n, nkv, hd, pos, d->cos_tab, d->sin_tab);

#pragma omp parallel for collapse(2) if (n * nh > 1)
        for (int r = 0; r < n; r++)
            for (int h = 0; h < nh; h++) {
                float *att = d->scores + (size_t)omp_get_thread_num() * d->max_T;
                const float *qv = d->q + ((size_t)r * nh + h) * hd;
                int kh = h / group, len = pos + r + 1;
                float mx = -INFINITY;
                for (int t = 0; t < len; t++) {
                    const float *kt = kc + (size_t)t * kv + (size_t)kh * hd;
                    float s = 0;
                    for (int i = 0; i < hd; i++) s += qv[i] * kt[i];
                    s *= scale;
                    att[t] = s;
                    if (s > mx) mx = s;
                }
                float sum = 0;
                for (int t = 0; t < len; t++) {
                    att[t] = expf(att[t] - mx);
                    sum += att[t];
                }
                float *o = d->att_out + ((size_t)r * nh + h) * hd;
                for (int i = 0; i < hd; i++) o[i] = 0;
                for (int t = 0; t < len; t++) {
                    const float *vt = vc + (size_t)t * kv + (size_t)kh * hd;
                    float p = att[t] / sum;
                    for (int i = 0; i < hd; i++) o[i] += p * vt[i];
                }
            }
        /* x += att_out @ wo^T */
        matmul(0, 1, n, dim, q_dim, 1.0f, d->att_out, q_dim, lw->wo, q_dim, 1.0f, d->x, dim);

        /* SwiGLU block: x += w_down (silu(w_gate xn) * w_up xn) */
        rmsnorm_rows(d->xb, d->x, lw->mlp_norm, n, dim, c->norm_eps);
        matmul(0, 1, n, ffn, dim, 1.0f, d->xb, dim, lw->w_gate, dim, 0.0f, d->hb, ffn);
        matmul(0, 1, n, ffn, dim, 1.0f, d->xb, dim, lw->w_up, dim, 0.0f, d->hb2, ffn);
        size_t nf = (size_t)n * ffn;
#pragma omp parallel for if (nf > 4096)
        for (size_t i = 0; i < nf; i++) {
            float g = d->hb[i];
            d->hb[i] = g / (1.0f + expf(-g)) * d->hb2[i];
        }
        matmul(0, 1, n, dim, ffn, 1.0f, d->hb, ffn, lw->w_down, ffn, 1.0f, d->x, dim);
    }

    /* final norm and output head, last position only */
    float *last = d->xb;
    rmsnorm_rows(last, d->x + (size_t)(n - 1) * dim, w->final_norm, 1, dim, c->norm_eps);
    matmul(0, 1, 1, c->vocab_size, dim, 1.0f, last, dim, w->lm_head, dim, 0.0f, d->logits, c->vocab_size);
    d->pos += n;
    return d->logits;
}
