#define _GNU_SOURCE   /* memmem */
#include "data/docsource.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/textdocs.h"
#include "data/zfile.h"

#define CHUNK_BYTES (1u << 17)

struct DocSource {
    char        path[4096];
    char        field[256];
    long        max_bad, bad;
    Err         first_bad;
    LineReader *lines;       /* JSONL */
    cJSON      *json;        /* the current line's object (its string is the document) */
    ZFile      *text;        /* text: buf[start, end) unreturned bytes, searched up to `scanned` */
    char       *buf;
    size_t      start, end, cap, scanned;
    int         eof;
    long        docs;
};

int docsource_is_jsonl(const char *path)
{
    size_t n = strlen(path);
    if (zfile_kind(path) == ZFILE_GZIP) n -= 3;
    else if (zfile_kind(path) == ZFILE_ZSTD) n -= 4;
    return n >= 6 && strncmp(path + n - 6, ".jsonl", 6) == 0;
}

int docsource_open(DocSource **out, const char *path, const DocSourceOptions *o, Err *e)
{
    DocSource *s = xcalloc(1, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    snprintf(s->field, sizeof s->field, "%s", o && o->text_field ? o->text_field : "text");
    s->max_bad = o ? o->max_bad_lines : 0;
    int rc = docsource_is_jsonl(path) ? linereader_open(&s->lines, path, e) : zfile_open(&s->text, path, e);
    if (rc) {
        free(s);
        return -1;
    }
    if (s->text) {
        s->cap = 2 * CHUNK_BYTES;
        s->buf = xmalloc(s->cap);
    }
    *out = s;
    return 0;
}

/* Checks one JSONL line; on success s->json holds it and *doc its text. */
static int parse_line(DocSource *s, const char *line, size_t len, const char **doc, size_t *bytes, Err *e)
{
    long ln = linereader_line(s->lines);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!j) return err_set(e, "%s:%ld: not valid JSON (column %ld); expected an object with a string \"%s\"", s->path,
                           ln, end ? (long)(end - line) + 1 : 0L, s->field);
    for (const char *p = end; p < line + len; p++)
        if (*p != ' ' && *p != '\t') {
            cJSON_Delete(j);
            return err_set(e, "%s:%ld: unexpected text after the JSON object (column %ld)", s->path, ln,
                           (long)(p - line) + 1);
        }
    const cJSON *f = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, s->field) : NULL;
    const char *what = !cJSON_IsObject(j) ? "is not a JSON object" : !f ? "has no field" : !cJSON_IsString(f) ? "has a non-string field" : NULL;
    if (what) {
        cJSON_Delete(j);
        return err_set(e, "%s:%ld: %s \"%s\"; expected {\"%s\": \"...\", ...}", s->path, ln, what, s->field, s->field);
    }
    size_t n = strlen(f->valuestring);
    size_t bad = utf8_first_invalid(f->valuestring, n);
    if (bad < n) {
        cJSON_Delete(j);
        return err_set(e, "%s:%ld: field \"%s\" is not UTF-8 (byte %zu of the text)", s->path, ln, s->field, bad);
    }
    s->json = j;
    *doc = f->valuestring;
    *bytes = n;
    return 0;
}

static int next_jsonl(DocSource *s, const char **doc, size_t *bytes, Err *e)
{
    const char *line;
    size_t len;
    int r;
    while ((r = linereader_next(s->lines, &line, &len, e)) == 1) {
        size_t i = 0;
        while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
        if (i == len) continue;
        Err le;
        if (parse_line(s, line, len, doc, bytes, &le) == 0) return 1;
        if (s->bad >= s->max_bad) {
            *e = le;
            if (s->max_bad > 0) err_wrap(e, "more than --max-bad-lines %ld bad lines", s->max_bad);
            return -1;
        }
        if (s->bad++ == 0) s->first_bad = le;
    }
    return r;
}

/* Text: the next <|endoftext|>-separated document, trimmed; reads more of
 * the file until a separator (or the end) follows the document. */
static int next_text(DocSource *s, const char **doc, size_t *bytes, Err *e)
{
    static const char SEP[] = TEXTDOCS_SEPARATOR;
    const size_t sep_len = sizeof SEP - 1;
    for (;;) {
        char *hit = NULL;
        if (s->end - s->scanned >= sep_len)
            hit = memmem(s->buf + s->scanned, s->end - s->scanned, SEP, sep_len);
        if (hit || (s->eof && s->end > s->start)) {
            size_t stop = hit ? (size_t)(hit - s->buf) : s->end;
            const char *d = s->buf + s->start;
            size_t n = stop - s->start;
            s->start = s->scanned = hit ? stop + sep_len : s->end;
            /* trim as textdocs does */
            TextDocs td;
            const char *tdoc;
            size_t tn;
            textdocs_begin(&td, d, n);
            if (!textdocs_next(&td, &tdoc, &tn)) continue;   /* empty */
            s->docs++;
            size_t bad = utf8_first_invalid(tdoc, tn);
            if (bad < tn)
                return err_set(e, "%s: document %ld is not UTF-8 (byte 0x%02X, %zu bytes into it)", s->path, s->docs,
                               (unsigned char)tdoc[bad], bad);
            *doc = tdoc;
            *bytes = tn;
            return 1;
        }
        if (s->eof) return 0;
        /* keep a separator's worth of bytes that may be its start */
        if (s->end - s->start >= sep_len) s->scanned = s->end - (sep_len - 1);
        size_t keep = s->end - s->start;
        memmove(s->buf, s->buf + s->start, keep);
        s->scanned -= s->start;
        s->end = keep;
        s->start = 0;
        if (s->cap - s->end < CHUNK_BYTES) {
            s->cap *= 2;
            s->buf = realloc(s->buf, s->cap);
            if (!s->buf) return err_set(e, "%s: out of memory for a document of %zu bytes", s->path, keep);
        }
        long got = zfile_read(s->text, s->buf + s->end, s->cap - s->end, e);
        if (got < 0) return -1;
        if (got == 0) s->eof = 1;
        s->end += (size_t)got;
    }
}

int docsource_next(DocSource *s, const char **doc, size_t *bytes, Err *e)
{
    if (s->json) {
        cJSON_Delete(s->json);
        s->json = NULL;
    }
    return s->lines ? next_jsonl(s, doc, bytes, e) : next_text(s, doc, bytes, e);
}

long docsource_bad_lines(const DocSource *s) { return s->bad; }
const char *docsource_first_bad(const DocSource *s) { return s->bad ? s->first_bad.msg : ""; }

uint64_t docsource_disk_offset(const DocSource *s)
{
    return zfile_disk_offset(s->lines ? linereader_file(s->lines) : s->text);
}

uint64_t docsource_disk_size(const DocSource *s)
{
    return zfile_disk_size(s->lines ? linereader_file(s->lines) : s->text);
}

void docsource_close(DocSource *s)
{
    if (!s) return;
    cJSON_Delete(s->json);
    linereader_close(s->lines);
    zfile_close(s->text);
    free(s->buf);
    free(s);
}
