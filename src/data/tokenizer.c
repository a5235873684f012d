/* Byte-level BPE: training over the unique words of a text with pair counts
 * updated incrementally, and encoding by merge rank within each word. */
#include "data/tokenizer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/bytemap.h"
#include "data/pretokenize.h"
#include "data/tokenizer_internal.h"

static const char *const SPECIAL_TEXT[SPECIAL_COUNT] = {
    "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>",
};

const char *tokenizer_special_text(SpecialToken which)
{
    return (which >= 0 && which < SPECIAL_COUNT) ? SPECIAL_TEXT[which] : NULL;
}

int tokenizer_vocab_size(const Tokenizer *t) { return t->vocab_size; }

int tokenizer_merge_count(const Tokenizer *t) { return t->n_merges; }

int tokenizer_special(const Tokenizer *t, SpecialToken which)
{
    return (which >= 0 && which < SPECIAL_COUNT) ? t->special[which] : -1;
}

void tokenizer_free(Tokenizer *t)
{
    if (!t) return;
    free(t->tok_off);
    free(t->tok_bytes);
    free(t->merge_left);
    free(t->merge_right);
    free(t->merge_result);
    free(t->rank_keys);
    free(t->rank_vals);
    free(t);
}

/* ---- hashing ---------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t pair_key(int left, int right) { return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right; }

#define EMPTY_KEY UINT64_MAX   /* no pair of non-negative ids has this key */

void tokenizer_index_merges(Tokenizer *t)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)t->n_merges + 2) cap *= 2;
    free(t->rank_keys);
    free(t->rank_vals);
    t->rank_keys = xmalloc(cap * sizeof *t->rank_keys);
    t->rank_vals = xmalloc(cap * sizeof *t->rank_vals);
    t->rank_cap = cap;
    for (size_t i = 0; i < cap; i++) t->rank_keys[i] = EMPTY_KEY;
    for (int r = 0; r < t->n_merges; r++) {
        uint64_t key = pair_key(t->merge_left[r], t->merge_right[r]);
        size_t i = mix(key) & (cap - 1);
        while (t->rank_keys[i] != EMPTY_KEY && t->rank_keys[i] != key) i = (i + 1) & (cap - 1);
        if (t->rank_keys[i] == key) continue;   /* keep the lower rank */
        t->rank_keys[i] = key;
        t->rank_vals[i] = r;
    }
}

/* Rank of the merge (left, right), or -1 if there is none. */
static inline int merge_rank(const Tokenizer *t, int left, int right)
{
    uint64_t key = pair_key(left, right);
    size_t mask = t->rank_cap - 1, i = mix(key) & mask;
    for (;;) {
        uint64_t k = t->rank_keys[i];
        if (k == key) return t->rank_vals[i];
        if (k == EMPTY_KEY) return -1;
        i = (i + 1) & mask;
    }
}

/* Like xmalloc: running out of memory while training is not recoverable. */
static void *xrealloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) {
        fprintf(stderr, "plateau: out of memory reallocating %zu bytes\n", bytes);
        exit(1);
    }
    return q;
}

/* ---- growable arrays ------------------------------------------------------ */

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    *cap = c;
    return xrealloc(p, c * elem);
}

/* ---- training ------------------------------------------------------------- */

typedef struct {
    int      left, right;
    int64_t  count;         /* occurrences, weighted by word frequency */
    int64_t  heap_count;    /* count carried by this pair's newest heap entry */
    int     *words;         /* words that contained the pair (may be stale) */
    size_t   n_words, cap_words;
    unsigned dirty_stamp;
} Pair;

typedef struct { int64_t count; int left, right, pair; } HeapEntry;

typedef struct {
    /* unique words, as token sequences that shrink as merges apply */
    int      *tok;
    size_t   *off;
    int      *len;
    int64_t  *freq;
    unsigned *stamp;
    size_t    n_words;
    /* pairs */
    Pair     *pairs;
    size_t    n_pairs, cap_pairs;
    uint64_t *pkeys;
    int      *pvals;
    size_t    pcap;
    int      *dirty;
    size_t    n_dirty, cap_dirty;
    unsigned  stamp_now;
    /* max-heap by count, then smaller (left, right) */
    HeapEntry *heap;
    size_t     n_heap, cap_heap;
} Trainer;

static int heap_before(const HeapEntry *a, const HeapEntry *b)
{
    if (a->count != b->count) return a->count > b->count;
    if (a->left != b->left) return a->left < b->left;
    return a->right < b->right;
}

static void heap_push(Trainer *tr, HeapEntry x)
{
    tr->heap = grow(tr->heap, &tr->cap_heap, tr->n_heap + 1, sizeof *tr->heap);
    size_t i = tr->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_before(&x, &tr->heap[p])) break;
        tr->heap[i] = tr->heap[p];
        i = p;
    }
    tr->heap[i] = x;
}

static HeapEntry heap_pop(Trainer *tr)
{
    HeapEntry top = tr->heap[0], x = tr->heap[--tr->n_heap];
    size_t i = 0, n = tr->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(&tr->heap[c + 1], &tr->heap[c])) c++;
        if (!heap_before(&tr->heap[c], &x)) break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (n) tr->heap[i] = x;
    return top;
}

static void pair_map_grow(Trainer *tr)
{
    size_t cap = tr->pcap ? tr->pcap * 2 : 1024;
    uint64_t *keys = xmalloc(cap * sizeof *keys);
    int *vals = xmalloc(cap * sizeof *vals);
    for (size_t i = 0; i < cap; i++) keys[i] = EMPTY_KEY;
    for (size_t i = 0; i < tr->pcap; i++) {
        if (tr->pkeys[i] == EMPTY_KEY) continue;
        size_t j = mix(tr->pkeys[i]) & (cap - 1);
        while (keys[j] != EMPTY_KEY) j = (j + 1) & (cap - 1);
        keys[j] = tr->pkeys[i];
        vals[j] = tr->pvals[i];
    }
    free(tr->pkeys);
    free(tr->pvals);
    tr->pkeys = keys;
    tr->pvals = vals;
    tr->pcap = cap;
}

/* Adds delta occurrences of (left, right) found in word w; a positive delta
 * records w among the pair's words. */
static void pair_add(Trainer *tr, int left, int right, int64_t delta, int w)
{
    if (2 * (tr->n_pairs + 1) > tr->pcap) pair_map_grow(tr);
    uint64_t key = pair_key(left, right);
    size_t i = mix(key) & (tr->pcap - 1);
    while (tr->pkeys[i] != EMPTY_KEY && tr->pkeys[i] != key) i = (i + 1) & (tr->pcap - 1);
    if (tr->pkeys[i] == EMPTY_KEY) {
        tr->pairs = grow(tr->pairs, &tr->cap_pairs, tr->n_pairs + 1, sizeof *tr->pairs);
        Pair *p = &tr->pairs[tr->n_pairs];
        memset(p, 0, sizeof *p);
        p->left = left;
        p->right = right;
        tr->pkeys[i] = key;
        tr->pvals[i] = (int)tr->n_pairs++;
    }
    int pi = tr->pvals[i];
    Pair *p = &tr->pairs[pi];
    p->count += delta;
    if (delta > 0 && (p->n_words == 0 || p->words[p->n_words - 1] != w)) {
        p->words = grow(p->words, &p->cap_words, p->n_words + 1, sizeof *p->words);
        p->words[p->n_words++] = w;
    }
    if (p->dirty_stamp != tr->stamp_now) {
        p->dirty_stamp = tr->stamp_now;
        tr->dirty = grow(tr->dirty, &tr->cap_dirty, tr->n_dirty + 1, sizeof *tr->dirty);
        tr->dirty[tr->n_dirty++] = pi;
    }
}

/* Gives every pair whose count changed since its last heap entry a new one. */
static void push_dirty(Trainer *tr)
{
    for (size_t k = 0; k < tr->n_dirty; k++) {
        Pair *p = &tr->pairs[tr->dirty[k]];
        if (p->count <= 0) {
            p->heap_count = 0;
        } else if (p->count != p->heap_count) {
            p->heap_count = p->count;
            heap_push(tr, (HeapEntry){p->count, p->left, p->right, tr->dirty[k]});
        }
    }
    tr->n_dirty = 0;
}

/* Joins every (left, right) of word w into result, left to right, and moves
 * the word's pair counts from the old sequence to the new one. */
static void merge_word(Trainer *tr, int w, int left, int right, int result)
{
    int *a = tr->tok + tr->off[w];
    int n = tr->len[w];
    int64_t f = tr->freq[w];
    int found = 0;
    for (int i = 0; i + 1 < n && !found; i++) found = a[i] == left && a[i + 1] == right;
    if (!found) return;
    for (int i = 0; i + 1 < n; i++) pair_add(tr, a[i], a[i + 1], -f, w);
    int o = 0;
    for (int i = 0; i < n;) {
        if (i + 1 < n && a[i] == left && a[i + 1] == right) { a[o++] = result; i += 2; }
        else a[o++] = a[i++];
    }
    tr->len[w] = n = o;
    for (int i = 0; i + 1 < n; i++) pair_add(tr, a[i], a[i + 1], f, w);
}

static void trainer_free(Trainer *tr)
{
    free(tr->tok);
    free(tr->off);
    free(tr->len);
    free(tr->freq);
    free(tr->stamp);
    for (size_t i = 0; i < tr->n_pairs; i++) free(tr->pairs[i].words);
    free(tr->pairs);
    free(tr->pkeys);
    free(tr->pvals);
    free(tr->dirty);
    free(tr->heap);
}

/* Unique words of the text with their frequencies, in first-seen order. */
static void count_words(Trainer *tr, const unsigned char *s, size_t n)
{
    ByteMap words;
    bytemap_init(&words, 1 << 15);
    size_t cap_freq = 0, cap_off = 0;
    for (size_t pos = 0; pos < n;) {
        size_t end = pretok_next(s, n, pos);
        int added;
        int64_t *v = bytemap_upsert(&words, s + pos, end - pos, (int64_t)tr->n_words, &added);
        if (added) {
            tr->freq = grow(tr->freq, &cap_freq, tr->n_words + 1, sizeof *tr->freq);
            tr->off = grow(tr->off, &cap_off, tr->n_words + 1, sizeof *tr->off);
            tr->off[tr->n_words] = words.blob_used - (end - pos);
            tr->freq[tr->n_words++] = 1;
        } else {
            tr->freq[*v]++;
        }
        pos = end;
    }
    /* the blob holds the words back to back in first-seen order */
    tr->tok = xmalloc((words.blob_used + 1) * sizeof *tr->tok);
    for (size_t i = 0; i < words.blob_used; i++) tr->tok[i] = words.blob[i];
    tr->len = xmalloc((tr->n_words + 1) * sizeof *tr->len);
    for (size_t w = 0; w < tr->n_words; w++) {
        size_t end = w + 1 < tr->n_words ? tr->off[w + 1] : words.blob_used;
        tr->len[w] = (int)(end - tr->off[w]);
    }
    tr->stamp = xcalloc(tr->n_words + 1, sizeof *tr->stamp);
    bytemap_free(&words);
}

int tokenizer_train(Tokenizer **out, const char *text, size_t text_bytes, int vocab_size, Err *e)
{
    *out = NULL;
    const int min_vocab = 256 + SPECIAL_COUNT;
    if (vocab_size < min_vocab)
        return err_set(e, "tokenizer vocabulary of %d is too small: it needs at least %d "
                          "(256 bytes + %d special tokens)", vocab_size, min_vocab, SPECIAL_COUNT);
    if (vocab_size > (1 << 24))
        return err_set(e, "tokenizer vocabulary of %d is too large (at most %d)", vocab_size, 1 << 24);

    Trainer tr;
    memset(&tr, 0, sizeof tr);
    count_words(&tr, (const unsigned char *)text, text_bytes);
    tr.stamp_now = 1;   /* stamps start at 0: every pair counted now is dirty */
    for (size_t w = 0; w < tr.n_words; w++) {
        const int *a = tr.tok + tr.off[w];
        for (int i = 0; i + 1 < tr.len[w]; i++) pair_add(&tr, a[i], a[i + 1], tr.freq[w], (int)w);
    }
    push_dirty(&tr);

    /* the vocabulary: token bytes, and a map back to ids to spot a merge
     * that spells an existing token */
    int max_merges = vocab_size - min_vocab;
    size_t cap_bytes = 0;
    unsigned char *bytes = NULL;
    size_t *tok_off = xmalloc(((size_t)vocab_size + 1) * sizeof *tok_off);
    int *mleft = xmalloc(((size_t)max_merges + 1) * sizeof(int));
    int *mright = xmalloc(((size_t)max_merges + 1) * sizeof(int));
    int *mresult = xmalloc(((size_t)max_merges + 1) * sizeof(int));
    size_t cap_merges = (size_t)max_merges + 1;
    ByteMap ids;
    bytemap_init(&ids, (size_t)vocab_size);
    bytes = grow(bytes, &cap_bytes, 256, 1);
    for (int b = 0; b < 256; b++) {
        bytes[b] = (unsigned char)b;
        tok_off[b] = (size_t)b;
        int added;
        bytemap_upsert(&ids, bytes + b, 1, b, &added);
    }
    tok_off[256] = 256;
    int n_tokens = 256, n_merges = 0;
    unsigned char *scratch = NULL;
    size_t cap_scratch = 0;

    while (n_tokens < vocab_size - SPECIAL_COUNT && tr.n_heap > 0) {
        HeapEntry top = heap_pop(&tr);
        Pair *p = &tr.pairs[top.pair];
        if (p->count != top.count || p->count <= 0) continue;   /* stale entry */
        p->heap_count = 0;   /* its count drops to 0 below */
        int left = p->left, right = p->right;
        size_t ln = tok_off[left + 1] - tok_off[left], rn = tok_off[right + 1] - tok_off[right];
        scratch = grow(scratch, &cap_scratch, ln + rn, 1);
        memcpy(scratch, bytes + tok_off[left], ln);
        memcpy(scratch + ln, bytes + tok_off[right], rn);
        int added;
        int64_t *id = bytemap_upsert(&ids, scratch, ln + rn, n_tokens, &added);
        int result = (int)*id;
        if (added) {
            bytes = grow(bytes, &cap_bytes, tok_off[n_tokens] + ln + rn, 1);
            memcpy(bytes + tok_off[n_tokens], scratch, ln + rn);
            tok_off[n_tokens + 1] = tok_off[n_tokens] + ln + rn;
            n_tokens++;
        }
        /* a merge that spells an existing token adds no id but is still a merge */
        if ((size_t)n_merges + 1 > cap_merges) {
            size_t c = cap_merges;
            mleft = grow(mleft, &c, (size_t)n_merges + 1, sizeof(int));
            c = cap_merges;
            mright = grow(mright, &c, (size_t)n_merges + 1, sizeof(int));
            mresult = grow(mresult, &cap_merges, (size_t)n_merges + 1, sizeof(int));
        }
        mleft[n_merges] = left;
        mright[n_merges] = right;
        mresult[n_merges] = result;
        n_merges++;

        tr.stamp_now++;
        int pi = top.pair;
        for (size_t k = 0; k < tr.pairs[pi].n_words; k++) {
            int w = tr.pairs[pi].words[k];
            if (tr.stamp[w] == tr.stamp_now) continue;
            tr.stamp[w] = tr.stamp_now;
            merge_word(&tr, w, left, right, result);
        }
        free(tr.pairs[pi].words);   /* every occurrence is merged: count is 0 */
        tr.pairs[pi].words = NULL;
        tr.pairs[pi].n_words = tr.pairs[pi].cap_words = 0;
        push_dirty(&tr);
    }
    free(scratch);
    bytemap_free(&ids);
    trainer_free(&tr);

    Tokenizer *t = xcalloc(1, sizeof *t);
    t->vocab_size = n_tokens + SPECIAL_COUNT;
    size_t special_bytes = 0;
    for (int k = 0; k < SPECIAL_COUNT; k++) special_bytes += strlen(SPECIAL_TEXT[k]);
    bytes = grow(bytes, &cap_bytes, tok_off[n_tokens] + special_bytes, 1);
    for (int k = 0; k < SPECIAL_COUNT; k++) {
        size_t len = strlen(SPECIAL_TEXT[k]);
        memcpy(bytes + tok_off[n_tokens + k], SPECIAL_TEXT[k], len);
        tok_off[n_tokens + k + 1] = tok_off[n_tokens + k] + len;
        t->special[k] = n_tokens + k;
    }
    t->tok_off = tok_off;
    t->tok_bytes = bytes;
    for (int b = 0; b < 256; b++) t->byte_token[b] = b;
    t->n_merges = n_merges;
    t->merge_left = mleft;
    t->merge_right = mright;
    t->merge_result = mresult;
    tokenizer_index_merges(t);
    *out = t;
    return 0;
}

/* ---- encoding ------------------------------------------------------------- */

/* Words up to this many bytes merge by repeated scans (fast for the short
 * words of text); longer ones through a heap, so a megabyte-long run of
 * letters costs n log n, not n^2. Both apply the lowest-ranked pair first,
 * leftmost first. */
#ifndef TOKENIZER_SHORT_WORD
#define TOKENIZER_SHORT_WORD 64
#endif

static int encode_short(const Tokenizer *t, const unsigned char *w, int n, int *out)
{
    int m = n;
    for (int i = 0; i < n; i++) out[i] = t->byte_token[w[i]];
    for (;;) {
        int best = INT_MAX, at = -1;
        for (int i = 0; i + 1 < m; i++) {
            int r = merge_rank(t, out[i], out[i + 1]);
            if (r >= 0 && r < best) { best = r; at = i; }
        }
        if (at < 0) return m;
        int left = out[at], right = out[at + 1], result = t->merge_result[best];
        int o = at;
        for (int i = at; i < m;) {
            if (i + 1 < m && out[i] == left && out[i + 1] == right) { out[o++] = result; i += 2; }
            else out[o++] = out[i++];
        }
        m = o;
    }
}

typedef struct { int rank, pos; } Candidate;

static int candidate_before(Candidate a, Candidate b)
{
    return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
}

static int encode_long(const Tokenizer *t, const unsigned char *w, int n, int *out)
{
    int *sym = malloc((size_t)n * sizeof *sym), *next = malloc((size_t)n * sizeof *next);
    int *prev = malloc((size_t)n * sizeof *prev);
    Candidate *heap = malloc(3 * (size_t)n * sizeof *heap);
    if (!sym || !next || !prev || !heap) { free(sym); free(next); free(prev); free(heap); return -1; }
    size_t nh = 0;
#define PUSH(R, P) do { Candidate x_ = {(R), (P)}; size_t i_ = nh++; \
        while (i_ > 0 && candidate_before(x_, heap[(i_ - 1) / 2])) { heap[i_] = heap[(i_ - 1) / 2]; i_ = (i_ - 1) / 2; } \
        heap[i_] = x_; } while (0)
    for (int i = 0; i < n; i++) {
        sym[i] = t->byte_token[w[i]];
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    for (int i = 0; i + 1 < n; i++) {
        int r = merge_rank(t, sym[i], sym[i + 1]);
        if (r >= 0) PUSH(r, i);
    }
    while (nh > 0) {
        Candidate top = heap[0], x = heap[--nh];
        size_t i = 0;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= nh) break;
            if (c + 1 < nh && candidate_before(heap[c + 1], heap[c])) c++;
            if (!candidate_before(heap[c], x)) break;
            heap[i] = heap[c];
            i = c;
        }
        if (nh) heap[i] = x;
        int a = top.pos;
        if (sym[a] < 0 || next[a] < 0) continue;
        int b = next[a];
        if (merge_rank(t, sym[a], sym[b]) != top.rank) continue;   /* stale */
        sym[a] = t->merge_result[top.rank];
        sym[b] = -1;
        next[a] = next[b];
        if (next[b] >= 0) prev[next[b]] = a;
        if (prev[a] >= 0) {
            int r = merge_rank(t, sym[prev[a]], sym[a]);
            if (r >= 0) PUSH(r, prev[a]);
        }
        if (next[a] >= 0) {
            int r = merge_rank(t, sym[a], sym[next[a]]);
            if (r >= 0) PUSH(r, a);
        }
    }
#undef PUSH
    int m = 0;
    for (int i = 0; i >= 0; i = next[i]) out[m++] = sym[i];
    free(sym);
    free(next);
    free(prev);
    free(heap);
    return m;
}

static int encode_word(const Tokenizer *t, const unsigned char *w, size_t n, int *out)
{
    if (n <= TOKENIZER_SHORT_WORD) return encode_short(t, w, (int)n, out);
    if (n > INT_MAX / 4) return -1;
    return encode_long(t, w, (int)n, out);
}

/* Encoded words, keyed by their bytes: a hit skips the merge loop. */
struct TokenizerCache {
    const Tokenizer *owner;    /* entries are only valid for this tokenizer */
    ByteMap          words;    /* word bytes -> (offset in ids << 8) | count */
    int             *ids;
    size_t           ids_used, ids_cap;
};

#define CACHE_MAX_WORD 255          /* longer words are rare: not cached */
#define CACHE_MAX_WORDS (1 << 21)   /* then the cache stops growing */
#define CACHE_MIN_TEXT (1 << 16)    /* tokenizer_encode caches for texts this long */

TokenizerCache *tokenizer_cache_new(void)
{
    TokenizerCache *c = xcalloc(1, sizeof *c);
    bytemap_init(&c->words, 1 << 13);
    return c;
}

void tokenizer_cache_free(TokenizerCache *c)
{
    if (!c) return;
    bytemap_free(&c->words);
    free(c->ids);
    free(c);
}

int tokenizer_encode_cached(const Tokenizer *t, TokenizerCache *cache, const char *text, size_t text_bytes,
                            int **ids, size_t *n, size_t *cap)
{
    const unsigned char *s = (const unsigned char *)text;
    if (cache && cache->owner != t) {   /* first use, or another tokenizer: start empty */
        bytemap_free(&cache->words);
        bytemap_init(&cache->words, 1 << 13);
        cache->ids_used = 0;
        cache->owner = t;
    }
    for (size_t pos = 0; pos < text_bytes;) {
        size_t end = pretok_next(s, text_bytes, pos), len = end - pos;
        if (*n + len > *cap) {
            size_t c = *cap ? *cap : 256;
            while (c < *n + len) c *= 2;
            int *p = realloc(*ids, c * sizeof *p);
            if (!p) return -1;
            *ids = p;
            *cap = c;
        }
        int *out = *ids + *n;
        int cacheable = cache && len <= CACHE_MAX_WORD;
        if (cacheable) {
            int64_t *hit = bytemap_find(&cache->words, s + pos, len);
            if (hit) {
                size_t off = (size_t)(*hit >> 8), m = (size_t)(*hit & 255);
                memcpy(out, cache->ids + off, m * sizeof *out);
                *n += m;
                pos = end;
                continue;
            }
        }
        int m = encode_word(t, s + pos, len, out);
        if (m < 0) return -1;
        if (cacheable && cache->words.count < CACHE_MAX_WORDS) {
            cache->ids = grow(cache->ids, &cache->ids_cap, cache->ids_used + (size_t)m, sizeof *cache->ids);
            memcpy(cache->ids + cache->ids_used, out, (size_t)m * sizeof *out);
            int added;
            bytemap_upsert(&cache->words, s + pos, len, (int64_t)((cache->ids_used << 8) | (size_t)m), &added);
            cache->ids_used += (size_t)m;
        }
        *n += (size_t)m;
        pos = end;
    }
    return 0;
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t text_bytes,
                     int **ids, size_t *n, size_t *cap)
{
    if (text_bytes < CACHE_MIN_TEXT) return tokenizer_encode_cached(t, NULL, text, text_bytes, ids, n, cap);
    TokenizerCache *cache = tokenizer_cache_new();
    int rc = tokenizer_encode_cached(t, cache, text, text_bytes, ids, n, cap);
    tokenizer_cache_free(cache);
    return rc;
}

/* Ids outside the vocabulary (a model whose embedding is padded beyond the
 * tokenizer's) decode to nothing. */
char *tokenizer_decode(const Tokenizer *t, const int *ids, size_t n, size_t *bytes)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < t->vocab_size) total += t->tok_off[ids[i] + 1] - t->tok_off[ids[i]];
    char *out = malloc(total + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab_size) continue;
        size_t len = t->tok_off[ids[i] + 1] - t->tok_off[ids[i]];
        memcpy(out + o, t->tok_bytes + t->tok_off[ids[i]], len);
        o += len;
    }
    out[o] = 0;
    if (bytes) *bytes = o;
    return out;
}
