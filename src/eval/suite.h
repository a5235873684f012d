/* Evaluation suites and their report: a list of rows (task, metric, value,
 * stderr, n) printed as a table and saved as JSON.
 *
 *   pt    multiple-choice tasks, zero-shot: acc and acc_norm per task and per
 *         attribute, and margin (eval/mc.h) per task; the suite average is
 *         the plain mean over tasks of acc (and, on their own rows, of
 *         acc_norm and margin). For pre-/mid-trained models.
 *   sft   generation tasks: exact_match per task and per attribute, and with
 *         a scorer answer_logprob (eval/qa.h) per task; the suite average is
 *         the plain mean over tasks of each. For fine-tuned models.
 * Both keep every item's 0/1 and continuous score (EvalItems), so that
 * intervals can resample items.
 *   loss  validation loss (natural log, per token) of token streams.
 *
 * The stderr of an average is sqrt(sum of the tasks' stderr^2) / k (tasks
 * independent). Breakdown rows are named "TASK/ATTRIBUTE"; average rows
 * "average". In a bios world folder the pt suite is eval_mc_*.jsonl and the
 * sft suite eval_qa_*.jsonl, in name order. */
#ifndef PLATEAU_SUITE_H
#define PLATEAU_SUITE_H

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "eval/scorer.h"

typedef enum { ROW_TASK = 0, ROW_ATTRIBUTE, ROW_AVERAGE } EvalRowKind;

typedef struct {
    char        task[384];
    char        metric[32];     /* acc, acc_norm, exact_match, loss */
    double      value, std_err;  /* the value's standard error */
    long        n;              /* items, or counted tokens for loss */
    EvalRowKind kind;
} EvalRow;

/* Per-item results of one task: the accuracy's 0/1 and its continuous
 * companion, item i being the file's i-th item. */
typedef struct {
    char    task[256];
    char    score_metric[32];   /* "margin" (pt) or "answer_logprob" (sft) */
    long    n;
    long   *index;              /* [n] each item's position in its task file; owned */
    int    *correct;            /* [n] owned */
    double *score;              /* [n] owned */
} EvalItems;

typedef struct {
    char     suite[16];
    EvalRow *rows;              /* owned */
    EvalItems *items_of;        /* [n_item_sets] per task; owned */
    int      n_item_sets;
    int      n_rows, cap;
    long     items;             /* items (or windows) evaluated */
    double   seconds;
    int      show_samples;      /* sft: print the first N generations per task to stderr */
    int      quiet;             /* 1: the suites draw no progress bars */
    uint64_t sample_seed;       /* != 0: `limit` items of each task are a seeded sample (task_sample), not the first */
} EvalReport;

void eval_report_init(EvalReport *r, const char *suite);
void eval_report_free(EvalReport *r);
void eval_report_add(EvalReport *r, const char *task, const char *metric, double value, double std_err,
                     long n, EvalRowKind kind);
/* Copies n items' results of a task into r->items_of; index (NULL: 0..n-1)
 * gives each item's position in the task file. */
void eval_report_add_items(EvalReport *r, const char *task, const char *score_metric, long n, const long *index,
                           const int *correct, const double *score);
/* The row for (task, metric), or NULL. */
const EvalRow *eval_report_find(const EvalReport *r, const char *task, const char *metric);

/* Runs the multiple-choice tasks in files[0..n_files), limit items each (<= 0: all). */
int eval_suite_pt(EvalReport *r, const char *const *files, int n_files, const Tokenizer *tok,
                  const TokenScorer *s, long limit, Err *e);
/* Runs the generation tasks, at most max_new generated tokens per answer;
 * with a scorer s (may be NULL) also the answers' log-likelihood, the
 * reference spaced as qa_answer_logprob's space_reply says. */
int eval_suite_sft(EvalReport *r, const char *const *files, int n_files, const Tokenizer *tok,
                   const Generator *g, const TokenScorer *s, int space_reply, int max_new, long limit, Err *e);
/* Adds a "loss" row named `name` for a token stream (mask may be NULL;
 * layout as the training loader's, see eval/loss.h); limit caps the number
 * of windows (<= 0: all). */
int eval_suite_loss(EvalReport *r, const char *name, const uint16_t *tokens, const uint16_t *mask,
                    size_t n_tokens, LoaderLayout layout, const TokenScorer *s, long limit, Err *e);

/* Adds a "loss" row for held-out SFT conversations in a chat JSONL file:
 * packed and masked exactly as `plateau data sft` packs training data
 * (data/chat.h, conversations cut at the scorer's window), then scored as
 * above (loss on assistant tokens and their <|endoftext|> only). */
int eval_suite_chat_loss(EvalReport *r, const char *name, const char *jsonl_path, const Tokenizer *tok,
                         const TokenScorer *s, long limit, Err *e);

/* Task files of a world folder for a suite ("pt": eval_mc_*.jsonl, "sft":
 * eval_qa_*.jsonl), sorted by name; *files is malloc'd (free each and it). */
int eval_world_tasks(const char *world_dir, const char *suite, char ***files, int *n_files, Err *e);

void eval_report_print(FILE *fp, const EvalReport *r);
/* {"suite", "items", "rows": [{task, metric, value, stderr, n, kind}]}: numbers
 * only, no timings, so evaluating the same model twice gives the same JSON. */
cJSON *eval_report_json(const EvalReport *r);

#endif
