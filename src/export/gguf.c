/* The GGUF file (layout and choices in export/export.h). */
#include "export/export.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/half.h"
#include "core/json_number.h"
#include "data/chat.h"
#include "data/textbuf.h"
#include "data/tokenizer.h"

#define GGUF_VERSION 3u
#define GGUF_ALIGNMENT 32u

/* Metadata value types of the GGUF specification. */
enum { GGUF_U32 = 4, GGUF_I32 = 5, GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9 };
/* ggml tensor types. */
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_BF16 = 30 };
/* llama.cpp token types. */
enum { TOKEN_NORMAL = 1, TOKEN_CONTROL = 3, TOKEN_UNUSED = 5 };
/* llama.cpp general.file_type values. */
enum { FTYPE_ALL_F32 = 0, FTYPE_MOSTLY_F16 = 1, FTYPE_MOSTLY_BF16 = 32 };

/* ---- little-endian encoding into a buffer ---------------------------------- */

static void put_u32(TextBuf *b, uint32_t x)
{
    unsigned char c[4] = {(unsigned char)x, (unsigned char)(x >> 8), (unsigned char)(x >> 16),
                          (unsigned char)(x >> 24)};
    textbuf_append(b, (const char *)c, 4);
}

static void put_u64(TextBuf *b, uint64_t x)
{
    put_u32(b, (uint32_t)x);
    put_u32(b, (uint32_t)(x >> 32));
}

static void put_str(TextBuf *b, const char *s)
{
    put_u64(b, strlen(s));
    textbuf_append(b, s, strlen(s));
}

typedef struct {
    TextBuf  buf;
    uint64_t n_kv;
} Meta;

static void key(Meta *m, const char *k, uint32_t type)
{
    put_str(&m->buf, k);
    put_u32(&m->buf, type);
    m->n_kv++;
}

static void kv_u32(Meta *m, const char *k, uint32_t v) { key(m, k, GGUF_U32); put_u32(&m->buf, v); }
static void kv_str(Meta *m, const char *k, const char *v) { key(m, k, GGUF_STRING); put_str(&m->buf, v); }
static void kv_bool(Meta *m, const char *k, int v) { key(m, k, GGUF_BOOL); textbuf_putc(&m->buf, v ? 1 : 0); }

static void kv_f32(Meta *m, const char *k, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    key(m, k, GGUF_F32);
    put_u32(&m->buf, u);
}

static void kv_array(Meta *m, const char *k, uint32_t elem_type, uint64_t n)
{
    key(m, k, GGUF_ARRAY);
    put_u32(&m->buf, elem_type);
    put_u64(&m->buf, n);
}

/* ---- the tokenizer from tokenizer.json ------------------------------------- */

typedef struct {
    char   **tokens;     /* [n] byte-level token strings (owned) */
    int32_t *types;      /* [n] */
    int      n;          /* = the model's vocabulary */
    char   **merges;     /* [n_merges] "left right" (owned) */
    int      n_merges;
    int      eot;
} GgufVocab;

static void vocab_free(GgufVocab *v)
{
    for (int i = 0; i < v->n; i++) free(v->tokens ? v->tokens[i] : NULL);
    for (int i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->types);
    free(v->merges);
    memset(v, 0, sizeof *v);
}

static int set_token(GgufVocab *v, const char *path, const char *text, const cJSON *id_value, int type, Err *e)
{
    int id;
    if (json_int(id_value, 0, v->n - 1, &id, e))
        return err_wrap(e, "%s: token \"%.40s\": id (the model's vocabulary is 0..%d)", path, text, v->n - 1);
    if (v->tokens[id] && strcmp(v->tokens[id], text) != 0)
        return err_set(e, "%s: id %d is both \"%.40s\" and \"%.40s\"", path, id, v->tokens[id], text);
    free(v->tokens[id]);
    v->tokens[id] = xstrdup(text);
    v->types[id] = type;
    return 0;
}

/* Reads model.vocab, model.merges and added_tokens; pads the model's rows
 * past the tokenizer with unused "[PAD<id>]" tokens. */
static int vocab_read(GgufVocab *v, const char *path, int model_vocab, int eot, Err *e)
{
    memset(v, 0, sizeof *v);
    char *text;
    if (read_file(path, &text, NULL, e)) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    int rc = -1;
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
        err_set(e, "%s: expected a BPE model with vocab and merges", path);
        goto out;
    }
    v->n = model_vocab;
    v->eot = eot;
    v->tokens = calloc((size_t)v->n, sizeof *v->tokens);
    v->types = calloc((size_t)v->n, sizeof *v->types);
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!cJSON_IsNumber(it)) { err_set(e, "%s: model.vocab[\"%.40s\"] is not a number", path, it->string); goto out; }
        if (set_token(v, path, it->string, it, TOKEN_NORMAL, e)) goto out;
    }
    cJSON_ArrayForEach(it, added) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!cJSON_IsString(content) || !cJSON_IsNumber(id)) {
            err_set(e, "%s: added_tokens entry without content and id", path);
            goto out;
        }
        if (set_token(v, path, content->valuestring, id, TOKEN_CONTROL, e)) goto out;
    }
    int tokenizer_n = 0;
    for (int i = 0; i < v->n; i++)
        if (v->tokens[i]) tokenizer_n = i + 1;
    for (int i = 0; i < v->n; i++) {
        if (v->tokens[i]) continue;
        if (i < tokenizer_n) { err_set(e, "%s: no token has id %d", path, i); goto out; }
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%d]", i);
        v->tokens[i] = xstrdup(pad);
        v->types[i] = TOKEN_UNUSED;
    }
    v->merges = calloc((size_t)cJSON_GetArraySize(merges) + 1, sizeof *v->merges);
    cJSON_ArrayForEach(it, merges) {
        /* "left right", or ["left", "right"] in newer tokenizer.json files */
        if (cJSON_IsString(it)) {
            v->merges[v->n_merges++] = xstrdup(it->valuestring);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(it->child) &&
                   cJSON_IsString(it->child->next)) {
            size_t n = strlen(it->child->valuestring) + strlen(it->child->next->valuestring) + 2;
            char *m = malloc(n);
            snprintf(m, n, "%s %s", it->child->valuestring, it->child->next->valuestring);
            v->merges[v->n_merges++] = m;
        } else {
            err_set(e, "%s: model.merges[%d] is neither \"a b\" nor [\"a\", \"b\"]", path, v->n_merges);
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc) vocab_free(v);
    return rc;
}

/* ---- metadata ------------------------------------------------------------- */

static void write_metadata(Meta *m, const ExportSource *s, const GgufVocab *v, ExportDtype dt)
{
    const Config *c = &s->cfg;
    char name[64];
    snprintf(name, sizeof name, "plateau-%s", s->id);
    kv_str(m, "general.architecture", "llama");
    kv_str(m, "general.name", name);
    kv_u32(m, "general.file_type", dt == EXPORT_F16 ? FTYPE_MOSTLY_F16 : dt == EXPORT_BF16 ? FTYPE_MOSTLY_BF16
                                                                                            : FTYPE_ALL_F32);
    kv_u32(m, "general.alignment", GGUF_ALIGNMENT);
    kv_u32(m, "llama.context_length", (uint32_t)c->seq_len);
    kv_u32(m, "llama.embedding_length", (uint32_t)c->dim);
    kv_u32(m, "llama.block_count", (uint32_t)c->n_layers);
    kv_u32(m, "llama.feed_forward_length", (uint32_t)c->ffn_dim);
    kv_u32(m, "llama.attention.head_count", (uint32_t)c->n_heads);
    kv_u32(m, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    kv_u32(m, "llama.attention.key_length", (uint32_t)config_head_dim(c));
    kv_u32(m, "llama.attention.value_length", (uint32_t)config_head_dim(c));
    kv_f32(m, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    kv_u32(m, "llama.rope.dimension_count", (uint32_t)config_head_dim(c));
    kv_f32(m, "llama.rope.freq_base", c->rope_theta);
    kv_u32(m, "llama.vocab_size", (uint32_t)c->vocab_size);

    kv_str(m, "tokenizer.ggml.model", "gpt2");
    kv_str(m, "tokenizer.ggml.pre", "gpt-2");
    kv_array(m, "tokenizer.ggml.tokens", GGUF_STRING, (uint64_t)v->n);
    for (int i = 0; i < v->n; i++) put_str(&m->buf, v->tokens[i]);
    kv_array(m, "tokenizer.ggml.token_type", GGUF_I32, (uint64_t)v->n);
    for (int i = 0; i < v->n; i++) put_u32(&m->buf, (uint32_t)v->types[i]);
    kv_array(m, "tokenizer.ggml.merges", GGUF_STRING, (uint64_t)v->n_merges);
    for (int i = 0; i < v->n_merges; i++) put_str(&m->buf, v->merges[i]);
    kv_u32(m, "tokenizer.ggml.bos_token_id", (uint32_t)v->eot);
    kv_u32(m, "tokenizer.ggml.eos_token_id", (uint32_t)v->eot);
    kv_u32(m, "tokenizer.ggml.padding_token_id", (uint32_t)v->eot);
    kv_bool(m, "tokenizer.ggml.add_bos_token", 1);
    kv_bool(m, "tokenizer.ggml.add_eos_token", 0);
    kv_str(m, "tokenizer.chat_template", CHAT_TEMPLATE_JINJA);
}

/* ---- tensors -------------------------------------------------------------- */

static void gguf_name(const ParamEntry *p, char *out, size_t n)
{
    static const char *const NAMES[] = {
        [P_EMBED] = "token_embd",       [P_ATTN_NORM] = "attn_norm", [P_WQ] = "attn_q",
        [P_WK] = "attn_k",              [P_WV] = "attn_v",           [P_WO] = "attn_output",
        [P_MLP_NORM] = "ffn_norm",      [P_W_GATE] = "ffn_gate",     [P_W_UP] = "ffn_up",
        [P_W_DOWN] = "ffn_down",        [P_FINAL_NORM] = "output_norm", [P_LM_HEAD] = "output",
    };
    if (p->layer >= 0) snprintf(out, n, "blk.%d.%s.weight", p->layer, NAMES[p->kind]);
    else snprintf(out, n, "%s.weight", NAMES[p->kind]);
}

static int tensor_type(const ParamEntry *p, ExportDtype dt)
{
    if (p->ndim == 1 || dt == EXPORT_F32) return GGML_F32;
    return dt == EXPORT_F16 ? GGML_F16 : GGML_BF16;
}

static uint64_t tensor_bytes(const ParamEntry *p, ExportDtype dt)
{
    return (uint64_t)p->numel * (tensor_type(p, dt) == GGML_F32 ? 4u : 2u);
}

static uint64_t align_up(uint64_t x) { return (x + GGUF_ALIGNMENT - 1) / GGUF_ALIGNMENT * GGUF_ALIGNMENT; }

/* Row r of a query/key projection in llama.cpp's order: the Hugging Face row
 * it comes from (export.h). */
static int64_t rope_source_row(int64_t r, int head_dim)
{
    int64_t h = r / head_dim, j = r % head_dim, i = j / 2, a = j % 2;
    return h * head_dim + a * (head_dim / 2) + i;
}

/* Writes one tensor's data in its GGUF type and row order. */
static int write_tensor(AtomicFile *af, const ExportSource *s, const ParamEntry *p, ExportDtype dt, Err *e)
{
    const float *w = s->params + p->offset;
    const int64_t rows = p->ndim == 1 ? 1 : p->shape[0], cols = p->ndim == 1 ? p->shape[0] : p->shape[1];
    const int permute = p->kind == P_WQ || p->kind == P_WK, type = tensor_type(p, dt);
    const int hd = config_head_dim(&s->cfg);
    void *row = xmalloc((size_t)cols * 4);
    int rc = 0;
    for (int64_t r = 0; r < rows && !rc; r++) {
        const float *src = w + (size_t)(permute ? rope_source_row(r, hd) : r) * (size_t)cols;
        if (type == GGML_F32) {
            rc = afile_write(af, src, (size_t)cols * 4, e);
            continue;
        }
        uint16_t *h = row;
        for (int64_t k = 0; k < cols; k++) h[k] = type == GGML_F16 ? f32_to_f16(src[k]) : f32_to_bf16(src[k]);
        rc = afile_write(af, h, (size_t)cols * 2, e);
    }
    free(row);
    return rc;
}

static int write_padding(AtomicFile *af, uint64_t bytes, Err *e)
{
    static const char zeros[GGUF_ALIGNMENT];
    return bytes ? afile_write(af, zeros, (size_t)bytes, e) : 0;
}

int export_gguf(const ExportSource *s, const char *out_path, ExportDtype dtype, Err *e)
{
    if (file_exists(out_path))
        return err_set(e, "%s already exists: give a new file name for the export (nothing was written)", out_path);
    Tokenizer *tk;
    if (tokenizer_load(&tk, s->tokenizer, e)) return -1;
    const int eot = tokenizer_special(tk, SPECIAL_ENDOFTEXT);
    tokenizer_free(tk);
    GgufVocab v;
    if (vocab_read(&v, s->tokenizer, s->cfg.vocab_size, eot, e)) return -1;
    Meta m = {0};
    write_metadata(&m, s, &v, dtype);
    vocab_free(&v);

    TextBuf head = {0};
    textbuf_append(&head, "GGUF", 4);
    put_u32(&head, GGUF_VERSION);
    put_u64(&head, (uint64_t)s->table.count);
    put_u64(&head, m.n_kv);
    textbuf_append(&head, m.buf.data, m.buf.len);
    textbuf_free(&m.buf);
    uint64_t offset = 0;
    for (int i = 0; i < s->table.count; i++) {
        const ParamEntry *p = &s->table.entries[i];
        char name[128];
        gguf_name(p, name, sizeof name);
        put_str(&head, name);
        put_u32(&head, (uint32_t)p->ndim);
        if (p->ndim == 1) put_u64(&head, (uint64_t)p->shape[0]);
        else {
            put_u64(&head, (uint64_t)p->shape[1]);   /* ggml: fastest-varying dimension first */
            put_u64(&head, (uint64_t)p->shape[0]);
        }
        put_u32(&head, (uint32_t)tensor_type(p, dtype));
        put_u64(&head, offset);
        offset = align_up(offset + tensor_bytes(p, dtype));
    }
    AtomicFile af;
    int rc = afile_open(&af, out_path, e) || afile_write(&af, head.data, head.len, e) ||
             write_padding(&af, align_up(head.len) - head.len, e);
    textbuf_free(&head);
    for (int i = 0; i < s->table.count && !rc; i++) {
        const ParamEntry *p = &s->table.entries[i];
        uint64_t bytes = tensor_bytes(p, dtype);
        rc = write_tensor(&af, s, p, dtype, e) || write_padding(&af, align_up(bytes) - bytes, e);
    }
    if (!rc) rc = afile_commit(&af, e);
    return rc ? -1 : 0;
}
