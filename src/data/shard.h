/* Token shards in the llm.c layout: a 256 x int32 header (magic 20240520,
 * version 1, token count, rest zero) followed by that many uint16 tokens.
 * Shards written by llm.c's data scripts load unchanged. */
#ifndef PLATEAU_SHARD_H
#define PLATEAU_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/file.h"

#define SHARD_MAGIC 20240520
#define SHARD_VERSION 1
#define SHARD_HEADER_INTS 256

typedef struct {
    uint16_t *tokens;    /* owned */
    size_t    n_tokens;
} Shard;

/* Reads and validates a shard: magic, version, and that the file holds
 * exactly the promised number of tokens. Errors name the file. */
int  shard_read(Shard *s, const char *path, Err *e);
void shard_free(Shard *s);
/* The token count of a shard from its header alone (checked against the
 * file's size as shard_read does), without reading the tokens. */
int  shard_count(const char *path, size_t *n_tokens, Err *e);
/* Writes atomically. Every token must fit uint16 (the caller checks vocab). */
int  shard_write(const char *path, const uint16_t *tokens, size_t n_tokens, Err *e);

/* The same file written as tokens arrive, in constant memory: the header's
 * count is filled in at close, and only then does the file appear under its
 * name (atomic, as shard_write). At most 2^31-1 tokens. */
typedef struct {
    AtomicFile af;
    uint16_t   buf[16384];
    size_t     used;
    size_t     n_tokens;
} ShardStream;

int  shard_stream_open(ShardStream *s, const char *path, Err *e);
int  shard_stream_put(ShardStream *s, const uint16_t *tokens, size_t n, Err *e);
int  shard_stream_close(ShardStream *s, Err *e);
/* Discards the temporary file (after an error elsewhere). */
void shard_stream_abort(ShardStream *s);

#endif
