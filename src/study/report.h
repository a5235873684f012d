/* The study report: DIR/report.md from DIR/results.sqlite and DIR/study.ini,
 * with PNG plots (gnuplot, core/plot.h) and one CSV file per table beside it.
 *
 *   main table     per arm: PT validation loss, PT task average, (MT task
 *                  average,) SFT task average at the chosen SFT learning rate,
 *                  mean +- stderr over seeds and Delta from the best
 *                  decay-based arm (the paper's definition)      main.csv
 *   SFT sweep      validation and test score per arm, seed and LR, the choice   sft_sweep.csv
 *   sharpness      Tr(H) on PT and SFT probe batches at the end of
 *                  pre-training, and Pearson r with the SFT score   sharpness.csv
 *   paper          the paper's two-stage 1B Deltas next to this run's   paper.csv
 *   findings       one sentence per claim, yes/no computed from the numbers
 *   plots          lr_schedules.png, loss_curves.png, sharpness.png,
 *                  sharpness_vs_sft.png
 * Missing results (a study still running) leave gaps, never errors. */
#ifndef PLATEAU_STUDY_REPORT_H
#define PLATEAU_STUDY_REPORT_H

#include "core/error.h"

int study_report(const char *dir, Err *e);

#endif
