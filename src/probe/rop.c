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

/* The tiles are the model's (ATT_BLOCK query rows x ATT_KBLOCK keys), and
 * each tile's P is recomputed from lse exactly as attention_backward does. */

#define TILE (ATT_BLOCK * ATT_KBLOCK)

/* X = (Rq k^T + q Rk^T) / sqrt(hd) for one tile     [M, W], stride ATT_KBLOCK */
static void tile_rscores(float *X, const float *q, const float *Rq, const float *k, const float *Rk, int ld, int r0,
                         int r1, int c0, int c1, int hd)
{
    int M = r1 - r0, W = c1 - c0;
    float scale = 1.0f / sqrtf((float)hd);
    matmul(0, 1, M, W, hd, scale, Rq + (size_t)r0 * ld, ld, k + (size_t)c0 * ld, ld, 0.0f, X, ATT_KBLOCK);
    matmul(0, 1, M, W, hd, scale, q + (size_t)r0 * ld, ld, Rk + (size_t)c0 * ld, ld, 1.0f, X, ATT_KBLOCK);
}

static float dot_hd(const float *a, const float *b, int hd)
{
    float s = 0;
    for (int e = 0; e < hd; e++) s += a[e] * b[e];
    return s;
}

void attention_rforward(float *Rout, float *Rdot, const float *qkv, const float *Rqkv, const float *out,
                        const float *lse, float *scratch, int T, int H, int KVH, int hd, int task0, int task1)
{
    /* RP = P (RS - Rdot), Rdot_i = sum_j P_ij RS_ij, so
     * Ro = RP v + P Rv = sum over tiles of (P RS) v + P Rv, minus Rdot_i O_i. */
    int q_dim = H * hd, kv_dim = KVH * hd, ld = q_dim + 2 * kv_dim, group = H / KVH;
    float *P = scratch, *X = P + TILE;
    for (int bh = task0; bh < task1; bh++) {
        int b = bh / H, h = bh % H, kvh = h / group;
        size_t base = (size_t)b * T * ld;
        const float *q = qkv + base + (size_t)h * hd, *Rq = Rqkv + base + (size_t)h * hd;
        const float *k = qkv + base + q_dim + (size_t)kvh * hd, *Rk = Rqkv + base + q_dim + (size_t)kvh * hd;
        const float *v = k + kv_dim, *Rv = Rk + kv_dim;
        const float *O = out + (size_t)b * T * q_dim + (size_t)h * hd;
        float *Ro = Rout + (size_t)b * T * q_dim + (size_t)h * hd;
        const float *L = lse + (size_t)bh * T;
        float *Rd = Rdot + (size_t)bh * T;
        for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
            int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T, M = r1 - r0;
            for (int i = r0; i < r1; i++) Rd[i] = 0;
            for (int c0 = 0; c0 < r1; c0 += ATT_KBLOCK) {
                int c1 = c0 + ATT_KBLOCK < r1 ? c0 + ATT_KBLOCK : r1, W = c1 - c0;
                attention_tile_probs(P, q, k, ld, L, r0, r1, c0, c1, hd);
                tile_rscores(X, q, Rq, k, Rk, ld, r0, r1, c0, c1, hd);
                for (int i = 0; i < M; i++) {
                    const float *p = P + (size_t)i * ATT_KBLOCK;
                    float *x = X + (size_t)i * ATT_KBLOCK, s = 0;
                    for (int j = 0; j < W; j++) {
                        x[j] *= p[j];
                        s += x[j];
                    }
                    Rd[r0 + i] += s;
                }
                /* Ro (+)= (P RS) v + P Rv    [M, hd] */
                float *Ror = Ro + (size_t)r0 * q_dim;
                matmul(0, 0, M, hd, W, 1.0f, X, ATT_KBLOCK, v + (size_t)c0 * ld, ld, c0 > 0 ? 1.0f : 0.0f, Ror, q_dim);
                matmul(0, 0, M, hd, W, 1.0f, P, ATT_KBLOCK, Rv + (size_t)c0 * ld, ld, 1.0f, Ror, q_dim);
            }
            for (int i = r0; i < r1; i++)
                for (int e = 0; e < hd; e++) Ro[(size_t)i * q_dim + e] -= Rd[i] * O[(size_t)i * q_dim + e];
        }
    }
}

void attention_rbackward(float *Rdqkv, float *scratch, const float *dout, const float *Rdout, const float *qkv,
                         const float *Rqkv, const float *out, const float *Rout, const float *lse, const float *Rdot,
                         int T, int H, int KVH, int hd, int task0, int task1)
{
    /* Primal, per tile: dP = dO v^T, dv += P^T dO, dS = P (dP - D),
     * D_i = rowdot(P, dP) = dO_i . O_i, dq = dS k s, dk += dS^T q s. Tangents:
     *   RP = P (RS - Rdot),  RdP = RdO v^T + dO Rv^T,  RD_i = RdO_i . O_i + dO_i . Ro_i,
     *   RdS = RP (dP - D) + P (RdP - RD),  Rdv += RP^T dO + P^T RdO,
     *   Rdq = (RdS k + dS Rk) s,  Rdk += (RdS^T q + dS^T Rq) s. */
    int q_dim = H * hd, kv_dim = KVH * hd, ld = q_dim + 2 * kv_dim, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
    float *P = scratch, *RP = P + TILE, *dS = RP + TILE, *RdS = dS + TILE;
    float *D = RdS + TILE, *RD = D + ATT_BLOCK;
    for (int bk = task0; bk < task1; bk++) {
        int b = bk / KVH, kvh = bk % KVH;
        size_t base = (size_t)b * T * ld;
        const float *k = qkv + base + q_dim + (size_t)kvh * hd, *Rk = Rqkv + base + q_dim + (size_t)kvh * hd;
        const float *v = k + kv_dim, *Rv = Rk + kv_dim;
        float *Rdk = Rdqkv + base + q_dim + (size_t)kvh * hd;
        float *Rdv = Rdk + kv_dim;
        for (int i = 0; i < T; i++) {
            memset(Rdk + (size_t)i * ld, 0, (size_t)hd * sizeof(float));
            memset(Rdv + (size_t)i * ld, 0, (size_t)hd * sizeof(float));
        }
        for (int g = 0; g < group; g++) {
            int h = kvh * group + g;
            const float *q = qkv + base + (size_t)h * hd, *Rq = Rqkv + base + (size_t)h * hd;
            float *Rdq = Rdqkv + base + (size_t)h * hd;
            size_t ho = (size_t)b * T * q_dim + (size_t)h * hd, hr = ((size_t)b * H + h) * T;
            const float *dO = dout + ho, *RdO = Rdout + ho, *O = out + ho, *Ro = Rout + ho;
            const float *L = lse + hr, *Rd = Rdot + hr;
            for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T, M = r1 - r0;
                for (int i = 0; i < M; i++) {
                    size_t o = (size_t)(r0 + i) * q_dim;
                    D[i] = dot_hd(dO + o, O + o, hd);
                    RD[i] = dot_hd(RdO + o, O + o, hd) + dot_hd(dO + o, Ro + o, hd);
                }
                for (int c0 = 0; c0 < r1; c0 += ATT_KBLOCK) {
                    int c1 = c0 + ATT_KBLOCK < r1 ? c0 + ATT_KBLOCK : r1, W = c1 - c0;
                    attention_tile_probs(P, q, k, ld, L, r0, r1, c0, c1, hd);
                    tile_rscores(RP, q, Rq, k, Rk, ld, r0, r1, c0, c1, hd);
                    /* dP = dO v^T;  RdP = RdO v^T + dO Rv^T     [M, W] */
                    const float *dOr = dO + (size_t)r0 * q_dim, *RdOr = RdO + (size_t)r0 * q_dim;
                    matmul(0, 1, M, W, hd, 1.0f, dOr, q_dim, v + (size_t)c0 * ld, ld, 0.0f, dS, ATT_KBLOCK);
                    matmul(0, 1, M, W, hd, 1.0f, RdOr, q_dim, v + (size_t)c0 * ld, ld, 0.0f, RdS, ATT_KBLOCK);
                    matmul(0, 1, M, W, hd, 1.0f, dOr, q_dim, Rv + (size_t)c0 * ld, ld, 1.0f, RdS, ATT_KBLOCK);
                    for (int i = 0; i < M; i++) {
                        size_t o = (size_t)i * ATT_KBLOCK;
                        float di = D[i], rdi = RD[i], rdot = Rd[r0 + i];
                        for (int j = 0; j < W; j++) {
                            float p = P[o + j], rp = p * (RP[o + j] - rdot), dp = dS[o + j] - di;
                            RP[o + j] = rp;
                            RdS[o + j] = rp * dp + p * (RdS[o + j] - rdi);
                            dS[o + j] = p * dp;
                        }
                    }
                    /* Rdq (+)= (RdS k + dS Rk) s     [M, hd] */
                    float *Rdqr = Rdq + (size_t)r0 * ld;
                    matmul(0, 0, M, hd, W, scale, RdS, ATT_KBLOCK, k + (size_t)c0 * ld, ld, c0 > 0 ? 1.0f : 0.0f, Rdqr,
                           ld);
                    matmul(0, 0, M, hd, W, scale, dS, ATT_KBLOCK, Rk + (size_t)c0 * ld, ld, 1.0f, Rdqr, ld);
                    /* Rdk += (RdS^T q + dS^T Rq) s;  Rdv += RP^T dO + P^T RdO     [W, hd] */
                    float *Rdkc = Rdk + (size_t)c0 * ld, *Rdvc = Rdv + (size_t)c0 * ld;
                    matmul(1, 0, W, hd, M, scale, RdS, ATT_KBLOCK, q + (size_t)r0 * ld, ld, 1.0f, Rdkc, ld);
                    matmul(1, 0, W, hd, M, scale, dS, ATT_KBLOCK, Rq + (size_t)r0 * ld, ld, 1.0f, Rdkc, ld);
                    matmul(1, 0, W, hd, M, 1.0f, RP, ATT_KBLOCK, dOr, q_dim, 1.0f, Rdvc, ld);
                    matmul(1, 0, W, hd, M, 1.0f, P, ATT_KBLOCK, RdOr, q_dim, 1.0f, Rdvc, ld);
                }
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
