#include "train/shard_batches.h"

#include <string.h>

#include "core/rng.h"

int shard_batches_open(ShardBatches *sb, const char *data_path, const char *mask_path, uint64_t seed, int vocab_size,
                       Err *e)
{
    memset(sb, 0, sizeof *sb);
    sb->seed = seed;
    if (shard_read(&sb->data, data_path, e)) return -1;
    for (size_t i = 0; i < sb->data.n_tokens; i++)
        if (sb->data.tokens[i] >= vocab_size) {
            err_set(e, "%s: token %u at position %zu is outside the model's vocabulary of %d", data_path,
                    sb->data.tokens[i], i, vocab_size);
            shard_free(&sb->data);
            return -1;
        }
    if (mask_path) {
        if (shard_read(&sb->mask, mask_path, e)) {
            shard_free(&sb->data);
            return -1;
        }
        const char *bad = NULL;
        if (sb->mask.n_tokens != sb->data.n_tokens) bad = "length";
        for (size_t i = 0; !bad && i < sb->mask.n_tokens; i++)
            if (sb->mask.tokens[i] > 1) bad = "values";
        if (bad) {
            err_set(e, "%s: mask %s: expected %zu values of 0 or 1 aligned with %s", mask_path, bad,
                    sb->data.n_tokens, data_path);
            shard_batches_close(sb);
            return -1;
        }
        sb->has_mask = 1;
    }
    return 0;
}

void shard_batches_close(ShardBatches *sb)
{
    shard_free(&sb->data);
    shard_free(&sb->mask);
}

static int fill(void *ctx, int64_t step, int micro, int B, int T, int *tokens, int *targets, float *mask, Err *e)
{
    ShardBatches *sb = ctx;
    size_t n = sb->data.n_tokens;
    if (n < (size_t)T + 1)
        return err_set(e, "data: %zu tokens are fewer than one sequence of %d + 1", n, T);
    for (int b = 0; b < B; b++) {
        uint64_t j = (uint64_t)micro * (uint64_t)B + (uint64_t)b;
        Rng r = rng_stream(mix64(sb->seed ^ mix64((uint64_t)step)) + j, RNG_STREAM_DATA);
        size_t at = (size_t)rng_below(&r, n - (size_t)T);
        for (int t = 0; t < T; t++) {
            tokens[b * T + t] = sb->data.tokens[at + t];
            targets[b * T + t] = sb->data.tokens[at + t + 1];
            if (mask) mask[b * T + t] = (float)sb->mask.tokens[at + t + 1];
        }
    }
    return 0;
}

BatchSource shard_batches_source(ShardBatches *sb)
{
    return (BatchSource){fill, NULL, sb, sb->has_mask};
}
