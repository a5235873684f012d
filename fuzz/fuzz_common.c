#include "fuzz.h"

#include "core/rng.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static void remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", dir);
}

const char *fuzz_dir(void)
{
    if (dir[0]) return dir;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/plateau-fuzz-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_dir);
    return dir;
}

const char *fuzz_write(const char *name, const void *data, size_t size)
{
    static char path[8][512];
    static const char *names[8];
    int k = 0;
    while (k < 8 && names[k] && strcmp(names[k], name) != 0) k++;
    if (k == 8) abort();
    names[k] = name;
    snprintf(path[k], sizeof path[k], "%s/%s", fuzz_dir(), name);
    FILE *fp = fopen(path[k], "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) {
        perror(path[k]);
        abort();
    }
    return path[k];
}

void fuzz_save_checkpoint(const char *dir)
{
    Config c = fuzz_config();
    ParamTable t;
    param_table_build(&t, &c);
    float *params = malloc(t.total * sizeof(float));
    Rng r = rng_stream(1, 2);
    for (size_t i = 0; i < t.total; i++) params[i] = (float)rng_normal(&r);
    AdamWConfig oc = adamw_defaults();
    AdamW opt;
    adamw_create(&opt, &oc, &t);
    for (size_t i = 0; i < t.total; i++) {
        opt.m[i] = 0.01f * params[i];
        opt.v[i] = 1e-4f * params[i] * params[i];
    }
    opt.t = 3;
    Lineage lin = {.step = 3, .tokens = 3 * 8, .stage_end_step = 8, .batch_tokens = 8, .seq_len = 4,
                   .micro_batch = 2, .seed = 1};
    snprintf(lin.stage, sizeof lin.stage, "pretrain");
    snprintf(lin.schedule, sizeof lin.schedule, "wsd:peak=0.001,warmup=2,total=8,alpha=0.1,rho=0.75,shape=linear");
    snprintf(lin.data, sizeof lin.data, "tokens.bin");
    lin.cursor = (LoaderCursor){.seed = 1, .data_hash = 0x0123456789abcdefULL, .n_windows = 10, .step = 3,
                                .windows_consumed = 6, .epoch = 0, .seq_len = 4, .batch_size = 2, .n_micro = 1,
                                .layout = LOADER_STREAM};
    Err e;
    if (checkpoint_save(dir, &c, params, &opt, &lin, &e)) {
        fprintf(stderr, "fuzz: %s\n", e.msg);
        abort();
    }
    adamw_free(&opt);
    free(params);
    param_table_free(&t);
}
