/* What SFT does to a base model (eval/sft_change.h): relative weight
 * distance against hand computations, forgetting as the rise of the PT
 * validation loss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "eval/sft_change.h"

static void assert_close(double got, double want, double tol)
{
    if (fabs(got - want) > tol) fail_msg("got %.17g, want %.17g (tolerance %g)", got, want, tol);
}

static void test_relative_weight_distance_matches_hand_computation(void **s)
{
    (void)s;
    /* base (3, 4, 0): norm 5; theta - base = (0, 0, 12): norm 12; 12 / 5 = 2.4 */
    const float base[3] = {3, 4, 0}, theta[3] = {3, 4, 12};
    double dist, norm;
    assert_close(weight_relative_distance(theta, base, 3, &dist, &norm), 2.4, 1e-15);
    assert_close(dist, 12, 1e-15);
    assert_close(norm, 5, 1e-15);
    /* (1, 2, 2) -> (2, 0, 4): difference (1, -2, 2), norm 3 over 3 */
    const float b2[3] = {1, 2, 2}, t2[3] = {2, 0, 4};
    assert_close(weight_relative_distance(t2, b2, 3, NULL, NULL), 1.0, 1e-15);
    const float zero[2] = {0, 0}, one[2] = {0, 1};
    assert_true(weight_relative_distance(zero, zero, 2, NULL, NULL) == 0);
    assert_true(isinf(weight_relative_distance(one, zero, 2, NULL, NULL)));
}

static void test_forgetting_is_the_rise_of_pt_loss_and_zero_for_an_unchanged_model(void **s)
{
    (void)s;
    Config cfg;
    Err e;
    assert_int_equal(config_preset(&cfg, "nano", &e), 0);
    Model m;
    assert_int_equal(model_create(&m, &cfg, 2, 16, &e), 0);
    model_init_weights(&m, 1);
    size_t n = m.n_params;
    float *base = malloc(n * sizeof(float)), *sft = malloc(n * sizeof(float));
    memcpy(base, m.params, n * sizeof(float));
    enum { N_TOK = 400 };
    uint16_t tok[N_TOK];
    Rng r = rng_stream(9, 1);
    for (int i = 0; i < N_TOK; i++) tok[i] = (uint16_t)rng_below(&r, (uint64_t)cfg.vocab_size);

    SftChange c;
    assert_int_equal(sft_change_measure(&m, base, base, tok, N_TOK, 2, 16, &c, &e), 0);
    assert_true(c.forgetting == 0);
    assert_true(c.rel_weight_distance == 0);
    /* an untrained model predicts near-uniformly: loss close to ln(vocab) */
    assert_close(c.pt_base.mean_loss, log((double)cfg.vocab_size), 0.1);
    assert_int_equal(c.pt_base.n_scored, (N_TOK - 1) / 16 * 16);   /* windows of 17 tokens, stride 16: 24 x 16 */

    /* theta_sft = 1.5 theta_base: relative distance 0.5; forgetting is the
     * difference of the two losses, each equal to a plain evaluation */
    for (size_t i = 0; i < n; i++) sft[i] = 1.5f * base[i];
    assert_int_equal(sft_change_measure(&m, base, sft, tok, N_TOK, 2, 16, &c, &e), 0);
    assert_close(c.rel_weight_distance, 0.5, 1e-9);
    LossResult l_sft, l_base;
    assert_int_equal(eval_stream_loss(&m, tok, N_TOK, 2, 16, &l_sft, &e), 0);   /* m holds theta_sft */
    memcpy(m.params, base, n * sizeof(float));
    assert_int_equal(eval_stream_loss(&m, tok, N_TOK, 2, 16, &l_base, &e), 0);
    assert_true(c.pt_sft.mean_loss == l_sft.mean_loss);
    assert_true(c.pt_base.mean_loss == l_base.mean_loss);
    assert_true(c.forgetting == l_sft.mean_loss - l_base.mean_loss);
    assert_true(c.forgetting != 0);
    free(base);
    free(sft);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relative_weight_distance_matches_hand_computation),
        cmocka_unit_test(test_forgetting_is_the_rise_of_pt_loss_and_zero_for_an_unchanged_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
