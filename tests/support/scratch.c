#include "support/scratch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *scratch_plateau_bin(const char *test)
{
    const char *bin = getenv("PLATEAU_BIN") ? getenv("PLATEAU_BIN") : "./plateau";
    if (access(bin, X_OK) == 0) return bin;
    fprintf(stderr, "%s: %s not found (run `make` first, or set PLATEAU_BIN)\n", test, bin);
    return NULL;
}

int scratch_create(char *root, size_t size, const char *name)
{
    if ((size_t)snprintf(root, size, "/tmp/plateau-%s-XXXXXX", name) >= size) return -1;
    return mkdtemp(root) ? 0 : -1;
}

int scratch_remove(const char *root)
{
    if (strncmp(root, "/tmp/plateau-", 13) != 0 || strchr(root, '\'')) return -1;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}
