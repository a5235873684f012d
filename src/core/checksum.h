/* A fast 64-bit content checksum for checkpoints and data files: detects
 * truncation and corruption (not an adversary). Streaming, so large tensors
 * can be hashed piecewise; the result does not depend on how the bytes were
 * split across calls. */
#ifndef PLATEAU_CHECKSUM_H
#define PLATEAU_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t h;
    uint64_t total_bytes;
    uint8_t  tail[8];
    int      tail_len;
} Checksum;

void     checksum_init(Checksum *c);
void     checksum_update(Checksum *c, const void *data, size_t bytes);
uint64_t checksum_final(const Checksum *c);
uint64_t checksum_bytes(const void *data, size_t bytes);

#endif
