#include "model/ops.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model/matmul.h"

/* exp(x) for float, within ~2 ulp of expf, written in plain arithmetic so
 * loops calling it vectorise (libm's expf does not without -ffast-math).
 * x = n*ln2 + r with |r| <= ln2/2; e^r by a degree-6 polynomial (Taylor
 * coefficients, minimax-adjusted); 2^n built in the exponent bits. Inputs are
 * clamped to [-87, 88], so results below 1.6e-38 come out as ~1.6e-38
 * instead of denormals or zero -- harmless for softmax and sigmoid. */
static inline float fast_expf(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float shifter = 12582912.0f;              /* 1.5 * 2^23: adding it rounds to an integer */
    float t = x * 1.44269504088896341f + shifter;
    float n = t - shifter;                          /* round(x / ln2) */
    float r = x - n * 0.693145751953125f;           /* ln2 split in two for an exact product */
    r = r - n * 1.428606765330187045e-06f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r * r + r + 1.0f;
    union { float f; int32_t i; } u;
    /* a NaN x (a diverged model's logits) gives n = NaN, whose conversion to
     * int is undefined: use 0, and p, already NaN, makes the result NaN */
    u.i = ((n == n ? (int32_t)n : 0) + 127) << 23;  /* 2^n */
    return p * u.f;
}

/* ---------------------------------------------------------------- embedding */

void embedding_forward(float *out, const int *tokens, const float *embed, int N, int C)
{
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, embed + (size_t)tokens[n] * C, (size_t)C * sizeof(float));
}

void embedding_backward(float *dembed, const float *dout, const int *tokens, int N, int C, int c0, int c1)
{
    /* rows in order: a token repeated in the batch accumulates in a fixed order */
    for (int n = 0; n < N; n++) {
        float *d = dembed + (size_t)tokens[n] * C;
        const float *g = dout + (size_t)n * C;
#pragma omp simd
        for (int c = c0; c < c1; c++) d[c] += g[c];
    }
}

/* ------------------------------------------------------------------ rmsnorm */

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int c = 0; c < C; c++) ss += x[c] * x[c];
        float r = 1.0f / sqrtf(ss / C + eps);
        rstd[n] = r;
#pragma omp simd
        for (int c = 0; c < C; c++) y[c] = x[c] * r * weight[c];
    }
}

void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                      const float *weight, const float *rstd, int N, int C)
{
    /* y = x * r * w, r = (mean(x^2) + eps)^(-1/2):
     * dx = r * (w*dy) - x * r^3 * mean(w*dy*x);  dw = sum_n dy*x*r (one pass) */
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float r = rstd[n], dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int c = 0; c < C; c++) dot += weight[c] * dy[c] * x[c];
        float k = r * r * r * dot / C;
#pragma omp simd
        for (int c = 0; c < C; c++) {
            dx[c] += r * weight[c] * dy[c] - k * x[c];
            dweight[c] += dy[c] * x[c] * r;
        }
    }
}

/* --------------------------------------------------------------------- rope */

void rope_tables(float *cos_t, float *sin_t, int T, int hd, double theta)
{
    int half = hd / 2;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            double freq = pow(theta, -2.0 * i / hd);
            double a = t * freq;
            cos_t[(size_t)t * half + i] = (float)cos(a);
            sin_t[(size_t)t * half + i] = (float)sin(a);
        }
}

static void rope_apply(float *x, int ld, const float *cos_t, const float *sin_t, int row0, int N, int T,
                       int n_heads, int hd, float sign)
{
    int half = hd / 2;
    for (int n = 0; n < N; n++) {
        int t = (row0 + n) % T;
        const float *cs = cos_t + (size_t)t * half, *sn = sin_t + (size_t)t * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)n * ld + (size_t)h * hd;
#pragma omp simd
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half], s = sign * sn[i];
                v[i] = a * cs[i] - b * s;
                v[i + half] = b * cs[i] + a * s;
            }
        }
    }
}

void rope_forward(float *x, int ld, const float *cos_t, const float *sin_t, int row0, int N, int T, int n_heads, int hd)
{
    rope_apply(x, ld, cos_t, sin_t, row0, N, T, n_heads, hd, 1.0f);
}

void rope_backward(float *dx, int ld, const float *cos_t, const float *sin_t, int row0, int N, int T, int n_heads,
                   int hd)
{
    rope_apply(dx, ld, cos_t, sin_t, row0, N, T, n_heads, hd, -1.0f);
}

/* ---------------------------------------------------------------- attention */

/* Causal attention in tiles of ATT_BLOCK query rows x ATT_KBLOCK keys: see
 * ops.h. A tile [r0, r1) x [c0, c1) holds key j < c0 + W for W = c1 - c0;
 * entry (i, j) counts when j <= i. */

/* Number of keys of tile column range [c0, c1) that row i may attend to. */
static inline int tile_valid(int i, int c0, int c1)
{
    int v = (i + 1 < c1 ? i + 1 : c1) - c0;
    return v > 0 ? v : 0;
}

void attention_forward(float *out, float *lse, const float *qkv, float *scratch, int T, int H, int KVH, int hd,
                       int task0, int task1)
{
    int q_dim = H * hd, kv_dim = KVH * hd, ld = q_dim + 2 * kv_dim, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
    float *S = scratch;                          /* [ATT_BLOCK, ATT_KBLOCK] scores, then weights */
    float *mx = S + ATT_BLOCK * ATT_KBLOCK;      /* [ATT_BLOCK] running max */
    float *sum = mx + ATT_BLOCK;                 /* [ATT_BLOCK] running sum of exp(s - mx) */
    for (int bh = task0; bh < task1; bh++) {
        int b = bh / H, h = bh % H, kvh = h / group;
        const float *q = qkv + (size_t)b * T * ld + (size_t)h * hd;
        const float *k = qkv + (size_t)b * T * ld + q_dim + (size_t)kvh * hd;
        const float *v = k + kv_dim;
        float *o = out + (size_t)b * T * q_dim + (size_t)h * hd;
        float *L = lse + (size_t)bh * T;
        for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
            int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T, M = r1 - r0;
            for (int i = 0; i < M; i++) mx[i] = -INFINITY, sum[i] = 0;
            for (int c0 = 0; c0 < r1; c0 += ATT_KBLOCK) {
                int c1 = c0 + ATT_KBLOCK < r1 ? c0 + ATT_KBLOCK : r1, W = c1 - c0;
                /* S = q k^T / sqrt(hd)     [M, W] */
                matmul(0, 1, M, W, hd, scale, q + (size_t)r0 * ld, ld, k + (size_t)c0 * ld, ld, 0.0f, S, ATT_KBLOCK);
                for (int i = 0; i < M; i++) {
                    float *row = S + (size_t)i * ATT_KBLOCK, *oi = o + (size_t)(r0 + i) * q_dim;
                    int nv = tile_valid(r0 + i, c0, c1);
                    float m = mx[i];
                    for (int j = 0; j < nv; j++) m = row[j] > m ? row[j] : m;
                    float corr = mx[i] == -INFINITY ? 0.0f : fast_expf(mx[i] - m);   /* rescales the old sum */
                    float s = 0;
#pragma omp simd reduction(+ : s)
                    for (int j = 0; j < nv; j++) {
                        float e = fast_expf(row[j] - m);
                        row[j] = e;
                        s += e;
                    }
                    for (int j = nv; j < W; j++) row[j] = 0;
                    if (nv > 0) {
                        mx[i] = m;
                        sum[i] = sum[i] * corr + s;
                        if (c0 > 0)
                            for (int c = 0; c < hd; c++) oi[c] *= corr;
                    }
                }
                /* o = o * corr + P v      [M, hd] */
                matmul(0, 0, M, hd, W, 1.0f, S, ATT_KBLOCK, v + (size_t)c0 * ld, ld, c0 > 0 ? 1.0f : 0.0f,
                       o + (size_t)r0 * q_dim, q_dim);
            }
            for (int i = 0; i < M; i++) {
                float *oi = o + (size_t)(r0 + i) * q_dim, inv = 1.0f / sum[i];
                for (int c = 0; c < hd; c++) oi[c] *= inv;
                L[r0 + i] = mx[i] + logf(sum[i]);
            }
        }
    }
}

/* P = exp(q k^T / sqrt(hd) - lse) of one tile, zero where j > i. */
void attention_tile_probs(float *P, const float *q, const float *k, int ld, const float *lse, int r0, int r1, int c0,
                          int c1, int hd)
{
    int M = r1 - r0, W = c1 - c0;
    matmul(0, 1, M, W, hd, 1.0f / sqrtf((float)hd), q + (size_t)r0 * ld, ld, k + (size_t)c0 * ld, ld, 0.0f, P,
           ATT_KBLOCK);
    for (int i = 0; i < M; i++) {
        float *row = P + (size_t)i * ATT_KBLOCK, l = lse[r0 + i];
        int nv = tile_valid(r0 + i, c0, c1);
#pragma omp simd
        for (int j = 0; j < nv; j++) row[j] = fast_expf(row[j] - l);
        for (int j = nv; j < W; j++) row[j] = 0;
    }
}

/* Rows of dq, dk, dv of one kv head: zeroed (hd columns of each of T rows). */
static void zero_rows(float *x, int ld, int T, int hd)
{
    for (int i = 0; i < T; i++) memset(x + (size_t)i * ld, 0, (size_t)hd * sizeof(float));
}

void attention_backward(float *dqkv, float *scratch, const float *dout, const float *out, const float *lse,
                        const float *qkv, int T, int H, int KVH, int hd, int task0, int task1)
{
    int q_dim = H * hd, kv_dim = KVH * hd, ld = q_dim + 2 * kv_dim, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
    float *P = scratch;                              /* [ATT_BLOCK, ATT_KBLOCK] */
    float *dS = P + ATT_BLOCK * ATT_KBLOCK;          /* [ATT_BLOCK, ATT_KBLOCK] dP, then dS */
    float *D = dS + ATT_BLOCK * ATT_KBLOCK;          /* [ATT_BLOCK] rowdot(P, dP) = dO . O */
    /* One task per (b, kv head): the query heads of a group add into the same
     * dk, dv, so one task owns them and adds in head order. */
    for (int bk = task0; bk < task1; bk++) {
        int b = bk / KVH, kvh = bk % KVH;
        const float *k = qkv + (size_t)b * T * ld + q_dim + (size_t)kvh * hd;
        const float *v = k + kv_dim;
        float *dk = dqkv + (size_t)b * T * ld + q_dim + (size_t)kvh * hd;
        float *dv = dk + kv_dim;
        zero_rows(dk, ld, T, hd);
        zero_rows(dv, ld, T, hd);
        for (int g = 0; g < group; g++) {
            int h = kvh * group + g;
            const float *q = qkv + (size_t)b * T * ld + (size_t)h * hd;
            float *dq = dqkv + (size_t)b * T * ld + (size_t)h * hd;
            const float *dO = dout + (size_t)b * T * q_dim + (size_t)h * hd;
            const float *O = out + (size_t)b * T * q_dim + (size_t)h * hd;
            const float *L = lse + ((size_t)b * H + h) * T;
            for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T, M = r1 - r0;
                for (int i = 0; i < M; i++) {
                    const float *a = dO + (size_t)(r0 + i) * q_dim, *c = O + (size_t)(r0 + i) * q_dim;
                    float dot = 0;
                    for (int e = 0; e < hd; e++) dot += a[e] * c[e];
                    D[i] = dot;
                }
                for (int c0 = 0; c0 < r1; c0 += ATT_KBLOCK) {
                    int c1 = c0 + ATT_KBLOCK < r1 ? c0 + ATT_KBLOCK : r1, W = c1 - c0;
                    attention_tile_probs(P, q, k, ld, L, r0, r1, c0, c1, hd);
                    /* dP = dO v^T     [M, W] */
                    matmul(0, 1, M, W, hd, 1.0f, dO + (size_t)r0 * q_dim, q_dim, v + (size_t)c0 * ld, ld, 0.0f, dS,
                           ATT_KBLOCK);
                    /* softmax backward: dS = P * (dP - D) (zero where P is) */
                    for (int i = 0; i < M; i++) {
                        const float *p = P + (size_t)i * ATT_KBLOCK;
                        float *x = dS + (size_t)i * ATT_KBLOCK, di = D[i];
#pragma omp simd
                        for (int j = 0; j < W; j++) x[j] = p[j] * (x[j] - di);
                    }
                    /* dq (+)= dS k / sqrt(hd)      [M, hd] */
                    matmul(0, 0, M, hd, W, scale, dS, ATT_KBLOCK, k + (size_t)c0 * ld, ld, c0 > 0 ? 1.0f : 0.0f,
                           dq + (size_t)r0 * ld, ld);
                    /* dv += P^T dO                 [W, hd] */
                    matmul(1, 0, W, hd, M, 1.0f, P, ATT_KBLOCK, dO + (size_t)r0 * q_dim, q_dim, 1.0f,
                           dv + (size_t)c0 * ld, ld);
                    /* dk += dS^T q / sqrt(hd)      [W, hd] */
                    matmul(1, 0, W, hd, M, scale, dS, ATT_KBLOCK, q + (size_t)r0 * ld, ld, 1.0f, dk + (size_t)c0 * ld,
                           ld);
                }
            }
        }
    }
}

/* ------------------------------------------------------------------- swiglu */

void swiglu_forward(float *h, const float *gu, int N, int F)
{
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F;
        float *o = h + (size_t)n * F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float s = 1.0f / (1.0f + fast_expf(-g[i]));
            o[i] = g[i] * s * u[i];
        }
    }
}

void swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F)
{
    /* h = g*sigmoid(g)*u: dh/du = silu(g); dh/dg = u * s * (1 + g*(1-s)) */
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F, *d = dh + (size_t)n * F;
        float *dg = dgu + (size_t)n * 2 * F, *du = dg + F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float s = 1.0f / (1.0f + fast_expf(-g[i]));
            du[i] = d[i] * g[i] * s;
            dg[i] = d[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
        }
    }
}

/* ------------------------------------------------------------------- linear */

void linear_forward(float *out, const float *inp, const float *w, int N, int C, int OC, float beta)
{
    matmul(0, 1, N, OC, C, 1.0f, inp, C, w, C, beta, out, OC);
}

void linear_backward_input(float *dinp, const float *dout, const float *w, int N, int C, int OC, float beta)
{
    matmul(0, 0, N, C, OC, 1.0f, dout, OC, w, C, beta, dinp, C);
}

void linear_backward_weight(float *dw, const float *dout, const float *inp, int N, int C, int OC, int o0, int o1)
{
    if (o1 <= o0) return;
    /* dw[o0:o1] += dout[:, o0:o1]^T inp     [o1-o0, C] */
    matmul(1, 0, o1 - o0, C, N, 1.0f, dout + o0, OC, inp, C, 1.0f, dw + (size_t)o0 * C, C);
}

/* ------------------------------------------------------------ cross-entropy */

void crossentropy_forward(float *losses, float *lse, const float *logits, const int *targets, int N, int V)
{
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float mx = z[0];
#pragma omp simd reduction(max : mx)
        for (int i = 0; i < V; i++) mx = z[i] > mx ? z[i] : mx;
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int i = 0; i < V; i++) sum += fast_expf(z[i] - mx);
        float l = mx + logf(sum);
        lse[n] = l;
        losses[n] = targets ? l - z[targets[n]] : 0.0f;
    }
}

void crossentropy_backward(float *dlogits, const float *logits, const float *lse, const int *targets,
                           const float *weight, int N, int V)
{
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float *d = dlogits + (size_t)n * V;
        float w = weight[n], l = lse[n];
        if (w == 0.0f) {
            memset(d, 0, (size_t)V * sizeof(float));
            continue;
        }
#pragma omp simd
        for (int i = 0; i < V; i++) d[i] = w * fast_expf(z[i] - l);
        d[targets[n]] -= w;
    }
}
