/* Pre-tokenization: the split of text into words inside which BPE merges
 * apply, so no token ever spans a word boundary. It is the GPT-2 split that
 * Hugging Face's ByteLevel pre-tokenizer (use_regex) performs with
 *
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * i.e. contractions, an optional space plus a run of letters, of digits, or
 * of other symbols, and whitespace (a run of whitespace leaves its last space
 * to the word that follows). The letter, number and whitespace classes come
 * from a table generated from the Unicode database (tools/gen_unicode_classes.py);
 * bytes that are not valid UTF-8 count as letters (Hugging Face never sees
 * them: its input is always valid UTF-8).
 * Every byte belongs to exactly one word: the words concatenate back to the
 * text, whatever bytes it holds. */
#ifndef PLATEAU_PRETOKENIZE_H
#define PLATEAU_PRETOKENIZE_H

#include <stddef.h>

/* Returns the end (exclusive) of the word that starts at pos; pos < n. */
size_t pretok_next(const unsigned char *text, size_t n, size_t pos);

#endif
