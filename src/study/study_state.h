/* A study being run: what its parts share. runner.c builds it; cost.c
 * (the duration estimate), stage_eval.c (evaluation and sharpness at the
 * end of a stage) and segment_run.c (one segment through the trainer) read
 * it. The model and optimizer are created once, for the study's preset and
 * tokenizer, and every segment loads its own start state into them. */
#ifndef PLATEAU_STUDY_STATE_H
#define PLATEAU_STUDY_STATE_H

#include "data/loader.h"
#include "data/tokenizer.h"
#include "model/config.h"
#include "model/llama.h"
#include "study/plan.h"
#include "study/prepare.h"
#include "study/spec.h"
#include "study/store.h"
#include "train/adamw.h"

enum { PROBE_PT, PROBE_SFT, PROBE_DATA_COUNT };   /* the two held-out probe batches */

typedef struct {
    StudySpec   spec;
    Plan        plan;
    Store      *store;
    StudyData   data;
    Tokenizer  *tokenizer;
    Config      config;       /* the preset at the tokenizer's vocabulary and the study's context */
    Model       model;
    AdamW       optimizer;
    Batch       probe_batches[PROBE_DATA_COUNT];   /* fixed sharpness batches */
    Batch       precond_batch; /* training-size PT batch of the P^-1 H eigenvalue (study/stage_eval.h) */
    const char *out_dir;
    int         quiet;        /* 1: no progress bars, no per-segment lines */
    char       *transcript;   /* a rank running segments for rank 0 (study/farm.h): study_say writes here */
    size_t      transcript_size;
} StudyState;

/* printf to stdout unless the study is quiet; appended to the transcript
 * instead when there is one. */
void study_say(const StudyState *S, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
