#include "probe/rop.h"

#include <math.h>
#include <string.h>

#include "model/matmul.h"

/* ------------------------------------------------------------------ rmsnorm */

void rmsnorm_rforward(float *Ry, float *Rr, const float *x, const float *Rx, const float *w, const float *Vw,
                      const float *r, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C, *rx = Rx + (size_t)n * C;
        float *ry = Ry + (size_t)n * C;
        float rn = r[n], dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int c = 0; c < C; c++) dot += xn[c] * rx[c];
        float rr = -rn * rn * rn * dot / C;   /* R{r} = -r^3 mean(x Rx) */
        Rr[n] = rr;
#pragma omp simd
        for (int c = 0; c < C; c++) ry[c] = (rx[c] * rn + xn[c] * rr) * w[c] + xn[c] * rn * Vw[c];
    }
}

void rmsnorm_rbackward_input(float *Rdx, const float *dy, const float *Rdy, const float *x, const float *Rx,
                             const float *w, const float *Vw, const float *r, const float *Rr, int N, int C)
{
    /* dx = r w dy - k x, k = r^3 m, m = mean(w dy x):
     * R{dx} = Rr w dy + r Vw dy + r w Rdy - Rk x - k Rx,
     * Rk = 3 r^2 Rr m + r^3 mean(Vw dy x + w Rdy x + w dy Rx). */
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C, *rx = Rx + (size_t)n * C;
        const float *g = dy + (size_t)n * C, *rg = Rdy + (size_t)n * C;
        float *out = Rdx + (size_t)n * C;
        float rn = r[n], rr = Rr[n], m = 0, rm = 0;
#pragma omp simd reduction(+ : m, rm)
        for (int c = 0; c < C; c++) {
            m += w[c] * g[c] * xn[c];
            rm += Vw[c] * g[c] * xn[c] + w[c] * rg[c] * xn[c] + w[c] * g[c] * rx[c];
        }
        m /= C;
        rm /= C;
        float k = rn * rn * rn * m;
        float rk = 3.0f * rn * rn * rr * m + rn * rn * rn * rm;
#pragma omp simd
        for (int c = 0; c < C; c++)
            out[c] += rr * w[c] * g[c] + rn * (Vw[c] * g[c] + w[c] * rg[c]) - rk * xn[c] - k * rx[c];
    }
}

void rmsnorm_rbackward_weight(float *HVw, const float *dy, const float *Rdy, const float *x, const float *Rx,
                              const float *r, const float *Rr, int N, int C, int c0, int c1)
{
    for (int cb = c0; cb < c1; cb += 16) {   /* 16 columns at a time, rows in order */
        int ce = cb + 16 < c1 ? cb + 16 : c1;
        float acc[16] = {0};
        for (int n = 0; n < N; n++) {
            const float *xn = x + (size_t)n * C, *rx = Rx + (size_t)n * C;
            const float *g = dy + (size_t)n * C, *rg = Rdy + (size_t)n * C;
            float rn = r[n], rr = Rr[n];
            for (int c = cb; c < ce; c++) acc[c - cb] += (rg[c] * xn[c] + g[c] * rx[c]) * rn + g[c] * xn[c] * rr;
        }
        for (int c = cb; c < ce; c++) HVw[c] += acc[c - cb];
    }
}

/* ------------------------------------------------------------------- linear */

void linear_rforward(float *Ry, const float *x, const float *Rx, const float *W, const float *VW, int N, int C,
                     int OC, float beta)
{
    matmul(0, 1, N, OC, C, 1.0f, Rx, C, W, C, beta, Ry, OC);   /* Ry = Rx W^T + beta Ry  [N,OC] */
    matmul(0, 1, N, OC, C, 1.0f, x, C, VW, C, 1.0f, Ry, OC);   /* Ry += x VW^T           [N,OC] */
}

void linear_rbackward_input(float *Rdx, const float *dy, const float *Rdy, const float *W, const float *VW, int N,
                            int C, int OC, float beta)
{
    matmul(0, 0, N, C, OC, 1.0f, Rdy, OC, W, C, beta, Rdx, C);  /* Rdx = Rdy W + beta Rdx  [N,C] */
    matmul(0, 0, N, C, OC, 1.0f, dy, OC, VW, C, 1.0f, Rdx, C);  /* Rdx += dy VW            [N,C] */
}

void linear_rbackward_weight(float *HVW, const float *dy, const float *Rdy, const float *x, const float *Rx, int N,
                             int C, int OC, int o0, int o1)
{
    if (o1 <= o0) return;
    float *out = HVW + (size_t)o0 * C;
    matmul(1, 0, o1 - o0, C, N, 1.0f, Rdy + o0, OC, x, C, 1.0f, out, C);  /* += Rdy^T x  [o1-o0, C] */
    matmul(1, 0, o1 - o0, C, N, 1.0f, dy + o0, OC, Rx, C, 1.0f, out, C);  /* += dy^T Rx           */
}

/* ------------------------------------------------------------------- swiglu */

void swiglu_rforward(float *Rh, const float *gu, const float *Rgu, int N, int F)
{
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F;
        const float *rg = Rgu + (size_t)n * 2 * F, *ru = rg + F;
        float *o = Rh + (size_t)n * F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float s = 1.0f / (1.0f + expf(-g[i]));
            float a = s * (1.0f + g[i] * (1.0f - s));   /* silu'(g) */
            o[i] = a * rg[i] * u[i] + g[i] * s * ru[i];
        }
    }
}

void swiglu_rbackward(float *Rdgu, const float *dh, const float *Rdh, const float *gu, const float *Rgu, int N, int F)
{
    /* du = dh silu(g), dg = dh u a(g), a = silu', a' = s(1-s)(2 + g(1-2s)):
     * R{du} = Rdh silu + dh a Rg;  R{dg} = (Rdh u + dh Ru) a + dh u a' Rg. */
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F;
        const float *rg = Rgu + (size_t)n * 2 * F, *ru = rg + F;
        const float *d = dh + (size_t)n * F, *rd = Rdh + (size_t)n * F;
        float *odg = Rdgu + (size_t)n * 2 * F, *odu = odg + F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float s = 1.0f / (1.0f + expf(-g[i]));
            float a = s * (1.0f + g[i] * (1.0f - s));
            float a1 = s * (1.0f - s) * (2.0f + g[i] * (1.0f - 2.0f * s));
            odu[i] = rd[i] * g[i] * s + d[i] * a * rg[i];
            odg[i] = (rd[i] * u[i] + d[i] * ru[i]) * a + d[i] * u[i] * a1 * rg[i];
        }
    }
}

/* ---------------------------------------------------------------- attention */

/* Causal: only the lower triangle is computed, in row blocks of
 * ROP_ATT_BLOCK. A row pass over block [r0, r1) uses keys [0, r1); a column
 * pass over block [c0, c1) uses rows [c0, T). Every [T,T] array (P, R{P},
 * dP, dS, their tangents) must therefore hold zeros at i < j < (the end of
 * i's block): attention_zero_above_diagonal gives P that form, and the
 * kernels below write theirs that way. */

void attention_zero_above_diagonal(float *att, int T, int task0, int task1)
{
    for (int bh = task0; bh < task1; bh++) {
        float *P = att + (size_t)bh * T * T;
        for (int i = 0; i < T; i++) {
            int end = (i / ROP_ATT_BLOCK + 1) * ROP_ATT_BLOCK;
            if (end > T) end = T;
            for (int j = i + 1; j < end; j++) P[(size_t)i * T + j] = 0;
        }
    }
}

void attention_rforward(float *Rout, float *Ratt, const float *qkv, const float *Rqkv, const float *att,
                        int T, int H, int KVH, int hd, int task0, int task1)
{
    int q_dim = H * hd, kv_dim = KVH * hd, ld = q_dim + 2 * kv_dim, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
    for (int bh = task0; bh < task1; bh++) {
        int b = bh / H, h = bh % H, kvh = h / group;
        size_t base = (size_t)b * T * ld;
        const float *q = qkv + base + (size_t)h * hd, *Rq = Rqkv + base + (size_t)h * hd;
        const float *k = qkv + base + q_dim + (size_t)kvh * hd, *Rk = Rqkv + base + q_dim + (size_t)kvh * hd;
        const float *v = k + kv_dim, *Rv = Rk + kv_dim;
        const float *P = att + (size_t)bh * T * T;
        float *RP = Ratt + (size_t)bh * T * T;
        float *Ro = Rout + (size_t)b * T * q_dim + (size_t)h * hd;
        for (int r0 = 0; r0 < T; r0 += ROP_ATT_BLOCK) {
            int r1 = r0 + ROP_ATT_BLOCK < T ? r0 + ROP_ATT_BLOCK : T, M = r1 - r0;
            float *RPr = RP + (size_t)r0 * T;
            /* RS = (Rq k^T + q Rk^T) / sqrt(hd)    [M, r1] */
            matmul(0, 1, M, r1, hd, scale, Rq + (size_t)r0 * ld, ld, k, ld, 0.0f, RPr, T);
            matmul(0, 1, M, r1, hd, scale, q + (size_t)r0 * ld, ld, Rk, ld, 1.0f, RPr, T);
            /* R{softmax}: RP = P (RS - rowdot(P, RS)) over j <= i */
            for (int i = r0; i < r1; i++) {
                const float *p = P + (size_t)i * T;
                float *row = RP + (size_t)i * T;
                float dot = 0;
#pragma omp simd reduction(+ : dot)
                for (int j = 0; j <= i; j++) dot += p[j] * row[j];
#pragma omp simd
                for (int j = 0; j <= i; j++) row[j] = p[j] * (row[j] - dot);
                for (int j = i + 1; j < r1; j++) row[j] = 0;
            }
            /* Ro = RP v + P Rv    [M, hd] */
            matmul(0, 0, M, hd, r1, 1.0f, RPr, T, v, ld, 0.0f, Ro + (size_t)r0 * q_dim, q_dim);
            matmul(0, 0, M, hd, r1, 1.0f, P + (size_t)r0 * T, T, Rv, ld, 1.0f, Ro + (size_t)r0 * q_dim, q_dim);
        }
    }
}

void attention_rbackward(float *Rdqkv, float *scratch, const float *dout, const float *Rdout, const float *qkv,
                         const float *Rqkv, const float *att, const float *Ratt, const float *dP_all,
                         int T, int H, int KVH, int hd, int task0, int task1)
{
    /* Primal, per head: dP = dO v^T, dv = P^T dO, dS = P (dP - rowdot(P, dP)),
     * dq = dS k s, dk = dS^T q s. Tangents:
     *   RdP = RdO v^T + dO Rv^T,  Rdv = RP^T dO + P^T RdO,
     *   RdS = RP (dP - dot) + P (RdP - Rdot),  Rdot = rowdot(RP, dP) + rowdot(P, RdP),
     *   Rdq = (RdS k + dS Rk) s,  Rdk = (RdS^T q + dS^T Rq) s. */
    int q_dim = H * hd, kv_dim = KVH * hd, ld = q_dim + 2 * kv_dim, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
    for (int bk = task0; bk < task1; bk++) {
        int b = bk / KVH, kvh = bk % KVH;
        float *X = scratch;   /* RdP, then RdS */
        float *dS = X + (size_t)T * T;
        size_t base = (size_t)b * T * ld;
        const float *k = qkv + base + q_dim + (size_t)kvh * hd, *Rk = Rqkv + base + q_dim + (size_t)kvh * hd;
        const float *v = k + kv_dim, *Rv = Rk + kv_dim;
        float *Rdk = Rdqkv + base + q_dim + (size_t)kvh * hd;
        float *Rdv = Rdk + kv_dim;
        for (int g = 0; g < group; g++) {
            int h = kvh * group + g;
            const float *q = qkv + base + (size_t)h * hd, *Rq = Rqkv + base + (size_t)h * hd;
            float *Rdq = Rdqkv + base + (size_t)h * hd;
            size_t ho = ((size_t)b * H + h) * T * T;
            const float *P = att + ho, *RP = Ratt + ho, *dP = dP_all + ho;
            const float *dO = dout + (size_t)b * T * q_dim + (size_t)h * hd;
            const float *RdO = Rdout + (size_t)b * T * q_dim + (size_t)h * hd;
            float beta = g == 0 ? 0.0f : 1.0f;
            for (int r0 = 0; r0 < T; r0 += ROP_ATT_BLOCK) {
                int r1 = r0 + ROP_ATT_BLOCK < T ? r0 + ROP_ATT_BLOCK : T, M = r1 - r0;
                float *Xr = X + (size_t)r0 * T;
                /* RdP = RdO v^T + dO Rv^T    [M, r1] */
                matmul(0, 1, M, r1, hd, 1.0f, RdO + (size_t)r0 * q_dim, q_dim, v, ld, 0.0f, Xr, T);
                matmul(0, 1, M, r1, hd, 1.0f, dO + (size_t)r0 * q_dim, q_dim, Rv, ld, 1.0f, Xr, T);
                for (int i = r0; i < r1; i++) {
                    const float *p = P + (size_t)i * T, *rp = RP + (size_t)i * T, *d = dP + (size_t)i * T;
                    float *x = X + (size_t)i * T, *s = dS + (size_t)i * T;
                    float dot = 0, rdot = 0;
#pragma omp simd reduction(+ : dot, rdot)
                    for (int j = 0; j <= i; j++) {
                        dot += p[j] * d[j];
                        rdot += rp[j] * d[j] + p[j] * x[j];
                    }
#pragma omp simd
                    for (int j = 0; j <= i; j++) {
                        s[j] = p[j] * (d[j] - dot);
                        x[j] = rp[j] * (d[j] - dot) + p[j] * (x[j] - rdot);
                    }
                    for (int j = i + 1; j < r1; j++) s[j] = x[j] = 0;
                }
                /* Rdq = (RdS k + dS Rk) / sqrt(hd)    [M, hd] */
                matmul(0, 0, M, hd, r1, scale, Xr, T, k, ld, 0.0f, Rdq + (size_t)r0 * ld, ld);
                matmul(0, 0, M, hd, r1, scale, dS + (size_t)r0 * T, T, Rk, ld, 1.0f, Rdq + (size_t)r0 * ld, ld);
            }
            for (int c0 = 0; c0 < T; c0 += ROP_ATT_BLOCK) {
                int c1 = c0 + ROP_ATT_BLOCK < T ? c0 + ROP_ATT_BLOCK : T, Mc = c1 - c0, R = T - c0;
                size_t cc = (size_t)c0 * T + c0;
                /* Rdv += RP^T dO + P^T RdO    [Mc, hd] */
                matmul(1, 0, Mc, hd, R, 1.0f, RP + cc, T, dO + (size_t)c0 * q_dim, q_dim, beta,
                       Rdv + (size_t)c0 * ld, ld);
                matmul(1, 0, Mc, hd, R, 1.0f, P + cc, T, RdO + (size_t)c0 * q_dim, q_dim, 1.0f,
                       Rdv + (size_t)c0 * ld, ld);
                /* Rdk += (RdS^T q + dS^T Rq) / sqrt(hd)    [Mc, hd] */
                matmul(1, 0, Mc, hd, R, scale, X + cc, T, q + (size_t)c0 * ld, ld, beta, Rdk + (size_t)c0 * ld, ld);
                matmul(1, 0, Mc, hd, R, scale, dS + cc, T, Rq + (size_t)c0 * ld, ld, 1.0f, Rdk + (size_t)c0 * ld, ld);
            }
        }
    }
}

/* ------------------------------------------------------------ cross-entropy */

void crossentropy_rbackward(float *Rz, const float *probs, const float *c, int N, int V)
{
    for (int n = 0; n < N; n++) {
        float *rz = Rz + (size_t)n * V;
        const float *p = probs + (size_t)n * V;
        float w = c[n];
        if (w == 0.0f) {
            memset(rz, 0, (size_t)V * sizeof(float));
            continue;
        }
        float dot = 0;
        for (int i = 0; i < V; i++) dot += p[i] * rz[i];
        for (int i = 0; i < V; i++) rz[i] = w * p[i] * (rz[i] - dot);
    }
}
