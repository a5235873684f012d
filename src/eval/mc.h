/* Multiple choice by log-likelihood, following lm-evaluation-harness.
 *
 * Tokenisation of a (context, choice) pair, exactly the harness's rule:
 *   1. trailing whitespace of the context moves to the front of the choice
 *      ("born in " + "Paris" is scored as "born in" + " Paris");
 *   2. ctx  = encode(context), whole = encode(context + choice);
 *      the continuation is whole[len(ctx):], the tokens of the joint
 *      encoding after as many tokens as the context alone encodes to;
 *   3. the scored sequence is ctx followed by the continuation; an empty
 *      context is replaced by <|endoftext|>;
 *   4. a sequence longer than the scorer's max_tokens keeps its last
 *      max_tokens tokens (truncated from the left).
 * The rule needs `whole` to begin with exactly the tokens of ctx. When a BPE
 * merge spans the boundary it does not: the continuation is then empty
 * (context "... 19" + choice "84", where " 1984" is one token) or shifted
 * (it starts inside the context's last word). There the harness would score
 * the wrong tokens or none; plateau falls back to encoding the two apart:
 *   2'. the continuation is encode(choice, with the whitespace of step 1),
 *       and the scored sequence is ctx followed by it.
 * Such choices are flagged (McRequest.fallback), their items counted
 * (McResult.n_fallback) and reported as the task's boundary_fallback row;
 * the item is scored like any other, never dropped.
 * A choice's log-likelihood is the sum of the natural-log probabilities of
 * its continuation tokens. acc picks the largest sum; acc_norm the largest
 * sum divided by the choice's length in bytes (as written in the task file,
 * before step 1). Ties go to the lower choice index (numpy argmax).
 *
 * The continuous companion of acc, per item: the margin
 *   loglik(answer) - max over the wrong choices of loglik(choice)   (nats)
 * positive when acc counts the item right (ties aside), and it moves with
 * the model's confidence where acc only flips. Its mean over items carries
 * the sample standard error sd / sqrt(n) (divisor n - 1). */
#ifndef PLATEAU_MC_H
#define PLATEAU_MC_H

#include "core/error.h"
#include "core/progress.h"
#include "data/tokenizer.h"
#include "eval/scorer.h"
#include "eval/task.h"

typedef struct {
    int *tokens;    /* [n_tokens]: context tokens, then continuation tokens; owned */
    int  n_tokens;
    int  n_cont;    /* the last n_cont tokens are the choice's continuation */
    int  fallback;  /* 1: scored by rule 2' (a merge spans the boundary) */
} McRequest;

int  mc_request_build(McRequest *r, const Tokenizer *tok, const char *context, const char *choice,
                      int max_tokens, Err *e);
void mc_request_free(McRequest *r);

/* Winners for acc (*best) and acc_norm (*best_norm) given the log-likelihoods. */
void mc_pick(const double *loglik, const char *const *choices, int n_choices, int *best, int *best_norm);

/* The margin of the right choice (index answer) over the best wrong one. */
double mc_margin(const double *loglik, int n_choices, int answer);

typedef struct {
    char   name[64];                     /* the items' "attribute" ("" when absent) */
    long   n, correct, correct_norm;
    double acc, acc_stderr, acc_norm, acc_norm_stderr;
} McAttributeScore;

typedef struct {
    int    correct;                      /* acc counts it right */
    double margin;                       /* see above */
} McItemScore;

typedef struct {
    long   n;                            /* items scored */
    long   n_fallback;                   /* of which items with a choice scored by rule 2' */
    long   correct, correct_norm;
    double acc, acc_stderr;              /* stderr: sqrt(p(1-p)/n), see eval/stats.h */
    double acc_norm, acc_norm_stderr;
    double margin, margin_stderr;        /* mean margin over items and its standard error */
    McItemScore *items;                  /* [n] per item, in file order; owned */
    McAttributeScore *attrs;             /* in order of first appearance; owned */
    int    n_attrs;
} McResult;

/* Scores the first `limit` items of a multiple-choice task (limit <= 0: all),
 * packing the choices of consecutive items into batches of the scorer's
 * max_rows. loglik (may be NULL) receives the log-likelihood of every choice
 * of every scored item, item after item. progress (may be NULL) counts items. */
int mc_evaluate(const Task *t, const Tokenizer *tok, const TokenScorer *s, long limit,
                McResult *r, double *loglik, Progress *progress, Err *e);
void mc_result_free(McResult *r);

#endif
