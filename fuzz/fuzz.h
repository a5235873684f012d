/* Shared by the fuzz harnesses in this folder. Each harness defines
 * LLVMFuzzerTestOneInput(data, size): it hands the bytes to one of plateau's
 * loaders, through a file as plateau's users do, and the loader must refuse
 * or accept them without a memory error, undefined behaviour or a leak.
 *
 * Two ways to run a harness (see the Makefile):
 *   build/fuzz/<name>         libFuzzer with ASan + UBSan (clang; `make fuzz`)
 *   build/fuzz/replay_<name>  the plain driver in replay.c: every file of
 *                             fuzz/corpus/<name> once, as a cmocka test
 *                             (any compiler; `make test`). */
#ifndef PLATEAU_FUZZ_H
#define PLATEAU_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The model the checkpoint harnesses load into: every tensor kind of a real
 * one (GQA, untied head), a few hundred floats, so a whole file fits in a
 * fuzzer input and each run is cheap. seed.c writes its files. */
static inline Config fuzz_config(void)
{
    return (Config){.dim = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 8, .vocab_size = 8,
                    .seq_len = 4, .rope_theta = 10000.f, .norm_eps = 1e-5f, .tied = 0};
}

/* A valid checkpoint of fuzz_config() in dir, as plateau's trainer writes one
 * at step 3 of an 8-step WSD run (deterministic weights and moments).
 * Aborts on failure. */
void fuzz_save_checkpoint(const char *dir);

/* A private directory for this process (in /dev/shm when it exists, so the
 * per-input files never touch a disk), removed at exit. */
const char *fuzz_dir(void);

/* Writes bytes to fuzz_dir()/name and returns the path (static storage,
 * valid until the next call with the same name). Aborts on I/O errors:
 * those are the machine's fault, not the input's. */
const char *fuzz_write(const char *name, const void *data, size_t size);

#endif
