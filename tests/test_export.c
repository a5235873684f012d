/* Release formats: 16-bit encodings, the GGUF file read back by a reader
 * written from the specification (header, metadata, tensor table, data,
 * the rotary row permutation), and the Hugging Face folder's files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/half.h"
#include "data/chat.h"
#include "data/tokenizer.h"
#include "export/export.h"
#include "model/llama.h"
#include "train/checkpoint.h"

static void bf16_rounds_to_nearest_even(void **state)
{
    (void)state;
    assert_int_equal(f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(f32_to_bf16(-2.0f), 0xc000);
    /* 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to the even 1.0 */
    assert_int_equal(f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    /* 1 + 3*2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: ties to the even 1 + 2^-6 */
    assert_int_equal(f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    assert_int_equal(f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);   /* just above halfway */
    assert_true(isnan(bf16_to_f32(f32_to_bf16(NAN))));
    assert_true(bf16_to_f32(f32_to_bf16(3.140625f)) == 3.140625f);      /* exact in 8 bits */
}

static void f16_rounds_overflows_and_keeps_subnormals(void **state)
{
    (void)state;
    assert_int_equal(f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(f32_to_f16(-0.5f), 0xb800);
    assert_int_equal(f32_to_f16(65504.0f), 0x7bff);      /* largest finite */
    assert_int_equal(f32_to_f16(65519.0f), 0x7bff);      /* below the halfway point 65520 */
    assert_int_equal(f32_to_f16(65520.0f), 0x7c00);      /* halfway, odd mantissa: up to infinity */
    assert_int_equal(f32_to_f16(0x1p-14f), 0x0400);      /* smallest normal */
    assert_int_equal(f32_to_f16(0x1p-24f), 0x0001);      /* smallest subnormal */
    assert_int_equal(f32_to_f16(0x1p-25f), 0x0000);      /* halfway to it: ties to even zero */
    assert_int_equal(f32_to_f16(3 * 0x1p-25f), 0x0002);  /* 1.5 units: ties to even 2 */
    assert_int_equal(f32_to_f16(1.0f + 0x1p-11f), 0x3c00);   /* halfway: even */
    assert_int_equal(f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_true(isnan(f16_to_f32(f32_to_f16(NAN))));
    for (int h = 0; h < 0x7c00; h += 37) assert_int_equal(f32_to_f16(f16_to_f32((uint16_t)h)), h);
}

/* ---- a nano checkpoint with a tokenizer ------------------------------------ */

typedef struct {
    char    root[64], ckpt[128], tok[128];
    Config  cfg;
    float  *params;
    size_t  n_params;
    int     tok_vocab;
} Fx;

static int setup(void **state)
{
    Fx *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/plateau-export-XXXXXX");
    if (!mkdtemp(f->root)) return -1;
    snprintf(f->ckpt, sizeof f->ckpt, "%s/ckpt", f->root);
    snprintf(f->tok, sizeof f->tok, "%s/tok.json", f->root);
    static const char text[] = "the cat sat on the mat; the cat ate the rat on the mat.\n";
    Tokenizer *t;
    Err e;
    if (tokenizer_train(&t, text, sizeof text - 1, 270, &e) || tokenizer_save(t, f->tok, &e)) return -1;
    f->tok_vocab = tokenizer_vocab_size(t);
    tokenizer_free(t);
    if (config_preset(&f->cfg, "nano", &e)) return -1;
    f->cfg.vocab_size = 272;   /* two padding rows past the tokenizer */
    Model m;
    if (model_create(&m, &f->cfg, 1, 1, &e)) return -1;
    model_init_weights(&m, 3);
    Lineage lin = {0};
    snprintf(lin.stage, sizeof lin.stage, "init");
    snprintf(lin.tokenizer, sizeof lin.tokenizer, "%s", f->tok);
    if (checkpoint_save(f->ckpt, &f->cfg, m.params, NULL, &lin, &e)) return -1;
    f->n_params = m.n_params;
    f->params = malloc(m.n_params * sizeof(float));
    memcpy(f->params, m.params, m.n_params * sizeof(float));
    model_free(&m);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
    if (system(cmd) != 0) return -1;
    free(f->params);
    free(f);
    return 0;
}

/* ---- a GGUF reader, from the specification --------------------------------- */

typedef struct {
    const unsigned char *p, *end;
} Cur;

static uint64_t rd(Cur *c, int bytes)
{
    assert_true(c->p + bytes <= c->end);
    uint64_t x = 0;
    for (int i = 0; i < bytes; i++) x |= (uint64_t)c->p[i] << (8 * i);
    c->p += bytes;
    return x;
}

static void rd_str(Cur *c, char *out, size_t size)
{
    uint64_t n = rd(c, 8);
    assert_true(c->p + n <= c->end);
    snprintf(out, size, "%.*s", (int)n, (const char *)c->p);
    c->p += n;
}

typedef struct {
    char     key[64];
    uint32_t type;
    uint64_t u;          /* integer and bool values */
    float    f;
    char     s[2048];    /* string values (truncated) */
    uint32_t arr_type;
    uint64_t arr_n;
    char     arr_first[256], arr_last[256]; /* of string arrays */
    int64_t  arr_i[300];                    /* of int32 arrays, first 300 */
} Kv;

static void rd_value(Cur *c, uint32_t type, Kv *kv, int top)
{
    static const int SIZE[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
        char s[2048];
        rd_str(c, s, sizeof s);
        if (top) snprintf(kv->s, sizeof kv->s, "%s", s);
        return;
    }
    assert_true(type <= 12 && type != 9);
    uint64_t x = rd(c, SIZE[type]);
    if (top) {
        kv->u = x;
        uint32_t u32 = (uint32_t)x;
        memcpy(&kv->f, &u32, 4);
    }
}

static int gguf_read_kv(Cur *c, Kv *kv)
{
    rd_str(c, kv->key, sizeof kv->key);
    kv->type = (uint32_t)rd(c, 4);
    if (kv->type != 9) {
        rd_value(c, kv->type, kv, 1);
        return 0;
    }
    kv->arr_type = (uint32_t)rd(c, 4);
    kv->arr_n = rd(c, 8);
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        if (kv->arr_type == 8) {
            char s[256];
            rd_str(c, s, sizeof s);
            if (i == 0) snprintf(kv->arr_first, sizeof kv->arr_first, "%s", s);
            snprintf(kv->arr_last, sizeof kv->arr_last, "%s", s);
        } else {
            Kv tmp;
            rd_value(c, kv->arr_type, &tmp, 1);
            if (i < 300) kv->arr_i[i] = (int32_t)tmp.u;
        }
    }
    return 0;
}

typedef struct {
    char     name[64];
    uint32_t n_dims, type;
    uint64_t dims[4], offset;
} TensorInfo;

typedef struct {
    unsigned char *data;
    size_t         bytes;
    Kv            *kv;
    uint64_t       n_kv, n_tensors;
    TensorInfo    *t;
    size_t         data_start;
} Gguf;

static void gguf_load(Gguf *g, const char *path)
{
    Err e;
    char *buf;
    assert_int_equal(read_file(path, &buf, &g->bytes, &e), 0);
    g->data = (unsigned char *)buf;
    Cur c = {g->data, g->data + g->bytes};
    assert_memory_equal(c.p, "GGUF", 4);
    c.p += 4;
    assert_int_equal(rd(&c, 4), 3);
    g->n_tensors = rd(&c, 8);
    g->n_kv = rd(&c, 8);
    g->kv = calloc(g->n_kv, sizeof *g->kv);
    for (uint64_t i = 0; i < g->n_kv; i++) gguf_read_kv(&c, &g->kv[i]);
    g->t = calloc(g->n_tensors, sizeof *g->t);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        TensorInfo *t = &g->t[i];
        rd_str(&c, t->name, sizeof t->name);
        t->n_dims = (uint32_t)rd(&c, 4);
        assert_true(t->n_dims >= 1 && t->n_dims <= 4);
        for (uint32_t d = 0; d < t->n_dims; d++) t->dims[d] = rd(&c, 8);
        t->type = (uint32_t)rd(&c, 4);
        t->offset = rd(&c, 8);
        assert_int_equal(t->offset % 32, 0);
    }
    size_t pos = (size_t)(c.p - g->data);
    g->data_start = (pos + 31) / 32 * 32;
}

static void gguf_free(Gguf *g)
{
    free(g->data);
    free(g->kv);
    free(g->t);
}

static const Kv *kv_find(const Gguf *g, const char *key)
{
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    fail_msg("no metadata key %s", key);
    return NULL;
}

static const TensorInfo *tensor_find(const Gguf *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->t[i].name, name) == 0) return &g->t[i];
    fail_msg("no tensor %s", name);
    return NULL;
}

static float tensor_f32(const Gguf *g, const TensorInfo *t, size_t i)
{
    const unsigned char *p = g->data + g->data_start + t->offset;
    if (t->type == 0) {
        float x;
        memcpy(&x, p + 4 * i, 4);
        return x;
    }
    uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
    return t->type == 1 ? f16_to_f32(h) : bf16_to_f32(h);
}

/* Exports the fixture's checkpoint as root/name.gguf in dtype and reads it back. */
static void export_and_load(const Fx *f, const char *name, ExportDtype dtype, Gguf *g)
{
    Err e;
    char path[256];
    snprintf(path, sizeof path, "%s/%s.gguf", f->root, name);
    ExportSource s;
    assert_int_equal(export_source_load(&s, f->ckpt, NULL, &e), 0);
    assert_int_equal(export_gguf(&s, path, dtype, &e), 0);
    export_source_free(&s);
    gguf_load(g, path);
}

static void gguf_holds_llama_metadata_and_gpt2_tokenizer(void **state)
{
    Fx *f = *state;
    Gguf g;
    export_and_load(f, "f32", EXPORT_F32, &g);
    assert_string_equal(g.kv[0].key, "general.architecture");   /* first, as llama.cpp reads it */
    assert_string_equal(kv_find(&g, "general.architecture")->s, "llama");
    assert_int_equal(kv_find(&g, "llama.block_count")->u, f->cfg.n_layers);
    assert_int_equal(kv_find(&g, "llama.embedding_length")->u, f->cfg.dim);
    assert_int_equal(kv_find(&g, "llama.feed_forward_length")->u, f->cfg.ffn_dim);
    assert_int_equal(kv_find(&g, "llama.attention.head_count")->u, f->cfg.n_heads);
    assert_int_equal(kv_find(&g, "llama.attention.head_count_kv")->u, f->cfg.n_kv_heads);
    assert_int_equal(kv_find(&g, "llama.rope.dimension_count")->u, f->cfg.dim / f->cfg.n_heads);
    assert_int_equal(kv_find(&g, "llama.context_length")->u, f->cfg.seq_len);
    assert_true(kv_find(&g, "llama.rope.freq_base")->f == f->cfg.rope_theta);
    assert_true(kv_find(&g, "llama.attention.layer_norm_rms_epsilon")->f == f->cfg.norm_eps);
    assert_string_equal(kv_find(&g, "tokenizer.ggml.model")->s, "gpt2");
    assert_string_equal(kv_find(&g, "tokenizer.ggml.pre")->s, "gpt-2");
    assert_string_equal(kv_find(&g, "tokenizer.chat_template")->s, CHAT_TEMPLATE_JINJA);
    /* tokens: 256 bytes (byte 0 is "Ā" in the byte-level alphabet), merges,
     * the 4 specials, then the model's 2 padding rows */
    const Kv *tok = kv_find(&g, "tokenizer.ggml.tokens");
    assert_int_equal(tok->arr_n, 272);
    assert_string_equal(tok->arr_first, "\xc4\x80");
    assert_string_equal(tok->arr_last, "[PAD271]");
    const Kv *types = kv_find(&g, "tokenizer.ggml.token_type");
    assert_int_equal(types->arr_n, 272);
    assert_int_equal(types->arr_i[0], 1);
    for (int i = f->tok_vocab - 4; i < f->tok_vocab; i++) assert_int_equal(types->arr_i[i], 3);   /* control */
    assert_int_equal(types->arr_i[270], 5);   /* unused */
    assert_int_equal(types->arr_i[271], 5);
    assert_int_equal(kv_find(&g, "tokenizer.ggml.merges")->arr_n, (uint64_t)f->tok_vocab - 260);
    assert_int_equal(kv_find(&g, "tokenizer.ggml.eos_token_id")->u, (uint64_t)f->tok_vocab - 4);
    assert_int_equal(kv_find(&g, "tokenizer.ggml.bos_token_id")->u, (uint64_t)f->tok_vocab - 4);
    /* tensors: embed + 9 per layer + final norm + untied head */
    assert_int_equal(g.n_tensors, 2 + 9 * f->cfg.n_layers + 1);
    const TensorInfo *emb = tensor_find(&g, "token_embd.weight");
    assert_int_equal(emb->n_dims, 2);
    assert_int_equal(emb->dims[0], f->cfg.dim);   /* ggml order: columns first */
    assert_int_equal(emb->dims[1], 272);
    ParamTable t;
    param_table_build(&t, &f->cfg);
    const ParamEntry *pe = param_table_find(&t, P_EMBED, -1);
    for (size_t i = 0; i < pe->numel; i += 97) assert_true(tensor_f32(&g, emb, i) == f->params[pe->offset + i]);
    const ParamEntry *down = param_table_find(&t, P_W_DOWN, 1);
    const TensorInfo *gd = tensor_find(&g, "blk.1.ffn_down.weight");
    assert_int_equal(gd->dims[0], f->cfg.ffn_dim);
    assert_int_equal(gd->dims[1], f->cfg.dim);
    for (size_t i = 0; i < down->numel; i += 13) assert_true(tensor_f32(&g, gd, i) == f->params[down->offset + i]);
    param_table_free(&t);
    gguf_free(&g);
}

/* Query and key rows move from rotate_half pairs (i, i + hd/2) to adjacent
 * pairs (2i, 2i + 1): with head_dim 8, GGUF rows 0..7 of a head are HF rows
 * 0, 4, 1, 5, 2, 6, 3, 7. */
static void gguf_permutes_query_and_key_rows_for_adjacent_rotary_pairs(void **state)
{
    Fx *f = *state;
    Gguf g;
    export_and_load(f, "f16", EXPORT_F16, &g);
    assert_int_equal(kv_find(&g, "general.file_type")->u, 1);
    const int hd = f->cfg.dim / f->cfg.n_heads, D = f->cfg.dim;
    assert_int_equal(hd, 8);
    static const int FROM[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    ParamTable t;
    param_table_build(&t, &f->cfg);
    for (int kind = P_WQ; kind <= P_WV; kind++) {
        const ParamEntry *pe = param_table_find(&t, (ParamKind)kind, 0);
        const TensorInfo *gt = tensor_find(&g, kind == P_WQ ? "blk.0.attn_q.weight" : kind == P_WK ? "blk.0.attn_k.weight"
                                                                                                    : "blk.0.attn_v.weight");
        assert_int_equal(gt->type, 1);   /* f16 */
        for (int r = 0; r < (int)pe->shape[0]; r++) {
            int src = kind == P_WV ? r : r / hd * hd + FROM[r % hd];
            for (int k = 0; k < D; k++) {
                float want = f16_to_f32(f32_to_f16(f->params[pe->offset + (size_t)src * D + k]));
                assert_true(tensor_f32(&g, gt, (size_t)r * D + k) == want);
            }
        }
    }
    assert_int_equal(tensor_find(&g, "blk.0.attn_norm.weight")->type, 0);   /* norms stay f32 */
    param_table_free(&t);
    gguf_free(&g);
}

static cJSON *read_json(const char *dir, const char *name)
{
    char path[512], *text;
    Err e;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(read_file(path, &text, NULL, &e), 0);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    return j;
}

static void hf_folder_has_tokenizer_config_with_chat_template(void **state)
{
    Fx *f = *state;
    Err e;
    char dir[256];
    snprintf(dir, sizeof dir, "%s/hf", f->root);
    ExportSource s;
    assert_int_equal(export_source_load(&s, f->ckpt, NULL, &e), 0);
    assert_int_equal(export_hf(&s, dir, EXPORT_BF16, &e), 0);
    assert_int_equal(export_hf(&s, dir, EXPORT_F16, &e), -1);
    export_source_free(&s);
    cJSON *tc = read_json(dir, "tokenizer_config.json");
    assert_string_equal(cJSON_GetObjectItem(tc, "chat_template")->valuestring, CHAT_TEMPLATE_JINJA);
    assert_string_equal(cJSON_GetObjectItem(tc, "eos_token")->valuestring, "<|endoftext|>");
    char eot[16];
    snprintf(eot, sizeof eot, "%d", f->tok_vocab - 4);
    const cJSON *dec = cJSON_GetObjectItem(cJSON_GetObjectItem(tc, "added_tokens_decoder"), eot);
    assert_string_equal(cJSON_GetObjectItem(dec, "content")->valuestring, "<|endoftext|>");
    cJSON_Delete(tc);
    cJSON *cfg = read_json(dir, "config.json");
    assert_string_equal(cJSON_GetObjectItem(cfg, "torch_dtype")->valuestring, "bfloat16");
    assert_int_equal(cJSON_GetObjectItem(cfg, "eos_token_id")->valueint, f->tok_vocab - 4);
    assert_int_equal(cJSON_GetObjectItem(cfg, "vocab_size")->valueint, 272);
    cJSON_Delete(cfg);
    cJSON *gen = read_json(dir, "generation_config.json");
    assert_int_equal(cJSON_GetObjectItem(gen, "eos_token_id")->valueint, f->tok_vocab - 4);
    cJSON_Delete(gen);
    cJSON_Delete(read_json(dir, "special_tokens_map.json"));
    /* bf16 weights: 2 bytes per parameter after the header */
    char path[512], *st;
    size_t bytes;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(read_file(path, &st, &bytes, &e), 0);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)(unsigned char)st[i] << (8 * i);
    assert_int_equal(bytes, 8 + hlen + 2 * f->n_params);
    assert_non_null(strstr(st + 8, "\"dtype\":\"BF16\""));
    uint16_t first;
    memcpy(&first, st + 8 + hlen, 2);
    assert_int_equal(first, f32_to_bf16(f->params[0]));
    free(st);
}

/* A tokenizer id far outside int's range is refused before any conversion. */
static void gguf_refuses_token_ids_out_of_range(void **state)
{
    Fx *f = *state;
    Err e;
    char *text, forged[512], out[512];
    assert_int_equal(read_file(f->tok, &text, NULL, &e), 0);
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *vocab = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "model"), "vocab");
    cJSON_ReplaceItemInObject(vocab, "a", cJSON_CreateNumber(1e10));
    text = cJSON_Print(root);
    cJSON_Delete(root);
    snprintf(forged, sizeof forged, "%s/forged.json", f->root);
    assert_int_equal(write_file_atomic(forged, text, strlen(text), &e), 0);
    free(text);
    snprintf(out, sizeof out, "%s/forged.gguf", f->root);
    ExportSource s;
    int rc = export_source_load(&s, f->ckpt, forged, &e);
    if (rc == 0) {
        rc = export_gguf(&s, out, EXPORT_F32, &e);
        export_source_free(&s);
    }
    assert_int_equal(rc, -1);
    if (!strstr(e.msg, "10000000000 is outside")) fail_msg("%s", e.msg);
}

static void export_refuses_checkpoint_without_tokenizer(void **state)
{
    Fx *f = *state;
    Err e;
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", f->ckpt);
    remove(path);
    assert_int_equal(checkpoint_seal(f->ckpt, NULL, &e), 0);
    ExportSource s;
    assert_int_equal(export_source_load(&s, f->ckpt, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "no tokenizer.json"));
    assert_non_null(strstr(e.msg, f->ckpt));
    assert_int_equal(export_source_load(&s, f->ckpt, f->tok, &e), 0);   /* given by hand */
    export_source_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bf16_rounds_to_nearest_even),
        cmocka_unit_test(f16_rounds_overflows_and_keeps_subnormals),
        cmocka_unit_test_setup_teardown(gguf_holds_llama_metadata_and_gpt2_tokenizer, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_permutes_query_and_key_rows_for_adjacent_rotary_pairs, setup, teardown),
        cmocka_unit_test_setup_teardown(hf_folder_has_tokenizer_config_with_chat_template, setup, teardown),
        cmocka_unit_test_setup_teardown(export_refuses_checkpoint_without_tokenizer, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_refuses_token_ids_out_of_range, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
