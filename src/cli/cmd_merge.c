/* plateau merge: the weighted average of checkpoints of one run, uniform or
 * with WSM's decay-emulating weights (train/merge.h). */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "train/checkpoint.h"
#include "train/merge.h"

static const OptSpec OPTS[] = {
    {"weights", "W", "uniform (default; emulates a linear decay), cosine, 1-sqrt, or one weight per checkpoint "
                     "\"c1,c2,...\" (positive, sum 1)"},
    {"out", "DIR", "the merged checkpoint to write (required; must not exist)"},
    {"any-lineage", NULL, "merge checkpoints that are not of one run or parent and child (same shape and tokenizer)"},
    {NULL, NULL, NULL},
};

static const char USAGE[] =
    "plateau merge CKPT CKPT... [--weights uniform|cosine|1-sqrt|c1,c2,...] --out DIR [--any-lineage]";
static const char ABOUT[] =
    "Merges two or more checkpoints of one run, given oldest first, into theta = sum_j c_j theta_j\n"
    "(weights and AdamW moments; step, data cursor and tokenizer of the newest). Merging the last K\n"
    "checkpoints of a constant-LR run with WSM's weights (Tian et al. 2025, arXiv 2507.17634) emulates a\n"
    "decay of the named shape over the merge window without training one. The merged lineage lists every\n"
    "input. A CKPT that is a run directory means its latest checkpoint; a checkpoint given twice is\n"
    "refused. Inputs of another shape or tokenizer are refused; inputs that are not of one run (or parent\n"
    "and child) are refused unless --any-lineage.";

int cmd_merge(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    const char *out;
    if (args_require(&a, "out", &out, &e)) args_fail(&e);
    if (a.n_positional < 2) {
        fprintf(stderr, "plateau merge: %s, oldest first (see --help)\n",
                a.n_positional ? "a merge needs at least two checkpoints, got one" : "give the checkpoints to merge");
        return EXIT_USAGE;
    }
    MergeWeights w;
    if (merge_weights_parse(args_str(&a, "weights", "uniform"), a.n_positional, &w, &e)) {
        err_wrap(&e, "--weights");
        args_fail(&e);
    }
    char dirs[ARGS_MAX][4096];
    const char *inputs[ARGS_MAX];
    char ids[ARGS_MAX][CKPT_ID_CHARS + 1];
    for (int j = 0; j < a.n_positional; j++) {
        if (checkpoint_resolve(a.positional[j], dirs[j], sizeof dirs[j], &e) || checkpoint_id(dirs[j], ids[j], &e))
            die(&e);
        inputs[j] = dirs[j];
        /* the same id is the same contents, wherever it lies: a merge of
         * distinct checkpoints would weigh that one twice */
        for (int i = 0; i < j; i++)
            if (strcmp(ids[i], ids[j]) == 0) {
                err_set(&e, "merge: %s and %s are the same checkpoint (id %s): give each checkpoint once",
                        a.positional[i], a.positional[j], ids[j]);
                die(&e);
            }
    }
    Lineage lin;
    if (merge_checkpoints(inputs, a.n_positional, &w, out, args_has(&a, "any-lineage"), &lin, &e)) die(&e);
    printf("merged %d checkpoints into %s (id %s, step %lld):", lin.n_merged, out, lin.id, (long long)lin.step);
    for (int j = 0; j < lin.n_merged; j++)
        printf(" %s@%lld x %.6g", lin.merged[j].id, (long long)lin.merged[j].step, lin.merged[j].weight);
    printf("\n");
    return 0;
}
