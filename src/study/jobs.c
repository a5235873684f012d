#define _GNU_SOURCE   /* ppoll, environ */
#include "study/jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dist/comm.h"
#include "study/interrupt_note.h"

extern char **environ;

typedef struct {
    int32_t  tag;
    int32_t  zero;
    uint64_t len;
} Frame;

static volatile sig_atomic_t g_signal;   /* the signal that interrupted the study, 0: none */
static struct sigaction g_old[3];
static const int TAKEN[3] = {SIGINT, SIGTERM, SIGHUP};

static void on_signal(int sig) { g_signal = sig; }


/* ---- messages over a stream socket ---------------------------------------------- */

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* 1: all n bytes; 0: end of stream before any; -1: error or a cut message. */
static int read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r == 0 && got == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

static int frame_send(int fd, int tag, const void *buf, size_t n)
{
    Frame f = {.tag = tag, .len = n};
    return write_all(fd, &f, sizeof f) || (n && write_all(fd, buf, n)) ? -1 : 0;
}

/* As read_all: 1 with *buf malloc'd (at least one byte), 0 at end of stream. */
static int frame_recv(int fd, void **buf, size_t *n, int *tag)
{
    Frame f;
    int r = read_all(fd, &f, sizeof f);
    if (r <= 0) return r;
    if (f.tag < 0 || f.zero != 0 || f.len > ((uint64_t)1 << 40)) return -1;
    char *p = xmalloc(f.len + 1);
    if (f.len && read_all(fd, p, f.len) != 1) {
        free(p);
        return -1;
    }
    p[f.len] = 0;
    *buf = p;
    *n = f.len;
    *tag = f.tag;
    return 1;
}

/* ---- endpoint 0 ------------------------------------------------------------------ */

/* A signal ignored when the study started (`nohup` ignores SIGHUP, a shell
 * ignores SIGINT in a background job) stays ignored; the others stop the
 * study. */
static void take_signals(Jobs *j)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;   /* no SA_RESTART: ppoll returns */
    sigemptyset(&sa.sa_mask);
    sigset_t block;
    sigemptyset(&block);
    g_signal = 0;
    for (int k = 0; k < 3; k++) {
        sigaction(TAKEN[k], NULL, &g_old[k]);
        if (g_old[k].sa_handler == SIG_IGN) continue;
        sigaction(TAKEN[k], &sa, NULL);
        sigaddset(&block, TAKEN[k]);
    }
    /* Delivered only inside ppoll, so a signal between two waits is not lost. */
    sigprocmask(SIG_BLOCK, &block, NULL);
    j->signals_taken = 1;
}

static void give_signals_back(Jobs *j)
{
    if (!j->signals_taken) return;
    sigset_t block;
    sigemptyset(&block);
    for (int k = 0; k < 3; k++) {
        if (g_old[k].sa_handler == SIG_IGN) continue;
        sigaddset(&block, TAKEN[k]);
        sigaction(TAKEN[k], &g_old[k], NULL);
    }
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    j->signals_taken = 0;
}

/* The environment of a worker: the caller's, threads pinned, MPI's launcher
 * variables dropped (a worker is no rank). Built before fork: a child of a
 * process with threads may only make async-signal-safe calls before exec. */
static char **worker_environment(int threads, char thread_vars[2][64])
{
    static const char *const DROP[] = {"OMP_NUM_THREADS=", "OPENBLAS_NUM_THREADS=", "OMPI_COMM_WORLD_SIZE=",
                                       "PMI_SIZE=", "PMIX_RANK=", NULL};
    size_t n = 0;
    while (environ[n]) n++;
    char **env = xmalloc((n + 3) * sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int drop = 0;
        for (int d = 0; DROP[d] && !drop; d++) drop = strncmp(environ[i], DROP[d], strlen(DROP[d])) == 0;
        if (!drop) env[k++] = environ[i];
    }
    snprintf(thread_vars[0], 64, "OMP_NUM_THREADS=%d", threads);
    snprintf(thread_vars[1], 64, "OPENBLAS_NUM_THREADS=%d", threads);
    env[k++] = thread_vars[0];
    env[k++] = thread_vars[1];
    env[k] = NULL;
    return env;
}

/* After fork, in the child: async-signal-safe calls only, then exec. */
static void become_worker(int sock, const char *exe, char **argv, char **env, pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(126);
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGINT, &ignore, NULL);   /* stays ignored across exec */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (sock != JOBS_FD && dup2(sock, JOBS_FD) < 0) _exit(126);
    if (fcntl(JOBS_FD, F_SETFD, 0) < 0) _exit(126);   /* keep it open across exec */
    execve(exe, argv, env);
    _exit(127);
}

int jobs_start(Jobs *j, int n, int threads, const char *exe, const char *const *argv, Err *e)
{
    memset(j, 0, sizeof *j);
    if (n < 1 || n > JOBS_MAX) return err_set(e, "--jobs %d: expected 1 to %d", n, JOBS_MAX);
    for (int k = 0; k <= JOBS_MAX; k++) j->fd[k] = -1;
    int argc = 0;
    while (argv[argc]) argc++;
    char **args = xmalloc((size_t)(argc + 3) * sizeof *args);
    for (int i = 0; i < argc; i++) args[i] = (char *)argv[i];
    char job_text[16], thread_vars[2][64];
    args[argc] = "--job";
    args[argc + 1] = job_text;
    args[argc + 2] = NULL;
    char **env = worker_environment(threads, thread_vars);
    fflush(stdout);   /* a child must not write the parent's buffered lines again */
    fflush(stderr);
    int rc = 0;
    for (int k = 1; k <= n && !rc; k++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            rc = err_set(e, "job %d: cannot create its socket: %s", k, strerror(errno));
            break;
        }
        snprintf(job_text, sizeof job_text, "%d", k);
        pid_t parent = getpid(), pid = fork();
        if (pid == 0) become_worker(sv[1], exe, args, env, parent);
        close(sv[1]);
        if (pid < 0) {
            close(sv[0]);
            rc = err_set(e, "job %d: cannot start a worker process: %s", k, strerror(errno));
            break;
        }
        j->pid[k] = pid;
        j->fd[k] = sv[0];
        j->n = k;
    }
    free(env);
    free(args);
    if (rc) {
        jobs_halt(j);
        return -1;
    }
    take_signals(j);
    return 0;
}

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Waits for pid to exit, at most until `until` (seconds_now() clock), then
 * kills it; *status receives its wait status. */
static void reap(pid_t pid, double until, int *status)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) return;
        if (seconds_now() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return;
        }
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
}

/* Why worker k's stream ended (its exit status), after which it is gone. */
static void describe_end(Jobs *j, int k, Err *e)
{
    int status = 0;
    pid_t pid = j->pid[k];
    close(j->fd[k]);
    j->fd[k] = -1;
    if (pid <= 0) {
        err_set(e, "job %d closed its connection", k);
        return;
    }
    reap(pid, seconds_now() + JOBS_GRACE_S, &status);
    j->pid[k] = 0;
    if (WIFSIGNALED(status))
        err_set(e, "job %d (process %d) was killed by signal %d (%s)", k, (int)pid, WTERMSIG(status),
                strsignal(WTERMSIG(status)));
    else
        err_set(e, "job %d (process %d) exited with status %d without a result (its message, if any, is above)", k,
                (int)pid, WEXITSTATUS(status));
}

static int link_send(FarmLink *l, int to, int tag, const void *buf, size_t n, Err *e)
{
    Jobs *j = l->ctx;
    if (to < 1 || to > j->n || j->fd[to] < 0) return err_set(e, "job %d: no such worker", to);
    if (frame_send(j->fd[to], tag, buf, n) == 0) return 0;
    describe_end(j, to, e);
    return -1;
}

static int link_recv(FarmLink *l, int from, void **buf, size_t *n, int *sender, int *tag, Err *e)
{
    Jobs *j = l->ctx;
    struct pollfd pfd[JOBS_MAX];
    int who[JOBS_MAX];
    sigset_t open_mask;
    sigprocmask(SIG_SETMASK, NULL, &open_mask);
    for (int k = 0; k < 3; k++) sigdelset(&open_mask, TAKEN[k]);
    for (;;) {
        int m = 0;
        for (int k = 1; k <= j->n; k++)
            if (j->fd[k] >= 0 && (from == DIST_ANY || from == k)) {
                pfd[m] = (struct pollfd){.fd = j->fd[k], .events = POLLIN};
                who[m++] = k;
            }
        if (m == 0) return err_set(e, "no job is left to hear from");
        int r = ppoll(pfd, (nfds_t)m, NULL, j->signals_taken ? &open_mask : NULL);
        if (g_signal) return err_set(e, "interrupted by %s", interrupt_signal_name(g_signal));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return err_set(e, "waiting for the jobs: %s", strerror(errno));
        for (int i = 0; i < m; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            int k = who[i];
            int got = frame_recv(j->fd[k], buf, n, tag);
            if (got == 1) {
                *sender = k;
                return 0;
            }
            describe_end(j, k, e);
            return -1;
        }
    }
}

static void link_halt(FarmLink *l) { jobs_halt(l->ctx); }

FarmLink jobs_link(Jobs *j)
{
    return (FarmLink){.size = j->n + 1, .worker_noun = "job", .send = link_send, .recv = link_recv,
                      .halt = link_halt, .ctx = j};
}

int jobs_wait(Jobs *j, Err *e)
{
    int rc = 0;
    for (int k = 1; k <= j->n; k++) {
        int status;
        if (j->pid[k] > 0 && waitpid(j->pid[k], &status, 0) == j->pid[k]) {
            if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && !rc)
                rc = err_set(e, "job %d (process %d) ended with %s %d after the study's last segment", k,
                             (int)j->pid[k], WIFSIGNALED(status) ? "signal" : "status",
                             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            j->pid[k] = 0;
        }
        if (j->fd[k] >= 0) close(j->fd[k]);
        j->fd[k] = -1;
    }
    give_signals_back(j);
    return rc;
}

void jobs_halt(Jobs *j)
{
    for (int k = 1; k <= j->n; k++) {
        if (j->pid[k] > 0) kill(j->pid[k], SIGTERM);
        if (j->fd[k] >= 0) close(j->fd[k]);
        j->fd[k] = -1;
    }
    double until = seconds_now() + JOBS_GRACE_S;
    for (int k = 1; k <= j->n; k++)
        if (j->pid[k] > 0) {
            int status;
            reap(j->pid[k], until, &status);
            j->pid[k] = 0;
        }
    give_signals_back(j);
}

/* ---- a worker ---------------------------------------------------------------------- */

static int worker_send(FarmLink *l, int to, int tag, const void *buf, size_t n, Err *e)
{
    (void)l;
    if (to != 0) return err_set(e, "a job talks only to the study process");
    if (frame_send(JOBS_FD, tag, buf, n)) return err_set(e, "the study process is gone (%s)", strerror(errno));
    return 0;
}

static int worker_recv(FarmLink *l, int from, void **buf, size_t *n, int *sender, int *tag, Err *e)
{
    (void)l;
    (void)from;
    int got = frame_recv(JOBS_FD, buf, n, tag);
    if (got != 1) return err_set(e, "the study process is gone (its connection %s)", got == 0 ? "closed" : "broke");
    *sender = 0;
    return 0;
}

FarmLink jobs_worker_link(void)
{
    return (FarmLink){.size = 2, .worker_noun = "job", .send = worker_send, .recv = worker_recv};
}
