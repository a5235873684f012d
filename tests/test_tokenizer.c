/* Tokenizer: the GPT-2 word split, byte-level BPE training and encoding,
 * special tokens, and the tokenizer.json file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/rng.h"
#include "data/bios.h"
#include "data/pretokenize.h"
#include "data/textdocs.h"
#include "data/bytemap.h"
#include "data/tokenizer.h"
#include "data/wordnet.h"

/* ---- fixtures -------------------------------------------------------------- */

static const char *const WORDS[] = {
    "the", "of", "and", "a", "to", "in", "is", "was", "he", "she", "it", "for", "on", "that",
    "with", "as", "by", "at", "from", "his", "her", "they", "this", "which", "or", "an", "be",
    "university", "studied", "born", "city", "worked", "company", "engineer", "mathematics",
    "physics", "biology", "history", "river", "mountain", "small", "large", "family", "genus",
    "plant", "animal", "water", "light", "music", "instrument", "played", "people", "village",
    "government", "language", "written", "spoken", "north", "south", "eastern", "western",
    "don't", "it's", "we're", "they've", "I'm", "you'll", "he'd", "café", "naïve", "Zürich",
    "São", "Paulo", "Москва", "東京", "—", "résumé", "coöperate", "1987", "2024", "42", "3.14",
    "e-mail", "U.S.", "(see", "above)", "\"quoted\"", "x_y", "#tag", "50%", "$20", "well-known",
};

static const char *const SYLLABLES[] = {
    "ka", "ro", "mi", "len", "dor", "ith", "an", "ver", "sa", "tho", "bel", "qu", "ix", "om",
    "ra", "ne", "ul", "gar", "fen", "wy", "zo", "est", "pri", "cla", "mon", "ter", "vi", "hu",
};

/* Deterministic English-like text: sentences of common words, numbers,
 * contractions, punctuation, paragraphs and some non-ASCII. */
static char *english_like_text(size_t bytes, uint64_t seed, size_t *out_bytes)
{
    Rng r = rng_stream(seed, RNG_STREAM_DATA);
    size_t n_words = sizeof WORDS / sizeof WORDS[0];
    char *s = malloc(bytes + 256);
    size_t n = 0;
    while (n < bytes) {
        int len = 4 + (int)rng_below(&r, 12);
        for (int i = 0; i < len; i++) {
            const char *w = WORDS[rng_below(&r, n_words)];
            char made[32];
            if (rng_below(&r, 3) == 0) {   /* an invented word: thousands of distinct ones */
                int k = 0, syllables = 1 + (int)rng_below(&r, 3);
                for (int j = 0; j < syllables; j++) {
                    const char *p = SYLLABLES[rng_below(&r, sizeof SYLLABLES / sizeof SYLLABLES[0])];
                    memcpy(made + k, p, strlen(p));
                    k += (int)strlen(p);
                }
                made[k] = 0;
                w = made;
            }
            if (i > 0) s[n++] = ' ';
            size_t wl = strlen(w);
            memcpy(s + n, w, wl);
            if (i == 0 && s[n] >= 'a' && s[n] <= 'z') s[n] -= 32;
            n += wl;
            if (i + 1 < len && rng_below(&r, 8) == 0) s[n++] = ',';
        }
        const char *end[] = {". ", ". ", "? ", "! ", ".\n", ".\n\n", ";  "};
        const char *e = end[rng_below(&r, 7)];
        memcpy(s + n, e, strlen(e));
        n += strlen(e);
    }
    s[n] = 0;
    *out_bytes = n;
    return s;
}

static char *text;
static size_t text_bytes;
static Tokenizer *tok;   /* trained on text with a 1024-token vocabulary */

static int setup(void **state)
{
    (void)state;
    Err e;
    text = english_like_text(300000, 1, &text_bytes);
    if (tokenizer_train(&tok, text, text_bytes, 1024, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tokenizer_free(tok);
    free(text);
    return 0;
}

static size_t encode(const Tokenizer *t, const char *s, size_t n, int **ids)
{
    size_t count = 0, cap = 0;
    *ids = NULL;
    assert_int_equal(tokenizer_encode(t, s, n, ids, &count, &cap), 0);
    return count;
}

static void assert_round_trip(const Tokenizer *t, const char *s, size_t n)
{
    int *ids;
    size_t count = encode(t, s, n, &ids);
    size_t back_bytes = 0;
    char *back = tokenizer_decode(t, ids, count, &back_bytes);
    assert_non_null(back);
    assert_int_equal(back_bytes, n);
    assert_memory_equal(back, s, n);
    for (size_t i = 0; i < count; i++) assert_true(ids[i] >= 0 && ids[i] < tokenizer_vocab_size(t) - SPECIAL_COUNT);
    free(back);
    free(ids);
}

static void assert_ids(const Tokenizer *t, const char *s, const int *expect, size_t n_expect)
{
    int *ids;
    size_t count = encode(t, s, strlen(s), &ids);
    assert_int_equal(count, n_expect);
    for (size_t i = 0; i < n_expect; i++) assert_int_equal(ids[i], expect[i]);
    free(ids);
}

static char *temp_dir(void)
{
    static char dir[64];
    strcpy(dir, "/tmp/plateau-tok-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

/* ---- the word split ----------------------------------------------------------- */

static void assert_split(const char *s, const char *const *expect, int n_expect)
{
    size_t n = strlen(s), pos = 0;
    int k = 0;
    while (pos < n) {
        size_t end = pretok_next((const unsigned char *)s, n, pos);
        assert_true(end > pos);
        assert_true(k < n_expect);
        if (strlen(expect[k]) != end - pos || memcmp(expect[k], s + pos, end - pos) != 0)
            fail_msg("word %d: expected [%s], got [%.*s]", k, expect[k], (int)(end - pos), s + pos);
        k++;
        pos = end;
    }
    assert_int_equal(k, n_expect);
}

static void words_split_like_gpt2(void **state)
{
    (void)state;
    const char *a[] = {"Hello", " world", "'s", " 123", " ", " foo", "!!", "\n", "\n", "bar"};
    assert_split("Hello world's 123  foo!!\n\nbar", a, 10);
    const char *b[] = {"don", "'t", " stop", "'", "S", " x", "\t", " y", "  "};
    assert_split("don't stop'S x\t y  ", b, 9);
    /* bytes that are not UTF-8 count as letters */
    const char *c[] = {"café", " naïve", " —", " ok", ",", " 東京\xff\xfe", "\n", "\xc3", "!"};
    assert_split("café naïve — ok, 東京\xff\xfe\n\xc3!", c, 9);
    const char *d[] = {"<|", "user", "|>", "hi", "<|", "endoftext", "|>"};
    assert_split("<|user|>hi<|endoftext|>", d, 7);
    /* a whitespace run keeps newlines inside; contractions only without a space */
    const char *f[] = {"a", "   \n ", " b", " '", "ll", "'ll", "'ve", "'re", "\n", "x", " \n"};
    assert_split("a   \n  b 'll'll've're\nx \n", f, 11);
}

static void text_documents_split_on_endoftext_and_trim(void **state)
{
    (void)state;
    const char *s = "  one\n<|endoftext|>\n\ntwo two<|endoftext|><|endoftext|> \t\n<|endoftext|>three";
    TextDocs d;
    const char *doc;
    size_t n;
    textdocs_begin(&d, s, strlen(s));
    assert_int_equal(textdocs_next(&d, &doc, &n), 1);
    assert_int_equal(n, 3);
    assert_memory_equal(doc, "one", 3);
    assert_int_equal(textdocs_next(&d, &doc, &n), 1);
    assert_int_equal(n, 7);
    assert_memory_equal(doc, "two two", 7);
    assert_int_equal(textdocs_next(&d, &doc, &n), 1);
    assert_memory_equal(doc, "three", 5);
    assert_int_equal(textdocs_next(&d, &doc, &n), 0);
    textdocs_begin(&d, "just text\n", 10);
    assert_int_equal(textdocs_next(&d, &doc, &n), 1);
    assert_int_equal(n, 9);
    textdocs_begin(&d, " \n", 2);
    assert_int_equal(textdocs_next(&d, &doc, &n), 0);

    assert_int_equal(utf8_first_invalid("h\xc3\xa9llo \xf0\x9f\x98\x80", 11), 11);
    assert_int_equal(utf8_first_invalid("ab\xff", 3), 2);
    assert_int_equal(utf8_first_invalid("\xc0\x80", 2), 0);           /* overlong NUL */
    assert_int_equal(utf8_first_invalid("x\xed\xa0\x80", 4), 1);      /* surrogate */
    assert_int_equal(utf8_first_invalid("a\xe2\x82", 3), 1);          /* truncated */
    assert_int_equal(utf8_first_invalid("\xf4\x90\x80\x80", 4), 0);  /* beyond U+10FFFF */
    assert_int_equal(utf8_first_invalid("a\0b", 3), 3);                /* NUL is valid UTF-8 */
}

/* ---- training -------------------------------------------------------------- */

static void tiny_corpus_merges_match_hand_count(void **state)
{
    (void)state;
    Err e;
    Tokenizer *t;
    /* One word. Pair counts: aa 4, ab 2, bd da ba ac 1. Merge 0: a+a -> 256,
     * leaving aa a b d aa a b a c: (aa,a) and (a,b) tie at 2, and (97,98)
     * is the smaller pair, so merge 1: a+b -> 257: aa ab d aa ab a c.
     * Merge 2: aa+ab -> 258 (count 2). Vocabulary 256 + 3 + 4 specials. */
    assert_int_equal(tokenizer_train(&t, "aaabdaaabac", 11, 263, &e), 0);
    assert_int_equal(tokenizer_vocab_size(t), 263);
    for (int k = 0; k < SPECIAL_COUNT; k++) assert_int_equal(tokenizer_special(t, (SpecialToken)k), 259 + k);
    assert_ids(t, "aaabdaaabac", (int[]){258, 'd', 258, 'a', 'c'}, 5);
    assert_ids(t, "aab", (int[]){256, 'b'}, 2);         /* a+a ranks before a+b */
    assert_ids(t, "aaaa", (int[]){256, 256}, 2);        /* no aa+aa merge */
    assert_ids(t, "aaa", (int[]){256, 'a'}, 2);         /* leftmost first */
    assert_ids(t, " aaab", (int[]){' ', 258}, 2);
    assert_ids(t, "aaab aaab", (int[]){258, ' ', 258}, 3);   /* the space is not merged: " aaab" was never seen */
    /* the long-word path (> 64 bytes) merges exactly as the short one */
    char run[202];
    for (int len = 60; len <= 200; len += 4) {
        for (int i = 0; i < len; i++) run[i] = "aaab"[i % 4];
        run[len] = 0;
        int *ids;
        size_t n = encode(t, run, (size_t)len, &ids);
        assert_int_equal(n, (size_t)len / 4);
        for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], 258);
        free(ids);
        memset(run, 'a', (size_t)len + 1);
        run[len + 1] = 0;   /* odd run of a: pairs, then one a */
        n = encode(t, run, (size_t)len + 1, &ids);
        assert_int_equal(n, (size_t)len / 2 + 1);
        assert_int_equal(ids[0], 256);
        assert_int_equal(ids[n - 1], 'a');
        free(ids);
    }
    tokenizer_free(t);

    /* Counts add up across words by frequency: "ab" once and " ab" twice
     * make a+b (3) the first merge and " "+ab (2) the second. */
    assert_int_equal(tokenizer_train(&t, "ab ab ab cd", 11, 262, &e), 0);
    assert_ids(t, "ab ab cd", (int[]){256, 257, ' ', 'c', 'd'}, 5);
    tokenizer_free(t);
}

static void vocab_size_is_exactly_what_was_asked(void **state)
{
    (void)state;
    Err e;
    int sizes[] = {260, 261, 300, 777, 1024, 2000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        Tokenizer *t;
        assert_int_equal(tokenizer_train(&t, text, 100000, sizes[i], &e), 0);
        assert_int_equal(tokenizer_vocab_size(t), sizes[i]);
        assert_int_equal(tokenizer_special(t, SPECIAL_ASSISTANT), sizes[i] - 1);
        tokenizer_free(t);
    }
    /* "abc" has two pairs to merge, so the vocabulary stops at 256 + 2 + 4 */
    Tokenizer *t;
    assert_int_equal(tokenizer_train(&t, "abc", 3, 1000, &e), 0);
    assert_int_equal(tokenizer_vocab_size(t), 262);
    tokenizer_free(t);
    assert_int_equal(tokenizer_train(&t, "abc", 3, 259, &e), -1);
    assert_non_null(strstr(e.msg, "at least 260"));
}

static void training_is_deterministic(void **state)
{
    (void)state;
    Err e;
    char *dir = temp_dir(), a[128], b[128];
    snprintf(a, sizeof a, "%s/a.json", dir);
    snprintf(b, sizeof b, "%s/b.json", dir);
    Tokenizer *t1, *t2;
    assert_int_equal(tokenizer_train(&t1, text, text_bytes, 1024, &e), 0);
    assert_int_equal(tokenizer_train(&t2, text, text_bytes, 1024, &e), 0);
    assert_int_equal(tokenizer_save(t1, a, &e), 0);
    assert_int_equal(tokenizer_save(t2, b, &e), 0);
    char *ja, *jb;
    size_t na, nb;
    assert_int_equal(read_file(a, &ja, &na, &e), 0);
    assert_int_equal(read_file(b, &jb, &nb, &e), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(ja, jb, na);
    /* 1024 - 256 - 4 merges, all distinct tokens on this text */
    cJSON *root = cJSON_Parse(ja);
    cJSON *model = cJSON_GetObjectItem(root, "model");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(model, "merges")), 764);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(model, "vocab")), 1024);
    cJSON_Delete(root);
    free(ja);
    free(jb);
    tokenizer_free(t1);
    tokenizer_free(t2);
    unlink(a);
    unlink(b);
    rmdir(dir);
}

/* ---- encoding -------------------------------------------------------------- */

/* Trains on a world's pre-training text and round-trips every file the world
 * wrote (text, JSONL, world.json, licence), byte for byte. */
static void assert_world_round_trips(const char *dir)
{
    static const char *const FILES[] = {"pretrain.txt", "mid.txt", "sft_train.jsonl", "sft_valid.jsonl",
                                        "eval_qa_test.jsonl", "eval_qa_train.jsonl", "eval_mc_test.jsonl",
                                        "eval_mc_train.jsonl", "world.json", "people.jsonl", "LICENSE-WordNet"};
    char path[512];
    char *text;
    size_t bytes;
    Err e;
    path_join(path, sizeof path, dir, "pretrain.txt");
    assert_int_equal(read_file(path, &text, &bytes, &e), 0);
    Tokenizer *tok;
    assert_int_equal(tokenizer_train(&tok, text, bytes, 1024, &e), 0);
    free(text);
    int checked = 0;
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        path_join(path, sizeof path, dir, FILES[i]);
        if (!file_exists(path)) continue;
        assert_int_equal(read_file(path, &text, &bytes, &e), 0);
        assert_round_trip(tok, text, bytes);
        free(text);
        checked++;
    }
    assert_true(checked >= 9);
    tokenizer_free(tok);
}

static void round_trip_holds_on_every_generated_world_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/plateau-tok-world-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char bios_dir[256], wn_dir[256];
    path_join(bios_dir, sizeof bios_dir, dir, "bios");
    path_join(wn_dir, sizeof wn_dir, dir, "wordnet");
    Err e;
    BiosOptions o;
    bios_default_options(&o);
    o.people = 300;
    BiosWorld w;
    assert_int_equal(bios_generate(&w, &o, &e), 0);
    assert_int_equal(bios_write(&w, bios_dir, NULL, &e), 0);
    bios_free(&w);
    assert_world_round_trips(bios_dir);

    WordNetDb db;
    if (wordnet_load(&db, "/usr/share/wordnet", &e) == 0) {   /* wordnet-base is a dependency */
        WordNetOptions wo;
        wordnet_default_options(&wo);
        wo.max_synsets = 400;
        assert_int_equal(wordnet_write(&db, &wo, NULL, wn_dir, NULL, &e), 0);
        wordnet_free(&db);
        assert_world_round_trips(wn_dir);
    } else {
        fail_msg("%s", e.msg);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void round_trip_holds_for_random_bytes(void **state)
{
    (void)state;
    Rng r = rng_stream(7, 1);
    char buf[5000];
    for (int trial = 0; trial < 3000; trial++) {
        size_t n = trial < 2990 ? rng_below(&r, 300) : 1000 + rng_below(&r, 4000);
        int kind = trial % 4;
        for (size_t i = 0; i < n; i++) {
            uint64_t x = rng_below(&r, 256);
            switch (kind) {
            case 0: buf[i] = (char)x; break;                                   /* any byte, NUL too */
            case 1: buf[i] = (char)(x < 128 ? ' ' + x % 95 : 0x80 + x % 64); break; /* text + stray continuation bytes */
            case 2: buf[i] = (char)(x < 200 ? 0xC0 + x % 64 : x); break;      /* long runs of high bytes */
            default: buf[i] = " \n\t\r\0a'"[x % 7]; break;                     /* whitespace, NUL, quotes */
            }
        }
        assert_round_trip(tok, buf, n);
    }
    assert_round_trip(tok, "", 0);
}

static void round_trip_holds_for_english_like_text(void **state)
{
    (void)state;
    size_t n;
    char *other = english_like_text(300000, 2, &n);   /* different draws from the training text */
    assert_round_trip(tok, other, n);
    int *ids;
    size_t count = encode(tok, other, n, &ids);
    /* 1024 tokens learned on the same word list compress well beyond bytes */
    assert_true((double)n / (double)count > 3.0);
    /* caches change nothing: the whole text (cached within the call) agrees
     * with pieces encoded without a cache and with one TokenizerCache */
    size_t pieces = 0, cached_n = 0, cached_cap = 0;
    int *cached = NULL;
    TokenizerCache *cache = tokenizer_cache_new();
    for (size_t pos = 0; pos < n;) {
        size_t end = pos + 1000 < n ? pos + 1000 : n;
        while (end < n && other[end] != '\n') end++;   /* cut only at word boundaries */
        int *part;
        size_t m = encode(tok, other + pos, end - pos, &part);
        assert_memory_equal(part, ids + pieces, m * sizeof(int));
        pieces += m;
        free(part);
        assert_int_equal(tokenizer_encode_cached(tok, cache, other + pos, end - pos, &cached, &cached_n, &cached_cap), 0);
        pos = end;
    }
    assert_int_equal(pieces, count);
    assert_int_equal(cached_n, count);
    assert_memory_equal(cached, ids, count * sizeof(int));
    /* a cache handed another tokenizer starts afresh */
    Err e;
    Tokenizer *tiny;
    assert_int_equal(tokenizer_train(&tiny, "aaabdaaabac", 11, 263, &e), 0);
    cached_n = 0;
    assert_int_equal(tokenizer_encode_cached(tiny, cache, "the aaab", 8, &cached, &cached_n, &cached_cap), 0);
    assert_int_equal(cached_n, 5);   /* "the" -> t h e; " aaab" -> ' ' 258 */
    assert_int_equal(cached[3], ' ');
    assert_int_equal(cached[4], 258);
    tokenizer_free(tiny);
    tokenizer_cache_free(cache);
    free(cached);
    free(ids);
    free(other);
}

static void special_token_text_never_encodes_to_special_ids(void **state)
{
    (void)state;
    int v = tokenizer_vocab_size(tok);
    for (int k = 0; k < SPECIAL_COUNT; k++) assert_int_equal(tokenizer_special(tok, (SpecialToken)k), v - SPECIAL_COUNT + k);
    assert_string_equal(tokenizer_special_text(SPECIAL_USER), "<|user|>");
    const char *s = "<|endoftext|><|system|>You are<|user|> hi<|assistant|>ok<|endoftext|>";
    int *ids;
    size_t n = encode(tok, s, strlen(s), &ids);
    for (size_t i = 0; i < n; i++) assert_true(ids[i] < v - SPECIAL_COUNT);
    free(ids);
    assert_round_trip(tok, s, strlen(s));
    /* special ids decode to their text */
    int sp[] = {tokenizer_special(tok, SPECIAL_USER), 'h', 'i', tokenizer_special(tok, SPECIAL_ENDOFTEXT)};
    size_t bytes;
    char *d = tokenizer_decode(tok, sp, 4, &bytes);
    assert_string_equal(d, "<|user|>hi<|endoftext|>");
    assert_int_equal(bytes, 23);
    free(d);
    int odd[] = {-1, 'a', v, 1 << 30, 'b'};   /* unknown ids decode to nothing */
    d = tokenizer_decode(tok, odd, 5, &bytes);
    assert_string_equal(d, "ab");
    assert_int_equal(bytes, 2);
    free(d);
}

/* ---- the file ----------------------------------------------------------------- */

static void save_then_load_gives_identical_encodings(void **state)
{
    (void)state;
    Err e;
    char *dir = temp_dir(), path[128];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    assert_int_equal(tokenizer_save(tok, path, &e), 0);
    Tokenizer *t;
    assert_int_equal(tokenizer_load(&t, path, &e), 0);
    assert_int_equal(tokenizer_vocab_size(t), tokenizer_vocab_size(tok));
    for (int k = 0; k < SPECIAL_COUNT; k++)
        assert_int_equal(tokenizer_special(t, (SpecialToken)k), tokenizer_special(tok, (SpecialToken)k));
    size_t n;
    char *other = english_like_text(100000, 3, &n);
    int *a, *b;
    size_t na = encode(tok, other, n, &a), nb = encode(t, other, n, &b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof(int));
    static const char odd[] = "\x00\x01 \xff\xfe\x80 \xc3\xa9t\xc3\xa9 \xe2\x80\x94";   /* 16 bytes */
    assert_round_trip(t, odd, sizeof odd - 1);
    /* the vocabulary spells bytes in GPT-2's alphabet: space is U+0120 "Ġ" */
    char *json;
    assert_int_equal(read_file(path, &json, &n, &e), 0);
    cJSON *root = cJSON_Parse(json);
    cJSON *vocab = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "model"), "vocab");
    assert_int_equal(cJSON_GetObjectItem(vocab, "\xc4\xa0")->valueint, ' ');
    assert_int_equal(cJSON_GetObjectItem(vocab, "\xc4\x80")->valueint, 0);      /* NUL -> U+0100 */
    assert_int_equal(cJSON_GetObjectItem(vocab, "!")->valueint, '!');
    assert_int_equal(cJSON_GetObjectItem(vocab, "\xc3\xbf")->valueint, 0xff);  /* 0xFF stands for itself */
    assert_int_equal(cJSON_GetObjectItem(vocab, "<|user|>")->valueint, tokenizer_special(tok, SPECIAL_USER));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "pre_tokenizer"), "type")->valuestring, "ByteLevel");
    cJSON_Delete(root);
    free(json);
    free(a);
    free(b);
    free(other);
    tokenizer_free(t);
    unlink(path);
    rmdir(dir);
}

/* A file not written by plateau: bytes in reverse id order (byte b has id
 * 255 - b), one merge "a"+"b" -> 256, and the specials at 257..260. */
static void loads_files_with_other_id_orders(void **state)
{
    (void)state;
    Err e;
    char *dir = temp_dir(), path[128];
    snprintf(path, sizeof path, "%s/other.json", dir);
    cJSON *root = cJSON_CreateObject();
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int k = 0; k < SPECIAL_COUNT; k++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", 257 + k);
        cJSON_AddStringToObject(a, "content", tokenizer_special_text((SpecialToken)k));
        cJSON_AddItemToArray(added, a);
    }
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "ByteLevel");
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    Tokenizer *ref;   /* any tokenizer.json of plateau's spells the 256 bytes */
    assert_int_equal(tokenizer_train(&ref, "", 0, 260, &e), 0);
    assert_int_equal(tokenizer_save(ref, path, &e), 0);
    tokenizer_free(ref);
    char *json;
    size_t n;
    assert_int_equal(read_file(path, &json, &n, &e), 0);
    cJSON *plateau = cJSON_Parse(json);
    free(json);
    cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(cJSON_GetObjectItem(plateau, "model"), "vocab"))
        if (item->valueint < 256) cJSON_AddNumberToObject(vocab, item->string, 255 - item->valueint);
    cJSON_Delete(plateau);
    cJSON_AddNumberToObject(vocab, "ab", 256);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    cJSON *pair = cJSON_CreateArray();   /* the newer ["left", "right"] form */
    cJSON_AddItemToArray(pair, cJSON_CreateString("a"));
    cJSON_AddItemToArray(pair, cJSON_CreateString("b"));
    cJSON_AddItemToArray(merges, pair);
    json = cJSON_Print(root);
    cJSON_Delete(root);
    assert_int_equal(write_file_atomic(path, json, strlen(json), &e), 0);
    free(json);

    Tokenizer *t;
    if (tokenizer_load(&t, path, &e)) fail_msg("%s", e.msg);
    assert_int_equal(tokenizer_vocab_size(t), 261);
    assert_int_equal(tokenizer_merge_count(t), 1);
    assert_int_equal(tokenizer_special(t, SPECIAL_ASSISTANT), 260);
    assert_ids(t, "ab abc", (int[]){256, 255 - ' ', 256, 255 - 'c'}, 4);
    /* "\x00ab" would be one escape (0xab): the literal is split */
    static const char nul_ab_ff[] = "\x00" "ab\xff";
    assert_round_trip(t, nul_ab_ff, sizeof nul_ab_ff - 1);
    tokenizer_free(t);
    unlink(path);
    rmdir(dir);
}

/* Saves the fixture, applies edit to the parsed JSON, writes it back, and
 * checks that loading fails with a message naming the file and `field`. */
static void assert_load_fails(void (*edit)(cJSON *root), const char *field)
{
    Err e;
    char *dir = temp_dir(), path[128];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    assert_int_equal(tokenizer_save(tok, path, &e), 0);
    char *json;
    size_t n;
    assert_int_equal(read_file(path, &json, &n, &e), 0);
    cJSON *root = cJSON_Parse(json);
    free(json);
    edit(root);
    json = cJSON_Print(root);
    cJSON_Delete(root);
    assert_int_equal(write_file_atomic(path, json, strlen(json), &e), 0);
    free(json);
    Tokenizer *t = (Tokenizer *)1;
    assert_int_equal(tokenizer_load(&t, path, &e), -1);
    assert_null(t);
    if (!strstr(e.msg, path) || !strstr(e.msg, field)) fail_msg("message lacks %s or %s: %s", path, field, e.msg);
    unlink(path);
    rmdir(dir);
}

static cJSON *model_of(cJSON *root) { return cJSON_GetObjectItem(root, "model"); }
static void drop_merges(cJSON *root) { cJSON_DeleteItemFromObject(model_of(root), "merges"); }
static void drop_vocab(cJSON *root) { cJSON_DeleteItemFromObject(model_of(root), "vocab"); }
static void unknown_merge_part(cJSON *root)
{
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(model_of(root), "merges"), 5, cJSON_CreateString("Ġthe zzzq"));
}
static void three_part_merge(cJSON *root)
{
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(model_of(root), "merges"), 0, cJSON_CreateString("a b c"));
}
static void drop_user_token(cJSON *root) { cJSON_DeleteItemFromArray(cJSON_GetObjectItem(root, "added_tokens"), 2); }
static void drop_byte(cJSON *root)   /* "Ġ" (space) renamed: no gap, but no token for the byte */
{
    cJSON *vocab = cJSON_GetObjectItem(model_of(root), "vocab");
    cJSON_DeleteItemFromObject(vocab, "Ġ");
    cJSON_AddNumberToObject(vocab, "ĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠ", ' ');
}
static void string_id(cJSON *root)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(model_of(root), "vocab"), "a", cJSON_CreateString("97"));
}
/* Ids far outside int's range: checked as doubles before any conversion. */
static void huge_id(cJSON *root)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(model_of(root), "vocab"), "a", cJSON_CreateNumber(1e10));
}
static void huge_added_id(cJSON *root)
{
    cJSON *user = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "added_tokens"), 2);
    cJSON_ReplaceItemInObject(user, "id", cJSON_CreateNumber(-1e300));
}
static void empty_key(cJSON *root)
{
    cJSON_AddNumberToObject(cJSON_GetObjectItem(model_of(root), "vocab"), "", 261);
}
static void word_piece(cJSON *root)
{
    cJSON_ReplaceItemInObject(model_of(root), "continuing_subword_prefix", cJSON_CreateString("##"));
}
static void prefix_space(cJSON *root)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(root, "pre_tokenizer"), "add_prefix_space", cJSON_CreateTrue());
}

/* The empty key is a key like any other, stored before any byte of the
 * key store exists (no arithmetic on a NULL store). */
static void bytemap_holds_the_empty_key(void **state)
{
    (void)state;
    ByteMap m;
    bytemap_init(&m, 4);
    int added;
    *bytemap_upsert(&m, "", 0, 7, &added) += 1;
    assert_int_equal(added, 1);
    assert_int_equal(*bytemap_upsert(&m, "ab", 2, 9, &added), 9);
    assert_int_equal(added, 1);
    assert_int_equal(*bytemap_upsert(&m, "", 0, 0, &added), 8);
    assert_int_equal(added, 0);
    assert_non_null(bytemap_find(&m, "", 0));
    assert_int_equal(*bytemap_find(&m, "ab", 2), 9);
    assert_null(bytemap_find(&m, "a", 1));
    assert_int_equal(m.count, 2);
    assert_int_equal(m.blob_used, 2);
    bytemap_free(&m);
}

static void loading_malformed_file_names_file_and_field(void **state)
{
    (void)state;
    assert_load_fails(drop_merges, "\"model.merges\"");
    assert_load_fails(drop_vocab, "\"model.vocab\"");
    assert_load_fails(unknown_merge_part, "model.merges[5]");
    assert_load_fails(unknown_merge_part, "zzzq");
    assert_load_fails(three_part_merge, "model.merges[0]");
    assert_load_fails(drop_user_token, "<|user|>");
    assert_load_fails(drop_byte, "byte 0x20");
    assert_load_fails(string_id, "model.vocab");
    assert_load_fails(empty_key, "model.vocab");
    assert_load_fails(huge_id, "field \"model.vocab\": the id of \"a\": 10000000000 is outside [0, 16777215]");
    assert_load_fails(huge_added_id, "field \"added_tokens\": field \"id\": -1e+300 is outside [0, 16777215]");
    assert_load_fails(word_piece, "continuing_subword_prefix");
    assert_load_fails(prefix_space, "add_prefix_space");

    Err e;
    char *dir = temp_dir(), path[128];
    snprintf(path, sizeof path, "%s/broken.json", dir);
    const char *broken = "{\n  \"model\": {\n    \"vocab\": {\"a\": 0,,}\n  }\n}\n";
    assert_int_equal(write_file_atomic(path, broken, strlen(broken), &e), 0);
    Tokenizer *t;
    assert_int_equal(tokenizer_load(&t, path, &e), -1);
    if (!strstr(e.msg, path) || !strstr(e.msg, "line 3")) fail_msg("%s", e.msg);
    unlink(path);
    assert_int_equal(tokenizer_load(&t, path, &e), -1);   /* now missing */
    assert_non_null(strstr(e.msg, path));
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(words_split_like_gpt2),
        cmocka_unit_test(text_documents_split_on_endoftext_and_trim),
        cmocka_unit_test(tiny_corpus_merges_match_hand_count),
        cmocka_unit_test(vocab_size_is_exactly_what_was_asked),
        cmocka_unit_test(training_is_deterministic),
        cmocka_unit_test(round_trip_holds_for_random_bytes),
        cmocka_unit_test(round_trip_holds_for_english_like_text),
        cmocka_unit_test(round_trip_holds_on_every_generated_world_file),
        cmocka_unit_test(special_token_text_never_encodes_to_special_ids),
        cmocka_unit_test(save_then_load_gives_identical_encodings),
        cmocka_unit_test(loads_files_with_other_id_orders),
        cmocka_unit_test(loading_malformed_file_names_file_and_field),
        cmocka_unit_test(bytemap_holds_the_empty_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
