/* The paper's results table for one study: per arm, each metric as mean +-
 * standard error over seeds and as Delta from the best decay-based arm
 * (report_math.h). The runner fills the per-seed values from the store; this
 * module only does the arithmetic and the layout, so tables can be checked
 * against hand-set numbers. */
#ifndef PLATEAU_STUDY_REPORT_TABLE_H
#define PLATEAU_STUDY_REPORT_TABLE_H

#include <stdio.h>

#include "core/error.h"
#include "study/report_math.h"
#include "study/spec.h"

typedef struct {
    char      label[48];     /* column header, e.g. "PT valid loss", "SFT task avg" */
    Direction dir;           /* loss: LOWER_IS_BETTER; scores: HIGHER_IS_BETTER */
    int       decimals;      /* 3 for losses, 1 for scores in percent (the paper's) */
    double    value[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];   /* [arm][seed index]; NaN = missing */
} ReportColumn;

typedef struct {
    MeanStdErr stat[STUDY_MAX_ARMS];
    double     delta[STUDY_MAX_ARMS];   /* of the means */
    int        best;                    /* the reference arm (+0.0) */
} ReportColumnResult;

/* Sets every value to NaN and fills the header fields. */
void report_column_init(ReportColumn *c, const char *label, Direction dir, int decimals);

/* Means over seeds and Deltas for one column; decay-based arms per
 * arm_decays(). Fails if no decay-based arm has a value. */
int report_column_compute(const StudySpec *s, const ReportColumn *c, ReportColumnResult *r, Err *e);

/* One cell of a mean over seeds: "mean ± se" at `decimals`, the mean alone
 * for one value, "n/a" for none; followed by " (k seeds)" when it rests on
 * fewer than the study's n_seeds (a seed still running, or one that failed),
 * so that no cell claims the study's seed count without having it. */
void report_mean_cell(char *out, size_t size, const MeanStdErr *m, int decimals, int n_seeds);

/* A Markdown table: one row per arm, for each column its report_mean_cell
 * then its Delta; a closing line names the study's seed count (and, when a
 * cell has fewer, says that such cells give their own) and the reference arm
 * per column. */
void report_table_markdown(FILE *fp, const StudySpec *s, const ReportColumn *cols, const ReportColumnResult *res,
                           int n_cols);

/* A CSV file written beside the report: rows go to f, then report_csv_save
 * writes them atomically to dir/name (and frees the buffer); a NaN field
 * ("nan", "-nan") is written empty, CSV's missing value. */
typedef struct {
    FILE  *f;
    char  *buf;
    size_t len;
} ReportCsv;
void report_csv_open(ReportCsv *c, const char *header);
int report_csv_save(ReportCsv *c, const char *dir, const char *name, Err *e);

#endif
