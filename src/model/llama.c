#include "model/llama.h"

#include <assert.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/rng.h"
#include "model/ops.h"

/* What the model keeps between forward and backward, and backward's scratch.
 * N = B*T rows; every buffer is sized for max_B*max_T and used compactly for
 * the current (B, T). */
typedef struct {
    float *res;     /* [N, dim] residual stream entering the layer */
    float *xn1;     /* [N, dim] attention-norm output */
    float *rstd1;   /* [N] */
    float *qkv;     /* [N, q_dim + 2*kv_dim] projections, q and k rotated */
    float *att;     /* [B, H, T, T] attention probabilities */
    float *attout;  /* [N, q_dim] attention output before o_proj */
    float *res2;    /* [N, dim] residual after attention */
    float *xn2;     /* [N, dim] mlp-norm output */
    float *rstd2;   /* [N] */
    float *gu;      /* [N, 2*ffn] gate | up projections */
    float *h;       /* [N, ffn] silu(gate) * up */
} LayerActs;

struct ModelActs {
    Arena      arena;
    LayerActs *layers;   /* [n_layers] (malloc'd; the buffers are in the arena) */
    float *res_final;    /* [N, dim] residual after the last layer */
    float *xn_final;     /* [N, dim] */
    float *rstd_final;   /* [N] */
    float *logits;       /* [N, vocab] */
    float *lse;          /* [N] log-sum-exp of each logits row */
    float *losses;       /* [N] per-position cross-entropy */
    int   *tokens;       /* [N] copy of the last forward's tokens */
    int   *targets;      /* [N] copy of the last forward's targets */
    float *weight;       /* [N] 1 where the position counts, else 0 */
    float *rope_cos, *rope_sin;  /* [max_T, hd/2] */
    /* backward scratch */
    float *dres;         /* [N, dim] gradient of the residual stream */
    float *dxn;          /* [N, dim] */
    float *dqkv;         /* [N, q_dim + 2*kv_dim] */
    float *dattout;      /* [N, q_dim] */
    float *dgu;          /* [N, 2*ffn] */
    float *dh;           /* [N, ffn] */
    float *dlogits;      /* [N, vocab] */
    float *dweight;      /* [N] d(loss)/d(losses[n]) */
    float *dP;           /* [n_threads, max_T, max_T] */
    float *norm_part;    /* [RMSNORM_CHUNKS, dim] partial norm-gain gradients */
    int    n_threads;
    int    has_targets;  /* last forward computed a loss */
};

static void weights_views(Weights *w, float *base, const ParamTable *t, const Config *c)
{
    w->layers = xcalloc((size_t)c->n_layers, sizeof *w->layers);
    for (int i = 0; i < t->count; i++) {
        const ParamEntry *p = &t->entries[i];
        float *x = base + p->offset;
        LayerWeights *L = p->layer >= 0 ? &w->layers[p->layer] : NULL;
        switch (p->kind) {
        case P_EMBED: w->embed = x; break;
        case P_ATTN_NORM: L->attn_norm = x; break;
        case P_WQ: L->wq = x; break;
        case P_WK: L->wk = x; break;
        case P_WV: L->wv = x; break;
        case P_WO: L->wo = x; break;
        case P_MLP_NORM: L->mlp_norm = x; break;
        case P_W_GATE: L->w_gate = x; break;
        case P_W_UP: L->w_up = x; break;
        case P_W_DOWN: L->w_down = x; break;
        case P_FINAL_NORM: w->final_norm = x; break;
        case P_LM_HEAD: w->lm_head = x; break;
        }
    }
    if (c->tied) w->lm_head = w->embed;
    /* The fused projections rely on the table's order: q|k|v and gate|up adjacent. */
    int d = c->dim, q_dim = config_head_dim(c) * c->n_heads, kv = config_kv_dim(c);
    for (int l = 0; l < c->n_layers; l++) {
        assert(w->layers[l].wk == w->layers[l].wq + (size_t)q_dim * d);
        assert(w->layers[l].wv == w->layers[l].wk + (size_t)kv * d);
        assert(w->layers[l].w_up == w->layers[l].w_gate + (size_t)c->ffn_dim * d);
        (void)q_dim, (void)kv, (void)d;
    }
}

/* Carves the activation buffers from an arena, or (arena NULL) only adds up
 * the bytes they need, so sizing and carving cannot disagree. */
typedef struct {
    Arena *arena;
    size_t bytes;
} Carver;

static void *carve(Carver *cv, size_t bytes)
{
    if (!cv->arena) {
        cv->bytes += arena_round(bytes);
        return NULL;
    }
    return arena_alloc(cv->arena, bytes);
}

static void acts_carve(ModelActs *a, Carver *cv, const Config *c, int max_B, int max_T)
{
    size_t N = (size_t)max_B * max_T, d = c->dim, f = c->ffn_dim, V = c->vocab_size, F = sizeof(float);
    size_t hd = config_head_dim(c), qd = hd * c->n_heads, kvd = config_kv_dim(c), qkvd = qd + 2 * kvd;
    size_t att = (size_t)max_B * c->n_heads * max_T * max_T;
    for (int l = 0; l < c->n_layers; l++) {
        LayerActs *L = &a->layers[l];
        L->res = carve(cv, N * d * F);
        L->xn1 = carve(cv, N * d * F);
        L->rstd1 = carve(cv, N * F);
        L->qkv = carve(cv, N * qkvd * F);
        L->att = carve(cv, att * F);
        L->attout = carve(cv, N * qd * F);
        L->res2 = carve(cv, N * d * F);
        L->xn2 = carve(cv, N * d * F);
        L->rstd2 = carve(cv, N * F);
        L->gu = carve(cv, N * 2 * f * F);
        L->h = carve(cv, N * f * F);
    }
    a->res_final = carve(cv, N * d * F);
    a->xn_final = carve(cv, N * d * F);
    a->rstd_final = carve(cv, N * F);
    a->logits = carve(cv, N * V * F);
    a->lse = carve(cv, N * F);
    a->losses = carve(cv, N * F);
    a->tokens = carve(cv, N * sizeof(int));
    a->targets = carve(cv, N * sizeof(int));
    a->weight = carve(cv, N * F);
    a->rope_cos = carve(cv, (size_t)max_T * hd / 2 * F);
    a->rope_sin = carve(cv, (size_t)max_T * hd / 2 * F);
    a->dres = carve(cv, N * d * F);
    a->dxn = carve(cv, N * d * F);
    a->dqkv = carve(cv, N * qkvd * F);
    a->dattout = carve(cv, N * qd * F);
    a->dgu = carve(cv, N * 2 * f * F);
    a->dh = carve(cv, N * f * F);
    a->dlogits = carve(cv, N * V * F);
    a->dweight = carve(cv, N * F);
    a->dP = carve(cv, (size_t)a->n_threads * max_T * max_T * F);
    a->norm_part = carve(cv, (size_t)RMSNORM_CHUNKS * d * F);
}

int model_create(Model *m, const Config *cfg, int max_B, int max_T, Err *e)
{
    memset(m, 0, sizeof *m);
    if (config_validate(cfg, e)) return -1;
    if (max_B <= 0 || max_T <= 0 || max_T > cfg->seq_len)
        return err_set(e, "model: batch shape %d x %d is impossible (need B >= 1 and 1 <= T <= seq_len %d)",
                       max_B, max_T, cfg->seq_len);
    m->cfg = *cfg;
    param_table_build(&m->table, cfg);
    m->n_params = m->table.total;
    m->params = aligned_alloc(64, arena_round(m->n_params * sizeof(float)));
    m->grads = aligned_alloc(64, arena_round(m->n_params * sizeof(float)));
    if (!m->params || !m->grads) {
        free(m->params);
        free(m->grads);
        param_table_free(&m->table);
        return err_set(e, "model: out of memory for %zu parameters", m->n_params);
    }
    memset(m->params, 0, m->n_params * sizeof(float));
    memset(m->grads, 0, m->n_params * sizeof(float));
    weights_views(&m->w, m->params, &m->table, cfg);
    weights_views(&m->g, m->grads, &m->table, cfg);
    m->max_B = max_B;
    m->max_T = max_T;

    ModelActs *a = xcalloc(1, sizeof *a);
    a->layers = xcalloc((size_t)cfg->n_layers, sizeof *a->layers);
    a->n_threads = omp_get_max_threads();
    Carver count = {NULL, 0};
    acts_carve(a, &count, cfg, max_B, max_T);     /* sizes the arena */
    arena_init(&a->arena, count.bytes);
    Carver take = {&a->arena, 0};
    acts_carve(a, &take, cfg, max_B, max_T);
    int hd = config_head_dim(cfg);
    rope_tables(a->rope_cos, a->rope_sin, max_T, hd, cfg->rope_theta);
    m->acts = a;
    return 0;
}

void model_free(Model *m)
{
    if (m->acts) {
        arena_free(&m->acts->arena);
        free(m->acts->layers);
        free(m->acts);
    }
    free(m->w.layers);
    free(m->g.layers);
    free(m->params);
    free(m->grads);
    param_table_free(&m->table);
    memset(m, 0, sizeof *m);
}

void model_init_weights(Model *m, uint64_t seed)
{
    const ParamTable *t = &m->table;
    float out_scale = 1.0f / sqrtf(2.0f * m->cfg.n_layers);
    /* One random stream per tensor, so tensors fill in parallel and the bits
     * do not depend on the thread count. */
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < t->count; i++) {
        const ParamEntry *p = &t->entries[i];
        float *x = m->params + p->offset;
        if (p->ndim == 1) {
            for (size_t j = 0; j < p->numel; j++) x[j] = 1.0f;
            continue;
        }
        Rng r = rng_stream(seed, mix64(RNG_STREAM_INIT ^ ((uint64_t)(i + 1) << 32)));
        float std = 0.02f;
        if (p->kind == P_WO || p->kind == P_W_DOWN) std *= out_scale;
        for (size_t j = 0; j < p->numel; j++) x[j] = (float)(std * rng_normal(&r));
    }
}

void model_zero_grad(Model *m) { memset(m->grads, 0, m->n_params * sizeof(float)); }

const float *model_logits(const Model *m) { return m->acts->logits; }

float model_forward(Model *m, const int *tokens, const int *targets, const float *mask, int B, int T)
{
    const Config *c = &m->cfg;
    ModelActs *a = m->acts;
    assert(B >= 1 && B <= m->max_B && T >= 1 && T <= m->max_T);
    int N = B * T, d = c->dim, f = c->ffn_dim, V = c->vocab_size, H = c->n_heads, KVH = c->n_kv_heads;
    int hd = config_head_dim(c), qd = hd * H, kvd = config_kv_dim(c), qkvd = qd + 2 * kvd;
    m->B = B;
    m->T = T;

    memcpy(a->tokens, tokens, (size_t)N * sizeof(int));
    embedding_forward(a->layers[0].res, tokens, m->w.embed, N, d);
    for (int l = 0; l < c->n_layers; l++) {
        LayerActs *L = &a->layers[l];
        const LayerWeights *w = &m->w.layers[l];
        float *res_out = l + 1 < c->n_layers ? a->layers[l + 1].res : a->res_final;
        rmsnorm_forward(L->xn1, L->rstd1, L->res, w->attn_norm, N, d, c->norm_eps);
        linear_forward(L->qkv, L->xn1, w->wq, N, d, qkvd, 0.0f);              /* [N, q|k|v] */
        rope_forward(L->qkv, qkvd, a->rope_cos, a->rope_sin, B, T, H + KVH, hd); /* q and k heads */
        attention_forward(L->attout, L->att, L->qkv, B, T, H, KVH, hd);
        memcpy(L->res2, L->res, (size_t)N * d * sizeof(float));
        linear_forward(L->res2, L->attout, w->wo, N, qd, d, 1.0f);            /* res2 = res + o_proj */
        rmsnorm_forward(L->xn2, L->rstd2, L->res2, w->mlp_norm, N, d, c->norm_eps);
        linear_forward(L->gu, L->xn2, w->w_gate, N, d, 2 * f, 0.0f);          /* [N, gate|up] */
        swiglu_forward(L->h, L->gu, N, f);
        memcpy(res_out, L->res2, (size_t)N * d * sizeof(float));
        linear_forward(res_out, L->h, w->w_down, N, f, d, 1.0f);              /* res += down_proj */
    }
    rmsnorm_forward(a->xn_final, a->rstd_final, a->res_final, m->w.final_norm, N, d, c->norm_eps);
    linear_forward(a->logits, a->xn_final, m->w.lm_head, N, d, V, 0.0f);

    a->has_targets = targets != NULL;
    m->loss = 0;
    m->n_counted = 0;
    if (!targets) return 0;
    crossentropy_forward(a->losses, a->lse, a->logits, targets, N, V);
    memcpy(a->targets, targets, (size_t)N * sizeof(int));
    double sum = 0, count = 0;
    for (int n = 0; n < N; n++) {
        float wt = (!mask || mask[n] != 0.0f) ? 1.0f : 0.0f;
        a->weight[n] = wt;
        if (wt != 0.0f) {
            sum += a->losses[n];
            count += 1;
        }
    }
    m->n_counted = count;
    m->loss = count > 0 ? (float)(sum / count) : 0.0f;
    return m->loss;
}

void model_backward(Model *m, float loss_scale)
{
    const Config *c = &m->cfg;
    ModelActs *a = m->acts;
    assert(a->has_targets && "model_backward needs a forward pass with targets");
    int B = m->B, T = m->T;
    int N = B * T, d = c->dim, f = c->ffn_dim, V = c->vocab_size, H = c->n_heads, KVH = c->n_kv_heads;
    int hd = config_head_dim(c), qd = hd * H, qkvd = qd + 2 * config_kv_dim(c);
    if (m->n_counted <= 0) return;   /* no counted position: the loss is constant 0 */

    /* d(loss)/d(loss_n) = loss_scale / n_counted for counted positions. */
    float per = (float)(loss_scale / m->n_counted);
    for (int n = 0; n < N; n++) a->dweight[n] = a->weight[n] * per;
    crossentropy_backward(a->dlogits, a->logits, a->lse, a->targets, a->dweight, N, V);
    /* logits = xn_final @ lm_head^T: when tied, lm_head's gradient is the embedding's. */
    linear_backward(a->dxn, m->g.lm_head, a->dlogits, a->xn_final, m->w.lm_head, N, d, V, 0.0f);
    memset(a->dres, 0, (size_t)N * d * sizeof(float));
    rmsnorm_backward(a->dres, m->g.final_norm, a->norm_part, a->dxn, a->res_final, m->w.final_norm, a->rstd_final, N, d);

    for (int l = c->n_layers - 1; l >= 0; l--) {
        LayerActs *L = &a->layers[l];
        const LayerWeights *w = &m->w.layers[l];
        LayerWeights *g = &m->g.layers[l];
        /* dres is the gradient of this layer's output residual. MLP block: */
        linear_backward(a->dh, g->w_down, a->dres, L->h, w->w_down, N, f, d, 0.0f);
        swiglu_backward(a->dgu, a->dh, L->gu, N, f);
        linear_backward(a->dxn, g->w_gate, a->dgu, L->xn2, w->w_gate, N, d, 2 * f, 0.0f);
        rmsnorm_backward(a->dres, g->mlp_norm, a->norm_part, a->dxn, L->res2, w->mlp_norm, L->rstd2, N, d);
        /* dres is now the gradient of res2. Attention block: */
        linear_backward(a->dattout, g->wo, a->dres, L->attout, w->wo, N, qd, d, 0.0f);
        attention_backward(a->dqkv, a->dP, a->dattout, L->qkv, L->att, B, T, H, KVH, hd);
        rope_backward(a->dqkv, qkvd, a->rope_cos, a->rope_sin, B, T, H + KVH, hd);
        linear_backward(a->dxn, g->wq, a->dqkv, L->xn1, w->wq, N, d, qkvd, 0.0f);
        rmsnorm_backward(a->dres, g->attn_norm, a->norm_part, a->dxn, L->res, w->attn_norm, L->rstd1, N, d);
    }
    embedding_backward(m->g.embed, a->dres, a->tokens, N, d);
}
