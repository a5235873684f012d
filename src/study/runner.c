#include "study/runner.h"

#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/progress.h"
#include "dist/comm.h"
#include "study/calibrate.h"
#include "study/cost.h"
#include "study/farm.h"
#include "study/folder.h"
#include "study/interrupt_note.h"
#include "study/jobs.h"
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

/* What the study file changed since the copy an earlier run left in
 * out_dir (folder_describe_spec_change); "" when nothing, or no copy. */
static void spec_change(const char *copy, const char *text, char *change, size_t size)
{
    char *was;
    Err ignored;
    change[0] = 0;
    if (!file_exists(copy) || read_file(copy, &was, NULL, &ignored)) return;
    if (strcmp(was, text) != 0) folder_describe_spec_change(was, text, change, size);
    free(was);
}

/* Copies the study file (and its calibration evidence) into out_dir and
 * opens the store with a new run (run_id NULL: the store only, no run
 * registered, as for an estimate), after checking that the folder's data
 * fits the study (study/folder.h). */
static int open_study(StudyState *S, const char *spec_path, int rebuild_data, int64_t *run_id, Err *e)
{
    const StudySpec *s = &S->spec;
    char *text, copy[4096], notice[2048], change[1024];
    size_t bytes;
    CalibrationEvidence ev;
    if (study_spec_load(&S->spec, spec_path, e) || calibration_read(s, &ev, e)) return -1;
    int rc = make_dirs(S->out_dir, e) || store_open(&S->store, S->out_dir, e) ||
             store_check_study(S->store, s->name, e) ||
             folder_check_data(s, S->out_dir, rebuild_data, notice, sizeof notice, e) ||
             read_file(spec_path, &text, &bytes, e) ? -1 : 0;
    if (rc) {
        calibration_free(&ev);
        return -1;
    }
    path_join(copy, sizeof copy, S->out_dir, STUDY_SPEC_COPY);
    spec_change(copy, text, change, sizeof change);
    rc = write_file_atomic(copy, text, bytes, e);
    if (!rc && run_id) rc = store_run_begin(S->store, s->name, text, run_id, e);
    free(text);
    if (!rc) {
        study_say(S, "study %s: world %s, preset %s, %d arm%s x %d seed%s, %d SFT learning rate%s -> %s\n", s->name,
            world_kind_name(s->world), s->preset, s->n_arms, s->n_arms == 1 ? "" : "s", s->n_seeds,
            s->n_seeds == 1 ? "" : "s", s->n_sft_lrs, s->n_sft_lrs == 1 ? "" : "s", S->out_dir);
        /* a change of the data says so in its own words (folder_check_data) */
        if (notice[0]) study_say(S, "%s", notice);
        else if (change[0])
            study_say(S, "%s differs from the study file of the last run here (%s): the data is reused; segments "
                         "whose settings did not change are reused and the others run; segments only the old file "
                         "planned stay in the store but are not reported\n", spec_path, change);
        rc = calibration_install(&ev, S->out_dir, e);
        if (rc > 0)
            study_say(S, "calibration: %s (peak LR %g chosen by its sweep) -> %s/%s\n", ev.path, ev.chosen_peak_lr,
                      S->out_dir, CALIBRATE_FILE);
        char own[4096], why[256];
        path_join(own, sizeof own, S->out_dir, CALIBRATE_FILE);
        if (rc == 0 && file_exists(own) && calibration_setup_differs(s, own, why, sizeof why) == 1)
            study_say(S, "calibration: %s measured another setup (%s): the report does not cite it; `plateau study "
                         "calibrate %s --out %s` measures this study\n", own, why, spec_path, S->out_dir);
    }
    calibration_free(&ev);
    return rc < 0 ? -1 : 0;
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

/* ---- over workers: MPI ranks or --jobs processes (study/farm.h) ------------ */

#define SETUP_TAG 0   /* the study process's first message to a job: StudyData (below FARM_TAG_FIRST) */

/* How the study's segments are spread, and at how many threads each runs. */
typedef struct {
    int workers;       /* segments at once: ranks 1..N-1 or --jobs N; 1: this process alone */
    int threads;       /* OpenMP threads of each segment */
    int all_threads;   /* what the user gave (OMP_NUM_THREADS or the cores) */
    int over_jobs;     /* the workers are --jobs processes (not MPI ranks) */
} Spread;

/* A worker: segment i for endpoint 0, its lines into the transcript, the
 * work it measured into done and spent_s. */
static int run_for_endpoint0(void *ctx, int i, char *transcript, size_t transcript_size, Cost *done, Cost *spent_s,
                             Err *e)
{
    StudyState *S = ctx;
    StudyProgress p = {.units_total = 1, .started_s = now_seconds(), .number = i + 1, .count = S->plan.n_segments};
    S->transcript = transcript;
    S->transcript_size = transcript_size;
    int rc = segment_run(S, i, &p, e);
    S->transcript = NULL;
    *done = p.done;
    *spent_s = p.spent_s;
    return rc ? err_wrap(e, "segment %s", S->plan.segments[i].id) : 0;
}

typedef struct {
    StudyState    *S;
    StudyProgress *p;
    SegmentStatus *status;
    const Spread  *spread;
    const char    *noun;          /* "rank" or "job" */
    double        *started_s;     /* [n_segments]: now_seconds() when handed out, < 0: not running */
} Endpoint0;

/* Endpoint 0, as segment i goes to a worker: one line, so that a long
 * segment shows where it runs before its own lines arrive at its end. */
static void handed_out(void *ctx, int i, int worker)
{
    Endpoint0 *r = ctx;
    const PlanSegment *seg = &r->S->plan.segments[i];
    r->started_s[i] = now_seconds();
    study_say(r->S, "[%s %d] starts segment %s: %s steps [%" PRId64 ", %" PRId64 ") seed %" PRIu64 "\n", r->noun,
              worker, seg->id, stage_name(seg->stage), seg->start_step, seg->end_step, seg->seed);
}

/* The study's ETA with the workers: the rest of the plan's DAG list-scheduled
 * on them (cost_makespan_seconds), at the rates measured so far. */
static double workers_eta(const Endpoint0 *r)
{
    const StudyState *S = r->S;
    double now = now_seconds();
    double *ago = xmalloc((size_t)S->plan.n_segments * sizeof *ago);
    for (int i = 0; i < S->plan.n_segments; i++) ago[i] = r->started_s[i] >= 0 ? now - r->started_s[i] : -1;
    double eta = cost_makespan_seconds(S, r->status, ago, r->spread->workers, r->p->done, r->p->spent_s,
                                       r->p->tokens_per_s);
    free(ago);
    return eta;
}

/* Endpoint 0, once a worker's segment i is in the store: its lines, the
 * study's progress, and the SFT learning rates chosen so far. */
static int finished_on_worker(void *ctx, int i, int worker, const char *transcript, Cost done, Cost spent_s, Err *e)
{
    Endpoint0 *r = ctx;
    for (const char *line = transcript; *line;) {
        const char *end = strchr(line, '\n');
        int len = end ? (int)(end - line) : (int)strlen(line);
        study_say(r->S, "[%s %d] %.*s\n", r->noun, worker, len, line);
        line += len + (end != NULL);
    }
    StudyProgress *p = r->p;
    r->started_s[i] = -1;
    p->units_done += cost_total(cost_of_segment(r->S, i));
    p->done.train += done.train;
    p->done.eval += done.eval;
    p->done.probe += done.probe;
    p->spent_s.train += spent_s.train;
    p->spent_s.eval += spent_s.eval;
    p->spent_s.probe += spent_s.probe;
    char left[32];
    format_duration(left, sizeof left, workers_eta(r));
    study_say(r->S, "study %.0f%%, ETA %s\n", 100 * p->units_done / p->units_total, left);
    return r->S->plan.segments[i].stage == STAGE_SFT ? choose_sft_lrs(r->S, 0, e) : 0;
}

/* A worker's part of the setup: the study file, the data paths (from rank 0
 * by broadcast, or from the study process as the first message), the model;
 * no database. */
static int worker_setup(StudyState *S, const char *spec_path, FarmLink *l, Err *e)
{
    S->quiet = 1;
    progress_quiet(1);
    if (study_spec_load(&S->spec, spec_path, e) || store_open_recording(&S->store, e)) return -1;
    if (!l) return prepare_data(S, dist_world(), e) || prepare_model(S, e) ? -1 : 0;
    void *msg;
    size_t len;
    int from, tag;
    if (l->recv(l, 0, &msg, &len, &from, &tag, e)) return -1;
    int ok = tag == SETUP_TAG && len == sizeof S->data;
    if (ok) memcpy(&S->data, msg, sizeof S->data);
    free(msg);
    if (!ok) return err_set(e, "the study process sent no data paths first (tag %d, %zu bytes)", tag, len);
    return prepare_model(S, e);
}

/* Ranks 1..N-1: the study's data and model, then segments as rank 0 hands
 * them out. */
static int work_for_rank0(StudyState *S, const char *spec_path, Err *e)
{
    if (worker_setup(S, spec_path, NULL, e)) return -1;
    FarmLink l = farm_link_mpi(dist_world());
    Farm farm = {.plan = &S->plan, .run = run_for_endpoint0, .recording = S->store, .ctx = S};
    return farm_work(&l, dist_world()->rank, &farm, e);
}

/* What is left, and how long it should take on this machine with the
 * segments spread as sp says (timed at the threads each segment gets). */
static int estimate(StudyState *S, const SegmentStatus *status, const Spread *sp, StudyProgress *p, Err *e)
{
    const PlanSaving *sv = &S->plan.saving;
    Cost left = cost_of_remaining(S, status, &p->count);
    p->units_total = cost_total(left) > 0 ? cost_total(left) : 1;
    p->left = left;
    if (sp->over_jobs) omp_set_num_threads(sp->threads);
    p->tokens_per_s = cost_measure_throughput(S, e);
    /* evaluation and sharpness at their own measured rates, until segments refine them */
    int rc = p->tokens_per_s < 0 || stage_eval_measure_rates(S, &p->done, &p->spent_s, e) ? -1 : 0;
    if (sp->over_jobs) omp_set_num_threads(sp->all_threads);
    if (rc) return -1;
    double eta_s = cost_makespan_seconds(S, status, NULL, sp->workers, p->done, p->spent_s, p->tokens_per_s);
    double flops_per_token = config_train_flops_per_token(&S->config, S->spec.seq_len);
    char eta[32], spread[160] = "";
    format_duration(eta, sizeof eta, eta_s);
    if (sp->over_jobs)
        snprintf(spread, sizeof spread, "; jobs: %d worker processes x %d OpenMP thread%s (of %d)", sp->workers,
                 sp->threads, sp->threads == 1 ? "" : "s", sp->all_threads);
    char saving[256];
    plan_saving_text("pre-training", sv->separate_steps[STAGE_PRETRAIN], sv->planned_steps[STAGE_PRETRAIN], saving,
                     sizeof saving);
    study_say(S, "plan: %d segments (%d to run); %s%s\n", S->plan.n_segments, p->count, saving, spread);
    study_say(S, "expected duration: %s (%.2f M training-token equivalents: %.0f%% training, %.0f%% evaluation, %.0f%% "
           "sharpness; training %.1f MFLOP/token at a measured %.0f tokens/s%s = %.1f GFLOP/s; evaluation and "
           "sharpness at rates timed on a sample: %.0f and %.0f units/s)\n",
        eta, p->units_total / 1e6, 100 * left.train / p->units_total, 100 * left.eval / p->units_total,
        100 * left.probe / p->units_total, flops_per_token / 1e6, p->tokens_per_s,
        sp->workers > 1 ? " per segment" : "", p->tokens_per_s * flops_per_token / 1e9, p->done.eval / p->spent_s.eval,
        p->done.probe / p->spent_s.probe);
    return 0;
}

/* Starts the --jobs worker processes (plateau study worker, from
 * /proc/self/exe) and hands each the data paths. */
static int start_jobs(StudyState *S, const char *spec_path, const Spread *sp, Jobs *jobs, Err *e)
{
    char name[4096] = "plateau";   /* what `ps` shows; /proc/self/exe is this very binary even if replaced since */
    ssize_t n = readlink("/proc/self/exe", name, sizeof name - 1);
    if (n > 0) name[n] = 0;
    const char *argv[] = {name, "study", "worker", spec_path, "--out", S->out_dir, NULL};
    if (jobs_start(jobs, sp->workers, sp->threads, "/proc/self/exe", argv, e)) return -1;
    FarmLink l = jobs_link(jobs);
    for (int k = 1; k <= jobs->n; k++)
        if (l.send(&l, k, SETUP_TAG, &S->data, sizeof S->data, e)) {
            jobs_halt(jobs);
            return -1;
        }
    return 0;
}

/* Segments over the workers (MPI ranks or --jobs processes). */
static int serve_workers(StudyState *S, const char *spec_path, SegmentStatus *status, const Spread *sp,
                         StudyProgress *p, int max_segments, int *ran, Err *e)
{
    Jobs jobs;
    FarmLink l;
    if (sp->over_jobs) {
        study_say(S, "jobs: %d; this process hands segments whose parents are done to jobs 1-%d and alone writes "
                     "%s\n", sp->workers, sp->workers, STORE_FILE);
        if (start_jobs(S, spec_path, sp, &jobs, e)) return -1;
        l = jobs_link(&jobs);
    } else {
        study_say(S, "ranks: %d; rank 0 hands segments whose parents are done to ranks 1-%d\n", sp->workers + 1,
                  sp->workers);
        l = farm_link_mpi(dist_world());
    }
    double *started = xmalloc((size_t)S->plan.n_segments * sizeof *started);
    for (int i = 0; i < S->plan.n_segments; i++) started[i] = -1;
    Endpoint0 r0 = {S, p, status, sp, l.worker_noun, started};
    Farm farm = {.plan = &S->plan, .store = S->store, .status = status, .max_segments = max_segments,
                 .started = handed_out, .finished = finished_on_worker, .ctx = &r0};
    int rc = farm_serve(&l, &farm, ran, e);
    if (!rc && sp->over_jobs) rc = jobs_wait(&jobs, e);
    free(started);
    return rc;
}

/* Runs the segments not yet done: in plan order in this process, or handed
 * to the workers as their parents finish; *ran receives how many. */
static int run_segments(StudyState *S, const char *spec_path, SegmentStatus *status, const Spread *sp,
                        StudyProgress *p, int max_segments, int *ran, Err *e)
{
    p->started_s = now_seconds();
    *ran = 0;
    if ((sp->workers > 1 && p->count > 0) || dist_world()->size > 1) {
        if (serve_workers(S, spec_path, status, sp, p, max_segments, ran, e)) return -1;
        return choose_sft_lrs(S, 1, e);
    }
    for (int i = 0; i < S->plan.n_segments; i++) {
        if (status[i] == SEG_DONE) continue;
        if (max_segments > 0 && *ran == max_segments) break;
        p->number = *ran + 1;
        interrupt_note_set("running segment %s (%s steps [%" PRId64 ", %" PRId64 ") seed %" PRIu64 ")",
                           S->plan.segments[i].id, stage_name(S->plan.segments[i].stage),
                           S->plan.segments[i].start_step, S->plan.segments[i].end_step, S->plan.segments[i].seed);
        if (segment_run(S, i, p, e)) return err_wrap(e, "segment %s", S->plan.segments[i].id);
        status[i] = SEG_DONE;
        (*ran)++;
        if (S->plan.segments[i].stage == STAGE_SFT && choose_sft_lrs(S, 0, e)) return -1;
    }
    return choose_sft_lrs(S, 1, e);
}

int study_default_jobs(const Config *c, int threads)
{
    return config_param_count(c) <= STUDY_JOBS_MAX_PARAMS && threads > 1 ? (threads < JOBS_MAX ? threads : JOBS_MAX) : 1;
}

/* How segments are spread: over MPI ranks under mpirun, else over --jobs
 * processes (STUDY_JOBS_AUTO: study_default_jobs), each with its share of
 * the threads. */
static int choose_spread(const StudyState *S, int jobs, Spread *sp, Err *e)
{
    const DistGroup *ranks = dist_world();
    *sp = (Spread){.workers = 1, .all_threads = omp_get_max_threads()};
    sp->threads = sp->all_threads;
    if (ranks->size > 1) {
        if (jobs > 1) return err_set(e, "--jobs %d under mpirun with %d ranks: the ranks already run segments side "
                                        "by side; use one or the other", jobs, ranks->size);
        sp->workers = ranks->size - 1;
        return 0;
    }
    if (jobs == STUDY_JOBS_AUTO) jobs = study_default_jobs(&S->config, sp->all_threads);
    if (jobs > JOBS_MAX) return err_set(e, "--jobs %d: at most %d", jobs, JOBS_MAX);
    if (jobs > 1) {
        sp->workers = jobs;
        sp->over_jobs = 1;
        sp->threads = sp->all_threads / jobs > 1 ? sp->all_threads / jobs : 1;
    }
    return 0;
}

static int run_study(StudyState *S, const char *spec_path, const StudyRunOptions *o, SegmentStatus **status,
                     Err *e)
{
    if (!dist_is_root(dist_world())) return work_for_rank0(S, spec_path, e);
    int64_t run_id;
    Spread sp;
    interrupt_note_set("preparing %s/data", S->out_dir);
    if (open_study(S, spec_path, o->rebuild_data, o->estimate_only ? NULL : &run_id, e) ||
        prepare_study(S, status, e) || choose_spread(S, o->jobs, &sp, e))
        return -1;
    StudyProgress progress = {0};
    int ran;
    interrupt_note_set("timing this machine for the expected duration");
    if (estimate(S, *status, &sp, &progress, e)) return -1;
    if (o->estimate_only) return 0;
    if (run_segments(S, spec_path, *status, &sp, &progress, o->max_segments, &ran, e)) return -1;
    interrupt_note_set("recording the end of the run");
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

int study_work(const char *spec_path, const char *out_dir, int job, Err *e)
{
    StudyState *S = xcalloc(1, sizeof *S);
    S->out_dir = out_dir;
    FarmLink l = jobs_worker_link();
    int rc = worker_setup(S, spec_path, &l, e);
    if (!rc) {
        Farm farm = {.plan = &S->plan, .run = run_for_endpoint0, .recording = S->store, .ctx = S};
        rc = farm_work(&l, job, &farm, e);
    }
    study_state_free(S);
    free(S);
    return rc;
}

int study_run(const char *spec_path, const char *out_dir, const StudyRunOptions *o, Err *e)
{
    static const StudyRunOptions defaults = {.jobs = 1};
    if (!o) o = &defaults;
    StudyState *S = xcalloc(1, sizeof *S);
    S->out_dir = out_dir;
    S->quiet = o->quiet;
    progress_quiet(o->quiet);
    SegmentStatus *status = NULL;
    int root = dist_is_root(dist_world());   /* the one process a user's Ctrl-C is about, and that writes DIR */
    FolderLock lock = {.fd = -1};            /* study/folder.h */
    const char *command = o->estimate_only ? "study plan --estimate" : "study run";
    int rc = root ? folder_lock(&lock, out_dir, command, e) : 0;
    if (root) interrupt_note_install();
    if (!rc) rc = run_study(S, spec_path, o, &status, e);
    if (root) interrupt_note_remove();
    folder_unlock(&lock);
    free(status);
    study_state_free(S);
    free(S);
    return rc;
}
