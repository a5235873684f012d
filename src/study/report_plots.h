/* The report's charts (PNG through gnuplot, core/plot.h), written beside
 * report.md: the LR schedules, the training loss of each arm's first seed,
 * the sharpness along pre-training on both probe batches, and the base
 * models' sharpness against their SFT score. */
#ifndef PLATEAU_STUDY_REPORT_PLOTS_H
#define PLATEAU_STUDY_REPORT_PLOTS_H

#include <stdio.h>

#include "study/report_results.h"

/* Draws every chart and writes the report's "Plots" section to md: an
 * image link per chart, or why it is missing (no data yet, not drawn,
 * gnuplot absent). A chart that cannot be drawn is never an error. */
void report_plots_write(const ReportResults *R, FILE *md);

#endif
