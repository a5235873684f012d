/* Incremental forward with a key/value cache, for generation.
 *
 * The same function as model_forward's logits, computed one chunk of new
 * tokens at a time: the keys and values of every earlier position are kept,
 * so each generated token costs one pass over the weights instead of a full
 * forward over the whole sequence. Reads the weights of a Model (never
 * writes them); owns only its cache and scratch, allocated at create.
 *
 * Uses the kernels of model/ops.h with the same packed projections as
 * model_forward, so cached and full forwards agree to rounding.
 *
 * Usage: decoder_reset, decoder_forward(prompt, n_prompt) (prefill), then
 * decoder_forward(&next, 1) per generated token. */
#ifndef PLATEAU_DECODE_H
#define PLATEAU_DECODE_H

#include "core/error.h"
#include "model/llama.h"

typedef struct {
    const Model *m;
    int    max_T;      /* positions the cache holds */
    int    pos;        /* positions filled so far */
    float *k_cache;    /* [n_layers, max_T, kv_dim], keys after rotary embedding */
    float *v_cache;    /* [n_layers, max_T, kv_dim] */
    /* scratch for a chunk of up to max_T rows */
    float *x;          /* [max_T, dim] residual stream */
    float *xn;         /* [max_T, dim] normed input */
    float *rstd;       /* [max_T] */
    float *qkv;        /* [max_T, q_dim + 2 kv_dim] packed projections, as model_forward */
    float *att_out;    /* [max_T, q_dim] */
    float *gu;         /* [max_T, 2 ffn] gate | up */
    float *h;          /* [max_T, ffn] silu(gate) * up */
    float *scores;     /* [n_threads, max_T] attention weights per thread */
    int    n_threads;
    float *cos_tab;    /* [max_T, head_dim/2] */
    float *sin_tab;
    float *logits;     /* [vocab], of the last position of the last chunk */
} Decoder;

int  decoder_create(Decoder *d, const Model *m, int max_T, Err *e);
void decoder_free(Decoder *d);
/* Empties the cache (the next forward starts at position 0). */
void decoder_reset(Decoder *d);
/* Runs tokens[0..n) at positions pos..pos+n-1 (requires pos + n <= max_T,
 * n >= 1), appends their keys and values, and returns the logits [vocab] of
 * the last of them (valid until the next call). */
const float *decoder_forward(Decoder *d, const int *tokens, int n);

#endif
