/* The data loader: batches are a pure function of (data, seed, step,
 * micro-batch). The test data's token values are their positions in the
 * stream, so a batch shows exactly which tokens it took. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "data/loader.h"
#include "data/shard.h"

/* Two shards: positions 0..999 and 1000..1600; T = 16 gives 100 windows. */
#define N_A 1000
#define N_B 601
#define T 16
#define N_WINDOWS 100

static char dir[64], shard_a[128], shard_b[128], mask_a[128], mask_b[128];
static const char *paths[2] = {shard_a, shard_b};
static const char *masks[2] = {mask_a, mask_b};

static int counted_position(int i) { return i % 3 == 0; }

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/plateau-test-loader-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    path_join(shard_a, sizeof shard_a, dir, "a.bin");
    path_join(shard_b, sizeof shard_b, dir, "b.bin");
    path_join(mask_a, sizeof mask_a, dir, "a.mask.bin");
    path_join(mask_b, sizeof mask_b, dir, "b.mask.bin");
    uint16_t tok[N_A + N_B], msk[N_A + N_B];
    for (int i = 0; i < N_A + N_B; i++) {
        tok[i] = (uint16_t)i;
        msk[i] = (uint16_t)counted_position(i);
    }
    Err e;
    if (shard_write(shard_a, tok, N_A, &e) || shard_write(shard_b, tok + N_A, N_B, &e) ||
        shard_write(mask_a, msk, N_A, &e) || shard_write(mask_b, msk + N_A, N_B, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static LoaderConfig config(uint64_t seed, int B, int n_micro)
{
    LoaderConfig c = {paths, NULL, 2, T, B, n_micro, seed, LOADER_STREAM, 0, 0};
    return c;
}

static void open_ok(Loader *L, const LoaderConfig *c)
{
    Err e;
    if (loader_open(L, c, &e)) fail_msg("%s", e.msg);
}

static void assert_same_batch(const Batch *x, const Batch *y)
{
    assert_int_equal(x->B, y->B);
    assert_memory_equal(x->tokens, y->tokens, (size_t)x->B * T * sizeof(int));
    assert_memory_equal(x->targets, y->targets, (size_t)x->B * T * sizeof(int));
    assert_memory_equal(x->mask, y->mask, (size_t)x->B * T * sizeof(float));
    assert_memory_equal(x->windows, y->windows, (size_t)x->B * sizeof(int64_t));
    assert_true(x->n_counted == y->n_counted);
}

static void windows_are_shifted_pairs_of_the_concatenated_stream(void **state)
{
    (void)state;
    Loader L;
    LoaderConfig c = config(1, 4, 1);
    open_ok(&L, &c);
    assert_int_equal(L.n_windows, N_WINDOWS);
    assert_int_equal(L.n_tokens, N_A + N_B);
    assert_int_equal(loader_steps_per_epoch(&L), 25);
    int tok[T], tgt[T];
    float m[T];
    /* window 62 spans the shard boundary at 1000: tokens 992..1008 */
    loader_window(&L, 62, tok, tgt, m);
    for (int t = 0; t < T; t++) {
        assert_int_equal(tok[t], 992 + t);
        assert_int_equal(tgt[t], 993 + t);
        assert_true(m[t] == 1.0f);
    }
    Batch b;
    batch_create(&b, 4, T);
    loader_batch(&L, 3, 0, &b);
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < T; t++) {
            assert_int_equal(b.tokens[r * T + t], b.windows[r] * T + t);
            assert_int_equal(b.targets[r * T + t], b.tokens[r * T + t] + 1);
        }
    assert_true(b.n_counted == 4 * T);
    assert_true(loader_step_counted(&L, 3) == 4 * T);
    batch_free(&b);
    loader_close(&L);
}

static void same_seed_and_step_give_the_same_batch(void **state)
{
    (void)state;
    Loader L1, L2;
    LoaderConfig c = config(42, 4, 2);
    open_ok(&L1, &c);
    open_ok(&L2, &c);
    Batch x, y;
    batch_create(&x, 4, T);
    batch_create(&y, 4, T);
    for (int64_t step = 0; step < 40; step += 7)
        for (int micro = 0; micro < 2; micro++) {
            loader_batch(&L1, step, micro, &x);
            loader_batch(&L2, step, micro, &y);
            assert_same_batch(&x, &y);
            loader_batch(&L1, step, micro, &y);   /* and again from the same loader */
            assert_same_batch(&x, &y);
        }
    batch_free(&x);
    batch_free(&y);
    loader_close(&L1);
    loader_close(&L2);
}

static void different_seeds_give_different_orders(void **state)
{
    (void)state;
    Loader L1, L2;
    LoaderConfig c1 = config(1, 4, 1), c2 = config(2, 4, 1);
    open_ok(&L1, &c1);
    open_ok(&L2, &c2);
    int same = 0;
    for (int64_t q = 0; q < N_WINDOWS; q++) same += loader_window_of(&L1, q) == loader_window_of(&L2, q);
    /* two independent permutations of 100 agree in about 1 place */
    assert_true(same < 8);
    loader_close(&L1);
    loader_close(&L2);
}

static void every_window_appears_once_per_epoch_and_epochs_reshuffle(void **state)
{
    (void)state;
    Loader L;
    LoaderConfig c = config(7, 4, 2);   /* 8 sequences a step: 25 steps are 2 epochs */
    open_ok(&L, &c);
    Batch b;
    batch_create(&b, 4, T);
    int seen[2][N_WINDOWS] = {{0}}, target_seen[N_A + N_B] = {0};
    int64_t order[2][N_WINDOWS];
    int64_t q = 0;
    for (int64_t step = 0; step < 25; step++)
        for (int micro = 0; micro < 2; micro++) {
            loader_batch(&L, step, micro, &b);
            for (int r = 0; r < 4; r++, q++) {
                int epoch = (int)(q / N_WINDOWS);
                seen[epoch][b.windows[r]]++;
                order[epoch][q % N_WINDOWS] = b.windows[r];
                if (epoch == 0)
                    for (int t = 0; t < T; t++) target_seen[b.targets[r * T + t]]++;
            }
        }
    for (int w = 0; w < N_WINDOWS; w++) {
        assert_int_equal(seen[0][w], 1);
        assert_int_equal(seen[1][w], 1);
    }
    /* every token but the first is a target exactly once in an epoch */
    assert_int_equal(target_seen[0], 0);
    for (int i = 1; i < N_A + N_B; i++) assert_int_equal(target_seen[i], 1);
    int same = 0;
    for (int k = 0; k < N_WINDOWS; k++) same += order[0][k] == order[1][k];
    assert_true(same < 8);
    assert_true(order[0][0] != 0 || order[0][1] != 1 || order[0][2] != 2);   /* shuffled at all */
    batch_free(&b);
    loader_close(&L);
}

static void resuming_from_a_cursor_continues_identically(void **state)
{
    (void)state;
    Loader L, R;
    LoaderConfig c = config(11, 4, 2);
    open_ok(&L, &c);
    Batch x, y;
    batch_create(&x, 4, T);
    batch_create(&y, 4, T);
    /* the uninterrupted run draws steps 0..19; a checkpoint after 13 */
    Batch full[20][2];
    for (int s = 0; s < 20; s++)
        for (int m = 0; m < 2; m++) {
            batch_create(&full[s][m], 4, T);
            loader_batch(&L, s, m, &full[s][m]);
        }
    LoaderCursor cur = loader_cursor(&L, 13);
    assert_int_equal(cur.windows_consumed, 104);
    assert_int_equal(cur.epoch, 1);
    assert_int_equal(cur.step, 13);
    /* a new process opens the same data and resumes */
    open_ok(&R, &c);
    int64_t next;
    Err e;
    assert_int_equal(loader_resume(&R, &cur, &next, &e), 0);
    assert_int_equal(next, 13);
    for (int64_t s = next; s < 20; s++)
        for (int m = 0; m < 2; m++) {
            loader_batch(&R, s, m, &y);
            assert_same_batch(&y, &full[s][m]);
        }
    for (int s = 0; s < 20; s++)
        for (int m = 0; m < 2; m++) batch_free(&full[s][m]);
    loader_close(&R);

    /* what changed is named */
    LoaderConfig other_seed = config(12, 4, 2), other_batch = config(11, 8, 1);
    open_ok(&R, &other_seed);
    assert_int_equal(loader_resume(&R, &cur, &next, &e), -1);
    assert_non_null(strstr(e.msg, "seed 12"));
    loader_close(&R);
    open_ok(&R, &other_batch);
    assert_int_equal(loader_resume(&R, &cur, &next, &e), -1);
    assert_non_null(strstr(e.msg, "batch of 8 x 1"));
    loader_close(&R);
    const char *one[1] = {shard_a};
    LoaderConfig other_data = config(11, 4, 2);
    other_data.token_paths = one;
    other_data.n_shards = 1;
    open_ok(&R, &other_data);
    assert_int_equal(loader_resume(&R, &cur, &next, &e), -1);
    assert_non_null(strstr(e.msg, "data differs"));
    loader_close(&R);

    /* a cursor whose counters disagree is refused, never used as an index */
    open_ok(&R, &c);
    LoaderCursor bad = cur;
    bad.step = -40;
    bad.windows_consumed = -40 * 8;
    bad.epoch = 0;
    assert_int_equal(loader_resume(&R, &bad, &next, &e), -1);
    assert_non_null(strstr(e.msg, "inconsistent cursor (step -40"));
    bad = cur;
    bad.epoch = 0;   /* 104 windows drawn of 100 reach epoch 1 */
    assert_int_equal(loader_resume(&R, &bad, &next, &e), -1);
    assert_non_null(strstr(e.msg, "epoch 0"));
    bad = cur;
    bad.step = INT64_MAX / 2;   /* step x 8 sequences would overflow */
    bad.windows_consumed = 0;
    assert_int_equal(loader_resume(&R, &bad, &next, &e), -1);
    assert_non_null(strstr(e.msg, "inconsistent cursor"));
    loader_close(&R);
    batch_free(&x);
    batch_free(&y);
    loader_close(&L);
}

static void a_batch_does_not_depend_on_call_order(void **state)
{
    (void)state;
    Loader L1, L2;
    LoaderConfig c = config(5, 4, 2);
    open_ok(&L1, &c);
    open_ok(&L2, &c);
    Batch x, y;
    batch_create(&x, 4, T);
    batch_create(&y, 4, T);
    /* L2 walks the steps backwards with unrelated look-ups in between */
    for (int64_t s = 39; s >= 0; s--) {
        loader_window_of(&L2, (s * 7919) % 1000);
        loader_step_counted(&L2, 1000 - s);
        loader_batch(&L2, s, 1, &y);
        loader_batch(&L1, s, 1, &x);
        assert_same_batch(&x, &y);
    }
    batch_free(&x);
    batch_free(&y);
    loader_close(&L1);
    loader_close(&L2);
}

static void a_steps_windows_do_not_depend_on_the_micro_batch_split(void **state)
{
    (void)state;
    Loader L1, L2;
    LoaderConfig c1 = config(9, 8, 1), c2 = config(9, 4, 2);
    open_ok(&L1, &c1);
    open_ok(&L2, &c2);
    Batch whole, half;
    batch_create(&whole, 8, T);
    batch_create(&half, 4, T);
    for (int64_t s = 0; s < 30; s++) {
        loader_batch(&L1, s, 0, &whole);
        for (int m = 0; m < 2; m++) {
            loader_batch(&L2, s, m, &half);
            assert_memory_equal(half.windows, whole.windows + 4 * m, 4 * sizeof(int64_t));
            assert_memory_equal(half.tokens, whole.tokens + 4 * m * T, 4 * T * sizeof(int));
        }
    }
    batch_free(&whole);
    batch_free(&half);
    loader_close(&L1);
    loader_close(&L2);
}

static void a_loss_mask_follows_the_target_positions(void **state)
{
    (void)state;
    Loader L;
    LoaderConfig c = config(3, 4, 2);
    c.mask_paths = masks;
    open_ok(&L, &c);
    Batch b;
    batch_create(&b, 4, T);
    for (int64_t s = 0; s < 5; s++) {
        double step_total = 0;
        for (int m = 0; m < 2; m++) {
            loader_batch(&L, s, m, &b);
            double n = 0;
            for (int i = 0; i < 4 * T; i++) {
                assert_true(b.mask[i] == (float)counted_position(b.targets[i]));
                n += b.mask[i];
            }
            assert_true(b.n_counted == n);
            step_total += n;
        }
        assert_true(loader_step_counted(&L, s) == step_total);
        /* a third of the 128 targets of a step, give or take a window's rounding */
        assert_true(step_total >= 40 && step_total <= 46);
    }
    batch_free(&b);
    loader_close(&L);
}

static void rows_layout_takes_each_row_as_one_window(void **state)
{
    (void)state;
    char rows_path[128], rows_mask[128], odd_path[128];
    path_join(rows_path, sizeof rows_path, dir, "rows.bin");
    path_join(rows_mask, sizeof rows_mask, dir, "rows.mask.bin");
    path_join(odd_path, sizeof odd_path, dir, "odd.bin");
    uint16_t tok[5 * (T + 1)], msk[5 * (T + 1)];
    for (int i = 0; i < 5 * (T + 1); i++) {
        tok[i] = (uint16_t)i;
        msk[i] = (uint16_t)(i % (T + 1) >= 10);   /* the "answer" is the row's tail */
    }
    Err e;
    assert_int_equal(shard_write(rows_path, tok, 5 * (T + 1), &e), 0);
    assert_int_equal(shard_write(rows_mask, msk, 5 * (T + 1), &e), 0);
    assert_int_equal(shard_write(odd_path, tok, 5 * (T + 1) - 1, &e), 0);
    const char *p[1] = {rows_path}, *m[1] = {rows_mask};
    LoaderConfig c = {p, m, 1, T, 2, 1, 1, LOADER_ROWS, 0, 0};
    Loader L;
    open_ok(&L, &c);
    assert_int_equal(L.n_windows, 5);
    int tk[T], tg[T];
    float mk[T];
    loader_window(&L, 3, tk, tg, mk);
    for (int t = 0; t < T; t++) {
        assert_int_equal(tk[t], 3 * (T + 1) + t);
        assert_int_equal(tg[t], 3 * (T + 1) + t + 1);
        assert_true(mk[t] == (t + 1 >= 10 ? 1.0f : 0.0f));
    }
    loader_close(&L);
    p[0] = odd_path;
    c.mask_paths = NULL;
    assert_int_equal(loader_open(&L, &c, &e), -1);
    assert_non_null(strstr(e.msg, odd_path));
    assert_non_null(strstr(e.msg, "not a whole number of rows of 17"));
}

static void bad_data_is_an_error_naming_file_and_position(void **state)
{
    (void)state;
    char bad_mask[128], short_mask[128], tiny[128];
    path_join(bad_mask, sizeof bad_mask, dir, "bad.mask.bin");
    path_join(short_mask, sizeof short_mask, dir, "short.mask.bin");
    path_join(tiny, sizeof tiny, dir, "tiny.bin");
    uint16_t v[N_A] = {0};
    v[17] = 2;
    Err e;
    assert_int_equal(shard_write(bad_mask, v, N_A, &e), 0);
    assert_int_equal(shard_write(short_mask, v, 10, &e), 0);
    assert_int_equal(shard_write(tiny, v, T, &e), 0);
    Loader L;

    const char *mp[2] = {bad_mask, mask_b};
    LoaderConfig c = config(1, 4, 1);
    c.mask_paths = mp;
    assert_int_equal(loader_open(&L, &c, &e), -1);
    assert_non_null(strstr(e.msg, bad_mask));
    assert_non_null(strstr(e.msg, "value 2 at position 17"));

    mp[0] = short_mask;
    assert_int_equal(loader_open(&L, &c, &e), -1);
    assert_non_null(strstr(e.msg, "has 10 values but its token shard"));

    c = config(1, 4, 1);
    c.vocab_size = 1200;
    assert_int_equal(loader_open(&L, &c, &e), -1);
    assert_non_null(strstr(e.msg, shard_b));
    assert_non_null(strstr(e.msg, "token 1200 at position 200 is outside the vocabulary (size 1200)"));

    const char *tp[1] = {tiny};
    c = config(1, 4, 1);
    c.token_paths = tp;
    c.n_shards = 1;
    assert_int_equal(loader_open(&L, &c, &e), -1);
    assert_non_null(strstr(e.msg, "hold no window of 17 tokens"));

    tp[0] = "/nonexistent/x.bin";
    assert_int_equal(loader_open(&L, &c, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/x.bin"));

    c = config(1, 0, 1);
    assert_int_equal(loader_open(&L, &c, &e), -1);
    assert_non_null(strstr(e.msg, "batch_size"));
}

/* An empty shard (with its empty mask) anywhere in the list, first
 * included, adds nothing: same windows as without it. */
static void empty_shards_add_no_windows(void **state)
{
    (void)state;
    char empty[128], empty_mask[128];
    path_join(empty, sizeof empty, dir, "empty.bin");
    path_join(empty_mask, sizeof empty_mask, dir, "empty.mask.bin");
    Err e;
    assert_int_equal(shard_write(empty, NULL, 0, &e), 0);
    assert_int_equal(shard_write(empty_mask, NULL, 0, &e), 0);
    const char *tp[4] = {empty, shard_a, empty, shard_b}, *mp[4] = {empty_mask, mask_a, empty_mask, mask_b};
    LoaderConfig c = config(3, 4, 1);
    c.token_paths = tp;
    c.mask_paths = mp;
    c.n_shards = 4;
    Loader L;
    open_ok(&L, &c);
    assert_int_equal(L.n_windows, N_WINDOWS);
    assert_int_equal(L.n_tokens, N_A + N_B);
    int tok[T], tgt[T];
    float m[T];
    loader_window(&L, 62, tok, tgt, m);
    for (int t = 0; t < T; t++) {
        assert_int_equal(tok[t], 992 + t);
        assert_true(m[t] == (float)counted_position(993 + t));
    }
    loader_close(&L);
}

static void sequential_order_is_file_order_every_epoch(void **state)
{
    (void)state;
    Loader L;
    LoaderConfig c = config(1, 4, 1);
    c.sequential = 1;
    open_ok(&L, &c);
    for (int64_t q = 0; q < 3 * N_WINDOWS; q += 13) assert_int_equal(loader_window_of(&L, q), q % N_WINDOWS);
    loader_close(&L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(windows_are_shifted_pairs_of_the_concatenated_stream),
        cmocka_unit_test(same_seed_and_step_give_the_same_batch),
        cmocka_unit_test(different_seeds_give_different_orders),
        cmocka_unit_test(every_window_appears_once_per_epoch_and_epochs_reshuffle),
        cmocka_unit_test(resuming_from_a_cursor_continues_identically),
        cmocka_unit_test(a_batch_does_not_depend_on_call_order),
        cmocka_unit_test(a_steps_windows_do_not_depend_on_the_micro_batch_split),
        cmocka_unit_test(a_loss_mask_follows_the_target_positions),
        cmocka_unit_test(rows_layout_takes_each_row_as_one_window),
        cmocka_unit_test(bad_data_is_an_error_naming_file_and_position),
        cmocka_unit_test(sequential_order_is_file_order_every_epoch),
        cmocka_unit_test(empty_shards_add_no_windows),
    };
    return cmocka_run_group_tests_name("loader", tests, setup, teardown);
}
