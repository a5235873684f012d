/* Sharpness of a model on a fixed batch: Tr(H) of the masked mean token loss
 * by Hutchinson (the paper's measure, N = 50 Rademacher probes), optionally
 * the top eigenvalue (power iteration) and the spectral density (Lanczos),
 * all through exact Hessian-vector products (probe/hvp.h, probe/spectrum.h).
 *
 * Probe data: the same fixed held-out batch for every model of a study, so
 * the numbers compare: probe_batch_load takes the first B windows, in file
 * order, of a validation shard (pre-training text, LOADER_STREAM) or of SFT
 * token + mask shards (LOADER_ROWS), exactly as data/loader.h cuts them. */
#ifndef PLATEAU_SHARPNESS_H
#define PLATEAU_SHARPNESS_H

#include <stdint.h>

#include "core/error.h"
#include "data/loader.h"
#include "model/llama.h"
#include "probe/precond.h"
#include "probe/spectrum.h"

/* The paper's probe sequence length (one sequence of 1024 tokens): probes
 * use it, or the model's context when that is shorter. */
#define SHARPNESS_PAPER_SEQ_LEN 1024

typedef struct {
    int      probes;         /* Hutchinson probes (default 50, the paper's) */
    int      min_probes;     /* stopping rule: never before this many (default 10) */
    double   rel_tol;        /* stop once std_error / |trace| < rel_tol; 0 (default): all probes */
    uint64_t seed;           /* probe stream seed (default 0) */
    int      eig;            /* 1: also the top eigenvalue */
    int      eig_iters;      /* default 100 */
    double   eig_tol;        /* relative change to stop at (default 1e-4) */
    int      lanczos_steps;  /* > 0: also the spectral density from this many Lanczos steps */
    const float *precond;    /* [n params] or NULL: also the top eigenvalue of P^-1 H with P = diag(precond)
                                (probe/precond.h; eig_iters and eig_tol apply) */
    int      progress;       /* 1: progress bars on stderr */
} SharpnessOptions;

typedef struct {
    double        loss;        /* masked mean loss on the batch */
    double        n_counted;   /* positions counted in it */
    int           B, T;
    TraceEstimate trace;
    int           has_eig;
    PowerResult   eig;
    int           has_precond_eig;
    PowerResult   precond_eig; /* top eigenvalue of P^-1 H */
    int           has_precond_verdict;
    PrecondVerdict precond;    /* set by the caller that knows the LR (precond.h) */
    int           has_density;
    LanczosResult density;     /* Ritz values and weights (owned) */
    double        seconds;     /* wall time of the whole measurement */
} SharpnessResult;

SharpnessOptions sharpness_options_default(void);

/* Measures m's sharpness on batch b (b->B x b->T, T <= the model's
 * seq_len) as o asks. Allocates its Hessian-vector buffers for the call and
 * frees them before returning. The model is not modified. */
int sharpness_measure(const Model *m, const Batch *b, const SharpnessOptions *o, SharpnessResult *out, Err *e);

/* The trainer's hook: the trace alone, `probes` probes from `seed`, no
 * progress bar. */
int sharpness_probe(const Model *m, const Batch *b, int probes, uint64_t seed, SharpnessResult *out, Err *e);

void sharpness_result_free(SharpnessResult *r);

/* The extreme eigenvalues of P^-1 H alone (probe/precond.h,
 * precond_lanczos_extremes; precond[n params] > 0) of m's loss on batch b,
 * by `steps` Lanczos steps from seed; no trace. The model is not modified. */
int sharpness_precond_extremes(const Model *m, const Batch *b, const float *precond, int steps, uint64_t seed,
                               double *lo, double *hi, int *used, Err *e);

/* Fills b (created here with batch_create for B x T; free with batch_free)
 * with windows 0..B-1 in file order of the shard at token_path (and the mask
 * shard at mask_path, or NULL: every target counts), cut with `layout`.
 * Fails, naming the file, when it holds fewer than B windows. */
int probe_batch_load(Batch *b, const char *token_path, const char *mask_path, LoaderLayout layout, int B, int T,
                     int vocab_size, Err *e);

/* Writes the result as JSON (atomically; path "-": to stdout): trace,
 * std_error, probes, loss, batch shape, options, and when measured the top
 * eigenvalue, the density (Ritz values/weights and a Gaussian-smoothed curve
 * on 200 points) and the top eigenvalue of P^-1 H with its verdict (lr,
 * threshold, eps share, unresolved reason; non-finite numbers as null).
 * `source` (checkpoint) and `data` are recorded as given. */
int sharpness_write_json(const char *path, const SharpnessResult *r, const SharpnessOptions *o, const char *source,
                         const char *data, Err *e);

#endif
