#include "core/arena.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64

size_t arena_round(size_t bytes) { return (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

void arena_init(Arena *a, size_t capacity_bytes)
{
    capacity_bytes = arena_round(capacity_bytes ? capacity_bytes : ARENA_ALIGN);
    a->base = aligned_alloc(ARENA_ALIGN, capacity_bytes);
    if (!a->base) {
        fprintf(stderr, "plateau: out of memory allocating an arena of %zu bytes\n", capacity_bytes);
        exit(1);
    }
    memset(a->base, 0, capacity_bytes);
    a->used_bytes = 0;
    a->capacity_bytes = capacity_bytes;
}

void *arena_alloc(Arena *a, size_t bytes)
{
    bytes = arena_round(bytes);
    assert(a->used_bytes + bytes <= a->capacity_bytes && "arena too small");
    void *p = a->base + a->used_bytes;
    a->used_bytes += bytes;
    return p;
}

float *arena_floats(Arena *a, size_t count) { return arena_alloc(a, count * sizeof(float)); }

void arena_free(Arena *a)
{
    free(a->base);
    a->base = NULL;
    a->used_bytes = a->capacity_bytes = 0;
}
