/* tokenizer.json in the Hugging Face `tokenizers` layout: a BPE model whose
 * vocabulary strings spell bytes in GPT-2's byte-to-unicode alphabet, merges
 * as "left right" strings in rank order, the ByteLevel pre-tokenizer and
 * decoder, and the special tokens as added tokens (also in the vocabulary,
 * as GPT-2's file has <|endoftext|>). */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json_number.h"
#include "data/bytemap.h"
#include "data/tokenizer.h"
#include "data/tokenizer_internal.h"

/* GPT-2's alphabet: printable bytes stand for themselves, the other 68
 * (controls, space, DEL, NBSP, soft hyphen...) for code points from 256 up,
 * in byte order, so every vocabulary string is printable. */
static uint32_t byte_codepoint(int b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return (uint32_t)b;
    int k = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) k++;
    return 256u + (uint32_t)k;
}

#define ALPHABET_SIZE 324   /* code points 0..323 are the alphabet's range */

typedef struct {
    uint32_t codepoint[256];
    int      byte_of[ALPHABET_SIZE];   /* -1 where no byte maps */
} ByteAlphabet;

static void alphabet_init(ByteAlphabet *a)
{
    for (int c = 0; c < ALPHABET_SIZE; c++) a->byte_of[c] = -1;
    for (int b = 0; b < 256; b++) {
        a->codepoint[b] = byte_codepoint(b);
        a->byte_of[a->codepoint[b]] = b;
    }
}

/* Spells bytes in the alphabet as UTF-8 into out (room for 2*n+1). */
static void bytes_to_symbols(const ByteAlphabet *a, const unsigned char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = a->codepoint[s[i]];
        if (c < 0x80) {
            out[o++] = (char)c;
        } else {
            out[o++] = (char)(0xC0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[o] = 0;
}

/* Reads a vocabulary string back into bytes (out has room for strlen(s));
 * returns the byte count, or -1 with *bad set to the offending code point. */
static long symbols_to_bytes(const ByteAlphabet *a, const char *s, unsigned char *out, uint32_t *bad)
{
    const unsigned char *p = (const unsigned char *)s;
    long o = 0;
    while (*p) {
        uint32_t c;
        if (p[0] < 0x80) { c = p[0]; p += 1; }
        else if ((p[0] & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) { c = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F); p += 2; }
        else {   /* longer sequences are all outside the alphabet */
            c = p[0];
            if ((p[0] & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80)
                c = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
            *bad = c;
            return -1;
        }
        if (c >= ALPHABET_SIZE || a->byte_of[c] < 0) { *bad = c; return -1; }
        out[o++] = (unsigned char)a->byte_of[c];
    }
    return o;
}

static cJSON *byte_level(int add_prefix_space, int trim_offsets)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "ByteLevel");
    cJSON_AddBoolToObject(o, "add_prefix_space", add_prefix_space);
    cJSON_AddBoolToObject(o, "trim_offsets", trim_offsets);
    cJSON_AddBoolToObject(o, "use_regex", 1);
    return o;
}

static int is_special(const Tokenizer *t, int id)
{
    for (int k = 0; k < SPECIAL_COUNT; k++)
        if (t->special[k] == id) return 1;
    return 0;
}

/* Vocabulary string of a token: specials as their text, others in the alphabet. */
static char *token_string(const Tokenizer *t, const ByteAlphabet *a, int id)
{
    const unsigned char *s = t->tok_bytes + t->tok_off[id];
    size_t n = t->tok_off[id + 1] - t->tok_off[id];
    char *out = xmalloc(2 * n + 1);
    if (is_special(t, id)) {
        memcpy(out, s, n);
        out[n] = 0;
    } else {
        bytes_to_symbols(a, s, n, out);
    }
    return out;
}

int tokenizer_save(const Tokenizer *t, const char *path, Err *e)
{
    ByteAlphabet a;
    alphabet_init(&a);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int k = 0; k < SPECIAL_COUNT; k++) {
        cJSON *tok = cJSON_CreateObject();
        cJSON_AddNumberToObject(tok, "id", t->special[k]);
        cJSON_AddStringToObject(tok, "content", tokenizer_special_text((SpecialToken)k));
        cJSON_AddBoolToObject(tok, "single_word", 0);
        cJSON_AddBoolToObject(tok, "lstrip", 0);
        cJSON_AddBoolToObject(tok, "rstrip", 0);
        cJSON_AddBoolToObject(tok, "normalized", 0);
        cJSON_AddBoolToObject(tok, "special", 1);
        cJSON_AddItemToArray(added, tok);
    }
    cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddItemToObject(root, "pre_tokenizer", byte_level(0, 1));
    cJSON_AddItemToObject(root, "post_processor", byte_level(1, 0));
    cJSON_AddItemToObject(root, "decoder", byte_level(1, 1));
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", 0);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int id = 0; id < t->vocab_size; id++) {
        char *s = token_string(t, &a, id);
        cJSON_AddNumberToObject(vocab, s, id);
        free(s);
    }
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    for (int r = 0; r < t->n_merges; r++) {
        char *l = token_string(t, &a, t->merge_left[r]), *rt = token_string(t, &a, t->merge_right[r]);
        size_t ln = strlen(l), rn = strlen(rt);
        char *m = xmalloc(ln + rn + 2);
        memcpy(m, l, ln);
        m[ln] = ' ';   /* never inside a string: space is spelt U+0120 */
        memcpy(m + ln + 1, rt, rn + 1);
        cJSON_AddItemToArray(merges, cJSON_CreateString(m));
        free(m);
        free(l);
        free(rt);
    }
    char *json = cJSON_Print(root);
    cJSON_Delete(root);
    if (!json) return err_set(e, "%s: out of memory formatting the tokenizer", path);
    int rc = write_file_atomic(path, json, strlen(json), e);
    free(json);
    return rc;
}

/* ---- loading -------------------------------------------------------------- */

typedef struct {
    const char   *path;
    ByteAlphabet  alphabet;
    ByteMap       ids;          /* vocabulary string -> id */
    int           vocab_size;
    unsigned char **tok;        /* [vocab_size] bytes of each id (NULL = unset) */
    size_t        *tok_len;
} Loader;

static void loader_free(Loader *L)
{
    for (int i = 0; i < L->vocab_size; i++) free(L->tok[i]);
    free(L->tok);
    free(L->tok_len);
    bytemap_free(&L->ids);
}

/* Ids run 0 .. TOKEN_ID_MAX; a vocabulary this large is already far beyond
 * what the uint16 token shards hold. */
#define TOKEN_ID_MAX ((1 << 24) - 1)

static int line_of(const char *text, const char *at)
{
    int line = 1;
    for (const char *p = text; p < at && *p; p++) line += *p == '\n';
    return line;
}

/* Checks that the file describes what plateau's encoder does. */
static int check_pipeline(const cJSON *root, const char *path, Err *e)
{
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (norm && !cJSON_IsNull(norm))
        return err_set(e, "%s: field \"normalizer\" is set; plateau's byte-level BPE supports none (null)", path);
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(pre, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "ByteLevel") != 0)
        return err_set(e, "%s: field \"pre_tokenizer\" must be {\"type\": \"ByteLevel\", ...}", path);
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(pre, "add_prefix_space");
    if (cJSON_IsTrue(prefix))
        return err_set(e, "%s: field \"pre_tokenizer.add_prefix_space\" is true; plateau encodes without a prefix space", path);
    const cJSON *regex = cJSON_GetObjectItemCaseSensitive(pre, "use_regex");
    if (cJSON_IsFalse(regex))
        return err_set(e, "%s: field \"pre_tokenizer.use_regex\" is false; plateau splits words with the GPT-2 pattern", path);
    return 0;
}

static int load_vocab(Loader *L, const cJSON *vocab, const cJSON *added, Err *e)
{
    /* ids: the model's vocabulary plus any added token beyond it */
    int n = 0, max_id = -1, id;
    const cJSON *item;
    cJSON_ArrayForEach(item, vocab) {
        if (json_int(item, 0, TOKEN_ID_MAX, &id, e))
            return err_wrap(e, "%s: field \"model.vocab\": the id of \"%s\"", L->path, item->string);
        if (id > max_id) max_id = id;
        n++;
    }
    cJSON_ArrayForEach(item, added) {
        const cJSON *idv = cJSON_GetObjectItemCaseSensitive(item, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");
        if (json_int(idv, 0, TOKEN_ID_MAX, &id, e))
            return err_wrap(e, "%s: field \"added_tokens\": field \"id\"", L->path);
        if (!cJSON_IsString(content))
            return err_set(e, "%s: field \"added_tokens\": each entry needs an integer \"id\" and a string \"content\"",
                           L->path);
        if (id > max_id) max_id = id;
    }
    if (n == 0) return err_set(e, "%s: field \"model.vocab\" is empty", L->path);
    L->vocab_size = max_id + 1;
    L->tok = xcalloc((size_t)L->vocab_size, sizeof *L->tok);
    L->tok_len = xcalloc((size_t)L->vocab_size, sizeof *L->tok_len);
    bytemap_init(&L->ids, (size_t)n);
    cJSON_ArrayForEach(item, vocab) {
        json_int(item, 0, TOKEN_ID_MAX, &id, e);   /* checked above */
        if (L->tok[id])
            return err_set(e, "%s: field \"model.vocab\": id %d is given to two strings (one is \"%s\")",
                           L->path, id, item->string);
        size_t len = strlen(item->string);
        unsigned char *bytes = xmalloc(len + 1);
        uint32_t bad = 0;
        long nb = symbols_to_bytes(&L->alphabet, item->string, bytes, &bad);
        if (nb < 0) {
            /* a string outside the alphabet can only be an added token's text */
            int is_added = 0;
            const cJSON *a;
            cJSON_ArrayForEach(a, added) {
                const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
                is_added |= strcmp(content->valuestring, item->string) == 0;
            }
            if (!is_added) {
                free(bytes);
                return err_set(e, "%s: field \"model.vocab\": \"%s\" has U+%04X, which is not a byte-level symbol",
                               L->path, item->string, (unsigned)bad);
            }
            memcpy(bytes, item->string, len);
            nb = (long)len;
        }
        L->tok[id] = bytes;
        L->tok_len[id] = (size_t)nb;
        int fresh;
        bytemap_upsert(&L->ids, item->string, len, id, &fresh);
        if (!fresh)
            return err_set(e, "%s: field \"model.vocab\": \"%s\" appears twice", L->path, item->string);
    }
    return 0;
}

static int load_specials(Loader *L, Tokenizer *t, const cJSON *added, Err *e)
{
    const cJSON *item;
    for (int k = 0; k < SPECIAL_COUNT; k++) t->special[k] = -1;
    cJSON_ArrayForEach(item, added) {
        int id = 0;
        json_int(cJSON_GetObjectItemCaseSensitive(item, "id"), 0, TOKEN_ID_MAX, &id, e);   /* checked in load_vocab */
        const char *content = cJSON_GetObjectItemCaseSensitive(item, "content")->valuestring;
        size_t len = strlen(content);
        if (L->tok[id] && (L->tok_len[id] != len || memcmp(L->tok[id], content, len) != 0))
            return err_set(e, "%s: field \"added_tokens\": \"%s\" has id %d, which model.vocab gives to another string",
                           L->path, content, id);
        if (!L->tok[id]) {
            L->tok[id] = xmalloc(len + 1);
            memcpy(L->tok[id], content, len);
            L->tok_len[id] = len;
        }
        for (int k = 0; k < SPECIAL_COUNT; k++)
            if (strcmp(content, tokenizer_special_text((SpecialToken)k)) == 0) t->special[k] = id;
    }
    for (int k = 0; k < SPECIAL_COUNT; k++)
        if (t->special[k] < 0)
            return err_set(e, "%s: field \"added_tokens\" lacks the special token \"%s\"", L->path,
                           tokenizer_special_text((SpecialToken)k));
    for (int id = 0; id < L->vocab_size; id++)
        if (!L->tok[id])
            return err_set(e, "%s: field \"model.vocab\": no token has id %d (ids must run 0..%d without gaps)",
                           L->path, id, L->vocab_size - 1);
    return 0;
}

/* Id of a vocabulary string, or -1. */
static int vocab_id(const Loader *L, const char *s, size_t len)
{
    int64_t *v = bytemap_find(&L->ids, s, len);
    return v ? (int)*v : -1;
}

static int load_merges(Loader *L, Tokenizer *t, const cJSON *merges, Err *e)
{
    int n = cJSON_GetArraySize(merges);
    t->n_merges = n;
    t->merge_left = xmalloc(((size_t)n + 1) * sizeof(int));
    t->merge_right = xmalloc(((size_t)n + 1) * sizeof(int));
    t->merge_result = xmalloc(((size_t)n + 1) * sizeof(int));
    int r = 0, rc = 0;
    const cJSON *item;
    char *joined = NULL;
    size_t joined_cap = 0;
    cJSON_ArrayForEach(item, merges) {
        const char *left, *right;
        size_t ln, rn;
        if (cJSON_IsString(item)) {   /* "left right" */
            const char *sp = strchr(item->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                rc = err_set(e, "%s: field \"model.merges[%d]\": \"%s\" is not two tokens separated by one space",
                             L->path, r, item->valuestring);
                break;
            }
            left = item->valuestring;
            ln = (size_t)(sp - left);
            right = sp + 1;
            rn = strlen(right);
        } else if (cJSON_IsArray(item) && cJSON_GetArraySize(item) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(item, 0)) && cJSON_IsString(cJSON_GetArrayItem(item, 1))) {
            left = cJSON_GetArrayItem(item, 0)->valuestring;   /* ["left", "right"] */
            right = cJSON_GetArrayItem(item, 1)->valuestring;
            ln = strlen(left);
            rn = strlen(right);
        } else {
            rc = err_set(e, "%s: field \"model.merges[%d]\" is neither \"left right\" nor [\"left\", \"right\"]",
                         L->path, r);
            break;
        }
        int li = vocab_id(L, left, ln), ri = vocab_id(L, right, rn);
        if (li < 0 || ri < 0) {
            rc = err_set(e, "%s: field \"model.merges[%d]\": part \"%.*s\" is not in model.vocab", L->path, r,
                         (int)(li < 0 ? ln : rn), li < 0 ? left : right);
            break;
        }
        if (ln + rn > joined_cap) {
            joined_cap = 2 * (ln + rn);
            free(joined);
            joined = xmalloc(joined_cap);
        }
        memcpy(joined, left, ln);
        memcpy(joined + ln, right, rn);
        int res = vocab_id(L, joined, ln + rn);
        if (res < 0) {
            rc = err_set(e, "%s: field \"model.merges[%d]\": the merged token \"%.*s\" is not in model.vocab",
                         L->path, r, (int)(ln + rn), joined);
            break;
        }
        t->merge_left[r] = li;
        t->merge_right[r] = ri;
        t->merge_result[r] = res;
        r++;
    }
    free(joined);
    return rc;
}

static int build(Loader *L, Tokenizer *t, const cJSON *root, Err *e)
{
    if (check_pipeline(root, L->path, e)) return -1;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return err_set(e, "%s: missing object field \"model\"", L->path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") != 0))
        return err_set(e, "%s: field \"model.type\" must be \"BPE\"", L->path);
    const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (cJSON_IsString(v) && v->valuestring[0])
            return err_set(e, "%s: field \"model.%s\" is set; byte-level BPE uses none", L->path, affixes[i]);
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return err_set(e, "%s: missing object field \"model.vocab\"", L->path);
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) return err_set(e, "%s: missing array field \"model.merges\"", L->path);
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsArray(added))
        return err_set(e, "%s: missing array field \"added_tokens\" (it holds the special tokens)", L->path);

    if (load_vocab(L, vocab, added, e) || load_specials(L, t, added, e)) return -1;
    for (int b = 0; b < 256; b++) t->byte_token[b] = -1;
    for (int id = 0; id < L->vocab_size; id++)
        if (L->tok_len[id] == 1 && !is_special(t, id) && t->byte_token[L->tok[id][0]] < 0)
            t->byte_token[L->tok[id][0]] = id;
    for (int b = 0; b < 256; b++)
        if (t->byte_token[b] < 0) {
            char sym[3];
            bytes_to_symbols(&L->alphabet, (const unsigned char[]){(unsigned char)b}, 1, sym);
            return err_set(e, "%s: field \"model.vocab\" lacks byte 0x%02X (\"%s\"); byte-level BPE needs all 256",
                           L->path, b, sym);
        }
    if (load_merges(L, t, merges, e)) return -1;

    t->vocab_size = L->vocab_size;
    t->tok_off = xmalloc(((size_t)t->vocab_size + 1) * sizeof *t->tok_off);
    t->tok_off[0] = 0;
    for (int id = 0; id < t->vocab_size; id++) t->tok_off[id + 1] = t->tok_off[id] + L->tok_len[id];
    t->tok_bytes = xmalloc(t->tok_off[t->vocab_size] + 1);
    for (int id = 0; id < t->vocab_size; id++)
        memcpy(t->tok_bytes + t->tok_off[id], L->tok[id], L->tok_len[id]);
    tokenizer_index_merges(t);
    return 0;
}

int tokenizer_load(Tokenizer **out, const char *path, Err *e)
{
    *out = NULL;
    char *text;
    size_t bytes;
    if (read_file(path, &text, &bytes, e)) return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, bytes, &end, 0);
    if (!root) {
        int rc = err_set(e, "%s: line %d: not valid JSON", path, line_of(text, end ? end : text));
        free(text);
        return rc;
    }
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set(e, "%s: expected a JSON object (a tokenizer.json)", path);
    }
    Loader L;
    memset(&L, 0, sizeof L);
    L.path = path;
    alphabet_init(&L.alphabet);
    Tokenizer *t = xcalloc(1, sizeof *t);
    int rc = build(&L, t, root, e);
    loader_free(&L);
    cJSON_Delete(root);
    if (rc) {
        tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}
