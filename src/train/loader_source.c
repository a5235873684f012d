#include "train/loader_source.h"

#include <string.h>

int loader_source_open(LoaderSource *s, const LoaderConfig *cfg, Err *e)
{
    memset(s, 0, sizeof *s);
    if (loader_open(&s->loader, cfg, e)) return -1;
    batch_create(&s->batch, cfg->batch_size, cfg->seq_len);
    s->has_mask = cfg->mask_paths != NULL;
    return 0;
}

void loader_source_close(LoaderSource *s)
{
    batch_free(&s->batch);
    loader_close(&s->loader);
}

static int fill(void *ctx, int64_t step, int micro, int B, int T, int *tokens, int *targets, float *mask, Err *e)
{
    LoaderSource *s = ctx;
    if (B != s->batch.B || T != s->batch.T)
        return err_set(e, "data loader: asked for %d x %d, opened for %d x %d", B, T, s->batch.B, s->batch.T);
    loader_batch(&s->loader, step, micro, &s->batch);
    size_t n = (size_t)B * T;
    memcpy(tokens, s->batch.tokens, n * sizeof *tokens);
    memcpy(targets, s->batch.targets, n * sizeof *targets);
    if (mask) memcpy(mask, s->batch.mask, n * sizeof *mask);
    return 0;
}

static void cursor(void *ctx, int64_t steps_done, LoaderCursor *out)
{
    LoaderSource *s = ctx;
    *out = loader_cursor(&s->loader, steps_done);
}

BatchSource loader_source(LoaderSource *s)
{
    return (BatchSource){fill, cursor, s, s->has_mask};
}
