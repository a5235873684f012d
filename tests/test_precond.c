/* The preconditioned sharpness of Adam (probe/precond.h): the top
 * eigenvalue of P^-1 H against a hand computation, and P from an AdamW
 * state against the update's formula. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "probe/precond.h"
#include "probe/sharpness.h"

static void assert_close(double got, double want, double tol)
{
    if (fabs(got - want) > tol) fail_msg("got %.17g, want %.17g (tolerance %g)", got, want, tol);
}

/* H = [[4, 1], [1, 2]] */
static void quadratic2_hvp(void *ctx, const float *v, float *hv)
{
    (void)ctx;
    hv[0] = (float)(4.0 * v[0] + 1.0 * v[1]);
    hv[1] = (float)(1.0 * v[0] + 2.0 * v[1]);
}

static void test_adam_preconditioner_is_sqrt_of_bias_corrected_v_plus_eps(void **s)
{
    (void)s;
    /* beta2 0.5, t 2: 1 - 0.25 = 0.75. v = 1.6875 -> v_hat 2.25 -> 1.5 + eps 0.5 = 2;
     * v = 0 -> 0 + 0.5. */
    const float v[2] = {1.6875f, 0.0f};
    float p[2];
    Err e;
    assert_int_equal(adam_preconditioner(v, 2, 0.5f, 2, 0.5f, p, &e), 0);
    assert_true(p[0] == 2.0f);
    assert_true(p[1] == 0.5f);
    assert_int_equal(adam_preconditioner(v, 2, 0.5f, 0, 0.5f, p, &e), -1);
    assert_non_null(strstr(e.msg, "taken 0 updates, at least 1 is needed"));
    const float bad[2] = {1.0f, -1.0f};
    assert_int_equal(adam_preconditioner(bad, 2, 0.5f, 2, 0.5f, p, &e), -1);
    assert_non_null(strstr(e.msg, "second moment 1 is -1"));
    /* Cohen et al.'s threshold for beta1 0.9: 38 / lr */
    assert_close(adam_stability_threshold(0.9, 1e-3), 38000.0, 1e-9);
}

static void test_two_parameter_quadratic_gives_the_hand_computed_top_eigenvalue_of_p_inverse_h(void **s)
{
    (void)s;
    /* P from an AdamW state (beta2 0.5, t 2, eps 0.5, as above): diag(0.5, 2).
     * P^-1 H = [[8, 2], [0.5, 1]]: trace 9, determinant 7, eigenvalues
     * (9 +- sqrt(81 - 28)) / 2; the top one is (9 + sqrt(53)) / 2 = 8.1400549...
     * while H's own top eigenvalue is 3 + sqrt(2) = 4.41. */
    HessianOp op = {quadratic2_hvp, NULL, 2};
    PowerOptions po = power_options_default();
    po.max_iters = 200;
    po.rel_tol = 1e-12;
    PowerResult r;
    Err e;
    const float v[2] = {0.0f, 1.6875f};
    float p1[2];
    assert_int_equal(adam_preconditioner(v, 2, 0.5f, 2, 0.5f, p1, &e), 0);
    assert_true(p1[0] == 0.5f && p1[1] == 2.0f);
    assert_int_equal(precond_power_iteration(&op, p1, &po, &r, &e), 0);
    assert_close(r.eigenvalue, (9 + sqrt(53.0)) / 2, 1e-6);
    /* P = diag(1, 4): P^-1 H = [[4, 1], [0.25, 0.5]], trace 4.5, determinant 1.75,
     * top eigenvalue (4.5 + sqrt(4.5^2 - 4 * 1.75)) / 2 = (4.5 + sqrt(13.25)) / 2. */
    const float p2[2] = {1.0f, 4.0f};
    assert_int_equal(precond_power_iteration(&op, p2, &po, &r, &e), 0);
    assert_close(r.eigenvalue, (4.5 + sqrt(13.25)) / 2, 1e-6);
    /* P = I: the top eigenvalue of H, 3 + sqrt(2) */
    const float p3[2] = {1.0f, 1.0f};
    assert_int_equal(precond_power_iteration(&op, p3, &po, &r, &e), 0);
    assert_close(r.eigenvalue, 3 + sqrt(2.0), 1e-6);
    /* a zero entry of P is refused by index */
    const float p4[2] = {1.0f, 0.0f};
    assert_int_equal(precond_power_iteration(&op, p4, &po, &r, &e), -1);
    assert_non_null(strstr(e.msg, "P[1] = 0, expected > 0"));
    /* Lanczos: two steps span the whole space, so the Ritz values are both
     * eigenvalues of P^-1 H, (9 -+ sqrt(53)) / 2 for P = diag(0.5, 2) */
    double lo, hi;
    int used;
    assert_int_equal(precond_lanczos_extremes(&op, p1, 2, 1, &lo, &hi, &used, &e), 0);
    assert_int_equal(used, 2);
    assert_close(hi, (9 + sqrt(53.0)) / 2, 1e-6);
    assert_close(lo, (9 - sqrt(53.0)) / 2, 1e-6);
    assert_int_equal(precond_lanczos_extremes(&op, p4, 2, 1, &lo, &hi, &used, &e), -1);
    assert_non_null(strstr(e.msg, "P[1] = 0, expected > 0"));
}

static void test_model_with_identity_preconditioner_gives_the_plain_top_eigenvalue_bit_for_bit(void **s)
{
    (void)s;
    /* P = I makes D H D = H exactly (D = 1 in double rounds v and H v to
     * themselves), so the same seed walks the same iterates through the
     * model's Hessian-vector products. */
    Config cfg;
    Err e;
    assert_int_equal(config_preset(&cfg, "nano", &e), 0);
    Model m;
    assert_int_equal(model_create(&m, &cfg, 2, 8, &e), 0);
    model_init_weights(&m, 3);
    Batch b;
    batch_create(&b, 2, 8);
    Rng r = rng_stream(5, 2);
    for (int i = 0; i < 16; i++) {
        b.tokens[i] = (int)rng_below(&r, (uint64_t)cfg.vocab_size);
        b.targets[i] = (int)rng_below(&r, (uint64_t)cfg.vocab_size);
        b.mask[i] = 1;
    }
    b.n_counted = 16;
    float *ones = malloc(m.n_params * sizeof(float));
    for (size_t i = 0; i < m.n_params; i++) ones[i] = 1.0f;
    SharpnessOptions o = sharpness_options_default();
    o.probes = 2;
    o.eig = 1;
    o.eig_iters = 20;
    o.precond = ones;
    SharpnessResult res;
    assert_int_equal(sharpness_measure(&m, &b, &o, &res, &e), 0);
    assert_true(res.has_eig && res.has_precond_eig);
    assert_true(res.precond_eig.eigenvalue == res.eig.eigenvalue);
    assert_int_equal(res.precond_eig.iters, res.eig.iters);
    /* P = 2 I: P^-1 H = H / 2, up to the rounding of D = 1/sqrt(2) */
    for (size_t i = 0; i < m.n_params; i++) ones[i] = 2.0f;
    SharpnessResult half;
    assert_int_equal(sharpness_measure(&m, &b, &o, &half, &e), 0);
    assert_close(half.precond_eig.eigenvalue, res.eig.eigenvalue / 2, 1e-5 * fabs(res.eig.eigenvalue));
    sharpness_result_free(&res);
    sharpness_result_free(&half);
    free(ones);
    batch_free(&b);
    model_free(&m);
}

/* The verdict: comparable with Adam's threshold 2(1+b1)/((1-b1) lr) only
 * at a positive known LR, with moments that are not eps-dominated, and a
 * positive eigenvalue; otherwise one reason, and the threshold as it is
 * (infinite at lr 0, NaN when unknown). */
static void test_precond_verdict_says_when_the_threshold_does_not_apply(void **s)
{
    (void)s;
    const float eps = 1e-8f;
    float p[4] = {1e-3f, 2e-3f, 5e-4f, 1e-3f};   /* sqrt(v_hat) well above eps */
    PrecondVerdict v = precond_verdict(5e4, p, 4, eps, 0.9, 3e-4);
    assert_null(v.unresolved);
    assert_close(v.threshold, 3.8 / 0.1 / 3e-4, 1e-6);   /* (2 + 1.8) / (0.1 * 3e-4) = 126666.7 */
    assert_close(v.lr, 3e-4, 0);
    assert_close(v.eps_share, 0, 0);
    v = precond_verdict(5e4, p, 4, eps, 0.9, 0);
    assert_true(isinf(v.threshold));
    assert_non_null(strstr(v.unresolved, "LR is 0"));
    v = precond_verdict(5e4, p, 4, eps, 0.9, NAN);
    assert_true(isnan(v.threshold));
    assert_non_null(strstr(v.unresolved, "no schedule"));
    v = precond_verdict(-5e4, p, 4, eps, 0.9, 3e-4);
    assert_non_null(strstr(v.unresolved, "negative"));
    v = precond_verdict(5e4, NULL, 4, eps, 0.9, 3e-4);
    assert_non_null(strstr(v.unresolved, "moments are empty"));
    /* 1e-2 / eps = 1e6: an eigenvalue of 1e7 comes from 1/eps */
    v = precond_verdict(1e7, p, 4, eps, 0.9, 3e-4);
    assert_non_null(strstr(v.unresolved, "eps dominates P"));
    /* three of four parameters at sqrt(v_hat) = 0, P = eps */
    float q[4] = {eps, eps, eps, 1e-3f};
    v = precond_verdict(5e4, q, 4, eps, 0.9, 3e-4);
    assert_close(v.eps_share, 0.75, 0);
    assert_non_null(strstr(v.unresolved, "eps dominates P"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_preconditioner_is_sqrt_of_bias_corrected_v_plus_eps),
        cmocka_unit_test(test_two_parameter_quadratic_gives_the_hand_computed_top_eigenvalue_of_p_inverse_h),
        cmocka_unit_test(test_model_with_identity_preconditioner_gives_the_plain_top_eigenvalue_bit_for_bit),
        cmocka_unit_test(test_precond_verdict_says_when_the_threshold_does_not_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
