/* A Llama-3-style decoder: forward and backward of the whole model, in fp32
 * or bf16 mixed precision (see Precision).
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
#include "model/matmul.h"

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

/* Precision of the matrix products. fp32: everything fp32. bf16 (mixed):
 * the inputs of every linear layer's forward, input-gradient and
 * weight-gradient product are rounded to bf16 and accumulated in fp32;
 * master weights, gradients, optimizer state, norms, attention (softmax and
 * its products), the loss and the optimizer stay fp32, as in the paper's
 * bf16 mixed-precision training. */
typedef enum { PRECISION_FP32 = 0, PRECISION_BF16 = 1 } Precision;

const char *precision_name(Precision p);                  /* "fp32" / "bf16" */
/* Parses "fp32" or "bf16"; on anything else sets e naming `what` (a flag or
 * a file and key) and returns -1. */
int precision_parse(const char *text, const char *what, Precision *p, Err *e);
/* bf16 where the CPU multiplies bf16 natively (avx512_bf16 or AMX), else fp32. */
Precision precision_default(void);

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
    Precision  precision;      /* PRECISION_FP32 unless model_set_precision */
    bf16      *params_bf16;    /* [n_params] bf16 copy of params (bf16 only) */
    int        params_changed; /* params_bf16 must be refreshed before the next forward */
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

/* Switches the precision of the matrix products (allocates the bf16 copies
 * of the weights and of the activations backward reads; no allocation
 * later). Returns 0, or -1 with e set when out of memory. */
int  model_set_precision(Model *m, Precision p, Err *e);
/* Tells the model its params were written (an optimizer step, a load): in
 * bf16 the weights' bf16 copy is refreshed once, at the next forward. */
void model_params_changed(Model *m);

/* Bytes a training step holds for B sequences of T tokens on n_threads
 * threads in precision p: parameters, gradients and two AdamW moments (4
 * floats a parameter), the bf16 weight copy, and exactly the activations
 * and scratch model_create and model_set_precision allocate. Linear in T:
 * attention keeps one log-sum-exp per row and head, never a [T, T] array. */
uint64_t model_train_step_bytes(const Config *c, int B, int T, int n_threads, Precision p);

#endif
