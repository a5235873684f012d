#include "study/report_table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

void report_column_init(ReportColumn *c, const char *label, Direction dir, int decimals)
{
    memset(c, 0, sizeof *c);
    snprintf(c->label, sizeof c->label, "%s", label);
    c->dir = dir;
    c->decimals = decimals;
    for (int a = 0; a < STUDY_MAX_ARMS; a++)
        for (int k = 0; k < STUDY_MAX_SEEDS; k++) c->value[a][k] = NAN;
}

int report_column_compute(const StudySpec *s, const ReportColumn *c, ReportColumnResult *r, Err *e)
{
    double mean[STUDY_MAX_ARMS];
    int decays[STUDY_MAX_ARMS];
    for (int a = 0; a < s->n_arms; a++) {
        r->stat[a] = mean_std_err(c->value[a], s->n_seeds);
        mean[a] = r->stat[a].mean;
        decays[a] = arm_decays(s, &s->arms[a]);
    }
    if (delta_from_best_decay(mean, decays, s->n_arms, c->dir, r->delta, &r->best, e))
        return err_wrap(e, "column '%s'", c->label);
    return 0;
}

void report_mean_cell(char *out, size_t size, const MeanStdErr *m, int decimals, int n_seeds)
{
    int used;
    if (m->n == 0) used = snprintf(out, size, "n/a");
    else if (isnan(m->std_err)) used = snprintf(out, size, "%.*f", decimals, m->mean);
    else used = snprintf(out, size, "%.*f ± %.*f", decimals, m->mean, decimals, m->std_err);
    if (m->n > 0 && m->n < n_seeds && used >= 0 && (size_t)used < size)
        snprintf(out + used, size - (size_t)used, " (%d seed%s)", m->n, m->n == 1 ? "" : "s");
}

void report_table_markdown(FILE *fp, const StudySpec *s, const ReportColumn *cols, const ReportColumnResult *res,
                           int n_cols)
{
    fprintf(fp, "| arm |");
    for (int c = 0; c < n_cols; c++) fprintf(fp, " %s | Δ |", cols[c].label);
    fprintf(fp, "\n|---|");
    for (int c = 0; c < n_cols; c++) fprintf(fp, "---:|---:|");
    fprintf(fp, "\n");
    int short_cells = 0;
    for (int a = 0; a < s->n_arms; a++) {
        fprintf(fp, "| %s |", s->arms[a].name);
        for (int c = 0; c < n_cols; c++) {
            char m[80], d[32];
            const MeanStdErr *st = &res[c].stat[a];
            report_mean_cell(m, sizeof m, st, cols[c].decimals, s->n_seeds);
            format_delta(d, sizeof d, res[c].delta[a], cols[c].decimals);
            fprintf(fp, " %s | %s |", m, d);
            short_cells += st->n > 0 && st->n < s->n_seeds;
        }
        fprintf(fp, "\n");
    }
    fprintf(fp, "\nMean ± standard error over %d seed%s%s. Δ: difference from the best decay-based arm on that metric (",
            s->n_seeds, s->n_seeds == 1 ? "" : "s",
            short_cells ? "; a cell with fewer (a seed still running, or one that failed) gives its count" : "");
    for (int c = 0; c < n_cols; c++)
        fprintf(fp, "%s%s: %s", c ? "; " : "", cols[c].label, s->arms[res[c].best].name);
    fprintf(fp, ").\n");
}

void report_csv_open(ReportCsv *c, const char *header)
{
    c->buf = NULL;
    c->f = open_memstream(&c->buf, &c->len);
    if (!c->f) {
        fprintf(stderr, "plateau: out of memory opening a report table\n");
        exit(1);
    }
    fputs(header, c->f);
}

/* Drops every field that is exactly "nan" or "-nan" (printf's NaN) in
 * place: a missing value is an empty field, as CSV readers expect. Returns
 * the new length. */
static size_t blank_nan_fields(char *buf, size_t len)
{
    size_t out = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && buf[j] != ',' && buf[j] != '\n') j++;
        size_t n = j - i;
        int is_nan = (n == 3 && memcmp(buf + i, "nan", 3) == 0) || (n == 4 && memcmp(buf + i, "-nan", 4) == 0);
        if (!is_nan) {
            memmove(buf + out, buf + i, n);
            out += n;
        }
        if (j < len) buf[out++] = buf[j++];
        i = j;
    }
    return out;
}

int report_csv_save(ReportCsv *c, const char *dir, const char *name, Err *e)
{
    fclose(c->f);
    char path[4096];
    path_join(path, sizeof path, dir, name);
    c->len = blank_nan_fields(c->buf, c->len);
    int rc = write_file_atomic(path, c->buf, c->len, e);
    free(c->buf);
    return rc;
}
