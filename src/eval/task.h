/* Evaluation tasks read from JSONL files, one item per line (blank lines are
 * skipped). Two kinds, told apart by the fields of each line:
 *
 *   multiple choice  {"context": "X was born in", "choices": [" Paris", " Lima"], "answer": 1,
 *                     "attribute": "birth_city"}      (attribute optional)
 *                    answer is the 0-based index of the right choice.
 *   generation       {"messages": [{"role": "user", "content": "..."}], "answer": "...",
 *                     "attribute": "birth_city"}      (attribute optional)
 *                    messages are read by data/chat.h (roles system, user,
 *                    assistant); the last one is the user's question.
 *
 * A file holds one kind only. Any malformed line stops loading with
 * "FILE:LINE: what is wrong". A task's name is its file name without the
 * directory and the ".jsonl" suffix. */
#ifndef PLATEAU_TASK_H
#define PLATEAU_TASK_H

#include <stdint.h>

#include "core/error.h"
#include "data/chat.h"

typedef enum { TASK_MC = 0, TASK_QA = 1 } TaskKind;

typedef struct {
    char  *context;
    char **choices;     /* [n_choices], owned */
    int    n_choices;   /* >= 2 */
    int    answer;      /* in [0, n_choices) */
    char  *attribute;   /* optional "attribute" field; "" when absent */
} McItem;

typedef struct {
    ChatConversation conv;    /* the messages (data/chat.h); the last one is the user's */
    char            *answer;  /* reference answer, as written in the file */
    char            *attribute;   /* "" when absent */
} QaItem;

typedef struct {
    char     name[256];
    char     path[4096];
    TaskKind kind;
    int      n_items;
    McItem  *mc;   /* [n_items] when kind == TASK_MC, else NULL */
    QaItem  *qa;   /* [n_items] when kind == TASK_QA, else NULL */
    long    *index;   /* [n_items] each item's 0-based position among the file's items; NULL: i itself */
} Task;

/* Reads a task file. An empty file (no items) is an error. */
int  task_load(Task *t, const char *path, Err *e);
/* Parses JSONL text already in memory; `path` only names it in messages. */
int  task_parse(Task *t, const char *path, const char *text, Err *e);
void task_free(Task *t);

#define TASK_SAMPLE_STREAM 0x73616d70   /* rng stream id of task_sample */

/* Keeps a seeded sample of n of the task's items (all when n <= 0 or
 * n >= n_items), in file order, recording each kept item's position in
 * t->index. The sample is a pure function of (n_items, n, seed): the first
 * n of a seeded shuffle of the positions (core/rng.h), so every model of a
 * study is scored on the same items. */
void task_sample(Task *t, long n, uint64_t seed);

const char *task_kind_name(TaskKind k);   /* "mc" or "qa" */

#endif
