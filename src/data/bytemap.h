/* A hash map from byte strings to int64 values, for the tokenizer's word
 * counts, vocabulary lookups and encoding cache. Keys are copied into one
 * blob in insertion order (so key i of n inserted keys without removal starts
 * where key i-1 ended). Open addressing, at most half full; no removal.
 * Running out of memory exits, as xmalloc does. */
#ifndef PLATEAU_BYTEMAP_H
#define PLATEAU_BYTEMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t      *hash;     /* per slot; 0 marks an empty slot */
    size_t        *key_off;  /* per slot: key bytes are blob[key_off .. +key_len) */
    uint32_t      *key_len;
    int64_t       *val;
    size_t         cap, count;
    unsigned char *blob;
    size_t         blob_used, blob_cap;
} ByteMap;

void bytemap_init(ByteMap *m, size_t expected_keys);
void bytemap_free(ByteMap *m);
/* The value of key, or NULL if absent. */
int64_t *bytemap_find(const ByteMap *m, const void *key, size_t len);
/* The value of key, inserted with value init if absent (*added says which).
 * The pointer is valid until the next insertion. */
int64_t *bytemap_upsert(ByteMap *m, const void *key, size_t len, int64_t init, int *added);

uint64_t hash_bytes(const void *data, size_t len);

#endif
