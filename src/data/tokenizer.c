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

/* The growing vocabulary: each id's bytes, and a map from bytes back to ids
 * to spot a merge that spells an existing token. */
typedef struct {
    unsigned char *bytes;
    size_t         cap_bytes;
    size_t        *tok_off;    /* [max_tokens + 1] */
    int            n_tokens;
    ByteMap        ids;
} VocabBuilder;

static void vocab_init(VocabBuilder *v, int max_tokens)
{
    memset(v, 0, sizeof *v);
    v->tok_off = xmalloc(((size_t)max_tokens + 1) * sizeof *v->tok_off);
    v->tok_off[0] = 0;
    bytemap_init(&v->ids, (size_t)max_tokens);
}

/* The id of the token with these bytes, added if new. */
static int vocab_add(VocabBuilder *v, const unsigned char *s, size_t n)
{
    int added;
    int64_t *id = bytemap_upsert(&v->ids, s, n, v->n_tokens, &added);
    if (!added) return (int)*id;
    size_t at = v->tok_off[v->n_tokens];
    v->bytes = grow(v->bytes, &v->cap_bytes, at + n, 1);
    memcpy(v->bytes + at, s, n);
    v->tok_off[++v->n_tokens] = at + n;
    return v->n_tokens - 1;
}

typedef struct { int left, right, result; } Merge;

/* Merges the most frequent pair (ties: smaller ids) in every word holding
 * it; returns 0, or -1 when no pair is left. */
static int merge_best_pair(Trainer *tr, VocabBuilder *v, Merge *merge)
{
    HeapEntry top;
    do {
        if (tr->n_heap == 0) return -1;
        top = heap_pop(tr);
    } while (tr->pairs[top.pair].count != top.count || top.count <= 0);   /* stale entries */
    Pair *p = &tr->pairs[top.pair];
    p->heap_count = 0;   /* its count drops to 0 below */
    int left = p->left, right = p->right;
    size_t ln = v->tok_off[left + 1] - v->tok_off[left], rn = v->tok_off[right + 1] - v->tok_off[right];
    unsigned char *joined = xmalloc(ln + rn);
    memcpy(joined, v->bytes + v->tok_off[left], ln);
    memcpy(joined + ln, v->bytes + v->tok_off[right], rn);
    /* a merge that spells an existing token adds no id but is still a merge */
    int result = vocab_add(v, joined, ln + rn);
    free(joined);
    *merge = (Merge){left, right, result};

    tr->stamp_now++;
    for (size_t k = 0; k < tr->pairs[top.pair].n_words; k++) {   /* pairs may move: index each time */
        int w = tr->pairs[top.pair].words[k];
        if (tr->stamp[w] == tr->stamp_now) continue;
        tr->stamp[w] = tr->stamp_now;
        merge_word(tr, w, left, right, result);
    }
    p = &tr->pairs[top.pair];
    free(p->words);   /* every occurrence is merged: the count is 0 */
    p->words = NULL;
    p->n_words = p->cap_words = 0;
    push_dirty(tr);
    return 0;
}

/* Moves the vocabulary and merges into a Tokenizer, specials last. */
static Tokenizer *tokenizer_from_training(VocabBuilder *v, const Merge *merges, int n_merges)
{
    Tokenizer *t = xcalloc(1, sizeof *t);
    for (int k = 0; k < SPECIAL_COUNT; k++) {
        t->special[k] = v->n_tokens;
        vocab_add(v, (const unsigned char *)SPECIAL_TEXT[k], strlen(SPECIAL_TEXT[k]));
    }
    t->vocab_size = v->n_tokens;
    t->tok_off = v->tok_off;
    t->tok_bytes = v->bytes;
    bytemap_free(&v->ids);
    for (int b = 0; b < 256; b++) t->byte_token[b] = b;
    t->n_merges = n_merges;
    t->merge_left = xmalloc(((size_t)n_merges + 1) * sizeof(int));
    t->merge_right = xmalloc(((size_t)n_merges + 1) * sizeof(int));
    t->merge_result = xmalloc(((size_t)n_merges + 1) * sizeof(int));
    for (int r = 0; r < n_merges; r++) {
        t->merge_left[r] = merges[r].left;
        t->merge_right[r] = merges[r].right;
        t->merge_result[r] = merges[r].result;
    }
    tokenizer_index_merges(t);
    return t;
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

    VocabBuilder v;
    vocab_init(&v, vocab_size);
    for (int b = 0; b < 256; b++) vocab_add(&v, (const unsigned char[]){(unsigned char)b}, 1);
    Merge *merges = NULL;
    size_t cap_merges = 0;
    int n_merges = 0;
    while (v.n_tokens < vocab_size - SPECIAL_COUNT) {
        merges = grow(merges, &cap_merges, (size_t)n_merges + 1, sizeof *merges);
        if (merge_best_pair(&tr, &v, &merges[n_merges])) break;
        n_merges++;
    }
    trainer_free(&tr);
    *out = tokenizer_from_training(&v, merges, n_merges);
    free(merges);
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

/* One merge per step, the leftmost pair of lowest rank; the ranks of the
 * adjacent pairs are kept and only the two around a merge are looked up again. */
static int encode_short(const Tokenizer *t, const unsigned char *w, int n, int *out)
{
    int rank[TOKENIZER_SHORT_WORD];   /* rank[i]: merge rank of (out[i], out[i+1]), INT_MAX if none */
    for (int i = 0; i < n; i++) out[i] = t->byte_token[w[i]];
    for (int i = 0; i + 1 < n; i++) {
        int r = merge_rank(t, out[i], out[i + 1]);
        rank[i] = r < 0 ? INT_MAX : r;
    }
    int m = n;
    for (;;) {
        int best = INT_MAX, at = -1;
        for (int i = 0; i + 1 < m; i++)
            if (rank[i] < best) { best = rank[i]; at = i; }
        if (at < 0) return m;
        out[at] = t->merge_result[best];
        memmove(out + at + 1, out + at + 2, (size_t)(m - at - 2) * sizeof *out);
        if (m - at - 3 > 0) memmove(rank + at + 1, rank + at + 2, (size_t)(m - at - 3) * sizeof *rank);
        m--;
        if (at > 0) {
            int r = merge_rank(t, out[at - 1], out[at]);
            rank[at - 1] = r < 0 ? INT_MAX : r;
        }
        if (at + 1 < m) {
            int r = merge_rank(t, out[at], out[at + 1]);
            rank[at] = r < 0 ? INT_MAX : r;
        }
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
    size_t           max_words;  /* then the cache stops growing */
};

#define CACHE_MAX_WORD 255          /* longer words are rare: not cached */
#define CACHE_MAX_WORDS (1 << 21)   /* then the cache stops growing */
#define CACHE_MIN_TEXT (1 << 16)    /* tokenizer_encode caches for texts this long */

TokenizerCache *tokenizer_cache_new_capped(size_t max_words)
{
    TokenizerCache *c = xcalloc(1, sizeof *c);
    bytemap_init(&c->words, 1 << 13);
    c->max_words = max_words;
    return c;
}

TokenizerCache *tokenizer_cache_new(void) { return tokenizer_cache_new_capped(CACHE_MAX_WORDS); }

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
        if (cacheable && cache->words.count < cache->max_words) {
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
