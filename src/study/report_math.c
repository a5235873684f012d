#include "study/report_math.h"

#include <math.h>
#include <stdio.h>

MeanStdErr mean_std_err(const double *x, int n)
{
    MeanStdErr m = {NAN, NAN, 0};
    double sum = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i])) {
            sum += x[i];
            m.n++;
        }
    if (m.n == 0) return m;
    m.mean = sum / m.n;
    if (m.n < 2) return m;
    double ss = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i])) ss += (x[i] - m.mean) * (x[i] - m.mean);
    m.std_err = sqrt(ss / (m.n - 1)) / sqrt((double)m.n);
    return m;
}

int delta_from_best_decay(const double *value, const int *decays, int n, Direction dir, double *delta, int *best,
                          Err *e)
{
    int b = -1;
    for (int i = 0; i < n; i++) {
        if (!decays[i] || isnan(value[i])) continue;
        if (b < 0 || (dir == LOWER_IS_BETTER ? value[i] < value[b] : value[i] > value[b])) b = i;
    }
    if (b < 0) return err_set(e, "Delta needs at least one decay-based arm with a value (every arm is WSO or unmeasured)");
    for (int i = 0; i < n; i++) delta[i] = value[i] - value[b];
    if (best) *best = b;
    return 0;
}

void format_delta(char *out, size_t size, double delta, int decimals)
{
    if (isnan(delta)) {
        snprintf(out, size, "n/a");
        return;
    }
    double scale = pow(10.0, decimals);
    if (round(delta * scale) == 0) delta = 0.0;   /* also turns -0.0 into +0.0 */
    snprintf(out, size, "%+.*f", decimals, delta);
}

int choose_sft_lr(const double *lrs, const double *val_score, int n, Direction dir)
{
    int b = -1;
    for (int i = 0; i < n; i++) {
        if (isnan(val_score[i])) continue;
        if (b < 0) {
            b = i;
            continue;
        }
        int better = dir == HIGHER_IS_BETTER ? val_score[i] > val_score[b] : val_score[i] < val_score[b];
        if (better || (val_score[i] == val_score[b] && lrs[i] < lrs[b])) b = i;
    }
    return b;
}
