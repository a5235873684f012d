/* The report's charts (PNG through gnuplot, core/plot.h), written beside
 * report.md: the LR schedules, the training loss of each arm's first seed
 * (the title names it), the sharpness along pre-training on both probe
 * batches (mean over seeds with its 95% interval; a wsm arm, which trains
 * nothing of its own before it merges, as one point at its merge step), and
 * the base models' sharpness and forgetting against their SFT score. */
#ifndef PLATEAU_STUDY_REPORT_PLOTS_H
#define PLATEAU_STUDY_REPORT_PLOTS_H

#include <stdint.h>
#include <stdio.h>

#include "study/report_results.h"

/* One step of an arm's Tr(H) along pre-training on one probe batch: the
 * value of each seed (NaN: not probed yet) with its standard error over
 * probes, and their mean with the half width of its 95% interval, as the
 * report's sharpness table states it (findings.h trace_interval). */
typedef struct {
    int64_t step;                      /* pre-training step */
    double  trace[STUDY_MAX_SEEDS];    /* per seed index of the study */
    double  std_err[STUDY_MAX_SEEDS];
    double  mean, half;                /* NaN half: one seed without a standard error */
    int     n_seeds;                   /* seeds with a value */
} TracePoint;

/* The probes on `data` ("pt" or "sft") along arm a's path to the end of
 * pre-training, one point per probed step, in step order; *out is malloc'd
 * (caller frees; NULL when none). A wsm arm shares WSO's trunk up to its
 * merge node, so only the node's own probe counts: one point, at its merge
 * step. */
int report_sharpness_points(const ReportResults *R, int a, const char *data, TracePoint **out, int *n, Err *e);

/* Draws every chart and writes the report's "Plots" section to md: an
 * image link per chart, or why it is missing (no data yet, not drawn,
 * gnuplot absent). A chart that cannot be drawn is never an error. */
void report_plots_write(const ReportResults *R, FILE *md);

#endif
