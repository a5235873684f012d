#include "train/trainer.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/file.h"
#include "core/progress.h"

double lr_constant(const void *ctx, int64_t step)
{
    (void)step;
    return *(const double *)ctx;
}

static int save_checkpoint(const Model *m, const AdamW *o, const BatchSource *src, TrainRun *run,
                           int64_t steps_done, int64_t tokens, Err *e)
{
    Lineage *l = &run->lineage;
    l->step = steps_done;
    l->tokens = tokens;
    l->seq_len = run->seq_len;
    l->micro_batch = run->micro_batch;
    l->batch_tokens = (int64_t)run->accum * run->micro_batch * run->seq_len;
    l->stage_end_step = run->end_step;
    l->ranks = run->group ? run->group->size : 1;
    memset(&l->cursor, 0, sizeof l->cursor);
    int64_t data_steps = steps_done - l->stage_start_step;
    assert(data_steps >= 0);   /* a stage's checkpoints lie on or after its origin */
    if (src->cursor) src->cursor(src->ctx, data_steps, &l->cursor);
    else l->cursor.step = data_steps;
    char dir[4096];
    checkpoint_step_path(dir, sizeof dir, run->run_dir, steps_done);
    return checkpoint_save(dir, &m->cfg, m->params, o, l, e);
}

/* A number as a message prints it: "nan", "inf", "-inf" or %g. */
static const char *number_text(double x, char *buf, size_t size)
{
    if (isnan(x)) return "nan";
    if (isinf(x)) return x > 0 ? "inf" : "-inf";
    snprintf(buf, size, "%g", x);
    return buf;
}

/* The error of a run that diverged at update `step` (0-based; reported
 * 1-based, as the metrics lines number steps); returns 1 for run->diverged. */
static int diverged(Err *e, int64_t step, const char *what, double value, double lr)
{
    char buf[32];
    (void)err_set(e, "training diverged at step %" PRId64 ": %s is %s (lr %g); no checkpoint of this step or later was "
               "written. Try a lower peak learning rate (train --lr; a study's peak_lr or sft_lrs)",
            step + 1, what, number_text(value, buf, sizeof buf), lr);
    return 1;
}

/* 1 when every weight is finite. */
static int all_finite(const float *x, size_t n)
{
    int bad = 0;
#pragma omp parallel for simd reduction(| : bad) schedule(static) if (n >= 65536)
    for (size_t i = 0; i < n; i++) bad |= !isfinite(x[i]);
    return !bad;
}

static void log_step(const TrainRun *run, const StepMetrics *m, int ranks, int64_t step)
{
    if (run->log_every <= 0 ||
        !((step + 1) % run->log_every == 0 || step + 1 == run->end_step || step == run->start_step))
        return;
    printf("step %6" PRId64 " | loss %.6f | lr %.4e | grad norm %.4f | %.0f tok/s", m->step, m->loss, m->lr,
           m->grad_norm, m->tokens_per_s);
    if (ranks > 1) printf(" | %d ranks, sum %.1f%%", ranks, m->step_s > 0 ? 100 * m->reduce_s / m->step_s : 0);
    printf("\n");
}

int trainer_run(Model *m, AdamW *o, const BatchSource *src, TrainRun *run, StepMetrics *last, Err *e)
{
    const int B = run->micro_batch, T = run->seq_len, A = run->accum;
    if (B <= 0 || T <= 0 || A <= 0)
        return err_set(e, "trainer: micro_batch %d, seq_len %d and accum %d must be positive", B, T, A);
    if (B > m->max_B || T > m->max_T)
        return err_set(e, "trainer: micro-batch %d x %d exceeds the model's buffers %d x %d", B, T, m->max_B,
                       m->max_T);
    if (run->end_step < run->start_step)
        return err_set(e, "trainer: end step %" PRId64 " is before start step %" PRId64, run->end_step,
                       run->start_step);
    if (o->n != m->n_params)
        return err_set(e, "trainer: optimizer holds %zu parameters, the model %zu", o->n, m->n_params);

    model_params_changed(m);   /* the caller may have loaded or edited the weights */
    const DistGroup *g = run->group ? run->group : dist_self();
    const int root = dist_is_root(g);
    if (g->size > 1) {
        /* Every rank must start from the same state, or the sum is of
         * gradients at different points; catch a run directory or checkpoint
         * that differs between hosts before the first step. */
        Checksum c;
        checksum_init(&c);
        checksum_update(&c, m->params, m->n_params * sizeof(float));
        checksum_update(&c, o->m, o->n * sizeof(float));
        checksum_update(&c, o->v, o->n * sizeof(float));
        checksum_update(&c, &o->t, sizeof o->t);
        checksum_update(&c, &run->start_step, sizeof run->start_step);
        int bad = dist_first_differing(g, checksum_final(&c));
        if (bad >= 0)
            return err_set(e, "trainer: rank %d starts from other weights, optimizer state or step than rank 0 "
                              "(every rank must see the same checkpoint and run directory)", bad);
    }
    int first, mine;   /* this rank's micro-batches of every step: [first, first + mine) */
    dist_share(A, g->rank, g->size, &first, &mine);
    DistReducer reducer;
    dist_reducer_create(&reducer, g);

    const size_t per_micro = (size_t)B * T;
    const int64_t batch_tokens = (int64_t)A * B * T;
    const int64_t data_origin = run->lineage.stage_start_step;   /* a stage reads its data from its start */
    int *tokens = xmalloc((size_t)A * per_micro * sizeof(int));
    int *targets = xmalloc((size_t)A * per_micro * sizeof(int));
    float *mask = src->has_mask ? xmalloc((size_t)A * per_micro * sizeof(float)) : NULL;
    double *counted = xmalloc((size_t)A * sizeof(double));

    Progress bar;
    int64_t n_steps = run->end_step - run->start_step;
    const int progress = run->progress && root;
    if (progress) progress_start(&bar, run->lineage.stage[0] ? run->lineage.stage : "train",
                                      (uint64_t)(n_steps * batch_tokens), "tok");
    int64_t tokens_done = run->start_tokens;
    int64_t last_saved = -1;
    StepMetrics met = {0};
    met.step = run->start_step;
    met.tokens = tokens_done;
    int rc = -1;
    run->diverged = 0;

    for (int64_t step = run->start_step; step < run->end_step; step++) {
        double t0 = now_seconds();
        /* Fetch the whole batch first: the loss scale of each micro-batch
         * needs the batch's total count of counted positions. */
        double total = 0;
        for (int k = 0; k < A; k++) {
            float *mk = mask ? mask + (size_t)k * per_micro : NULL;
            if (src->fill(src->ctx, step - data_origin, k, B, T, tokens + (size_t)k * per_micro, targets + (size_t)k * per_micro,
                          mk, e))
                goto out;
            double c = (double)per_micro;
            if (mk) {
                c = 0;
                for (size_t i = 0; i < per_micro; i++) c += mk[i] != 0.0f;
            }
            counted[k] = c;
            total += c;
        }
        model_zero_grad(m);
        double loss = 0;
        for (int k = first; k < first + mine; k++) {
            if (counted[k] == 0) continue;   /* nothing to learn from; its loss is undefined */
            float l = model_forward(m, tokens + (size_t)k * per_micro, targets + (size_t)k * per_micro,
                                    mask ? mask + (size_t)k * per_micro : NULL, B, T);
            model_backward(m, (float)(counted[k] / total));
            loss += (double)l * counted[k] / total;
        }
        double t_reduce = now_seconds();
        if (dist_sum_floats(&reducer, m->grads, m->n_params, e) || dist_sum_doubles(&reducer, &loss, 1, e)) goto out;
        double reduce_s = g->size > 1 ? now_seconds() - t_reduce : 0;
        double lr = run->lr(run->lr_ctx, step);
        /* A non-finite loss or gradient stops the run before the update, so
         * no NaN reaches the weights, the moments or a checkpoint; every rank
         * sees the same summed values and stops alike. */
        if (total > 0 && !isfinite(loss)) {
            run->diverged = diverged(e, step, "the loss", loss, lr);
            goto out;
        }
        double norm = total > 0 ? adamw_step(o, m->params, m->grads, (float)lr) : 0.0;
        if (!isfinite(norm)) {
            run->diverged = diverged(e, step, "the gradient norm", norm, lr);
            goto out;
        }
        model_params_changed(m);   /* the bf16 weight copy is refreshed once per optimizer step */
        tokens_done += batch_tokens;

        double dt = now_seconds() - t0;
        met = (StepMetrics){.step = step + 1,
                            .tokens = tokens_done,
                            .loss = total > 0 ? loss : NAN,
                            .lr = lr,
                            .grad_norm = norm,
                            .tokens_per_s = dt > 0 ? (double)batch_tokens / dt : 0,
                            .step_s = dt,
                            .reduce_s = reduce_s};
        if (root) log_step(run, &met, g->size, step);
        if (progress) {
            snprintf(bar.extra, sizeof bar.extra, "loss %.4f", met.loss);
            progress_update(&bar, (uint64_t)((step + 1 - run->start_step) * batch_tokens));
        }
        int stop = root && run->on_step && run->on_step(run->on_step_ctx, &met);
        if (g->size > 1 && dist_broadcast(g, &stop, sizeof stop, e)) goto out;
        if (stop) {
            rc = 0;
            goto out;
        }
        /* A finite loss and gradient can still step to weights that overflow
         * (a huge lr times weight decay); they are never saved. */
        int saving = run->run_dir && ((run->ckpt_every > 0 && (step + 1) % run->ckpt_every == 0) ||
                                      step + 1 == run->end_step);
        if (saving && !all_finite(m->params, m->n_params)) {
            run->diverged = diverged(e, step, "a weight after the update", NAN, lr);
            goto out;
        }
        if (root && run->run_dir && run->ckpt_every > 0 && (step + 1) % run->ckpt_every == 0) {
            if (save_checkpoint(m, o, src, run, step + 1, tokens_done, e)) goto out;
            last_saved = step + 1;
        }
    }
    if (root && run->run_dir && last_saved != run->end_step) {
        char dir[4096];
        checkpoint_step_path(dir, sizeof dir, run->run_dir, run->end_step);
        /* A zero-step run (resuming a finished one) keeps its checkpoint and
         * reports that checkpoint's id. */
        if (n_steps == 0 && file_exists(dir)) {
            if (checkpoint_id(dir, run->lineage.id, e)) goto out;
        } else if (save_checkpoint(m, o, src, run, run->end_step, tokens_done, e)) {
            goto out;
        }
    }
    rc = 0;
out:
    if (progress) progress_finish(&bar);
    fflush(stdout);
    dist_reducer_free(&reducer);
    if (last) *last = met;
    free(tokens);
    free(targets);
    free(mask);
    free(counted);
    return rc;
}
