/* Progress bars for long work, on stderr: a label, a bar, done/total, a rate
 * in the caller's unit (tokens/s, items/s) and the ETA. Redraws at most a few
 * times a second; on a non-terminal (logs, CI) prints a plain line every ~10%
 * instead. progress_quiet(1) silences all bars (the study's quiet mode). */
#ifndef PLATEAU_PROGRESS_H
#define PLATEAU_PROGRESS_H

#include <stdint.h>

typedef struct {
    char     label[64];
    char     unit[16];
    uint64_t total;
    uint64_t done;
    double   start_s;
    double   last_draw_s;
    int      last_decile;
    int      tty;
    char     extra[128];   /* free text shown after the rate, e.g. "loss 2.31" */
    int      silent;       /* 1: this bar draws nothing (set after progress_start) */
} Progress;

/* 1: no bar draws anything, for the whole process (a command's --quiet). */
void   progress_quiet(int quiet);
void   progress_start(Progress *p, const char *label, uint64_t total, const char *unit);
/* Sets done (absolute, not an increment) and redraws if it is time. On a
 * non-terminal, work shorter than 2 s prints nothing. */
void   progress_update(Progress *p, uint64_t done);
void   progress_finish(Progress *p);

/* Monotonic wall clock in seconds. */
double now_seconds(void);

#endif
