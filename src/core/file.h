/* Files written atomically: data goes to "<path>.tmp.<pid>", is fsynced, and
 * is renamed over <path> only when complete, so a reader (or a crash) never
 * sees a half-written file and nothing already on disk is damaged. Also small
 * helpers for reading whole files and making directories. */
#ifndef PLATEAU_FILE_H
#define PLATEAU_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

typedef struct {
    FILE *fp;
    char path[4096];
    char tmp_path[4128];
} AtomicFile;

int  afile_open(AtomicFile *af, const char *path, Err *e);
int  afile_write(AtomicFile *af, const void *data, size_t bytes, Err *e);
int  afile_printf(AtomicFile *af, Err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Flushes, fsyncs, renames over the final path and fsyncs the directory. */
int  afile_commit(AtomicFile *af, Err *e);
/* Discards the temporary file; the final path is untouched. Safe to call twice. */
void afile_abort(AtomicFile *af);

/* Whole-buffer convenience: afile_open + write + commit. */
int write_file_atomic(const char *path, const void *data, size_t bytes, Err *e);
/* write_file_atomic, or with path "-" the bytes to stdout (the convention
 * of every --json OUT and --out FILE that may go to a pipe). */
int write_file_or_stdout(const char *path, const void *data, size_t bytes, Err *e);

/* Opens path for reading ("rb") only if fstat calls it a regular file: a
 * directory, FIFO or device is refused with a message naming the path and
 * what it is (a directory's "size" would otherwise read as garbage, and a
 * FIFO would block). Returns NULL with e filled on any failure. */
FILE *file_open_read(const char *path, Err *e);

/* Reads a whole regular file (file_open_read) into a malloc'd, NUL-terminated
 * buffer (*bytes excludes the NUL). The caller frees. */
int read_file(const char *path, char **data, size_t *bytes, Err *e);

/* mkdir -p. */
int make_dirs(const char *path, Err *e);

int file_exists(const char *path);

/* Joins a directory and a file name into out (size out_size). */
void path_join(char *out, size_t out_size, const char *dir, const char *name);
/* The folder of path: what precedes its last '/', or "." when it has none. */
void path_dirname(char *out, size_t out_size, const char *path);

#endif
