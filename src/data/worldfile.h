/* The files of a world folder (bios, wordnet): each written atomically as it
 * is finished, and listed with its size in world.json, which is written last
 * so that its presence means the folder is complete. */
#ifndef PLATEAU_WORLDFILE_H
#define PLATEAU_WORLDFILE_H

#include "core/error.h"
#include "core/rng.h"
#include "data/textbuf.h"

typedef struct {
    const char *name;
    long lines;              /* documents for .txt, records for .jsonl */
    long bytes;
} WorldFileInfo;

/* Writes b to dir/name atomically, records (name, lines, bytes) as
 * files[*n_files] and advances *n_files, then frees b. */
int world_file_emit(const char *dir, const char *name, TextBuf *b, long lines, WorldFileInfo *files,
                    int *n_files, Err *e);

/* Appends the "files" object of world.json: {"NAME": {"documents"|"records":
 * N, "bytes": N}, ...} for the first n entries with a name. */
void world_files_json(TextBuf *out, const WorldFileInfo *files, int n);

/* Appends world.json's "splits" object: {"test": N, "train": N, "mid": N,
 * "eval_train": N}. */
void world_splits_json(TextBuf *out, long test, long train, long mid, long eval_train);

/* Shuffles n one-line records with r and appends the first 90% to train and
 * the rest to valid (the paper's 9:1 SFT split), freeing each record and
 * the lines array. Sets *n_valid; returns the number of train records. */
long world_split_records(TextBuf *lines, size_t n, Rng *r, TextBuf *train, TextBuf *valid, long *n_valid);

#endif
