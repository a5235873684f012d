#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int err_set(Err *e, const char *fmt, ...)
{
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int err_wrap(Err *e, const char *fmt, ...)
{
    if (!e) return -1;
    char prefix[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%.500s: %.500s", prefix, old);
    return -1;
}

void die(const Err *e)
{
    fprintf(stderr, "plateau: %s\n", e ? e->msg : "unknown error");
    exit(1);
}

void *xmalloc(unsigned long bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "plateau: out of memory allocating %lu bytes\n", bytes);
        exit(1);
    }
    return p;
}

void *xrealloc(void *p, unsigned long bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) {
        fprintf(stderr, "plateau: out of memory growing a block to %lu bytes\n", bytes);
        exit(1);
    }
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

void *xcalloc(unsigned long count, unsigned long size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "plateau: out of memory allocating %lu x %lu bytes\n", count, size);
        exit(1);
    }
    return p;
}

void err_replace(Err *e, const char *from, const char *to)
{
    size_t nf = strlen(from);
    if (nf == 0) return;
    char out[sizeof e->msg];
    size_t used = 0;
    for (const char *p = e->msg; *p && used + 1 < sizeof out;) {
        if (strncmp(p, from, nf) == 0) {
            used += (size_t)snprintf(out + used, sizeof out - used, "%s", to);
            if (used >= sizeof out) used = sizeof out - 1;
            p += nf;
        } else {
            out[used++] = *p++;
        }
    }
    out[used] = 0;
    memcpy(e->msg, out, used + 1);
}
