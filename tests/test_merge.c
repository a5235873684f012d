/* Merging checkpoints (train/merge.h): WSM's weights against hand
 * computations, the merge of hand-set tensors, K copies of one checkpoint
 * merging to it bit for bit, and a lineage that names every input. */
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
#include "core/rng.h"
#include "model/config.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/merge.h"

static void assert_close(double got, double want, double tol)
{
    if (fabs(got - want) > tol) fail_msg("got %.17g, want %.17g (tolerance %g)", got, want, tol);
}

static void assert_contains(const char *msg, const char *want)
{
    if (!strstr(msg, want)) fail_msg("message \"%s\" lacks \"%s\"", msg, want);
}

static void test_wsm_weights_match_the_hand_computed_decay_duality(void **s)
{
    (void)s;
    double c[4];
    /* uniform is the linear decay w_i = 1 - i/K: every c_j = 1/K */
    merge_wsm_weights(MERGE_UNIFORM, 4, c);
    for (int j = 0; j < 4; j++) assert_true(c[j] == 0.25);
    /* cosine, K = 3: w_1 = (1 + cos(pi/3))/2 = 0.75, w_2 = (1 + cos(2pi/3))/2 = 0.25,
     * so c = (1 - 0.75, 0.75 - 0.25, 0.25) */
    merge_wsm_weights(MERGE_COSINE, 3, c);
    assert_close(c[0], 0.25, 1e-15);
    assert_close(c[1], 0.5, 1e-15);
    assert_close(c[2], 0.25, 1e-15);
    /* 1-sqrt, K = 4: w_i = 1 - sqrt(i/4) = 0.5, 1 - 0.70710678, 1 - 0.8660254 */
    merge_wsm_weights(MERGE_SQRT, 4, c);
    assert_close(c[0], 0.5, 1e-15);
    assert_close(c[1], 0.70710678118654752 - 0.5, 1e-15);
    assert_close(c[2], 0.86602540378443865 - 0.70710678118654752, 1e-15);
    assert_close(c[3], 1 - 0.86602540378443865, 1e-15);
    assert_close(c[0] + c[1] + c[2] + c[3], 1, 1e-15);
    /* one checkpoint: itself */
    merge_wsm_weights(MERGE_COSINE, 1, c);
    assert_true(c[0] == 1.0);
}

static void test_weight_specs_parse_and_bad_ones_say_what_was_expected(void **s)
{
    (void)s;
    MergeWeights w;
    Err e;
    assert_int_equal(merge_weights_parse("0.5,0.25,0.25", 3, &w, &e), 0);
    assert_int_equal(w.shape, MERGE_EXPLICIT);
    assert_true(w.c[0] == 0.5 && w.c[1] == 0.25 && w.c[2] == 0.25);
    char text[256];
    merge_weights_format(&w, text, sizeof text);
    assert_string_equal(text, "0.5,0.25,0.25");
    assert_int_equal(merge_weights_parse("cosine", 3, &w, &e), 0);
    merge_weights_format(&w, text, sizeof text);
    assert_string_equal(text, "cosine");
    assert_close(w.c[1], 0.5, 1e-15);

    /* spaces around the commas and at the end are not weights */
    assert_int_equal(merge_weights_parse(" 0.5 ,0.25,  0.25 ", 3, &w, &e), 0);
    assert_true(w.c[0] == 0.5 && w.c[1] == 0.25 && w.c[2] == 0.25);

    assert_int_equal(merge_weights_parse("0.5,0.5", 3, &w, &e), -1);
    assert_contains(e.msg, "2 weights given, 3 checkpoints to merge");
    assert_int_equal(merge_weights_parse("0.5,0.5,0.5", 3, &w, &e), -1);
    assert_contains(e.msg, "they sum to 1.5, expected 1");
    assert_int_equal(merge_weights_parse("1.5,-0.5", 2, &w, &e), -1);
    assert_contains(e.msg, "weight 2 ('-0.5') is not a positive normal number");
    /* a zero or subnormal weight merges nothing of its checkpoint */
    assert_int_equal(merge_weights_parse("1,0", 2, &w, &e), -1);
    assert_contains(e.msg, "weight 2 ('0') is not a positive normal number");
    assert_int_equal(merge_weights_parse("1e-320,1", 2, &w, &e), -1);
    assert_contains(e.msg, "weight 1 ('1e-320') is not a positive normal number");
    /* a weight below float32's epsilon (2^-23 = 1.19e-7) moves no bit of a parameter */
    assert_int_equal(merge_weights_parse("1e-40,1", 2, &w, &e), -1);
    assert_contains(e.msg, "weight 1 ('1e-40') is below 1.19e-07, float32's precision");
    assert_int_equal(merge_weights_parse("1,1e-8", 2, &w, &e), -1);
    assert_contains(e.msg, "weight 2 ('1e-8') is below 1.19e-07");
    assert_int_equal(merge_weights_parse("1e-6,0.999999", 2, &w, &e), 0);
    assert_int_equal(merge_weights_parse("0.5,0.5,0", 2, &w, &e), -1);
    assert_contains(e.msg, "more than 2 weights");
    assert_int_equal(merge_weights_parse("linear-ish", 2, &w, &e), -1);
    assert_contains(e.msg, "'linear-ish' is not a number (expected uniform, cosine, 1-sqrt or 2 comma-separated "
                           "positive weights summing to 1)");
}

static void test_merge_of_hand_set_tensors_is_the_weighted_sum(void **s)
{
    (void)s;
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4] = {-4, 0, 4, 8};
    const float *in[3] = {a, b, c};
    const double w[3] = {0.5, 0.25, 0.25};
    float out[4];
    merge_params(in, w, 3, 4, out);
    /* 0.5 a + 0.25 b + 0.25 c, by hand */
    const float want[4] = {0.75f, 2.5f, 4.25f, 6.0f};
    for (int i = 0; i < 4; i++) assert_true(out[i] == want[i]);
}

/* ---- checkpoints on disk ----------------------------------------------- */

typedef struct {
    char       root[256];
    Config     cfg;
    ParamTable table;
    float     *params;
    AdamW      opt;
    Lineage    lin;
} Fixture;

static void fill_random(float *x, size_t n, uint64_t seed)
{
    Rng r = rng_stream(seed, 31);
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_normal(&r);
}

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/plateau-merge-XXXXXX");
    if (!mkdtemp(f->root)) return -1;
    Err e;
    if (config_preset(&f->cfg, "nano", &e)) return -1;
    param_table_build(&f->table, &f->cfg);
    f->params = malloc(f->table.total * sizeof(float));
    fill_random(f->params, f->table.total, 3);
    AdamWConfig oc = adamw_defaults();
    adamw_create(&f->opt, &oc, &f->table);
    fill_random(f->opt.m, f->opt.n, 4);
    fill_random(f->opt.v, f->opt.n, 5);
    for (size_t i = 0; i < f->opt.n; i++) f->opt.v[i] *= f->opt.v[i];
    f->opt.t = 300;
    snprintf(f->lin.stage, sizeof f->lin.stage, "pretrain");
    snprintf(f->lin.schedule, sizeof f->lin.schedule, "wso lr=0.001 warmup=10 end=400");
    f->lin.step = 300;
    f->lin.cursor.step = 300;   /* the data clock of a stage that began at step 0 */
    f->lin.stage_end_step = 400;
    f->lin.batch_tokens = 512;
    f->lin.micro_batch = 4;
    f->lin.seed = 7;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
    if (system(cmd) != 0) return -1;
    free(f->params);
    adamw_free(&f->opt);
    param_table_free(&f->table);
    free(f);
    return 0;
}

static void save(Fixture *f, const char *name, char *dir, size_t n)
{
    Err e;
    snprintf(dir, n, "%s/%s", f->root, name);
    if (checkpoint_save(dir, &f->cfg, f->params, &f->opt, &f->lin, &e)) fail_msg("save: %s", e.msg);
}

static void load(Fixture *f, const char *dir, float *params, AdamW *opt, Lineage *lin)
{
    Err e;
    int has_opt;
    if (checkpoint_load(dir, &f->cfg, params, opt, &has_opt, lin, &e)) fail_msg("load: %s", e.msg);
    assert_int_equal(has_opt, 1);
}

static void test_merge_of_k_copies_equals_the_checkpoint_bit_for_bit_and_lineage_lists_them(void **state)
{
    Fixture *f = *state;
    char src[512], out[512];
    save(f, "src", src, sizeof src);
    char src_id[CKPT_ID_CHARS + 1];
    memcpy(src_id, f->lin.id, sizeof src_id);
    size_t n = f->table.total;
    float *got = malloc(n * sizeof(float));
    AdamWConfig oc = adamw_defaults();
    AdamW opt;
    adamw_create(&opt, &oc, &f->table);
    static const char *const SPECS[] = {"uniform", "cosine", "1-sqrt"};
    for (int k = 1; k <= 5; k += 2)
        for (int s = 0; s < 3; s++) {
            const char *dirs[5] = {src, src, src, src, src};
            MergeWeights w;
            Err e;
            Lineage lin;
            assert_int_equal(merge_weights_parse(SPECS[s], k, &w, &e), 0);
            snprintf(out, sizeof out, "%s/merged-%d-%d", f->root, k, s);
            if (merge_checkpoints(dirs, k, &w, out, 0, &lin, &e)) fail_msg("merge: %s", e.msg);
            Lineage back;
            load(f, out, got, &opt, &back);
            assert_memory_equal(got, f->params, n * sizeof(float));
            assert_memory_equal(opt.m, f->opt.m, n * sizeof(float));
            assert_memory_equal(opt.v, f->opt.v, n * sizeof(float));
            assert_int_equal(opt.t, 300);
            assert_int_equal(back.step, 300);
            assert_string_equal(back.parent_id, src_id);
            assert_string_equal(back.schedule, f->lin.schedule);
            assert_int_equal(back.n_merged, k);
            double sum = 0;
            for (int j = 0; j < k; j++) {
                assert_string_equal(back.merged[j].id, src_id);
                assert_int_equal(back.merged[j].step, 300);
                assert_close(back.merged[j].weight, w.c[j], 1e-15);   /* JSON numbers: 15 digits */
                sum += back.merged[j].weight;
            }
            assert_close(sum, 1, 1e-15);
        }
    free(got);
    adamw_free(&opt);
}

static void test_merge_of_two_runs_states_is_their_weighted_average_in_input_order(void **state)
{
    Fixture *f = *state;
    size_t n = f->table.total;
    char old_dir[512], new_dir[512], out[512];
    save(f, "step-300", old_dir, sizeof old_dir);
    char old_id[CKPT_ID_CHARS + 1];
    memcpy(old_id, f->lin.id, sizeof old_id);
    float *old_p = malloc(n * sizeof(float)), *old_v = malloc(n * sizeof(float));
    memcpy(old_p, f->params, n * sizeof(float));
    memcpy(old_v, f->opt.v, n * sizeof(float));
    fill_random(f->params, n, 11);
    for (size_t i = 0; i < n; i++) f->opt.v[i] *= 2;
    f->opt.t = 350;
    f->lin.step = 350;
    f->lin.cursor.step = 350;
    save(f, "step-350", new_dir, sizeof new_dir);

    MergeWeights w;
    Err e;
    Lineage lin;
    assert_int_equal(merge_weights_parse("0.25,0.75", 2, &w, &e), 0);
    const char *dirs[2] = {old_dir, new_dir};
    snprintf(out, sizeof out, "%s/merged", f->root);
    if (merge_checkpoints(dirs, 2, &w, out, 0, &lin, &e)) fail_msg("merge: %s", e.msg);
    float *got = malloc(n * sizeof(float));
    AdamWConfig oc = adamw_defaults();
    AdamW opt;
    adamw_create(&opt, &oc, &f->table);
    Lineage back;
    load(f, out, got, &opt, &back);
    for (size_t i = 0; i < n; i++) {
        assert_true(got[i] == (float)(0.25 * (double)old_p[i] + 0.75 * (double)f->params[i]));
        /* v_new = 2 v_old: 0.25 v + 1.5 v = 1.75 v (exact in double) */
        assert_true(opt.v[i] == (float)(1.75 * (double)old_v[i]));
    }
    assert_int_equal(opt.t, 350);
    assert_int_equal(back.step, 350);
    assert_string_equal(back.parent_id, f->lin.id);
    assert_int_equal(back.n_merged, 2);
    assert_string_equal(back.merged[0].id, old_id);
    assert_int_equal(back.merged[0].step, 300);
    assert_true(back.merged[0].weight == 0.25);
    assert_string_equal(back.merged[1].id, f->lin.id);
    assert_int_equal(back.merged[1].step, 350);
    assert_true(back.merged[1].weight == 0.75);

    /* a lineage whose merged entry lost its weight is refused, naming the field */
    char lpath[600], *text;
    size_t bytes;
    snprintf(lpath, sizeof lpath, "%s/lineage.json", out);
    assert_int_equal(read_file(lpath, &text, &bytes, &e), 0);
    char *w_at = strstr(text, "\"weight\"");
    assert_non_null(w_at);
    memcpy(w_at, "\"wEight\"", 8);
    assert_int_equal(write_file_atomic(lpath, text, bytes, &e), 0);
    free(text);
    assert_int_equal(checkpoint_seal(out, NULL, &e), 0);
    assert_int_equal(checkpoint_load(out, &f->cfg, got, NULL, NULL, &back, &e), -1);
    assert_contains(e.msg, "merged/lineage.json: field merged[0] needs id (16 hex digits), step (integer) and weight");

    /* an --out that already exists (here: an input) is refused and left as it was */
    char before_id[CKPT_ID_CHARS + 1];
    memcpy(before_id, f->lin.id, sizeof before_id);
    assert_int_equal(merge_checkpoints(dirs, 2, &w, new_dir, 0, NULL, &e), -1);
    assert_contains(e.msg, "step-350 already exists; give a new folder");
    assert_int_equal(checkpoint_load(new_dir, &f->cfg, got, NULL, NULL, &back, &e), 0);
    assert_string_equal(back.id, before_id);

    /* newest first is refused, naming the input */
    const char *reversed[2] = {new_dir, old_dir};
    snprintf(out, sizeof out, "%s/merged-reversed", f->root);
    assert_int_equal(merge_checkpoints(reversed, 2, &w, out, 0, NULL, &e), -1);
    assert_contains(e.msg, "step-300 is at step 300, before the previous input (step 350): give inputs oldest first");
    free(got);
    free(old_p);
    free(old_v);
    adamw_free(&opt);
}

/* A run split into segments (a study's trunk) has one parent per segment:
 * its checkpoints merge. Checkpoints of two stages do not, in either order,
 * and SFT runs of different bases do not. */
static void test_merge_takes_one_runs_segments_and_refuses_mixed_stages(void **state)
{
    Fixture *f = *state;
    char a[600], b[600], sft[600], sft2[600], out[600];
    Err e;
    MergeWeights w;
    assert_int_equal(merge_weights_parse("uniform", 2, &w, &e), 0);
    snprintf(f->lin.parent_id, sizeof f->lin.parent_id, "00000000000000aa");
    save(f, "seg-a", a, sizeof a);
    char a_id[CKPT_ID_CHARS + 1];
    memcpy(a_id, f->lin.id, sizeof a_id);
    snprintf(f->lin.parent_id, sizeof f->lin.parent_id, "00000000000000bb");
    f->lin.step = f->lin.cursor.step = 350;
    save(f, "seg-b", b, sizeof b);
    const char *segments[2] = {a, b};
    snprintf(out, sizeof out, "%s/merged-segments", f->root);
    if (merge_checkpoints(segments, 2, &w, out, 0, NULL, &e)) fail_msg("merge of one run's segments: %s", e.msg);

    snprintf(f->lin.stage, sizeof f->lin.stage, "sft");
    memcpy(f->lin.parent_id, a_id, sizeof a_id);
    f->lin.step = f->lin.cursor.step = 5;
    save(f, "sft", sft, sizeof sft);
    const char *base_then_sft[2] = {a, sft}, *sft_then_base[2] = {sft, a};
    snprintf(out, sizeof out, "%s/merged-stages", f->root);
    assert_int_equal(merge_checkpoints(base_then_sft, 2, &w, out, 0, NULL, &e), -1);
    assert_contains(e.msg, "seg-a is a pretrain checkpoint and");
    assert_contains(e.msg, "a sft one");
    assert_int_equal(merge_checkpoints(sft_then_base, 2, &w, out, 0, NULL, &e), -1);
    assert_contains(e.msg, "is a sft checkpoint and");

    snprintf(f->lin.parent_id, sizeof f->lin.parent_id, "00000000000000cc");
    f->lin.step = f->lin.cursor.step = 6;
    save(f, "sft-other-base", sft2, sizeof sft2);
    const char *two_bases[2] = {sft, sft2};
    assert_int_equal(merge_checkpoints(two_bases, 2, &w, out, 0, NULL, &e), -1);
    assert_contains(e.msg, "their parents differ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wsm_weights_match_the_hand_computed_decay_duality),
        cmocka_unit_test(test_weight_specs_parse_and_bad_ones_say_what_was_expected),
        cmocka_unit_test(test_merge_of_hand_set_tensors_is_the_weighted_sum),
        cmocka_unit_test_setup_teardown(test_merge_of_k_copies_equals_the_checkpoint_bit_for_bit_and_lineage_lists_them,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_of_two_runs_states_is_their_weighted_average_in_input_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_merge_takes_one_runs_segments_and_refuses_mixed_stages, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
