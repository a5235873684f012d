/* A growable byte buffer for building generated text (worlds, JSONL lines).
 * Appends never fail: allocation failure is fatal (xmalloc policy), because a
 * world generator that runs out of memory has nothing sensible to return.
 * The buffer is always NUL-terminated; len excludes the NUL. */
#ifndef PLATEAU_TEXTBUF_H
#define PLATEAU_TEXTBUF_H

#include <stddef.h>

typedef struct {
    char  *data;   /* owned; NULL until the first append */
    size_t len;
    size_t cap;
} TextBuf;

void textbuf_free(TextBuf *b);
void textbuf_clear(TextBuf *b);                       /* len = 0, keeps memory */
void textbuf_append(TextBuf *b, const char *s, size_t bytes);
void textbuf_puts(TextBuf *b, const char *s);
void textbuf_putc(TextBuf *b, char c);
/* Appends s as a JSON string literal with its quotes, escaping '"', '\\' and
 * control bytes; bytes >= 0x80 pass through (the input is UTF-8). */
void textbuf_json_string(TextBuf *b, const char *s);
/* Appends a non-negative or negative integer in decimal (no locale). */
void textbuf_long(TextBuf *b, long v);

#endif
