/* Worker processes of one machine for `study run --jobs N` (study/farm.h
 * runs segments on them; endpoint 0 is the process the user started).
 *
 * Why fork+exec of plateau rather than fork alone: by the time segments
 * are handed out, the study process has used OpenMP (to prepare the data
 * and time the model), and libgomp's thread pool does not survive fork: a
 * forked child that enters a parallel region may hang or crash. A worker is
 * therefore a fresh `plateau study worker ...` (the hidden worker entry of
 * cmd_study.c), started from /proc/self/exe with its own OpenMP runtime and
 * OMP_NUM_THREADS set to its share of the threads. It talks to endpoint 0
 * over a Unix socket pair (a stream of messages: i32 tag, i32 zero, u64
 * length, bytes), so its recorded results reach the one process that writes
 * results.sqlite without touching the disk.
 *
 * Lifetime. Workers ignore SIGINT (Ctrl-C reaches the whole terminal
 * group; endpoint 0 alone decides), die with SIGTERM when endpoint 0 dies
 * (PR_SET_PDEATHSIG, so a killed study leaves no orphans), and see the
 * socket close when endpoint 0 exits. While workers run, endpoint 0 turns
 * SIGINT, SIGTERM and SIGHUP into an error of the link's recv ("interrupted
 * by SIGINT"), after which the farm halts the workers: SIGTERM, then
 * SIGKILL after JOBS_GRACE_S seconds, each one reaped. A signal that was
 * ignored when the study started stays ignored (SIGHUP under `nohup`,
 * SIGINT in a shell's background job), in endpoint 0 and in the workers,
 * which inherit it. Linux only (/proc/self/exe, prctl). */
#ifndef PLATEAU_STUDY_JOBS_H
#define PLATEAU_STUDY_JOBS_H

#include <sys/types.h>

#include "core/error.h"
#include "study/farm.h"

#define JOBS_MAX 64
#define JOBS_FD 3         /* a worker's socket to endpoint 0 */
#define JOBS_GRACE_S 5.0  /* seconds a halted worker has to exit before SIGKILL */

typedef struct {
    int   n;                     /* workers: endpoints 1..n */
    pid_t pid[JOBS_MAX + 1];     /* 0 once reaped */
    int   fd[JOBS_MAX + 1];      /* endpoint 0's end of each socket, -1 once closed */
    int   signals_taken;         /* SIGINT/TERM/HUP are turned into errors (until jobs_wait / jobs_halt) */
} Jobs;

/* Starts n (1..JOBS_MAX) workers, worker k as the program file exe with
 * the arguments argv (argv[0] first: the name `ps` shows) and `--job k`, with OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = threads and the
 * MPI launcher's variables removed, its socket on JOBS_FD. argv is
 * NULL-terminated. On error, the workers already started are halted. */
int jobs_start(Jobs *j, int n, int threads, const char *exe, const char *const *argv, Err *e);
/* The workers as a farm link (worker noun "job"), with halt = jobs_halt. */
FarmLink jobs_link(Jobs *j);
/* After the farm told the workers to stop: waits for each to exit; an exit
 * other than status 0 is an error naming the job. Gives the signals back. */
int jobs_wait(Jobs *j, Err *e);
/* Stops every worker now (SIGTERM, then SIGKILL), reaps it and gives the
 * signals back; safe to call twice. */
void jobs_halt(Jobs *j);

/* In a worker: the link to endpoint 0 over JOBS_FD. */
FarmLink jobs_worker_link(void);

#endif
