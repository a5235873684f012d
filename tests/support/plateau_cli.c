#include "support/plateau_cli.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "support/scratch.h"

static char g_root[256];
static const char *g_bin;

int cli_setup(const char *name, char *root, size_t root_size)
{
    char test[64];
    snprintf(test, sizeof test, "test_%s", name);
    g_bin = scratch_plateau_bin(test);
    if (!g_bin) return -1;
    setenv("OMP_WAIT_POLICY", "passive", 0);
    if (scratch_create(g_root, sizeof g_root, name)) return -1;
    snprintf(root, root_size, "%s", g_root);
    return 0;
}

int cli_teardown(void) { return scratch_remove(g_root); }

pid_t cli_spawn(const char *const *args) { return cli_spawn_with(args, &(CliSpawn){0}); }

pid_t cli_spawn_with(const char *const *args, const CliSpawn *how)
{
    char log[512];
    if (how->log) snprintf(log, sizeof log, "%s", how->log);
    else snprintf(log, sizeof log, "%s/log.txt", g_root);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        if (how->own_group) setpgid(0, 0);
        if (how->omp_threads) setenv("OMP_NUM_THREADS", how->omp_threads, 1);
        const char *argv[64];
        int n = 0;
        argv[n++] = g_bin;
        for (int i = 0; args[i]; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(g_bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int cli_run(const char *const *args, char *out, size_t out_size)
{
    int status;
    waitpid(cli_spawn(args), &status, 0);
    if (out) {
        char log[512], *text;
        size_t n;
        Err e;
        snprintf(log, sizeof log, "%s/log.txt", g_root);
        out[0] = 0;
        if (read_file(log, &text, &n, &e) == 0) {
            snprintf(out, out_size, "%s", text);
            free(text);
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void cli_run_ok(const char *const *args)
{
    char out[8192];
    int rc = cli_run(args, out, sizeof out);
    if (rc != 0) fail_msg("plateau %s ... exited %d:\n%s", args[0], rc, out);
}
