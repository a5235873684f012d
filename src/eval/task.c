#include "eval/task.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json_number.h"
#include "core/rng.h"

const char *task_kind_name(TaskKind k) { return k == TASK_MC ? "mc" : "qa"; }

static void mc_item_free(McItem *it)
{
    free(it->context);
    for (int i = 0; i < it->n_choices; i++) free(it->choices[i]);
    free(it->choices);
    free(it->attribute);
    memset(it, 0, sizeof *it);
}

static void qa_item_free(QaItem *it)
{
    chat_conversation_free(&it->conv);
    free(it->answer);
    free(it->attribute);
    memset(it, 0, sizeof *it);
}

void task_free(Task *t)
{
    for (int i = 0; i < t->n_items; i++) {
        if (t->mc) mc_item_free(&t->mc[i]);
        if (t->qa) qa_item_free(&t->qa[i]);
    }
    free(t->mc);
    free(t->qa);
    free(t->index);
    memset(t, 0, sizeof *t);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void task_sample(Task *t, long n, uint64_t seed)
{
    if (n <= 0 || n >= t->n_items) return;
    uint32_t *pos = xmalloc((unsigned long)t->n_items * sizeof *pos);
    for (int i = 0; i < t->n_items; i++) pos[i] = (uint32_t)i;
    Rng r = rng_stream(seed, TASK_SAMPLE_STREAM);
    rng_shuffle_u32(&r, pos, (uint64_t)t->n_items);
    qsort(pos, (size_t)n, sizeof *pos, cmp_u32);
    /* keep items pos[0..n) in place, in file order, freeing the others */
    char *keep = xcalloc((unsigned long)t->n_items, 1);
    for (long k = 0; k < n; k++) keep[pos[k]] = 1;
    for (int i = 0; i < t->n_items; i++)
        if (!keep[i]) {
            if (t->mc) mc_item_free(&t->mc[i]);
            if (t->qa) qa_item_free(&t->qa[i]);
        }
    long *index = xmalloc((unsigned long)n * sizeof *index);
    for (long k = 0; k < n; k++) {
        index[k] = t->index ? t->index[pos[k]] : (long)pos[k];
        if (t->mc) t->mc[k] = t->mc[pos[k]];
        if (t->qa) t->qa[k] = t->qa[pos[k]];
    }
    free(t->index);
    t->index = index;
    t->n_items = (int)n;
    free(keep);
    free(pos);
}

/* A string field that must be present. */
static int get_string(const cJSON *obj, const char *field, const char **out, const char *path,
                      int line, Err *e)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!f) return err_set(e, "%s:%d: missing field \"%s\"", path, line, field);
    if (!cJSON_IsString(f)) return err_set(e, "%s:%d: field \"%s\" must be a string", path, line, field);
    *out = f->valuestring;
    return 0;
}

static int parse_mc(McItem *it, const cJSON *obj, const char *path, int line, Err *e)
{
    const char *context = NULL;
    if (get_string(obj, "context", &context, path, line, e)) return -1;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(obj, "choices");
    if (!cJSON_IsArray(choices))
        return err_set(e, "%s:%d: field \"choices\" must be an array of strings", path, line);
    int n = cJSON_GetArraySize(choices);
    if (n < 2) return err_set(e, "%s:%d: \"choices\" has %d entries; at least 2 are needed", path, line, n);
    const cJSON *ans = cJSON_GetObjectItemCaseSensitive(obj, "answer");
    if (!ans) return err_set(e, "%s:%d: missing field \"answer\"", path, line);
    int answer;
    if (json_int(ans, 0, n - 1, &answer, e))
        return err_wrap(e, "%s:%d: \"answer\" must index the %d choices", path, line, n);
    const char *attribute = "";
    const cJSON *attr = cJSON_GetObjectItemCaseSensitive(obj, "attribute");
    if (attr) {
        if (!cJSON_IsString(attr))
            return err_set(e, "%s:%d: field \"attribute\" must be a string", path, line);
        attribute = attr->valuestring;
    }
    int k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, choices) {
        if (!cJSON_IsString(c))
            return err_set(e, "%s:%d: choice %d must be a string", path, line, k);
        if (c->valuestring[0] == 0)
            return err_set(e, "%s:%d: choice %d is empty", path, line, k);
        k++;
    }
    it->context = xstrdup(context);
    it->choices = xcalloc((unsigned long)n, sizeof *it->choices);
    it->n_choices = n;
    it->answer = answer;
    it->attribute = xstrdup(attribute);
    k = 0;
    cJSON_ArrayForEach(c, choices) it->choices[k++] = xstrdup(c->valuestring);
    return 0;
}

static int parse_qa(QaItem *it, const cJSON *obj, const char *text, size_t bytes, const char *path,
                    int line, Err *e)
{
    const char *answer = NULL, *attribute = "";
    if (get_string(obj, "answer", &answer, path, line, e)) return -1;
    const cJSON *attr = cJSON_GetObjectItemCaseSensitive(obj, "attribute");
    if (attr) {
        if (!cJSON_IsString(attr))
            return err_set(e, "%s:%d: field \"attribute\" must be a string", path, line);
        attribute = attr->valuestring;
    }
    if (chat_parse_line(&it->conv, text, bytes, path, line, e)) return -1;
    if (it->conv.messages[it->conv.n_messages - 1].role != CHAT_USER) {
        chat_conversation_free(&it->conv);
        return err_set(e, "%s:%d: the last message must be the user's question (role \"user\")", path, line);
    }
    it->answer = xstrdup(answer);
    it->attribute = xstrdup(attribute);
    return 0;
}

int task_parse(Task *t, const char *path, const char *text, Err *e)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(t->name, sizeof t->name, "%s", base);
    size_t len = strlen(t->name);
    if (len > 6 && strcmp(t->name + len - 6, ".jsonl") == 0) t->name[len - 6] = 0;

    int cap = 0, line = 0, kind = -1;
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        line++;
        const char *q = p;
        p = end ? end + 1 : p + n;
        size_t k = 0;
        while (k < n && (q[k] == ' ' || q[k] == '\t' || q[k] == '\r')) k++;
        if (k == n) continue;   /* blank line */

        cJSON *obj = cJSON_ParseWithLength(q, n);
        if (!obj) {
            task_free(t);
            return err_set(e, "%s:%d: not valid JSON", path, line);
        }
        if (!cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            task_free(t);
            return err_set(e, "%s:%d: expected a JSON object", path, line);
        }
        int this_kind = cJSON_HasObjectItem(obj, "choices") ? TASK_MC
                      : cJSON_HasObjectItem(obj, "messages") ? TASK_QA : -1;
        if (this_kind < 0) {
            cJSON_Delete(obj);
            task_free(t);
            return err_set(e, "%s:%d: neither a multiple-choice item (\"context\", \"choices\", \"answer\") "
                              "nor a generation item (\"messages\", \"answer\")", path, line);
        }
        if (kind >= 0 && this_kind != kind) {
            cJSON_Delete(obj);
            task_free(t);
            return err_set(e, "%s:%d: a %s item in a file of %s items", path, line,
                           this_kind == TASK_MC ? "multiple-choice" : "generation",
                           kind == TASK_MC ? "multiple-choice" : "generation");
        }
        if (kind < 0) {
            kind = this_kind;
            t->kind = (TaskKind)kind;
        }
        if (t->n_items == cap) {
            cap = cap ? 2 * cap : 64;
            if (kind == TASK_MC) {
                t->mc = realloc(t->mc, (size_t)cap * sizeof *t->mc);
                if (!t->mc) { cJSON_Delete(obj); return err_set(e, "%s: out of memory", path); }
            } else {
                t->qa = realloc(t->qa, (size_t)cap * sizeof *t->qa);
                if (!t->qa) { cJSON_Delete(obj); return err_set(e, "%s: out of memory", path); }
            }
        }
        int rc = kind == TASK_MC ? parse_mc(&t->mc[t->n_items], obj, path, line, e)
                                 : parse_qa(&t->qa[t->n_items], obj, q, n, path, line, e);
        cJSON_Delete(obj);
        if (rc) {
            task_free(t);
            return -1;
        }
        t->n_items++;
    }
    if (t->n_items == 0) {
        task_free(t);
        return err_set(e, "%s: no items (expected one JSON object per line)", path);
    }
    return 0;
}

int task_load(Task *t, const char *path, Err *e)
{
    char *text;
    size_t bytes;
    memset(t, 0, sizeof *t);
    if (read_file(path, &text, &bytes, e)) return -1;
    if (strlen(text) != bytes) {
        free(text);
        return err_set(e, "%s: contains a NUL byte (expected UTF-8 JSONL text)", path);
    }
    int rc = task_parse(t, path, text, e);
    free(text);
    return rc;
}
