#include "data/pretokenize.h"

#include <stdint.h>

enum { CLASS_OTHER, CLASS_LETTER, CLASS_NUMBER, CLASS_SPACE };

/* Decodes one UTF-8 sequence at s[0..n); returns its length, or 0 when the
 * bytes are not a valid, shortest-form encoding of a scalar value. */
static int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char b = s[0];
    int len;
    uint32_t c, min;
    if (b < 0x80) { *cp = b; return 1; }
    if (b >= 0xC2 && b <= 0xDF) { len = 2; c = b & 0x1F; min = 0x80; }
    else if (b >= 0xE0 && b <= 0xEF) { len = 3; c = b & 0x0F; min = 0x800; }
    else if (b >= 0xF0 && b <= 0xF4) { len = 4; c = b & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

#include "data/unicode_classes.inc"

/* Class of a code point above ASCII: a binary search of the generated table. */
static int codepoint_class(uint32_t c)
{
    size_t lo = 0, hi = sizeof UNICODE_CLASSES / sizeof UNICODE_CLASSES[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c > UNICODE_CLASSES[mid].last) lo = mid + 1;
        else if (c < UNICODE_CLASSES[mid].first) hi = mid;
        else return UNICODE_CLASSES[mid].cls;
    }
    return CLASS_OTHER;
}

/* The classes of ASCII (the rest, zero, is CLASS_OTHER), as a table for the
 * common case. */
static const unsigned char ascii_class[128] = {
    ['\t' ... '\r'] = CLASS_SPACE, [' '] = CLASS_SPACE,
    ['0' ... '9'] = CLASS_NUMBER,
    ['A' ... 'Z'] = CLASS_LETTER, ['a' ... 'z'] = CLASS_LETTER,
};

/* Class of the character at s[pos]; *len receives its byte length. */
static inline int char_class(const unsigned char *s, size_t n, size_t pos, int *len)
{
    if (s[pos] < 0x80) { *len = 1; return ascii_class[s[pos]]; }
    uint32_t c;
    int l = utf8_decode(s + pos, n - pos, &c);
    if (l == 0) { *len = 1; return CLASS_LETTER; }
    *len = l;
    return codepoint_class(c);
}

/* End of the run of characters of class cls that starts at pos. */
static size_t run_end(const unsigned char *s, size_t n, size_t pos, int cls)
{
    while (pos < n && s[pos] < 0x80 && ascii_class[s[pos]] == cls) pos++;
    while (pos < n) {
        int len;
        if (char_class(s, n, pos, &len) != cls) break;
        pos += (size_t)len;
    }
    return pos;
}

size_t pretok_next(const unsigned char *s, size_t n, size_t pos)
{
    unsigned char b = s[pos];
    if (b == '\'' && pos + 1 < n) {
        unsigned char c1 = s[pos + 1], c2 = pos + 2 < n ? s[pos + 2] : 0;
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return pos + 2;
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
            return pos + 3;
    }
    int len;
    int cls = char_class(s, n, pos, &len);
    if (cls != CLASS_SPACE) return run_end(s, n, pos, cls);
    if (b == ' ' && pos + 1 < n) {           /* " ?\p{L}+" and friends */
        int next = char_class(s, n, pos + 1, &len);
        if (next != CLASS_SPACE) return run_end(s, n, pos + 1, next);
    }
    /* \s+(?!\S)|\s+ : a run of whitespace followed by a non-space gives up
     * its last character, which either starts the next word (a space) or
     * is a word of its own (\s+ on one character). */
    size_t end = pos, last = pos;
    while (end < n) {
        if (char_class(s, n, end, &len) != CLASS_SPACE) break;
        last = end;
        end += (size_t)len;
    }
    if (end == n || last == pos) return end;
    return last;
}
