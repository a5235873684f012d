#include "model/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    Config c;
} Preset;

/* The CPU sizes are chosen for this project's laptop-scale study; llama-1b and
 * llama-8b are the paper's shapes (Llama 3.2 1B tied, Llama 3.1 8B untied,
 * vocabulary 128256, context 2048, rope theta 10000 as the paper trained). */
static const Preset PRESETS[] = {
    {"nano",     {  32,  2,  4, 2,    64,    256,   64, 10000.f, 1e-5f, 0}},
    {"micro",    { 128,  4,  4, 2,   384,   2048,  256, 10000.f, 1e-5f, 0}},
    {"mini",     { 256,  6,  8, 4,   768,   4096,  256, 10000.f, 1e-5f, 0}},
    {"small",    { 512,  8,  8, 4,  1536,   8192,  512, 10000.f, 1e-5f, 0}},
    {"llama-1b", {2048, 16, 32, 8,  8192, 128256, 2048, 10000.f, 1e-5f, 1}},
    {"llama-8b", {4096, 32, 32, 8, 14336, 128256, 2048, 10000.f, 1e-5f, 0}},
};

const char *const CONFIG_PRESET_NAMES[] = {"nano", "micro", "mini", "small", "llama-1b", "llama-8b", NULL};

int config_preset(Config *c, const char *name, Err *e)
{
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++) {
        if (strcmp(PRESETS[i].name, name) == 0) {
            *c = PRESETS[i].c;
            return 0;
        }
    }
    return err_set(e, "unknown model preset '%s' (expected one of nano, micro, mini, small, llama-1b, llama-8b)", name);
}

int config_validate(const Config *c, Err *e)
{
    if (c->dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 ||
        c->ffn_dim <= 0 || c->vocab_size <= 0 || c->seq_len <= 0)
        return err_set(e, "model config: every size must be positive (dim %d, n_layers %d, n_heads %d, "
                          "n_kv_heads %d, ffn_dim %d, vocab_size %d, seq_len %d)",
                       c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->ffn_dim, c->vocab_size, c->seq_len);
    if (c->dim % c->n_heads)
        return err_set(e, "model config: dim %d is not a multiple of n_heads %d", c->dim, c->n_heads);
    if (config_head_dim(c) % 2)
        return err_set(e, "model config: head_dim %d must be even for rotary embeddings", config_head_dim(c));
    if (c->n_heads % c->n_kv_heads)
        return err_set(e, "model config: n_heads %d is not a multiple of n_kv_heads %d", c->n_heads, c->n_kv_heads);
    if (!(c->rope_theta > 0) || !(c->norm_eps > 0))
        return err_set(e, "model config: rope_theta and norm_eps must be positive");
    return 0;
}

static void add(ParamTable *t, int *cap, ParamKind kind, int layer, const char *name,
                int64_t rows, int64_t cols, int decay)
{
    if (t->count == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        t->entries = xrealloc(t->entries, (size_t)*cap * sizeof *t->entries);
    }
    ParamEntry *p = &t->entries[t->count++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->kind = kind;
    p->layer = layer;
    p->ndim = cols ? 2 : 1;
    p->shape[0] = rows;
    p->shape[1] = cols;
    p->numel = (size_t)rows * (size_t)(cols ? cols : 1);
    p->offset = t->total;
    p->decay = decay;
    t->total += p->numel;
}

void param_table_build(ParamTable *t, const Config *c)
{
    memset(t, 0, sizeof *t);
    int cap = 0;
    int hd = config_head_dim(c), q_dim = hd * c->n_heads, kv = config_kv_dim(c);
    char n[96];
    add(t, &cap, P_EMBED, -1, "model.embed_tokens.weight", c->vocab_size, c->dim, 1);
    for (int l = 0; l < c->n_layers; l++) {
#define NAME(s) (snprintf(n, sizeof n, "model.layers.%d." s, l), n)
        add(t, &cap, P_ATTN_NORM, l, NAME("input_layernorm.weight"), c->dim, 0, 0);
        add(t, &cap, P_WQ, l, NAME("self_attn.q_proj.weight"), q_dim, c->dim, 1);
        add(t, &cap, P_WK, l, NAME("self_attn.k_proj.weight"), kv, c->dim, 1);
        add(t, &cap, P_WV, l, NAME("self_attn.v_proj.weight"), kv, c->dim, 1);
        add(t, &cap, P_WO, l, NAME("self_attn.o_proj.weight"), c->dim, q_dim, 1);
        add(t, &cap, P_MLP_NORM, l, NAME("post_attention_layernorm.weight"), c->dim, 0, 0);
        add(t, &cap, P_W_GATE, l, NAME("mlp.gate_proj.weight"), c->ffn_dim, c->dim, 1);
        add(t, &cap, P_W_UP, l, NAME("mlp.up_proj.weight"), c->ffn_dim, c->dim, 1);
        add(t, &cap, P_W_DOWN, l, NAME("mlp.down_proj.weight"), c->dim, c->ffn_dim, 1);
#undef NAME
    }
    add(t, &cap, P_FINAL_NORM, -1, "model.norm.weight", c->dim, 0, 0);
    if (!c->tied) add(t, &cap, P_LM_HEAD, -1, "lm_head.weight", c->vocab_size, c->dim, 1);
}

void param_table_free(ParamTable *t)
{
    free(t->entries);
    memset(t, 0, sizeof *t);
}

const ParamEntry *param_table_find(const ParamTable *t, ParamKind kind, int layer)
{
    for (int i = 0; i < t->count; i++)
        if (t->entries[i].kind == kind && t->entries[i].layer == layer) return &t->entries[i];
    return NULL;
}

uint64_t config_param_count(const Config *c)
{
    uint64_t d = (uint64_t)c->dim, hd = (uint64_t)config_head_dim(c);
    uint64_t q = hd * (uint64_t)c->n_heads, kv = hd * (uint64_t)c->n_kv_heads;
    uint64_t layer = 2 * d + d * q + 2 * d * kv + q * d + 3 * d * (uint64_t)c->ffn_dim;
    uint64_t emb = (uint64_t)c->vocab_size * d;
    return emb * (c->tied ? 1 : 2) + (uint64_t)c->n_layers * layer + d;
}

double config_train_flops_per_token(const Config *c, int T)
{
    double d = c->dim, kv = config_kv_dim(c), f = c->ffn_dim, L = c->n_layers;
    double n_matmul = L * (2 * d * d + 2 * d * kv + 3 * d * f);
    return 6 * n_matmul + 6.0 * c->vocab_size * d + 12.0 * L * T * d;
}
