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
    {"quiet", NULL, "no progress bars"},
    {NULL, NULL, NULL},
};

static const char USAGE[] = "plateau eval --ckpt DIR --suite pt|sft|loss [--world DIR | --tasks FILES] [--limit N] [--json OUT]";
static const char ABOUT[] =
    "Evaluates a checkpoint and prints a table (task, metric, value, stderr, n).\n"
    "pt: zero-shot multiple choice by log-likelihood, acc and acc_norm (lm-evaluation-harness rules).\n"
    "sft: greedy generation from the chat prompt, exact match after trimming, lowercasing and\n"
    "dropping a final period, per task and per attribute. loss: mean next-token loss (nats) over\n"
    "non-overlapping windows; stderr over windows. Accuracy stderr is sqrt(p(1-p)/n).";

/* Splits "a,b,c" into a malloc'd array of malloc'd strings. */
static int split_list(const char *s, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    int cap = 0;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 8;
                char **p = xmalloc((unsigned long)cap * sizeof *p);
                if (*n) memcpy(p, *out, (size_t)*n * sizeof *p);
                free(*out);
                *out = p;
            }
            char *item = xmalloc(len + 1);
            memcpy(item, s, len);
            item[len] = 0;
            (*out)[(*n)++] = item;
        }
        s += len + (end ? 1 : 0);
    }
    return *n;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

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

int cmd_eval(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    const char *ckpt_arg, *world = args_str(&a, "world", NULL);
    long T, B, limit, max_new, samples;
    char dir[4096];
    Config cfg;
    if (args_require(&a, "ckpt", &ckpt_arg, &e) || checkpoint_resolve(ckpt_arg, dir, sizeof dir, &e) ||
        checkpoint_read_config(dir, &cfg, &e) || args_long(&a, "seq-len", cfg.seq_len, &T, &e) ||
        args_long(&a, "batch", 16, &B, &e) || args_long(&a, "limit", 0, &limit, &e) ||
        args_long(&a, "max-new", 32, &max_new, &e) || args_long(&a, "samples", 0, &samples, &e))
        die(&e);
    const char *suite = args_str(&a, "suite", args_has(&a, "loss") ? "loss" : NULL);
    if (!suite) {
        err_set(&e, "nothing to evaluate: give --suite pt|sft|loss (see --help)");
        die(&e);
    }
    int is_pt = strcmp(suite, "pt") == 0, is_sft = strcmp(suite, "sft") == 0, is_loss = strcmp(suite, "loss") == 0;
    if (!is_pt && !is_sft && !is_loss) {
        err_set(&e, "--suite '%s': expected pt, sft or loss", suite);
        die(&e);
    }
    if (T <= 0 || T > cfg.seq_len || B <= 0 || limit < 0 || max_new <= 0) {
        err_set(&e, "--seq-len must be in [1, %d]; --batch and --max-new positive; --limit >= 0", cfg.seq_len);
        die(&e);
    }
    if (args_has(&a, "quiet")) progress_quiet(1);

    char **files = NULL;
    int n_files = 0;
    if (!is_loss) {
        if (args_has(&a, "tasks")) {
            if (!split_list(args_str(&a, "tasks", ""), &files, &n_files)) {
                err_set(&e, "--tasks: no file names");
                die(&e);
            }
        } else if (!world) {
            err_set(&e, "the %s suite needs --tasks FILES or --world DIR", suite);
            die(&e);
        } else if (eval_world_tasks(world, suite, &files, &n_files, &e)) {
            die(&e);
        }
    }

    Tokenizer *tok = NULL;
    char tok_path[4096];
    int need_tok = !is_loss || (world != NULL);
    if (need_tok) {
        if (find_tokenizer(&a, dir, world, tok_path, sizeof tok_path, &e) || tokenizer_load(&tok, tok_path, &e))
            die(&e);
        if (tokenizer_vocab_size(tok) > cfg.vocab_size) {
            err_set(&e, "%s has %d tokens but the model's vocabulary is %d", tok_path, tokenizer_vocab_size(tok),
                    cfg.vocab_size);
            die(&e);
        }
    }

    Model m;
    Lineage lin;
    int rows = is_sft ? 1 : (int)B;
    if (model_create(&m, &cfg, rows, (int)T, &e) || checkpoint_load(dir, &cfg, m.params, NULL, NULL, &lin, &e))
        die(&e);

    EvalOptions opt;
    eval_options_default(&opt, suite);
    opt.world = world;
    opt.tasks = is_loss ? NULL : (const char *const *)files;
    opt.n_tasks = n_files;
    opt.loss_tokens = args_str(&a, "loss", NULL);
    opt.loss_mask = args_str(&a, "loss-mask", NULL);
    opt.limit = limit;
    opt.max_new = (int)max_new;
    opt.batch = (int)B;
    opt.seq_len = (int)T;
    opt.show_samples = (int)samples;
    const char *layout = args_str(&a, "layout", "stream");
    if (strcmp(layout, "rows") == 0) opt.loss_layout = LOADER_ROWS;
    else if (strcmp(layout, "stream") != 0) {
        err_set(&e, "--layout '%s': expected stream or rows", layout);
        die(&e);
    }
    EvalReport rep;
    if (eval_model(&rep, &m, tok, &opt, &e)) die(&e);

    const char *json_path = args_str(&a, "json", NULL);
    int json_stdout = json_path && strcmp(json_path, "-") == 0;
    FILE *table = json_stdout ? stderr : stdout;
    fprintf(table, "checkpoint %s (id %s, stage %s, step %lld)\n", dir, lin.id, lin.stage, (long long)lin.step);
    eval_report_print(table, &rep);
    fprintf(stderr, "%s suite: %ld items in %.2f s (%.1f items/s)\n", suite, rep.items, rep.seconds,
            rep.seconds > 0 ? (double)rep.items / rep.seconds : 0.0);

    if (json_path) {
        cJSON *o = eval_report_json(&rep);
        cJSON_AddStringToObject(o, "checkpoint", dir);
        cJSON_AddStringToObject(o, "id", lin.id);
        char lin_path[4200];
        path_join(lin_path, sizeof lin_path, dir, "lineage.json");
        cJSON *lj = read_json_file(lin_path);
        if (lj) cJSON_AddItemToObject(o, "lineage", lj);
        cJSON *settings = cJSON_AddObjectToObject(o, "settings");
        cJSON_AddNumberToObject(settings, "limit", (double)limit);
        cJSON_AddNumberToObject(settings, "seq_len", (double)T);
        if (is_sft) cJSON_AddNumberToObject(settings, "max_new", (double)max_new);
        if (tok) cJSON_AddStringToObject(settings, "tokenizer", tok_path);
        if (world) cJSON_AddStringToObject(settings, "world", world);
        cJSON *tasks = cJSON_AddArrayToObject(settings, "tasks");
        for (int i = 0; i < n_files; i++) cJSON_AddItemToArray(tasks, cJSON_CreateString(files[i]));
        if (args_has(&a, "loss")) cJSON_AddStringToObject(settings, "loss", args_str(&a, "loss", ""));
        if (args_has(&a, "loss-mask")) cJSON_AddStringToObject(settings, "loss_mask", args_str(&a, "loss-mask", ""));
        if (is_loss) cJSON_AddStringToObject(settings, "layout", args_str(&a, "layout", "stream"));
        char *text = cJSON_Print(o);
        cJSON_Delete(o);
        if (json_stdout) {
            printf("%s\n", text);
        } else {
            size_t len = strlen(text);
            text[len] = '\n';
            if (write_file_atomic(json_path, text, len + 1, &e)) die(&e);
        }
        free(text);
    }
    eval_report_free(&rep);
    free_list(files, n_files);
    if (tok) tokenizer_free(tok);
    model_free(&m);
    return 0;
}
