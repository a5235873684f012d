#include "data/shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

int shard_read(Shard *s, const char *path, Err *e)
{
    memset(s, 0, sizeof *s);
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set(e, "%s: cannot open token shard: %s", path, strerror(errno));
    int32_t header[SHARD_HEADER_INTS];
    if (fread(header, sizeof(int32_t), SHARD_HEADER_INTS, fp) != SHARD_HEADER_INTS) {
        fclose(fp);
        return err_set(e, "%s: not a token shard: shorter than the %d-byte header", path,
                       (int)(SHARD_HEADER_INTS * sizeof(int32_t)));
    }
    if (header[0] != SHARD_MAGIC) {
        fclose(fp);
        return err_set(e, "%s: not a token shard: magic is %d, expected %d", path, header[0], SHARD_MAGIC);
    }
    if (header[1] != SHARD_VERSION) {
        fclose(fp);
        return err_set(e, "%s: token shard version %d, expected %d (uint16 tokens)", path, header[1],
                       SHARD_VERSION);
    }
    if (header[2] < 0) {
        fclose(fp);
        return err_set(e, "%s: token shard header gives a negative token count (%d)", path, header[2]);
    }
    size_t n = (size_t)header[2];
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    long expect = (long)(SHARD_HEADER_INTS * sizeof(int32_t) + n * sizeof(uint16_t));
    if (size != expect) {
        fclose(fp);
        return err_set(e, "%s: token shard is %ld bytes, but its header promises %zu tokens (%ld bytes)%s",
                       path, size, n, expect, size < expect ? ": truncated" : "");
    }
    fseek(fp, SHARD_HEADER_INTS * (long)sizeof(int32_t), SEEK_SET);
    s->tokens = xmalloc(n * sizeof(uint16_t));
    if (n && fread(s->tokens, sizeof(uint16_t), n, fp) != n) {
        fclose(fp);
        shard_free(s);
        return err_set(e, "%s: short read of token shard", path);
    }
    fclose(fp);
    s->n_tokens = n;
    return 0;
}

void shard_free(Shard *s)
{
    free(s->tokens);
    s->tokens = NULL;
    s->n_tokens = 0;
}

int shard_write(const char *path, const uint16_t *tokens, size_t n_tokens, Err *e)
{
    if (n_tokens > 0x7fffffffu)
        return err_set(e, "%s: %zu tokens do not fit one shard (at most 2^31-1)", path, n_tokens);
    int32_t header[SHARD_HEADER_INTS] = {0};
    header[0] = SHARD_MAGIC;
    header[1] = SHARD_VERSION;
    header[2] = (int32_t)n_tokens;
    AtomicFile af;
    if (afile_open(&af, path, e)) return -1;
    if (afile_write(&af, header, sizeof header, e)) return -1;
    if (afile_write(&af, tokens, n_tokens * sizeof(uint16_t), e)) return -1;
    return afile_commit(&af, e);
}
