/* plateau eval: scores of one checkpoint.
 *
 * A suite (pt: multiple choice, sft: generation + exact match, loss:
 * held-out loss) runs over task files given with --tasks or found in a
 * world folder (--world); the table goes to stdout and, with --json, every
 * number plus the checkpoint's lineage to a JSON file (atomic). Evaluation
 * only reads the checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/file.h"
#include "core/json_number.h"
#include "core/progress.h"
#include "data/tokenizer.h"
#include "eval/evaluate.h"
#include "model/llama.h"
#include "train/checkpoint.h"

static const OptSpec OPTS[] = {
    {"ckpt", "DIR", "checkpoint (or run directory: its latest checkpoint) to evaluate (required)"},
    {"suite", "NAME", "pt (multiple choice), sft (generation, exact match) or loss (default: loss if --loss is given)"},
    {"world", "DIR", "world folder: pt uses DIR/eval_mc_*.jsonl, sft DIR/eval_qa_*.jsonl, loss DIR/sft_valid.jsonl"},
    {"tasks", "FILES", "comma-separated task files (JSONL) instead of the world's"},
    {"loss", "FILE", "loss suite: an llm.c token shard of held-out text"},
    {"loss-mask", "FILE", "loss suite: a 0/1 mask shard aligned with --loss (SFT data; default: none)"},
    {"layout", "L", "loss suite: --loss windows as the trainer reads them: stream (default) or rows (SFT shards)"},
    {"tokenizer", "FILE", "tokenizer.json (default: the checkpoint's, else the world's)"},
    {"limit", "N", "evaluate only the first N items of each task (N windows for loss; default all)"},
    {"max-new", "N", "sft: longest generated answer in tokens (default 32)"},
    {"batch", "B", "sequences per forward pass (default 16; does not change the scores)"},
    {"seq-len", "T", "context window: loss windows, pt truncation (default: the model's)"},
    {"json", "FILE", "write every number and the checkpoint's lineage as JSON to FILE ('-': stdout)"},
    {"samples", "N", "sft: print the first N generations of each task with their references (default 0)"},
    {"space-replies", NULL, "sft: score references with a leading space, as spaced SFT data (every study) train them"},
    {"quiet", NULL, "no progress bars"},
    {NULL, NULL, NULL},
};

static const char USAGE[] = "plateau eval --ckpt DIR --suite pt|sft|loss [--world DIR | --tasks FILES] [--limit N] [--json OUT]";
static const char ABOUT[] =
    "Evaluates a checkpoint and prints a table (task, metric, value, stderr, n).\n"
    "pt: zero-shot multiple choice by log-likelihood, acc and acc_norm (lm-evaluation-harness rules), and\n"
    "margin: the right choice's log-likelihood minus the best wrong one's.\n"
    "sft: greedy generation from the chat prompt, exact match after trimming, lowercasing and\n"
    "dropping a final period, per task and per attribute; answer_logprob: the reference answer's mean\n"
    "per-token log-likelihood after the prompt. loss: mean next-token loss (nats) over\n"
    "non-overlapping windows; stderr over windows. Accuracy stderr is sqrt(p(1-p)/n).";

static int find_tokenizer(const Args *a, const char *ckpt, const char *world, char *out, size_t size, Err *e)
{
    const char *given = args_str(a, "tokenizer", NULL);
    if (given) {
        snprintf(out, size, "%s", given);
        return 0;
    }
    path_join(out, size, ckpt, "tokenizer.json");
    if (file_exists(out)) return 0;
    if (world) {
        path_join(out, size, world, "tokenizer.json");
        if (file_exists(out)) return 0;
    }
    return err_set(e, "no tokenizer.json in %s%s%s: give --tokenizer FILE", ckpt, world ? " or " : "",
                   world ? world : "");
}

static cJSON *read_json_file(const char *path)
{
    char *text;
    size_t bytes;
    Err e;
    if (read_file(path, &text, &bytes, &e)) return NULL;
    cJSON *o = cJSON_Parse(text);
    free(text);
    return o;
}

/* The command line, checked, and what it names. */
typedef struct {
    const char *suite, *world;
    int         is_pt, is_sft, is_loss;
    long        seq_len, batch, limit, max_new, samples;
    char        dir[4096];    /* the checkpoint */
    Config      cfg;
    char      **files;        /* task files (pt, sft) */
    int         n_files;
    char        tokenizer_path[4096];   /* "" when no tokenizer is needed */
} EvalCommand;

/* The command line alone (a failure is a usage error). */
static int parse_eval_options(const Args *a, EvalCommand *c, const char **ckpt, Err *e)
{
    c->world = args_str(a, "world", NULL);
    if (args_require(a, "ckpt", ckpt, e) || args_long(a, "seq-len", 0, &c->seq_len, e) ||
        args_long(a, "batch", 16, &c->batch, e) || args_long(a, "limit", 0, &c->limit, e) ||
        args_long(a, "max-new", 32, &c->max_new, e) || args_long(a, "samples", 0, &c->samples, e))
        return -1;
    c->suite = args_str(a, "suite", args_has(a, "loss") ? "loss" : NULL);
    if (!c->suite) return err_set(e, "nothing to evaluate: give --suite pt|sft|loss (see --help)");
    c->is_pt = strcmp(c->suite, "pt") == 0;
    c->is_sft = strcmp(c->suite, "sft") == 0;
    c->is_loss = strcmp(c->suite, "loss") == 0;
    if (!c->is_pt && !c->is_sft && !c->is_loss) return err_set(e, "--suite '%s': expected pt, sft or loss", c->suite);
    const char *layout = args_str(a, "layout", "stream");
    if (strcmp(layout, "rows") != 0 && strcmp(layout, "stream") != 0)
        return err_set(e, "--layout '%s': expected stream or rows", layout);
    return 0;
}

/* The checkpoint, and --seq-len within its context (default: all of it). */
static int open_checkpoint(EvalCommand *c, const char *ckpt, Err *e)
{
    if (checkpoint_resolve(ckpt, c->dir, sizeof c->dir, e) || checkpoint_read_config(c->dir, &c->cfg, e)) return -1;
    if (c->seq_len == 0) c->seq_len = c->cfg.seq_len;
    if (c->seq_len > c->cfg.seq_len)
        return err_set(e, "--seq-len %ld: the checkpoint's context is %d", c->seq_len, c->cfg.seq_len);
    return 0;
}

/* The task files (--tasks, or the world's for the suite) and the tokenizer. */
static int find_inputs(const Args *a, EvalCommand *c, Err *e)
{
    if (!c->is_loss) {
        if (args_has(a, "tasks")) {
            c->n_files = args_list(a, "tasks", &c->files);
            if (!c->n_files) return err_set(e, "--tasks: no file names");
        } else if (!c->world) {
            return err_set(e, "the %s suite needs --tasks FILES or --world DIR", c->suite);
        } else if (eval_world_tasks(c->world, c->suite, &c->files, &c->n_files, e)) {
            return -1;
        }
    }
    c->tokenizer_path[0] = 0;
    if (c->is_loss && !c->world) return 0;
    return find_tokenizer(a, c->dir, c->world, c->tokenizer_path, sizeof c->tokenizer_path, e);
}

static EvalOptions eval_options(const Args *a, const EvalCommand *c)
{
    EvalOptions o;
    eval_options_default(&o, c->suite);
    o.world = c->world;
    o.tasks = c->is_loss ? NULL : (const char *const *)c->files;
    o.n_tasks = c->n_files;
    o.loss_tokens = args_str(a, "loss", NULL);
    o.loss_mask = args_str(a, "loss-mask", NULL);
    o.loss_layout = strcmp(args_str(a, "layout", "stream"), "rows") == 0 ? LOADER_ROWS : LOADER_STREAM;
    o.limit = c->limit;
    o.max_new = (int)c->max_new;
    o.batch = (int)c->batch;
    o.seq_len = (int)c->seq_len;
    o.show_samples = (int)c->samples;
    o.space_replies = args_has(a, "space-replies");
    return o;
}

/* The report, the checkpoint's lineage and the settings, as JSON. */
static cJSON *report_json(const Args *a, const EvalCommand *c, const EvalReport *rep, const Lineage *lin)
{
    cJSON *o = eval_report_json(rep);
    cJSON_AddStringToObject(o, "checkpoint", c->dir);
    cJSON_AddStringToObject(o, "id", lin->id);
    char lin_path[4200];
    path_join(lin_path, sizeof lin_path, c->dir, "lineage.json");
    cJSON *lj = read_json_file(lin_path);
    if (lj) cJSON_AddItemToObject(o, "lineage", lj);
    cJSON *settings = cJSON_AddObjectToObject(o, "settings");
    cJSON_AddNumberToObject(settings, "limit", (double)c->limit);
    cJSON_AddNumberToObject(settings, "seq_len", (double)c->seq_len);
    if (c->is_sft) cJSON_AddNumberToObject(settings, "max_new", (double)c->max_new);
    if (c->tokenizer_path[0]) cJSON_AddStringToObject(settings, "tokenizer", c->tokenizer_path);
    if (c->world) cJSON_AddStringToObject(settings, "world", c->world);
    cJSON *tasks = cJSON_AddArrayToObject(settings, "tasks");
    for (int i = 0; i < c->n_files; i++) cJSON_AddItemToArray(tasks, cJSON_CreateString(c->files[i]));
    if (args_has(a, "loss")) cJSON_AddStringToObject(settings, "loss", args_str(a, "loss", ""));
    if (args_has(a, "loss-mask")) cJSON_AddStringToObject(settings, "loss_mask", args_str(a, "loss-mask", ""));
    if (c->is_loss) cJSON_AddStringToObject(settings, "layout", args_str(a, "layout", "stream"));
    return o;
}

/* The table (stdout, or stderr when the JSON goes to stdout) and the JSON. */
static int print_results(const Args *a, const EvalCommand *c, const EvalReport *rep, const Lineage *lin, Err *e)
{
    const char *json_path = args_str(a, "json", NULL);
    int json_stdout = json_path && strcmp(json_path, "-") == 0;
    FILE *table = json_stdout ? stderr : stdout;
    fprintf(table, "checkpoint %s (id %s, stage %s, step %lld)\n", c->dir, lin->id, lin->stage, (long long)lin->step);
    eval_report_print(table, rep);
    fprintf(stderr, "%s suite: %ld items in %.2f s (%.1f items/s)\n", c->suite, rep->items, rep->seconds,
            rep->seconds > 0 ? (double)rep->items / rep->seconds : 0.0);
    if (!json_path) return 0;
    cJSON *o = report_json(a, c, rep, lin);
    int rc = json_write(json_path, o, e);
    cJSON_Delete(o);
    return rc;
}

static int evaluate(const Args *a, EvalCommand *c, Err *e)
{
    Tokenizer *tok = NULL;
    if (c->tokenizer_path[0]) {
        if (tokenizer_load(&tok, c->tokenizer_path, e)) return -1;
        if (tokenizer_vocab_size(tok) > c->cfg.vocab_size) {
            err_set(e, "%s has %d tokens but the model's vocabulary is %d", c->tokenizer_path,
                    tokenizer_vocab_size(tok), c->cfg.vocab_size);
            tokenizer_free(tok);
            return -1;
        }
    }
    Model m;
    Lineage lin;
    int rows = c->is_sft ? 1 : (int)c->batch, rc = -1;
    if (model_create(&m, &c->cfg, rows, (int)c->seq_len, e) == 0) {
        EvalOptions o = eval_options(a, c);
        EvalReport rep;
        if (checkpoint_load(c->dir, &c->cfg, m.params, NULL, NULL, &lin, e) == 0 &&
            eval_model(&rep, &m, tok, &o, e) == 0) {
            rc = print_results(a, c, &rep, &lin, e);
            eval_report_free(&rep);
        }
        model_free(&m);
    }
    if (tok) tokenizer_free(tok);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    EvalCommand c = {0};
    const char *ckpt;
    if (parse_eval_options(&a, &c, &ckpt, &e)) args_fail(&e);
    int rc = open_checkpoint(&c, ckpt, &e);
    if (!rc && args_has(&a, "quiet")) progress_quiet(1);
    if (!rc) rc = find_inputs(&a, &c, &e);
    if (!rc) rc = evaluate(&a, &c, &e);
    args_list_free(c.files, c.n_files);
    if (rc) die(&e);
    return 0;
}
