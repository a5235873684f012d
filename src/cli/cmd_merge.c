/* plateau merge: the weighted average of checkpoints of one run, uniform or
 * with WSM's decay-emulating weights (train/merge.h). */
#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "train/checkpoint.h"
#include "train/merge.h"

static const OptSpec OPTS[] = {
    {"weights", "W", "uniform (default; emulates a linear decay), cosine, 1-sqrt, or one weight per checkpoint "
                     "\"c1,c2,...\" (non-negative, sum 1)"},
    {"out", "DIR", "the merged checkpoint to write (required; must not exist)"},
    {"any-lineage", NULL, "merge checkpoints that are not of one run or parent and child (same shape and tokenizer)"},
    {NULL, NULL, NULL},
};

static const char USAGE[] = "plateau merge CKPT... [--weights uniform|cosine|1-sqrt|c1,c2,...] --out DIR [--any-lineage]";
static const char ABOUT[] =
    "Merges checkpoints of one run, given oldest first, into theta = sum_j c_j theta_j (weights and AdamW\n"
    "moments; step, data cursor and tokenizer of the newest). Merging the last K checkpoints of a\n"
    "constant-LR run with WSM's weights (Tian et al. 2025, arXiv 2507.17634) emulates a decay of the\n"
    "named shape over the merge window without training one. The merged lineage lists every input.\n"
    "A CKPT that is a run directory means its latest checkpoint. Inputs of another shape or tokenizer are\n"
    "refused; inputs that are not of one run (or parent and child) are refused unless --any-lineage.";

int cmd_merge(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    const char *out;
    if (args_require(&a, "out", &out, &e)) die(&e);
    if (a.n_positional < 1) {
        fprintf(stderr, "plateau: give the checkpoints to merge, oldest first (see --help)\n");
        return 2;
    }
    char dirs[ARGS_MAX][4096];
    const char *inputs[ARGS_MAX];
    for (int j = 0; j < a.n_positional; j++) {
        if (checkpoint_resolve(a.positional[j], dirs[j], sizeof dirs[j], &e)) die(&e);
        inputs[j] = dirs[j];
    }
    MergeWeights w;
    Lineage lin;
    if (merge_weights_parse(args_str(&a, "weights", "uniform"), a.n_positional, &w, &e) ||
        merge_checkpoints(inputs, a.n_positional, &w, out, args_has(&a, "any-lineage"), &lin, &e))
        die(&e);
    printf("merged %d checkpoint%s into %s (id %s, step %lld):", lin.n_merged, lin.n_merged == 1 ? "" : "s", out,
           lin.id, (long long)lin.step);
    for (int j = 0; j < lin.n_merged; j++)
        printf(" %s@%lld x %.6g", lin.merged[j].id, (long long)lin.merged[j].step, lin.merged[j].weight);
    printf("\n");
    return 0;
}
