#include "study/prepare.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json_number.h"
#include "core/progress.h"
#include "data/bios.h"
#include "data/chat.h"
#include "data/docsource.h"
#include "data/shard.h"
#include "data/textbuf.h"
#include "data/textdocs.h"
#include "data/tokenizer.h"
#include "data/wordnet.h"
#include "data/zfile.h"
#include "model/config.h"

int study_vocab(const StudySpec *s, Err *e)
{
    if (s->vocab > 0) return s->vocab;
    Config c;
    if (config_preset(&c, s->preset, e)) return -1;
    /* The runner sizes the model to the tokenizer, so a preset
     * too small for a study's tokenizer (nano) grows to the smallest one. */
    return c.vocab_size > STUDY_VOCAB_MIN ? c.vocab_size : STUDY_VOCAB_MIN;
}

static void say(int quiet, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int quiet, const char *fmt, ...)
{
    if (quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* The text data.json records; a different one means the folder is stale. */
int study_world_text(const StudySpec *s, char *out, size_t size, Err *e)
{
    int vocab = study_vocab(s, e);
    if (vocab < 0) return -1;
    switch (s->world) {
    case WORLD_BIOS:
        snprintf(out, size, "bios v%d seed=%d people=%d vocab=%d pretrain_tokens=%" PRId64, PREP_DATA_VERSION,
                 PREP_WORLD_SEED, s->people, vocab, s->pretrain_tokens);
        break;
    case WORLD_WORDNET:
        snprintf(out, size, "wordnet v%d seed=%d vocab=%d", PREP_DATA_VERSION, PREP_WORLD_SEED, vocab);
        break;
    case WORLD_FILES: {
        /* text_field only when not the default, so existing ids stay as they were */
        int named = strcmp(s->text_field, "text") != 0;
        snprintf(out, size, "files v%d pretrain=%s%s%s sft=%s vocab=%d", PREP_DATA_VERSION, s->pretrain_data,
                 named ? " text_field=" : "", named ? s->text_field : "", s->sft_data, vocab);
        break;
    }
    }
    return 0;
}

int study_data_text(const StudySpec *s, char *out, size_t size, Err *e)
{
    char world[STUDY_WORLD_TEXT_MAX];
    if (study_world_text(s, world, sizeof world, e)) return -1;
    snprintf(out, size, "%s seq_len=%d", world, s->seq_len);   /* the shards' row length */
    return 0;
}

int study_data_built(const char *out_dir, char *text, size_t size)
{
    char path[PREP_PATH_MAX], *json;
    size_t bytes;
    Err ignored;
    path_join(path, sizeof path, out_dir, "data/data.json");
    if (!file_exists(path) || read_file(path, &json, &bytes, &ignored)) return 0;
    cJSON *j = cJSON_ParseWithLength(json, bytes);
    free(json);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "data");
    int found = cJSON_IsString(w);
    if (found) snprintf(text, size, "%s", w->valuestring);
    cJSON_Delete(j);
    return found;
}

static void set_paths(StudyData *d, const char *out_dir)
{
    char data[PREP_PATH_MAX];
    path_join(d->world_dir, sizeof d->world_dir, out_dir, "world");
    path_join(data, sizeof data, out_dir, "data");
    path_join(d->tokenizer, sizeof d->tokenizer, data, "tokenizer.json");
    path_join(d->pt_train, sizeof d->pt_train, data, "pt_train.bin");
    path_join(d->pt_valid, sizeof d->pt_valid, data, "pt_valid.bin");
    path_join(d->mid, sizeof d->mid, data, "mid.bin");
    path_join(d->sft_train, sizeof d->sft_train, data, "sft_train.bin");
    path_join(d->sft_train_mask, sizeof d->sft_train_mask, data, "sft_train.mask.bin");
    path_join(d->sft_valid, sizeof d->sft_valid, data, "sft_valid.bin");
    path_join(d->sft_valid_mask, sizeof d->sft_valid_mask, data, "sft_valid.mask.bin");
    path_join(d->qa_valid, sizeof d->qa_valid, data, "eval_qa_valid.jsonl");
}

static void set_task_paths(StudyData *d, const StudySpec *s)
{
    d->n_mc_tasks = 0;
    d->qa_test[0] = 0;
    if (s->world == WORLD_FILES) return;
    path_join(d->qa_test, sizeof d->qa_test, d->world_dir, "eval_qa_test.jsonl");
    path_join(d->mc_tasks[0], sizeof d->mc_tasks[0], d->world_dir, "eval_mc_test.jsonl");
    path_join(d->mc_tasks[1], sizeof d->mc_tasks[1], d->world_dir, "eval_mc_train.jsonl");
    d->n_mc_tasks = 2;
}

/* ---- the world folder ---------------------------------------------------- */

/* Splits a {"messages": ...} JSONL file (also .gz, .zst) 9:1 by line (every
 * tenth conversation goes to validation), after checking every line parses;
 * lines are copied as they are, extra fields included. */
static int split_user_sft(const char *src, const char *train, const char *valid, Err *e)
{
    ChatDataset ds;
    if (chat_read_jsonl(&ds, src, e)) return -1;
    chat_dataset_free(&ds);
    LineReader *r;
    if (linereader_open(&r, src, e)) return -1;
    TextBuf a = {0}, b = {0};
    long kept = 0;
    const char *p;
    size_t len;
    int got;
    while ((got = linereader_next(r, &p, &len, e)) == 1) {
        int blank = 1;
        for (size_t i = 0; i < len; i++)
            if (p[i] != ' ' && p[i] != '\t') blank = 0;
        if (blank) continue;
        TextBuf *to = kept % 10 == 9 ? &b : &a;
        textbuf_append(to, p, len);
        textbuf_putc(to, '\n');
        kept++;
    }
    linereader_close(r);
    int rc = got < 0 ? -1 : 0;
    if (!rc && kept < 2) rc = err_set(e, "%s: needs at least 2 conversations to split off a validation set", src);
    if (!rc) rc = write_file_atomic(train, a.data, a.len, e);
    if (!rc) rc = write_file_atomic(valid, b.data, b.len, e);
    textbuf_free(&a);
    textbuf_free(&b);
    return rc;
}

/* The user's corpus (any format of data/docsource.h) as pretrain.txt: its
 * documents separated by <|endoftext|> lines, streamed. */
static int write_user_pretrain(const char *src, const char *text_field, const char *dst, Err *e)
{
    DocSource *ds;
    DocSourceOptions o = {.text_field = text_field};
    if (docsource_open(&ds, src, &o, e)) return -1;
    AtomicFile af;
    if (afile_open(&af, dst, e)) {
        docsource_close(ds);
        return -1;
    }
    const char *doc;
    size_t bytes;
    long n = 0;
    int got = 0, rc = 0;
    while (!rc && (got = docsource_next(ds, &doc, &bytes, e)) == 1) {
        rc = (n++ && afile_write(&af, "\n" TEXTDOCS_SEPARATOR "\n", sizeof TEXTDOCS_SEPARATOR + 1, e)) ||
             afile_write(&af, doc, bytes, e);
    }
    if (!rc && got < 0) {
        afile_abort(&af);
        rc = -1;
    }
    docsource_close(ds);
    if (rc) return -1;
    if (n == 0) {
        afile_abort(&af);
        return err_set(e, "%s: no documents", src);
    }
    return afile_commit(&af, e);
}

/* The bios world with k biographies per person (every file rewritten). */
static int write_bios(const StudySpec *s, int k, const char *dir, Err *e)
{
    BiosOptions o;
    bios_default_options(&o);
    o.seed = PREP_WORLD_SEED;
    o.people = s->people;
    o.bios_per_person = k;
    BiosWorld w;
    if (bios_generate(&w, &o, e)) return -1;
    int rc = bios_write(&w, dir, NULL, e);
    bios_free(&w);
    return rc;
}

/* Biographies per person for the pre-training budget: the tokens of the
 * default world (BIOS_PROBE_BIOS each, measured with the study's tokenizer)
 * scaled to the budget plus the validation stream, with 5% to spare, so the
 * training text is never repeated (the paper trains one pass over fresh
 * text); the facts repeat in a new rendering each time. */
#define BIOS_PROBE_BIOS 5
static int bios_for_budget(const StudySpec *s, int64_t probe_tokens)
{
    double need = 1.05 * (double)(s->pretrain_tokens + PREP_VALID_MAX_TOKENS);
    double k = ceil(BIOS_PROBE_BIOS * need / (double)(probe_tokens > 0 ? probe_tokens : 1));
    return k < BIOS_PROBE_BIOS ? BIOS_PROBE_BIOS : k > 1000 ? 1000 : (int)k;
}

static int build_world(const StudySpec *s, const char *dir, int quiet, Err *e)
{
    /* bios always starts again from the default world (0.2 s for 200
     * people): one left resized by an interrupted preparation would train
     * another tokenizer */
    if (s->world == WORLD_BIOS) return write_bios(s, BIOS_PROBE_BIOS, dir, e);   /* said once sized */
    char marker[PREP_PATH_MAX];
    path_join(marker, sizeof marker, dir, "world.json");
    if (file_exists(marker)) return 0;
    double t0 = now_seconds();
    if (s->world == WORLD_WORDNET) {
        WordNetDb db;
        WordNetOptions o;
        wordnet_default_options(&o);
        o.seed = PREP_WORLD_SEED;
        if (wordnet_load(&db, WORDNET_DIR, e)) return -1;
        int rc = wordnet_write(&db, &o, NULL, dir, NULL, e);
        wordnet_free(&db);
        if (rc) return -1;
        say(quiet, "world: wordnet -> %s (%.1f s)\n", dir, now_seconds() - t0);
        return 0;
    }
    /* files: the user's corpus as pretrain.txt, the JSONL split 9:1. */
    char path[PREP_PATH_MAX], path2[PREP_PATH_MAX];
    path_join(path, sizeof path, dir, "pretrain.txt");
    if (make_dirs(dir, e) || write_user_pretrain(s->pretrain_data, s->text_field, path, e)) return -1;
    path_join(path, sizeof path, dir, "sft_train.jsonl");
    path_join(path2, sizeof path2, dir, "sft_valid.jsonl");
    if (split_user_sft(s->sft_data, path, path2, e)) return -1;
    static const char json[] = "{\"world\": \"files\"}\n";
    if (write_file_atomic(marker, json, sizeof json - 1, e)) return -1;
    say(quiet, "world: files %s + %s -> %s\n", s->pretrain_data, s->sft_data, dir);
    return 0;
}

/* ---- token streams ------------------------------------------------------- */

typedef struct {
    uint16_t *tok;
    size_t    n, cap;
} Tokens;

static void tokens_push(Tokens *t, const int *ids, size_t n)
{
    if (t->n + n > t->cap) {
        t->cap = (t->n + n) * 2 + 1024;
        t->tok = xrealloc(t->tok, t->cap * sizeof *t->tok);
    }
    for (size_t i = 0; i < n; i++) t->tok[t->n++] = (uint16_t)ids[i];
}

/* Encodes a text file's documents, <|endoftext|> before each. When valid is
 * non-NULL, the trailing documents (about 5% of the documents, at most
 * PREP_VALID_MAX_TOKENS tokens) go there instead of to train. */
static int encode_documents(const Tokenizer *tk, const char *path, Tokens *train, Tokens *valid, Err *e)
{
    char *text;
    size_t bytes;
    if (read_file(path, &text, &bytes, e)) return -1;
    size_t bad = utf8_first_invalid(text, bytes);
    if (bad < bytes) {
        free(text);
        return err_set(e, "%s: not UTF-8 (byte offset %zu)", path, bad);
    }
    TextDocs docs;
    const char *doc;
    size_t doc_bytes;
    long n_docs = 0;
    textdocs_begin(&docs, text, bytes);
    while (textdocs_next(&docs, &doc, &doc_bytes)) n_docs++;
    long first_valid = valid ? n_docs - (n_docs / 20 > 0 ? n_docs / 20 : 1) : n_docs;
    if (valid && n_docs < 2) {
        free(text);
        return err_set(e, "%s: needs at least 2 documents (one for validation)", path);
    }
    const int eot = tokenizer_special(tk, SPECIAL_ENDOFTEXT);
    TokenizerCache *cache = tokenizer_cache_new();
    int *ids = NULL;
    size_t cap = 0;
    long k = 0;
    int rc = 0;
    textdocs_begin(&docs, text, bytes);
    while (textdocs_next(&docs, &doc, &doc_bytes)) {
        size_t n = 0;
        if (tokenizer_encode_cached(tk, cache, doc, doc_bytes, &ids, &n, &cap)) {
            rc = err_set(e, "%s: out of memory encoding document %ld", path, k + 1);
            break;
        }
        Tokens *to = k >= first_valid && valid->n < PREP_VALID_MAX_TOKENS ? valid : train;
        tokens_push(to, &eot, 1);
        tokens_push(to, ids, n);
        k++;
    }
    free(ids);
    tokenizer_cache_free(cache);
    free(text);
    return rc;
}

static int encode_sft(const Tokenizer *tk, const char *jsonl, int seq_len, const char *tok_path,
                      const char *mask_path, int64_t *rows, Err *e)
{
    ChatDataset ds;
    if (chat_read_jsonl(&ds, jsonl, e)) return -1;
    SftStream st;
    sft_stream_init(&st, (size_t)seq_len + 1);
    int rc = 0;
    for (size_t i = 0; i < ds.n && !rc; i++) {
        chat_space_replies(&ds.items[i]);   /* replies in pre-training's tokens */
        rc = sft_stream_add(&st, tk, &ds.items[i], (size_t)seq_len + 1, e);
    }
    if (!rc) rc = sft_stream_finish(&st, tk, e);
    if (!rc && st.n_tokens == 0) rc = err_set(e, "%s: no conversation with an assistant reply", jsonl);
    if (!rc) rc = sft_stream_write(&st, tok_path, mask_path, e);
    *rows = (int64_t)(st.n_tokens / ((size_t)seq_len + 1));
    sft_stream_free(&st);
    chat_dataset_free(&ds);
    return rc;
}

/* eval_qa_valid.jsonl: each SFT validation conversation without its last
 * assistant reply, with that reply as the answer. */
static int write_qa_valid(const char *sft_valid_jsonl, const char *out, Err *e)
{
    ChatDataset ds;
    if (chat_read_jsonl(&ds, sft_valid_jsonl, e)) return -1;
    TextBuf tb = {0};
    long items = 0;
    for (size_t i = 0; i < ds.n; i++) {
        const ChatConversation *c = &ds.items[i];
        int last = c->n_messages - 1;
        if (last < 1 || c->messages[last].role != CHAT_ASSISTANT) continue;
        cJSON *o = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(o, "messages");
        for (int k = 0; k < last; k++) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", chat_role_name(c->messages[k].role));
            cJSON_AddStringToObject(m, "content", c->messages[k].content);
            cJSON_AddItemToArray(msgs, m);
        }
        cJSON_AddStringToObject(o, "answer", c->messages[last].content);
        char *line = cJSON_PrintUnformatted(o);
        textbuf_puts(&tb, line);
        textbuf_putc(&tb, '\n');
        free(line);
        cJSON_Delete(o);
        items++;
    }
    chat_dataset_free(&ds);
    int rc = items == 0 ? err_set(e, "%s: no conversation ends in an assistant reply", sft_valid_jsonl)
                        : write_file_atomic(out, tb.data, tb.len, e);
    textbuf_free(&tb);
    return rc;
}

static int write_tokens(const char *path, const Tokens *t, Err *e)
{
    if (t->n < 2) return err_set(e, "%s: fewer than 2 tokens to write", path);
    return shard_write(path, t->tok, t->n, e);
}

/* ---- data.json ----------------------------------------------------------- */

static int read_data_json(StudyData *d, const char *path, const char *want, Err *e)
{
    char *text;
    size_t bytes;
    if (!file_exists(path)) return 0;
    if (read_file(path, &text, &bytes, e)) return -1;
    cJSON *j = cJSON_ParseWithLength(text, bytes);
    free(text);
    if (!j) return 0;   /* unreadable: rebuild (every file is rewritten atomically) */
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "data");
    int ok = cJSON_IsString(w) && strcmp(w->valuestring, want) == 0;
    /* A count out of range is as unreadable as bad JSON: rebuild. */
    Err ignored;
#define GET(field) json_integer(cJSON_GetObjectItemCaseSensitive(j, #field), 0, JSON_INTEGER_MAX, &d->field, &ignored)
    ok = ok && !GET(pt_train_tokens) && !GET(pt_valid_tokens) && !GET(mid_tokens) && !GET(sft_train_rows) &&
         !GET(sft_valid_rows);
#undef GET
    cJSON_Delete(j);
    return ok;
}

/* data.json through cJSON, so a data description with quotes or
 * backslashes (paths) still writes valid JSON. */
static int write_data_json(const StudyData *d, const char *path, const char *text, Err *e)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "data", text);
    cJSON_AddNumberToObject(j, "vocab", d->vocab);
    cJSON_AddNumberToObject(j, "pt_train_tokens", (double)d->pt_train_tokens);
    cJSON_AddNumberToObject(j, "pt_valid_tokens", (double)d->pt_valid_tokens);
    cJSON_AddNumberToObject(j, "mid_tokens", (double)d->mid_tokens);
    cJSON_AddNumberToObject(j, "sft_train_rows", (double)d->sft_train_rows);
    cJSON_AddNumberToObject(j, "sft_valid_rows", (double)d->sft_valid_rows);
    int rc = json_write(path, j, e);
    cJSON_Delete(j);
    return rc;
}

int study_prepare(StudyData *d, const StudySpec *s, const char *out_dir, int quiet, Err *e)
{
    memset(d, 0, sizeof *d);
    set_paths(d, out_dir);
    set_task_paths(d, s);
    d->vocab = study_vocab(s, e);
    if (d->vocab < 0) return -1;
    char text[STUDY_DATA_TEXT_MAX], data_dir[PREP_PATH_MAX], json_path[PREP_PATH_MAX];
    if (study_data_text(s, text, sizeof text, e)) return -1;
    path_join(data_dir, sizeof data_dir, out_dir, "data");
    path_join(json_path, sizeof json_path, data_dir, "data.json");
    int found = read_data_json(d, json_path, text, e);
    if (found < 0) return -1;
    if (found) {
        d->reused = 1;
        say(quiet, "data: reusing %s (%" PRId64 " pre-training tokens, %" PRId64 " SFT rows)\n", data_dir,
            d->pt_train_tokens, d->sft_train_rows);
        return 0;
    }
    /* A stale data.json goes first: a rebuild stopped half-way must not be
     * taken for the data it replaces. */
    if (remove(json_path) != 0 && errno != ENOENT)
        return err_set(e, "%s: cannot remove the stale data description: %s", json_path, strerror(errno));
    double world_t0 = now_seconds();
    if (build_world(s, d->world_dir, quiet, e) || make_dirs(data_dir, e)) return -1;
    double world_s = now_seconds() - world_t0;

    /* Tokenizer on the pre-training text. */
    char pretrain[PREP_PATH_MAX], path[PREP_PATH_MAX];
    path_join(pretrain, sizeof pretrain, d->world_dir, "pretrain.txt");
    double t0 = now_seconds();
    char *ptext;
    size_t pbytes;
    if (read_file(pretrain, &ptext, &pbytes, e)) return -1;
    size_t doc_bytes;
    char *docs = textdocs_join(ptext, pbytes, &doc_bytes);   /* without the separators */
    free(ptext);
    Tokenizer *tk;
    int rc = tokenizer_train(&tk, docs, doc_bytes, d->vocab, e);
    free(docs);
    if (rc) return err_wrap(e, "training the tokenizer on %s", pretrain);
    if (tokenizer_save(tk, d->tokenizer, e)) goto fail;
    say(quiet, "tokenizer: %d tokens trained on %.1f MB -> %s (%.1f s)\n", tokenizer_vocab_size(tk), pbytes / 1e6,
        d->tokenizer, now_seconds() - t0);

    /* Pre-training (train/valid) and mid-training streams; a bios world
     * too small for the budget is rendered again with more biographies,
     * tokenised by the tokenizer trained on the default world. */
    t0 = now_seconds();
    Tokens tr = {0}, va = {0};
    rc = encode_documents(tk, pretrain, &tr, &va, e);
    int bios_k = BIOS_PROBE_BIOS;
    if (!rc && s->world == WORLD_BIOS && (int64_t)tr.n < s->pretrain_tokens) {
        bios_k = bios_for_budget(s, (int64_t)(tr.n + va.n));
        tr.n = va.n = 0;
        world_t0 = now_seconds();
        rc = write_bios(s, bios_k, d->world_dir, e);
        world_s += now_seconds() - world_t0;
        rc = rc || encode_documents(tk, pretrain, &tr, &va, e);
    }
    /* One line for the bios world, with the count it ends with. */
    if (!rc && s->world == WORLD_BIOS && bios_k == BIOS_PROBE_BIOS)
        say(quiet, "world: bios, %d people, %d distinct biographies each -> %s (%.1f s)\n", s->people, bios_k,
            d->world_dir, world_s);
    else if (!rc && s->world == WORLD_BIOS)
        say(quiet, "world: bios, %d people, %d distinct biographies each for %" PRId64 " pre-training tokens "
                   "(the tokenizer trained on %d each) -> %s (%.1f s)\n",
            s->people, bios_k, s->pretrain_tokens, BIOS_PROBE_BIOS, d->world_dir, world_s);
    rc = rc || write_tokens(d->pt_train, &tr, e) || write_tokens(d->pt_valid, &va, e);
    d->pt_train_tokens = (int64_t)tr.n;
    d->pt_valid_tokens = (int64_t)va.n;
    free(tr.tok);
    free(va.tok);
    if (rc) goto fail;
    if (study_is_three_stage(s)) {
        Tokens mt = {0};
        path_join(path, sizeof path, d->world_dir, "mid.txt");
        rc = encode_documents(tk, path, &mt, NULL, e) || write_tokens(d->mid, &mt, e);
        d->mid_tokens = (int64_t)mt.n;
        free(mt.tok);
        if (rc) goto fail;
    }
    /* SFT rows and the validation items. */
    char sft_train[PREP_PATH_MAX], sft_valid[PREP_PATH_MAX];
    path_join(sft_train, sizeof sft_train, d->world_dir, "sft_train.jsonl");
    path_join(sft_valid, sizeof sft_valid, d->world_dir, "sft_valid.jsonl");
    if (encode_sft(tk, sft_train, s->seq_len, d->sft_train, d->sft_train_mask, &d->sft_train_rows, e) ||
        encode_sft(tk, sft_valid, s->seq_len, d->sft_valid, d->sft_valid_mask, &d->sft_valid_rows, e) ||
        write_qa_valid(sft_valid, d->qa_valid, e))
        goto fail;
    say(quiet, "shards: %" PRId64 " pre-training tokens (+%" PRId64 " validation)%s, %" PRId64 " SFT rows (+%" PRId64
               " validation) of %d tokens (%.1f s)\n",
        d->pt_train_tokens, d->pt_valid_tokens, study_is_three_stage(s) ? ", mid-training too" : "",
        d->sft_train_rows, d->sft_valid_rows, s->seq_len + 1, now_seconds() - t0);
    tokenizer_free(tk);
    return write_data_json(d, json_path, text, e);
fail:
    tokenizer_free(tk);
    return -1;
}
