/* Byte-level BPE tokenizer, trained in C on the pre-training text and saved
 * as a Hugging Face tokenizer.json (model type BPE, byte-level, vocab +
 * merges), so exported models are usable elsewhere.
 *
 * Ids 0..255 are the 256 single bytes; merges follow; the special tokens
 * come last: <|endoftext|>, <|system|>, <|user|>, <|assistant|>. Special
 * tokens are produced only by tokenizer_special(), never by encoding text:
 * encoding "<|user|>" as text yields ordinary byte tokens.
 * decode(encode(s)) == s for every byte string s. */
#ifndef PLATEAU_TOKENIZER_H
#define PLATEAU_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum {
    SPECIAL_ENDOFTEXT = 0,
    SPECIAL_SYSTEM,
    SPECIAL_USER,
    SPECIAL_ASSISTANT,
    SPECIAL_COUNT
} SpecialToken;

typedef struct Tokenizer Tokenizer;   /* opaque */

/* Learns merges from text until the vocabulary (bytes + merges + specials)
 * reaches vocab_size (or the text has no pair left to merge). Words are
 * split as GPT-2 does (data/pretokenize.h). Deterministic: ties broken by the
 * smaller pair ids. A load accepts any byte-level BPE tokenizer.json that has
 * the four special tokens, whatever its id order. */
int  tokenizer_train(Tokenizer **out, const char *text, size_t text_bytes, int vocab_size, Err *e);
int  tokenizer_load(Tokenizer **out, const char *path, Err *e);     /* tokenizer.json */
int  tokenizer_save(const Tokenizer *t, const char *path, Err *e);  /* atomic */
void tokenizer_free(Tokenizer *t);

int  tokenizer_vocab_size(const Tokenizer *t);
/* Merges in rank order. Usually vocab - 256 - specials; more when two merges
 * spell the same token (the token keeps one id, both merges are kept). */
int  tokenizer_merge_count(const Tokenizer *t);
int  tokenizer_special(const Tokenizer *t, SpecialToken which);
const char *tokenizer_special_text(SpecialToken which);   /* "<|user|>", ... */

/* Encodes text (no special tokens) appending ids to *ids (realloc'd buffer
 * with *n used and *cap allocated). Returns 0 or -1 on allocation failure. */
int  tokenizer_encode(const Tokenizer *t, const char *text, size_t text_bytes,
                      int **ids, size_t *n, size_t *cap);
/* A cache of encoded words for encoding many short texts (documents,
 * messages) with one tokenizer: the same ids as tokenizer_encode, faster.
 * tokenizer_encode already caches within one long text. A cache serves one
 * tokenizer (free it with that tokenizer) and one thread at a time; it holds
 * at most ~2M distinct words. */
typedef struct TokenizerCache TokenizerCache;
TokenizerCache *tokenizer_cache_new(void);
/* The same holding at most max_words words (about 60 bytes each with the
 * table, so 2^18 words stay near 16 MB): for streaming a corpus of any size
 * in bounded memory; the most frequent words arrive early and stay. */
TokenizerCache *tokenizer_cache_new_capped(size_t max_words);
void tokenizer_cache_free(TokenizerCache *c);
int  tokenizer_encode_cached(const Tokenizer *t, TokenizerCache *c, const char *text, size_t text_bytes,
                             int **ids, size_t *n, size_t *cap);
/* Decodes ids into a malloc'd buffer (*bytes excludes the NUL terminator).
 * Special tokens decode to their text; ids outside the vocabulary (e.g. a
 * model's padded embedding rows) to nothing. NULL only when out of memory. */
char *tokenizer_decode(const Tokenizer *t, const int *ids, size_t n, size_t *bytes);

#endif
