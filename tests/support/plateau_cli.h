/* Test helpers that run the plateau binary ($PLATEAU_BIN, else ./plateau,
 * built by `make` before the tests) as a user would, with its stdout and
 * stderr captured in one log file of the test's temporary folder. */
#ifndef PLATEAU_TEST_PLATEAU_CLI_H
#define PLATEAU_TEST_PLATEAU_CLI_H

#include <stddef.h>
#include <sys/types.h>

/* Finds the binary and makes a temporary folder /tmp/plateau-NAME-XXXXXX,
 * written to root (support/scratch.h). Returns 0, or -1 (with a line on stderr) when the binary
 * is missing. Sets OMP_WAIT_POLICY=passive for the children: on a busy
 * 2-core machine spinning OpenMP threads slow small runs tenfold. */
int cli_setup(const char *name, char *root, size_t root_size);
/* Removes the folder cli_setup made. Returns 0 on success. */
int cli_teardown(void);

/* Starts plateau with args (NULL-terminated, without the program name),
 * output to ROOT/log.txt; returns the child's pid. */
pid_t cli_spawn(const char *const *args);

/* How cli_spawn_with starts the child; zero fields keep cli_spawn's way. */
typedef struct {
    const char *log;           /* stdout and stderr to this file (NULL: ROOT/log.txt) */
    const char *omp_threads;   /* OMP_NUM_THREADS of the child (NULL: inherited) */
    int         own_group;     /* 1: in its own process group, as a shell starts a job,
                                * so a signal to -pid reaches it and its workers as Ctrl-C does */
} CliSpawn;
pid_t cli_spawn_with(const char *const *args, const CliSpawn *how);
/* Runs plateau to completion; returns its exit status (128 + signal when
 * killed), and its output (stdout and stderr, interleaved) in out (may be
 * NULL). */
int cli_run(const char *const *args, char *out, size_t out_size);
/* cli_run that fails the test, showing the output, unless plateau exits 0. */
void cli_run_ok(const char *const *args);

#endif
