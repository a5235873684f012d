/* A synthetic web-style pre-training corpus, for testing and benchmarking
 * the readers of real ones (data/docsource.h) at any size: JSONL in the
 * FineWeb layout, one object per line,
 *   {"text": ..., "id": "<urn:plateau:N>", "url": ..., "language": "en",
 *    "language_score": S, "token_count": 0}
 * where each text is 1-8 short biographies of people of a bios world
 * (data/bios.h; 2000 people), sentences drawn from its templates. Compressed
 * by the file name (.gz, .zst: data/zfile.h), written atomically. A pure
 * function of (bytes, seed): the same arguments give the same file. */
#ifndef PLATEAU_CORPUS_H
#define PLATEAU_CORPUS_H

#include <stdint.h>

#include "core/error.h"

typedef struct {
    uint64_t documents;
    uint64_t text_bytes;    /* JSONL bytes before compression */
    uint64_t disk_bytes;    /* the file's size */
} CorpusStats;

/* Writes whole lines until at least `bytes` bytes of JSONL are out. */
int corpus_write(const char *path, uint64_t bytes, uint64_t seed, CorpusStats *stats, Err *e);

#endif
