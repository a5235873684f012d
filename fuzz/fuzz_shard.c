/* Token shards: header (magic, version, count) and tokens, read alone and
 * then as a loader's data (one shard as tokens and, when it holds only 0/1,
 * also as its own loss mask), drawing a batch from the last step of the
 * first epoch. */
#include <stdlib.h>

#include "data/loader.h"
#include "data/shard.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("tokens.bin", data, size);
    Shard s;
    Err e;
    if (shard_read(&s, path, &e)) return 0;
    shard_free(&s);
    const char *paths[2] = {path, path};
    for (int layout = 0; layout < 2; layout++) {
        LoaderConfig c = {paths, layout ? paths : NULL, 2, 3, 2, 1, 7, layout ? LOADER_ROWS : LOADER_STREAM, 0, 300};
        Loader L;
        if (loader_open(&L, &c, &e)) continue;
        Batch b;
        batch_create(&b, c.batch_size, c.seq_len);
        int64_t last = loader_steps_per_epoch(&L);
        loader_batch(&L, last > 0 ? last - 1 : 0, 0, &b);
        loader_step_counted(&L, last);
        batch_free(&b);
        loader_close(&L);
    }
    return 0;
}
