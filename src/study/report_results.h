/* What the study report reads from the results store, per arm and seed:
 * the main table's columns, the chosen SFT learning rate and the sharpness
 * of the base model SFT starts from. The arms' segments come from the plan
 * the runner registered in the store (store_arm_path), never from
 * rebuilding it. Missing results (a study still running) stay NaN. */
#ifndef PLATEAU_STUDY_REPORT_RESULTS_H
#define PLATEAU_STUDY_REPORT_RESULTS_H

#include "core/error.h"
#include "study/findings.h"
#include "study/report_table.h"
#include "study/spec.h"
#include "study/store.h"

enum { COL_LOSS, COL_PT, COL_MT, COL_SFT, N_COLS };

#define REPORT_MAX_PATH 256   /* segments along one arm */

typedef struct {
    StudySpec    spec;        /* the study as last run */
    Store       *store;
    const char  *dir;         /* the study's output folder */
    int          three;       /* a three-stage study */
    ReportColumn cols[N_COLS];   /* [COL_LOSS]: PT (MT when three-stage) validation loss */
    double       sft_lr[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];   /* chosen SFT LR */
    /* Tr(H) of the base model on the PT and SFT probe batches, and the
     * Hutchinson estimate's standard error */
    double       sharp_pt[STUDY_MAX_ARMS][STUDY_MAX_SEEDS], sharp_sft[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];
    double       sharp_pt_se[STUDY_MAX_ARMS][STUDY_MAX_SEEDS], sharp_sft_se[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];
    ModelMeasures measures;   /* what SFT changed, and the base's P^-1 H eigenvalue (findings.h) */
    const char  *sft_suite;   /* "sft" (held-out test items) or "sft_valid" when the world has no test split */
} ReportResults;

/* Fills everything after spec, store, dir and three, which the caller sets. */
int report_results_load(ReportResults *R, Err *e);

#endif
