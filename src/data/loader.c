#include "data/loader.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/rng.h"
#include "data/shard.h"

static int check_config(const LoaderConfig *cfg, Err *e)
{
    if (cfg->n_shards <= 0 || !cfg->token_paths) return err_set(e, "data loader: no token shards given");
    if (cfg->seq_len <= 0) return err_set(e, "data loader: seq_len must be > 0, got %d", cfg->seq_len);
    if (cfg->batch_size <= 0) return err_set(e, "data loader: batch_size must be > 0, got %d", cfg->batch_size);
    if (cfg->n_micro <= 0) return err_set(e, "data loader: n_micro must be > 0, got %d", cfg->n_micro);
    if (cfg->layout != LOADER_STREAM && cfg->layout != LOADER_ROWS)
        return err_set(e, "data loader: unknown layout %d", (int)cfg->layout);
    return 0;
}

/* Reads one mask shard into dst (n tokens), checking its length and values. */
static int read_mask(const char *path, const char *token_path, size_t n, uint8_t *dst, Err *e)
{
    Shard m;
    if (shard_read(&m, path, e)) return -1;
    if (m.n_tokens != n) {
        err_set(e, "%s: loss mask has %zu values but its token shard %s has %zu tokens", path, m.n_tokens,
                token_path, n);
        shard_free(&m);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (m.tokens[i] > 1) {
            err_set(e, "%s: loss mask value %u at position %zu; expected 0 or 1", path, (unsigned)m.tokens[i], i);
            shard_free(&m);
            return -1;
        }
        dst[i] = (uint8_t)m.tokens[i];
    }
    shard_free(&m);
    return 0;
}

/* A larger copy of buf (used bytes kept); aborts on out-of-memory like xmalloc. */
static void *grow(void *buf, size_t used, size_t bytes)
{
    void *p = xmalloc(bytes);
    if (used) memcpy(p, buf, used);
    free(buf);
    return p;
}

/* Windows of T+1 tokens in n tokens, by the layout (loader.h). */
static int64_t windows_of(size_t n, const LoaderConfig *cfg)
{
    if (cfg->layout == LOADER_ROWS) return (int64_t)(n / ((size_t)cfg->seq_len + 1));
    return n > 0 ? (int64_t)((n - 1) / (size_t)cfg->seq_len) : 0;
}

int loader_count_windows(const LoaderConfig *cfg, size_t *n_tokens, int64_t *n_windows, Err *e)
{
    size_t total = 0;
    for (int i = 0; i < cfg->n_shards; i++) {
        size_t n;
        if (shard_count(cfg->token_paths[i], &n, e)) return -1;
        total += n;
    }
    *n_tokens = total;
    *n_windows = cfg->seq_len > 0 ? windows_of(total, cfg) : 0;
    return 0;
}

int loader_open(Loader *L, const LoaderConfig *cfg, Err *e)
{
    memset(L, 0, sizeof *L);
    if (check_config(cfg, e)) return -1;
    L->T = cfg->seq_len;
    L->B = cfg->batch_size;
    L->n_micro = cfg->n_micro;
    L->seed = cfg->seed;
    L->layout = cfg->layout;
    L->sequential = cfg->sequential;
    L->perm_epoch = -1;
    size_t row = (size_t)cfg->seq_len + 1;

    size_t cap = 0;
    for (int i = 0; i < cfg->n_shards; i++) {
        const char *path = cfg->token_paths[i];
        Shard s;
        if (shard_read(&s, path, e)) goto fail;
        if (cfg->layout == LOADER_ROWS && s.n_tokens % row != 0) {
            err_set(e, "%s: %zu tokens is not a whole number of rows of %zu (seq_len+1) tokens, "
                       "as the rows layout requires", path, s.n_tokens, row);
            shard_free(&s);
            goto fail;
        }
        if (cfg->vocab_size > 0)
            for (size_t k = 0; k < s.n_tokens; k++)
                if (s.tokens[k] >= cfg->vocab_size) {
                    err_set(e, "%s: token %u at position %zu is outside the vocabulary (size %d)", path,
                            (unsigned)s.tokens[k], k, cfg->vocab_size);
                    shard_free(&s);
                    goto fail;
                }
        if (L->n_tokens + s.n_tokens > cap) {
            cap = 2 * (L->n_tokens + s.n_tokens);
            L->tokens = grow(L->tokens, L->n_tokens * sizeof(uint16_t), cap * sizeof(uint16_t));
            if (cfg->mask_paths) L->mask = grow(L->mask, L->n_tokens, cap);
        }
        /* An empty shard (first or not) adds nothing: no offset from a buffer
         * that may not exist yet. */
        if (s.n_tokens) memcpy(L->tokens + L->n_tokens, s.tokens, s.n_tokens * sizeof(uint16_t));
        uint8_t *mask_dst = L->mask && s.n_tokens ? L->mask + L->n_tokens : NULL;
        if (cfg->mask_paths && read_mask(cfg->mask_paths[i], path, s.n_tokens, mask_dst, e)) {
            shard_free(&s);
            goto fail;
        }
        L->n_tokens += s.n_tokens;
        shard_free(&s);
    }

    L->n_windows = windows_of(L->n_tokens, cfg);
    if (L->n_windows == 0) {
        err_set(e, "%s%s: %zu tokens in all hold no window of %zu tokens (seq_len %d + 1)", cfg->token_paths[0],
                cfg->n_shards > 1 ? " and the other shards" : "", L->n_tokens, row, cfg->seq_len);
        goto fail;
    }
    if (L->n_windows > (int64_t)UINT32_MAX) {
        err_set(e, "%s: %lld windows exceed the loader's limit of 2^32", cfg->token_paths[0], (long long)L->n_windows);
        goto fail;
    }
    Checksum c;
    checksum_init(&c);
    checksum_update(&c, L->tokens, L->n_tokens * sizeof(uint16_t));
    if (L->mask) checksum_update(&c, L->mask, L->n_tokens);
    L->data_hash = checksum_final(&c);
    if (!L->sequential) L->perm = xmalloc((size_t)L->n_windows * sizeof(uint32_t));
    return 0;
fail:
    loader_close(L);
    return -1;
}

void loader_close(Loader *L)
{
    free(L->tokens);
    free(L->mask);
    free(L->perm);
    memset(L, 0, sizeof *L);
    L->perm_epoch = -1;
}

void batch_create(Batch *b, int B, int T)
{
    b->B = B;
    b->T = T;
    b->tokens = xmalloc((size_t)B * T * sizeof(int));
    b->targets = xmalloc((size_t)B * T * sizeof(int));
    b->mask = xmalloc((size_t)B * T * sizeof(float));
    b->windows = xmalloc((size_t)B * sizeof(int64_t));
    b->n_counted = 0;
}

void batch_free(Batch *b)
{
    free(b->tokens);
    free(b->targets);
    free(b->mask);
    free(b->windows);
    memset(b, 0, sizeof *b);
}

int64_t loader_steps_per_epoch(const Loader *L)
{
    return L->n_windows / ((int64_t)L->B * L->n_micro);
}

static void make_permutation(Loader *L, int64_t epoch)
{
    uint64_t n = (uint64_t)L->n_windows;
    for (uint64_t i = 0; i < n; i++) L->perm[i] = (uint32_t)i;
    /* Not rng_substream: this recipe made every finished study's data order (core/rng.h). */
    Rng r = rng_stream(L->seed, RNG_STREAM_DATA + ((uint64_t)(epoch + 1) << 32));
    rng_shuffle_u32(&r, L->perm, n);
    L->perm_epoch = epoch;
}

int64_t loader_window_of(Loader *L, int64_t q)
{
    assert(q >= 0 && L->n_windows > 0);
    int64_t epoch = q / L->n_windows, pos = q % L->n_windows;
    if (L->sequential) return pos;
    if (epoch != L->perm_epoch) make_permutation(L, epoch);
    return L->perm[pos];
}

static size_t window_start(const Loader *L, int64_t w)
{
    return (size_t)w * (size_t)(L->layout == LOADER_ROWS ? L->T + 1 : L->T);
}

void loader_window(const Loader *L, int64_t w, int *tokens, int *targets, float *mask)
{
    const uint16_t *x = L->tokens + window_start(L, w);
    const uint8_t *m = L->mask ? L->mask + window_start(L, w) + 1 : NULL;
    for (int t = 0; t < L->T; t++) {
        if (tokens) tokens[t] = x[t];
        if (targets) targets[t] = x[t + 1];
        if (mask) mask[t] = m ? (float)m[t] : 1.0f;
    }
}

void loader_sequences(Loader *L, int64_t first, int count, Batch *out)
{
    out->n_counted = 0;
    for (int b = 0; b < count; b++) {
        int64_t w = loader_window_of(L, first + b);
        size_t o = (size_t)b * L->T;
        out->windows[b] = w;
        loader_window(L, w, out->tokens + o, out->targets + o, out->mask + o);
        for (int t = 0; t < L->T; t++) out->n_counted += out->mask[o + t];
    }
}

void loader_batch(Loader *L, int64_t step, int micro, Batch *out)
{
    loader_sequences(L, (step * L->n_micro + micro) * L->B, L->B, out);
}

double loader_step_counted(Loader *L, int64_t step)
{
    int64_t per_step = (int64_t)L->n_micro * L->B;
    if (!L->mask) return (double)per_step * L->T;
    double n = 0;
    for (int64_t q = step * per_step; q < (step + 1) * per_step; q++) {
        const uint8_t *m = L->mask + window_start(L, loader_window_of(L, q)) + 1;
        for (int t = 0; t < L->T; t++) n += m[t];
    }
    return n;
}

LoaderCursor loader_cursor(const Loader *L, int64_t steps_done)
{
    LoaderCursor c;
    memset(&c, 0, sizeof c);
    c.seed = L->seed;
    c.data_hash = L->data_hash;
    c.n_windows = L->n_windows;
    c.step = steps_done;
    c.windows_consumed = steps_done * L->n_micro * L->B;
    c.epoch = c.windows_consumed / L->n_windows;
    c.seq_len = L->T;
    c.batch_size = L->B;
    c.n_micro = L->n_micro;
    c.layout = (int32_t)L->layout;
    return c;
}

int loader_resume(const Loader *L, const LoaderCursor *c, int64_t *next_step, Err *e)
{
    if (c->data_hash != L->data_hash || c->n_windows != L->n_windows)
        return err_set(e, "data loader: the data differs from the run being resumed (%lld windows, checksum %016llx; "
                          "the checkpoint saw %lld windows, checksum %016llx)",
                       (long long)L->n_windows, (unsigned long long)L->data_hash, (long long)c->n_windows,
                       (unsigned long long)c->data_hash);
    if (c->seed != L->seed)
        return err_set(e, "data loader: seed %llu differs from the resumed run's data seed %llu",
                       (unsigned long long)L->seed, (unsigned long long)c->seed);
    if (c->seq_len != L->T || c->layout != (int32_t)L->layout)
        return err_set(e, "data loader: seq_len %d differs from the resumed run's %d (or the layout changed)", L->T,
                       c->seq_len);
    if (c->batch_size != L->B || c->n_micro != L->n_micro)
        return err_set(e, "data loader: batch of %d x %d micro-batches differs from the resumed run's %d x %d", L->B,
                       L->n_micro, c->batch_size, c->n_micro);
    int64_t per_step = (int64_t)L->n_micro * L->B;
    if (c->step < 0 || c->step > INT64_MAX / per_step || c->windows_consumed != c->step * per_step ||
        c->epoch != c->windows_consumed / L->n_windows)
        return err_set(e, "data loader: inconsistent cursor (step %lld, %lld windows consumed, epoch %lld)",
                       (long long)c->step, (long long)c->windows_consumed, (long long)c->epoch);
    *next_step = c->step;
    return 0;
}
