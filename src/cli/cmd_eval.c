/* plateau eval: scores of one checkpoint, as one JSON object on stdout.
 * Each kind of evaluation is one option and one field of the object, so
 * adding a suite means adding an option, a field and its function. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/shard.h"
#include "eval/loss.h"
#include "model/llama.h"
#include "train/checkpoint.h"

static const OptSpec OPTS[] = {
    {"ckpt", "DIR", "checkpoint (or run directory: its latest checkpoint) to evaluate (required)"},
    {"loss", "FILE", "mean next-token loss over this llm.c token shard"},
    {"seq-len", "T", "window length for --loss (default: the model's context)"},
    {"batch", "B", "windows per forward pass (default 8; does not change the result)"},
    {NULL, NULL, NULL},
};

static const char USAGE[] = "plateau eval --ckpt DIR --loss FILE [--seq-len T]";
static const char ABOUT[] = "Evaluates a checkpoint and prints the results as one JSON object.";

/* Prints `"loss": {...}` for the shard at path. */
static int eval_loss(Model *m, const char *path, int B, int T, Err *e)
{
    Shard s;
    if (shard_read(&s, path, e)) return -1;
    LossResult r;
    int rc = eval_stream_loss(m, s.tokens, s.n_tokens, B, T, &r, e);
    shard_free(&s);
    if (rc) return err_wrap(e, "%s", path);
    printf(",\n  \"loss\": {\"file\": \"%s\", \"mean\": %.6f, \"tokens\": %lld, \"seq_len\": %d}", path,
           r.mean_loss, (long long)r.n_scored, T);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    const char *ckpt_arg;
    long T, B;
    char dir[4096];
    Config cfg;
    if (args_require(&a, "ckpt", &ckpt_arg, &e) || checkpoint_resolve(ckpt_arg, dir, sizeof dir, &e) ||
        checkpoint_read_config(dir, &cfg, &e) || args_long(&a, "seq-len", cfg.seq_len, &T, &e) ||
        args_long(&a, "batch", 8, &B, &e))
        die(&e);
    if (!args_has(&a, "loss")) {
        err_set(&e, "nothing to evaluate: give --loss FILE (see --help)");
        die(&e);
    }
    if (T <= 0 || T > cfg.seq_len || B <= 0) {
        err_set(&e, "--seq-len must be in [1, %d] and --batch positive", cfg.seq_len);
        die(&e);
    }
    Model m;
    Lineage lin;
    if (model_create(&m, &cfg, (int)B, (int)T, &e) || checkpoint_load(dir, &cfg, m.params, NULL, NULL, &lin, &e))
        die(&e);
    printf("{\n  \"ckpt\": \"%s\", \"id\": \"%s\", \"stage\": \"%s\", \"step\": %lld, \"tokens\": %lld", dir, lin.id,
           lin.stage, (long long)lin.step, (long long)lin.tokens);
    if (args_has(&a, "loss") && eval_loss(&m, args_str(&a, "loss", ""), (int)B, (int)T, &e)) die(&e);
    printf("\n}\n");
    model_free(&m);
    return 0;
}
