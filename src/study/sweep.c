#include "study/sweep.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "eval/stats.h"
#include "study/runner.h"

int sweep_gap(Store *st, const char *seg_a, const char *seg_b, SweepGap *out, Err *e)
{
    *out = (SweepGap){NAN, NAN, 0};
    ItemScore *a = NULL, *b = NULL;
    int na = 0, nb = 0;
    int fa = store_read_items(st, seg_a, "sft_valid", NULL, &a, &na, e);
    int fb = fa < 0 ? -1 : store_read_items(st, seg_b, "sft_valid", NULL, &b, &nb, e);
    int rc = fa < 0 || fb < 0 ? -1 : 0;
    if (!rc && fa && fb && na == nb) {
        double *d = xmalloc((unsigned long)na * sizeof *d);
        for (int i = 0; i < na; i++) d[i] = a[i].score - b[i].score;
        weighted_mean_stderr(d, NULL, na, &out->diff, &out->std_err);
        out->n_items = na;
        free(d);
        rc = 1;
    }
    free(a);
    free(b);
    return rc;
}

/* The row of `rows` for this segment, or NULL. */
static const ArmValue *row_of(const ArmValue *rows, int n, const char *segment)
{
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i].segment, segment) == 0) return &rows[i];
    return NULL;
}

static void cell(char *out, size_t size, const ArmValue *v, double scale, int dec)
{
    if (!v || isnan(v->value)) snprintf(out, size, "n/a");
    else if (isnan(v->std_err)) snprintf(out, size, "%.*f", dec, scale * v->value);
    else snprintf(out, size, "%.*f ± %.*f", dec, scale * v->value, dec, scale * v->std_err);
}

enum { VAL_EM, VAL_LP, TEST_EM, TEST_LP, N_SERIES };

/* One base model's lines: its sweep rows, then the gap sentence into gaps. */
static int write_base(FILE *md, FILE *csv, FILE *gaps, const StudySpec *s, Store *st, int arm, int seed,
                      ArmValue *rows[N_SERIES], const int n[N_SERIES], Err *e)
{
    double chosen_lr = NAN;
    char chosen_seg[SEGMENT_ID_LEN + 1] = "";
    if (store_chosen_sft(st, s->name, s->arms[arm].name, s->seeds[seed], &chosen_lr, chosen_seg, e) < 0) return -1;
    const ArmValue *runner_up = NULL, *best = NULL;
    for (int i = 0; i < n[VAL_LP]; i++) {
        const ArmValue *v = &rows[VAL_LP][i];
        if (strcmp(v->arm, s->arms[arm].name) != 0 || v->seed != s->seeds[seed]) continue;
        if (strcmp(v->segment, chosen_seg) == 0) best = v;
        else if (!isnan(v->value) && (!runner_up || v->value > runner_up->value)) runner_up = v;
        const ArmValue *c[N_SERIES];
        char t[N_SERIES][64];
        for (int k = 0; k < N_SERIES; k++) {
            c[k] = row_of(rows[k], n[k], v->segment);
            cell(t[k], sizeof t[k], c[k], k == VAL_EM || k == TEST_EM ? 100 : 1, k == VAL_EM || k == TEST_EM ? 1 : 3);
        }
        int chosen = strcmp(v->segment, chosen_seg) == 0;
        fprintf(md, "| %s | %" PRIu64 " | %g%s | %s | %s | %s | %s |\n", v->arm, v->seed, v->sft_lr, chosen ? " *" : "",
                t[VAL_LP], t[VAL_EM], t[TEST_EM], t[TEST_LP]);
        fprintf(csv, "%s,%" PRIu64 ",%g,%.6g,%.6g,%.6g,%.6g,%d\n", v->arm, v->seed, v->sft_lr,
                c[VAL_EM] ? c[VAL_EM]->value : NAN, c[VAL_LP] ? c[VAL_LP]->value : NAN,
                c[TEST_EM] ? c[TEST_EM]->value : NAN, c[TEST_LP] ? c[TEST_LP]->value : NAN, chosen);
    }
    if (!best || !runner_up) return 0;
    SweepGap g;
    int found = sweep_gap(st, best->segment, runner_up->segment, &g, e);
    if (found < 0) return -1;
    fprintf(gaps, "- %s seed %" PRIu64 ": %g over %g by %+.4f nats/token", s->arms[arm].name, s->seeds[seed],
            best->sft_lr, runner_up->sft_lr, best->value - runner_up->value);
    if (found && g.std_err > 0)
        fprintf(gaps, ", %.1f standard errors of the difference paired over %ld validation items", g.diff / g.std_err,
                g.n_items);
    fprintf(gaps, "\n");
    return 0;
}

int sweep_write(FILE *md, const StudySpec *s, Store *st, const char *dir, Err *e)
{
    static const char *const suite[N_SERIES] = {"sft_valid", "sft_valid", "sft", "sft"};
    static const char *const metric[N_SERIES] = {"exact_match", SFT_LR_CHOICE_METRIC, "exact_match", "answer_logprob"};
    ArmValue *rows[N_SERIES] = {0};
    int n[N_SERIES] = {0}, rc = 0;
    for (int k = 0; k < N_SERIES && !rc; k++)
        rc = store_sft_evals(st, s->name, suite[k], "average", metric[k], &rows[k], &n[k], e);
    char *csv_buf = NULL, *gap_buf = NULL;
    size_t csv_len = 0, gap_len = 0;
    FILE *csv = rc ? NULL : open_memstream(&csv_buf, &csv_len);
    FILE *gaps = rc ? NULL : open_memstream(&gap_buf, &gap_len);
    if (!rc) {
        fprintf(md, "## SFT learning-rate sweep\n\nPer SFT learning rate: the validation split's answer "
                    "log-likelihood (nats/token, ± its standard error over items), on which the learning rate is "
                    "chosen (the best, ties to the smaller LR; marked *), and exact match (%%) on the validation and "
                    "test splits.\n\n| arm | seed | SFT LR | validation log-lik | validation exact match | test exact "
                    "match | test log-lik |\n|---|---:|---:|---:|---:|---:|---:|\n");
        fprintf(csv, "arm,seed,sft_lr,valid_exact_match,valid_answer_logprob,test_exact_match,test_answer_logprob,"
                     "chosen\n");
    }
    for (int a = 0; a < s->n_arms && !rc; a++)
        for (int k = 0; k < s->n_seeds && !rc; k++) rc = write_base(md, csv, gaps, s, st, a, k, rows, n, e);
    if (csv) fclose(csv);
    if (gaps) fclose(gaps);
    if (!rc) {
        if (gap_len)
            fprintf(md, "\nHow far apart the sweep's points were: the chosen LR's validation log-likelihood over the "
                        "runner-up's.\n\n%s", gap_buf);
        fprintf(md, "\nAs CSV: `sft_sweep.csv`.\n\n");
        char path[4096];
        path_join(path, sizeof path, dir, "sft_sweep.csv");
        rc = write_file_atomic(path, csv_buf, csv_len, e);
    }
    free(csv_buf);
    free(gap_buf);
    for (int k = 0; k < N_SERIES; k++) free(rows[k]);
    return rc;
}
