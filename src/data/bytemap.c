#include "data/bytemap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

uint64_t hash_bytes(const void *data, size_t len)
{
    const unsigned char *s = data;
    uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a, then a splitmix finaliser */
    for (size_t i = 0; i < len; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    h ^= len;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

static void alloc_slots(ByteMap *m, size_t cap)
{
    m->cap = cap;
    m->hash = xcalloc(cap, sizeof *m->hash);
    m->key_off = xmalloc(cap * sizeof *m->key_off);
    m->key_len = xmalloc(cap * sizeof *m->key_len);
    m->val = xmalloc(cap * sizeof *m->val);
}

void bytemap_init(ByteMap *m, size_t expected_keys)
{
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < 2 * expected_keys) cap *= 2;
    alloc_slots(m, cap);
}

void bytemap_free(ByteMap *m)
{
    free(m->hash);
    free(m->key_off);
    free(m->key_len);
    free(m->val);
    free(m->blob);
    memset(m, 0, sizeof *m);
}

static size_t find_slot(const ByteMap *m, const void *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1, i = h & mask;
    while (m->hash[i]) {
        /* an empty key may come before the store exists: no arithmetic on NULL */
        if (m->hash[i] == h && m->key_len[i] == len && (len == 0 || memcmp(m->blob + m->key_off[i], key, len) == 0))
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static void grow_slots(ByteMap *m)
{
    ByteMap old = *m;
    alloc_slots(m, old.cap * 2);
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.hash[i]) continue;
        size_t j = old.hash[i] & (m->cap - 1);
        while (m->hash[j]) j = (j + 1) & (m->cap - 1);
        m->hash[j] = old.hash[i];
        m->key_off[j] = old.key_off[i];
        m->key_len[j] = old.key_len[i];
        m->val[j] = old.val[i];
    }
    free(old.hash);
    free(old.key_off);
    free(old.key_len);
    free(old.val);
}

int64_t *bytemap_find(const ByteMap *m, const void *key, size_t len)
{
    size_t i = find_slot(m, key, len, hash_bytes(key, len) | 1);
    return m->hash[i] ? &m->val[i] : NULL;
}

int64_t *bytemap_upsert(ByteMap *m, const void *key, size_t len, int64_t init, int *added)
{
    if (2 * (m->count + 1) > m->cap) grow_slots(m);
    uint64_t h = hash_bytes(key, len) | 1;
    size_t i = find_slot(m, key, len, h);
    *added = !m->hash[i];
    if (!*added) return &m->val[i];
    if (m->blob_used + len > m->blob_cap) {
        size_t cap = m->blob_cap ? m->blob_cap : 4096;
        while (cap < m->blob_used + len) cap *= 2;
        m->blob = xrealloc(m->blob, cap);
        m->blob_cap = cap;
    }
    if (len) memcpy(m->blob + m->blob_used, key, len);
    m->hash[i] = h;
    m->key_off[i] = m->blob_used;
    m->key_len[i] = (uint32_t)len;
    m->val[i] = init;
    m->blob_used += len;
    m->count++;
    return &m->val[i];
}
