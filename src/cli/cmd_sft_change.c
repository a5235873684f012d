/* plateau sft-change: what fine-tuning did to a base model (eval/sft_change.h):
 * forgetting on held-out pre-training text and the relative weight distance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/shard.h"
#include "eval/sft_change.h"
#include "train/checkpoint.h"

static const OptSpec OPTS[] = {
    {"base", "DIR", "the base checkpoint SFT started from (required)"},
    {"sft", "DIR", "the fine-tuned checkpoint, or its run directory (required)"},
    {"data", "FILE", "token shard of held-out pre-training text (required)"},
    {"batch", "B", "sequences per forward pass (default 8; does not change the numbers)"},
    {"seq-len", "T", "window length (default: the model's context)"},
    {"force", NULL, "compare even when --base is not the parent of --sft's run (same shape and tokenizer still required)"},
    {NULL, NULL, NULL},
};

static const char USAGE[] = "plateau sft-change --base DIR --sft DIR --data FILE [--seq-len T]";
static const char ABOUT[] =
    "Prints what supervised fine-tuning did to a base model: forgetting, the PT validation loss of\n"
    "the fine-tuned model minus that of the base (nats per token, same windows), and the relative\n"
    "weight distance ||theta_sft - theta_base|| / ||theta_base||. For the SFT-data sharpness of the\n"
    "fine-tuned model, run `plateau sharpness --ckpt SFT --data sft`. --base must be the checkpoint SFT\n"
    "started from (its lineage's parent), with the same shape and tokenizer.";

/* The weights of checkpoint arg (or its run's latest) and its lineage; the
 * first call sets *cfg, the second must match it (else an error naming the
 * field that differs). */
static float *load_params(const char *arg, Config *cfg, int have_cfg, char *dir, size_t dir_size, Lineage *lin,
                          Err *e)
{
    Config c;
    if (checkpoint_resolve(arg, dir, dir_size, e) || checkpoint_read_config(dir, &c, e)) return NULL;
    if (!have_cfg) *cfg = c;
    ParamTable t;
    param_table_build(&t, cfg);
    float *p = xmalloc(t.total * sizeof(float));
    param_table_free(&t);
    if (checkpoint_load(dir, cfg, p, NULL, NULL, lin, e)) {
        free(p);
        return NULL;
    }
    return p;
}

int cmd_sft_change(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    const char *base_arg, *sft_arg, *data;
    char base_dir[4096], sft_dir[4096];
    Config cfg;
    long B, T;
    if (args_require(&a, "base", &base_arg, &e) || args_require(&a, "sft", &sft_arg, &e) ||
        args_require(&a, "data", &data, &e) || args_long(&a, "batch", 8, &B, &e))
        args_fail(&e);
    Lineage base_lin, sft_lin;
    float *base = load_params(base_arg, &cfg, 0, base_dir, sizeof base_dir, &base_lin, &e);
    if (!base) die(&e);
    float *sft = load_params(sft_arg, &cfg, 1, sft_dir, sizeof sft_dir, &sft_lin, &e);
    if (!sft) die(&e);
    int same_tokenizer;
    if (checkpoint_same_tokenizer(base_dir, sft_dir, &same_tokenizer, &e)) die(&e);
    if (!same_tokenizer) {
        err_set(&e, "--base %s and --sft %s carry different tokenizers (their token ids mean different things)",
                base_dir, sft_dir);
        die(&e);
    }
    if (strcmp(sft_lin.parent_id, base_lin.id) != 0) {
        if (!args_has(&a, "force")) {
            err_set(&e, "--base %s (id %s) is not the checkpoint --sft %s started from (its parent is %s); give that "
                        "one, or --force to compare anyway", base_dir, base_lin.id, sft_dir,
                    sft_lin.parent_id[0] ? sft_lin.parent_id : "none, a fresh init");
            die(&e);
        }
        fprintf(stderr, "plateau: warning: --base %s is not --sft's parent (%s); comparing anyway (--force)\n",
                base_dir, sft_lin.parent_id[0] ? sft_lin.parent_id : "none");
    }
    if (args_long(&a, "seq-len", cfg.seq_len, &T, &e)) args_fail(&e);
    if (T > cfg.seq_len) {   /* a longer window than the checkpoints' context */
        err_set(&e, "--seq-len %ld: the checkpoints' context is %d", T, cfg.seq_len);
        die(&e);
    }
    Shard sh;
    Model m;
    SftChange c;
    if (shard_read(&sh, data, &e) || model_create(&m, &cfg, (int)B, (int)T, &e) ||
        sft_change_measure(&m, base, sft, sh.tokens, sh.n_tokens, (int)B, (int)T, &c, &e))
        die(&e);
    printf("%s -> %s on %s: PT loss %.5f -> %.5f (forgetting %+.5f nats/token, %lld targets), "
           "relative weight distance %.6g (||d|| %.6g, ||base|| %.6g)\n",
           base_dir, sft_dir, data, c.pt_base.mean_loss, c.pt_sft.mean_loss, c.forgetting,
           (long long)c.pt_base.n_scored, c.rel_weight_distance, c.weight_distance, c.base_norm);
    shard_free(&sh);
    model_free(&m);
    free(base);
    free(sft);
    return 0;
}
