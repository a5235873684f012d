/* Seeded random streams. Every random choice in plateau (initialisation,
 * data order, Hutchinson probes, world generation) draws from its own stream
 * derived from (seed, stream id), so changing how one consumer draws never
 * shifts another. xoshiro256** seeded through splitmix64. No generator state
 * is saved anywhere: a consumer re-derives its stream from the seed (e.g.
 * the loader's order of epoch k from (seed, k)), which is why a resumed run
 * draws the same numbers as one never stopped.
 *
 * A consumer that needs many independent streams (one per tensor, per
 * epoch, per algorithm) takes substream `index` of its stream id with
 * rng_substream. The loader's epoch orders predate that convention and keep
 * their own recipe (data/loader.c), because every finished study segment
 * was trained on them. */
#ifndef PLATEAU_RNG_H
#define PLATEAU_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

/* Well-known stream ids; any other 64-bit value is fine too. */
enum {
    RNG_STREAM_INIT  = 1,
    RNG_STREAM_DATA  = 2,
    RNG_STREAM_PROBE = 3,
    RNG_STREAM_WORLD = 4,
};

Rng      rng_stream(uint64_t seed, uint64_t stream);
/* Stream `index` (>= 0) of stream id `stream` (< 2^32):
 * rng_stream(seed, mix64(stream ^ ((index + 1) << 32))). */
Rng      rng_substream(uint64_t seed, uint64_t stream, uint64_t index);
uint64_t rng_u64(Rng *r);
uint64_t rng_below(Rng *r, uint64_t n);      /* uniform in [0, n), n > 0, unbiased */
double   rng_uniform(Rng *r);                /* uniform in [0, 1), 53 bits */
double   rng_normal(Rng *r);                 /* standard normal (Box-Muller, no caching) */
void     rng_shuffle_u32(Rng *r, uint32_t *a, uint64_t n);   /* Fisher-Yates */

/* splitmix64 as a pure mixing function: hash a 64-bit value to another. */
uint64_t mix64(uint64_t x);

#endif
