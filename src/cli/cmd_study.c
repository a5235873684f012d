/* plateau study: plan, run and report a study file. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "dist/comm.h"
#include "study/calibrate.h"
#include "study/jobs.h"
#include "study/plan.h"
#include "study/report.h"
#include "study/runner.h"
#include "study/spec.h"

static const OptSpec PLAN_OPTS[] = {
    {"sft-steps", "N", "steps of one SFT run when the study gives SFT in epochs (default: left open)"},
    {"estimate", NULL, "also prepare the data in DIR and print the expected duration, measured on this machine"},
    {"out", "DIR", "with --estimate: the study's output folder (default runs/NAME, as study run)"},
    {"jobs", "N", "with --estimate: the duration with the segments spread as `study run --jobs N` would"},
    {NULL, NULL, NULL},
};

/* The folder `study run` uses: --out, or runs/NAME. */
static void study_out_dir(char *out, size_t size, const Args *a, const StudySpec *spec)
{
    if (args_has(a, "out")) snprintf(out, size, "%s", args_str(a, "out", ""));
    else snprintf(out, size, "runs/%s", spec->name);
}

/* --jobs N: its range (1..JOBS_MAX) is checked by the option parser's
 * table; STUDY_JOBS_AUTO when absent. Under mpirun with ranks the ranks are
 * the workers, so --jobs is refused. */
static int jobs_option(const Args *a, const char *cmd, int *jobs)
{
    Err e;
    long n;
    *jobs = STUDY_JOBS_AUTO;
    if (!args_has(a, "jobs")) return 0;
    if (args_long(a, "jobs", 1, &n, &e)) {
        fprintf(stderr, "plateau study %s: %s\n", cmd, e.msg);
        return EXIT_USAGE;
    }
    if (dist_world()->size > 1) {
        if (dist_is_root(dist_world()))
            fprintf(stderr, "plateau study %s: --jobs runs segments side by side in worker processes of one "
                            "machine; under mpirun the %d ranks do that already: drop --jobs or mpirun\n",
                    cmd, dist_world()->size);
        return EXIT_USAGE;
    }
    *jobs = (int)n;
    return 0;
}

static int study_plan(int argc, char **argv)
{
    Args a;
    const char *usage = "plateau study plan FILE [--sft-steps N] [--estimate [--out DIR] [--jobs N]]";
    const char *about =
        "Parses a study file and prints its segment DAG: every segment with its parent, stage, step range, schedule\n"
        "and arms, each arm's path, and the steps that prefix sharing saves. With --estimate it then prepares the\n"
        "study's data in DIR (as `study run` does, which reuses it), times the study's model, an evaluation and a\n"
        "sharpness probe on this machine, and prints the expected duration of what is left to run; nothing trains.";
    if (args_begin(&a, PLAN_OPTS, argc, argv, usage, about)) return 0;
    Err e;
    if (a.n_positional != 1) {
        fprintf(stderr, "plateau study plan: expected one study file (usage: %s)\n", usage);
        return EXIT_USAGE;
    }
    long sft_steps;
    if (args_long(&a, "sft-steps", 0, &sft_steps, &e)) args_fail(&e);
    if (!args_has(&a, "estimate") && (args_has(&a, "out") || args_has(&a, "jobs"))) {
        fprintf(stderr, "plateau study plan: --out and --jobs go with --estimate\n");
        return EXIT_USAGE;
    }
    StudyRunOptions o = {.estimate_only = 1, .jobs = STUDY_JOBS_AUTO};
    int bad = jobs_option(&a, "plan", &o.jobs);
    if (bad) return bad;
    StudySpec spec;
    CalibrationEvidence ev;   /* checked here too: a plan that prints is a study that runs */
    if (study_spec_load(&spec, a.positional[0], &e) || calibration_read(&spec, &ev, &e)) die(&e);
    calibration_free(&ev);
    Plan plan;
    if (plan_build(&plan, &spec, sft_steps, &e)) die(&e);
    plan_print(&plan, stdout);
    plan_free(&plan);
    if (!args_has(&a, "estimate")) return 0;
    char out[4096];
    study_out_dir(out, sizeof out, &a, &spec);
    fflush(stdout);
    if (study_run(a.positional[0], out, &o, &e)) die(&e);
    return 0;
}

static const OptSpec RUN_OPTS[] = {
    {"out", "DIR", "output folder (default runs/NAME, NAME = the study file's name)"},
    {"jobs", "N", "segments at once, each in a worker process with max(1, T/N) of the T OpenMP threads "
                  "(default: T one-thread jobs for models up to " STUDY_JOBS_MAX_PARAMS_TEXT " parameters, else 1)"},
    {"quiet", NULL, "no progress bars or per-segment lines"},
    {"no-report", NULL, "do not write the report at the end"},
    {"rebuild-data", NULL, "when DIR's data was built for other settings, rebuild DIR/world and DIR/data there "
                           "(else refused)"},
    {NULL, NULL, NULL},
};

static int study_run_cmd(int argc, char **argv)
{
    Args a;
    const char *usage = "plateau study run FILE [--out DIR] [--jobs N] [--quiet] [--rebuild-data]";
    const char *about =
        "Runs a study end to end: builds the world, tokenizer and shards in DIR, trains every segment of the plan\n"
        "(shared prefixes once), evaluates each stage end, probes sharpness, chooses the SFT learning rate per base\n"
        "model on the validation split, then writes DIR/report.md. Re-running resumes: finished segments are skipped.\n"
        "Under `mpirun -np N` (N >= 2) rank 0 owns the plan and DIR/results.sqlite and hands every segment whose\n"
        "parent is done to a free rank of 1..N-1; DIR must be the same folder for every rank (a shared filesystem\n"
        "across hosts). The store ends with the rows of a one-process run; a killed run resumes under any N.\n"
        "--jobs N does the same on one machine without MPI: N worker processes run segments whose parents are done\n"
        "side by side, each with max(1, T/N) of the T threads (OMP_NUM_THREADS, else the cores), and this process\n"
        "alone writes DIR/results.sqlite. Every segment gives the bits it gives run alone at that thread count, so\n"
        "--jobs 2 at T = 2 gives the rows of --jobs 1 at OMP_NUM_THREADS=1. Ctrl-C stops the jobs; a re-run under\n"
        "any --jobs resumes.\n"
        "DIR holds one run at a time: a second `study run` (or `study calibrate`) into it is refused while the first\n"
        "is going (`study report DIR` reads it meanwhile). A study file edited since the last run in DIR runs with a\n"
        "line naming what changed; segments whose settings did not change are reused. An edit that changes the data\n"
        "(world, people, vocab, pretrain_tokens of bios, seq_len, the data files) is refused, as it would rebuild\n"
        "DIR/world and DIR/data and run every segment again: use a new --out, or pass --rebuild-data. Segments of an\n"
        "earlier plan stay in DIR/results.sqlite and DIR/segments but are not reported.";
    if (args_begin(&a, RUN_OPTS, argc, argv, usage, about)) return 0;
    Err e;
    if (a.n_positional != 1) {
        fprintf(stderr, "plateau study run: expected one study file (usage: %s)\n", usage);
        return EXIT_USAGE;
    }
    char out[4096];
    StudySpec spec;
    if (study_spec_load(&spec, a.positional[0], &e)) die(&e);
    study_out_dir(out, sizeof out, &a, &spec);
    StudyRunOptions o = {.quiet = args_has(&a, "quiet"), .jobs = STUDY_JOBS_AUTO,
                         .rebuild_data = args_has(&a, "rebuild-data")};
    int bad = jobs_option(&a, "run", &o.jobs);
    if (bad) return bad;
    if (study_run(a.positional[0], out, &o, &e)) die(&e);
    if (!args_has(&a, "no-report") && dist_is_root(dist_world())) {   /* rank 0 alone writes */
        if (study_report(out, &e)) die(&e);
        printf("report: %s/report.md\n", out);
    }
    return 0;
}

static const OptSpec WORKER_OPTS[] = {
    {"out", "DIR", "the study's output folder"},
    {"job", "K", "this worker's number, 1..N"},
    {NULL, NULL, NULL},
};

/* Hidden: a worker process of `study run --jobs N` (study/jobs.h), started
 * by the study process with its socket on file descriptor JOBS_FD. */
static int study_worker_cmd(int argc, char **argv)
{
    Args a;
    const char *usage = "plateau study worker FILE --out DIR --job K   (started by `study run --jobs N`)";
    if (args_begin(&a, WORKER_OPTS, argc, argv, usage, "A worker process of `study run --jobs N`.")) return 0;
    Err e;
    const char *out;
    long job;
    if (a.n_positional != 1) {
        fprintf(stderr, "plateau study worker: expected one study file (usage: %s)\n", usage);
        return EXIT_USAGE;
    }
    if (args_require(&a, "out", &out, &e) || args_long(&a, "job", 0, &job, &e)) args_fail(&e);
    if (study_work(a.positional[0], out, (int)job, &e)) {
        fprintf(stderr, "plateau: job %ld: %s\n", job, e.msg);
        return 1;
    }
    return 0;
}

static const OptSpec CALIBRATE_OPTS[] = {
    {"out", "DIR", "output folder (default runs/NAME, as study run): the data and calibration.json"},
    {"fraction", "F", "of the pre-training steps each candidate trains (default 0.25)"},
    {"quiet", NULL, "no progress lines"},
    {"rebuild-data", NULL, "when DIR's data was built for other settings, rebuild DIR/world and DIR/data there "
                           "(else refused)"},
    {NULL, NULL, NULL},
};

static int study_calibrate_cmd(int argc, char **argv)
{
    Args a;
    const char *usage = "plateau study calibrate FILE [--out DIR] [--fraction F] [--quiet] [--rebuild-data]";
    const char *about =
        "Measures the peak learning rate: WSO runs of the study's model at 1/4, 1/2, 1, 2 and 4 times its peak_lr\n"
        "over the first F of the pre-training steps, scored by PT validation loss. Writes DIR/calibration.json\n"
        "(the report's regime line cites it) and prints the peak_lr line to put in the study file.";
    if (args_begin(&a, CALIBRATE_OPTS, argc, argv, usage, about)) return 0;
    Err e;
    if (a.n_positional != 1) {
        fprintf(stderr, "plateau study calibrate: expected one study file (usage: %s)\n", usage);
        return EXIT_USAGE;
    }
    double fraction;
    if (args_double(&a, "fraction", 0.25, &fraction, &e)) args_fail(&e);
    StudySpec spec;
    if (study_spec_load(&spec, a.positional[0], &e)) die(&e);
    char out[4096];
    study_out_dir(out, sizeof out, &a, &spec);
    Calibration c;
    if (study_calibrate(a.positional[0], out, fraction, args_has(&a, "quiet"), args_has(&a, "rebuild-data"), &c, &e))
        die(&e);
    printf("calibrate: chosen peak LR %g (lowest PT validation loss after %" PRId64 " steps); put\n"
           "  peak_lr = %g\nin %s. Evidence: %s/%s\n",
           c.points[c.chosen].peak_lr, c.steps, c.points[c.chosen].peak_lr, a.positional[0], out, CALIBRATE_FILE);
    if (c.chosen == 0 || c.chosen == c.n - 1)
        printf("calibrate: the best is at the edge of the sweep; calibrate again from peak_lr = %g to look beyond it\n",
               c.points[c.chosen].peak_lr);
    return 0;
}

static const OptSpec REPORT_OPTS[] = {
    {NULL, NULL, NULL},
};

static int study_report_cmd(int argc, char **argv)
{
    Args a;
    const char *usage = "plateau study report DIR";
    const char *about = "Writes DIR/report.md from a study's results store, with PNG plots and a CSV file per table "
                        "beside it.";
    if (args_begin(&a, REPORT_OPTS, argc, argv, usage, about)) return 0;
    Err e;
    if (a.n_positional != 1) {
        fprintf(stderr, "plateau study report: expected the study's output folder (usage: %s)\n", usage);
        return EXIT_USAGE;
    }
    if (study_report(a.positional[0], &e)) die(&e);
    printf("report: %s/report.md\n", a.positional[0]);
    return 0;
}

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *about;   /* NULL: hidden from the list */
} Subcommand;

static const Subcommand SUBCOMMANDS[] = {
    {"plan", study_plan, "print a study's segment DAG and what sharing saves"},
    {"calibrate", study_calibrate_cmd, "measure the peak learning rate by a short WSO sweep"},
    {"run", study_run_cmd, "run a study end to end (resumable) and write its report"},
    {"report", study_report_cmd, "write DIR/report.md, plots and CSV tables from a study's results"},
    {"worker", study_worker_cmd, NULL},
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: plateau study SUBCOMMAND FILE [options]   (plateau study SUBCOMMAND --help)\n\n"
                "A study file names a world, a model, token budgets, seeds, an SFT learning-rate\n"
                "sweep and the arms (schedules) to compare; see studies/*.ini.\n\nsubcommands:\n");
    for (size_t i = 0; i < sizeof SUBCOMMANDS / sizeof SUBCOMMANDS[0]; i++)
        if (SUBCOMMANDS[i].about) fprintf(fp, "  %-8s %s\n", SUBCOMMANDS[i].name, SUBCOMMANDS[i].about);
}

int cmd_study(int argc, char **argv)
{
    int help = args_first_is_help(argc, argv);
    if (argc < 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (help) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof SUBCOMMANDS / sizeof SUBCOMMANDS[0]; i++)
        if (strcmp(argv[0], SUBCOMMANDS[i].name) == 0) return SUBCOMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "plateau study: unknown subcommand '%s'\n", argv[0]);
    usage(stderr);
    return EXIT_USAGE;
}
