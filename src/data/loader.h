/* The deterministic data loader: batches as a pure function of
 * (data, seed, step, micro-batch), so batch k is the same whatever the
 * learning-rate schedule, and a resumed run draws exactly the batches an
 * uninterrupted one would.
 *
 * Data. One or more token shards (data/shard.h), concatenated in the order
 * given, are cut into windows of T+1 tokens: inputs are the first T, targets
 * the last T. Two layouts:
 *   LOADER_STREAM  window w is tokens [w*T, w*T+T] of the whole stream:
 *                  consecutive windows share one boundary token, so every
 *                  token after the first is a target exactly once per epoch,
 *                  and windows may span shard boundaries. n_windows =
 *                  (n_tokens-1)/T; a tail shorter than a window is unused.
 *                  For pre-training text.
 *   LOADER_ROWS    the data is packed in rows of exactly T+1 tokens and
 *                  window w is row w: tokens [w*(T+1), w*(T+1)+T]. Each shard
 *                  must hold a whole number of rows. For SFT data, where the
 *                  writer packs whole conversations into rows and pads with
 *                  mask 0, so no conversation is cut from its prompt.
 * An optional loss mask comes as one mask shard per token shard, in the same
 * file layout and of the same length, values 0 or 1: mask[i] = 1 when
 * predicting token i counts in the loss (e.g. assistant tokens and the end
 * token of SFT). Windows take the mask of their target positions, so the
 * mask is aligned to the windows exactly as the tokens are. Without a mask
 * every target counts.
 *
 * Order. Sequences are drawn from one global sequence: the q-th sequence ever
 * drawn (q = 0, 1, ...) lies in epoch q / n_windows at position q % n_windows
 * of that epoch's permutation of the windows, a Fisher-Yates shuffle seeded
 * by rng_stream(seed, RNG_STREAM_DATA + ((epoch+1) << 32)) (identity order
 * with cfg.sequential). Micro-batch m of optimizer step s holds sequences
 * q = (s*n_micro + m)*B + b, b = 0..B-1; so the windows of a step do not
 * depend on how its B*n_micro sequences are split into micro-batches.
 *
 * The loader keeps one epoch's permutation as a cache; calls that fetch
 * batches mutate the cache (not the result), so one Loader serves one thread. */
#ifndef PLATEAU_LOADER_H
#define PLATEAU_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum {
    LOADER_STREAM,
    LOADER_ROWS,
} LoaderLayout;

typedef struct {
    const char *const *token_paths;  /* [n_shards] token shards, in order */
    const char *const *mask_paths;   /* [n_shards] loss masks, or NULL for none */
    int          n_shards;
    int          seq_len;      /* T: positions per sequence (a window is T+1 tokens) */
    int          batch_size;   /* B: sequences per micro-batch */
    int          n_micro;      /* micro-batches per optimizer step, >= 1 */
    uint64_t     seed;         /* data-order seed */
    LoaderLayout layout;
    int          sequential;   /* 1: windows in file order every epoch (evaluation) */
    int          vocab_size;   /* > 0: every token must be below it; 0: unchecked */
} LoaderConfig;

typedef struct {
    int          T, B, n_micro;
    uint64_t     seed;
    LoaderLayout layout;
    int          sequential;
    uint16_t    *tokens;      /* [n_tokens], owned: all shards concatenated */
    uint8_t     *mask;        /* [n_tokens] 0/1, owned; NULL without a mask */
    size_t       n_tokens;
    int64_t      n_windows;
    uint64_t     data_hash;   /* checksum of the tokens and mask, for cursors */
    /* cache */
    uint32_t    *perm;        /* [n_windows] order of perm_epoch; NULL if sequential */
    int64_t      perm_epoch;  /* -1: none yet */
} Loader;

/* One micro-batch, allocated once by batch_create for B x T. */
typedef struct {
    int      B, T;
    int     *tokens;     /* [B, T] inputs */
    int     *targets;    /* [B, T] next tokens */
    float   *mask;       /* [B, T] 1 where the target counts, else 0 */
    int64_t *windows;    /* [B] which window each row is */
    double   n_counted;  /* sum of mask */
} Batch;

/* What a checkpoint stores to resume the data order, and to notice if the
 * data, seed or batch shape changed in between. */
typedef struct {
    uint64_t seed;
    uint64_t data_hash;
    int64_t  n_windows;
    int64_t  step;              /* optimizer steps taken: the next batch is this step */
    int64_t  windows_consumed;  /* step * n_micro * B sequences drawn */
    int64_t  epoch;             /* windows_consumed / n_windows: the epoch the next batch starts in */
    int32_t  seq_len, batch_size, n_micro, layout;
} LoaderCursor;

/* Reads and checks every shard (and mask): magic, sizes, mask values 0/1
 * and equal length, row alignment for LOADER_ROWS, tokens below vocab_size,
 * at least one window. Errors name the file and position. */
int  loader_open(Loader *L, const LoaderConfig *cfg, Err *e);
void loader_close(Loader *L);
/* The tokens and windows cfg's shards hold, from their headers alone (no
 * tokens are read, so it is cheap before anything is allocated for them):
 * for checking a sequence length against the data first. */
int  loader_count_windows(const LoaderConfig *cfg, size_t *n_tokens, int64_t *n_windows, Err *e);

void batch_create(Batch *b, int B, int T);
void batch_free(Batch *b);

/* Optimizer steps in one pass over the data, floor(n_windows / (B*n_micro)). */
int64_t loader_steps_per_epoch(const Loader *L);

/* Micro-batch `micro` (0..n_micro-1) of optimizer step `step` into out
 * (created for at least B x T). */
void loader_batch(Loader *L, int64_t step, int micro, Batch *out);
/* The general form: sequences q = first .. first+count-1 of the global order
 * into rows 0..count-1 of out (count <= out->B); for splitting a step's
 * sequences differently, e.g. across processes. */
void loader_sequences(Loader *L, int64_t first, int count, Batch *out);
/* The window the q-th drawn sequence comes from. */
int64_t loader_window_of(Loader *L, int64_t q);
/* Window w (0 <= w < n_windows) in file order: T inputs, T targets, T mask
 * values; for evaluation over held-out data. Any pointer may be NULL. */
void loader_window(const Loader *L, int64_t w, int *tokens, int *targets, float *mask);
/* Counted target positions over all micro-batches of a step: the
 * denominator of the step's mean loss (llama.h: loss_scale). */
double loader_step_counted(Loader *L, int64_t step);

/* The cursor after `steps_done` optimizer steps. */
LoaderCursor loader_cursor(const Loader *L, int64_t steps_done);
/* Checks that L draws the same order the cursor's run drew (same seed, data,
 * sequence length, batch shape and layout) and that the cursor's counters
 * agree (step >= 0, windows_consumed = step x n_micro x B without overflow,
 * epoch = windows_consumed / n_windows), and gives the step to continue
 * from. The message names what changed. */
int loader_resume(const Loader *L, const LoaderCursor *c, int64_t *next_step, Err *e);

#endif
