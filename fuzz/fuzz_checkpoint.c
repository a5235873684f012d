/* The checkpoint's own files. The first input byte picks one of
 * train_state.bin, lineage.json, config.json or checksums.json; the rest
 * replaces that file in an otherwise valid checkpoint of fuzz_config(), then
 * re-sealed (except when the manifest itself is the input) so that the
 * loader's parsing and range checks, not the checksums, meet the bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "fuzz.h"
#include "model/config.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

static const char *const FILES[4] = {"train_state.bin", "lineage.json", "config.json", "checksums.json"};

typedef struct {
    char       dir[512];
    Config     cfg;
    ParamTable table;
    float     *params;
    AdamW      opt;
    char      *original[4];   /* each file as saved */
    size_t     bytes[4];
} Template;

static Template *template_create(void)
{
    static Template t;
    Err e;
    snprintf(t.dir, sizeof t.dir, "%s/ckpt", fuzz_dir());
    fuzz_save_checkpoint(t.dir);
    t.cfg = fuzz_config();
    param_table_build(&t.table, &t.cfg);
    t.params = calloc(t.table.total, sizeof(float));
    AdamWConfig oc = adamw_defaults();
    adamw_create(&t.opt, &oc, &t.table);
    for (int k = 0; k < 4; k++) {
        char path[600];
        path_join(path, sizeof path, t.dir, FILES[k]);
        if (read_file(path, &t.original[k], &t.bytes[k], &e)) abort();
    }
    return &t;
}

static void put(const Template *t, int k, const void *data, size_t size)
{
    char path[600];
    Err e;
    path_join(path, sizeof path, t->dir, FILES[k]);
    if (write_file_atomic(path, data, size, &e)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Template *t;
    if (!t) t = template_create();
    if (size < 1) return 0;
    int k = data[0] % 4;
    Err e;
    put(t, k, data + 1, size - 1);
    if (k != 3) checkpoint_seal(t->dir, NULL, &e);
    Lineage lin;
    int has_opt;
    checkpoint_load(t->dir, &t->cfg, t->params, &t->opt, &has_opt, &lin, &e);
    Config c;
    checkpoint_read_config(t->dir, &c, &e);
    /* back to the valid checkpoint for the next input */
    put(t, k, t->original[k], t->bytes[k]);
    put(t, 3, t->original[3], t->bytes[3]);
    return 0;
}
