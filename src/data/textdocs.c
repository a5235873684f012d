#define _GNU_SOURCE   /* memmem */
#include "data/textdocs.h"

#include "core/error.h"

#include <string.h>

void textdocs_begin(TextDocs *d, const char *text, size_t bytes)
{
    d->text = text;
    d->bytes = bytes;
    d->pos = 0;
}

static int is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

int textdocs_next(TextDocs *d, const char **doc, size_t *doc_bytes)
{
    const size_t sep_len = strlen(TEXTDOCS_SEPARATOR);
    while (d->pos < d->bytes) {
        const char *start = d->text + d->pos;
        const char *sep = memmem(start, d->bytes - d->pos, TEXTDOCS_SEPARATOR, sep_len);
        const char *end = sep ? sep : d->text + d->bytes;
        d->pos = sep ? (size_t)(sep - d->text) + sep_len : d->bytes;
        while (start < end && is_space(*start)) start++;
        while (end > start && is_space(end[-1])) end--;
        if (end > start) {
            *doc = start;
            *doc_bytes = (size_t)(end - start);
            return 1;
        }
    }
    return 0;
}

size_t utf8_first_invalid(const char *text, size_t bytes)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < bytes) {
        unsigned char b = s[i];
        if (b < 0x80) { i++; continue; }
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF;   /* bounds of the second byte */
        if (b >= 0xC2 && b <= 0xDF) len = 2;
        else if (b >= 0xE0 && b <= 0xEF) { len = 3; if (b == 0xE0) lo = 0xA0; if (b == 0xED) hi = 0x9F; }
        else if (b >= 0xF0 && b <= 0xF4) { len = 4; if (b == 0xF0) lo = 0x90; if (b == 0xF4) hi = 0x8F; }
        else return i;
        if (i + len > bytes || s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += len;
    }
    return bytes;
}

char *textdocs_join(const char *text, size_t bytes, size_t *out_bytes)
{
    char *out = xmalloc(bytes + 2);
    size_t used = 0;
    TextDocs d;
    const char *doc;
    size_t doc_bytes;
    textdocs_begin(&d, text, bytes);
    while (textdocs_next(&d, &doc, &doc_bytes)) {
        memcpy(out + used, doc, doc_bytes);   /* documents never overlap, so this fits */
        used += doc_bytes;
        out[used++] = '\n';
    }
    out[used] = 0;
    *out_bytes = used;
    return out;
}
