#include "study/segment_run.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/progress.h"
#include "study/cost.h"
#include "study/stage_eval.h"
#include "train/merge.h"
#include "train/stage.h"

#define METRIC_FLUSH 64   /* metric rows per store transaction */
#define MAX_PROBES 1024   /* sharpness probes in one segment */

/* The checkpoint segment seg leaves at clock step `clock`: the runner's
 * layout, out_dir/segments/ID/step-N (finish_segment records the same). */
static void segment_run_dir(const StudyState *S, const PlanSegment *seg, char *out, size_t size)
{
    char segments_dir[4096];
    path_join(segments_dir, sizeof segments_dir, S->out_dir, "segments");
    path_join(out, size, segments_dir, seg->id);
}

static void segment_checkpoint(const StudyState *S, const PlanSegment *seg, int64_t clock, char *out, size_t size)
{
    char run_dir[4096];
    segment_run_dir(S, seg, run_dir, sizeof run_dir);
    checkpoint_step_path(out, size, run_dir, clock);
}

/* What training a segment leaves for its closing line. */
typedef struct {
    int64_t       end_clock;      /* clock step of the segment's end */
    int           probe_at_end;   /* a sharpness probe is due at the end */
    double        probe_s;        /* seconds spent probing */
    TraceEstimate trace[PROBE_DATA_COUNT];   /* the last probe's estimates */
    char          line[512];      /* " | Tr(H) pt ..., sft ... | PT valid loss ..." */
} SegmentOutcome;

/* The trainer's per-step callback: metric rows to the store in batches of
 * METRIC_FLUSH, and the progress bar with the study's ETA. */
typedef struct {
    StudyState        *S;
    StudyProgress     *progress;
    const PlanSegment *seg;
    int64_t            first_step;        /* clock step the segment starts at */
    int64_t            tokens_per_step;
    Progress           bar;
    StepMetrics        rows[METRIC_FLUSH];
    int                n_rows;
    Err                flush_err;         /* why a flush inside on_step failed */
    int                flush_failed;
} SegmentMonitor;

static int flush_rows(SegmentMonitor *mon, Err *e)
{
    if (mon->flush_failed) {
        *e = mon->flush_err;
        return -1;
    }
    if (mon->n_rows == 0) return 0;
    int rc = store_record_metrics(mon->S->store, mon->seg->id, mon->rows, mon->n_rows, e);
    mon->n_rows = 0;
    return rc;
}

/* " | study 42% ETA 3m07s" after the bar's text. */
static void append_study_eta(SegmentMonitor *mon, double segment_units_done)
{
    const StudyProgress *p = mon->progress;
    double done = p->units_done + segment_units_done;
    Cost left = p->left;
    left.train -= segment_units_done;
    char eta[32];
    format_duration(eta, sizeof eta, cost_eta_seconds(left, p->done, p->spent_s, p->tokens_per_s));
    size_t used = strlen(mon->bar.extra);
    snprintf(mon->bar.extra + used, sizeof mon->bar.extra - used, " | study %.0f%% ETA %s",
             100 * done / p->units_total, eta);
}

static int on_step(void *ctx, const StepMetrics *m)
{
    SegmentMonitor *mon = ctx;
    mon->rows[mon->n_rows++] = *m;
    if (mon->n_rows == METRIC_FLUSH && flush_rows(mon, &mon->flush_err)) {
        mon->flush_failed = 1;
        return 1;
    }
    int64_t done = (m->step - mon->first_step) * mon->tokens_per_step;
    snprintf(mon->bar.extra, sizeof mon->bar.extra, "loss %.3f", m->loss);
    append_study_eta(mon, (double)done);
    progress_update(&mon->bar, (uint64_t)done);
    return 0;
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

/* The stage configuration of segment seg: its stage's data, recipe and
 * batching (pre/mid as the spec says; SFT rows per step split into the
 * largest micro-batch that divides them). paths[0] receives the token shard
 * and paths[1] the mask shard the configuration points to. */
static StageConfig segment_stage_config(const StudyState *S, const PlanSegment *seg, const char *run_dir,
                                        const char *paths[2])
{
    const StudySpec *s = &S->spec;
    int sft = seg->stage == STAGE_SFT;
    int rows = (int)((sft ? s->sft_batch_tokens : s->batch_tokens) / s->seq_len);
    int micro_batch = sft ? gcd(s->micro_batch, rows) : s->micro_batch;
    paths[0] = seg->stage == STAGE_PRETRAIN ? S->data.pt_train : seg->stage == STAGE_MID ? S->data.mid : S->data.sft_train;
    paths[1] = S->data.sft_train_mask;
    return (StageConfig){
        .stage = seg->stage,
        .seed = seg->seed,
        .schedule = seg->schedule,
        .end_step = seg->end_step,
        .adamw = stage_adamw(seg->stage),
        .moments = MOMENTS_BY_STAGE,
        .token_paths = &paths[0],
        .mask_paths = sft ? &paths[1] : NULL,
        .n_shards = 1,
        .layout = sft ? LOADER_ROWS : LOADER_STREAM,
        .micro_batch = micro_batch,
        .seq_len = s->seq_len,
        .accum = rows / micro_batch,
        .tokenizer = S->data.tokenizer,
        .precision = S->spec.precision,
        .run_dir = run_dir,
    };
}

/* Loads seg's start state into the study's model and sets up its stage. */
static int open_stage(StudyState *S, const PlanSegment *seg, const char *run_dir, StageRun *run, Err *e)
{
    char parent_path[4096];
    const char *parent = NULL;
    if (seg->parent >= 0) {
        const PlanSegment *p = &S->plan.segments[seg->parent];
        SegmentStatus status;
        if (store_segment_status(S->store, p->id, &status, parent_path, sizeof parent_path, e)) return -1;
        if (status != SEG_DONE) return err_set(e, "segment %s: its parent %s is not done", seg->id, p->id);
        parent = parent_path;
    }
    StageStart from;
    if (stage_load_start(&from, &S->model, &S->optimizer, parent, seg->seed, e))
        return err_wrap(e, "parent of segment %s", seg->id);
    const char *paths[2];
    StageConfig c = segment_stage_config(S, seg, run_dir, paths);
    if (stage_prepare(run, &S->model, &S->optimizer, &from, &c, e)) return -1;
    if (run->step != stage_clock(run, seg->start_step)) {
        stage_close(run);
        return err_set(e, "segment %s starts at step %" PRId64 " of its stage, but its parent checkpoint %s is at "
                          "step %" PRId64, seg->id, seg->start_step, parent, run->step - run->origin);
    }
    return 0;
}

/* Trains seg from start to end, stopping at each probe step inside it to
 * measure the sharpness; the checkpoint is written at the end. */
static int train_with_probes(StudyState *S, const PlanSegment *seg, StageRun *run, SegmentMonitor *mon,
                             const int64_t *probes, int n_probes, SegmentOutcome *out, Err *e)
{
    for (int k = 0; k <= n_probes; k++) {
        int64_t stop = k < n_probes ? probes[k] : seg->end_step;
        if (k < n_probes && stop == seg->end_step) continue;   /* the end is probed after saving */
        assert(stage_clock(run, stop) >= run->step);         /* probe steps ascend inside the segment */
        if (stage_train(run, &S->model, &S->optimizer, stop, k == n_probes, NULL, e) || flush_rows(mon, e))
            return -1;
        if (k < n_probes) {
            double t0 = now_seconds();
            if (stage_eval_sharpness(S, seg->id, stage_clock(run, stop), out->trace, e)) return -1;
            out->probe_s += now_seconds() - t0;
        }
    }
    return 0;
}

/* Trains segment seg into run_dir, probing along the way. */
static int train_segment(StudyState *S, StudyProgress *p, const PlanSegment *seg, const char *run_dir,
                         SegmentOutcome *out, Err *e)
{
    StageRun run;
    if (open_stage(S, seg, run_dir, &run, e)) return -1;
    SegmentMonitor *mon = xcalloc(1, sizeof *mon);
    *mon = (SegmentMonitor){.S = S, .progress = p, .seg = seg, .first_step = run.step,
                            .tokens_per_step = (int64_t)run.train.accum * run.train.micro_batch * S->spec.seq_len};
    run.train.on_step = on_step;
    run.train.on_step_ctx = mon;
    char label[64];
    snprintf(label, sizeof label, "[%d/%d] %s", p->number, p->count, stage_name(seg->stage));
    progress_start(&mon->bar, label, (uint64_t)((seg->end_step - seg->start_step) * mon->tokens_per_step), "tok");

    int64_t probes[MAX_PROBES];
    int n_probes = seg->stage == STAGE_SFT ? 0 : plan_probe_steps(&S->plan, seg, probes, MAX_PROBES);
    assert(n_probes <= MAX_PROBES);
    out->probe_at_end = n_probes > 0 && probes[n_probes - 1] == seg->end_step;
    int rc = train_with_probes(S, seg, &run, mon, probes, n_probes, out, e);
    out->end_clock = stage_clock(&run, seg->end_step);
    progress_finish(&mon->bar);
    stage_close(&run);
    free(mon);
    return rc;
}

/* A merge segment (study/plan.h): the weighted merge of its inputs'
 * checkpoints (train/merge.h) into run_dir at step T, then loaded into the
 * study's model and optimizer for the evaluation. The inputs are ancestors
 * of the parent, so they are done when it is; their checkpoints are found
 * by the runner's layout, which needs no store (a rank or worker running
 * this segment knows only the parent). The merge is written atomically, so
 * one left by an interrupted run is whole and, merging the same inputs,
 * the same bits: it is kept. */
static int merge_segment(StudyState *S, const PlanSegment *seg, const char *run_dir, SegmentOutcome *out, Err *e)
{
    char paths[LINEAGE_MAX_MERGED][4096], merged[4096];
    const char *dirs[LINEAGE_MAX_MERGED];
    SegmentStatus status;
    const PlanSegment *parent = &S->plan.segments[seg->parent];
    if (store_segment_status(S->store, parent->id, &status, NULL, 0, e)) return -1;
    if (status != SEG_DONE) return err_set(e, "merge segment %s: its parent %s is not done", seg->id, parent->id);
    for (int j = 0; j < seg->n_merge; j++) {
        const PlanSegment *in = &S->plan.segments[seg->merge_inputs[j]];
        segment_checkpoint(S, in, in->end_step, paths[j], sizeof paths[j]);
        dirs[j] = paths[j];
    }
    checkpoint_step_path(merged, sizeof merged, run_dir, seg->end_step);
    /* The plan makes the inputs one lineage (the trunk's segments, which
     * intermediate segments may separate, so no input need be the parent of
     * the next): only shape and tokenizer are left for merge to check. */
    if (!file_exists(merged) && merge_checkpoints(dirs, seg->n_merge, &seg->merge, merged, 1, NULL, e))
        return err_wrap(e, "merge segment %s", seg->id);
    StageStart from;
    if (stage_load_start(&from, &S->model, &S->optimizer, merged, seg->seed, e))
        return err_wrap(e, "merge segment %s", seg->id);
    out->end_clock = seg->end_step;
    int64_t probes[MAX_PROBES];
    int n = plan_probe_steps(&S->plan, seg, probes, MAX_PROBES);
    out->probe_at_end = n > 0 && probes[n - 1] == seg->end_step;
    snprintf(out->line, sizeof out->line, " | merged %d checkpoints", seg->n_merge);
    return 0;
}

/* Probes due at the end, the stage-end evaluation, then the segment is done. */
static int finish_segment(StudyState *S, const PlanSegment *seg, int i, const char *run_dir, SegmentOutcome *out,
                          Err *e)
{
    if (out->probe_at_end) {
        double t0 = now_seconds();
        if (stage_eval_sharpness(S, seg->id, out->end_clock, out->trace, e)) return -1;
        out->probe_s += now_seconds() - t0;
        stage_eval_sharpness_line(out->trace, out->line, sizeof out->line);
    }
    if (plan_ends_stage(&S->plan, i) && stage_eval_end(S, seg, out->end_clock, out->line, sizeof out->line, e))
        return -1;
    char final_dir[4096];
    checkpoint_step_path(final_dir, sizeof final_dir, run_dir, out->end_clock);
    return store_segment_done(S->store, seg->id, final_dir, e);
}

static void announce(const StudyState *S, const StudyProgress *p, const PlanSegment *seg)
{
    char arms[256], what[128], lr_text[64] = "";
    plan_arm_names(&S->plan, seg->arms, arms, sizeof arms);
    if (seg->stage == STAGE_SFT) snprintf(lr_text, sizeof lr_text, " lr %g", seg->sft_lr);
    if (seg->n_merge > 0)   /* trains nothing: start = end */
        snprintf(what, sizeof what, "merge of %d checkpoints at step %" PRId64, seg->n_merge, seg->end_step);
    else
        snprintf(what, sizeof what, "%s steps [%" PRId64 ", %" PRId64 ")", stage_name(seg->stage), seg->start_step,
                 seg->end_step);
    study_say(S, "segment %d/%d %s: %s seed %" PRIu64 "%s, arms %s\n", p->number, p->count, seg->id, what, seg->seed,
        lr_text, arms);
}

int segment_run(StudyState *S, int i, StudyProgress *p, Err *e)
{
    const PlanSegment *seg = &S->plan.segments[i];
    Cost cost = cost_of_segment(S, i);
    double t0 = now_seconds();
    char run_dir[4096];
    segment_run_dir(S, seg, run_dir, sizeof run_dir);
    if (store_segment_running(S->store, seg->id, e) || make_dirs(run_dir, e)) return -1;
    checkpoint_clean_temporaries(run_dir);
    announce(S, p, seg);

    SegmentOutcome out = {0};
    if (seg->n_merge > 0 ? merge_segment(S, seg, run_dir, &out, e) : train_segment(S, p, seg, run_dir, &out, e))
        return -1;
    double train_s = now_seconds() - t0 - out.probe_s, t_eval = now_seconds(), probe_before = out.probe_s;
    if (finish_segment(S, seg, i, run_dir, &out, e)) return -1;

    /* the probe at the end is sharpness, not evaluation: counted once */
    double eval_s = now_seconds() - t_eval - (out.probe_s - probe_before);
    p->units_done += cost_total(cost);
    p->done.train += cost.train;
    p->done.eval += cost.eval;
    p->done.probe += cost.probe;
    p->left.train -= cost.train;
    p->left.eval -= cost.eval;
    p->left.probe -= cost.probe;
    p->spent_s.train += train_s;
    p->spent_s.eval += eval_s;
    p->spent_s.probe += out.probe_s;
    char took[32], left[32];
    format_duration(took, sizeof took, now_seconds() - t0);
    format_duration(left, sizeof left, cost_eta_seconds(p->left, p->done, p->spent_s, p->tokens_per_s));
    if (seg->n_merge > 0)
        study_say(S, "  done in %s (merging %.0fs, sharpness %.0fs, evaluation %.0fs)%s", took, train_s, out.probe_s,
            eval_s, out.line);
    else
        study_say(S, "  done in %s (training %.0fs at %.0f tok/s, sharpness %.0fs, evaluation %.0fs)%s", took,
            train_s, train_s > 0 ? cost.train / train_s : 0.0, out.probe_s, eval_s, out.line);
    /* A rank running segments for rank 0 knows only its own share of the study. */
    if (!S->transcript) study_say(S, " | study %.0f%%, ETA %s", 100 * p->units_done / p->units_total, left);
    study_say(S, "\n");
    return 0;
}
