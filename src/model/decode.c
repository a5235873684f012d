#include "model/decode.h"

#include <assert.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/ops.h"

int decoder_create(Decoder *d, const Model *m, int max_B, int max_T, Err *e)
{
    memset(d, 0, sizeof *d);
    const Config *c = &m->cfg;
    if (max_T <= 0 || max_B <= 0)
        return err_set(e, "decoder: max_B and max_T must be positive (got %d, %d)", max_B, max_T);
    int hd = config_head_dim(c), q_dim = hd * c->n_heads, kv = config_kv_dim(c);
    size_t T = (size_t)max_T, L = (size_t)c->n_layers, Bs = (size_t)max_B;
    size_t R = (size_t)(max_T > max_B ? max_T : max_B);
    d->m = m;
    d->max_B = max_B;
    d->max_T = max_T;
    d->max_rows = (int)R;
    d->n_threads = omp_get_max_threads();
    d->pos = xcalloc(Bs, sizeof(int));
    d->k_cache = xcalloc(Bs * L * T * (size_t)kv, sizeof(float));
    d->v_cache = xcalloc(Bs * L * T * (size_t)kv, sizeof(float));
    d->row_pos = xcalloc(R, sizeof(int));
    d->row_last = xcalloc(R, sizeof(int));
    d->x = xcalloc(R * (size_t)c->dim, sizeof(float));
    d->xn = xcalloc(R * (size_t)c->dim, sizeof(float));
    d->rstd = xcalloc(R, sizeof(float));
    d->qkv = xcalloc(R * (size_t)(q_dim + 2 * kv), sizeof(float));
    d->att_out = xcalloc(R * (size_t)q_dim, sizeof(float));
    d->gu = xcalloc(R * 2 * (size_t)c->ffn_dim, sizeof(float));
    d->h = xcalloc(R * (size_t)c->ffn_dim, sizeof(float));
    d->scores = xcalloc((size_t)d->n_threads * T, sizeof(float));
    d->cos_tab = xcalloc(T * (size_t)(hd / 2), sizeof(float));
    d->sin_tab = xcalloc(T * (size_t)(hd / 2), sizeof(float));
    d->last_logits = xcalloc(Bs * (size_t)c->vocab_size, sizeof(float));
    d->logits = xcalloc(Bs * (size_t)c->vocab_size, sizeof(float));
    rope_tables(d->cos_tab, d->sin_tab, max_T, hd, c->rope_theta);
    return 0;
}

void decoder_free(Decoder *d)
{
    free(d->pos);
    free(d->k_cache);
    free(d->v_cache);
    free(d->row_pos);
    free(d->row_last);
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
    free(d->last_logits);
    free(d->logits);
    memset(d, 0, sizeof *d);
}

void decoder_reset(Decoder *d) { memset(d->pos, 0, (size_t)d->max_B * sizeof(int)); }

/* Causal grouped-query attention of each row against its slot's cache
 * (positions 0..row_pos[r]): out[n, H*hd]. */
static void cached_attention(Decoder *d, float *out, const int *slots, int n, int qkvd, size_t slot_stride,
                             size_t layer_off, int H, int KVH, int hd)
{
    int kvd = KVH * hd, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
    /* threads only when there is enough work to pay for waking them */
    long work = 0;
    for (int r = 0; r < n; r++) work += (long)(d->row_pos[r] + 1) * H * hd;
#pragma omp parallel for collapse(2) num_threads(d->n_threads) if (work > (1L << 18))
    for (int r = 0; r < n; r++)
        for (int h = 0; h < H; h++) {
            float *att = d->scores + (size_t)omp_get_thread_num() * d->max_T;
            const float *q = d->qkv + (size_t)r * qkvd + (size_t)h * hd;
            const float *kc = d->k_cache + (size_t)slots[r] * slot_stride + layer_off;
            const float *vc = d->v_cache + (size_t)slots[r] * slot_stride + layer_off;
            int kh = h / group, len = d->row_pos[r] + 1;
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

const float *decoder_step(Decoder *d, const int *slots, const int *tokens, int n)
{
    const Model *m = d->m;
    const Config *c = &m->cfg;
    const Weights *w = &m->w;
    int dim = c->dim, hd = config_head_dim(c), H = c->n_heads, KVH = c->n_kv_heads, V = c->vocab_size;
    int qd = hd * H, kvd = config_kv_dim(c), qkvd = qd + 2 * kvd, f = c->ffn_dim;
    size_t slot_stride = (size_t)c->n_layers * d->max_T * kvd;
    assert(n >= 1 && n <= d->max_rows);

    /* positions: each row takes its slot's next one */
    for (int r = 0; r < n; r++) {
        assert(slots[r] >= 0 && slots[r] < d->max_B && d->pos[slots[r]] < d->max_T);
        d->row_pos[r] = d->pos[slots[r]]++;
    }
    for (int r = 0; r < n; r++) {
        d->row_last[r] = 1;
        for (int q = r + 1; q < n; q++)
            if (slots[q] == slots[r]) d->row_last[r] = 0;
    }

    embedding_forward(d->x, tokens, w->embed, n, dim);
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *lw = &w->layers[l];
        size_t layer_off = (size_t)l * d->max_T * kvd;

        rmsnorm_forward(d->xn, d->rstd, d->x, lw->attn_norm, n, dim, c->norm_eps);
        linear_forward(d->qkv, d->xn, lw->wq, n, dim, qkvd, 0.0f);               /* [n, q|k|v] */
        for (int r = 0; r < n; r++) {
            float *row = d->qkv + (size_t)r * qkvd;
            /* query heads then key heads, contiguous, at this row's position */
            rope_forward(row, qkvd, d->cos_tab, d->sin_tab, d->row_pos[r], 1, d->max_T, H + KVH, hd);
            size_t at = (size_t)slots[r] * slot_stride + layer_off + (size_t)d->row_pos[r] * kvd;
            memcpy(d->k_cache + at, row + qd, (size_t)kvd * sizeof(float));
            memcpy(d->v_cache + at, row + qd + kvd, (size_t)kvd * sizeof(float));
        }
        cached_attention(d, d->att_out, slots, n, qkvd, slot_stride, layer_off, H, KVH, hd);
        linear_forward(d->x, d->att_out, lw->wo, n, qd, dim, 1.0f);               /* x += o_proj */

        rmsnorm_forward(d->xn, d->rstd, d->x, lw->mlp_norm, n, dim, c->norm_eps);
        linear_forward(d->gu, d->xn, lw->w_gate, n, dim, 2 * f, 0.0f);           /* [n, gate|up] */
        swiglu_forward(d->h, d->gu, n, f);
        linear_forward(d->x, d->h, lw->w_down, n, f, dim, 1.0f);                  /* x += down_proj */
    }

    /* final norm and output head on each slot's last row only */
    int k = 0;
    for (int r = 0; r < n; r++)
        if (d->row_last[r]) {
            memmove(d->x + (size_t)k * dim, d->x + (size_t)r * dim, (size_t)dim * sizeof(float));
            d->row_pos[k++] = slots[r];   /* row_pos is free now: reuse it for the slot ids */
        }
    rmsnorm_forward(d->xn, d->rstd, d->x, w->final_norm, k, dim, c->norm_eps);
    linear_forward(d->last_logits, d->xn, w->lm_head, k, dim, V, 0.0f);
    for (int i = 0; i < k; i++)
        memcpy(d->logits + (size_t)d->row_pos[i] * V, d->last_logits + (size_t)i * V, (size_t)V * sizeof(float));
    return d->logits;
}

const float *decoder_forward(Decoder *d, const int *tokens, int n)
{
    int *slots = xcalloc((unsigned long)n, sizeof(int));
    const float *logits = decoder_step(d, slots, tokens, n);
    free(slots);
    return logits;
}
