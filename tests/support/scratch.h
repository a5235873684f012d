/* Test helpers for tests that run ./plateau in a scratch folder: the
 * binary's path, and the folder's life cycle. */
#ifndef PLATEAU_TEST_SCRATCH_H
#define PLATEAU_TEST_SCRATCH_H

#include <stddef.h>

/* $PLATEAU_BIN, else ./plateau; NULL (after a message naming test) when it
 * is not an executable (`make` builds it before the tests). */
const char *scratch_plateau_bin(const char *test);

/* Creates /tmp/plateau-NAME-XXXXXX into root. Returns 0, or -1. */
int scratch_create(char *root, size_t size, const char *name);

/* Removes root and everything in it. Returns 0, or -1. */
int scratch_remove(const char *root);

#endif
