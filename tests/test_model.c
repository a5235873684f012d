/* Model: the C engine against the PyTorch reference fixtures (tools/reference.py),
 * finite differences, determinism, initialisation and loss masks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "support/fixture.h"
#include "core/rng.h"
#include "model/llama.h"
#include "model/ops.h"
#include "train/adamw.h"

/* fixture reading: tests/support/fixture.h */

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* ------------------------------------------------- against the reference */

static void check_fixture(const char *file)
{
    Fixture fx;
    fixture_load(&fx, file);
    const int *ci = fixture_get(&fx, "config")->data;
    const float *hp = fixture_get(&fx, "hyper")->data;
    Config c = {.dim = ci[0], .n_layers = ci[1], .n_heads = ci[2], .n_kv_heads = ci[3], .ffn_dim = ci[4],
                .vocab_size = ci[5], .seq_len = ci[6], .tied = ci[7], .rope_theta = hp[0], .norm_eps = hp[1]};
    int B = ci[8], T = ci[9], steps = ci[10];
    Model m;
    Err e;
    assert_int_equal(model_create(&m, &c, B, T, &e), 0);
    fixture_load_params(&fx, &m.table, m.params, "w/");
    const int *tokens = fixture_get(&fx, "tokens")->data;
    const int *targets = fixture_get(&fx, "targets")->data;
    const FixArray *mask_a = fixture_find(&fx, "mask");
    const float *mask = mask_a ? mask_a->data : NULL;

    /* forward: loss and logits */
    float ref_loss = *(const float *)fixture_get(&fx, "loss")->data;
    float loss = model_forward(&m, tokens, targets, mask, B, T);
    double loss_rel = fabs(loss - ref_loss) / fabs(ref_loss);
    const FixArray *logits = fixture_get(&fx, "logits");
    assert_int_equal(logits->numel, (size_t)B * T * c.vocab_size);
    double logits_rel = rel_err(model_logits(&m), logits->data, logits->numel);
    printf("  %s: loss %.7f (ref %.7f, rel %.1e), logits rel %.1e\n", file, loss, ref_loss, loss_rel, logits_rel);
    assert_true(loss_rel < 1e-5);
    assert_true(logits_rel < 1e-5);
    if (mask) assert_int_equal((int)m.n_counted, B * T / 2);

    /* backward: every gradient tensor */
    model_zero_grad(&m);
    model_backward(&m, 1.0f);
    float *ref_g = calloc(m.n_params, sizeof(float));
    fixture_load_params(&fx, &m.table, ref_g, "g/");
    double worst = 0;
    for (int i = 0; i < m.table.count; i++) {
        const ParamEntry *p = &m.table.entries[i];
        double r = rel_err(m.grads + p->offset, ref_g + p->offset, p->numel);
        if (r >= 1e-4) fail_msg("%s: gradient of %s off by %.2e (relative norm)", file, p->name, r);
        worst = fmax(worst, r);
    }
    printf("  %s: worst gradient rel %.1e over %d tensors\n", file, worst, m.table.count);

    /* AdamW, two ways, each `steps` updates on the same batch from the initial weights.
     * (1) The optimizer alone, fed the reference gradients of each step: every
     *     weight within 1e-6 (max abs).
     * (2) End to end, fed our own gradients: at every step each gradient tensor
     *     within 1e-4 of the reference's (relative norm), and the final weights
     *     within 1e-5 as one vector (relative norm), 5e-5 per tensor. Max abs is
     *     the wrong yardstick here: Adam's first moves are ~lr*sign(g), so a
     *     coordinate whose gradient is ~1e-8 (e.g. a tied embedding row of an
     *     absent token) moves differently under float32 rounding of g alone. */
    AdamWConfig ac = adamw_defaults();
    float lr = hp[2];
    ac.beta1 = hp[3];
    ac.beta2 = hp[4];
    ac.eps = hp[5];
    ac.weight_decay = hp[6];
    ac.clip = hp[7];
    const float *ref_norms = fixture_get(&fx, "grad_norms")->data;
    float *ref_w = calloc(m.n_params, sizeof(float));
    fixture_load_params(&fx, &m.table, ref_w, "w3/");
    AdamW opt;
    for (int way = 1; way <= 2; way++) {
        adamw_create(&opt, &ac, &m.table);
        fixture_load_params(&fx, &m.table, m.params, "w/");
        for (int s = 0; s < steps; s++) {
            if (way == 1) {
                char prefix[8];
                snprintf(prefix, sizeof prefix, s ? "g%d/" : "g/", s);
                fixture_load_params(&fx, &m.table, m.grads, prefix);
            } else {
                model_zero_grad(&m);
                model_forward(&m, tokens, targets, mask, B, T);
                model_backward(&m, 1.0f);
                char prefix[8];
                snprintf(prefix, sizeof prefix, s ? "g%d/" : "g/", s);
                fixture_load_params(&fx, &m.table, ref_g, prefix);
                for (int i = 0; i < m.table.count; i++) {
                    const ParamEntry *p = &m.table.entries[i];
                    double r = rel_err(m.grads + p->offset, ref_g + p->offset, p->numel);
                    if (r >= 1e-4) fail_msg("%s: step %d gradient of %s off by %.2e", file, s, p->name, r);
                }
            }
            double norm = adamw_step(&opt, m.params, m.grads, lr);
            assert_true(fabs(norm - ref_norms[s]) < 1e-5 * ref_norms[s]);
        }
        assert_int_equal(opt.t, steps);
        double worst_w = 0;
        for (int i = 0; i < m.table.count; i++) {
            const ParamEntry *p = &m.table.entries[i];
            const float *w = m.params + p->offset, *r = ref_w + p->offset;
            double d = way == 1 ? max_abs_diff(w, r, p->numel) : rel_err(w, r, p->numel);
            if (d >= (way == 1 ? 1e-6 : 5e-5))
                fail_msg("%s: %s after %d AdamW steps off by %.2e (%s)", file, p->name, steps, d,
                         way == 1 ? "max abs, reference gradients" : "relative norm");
            worst_w = fmax(worst_w, d);
        }
        double whole = rel_err(m.params, ref_w, m.n_params);
        printf("  %s: after %d AdamW steps, worst %s %.1e; whole vector relative %.1e\n", file, steps,
               way == 1 ? "max-abs diff (reference gradients)" : "relative norm (own gradients)", worst_w, whole);
        assert_true(whole < 1e-5);
        adamw_free(&opt);
    }
    free(ref_w);
    free(ref_g);
    model_free(&m);
    fixture_free(&fx);
}

static void matches_pytorch_with_full_attention_heads(void **state)
{
    (void)state;
    check_fixture("nano_mha.bin");
}

static void matches_pytorch_with_grouped_kv_heads_and_loss_mask(void **state)
{
    (void)state;
    check_fixture("nano_gqa_masked.bin");
}

static void matches_pytorch_with_tied_output_head(void **state)
{
    (void)state;
    check_fixture("nano_tied.bin");
}

/* ------------------------------------------------------ internal checks */

static void random_batch(int *tokens, int *targets, int n, int vocab, uint64_t seed)
{
    Rng r = rng_stream(seed, RNG_STREAM_DATA);
    for (int i = 0; i < n; i++) {
        tokens[i] = (int)rng_below(&r, (uint64_t)vocab);
        targets[i] = (int)rng_below(&r, (uint64_t)vocab);
    }
}

static void gradient_matches_central_differences(void **state)
{
    (void)state;
    /* tiny: 2 layers, 4 query heads over 2 kv heads, head_dim 4 */
    Config c = {.dim = 16, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 24, .vocab_size = 20,
                .seq_len = 8, .rope_theta = 10000.f, .norm_eps = 1e-5f, .tied = 0};
    for (int tied = 0; tied <= 1; tied++) {
        c.tied = tied;
        Model m;
        Err e;
        int B = 2, T = 7, tokens[14], targets[14];
        float mask[14];
        assert_int_equal(model_create(&m, &c, B, T, &e), 0);
        /* larger than training init so every gradient is well away from zero */
        Rng r = rng_stream(5, 77);
        for (size_t i = 0; i < m.n_params; i++) m.params[i] = (float)(0.3 * rng_normal(&r));
        for (int i = 0; i < m.table.count; i++)
            if (m.table.entries[i].ndim == 1)
                for (size_t j = 0; j < m.table.entries[i].numel; j++)
                    m.params[m.table.entries[i].offset + j] += 1.0f;
        random_batch(tokens, targets, B * T, c.vocab_size, 9);
        for (int i = 0; i < B * T; i++) mask[i] = (i % 3) != 1;
        model_zero_grad(&m);
        model_forward(&m, tokens, targets, mask, B, T);
        model_backward(&m, 1.0f);
        /* In each tensor: the coordinate with the largest gradient and two random ones.
         * Five-point stencil, h = 1e-2: truncation ~h^4, float rounding ~1e-7*loss/h. */
        int checked = 0;
        for (int t = 0; t < m.table.count; t++) {
            const ParamEntry *p = &m.table.entries[t];
            size_t best = 0;
            for (size_t j = 1; j < p->numel; j++)
                if (fabsf(m.grads[p->offset + j]) > fabsf(m.grads[p->offset + best])) best = j;
            size_t picks[3] = {best, rng_below(&r, p->numel), rng_below(&r, p->numel)};
            for (int k = 0; k < 3; k++) {
                float *x = &m.params[p->offset + picks[k]];
                float x0 = *x, h = 1e-2f;
                double f[4];
                const float off[4] = {-2, -1, 1, 2};
                for (int s = 0; s < 4; s++) {
                    *x = x0 + off[s] * h;
                    f[s] = model_forward(&m, tokens, targets, mask, B, T);
                }
                *x = x0;
                double fd = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12.0 * h);
                double g = m.grads[p->offset + picks[k]];
                if (fabs(fd - g) > 2e-4 + 2e-3 * fabs(g))
                    fail_msg("tied %d, %s[%zu]: backward %.6g, central difference %.6g", tied, p->name, picks[k], g, fd);
                checked++;
            }
        }
        assert_int_equal(checked, 3 * m.table.count);
        model_free(&m);
    }
}

static void backward_twice_gives_identical_bits(void **state)
{
    (void)state;
    Config c;
    Err e;
    assert_int_equal(config_preset(&c, "nano", &e), 0);
    Model m;
    int B = 3, T = 64, tokens[192], targets[192];
    assert_int_equal(model_create(&m, &c, B, T, &e), 0);
    model_init_weights(&m, 11);
    random_batch(tokens, targets, B * T, c.vocab_size, 3);
    float *first = malloc(m.n_params * sizeof(float));
    model_zero_grad(&m);
    float l1 = model_forward(&m, tokens, targets, NULL, B, T);
    model_backward(&m, 1.0f);
    memcpy(first, m.grads, m.n_params * sizeof(float));
    model_zero_grad(&m);
    float l2 = model_forward(&m, tokens, targets, NULL, B, T);
    model_backward(&m, 1.0f);
    assert_memory_equal(&l1, &l2, sizeof l1);
    assert_memory_equal(first, m.grads, m.n_params * sizeof(float));
    /* near ln(256) = 5.545 at initialisation */
    assert_true(fabsf(l1 - logf(256.f)) < 0.05f);
    free(first);
    model_free(&m);
}

static void init_is_seeded_and_scaled(void **state)
{
    (void)state;
    Config c;
    Err e;
    assert_int_equal(config_preset(&c, "micro", &e), 0);
    Model a, b;
    assert_int_equal(model_create(&a, &c, 1, 8, &e), 0);
    assert_int_equal(model_create(&b, &c, 1, 8, &e), 0);
    model_init_weights(&a, 1234);
    model_init_weights(&b, 1234);
    assert_memory_equal(a.params, b.params, a.n_params * sizeof(float));
    model_init_weights(&b, 1235);
    size_t same = 0;
    for (size_t i = 0; i < a.n_params; i++) same += a.params[i] == b.params[i];
    /* only the norm gains (all 1) agree */
    assert_int_equal(same, (size_t)c.dim * (2 * c.n_layers + 1));
    /* spreads: 0.02 for matrices, 0.02/sqrt(2*n_layers) for o_proj and down_proj */
    for (int i = 0; i < a.table.count; i++) {
        const ParamEntry *p = &a.table.entries[i];
        const float *x = a.params + p->offset;
        if (p->ndim == 1) {
            for (size_t j = 0; j < p->numel; j++) assert_true(x[j] == 1.0f);
            continue;
        }
        double s2 = 0;
        for (size_t j = 0; j < p->numel; j++) s2 += (double)x[j] * x[j];
        double sd = sqrt(s2 / p->numel);
        double want = (p->kind == P_WO || p->kind == P_W_DOWN) ? 0.02 / sqrt(2.0 * c.n_layers) : 0.02;
        if (fabs(sd - want) > 0.03 * want) fail_msg("%s: std %.5f, expected %.5f", p->name, sd, want);
    }
    model_free(&a);
    model_free(&b);
}

static void masked_positions_do_not_affect_loss_or_gradient(void **state)
{
    (void)state;
    Config c;
    Err e;
    assert_int_equal(config_preset(&c, "nano", &e), 0);
    Model m;
    int B = 2, T = 32, N = 64, tokens[64], targets[64], targets2[64];
    float mask[64], ones[64];
    assert_int_equal(model_create(&m, &c, B, T, &e), 0);
    model_init_weights(&m, 5);
    random_batch(tokens, targets, N, c.vocab_size, 8);
    for (int i = 0; i < N; i++) {
        mask[i] = (i % 4 == 0) ? 0.0f : 1.0f;
        ones[i] = 1.0f;
        targets2[i] = mask[i] != 0 ? targets[i] : (targets[i] + 17) % c.vocab_size;
    }
    float *g1 = malloc(m.n_params * sizeof(float));
    model_zero_grad(&m);
    float l1 = model_forward(&m, tokens, targets, mask, B, T);
    model_backward(&m, 1.0f);
    memcpy(g1, m.grads, m.n_params * sizeof(float));
    assert_true(m.n_counted == 48);
    /* the loss is the mean of -log p(target) over counted positions, from the logits */
    const float *lg = model_logits(&m);
    double sum = 0;
    for (int n = 0; n < N; n++) {
        if (mask[n] == 0) continue;
        const float *z = lg + (size_t)n * c.vocab_size;
        double mx = z[0], s = 0;
        for (int v = 1; v < c.vocab_size; v++) mx = fmax(mx, z[v]);
        for (int v = 0; v < c.vocab_size; v++) s += exp(z[v] - mx);
        sum += mx + log(s) - z[targets[n]];
    }
    assert_float_equal(l1, sum / 48, 1e-5);
    /* other targets at masked positions: same bits */
    model_zero_grad(&m);
    float l2 = model_forward(&m, tokens, targets2, mask, B, T);
    model_backward(&m, 1.0f);
    assert_memory_equal(&l1, &l2, sizeof l1);
    assert_memory_equal(g1, m.grads, m.n_params * sizeof(float));
    /* a mask of ones is the same as no mask */
    model_zero_grad(&m);
    float l3 = model_forward(&m, tokens, targets, ones, B, T);
    model_backward(&m, 1.0f);
    memcpy(g1, m.grads, m.n_params * sizeof(float));
    model_zero_grad(&m);
    float l4 = model_forward(&m, tokens, targets, NULL, B, T);
    model_backward(&m, 1.0f);
    assert_memory_equal(&l3, &l4, sizeof l3);
    assert_memory_equal(g1, m.grads, m.n_params * sizeof(float));
    assert_true(l1 != l3);
    free(g1);
    model_free(&m);
}

static void accumulated_micro_batches_match_the_whole_batch(void **state)
{
    (void)state;
    Config c;
    Err e;
    assert_int_equal(config_preset(&c, "nano", &e), 0);
    Model m;
    int B = 4, T = 16, N = 64, tokens[64], targets[64];
    float mask[64];
    assert_int_equal(model_create(&m, &c, B, T, &e), 0);
    model_init_weights(&m, 21);
    random_batch(tokens, targets, N, c.vocab_size, 4);
    for (int i = 0; i < N; i++) mask[i] = (i < 40 && i % 2) ? 0.0f : 1.0f;   /* uneven counts per half */
    model_zero_grad(&m);
    float whole = model_forward(&m, tokens, targets, mask, B, T);
    model_backward(&m, 1.0f);
    float *g = malloc(m.n_params * sizeof(float));
    memcpy(g, m.grads, m.n_params * sizeof(float));
    double total = m.n_counted;
    model_zero_grad(&m);
    double acc = 0;
    for (int half = 0; half < 2; half++) {
        int o = half * N / 2;
        float l = model_forward(&m, tokens + o, targets + o, mask + o, B / 2, T);
        double share = m.n_counted / total;
        acc += l * share;
        model_backward(&m, (float)share);
    }
    assert_float_equal(acc, whole, 1e-5 * whole);
    assert_true(rel_err(m.grads, g, m.n_params) < 1e-5);
    free(g);
    model_free(&m);
}

static void logits_of_a_prefix_do_not_see_later_tokens(void **state)
{
    (void)state;
    Config c;
    Err e;
    assert_int_equal(config_preset(&c, "nano", &e), 0);
    Model m;
    int T = 64, V = c.vocab_size, tokens[64], targets[64];
    assert_int_equal(model_create(&m, &c, 1, T, &e), 0);
    model_init_weights(&m, 2);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 10.0f;   /* sharper attention */
    random_batch(tokens, targets, T, V, 6);
    model_forward(&m, tokens, NULL, NULL, 1, T);
    float *full = malloc((size_t)T * V * sizeof(float));
    memcpy(full, model_logits(&m), (size_t)T * V * sizeof(float));
    const int lens[3] = {1, 17, 63};
    for (int k = 0; k < 3; k++) {
        /* change everything after the prefix: the prefix's logits must not move */
        int changed[64];
        memcpy(changed, tokens, sizeof changed);
        for (int t = lens[k]; t < T; t++) changed[t] = (tokens[t] + 1 + t) % V;
        model_forward(&m, changed, NULL, NULL, 1, T);
        assert_memory_equal(model_logits(&m), full, (size_t)lens[k] * V * sizeof(float));
        /* and a forward over the prefix alone gives the same rows, up to the
         * rounding of differently shaped matrix products */
        model_forward(&m, tokens, NULL, NULL, 1, lens[k]);
        assert_true(rel_err(model_logits(&m), full, (size_t)lens[k] * V) < 5e-5);
    }
    /* the last row does depend on earlier tokens */
    int changed[64];
    memcpy(changed, tokens, sizeof changed);
    changed[0] = (tokens[0] + 1) % V;
    model_forward(&m, changed, NULL, NULL, 1, T);
    assert_true(rel_err(model_logits(&m) + (size_t)(T - 1) * V, full + (size_t)(T - 1) * V, V) > 1e-4);
    free(full);
    model_free(&m);
}

/* Causal GQA attention that stores its probabilities, in double, straight
 * from the definition: P = softmax(q k^T / sqrt(hd)) per head, kept [B,H,T,T];
 * out = P v. Backward from the stored P: dP = dO v^T, dS = P (dP - rowdot(P, dP)),
 * dq = dS k / sqrt(hd), dk = dS^T q / sqrt(hd), dv = P^T dO (summed over a
 * kv head's query heads). The reference for the flash-style kernels. */
static void stored_attention(double *out, double *dqkv, const float *qkv, const float *dout, int B, int T, int H,
                             int KVH, int hd)
{
    int ld = (H + 2 * KVH) * hd, qd = H * hd;
    double s = 1 / sqrt((double)hd);
    double *P = calloc((size_t)B * H * T * T, sizeof(double)), *dP = malloc((size_t)T * sizeof(double));
#define Q(b, i, h, c) qkv[((size_t)(b) * T + (i)) * ld + (h) * hd + (c)]
#define K(b, j, g, c) qkv[((size_t)(b) * T + (j)) * ld + (H + (g)) * hd + (c)]
#define V(b, j, g, c) qkv[((size_t)(b) * T + (j)) * ld + (H + KVH + (g)) * hd + (c)]
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int g = h / (H / KVH);
            for (int i = 0; i < T; i++) {
                double *p = P + (((size_t)b * H + h) * T + i) * T, mx = -1e300, sum = 0;
                for (int j = 0; j <= i; j++) {
                    double x = 0;
                    for (int c = 0; c < hd; c++) x += (double)Q(b, i, h, c) * K(b, j, g, c);
                    p[j] = x * s;
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j <= i; j++) sum += (p[j] = exp(p[j] - mx));
                for (int j = 0; j <= i; j++) p[j] /= sum;
                for (int c = 0; c < hd; c++) {
                    double o = 0;
                    for (int j = 0; j <= i; j++) o += p[j] * V(b, j, g, c);
                    out[((size_t)b * T + i) * qd + h * hd + c] = o;
                }
            }
        }
    if (dqkv) {
        memset(dqkv, 0, (size_t)B * T * ld * sizeof(double));
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                int g = h / (H / KVH);
                for (int i = 0; i < T; i++) {
                    const double *p = P + (((size_t)b * H + h) * T + i) * T;
                    const float *dO = dout + ((size_t)b * T + i) * qd + h * hd;
                    double dot = 0;
                    for (int j = 0; j <= i; j++) {
                        dP[j] = 0;
                        for (int c = 0; c < hd; c++) dP[j] += (double)dO[c] * V(b, j, g, c);
                        dot += p[j] * dP[j];
                    }
                    for (int j = 0; j <= i; j++) {
                        double dS = p[j] * (dP[j] - dot);
                        for (int c = 0; c < hd; c++) {
                            dqkv[((size_t)b * T + i) * ld + h * hd + c] += dS * K(b, j, g, c) * s;
                            dqkv[((size_t)b * T + j) * ld + (H + g) * hd + c] += dS * Q(b, i, h, c) * s;
                            dqkv[((size_t)b * T + j) * ld + (H + KVH + g) * hd + c] += p[j] * dO[c];
                        }
                    }
                }
            }
    }
#undef Q
#undef K
#undef V
    free(P), free(dP);
}

static double rel_err_d(const float *a, const double *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / den);
}

static void flash_attention_matches_the_stored_probability_version(void **state)
{
    (void)state;
    /* T = 300: row blocks of 64 and key blocks of 128 both end mid-block,
     * and rows see up to three key blocks (the running max and sum). */
    int B = 2, T = 300, H = 4, KVH = 2, hd = 8, ld = (H + 2 * KVH) * hd, N = B * T;
    float *qkv = malloc((size_t)N * ld * sizeof(float)), *out = malloc((size_t)N * H * hd * sizeof(float));
    float *lse = malloc((size_t)B * H * T * sizeof(float)), *scratch = malloc(ATT_SCRATCH * sizeof(float));
    float *dout = malloc((size_t)N * H * hd * sizeof(float)), *dqkv = malloc((size_t)N * ld * sizeof(float));
    double *ref = malloc((size_t)N * H * hd * sizeof(double)), *dref = malloc((size_t)N * ld * sizeof(double));
    Rng r = rng_stream(3, 3);
    for (int i = 0; i < N * ld; i++) qkv[i] = 2.0f * (float)rng_normal(&r);   /* peaked rows too */
    for (int i = 0; i < N * H * hd; i++) dout[i] = (float)rng_normal(&r);
    attention_forward(out, lse, qkv, scratch, T, H, KVH, hd, 0, B * H);
    attention_backward(dqkv, scratch, dout, out, lse, qkv, T, H, KVH, hd, 0, B * KVH);
    stored_attention(ref, dref, qkv, dout, B, T, H, KVH, hd);
    double ef = rel_err_d(out, ref, (size_t)N * H * hd), eb = rel_err_d(dqkv, dref, (size_t)N * ld);
    print_message("  T=%d: forward rel %.1e, backward rel %.1e\n", T, ef, eb);
    assert_true(ef < 1e-5);
    assert_true(eb < 1e-5);
    /* lse is the log of the softmax denominator: row 0 sees only itself. */
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H, g = h / (H / KVH);
        double x = 0;
        for (int c = 0; c < hd; c++) x += (double)qkv[(size_t)b * T * ld + h * hd + c] * qkv[(size_t)b * T * ld + (H + g) * hd + c];
        assert_float_equal(lse[(size_t)bh * T], x / sqrt((double)hd), 1e-4);
    }
    /* and the reference's backward is the derivative of sum(dout * out) */
    int picks[4] = {5 * ld + 3, 299 * ld + H * hd + 2, (T + 140) * ld + (H + KVH) * hd + 1, (T + 64) * ld + 2 * hd + 7};
    for (int k = 0; k < 4; k++) {
        float x0 = qkv[picks[k]];
        double f[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            qkv[picks[k]] = x0 + (sgn ? 1e-2f : -1e-2f);
            stored_attention(ref, NULL, qkv, dout, B, T, H, KVH, hd);
            f[sgn] = 0;
            for (int i = 0; i < N * H * hd; i++) f[sgn] += dout[i] * ref[i];
        }
        qkv[picks[k]] = x0;
        double fd = (f[1] - f[0]) / 2e-2;
        if (fabs(fd - dqkv[picks[k]]) > 1e-3 * (1 + fabs(fd)))
            fail_msg("dqkv[%d]: %.6g, central difference %.6g", picks[k], dqkv[picks[k]], fd);
    }
    free(qkv), free(out), free(lse), free(scratch), free(dout), free(dqkv), free(ref), free(dref);
}

/* One training step's gradient in bf16 mixed precision against fp32, tensor
 * by tensor, at the micro shape (untied, GQA) and the nano shape (tied);
 * the same bits on a second bf16 run; and refreshing the bf16 weights after
 * a write to params (a model that missed it would compute with old weights). */
static void bf16_gradients_follow_fp32_tensor_by_tensor(void **state)
{
    (void)state;
    const char *presets[2] = {"micro", "nano"};
    for (int k = 0; k < 2; k++) {
        Config c;
        Err e;
        assert_int_equal(config_preset(&c, presets[k], &e), 0);
        c.tied = k == 1;
        c.seq_len = 128;
        int B = 2, T = 128, N = B * T;
        Model m;
        assert_int_equal(model_create(&m, &c, B, T, &e), 0);
        model_init_weights(&m, 11);
        int *tokens = malloc((size_t)N * sizeof(int)), *targets = malloc((size_t)N * sizeof(int));
        random_batch(tokens, targets, N, c.vocab_size, 12);
        float *g32 = malloc(m.n_params * sizeof(float)), *g16 = malloc(m.n_params * sizeof(float));
        model_zero_grad(&m);
        float l32 = model_forward(&m, tokens, targets, NULL, B, T);
        model_backward(&m, 1.0f);
        memcpy(g32, m.grads, m.n_params * sizeof(float));
        assert_int_equal(model_set_precision(&m, PRECISION_BF16, &e), 0);
        model_zero_grad(&m);
        float l16 = model_forward(&m, tokens, targets, NULL, B, T);
        model_backward(&m, 1.0f);
        memcpy(g16, m.grads, m.n_params * sizeof(float));
        double worst = 0;
        const char *worst_name = "";
        for (int t = 0; t < m.table.count; t++) {
            const ParamEntry *p = &m.table.entries[t];
            double r = rel_err(g16 + p->offset, g32 + p->offset, p->numel);
            if (r > worst) worst = r, worst_name = p->name;
        }
        print_message("  %s: loss fp32 %.6f bf16 %.6f; worst gradient rel %.2e (%s) over %d tensors\n", presets[k], l32,
                      l16, worst, worst_name, m.table.count);
        assert_true(fabsf(l16 - l32) < 2e-3f * l32);
        assert_true(worst < 2e-2);
        assert_true(worst > 0);   /* the bf16 path did run */
        /* rerun: the same bits */
        model_zero_grad(&m);
        assert_true(model_forward(&m, tokens, targets, NULL, B, T) == l16);
        model_backward(&m, 1.0f);
        assert_memory_equal(m.grads, g16, m.n_params * sizeof(float));
        /* a write to params reaches the products once the model is told */
        for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 0.5f;
        model_params_changed(&m);
        float halved = model_forward(&m, tokens, targets, NULL, B, T);
        assert_true(halved != l16);
        assert_int_equal(model_set_precision(&m, PRECISION_FP32, &e), 0);
        assert_true(fabsf(model_forward(&m, tokens, targets, NULL, B, T) - halved) < 2e-3f * halved);
        free(tokens), free(targets), free(g32), free(g16);
        model_free(&m);
    }
}

/* The step memory model_train_step_bytes reports is what the model
 * allocates, and it grows linearly in T. */
static void step_memory_is_linear_in_sequence_length(void **state)
{
    (void)state;
    Config c;
    Err e;
    assert_int_equal(config_preset(&c, "micro", &e), 0);
    c.seq_len = 2048;
    for (int p = 0; p < 2; p++) {
        uint64_t b1 = model_train_step_bytes(&c, 1, 1024, 2, (Precision)p);
        uint64_t b2 = model_train_step_bytes(&c, 1, 2048, 2, (Precision)p);
        uint64_t b3 = model_train_step_bytes(&c, 1, 3072, 2, (Precision)p);
        /* affine up to the arena's 64-byte rounding of each buffer */
        assert_true(llabs((long long)(b3 - b2) - (long long)(b2 - b1)) < 64 * 100);
        assert_true((double)b2 / b1 < 2.0);
    }
    /* with T x T probabilities kept, 4 heads x 2048^2 floats x 4 layers alone would be 256 MiB */
    assert_true(model_train_step_bytes(&c, 1, 2048, 2, PRECISION_BF16) < 256u << 20);
}

/* matmul and matmul_bf16 against the definition in double, for every
 * transposition, alpha and beta, at shapes past the transposition slabs of
 * matmul.c (K > 512, M > 2048) and with padded leading dimensions. bf16
 * inputs are exact bf16 values, so both precisions must agree to fp32
 * rounding. */
static void matmul_matches_the_definition(void **state)
{
    (void)state;
    static const int shapes[3][3] = {{37, 29, 1100}, {2100, 5, 600}, {3, 70, 1}};
    Rng r = rng_stream(21, 1);
    for (int sh = 0; sh < 3; sh++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bf = 0; bf < 2; bf++) {
                    int M = shapes[sh][0], N = shapes[sh][1], K = shapes[sh][2];
                    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
                    float *A = malloc(na * sizeof(float)), *B = malloc(nb * sizeof(float)), *C = malloc(nc * sizeof(float));
                    bf16 *A16 = malloc(na * sizeof(bf16)), *B16 = malloc(nb * sizeof(bf16));
                    for (size_t i = 0; i < na; i++) A[i] = (float)rng_normal(&r);
                    for (size_t i = 0; i < nb; i++) B[i] = (float)rng_normal(&r);
                    bf16_from_f32(A16, A, na);
                    bf16_from_f32(B16, B, nb);
                    f32_from_bf16(A, A16, na);   /* both precisions see the same values */
                    f32_from_bf16(B, B16, nb);
                    for (size_t i = 0; i < nc; i++) C[i] = (float)rng_normal(&r);
                    float alpha = 0.5f, beta = sh == 1 ? 0.0f : 0.75f;
                    double *ref = malloc(nc * sizeof(double)), num = 0, den = 0;
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) {
                            double acc = 0;
                            for (int k = 0; k < K; k++)
                                acc += (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                                       (tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
                            ref[(size_t)i * ldc + j] = alpha * acc + beta * C[(size_t)i * ldc + j];
                        }
                    if (bf) matmul_bf16(ta, tb, M, N, K, alpha, A16, lda, B16, ldb, beta, C, ldc);
                    else matmul(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) {
                            double d = C[(size_t)i * ldc + j] - ref[(size_t)i * ldc + j];
                            num += d * d;
                            den += ref[(size_t)i * ldc + j] * ref[(size_t)i * ldc + j];
                        }
                    if (!(sqrt(num / den) < 1e-6))
                        fail_msg("%s %dx%dx%d ta %d tb %d: rel %.2e", bf ? "bf16" : "fp32", M, N, K, ta, tb,
                                 sqrt(num / den));
                    free(A), free(B), free(C), free(A16), free(B16), free(ref);
                }
    print_message("  %s\n", matmul_backend());
}

static void create_rejects_impossible_shapes(void **state)
{
    (void)state;
    Config c;
    Err e;
    Model m;
    assert_int_equal(config_preset(&c, "nano", &e), 0);
    assert_int_equal(model_create(&m, &c, 1, c.seq_len + 1, &e), -1);
    assert_non_null(strstr(e.msg, "seq_len"));
    c.n_kv_heads = 3;
    assert_int_equal(model_create(&m, &c, 1, 8, &e), -1);
    assert_non_null(strstr(e.msg, "n_kv_heads"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_pytorch_with_full_attention_heads),
        cmocka_unit_test(matches_pytorch_with_grouped_kv_heads_and_loss_mask),
        cmocka_unit_test(matches_pytorch_with_tied_output_head),
        cmocka_unit_test(gradient_matches_central_differences),
        cmocka_unit_test(backward_twice_gives_identical_bits),
        cmocka_unit_test(init_is_seeded_and_scaled),
        cmocka_unit_test(masked_positions_do_not_affect_loss_or_gradient),
        cmocka_unit_test(accumulated_micro_batches_match_the_whole_batch),
        cmocka_unit_test(logits_of_a_prefix_do_not_see_later_tokens),
        cmocka_unit_test(flash_attention_matches_the_stored_probability_version),
        cmocka_unit_test(bf16_gradients_follow_fp32_tensor_by_tensor),
        cmocka_unit_test(step_memory_is_linear_in_sequence_length),
        cmocka_unit_test(matmul_matches_the_definition),
        cmocka_unit_test(create_rejects_impossible_shapes),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
