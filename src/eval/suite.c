#include "eval/suite.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json_number.h"
#include "core/progress.h"
#include "data/chat.h"
#include "eval/loss.h"
#include "eval/mc.h"
#include "eval/qa.h"
#include "eval/stats.h"
#include "eval/task.h"

void eval_report_init(EvalReport *r, const char *suite)
{
    memset(r, 0, sizeof *r);
    snprintf(r->suite, sizeof r->suite, "%s", suite);
}

void eval_report_free(EvalReport *r)
{
    for (int i = 0; i < r->n_item_sets; i++) {
        free(r->items_of[i].index);
        free(r->items_of[i].correct);
        free(r->items_of[i].score);
    }
    free(r->items_of);
    free(r->rows);
    memset(r, 0, sizeof *r);
}

void eval_report_add(EvalReport *r, const char *task, const char *metric, double value, double std_err,
                     long n, EvalRowKind kind)
{
    if (r->n_rows == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 32;
        EvalRow *p = xmalloc((unsigned long)r->cap * sizeof *p);
        if (r->n_rows) memcpy(p, r->rows, (size_t)r->n_rows * sizeof *p);
        free(r->rows);
        r->rows = p;
    }
    EvalRow *row = &r->rows[r->n_rows++];
    memset(row, 0, sizeof *row);
    snprintf(row->task, sizeof row->task, "%s", task);
    snprintf(row->metric, sizeof row->metric, "%s", metric);
    row->value = value;
    row->std_err = std_err;
    row->n = n;
    row->kind = kind;
}

void eval_report_add_items(EvalReport *r, const char *task, const char *score_metric, long n, const long *index,
                           const int *correct, const double *score)
{
    r->items_of = xrealloc(r->items_of, (unsigned long)(r->n_item_sets + 1) * sizeof *r->items_of);
    EvalItems *it = &r->items_of[r->n_item_sets++];
    *it = (EvalItems){.n = n};
    snprintf(it->task, sizeof it->task, "%s", task);
    snprintf(it->score_metric, sizeof it->score_metric, "%s", score_metric);
    size_t len = (size_t)(n > 0 ? n : 1);
    it->index = xmalloc(len * sizeof *it->index);
    it->correct = xmalloc(len * sizeof *it->correct);
    it->score = xmalloc(len * sizeof *it->score);
    for (long i = 0; i < n; i++) it->index[i] = index ? index[i] : i;
    if (n > 0) {
        memcpy(it->correct, correct, (size_t)n * sizeof *correct);
        memcpy(it->score, score, (size_t)n * sizeof *score);
    }
}

const EvalRow *eval_report_find(const EvalReport *r, const char *task, const char *metric)
{
    for (int i = 0; i < r->n_rows; i++)
        if (strcmp(r->rows[i].task, task) == 0 && strcmp(r->rows[i].metric, metric) == 0) return &r->rows[i];
    return NULL;
}

/* Adds "average" rows: the plain mean over the task rows of each metric. */
static void add_averages(EvalReport *r, const char *const *metrics, int n_metrics)
{
    for (int k = 0; k < n_metrics; k++) {
        double sum = 0, *se = xmalloc((unsigned long)(r->n_rows + 1) * sizeof(double));
        long n = 0;
        int tasks = 0;
        for (int i = 0; i < r->n_rows; i++) {
            const EvalRow *row = &r->rows[i];
            if (row->kind != ROW_TASK || strcmp(row->metric, metrics[k]) != 0) continue;
            sum += row->value;
            se[tasks++] = row->std_err;
            n += row->n;
        }
        if (tasks > 0) eval_report_add(r, "average", metrics[k], sum / tasks, stderr_of_average(se, tasks), n, ROW_AVERAGE);
        free(se);
    }
}

/* The items of t a suite scores: a seeded sample of `limit` when the
 * report asks for samples (t keeps only those, and 0 is returned: score
 * all), else the first `limit` (<= 0: all). */
static long task_limit(Task *t, const EvalReport *r, long limit)
{
    if (!r->sample_seed || limit <= 0) return limit;
    task_sample(t, limit, r->sample_seed);
    return 0;
}

int eval_suite_pt(EvalReport *r, const char *const *files, int n_files, const Tokenizer *tok,
                  const TokenScorer *s, long task_limit_of, Err *e)
{
    double t0 = now_seconds();
    for (int f = 0; f < n_files; f++) {
        Task t;
        if (task_load(&t, files[f], e)) return -1;
        if (t.kind != TASK_MC) {
            err_set(e, "%s: the pt suite needs multiple-choice items (\"context\", \"choices\", \"answer\")", files[f]);
            task_free(&t);
            return -1;
        }
        long limit = task_limit(&t, r, task_limit_of);
        Progress p;
        long n = limit > 0 && limit < t.n_items ? limit : t.n_items;
        progress_start(&p, t.name, (uint64_t)n, "items");
        p.silent = r->quiet;
        McResult m;
        int rc = mc_evaluate(&t, tok, s, limit, &m, NULL, &p, e);
        progress_finish(&p);
        if (rc) {
            task_free(&t);
            return -1;
        }
        eval_report_add(r, t.name, "acc", m.acc, m.acc_stderr, m.n, ROW_TASK);
        eval_report_add(r, t.name, "acc_norm", m.acc_norm, m.acc_norm_stderr, m.n, ROW_TASK);
        eval_report_add(r, t.name, "margin", m.margin, m.margin_stderr, m.n, ROW_TASK);
        int *correct = xmalloc((unsigned long)m.n * sizeof *correct);
        double *margin = xmalloc((unsigned long)m.n * sizeof *margin);
        for (long i = 0; i < m.n; i++) {
            correct[i] = m.items[i].correct;
            margin[i] = m.items[i].margin;
        }
        eval_report_add_items(r, t.name, "margin", m.n, t.index, correct, margin);
        free(correct);
        free(margin);
        if (m.n_fallback)   /* items scored by mc.h's rule 2': a merge across the context/choice boundary */
            eval_report_add(r, t.name, "boundary_fallback", (double)m.n_fallback, 0, m.n, ROW_TASK);
        if (m.n_attrs > 1 || (m.n_attrs == 1 && m.attrs[0].name[0]))
            for (int k = 0; k < m.n_attrs; k++) {
                char name[384];
                snprintf(name, sizeof name, "%s/%s", t.name, m.attrs[k].name[0] ? m.attrs[k].name : "-");
                eval_report_add(r, name, "acc", m.attrs[k].acc, m.attrs[k].acc_stderr, m.attrs[k].n, ROW_ATTRIBUTE);
                eval_report_add(r, name, "acc_norm", m.attrs[k].acc_norm, m.attrs[k].acc_norm_stderr,
                                m.attrs[k].n, ROW_ATTRIBUTE);
            }
        r->items += m.n;
        mc_result_free(&m);
        task_free(&t);
    }
    static const char *const metrics[] = {"acc", "acc_norm", "margin"};
    add_averages(r, metrics, 3);
    r->seconds += now_seconds() - t0;
    return 0;
}

int eval_suite_sft(EvalReport *r, const char *const *files, int n_files, const Tokenizer *tok,
                   const Generator *g, const TokenScorer *s, int space_reply, int max_new, long task_limit_of, Err *e)
{
    double t0 = now_seconds();
    for (int f = 0; f < n_files; f++) {
        Task t;
        if (task_load(&t, files[f], e)) return -1;
        if (t.kind != TASK_QA) {
            err_set(e, "%s: the sft suite needs generation items (\"messages\", \"answer\")", files[f]);
            task_free(&t);
            return -1;
        }
        long limit = task_limit(&t, r, task_limit_of);
        Progress p;
        long n = limit > 0 && limit < t.n_items ? limit : t.n_items;
        progress_start(&p, t.name, (uint64_t)n, "items");
        p.silent = r->quiet;
        QaResult q;
        int rc = qa_evaluate(&t, tok, g, max_new, limit, &q, &p, e);
        progress_finish(&p);
        double *logprob = NULL, lp_mean = NAN, lp_se = NAN;
        if (!rc && s) {
            logprob = xmalloc((unsigned long)(n > 0 ? n : 1) * sizeof *logprob);
            progress_start(&p, t.name, (uint64_t)n, "answers");
            p.silent = r->quiet;
            rc = qa_answer_logprob(&t, tok, s, limit, space_reply, logprob, &lp_mean, &lp_se, &p, e);
            progress_finish(&p);
            if (rc) qa_result_free(&q);
        }
        if (rc) {
            free(logprob);
            task_free(&t);
            return -1;
        }
        for (long i = 0; i < q.n && i < r->show_samples; i++)
            fprintf(stderr, "%s %ld: %s | %s -> \"%s\" (reference \"%s\")\n", t.name, i + 1,
                    t.qa[i].attribute, t.qa[i].conv.messages[t.qa[i].conv.n_messages - 1].content,
                    q.predictions[i], t.qa[i].answer);
        eval_report_add(r, t.name, "exact_match", q.em, q.em_stderr, q.n, ROW_TASK);
        if (logprob) {
            eval_report_add(r, t.name, "answer_logprob", lp_mean, lp_se, q.n, ROW_TASK);
            eval_report_add_items(r, t.name, "answer_logprob", q.n, t.index, q.item_correct, logprob);
            free(logprob);
        }
        if (q.n_attrs > 1 || (q.n_attrs == 1 && q.attrs[0].name[0]))
            for (int k = 0; k < q.n_attrs; k++) {
                char name[384];
                snprintf(name, sizeof name, "%s/%s", t.name, q.attrs[k].name[0] ? q.attrs[k].name : "-");
                eval_report_add(r, name, "exact_match", q.attrs[k].em, q.attrs[k].em_stderr, q.attrs[k].n,
                                ROW_ATTRIBUTE);
            }
        r->items += q.n;
        qa_result_free(&q);
        task_free(&t);
    }
    static const char *const metrics[] = {"exact_match", "answer_logprob"};
    add_averages(r, metrics, 2);
    r->seconds += now_seconds() - t0;
    return 0;
}

int eval_suite_loss(EvalReport *r, const char *name, const uint16_t *tokens, const uint16_t *mask,
                    size_t n_tokens, LoaderLayout layout, const TokenScorer *s, long limit, Err *e)
{
    double t0 = now_seconds();
    int64_t windows = loss_window_count(n_tokens, s->max_tokens, layout);
    if (limit > 0 && limit < windows) {
        n_tokens = layout == LOADER_ROWS ? (size_t)limit * (size_t)s->max_tokens
                                         : (size_t)limit * (size_t)(s->max_tokens - 1) + 1;
        windows = limit;
    }
    Progress p;
    progress_start(&p, name, (uint64_t)windows, "windows");
    p.silent = r->quiet;
    LossResult l;
    int rc = loss_evaluate(tokens, mask, n_tokens, layout, s, &l, &p, e);
    progress_finish(&p);
    if (rc) return err_wrap(e, "%s", name);
    eval_report_add(r, name, "loss", l.mean_loss, l.mean_stderr, (long)l.n_scored, ROW_TASK);
    r->items += l.n_windows;
    r->seconds += now_seconds() - t0;
    return 0;
}

int eval_suite_chat_loss(EvalReport *r, const char *name, const char *jsonl_path, const Tokenizer *tok,
                         const TokenScorer *s, long limit, Err *e)
{
    ChatDataset d;
    if (chat_read_jsonl(&d, jsonl_path, e)) return -1;
    SftStream st;
    sft_stream_init(&st, (size_t)s->max_tokens);
    int rc = 0;
    for (size_t i = 0; i < d.n && !rc; i++) rc = sft_stream_add(&st, tok, &d.items[i], (size_t)s->max_tokens, e);
    chat_dataset_free(&d);
    if (!rc) rc = sft_stream_finish(&st, tok, e);
    if (!rc) rc = eval_suite_loss(r, name, st.tokens, st.mask, st.n_tokens, LOADER_ROWS, s, limit, e);
    sft_stream_free(&st);
    return rc ? err_wrap(e, "%s", jsonl_path) : 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int eval_world_tasks(const char *world_dir, const char *suite, char ***files, int *n_files, Err *e)
{
    const char *prefix = strcmp(suite, "pt") == 0 ? "eval_mc_" : strcmp(suite, "sft") == 0 ? "eval_qa_" : NULL;
    *files = NULL;
    *n_files = 0;
    if (!prefix) return err_set(e, "suite '%s' has no task files (expected pt or sft)", suite);
    DIR *d = opendir(world_dir);
    if (!d) return err_set(e, "%s: cannot open the world folder", world_dir);
    int cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 || len < 6 ||
            strcmp(de->d_name + len - 6, ".jsonl") != 0)
            continue;
        if (*n_files == cap) {
            cap = cap ? 2 * cap : 8;
            char **p = xmalloc((unsigned long)cap * sizeof *p);
            if (*n_files) memcpy(p, *files, (size_t)*n_files * sizeof *p);
            free(*files);
            *files = p;
        }
        char path[4096];
        path_join(path, sizeof path, world_dir, de->d_name);
        (*files)[*n_files] = xmalloc(strlen(path) + 1);
        strcpy((*files)[(*n_files)++], path);
    }
    closedir(d);
    if (*n_files == 0)
        return err_set(e, "%s: no %s*.jsonl task files for the %s suite", world_dir, prefix, suite);
    qsort(*files, (size_t)*n_files, sizeof **files, cmp_str);
    return 0;
}

void eval_report_print(FILE *fp, const EvalReport *r)
{
    int w = 4;
    for (int i = 0; i < r->n_rows; i++) {
        int len = (int)strlen(r->rows[i].task) + (r->rows[i].kind == ROW_ATTRIBUTE ? 2 : 0);
        if (len > w) w = len;
    }
    fprintf(fp, "%-*s  %-12s %9s %9s %8s\n", w, "task", "metric", "value", "stderr", "n");
    for (int i = 0; i < r->n_rows; i++) {
        const EvalRow *row = &r->rows[i];
        char name[400];
        snprintf(name, sizeof name, "%s%s", row->kind == ROW_ATTRIBUTE ? "  " : "", row->task);
        fprintf(fp, "%-*s  %-12s %9.4f %9.4f %8ld\n", w, name, row->metric, row->value, row->std_err, row->n);
    }
}

cJSON *eval_report_json(const EvalReport *r)
{
    static const char *const kinds[] = {"task", "attribute", "average"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "suite", r->suite);
    cJSON_AddNumberToObject(o, "items", (double)r->items);
    cJSON *rows = cJSON_AddArrayToObject(o, "rows");
    for (int i = 0; i < r->n_rows; i++) {
        const EvalRow *row = &r->rows[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "task", row->task);
        cJSON_AddStringToObject(j, "metric", row->metric);
        json_add_exact(j, "value", row->value);
        json_add_exact(j, "stderr", row->std_err);
        cJSON_AddNumberToObject(j, "n", (double)row->n);
        cJSON_AddStringToObject(j, "kind", kinds[row->kind]);
        cJSON_AddItemToArray(rows, j);
    }
    return o;
}
