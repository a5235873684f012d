/* Incremental forward with a key/value cache, for generation.
 *
 * The same function as model_forward's logits, computed a few new tokens at
 * a time: the keys and values of every earlier position are kept, so each
 * generated token costs one pass over the weights instead of a full forward
 * over the whole sequence. Up to max_B independent sequences ("slots") share
 * one pass, so B answers are generated for little more than the memory
 * traffic of one. Uses the kernels of model/ops.h with the packed
 * projections of model_forward, so cached and full forwards agree to
 * rounding. Reads the weights of a Model (never writes them); owns only its
 * cache and scratch, allocated at create.
 *
 * Usage: decoder_reset; decoder_step with a slot's prompt tokens (prefill);
 * then, per generated token, one row per unfinished slot. */
#ifndef PLATEAU_DECODE_H
#define PLATEAU_DECODE_H

#include "core/error.h"
#include "model/llama.h"

typedef struct {
    const Model *m;
    int    max_B;      /* slots (sequences) */
    int    max_T;      /* positions per slot */
    int    max_rows;   /* rows per call: max(max_T, max_B) */
    int   *pos;        /* [max_B] positions filled per slot */
    float *k_cache;    /* [max_B, n_layers, max_T, kv_dim], keys after rotary embedding */
    float *v_cache;    /* [max_B, n_layers, max_T, kv_dim] */
    /* scratch for up to max_rows rows */
    int   *row_pos;    /* [max_rows] position of each row */
    int   *row_last;   /* [max_rows] 1 on the last row of its slot in this call */
    float *x;          /* [max_rows, dim] residual stream */
    float *xn;         /* [max_rows, dim] normed input */
    float *rstd;       /* [max_rows] */
    float *qkv;        /* [max_rows, q_dim + 2 kv_dim] packed projections */
    float *att_out;    /* [max_rows, q_dim] */
    float *gu;         /* [max_rows, 2 ffn] gate | up */
    float *h;          /* [max_rows, ffn] silu(gate) * up */
    float *scores;     /* [n_threads, max_T] attention weights per thread */
    int    n_threads;
    float *cos_tab;    /* [max_T, head_dim/2] */
    float *sin_tab;
    float *last_logits;/* [max_B, vocab] scratch for the output head */
    float *logits;     /* [max_B, vocab]: each slot's logits after its latest row */
} Decoder;

int  decoder_create(Decoder *d, const Model *m, int max_B, int max_T, Err *e);
void decoder_free(Decoder *d);
/* Empties every slot (the next rows start at position 0). */
void decoder_reset(Decoder *d);

/* Runs n_rows new tokens: row r is tokens[r] appended to slot slots[r] at
 * that slot's next position (rows of one slot in order; n_rows <= max_rows;
 * each slot stays within max_T). Afterwards logits + s * vocab holds the
 * logits after the last token of each slot s that had a row. Returns logits. */
const float *decoder_step(Decoder *d, const int *slots, const int *tokens, int n_rows);

/* Single sequence (slot 0): runs tokens[0..n) and returns their last logits [vocab]. */
const float *decoder_forward(Decoder *d, const int *tokens, int n);

#endif
