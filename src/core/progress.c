#include "core/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_quiet;

void progress_quiet(int quiet) { g_quiet = quiet; }

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void format_eta(char *out, size_t n, double s)
{
    if (s < 0 || s > 1e7) snprintf(out, n, "--:--");
    else if (s >= 3600) snprintf(out, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(out, n, "%02d:%02d", (int)(s / 60), (int)s % 60);
}

static void draw(Progress *p, int final)
{
    double el = now_seconds() - p->start_s;
    double rate = el > 0 ? (double)p->done / el : 0;
    double frac = p->total ? (double)p->done / (double)p->total : 1.0;
    char eta[32];
    format_eta(eta, sizeof eta, final ? el : (rate > 0 ? (double)(p->total - p->done) / rate : -1));
    if (p->tty) {
        char bar[31];
        int fill = (int)(frac * 30 + 0.5);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%-20s [%s] %3d%% %llu/%llu %.0f %s/s %s %s %s\033[K",
                p->label, bar, (int)(frac * 100), (unsigned long long)p->done,
                (unsigned long long)p->total, rate, p->unit, final ? "took" : "eta", eta,
                p->extra);
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s: %3d%% %llu/%llu %.0f %s/s %s %s %s\n", p->label, (int)(frac * 100),
                (unsigned long long)p->done, (unsigned long long)p->total, rate, p->unit,
                final ? "took" : "eta", eta, p->extra);
    }
    fflush(stderr);
}

void progress_start(Progress *p, const char *label, uint64_t total, const char *unit)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    p->total = total;
    p->start_s = p->last_draw_s = now_seconds();
    p->tty = isatty(2);
}

void progress_update(Progress *p, uint64_t done)
{
    p->done = done;
    if (g_quiet || p->silent) return;
    double t = now_seconds();
    if (p->tty) {
        if (t - p->last_draw_s < 0.2) return;
    } else {
        /* Logs: a line per 10% at most, none for work that ends within a
         * few seconds, and no more often than every 5 seconds. */
        int decile = p->total ? (int)(10 * done / p->total) : 10;
        if (decile <= p->last_decile || t - p->start_s < 2.0 || t - p->last_draw_s < 5.0) return;
        p->last_decile = decile;
    }
    p->last_draw_s = t;
    draw(p, 0);
}

void progress_finish(Progress *p)
{
    if (g_quiet || p->silent) return;
    if (!p->tty && now_seconds() - p->start_s < 2.0) return;
    draw(p, 1);
}
