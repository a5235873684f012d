/* Training batches drawn from one token shard (and an optional loss-mask
 * shard aligned with it): each sequence is a window of T+1 consecutive
 * tokens at an offset drawn from the data stream of (seed, step, index of the
 * sequence within the step's batch). So the batch of a step depends only on
 * (seed, step): not on the schedule, the micro-batch split, or whether the
 * run was resumed. The mask shard holds 0/1 per token; a target counts when
 * its own position is 1 (SFT: assistant tokens and the end token). */
#ifndef PLATEAU_SHARD_BATCHES_H
#define PLATEAU_SHARD_BATCHES_H

#include <stdint.h>

#include "core/error.h"
#include "data/shard.h"
#include "train/trainer.h"

typedef struct {
    Shard    data;
    Shard    mask;       /* n_tokens == 0 when there is none */
    int      has_mask;
    uint64_t seed;
} ShardBatches;

/* Reads the shards (mask_path may be NULL) and checks every token is below
 * vocab_size and the mask matches the data, naming the file on error. */
int  shard_batches_open(ShardBatches *sb, const char *data_path, const char *mask_path, uint64_t seed,
                        int vocab_size, Err *e);
void shard_batches_close(ShardBatches *sb);
/* The trainer's view; sb must outlive it. */
BatchSource shard_batches_source(ShardBatches *sb);

#endif
