/* Plain-text files as documents, for training a tokenizer and writing token
 * shards. Documents in a file are separated by the literal text
 * "<|endoftext|>" (the convention of plain-text dumps such as TinyStories);
 * a file without it is one document. Each document is trimmed of surrounding
 * whitespace and empty ones are skipped, so the separator's own line breaks
 * never reach the tokens. */
#ifndef PLATEAU_TEXTDOCS_H
#define PLATEAU_TEXTDOCS_H

#include <stddef.h>

#define TEXTDOCS_SEPARATOR "<|endoftext|>"

typedef struct {
    const char *text;
    size_t      bytes;
    size_t      pos;
} TextDocs;

void textdocs_begin(TextDocs *d, const char *text, size_t bytes);
/* Points *doc at the next document inside the text (not a copy); returns 1,
 * or 0 when there are no more. */
int  textdocs_next(TextDocs *d, const char **doc, size_t *doc_bytes);

/* The documents of text, each trimmed and followed by one '\n', in a
 * malloc'd NUL-terminated buffer (*out_bytes excludes the NUL): the text a
 * tokenizer trains on, without the separators. */
char *textdocs_join(const char *text, size_t bytes, size_t *out_bytes);

/* Offset of the first byte that does not belong to a valid UTF-8 sequence,
 * or `bytes` when the whole text is valid. */
size_t utf8_first_invalid(const char *text, size_t bytes);

#endif
