/* Writes the seed inputs of the checkpoint harnesses from a checkpoint that
 * plateau's own checkpoint_save writes for fuzz_config():
 *   OUT/safetensors/seed-model.safetensors
 *   OUT/checkpoint/seed-<k>-<file>   selector byte k + the file's bytes
 * Usage: seed OUT (scripts/fuzz-seed.sh calls it with fuzz/corpus). */
#include <stdio.h>
#include <stdlib.h>

#include "core/file.h"
#include "fuzz.h"

static void copy(const char *from, const char *to, int selector)
{
    char *data;
    size_t n;
    Err e;
    if (read_file(from, &data, &n, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    char *out = malloc(n + 1);
    size_t at = 0;
    if (selector >= 0) out[at++] = (char)selector;
    for (size_t i = 0; i < n; i++) out[at++] = data[i];
    if (write_file_atomic(to, out, at, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    free(out);
    free(data);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seed OUT\n");
        return 2;
    }
    char ckpt[600], from[700], to[700];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt", fuzz_dir());
    fuzz_save_checkpoint(ckpt);
    static const char *const FILES[4] = {"train_state.bin", "lineage.json", "config.json", "checksums.json"};
    for (int k = 0; k < 4; k++) {
        snprintf(from, sizeof from, "%s/%s", ckpt, FILES[k]);
        snprintf(to, sizeof to, "%s/checkpoint/seed-%d-%s", argv[1], k, FILES[k]);
        copy(from, to, k);
    }
    snprintf(from, sizeof from, "%s/model.safetensors", ckpt);
    snprintf(to, sizeof to, "%s/safetensors/seed-model.safetensors", argv[1]);
    copy(from, to, -1);
    return 0;
}
