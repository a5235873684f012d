#include "study/stage_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/shard.h"
#include "eval/evaluate.h"
#include "eval/loss.h"
#include "eval/sft_change.h"
#include "probe/precond.h"
#include "probe/sharpness.h"
#include "study/cost.h"
#include "study/findings.h"

#define PROBE_SEED 1   /* the same probe vectors for every model of every study */
#define EVAL_SAMPLE_SEED 1   /* the same evaluation items for every model of every study */
/* Hutchinson stops once its standard error is below 5% of |Tr(H)|, or at
 * the study's `probes` (the cap); never before sharpness_options_default's
 * min_probes. */
#define SHARPNESS_REL_TOL 0.05

int stage_eval_load_probes(StudyState *S, Err *e)
{
    int n = S->spec.probe_sequences, T = S->spec.seq_len, vocab = S->config.vocab_size;
    if (probe_batch_load(&S->probe_batches[PROBE_PT], S->data.pt_valid, NULL, LOADER_STREAM, n, T, vocab, e) ||
        probe_batch_load(&S->probe_batches[PROBE_SFT], S->data.sft_valid, S->data.sft_valid_mask, LOADER_ROWS, n,
                         T, vocab, e))
        return err_wrap(e, "probe batch (probe_sequences = %d)", n);
    int b = (int)(S->spec.batch_tokens / T);
    if (probe_batch_load(&S->precond_batch, S->data.pt_valid, NULL, LOADER_STREAM, b, T, vocab, e))
        return err_wrap(e, "P^-1 H probe batch (batch_tokens / seq_len = %d sequences)", b);
    return 0;
}

void stage_eval_free_probes(StudyState *S)
{
    for (int d = 0; d < PROBE_DATA_COUNT; d++)
        if (S->probe_batches[d].tokens) batch_free(&S->probe_batches[d]);
    if (S->precond_batch.tokens) batch_free(&S->precond_batch);
}

/* The study's Hutchinson settings: the same for every probe. */
static SharpnessOptions study_sharpness_options(const StudyState *S)
{
    SharpnessOptions so = sharpness_options_default();
    so.probes = S->spec.probes;   /* the cap */
    so.rel_tol = SHARPNESS_REL_TOL;
    so.seed = PROBE_SEED;
    return so;
}

int stage_eval_sharpness(StudyState *S, const char *segment, int64_t step, TraceEstimate trace[PROBE_DATA_COUNT],
                         Err *e)
{
    static const char *const DATA_NAMES[PROBE_DATA_COUNT] = {"pt", "sft"};
    for (int d = 0; d < PROBE_DATA_COUNT; d++) {
        SharpnessResult res;
        SharpnessOptions so = study_sharpness_options(S);
        if (sharpness_measure(&S->model, &S->probe_batches[d], &so, &res, e)) return -1;
        int rc = store_record_sharpness(S->store, segment, step, DATA_NAMES[d], &res.trace, NAN, e);
        trace[d] = res.trace;
        sharpness_result_free(&res);
        if (rc) return -1;
    }
    return 0;
}

void stage_eval_sharpness_line(const TraceEstimate trace[PROBE_DATA_COUNT], char *line, size_t size)
{
    char pt[64], sft[64];
    format_trace_estimate(pt, sizeof pt, trace[PROBE_PT].mean, trace[PROBE_PT].std_error);
    format_trace_estimate(sft, sizeof sft, trace[PROBE_SFT].mean, trace[PROBE_SFT].std_error);
    size_t used = strlen(line);
    if (used < size) snprintf(line + used, size - used, " | Tr(H) pt %s, sft %s", pt, sft);
}

/* A measured value with its standard error (NaN when absent). */
typedef struct {
    double value, std_err;
} Measured;

/* Runs the suite of o on the model, records it under `suite`, and returns
 * the average of `metric` in *average (NaN if absent). */
static int run_suite(StudyState *S, const char *segment, int64_t step, const char *suite, EvalOptions *o,
                     const char *metric, Measured *average, Err *e)
{
    o->limit = (long)S->spec.eval_items;
    o->sample_seed = EVAL_SAMPLE_SEED;   /* eval_items: the same seeded sample of each task for every model */
    o->quiet = 1;   /* the segment's closing line reports the result */
    o->batch = S->model.max_B;
    o->seq_len = S->spec.seq_len;
    EvalReport rep;   /* eval_model initialises it even when it fails */
    int rc = eval_model(&rep, &S->model, S->tokenizer, o, e);
    if (!rc) rc = store_record_evals(S->store, segment, step, suite, rep.rows, rep.n_rows, e);
    for (int k = 0; k < rep.n_item_sets && !rc; k++) {
        const EvalItems *it = &rep.items_of[k];
        rc = store_record_items(S->store, segment, step, suite, it->task, it->score_metric, it->n, it->index,
                                it->correct, it->score, e);
    }
    const EvalRow *avg = eval_report_find(&rep, "average", metric);
    *average = avg ? (Measured){avg->value, avg->std_err} : (Measured){NAN, NAN};
    eval_report_free(&rep);
    return rc;
}

static int pt_valid_loss(StudyState *S, const char *segment, int64_t step, Measured *loss, Err *e)
{
    Shard sh;
    if (shard_read(&sh, S->data.pt_valid, e)) return -1;
    LossResult lr;
    int rc = eval_stream_loss(&S->model, sh.tokens, sh.n_tokens, S->model.max_B, S->spec.seq_len, &lr, e);
    shard_free(&sh);
    if (rc) return err_wrap(e, "%s", S->data.pt_valid);
    EvalRow row = {.task = "pt", .metric = "loss", .value = lr.mean_loss, .std_err = lr.mean_stderr, .n = lr.n_scored};
    *loss = (Measured){lr.mean_loss, lr.mean_stderr};
    return store_record_evals(S->store, segment, step, "valid", &row, 1, e);
}

/* At the end of pre-training: the extreme eigenvalues of P^-1 H on the
 * training-size batch, with P from the optimizer state the segment ended
 * with, beside Adam's threshold at the LR of the last pre-training step. */
static int precond_eig(StudyState *S, const PlanSegment *seg, int64_t step, double *eig, double *threshold, Err *e)
{
    const AdamW *o = &S->optimizer;
    float *p = xmalloc(o->n * sizeof(float));
    double lo = NAN, hi = NAN;
    int used = 0;
    int rc = adam_preconditioner(o->v, o->n, o->cfg.beta2, o->t, o->cfg.eps, p, e) ||
             sharpness_precond_extremes(&S->model, &S->precond_batch, p, S->spec.precond_steps, PROBE_SEED, &lo, &hi,
                                        &used, e);
    free(p);
    if (rc) return err_wrap(e, "segment %s: P^-1 H", seg->id);
    double lr = schedule_lr(&seg->schedule, study_pretrain_steps(&S->spec) - 1);
    *eig = hi;
    *threshold = adam_stability_threshold(o->cfg.beta1, lr);
    EvalRow rows[4] = {
        {.task = "pt", .metric = "top_eig", .value = hi, .std_err = NAN, .n = S->precond_batch.B},
        {.task = "pt", .metric = "min_eig", .value = lo, .std_err = NAN, .n = used},
        {.task = "pt", .metric = "threshold", .value = *threshold, .std_err = NAN, .n = 0},
        {.task = "pt", .metric = "lr", .value = lr, .std_err = NAN, .n = 0},
    };
    return store_record_evals(S->store, seg->id, step, "precond", rows, 4, e);
}

static int eval_pretrained(StudyState *S, const PlanSegment *seg, int64_t step, char *line, size_t size, Err *e)
{
    Measured loss = {NAN, NAN}, acc = {NAN, NAN};
    if (pt_valid_loss(S, seg->id, step, &loss, e)) return -1;
    if (seg->stage == STAGE_PRETRAIN && S->spec.precond_steps > 0) {
        double eig = NAN, threshold = NAN, t0 = now_seconds();
        if (precond_eig(S, seg, step, &eig, &threshold, e)) return -1;
        size_t used = strlen(line);
        char th[32];
        if (isinf(threshold)) snprintf(th, sizeof th, "none at LR 0");
        else snprintf(th, sizeof th, "threshold %.4g", threshold);
        snprintf(line + used, size - used, " | P^-1 H top eig %.4g (%s; %.1fs)", eig, th, now_seconds() - t0);
    }
    if (S->data.n_mc_tasks > 0) {
        const char *files[PREP_MAX_TASKS];
        for (int k = 0; k < S->data.n_mc_tasks; k++) files[k] = S->data.mc_tasks[k];
        EvalOptions o;
        eval_options_default(&o, "pt");
        o.tasks = files;
        o.n_tasks = S->data.n_mc_tasks;
        if (run_suite(S, seg->id, step, "pt", &o, "acc", &acc, e)) return -1;
    }
    size_t used = strlen(line);
    snprintf(line + used, size - used, " | PT valid loss %.4f ± %.4f, PT task avg %.1f ± %.1f%%", loss.value,
             loss.std_err, 100 * acc.value, 100 * acc.std_err);
    return 0;
}

static int eval_sft_file(StudyState *S, const char *segment, int64_t step, const char *suite, const char *file,
                         Measured *score, Err *e)
{
    const char *files[1] = {file};
    EvalOptions o;
    eval_options_default(&o, "sft");
    o.tasks = files;
    o.n_tasks = 1;
    o.max_new = STUDY_MAX_NEW_TOKENS;
    o.space_replies = 1;   /* the study's SFT data space their replies (study/prepare.c) */
    return run_suite(S, segment, step, suite, &o, "exact_match", score, e);
}

/* What SFT did to its base (eval/sft_change.h): the Hutchinson trace of
 * the fine-tuned model on the SFT probe batch, then the forgetting and the
 * relative weight distance against the base (the parent's checkpoint). */
static int sft_change(StudyState *S, const PlanSegment *seg, int64_t step, SftChange *c, TraceEstimate *trace,
                      Err *e)
{
    SharpnessResult res;
    SharpnessOptions so = study_sharpness_options(S);
    so.probes = so.min_probes = S->spec.probes < SFT_CHANGE_PROBES ? S->spec.probes : SFT_CHANGE_PROBES;
    if (sharpness_measure(&S->model, &S->probe_batches[PROBE_SFT], &so, &res, e)) return -1;
    TraceEstimate tr = res.trace;
    sharpness_result_free(&res);
    *trace = tr;

    char base_dir[4096];
    SegmentStatus status;
    if (store_segment_status(S->store, seg->parent_id, &status, base_dir, sizeof base_dir, e)) return -1;
    size_t n = S->model.n_params;
    float *base = xmalloc(n * sizeof(float)), *sft = xmalloc(n * sizeof(float));
    memcpy(sft, S->model.params, n * sizeof(float));
    Lineage lin;
    Shard sh = {0};
    int rc = checkpoint_load(base_dir, &S->config, base, NULL, NULL, &lin, e) || shard_read(&sh, S->data.pt_valid, e) ||
             sft_change_measure(&S->model, base, sft, sh.tokens, sh.n_tokens, S->model.max_B, S->spec.seq_len, c, e);
    if (sh.tokens) shard_free(&sh);
    free(base);
    free(sft);
    if (rc) return err_wrap(e, "segment %s: what SFT changed", seg->id);
    EvalRow rows[3] = {
        {.task = "pt", .metric = "forgetting", .value = c->forgetting, .std_err = NAN, .n = c->pt_sft.n_scored},
        {.task = "weights", .metric = "rel_distance", .value = c->rel_weight_distance, .std_err = NAN,
         .n = (long)n},
        {.task = "sft", .metric = "trace", .value = tr.mean, .std_err = tr.std_error, .n = tr.probes},
    };
    return store_record_evals(S->store, seg->id, step, "sft_change", rows, 3, e);
}

static int eval_fine_tuned(StudyState *S, const PlanSegment *seg, int64_t step, char *line, size_t size, Err *e)
{
    Measured valid, test = {NAN, NAN};
    TraceEstimate trace;
    SftChange c;
    if (eval_sft_file(S, seg->id, step, "sft_valid", S->data.qa_valid, &valid, e)) return -1;
    if (S->data.qa_test[0] && eval_sft_file(S, seg->id, step, "sft", S->data.qa_test, &test, e)) return -1;
    double t0 = now_seconds();
    if (sft_change(S, seg, step, &c, &trace, e)) return -1;
    double change_s = now_seconds() - t0;
    size_t used = strlen(line);
    used += (size_t)snprintf(line + used, size - used, " | SFT exact match valid %.1f ± %.1f%%", 100 * valid.value,
                             100 * valid.std_err);
    if (!isnan(test.value) && used < size)
        used += (size_t)snprintf(line + used, size - used, " test %.1f ± %.1f%%", 100 * test.value,
                                 100 * test.std_err);
    char tr[64];
    format_trace_estimate(tr, sizeof tr, trace.mean, trace.std_error);
    if (used < size)
        snprintf(line + used, size - used, " | forgetting %+.4f, moved %.4f, Tr(H) sft %s (%.1fs)", c.forgetting,
                 c.rel_weight_distance, tr, change_s);
    return 0;
}

int stage_eval_end(StudyState *S, const PlanSegment *seg, int64_t step, char *line, size_t line_size, Err *e)
{
    return seg->stage == STAGE_SFT ? eval_fine_tuned(S, seg, step, line, line_size, e)
                                 : eval_pretrained(S, seg, step, line, line_size, e);
}

#define RATE_ITEMS 8
#define RATE_PROBES 2

int stage_eval_measure_rates(StudyState *S, Cost *units, Cost *seconds, Err *e)
{
    *units = *seconds = (Cost){0, 0, 0};
    const Batch *b = &S->probe_batches[PROBE_PT];
    SharpnessOptions so = sharpness_options_default();
    so.probes = so.min_probes = RATE_PROBES;
    double t0 = now_seconds();
    SharpnessResult res;
    if (sharpness_measure(&S->model, b, &so, &res, e)) return -1;
    sharpness_result_free(&res);
    seconds->probe = now_seconds() - t0;
    units->probe = (double)RATE_PROBES * 2 * b->B * b->T;

    EvalReport rep;
    EvalOptions o;
    const char *files[PREP_MAX_TASKS];
    for (int k = 0; k < S->data.n_mc_tasks; k++) files[k] = S->data.mc_tasks[k];
    eval_options_default(&o, "pt");
    o.tasks = files;
    o.n_tasks = S->data.n_mc_tasks;
    o.limit = RATE_ITEMS;
    o.quiet = 1;
    o.batch = S->model.max_B;
    o.seq_len = S->spec.seq_len;
    t0 = now_seconds();
    if (o.n_tasks > 0) {
        if (eval_model(&rep, &S->model, S->tokenizer, &o, e)) return -1;
        units->eval += (double)rep.items * 4 * 24 / 3;
        eval_report_free(&rep);
    }
    files[0] = S->data.qa_valid;
    eval_options_default(&o, "sft");
    o.tasks = files;
    o.n_tasks = 1;
    o.limit = RATE_ITEMS;
    o.quiet = 1;
    o.max_new = STUDY_MAX_NEW_TOKENS;
    o.space_replies = 1;
    o.batch = S->model.max_B;
    o.seq_len = S->spec.seq_len;
    if (eval_model(&rep, &S->model, S->tokenizer, &o, e)) return -1;
    units->eval += (double)rep.items * (40 + STUDY_MAX_NEW_TOKENS);
    eval_report_free(&rep);
    seconds->eval = now_seconds() - t0;
    return 0;
}
