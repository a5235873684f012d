/* AdamW: decoupled decay on the right tensors, clipping, bias correction, reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"
#include "train/adamw.h"

static void nano_table(ParamTable *t)
{
    Config c;
    Err e;
    assert_int_equal(config_preset(&c, "nano", &e), 0);
    param_table_build(t, &c);
}

static void zero_gradient_decays_matrices_only(void **state)
{
    (void)state;
    ParamTable t;
    nano_table(&t);
    AdamWConfig cfg = adamw_defaults();
    AdamW o;
    adamw_create(&o, &cfg, &t);
    float *p = malloc(t.total * sizeof(float)), *g = calloc(t.total, sizeof(float));
    for (size_t i = 0; i < t.total; i++) p[i] = 2.0f;
    adamw_step(&o, p, g, 0.5f);
    for (int k = 0; k < t.count; k++) {
        const ParamEntry *e = &t.entries[k];
        /* decay: 2 * (1 - 0.5 * 0.1) = 1.9; gains untouched (m = v = 0 so no Adam move) */
        float want = e->decay ? 1.9f : 2.0f;
        assert_int_equal(e->decay, e->ndim == 2);
        assert_float_equal(p[e->offset], want, 1e-6);
        assert_float_equal(p[e->offset + e->numel - 1], want, 1e-6);
    }
    free(p);
    free(g);
    adamw_free(&o);
    param_table_free(&t);
}

static void first_step_moves_each_weight_by_lr_times_sign(void **state)
{
    (void)state;
    ParamTable t;
    nano_table(&t);
    AdamWConfig cfg = adamw_defaults();
    cfg.weight_decay = 0;
    cfg.clip = 0;
    AdamW o;
    adamw_create(&o, &cfg, &t);
    float *p = calloc(t.total, sizeof(float)), *g = malloc(t.total * sizeof(float));
    for (size_t i = 0; i < t.total; i++) g[i] = (i % 2 ? 1e-3f : -3.0f);
    adamw_step(&o, p, g, 0.01f);
    /* bias-corrected mhat = g, vhat = g^2: the move is lr * g / (|g| + eps) */
    assert_float_equal(p[0], 0.01f, 1e-7);
    assert_float_equal(p[1], -0.01f * 1e-3 / (1e-3 + 1e-8), 1e-7);
    /* second step with the opposite gradient (+3 at 0): m = 0.9*(-0.3) + 0.1*3 = 0.03,
     * v = 0.95*0.45 + 0.05*9 = 0.8775; mhat = 0.03/0.19, vhat = 0.8775/0.0975 = 9 */
    for (size_t i = 0; i < t.total; i++) g[i] = -g[i];
    adamw_step(&o, p, g, 0.01f);
    assert_float_equal(p[0], 0.01 - 0.01 * (0.03 / 0.19) / (3.0 + 1e-8), 1e-7);
    assert_float_equal(p[0], 0.0094737, 1e-7);
    assert_int_equal(o.t, 2);
    adamw_reset(&o);
    assert_int_equal(o.t, 0);
    assert_true(o.m[0] == 0.0f && o.v[0] == 0.0f);
    free(p);
    free(g);
    adamw_free(&o);
    param_table_free(&t);
}

static void clipping_scales_to_the_limit_and_reports_the_raw_norm(void **state)
{
    (void)state;
    ParamTable t;
    nano_table(&t);
    AdamWConfig cfg = adamw_defaults();
    AdamW o;
    adamw_create(&o, &cfg, &t);
    float *p = calloc(t.total, sizeof(float)), *g = malloc(t.total * sizeof(float));
    for (size_t i = 0; i < t.total; i++) g[i] = 0.5f;
    double raw = sqrt(0.25 * t.total);
    assert_float_equal(grad_norm(g, t.total), raw, 1e-9 * raw);
    double norm = adamw_step(&o, p, g, 0.01f);
    assert_float_equal(norm, raw, 1e-9 * raw);
    assert_float_equal(grad_norm(g, t.total), 1.0, 1e-5);   /* clipped in place to 1.0 */
    /* below the limit nothing changes */
    for (size_t i = 0; i < t.total; i++) g[i] = 1e-4f;
    adamw_step(&o, p, g, 0.01f);
    assert_true(g[7] == 1e-4f);
    free(p);
    free(g);
    adamw_free(&o);
    param_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zero_gradient_decays_matrices_only),
        cmocka_unit_test(first_step_moves_each_weight_by_lr_times_sign),
        cmocka_unit_test(clipping_scales_to_the_limit_and_reports_the_raw_norm),
    };
    return cmocka_run_group_tests_name("adamw", tests, NULL, NULL);
}
