/* A file read through its compression, chosen by its name: FILE.gz is gzip
 * (zlib; concatenated members too), FILE.zst is Zstandard (libzstd; several
 * frames too), anything else is read as it is. Reads stream: memory is one
 * decompression window whatever the file's size. A corrupt or truncated
 * compressed file is an error naming the file, never silently short data,
 * and so is a FILE.gz that is not gzip (no gzip signature) rather than
 * being read as text.
 *
 * LineReader splits such a file into lines ("\n" or "\r\n" endings, the last
 * line may lack one), numbered from 1, for JSONL. A line may be any length;
 * the reader keeps the longest line seen. */
#ifndef PLATEAU_ZFILE_H
#define PLATEAU_ZFILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum { ZFILE_PLAIN, ZFILE_GZIP, ZFILE_ZSTD } ZFileKind;

typedef struct ZFile ZFile;

/* The kind a name implies (".gz", ".zst", otherwise plain). */
ZFileKind zfile_kind(const char *path);
int  zfile_open(ZFile **out, const char *path, Err *e);
/* Reads up to cap decompressed bytes into buf; returns how many (0 at the
 * end of the data) or -1 on error. */
long zfile_read(ZFile *f, void *buf, size_t cap, Err *e);
/* Bytes of the file on disk consumed so far, and the file's size (for progress). */
uint64_t zfile_disk_offset(const ZFile *f);
uint64_t zfile_disk_size(const ZFile *f);
void zfile_close(ZFile *f);

typedef struct LineReader LineReader;

int  linereader_open(LineReader **out, const char *path, Err *e);
/* Points *line at the next line (without its ending; valid until the next
 * call) and returns 1; 0 at the end; -1 on a read error. */
int  linereader_next(LineReader *r, const char **line, size_t *bytes, Err *e);
long linereader_line(const LineReader *r);          /* number of the line last returned */
const ZFile *linereader_file(const LineReader *r);
void linereader_close(LineReader *r);

/* The writing side, for generated corpora: compressed by the name as above
 * (gzip level 6, Zstandard level 3), written atomically (core/file.h). */
typedef struct ZWriter ZWriter;

int  zwriter_open(ZWriter **out, const char *path, Err *e);
int  zwriter_write(ZWriter *w, const void *data, size_t bytes, Err *e);
/* Finishes the stream and renames the file into place. */
int  zwriter_commit(ZWriter *w, Err *e);
/* Discards the temporary file (after an error); frees w. */
void zwriter_abort(ZWriter *w);
uint64_t zwriter_disk_bytes(const ZWriter *w);   /* compressed bytes written so far */

#endif
