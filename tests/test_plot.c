/* Charts through gnuplot: a PNG appears only when drawing worked, and an
 * existing chart survives every failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/plot.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/plateau-test-plot-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const double X[] = {0, 1, 2, 3, 4}, Y1[] = {0, 1, 4, 9, 16}, Y2[] = {16, 9, 4, 1, 0};
static const double ERR[] = {0.5, 0.5, 1, 1, 2};

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void draws_a_png_with_several_series(void **state)
{
    (void)state;
    if (!plot_available()) skip();
    char path[128];
    path_join(path, sizeof path, dir, "chart.png");
    PlotSeries s[] = {
        {"rising 'quoted'", X, Y1, NULL, 5, PLOT_LINES},
        {"falling_under_score", X, Y2, ERR, 5, PLOT_LINESPOINTS},
        {"points", X, Y2, NULL, 5, PLOT_POINTS},
    };
    Plot p = {.title = "test chart", .x_label = "x", .y_label = "y"};
    Err e;
    if (plot_png(path, &p, s, 3, &e)) fail_msg("%s", e.msg);
    char *data;
    size_t bytes;
    assert_int_equal(read_file(path, &data, &bytes, &e), 0);
    assert_true(bytes > 1000);
    assert_memory_equal(data, "\x89PNG\r\n\x1a\n", 8);
    free(data);
    /* no temporary left beside it */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    assert_int_equal(file_size(tmp), -1);
}

static void missing_gnuplot_is_a_clear_error_and_keeps_the_old_chart(void **state)
{
    (void)state;
    char path[128];
    path_join(path, sizeof path, dir, "keep.png");
    Err e;
    assert_int_equal(write_file_atomic(path, "old", 3, &e), 0);
    setenv("PLATEAU_GNUPLOT", "/nonexistent/gnuplot", 1);
    PlotSeries s = {"a", X, Y1, NULL, 5, PLOT_LINES};
    Plot p = {0};
    int rc = plot_png(path, &p, &s, 1, &e);
    unsetenv("PLATEAU_GNUPLOT");
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e.msg, "gnuplot"));
    assert_non_null(strstr(e.msg, "not installed"));
    assert_int_equal(file_size(path), 3);
}

static void a_gnuplot_error_is_quoted_and_keeps_the_old_chart(void **state)
{
    (void)state;
    if (!plot_available()) skip();
    char path[128];
    path_join(path, sizeof path, dir, "keep2.png");
    Err e;
    assert_int_equal(write_file_atomic(path, "old", 3, &e), 0);
    PlotSeries s = {"a", X, Y1, NULL, 5, PLOT_LINES};
    Plot p = {.extra = "set frobnicate 3"};
    assert_int_equal(plot_png(path, &p, &s, 1, &e), -1);
    assert_non_null(strstr(e.msg, "gnuplot failed"));
    assert_int_equal(file_size(path), 3);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    assert_int_equal(file_size(tmp), -1);
}

static void an_unwritable_destination_names_the_file(void **state)
{
    (void)state;
    PlotSeries s = {"a", X, Y1, NULL, 5, PLOT_LINES};
    Plot p = {0};
    Err e;
    assert_int_equal(plot_png("/nonexistent-dir/chart.png", &p, &s, 1, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent-dir/chart.png"));
    assert_int_equal(plot_png("/tmp/x.png", &p, &s, 0, &e), -1);
    assert_non_null(strstr(e.msg, "at least one series"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(draws_a_png_with_several_series),
        cmocka_unit_test(missing_gnuplot_is_a_clear_error_and_keeps_the_old_chart),
        cmocka_unit_test(a_gnuplot_error_is_quoted_and_keeps_the_old_chart),
        cmocka_unit_test(an_unwritable_destination_names_the_file),
    };
    return cmocka_run_group_tests_name("plot", tests, setup, teardown);
}
