#include "core/plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* PLATEAU_GNUPLOT overrides the program (tests use it to simulate a missing
 * gnuplot); otherwise "gnuplot" is looked up on PATH. */
static const char *gnuplot_program(void)
{
    const char *p = getenv("PLATEAU_GNUPLOT");
    return (p && *p) ? p : "gnuplot";
}

static int on_path(const char *prog)
{
    if (strchr(prog, '/')) return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    char dir[4096];
    while (*path) {
        size_t len = strcspn(path, ":");
        if (len > 0 && len < sizeof dir - 64) {
            char full[4200];
            memcpy(dir, path, len);
            dir[len] = 0;
            snprintf(full, sizeof full, "%s/%s", dir, prog);
            if (access(full, X_OK) == 0) return 1;
        }
        path += len;
        if (*path == ':') path++;
    }
    return 0;
}

int plot_available(void)
{
    return on_path(gnuplot_program());
}

/* Writes s as a gnuplot single-quoted string (a quote is doubled). */
static void put_quoted(FILE *fp, const char *s)
{
    fputc('\'', fp);
    for (; s && *s; s++) {
        if (*s == '\'') fputc('\'', fp);
        if (*s != '\n') fputc(*s, fp);
    }
    fputc('\'', fp);
}

static int write_data(const char *path, const PlotSeries *series, int n_series, Err *e)
{
    FILE *fp = fopen(path, "w");
    if (!fp) return err_set(e, "%s: cannot create plot data: %s", path, strerror(errno));
    for (int i = 0; i < n_series; i++) {
        const PlotSeries *s = &series[i];
        fprintf(fp, "# series %d\n", i);
        for (size_t k = 0; k < s->n; k++) {
            if (!isfinite(s->x[k])) continue;
            if (!isfinite(s->y[k])) { fputc('\n', fp); continue; }   /* a gap in the line */
            fprintf(fp, "%.17g %.17g", s->x[k], s->y[k]);
            if (s->y_err) fprintf(fp, " %.17g", isfinite(s->y_err[k]) ? s->y_err[k] : 0.0);
            fputc('\n', fp);
        }
        if (s->n == 0) fputs("NaN NaN 0\n", fp);   /* keeps the block indices aligned */
        fputs("\n\n", fp);
    }
    if (fclose(fp) != 0) return err_set(e, "%s: cannot write plot data", path);
    return 0;
}

static int write_script(const char *path, const char *data_path, const char *png_tmp, const Plot *p,
                        const PlotSeries *series, int n_series, Err *e)
{
    FILE *fp = fopen(path, "w");
    if (!fp) return err_set(e, "%s: cannot create gnuplot script: %s", path, strerror(errno));
    int w = p->width_px > 0 ? p->width_px : 960, h = p->height_px > 0 ? p->height_px : 600;
    fprintf(fp, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                "  set terminal pngcairo size %d,%d noenhanced font 'sans,11' linewidth 1.5\n"
                "} else {\n"
                "  set terminal png size %d,%d noenhanced\n"
                "}\n",
            w, h, w, h);
    fputs("set output ", fp);
    put_quoted(fp, png_tmp);
    fputs("\nset grid lc rgb '#dddddd'\nset border lc rgb '#555555'\n", fp);
    /* Colours that stay distinct for colour-blind readers and on paper;
     * series 9 onwards reuse them. */
    static const char *const COLOURS[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                          "#E69F00", "#56B4E9", "#000000", "#8C8C8C"};
    for (int i = 0; i < 8; i++) fprintf(fp, "set linetype %d lc rgb '%s'\n", i + 1, COLOURS[i]);
    fputs("set linetype cycle 8\n", fp);
    /* headroom so a series along the top of the range is not hidden by the
     * border, and room at the sides for markers on the first and last x */
    int markers = 0;
    for (int i = 0; i < n_series; i++) markers |= series[i].style != PLOT_LINES || series[i].y_err != NULL;
    fprintf(fp, "set offsets %s, graph 0.05, 0\n", markers ? "graph 0.03, graph 0.03" : "0, 0");
    if (p->title) { fputs("set title ", fp); put_quoted(fp, p->title); fputc('\n', fp); }
    if (p->x_label) { fputs("set xlabel ", fp); put_quoted(fp, p->x_label); fputc('\n', fp); }
    if (p->y_label) { fputs("set ylabel ", fp); put_quoted(fp, p->y_label); fputc('\n', fp); }
    fprintf(fp, "set key %s box opaque\n", p->key ? p->key : "top right");
    if (p->log_y) fputs("set logscale y\n", fp);
    fputs("set format y '%g'\n", fp);
    if (p->extra) fprintf(fp, "%s\n", p->extra);
    fputs("plot ", fp);
    for (int i = 0; i < n_series; i++) {
        const PlotSeries *s = &series[i];
        if (i) fputs(", \\\n     ", fp);
        put_quoted(fp, data_path);
        const char *with = s->style == PLOT_POINTS ? "points pt 7 ps 1.2"
                         : s->style == PLOT_LINESPOINTS ? "linespoints pt 7 ps 1.0 lw 2"
                                                          : "lines lw 2";
        if (s->y_err) {   /* the bars first, then the series itself with its legend entry */
            fprintf(fp, " index %d using 1:2:3 with yerrorbars pt 7 lc %d notitle, ", i, i + 1);
            put_quoted(fp, data_path);
        }
        fprintf(fp, " index %d using 1:2 with %s lc %d title ", i, with, i + 1);
        put_quoted(fp, s->label ? s->label : "");
    }
    fputc('\n', fp);
    if (fclose(fp) != 0) return err_set(e, "%s: cannot write gnuplot script", path);
    return 0;
}

/* Runs gnuplot on the script with its output captured in log_path; returns
 * the exit status, or -1 if it could not be started. */
static int run_gnuplot(const char *script, const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        const char *prog = gnuplot_program();
        execlp(prog, prog, script, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* gnuplot reports `"script" line N: message`, after echoing the offending
 * command. Returns the last such message and the command, for the error. */
static void gnuplot_complaint(const char *log_path, char *out, size_t size)
{
    out[0] = 0;
    FILE *fp = fopen(log_path, "r");
    if (!fp) return;
    char line[512], command[512] = "", message[512] = "";
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = 0;
        const char *at = line[0] == '"' ? strstr(line, "\" line ") : NULL;
        const char *colon = at ? strstr(at, ": ") : NULL;
        if (colon) snprintf(message, sizeof message, "%s", colon + 2);
        else if (!command[0] && line[strspn(line, " ^")]) snprintf(command, sizeof command, "%s", line);
    }
    fclose(fp);
    if (message[0] && command[0]) snprintf(out, size, "%s (at: %s)", message, command);
    else snprintf(out, size, "%s", message[0] ? message : command);
}

int plot_png(const char *png_path, const Plot *plot, const PlotSeries *series, int n_series, Err *e)
{
    if (n_series <= 0) return err_set(e, "%s: a plot needs at least one series", png_path);
    const char *prog = gnuplot_program();
    if (!on_path(prog))
        return err_set(e, "%s: cannot draw: gnuplot ('%s') is not installed or not on PATH "
                          "(Debian: apt-get install gnuplot-nox)", png_path, prog);

    /* Fail early, with the reason, if the chart's directory cannot take it. */
    char png_tmp[4200];
    snprintf(png_tmp, sizeof png_tmp, "%s.tmp.%d", png_path, (int)getpid());
    int probe = open(png_tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (probe < 0) return err_set(e, "%s: cannot write the chart: %s", png_path, strerror(errno));
    close(probe);

    const char *tmp_root = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/plateau-plot-XXXXXX", (tmp_root && *tmp_root) ? tmp_root : "/tmp");
    if (!mkdtemp(dir)) {
        unlink(png_tmp);
        return err_set(e, "%s: cannot make a temporary directory: %s", dir, strerror(errno));
    }
    char data[4160], script[4160], log[4160];
    snprintf(data, sizeof data, "%s/series.dat", dir);
    snprintf(script, sizeof script, "%s/plot.gp", dir);
    snprintf(log, sizeof log, "%s/gnuplot.log", dir);

    int rc = -1;
    if (write_data(data, series, n_series, e)) goto done;
    if (write_script(script, data, png_tmp, plot, series, n_series, e)) goto done;
    int status = run_gnuplot(script, log);
    if (status != 0) {
        char why[512];
        gnuplot_complaint(log, why, sizeof why);
        if (status < 0 || (status == 127 && !why[0]))
            err_set(e, "%s: could not run gnuplot ('%s')", png_path, prog);
        else
            err_set(e, "%s: gnuplot failed (exit %d)%s%s", png_path, status, why[0] ? ": " : "", why);
        unlink(png_tmp);
        goto done;
    }
    struct stat st;
    if (stat(png_tmp, &st) != 0 || st.st_size == 0) {
        err_set(e, "%s: gnuplot exited cleanly but wrote no image", png_path);
        unlink(png_tmp);
        goto done;
    }
    int fd = open(png_tmp, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (rename(png_tmp, png_path) != 0) {
        err_set(e, "%s: cannot move the chart into place: %s", png_path, strerror(errno));
        unlink(png_tmp);
        goto done;
    }
    rc = 0;
done:
    unlink(data);
    unlink(script);
    unlink(log);
    rmdir(dir);
    return rc;
}
