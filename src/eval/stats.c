#include "eval/stats.h"

#include <math.h>
#include <stddef.h>

double stderr_proportion(double p, long n)
{
    if (n <= 0) return 0;
    double v = p * (1 - p) / (double)n;
    return v > 0 ? sqrt(v) : 0;
}

void weighted_mean_stderr(const double *x, const double *w, long n, double *mean, double *stderr_out)
{
    double sw = 0, swx = 0;
    long units = 0;
    for (long i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        if (wi == 0) continue;
        sw += wi;
        swx += wi * x[i];
        units++;
    }
    double m = sw > 0 ? swx / sw : 0;
    double ss = 0;
    for (long i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        if (wi == 0) continue;
        ss += wi * wi * (x[i] - m) * (x[i] - m);
    }
    *mean = m;
    *stderr_out = units >= 2 ? sqrt((double)units / (double)(units - 1) * ss) / sw : 0;
}

double stderr_of_average(const double *se, int k)
{
    if (k <= 0) return 0;
    double s = 0;
    for (int i = 0; i < k; i++) s += se[i] * se[i];
    return sqrt(s) / k;
}
