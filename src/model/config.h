/* What a model is: its shape, and the table of its parameter tensors.
 *
 * All parameters live in one float array laid out tensor after tensor in the
 * order of the table below; each entry carries the Hugging Face Llama name,
 * so checkpoints are written straight from the table. head_dim = dim/n_heads
 * (Llama 3). The output head is `lm_head.weight` unless tied to the embedding,
 * in which case it has no entry of its own. */
#ifndef PLATEAU_CONFIG_H
#define PLATEAU_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct {
    int   dim;          /* hidden size */
    int   n_layers;
    int   n_heads;      /* query heads */
    int   n_kv_heads;   /* key/value heads (grouped-query attention); divides n_heads */
    int   ffn_dim;      /* SwiGLU inner size */
    int   vocab_size;
    int   seq_len;      /* context length the model is trained at */
    float rope_theta;   /* 10000 as in the paper */
    float norm_eps;     /* RMSNorm epsilon, 1e-5 */
    int   tied;         /* 1: output head shares the embedding matrix */
} Config;

/* Fills *c from a preset name (nano, micro, mini, small, llama-1b, llama-8b). */
int config_preset(Config *c, const char *name, Err *e);
/* Names of all presets, NULL-terminated. */
extern const char *const CONFIG_PRESET_NAMES[];
/* Checks that the shape is possible (positive sizes, heads divide dim, ...). */
int config_validate(const Config *c, Err *e);

static inline int config_head_dim(const Config *c) { return c->dim / c->n_heads; }
static inline int config_kv_dim(const Config *c) { return config_head_dim(c) * c->n_kv_heads; }

/* Kinds of parameter tensors, one per role in a layer. */
typedef enum {
    P_EMBED,        /* model.embed_tokens.weight          [vocab, dim] */
    P_ATTN_NORM,    /* model.layers.i.input_layernorm.weight          [dim] */
    P_WQ,           /* model.layers.i.self_attn.q_proj.weight  [n_heads*hd, dim] */
    P_WK,           /* model.layers.i.self_attn.k_proj.weight  [kv_dim, dim] */
    P_WV,           /* model.layers.i.self_attn.v_proj.weight  [kv_dim, dim] */
    P_WO,           /* model.layers.i.self_attn.o_proj.weight  [dim, n_heads*hd] */
    P_MLP_NORM,     /* model.layers.i.post_attention_layernorm.weight [dim] */
    P_W_GATE,       /* model.layers.i.mlp.gate_proj.weight     [ffn, dim] */
    P_W_UP,         /* model.layers.i.mlp.up_proj.weight       [ffn, dim] */
    P_W_DOWN,       /* model.layers.i.mlp.down_proj.weight     [dim, ffn] */
    P_FINAL_NORM,   /* model.norm.weight                       [dim] */
    P_LM_HEAD,      /* lm_head.weight                          [vocab, dim] (untied only) */
} ParamKind;

typedef struct {
    char      name[96];    /* Hugging Face name */
    ParamKind kind;
    int       layer;       /* -1 for non-layer tensors */
    int       ndim;        /* 1 or 2 */
    int64_t   shape[2];    /* row-major: shape[0] rows of shape[1] */
    size_t    offset;      /* in floats, into the parameter array */
    size_t    numel;
    int       decay;       /* 1: AdamW weight decay applies (matrices, not norm gains) */
} ParamEntry;

typedef struct {
    ParamEntry *entries;   /* owned */
    int         count;
    size_t      total;     /* floats in the parameter array */
} ParamTable;

/* Builds the table for c. Free with param_table_free. */
void param_table_build(ParamTable *t, const Config *c);
void param_table_free(ParamTable *t);
/* Finds an entry by kind and layer (-1 for non-layer), or NULL. */
const ParamEntry *param_table_find(const ParamTable *t, ParamKind kind, int layer);

/* Exact parameter count of c, computed without building a table (works for
 * the 8B shape without allocating). */
uint64_t config_param_count(const Config *c);
/* Training FLOPs per token: 6*N_matmul + 6*vocab*dim + 12*n_layers*T*dim,
 * N_matmul = n_layers*(2*dim^2 + 2*dim*kv_dim + 3*dim*ffn) (full T x T
 * attention square, norms and optimizer not counted), at sequence length T. */
double config_train_flops_per_token(const Config *c, int T);

#endif
