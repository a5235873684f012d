/* plateau init: a freshly initialised model as a checkpoint, the root of
 * every lineage. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_opts.h"
#include "model/llama.h"
#include "train/checkpoint.h"

static const OptSpec OPTS[] = {
    {"preset", "NAME", "model preset: nano, micro, mini, small, llama-1b, llama-8b (required)"},
    {"seed", "S", "initialisation seed (default 1)"},
    {"out", "DIR", "checkpoint directory to write (required; replaced atomically if it exists)"},
    {"vocab", "N", "vocabulary size (default: the preset's; match your tokenizer)"},
    {"seq-len", "T", "context length the model is trained at (default: the preset's)"},
    {"tokenizer", "FILE", "tokenizer.json to keep in the checkpoint (its children carry it on)"},
    {"tied", NULL, "tie the output head to the embedding"},
    {"untied", NULL, "separate output head (the default except for llama-1b)"},
    {NULL, NULL, NULL},
};

static const char USAGE[] = "plateau init --preset NAME --out DIR [--seed S] [--vocab N] [--tied]";
static const char ABOUT[] = "Writes a freshly initialised model (weights, HF config.json, lineage) as a checkpoint.";

int cmd_init(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    Config c;
    const char *out;
    long seed;
    long seq_len;
    if (cli_model_config(&a, &c, &e) || args_require(&a, "out", &out, &e) || args_long(&a, "seed", 1, &seed, &e) ||
        args_long(&a, "seq-len", c.seq_len, &seq_len, &e))
        args_fail(&e);
    c.seq_len = (int)seq_len;
    if (config_validate(&c, &e)) args_fail(&e);
    Model m;
    if (model_create(&m, &c, 1, 1, &e)) die(&e);
    model_init_weights(&m, (uint64_t)seed);
    Lineage lin = {0};
    snprintf(lin.stage, sizeof lin.stage, "init");
    lin.seed = (uint64_t)seed;
    lin.seq_len = c.seq_len;
    snprintf(lin.tokenizer, sizeof lin.tokenizer, "%s", args_str(&a, "tokenizer", ""));
    if (checkpoint_save(out, &c, m.params, NULL, &lin, &e)) die(&e);
    printf("%s: %s, %zu parameters, seed %ld, id %s\n", out, args_str(&a, "preset", ""), m.n_params, seed, lin.id);
    model_free(&m);
    return 0;
}
