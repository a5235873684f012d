#include "data/textbuf.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void textbuf_free(TextBuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void textbuf_clear(TextBuf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

static void reserve(TextBuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        free(xmalloc(cap));   /* reports the size and exits */
        return;
    }
    b->data = p;
    b->cap = cap;
}

void textbuf_append(TextBuf *b, const char *s, size_t bytes)
{
    reserve(b, bytes);
    memcpy(b->data + b->len, s, bytes);
    b->len += bytes;
    b->data[b->len] = '\0';
}

void textbuf_puts(TextBuf *b, const char *s) { textbuf_append(b, s, strlen(s)); }

void textbuf_putc(TextBuf *b, char c) { textbuf_append(b, &c, 1); }

void textbuf_json_string(TextBuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    textbuf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': textbuf_append(b, "\\\"", 2); break;
        case '\\': textbuf_append(b, "\\\\", 2); break;
        case '\n': textbuf_append(b, "\\n", 2); break;
        case '\t': textbuf_append(b, "\\t", 2); break;
        case '\r': textbuf_append(b, "\\r", 2); break;
        default:
            if (*p < 0x20) {
                char u[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
                textbuf_append(b, u, 6);
            } else {
                textbuf_putc(b, (char)*p);
            }
        }
    }
    textbuf_putc(b, '"');
}

void textbuf_long(TextBuf *b, long v)
{
    char tmp[24];
    int n = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    do { tmp[n++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) textbuf_putc(b, '-');
    while (n) textbuf_putc(b, tmp[--n]);
}
