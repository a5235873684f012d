/* plateau: one binary, many subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "dist/comm.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *about;
} Command;

static const Command COMMANDS[] = {
    {"model", cmd_model, "model shapes: `model info --preset NAME`"},
    {"init", cmd_init, "write a freshly initialised model as a checkpoint"},
    {"train", cmd_train, "train one stage (pretrain, mid, sft) from a checkpoint or a preset"},
    {"generate", cmd_generate, "greedy continuation of a prompt: `generate --ckpt DIR --prompt TEXT`"},
    {"export", cmd_export, "release formats: `export --format hf|gguf CKPT --out PATH`"},
    {"eval", cmd_eval, "evaluate a checkpoint: `eval --ckpt DIR --suite pt|sft|loss`"},
    {"tokenizer", cmd_tokenizer, "byte-level BPE: `tokenizer train|encode`"},
    {"data", cmd_data, "worlds and data files: `data bios|wordnet|sft|tokenize ...`"},
    {"sharpness", cmd_sharpness, "sharpness Tr(H) of a checkpoint (Hutchinson), top eigenvalue, density"},
    {"merge", cmd_merge, "weighted average of checkpoints (uniform or WSM's decay-emulating weights)"},
    {"sft-change", cmd_sft_change, "what SFT did to a base: forgetting and relative weight distance"},
    {"schedule", cmd_schedule, "learning-rate schedules: landmarks, CSV or a chart"},
    {"study", cmd_study, "studies: `study plan|calibrate|run|report FILE` (DAG, peak LR, run it, its report)"},
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: plateau COMMAND [options]   (plateau COMMAND --help for each)\n\n"
                "plateau pre-trains, mid-trains, fine-tunes and probes small Llama-3-style models\n"
                "to study how learning-rate decay in pre-training affects supervised fine-tuning.\n\n"
                "commands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(fp, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].about);
}

/* OpenMP threads that busy-wait lose badly when anything else shares the
 * cores (measured: evaluation 10-30x slower with two threads on a loaded
 * 2-core machine) and gain nothing measurable on an idle one (bench_train S
 * and M within run-to-run noise), so plateau waits passively unless the
 * user chose a policy. libgomp reads OMP_WAIT_POLICY when it loads, before
 * main, hence the re-exec; the process id stays the same. */
static void prefer_passive_openmp_wait(char **argv)
{
    if (getenv("OMP_WAIT_POLICY")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): carry on with the default policy */
}

/* Under mpirun every rank runs the same command; rank 0 alone prints what a
 * person reads. The others' standard output is discarded; their errors still
 * reach standard error. */
static void quiet_other_ranks(void)
{
    if (dist_is_root(dist_world())) return;
    if (!freopen("/dev/null", "w", stdout)) fprintf(stderr, "plateau: rank %d: cannot silence stdout\n", dist_world()->rank);
}

static int dispatch(int argc, char **argv)
{
    int help = args_first_is_help(argc - 1, argv + 1);
    if (argc < 2 || help || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        if (strcmp(argv[1], COMMANDS[i].name)) continue;
        /* Every rank would run the whole command and write the same files. */
        if (dist_world()->size > 1 && strcmp(argv[1], "train") && strcmp(argv[1], "study")) {
            if (dist_is_root(dist_world()))
                fprintf(stderr, "plateau: %s runs as one process; under mpirun only train and study run use the "
                                "ranks\n", argv[1]);
            return EXIT_USAGE;
        }
        return COMMANDS[i].run(argc - 2, argv + 2);
    }
    fprintf(stderr, "plateau: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    prefer_passive_openmp_wait(argv);
    dist_init(&argc, &argv);
    quiet_other_ranks();
    int rc = dispatch(argc, argv);
    dist_finalize();
    return rc;
}
