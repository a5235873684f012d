#include "study/store_log.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OP_RUNNING = 1, OP_DONE, OP_METRICS, OP_EVALS, OP_SHARPNESS, OP_ITEMS };

/* ---- writing ---------------------------------------------------------- */

static void put(StoreLog *l, const void *p, size_t n)
{
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + n) cap *= 2;
        unsigned char *b = realloc(l->buf, cap);
        if (!b) {
            fprintf(stderr, "plateau: out of memory recording results\n");
            abort();
        }
        l->buf = b;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, p, n);
    l->len += n;
}

/* The layout is the machine's; every rank of a launch shares it (see the header). */
static void put_u8(StoreLog *l, int v) { put(l, &(unsigned char){(unsigned char)v}, 1); }
static void put_i32(StoreLog *l, int32_t v) { put(l, &v, sizeof v); }
static void put_i64(StoreLog *l, int64_t v) { put(l, &v, sizeof v); }
static void put_f64(StoreLog *l, double v) { put(l, &v, sizeof v); }
static void put_str(StoreLog *l, const char *s)
{
    int32_t n = (int32_t)strlen(s);
    put_i32(l, n);
    put(l, s, (size_t)n);
}

void store_log_running(StoreLog *l, const char *segment)
{
    put_u8(l, OP_RUNNING);
    put_str(l, segment);
}

void store_log_done(StoreLog *l, const char *segment, const char *checkpoint)
{
    put_u8(l, OP_DONE);
    put_str(l, segment);
    put_str(l, checkpoint);
}

/* What the store keeps of each: StepMetrics without its timings, EvalRow
 * without its kind (study/store.h). */
void store_log_metrics(StoreLog *l, const char *segment, const StepMetrics *m, int n)
{
    put_u8(l, OP_METRICS);
    put_str(l, segment);
    put_i32(l, n);
    for (int i = 0; i < n; i++) {
        put_i64(l, m[i].step);
        put_f64(l, m[i].loss);
        put_f64(l, m[i].lr);
        put_f64(l, m[i].grad_norm);
        put_i64(l, m[i].tokens);
    }
}

void store_log_evals(StoreLog *l, const char *segment, int64_t step, const char *suite, const EvalRow *r, int n)
{
    put_u8(l, OP_EVALS);
    put_str(l, segment);
    put_i64(l, step);
    put_str(l, suite);
    put_i32(l, n);
    for (int i = 0; i < n; i++) {
        put_str(l, r[i].task);
        put_str(l, r[i].metric);
        put_f64(l, r[i].value);
        put_f64(l, r[i].std_err);
        put_i64(l, (int64_t)r[i].n);
    }
}

void store_log_sharpness(StoreLog *l, const char *segment, int64_t step, const char *data, const TraceEstimate *t,
                         double top_eigenvalue)
{
    put_u8(l, OP_SHARPNESS);
    put_str(l, segment);
    put_i64(l, step);
    put_str(l, data);
    put_f64(l, t->mean);
    put_f64(l, t->std_error);
    put_i32(l, t->probes);
    put_f64(l, top_eigenvalue);
}

void store_log_items(StoreLog *l, const char *segment, int64_t step, const char *suite, const char *task,
                     const char *score_metric, long n, const long *item, const int *correct, const double *score)
{
    put_u8(l, OP_ITEMS);
    put_str(l, segment);
    put_i64(l, step);
    put_str(l, suite);
    put_str(l, task);
    put_str(l, score_metric);
    put_i32(l, (int32_t)n);
    for (long i = 0; i < n; i++) {
        put_i64(l, item ? item[i] : i);
        put_i32(l, correct[i]);
        put_f64(l, score[i]);
    }
}

/* ---- reading and replaying -------------------------------------------- */

typedef struct {
    const unsigned char *p, *end;
    int                  bad;
} Reader;

static void take(Reader *r, void *out, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
}

static int32_t get_i32(Reader *r) { int32_t v; take(r, &v, sizeof v); return v; }
static int64_t get_i64(Reader *r) { int64_t v; take(r, &v, sizeof v); return v; }
static double get_f64(Reader *r) { double v; take(r, &v, sizeof v); return v; }

/* A string into one of the reader's buffers (NUL-terminated). */
static const char *get_str(Reader *r, char *buf, size_t cap)
{
    int32_t n = get_i32(r);
    if (r->bad || n < 0 || (size_t)n >= cap || (size_t)(r->end - r->p) < (size_t)n) {
        r->bad = 1;
        buf[0] = 0;
        return buf;
    }
    memcpy(buf, r->p, (size_t)n);
    buf[n] = 0;
    r->p += n;
    return buf;
}

/* Rows of one entry are bounded by what the remaining bytes can hold. */
static int count_ok(const Reader *r, int32_t n, size_t min_row_bytes)
{
    return !r->bad && n >= 0 && (size_t)n <= (size_t)(r->end - r->p) / min_row_bytes;
}

static int replay_entry(Store *s, Reader *r, int op, Err *e)
{
    char seg[256], a[4096];
    get_str(r, seg, sizeof seg);
    switch (op) {
    case OP_RUNNING:
        return r->bad ? 1 : store_segment_running(s, seg, e);
    case OP_DONE:
        get_str(r, a, sizeof a);
        return r->bad ? 1 : store_segment_done(s, seg, a, e);
    case OP_METRICS: {
        int32_t n = get_i32(r);
        if (!count_ok(r, n, 40)) return 1;
        StepMetrics *m = xmalloc((size_t)(n ? n : 1) * sizeof *m);
        for (int i = 0; i < n; i++) {   /* one statement per field: the encoding's order */
            m[i] = (StepMetrics){.tokens_per_s = NAN};
            m[i].step = get_i64(r);
            m[i].loss = get_f64(r);
            m[i].lr = get_f64(r);
            m[i].grad_norm = get_f64(r);
            m[i].tokens = get_i64(r);
        }
        int rc = r->bad ? 1 : store_record_metrics(s, seg, m, n, e);
        free(m);
        return rc;
    }
    case OP_EVALS: {
        int64_t step = get_i64(r);
        char suite[128];
        get_str(r, suite, sizeof suite);
        int32_t n = get_i32(r);
        if (!count_ok(r, n, 32)) return 1;
        EvalRow *rows = xcalloc((size_t)(n ? n : 1), sizeof *rows);
        for (int i = 0; i < n; i++) {
            get_str(r, rows[i].task, sizeof rows[i].task);
            get_str(r, rows[i].metric, sizeof rows[i].metric);
            rows[i].value = get_f64(r);
            rows[i].std_err = get_f64(r);
            rows[i].n = (long)get_i64(r);
        }
        int rc = r->bad ? 1 : store_record_evals(s, seg, step, suite, rows, n, e);
        free(rows);
        return rc;
    }
    case OP_ITEMS: {
        int64_t step = get_i64(r);
        char suite[128], task[256], metric[64];
        get_str(r, suite, sizeof suite);
        get_str(r, task, sizeof task);
        get_str(r, metric, sizeof metric);
        int32_t n = get_i32(r);
        if (!count_ok(r, n, 20)) return 1;
        long *item = xmalloc((size_t)(n ? n : 1) * sizeof *item);
        int *correct = xmalloc((size_t)(n ? n : 1) * sizeof *correct);
        double *score = xmalloc((size_t)(n ? n : 1) * sizeof *score);
        for (int i = 0; i < n; i++) {   /* one statement per field: the encoding's order */
            item[i] = (long)get_i64(r);
            correct[i] = get_i32(r);
            score[i] = get_f64(r);
        }
        int rc = r->bad ? 1 : store_record_items(s, seg, step, suite, task, metric, n, item, correct, score, e);
        free(item);
        free(correct);
        free(score);
        return rc;
    }
    case OP_SHARPNESS: {
        int64_t step = get_i64(r);
        char data[8];
        get_str(r, data, sizeof data);
        TraceEstimate t;
        t.mean = get_f64(r);
        t.std_error = get_f64(r);
        t.probes = get_i32(r);
        double top = get_f64(r);
        return r->bad ? 1 : store_record_sharpness(s, seg, step, data, &t, top, e);
    }
    }
    return 1;
}

int store_replay(Store *s, const void *bytes, size_t n, Err *e)
{
    Reader r = {bytes, (const unsigned char *)bytes + n, 0};
    for (int entry = 0; r.p < r.end; entry++) {
        unsigned char op;
        size_t at = (size_t)(r.p - (const unsigned char *)bytes);
        take(&r, &op, 1);
        int rc = replay_entry(s, &r, op, e);
        if (rc < 0) return err_wrap(e, "replaying recorded results, entry %d", entry);
        if (rc > 0)
            return err_set(e, "recorded results: entry %d (op %d at byte %zu of %zu) is malformed or truncated",
                           entry, op, at, n);
    }
    return 0;
}
