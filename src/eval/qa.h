/* Generative tasks: greedy decoding from the chat prompt, exact match.
 *
 * The prompt is the item's messages in the chat template, ending where the
 * assistant's answer begins, tokenised exactly as SFT data is
 * (chat_encode_prompt of data/chat.h):
 *   <|user|> "\n" {question} "\n" <|assistant|> "\n"
 * (a system message, if any, is <|system|> "\n" {content} "\n" before it).
 * Generation stops at <|endoftext|> or after max_new tokens.
 *
 * Exact match compares the normalised prediction with the normalised
 * reference: surrounding whitespace trimmed, ASCII letters lowercased,
 * trailing periods removed (then whitespace trimmed again). */
#ifndef PLATEAU_QA_H
#define PLATEAU_QA_H

#include <stddef.h>

#include "core/error.h"
#include "core/progress.h"
#include "data/tokenizer.h"
#include "eval/scorer.h"
#include "eval/task.h"

/* Normalises s in place. */
void answer_normalise(char *s);
/* 1 when the two answers are equal after normalisation. */
int  answer_matches(const char *prediction, const char *reference);

/* Appends the prompt tokens of an item to *ids (realloc'd; *n used, *cap
 * allocated): chat_encode_prompt. */
int  qa_prompt_tokens(const Tokenizer *tok, const QaItem *it, int **ids, size_t *n, size_t *cap, Err *e);

typedef struct {
    char   name[64];      /* the items' "attribute" ("" when absent) */
    long   n, correct;
    double em, em_stderr;
} QaAttributeScore;

typedef struct {
    long              n, correct;
    double            em, em_stderr;       /* stderr: sqrt(p(1-p)/n) */
    QaAttributeScore *attrs;               /* in order of first appearance; owned */
    int               n_attrs;
    char            **predictions;         /* [n] decoded generations (raw); owned */
    long              generated_tokens;
} QaResult;

/* Answers the first `limit` items (limit <= 0: all) of a generation task. */
int  qa_evaluate(const Task *t, const Tokenizer *tok, const Generator *g, int max_new, long limit,
                 QaResult *r, Progress *progress, Err *e);
void qa_result_free(QaResult *r);

#endif
