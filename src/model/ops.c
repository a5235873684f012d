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
    u.i = ((int32_t)n + 127) << 23;                 /* 2^n */
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

/* Causal attention blocks: see ATT_BLOCK in ops.h. */

/* Rows [r0, r1) of S (stride T, already scaled): row i becomes the softmax
 * over j <= i, zero for i < j < r1. */
static void causal_softmax_rows(float *S, int T, int r0, int r1)
{
    for (int i = r0; i < r1; i++) {
        float *row = S + (size_t)i * T;
        float mx = row[0];
#pragma omp simd reduction(max : mx)
        for (int j = 0; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j <= i; j++) {
            float e = fast_expf(row[j] - mx);
            row[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j <= i; j++) row[j] *= inv;
        for (int j = i + 1; j < r1; j++) row[j] = 0;
    }
}

void attention_forward(float *out, float *att, const float *qkv, int T, int H, int KVH, int hd, int task0, int task1)
{
    int q_dim = H * hd, kv_dim = KVH * hd, ld = q_dim + 2 * kv_dim, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
    for (int bh = task0; bh < task1; bh++) {
        int b = bh / H, h = bh % H, kvh = h / group;
        const float *q = qkv + (size_t)b * T * ld + (size_t)h * hd;
        const float *k = qkv + (size_t)b * T * ld + q_dim + (size_t)kvh * hd;
        const float *v = k + kv_dim;
        float *S = att + (size_t)bh * T * T;
        float *o = out + (size_t)b * T * q_dim + (size_t)h * hd;
        for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
            int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T, M = r1 - r0;
            float *Sr = S + (size_t)r0 * T;
            /* S = q k^T / sqrt(hd)     [M, r1] */
            matmul(0, 1, M, r1, hd, scale, q + (size_t)r0 * ld, ld, k, ld, 0.0f, Sr, T);
            causal_softmax_rows(S, T, r0, r1);
            /* o = P v                  [M, hd] */
            matmul(0, 0, M, hd, r1, 1.0f, Sr, T, v, ld, 0.0f, o + (size_t)r0 * q_dim, q_dim);
        }
    }
}

void attention_backward(float *dqkv, float *dP_keep, float *scratch, const float *dout, const float *qkv,
                        const float *att, int T, int H, int KVH, int hd, int task0, int task1)
{
    int q_dim = H * hd, kv_dim = KVH * hd, ld = q_dim + 2 * kv_dim, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
    /* One task per (b, kv head): the query heads of a group add into the same
     * dk, dv, so one task owns them and adds in head order. */
    for (int bk = task0; bk < task1; bk++) {
        int b = bk / KVH, kvh = bk % KVH;
        float *dS = scratch;
        const float *k = qkv + (size_t)b * T * ld + q_dim + (size_t)kvh * hd;
        const float *v = k + kv_dim;
        float *dk = dqkv + (size_t)b * T * ld + q_dim + (size_t)kvh * hd;
        float *dv = dk + kv_dim;
        for (int g = 0; g < group; g++) {
            int h = kvh * group + g;
            const float *q = qkv + (size_t)b * T * ld + (size_t)h * hd;
            float *dq = dqkv + (size_t)b * T * ld + (size_t)h * hd;
            const float *P = att + ((size_t)b * H + h) * T * T;
            const float *dO = dout + (size_t)b * T * q_dim + (size_t)h * hd;
            float beta = g == 0 ? 0.0f : 1.0f;
            /* dP is kept per head when asked for, else computed in place in dS. */
            float *dP = dP_keep ? dP_keep + ((size_t)b * H + h) * T * T : dS;
            for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T, M = r1 - r0;
                /* dP = dO v^T     [M, r1] */
                matmul(0, 1, M, r1, hd, 1.0f, dO + (size_t)r0 * q_dim, q_dim, v, ld, 0.0f, dP + (size_t)r0 * T, T);
                /* softmax backward: dS = P * (dP - sum_j P dP) up to the diagonal */
                for (int i = r0; i < r1; i++) {
                    const float *p = P + (size_t)i * T;
                    float *d = dP + (size_t)i * T, *o = dS + (size_t)i * T;
                    float dot = 0;
#pragma omp simd reduction(+ : dot)
                    for (int j = 0; j <= i; j++) dot += p[j] * d[j];
#pragma omp simd
                    for (int j = 0; j <= i; j++) o[j] = p[j] * (d[j] - dot);
                    for (int j = i + 1; j < r1; j++) o[j] = d[j] = 0;
                }
                /* dq = dS k / sqrt(hd)     [M, hd] */
                matmul(0, 0, M, hd, r1, scale, dS + (size_t)r0 * T, T, k, ld, 0.0f, dq + (size_t)r0 * ld, ld);
            }
            /* Column block [c0, c1) of P and dS is non-zero in rows [c0, T). */
            for (int c0 = 0; c0 < T; c0 += ATT_BLOCK) {
                int c1 = c0 + ATT_BLOCK < T ? c0 + ATT_BLOCK : T, Mc = c1 - c0, R = T - c0;
                /* dv += P^T dO               [Mc, hd] */
                matmul(1, 0, Mc, hd, R, 1.0f, P + (size_t)c0 * T + c0, T, dO + (size_t)c0 * q_dim, q_dim, beta,
                       dv + (size_t)c0 * ld, ld);
                /* dk += dS^T q / sqrt(hd)    [Mc, hd] */
                matmul(1, 0, Mc, hd, R, scale, dS + (size_t)c0 * T + c0, T, q + (size_t)c0 * ld, ld, beta,
                       dk + (size_t)c0 * ld, ld);
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
