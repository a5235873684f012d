/* The data loader (data/loader.h) as the trainer's batch source: batch
 * (step, micro) is the loader's, so it depends on the seed and the step only,
 * never on the schedule or on whether the run was resumed; checkpoints record
 * the loader's cursor. */
#ifndef PLATEAU_LOADER_SOURCE_H
#define PLATEAU_LOADER_SOURCE_H

#include "core/error.h"
#include "data/loader.h"
#include "train/trainer.h"

typedef struct {
    Loader loader;
    Batch  batch;     /* one micro-batch, B x T */
    int    has_mask;  /* the data came with loss masks */
} LoaderSource;

/* Opens the loader (errors name the file) and sizes the batch from cfg. */
int  loader_source_open(LoaderSource *s, const LoaderConfig *cfg, Err *e);
void loader_source_close(LoaderSource *s);
/* The trainer's view; s must outlive it. */
BatchSource loader_source(LoaderSource *s);

#endif
