/* Checkpoints: bit-exact round trip, refusal of every kind of bad file with a
 * message naming the file and tensor, atomic replacement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/rng.h"
#include "data/tokenizer.h"
#include "model/config.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

typedef struct {
    char     root[256];
    char     dir[512];
    Config   cfg;
    ParamTable table;
    float   *params;
    AdamW    opt;
    Lineage  lin;
} Fixture;

static void fill_random(float *x, size_t n, uint64_t seed)
{
    Rng r = rng_stream(seed, 77);
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_normal(&r);
}

static void opt_init(AdamW *o, size_t n, uint64_t seed)
{
    memset(o, 0, sizeof *o);
    o->cfg = (AdamWConfig){0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
    o->n = n;
    o->m = calloc(n, sizeof(float));
    o->v = calloc(n, sizeof(float));
    o->decay = calloc(n, sizeof(float));
    fill_random(o->m, n, seed + 1);
    fill_random(o->v, n, seed + 2);
    for (size_t i = 0; i < n; i++) o->v[i] *= o->v[i];
    o->t = 123;
}

static void opt_release(AdamW *o)
{
    free(o->m);
    free(o->v);
    free(o->decay);
}

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/plateau-ckpt-XXXXXX");
    if (!mkdtemp(f->root)) return -1;
    snprintf(f->dir, sizeof f->dir, "%s/ckpt", f->root);
    Err e;
    if (config_preset(&f->cfg, "nano", &e)) return -1;
    param_table_build(&f->table, &f->cfg);
    f->params = malloc(f->table.total * sizeof(float));
    fill_random(f->params, f->table.total, 5);
    opt_init(&f->opt, f->table.total, 5);
    snprintf(f->lin.stage, sizeof f->lin.stage, "pretrain");
    snprintf(f->lin.parent_id, sizeof f->lin.parent_id, "0123456789abcdef");
    snprintf(f->lin.schedule, sizeof f->lin.schedule, "wsd lr=0.001 warmup=10 rho=0.75 alpha=0.1 end=100");
    snprintf(f->lin.data, sizeof f->lin.data, "/data/train.bin");
    f->lin.step = 40;
    f->lin.tokens = 40 * 512;
    f->lin.stage_end_step = 100;
    f->lin.batch_tokens = 512;
    f->lin.micro_batch = 4;
    f->lin.seed = 0xfedcba9876543210ULL;
    f->lin.cursor = (LoaderCursor){.seed = UINT64_MAX, .data_hash = 0x8000000000000001ULL, .n_windows = 999,
                                   .step = 40, .windows_consumed = 40 * 16, .epoch = 0, .seq_len = 32,
                                   .batch_size = 4, .n_micro = 4, .layout = LOADER_STREAM};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
    if (system(cmd) != 0) return -1;
    free(f->params);
    opt_release(&f->opt);
    param_table_free(&f->table);
    free(f);
    return 0;
}

static void save_ok(Fixture *f)
{
    Err e;
    int rc = checkpoint_save(f->dir, &f->cfg, f->params, &f->opt, &f->lin, &e);
    if (rc) fprintf(stderr, "save: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

/* Loads f->dir expecting failure; returns the message. */
static const char *load_fails(Fixture *f, const Config *cfg)
{
    static Err e;
    ParamTable t;
    param_table_build(&t, cfg);
    float *p = malloc(t.total * sizeof(float));
    AdamW o;
    opt_init(&o, t.total, 9);
    int has_opt;
    Lineage l;
    int rc = checkpoint_load(f->dir, cfg, p, &o, &has_opt, &l, &e);
    free(p);
    opt_release(&o);
    param_table_free(&t);
    assert_int_equal(rc, -1);
    return e.msg;
}

static void assert_contains(const char *msg, const char *want)
{
    if (!strstr(msg, want)) fail_msg("message \"%s\"\n  does not contain \"%s\"", msg, want);
}

static void round_trip_is_bit_exact(void **state)
{
    Fixture *f = *state;
    save_ok(f);
    char id1[CKPT_ID_CHARS + 1];
    memcpy(id1, f->lin.id, sizeof id1);
    assert_int_equal(strlen(id1), 16);

    Config c;
    Err e;
    assert_int_equal(checkpoint_read_config(f->dir, &c, &e), 0);
    assert_int_equal(c.dim, 32);
    assert_int_equal(c.ffn_dim, 64);
    assert_int_equal(c.n_kv_heads, 2);
    assert_int_equal(c.seq_len, f->cfg.seq_len);
    assert_true(c.rope_theta == f->cfg.rope_theta && c.norm_eps == f->cfg.norm_eps);

    float *p = malloc(f->table.total * sizeof(float));
    AdamW o;
    opt_init(&o, f->table.total, 99);
    o.cfg.weight_decay = 0;
    int has_opt = 0;
    Lineage l;
    assert_int_equal(checkpoint_load(f->dir, &f->cfg, p, &o, &has_opt, &l, &e), 0);
    assert_int_equal(has_opt, 1);
    assert_memory_equal(p, f->params, f->table.total * sizeof(float));
    assert_memory_equal(o.m, f->opt.m, f->table.total * sizeof(float));
    assert_memory_equal(o.v, f->opt.v, f->table.total * sizeof(float));
    assert_int_equal(o.t, 123);
    assert_true(o.cfg.weight_decay == 0.1f && o.cfg.beta2 == 0.95f);
    assert_string_equal(l.id, id1);
    assert_string_equal(l.parent_id, "0123456789abcdef");
    assert_string_equal(l.stage, "pretrain");
    assert_string_equal(l.schedule, f->lin.schedule);
    assert_string_equal(l.data, "/data/train.bin");
    assert_int_equal(l.step, 40);
    assert_int_equal(l.tokens, 40 * 512);
    assert_int_equal(l.stage_end_step, 100);
    assert_int_equal(l.micro_batch, 4);
    assert_true(l.seed == 0xfedcba9876543210ULL);
    assert_memory_equal(&l.cursor, &f->lin.cursor, sizeof l.cursor);

    /* Same contents, same id; another parent, another id. */
    save_ok(f);
    assert_string_equal(f->lin.id, id1);
    f->lin.parent_id[0] = '1';
    save_ok(f);
    assert_string_not_equal(f->lin.id, id1);
    free(p);
    opt_release(&o);
}

static void config_json_is_hugging_face_llama(void **state)
{
    Fixture *f = *state;
    save_ok(f);
    char path[600], *text;
    Err e;
    path_join(path, sizeof path, f->dir, "config.json");
    assert_int_equal(read_file(path, &text, NULL, &e), 0);
    assert_non_null(strstr(text, "\"LlamaForCausalLM\""));
    assert_non_null(strstr(text, "\"model_type\": \"llama\""));
    assert_non_null(strstr(text, "\"num_key_value_heads\": 2"));
    assert_non_null(strstr(text, "\"head_dim\": 8"));
    assert_non_null(strstr(text, "\"tie_word_embeddings\": false"));
    free(text);
    /* The weights file starts with its header length, then the metadata. */
    path_join(path, sizeof path, f->dir, "model.safetensors");
    size_t bytes;
    assert_int_equal(read_file(path, &text, &bytes, &e), 0);
    uint64_t hlen;
    memcpy(&hlen, text, 8);
    assert_int_equal(hlen % 8, 0);
    assert_int_equal(bytes, 8 + hlen + f->table.total * sizeof(float));
    assert_memory_equal(text + 8, "{\"__metadata__\":{\"format\":\"pt\"}", 31);
    free(text);
}

/* Writes dir/model.safetensors for f's table, except that the tensor named
 * `target` is written with another name, dtype or shape; then reseals. */
static void forge_weights(Fixture *f, const char *target, const char *new_name, const char *dtype,
                          int64_t rows, int64_t cols)
{
    char header[65536];
    size_t n = (size_t)snprintf(header, sizeof header, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t begin = 0;
    for (int i = 0; i < f->table.count; i++) {
        const ParamEntry *p = &f->table.entries[i];
        const char *name = p->name, *dt = "F32";
        int64_t r = p->shape[0], c = p->shape[1];
        int nd = p->ndim;
        if (strcmp(p->name, target) == 0) {
            if (new_name) name = new_name;
            if (dtype) dt = dtype;
            if (rows) { r = rows; c = cols; nd = cols ? 2 : 1; }
        }
        uint64_t end = begin + (uint64_t)(r * (nd == 2 ? c : 1)) * 4;
        if (nd == 2)
            n += (size_t)snprintf(header + n, sizeof header - n,
                                  ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%" PRId64 ",%" PRId64 "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
                                  name, dt, r, c, begin, end);
        else
            n += (size_t)snprintf(header + n, sizeof header - n,
                                  ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%" PRId64 "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
                                  name, dt, r, begin, end);
        begin = end;
    }
    n += (size_t)snprintf(header + n, sizeof header - n, "}");
    char path[600];
    path_join(path, sizeof path, f->dir, "model.safetensors");
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    uint64_t hlen = n;
    fwrite(&hlen, 8, 1, fp);
    fwrite(header, 1, n, fp);
    char *zeros = calloc(1, begin);
    fwrite(zeros, 1, begin, fp);
    free(zeros);
    fclose(fp);
    Err e;
    assert_int_equal(checkpoint_seal(f->dir, NULL, &e), 0);
}

/* Rewrites dir/model.safetensors with its header's JSON object followed by
 * pad (pad_len bytes) instead of its own padding, and `lead` before it;
 * reseals. Returns the file offset of the first byte of pad. */
static size_t repad_weights(Fixture *f, const char *lead, const char *pad, size_t pad_len)
{
    char path[600], *data;
    size_t n;
    Err e;
    path_join(path, sizeof path, f->dir, "model.safetensors");
    assert_int_equal(read_file(path, &data, &n, &e), 0);
    uint64_t hlen;
    memcpy(&hlen, data, 8);
    size_t json_len = hlen;
    while (json_len && data[8 + json_len - 1] == ' ') json_len--;
    size_t lead_len = strlen(lead), new_hlen = lead_len + json_len + pad_len;
    char *out = malloc(8 + new_hlen + (n - 8 - hlen));
    uint64_t h = new_hlen;
    memcpy(out, &h, 8);
    memcpy(out + 8, lead, lead_len);
    memcpy(out + 8 + lead_len, data + 8, json_len);
    memcpy(out + 8 + lead_len + json_len, pad, pad_len);
    memcpy(out + 8 + new_hlen, data + 8 + hlen, n - 8 - hlen);
    assert_int_equal(write_file_atomic(path, out, 8 + new_hlen + (n - 8 - hlen), &e), 0);
    free(out);
    free(data);
    assert_int_equal(checkpoint_seal(f->dir, NULL, &e), 0);
    return 8 + lead_len + json_len;
}

/* Overwrites len bytes of dir/name at offset (negative: from the end) and reseals. */
static void patch_sealed(Fixture *f, const char *name, long offset, const void *bytes, size_t len)
{
    char path[600];
    path_join(path, sizeof path, f->dir, name);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, offset, offset < 0 ? SEEK_END : SEEK_SET), 0);
    assert_int_equal(fwrite(bytes, 1, len, fp), len);
    fclose(fp);
    Err e;
    assert_int_equal(checkpoint_seal(f->dir, NULL, &e), 0);
}

/* train_state.bin's numbers are checked too: its header (magic 8, version 4,
 * reserved 4, n 8, then beta1 beta2 eps weight_decay clip pad as float32 at
 * 24..44, t as int64 at 48) and every moment (m then v, from byte 56). */
static void load_refuses_optimizer_state_out_of_range(void **state)
{
    Fixture *f = *state;
    static const float nan = NAN, neg = -1.0f, big = 2.0f;
    static const int64_t t = -5;
    char last_v[200];
    snprintf(last_v, sizeof last_v, "ckpt/train_state.bin: moment %zu is m = ", f->table.total - 1);
    const struct { long at; const void *bytes; size_t len; const char *want; } CASES[] = {
        {28, &nan, 4, "ckpt/train_state.bin: header field beta2 is nan, outside [0, 0.999999]"},
        {24, &big, 4, "header field beta1 is 2, outside"},
        {32, &neg, 4, "header field eps is -1, outside"},
        {48, &t, 8, "header field t (steps taken) is -5, outside [0, 2^53]"},
        {-4, &neg, 4, last_v},   /* the last second moment */
        {-4, &neg, 4, "v = -1; expected finite m and finite v >= 0"},
        {56, &nan, 4, "moment 0 is m = nan"},   /* the first first moment */
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        save_ok(f);
        patch_sealed(f, "train_state.bin", CASES[i].at, CASES[i].bytes, CASES[i].len);
        assert_contains(load_fails(f, &f->cfg), CASES[i].want);
    }
}

/* The safetensors header is one JSON object, then spaces only (the format's
 * padding); NUL bytes, other text or other whitespace after it are refused
 * with their offset, and so is anything before it. */
static void load_refuses_bytes_after_the_header_object(void **state)
{
    Fixture *f = *state;
    static const struct { const char *pad; size_t len; size_t at; const char *byte; } CASES[] = {
        {"  \0\0\0\0", 6, 2, "0x00"},
        {"{\"x\":1}", 7, 0, "0x7b"},
        {" \n", 2, 1, "0x0a"},
        {"      \t ", 8, 6, "0x09"},
    };
    char want[200];
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        save_ok(f);
        size_t at = repad_weights(f, "", CASES[i].pad, CASES[i].len) + CASES[i].at;
        snprintf(want, sizeof want, "ckpt/model.safetensors: header byte %s at file offset %zu follows its JSON object",
                 CASES[i].byte, at);
        assert_contains(load_fails(f, &f->cfg), want);
    }
    save_ok(f);
    repad_weights(f, " ", "       ", 7);
    assert_contains(load_fails(f, &f->cfg), "ckpt/model.safetensors: header is not a JSON object");
    /* spaces alone are the format's padding: any number of them loads */
    save_ok(f);
    repad_weights(f, "", "             ", 13);
    float *p = malloc(f->table.total * sizeof(float));
    Err e;
    assert_int_equal(checkpoint_load(f->dir, &f->cfg, p, NULL, NULL, NULL, &e), 0);
    assert_memory_equal(p, f->params, f->table.total * sizeof(float));
    free(p);
}

static void load_refuses_wrong_shape_naming_tensor(void **state)
{
    Fixture *f = *state;
    save_ok(f);
    forge_weights(f, "model.layers.1.mlp.up_proj.weight", NULL, NULL, 64, 16);
    const char *msg = load_fails(f, &f->cfg);
    assert_contains(msg, "ckpt/model.safetensors: tensor model.layers.1.mlp.up_proj.weight has shape [64, 16], expected [64, 32]");
}

static void load_refuses_wrong_dtype_naming_tensor(void **state)
{
    Fixture *f = *state;
    save_ok(f);
    forge_weights(f, "model.norm.weight", NULL, "BF16", 0, 0);
    assert_contains(load_fails(f, &f->cfg), "ckpt/model.safetensors: tensor model.norm.weight has dtype BF16, expected F32");
}

static void load_refuses_unknown_or_missing_tensor(void **state)
{
    Fixture *f = *state;
    save_ok(f);
    forge_weights(f, "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.key.weight", NULL, 0, 0);
    assert_contains(load_fails(f, &f->cfg),
                    "ckpt/model.safetensors: unexpected tensor model.layers.0.self_attn.key.weight");
}

static void load_refuses_other_config_naming_field(void **state)
{
    Fixture *f = *state;
    save_ok(f);
    Config other = f->cfg;
    other.ffn_dim = 96;
    assert_contains(load_fails(f, &other), "ckpt/config.json: field intermediate_size is 64, expected 96");
    other = f->cfg;
    other.tied = 1;
    assert_contains(load_fails(f, &other), "ckpt/config.json: field tie_word_embeddings is false, expected true");
}

static void truncate_file(const char *dir, const char *name, long drop_bytes)
{
    char path[600];
    path_join(path, sizeof path, dir, name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - drop_bytes), 0);
}

static void flip_byte(const char *dir, const char *name, long at)
{
    char path[600];
    path_join(path, sizeof path, dir, name);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    struct stat st;
    fstat(fileno(fp), &st);
    if (at < 0) at += st.st_size;
    fseek(fp, at, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, at, SEEK_SET);
    fputc(c ^ 0x10, fp);
    fclose(fp);
}

static void load_refuses_truncated_file_naming_it(void **state)
{
    Fixture *f = *state;
    save_ok(f);
    size_t want = 0;
    char path[600];
    path_join(path, sizeof path, f->dir, "model.safetensors");
    struct stat st;
    stat(path, &st);
    want = (size_t)st.st_size;
    truncate_file(f->dir, "model.safetensors", 100);
    char expect[200];
    snprintf(expect, sizeof expect, "ckpt/model.safetensors: truncated: %zu bytes, expected %zu", want - 100, want);
    assert_contains(load_fails(f, &f->cfg), expect);
    /* Even with a manifest that agrees, the format itself sees the truncation. */
    Err e;
    assert_int_equal(checkpoint_seal(f->dir, NULL, &e), 0);
    assert_contains(load_fails(f, &f->cfg), "ckpt/model.safetensors: truncated: data section holds");

    save_ok(f);
    truncate_file(f->dir, "train_state.bin", 4);
    assert_contains(load_fails(f, &f->cfg), "ckpt/train_state.bin: truncated");
}

static void load_refuses_flipped_byte_naming_file(void **state)
{
    Fixture *f = *state;
    save_ok(f);
    flip_byte(f->dir, "model.safetensors", -5);   /* inside the last tensor's data */
    assert_contains(load_fails(f, &f->cfg), "ckpt/model.safetensors: corrupted: checksum");
    save_ok(f);
    flip_byte(f->dir, "train_state.bin", 1000);
    assert_contains(load_fails(f, &f->cfg), "ckpt/train_state.bin: corrupted: checksum");
    save_ok(f);
    flip_byte(f->dir, "lineage.json", 20);
    assert_contains(load_fails(f, &f->cfg), "ckpt/lineage.json: corrupted: checksum");
    save_ok(f);
    char path[600];
    path_join(path, sizeof path, f->dir, "checksums.json");
    char *text;
    Err e;
    assert_int_equal(read_file(path, &text, NULL, &e), 0);
    char *c = strstr(text, "\"checksum\":");
    assert_non_null(c);
    c = strchr(c + 11, '"') + 1;
    *c = *c == '0' ? '1' : '0';
    assert_int_equal(write_file_atomic(path, text, strlen(text), &e), 0);
    free(text);
    assert_contains(load_fails(f, &f->cfg), "ckpt/checksums.json: corrupted: id");
}

static void failed_save_leaves_previous_checkpoint_intact(void **state)
{
    Fixture *f = *state;
    save_ok(f);
    char id[CKPT_ID_CHARS + 1];
    memcpy(id, f->lin.id, sizeof id);
    float *saved = malloc(f->table.total * sizeof(float));
    memcpy(saved, f->params, f->table.total * sizeof(float));

    /* A file-size limit makes the new weights file fail half-way. */
    fill_random(f->params, f->table.total, 1234);
    f->lin.step = 50;
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    Err e;
    int rc = checkpoint_save(f->dir, &f->cfg, f->params, &f->opt, &f->lin, &e);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(rc, -1);
    assert_contains(e.msg, "model.safetensors");

    float *p = malloc(f->table.total * sizeof(float));
    Lineage l;
    int has_opt;
    assert_int_equal(checkpoint_load(f->dir, &f->cfg, p, NULL, &has_opt, &l, &e), 0);
    assert_memory_equal(p, saved, f->table.total * sizeof(float));
    assert_int_equal(l.step, 40);
    assert_string_equal(l.id, id);
    /* and no temporary directory is left behind */
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", f->dir, (int)getpid());
    assert_false(file_exists(tmp));
    free(p);
    free(saved);
}

static void latest_checkpoint_skips_temporaries_and_damaged(void **state)
{
    Fixture *f = *state;
    char run[600], path[700], got[700];
    snprintf(run, sizeof run, "%s/run", f->root);
    Err e;
    int64_t step = -1;
    assert_int_equal(checkpoint_latest(run, got, sizeof got, &step, &e), 1);
    for (int s = 10; s <= 30; s += 10) {
        checkpoint_step_path(path, sizeof path, run, s);
        f->lin.step = s;
        assert_int_equal(checkpoint_save(path, &f->cfg, f->params, &f->opt, &f->lin, &e), 0);
    }
    /* a crash mid-save leaves a temporary sibling; it is not a checkpoint */
    snprintf(path, sizeof path, "%s/step-00000040.tmp.999", run);
    assert_int_equal(make_dirs(path, &e), 0);
    assert_int_equal(checkpoint_latest(run, got, sizeof got, &step, &e), 0);
    assert_int_equal(step, 30);
    /* a damaged latest falls back to the one before */
    checkpoint_step_path(path, sizeof path, run, 30);
    flip_byte(path, "model.safetensors", -1);
    assert_int_equal(checkpoint_latest(run, got, sizeof got, &step, &e), 0);
    assert_int_equal(step, 20);
    assert_int_equal(checkpoint_resolve(run, got, sizeof got, &e), 0);
    checkpoint_step_path(path, sizeof path, run, 20);
    assert_string_equal(got, path);
}

/* Sets number `key` (inside object `in`, or at the top when NULL) of a JSON
 * file of the checkpoint to v, then reseals unless the file is the manifest,
 * so only the number's range can refuse it. */
static void forge_number(Fixture *f, const char *file, const char *in, const char *key, double v)
{
    char path[600], *text;
    Err e;
    path_join(path, sizeof path, f->dir, file);
    assert_int_equal(read_file(path, &text, NULL, &e), 0);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    cJSON *obj = in ? cJSON_GetObjectItemCaseSensitive(root, in) : root;
    if (cJSON_IsArray(obj)) obj = cJSON_GetArrayItem(obj, 0);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(obj, key));
    cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateNumber(v));
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    assert_int_equal(write_file_atomic(path, out, strlen(out), &e), 0);
    free(out);
    if (strcmp(file, "checksums.json") != 0) assert_int_equal(checkpoint_seal(f->dir, NULL, &e), 0);
}

/* Every number a checkpoint holds is checked against its range before it is
 * converted or used: a re-sealed lineage.json with "step": -40 once sent a
 * resumed run reading before its data. */
static void load_refuses_numbers_out_of_range_naming_field(void **state)
{
    Fixture *f = *state;
    static const struct {
        const char *file, *in, *key;
        double v;
        const char *want;
    } CASES[] = {
        {"lineage.json", NULL, "step", -40, "ckpt/lineage.json: field step: -40 is outside [0, 9007199254740992]"},
        {"lineage.json", NULL, "step", 1e300, "ckpt/lineage.json: field step: 1e+300 is outside [0, 9007199254740992]"},
        {"lineage.json", NULL, "step", 40.5, "ckpt/lineage.json: field step: 40.5 is not an integer"},
        {"lineage.json", NULL, "tokens", -1, "ckpt/lineage.json: field tokens: -1 is outside"},
        {"lineage.json", NULL, "stage_start_step", 41, "ckpt/lineage.json: field step 40 is outside its stage "
                                                       "[stage_start_step 41, stage_end_step 100]"},
        {"lineage.json", NULL, "stage_end_step", 39, "ckpt/lineage.json: field step 40 is outside its stage"},
        {"lineage.json", NULL, "batch_tokens", -512, "ckpt/lineage.json: field batch_tokens: -512 is outside"},
        {"lineage.json", NULL, "seq_len", 1e10, "ckpt/lineage.json: field seq_len: 10000000000 is outside [0, 1048576]"},
        {"lineage.json", NULL, "micro_batch", -4, "ckpt/lineage.json: field micro_batch: -4 is outside"},
        {"lineage.json", "data_cursor", "step", 41, "ckpt/lineage.json: field data_cursor.step 41 does not match step 40"},
        {"lineage.json", "data_cursor", "n_windows", 1e10, "ckpt/lineage.json: field data_cursor.n_windows: 10000000000 "
                                                          "is outside [0, 4294967295]"},
        {"lineage.json", "data_cursor", "windows_consumed", -1, "field data_cursor.windows_consumed: -1 is outside"},
        {"lineage.json", "data_cursor", "epoch", 1e19, "field data_cursor.epoch: 1e+19 is outside"},
        {"lineage.json", "data_cursor", "seq_len", -32, "field data_cursor.seq_len: -32 is outside"},
        {"lineage.json", "data_cursor", "batch_size", 3e9, "field data_cursor.batch_size: 3000000000 is outside"},
        {"lineage.json", "data_cursor", "n_micro", -4, "field data_cursor.n_micro: -4 is outside"},
        {"lineage.json", "data_cursor", "layout", 7, "field data_cursor.layout: 7 is outside [0, 1]"},
        {"config.json", NULL, "hidden_size", 1e10, "ckpt/config.json: field hidden_size: 10000000000 is outside [1, 65536]"},
        {"config.json", NULL, "intermediate_size", -64, "ckpt/config.json: field intermediate_size: -64 is outside"},
        {"config.json", NULL, "num_hidden_layers", 1e6, "field num_hidden_layers: 1000000 is outside [1, 1024]"},
        {"config.json", NULL, "num_attention_heads", 0, "field num_attention_heads: 0 is outside [1, 1024]"},
        {"config.json", NULL, "num_key_value_heads", 2.5, "field num_key_value_heads: 2.5 is not an integer"},
        {"config.json", NULL, "vocab_size", 1e300, "field vocab_size: 1e+300 is outside [1, 16777216]"},
        {"config.json", NULL, "max_position_embeddings", -1, "field max_position_embeddings: -1 is outside"},
        {"config.json", NULL, "head_dim", 1e10, "field head_dim: 10000000000 is outside"},
        {"config.json", NULL, "rope_theta", 1e300, "ckpt/config.json: field rope_theta: 1e+300 is outside"},
        {"config.json", NULL, "rms_norm_eps", -1e-5, "ckpt/config.json: field rms_norm_eps: -1e-05 is outside"},
        {"config.json", "plateau", "seq_len", 1e10, "ckpt/config.json: field plateau.seq_len: 10000000000 is outside"},
        /* Any damaged manifest reaches this one: no re-seal needed. */
        {"checksums.json", "files", "bytes", -8, "ckpt/checksums.json: corrupted entry 0: field bytes: -8 is outside"},
        {"checksums.json", "files", "bytes", 1e300, "ckpt/checksums.json: corrupted entry 0: field bytes: 1e+300"},
        {"lineage.json", "merged", "step", -3, "ckpt/lineage.json: field merged[0].step: -3 is outside"},
        {"lineage.json", "merged", "weight", 1e300, "field merged[0].weight: 1e+300 is outside [0, 1]"},
    };
    /* a merged checkpoint's lineage lists its inputs (train/merge.h) */
    f->lin.n_merged = 1;
    f->lin.merged[0] = (MergedInput){.id = "0123456789abcdef", .step = 40, .weight = 1.0};
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        save_ok(f);
        forge_number(f, CASES[i].file, CASES[i].in, CASES[i].key, CASES[i].v);
        assert_contains(load_fails(f, &f->cfg), CASES[i].want);
    }
}

static void fresh_init_has_no_optimizer_state(void **state)
{
    Fixture *f = *state;
    Err e;
    assert_int_equal(checkpoint_save(f->dir, &f->cfg, f->params, NULL, &f->lin, &e), 0);
    AdamW o;
    opt_init(&o, f->table.total, 3);
    float *p = malloc(f->table.total * sizeof(float));
    int has_opt = 1;
    assert_int_equal(checkpoint_load(f->dir, &f->cfg, p, &o, &has_opt, NULL, &e), 0);
    assert_int_equal(has_opt, 0);
    assert_int_equal(o.t, 123);   /* untouched */
    free(p);
    opt_release(&o);
}

/* Gives the fixture's model another vocabulary size (fresh random weights). */
static void set_vocab(Fixture *f, int vocab)
{
    f->cfg.vocab_size = vocab;
    param_table_free(&f->table);
    param_table_build(&f->table, &f->cfg);
    f->params = realloc(f->params, f->table.total * sizeof(float));
    fill_random(f->params, f->table.total, 5);
    opt_release(&f->opt);
    opt_init(&f->opt, f->table.total, 5);
}

/* Writes a small trained tokenizer (vocab tokens) to path. */
static void write_tokenizer(const char *path, int vocab)
{
    static const char text[] = "the cat sat on the mat and the cat ate the rat on the mat\n";
    Tokenizer *t;
    Err e;
    assert_int_equal(tokenizer_train(&t, text, sizeof text - 1, vocab, &e), 0);
    assert_int_equal(tokenizer_save(t, path, &e), 0);
    tokenizer_free(t);
}

static void checkpoint_carries_its_tokenizer_to_children(void **state)
{
    Fixture *f = *state;
    Err e;
    char tok[600], child[600], copy[700];
    snprintf(tok, sizeof tok, "%s/tok.json", f->root);
    write_tokenizer(tok, 270);
    set_vocab(f, 272);
    snprintf(f->lin.tokenizer, sizeof f->lin.tokenizer, "%s", tok);
    if (checkpoint_save(f->dir, &f->cfg, f->params, &f->opt, &f->lin, &e)) fail_msg("%s", e.msg);
    char *a, *b;
    size_t na, nb;
    snprintf(copy, sizeof copy, "%s/tokenizer.json", f->dir);
    assert_int_equal(read_file(tok, &a, &na, &e), 0);
    assert_int_equal(read_file(copy, &b, &nb, &e), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
    /* the copy is sealed: a changed byte is refused like any other file */
    Lineage l;
    float *p = malloc(f->table.total * sizeof(float));
    assert_int_equal(checkpoint_load(f->dir, &f->cfg, p, NULL, NULL, &l, &e), 0);
    assert_string_equal(l.tokenizer, copy);
    /* a child saved from the loaded lineage keeps it, with the source gone */
    remove(tok);
    snprintf(child, sizeof child, "%s/child", f->root);
    assert_int_equal(checkpoint_save(child, &f->cfg, p, NULL, &l, &e), 0);
    snprintf(copy, sizeof copy, "%s/tokenizer.json", child);
    assert_true(file_exists(copy));
    FILE *fp = fopen(copy, "r+b");
    fputc('X', fp);
    fclose(fp);
    assert_int_equal(checkpoint_verify(child, &e), -1);
    assert_non_null(strstr(e.msg, "tokenizer.json"));
    free(p);
}

static void save_refuses_tokenizer_larger_than_vocabulary(void **state)
{
    Fixture *f = *state;
    Err e;
    char tok[600], want[80];
    snprintf(tok, sizeof tok, "%s/tok.json", f->root);
    write_tokenizer(tok, 270);
    Tokenizer *t;
    assert_int_equal(tokenizer_load(&t, tok, &e), 0);
    set_vocab(f, tokenizer_vocab_size(t) - 1);
    tokenizer_free(t);
    snprintf(f->lin.tokenizer, sizeof f->lin.tokenizer, "%s", tok);
    assert_int_equal(checkpoint_save(f->dir, &f->cfg, f->params, NULL, &f->lin, &e), -1);
    snprintf(want, sizeof want, "model's vocabulary is %d", f->cfg.vocab_size);
    assert_non_null(strstr(e.msg, want));
    assert_false(file_exists(f->dir));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_is_bit_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(config_json_is_hugging_face_llama, setup, teardown),
        cmocka_unit_test_setup_teardown(load_refuses_wrong_shape_naming_tensor, setup, teardown),
        cmocka_unit_test_setup_teardown(load_refuses_wrong_dtype_naming_tensor, setup, teardown),
        cmocka_unit_test_setup_teardown(load_refuses_unknown_or_missing_tensor, setup, teardown),
        cmocka_unit_test_setup_teardown(load_refuses_other_config_naming_field, setup, teardown),
        cmocka_unit_test_setup_teardown(load_refuses_truncated_file_naming_it, setup, teardown),
        cmocka_unit_test_setup_teardown(load_refuses_flipped_byte_naming_file, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_save_leaves_previous_checkpoint_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(latest_checkpoint_skips_temporaries_and_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(fresh_init_has_no_optimizer_state, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_carries_its_tokenizer_to_children, setup, teardown),
        cmocka_unit_test_setup_teardown(save_refuses_tokenizer_larger_than_vocabulary, setup, teardown),
        cmocka_unit_test_setup_teardown(load_refuses_numbers_out_of_range_naming_field, setup, teardown),
        cmocka_unit_test_setup_teardown(load_refuses_bytes_after_the_header_object, setup, teardown),
        cmocka_unit_test_setup_teardown(load_refuses_optimizer_state_out_of_range, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
