#define _GNU_SOURCE
#include "train/checkpoint.h"

#include <cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checksum.h"
#include "core/file.h"
#include "core/json_number.h"
#include "data/tokenizer.h"
#include "model/safetensors.h"

#define MANIFEST "checksums.json"
#define F_WEIGHTS "model.safetensors"
#define F_CONFIG "config.json"
#define F_STATE "train_state.bin"
#define F_LINEAGE "lineage.json"
#define F_TOKENIZER "tokenizer.json"

static const char STATE_MAGIC[8] = {'P', 'L', 'T', 'A', 'D', 'A', 'M', 'W'};
#define STATE_VERSION 1u

/* ---- small helpers ---------------------------------------------------- */

static void hex64(char *out, uint64_t x) { snprintf(out, CKPT_ID_CHARS + 1, "%016" PRIx64, x); }

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static void remove_tree(const char *path)
{
    if (file_exists(path)) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void parent_of(char *out, size_t n, const char *path)
{
    snprintf(out, n, "%s", path);
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/') out[--len] = 0;
    char *slash = strrchr(out, '/');
    if (!slash) snprintf(out, n, ".");
    else if (slash == out) out[1] = 0;
    else *slash = 0;
}

/* Streams a file through the checksum; *bytes gets its size. */
static int checksum_file(const char *path, uint64_t *sum, uint64_t *bytes, Err *e)
{
    FILE *fp = file_open_read(path, e);
    if (!fp) return -1;
    Checksum c;
    checksum_init(&c);
    static char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0) checksum_update(&c, buf, n);
    int bad = ferror(fp);
    fclose(fp);
    if (bad) return err_set(e, "%s: read error", path);
    *sum = checksum_final(&c);
    *bytes = c.total_bytes;
    return 0;
}

/* ---- config.json ------------------------------------------------------ */

static int write_config(const char *path, const Config *c, Err *e)
{
    /* the shortest decimals that read back to the same floats (1e-05, not
     * 9.99999975e-06) */
    char theta[32], eps[32];
    AtomicFile af;
    if (afile_open(&af, path, e)) return -1;
    if (afile_printf(&af, e,
                     "{\n"
                     "  \"architectures\": [\"LlamaForCausalLM\"],\n"
                     "  \"model_type\": \"llama\",\n"
                     "  \"hidden_size\": %d,\n"
                     "  \"intermediate_size\": %d,\n"
                     "  \"num_hidden_layers\": %d,\n"
                     "  \"num_attention_heads\": %d,\n"
                     "  \"num_key_value_heads\": %d,\n"
                     "  \"head_dim\": %d,\n"
                     "  \"vocab_size\": %d,\n"
                     "  \"max_position_embeddings\": %d,\n"
                     "  \"rope_theta\": %s,\n"
                     "  \"rope_scaling\": null,\n"
                     "  \"rms_norm_eps\": %s,\n"
                     "  \"tie_word_embeddings\": %s,\n"
                     "  \"hidden_act\": \"silu\",\n"
                     "  \"initializer_range\": 0.02,\n"
                     "  \"attention_bias\": false,\n"
                     "  \"attention_dropout\": 0.0,\n"
                     "  \"mlp_bias\": false,\n"
                     "  \"pretraining_tp\": 1,\n"
                     "  \"use_cache\": true,\n"
                     "  \"torch_dtype\": \"float32\",\n"
                     "  \"plateau\": {\"format_version\": 1, \"seq_len\": %d}\n"
                     "}\n",
                     c->dim, c->ffn_dim, c->n_layers, c->n_heads, c->n_kv_heads, config_head_dim(c),
                     c->vocab_size, c->seq_len, json_float_text(c->rope_theta, theta, sizeof theta),
                     json_float_text(c->norm_eps, eps, sizeof eps),
                     c->tied ? "true" : "false", c->seq_len))
        return -1;
    return afile_commit(&af, e);
}

/* Limits on what a config.json may ask for: far above any preset (llama-8b
 * has 4096 x 14336 x 32 layers, vocabulary 128256), low enough that sizes and
 * their products stay exact in size_t and double. */
#define CFG_MAX_DIM (1 << 16)
#define CFG_MAX_FFN (1 << 18)
#define CFG_MAX_LAYERS 1024
#define CFG_MAX_HEADS 1024
#define CFG_MAX_VOCAB (1 << 24)
#define CFG_MAX_CONTEXT (1 << 20)

static int json_int_field(const cJSON *root, const char *path, const char *name, int lo, int hi, int *out, Err *e)
{
    if (json_int(cJSON_GetObjectItemCaseSensitive(root, name), lo, hi, out, e))
        return err_wrap(e, "%s: field %s", path, name);
    return 0;
}

static int json_float_field(const cJSON *root, const char *path, const char *name, double lo, double hi, float *out,
                            Err *e)
{
    double d;
    if (json_real(cJSON_GetObjectItemCaseSensitive(root, name), lo, hi, &d, e))
        return err_wrap(e, "%s: field %s", path, name);
    *out = (float)d;
    return 0;
}

static int parse_config(const char *path, Config *c, Err *e)
{
    char *text;
    if (read_file(path, &text, NULL, e)) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set(e, "%s: not a JSON object", path);
    }
    memset(c, 0, sizeof *c);
    int rc = -1, head_dim = 0, max_pos = 0;
    if (json_int_field(root, path, "hidden_size", 1, CFG_MAX_DIM, &c->dim, e) ||
        json_int_field(root, path, "intermediate_size", 1, CFG_MAX_FFN, &c->ffn_dim, e) ||
        json_int_field(root, path, "num_hidden_layers", 1, CFG_MAX_LAYERS, &c->n_layers, e) ||
        json_int_field(root, path, "num_attention_heads", 1, CFG_MAX_HEADS, &c->n_heads, e) ||
        json_int_field(root, path, "num_key_value_heads", 1, CFG_MAX_HEADS, &c->n_kv_heads, e) ||
        json_int_field(root, path, "vocab_size", 1, CFG_MAX_VOCAB, &c->vocab_size, e) ||
        json_int_field(root, path, "max_position_embeddings", 1, CFG_MAX_CONTEXT, &max_pos, e) ||
        json_float_field(root, path, "rope_theta", 1e-30, 1e30, &c->rope_theta, e) ||
        json_float_field(root, path, "rms_norm_eps", 1e-30, 1.0, &c->norm_eps, e))
        goto out;
    const cJSON *tied = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (!cJSON_IsBool(tied)) { err_set(e, "%s: field tie_word_embeddings is missing or not a boolean", path); goto out; }
    c->tied = cJSON_IsTrue(tied);
    c->seq_len = max_pos;
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(root, "plateau");
    if (cJSON_IsObject(pl) && json_int(cJSON_GetObjectItemCaseSensitive(pl, "seq_len"), 1, CFG_MAX_CONTEXT, &c->seq_len, e)) {
        err_wrap(e, "%s: field plateau.seq_len", path);
        goto out;
    }
    if (config_validate(c, e)) { err_wrap(e, "%s", path); goto out; }
    if (cJSON_GetObjectItemCaseSensitive(root, "head_dim")) {
        if (json_int_field(root, path, "head_dim", 1, CFG_MAX_DIM, &head_dim, e)) goto out;
        if (head_dim != config_head_dim(c)) {
            err_set(e, "%s: field head_dim is %d, expected %d (hidden_size / num_attention_heads)", path,
                    head_dim, config_head_dim(c));
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* One message for the first field where got differs from want. */
static int compare_config(const char *path, const Config *got, const Config *want, Err *e)
{
#define CHECK_INT(field, name)                                                                     \
    if (got->field != want->field)                                                                 \
        return err_set(e, "%s: field " name " is %d, expected %d", path, got->field, want->field);
    CHECK_INT(dim, "hidden_size")
    CHECK_INT(ffn_dim, "intermediate_size")
    CHECK_INT(n_layers, "num_hidden_layers")
    CHECK_INT(n_heads, "num_attention_heads")
    CHECK_INT(n_kv_heads, "num_key_value_heads")
    CHECK_INT(vocab_size, "vocab_size")
    CHECK_INT(seq_len, "plateau.seq_len")
#undef CHECK_INT
    if (got->tied != want->tied)
        return err_set(e, "%s: field tie_word_embeddings is %s, expected %s", path, got->tied ? "true" : "false",
                       want->tied ? "true" : "false");
    if (got->rope_theta != want->rope_theta)
        return err_set(e, "%s: field rope_theta is %g, expected %g", path, (double)got->rope_theta,
                       (double)want->rope_theta);
    if (got->norm_eps != want->norm_eps)
        return err_set(e, "%s: field rms_norm_eps is %g, expected %g", path, (double)got->norm_eps,
                       (double)want->norm_eps);
    return 0;
}

/* ---- train_state.bin: AdamW ------------------------------------------- */

typedef struct {
    char     magic[8];
    uint32_t version;
    uint32_t reserved;
    uint64_t n;
    float    beta1, beta2, eps, weight_decay, clip, pad;
    int64_t  t;
} StateHeader;

static int write_state(const char *path, const AdamW *o, Err *e)
{
    StateHeader h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, STATE_MAGIC, 8);
    h.version = STATE_VERSION;
    h.n = o->n;
    h.beta1 = o->cfg.beta1;
    h.beta2 = o->cfg.beta2;
    h.eps = o->cfg.eps;
    h.weight_decay = o->cfg.weight_decay;
    h.clip = o->cfg.clip;
    h.t = o->t;
    AtomicFile af;
    if (afile_open(&af, path, e)) return -1;
    if (afile_write(&af, &h, sizeof h, e) || afile_write(&af, o->m, o->n * sizeof(float), e) ||
        afile_write(&af, o->v, o->n * sizeof(float), e))
        return -1;
    return afile_commit(&af, e);
}

static int read_state(const char *path, AdamW *o, Err *e)
{
    FILE *fp = file_open_read(path, e);
    if (!fp) return -1;
    StateHeader h;
    int rc = -1;
    struct stat st;
    fstat(fileno(fp), &st);
    if (fread(&h, sizeof h, 1, fp) != 1) {
        err_set(e, "%s: truncated: %lld bytes is too short for the header", path, (long long)st.st_size);
        goto out;
    }
    if (memcmp(h.magic, STATE_MAGIC, 8) != 0) { err_set(e, "%s: not a plateau optimizer state (bad magic)", path); goto out; }
    if (h.version != STATE_VERSION) { err_set(e, "%s: version %u, expected %u", path, h.version, STATE_VERSION); goto out; }
    if (h.n != o->n) {
        err_set(e, "%s: holds moments for %" PRIu64 " parameters, expected %zu", path, h.n, o->n);
        goto out;
    }
    uint64_t want = sizeof h + 2 * h.n * sizeof(float);
    if ((uint64_t)st.st_size != want) {
        err_set(e, "%s: %s: %lld bytes, expected %" PRIu64, path,
                (uint64_t)st.st_size < want ? "truncated" : "trailing data", (long long)st.st_size, want);
        goto out;
    }
    /* Every number is checked before it reaches the optimizer: a NaN beta
     * or a negative second moment would poison every later step. */
    const struct { const char *name; double v, lo, hi; } F[5] = {
        {"beta1", h.beta1, 0, 0.999999}, {"beta2", h.beta2, 0, 0.999999}, {"eps", h.eps, 1e-30, 1},
        {"weight_decay", h.weight_decay, 0, 1e6}, {"clip", h.clip, 0, 1e30}};
    for (int i = 0; i < 5; i++)
        if (!(F[i].v >= F[i].lo && F[i].v <= F[i].hi)) {
            err_set(e, "%s: header field %s is %g, outside [%g, %g]", path, F[i].name, F[i].v, F[i].lo, F[i].hi);
            goto out;
        }
    if (h.t < 0 || h.t > JSON_INTEGER_MAX) {
        err_set(e, "%s: header field t (steps taken) is %" PRId64 ", outside [0, 2^53]", path, h.t);
        goto out;
    }
    if (fread(o->m, sizeof(float), o->n, fp) != o->n || fread(o->v, sizeof(float), o->n, fp) != o->n) {
        err_set(e, "%s: short read", path);
        goto out;
    }
    for (size_t i = 0; i < o->n; i++)
        if (!isfinite(o->m[i]) || !(o->v[i] >= 0 && isfinite(o->v[i]))) {
            err_set(e, "%s: moment %zu is m = %g, v = %g; expected finite m and finite v >= 0", path, i,
                    (double)o->m[i], (double)o->v[i]);
            goto out;
        }
    o->cfg.beta1 = h.beta1;
    o->cfg.beta2 = h.beta2;
    o->cfg.eps = h.eps;
    o->cfg.weight_decay = h.weight_decay;
    o->cfg.clip = h.clip;
    o->t = h.t;
    rc = 0;
out:
    fclose(fp);
    return rc;
}

/* ---- lineage.json ----------------------------------------------------- */

static int write_lineage(const char *path, const Lineage *l, Err *e)
{
    cJSON *root = cJSON_CreateObject();
    char buf[64];
    cJSON_AddNumberToObject(root, "format_version", 1);
    cJSON_AddStringToObject(root, "parent", l->parent_id);
    cJSON_AddStringToObject(root, "stage", l->stage);
    cJSON_AddStringToObject(root, "schedule", l->schedule);
    cJSON_AddStringToObject(root, "data", l->data);
    cJSON_AddNumberToObject(root, "step", (double)l->step);
    cJSON_AddNumberToObject(root, "tokens", (double)l->tokens);
    cJSON_AddNumberToObject(root, "stage_start_step", (double)l->stage_start_step);
    cJSON_AddNumberToObject(root, "stage_end_step", (double)l->stage_end_step);
    cJSON_AddNumberToObject(root, "batch_tokens", (double)l->batch_tokens);
    cJSON_AddNumberToObject(root, "seq_len", l->seq_len);
    cJSON_AddNumberToObject(root, "micro_batch", l->micro_batch);
    cJSON_AddStringToObject(root, "precision", l->precision[0] ? l->precision : "fp32");
    cJSON_AddNumberToObject(root, "ranks", l->ranks > 1 ? l->ranks : 1);
    /* 64-bit values as decimal strings: JSON numbers are doubles. */
    snprintf(buf, sizeof buf, "%" PRIu64, l->seed);
    cJSON_AddStringToObject(root, "seed", buf);
    const LoaderCursor *c = &l->cursor;
    cJSON *cur = cJSON_AddObjectToObject(root, "data_cursor");
    snprintf(buf, sizeof buf, "%" PRIu64, c->seed);
    cJSON_AddStringToObject(cur, "seed", buf);
    snprintf(buf, sizeof buf, "%016" PRIx64, c->data_hash);
    cJSON_AddStringToObject(cur, "data_hash", buf);
    cJSON_AddNumberToObject(cur, "n_windows", (double)c->n_windows);
    cJSON_AddNumberToObject(cur, "step", (double)c->step);
    cJSON_AddNumberToObject(cur, "windows_consumed", (double)c->windows_consumed);
    cJSON_AddNumberToObject(cur, "epoch", (double)c->epoch);
    cJSON_AddNumberToObject(cur, "seq_len", c->seq_len);
    cJSON_AddNumberToObject(cur, "batch_size", c->batch_size);
    cJSON_AddNumberToObject(cur, "n_micro", c->n_micro);
    cJSON_AddNumberToObject(cur, "layout", c->layout);
    if (l->n_merged > 0) {
        cJSON *arr = cJSON_AddArrayToObject(root, "merged");
        for (int i = 0; i < l->n_merged; i++) {
            cJSON *in = cJSON_CreateObject();
            cJSON_AddStringToObject(in, "id", l->merged[i].id);
            cJSON_AddNumberToObject(in, "step", (double)l->merged[i].step);
            cJSON_AddNumberToObject(in, "weight", l->merged[i].weight);
            cJSON_AddItemToArray(arr, in);
        }
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    size_t len = strlen(text);
    int rc = write_file_atomic(path, text, len, e);
    free(text);
    return rc;
}

static int lineage_i64(const cJSON *obj, const char *path, const char *name, int64_t lo, int64_t hi, int64_t *out,
                       Err *e)
{
    if (json_integer(cJSON_GetObjectItemCaseSensitive(obj, name), lo, hi, out, e))
        return err_wrap(e, "%s: field %s", path, name);
    return 0;
}

static int lineage_u64_str(const cJSON *j, const char *path, const char *name, uint64_t *out, Err *e)
{
    if (!cJSON_IsString(j)) return err_set(e, "%s: field %s is missing or not a decimal string", path, name);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(j->valuestring, &end, 10);
    if (errno || !isdigit((unsigned char)j->valuestring[0]) || *end)
        return err_set(e, "%s: field %s: '%s' is not a 64-bit unsigned integer", path, name, j->valuestring);
    *out = v;
    return 0;
}

static int lineage_str(const cJSON *root, const char *path, const char *name, char *out, size_t n, Err *e)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!cJSON_IsString(j)) return err_set(e, "%s: field %s is missing or not a string", path, name);
    if (strlen(j->valuestring) >= n) return err_set(e, "%s: field %s is longer than %zu characters", path, name, n - 1);
    snprintf(out, n, "%s", j->valuestring);
    return 0;
}

/* The optional "merged" array: every input of a merge, oldest first. */
static int read_merged(const cJSON *root, const char *path, Lineage *l, Err *e)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "merged");
    l->n_merged = 0;
    if (!arr) return 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 || cJSON_GetArraySize(arr) > LINEAGE_MAX_MERGED)
        return err_set(e, "%s: field merged is not an array of 1 to %d inputs", path, LINEAGE_MAX_MERGED);
    const cJSON *in;
    cJSON_ArrayForEach(in, arr) {
        MergedInput *m = &l->merged[l->n_merged];
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "id");
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(in, "step");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(in, "weight");
        if (!cJSON_IsString(id) || strlen(id->valuestring) != CKPT_ID_CHARS || !cJSON_IsNumber(step) ||
            !cJSON_IsNumber(w))
            return err_set(e, "%s: field merged[%d] needs id (%d hex digits), step (integer) and weight (number)",
                           path, l->n_merged, CKPT_ID_CHARS);
        /* merge weights are non-negative and sum to 1 (train/merge.h) */
        if (json_integer(step, 0, JSON_INTEGER_MAX, &m->step, e))
            return err_wrap(e, "%s: field merged[%d].step", path, l->n_merged);
        if (json_real(w, 0, 1, &m->weight, e))
            return err_wrap(e, "%s: field merged[%d].weight", path, l->n_merged);
        snprintf(m->id, sizeof m->id, "%s", id->valuestring);
        l->n_merged++;
    }
    return 0;
}

static int read_lineage(const char *path, Lineage *l, Err *e)
{
    char *text;
    if (read_file(path, &text, NULL, e)) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    int rc = -1;
    memset(l, 0, sizeof *l);
    if (!cJSON_IsObject(root)) { err_set(e, "%s: not a JSON object", path); goto out; }
    int64_t seq_len = 0, micro = 0;
    const int64_t N = JSON_INTEGER_MAX;
    if (lineage_str(root, path, "parent", l->parent_id, sizeof l->parent_id, e) ||
        lineage_str(root, path, "stage", l->stage, sizeof l->stage, e) ||
        lineage_str(root, path, "schedule", l->schedule, sizeof l->schedule, e) ||
        lineage_str(root, path, "data", l->data, sizeof l->data, e) ||
        lineage_i64(root, path, "step", 0, N, &l->step, e) || lineage_i64(root, path, "tokens", 0, N, &l->tokens, e) ||
        lineage_i64(root, path, "stage_start_step", 0, N, &l->stage_start_step, e) ||
        lineage_i64(root, path, "stage_end_step", 0, N, &l->stage_end_step, e) ||
        lineage_i64(root, path, "batch_tokens", 0, N, &l->batch_tokens, e) ||
        lineage_i64(root, path, "seq_len", 0, CFG_MAX_CONTEXT, &seq_len, e) ||
        lineage_i64(root, path, "micro_batch", 0, INT32_MAX, &micro, e) ||
        lineage_u64_str(cJSON_GetObjectItemCaseSensitive(root, "seed"), path, "seed", &l->seed, e))
        goto out;
    l->seq_len = (int)seq_len;
    l->micro_batch = (int)micro;
    const cJSON *prec = cJSON_GetObjectItemCaseSensitive(root, "precision");
    if (!prec) {
        strcpy(l->precision, "fp32");   /* written before plateau trained in bf16 */
    } else if (!cJSON_IsString(prec) || (strcmp(prec->valuestring, "fp32") && strcmp(prec->valuestring, "bf16"))) {
        err_set(e, "%s: field precision must be \"fp32\" or \"bf16\"", path);
        goto out;
    } else {
        strcpy(l->precision, prec->valuestring);
    }
    /* ranks came with data parallelism; older checkpoints were one process */
    int64_t ranks = 1;
    if (cJSON_GetObjectItemCaseSensitive(root, "ranks") && lineage_i64(root, path, "ranks", 1, 1 << 20, &ranks, e))
        goto out;
    l->ranks = (int)ranks;
    if (!(l->stage_start_step <= l->step && l->step <= l->stage_end_step)) {
        err_set(e, "%s: field step %" PRId64 " is outside its stage [stage_start_step %" PRId64 ", stage_end_step %" PRId64 "]",
                path, l->step, l->stage_start_step, l->stage_end_step);
        goto out;
    }
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(root, "data_cursor");
    if (!cJSON_IsObject(cur)) {
        err_set(e, "%s: field data_cursor is missing or not an object", path);
        goto out;
    }
    LoaderCursor *c = &l->cursor;
    int64_t v[8];
    static const struct { const char *name; int64_t hi; } INTS[8] = {
        {"n_windows", UINT32_MAX}, {"step", JSON_INTEGER_MAX},       {"windows_consumed", JSON_INTEGER_MAX},
        {"epoch", JSON_INTEGER_MAX}, {"seq_len", CFG_MAX_CONTEXT},  {"batch_size", INT32_MAX},
        {"n_micro", INT32_MAX},      {"layout", LOADER_ROWS}};
    for (int i = 0; i < 8; i++)
        if (json_integer(cJSON_GetObjectItemCaseSensitive(cur, INTS[i].name), 0, INTS[i].hi, &v[i], e)) {
            err_wrap(e, "%s: field data_cursor.%s", path, INTS[i].name);
            goto out;
        }
    /* The data clock starts at the stage's first step (trainer.c). */
    if (v[1] != l->step - l->stage_start_step) {
        err_set(e, "%s: field data_cursor.step %" PRId64 " does not match step %" PRId64 " - stage_start_step %" PRId64,
                path, v[1], l->step, l->stage_start_step);
        goto out;
    }
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(cur, "data_hash");
    char *end = NULL;
    if (lineage_u64_str(cJSON_GetObjectItemCaseSensitive(cur, "seed"), path, "data_cursor.seed", &c->seed, e))
        goto out;
    if (!cJSON_IsString(hash) || !isxdigit((unsigned char)hash->valuestring[0]) ||
        (c->data_hash = strtoull(hash->valuestring, &end, 16), *end) || strlen(hash->valuestring) > 16) {
        err_set(e, "%s: field data_cursor.data_hash is missing or not hexadecimal", path);
        goto out;
    }
    c->n_windows = v[0];
    c->step = v[1];
    c->windows_consumed = v[2];
    c->epoch = v[3];
    c->seq_len = (int32_t)v[4];
    c->batch_size = (int32_t)v[5];
    c->n_micro = (int32_t)v[6];
    c->layout = (int32_t)v[7];
    if (read_merged(root, path, l, e)) goto out;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- checksums.json: the manifest and the id -------------------------- */

static const char *const SEALED_FILES[] = {F_WEIGHTS, F_CONFIG, F_STATE, F_LINEAGE, F_TOKENIZER, NULL};

/* The id hashes each listed file's name, size and checksum, in order. */
static uint64_t manifest_id(const char *const *names, const uint64_t *bytes, const uint64_t *sums, int n)
{
    Checksum c;
    checksum_init(&c);
    for (int i = 0; i < n; i++) {
        checksum_update(&c, names[i], strlen(names[i]) + 1);
        checksum_update(&c, &bytes[i], sizeof bytes[i]);
        checksum_update(&c, &sums[i], sizeof sums[i]);
    }
    return checksum_final(&c);
}

int checkpoint_seal(const char *dir, char *id_out, Err *e)
{
    const char *names[8];
    uint64_t bytes[8], sums[8];
    int n = 0;
    char path[4096];
    for (int i = 0; SEALED_FILES[i]; i++) {
        path_join(path, sizeof path, dir, SEALED_FILES[i]);
        if (!file_exists(path)) continue;
        if (checksum_file(path, &sums[n], &bytes[n], e)) return -1;
        names[n++] = SEALED_FILES[i];
    }
    char id[CKPT_ID_CHARS + 1], hex[CKPT_ID_CHARS + 1];
    hex64(id, manifest_id(names, bytes, sums, n));
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "plateau-checkpoint");
    cJSON_AddNumberToObject(root, "format_version", 1);
    cJSON_AddStringToObject(root, "id", id);
    cJSON *files = cJSON_AddArrayToObject(root, "files");
    for (int i = 0; i < n; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", names[i]);
        cJSON_AddNumberToObject(f, "bytes", (double)bytes[i]);
        hex64(hex, sums[i]);
        cJSON_AddStringToObject(f, "checksum", hex);
        cJSON_AddItemToArray(files, f);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    path_join(path, sizeof path, dir, MANIFEST);
    int rc = write_file_atomic(path, text, strlen(text), e);
    free(text);
    if (rc == 0 && id_out) memcpy(id_out, id, CKPT_ID_CHARS + 1);
    return rc;
}

/* Verifies the manifest and every file in it; returns the id. */
static int verify(const char *dir, char *id_out, int *has_state, Err *e)
{
    char path[4096], mpath[4096];
    path_join(mpath, sizeof mpath, dir, MANIFEST);
    if (!file_exists(dir)) return err_set(e, "%s: no such checkpoint directory", dir);
    if (!file_exists(mpath))
        return err_set(e, "%s: missing (not a plateau checkpoint, or an incomplete one)", mpath);
    char *text;
    if (read_file(mpath, &text, NULL, e)) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    int rc = -1;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    if (!cJSON_IsObject(root) || !cJSON_IsString(id) || !cJSON_IsArray(files) ||
        cJSON_GetArraySize(files) > 8) {
        err_set(e, "%s: corrupted (expected an object with id and files)", mpath);
        goto out;
    }
    const char *names[8];
    uint64_t bytes[8], sums[8];
    int n = 0, have_weights = 0, have_config = 0, have_lineage = 0;
    *has_state = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(f, "name");
        const cJSON *by = cJSON_GetObjectItemCaseSensitive(f, "bytes");
        const cJSON *cs = cJSON_GetObjectItemCaseSensitive(f, "checksum");
        char *end = NULL;
        if (!cJSON_IsString(nm) || !cJSON_IsString(cs) || strlen(cs->valuestring) != 16 ||
            !isxdigit((unsigned char)cs->valuestring[0]) || (sums[n] = strtoull(cs->valuestring, &end, 16), *end)) {
            err_set(e, "%s: corrupted entry %d (expected name, bytes, checksum)", mpath, n);
            goto out;
        }
        int64_t size;
        if (json_integer(by, 0, JSON_INTEGER_MAX, &size, e)) {
            err_wrap(e, "%s: corrupted entry %d: field bytes", mpath, n);
            goto out;
        }
        int known = 0;
        for (int i = 0; SEALED_FILES[i]; i++)
            if (strcmp(SEALED_FILES[i], nm->valuestring) == 0) { names[n] = SEALED_FILES[i]; known = 1; }
        if (!known) { err_set(e, "%s: unknown file %s", mpath, nm->valuestring); goto out; }
        bytes[n] = (uint64_t)size;
        have_weights |= strcmp(names[n], F_WEIGHTS) == 0;
        have_config |= strcmp(names[n], F_CONFIG) == 0;
        have_lineage |= strcmp(names[n], F_LINEAGE) == 0;
        *has_state |= strcmp(names[n], F_STATE) == 0;
        n++;
    }
    char want_id[CKPT_ID_CHARS + 1];
    hex64(want_id, manifest_id(names, bytes, sums, n));
    if (strcmp(want_id, id->valuestring) != 0) {
        err_set(e, "%s: corrupted: id %s does not match its entries (%s)", mpath, id->valuestring, want_id);
        goto out;
    }
    if (!have_weights || !have_config || !have_lineage) {
        err_set(e, "%s: lists no %s", mpath, !have_weights ? F_WEIGHTS : !have_config ? F_CONFIG : F_LINEAGE);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        path_join(path, sizeof path, dir, names[i]);
        if (!file_exists(path)) { err_set(e, "%s: missing (listed in %s)", path, MANIFEST); goto out; }
        uint64_t s, b;
        if (checksum_file(path, &s, &b, e)) goto out;
        if (b != bytes[i]) {
            err_set(e, "%s: %s: %" PRIu64 " bytes, expected %" PRIu64, path, b < bytes[i] ? "truncated" : "wrong size",
                    b, bytes[i]);
            goto out;
        }
        if (s != sums[i]) {
            err_set(e, "%s: corrupted: checksum %016" PRIx64 ", expected %016" PRIx64, path, s, sums[i]);
            goto out;
        }
    }
    if (id_out) snprintf(id_out, CKPT_ID_CHARS + 1, "%s", want_id);
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int checkpoint_verify(const char *dir, Err *e)
{
    int has_state;
    return verify(dir, NULL, &has_state, e);
}

int checkpoint_id(const char *dir, char *id_out, Err *e)
{
    int has_state;
    return verify(dir, id_out, &has_state, e);
}

int checkpoint_same_tokenizer(const char *a, const char *b, int *same, Err *e)
{
    char pa[4096], pb[4096];
    path_join(pa, sizeof pa, a, "tokenizer.json");
    path_join(pb, sizeof pb, b, "tokenizer.json");
    int ha = file_exists(pa), hb = file_exists(pb);
    *same = ha == hb;
    if (!ha || !hb) return 0;
    char *ta, *tb;
    size_t na, nb;
    if (read_file(pa, &ta, &na, e)) return -1;
    if (read_file(pb, &tb, &nb, e)) {
        free(ta);
        return -1;
    }
    *same = na == nb && memcmp(ta, tb, na) == 0;
    free(ta);
    free(tb);
    return 0;
}

const char *lineage_unrelated(const Lineage *a, const Lineage *b)
{
    if (strcmp(a->id, b->id) == 0 || strcmp(b->parent_id, a->id) == 0 || strcmp(a->parent_id, b->id) == 0)
        return NULL;
    /* one run: what `train --resume` requires to continue it */
    return strcmp(a->parent_id, b->parent_id) ? "their parents differ"
           : strcmp(a->stage, b->stage)       ? "their stages differ"
           : a->seed != b->seed               ? "their seeds differ"
           : strcmp(a->schedule, b->schedule) ? "their schedules differ"
           : strcmp(a->data, b->data)         ? "their data differ"
                                              : NULL;
}

/* ---- save and load ---------------------------------------------------- */

int checkpoint_tokenizer_check(const char *path, const Config *c, Err *e)
{
    Tokenizer *tk;
    if (tokenizer_load(&tk, path, e)) return err_wrap(e, "the checkpoint's tokenizer");
    int n = tokenizer_vocab_size(tk);
    tokenizer_free(tk);
    if (n > c->vocab_size)
        return err_set(e, "%s has %d tokens but the model's vocabulary is %d", path, n, c->vocab_size);
    return 0;
}

/* Copies the tokenizer src into the checkpoint being written at dst after
 * checking that it loads and that its ids fit the model's vocabulary. */
static int copy_tokenizer(const char *src, const char *dst, const Config *c, Err *e)
{
    if (checkpoint_tokenizer_check(src, c, e)) return -1;
    char *text;
    size_t bytes;
    if (read_file(src, &text, &bytes, e)) return -1;
    int rc = write_file_atomic(dst, text, bytes, e);
    free(text);
    return rc;
}

/* Moves the complete directory tmp to dir, keeping the old dir until then. */
static int swap_into_place(const char *tmp, const char *dir, Err *e)
{
    if (!file_exists(dir)) {
        if (rename(tmp, dir) != 0) return err_set(e, "%s: cannot rename into place: %s", dir, strerror(errno));
        return 0;
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0) {
        remove_tree(tmp);   /* now the old checkpoint */
        return 0;
    }
    /* No atomic exchange on this filesystem: move the old one aside first.
     * A crash between the renames leaves both complete directories. */
    char old[4200];
    snprintf(old, sizeof old, "%s.old.%d", dir, (int)getpid());
    remove_tree(old);
    if (rename(dir, old) != 0) return err_set(e, "%s: cannot move aside: %s", dir, strerror(errno));
    if (rename(tmp, dir) != 0) {
        int saved = errno;
        rename(old, dir);
        return err_set(e, "%s: cannot rename into place: %s", dir, strerror(saved));
    }
    remove_tree(old);
    return 0;
}

int checkpoint_save(const char *dir, const Config *c, const float *params, const AdamW *opt, Lineage *lin, Err *e)
{
    ParamTable t;
    param_table_build(&t, c);
    if (opt && opt->n != t.total) {
        size_t total = t.total;
        param_table_free(&t);
        return err_set(e, "%s: optimizer holds %zu parameters, the model %zu", dir, opt->n, total);
    }
    char tmp[4200], path[4400], parent[4096];
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    snprintf(tmp, sizeof tmp, "%.*s.tmp.%d", (int)len, dir, (int)getpid());
    parent_of(parent, sizeof parent, dir);
    int rc = -1;
    remove_tree(tmp);
    if (make_dirs(parent, e)) goto out;
    if (mkdir(tmp, 0777) != 0) { err_set(e, "%s: cannot create: %s", dir, strerror(errno)); goto out; }
    lin->seq_len = lin->seq_len ? lin->seq_len : c->seq_len;
    path_join(path, sizeof path, tmp, F_WEIGHTS);
    if (safetensors_write(path, &t, params, e)) goto fail;
    path_join(path, sizeof path, tmp, F_CONFIG);
    if (write_config(path, c, e)) goto fail;
    if (opt) {
        path_join(path, sizeof path, tmp, F_STATE);
        if (write_state(path, opt, e)) goto fail;
    }
    path_join(path, sizeof path, tmp, F_LINEAGE);
    if (write_lineage(path, lin, e)) goto fail;
    if (lin->tokenizer[0]) {
        path_join(path, sizeof path, tmp, F_TOKENIZER);
        if (copy_tokenizer(lin->tokenizer, path, c, e)) goto fail;
    }
    if (checkpoint_seal(tmp, lin->id, e)) goto fail;
    fsync_path(tmp);
    if (swap_into_place(tmp, dir, e)) goto fail;
    fsync_path(parent);
    rc = 0;
    goto out;
fail:
    remove_tree(tmp);
    err_replace(e, tmp, dir);   /* name the checkpoint the user asked for */
out:
    param_table_free(&t);
    return rc;
}

int checkpoint_read_config(const char *dir, Config *c, Err *e)
{
    int has_state;
    if (verify(dir, NULL, &has_state, e)) return -1;
    char path[4096];
    path_join(path, sizeof path, dir, F_CONFIG);
    return parse_config(path, c, e);
}

int checkpoint_load(const char *dir, const Config *c, float *params, AdamW *opt, int *has_opt, Lineage *lin,
                    Err *e)
{
    char id[CKPT_ID_CHARS + 1], path[4096];
    int has_state;
    if (has_opt) *has_opt = 0;
    if (verify(dir, id, &has_state, e)) return -1;
    Config got;
    path_join(path, sizeof path, dir, F_CONFIG);
    if (parse_config(path, &got, e) || compare_config(path, &got, c, e)) return -1;
    ParamTable t;
    param_table_build(&t, c);
    path_join(path, sizeof path, dir, F_WEIGHTS);
    int rc = safetensors_read(path, &t, params, e);
    param_table_free(&t);
    if (rc) return -1;
    if (opt && has_state) {
        path_join(path, sizeof path, dir, F_STATE);
        if (read_state(path, opt, e)) return -1;
        if (has_opt) *has_opt = 1;
    }
    if (lin) {
        path_join(path, sizeof path, dir, F_LINEAGE);
        if (read_lineage(path, lin, e)) return -1;
        memcpy(lin->id, id, sizeof id);
        path_join(path, sizeof path, dir, F_TOKENIZER);
        lin->tokenizer[0] = 0;
        if (file_exists(path)) snprintf(lin->tokenizer, sizeof lin->tokenizer, "%s", path);
    }
    return 0;
}

/* ---- runs of periodic checkpoints ------------------------------------- */

void checkpoint_step_path(char *out, size_t out_size, const char *run_dir, int64_t step)
{
    char name[64];
    snprintf(name, sizeof name, "step-%08" PRId64, step);
    path_join(out, out_size, run_dir, name);
}

/* Parses "step-NNNNNNNN" exactly (temporaries like "step-00000010.tmp.123" do not match). */
static int parse_step_name(const char *name, int64_t *step)
{
    if (strncmp(name, "step-", 5) != 0) return -1;
    const char *p = name + 5;
    if (!*p) return -1;
    int64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > INT64_MAX / 10) return -1;
        v = v * 10 + (*p - '0');
    }
    *step = v;
    return 0;
}

int checkpoint_latest(const char *run_dir, char *out, size_t out_size, int64_t *step, Err *e)
{
    DIR *d = opendir(run_dir);
    if (!d) {
        if (errno == ENOENT) return 1;
        return err_set(e, "%s: cannot open: %s", run_dir, strerror(errno));
    }
    int64_t steps[4096];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int64_t s;
        if (parse_step_name(de->d_name, &s) == 0 && n < 4096) steps[n++] = s;
    }
    closedir(d);
    /* Highest step first; skip any that fail to verify (never expected, as
     * saves are atomic, but a damaged disk should fall back, not stop). */
    for (;;) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (steps[i] >= 0 && (best < 0 || steps[i] > steps[best])) best = i;
        if (best < 0) return 1;
        checkpoint_step_path(out, out_size, run_dir, steps[best]);
        Err ignored;
        if (checkpoint_verify(out, &ignored) == 0) {
            *step = steps[best];
            return 0;
        }
        fprintf(stderr, "plateau: skipping %s\n", ignored.msg);
        steps[best] = -1;
    }
}

void checkpoint_clean_temporaries(const char *run_dir)
{
    DIR *d = opendir(run_dir);
    if (!d) return;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "step-", 5) != 0 || !strstr(de->d_name, ".tmp.")) continue;
        path_join(path, sizeof path, run_dir, de->d_name);
        remove_tree(path);
    }
    closedir(d);
}

int checkpoint_resolve(const char *dir, char *out, size_t out_size, Err *e)
{
    char m[4096];
    path_join(m, sizeof m, dir, MANIFEST);
    if (file_exists(m)) {
        snprintf(out, out_size, "%s", dir);
        return 0;
    }
    int64_t step;
    int rc = checkpoint_latest(dir, out, out_size, &step, e);
    if (rc < 0) return -1;
    if (rc > 0) return err_set(e, "%s: neither a checkpoint (no %s) nor a run directory with step-N checkpoints", dir, MANIFEST);
    return 0;
}
