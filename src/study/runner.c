#include "study/runner.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/progress.h"
#include "data/loader.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "eval/evaluate.h"
#include "eval/loss.h"
#include "eval/suite.h"
#include "model/config.h"
#include "model/llama.h"
#include "probe/sharpness.h"
#include "study/plan.h"
#include "study/prepare.h"
#include "study/report_math.h"
#include "study/store.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/loader_source.h"
#include "train/trainer.h"

#define MAX_NEW_TOKENS 24     /* longest generated answer (bios answers are < 10 tokens) */
#define PROBE_SEED 1          /* the same probe vectors for every model of every study */
#define METRIC_FLUSH 64       /* metrics rows per store transaction */

/* Costs in "training-token equivalents": a forward pass is a third of a
 * training step's FLOPs; cached greedy decoding runs one token at a time,
 * far below the matmul rate, so a generated token counts as a whole
 * training token; each Hutchinson probe is two gradients of the batch. */
typedef struct {
    double train, eval, probe;
} Cost;

typedef struct {
    StudySpec        spec;
    Plan             plan;
    Store           *st;
    StudyData        data;
    Tokenizer       *tk;
    Config           cfg;
    Model            m;
    AdamW            opt;
    const char      *out_dir;
    int              quiet;
    SegmentStatus   *status;
    /* fixed probe batches: [0] pre-training text, [1] SFT conversations */
    Batch            probe[2];
    int              probe_n;
    /* progress over the whole study */
    double           units_total, units_done, t_start;
    double           tokens_per_s;     /* measured before starting */
    double           probe_s;          /* seconds in sharpness probes, this segment */
    /* current segment */
    const PlanSegment *seg;
    int              seg_index, seg_number, seg_count;
    Progress         bar;
    int64_t          bar_tokens_per_step;
    MetricRow        rows[METRIC_FLUSH];
    int              n_rows;
    Err             *flush_err;
    int              flush_failed;
} Runner;

static void say(const Runner *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const Runner *R, const char *fmt, ...)
{
    if (R->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void format_duration(char *out, size_t size, double s)
{
    if (!(s >= 0) || s > 1e8) snprintf(out, size, "?");
    else if (s < 60) snprintf(out, size, "%.0fs", s);
    else if (s < 3600) snprintf(out, size, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(out, size, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

/* ---- sizes of a segment -------------------------------------------------- */

static int64_t seg_batch_tokens(const Runner *R, const PlanSegment *g)
{
    return g->stage == STAGE_SFT ? R->spec.sft_batch_tokens : R->spec.batch_tokens;
}

static int gcd(int a, int b)
{
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Micro-batch and accumulation of a segment: pre/mid as the spec says; SFT
 * rows per step split into the largest micro-batch that divides them. */
static void seg_batching(const Runner *R, const PlanSegment *g, int *B, int *accum)
{
    int T = R->spec.seq_len;
    int rows = (int)(seg_batch_tokens(R, g) / T);
    *B = g->stage == STAGE_SFT ? gcd(R->spec.micro_batch, rows) : R->spec.micro_batch;
    *accum = rows / *B;
}

static int is_stage_end(const Runner *R, int i, int *pretrain_end, int *mid_end)
{
    *pretrain_end = *mid_end = 0;
    for (int a = 0; a < R->spec.n_arms; a++)
        for (int s = 0; s < R->spec.n_seeds; s++) {
            if (R->plan.runs[a][s].pretrain_end == i) *pretrain_end = 1;
            if (R->plan.runs[a][s].mid_end == i) *mid_end = 1;
        }
    return *pretrain_end || *mid_end || R->plan.segments[i].stage == STAGE_SFT;
}

static int64_t eval_limit(const Runner *R, int64_t items)
{
    return R->spec.eval_items > 0 && R->spec.eval_items < items ? R->spec.eval_items : items;
}

/* Items in a JSONL task file (lines), for the estimate. */
static int64_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int64_t n = 0;
    int c, last = '\n';
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n' && last != '\n') n++;
        last = c;
    }
    if (last != '\n') n++;
    fclose(f);
    return n;
}

static Cost segment_cost(const Runner *R, int i)
{
    const PlanSegment *g = &R->plan.segments[i];
    Cost c = {0, 0, 0};
    c.train = (double)(g->end_step - g->start_step) * (double)seg_batch_tokens(R, g);
    int64_t probes[1024];
    int n_probes = plan_probe_steps(&R->plan, g, probes, 1024);
    if (g->stage != STAGE_SFT)
        c.probe = (double)n_probes * R->spec.probes * 2 * 2 * (double)R->probe_n * R->spec.seq_len;
    int pe, me;
    if (!is_stage_end(R, i, &pe, &me)) return c;
    if (g->stage == STAGE_SFT) {
        int64_t items = eval_limit(R, count_lines(R->data.qa_valid));
        if (R->data.qa_test[0]) items += eval_limit(R, count_lines(R->data.qa_test));
        c.eval = (double)items * (40 + MAX_NEW_TOKENS / 3);
    } else {
        double mc = 0;
        for (int k = 0; k < R->data.n_mc_tasks; k++) mc += (double)eval_limit(R, count_lines(R->data.mc_tasks[k]));
        c.eval = ((double)R->data.pt_valid_tokens + mc * 4 * 24) / 3;
    }
    return c;
}

static double cost_units(Cost c) { return c.train + c.eval + c.probe; }

/* Training tokens per second of this model on this machine, as the trainer
 * runs it: three pre-training steps from a scratch initialisation on the
 * study's own batches, the best step after the first (which warms caches and
 * threads up). Nothing is saved; every segment loads its own start state. */
static int throughput_step(void *ctx, const StepMetrics *m)
{
    double *best = ctx;
    if (m->step > 1 && m->tokens_per_s > *best) *best = m->tokens_per_s;
    return 0;
}

static double measure_throughput(Runner *R, Err *e)
{
    int B = R->spec.micro_batch, T = R->spec.seq_len;
    const char *tp[1] = {R->data.pt_train};
    LoaderConfig lc = {tp, NULL, 1, T, B, (int)(R->spec.batch_tokens / ((int64_t)B * T)), 12345, LOADER_STREAM, 0,
                       R->cfg.vocab_size};
    LoaderSource data;
    if (loader_source_open(&data, &lc, e)) return -1;
    BatchSource src = loader_source(&data);
    model_init_weights(&R->m, 12345);
    adamw_reset(&R->opt);
    double best = 0, lr = 1e-4;
    Segment ts = {0};
    ts.start_step = 0;
    ts.end_step = 3;
    ts.micro_batch = B;
    ts.seq_len = T;
    ts.accum = lc.n_micro;
    ts.lr = lr_constant;
    ts.lr_ctx = &lr;
    ts.on_step = throughput_step;
    ts.on_step_ctx = &best;
    int rc = trainer_run(&R->m, &R->opt, &src, &ts, NULL, e);
    loader_source_close(&data);
    if (rc) return -1;
    return best > 0 ? best : 1e4;
}

/* ---- evaluation ---------------------------------------------------------- */

static int record_report(Runner *R, const char *segment, int64_t step, const char *suite, const EvalReport *rep,
                         Err *e)
{
    EvalRecord *rec = xmalloc((size_t)(rep->n_rows > 0 ? rep->n_rows : 1) * sizeof *rec);
    for (int k = 0; k < rep->n_rows; k++)
        rec[k] = (EvalRecord){suite, rep->rows[k].task, rep->rows[k].metric, rep->rows[k].value,
                              rep->rows[k].std_err, rep->rows[k].n};
    int rc = store_record_evals(R->st, segment, step, rec, rep->n_rows, e);
    free(rec);
    return rc;
}

static int eval_pt_quiet(Runner *R, const PlanSegment *g, int64_t step, double *loss, double *acc, Err *e);

/* PT validation loss and the pt suite, recorded at `step` of segment g. */
static int eval_pt(Runner *R, const PlanSegment *g, int64_t step, double *loss, double *acc, Err *e)
{
    progress_quiet(1);   /* the segment's line reports the result */
    int rc = eval_pt_quiet(R, g, step, loss, acc, e);
    progress_quiet(R->quiet);
    return rc;
}

static int eval_pt_quiet(Runner *R, const PlanSegment *g, int64_t step, double *loss, double *acc, Err *e)
{
    Shard sh;
    if (shard_read(&sh, R->data.pt_valid, e)) return -1;
    LossResult lr;
    int rc = eval_stream_loss(&R->m, sh.tokens, sh.n_tokens, R->m.max_B, R->spec.seq_len, &lr, e);
    shard_free(&sh);
    if (rc) return err_wrap(e, "%s", R->data.pt_valid);
    EvalRecord rec = {"valid", "pt", "loss", lr.mean_loss, lr.mean_stderr, lr.n_scored};
    if (store_record_evals(R->st, g->id, step, &rec, 1, e)) return -1;
    *loss = lr.mean_loss;
    *acc = NAN;
    if (R->data.n_mc_tasks == 0) return 0;
    const char *files[PREP_MAX_TASKS];
    for (int k = 0; k < R->data.n_mc_tasks; k++) files[k] = R->data.mc_tasks[k];
    EvalOptions o;
    eval_options_default(&o, "pt");
    o.tasks = files;
    o.n_tasks = R->data.n_mc_tasks;
    o.limit = (long)R->spec.eval_items;
    o.batch = R->m.max_B;
    o.seq_len = R->spec.seq_len;
    EvalReport rep;
    rc = eval_model(&rep, &R->m, R->tk, &o, e);
    if (!rc) rc = record_report(R, g->id, step, "pt", &rep, e);
    const EvalRow *avg = eval_report_find(&rep, "average", "acc");
    if (avg) *acc = avg->value;
    eval_report_free(&rep);
    return rc;
}

static int eval_sft_file(Runner *R, const PlanSegment *g, int64_t step, const char *suite, const char *file,
                         double *score, Err *e)
{
    progress_quiet(1);
    const char *files[1] = {file};
    EvalOptions o;
    eval_options_default(&o, "sft");
    o.tasks = files;
    o.n_tasks = 1;
    o.limit = (long)R->spec.eval_items;
    o.max_new = MAX_NEW_TOKENS;
    o.batch = R->m.max_B;
    o.seq_len = R->spec.seq_len;
    EvalReport rep;
    int rc = eval_model(&rep, &R->m, R->tk, &o, e);
    progress_quiet(R->quiet);
    if (!rc) rc = record_report(R, g->id, step, suite, &rep, e);
    const EvalRow *avg = eval_report_find(&rep, "average", "exact_match");
    *score = avg ? avg->value : NAN;
    eval_report_free(&rep);
    return rc;
}

/* ---- sharpness ----------------------------------------------------------- */

static int load_probe_batches(Runner *R, Err *e)
{
    int n = R->spec.probe_sequences, T = R->spec.seq_len;
    R->probe_n = n;
    if (probe_batch_load(&R->probe[0], R->data.pt_valid, NULL, LOADER_STREAM, n, T, R->cfg.vocab_size, e) ||
        probe_batch_load(&R->probe[1], R->data.sft_valid, R->data.sft_valid_mask, LOADER_ROWS, n, T,
                         R->cfg.vocab_size, e))
        return err_wrap(e, "probe batch (probe_sequences = %d)", n);
    return 0;
}

static int probe_sharpness(Runner *R, const PlanSegment *g, int64_t step, double *pt_trace, Err *e)
{
    double t0 = now_seconds();
    for (int d = 0; d < 2; d++) {
        SharpnessResult res;
        if (sharpness_probe(&R->m, &R->probe[d], R->spec.probes, PROBE_SEED, &res, e)) return -1;
        SharpnessRecord rec = {step, "", res.trace.mean, res.trace.std_error, res.trace.probes, NAN};
        snprintf(rec.data, sizeof rec.data, "%s", d ? "sft" : "pt");
        sharpness_result_free(&res);
        if (store_record_sharpness(R->st, g->id, &rec, e)) return -1;
        if (d == 0) *pt_trace = rec.trace;
    }
    R->probe_s += now_seconds() - t0;
    return 0;
}

/* ---- one segment --------------------------------------------------------- */

static int flush_rows(Runner *R, Err *e)
{
    if (R->n_rows == 0) return 0;
    int rc = store_record_metrics(R->st, R->seg->id, R->rows, R->n_rows, e);
    R->n_rows = 0;
    return rc;
}

static void draw_study_eta(Runner *R, double seg_units_done)
{
    double done = R->units_done + seg_units_done, el = now_seconds() - R->t_start;
    double left = done > 0 ? el * (R->units_total - done) / done : (R->units_total - done) / R->tokens_per_s;
    char eta[32];
    format_duration(eta, sizeof eta, left);
    snprintf(R->bar.extra + strlen(R->bar.extra), sizeof R->bar.extra - strlen(R->bar.extra),
             " | study %.0f%% ETA %s", 100 * done / R->units_total, eta);
}

static int on_step(void *ctx, const StepMetrics *m)
{
    Runner *R = ctx;
    R->rows[R->n_rows++] = (MetricRow){m->step, m->loss, m->lr, m->grad_norm, m->tokens};
    if (R->n_rows == METRIC_FLUSH && flush_rows(R, R->flush_err)) {
        R->flush_failed = 1;
        return 1;
    }
    int64_t done = (m->step - R->seg->start_step) * R->bar_tokens_per_step;
    snprintf(R->bar.extra, sizeof R->bar.extra, "loss %.3f", m->loss);
    draw_study_eta(R, (double)done);
    progress_update(&R->bar, (uint64_t)done);
    return 0;
}

typedef struct {
    ScheduleSpec spec;
} SegLr;

static double segment_lr(const void *ctx, int64_t step)
{
    return schedule_lr(&((const SegLr *)ctx)->spec, step);
}

/* Model and optimizer as the segment starts: the seed's init, or the parent's
 * checkpoint with the moments kept (pre-training and mid) or reset (SFT). */
static int load_start_state(Runner *R, const PlanSegment *g, char *parent_ckpt_id, Err *e)
{
    StageRecipe r = stage_recipe(g->stage);
    AdamWConfig oc = adamw_defaults();
    oc.beta1 = (float)r.beta1;
    oc.beta2 = (float)r.beta2;
    oc.eps = (float)r.eps;
    oc.weight_decay = (float)r.weight_decay;
    oc.clip = (float)r.grad_clip;
    parent_ckpt_id[0] = 0;
    int has_opt = 0;
    if (g->parent < 0) {
        model_init_weights(&R->m, g->seed);
    } else {
        const PlanSegment *p = &R->plan.segments[g->parent];
        SegmentStatus ps;
        char path[4096];
        if (store_segment_status(R->st, p->id, &ps, path, sizeof path, e)) return -1;
        if (ps != SEG_DONE) return err_set(e, "segment %s: its parent %s is not done", g->id, p->id);
        Lineage lin;
        if (checkpoint_load(path, &R->cfg, R->m.params, &R->opt, &has_opt, &lin, e))
            return err_wrap(e, "parent of segment %s", g->id);
        snprintf(parent_ckpt_id, CKPT_ID_CHARS + 1, "%s", lin.id);
    }
    R->opt.cfg = oc;
    if (!has_opt || g->stage == STAGE_SFT) adamw_reset(&R->opt);
    return 0;
}

static int run_segment(Runner *R, int i, Err *e)
{
    const PlanSegment *g = &R->plan.segments[i];
    const StudySpec *s = &R->spec;
    Cost cost = segment_cost(R, i);
    double t0 = now_seconds();
    if (store_segment_running(R->st, g->id, e)) return -1;
    char parent_ckpt[CKPT_ID_CHARS + 1];
    if (load_start_state(R, g, parent_ckpt, e)) return -1;

    int B, accum;
    seg_batching(R, g, &B, &accum);
    const int T = s->seq_len;
    const char *tp[1] = {g->stage == STAGE_PRETRAIN ? R->data.pt_train
                         : g->stage == STAGE_MID    ? R->data.mid
                                                    : R->data.sft_train};
    const char *mp[1] = {R->data.sft_train_mask};
    LoaderConfig lc = {tp, g->stage == STAGE_SFT ? mp : NULL, 1, T, B, accum, g->seed,
                       g->stage == STAGE_SFT ? LOADER_ROWS : LOADER_STREAM, 0, R->cfg.vocab_size};
    LoaderSource data;
    if (loader_source_open(&data, &lc, e)) return -1;
    BatchSource src = loader_source(&data);

    char run_dir[4096], seg_dir[4096];
    path_join(seg_dir, sizeof seg_dir, R->out_dir, "segments");
    path_join(run_dir, sizeof run_dir, seg_dir, g->id);
    if (make_dirs(run_dir, e)) goto fail;
    checkpoint_clean_temporaries(run_dir);

    SegLr lr = {g->schedule};
    Segment ts = {0};
    Lineage *lin = &ts.lineage;
    snprintf(lin->parent_id, sizeof lin->parent_id, "%s", parent_ckpt);
    snprintf(lin->stage, sizeof lin->stage, "%s", stage_name(g->stage));
    snprintf(lin->schedule, sizeof lin->schedule, "%s", g->schedule_text);
    snprintf(lin->data, sizeof lin->data, "%.*s", (int)sizeof lin->data - 1, g->data);
    snprintf(lin->tokenizer, sizeof lin->tokenizer, "%s", R->data.tokenizer);
    lin->seed = g->seed;
    ts.micro_batch = B;
    ts.seq_len = T;
    ts.accum = accum;
    ts.lr = segment_lr;
    ts.lr_ctx = &lr;
    ts.on_step = on_step;
    ts.on_step_ctx = R;
    const int64_t bt = seg_batch_tokens(R, g);

    char arms[256], label[64];
    plan_arm_names(&R->plan, g->arms, arms, sizeof arms);
    snprintf(label, sizeof label, "[%d/%d] %s", R->seg_number, R->seg_count, stage_name(g->stage));
    char lr_text[64] = "";
    if (g->stage == STAGE_SFT) snprintf(lr_text, sizeof lr_text, " lr %g", g->sft_lr);
    say(R, "segment %d/%d %s: %s steps [%" PRId64 ", %" PRId64 ") seed %" PRIu64 "%s, arms %s\n", R->seg_number,
        R->seg_count, g->id, stage_name(g->stage), g->start_step, g->end_step, g->seed, lr_text, arms);
    R->seg = g;
    R->bar_tokens_per_step = bt;
    R->n_rows = 0;
    R->flush_err = e;
    R->flush_failed = 0;
    progress_start(&R->bar, label, (uint64_t)((g->end_step - g->start_step) * bt), "tok");

    int64_t probes[1024];
    int n_probes = plan_probe_steps(&R->plan, g, probes, 1024);
    if (g->stage == STAGE_SFT) n_probes = 0;
    int64_t cur = g->start_step;
    double pt_trace = NAN;
    R->probe_s = 0;
    StepMetrics last = {0};
    for (int k = 0; k <= n_probes; k++) {
        int64_t stop = k < n_probes ? probes[k] : g->end_step;
        if (stop < cur || (k < n_probes && stop == g->end_step)) continue;   /* the end is probed after saving */
        ts.start_step = cur;
        ts.end_step = stop;
        ts.start_tokens = cur * bt;
        ts.run_dir = k == n_probes ? run_dir : NULL;
        if (trainer_run(&R->m, &R->opt, &src, &ts, &last, e)) goto fail;
        if (R->flush_failed || flush_rows(R, e)) goto fail;
        if (k < n_probes && probe_sharpness(R, g, stop, &pt_trace, e)) goto fail;
        cur = stop;
    }
    progress_finish(&R->bar);
    loader_source_close(&data);
    double train_s = now_seconds() - t0 - R->probe_s;

    /* End of the segment: probes due at its end, then stage-end evaluation. */
    char line[512] = "";
    size_t used = 0;
    if (n_probes > 0 && probes[n_probes - 1] == g->end_step) {
        if (probe_sharpness(R, g, g->end_step, &pt_trace, e)) return -1;
        used += (size_t)snprintf(line + used, sizeof line - used, " | Tr(H) pt %.4g", pt_trace);
    }
    int pe, me;
    double t_eval = now_seconds();
    if (is_stage_end(R, i, &pe, &me)) {
        if (g->stage == STAGE_SFT) {
            double val, test = NAN;
            if (eval_sft_file(R, g, g->end_step, "sft_valid", R->data.qa_valid, &val, e)) return -1;
            if (R->data.qa_test[0] && eval_sft_file(R, g, g->end_step, "sft", R->data.qa_test, &test, e)) return -1;
            used += (size_t)snprintf(line + used, sizeof line - used, " | SFT exact match valid %.1f%%", 100 * val);
            if (!isnan(test))
                used += (size_t)snprintf(line + used, sizeof line - used, " test %.1f%%", 100 * test);
        } else {
            double loss = NAN, acc = NAN;
            if (eval_pt(R, g, g->end_step, &loss, &acc, e)) return -1;
            used += (size_t)snprintf(line + used, sizeof line - used, " | PT valid loss %.4f, PT task avg %.1f%%",
                                     loss, 100 * acc);
        }
    }
    char final_dir[4096];
    checkpoint_step_path(final_dir, sizeof final_dir, run_dir, g->end_step);
    if (store_segment_done(R->st, g->id, final_dir, e)) return -1;
    double dt = now_seconds() - t0;
    R->units_done += cost_units(cost);
    char el[32], left[32];
    format_duration(el, sizeof el, dt);
    double spent = now_seconds() - R->t_start;
    format_duration(left, sizeof left,
                    R->units_done > 0 ? spent * (R->units_total - R->units_done) / R->units_done : 0);
    say(R, "  done in %s (training %.0fs at %.0f tok/s, sharpness %.0fs, evaluation %.0fs)%s | study %.0f%%, ETA %s\n",
        el, train_s, train_s > 0 ? cost.train / train_s : 0.0, R->probe_s, now_seconds() - t_eval, line,
        100 * R->units_done / R->units_total, left);
    return 0;
fail:
    progress_finish(&R->bar);
    loader_source_close(&data);
    return -1;
}

/* ---- SFT learning-rate choice -------------------------------------------- */

/* Records, for every base model with validation scores, the sweep's best
 * SFT learning rate so far (after each SFT segment, so that a study stopped
 * part-way still reports what it has). */
static int choose_lrs(Runner *R, int verbose, Err *e)
{
    ArmValue *rows;
    int n;
    if (store_sft_evals(R->st, R->spec.name, "sft_valid", "average", "exact_match", &rows, &n, e)) return -1;
    int rc = 0;
    for (int a = 0; a < R->spec.n_arms && !rc; a++)
        for (int s = 0; s < R->spec.n_seeds && !rc; s++) {
            double lrs[STUDY_MAX_SFT_LRS], val[STUDY_MAX_SFT_LRS];
            int k = 0;
            for (int j = 0; j < n && k < STUDY_MAX_SFT_LRS; j++)
                if (strcmp(rows[j].arm, R->spec.arms[a].name) == 0 && rows[j].seed == R->spec.seeds[s]) {
                    lrs[k] = rows[j].sft_lr;
                    val[k++] = rows[j].value;
                }
            int best = choose_sft_lr(lrs, val, k, HIGHER_IS_BETTER);
            if (best < 0) continue;
            rc = store_choose_sft_lr(R->st, R->spec.name, R->spec.arms[a].name, R->spec.seeds[s], lrs[best], e);
            if (!rc && verbose && !R->quiet)
                printf("sft lr: %s seed %" PRIu64 ": %g (validation exact match %.1f%%)\n", R->spec.arms[a].name,
                       R->spec.seeds[s], lrs[best], 100 * val[best]);
        }
    free(rows);
    return rc;
}

/* ---- the study ----------------------------------------------------------- */

static int copy_spec(const char *spec_path, const char *out_dir, char **text, Err *e)
{
    size_t bytes;
    char path[4096];
    if (read_file(spec_path, text, &bytes, e)) return -1;
    path_join(path, sizeof path, out_dir, STUDY_SPEC_COPY);
    return write_file_atomic(path, *text, bytes, e);
}

static void runner_free(Runner *R)
{
    for (int d = 0; d < 2; d++)
        if (R->probe[d].tokens) batch_free(&R->probe[d]);
    free(R->status);
    if (R->m.params) {
        adamw_free(&R->opt);
        model_free(&R->m);
    }
    if (R->tk) tokenizer_free(R->tk);
    if (R->plan.segments) plan_free(&R->plan);
    if (R->st) store_close(R->st);
}

static int run(Runner *R, const char *spec_path, const StudyRunOptions *o, Err *e)
{
    StudySpec *s = &R->spec;
    R->t_start = now_seconds();
    if (study_spec_load(s, spec_path, e) || make_dirs(R->out_dir, e)) return -1;
    char *spec_text = NULL;
    if (copy_spec(spec_path, R->out_dir, &spec_text, e)) return -1;
    if (store_open(&R->st, R->out_dir, e)) {
        free(spec_text);
        return -1;
    }
    int64_t run_id;
    int rc = store_run_begin(R->st, s->name, spec_text, &run_id, e);
    free(spec_text);
    if (rc) return -1;
    say(R, "study %s: world %s, preset %s, %d arm%s x %d seed%s, %d SFT learning rate%s -> %s\n", s->name,
        world_kind_name(s->world), s->preset, s->n_arms, s->n_arms == 1 ? "" : "s", s->n_seeds,
        s->n_seeds == 1 ? "" : "s", s->n_sft_lrs, s->n_sft_lrs == 1 ? "" : "s", R->out_dir);

    if (study_prepare(&R->data, s, R->out_dir, R->quiet, e)) return -1;
    if (tokenizer_load(&R->tk, R->data.tokenizer, e)) return -1;

    int64_t sft_steps = 0;
    if (s->sft_tokens == 0) {
        int64_t rows_per_step = s->sft_batch_tokens / s->seq_len;
        sft_steps = (int64_t)floor(s->sft_epochs * (double)R->data.sft_train_rows / (double)rows_per_step);
        if (sft_steps < 1) sft_steps = 1;
    }
    if (plan_build(&R->plan, s, sft_steps, e)) return -1;
    if (store_register_plan(R->st, &R->plan, e)) return -1;
    R->status = xmalloc((size_t)R->plan.n_segments * sizeof *R->status);
    if (store_plan_status(R->st, &R->plan, R->status, e)) return -1;

    /* The model: the preset at the tokenizer's vocabulary and the study's context. */
    if (config_preset(&R->cfg, s->preset, e)) return -1;
    R->cfg.vocab_size = tokenizer_vocab_size(R->tk);
    R->cfg.seq_len = s->seq_len;
    if (model_create(&R->m, &R->cfg, s->micro_batch, s->seq_len, e)) return -1;
    AdamWConfig oc = adamw_defaults();
    adamw_create(&R->opt, &oc, &R->m.table);
    if (load_probe_batches(R, e)) return -1;

    /* What is left, and how long it should take here. */
    const PlanSaving *sv = &R->plan.saving;
    int64_t sep = 0, planned = 0;
    for (int k = 0; k < 3; k++) {
        sep += sv->separate_steps[k];
        planned += sv->planned_steps[k];
    }
    int todo = 0;
    Cost left = {0, 0, 0};
    for (int i = 0; i < R->plan.n_segments; i++)
        if (R->status[i] != SEG_DONE) {
            Cost c = segment_cost(R, i);
            left.train += c.train;
            left.eval += c.eval;
            left.probe += c.probe;
            todo++;
        }
    R->units_total = cost_units(left) > 0 ? cost_units(left) : 1;
    R->tokens_per_s = measure_throughput(R, e);
    if (R->tokens_per_s < 0) return -1;
    double fpt = config_train_flops_per_token(&R->cfg, s->seq_len);
    char eta[32];
    format_duration(eta, sizeof eta, R->units_total / R->tokens_per_s);
    say(R, "plan: %d segments (%d to run), %" PRId64 " segment-steps instead of %" PRId64
           " if every arm ran alone: sharing saves %" PRId64 " steps (%.0f%%; pre-training %" PRId64 " instead of %"
           PRId64 ")\n",
        R->plan.n_segments, todo, planned, sep, sep - planned, sep > 0 ? 100.0 * (sep - planned) / sep : 0.0,
        sv->planned_steps[STAGE_PRETRAIN], sv->separate_steps[STAGE_PRETRAIN]);
    say(R, "expected duration: %s (%.2f M training-token equivalents: %.0f%% training, %.0f%% evaluation, %.0f%% "
           "sharpness; %.1f MFLOP/token at a measured %.0f tokens/s = %.1f GFLOP/s)\n",
        eta, R->units_total / 1e6, 100 * left.train / R->units_total, 100 * left.eval / R->units_total,
        100 * left.probe / R->units_total, fpt / 1e6, R->tokens_per_s, R->tokens_per_s * fpt / 1e9);
    R->t_start = now_seconds();

    R->seg_count = todo;
    int ran = 0;
    for (int i = 0; i < R->plan.n_segments; i++) {
        if (R->status[i] == SEG_DONE) continue;
        if (o->max_segments > 0 && ran == o->max_segments) break;
        R->seg_number = ran + 1;
        if (run_segment(R, i, e)) return err_wrap(e, "segment %s", R->plan.segments[i].id);
        R->status[i] = SEG_DONE;
        ran++;
        if (R->plan.segments[i].stage == STAGE_SFT && choose_lrs(R, 0, e)) return -1;
    }
    if (choose_lrs(R, 1, e)) return -1;
    int all_done = 1;
    for (int i = 0; i < R->plan.n_segments; i++) all_done &= R->status[i] == SEG_DONE;
    if (all_done && store_run_finish(R->st, run_id, e)) return -1;
    char el[32];
    format_duration(el, sizeof el, now_seconds() - R->t_start);
    say(R, "study %s: %d segment%s run in %s%s\n", s->name, ran, ran == 1 ? "" : "s", el,
        all_done ? ", all done" : ", stopped early");
    return 0;
}

int study_run(const char *spec_path, const char *out_dir, const StudyRunOptions *o, Err *e)
{
    static const StudyRunOptions defaults = {0, 0};
    if (!o) o = &defaults;
    Runner *R = calloc(1, sizeof *R);
    if (!R) return err_set(e, "out of memory");
    R->out_dir = out_dir;
    R->quiet = o->quiet;
    progress_quiet(o->quiet);
    int rc = run(R, spec_path, o, e);
    runner_free(R);
    free(R);
    return rc;
}
