/* One allocation, carved into 64-byte-aligned pieces. Parameters, gradients,
 * optimizer moments and activations each live in an arena sized up front, so
 * the step loop never allocates. Pieces are freed all at once. */
#ifndef PLATEAU_ARENA_H
#define PLATEAU_ARENA_H

#include <stddef.h>

typedef struct {
    char  *base;
    size_t used_bytes;
    size_t capacity_bytes;
} Arena;

/* Zero-filled. Exits with a message on out-of-memory. */
void   arena_init(Arena *a, size_t capacity_bytes);
void  *arena_alloc(Arena *a, size_t bytes);          /* asserts it fits */
float *arena_floats(Arena *a, size_t count);
void   arena_free(Arena *a);

/* Rounds a byte count up to the arena's alignment, for sizing arenas. */
size_t arena_round(size_t bytes);

#endif
