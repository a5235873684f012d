#include "model/ops.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "model/matmul.h"

/* ---------------------------------------------------------------- embedding */

void embedding_forward(float *out, const int *tokens, const float *embed, int N, int C)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, embed + (size_t)tokens[n] * C, (size_t)C * sizeof(float));
}

void embedding_backward(float *dembed, const float *dout, const int *tokens, int N, int C)
{
    /* Parallel over column blocks; each thread walks all rows in order, so
     * repeated tokens accumulate in a fixed order. */
    int blocks = (C + 15) / 16;
#pragma omp parallel for schedule(static)
    for (int cb = 0; cb < blocks; cb++) {
        int c0 = cb * 16, c1 = c0 + 16 < C ? c0 + 16 : C;
        for (int n = 0; n < N; n++) {
            float *d = dembed + (size_t)tokens[n] * C;
            const float *g = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) d[c] += g[c];
        }
    }
}

/* ------------------------------------------------------------------ rmsnorm */

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps)
{
#pragma omp parallel for schedule(static)
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
     * dx = r * (w*dy) - x * r^3 * mean(w*dy*x) */
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
            float *dx = dinp + (size_t)n * C;
            float r = rstd[n], dot = 0;
#pragma omp simd reduction(+ : dot)
            for (int c = 0; c < C; c++) dot += weight[c] * dy[c] * x[c];
            float k = r * r * r * dot / C;
#pragma omp simd
            for (int c = 0; c < C; c++) dx[c] += r * weight[c] * dy[c] - k * x[c];
        }
        /* dweight: parallel over column blocks, rows in order. */
        int blocks = (C + 15) / 16;
#pragma omp for schedule(static)
        for (int cb = 0; cb < blocks; cb++) {
            int c0 = cb * 16, c1 = c0 + 16 < C ? c0 + 16 : C;
            float acc[16] = {0};
            for (int n = 0; n < N; n++) {
                const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
                float r = rstd[n];
                for (int c = c0; c < c1; c++) acc[c - c0] += dy[c] * x[c] * r;
            }
            for (int c = c0; c < c1; c++) dweight[c] += acc[c - c0];
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

static void rope_apply(float *x, int ld, const float *cos_t, const float *sin_t, int B, int T, int n_heads,
                       int hd, float sign)
{
    int half = hd / 2;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < B * T; n++) {
        int t = n % T;
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

void rope_forward(float *x, int ld, const float *cos_t, const float *sin_t, int B, int T, int n_heads, int hd)
{
    rope_apply(x, ld, cos_t, sin_t, B, T, n_heads, hd, 1.0f);
}

void rope_backward(float *dx, int ld, const float *cos_t, const float *sin_t, int B, int T, int n_heads, int hd)
{
    rope_apply(dx, ld, cos_t, sin_t, B, T, n_heads, hd, -1.0f);
}

/* ---------------------------------------------------------------- attention */

/* In place on S [T,T] (already scaled): row i becomes softmax over j <= i,
 * zero for j > i. */
static void causal_softmax(float *S, int T)
{
    for (int i = 0; i < T; i++) {
        float *row = S + (size_t)i * T;
        float mx = row[0];
        for (int j = 1; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
        float sum = 0;
        for (int j = 0; j <= i; j++) {
            float e = expf(row[j] - mx);
            row[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (int j = 0; j <= i; j++) row[j] *= inv;
        for (int j = i + 1; j < T; j++) row[j] = 0;
    }
}

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int H, int KVH, int hd)
{
    int q_dim = H * hd, kv_dim = KVH * hd, ld = q_dim + 2 * kv_dim, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
    /* BLAS runs single-threaded inside this region; the (b, h) tasks are the parallelism. */
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H, kvh = h / group;
        const float *q = qkv + (size_t)b * T * ld + (size_t)h * hd;
        const float *k = qkv + (size_t)b * T * ld + q_dim + (size_t)kvh * hd;
        const float *v = k + kv_dim;
        float *S = att + (size_t)bh * T * T;
        float *o = out + (size_t)b * T * q_dim + (size_t)h * hd;
        matmul(0, 1, T, T, hd, scale, q, ld, k, ld, 0.0f, S, T);   /* S = q k^T / sqrt(hd)   [T,T] */
        causal_softmax(S, T);
        matmul(0, 0, T, hd, T, 1.0f, S, T, v, ld, 0.0f, o, q_dim); /* o = P v                [T,hd] */
    }
}

void attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv, const float *att,
                        int B, int T, int H, int KVH, int hd)
{
    int q_dim = H * hd, kv_dim = KVH * hd, ld = q_dim + 2 * kv_dim, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
    /* Parallel over (b, kv head): the query heads of a group add into the same
     * dk, dv, so one task owns them and adds in head order. */
#pragma omp parallel for schedule(static)
    for (int bk = 0; bk < B * KVH; bk++) {
        int b = bk / KVH, kvh = bk % KVH;
        float *dP = scratch + (size_t)omp_get_thread_num() * T * T;
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
            matmul(0, 1, T, T, hd, 1.0f, dO, q_dim, v, ld, 0.0f, dP, T);  /* dP = dO v^T    [T,T]  */
            matmul(1, 0, T, hd, T, 1.0f, P, T, dO, q_dim, beta, dv, ld);  /* dv += P^T dO   [T,hd] */
            /* softmax backward: dS = P * (dP - sum_j P dP), rows only up to the diagonal */
            for (int i = 0; i < T; i++) {
                const float *p = P + (size_t)i * T;
                float *d = dP + (size_t)i * T;
                float dot = 0;
                for (int j = 0; j <= i; j++) dot += p[j] * d[j];
                for (int j = 0; j <= i; j++) d[j] = p[j] * (d[j] - dot);
                for (int j = i + 1; j < T; j++) d[j] = 0;
            }
            matmul(0, 0, T, hd, T, scale, dP, T, k, ld, 0.0f, dq, ld);    /* dq = dS k / sqrt(hd)  */
            matmul(1, 0, T, hd, T, scale, dP, T, q, ld, beta, dk, ld);    /* dk += dS^T q / sqrt(hd) */
        }
    }
}

/* ------------------------------------------------------------------- swiglu */

void swiglu_forward(float *h, const float *gu, int N, int F)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F;
        float *o = h + (size_t)n * F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float s = 1.0f / (1.0f + expf(-g[i]));
            o[i] = g[i] * s * u[i];
        }
    }
}

void swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F)
{
    /* h = g*sigmoid(g)*u: dh/du = silu(g); dh/dg = u * s * (1 + g*(1-s)) */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F, *d = dh + (size_t)n * F;
        float *dg = dgu + (size_t)n * 2 * F, *du = dg + F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float s = 1.0f / (1.0f + expf(-g[i]));
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

void linear_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                     int N, int C, int OC, float beta_inp)
{
    matmul(0, 0, N, C, OC, 1.0f, dout, OC, w, C, beta_inp, dinp, C);  /* dinp = dout w      [N,C]  */
    matmul(1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw, C);      /* dw += dout^T inp   [OC,C] */
}

/* ------------------------------------------------------------ cross-entropy */

void crossentropy_forward(float *losses, float *lse, const float *logits, const int *targets, int N, int V)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float mx = z[0];
        for (int i = 1; i < V; i++) mx = z[i] > mx ? z[i] : mx;
        float sum = 0;
        for (int i = 0; i < V; i++) sum += expf(z[i] - mx);
        float l = mx + logf(sum);
        lse[n] = l;
        losses[n] = targets ? l - z[targets[n]] : 0.0f;
    }
}

void crossentropy_backward(float *dlogits, const float *logits, const float *lse, const int *targets,
                           const float *weight, int N, int V)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float *d = dlogits + (size_t)n * V;
        float w = weight[n], l = lse[n];
        if (w == 0.0f) {
            memset(d, 0, (size_t)V * sizeof(float));
            continue;
        }
        for (int i = 0; i < V; i++) d[i] = w * expf(z[i] - l);
        d[targets[n]] -= w;
    }
}
