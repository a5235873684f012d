#include "study/report_results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int fill_column(ReportResults *R, int col, const char *role, const char *suite, const char *task,
                       const char *metric, double scale, Err *e)
{
    ArmValue *v;
    int n;
    if (store_arm_evals(R->store, R->spec.name, role, suite, task, metric, &v, &n, e)) return -1;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < R->spec.n_arms; a++)
            for (int s = 0; s < R->spec.n_seeds; s++)
                if (strcmp(v[i].arm, R->spec.arms[a].name) == 0 && v[i].seed == R->spec.seeds[s])
                    R->cols[col].value[a][s] = v[i].value * scale;
    free(v);
    return 0;
}

static int load_columns(ReportResults *R, Err *e)
{
    report_column_init(&R->cols[COL_LOSS], R->three ? "MT valid loss" : "PT valid loss", LOWER_IS_BETTER, 3);
    report_column_init(&R->cols[COL_PT], "PT task avg", HIGHER_IS_BETTER, 1);
    report_column_init(&R->cols[COL_MT], "MT task avg", HIGHER_IS_BETTER, 1);
    report_column_init(&R->cols[COL_SFT], "SFT task avg", HIGHER_IS_BETTER, 1);
    if (fill_column(R, COL_LOSS, R->three ? "mid_end" : "pretrain_end", "valid", "pt", "loss", 1, e) ||
        fill_column(R, COL_PT, "pretrain_end", "pt", "average", "acc", 100, e) ||
        (R->three && fill_column(R, COL_MT, "mid_end", "pt", "average", "acc", 100, e)))
        return -1;
    /* Does the world have a held-out test split? (files worlds do not) */
    ArmValue *v;
    int n;
    if (store_sft_evals(R->store, R->spec.name, "sft", "average", "exact_match", &v, &n, e)) return -1;
    free(v);
    R->sft_suite = n > 0 ? "sft" : "sft_valid";
    return 0;
}

/* The chosen SFT learning rate of arm a, seed index k, and its score. */
static int load_chosen_sft(ReportResults *R, int a, int k, Err *e)
{
    const StudySpec *s = &R->spec;
    double lr, value, std_err;
    char segment[SEGMENT_ID_LEN + 1];
    int found = store_chosen_sft(R->store, s->name, s->arms[a].name, s->seeds[k], &lr, segment, e);
    if (found <= 0) return found;
    R->sft_lr[a][k] = lr;
    found = store_eval(R->store, segment, R->sft_suite, "average", "exact_match", &value, &std_err, e);
    if (found < 0) return -1;
    if (found) R->cols[COL_SFT].value[a][k] = 100 * value;
    return 0;
}

/* Sharpness of the base model SFT starts from: the probe at the end of
 * pre-training, or of mid-training in a three-stage study (mid-training
 * continues pre-training's step clock; stores written before it did record
 * that probe at step T_mid: a mid segment probes only at its end, so either
 * step names the same probe). */
static int load_base_sharpness(ReportResults *R, int a, int k, Err *e)
{
    const StudySpec *s = &R->spec;
    SegmentId path[REPORT_MAX_PATH];
    int n;
    if (store_arm_path(R->store, s->name, s->arms[a].name, s->seeds[k], "base", path, REPORT_MAX_PATH, &n, e))
        return -1;
    if (n == 0) return 0;
    if (n > REPORT_MAX_PATH)
        return err_set(e, "arm %s: more than %d segments to its base model", s->arms[a].name, REPORT_MAX_PATH);
    int64_t at = study_pretrain_steps(s) + (R->three ? study_mid_steps(s) : 0);
    int64_t at_before = R->three ? study_mid_steps(s) : at;
    SharpnessRecord *sr;
    int m;
    if (store_read_sharpness(R->store, path[n - 1].id, &sr, &m, e))
        return -1;
    for (int i = 0; i < m; i++)
        if (sr[i].step == at || sr[i].step == at_before) {
            int pt = strcmp(sr[i].data, "pt") == 0;
            (pt ? R->sharp_pt : R->sharp_sft)[a][k] = sr[i].trace;
            (pt ? R->sharp_pt_se : R->sharp_sft_se)[a][k] = sr[i].std_err;
        }
    free(sr);
    return 0;
}

int report_results_load(ReportResults *R, Err *e)
{
    if (load_columns(R, e)) return -1;
    for (int a = 0; a < R->spec.n_arms; a++)
        for (int k = 0; k < R->spec.n_seeds; k++) {
            R->sft_lr[a][k] = R->sharp_pt[a][k] = R->sharp_sft[a][k] = NAN;
            R->sharp_pt_se[a][k] = R->sharp_sft_se[a][k] = NAN;
            if (load_chosen_sft(R, a, k, e) || load_base_sharpness(R, a, k, e)) return -1;
        }
    return model_measures_load(&R->measures, &R->spec, R->store, e);
}
