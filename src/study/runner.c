#include "study/runner.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/progress.h"
#include "dist/comm.h"
#include "study/cost.h"
#include "study/farm.h"
#include "study/report_math.h"
#include "study/segment_run.h"
#include "study/stage_eval.h"
#include "study/study_state.h"

/* Records, for every base model with validation scores, the sweep's best
 * SFT learning rate so far (after each SFT segment, so that a study stopped
 * part-way still reports what it has). */
static int choose_sft_lrs(StudyState *S, int verbose, Err *e)
{
    const StudySpec *s = &S->spec;
    ArmValue *rows;
    int n;
    if (store_sft_evals(S->store, s->name, "sft_valid", "average", SFT_LR_CHOICE_METRIC, &rows, &n, e)) return -1;
    int rc = 0;
    for (int a = 0; a < s->n_arms && !rc; a++)
        for (int si = 0; si < s->n_seeds && !rc; si++) {
            double lrs[STUDY_MAX_SFT_LRS], scores[STUDY_MAX_SFT_LRS];
            int k = 0;
            for (int j = 0; j < n && k < STUDY_MAX_SFT_LRS; j++)
                if (strcmp(rows[j].arm, s->arms[a].name) == 0 && rows[j].seed == s->seeds[si]) {
                    lrs[k] = rows[j].sft_lr;
                    scores[k++] = rows[j].value;
                }
            int best = choose_sft_lr(lrs, scores, k, HIGHER_IS_BETTER);
            if (best < 0) continue;
            rc = store_choose_sft_lr(S->store, s->name, s->arms[a].name, s->seeds[si], lrs[best], e);
            if (!rc && verbose)
                study_say(S, "sft lr: %s seed %" PRIu64 ": %g (validation answer log-likelihood %.4f nats/token)\n",
                          s->arms[a].name, s->seeds[si], lrs[best], scores[best]);
        }
    free(rows);
    return rc;
}

/* Copies the study file into out_dir and opens the store with a new run
 * (run_id NULL: the store only, no run registered, as for an estimate). */
static int open_study(StudyState *S, const char *spec_path, int64_t *run_id, Err *e)
{
    const StudySpec *s = &S->spec;
    char *text, copy[4096];
    size_t bytes;
    if (study_spec_load(&S->spec, spec_path, e) || make_dirs(S->out_dir, e)) return -1;
    if (read_file(spec_path, &text, &bytes, e)) return -1;
    path_join(copy, sizeof copy, S->out_dir, STUDY_SPEC_COPY);
    int rc = write_file_atomic(copy, text, bytes, e);
    if (!rc) rc = store_open(&S->store, S->out_dir, e);
    if (!rc && run_id) rc = store_run_begin(S->store, s->name, text, run_id, e);
    free(text);
    if (rc) return -1;
    study_say(S, "study %s: world %s, preset %s, %d arm%s x %d seed%s, %d SFT learning rate%s -> %s\n", s->name,
        world_kind_name(s->world), s->preset, s->n_arms, s->n_arms == 1 ? "" : "s", s->n_seeds,
        s->n_seeds == 1 ? "" : "s", s->n_sft_lrs, s->n_sft_lrs == 1 ? "" : "s", S->out_dir);
    return 0;
}

/* SFT steps from the data when the study gives SFT in epochs (0 otherwise). */
static int64_t sft_steps_from_data(const StudyState *S)
{
    const StudySpec *s = &S->spec;
    if (s->sft_tokens > 0) return 0;
    int64_t rows_per_step = s->sft_batch_tokens / s->seq_len;
    int64_t steps = (int64_t)floor(s->sft_epochs * (double)S->data.sft_train_rows / (double)rows_per_step);
    return steps < 1 ? 1 : steps;
}

/* The data: built (or found complete) by rank 0, its paths then shared with
 * every rank (one binary, so one layout). */
static int prepare_data(StudyState *S, const DistGroup *ranks, Err *e)
{
    if (dist_is_root(ranks) && study_prepare(&S->data, &S->spec, S->out_dir, S->quiet, e)) return -1;
    if (ranks->size > 1 && dist_broadcast(ranks, &S->data, sizeof S->data, e))
        return err_wrap(e, "sharing the study's data paths");
    return 0;
}

/* The plan, the model and optimizer, and the probe batches. */
static int prepare_model(StudyState *S, Err *e)
{
    const StudySpec *s = &S->spec;
    if (tokenizer_load(&S->tokenizer, S->data.tokenizer, e)) return -1;
    if (plan_build(&S->plan, s, sft_steps_from_data(S), e)) return -1;
    if (config_preset(&S->config, s->preset, e)) return -1;
    S->config.vocab_size = tokenizer_vocab_size(S->tokenizer);
    S->config.seq_len = s->seq_len;
    if (model_create(&S->model, &S->config, s->micro_batch, s->seq_len, e) ||
        model_set_precision(&S->model, s->precision, e))
        return -1;
    AdamWConfig initial = adamw_defaults();   /* every segment sets its stage's own */
    adamw_create(&S->optimizer, &initial, &S->model.table);
    return stage_eval_load_probes(S, e);
}

/* Data, plan (registered in the store, with each segment's status), the
 * model and optimizer, and the probe batches. */
static int prepare_study(StudyState *S, SegmentStatus **status, Err *e)
{
    if (prepare_data(S, dist_world(), e) || prepare_model(S, e)) return -1;
    if (store_register_plan(S->store, &S->plan, e)) return -1;
    *status = xmalloc((size_t)S->plan.n_segments * sizeof **status);
    return store_plan_status(S->store, &S->plan, *status, e);
}

/* ---- over MPI ranks (study/farm.h) ----------------------------------------- */

/* Ranks 1..N-1: segment i for rank 0, its lines into the transcript. */
static int run_for_rank0(void *ctx, int i, char *transcript, size_t transcript_size, Err *e)
{
    StudyState *S = ctx;
    StudyProgress p = {.units_total = 1, .started_s = now_seconds(), .number = i + 1, .count = S->plan.n_segments};
    S->transcript = transcript;
    S->transcript_size = transcript_size;
    int rc = segment_run(S, i, &p, e);
    S->transcript = NULL;
    return rc ? err_wrap(e, "segment %s", S->plan.segments[i].id) : 0;
}

typedef struct {
    StudyState    *S;
    StudyProgress *p;
} Rank0;

/* Rank 0, once a rank's segment i is in the store: its lines, the study's
 * progress, and the SFT learning rates chosen so far. */
static int finished_on_rank(void *ctx, int i, int rank, const char *transcript, Err *e)
{
    Rank0 *r = ctx;
    for (const char *line = transcript; *line;) {
        const char *end = strchr(line, '\n');
        int len = end ? (int)(end - line) : (int)strlen(line);
        study_say(r->S, "[rank %d] %.*s\n", rank, len, line);
        line += len + (end != NULL);
    }
    StudyProgress *p = r->p;
    p->units_done += cost_total(cost_of_segment(r->S, i));
    char left[32];
    double spent = now_seconds() - p->started_s;
    format_duration(left, sizeof left, spent * (p->units_total - p->units_done) / p->units_done);
    study_say(r->S, "study %.0f%%, ETA %s\n", 100 * p->units_done / p->units_total, left);
    return r->S->plan.segments[i].stage == STAGE_SFT ? choose_sft_lrs(r->S, 0, e) : 0;
}

/* Ranks 1..N-1: the study's data and model, no database, then segments as
 * rank 0 hands them out. */
static int work_for_rank0(StudyState *S, const char *spec_path, Err *e)
{
    S->quiet = 1;
    progress_quiet(1);
    if (study_spec_load(&S->spec, spec_path, e) || store_open_recording(&S->store, e) ||
        prepare_data(S, dist_world(), e) || prepare_model(S, e))
        return -1;
    Farm farm = {.plan = &S->plan, .run = run_for_rank0, .recording = S->store, .ctx = S};
    return farm_work(dist_world(), &farm, e);
}

/* What is left, and how long it should take on this machine. */
static int estimate(StudyState *S, const SegmentStatus *status, StudyProgress *p, Err *e)
{
    const PlanSaving *sv = &S->plan.saving;
    int64_t separate = 0, planned = 0;
    for (int k = 0; k < STAGE_COUNT; k++) {
        separate += sv->separate_steps[k];
        planned += sv->planned_steps[k];
    }
    Cost left = cost_of_remaining(S, status, &p->count);
    p->units_total = cost_total(left) > 0 ? cost_total(left) : 1;
    p->left = left;
    p->tokens_per_s = cost_measure_throughput(S, e);
    if (p->tokens_per_s < 0) return -1;
    /* evaluation and sharpness at their own measured rates, until segments refine them */
    if (stage_eval_measure_rates(S, &p->done, &p->spent_s, e)) return -1;
    double eta_s = cost_eta_seconds(left, p->done, p->spent_s, p->tokens_per_s);
    double flops_per_token = config_train_flops_per_token(&S->config, S->spec.seq_len);
    char eta[32];
    format_duration(eta, sizeof eta, eta_s);
    study_say(S, "plan: %d segments (%d to run), %" PRId64 " segment-steps instead of %" PRId64
           " if every arm ran alone: sharing saves %" PRId64 " steps (%.0f%%; pre-training %" PRId64 " instead of %"
           PRId64 ")\n",
        S->plan.n_segments, p->count, planned, separate, separate - planned,
        separate > 0 ? 100.0 * (separate - planned) / separate : 0.0, sv->planned_steps[STAGE_PRETRAIN],
        sv->separate_steps[STAGE_PRETRAIN]);
    study_say(S, "expected duration: %s (%.2f M training-token equivalents: %.0f%% training, %.0f%% evaluation, %.0f%% "
           "sharpness; training %.1f MFLOP/token at a measured %.0f tokens/s = %.1f GFLOP/s; evaluation and "
           "sharpness at rates timed on a sample: %.0f and %.0f units/s)\n",
        eta, p->units_total / 1e6, 100 * left.train / p->units_total, 100 * left.eval / p->units_total,
        100 * left.probe / p->units_total, flops_per_token / 1e6, p->tokens_per_s,
        p->tokens_per_s * flops_per_token / 1e9, p->done.eval / p->spent_s.eval, p->done.probe / p->spent_s.probe);
    return 0;
}

/* Runs the segments not yet done, in plan order (under mpirun: handed to
 * ranks 1..N-1 as their parents finish); *ran receives how many. */
static int run_segments(StudyState *S, SegmentStatus *status, StudyProgress *p, int max_segments, int *ran,
                        Err *e)
{
    p->started_s = now_seconds();
    *ran = 0;
    const DistGroup *ranks = dist_world();
    if (ranks->size > 1) {
        study_say(S, "ranks: %d; rank 0 hands segments whose parents are done to ranks 1-%d\n", ranks->size,
                  ranks->size - 1);
        Rank0 r0 = {S, p};
        Farm farm = {.plan = &S->plan, .store = S->store, .status = status, .max_segments = max_segments,
                     .finished = finished_on_rank, .ctx = &r0};
        if (farm_serve(ranks, &farm, ran, e)) return -1;
        return choose_sft_lrs(S, 1, e);
    }
    for (int i = 0; i < S->plan.n_segments; i++) {
        if (status[i] == SEG_DONE) continue;
        if (max_segments > 0 && *ran == max_segments) break;
        p->number = *ran + 1;
        if (segment_run(S, i, p, e)) return err_wrap(e, "segment %s", S->plan.segments[i].id);
        status[i] = SEG_DONE;
        (*ran)++;
        if (S->plan.segments[i].stage == STAGE_SFT && choose_sft_lrs(S, 0, e)) return -1;
    }
    return choose_sft_lrs(S, 1, e);
}

static int run_study(StudyState *S, const char *spec_path, const StudyRunOptions *o, SegmentStatus **status,
                     Err *e)
{
    if (!dist_is_root(dist_world())) return work_for_rank0(S, spec_path, e);
    int64_t run_id;
    if (open_study(S, spec_path, o->estimate_only ? NULL : &run_id, e) || prepare_study(S, status, e)) return -1;
    StudyProgress progress = {0};
    int ran;
    if (estimate(S, *status, &progress, e)) return -1;
    if (o->estimate_only) return 0;
    if (run_segments(S, *status, &progress, o->max_segments, &ran, e)) return -1;
    int all_done = 1;
    for (int i = 0; i < S->plan.n_segments; i++) all_done &= (*status)[i] == SEG_DONE;
    if (all_done && store_run_finish(S->store, run_id, e)) return -1;
    char took[32];
    format_duration(took, sizeof took, now_seconds() - progress.started_s);
    study_say(S, "study %s: %d segment%s run in %s%s\n", S->spec.name, ran, ran == 1 ? "" : "s", took,
        all_done ? ", all done" : ", stopped early");
    return 0;
}

static void study_state_free(StudyState *S)
{
    stage_eval_free_probes(S);
    if (S->model.params) {
        adamw_free(&S->optimizer);
        model_free(&S->model);
    }
    if (S->tokenizer) tokenizer_free(S->tokenizer);
    if (S->plan.segments) plan_free(&S->plan);
    if (S->store) store_close(S->store);
}

int study_run(const char *spec_path, const char *out_dir, const StudyRunOptions *o, Err *e)
{
    static const StudyRunOptions defaults = {0, 0, 0};
    if (!o) o = &defaults;
    StudyState *S = xcalloc(1, sizeof *S);
    S->out_dir = out_dir;
    S->quiet = o->quiet;
    progress_quiet(o->quiet);
    SegmentStatus *status = NULL;
    int rc = run_study(S, spec_path, o, &status, e);
    free(status);
    study_state_free(S);
    free(S);
    return rc;
}
