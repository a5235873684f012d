/* The `--probe-*` options of plateau train: sharpness measured along the run
 * (probe/sharpness_hook.h), kept in one place so the trainer's command only
 * lists them and installs the hook. */
#ifndef PLATEAU_PROBE_OPTS_H
#define PLATEAU_PROBE_OPTS_H

#include "cli/args.h"
#include "probe/sharpness_hook.h"

#define PROBE_OPTS                                                                                              \
    {"probe-every", "K", "measure sharpness Tr(H) every K steps and at the end, into OUT/sharpness.csv"},       \
    {"probe-data", "FILE", "with --probe-every: token shard of the fixed probe batch (its first windows)"},     \
    {"probe-mask", "FILE", "with --probe-every: its loss-mask shard (default: every target counts)"},           \
    {"probe-layout", "L", "with --probe-every: stream (default) or rows"},                                     \
    {"probe-batch", "B", "with --probe-every: sequences in the probe batch (default 1)"},                       \
    {"probe-probes", "N", "with --probe-every: Hutchinson probes per measurement (default 50)"},               \
    {"probe-seed", "S", "with --probe-every: probe stream seed (default 0)"}

/* The command line's part: --probe-data present and --probe-layout known
 * when --probe-every is given (numbers are checked by args.c's table). */
int probe_opts_check(const Args *a, Err *e);

/* Installs the hook on run when --probe-every is given (returns 0 and sets
 * *installed = 1), else leaves run alone (*installed = 0). The probe batch
 * has the run's sequence length T, at most the paper's 1024. h must outlive
 * the run; close it after. */
int probe_hook_install(const Args *a, SharpnessHook *h, const Model *m, int T, TrainRun *run, const char *out_dir,
                       int quiet, int *installed, Err *e);

#endif
