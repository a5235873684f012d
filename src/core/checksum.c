#include "core/checksum.h"

#include <string.h>

#include "core/rng.h"

/* Each 8-byte word is mixed into the running state with a multiply-rotate
 * step; the final value mixes in the length so that trailing zeros count. */
static inline uint64_t absorb(uint64_t h, uint64_t w)
{
    h ^= w * 0x9e3779b97f4a7c15ULL;
    h = (h << 27) | (h >> 37);
    return h * 0xff51afd7ed558ccdULL + 0x165667b19e3779f9ULL;
}

void checksum_init(Checksum *c)
{
    memset(c, 0, sizeof *c);
    c->h = 0x6a09e667f3bcc908ULL;
}

void checksum_update(Checksum *c, const void *data, size_t bytes)
{
    const uint8_t *p = data;
    c->total_bytes += bytes;
    while (bytes && c->tail_len) {
        c->tail[c->tail_len++] = *p++;
        bytes--;
        if (c->tail_len == 8) {
            uint64_t w;
            memcpy(&w, c->tail, 8);
            c->h = absorb(c->h, w);
            c->tail_len = 0;
        }
    }
    while (bytes >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c->h = absorb(c->h, w);
        p += 8;
        bytes -= 8;
    }
    while (bytes--) c->tail[c->tail_len++] = *p++;
}

uint64_t checksum_final(const Checksum *c)
{
    uint64_t h = c->h;
    if (c->tail_len) {
        uint8_t last[8] = {0};
        memcpy(last, c->tail, (size_t)c->tail_len);
        uint64_t w;
        memcpy(&w, last, 8);
        h = absorb(h, w);
    }
    return mix64(h ^ c->total_bytes);
}

uint64_t checksum_bytes(const void *data, size_t bytes)
{
    Checksum c;
    checksum_init(&c);
    checksum_update(&c, data, bytes);
    return checksum_final(&c);
}
