#include "train/merge.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/adamw.h"

static double decay_shape(MergeShape shape, double x)
{
    switch (shape) {
    case MERGE_COSINE: return 0.5 * (1.0 + cos(M_PI * x));
    case MERGE_SQRT: return 1.0 - sqrt(x);
    default: return 1.0 - x;
    }
}

void merge_wsm_weights(MergeShape shape, int k, double *c)
{
    /* w_i = d(i/k) for i = 1 .. k-1, w_0 = 1, w_k = 0; c_j = w_j - w_{j+1}. */
    for (int j = 0; j < k; j++) {
        double wj = j == 0 ? 1.0 : decay_shape(shape, (double)j / k);
        double wn = j + 1 >= k ? 0.0 : decay_shape(shape, (double)(j + 1) / k);
        c[j] = shape == MERGE_UNIFORM ? 1.0 / k : wj - wn;
    }
}

static const struct {
    const char *name;
    MergeShape  shape;
} SHAPES[] = {{"uniform", MERGE_UNIFORM}, {"cosine", MERGE_COSINE}, {"1-sqrt", MERGE_SQRT}};

int merge_weights_parse(const char *spec, int k, MergeWeights *w, Err *e)
{
    memset(w, 0, sizeof *w);
    if (k < 1 || k > LINEAGE_MAX_MERGED)
        return err_set(e, "merge: %d checkpoints, expected 1 to %d", k, LINEAGE_MAX_MERGED);
    w->k = k;
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++)
        if (strcmp(spec, SHAPES[i].name) == 0) {
            w->shape = SHAPES[i].shape;
            merge_wsm_weights(w->shape, k, w->c);
            return 0;
        }
    w->shape = MERGE_EXPLICIT;
    const char *p = spec;
    double sum = 0;
    for (int j = 0; j < k; j++) {
        char *end;
        double x = strtod(p, &end);
        if (end == p)
            return err_set(e, "merge weights '%s': '%.*s' is not a number (expected uniform, cosine, 1-sqrt or %d "
                              "comma-separated positive weights summing to 1)", spec, (int)strcspn(p, ","), p, k);
        /* a zero or subnormal weight merges nothing of its checkpoint (1e-320 * a float is 0) */
        if (fpclassify(x) != FP_NORMAL || x < 0)
            return err_set(e, "merge weights '%s': weight %d ('%.*s') is not a positive normal number (expected "
                              "uniform, cosine, 1-sqrt or %d comma-separated positive weights summing to 1)", spec,
                           j + 1, (int)(end - p), p, k);
        /* below float32's epsilon a weight (of a sum of 1) moves no parameter bit: it merges nothing either */
        if (x < FLT_EPSILON)
            return err_set(e, "merge weights '%s': weight %d ('%.*s') is below %.3g, float32's precision: it would "
                              "merge nothing of its checkpoint", spec, j + 1, (int)(end - p), p, (double)FLT_EPSILON);
        w->c[j] = x;
        sum += x;
        p = end;
        while (*p == ' ' || *p == '\t') p++;   /* "0.5 , 0.5" reads as "0.5,0.5" (strtod skips leading ones) */
        if (j + 1 < k) {
            if (*p != ',')
                return err_set(e, "merge weights '%s': %d weight%s given, %d checkpoints to merge", spec, j + 1,
                               j ? "s" : "", k);
            p++;
        }
    }
    if (*p) return err_set(e, "merge weights '%s': more than %d weights for %d checkpoints", spec, k, k);
    if (fabs(sum - 1.0) > 1e-6) return err_set(e, "merge weights '%s': they sum to %.9g, expected 1", spec, sum);
    for (int j = 0; j < k; j++) w->c[j] /= sum;
    return 0;
}

void merge_weights_format(const MergeWeights *w, char *out, size_t out_size)
{
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++)
        if (w->shape == SHAPES[i].shape) {
            snprintf(out, out_size, "%s", SHAPES[i].name);
            return;
        }
    size_t used = 0;
    out[0] = 0;
    for (int j = 0; j < w->k && used < out_size; j++)
        used += (size_t)snprintf(out + used, out_size - used, "%s%.17g", j ? "," : "", w->c[j]);
}

void merge_params(const float *const *inputs, const double *c, int k, size_t n, float *out)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < k; j++) s += c[j] * (double)inputs[j][i];
        out[i] = (float)s;
    }
}

/* acc[i] += c * x[i] */
static void accumulate(double *acc, const float *x, double c, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) acc[i] += c * (double)x[i];
}

static void round_to_float(const double *acc, float *out, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = (float)acc[i];
}

/* NULL when prev and cur can be one run's checkpoints: lineage_unrelated's
 * test, except that in pre- and mid-training their parents may differ,
 * since a run split into segments (a study's WSO trunk ends a segment at
 * every breakpoint of the arms that share it) has one parent per segment;
 * stage, seed, schedule and data must still agree. (SFT runs are never
 * split, and two of them with different parents fine-tuned different
 * bases.) */
static const char *merge_unrelated(const Lineage *prev, const Lineage *cur)
{
    const char *why = lineage_unrelated(prev, cur);
    if (!why || strcmp(why, "their parents differ") || strcmp(cur->stage, "sft") == 0) return why;
    Lineage same_parent = *cur;
    memcpy(same_parent.parent_id, prev->parent_id, sizeof same_parent.parent_id);
    return lineage_unrelated(prev, &same_parent);
}

/* Input j against input 0 (shape, tokenizer) and j - 1 (lineage, order). */
static int check_input(const char *const *dirs, int j, const Lineage *prev, const Lineage *cur, int any_lineage,
                       Err *e)
{
    int same;
    if (checkpoint_same_tokenizer(dirs[0], dirs[j], &same, e)) return -1;
    if (!same)
        return err_set(e, "merge: %s and %s carry different tokenizers (their token ids mean different things)",
                       dirs[0], dirs[j]);
    int same_stage = strcmp(prev->stage, cur->stage) == 0;
    if (!same_stage && !any_lineage)
        return err_set(e, "merge: %s is a %s checkpoint and %s a %s one: a merge averages checkpoints of one stage "
                          "of one run; pass --any-lineage to merge them anyway", dirs[j - 1], prev->stage, dirs[j],
                       cur->stage);
    if (same_stage && cur->step < prev->step)
        return err_set(e, "merge: %s is at step %lld, before the previous input (step %lld): give inputs oldest first",
                       dirs[j], (long long)cur->step, (long long)prev->step);
    const char *why = any_lineage ? NULL : merge_unrelated(prev, cur);
    if (why)
        return err_set(e, "merge: %s and %s are not checkpoints of one run, or parent and child (%s); pass "
                          "--any-lineage to merge them anyway", dirs[j - 1], dirs[j], why);
    return 0;
}

int merge_checkpoints(const char *const *dirs, int k, const MergeWeights *w, const char *out_dir, int any_lineage,
                      Lineage *out_lin, Err *e)
{
    if (k < 1 || k > LINEAGE_MAX_MERGED)
        return err_set(e, "merge: %d checkpoints, expected 1 to %d", k, LINEAGE_MAX_MERGED);
    if (w->k != k) return err_set(e, "merge: %d weights for %d checkpoints", w->k, k);
    /* Never replace what is on disk: an --out that names an input (or any
     * existing checkpoint) would otherwise be swapped for the merge. */
    struct stat st;
    if (stat(out_dir, &st) == 0)
        return err_set(e, "merge: %s already exists; give a new folder for the merged checkpoint", out_dir);
    Config cfg;
    if (checkpoint_read_config(dirs[0], &cfg, e)) return -1;
    ParamTable t;
    param_table_build(&t, &cfg);
    size_t n = t.total;
    AdamW opt;
    adamw_create(&opt, &(AdamWConfig){0}, &t);
    param_table_free(&t);
    float *x = xmalloc(n * sizeof(float));
    double *acc = xcalloc(n, sizeof(double)), *acc_m = xcalloc(n, sizeof(double)), *acc_v = xcalloc(n, sizeof(double));
    Lineage lin = {0}, cur;
    MergedInput inputs[LINEAGE_MAX_MERGED];
    int rc = -1, all_have_opt = 1;
    for (int j = 0; j < k; j++) {
        int has_opt = 0;
        /* another shape fails here, naming the field (checkpoint_load) */
        if (checkpoint_load(dirs[j], &cfg, x, &opt, &has_opt, &cur, e)) goto out;
        if (j > 0 && check_input(dirs, j, &lin, &cur, any_lineage, e)) goto out;
        accumulate(acc, x, w->c[j], n);
        all_have_opt &= has_opt;
        if (has_opt) {
            accumulate(acc_m, opt.m, w->c[j], n);
            accumulate(acc_v, opt.v, w->c[j], n);
        }
        inputs[j] = (MergedInput){.step = cur.step, .weight = w->c[j]};
        memcpy(inputs[j].id, cur.id, sizeof inputs[j].id);
        lin = cur;   /* ends as the newest input's clocks, cursor, schedule and tokenizer */
    }
    strcpy(lin.parent_id, lin.id);
    lin.n_merged = k;
    memcpy(lin.merged, inputs, (size_t)k * sizeof inputs[0]);
    round_to_float(acc, x, n);
    if (all_have_opt) {
        round_to_float(acc_m, opt.m, n);
        round_to_float(acc_v, opt.v, n);
    }
    if (checkpoint_save(out_dir, &cfg, x, all_have_opt ? &opt : NULL, &lin, e)) goto out;
    if (out_lin) *out_lin = lin;
    rc = 0;
out:
    free(x);
    free(acc);
    free(acc_m);
    free(acc_v);
    adamw_free(&opt);
    return rc;
}
