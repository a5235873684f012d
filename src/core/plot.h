/* Charts as PNG files drawn by gnuplot, run as a subprocess. The series go
 * to a data file and the commands to a script, both in a private temporary
 * directory; gnuplot draws into "<png>.tmp.<pid>", which is renamed over the
 * PNG only when gnuplot succeeded and the image is non-empty, so an existing
 * chart is never damaged. Labels are printed literally (no gnuplot markup).
 * Uses the pngcairo terminal when gnuplot has it, else png. */
#ifndef PLATEAU_PLOT_H
#define PLATEAU_PLOT_H

#include <stddef.h>

#include "core/error.h"

typedef enum {
    PLOT_LINES,
    PLOT_POINTS,
    PLOT_LINESPOINTS,
} PlotStyle;

typedef struct {
    const char   *label;   /* legend entry; NULL or "" for none */
    const double *x, *y;   /* [n]; non-finite y values leave a gap */
    const double *y_err;   /* [n] half-widths of error bars, or NULL */
    size_t        n;
    PlotStyle     style;
} PlotSeries;

typedef struct {
    const char *title, *x_label, *y_label;   /* NULL for none */
    int         width_px, height_px;         /* 0: 960 x 600 */
    int         log_y;                       /* logarithmic y axis */
    const char *key;    /* gnuplot key position, e.g. "top right"; NULL: top right */
    const char *extra;  /* further gnuplot commands run before `plot`, or NULL */
} Plot;

/* 1 if a gnuplot executable is on PATH. */
int plot_available(void);

/* Draws the series on one chart into png_path. Fails with a clear message
 * if gnuplot is missing, fails (its first error line is quoted) or writes
 * an empty image. */
int plot_png(const char *png_path, const Plot *plot, const PlotSeries *series, int n_series, Err *e);

#endif
