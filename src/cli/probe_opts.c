#include "cli/probe_opts.h"

#include <string.h>

#include "core/file.h"
#include "probe/sharpness.h"

int probe_opts_check(const Args *a, Err *e)
{
    if (!args_has(a, "probe-every")) return 0;
    const char *data, *layout = args_str(a, "probe-layout", "stream");
    if (args_require(a, "probe-data", &data, e)) return -1;
    if (strcmp(layout, "stream") && strcmp(layout, "rows"))
        return err_set(e, "--probe-layout: expected stream or rows, got '%s'", layout);
    return 0;
}

int probe_hook_install(const Args *a, SharpnessHook *h, const Model *m, int T, TrainRun *run, const char *out_dir,
                       int quiet, int *installed, Err *e)
{
    *installed = 0;
    if (!args_has(a, "probe-every")) return 0;
    long every, B, probes, seed;
    if (probe_opts_check(a, e) || args_long(a, "probe-every", 0, &every, e) || args_long(a, "probe-batch", 1, &B, e) ||
        args_long(a, "probe-probes", 50, &probes, e) || args_long(a, "probe-seed", 0, &seed, e))
        return -1;
    const char *data = args_str(a, "probe-data", ""), *layout = args_str(a, "probe-layout", "stream");
    char csv[4096];
    path_join(csv, sizeof csv, out_dir, "sharpness.csv");
    if (make_dirs(out_dir, e)) return -1;
    if (sharpness_hook_open(h, m, data, args_has(a, "probe-mask") ? args_str(a, "probe-mask", "") : NULL,
                            strcmp(layout, "rows") == 0 ? LOADER_ROWS : LOADER_STREAM, (int)B,
                            T < SHARPNESS_PAPER_SEQ_LEN ? T : SHARPNESS_PAPER_SEQ_LEN, every,
                            run->start_step, run->end_step, (int)probes, (uint64_t)seed, csv, e))
        return -1;
    h->quiet = quiet;
    h->chain = run->on_step;
    h->chain_ctx = run->on_step_ctx;
    run->on_step = sharpness_hook_on_step;
    run->on_step_ctx = h;
    *installed = 1;
    return 0;
}
