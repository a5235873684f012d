#include "probe/hvp.h"

#include <assert.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "model/ops.h"
#include "probe/rop.h"

/* Per layer: the primal activations (as in llama.c), the primal activation
 * gradients, and the tangents of the activations. N = B*T rows. */
typedef struct {
    /* primal forward */
    float *res;      /* [N, dim] residual entering the layer */
    float *xn1;      /* [N, dim] */
    float *r1;       /* [N] rstd */
    float *qkv;      /* [N, qkvd] q, k rotated */
    float *lse;      /* [B, H, T] attention log-sum-exp */
    float *attout;   /* [N, qd] */
    float *res2;     /* [N, dim] */
    float *xn2;      /* [N, dim] */
    float *r2;       /* [N] */
    float *gu;       /* [N, 2f] */
    float *h;        /* [N, f] */
    /* primal backward: d(loss)/d(activation) */
    float *dout;     /* [N, dim] wrt the residual leaving the layer */
    float *dh;       /* [N, f] */
    float *dgu;      /* [N, 2f] */
    float *dxn2;     /* [N, dim] */
    float *dres2;    /* [N, dim] */
    float *dattout;  /* [N, qd] */
    float *dqkv;     /* [N, qkvd] wrt q, k before rotation, v */
    float *dxn1;     /* [N, dim] */
    /* tangents of the forward */
    float *Rres, *Rxn1, *Rr1, *Rqkv, *Rdot, *Rattout, *Rres2, *Rxn2, *Rr2, *Rgu, *Rh;
    /* tangents of the activation gradients, kept per layer until its weight
     * products (over all rows) are done */
    float *Rdout;    /* [N, dim] R{dout} */
    float *Rdgu;     /* [N, 2f] */
    float *Rdxn2;    /* [N, dim] */
    float *Rdres2;   /* [N, dim] */
    float *Rdqkv;    /* [N, qkvd] */
    float *Rdxn1;    /* [N, dim] */
} HvpLayer;

struct HvpBuffers {
    Arena     arena;
    HvpLayer *layers;                 /* [n_layers] */
    float *res_f, *xn_f, *r_f;        /* final norm: [N, dim], [N, dim], [N] */
    float *probs;                     /* [N, V] softmax of the logits */
    float *lse;                       /* [N] */
    float *dz;                        /* [N, V] d(loss)/d(logits) */
    float *c;                         /* [N] mask / counted positions */
    float *dxn_f;                     /* [N, dim] */
    float *gw_scratch;                /* [n_threads, dim] discarded norm-gain gradients */
    int   *tokens;                    /* [N] */
    float *Rres_f, *Rxn_f, *Rr_f, *Rz; /* tangents of the head: [N, dim] x2, [N], [N, V] */
    /* tangent backward: head, the embedding's input, per-row scratch */
    float *Rdxn_f;                    /* [N, dim] */
    float *Rdin;                      /* [N, dim] R{d res} entering layer 0 */
    float *Rdh, *Rdattout;            /* [N, f], [N, qd] */
    float *att_scratch;               /* [n_threads, ROP_ATT_SCRATCH] */
    float *rope_cos, *rope_sin;       /* [max_T, hd/2] */
    int    n_threads;
};

/* Lays the buffers out twice: once to size the arena (a == NULL), once to carve it. */
typedef struct {
    Arena *a;
    size_t bytes;
} Plan;

static float *take(Plan *p, size_t count)
{
    if (!p->a) {
        p->bytes += arena_round(count * sizeof(float));
        return NULL;
    }
    return arena_floats(p->a, count);
}

static void layout(HvpBuffers *b, Plan *p, const Config *c, int max_B, int max_T, int nt)
{
    size_t N = (size_t)max_B * max_T, d = c->dim, f = c->ffn_dim, V = c->vocab_size;
    size_t hd = config_head_dim(c), qd = hd * c->n_heads, qkvd = qd + 2 * (size_t)config_kv_dim(c);
    size_t att = N * c->n_heads;   /* one float per attention row */
    for (int l = 0; l < c->n_layers; l++) {
        HvpLayer L;
        L.res = take(p, N * d), L.xn1 = take(p, N * d), L.r1 = take(p, N), L.qkv = take(p, N * qkvd);
        L.lse = take(p, att), L.attout = take(p, N * qd), L.res2 = take(p, N * d), L.xn2 = take(p, N * d);
        L.r2 = take(p, N), L.gu = take(p, N * 2 * f), L.h = take(p, N * f);
        L.dout = take(p, N * d), L.dh = take(p, N * f), L.dgu = take(p, N * 2 * f), L.dxn2 = take(p, N * d);
        L.dres2 = take(p, N * d), L.dattout = take(p, N * qd), L.dqkv = take(p, N * qkvd);
        L.dxn1 = take(p, N * d);
        L.Rres = take(p, N * d), L.Rxn1 = take(p, N * d), L.Rr1 = take(p, N), L.Rqkv = take(p, N * qkvd);
        L.Rdot = take(p, att), L.Rattout = take(p, N * qd), L.Rres2 = take(p, N * d), L.Rxn2 = take(p, N * d);
        L.Rr2 = take(p, N), L.Rgu = take(p, N * 2 * f), L.Rh = take(p, N * f);
        L.Rdout = take(p, N * d), L.Rdgu = take(p, N * 2 * f), L.Rdxn2 = take(p, N * d), L.Rdres2 = take(p, N * d);
        L.Rdqkv = take(p, N * qkvd), L.Rdxn1 = take(p, N * d);
        if (p->a) b->layers[l] = L;
    }
    b->res_f = take(p, N * d), b->xn_f = take(p, N * d), b->r_f = take(p, N);
    b->probs = take(p, N * V), b->lse = take(p, N), b->dz = take(p, N * V), b->c = take(p, N);
    b->dxn_f = take(p, N * d), b->gw_scratch = take(p, (size_t)nt * d);
    b->tokens = (int *)take(p, N);
    b->Rres_f = take(p, N * d), b->Rxn_f = take(p, N * d), b->Rr_f = take(p, N), b->Rz = take(p, N * V);
    b->Rdxn_f = take(p, N * d), b->Rdin = take(p, N * d), b->Rdh = take(p, N * f), b->Rdattout = take(p, N * qd);
    b->att_scratch = take(p, (size_t)nt * ROP_ATT_SCRATCH);
    b->rope_cos = take(p, (size_t)max_T * hd / 2), b->rope_sin = take(p, (size_t)max_T * hd / 2);
}

int hvp_create(Hvp *h, const Model *m, int max_B, int max_T, Err *e)
{
    memset(h, 0, sizeof *h);
    const Config *c = &m->cfg;
    if (max_B <= 0 || max_T <= 0 || max_T > c->seq_len)
        return err_set(e, "hvp: batch shape %d x %d is impossible (need B >= 1 and 1 <= T <= seq_len %d)",
                       max_B, max_T, c->seq_len);
    HvpBuffers *b = xcalloc(1, sizeof *b);
    int nt = omp_get_max_threads();
    Plan size = {NULL, 0};
    layout(b, &size, c, max_B, max_T, nt);
    arena_init(&b->arena, size.bytes);
    b->layers = xcalloc((size_t)c->n_layers, sizeof *b->layers);
    Plan carve = {&b->arena, 0};
    layout(b, &carve, c, max_B, max_T, nt);
    b->n_threads = nt;
    rope_tables(b->rope_cos, b->rope_sin, max_T, config_head_dim(c), c->rope_theta);
    h->model = m;
    h->n = m->n_params;
    h->max_B = max_B;
    h->max_T = max_T;
    h->buf = b;
    h->bytes = size.bytes;
    return 0;
}

void hvp_free(Hvp *h)
{
    if (h->buf) {
        arena_free(&h->buf->arena);
        free(h->buf->layers);
        free(h->buf);
    }
    memset(h, 0, sizeof *h);
}

/* The rows and attention tasks thread t of nt owns in a pass. When the
 * sequences divide evenly among the threads, each owns whole sequences and
 * attention needs no meeting; otherwise rows are split evenly and the threads
 * meet before and after attention, which reads every row of its sequence. */
typedef struct {
    int n0, n1;        /* rows */
    int att0, att1;    /* (sequence, query head) tasks: tangent forward */
    int katt0, katt1;  /* (sequence, kv head) tasks: tangent backward */
    int aligned;
} Share;

static int split(long total, int t, int nt) { return (int)(total * t / nt); }

static Share share_of(int t, int nt, int B, int T, int H, int KVH)
{
    Share s;
    s.aligned = B % nt == 0;
    int b0 = s.aligned ? B / nt * t : 0, b1 = s.aligned ? B / nt * (t + 1) : 0;
    s.n0 = s.aligned ? b0 * T : split((long)B * T, t, nt);
    s.n1 = s.aligned ? b1 * T : split((long)B * T, t + 1, nt);
    s.att0 = s.aligned ? b0 * H : split((long)B * H, t, nt);
    s.att1 = s.aligned ? b1 * H : split((long)B * H, t + 1, nt);
    s.katt0 = s.aligned ? b0 * KVH : split((long)B * KVH, t, nt);
    s.katt1 = s.aligned ? b1 * KVH : split((long)B * KVH, t + 1, nt);
    return s;
}

/* Threads for a pass over N rows: at most those hvp_create sized the
 * scratch for, and one for small batches, where a team costs more than it saves. */
static int team_size(const HvpBuffers *b, int N, const Config *c)
{
    int nt = omp_get_max_threads() < b->n_threads ? omp_get_max_threads() : b->n_threads;
    return (long)N * c->dim * (c->dim + c->ffn_dim) < 256L * 1024 ? 1 : nt;
}

float hvp_set_batch(Hvp *h, const int *tokens, const int *targets, const float *mask, int B, int T)
{
    const Model *m = h->model;
    const Config *c = &m->cfg;
    HvpBuffers *b = h->buf;
    assert(B >= 1 && B <= h->max_B && T >= 1 && T <= h->max_T);
    int N = B * T, d = c->dim, f = c->ffn_dim, V = c->vocab_size, H = c->n_heads, KVH = c->n_kv_heads;
    int hd = config_head_dim(c), qd = hd * H, qkvd = qd + 2 * config_kv_dim(c), nl = c->n_layers;
    float eps = c->norm_eps;
    const Weights *w = &m->w;
    int team = team_size(b, N, c);
    float *losses = b->Rr_f;    /* free until the tangent pass */
    h->B = B;
    h->T = T;
    memcpy(b->tokens, tokens, (size_t)N * sizeof(int));

    /* Primal forward, as model_forward: each thread its rows. */
#pragma omp parallel num_threads(team)
    {
        Share s = share_of(omp_get_thread_num(), omp_get_num_threads(), B, T, H, KVH);
        size_t n0 = (size_t)s.n0;
        int rows = s.n1 - s.n0;
        float *scratch = b->att_scratch + (size_t)omp_get_thread_num() * ROP_ATT_SCRATCH;
        embedding_forward(b->layers[0].res + n0 * d, tokens + n0, w->embed, rows, d);
        for (int l = 0; l < nl; l++) {
            HvpLayer *L = &b->layers[l];
            const LayerWeights *lw = &w->layers[l];
            float *res_out = l + 1 < nl ? b->layers[l + 1].res : b->res_f;
            rmsnorm_forward(L->xn1 + n0 * d, L->r1 + n0, L->res + n0 * d, lw->attn_norm, rows, d, eps);
            linear_forward(L->qkv + n0 * qkvd, L->xn1 + n0 * d, lw->wq, rows, d, qkvd, 0.0f);
            rope_forward(L->qkv + n0 * qkvd, qkvd, b->rope_cos, b->rope_sin, s.n0, rows, T, H + KVH, hd);
            if (!s.aligned) {
#pragma omp barrier
            }
            attention_forward(L->attout, L->lse, L->qkv, scratch, T, H, KVH, hd, s.att0, s.att1);
            if (!s.aligned) {
#pragma omp barrier
            }
            memcpy(L->res2 + n0 * d, L->res + n0 * d, (size_t)rows * d * sizeof(float));
            linear_forward(L->res2 + n0 * d, L->attout + n0 * qd, lw->wo, rows, qd, d, 1.0f);
            rmsnorm_forward(L->xn2 + n0 * d, L->r2 + n0, L->res2 + n0 * d, lw->mlp_norm, rows, d, eps);
            linear_forward(L->gu + n0 * 2 * f, L->xn2 + n0 * d, lw->w_gate, rows, d, 2 * f, 0.0f);
            swiglu_forward(L->h + n0 * f, L->gu + n0 * 2 * f, rows, f);
            memcpy(res_out + n0 * d, L->res2 + n0 * d, (size_t)rows * d * sizeof(float));
            linear_forward(res_out + n0 * d, L->h + n0 * f, lw->w_down, rows, f, d, 1.0f);
        }
        rmsnorm_forward(b->xn_f + n0 * d, b->r_f + n0, b->res_f + n0 * d, w->final_norm, rows, d, eps);
        /* the logits go to probs, turned into probabilities after the backward reads them */
        linear_forward(b->probs + n0 * V, b->xn_f + n0 * d, w->lm_head, rows, d, V, 0.0f);
        crossentropy_forward(losses + n0, b->lse + n0, b->probs + n0 * V, targets + n0, rows, V);
    }
    double sum = 0, count = 0;   /* fixed order */
    for (int n = 0; n < N; n++) {
        int counted = !mask || mask[n] != 0.0f;
        if (counted) {
            sum += losses[n];
            count += 1;
        }
        b->c[n] = (float)counted;
    }
    h->n_counted = count;
    h->loss = count > 0 ? (float)(sum / count) : 0.0f;
    float per = count > 0 ? (float)(1.0 / count) : 0.0f;
    for (int n = 0; n < N; n++) b->c[n] *= per;

    /* Primal backward: activation gradients only (H v needs no weight
     * gradients), kept for the tangent backward. Rows are independent except
     * in attention, so threads meet only around it. */
#pragma omp parallel num_threads(team)
    {
        int t = omp_get_thread_num();
        Share s = share_of(t, omp_get_num_threads(), B, T, H, KVH);
        size_t n0 = (size_t)s.n0;
        int rows = s.n1 - s.n0;
        float *scratch = b->att_scratch + (size_t)t * ROP_ATT_SCRATCH;
        float *gw = b->gw_scratch + (size_t)t * d;   /* norm-gain gradients: not needed */
        float *z = b->probs + n0 * V;
        crossentropy_backward(b->dz + n0 * V, z, b->lse + n0, targets + n0, b->c + n0, rows, V);
        for (int n = 0; n < rows; n++) {
            float l = b->lse[n0 + n];
            for (int i = 0; i < V; i++) z[(size_t)n * V + i] = expf(z[(size_t)n * V + i] - l);
        }
        linear_backward_input(b->dxn_f + n0 * d, b->dz + n0 * V, w->lm_head, rows, d, V, 0.0f);
        float *dtop = b->layers[nl - 1].dout;
        memset(dtop + n0 * d, 0, (size_t)rows * d * sizeof(float));
        rmsnorm_backward(dtop + n0 * d, gw, b->dxn_f + n0 * d, b->res_f + n0 * d, w->final_norm, b->r_f + n0, rows, d);
        for (int l = nl - 1; l >= 0; l--) {
            HvpLayer *L = &b->layers[l];
            const LayerWeights *lw = &w->layers[l];
            linear_backward_input(L->dh + n0 * f, L->dout + n0 * d, lw->w_down, rows, f, d, 0.0f);
            swiglu_backward(L->dgu + n0 * 2 * f, L->dh + n0 * f, L->gu + n0 * 2 * f, rows, f);
            linear_backward_input(L->dxn2 + n0 * d, L->dgu + n0 * 2 * f, lw->w_gate, rows, d, 2 * f, 0.0f);
            memcpy(L->dres2 + n0 * d, L->dout + n0 * d, (size_t)rows * d * sizeof(float));
            rmsnorm_backward(L->dres2 + n0 * d, gw, L->dxn2 + n0 * d, L->res2 + n0 * d, lw->mlp_norm, L->r2 + n0, rows,
                             d);
            linear_backward_input(L->dattout + n0 * qd, L->dres2 + n0 * d, lw->wo, rows, qd, d, 0.0f);
            if (!s.aligned) {
#pragma omp barrier
            }
            attention_backward(L->dqkv, scratch, L->dattout, L->attout, L->lse, L->qkv, T, H, KVH, hd, s.katt0,
                               s.katt1);
            if (!s.aligned) {
#pragma omp barrier
            }
            rope_backward(L->dqkv + n0 * qkvd, qkvd, b->rope_cos, b->rope_sin, s.n0, rows, T, H + KVH, hd);
            linear_backward_input(L->dxn1 + n0 * d, L->dqkv + n0 * qkvd, lw->wq, rows, d, qkvd, 0.0f);
            if (l > 0) {
                float *din = b->layers[l - 1].dout;
                memcpy(din + n0 * d, L->dres2 + n0 * d, (size_t)rows * d * sizeof(float));
                rmsnorm_backward(din + n0 * d, gw, L->dxn1 + n0 * d, L->res + n0 * d, lw->attn_norm, L->r1 + n0, rows,
                                 d);
            }
        }
    }
    h->ready = 1;
    return h->loss;
}

void hvp_apply(Hvp *h, const float *v, float *hv)
{
    const Model *m = h->model;
    const Config *c = &m->cfg;
    HvpBuffers *b = h->buf;
    assert(h->ready && "hvp_apply needs hvp_set_batch first");
    int B = h->B, T = h->T;
    int N = B * T, d = c->dim, f = c->ffn_dim, V = c->vocab_size, H = c->n_heads, KVH = c->n_kv_heads;
    int hd = config_head_dim(c), qd = hd * H, qkvd = qd + 2 * config_kv_dim(c), nl = c->n_layers;
    const Weights *w = &m->w;
    LayerWeights vl[nl], gl[nl];
    Weights vw, g;
    weights_bind(&vw, vl, (float *)v, &m->table, m->cfg.tied);
    weights_bind(&g, gl, hv, &m->table, m->cfg.tied);
    memset(hv, 0, h->n * sizeof(float));
    if (h->n_counted <= 0) return;   /* no counted position: the loss is constant */
    int team = team_size(b, N, c);

    /* One parallel region: each thread runs its rows through the tangent
     * forward and backward; threads meet around attention (unless aligned)
     * and once per layer in the backward, before the weight products. */
#pragma omp parallel num_threads(team)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        Share s = share_of(t, nt, B, T, H, KVH);
        size_t n0 = (size_t)s.n0;
        int rows = s.n1 - s.n0;
        int c0 = split(d, t, nt), c1 = split(d, t + 1, nt);
        float *scratch = b->att_scratch + (size_t)t * ROP_ATT_SCRATCH;

        /* Tangent forward. */
        embedding_forward(b->layers[0].Rres + n0 * d, b->tokens + n0, vw.embed, rows, d);
        for (int l = 0; l < nl; l++) {
            HvpLayer *L = &b->layers[l];
            const LayerWeights *lw = &w->layers[l], *lv = &vl[l];
            float *Rres_out = l + 1 < nl ? b->layers[l + 1].Rres : b->Rres_f;
            rmsnorm_rforward(L->Rxn1 + n0 * d, L->Rr1 + n0, L->res + n0 * d, L->Rres + n0 * d, lw->attn_norm,
                             lv->attn_norm, L->r1 + n0, rows, d);
            linear_rforward(L->Rqkv + n0 * qkvd, L->xn1 + n0 * d, L->Rxn1 + n0 * d, lw->wq, lv->wq, rows, d, qkvd, 0.0f);
            rope_forward(L->Rqkv + n0 * qkvd, qkvd, b->rope_cos, b->rope_sin, s.n0, rows, T, H + KVH, hd);
            if (!s.aligned) {
#pragma omp barrier
            }
            attention_rforward(L->Rattout, L->Rdot, L->qkv, L->Rqkv, L->attout, L->lse, scratch, T, H, KVH, hd, s.att0,
                               s.att1);
            if (!s.aligned) {
#pragma omp barrier
            }
            memcpy(L->Rres2 + n0 * d, L->Rres + n0 * d, (size_t)rows * d * sizeof(float));
            linear_rforward(L->Rres2 + n0 * d, L->attout + n0 * qd, L->Rattout + n0 * qd, lw->wo, lv->wo, rows, qd, d,
                            1.0f);
            rmsnorm_rforward(L->Rxn2 + n0 * d, L->Rr2 + n0, L->res2 + n0 * d, L->Rres2 + n0 * d, lw->mlp_norm,
                             lv->mlp_norm, L->r2 + n0, rows, d);
            linear_rforward(L->Rgu + n0 * 2 * f, L->xn2 + n0 * d, L->Rxn2 + n0 * d, lw->w_gate, lv->w_gate, rows, d,
                            2 * f, 0.0f);
            swiglu_rforward(L->Rh + n0 * f, L->gu + n0 * 2 * f, L->Rgu + n0 * 2 * f, rows, f);
            memcpy(Rres_out + n0 * d, L->Rres2 + n0 * d, (size_t)rows * d * sizeof(float));
            linear_rforward(Rres_out + n0 * d, L->h + n0 * f, L->Rh + n0 * f, lw->w_down, lv->w_down, rows, f, d, 1.0f);
        }
        rmsnorm_rforward(b->Rxn_f + n0 * d, b->Rr_f + n0, b->res_f + n0 * d, b->Rres_f + n0 * d, w->final_norm,
                         vw.final_norm, b->r_f + n0, rows, d);
        linear_rforward(b->Rz + n0 * V, b->xn_f + n0 * d, b->Rxn_f + n0 * d, w->lm_head, vw.lm_head, rows, d, V, 0.0f);

        /* Tangent backward. Head and final norm: */
        crossentropy_rbackward(b->Rz + n0 * V, b->probs + n0 * V, b->c + n0, rows, V);   /* Rz is now R{dz} */
        linear_rbackward_input(b->Rdxn_f + n0 * d, b->dz + n0 * V, b->Rz + n0 * V, w->lm_head, vw.lm_head, rows, d, V,
                               0.0f);
        float *Rtop = b->layers[nl - 1].Rdout;
        memset(Rtop + n0 * d, 0, (size_t)rows * d * sizeof(float));
        rmsnorm_rbackward_input(Rtop + n0 * d, b->dxn_f + n0 * d, b->Rdxn_f + n0 * d, b->res_f + n0 * d,
                                b->Rres_f + n0 * d, w->final_norm, vw.final_norm, b->r_f + n0, b->Rr_f + n0, rows, d);
#pragma omp barrier
        /* When tied, lm_head's product is the embedding's (written here, and
         * by columns at the end, with barriers between). */
        linear_rbackward_weight(g.lm_head, b->dz, b->Rz, b->xn_f, b->Rxn_f, N, d, V, split(V, t, nt),
                                split(V, t + 1, nt));
        rmsnorm_rbackward_weight(g.final_norm, b->dxn_f, b->Rdxn_f, b->res_f, b->Rres_f, b->r_f, b->Rr_f, N, d, c0, c1);

        for (int l = nl - 1; l >= 0; l--) {
            HvpLayer *L = &b->layers[l];
            const LayerWeights *lw = &w->layers[l], *lv = &vl[l];
            LayerWeights *lg = &gl[l];
            float *Rdin = l > 0 ? b->layers[l - 1].Rdout : b->Rdin;
            /* Rows: MLP block (L->Rdout is R{d res_out}) */
            linear_rbackward_input(b->Rdh + n0 * f, L->dout + n0 * d, L->Rdout + n0 * d, lw->w_down, lv->w_down, rows, f,
                                   d, 0.0f);
            swiglu_rbackward(L->Rdgu + n0 * 2 * f, L->dh + n0 * f, b->Rdh + n0 * f, L->gu + n0 * 2 * f,
                             L->Rgu + n0 * 2 * f, rows, f);
            linear_rbackward_input(L->Rdxn2 + n0 * d, L->dgu + n0 * 2 * f, L->Rdgu + n0 * 2 * f, lw->w_gate,
                                   lv->w_gate, rows, d, 2 * f, 0.0f);
            memcpy(L->Rdres2 + n0 * d, L->Rdout + n0 * d, (size_t)rows * d * sizeof(float));
            rmsnorm_rbackward_input(L->Rdres2 + n0 * d, L->dxn2 + n0 * d, L->Rdxn2 + n0 * d, L->res2 + n0 * d,
                                    L->Rres2 + n0 * d, lw->mlp_norm, lv->mlp_norm, L->r2 + n0, L->Rr2 + n0, rows, d);
            /* attention block */
            linear_rbackward_input(b->Rdattout + n0 * qd, L->dres2 + n0 * d, L->Rdres2 + n0 * d, lw->wo, lv->wo, rows,
                                   qd, d, 0.0f);
            if (!s.aligned) {
#pragma omp barrier
            }
            attention_rbackward(L->Rdqkv, scratch, L->dattout, b->Rdattout, L->qkv, L->Rqkv, L->attout, L->Rattout,
                                L->lse, L->Rdot, T, H, KVH, hd, s.katt0, s.katt1);
            if (!s.aligned) {
#pragma omp barrier
            }
            rope_backward(L->Rdqkv + n0 * qkvd, qkvd, b->rope_cos, b->rope_sin, s.n0, rows, T, H + KVH, hd);
            linear_rbackward_input(L->Rdxn1 + n0 * d, L->dqkv + n0 * qkvd, L->Rdqkv + n0 * qkvd, lw->wq, lv->wq, rows,
                                   d, qkvd, 0.0f);
            memcpy(Rdin + n0 * d, L->Rdres2 + n0 * d, (size_t)rows * d * sizeof(float));
            rmsnorm_rbackward_input(Rdin + n0 * d, L->dxn1 + n0 * d, L->Rdxn1 + n0 * d, L->res + n0 * d,
                                    L->Rres + n0 * d, lw->attn_norm, lv->attn_norm, L->r1 + n0, L->Rr1 + n0, rows, d);
#pragma omp barrier
            /* Weight products over all rows, each thread a slice of output rows (or columns). */
            linear_rbackward_weight(lg->w_down, L->dout, L->Rdout, L->h, L->Rh, N, f, d, split(d, t, nt),
                                    split(d, t + 1, nt));
            linear_rbackward_weight(lg->w_gate, L->dgu, L->Rdgu, L->xn2, L->Rxn2, N, d, 2 * f, split(2 * f, t, nt),
                                    split(2 * f, t + 1, nt));
            linear_rbackward_weight(lg->wo, L->dres2, L->Rdres2, L->attout, L->Rattout, N, qd, d, split(d, t, nt),
                                    split(d, t + 1, nt));
            linear_rbackward_weight(lg->wq, L->dqkv, L->Rdqkv, L->xn1, L->Rxn1, N, d, qkvd, split(qkvd, t, nt),
                                    split(qkvd, t + 1, nt));
            rmsnorm_rbackward_weight(lg->mlp_norm, L->dxn2, L->Rdxn2, L->res2, L->Rres2, L->r2, L->Rr2, N, d, c0, c1);
            rmsnorm_rbackward_weight(lg->attn_norm, L->dxn1, L->Rdxn1, L->res, L->Rres, L->r1, L->Rr1, N, d, c0, c1);
        }
        /* b->Rdin is complete: every thread passed the barrier after layer 0's rows. */
        embedding_backward(g.embed, b->Rdin, b->tokens, N, d, c0, c1);
    }
}

void hvp_fn(void *ctx, const float *v, float *hv) { hvp_apply((Hvp *)ctx, v, hv); }
