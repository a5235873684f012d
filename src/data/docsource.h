/* Pre-training documents from a corpus file, streamed: memory stays flat
 * (one read window plus the longest document) however large the file.
 *
 *   NAME.jsonl, NAME.jsonl.gz, NAME.jsonl.zst   one JSON object per line (the
 *       FineWeb / Dolma layout); the document is the string field text_field
 *       ("text" by default); other fields are ignored; blank lines skipped.
 *   anything else (NAME.txt, NAME.txt.gz, ...)   UTF-8 text whose documents
 *       are separated by <|endoftext|> (data/textdocs.h: each trimmed, empty
 *       ones skipped).
 * .gz and .zst are decompressed on the fly (data/zfile.h).
 *
 * A JSONL line that is not a JSON object, lacks the field, has a field that
 * is not a string, or is not UTF-8 is a bad line: "FILE:LINE: what was
 * expected". Up to max_bad_lines of them are skipped and counted (the first
 * one's message is kept); one more is an error carrying that line's message.
 * A text document that is not UTF-8 is always an error naming the file and
 * the document. */
#ifndef PLATEAU_DOCSOURCE_H
#define PLATEAU_DOCSOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct {
    const char *text_field;      /* JSONL: the field holding the text (NULL: "text") */
    long        max_bad_lines;   /* JSONL: bad lines skipped before failing (0: none) */
} DocSourceOptions;

typedef struct DocSource DocSource;

/* 1 if the name (without .gz/.zst) ends in .jsonl. */
int  docsource_is_jsonl(const char *path);
int  docsource_open(DocSource **out, const char *path, const DocSourceOptions *o, Err *e);
/* Points *doc at the next document (valid until the next call) and returns
 * 1; 0 at the end; -1 on error. */
int  docsource_next(DocSource *s, const char **doc, size_t *bytes, Err *e);
long docsource_bad_lines(const DocSource *s);
/* The first skipped line's message ("" if none). */
const char *docsource_first_bad(const DocSource *s);
/* Bytes of the file on disk consumed so far, and its size (for progress). */
uint64_t docsource_disk_offset(const DocSource *s);
uint64_t docsource_disk_size(const DocSource *s);
void docsource_close(DocSource *s);

#endif
