#include "study/cost.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "study/stage_eval.h"
#include "train/loader_source.h"
#include "train/trainer.h"

/* Any fixed seed: the measurement keeps nothing. */
#define THROUGHPUT_SEED 12345
#define THROUGHPUT_STEPS 3

static int64_t segment_batch_tokens(const StudyState *S, const PlanSegment *seg)
{
    return seg->stage == STAGE_SFT ? S->spec.sft_batch_tokens : S->spec.batch_tokens;
}

static int64_t eval_limit(const StudyState *S, int64_t items)
{
    return S->spec.eval_items > 0 && S->spec.eval_items < items ? S->spec.eval_items : items;
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

static double eval_cost(const StudyState *S, const PlanSegment *seg)
{
    const StudyData *d = &S->data;
    if (seg->stage == STAGE_SFT) {
        int64_t items = eval_limit(S, count_lines(d->qa_valid));
        if (d->qa_test[0]) items += eval_limit(S, count_lines(d->qa_test));
        return (double)items * (40 + STUDY_MAX_NEW_TOKENS / 3);
    }
    double mc_items = 0;
    for (int k = 0; k < d->n_mc_tasks; k++) mc_items += (double)eval_limit(S, count_lines(d->mc_tasks[k]));
    return ((double)d->pt_valid_tokens + mc_items * 4 * 24) / 3;
}

Cost cost_of_segment(const StudyState *S, int i)
{
    const PlanSegment *seg = &S->plan.segments[i];
    Cost c = {0, 0, 0};
    assert(seg->end_step >= seg->start_step);   /* the runner plans with the SFT length known */
    c.train = (double)(seg->end_step - seg->start_step) * (double)segment_batch_tokens(S, seg);
    int64_t trace_tokens = (int64_t)S->spec.probe_sequences * S->spec.seq_len;
    if (seg->stage != STAGE_SFT) {
        int n_probes = plan_probe_steps(&S->plan, seg, NULL, 0);
        c.probe = (double)n_probes * S->spec.probes * 2 * PROBE_DATA_COUNT * (double)trace_tokens;
    }
    if (plan_ends_stage(&S->plan, i)) {
        c.eval = eval_cost(S, seg);
        if (seg->stage == STAGE_PRETRAIN)   /* P^-1 H: precond_steps products on a training batch */
            c.probe += (double)S->spec.precond_steps * 2 * (double)S->spec.batch_tokens;
        if (seg->stage == STAGE_SFT) {   /* forgetting scores PT validation twice; the SFT-data trace */
            c.eval += 2.0 * (double)S->data.pt_valid_tokens / 3;
            c.probe += (double)SFT_CHANGE_PROBES * 2 * (double)trace_tokens;
        }
    }
    return c;
}

Cost cost_of_remaining(const StudyState *S, const SegmentStatus *status, int *todo)
{
    Cost left = {0, 0, 0};
    *todo = 0;
    for (int i = 0; i < S->plan.n_segments; i++)
        if (status[i] != SEG_DONE) {
            Cost c = cost_of_segment(S, i);
            left.train += c.train;
            left.eval += c.eval;
            left.probe += c.probe;
            (*todo)++;
        }
    return left;
}

double cost_total(Cost c) { return c.train + c.eval + c.probe; }

static int keep_best_rate(void *ctx, const StepMetrics *m)
{
    double *best = ctx;
    if (m->step > 1 && m->tokens_per_s > *best) *best = m->tokens_per_s;
    return 0;
}

double cost_measure_throughput(StudyState *S, Err *e)
{
    const char *paths[1] = {S->data.pt_train};
    int B = S->spec.micro_batch, T = S->spec.seq_len;
    LoaderConfig lc = {
        .token_paths = paths,
        .n_shards = 1,
        .seq_len = T,
        .batch_size = B,
        .n_micro = (int)(S->spec.batch_tokens / ((int64_t)B * T)),
        .seed = THROUGHPUT_SEED,
        .layout = LOADER_STREAM,
        .vocab_size = S->config.vocab_size,
    };
    LoaderSource data;
    if (loader_source_open(&data, &lc, e)) return -1;
    BatchSource src = loader_source(&data);
    model_init_weights(&S->model, THROUGHPUT_SEED);
    adamw_reset(&S->optimizer);
    double best = 0, lr = 1e-4;
    TrainRun probe_run = {
        .end_step = THROUGHPUT_STEPS,
        .micro_batch = B,
        .seq_len = T,
        .accum = lc.n_micro,
        .lr = lr_constant,
        .lr_ctx = &lr,
        .on_step = keep_best_rate,
        .on_step_ctx = &best,
    };
    int rc = trainer_run(&S->model, &S->optimizer, &src, &probe_run, NULL, e);
    loader_source_close(&data);
    if (rc) return -1;
    return best > 0 ? best : 1e4;
}

void format_duration(char *out, size_t size, double s)
{
    if (!(s >= 0) || s > 1e8) snprintf(out, size, "?");
    else if (s < 60) snprintf(out, size, "%.0fs", s);
    else if (s < 3600) snprintf(out, size, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(out, size, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

static double rate(double done, double spent_s, double tokens_per_s)
{
    return done > 0 && spent_s > 0 ? spent_s / done : 1 / tokens_per_s;
}

double cost_eta_seconds(Cost left, Cost done, Cost spent_s, double tokens_per_s)
{
    return left.train * rate(done.train, spent_s.train, tokens_per_s) +
           left.eval * rate(done.eval, spent_s.eval, tokens_per_s) +
           left.probe * rate(done.probe, spent_s.probe, tokens_per_s);
}

enum { WAITING, RUNNING, FINISHED };

/* Hands every free worker (of `jobs`) the first waiting segment in plan
 * order whose parent has finished, to end at `now` plus its duration. */
static void hand_out(const Plan *plan, char *state, double *end, const double *dur, int *free_workers, double now)
{
    for (int i = 0; i < plan->n_segments && *free_workers > 0; i++) {
        int p = plan->segments[i].parent;
        if (state[i] != WAITING || (p >= 0 && state[p] != FINISHED)) continue;
        state[i] = RUNNING;
        end[i] = now + dur[i];
        (*free_workers)--;
    }
}

double cost_makespan_seconds(const StudyState *S, const SegmentStatus *status, const double *started_ago, int jobs,
                             Cost done, Cost spent_s, double tokens_per_s)
{
    const int n = S->plan.n_segments;
    char *state = xmalloc((size_t)n + 1);
    double *dur = xmalloc(((size_t)n + 1) * sizeof *dur), *end = xmalloc(((size_t)n + 1) * sizeof *end);
    int free_workers = jobs < 1 ? 1 : jobs;
    for (int i = 0; i < n; i++) {
        dur[i] = cost_eta_seconds(cost_of_segment(S, i), done, spent_s, tokens_per_s);
        state[i] = status[i] == SEG_DONE ? FINISHED : WAITING;
        end[i] = 0;
        if (state[i] == WAITING && started_ago && started_ago[i] >= 0 && free_workers > 0) {
            state[i] = RUNNING;
            end[i] = fmax(0, dur[i] - started_ago[i]);
            free_workers--;
        }
    }
    double now = 0;
    for (;;) {
        hand_out(&S->plan, state, end, dur, &free_workers, now);
        int next = -1;
        for (int i = 0; i < n; i++)
            if (state[i] == RUNNING && (next < 0 || end[i] < end[next])) next = i;
        if (next < 0) break;
        now = end[next];
        for (int i = 0; i < n; i++)
            if (state[i] == RUNNING && end[i] <= now) {
                state[i] = FINISHED;
                free_workers++;
            }
    }
    free(state);
    free(dur);
    free(end);
    return now;
}
