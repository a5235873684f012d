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
    float *lse;     /* [B, H, T] log-sum-exp of each attention row */
    float *attout;  /* [N, q_dim] attention output before o_proj */
    float *res2;    /* [N, dim] residual after attention */
    float *xn2;     /* [N, dim] mlp-norm output */
    float *rstd2;   /* [N] */
    float *gu;      /* [N, 2*ffn] gate | up projections */
    float *h;       /* [N, ffn] silu(gate) * up */
    /* bf16 precision: copies of the four product inputs above (arena16) */
    bf16  *xn1_16, *attout16, *xn2_16, *h16;
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
    /* Backward. Layer l's weight gradients are taken after its input
     * gradients, while the threads move on to layer l-1, so what they read
     * alternates between buffer sets: gres by l mod 3, the rest by l mod 2. */
    float *gres[3];      /* [N, dim] gradient of the residual stream between layers */
    float *dmid[2];      /* [N, dim] gradient of res2 */
    float *dgu[2];       /* [N, 2*ffn] */
    float *dqkv[2];      /* [N, q_dim + 2*kv_dim] */
    float *norm_part;    /* [2 sets][2 norms][n_threads][dim] per-thread norm-gain gradients */
    float *dxn;          /* [N, dim] row-private temporaries */
    float *dattout;      /* [N, q_dim] */
    float *dh;           /* [N, ffn] */
    float *dlogits;      /* [N, vocab] */
    float *dweight;      /* [N] d(loss)/d(losses[n]) */
    float *att_scratch;  /* [n_threads, ATT_SCRATCH] attention tiles */
    /* bf16 precision only: copies of the products' inputs (arena16), written
     * by each thread for its rows right after the fp32 producer. */
    Arena  arena16;
    bf16  *xn_final16;   /* [N, dim] */
    bf16  *dlogits16;    /* [N, vocab] */
    bf16  *gres16[3];    /* [N, dim] as gres */
    bf16  *dmid16[2];    /* [N, dim] as dmid */
    bf16  *dgu16[2];     /* [N, 2*ffn] as dgu */
    bf16  *dqkv16[2];    /* [N, q_dim + 2*kv_dim] as dqkv */
    int    n_threads;    /* most threads a pass uses (scratch is sized for it) */
    int    has_targets;  /* last forward computed a loss */
};

void weights_bind(Weights *w, LayerWeights *layers, float *base, const ParamTable *t, int tied)
{
    w->layers = layers;
    for (int i = 0; i < t->count; i++) {
        const ParamEntry *p = &t->entries[i];
        float *x = base + p->offset;
        LayerWeights *L = p->layer >= 0 ? &layers[p->layer] : NULL;
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
    if (tied) w->lm_head = w->embed;
}

static void weights_views(Weights *w, float *base, const ParamTable *t, const Config *c)
{
    weights_bind(w, xcalloc((size_t)c->n_layers, sizeof *w->layers), base, t, c->tied);
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
    for (int l = 0; l < c->n_layers; l++) {
        LayerActs *L = &a->layers[l];
        L->res = carve(cv, N * d * F);
        L->xn1 = carve(cv, N * d * F);
        L->rstd1 = carve(cv, N * F);
        L->qkv = carve(cv, N * qkvd * F);
        L->lse = carve(cv, N * c->n_heads * F);
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
    for (int k = 0; k < 3; k++) a->gres[k] = carve(cv, N * d * F);
    for (int k = 0; k < 2; k++) {
        a->dmid[k] = carve(cv, N * d * F);
        a->dgu[k] = carve(cv, N * 2 * f * F);
        a->dqkv[k] = carve(cv, N * qkvd * F);
    }
    a->norm_part = carve(cv, 4 * (size_t)a->n_threads * d * F);
    a->dxn = carve(cv, N * d * F);
    a->dattout = carve(cv, N * qd * F);
    a->dh = carve(cv, N * f * F);
    a->dlogits = carve(cv, N * V * F);
    a->dweight = carve(cv, N * F);
    a->att_scratch = carve(cv, (size_t)a->n_threads * ATT_SCRATCH * F);
}

static void acts_carve_bf16(ModelActs *a, Carver *cv, const Config *c, int max_B, int max_T)
{
    size_t N = (size_t)max_B * max_T, d = c->dim, f = c->ffn_dim, V = c->vocab_size, H = sizeof(bf16);
    size_t qd = (size_t)config_head_dim(c) * c->n_heads, qkvd = qd + 2 * (size_t)config_kv_dim(c);
    for (int l = 0; l < c->n_layers; l++) {
        LayerActs *L = &a->layers[l];
        L->xn1_16 = carve(cv, N * d * H);
        L->attout16 = carve(cv, N * qd * H);
        L->xn2_16 = carve(cv, N * d * H);
        L->h16 = carve(cv, N * f * H);
    }
    a->xn_final16 = carve(cv, N * d * H);
    a->dlogits16 = carve(cv, N * V * H);
    for (int k = 0; k < 3; k++) a->gres16[k] = carve(cv, N * d * H);
    for (int k = 0; k < 2; k++) {
        a->dmid16[k] = carve(cv, N * d * H);
        a->dgu16[k] = carve(cv, N * 2 * f * H);
        a->dqkv16[k] = carve(cv, N * qkvd * H);
    }
}

uint64_t model_train_step_bytes(const Config *c, int B, int T, int n_threads, Precision p)
{
    ModelActs a = {.n_threads = n_threads};
    a.layers = xcalloc((size_t)c->n_layers, sizeof *a.layers);
    Carver count = {NULL, 0};
    acts_carve(&a, &count, c, B, T);
    uint64_t n = config_param_count(c), bytes = count.bytes + 4 * n * sizeof(float);
    if (p == PRECISION_BF16) {
        Carver c16 = {NULL, 0};
        acts_carve_bf16(&a, &c16, c, B, T);
        bytes += c16.bytes + n * sizeof(bf16);
    }
    free(a.layers);
    return bytes;
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
    m->precision = PRECISION_FP32;
    m->params_changed = 1;
    return 0;
}

int model_set_precision(Model *m, Precision p, Err *e)
{
    if (p == PRECISION_BF16 && !m->params_bf16) {
        m->params_bf16 = aligned_alloc(64, arena_round(m->n_params * sizeof(bf16)));
        if (!m->params_bf16) return err_set(e, "model: out of memory for the bf16 copy of %zu parameters", m->n_params);
        Carver count = {NULL, 0};
        acts_carve_bf16(m->acts, &count, &m->cfg, m->max_B, m->max_T);
        arena_init(&m->acts->arena16, count.bytes);
        Carver take = {&m->acts->arena16, 0};
        acts_carve_bf16(m->acts, &take, &m->cfg, m->max_B, m->max_T);
    }
    m->precision = p;
    m->params_changed = 1;
    return 0;
}

void model_params_changed(Model *m) { m->params_changed = 1; }

const char *precision_name(Precision p) { return p == PRECISION_BF16 ? "bf16" : "fp32"; }

int precision_parse(const char *text, const char *what, Precision *p, Err *e)
{
    if (!strcmp(text, "fp32")) *p = PRECISION_FP32;
    else if (!strcmp(text, "bf16")) *p = PRECISION_BF16;
    else return err_set(e, "%s: precision '%s' is not one of fp32, bf16", what, text);
    return 0;
}

Precision precision_default(void) { return matmul_cpu_has_bf16() ? PRECISION_BF16 : PRECISION_FP32; }

/* Refreshes the weights' bf16 copy if params changed since the last one. */
static void params_bf16_refresh(Model *m)
{
    if (m->precision != PRECISION_BF16 || !m->params_changed) return;
    size_t n = m->n_params, chunk = 1 << 16;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += chunk) bf16_from_f32(m->params_bf16 + i, m->params + i, i + chunk < n ? chunk : n - i);
    m->params_changed = 0;
}

void model_free(Model *m)
{
    if (m->acts) {
        arena_free(&m->acts->arena);
        if (m->params_bf16) arena_free(&m->acts->arena16);
        free(m->acts->layers);
        free(m->acts);
    }
    free(m->w.layers);
    free(m->g.layers);
    free(m->params);
    free(m->grads);
    free(m->params_bf16);
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
        Rng r = rng_substream(seed, RNG_STREAM_INIT, (uint64_t)i);   /* one stream per tensor */
        float std = 0.02f;
        if (p->kind == P_WO || p->kind == P_W_DOWN) std *= out_scale;
        for (size_t j = 0; j < p->numel; j++) x[j] = (float)(std * rng_normal(&r));
    }
    m->params_changed = 1;
}

void model_zero_grad(Model *m) { memset(m->grads, 0, m->n_params * sizeof(float)); }

const float *model_logits(const Model *m) { return m->acts->logits; }

/* The rows and attention tasks one thread of a team owns in a pass. When
 * the sequences divide evenly among the threads, each thread owns whole
 * sequences and never waits for another until the pass ends; otherwise rows
 * are split evenly and the threads meet before and after attention, which
 * reads every row of its sequence. */
typedef struct {
    int n0, n1;          /* rows */
    int att0, att1;      /* (sequence, query head) tasks for the forward */
    int katt0, katt1;    /* (sequence, kv head) tasks for the backward */
    int aligned;         /* rows are whole sequences: no meeting around attention */
} Share;

static int split(long total, int t, int nt) { return (int)(total * t / nt); }

static Share share_of(int t, int nt, int B, int T, int H, int KVH)
{
    Share s;
    s.aligned = B % nt == 0;
    if (s.aligned) {
        int b0 = B / nt * t, b1 = B / nt * (t + 1);
        s.n0 = b0 * T, s.n1 = b1 * T;
        s.att0 = b0 * H, s.att1 = b1 * H;
        s.katt0 = b0 * KVH, s.katt1 = b1 * KVH;
    } else {
        s.n0 = split((long)B * T, t, nt), s.n1 = split((long)B * T, t + 1, nt);
        s.att0 = split((long)B * H, t, nt), s.att1 = split((long)B * H, t + 1, nt);
        s.katt0 = split((long)B * KVH, t, nt), s.katt1 = split((long)B * KVH, t + 1, nt);
    }
    return s;
}

static int team_size(const ModelActs *a)
{
    int nt = omp_get_max_threads();
    return nt < a->n_threads ? nt : a->n_threads;
}

/* The linear layers' products (model/ops.h linear_*) in the model's
 * precision. In bf16 they read the bf16 copies: x16 / dy16 of the
 * activations (the caller wrote them for the rows it owns) and the weights'
 * copy at the same offset as w. */
static const bf16 *w16(const Model *m, const float *w) { return m->params_bf16 + (w - m->params); }
static bf16 *at16(bf16 *p, size_t offset) { return p ? p + offset : NULL; }   /* NULL in fp32 */

static void to_bf16(const Model *m, bf16 *dst, const float *src, size_t n)
{
    if (m->precision == PRECISION_BF16) bf16_from_f32(dst, src, n);
}

static void lin_forward(const Model *m, float *out, const float *x, const bf16 *x16, const float *w, int N, int C,
                        int OC, float beta)
{
    if (m->precision == PRECISION_BF16) matmul_bf16(0, 1, N, OC, C, 1.0f, x16, C, w16(m, w), C, beta, out, OC);
    else linear_forward(out, x, w, N, C, OC, beta);
}

static void lin_backward_input(const Model *m, float *dx, const float *dy, const bf16 *dy16, const float *w, int N,
                               int C, int OC)
{
    if (m->precision == PRECISION_BF16) matmul_bf16(0, 0, N, C, OC, 1.0f, dy16, OC, w16(m, w), C, 0.0f, dx, C);
    else linear_backward_input(dx, dy, w, N, C, OC, 0.0f);
}

static void lin_backward_weight(const Model *m, float *dw, const float *dy, const bf16 *dy16, const float *x,
                                const bf16 *x16, int N, int C, int OC, int o0, int o1)
{
    if (m->precision != PRECISION_BF16) linear_backward_weight(dw, dy, x, N, C, OC, o0, o1);
    else if (o1 > o0)   /* dw[o0:o1] += dy[:, o0:o1]^T x */
        matmul_bf16(1, 0, o1 - o0, C, N, 1.0f, dy16 + o0, OC, x16, C, 1.0f, dw + (size_t)o0 * C, C);
}

float model_forward(Model *m, const int *tokens, const int *targets, const float *mask, int B, int T)
{
    const Config *c = &m->cfg;
    ModelActs *a = m->acts;
    assert(B >= 1 && B <= m->max_B && T >= 1 && T <= m->max_T);
    int N = B * T, d = c->dim, f = c->ffn_dim, V = c->vocab_size, H = c->n_heads, KVH = c->n_kv_heads;
    int hd = config_head_dim(c), qd = hd * H, kvd = config_kv_dim(c), qkvd = qd + 2 * kvd;
    float eps = c->norm_eps;
    m->B = B;
    m->T = T;
    memcpy(a->tokens, tokens, (size_t)N * sizeof(int));
    if (targets) memcpy(a->targets, targets, (size_t)N * sizeof(int));
    params_bf16_refresh(m);

#pragma omp parallel num_threads(team_size(a))
    {
        Share s = share_of(omp_get_thread_num(), omp_get_num_threads(), B, T, H, KVH);
        size_t n0 = (size_t)s.n0;
        int rows = s.n1 - s.n0;
        float *scratch = a->att_scratch + (size_t)omp_get_thread_num() * ATT_SCRATCH;
        embedding_forward(a->layers[0].res + n0 * d, tokens + n0, m->w.embed, rows, d);
        for (int l = 0; l < c->n_layers; l++) {
            LayerActs *L = &a->layers[l];
            const LayerWeights *w = &m->w.layers[l];
            float *res_out = l + 1 < c->n_layers ? a->layers[l + 1].res : a->res_final;
            rmsnorm_forward(L->xn1 + n0 * d, L->rstd1 + n0, L->res + n0 * d, w->attn_norm, rows, d, eps);
            to_bf16(m, at16(L->xn1_16, n0 * d), L->xn1 + n0 * d, (size_t)rows * d);
            lin_forward(m, L->qkv + n0 * qkvd, L->xn1 + n0 * d, at16(L->xn1_16, n0 * d), w->wq, rows, d, qkvd,
                        0.0f);   /* [N, q|k|v] */
            rope_forward(L->qkv + n0 * qkvd, qkvd, a->rope_cos, a->rope_sin, s.n0, rows, T, H + KVH, hd);
            if (!s.aligned) {
#pragma omp barrier
            }
            attention_forward(L->attout, L->lse, L->qkv, scratch, T, H, KVH, hd, s.att0, s.att1);
            if (!s.aligned) {
#pragma omp barrier
            }
            to_bf16(m, at16(L->attout16, n0 * qd), L->attout + n0 * qd, (size_t)rows * qd);
            memcpy(L->res2 + n0 * d, L->res + n0 * d, (size_t)rows * d * sizeof(float));
            lin_forward(m, L->res2 + n0 * d, L->attout + n0 * qd, at16(L->attout16, n0 * qd), w->wo, rows, qd, d,
                        1.0f);   /* res2 = res + o_proj */
            rmsnorm_forward(L->xn2 + n0 * d, L->rstd2 + n0, L->res2 + n0 * d, w->mlp_norm, rows, d, eps);
            to_bf16(m, at16(L->xn2_16, n0 * d), L->xn2 + n0 * d, (size_t)rows * d);
            lin_forward(m, L->gu + n0 * 2 * f, L->xn2 + n0 * d, at16(L->xn2_16, n0 * d), w->w_gate, rows, d, 2 * f,
                        0.0f);   /* [N, gate|up] */
            swiglu_forward(L->h + n0 * f, L->gu + n0 * 2 * f, rows, f);
            to_bf16(m, at16(L->h16, n0 * f), L->h + n0 * f, (size_t)rows * f);
            memcpy(res_out + n0 * d, L->res2 + n0 * d, (size_t)rows * d * sizeof(float));
            lin_forward(m, res_out + n0 * d, L->h + n0 * f, at16(L->h16, n0 * f), w->w_down, rows, f, d,
                        1.0f);   /* res += down_proj */
        }
        rmsnorm_forward(a->xn_final + n0 * d, a->rstd_final + n0, a->res_final + n0 * d, m->w.final_norm, rows, d, eps);
        to_bf16(m, at16(a->xn_final16, n0 * d), a->xn_final + n0 * d, (size_t)rows * d);
        lin_forward(m, a->logits + n0 * V, a->xn_final + n0 * d, at16(a->xn_final16, n0 * d), m->w.lm_head, rows, d, V,
                    0.0f);
        if (targets)
            crossentropy_forward(a->losses + n0, a->lse + n0, a->logits + n0 * V, targets + n0, rows, V);
    }

    a->has_targets = targets != NULL;
    m->loss = 0;
    m->n_counted = 0;
    if (!targets) return 0;
    double sum = 0, count = 0;   /* fixed order */
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

/* dweight[c0:c1] += the per-thread partials of one norm, in thread order. */
static void add_norm_parts(float *dweight, const float *parts, int nt, int d, int c0, int c1)
{
    for (int t = 0; t < nt; t++)
        for (int c = c0; c < c1; c++) dweight[c] += parts[(size_t)t * d + c];
}

void model_backward(Model *m, float loss_scale)
{
    const Config *c = &m->cfg;
    ModelActs *a = m->acts;
    assert(a->has_targets && "model_backward needs a forward pass with targets");
    int B = m->B, T = m->T, NL = c->n_layers;
    int N = B * T, d = c->dim, f = c->ffn_dim, V = c->vocab_size, H = c->n_heads, KVH = c->n_kv_heads;
    int hd = config_head_dim(c), qd = hd * H, qkvd = qd + 2 * config_kv_dim(c);
    if (m->n_counted <= 0) return;   /* no counted position: the loss is constant 0 */

    /* d(loss)/d(loss_n) = loss_scale / n_counted for counted positions. */
    float per = (float)(loss_scale / m->n_counted);
    for (int n = 0; n < N; n++) a->dweight[n] = a->weight[n] * per;
    size_t part_stride = (size_t)a->n_threads * d;   /* one norm's partials */

#pragma omp parallel num_threads(team_size(a))
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        Share s = share_of(t, nt, B, T, H, KVH);
        size_t n0 = (size_t)s.n0;
        int rows = s.n1 - s.n0;
        int c0 = split(d, t, nt), c1 = split(d, t + 1, nt);
        float *scratch = a->att_scratch + (size_t)t * ATT_SCRATCH;

        /* Head and final norm: logits = xn_final @ lm_head^T. */
        float *gtop = a->gres[NL % 3];
        float *ptop = a->norm_part + (size_t)(NL % 2) * 2 * part_stride;
        crossentropy_backward(a->dlogits + n0 * V, a->logits + n0 * V, a->lse + n0, a->targets + n0,
                              a->dweight + n0, rows, V);
        to_bf16(m, at16(a->dlogits16, n0 * V), a->dlogits + n0 * V, (size_t)rows * V);
        lin_backward_input(m, a->dxn + n0 * d, a->dlogits + n0 * V, at16(a->dlogits16, n0 * V), m->w.lm_head, rows, d,
                           V);
        memset(gtop + n0 * d, 0, (size_t)rows * d * sizeof(float));
        memset(ptop + (size_t)t * d, 0, (size_t)d * sizeof(float));
        rmsnorm_backward(gtop + n0 * d, ptop + (size_t)t * d, a->dxn + n0 * d, a->res_final + n0 * d,
                         m->w.final_norm, a->rstd_final + n0, rows, d);
        to_bf16(m, at16(a->gres16[NL % 3], n0 * d), gtop + n0 * d, (size_t)rows * d);
#pragma omp barrier
        /* When tied, lm_head's gradient is the embedding's. */
        lin_backward_weight(m, m->g.lm_head, a->dlogits, a->dlogits16, a->xn_final, a->xn_final16, N, d, V,
                            split(V, t, nt), split(V, t + 1, nt));
        add_norm_parts(m->g.final_norm, ptop, nt, d, c0, c1);

        for (int l = NL - 1; l >= 0; l--) {
            LayerActs *L = &a->layers[l];
            const LayerWeights *w = &m->w.layers[l];
            LayerWeights *g = &m->g.layers[l];
            float *gout = a->gres[(l + 1) % 3], *gin = a->gres[l % 3];
            float *dmid = a->dmid[l % 2], *dgu = a->dgu[l % 2], *dqkv = a->dqkv[l % 2];
            bf16 *gout16 = a->gres16[(l + 1) % 3], *gin16 = a->gres16[l % 3];
            bf16 *dmid16 = a->dmid16[l % 2], *dgu16 = a->dgu16[l % 2], *dqkv16 = a->dqkv16[l % 2];
            float *pmlp = a->norm_part + (size_t)(l % 2) * 2 * part_stride, *pattn = pmlp + part_stride;
            memset(pmlp + (size_t)t * d, 0, (size_t)d * sizeof(float));
            memset(pattn + (size_t)t * d, 0, (size_t)d * sizeof(float));

            /* Input gradients of this thread's rows; gout is the gradient of the layer's output. */
            lin_backward_input(m, a->dh + n0 * f, gout + n0 * d, at16(gout16, n0 * d), w->w_down, rows, f, d);
            swiglu_backward(dgu + n0 * 2 * f, a->dh + n0 * f, L->gu + n0 * 2 * f, rows, f);
            to_bf16(m, at16(dgu16, n0 * 2 * f), dgu + n0 * 2 * f, (size_t)rows * 2 * f);
            lin_backward_input(m, a->dxn + n0 * d, dgu + n0 * 2 * f, at16(dgu16, n0 * 2 * f), w->w_gate, rows, d, 2 * f);
            memcpy(dmid + n0 * d, gout + n0 * d, (size_t)rows * d * sizeof(float));
            rmsnorm_backward(dmid + n0 * d, pmlp + (size_t)t * d, a->dxn + n0 * d, L->res2 + n0 * d, w->mlp_norm,
                             L->rstd2 + n0, rows, d);
            to_bf16(m, at16(dmid16, n0 * d), dmid + n0 * d, (size_t)rows * d);
            lin_backward_input(m, a->dattout + n0 * qd, dmid + n0 * d, at16(dmid16, n0 * d), w->wo, rows, qd, d);
            if (!s.aligned) {
#pragma omp barrier
            }
            attention_backward(dqkv, scratch, a->dattout, L->attout, L->lse, L->qkv, T, H, KVH, hd, s.katt0, s.katt1);
            if (!s.aligned) {
#pragma omp barrier
            }
            rope_backward(dqkv + n0 * qkvd, qkvd, a->rope_cos, a->rope_sin, s.n0, rows, T, H + KVH, hd);
            to_bf16(m, at16(dqkv16, n0 * qkvd), dqkv + n0 * qkvd, (size_t)rows * qkvd);
            lin_backward_input(m, a->dxn + n0 * d, dqkv + n0 * qkvd, at16(dqkv16, n0 * qkvd), w->wq, rows, d, qkvd);
            memcpy(gin + n0 * d, dmid + n0 * d, (size_t)rows * d * sizeof(float));
            rmsnorm_backward(gin + n0 * d, pattn + (size_t)t * d, a->dxn + n0 * d, L->res + n0 * d, w->attn_norm,
                             L->rstd1 + n0, rows, d);
            if (l > 0) to_bf16(m, at16(gin16, n0 * d), gin + n0 * d, (size_t)rows * d);
#pragma omp barrier
            /* Weight gradients over all rows, each thread a slice of output rows. */
            lin_backward_weight(m, g->w_down, gout, gout16, L->h, L->h16, N, f, d, split(d, t, nt), split(d, t + 1, nt));
            lin_backward_weight(m, g->w_gate, dgu, dgu16, L->xn2, L->xn2_16, N, d, 2 * f, split(2 * f, t, nt),
                                split(2 * f, t + 1, nt));
            lin_backward_weight(m, g->wo, dmid, dmid16, L->attout, L->attout16, N, qd, d, split(d, t, nt),
                                split(d, t + 1, nt));
            lin_backward_weight(m, g->wq, dqkv, dqkv16, L->xn1, L->xn1_16, N, d, qkvd, split(qkvd, t, nt),
                                split(qkvd, t + 1, nt));
            add_norm_parts(g->mlp_norm, pmlp, nt, d, c0, c1);
            add_norm_parts(g->attn_norm, pattn, nt, d, c0, c1);
        }
        /* gres[0] is complete: every thread passed the barrier after layer 0's input gradients. */
        embedding_backward(m->g.embed, a->gres[0], a->tokens, N, d, c0, c1);
    }
}
