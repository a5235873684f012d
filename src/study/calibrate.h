/* The peak learning rate by measurement (`plateau study calibrate FILE`):
 * a short WSO sweep whose choice and evidence land in the study's output
 * folder and, through it, in the report's regime lines (study/regime.h).
 *
 * For each candidate peak LR c = f * spec.peak_lr, f in CALIBRATE_FACTORS,
 * the study's model trains from the first seed's initialisation on the
 * first seed's data order under WSO(c, the study's warmup) for the first
 * `fraction` of the pre-training steps (at least warmup + 1), and its PT
 * validation loss (the study's pt_valid stream) is measured at the end. The
 * chosen peak LR has the lowest loss (ties to the smaller LR). A WSO run is
 * the prefix of every arm's run until decay starts, so the sweep scores
 * what all arms share. The paper took its peak LR from the literature; here
 * it is measured on the study's own model and data.
 *
 * DIR/calibration.json (atomic): {"study", "setup", "fraction", "steps",
 * "seed", "sweep": [{"peak_lr", "valid_loss", "valid_loss_stderr"}...],
 * "chosen_peak_lr"}. "setup" holds the study keys the sweep's model, data
 * and training depend on: world, people (bios), preset, vocab (the one the
 * tokenizer is trained at), seq_len, batch_tokens, warmup_steps,
 * pretrain_tokens (the budget the data are built for and the steps are a
 * fraction of) and precision. The study file is not changed: the command
 * prints the line to put in it. */
#ifndef PLATEAU_STUDY_CALIBRATE_H
#define PLATEAU_STUDY_CALIBRATE_H

#include <stdint.h>

#include "core/error.h"
#include "study/spec.h"

#define CALIBRATE_MAX 8
#define CALIBRATE_FILE "calibration.json"

typedef struct {
    double peak_lr;
    double valid_loss, valid_loss_stderr;
} CalibrationPoint;

typedef struct {
    CalibrationPoint points[CALIBRATE_MAX];
    int              n;
    int              chosen;   /* index into points */
    int64_t          steps;    /* pre-training steps of each run */
} Calibration;

/* fraction in (0, 1]: of the study's pre-training steps. quiet: no
 * progress lines. Builds the study's data in out_dir if needed; a folder
 * holding another study's results, or data built for other settings, is
 * refused as `study run` refuses it (study/folder.h folder_check_data)
 * unless rebuild_data (the data only). */
int study_calibrate(const char *spec_path, const char *out_dir, double fraction, int quiet, int rebuild_data,
                    Calibration *out, Err *e);

/* The peak LR's evidence a study file names with `calibration = PATH`
 * (relative to the study file's folder): a calibration.json shipped beside
 * the study, which `study run` copies into its output folder so that the
 * report's regime line cites it. */
typedef struct {
    char   path[2 * STUDY_PATH_MAX];   /* as read */
    char  *text;                       /* the file (NULL: no calibration key) */
    size_t bytes;
    double chosen_peak_lr;
} CalibrationEvidence;

/* Reads and checks the study's calibration file before anything is
 * written. Refused, naming the study file, the key and the path: no such
 * file, more than 1 MB, not JSON, a "chosen_peak_lr" that is not a learning
 * rate in (0, 1], a "study" that names another study, a "setup" that is
 * missing or differs from the study's in any key (the sweep measured another
 * model, data or batch), or a "sweep" whose lowest finite PT validation
 * loss is not at chosen_peak_lr (none: an empty sweep). No key: ev->text
 * NULL, 0. */
int calibration_read(const StudySpec *s, CalibrationEvidence *ev, Err *e);

/* Whether the calibration.json at path measured another setup than study
 * s's: 1 with the first difference in why, e.g. the sweep trained with
 * preset = "micro", this study has preset = "nano" (or that it records no
 * setup); 0 when it measured this one; -1 when it is not readable JSON. */
int calibration_setup_differs(const StudySpec *s, const char *path, char *why, size_t size);

/* ev's file into out_dir/calibration.json, unless out_dir has one (its own
 * sweep, from `study calibrate --out`). Returns 1 when it copied, 0 with
 * nothing to do, -1 on error. */
int calibration_install(const CalibrationEvidence *ev, const char *out_dir, Err *e);

void calibration_free(CalibrationEvidence *ev);

#endif
