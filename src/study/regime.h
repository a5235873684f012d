/* The regime a study ran in, stated first in its report so that a reader can
 * tell a finding about schedules from a finding about this regime
 * (the paper: a 1B model on 350B fresh tokens, about 290 tokens per
 * parameter, each document seen once, peak LR 3e-4 from the literature):
 *
 *   parameters           config_param_count of the preset at the study's
 *                        tokenizer vocabulary (DIR/data/data.json)
 *   tokens per parameter pretrain_tokens / parameters
 *   times seen           pretrain_tokens / the pre-training text's tokens
 *                        (data.json pt_train_tokens): how many times each
 *                        pre-training document was seen
 *   peak LR              the study's peak_lr and how it was chosen: by the
 *                        calibration sweep when DIR/calibration.json
 *                        (study/calibrate.h) chose this value, else "set in
 *                        the study file" (and what the sweep chose, if run;
 *                        a sweep of another setup, e.g. another preset, is
 *                        named as such and not cited) */
#ifndef PLATEAU_STUDY_REGIME_H
#define PLATEAU_STUDY_REGIME_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "study/spec.h"

typedef struct {
    uint64_t params;           /* 0: unknown (no data.json yet) */
    int64_t  pt_text_tokens;   /* tokens of the pre-training text; 0: unknown */
    double   tokens_per_param; /* NaN when unknown */
    double   times_seen;       /* NaN when unknown */
    double   peak_lr;
    int      calibrated;       /* 1: DIR/calibration.json chose peak_lr */
    double   calibrated_lr;    /* what it chose; NaN without a calibration */
    char     other_setup[256]; /* non-empty: DIR/calibration.json measured another setup (how it differs) */
} Regime;

/* Reads DIR/data/data.json (and DIR/calibration.json if present); missing
 * files leave the fields unknown. Fails only on an unknown preset. */
int study_regime(Regime *r, const StudySpec *s, const char *dir, Err *e);

/* The report's first lines: one bullet each. */
void regime_write(FILE *md, const Regime *r, const StudySpec *s);

#endif
