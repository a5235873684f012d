#include "data/chat.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/shard.h"
#include "data/zfile.h"

const char *chat_role_name(ChatRole r)
{
    return r == CHAT_SYSTEM ? "system" : r == CHAT_USER ? "user" : "assistant";
}

/* String literals hold real newlines (not "\n" escapes), so the template
 * means the same to every Jinja implementation. */
const char CHAT_TEMPLATE_JINJA[] =
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\n' + message['content'] + '<|endoftext|>\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}";

void chat_conversation_free(ChatConversation *c)
{
    for (int i = 0; i < c->n_messages; i++) free(c->messages[i].content);
    free(c->messages);
    c->messages = NULL;
    c->n_messages = 0;
}

/* ---- JSONL ------------------------------------------------------------ */

int chat_parse_line(ChatConversation *c, const char *json, size_t bytes,
                    const char *file, long line, Err *e)
{
    memset(c, 0, sizeof *c);
    const char *end_ptr = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, bytes, &end_ptr, 0);
    if (!root) {
        long col = end_ptr && end_ptr >= json && end_ptr <= json + bytes ? (long)(end_ptr - json) + 1 : 0;
        return col ? err_set(e, "%s:%ld: not valid JSON (column %ld)", file, line, col)
                   : err_set(e, "%s:%ld: not valid JSON", file, line);
    }
    /* anything but whitespace after the object is an error too */
    for (const char *p = end_ptr; p && p < json + bytes; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(root);
            return err_set(e, "%s:%ld: unexpected text after the JSON object (column %ld)", file, line,
                           (long)(p - json) + 1);
        }
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        err_set(e, "%s:%ld: expected a JSON object {\"messages\": [...]}", file, line);
        goto out;
    }
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!msgs) {
        err_set(e, "%s:%ld: missing \"messages\"", file, line);
        goto out;
    }
    int n = cJSON_GetArraySize(msgs);
    if (!cJSON_IsArray(msgs) || n == 0) {
        err_set(e, "%s:%ld: \"messages\" must be a non-empty array", file, line);
        goto out;
    }
    c->messages = calloc((size_t)n, sizeof *c->messages);
    if (!c->messages) {
        err_set(e, "%s:%ld: out of memory", file, line);
        goto out;
    }
    int i = 0;
    for (const cJSON *m = msgs->child; m; m = m->next, i++) {
        if (!cJSON_IsObject(m)) {
            err_set(e, "%s:%ld: messages[%d] is not an object", file, line, i);
            goto out;
        }
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(role)) {
            err_set(e, "%s:%ld: messages[%d].role is %s", file, line, i,
                    role ? "not a string" : "missing");
            goto out;
        }
        ChatRole r;
        if (strcmp(role->valuestring, "system") == 0) r = CHAT_SYSTEM;
        else if (strcmp(role->valuestring, "user") == 0) r = CHAT_USER;
        else if (strcmp(role->valuestring, "assistant") == 0) r = CHAT_ASSISTANT;
        else {
            err_set(e, "%s:%ld: messages[%d].role \"%.64s\" is not one of system, user, assistant",
                    file, line, i, role->valuestring);
            goto out;
        }
        if (!cJSON_IsString(content)) {
            err_set(e, "%s:%ld: messages[%d].content is %s", file, line, i,
                    content ? "not a string" : "missing");
            goto out;
        }
        c->messages[i].role = r;
        c->messages[i].content = strdup(content->valuestring);
        c->n_messages = i + 1;
        if (!c->messages[i].content) {
            err_set(e, "%s:%ld: out of memory", file, line);
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc) chat_conversation_free(c);
    return rc;
}

void chat_dataset_free(ChatDataset *d)
{
    for (size_t i = 0; i < d->n; i++) chat_conversation_free(&d->items[i]);
    free(d->items);
    free(d->lines);
    memset(d, 0, sizeof *d);
}

int chat_read_jsonl_skipping(ChatDataset *d, const char *path, long max_bad_lines, long *bad_lines, Err *first_bad,
                             Err *e)
{
    memset(d, 0, sizeof *d);
    if (bad_lines) *bad_lines = 0;
    LineReader *r;
    if (linereader_open(&r, path, e)) return -1;
    const char *buf;
    size_t len, cap = 0;
    long bad = 0;
    int rc = 0, got;
    while ((got = linereader_next(r, &buf, &len, e)) == 1) {
        long line = linereader_line(r);
        int blank = 1;
        for (size_t i = 0; i < len && blank; i++) blank = buf[i] == ' ' || buf[i] == '\t';
        if (blank) continue;
        if (d->n == cap) {
            cap = cap ? 2 * cap : 256;
            ChatConversation *items = realloc(d->items, cap * sizeof *items);
            if (items) d->items = items;
            long *lines = items ? realloc(d->lines, cap * sizeof *lines) : NULL;
            if (lines) d->lines = lines;
            if (!items || !lines) { rc = err_set(e, "%s:%ld: out of memory", path, line); break; }
        }
        Err le;
        if (chat_parse_line(&d->items[d->n], buf, len, path, line, &le)) {
            if (bad >= max_bad_lines) {
                *e = le;
                if (max_bad_lines > 0) err_wrap(e, "more than --max-bad-lines %ld bad lines", max_bad_lines);
                rc = -1;
                break;
            }
            if (bad++ == 0 && first_bad) *first_bad = le;
            continue;
        }
        d->lines[d->n++] = line;
    }
    if (got < 0) rc = -1;
    linereader_close(r);
    if (bad_lines) *bad_lines = bad;
    if (rc) chat_dataset_free(d);
    return rc;
}

int chat_read_jsonl(ChatDataset *d, const char *path, Err *e)
{
    return chat_read_jsonl_skipping(d, path, 0, NULL, NULL, e);
}

/* ---- template ----------------------------------------------------------- */

typedef struct {
    int    **ids;
    uint8_t **mask;      /* NULL: no mask wanted */
    size_t  *n, *cap;
    int     *scratch;    /* one piece's encoding */
    size_t   scratch_n, scratch_cap;
} Render;

static int reserve(Render *r, size_t extra)
{
    if (*r->n + extra <= *r->cap) return 0;
    size_t cap = *r->cap ? *r->cap : 256;
    while (cap < *r->n + extra) cap *= 2;
    int *ids = realloc(*r->ids, cap * sizeof *ids);
    if (!ids) return -1;
    *r->ids = ids;
    if (r->mask) {
        uint8_t *m = realloc(*r->mask, cap);
        if (!m) return -1;
        *r->mask = m;
    }
    *r->cap = cap;
    return 0;
}

static int put_ids(Render *r, const int *ids, size_t k, uint8_t m)
{
    if (reserve(r, k)) return -1;
    memcpy(*r->ids + *r->n, ids, k * sizeof *ids);
    if (r->mask) memset(*r->mask + *r->n, m, k);
    *r->n += k;
    return 0;
}

static int put_special(Render *r, const Tokenizer *t, SpecialToken s, uint8_t m)
{
    int id = tokenizer_special(t, s);
    return put_ids(r, &id, 1, m);
}

static int put_text(Render *r, const Tokenizer *t, const char *text, uint8_t m)
{
    r->scratch_n = 0;
    if (tokenizer_encode(t, text, strlen(text), &r->scratch, &r->scratch_n, &r->scratch_cap)) return -1;
    return put_ids(r, r->scratch, r->scratch_n, m);
}

static int put_message(Render *r, const Tokenizer *t, const ChatMessage *m)
{
    static const SpecialToken marker[] = {SPECIAL_SYSTEM, SPECIAL_USER, SPECIAL_ASSISTANT};
    if (put_special(r, t, marker[m->role], 0) || put_text(r, t, "\n", 0)) return -1;
    if (m->role != CHAT_ASSISTANT) return put_text(r, t, m->content, 0) || put_text(r, t, "\n", 0);
    return put_text(r, t, m->content, 1) || put_special(r, t, SPECIAL_ENDOFTEXT, 1) ||
           put_text(r, t, "\n", 0);
}

int chat_encode(const Tokenizer *t, const ChatConversation *c,
                int **ids, uint8_t **mask, size_t *n, size_t *cap, Err *e)
{
    Render r = {ids, mask, n, cap, NULL, 0, 0};
    int rc = 0;
    for (int i = 0; i < c->n_messages && !rc; i++) rc = put_message(&r, t, &c->messages[i]);
    free(r.scratch);
    return rc ? err_set(e, "chat: out of memory while encoding a conversation") : 0;
}

int chat_encode_prompt(const Tokenizer *t, const ChatConversation *c,
                       int **ids, size_t *n, size_t *cap, Err *e)
{
    Render r = {ids, NULL, n, cap, NULL, 0, 0};
    int rc = 0;
    for (int i = 0; i < c->n_messages && !rc; i++) rc = put_message(&r, t, &c->messages[i]);
    if (!rc) rc = put_special(&r, t, SPECIAL_ASSISTANT, 0) || put_text(&r, t, "\n", 0);
    free(r.scratch);
    return rc ? err_set(e, "chat: out of memory while encoding a prompt") : 0;
}

/* ---- SFT stream ------------------------------------------------------- */

void sft_stream_init(SftStream *s, size_t row_tokens)
{
    memset(s, 0, sizeof *s);
    s->row_tokens = row_tokens;
}

static int stream_reserve(SftStream *s, size_t extra, Err *e)
{
    if (s->n_tokens + extra <= s->cap) return 0;
    size_t nc = s->cap ? s->cap : 4096;
    while (nc < s->n_tokens + extra) nc *= 2;
    uint16_t *tk = realloc(s->tokens, nc * sizeof *tk);
    if (tk) s->tokens = tk;
    uint16_t *mk = tk ? realloc(s->mask, nc * sizeof *mk) : NULL;
    if (mk) s->mask = mk;
    if (!tk || !mk) return err_set(e, "sft: out of memory growing the token stream to %zu tokens", nc);
    s->cap = nc;
    return 0;
}

/* Fills the current row up to R tokens with <|endoftext|>, mask 0. */
static int pad_row(SftStream *s, const Tokenizer *t, Err *e)
{
    if (!s->row_tokens) return 0;
    size_t used = s->n_tokens % s->row_tokens;
    if (used == 0) return 0;
    size_t pad = s->row_tokens - used;
    if (stream_reserve(s, pad, e)) return -1;
    uint16_t end = (uint16_t)tokenizer_special(t, SPECIAL_ENDOFTEXT);
    for (size_t i = 0; i < pad; i++) {
        s->tokens[s->n_tokens + i] = end;
        s->mask[s->n_tokens + i] = 0;
    }
    s->n_tokens += pad;
    s->pad_tokens += (long)pad;
    return 0;
}

int sft_stream_add(SftStream *s, const Tokenizer *t, const ChatConversation *c,
                   size_t max_tokens, Err *e)
{
    if (tokenizer_vocab_size(t) > 65536)
        return err_set(e, "sft: vocabulary of %d tokens does not fit the uint16 shard format",
                       tokenizer_vocab_size(t));
    if (s->row_tokens && max_tokens > s->row_tokens) max_tokens = s->row_tokens;
    int *ids = NULL;
    uint8_t *mask = NULL;
    size_t n = 0, cap = 0;
    if (chat_encode(t, c, &ids, &mask, &n, &cap, e)) {
        free(ids);
        free(mask);
        return -1;
    }
    int truncated = n > max_tokens;
    if (truncated) n = max_tokens;
    size_t loss = 0;
    for (size_t i = 0; i < n; i++) loss += mask[i];
    int rc = 0;
    if (loss == 0) {
        s->dropped++;
        goto out;
    }
    /* a conversation never straddles two rows */
    if (s->row_tokens && s->n_tokens % s->row_tokens + n > s->row_tokens && pad_row(s, t, e)) {
        rc = -1;
        goto out;
    }
    if (stream_reserve(s, n, e)) {
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        s->tokens[s->n_tokens + i] = (uint16_t)ids[i];
        s->mask[s->n_tokens + i] = mask[i];
    }
    s->n_tokens += n;
    s->examples++;
    s->truncated += truncated;
    s->loss_tokens += (long)loss;
out:
    free(ids);
    free(mask);
    return rc;
}

int sft_stream_finish(SftStream *s, const Tokenizer *t, Err *e) { return pad_row(s, t, e); }

int sft_stream_write(const SftStream *s, const char *tokens_path, const char *mask_path, Err *e)
{
    if (shard_write(tokens_path, s->tokens, s->n_tokens, e)) return -1;
    return shard_write(mask_path, s->mask, s->n_tokens, e);
}

void sft_stream_free(SftStream *s)
{
    free(s->tokens);
    free(s->mask);
    memset(s, 0, sizeof *s);
}

void chat_space_replies(ChatConversation *c)
{
    for (int k = 0; k < c->n_messages; k++) {
        ChatMessage *m = &c->messages[k];
        if (m->role != CHAT_ASSISTANT || m->content[0] == ' ' || m->content[0] == 0) continue;
        size_t n = strlen(m->content);
        char *spaced = xmalloc(n + 2);
        spaced[0] = ' ';
        memcpy(spaced + 1, m->content, n + 1);
        free(m->content);
        m->content = spaced;
    }
}
