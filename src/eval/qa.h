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
    int              *item_correct;        /* [n] 1 when item i matched; owned */
    long              generated_tokens;
} QaResult;

/* Answers the first `limit` items (limit <= 0: all) of a generation task. */
int  qa_evaluate(const Task *t, const Tokenizer *tok, const Generator *g, int max_new, long limit,
                 QaResult *r, Progress *progress, Err *e);
void qa_result_free(QaResult *r);

/* The continuous companion of exact match: for each of the first `limit`
 * items (<= 0: all), the mean natural-log probability per token of the
 * reference answer after the prompt, teacher forced. The item is rendered
 * with the answer as the assistant's reply (chat_encode of data/chat.h):
 * the prompt above, then the answer's tokens and <|endoftext|>, exactly the
 * tokens the SFT loss mask counts; score[i] is the mean of log p over those
 * tokens (<= 0; higher is better). space_reply: the answer gets the leading
 * space of chat_space_replies first, as the study's SFT data do. A sequence
 * longer than the scorer's max_tokens keeps its last max_tokens tokens; an
 * answer that alone does not fit is an error naming the item. The mean over
 * items and its standard error (sd / sqrt(n), divisor n - 1) go to *mean and
 * *mean_stderr. */
int qa_answer_logprob(const Task *t, const Tokenizer *tok, const TokenScorer *s, long limit, int space_reply,
                      double *score, double *mean, double *mean_stderr, Progress *progress, Err *e);

#endif
