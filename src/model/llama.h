/* A Llama-3-style decoder: forward and backward of the whole model, fp32.
 *
 * Config says what the model is; Model owns three arenas: parameters (one
 * float array in ParamTable order), gradients (same layout), and the
 * activations of the last forward pass kept for backward (sized for at most
 * max_B sequences of max_T tokens; no allocation after model_create).
 *
 * Token ids are int in [0, vocab_size). Shapes: tokens/targets/mask [B, T]
 * row-major. The loss is the mean next-token cross-entropy over positions
 * whose mask is non-zero (mask NULL: every position counts). */
#ifndef PLATEAU_LLAMA_H
#define PLATEAU_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/config.h"

typedef struct {
    float *attn_norm;   /* [dim] */
    float *wq;          /* [n_heads*hd, dim] */
    float *wk;          /* [kv_dim, dim] */
    float *wv;          /* [kv_dim, dim] */
    float *wo;          /* [dim, n_heads*hd] */
    float *mlp_norm;    /* [dim] */
    float *w_gate;      /* [ffn, dim] */
    float *w_up;        /* [ffn, dim] */
    float *w_down;      /* [dim, ffn] */
} LayerWeights;

/* Pointers into one flat array (parameters or gradients). */
typedef struct {
    float        *embed;       /* [vocab, dim] */
    LayerWeights *layers;      /* [n_layers], owned */
    float        *final_norm;  /* [dim] */
    float        *lm_head;     /* [vocab, dim]; == embed when tied */
} Weights;

/* Points w at the tensors of a flat vector in ParamTable layout (the
 * parameters, the gradients, or any direction in parameter space), with
 * the per-layer pointers in caller-owned layers[n_layers]. Tied: lm_head
 * is the embedding. */
void weights_bind(Weights *w, LayerWeights *layers, float *base, const ParamTable *t, int tied);

typedef struct ModelActs ModelActs;  /* private to llama.c */

typedef struct {
    Config     cfg;
    ParamTable table;
    size_t     n_params;
    float     *params;    /* [n_params] */
    float     *grads;     /* [n_params] */
    Weights    w;         /* views of params */
    Weights    g;         /* views of grads */
    int        max_B, max_T;
    ModelActs *acts;
    /* From the last forward: */
    int        B, T;
    float      loss;      /* mean over counted positions */
    double     n_counted; /* positions with non-zero mask */
} Model;

/* Validates cfg and allocates everything for batches up to max_B x max_T
 * (max_T <= cfg->seq_len). Parameters and gradients start at zero. */
int  model_create(Model *m, const Config *cfg, int max_B, int max_T, Err *e);
void model_free(Model *m);

/* Llama-style initialisation from the seed's init stream: matrices
 * N(0, 0.02^2), output projections (o_proj, down_proj) scaled by
 * 1/sqrt(2*n_layers), norm gains 1. Same seed, same bits. */
void model_init_weights(Model *m, uint64_t seed);

/* Forward pass over B x T tokens. With targets, computes and returns the
 * masked mean loss (and keeps what backward needs); without (NULL), only
 * logits are computed and the return value is 0. */
float model_forward(Model *m, const int *tokens, const int *targets, const float *mask, int B, int T);

/* Logits of the last forward, [B, T, vocab]. */
const float *model_logits(const Model *m);

/* Adds loss_scale * d(loss)/d(params) of the last forward into m->grads.
 * Gradient accumulation over micro-batches uses loss_scale = counted
 * positions in this micro-batch / counted positions in the whole batch. */
void model_backward(Model *m, float loss_scale);

void model_zero_grad(Model *m);

#endif
