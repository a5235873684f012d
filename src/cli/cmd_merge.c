/* plateau merge: the weighted average of checkpoints of one run, uniform or
 * with WSM's decay-emulating weights (train/merge.h). */
#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "train/merge.h"

static const OptSpec OPTS[] = {
    {"weights", "W", "uniform (default; emulates a linear decay), cosine, 1-sqrt, or one weight per checkpoint "
                     "\"c1,c2,...\" (non-negative, sum 1)"},
    {"out", "DIR", "the merged checkpoint to write (required)"},
    {NULL, NULL, NULL},
};

static const char USAGE[] = "plateau merge CKPT... [--weights uniform|cosine|1-sqrt|c1,c2,...] --out DIR";
static const char ABOUT[] =
    "Merges checkpoints of one run, given oldest first, into theta = sum_j c_j theta_j (weights and AdamW\n"
    "moments; step, data cursor and tokenizer of the newest). Merging the last K checkpoints of a\n"
    "constant-LR run with WSM's weights (Tian et al. 2025, arXiv 2507.17634) emulates a decay of the\n"
    "named shape over the merge window without training one. The merged lineage lists every input.";

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
    MergeWeights w;
    Lineage lin;
    if (merge_weights_parse(args_str(&a, "weights", "uniform"), a.n_positional, &w, &e) ||
        merge_checkpoints((const char *const *)a.positional, a.n_positional, &w, out, &lin, &e))
        die(&e);
    printf("merged %d checkpoints into %s (id %s, step %lld):", lin.n_merged, out, lin.id, (long long)lin.step);
    for (int j = 0; j < lin.n_merged; j++)
        printf(" %s@%lld x %.6g", lin.merged[j].id, (long long)lin.merged[j].step, lin.merged[j].weight);
    printf("\n");
    return 0;
}
