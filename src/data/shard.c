#include "data/shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

/* Opens path and checks its header against the file's size; *n receives
 * the token count. Returns the open file (at the end), or NULL with e set. */
static FILE *shard_open_checked(const char *path, size_t *n_out, Err *e)
{
    FILE *fp = file_open_read(path, e);
    if (!fp) {
        err_wrap(e, "token shard");
        return NULL;
    }
    int32_t header[SHARD_HEADER_INTS];
    if (fread(header, sizeof(int32_t), SHARD_HEADER_INTS, fp) != SHARD_HEADER_INTS)
        err_set(e, "%s: not a token shard: shorter than the %d-byte header", path,
                (int)(SHARD_HEADER_INTS * sizeof(int32_t)));
    else if (header[0] != SHARD_MAGIC)
        err_set(e, "%s: not a token shard: magic is %d, expected %d", path, header[0], SHARD_MAGIC);
    else if (header[1] != SHARD_VERSION)
        err_set(e, "%s: token shard version %d, expected %d (uint16 tokens)", path, header[1], SHARD_VERSION);
    else if (header[2] < 0)
        err_set(e, "%s: token shard header gives a negative token count (%d)", path, header[2]);
    else {
        size_t n = (size_t)header[2];
        fseek(fp, 0, SEEK_END);
        long size = ftell(fp);
        long expect = (long)(SHARD_HEADER_INTS * sizeof(int32_t) + n * sizeof(uint16_t));
        if (size == expect) {
            *n_out = n;
            return fp;
        }
        err_set(e, "%s: token shard is %ld bytes, but its header promises %zu tokens (%ld bytes)%s", path, size, n,
                expect, size < expect ? ": truncated" : "");
    }
    fclose(fp);
    return NULL;
}

int shard_count(const char *path, size_t *n_tokens, Err *e)
{
    FILE *fp = shard_open_checked(path, n_tokens, e);
    if (!fp) return -1;
    fclose(fp);
    return 0;
}

int shard_read(Shard *s, const char *path, Err *e)
{
    memset(s, 0, sizeof *s);
    size_t n;
    FILE *fp = shard_open_checked(path, &n, e);
    if (!fp) return -1;
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

static void shard_header(int32_t *header, size_t n_tokens);

int shard_write(const char *path, const uint16_t *tokens, size_t n_tokens, Err *e)
{
    if (n_tokens > 0x7fffffffu)
        return err_set(e, "%s: %zu tokens do not fit one shard (at most 2^31-1)", path, n_tokens);
    int32_t header[SHARD_HEADER_INTS];
    shard_header(header, n_tokens);
    AtomicFile af;
    if (afile_open(&af, path, e)) return -1;
    if (afile_write(&af, header, sizeof header, e)) return -1;
    if (afile_write(&af, tokens, n_tokens * sizeof(uint16_t), e)) return -1;
    return afile_commit(&af, e);
}

/* ---- streaming ------------------------------------------------------------ */

static void shard_header(int32_t *header, size_t n_tokens)
{
    memset(header, 0, SHARD_HEADER_INTS * sizeof *header);
    header[0] = SHARD_MAGIC;
    header[1] = SHARD_VERSION;
    header[2] = (int32_t)n_tokens;
}

int shard_stream_open(ShardStream *s, const char *path, Err *e)
{
    int32_t header[SHARD_HEADER_INTS];
    shard_header(header, 0);   /* the count follows at close */
    s->used = s->n_tokens = 0;
    if (afile_open(&s->af, path, e)) return -1;
    return afile_write(&s->af, header, sizeof header, e);
}

static int stream_flush(ShardStream *s, Err *e)
{
    int rc = afile_write(&s->af, s->buf, s->used * sizeof *s->buf, e);
    s->used = 0;
    return rc;
}

int shard_stream_put(ShardStream *s, const uint16_t *tokens, size_t n, Err *e)
{
    if (s->n_tokens + n > 0x7fffffffu)
        return err_set(e, "%s: more than 2^31-1 tokens do not fit one shard", s->af.path);
    for (size_t i = 0; i < n; i++) {
        s->buf[s->used++] = tokens[i];
        if (s->used == sizeof s->buf / sizeof *s->buf && stream_flush(s, e)) return -1;
    }
    s->n_tokens += n;
    return 0;
}

int shard_stream_close(ShardStream *s, Err *e)
{
    if (stream_flush(s, e)) return -1;
    int32_t header[SHARD_HEADER_INTS];
    shard_header(header, s->n_tokens);
    if (fseek(s->af.fp, 0, SEEK_SET) != 0) {
        afile_abort(&s->af);
        return err_set(e, "%s: cannot seek to write the header", s->af.path);
    }
    if (afile_write(&s->af, header, sizeof header, e)) return -1;
    return afile_commit(&s->af, e);
}

void shard_stream_abort(ShardStream *s) { afile_abort(&s->af); }
