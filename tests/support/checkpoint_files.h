/* Test helpers for checkpoints written by ./plateau runs: load one whole, or
 * compare one file of two checkpoints byte for byte. Failures fail the
 * calling cmocka test with a message naming the files. */
#ifndef PLATEAU_TEST_CHECKPOINT_FILES_H
#define PLATEAU_TEST_CHECKPOINT_FILES_H

#include <stddef.h>

#include "train/adamw.h"
#include "train/checkpoint.h"

/* Loads checkpoint dir: its lineage into *lin, its optimizer state into *opt
 * (created here; the caller frees it with adamw_free). Returns the weights
 * (malloc'd, the caller frees) and their count in *n (n may be NULL). */
float *checkpoint_files_load(const char *dir, Lineage *lin, AdamW *opt, size_t *n);

/* Fails unless dir_a/name and dir_b/name hold the same bytes. */
void assert_same_checkpoint_file(const char *dir_a, const char *dir_b, const char *name);

#endif
