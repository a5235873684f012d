/* A Model as a TokenScorer and as a Generator (eval/scorer.h).
 *
 * LmScorer runs model_forward without targets on up to m->max_B sequences
 * padded on the right to the longest (causal attention: padding never
 * changes an earlier position), and takes log-softmax of the logits.
 * LmGenerator decodes greedily, with the key/value cache (model/decode.h),
 * a batch of sequences at a time, or, for checking it, without: a full
 * forward over the whole sequence for every new token. Both read the
 * model's parameters and never write them; they overwrite its activations. */
#ifndef PLATEAU_LM_H
#define PLATEAU_LM_H

#include "core/error.h"
#include "eval/scorer.h"
#include "model/decode.h"
#include "model/llama.h"

typedef struct {
    Model      *m;
    int        *batch;    /* [max_B, max_T] padded inputs */
    TokenScorer scorer;   /* ctx = this */
} LmScorer;

void lm_scorer_init(LmScorer *s, Model *m);
void lm_scorer_free(LmScorer *s);

typedef struct {
    Model    *m;
    int       use_cache;
    Decoder   dec;        /* when use_cache: max_batch slots of m->max_T positions */
    int      *seq;        /* [max_T] the growing sequence, without the cache */
    int      *slots, *next, *active;   /* per-step rows */
    Generator gen;        /* ctx = this */
} LmGenerator;

/* Generates up to max_batch sequences per call (with the cache they share
 * each pass over the weights; without, they run one after another).
 * max_tokens of the generator: m->max_T (the longest forward the model can run). */
int  lm_generator_init(LmGenerator *g, Model *m, int max_batch, int use_cache, Err *e);
void lm_generator_free(LmGenerator *g);

/* Index of the largest of x[0..n) (the first on ties). */
int argmax(const float *x, int n);

#endif
