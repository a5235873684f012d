#include "probe/sharpness_hook.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "probe/sharpness.h"

static const char HEADER[] = "step,tokens,trace,std_error,probes,loss,seconds\n";

static void rows_append(SharpnessHook *h, const char *line)
{
    size_t n = strlen(line);
    h->rows = xrealloc(h->rows, h->rows_len + n + 1);
    memcpy(h->rows + h->rows_len, line, n + 1);
    h->rows_len += n;
}

int sharpness_hook_open(SharpnessHook *h, const Model *m, const char *token_path, const char *mask_path,
                        LoaderLayout layout, int B, int T, int64_t every, int64_t start_step, int64_t end_step,
                        int probes, uint64_t seed, const char *csv_path, Err *e)
{
    memset(h, 0, sizeof *h);
    if (every < 1) return err_set(e, "sharpness probe: every must be at least 1 step (got %" PRId64 ")", every);
    if (probes < 1) return err_set(e, "sharpness probe: probes must be at least 1 (got %d)", probes);
    if (probe_batch_load(&h->batch, token_path, mask_path, layout, B, T, m->cfg.vocab_size, e))
        return err_wrap(e, "sharpness probe batch");
    h->model = m;
    h->every = every;
    h->end_step = end_step;
    h->probes = probes;
    h->seed = seed;
    snprintf(h->csv_path, sizeof h->csv_path, "%s", csv_path);
    rows_append(h, HEADER);
    if (file_exists(csv_path)) {   /* keep an earlier run's rows before this segment */
        char *text;
        size_t bytes;
        if (read_file(csv_path, &text, &bytes, e)) {
            batch_free(&h->batch);
            free(h->rows);
            return -1;
        }
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *end;
            long long step = strtoll(line, &end, 10);
            if (end == line || *end != ',' || step >= start_step) continue;   /* header or a later row */
            rows_append(h, line);
            rows_append(h, "\n");
        }
        free(text);
    }
    return 0;
}

void sharpness_hook_close(SharpnessHook *h)
{
    batch_free(&h->batch);
    free(h->rows);
    memset(h, 0, sizeof *h);
}

int sharpness_hook_on_step(void *ctx, const StepMetrics *m)
{
    SharpnessHook *h = ctx;
    if (h->chain && h->chain(h->chain_ctx, m)) return 1;
    if (m->step % h->every != 0 && m->step != h->end_step) return 0;
    SharpnessResult r;
    if (sharpness_probe(h->model, &h->batch, h->probes, h->seed, &r, &h->err)) {
        h->failed = 1;
        return 1;
    }
    char line[256];
    snprintf(line, sizeof line, "%" PRId64 ",%" PRId64 ",%.9g,%.6g,%d,%.7g,%.2f\n", m->step, m->tokens,
             r.trace.mean, r.trace.std_error, r.trace.probes, r.loss, r.seconds);
    rows_append(h, line);
    if (!h->quiet)
        printf("step %" PRId64 ": sharpness Tr(H) %.6g +- %.2g (%d probes, loss on probe batch %.4f)\n", m->step,
               r.trace.mean, r.trace.std_error, r.trace.probes, r.loss);
    sharpness_result_free(&r);
    if (write_file_atomic(h->csv_path, h->rows, h->rows_len, &h->err)) {
        h->failed = 1;
        return 1;
    }
    return 0;
}
