/* The processes a run is spread over, and the few collective operations
 * plateau needs from them. Built on MPI (OpenMPI) when the build found it
 * (PLATEAU_MPI defined; `make` detects `pkg-config ompi-c` or mpicc), and on
 * a one-process stand-in otherwise, with the same functions: a group of one
 * rank whose collectives copy or do nothing. Only comm.c includes mpi.h.
 *
 * MPI starts only when the process was launched by an MPI launcher (mpirun
 * sets OMPI_COMM_WORLD_SIZE, or PMI_SIZE / PMIX_RANK); a plain `plateau ...`
 * never touches MPI, so it starts as fast as without it.
 *
 * Determinism. MPI_Allreduce may add the ranks' contributions in any order
 * (and OpenMPI picks its algorithm by message size and rank count), so
 * plateau does not use it for anything that reaches the weights. Every sum
 * here adds the ranks' values in rank order, x_0 + x_1 + ... + x_{N-1},
 * accumulated in double and rounded once: the same N gives the same bits,
 * whatever the network or timing. */
#ifndef PLATEAU_DIST_COMM_H
#define PLATEAU_DIST_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct {
    int rank;   /* this process: 0 .. size-1 */
    int size;   /* processes in the group; 1 without MPI */
    int comm;   /* the MPI communicator as its Fortran handle (MPI_Comm_c2f); unused without MPI */
} DistGroup;

/* Starts MPI if launched by mpirun (see above); call once, first thing in
 * main. Returns the world size (1 without MPI). A build without MPI that
 * finds itself launched as one of several ranks stops with a message. */
int dist_init(int *argc, char ***argv);
/* Ends MPI (a no-op without it); call before a normal exit. */
void dist_finalize(void);
/* 1 when plateau was built with MPI support. */
int dist_available(void);

/* All processes of the launch (rank 0 of 1 without MPI). */
const DistGroup *dist_world(void);
/* This process alone: a one-rank group even under mpirun. */
const DistGroup *dist_self(void);
/* 1 on the rank that writes files and output (rank 0). */
int dist_is_root(const DistGroup *g);

/* Stops every rank of the launch with status 1 (MPI_Abort), after the caller
 * printed why; exit(1) without MPI. */
void dist_abort(void) __attribute__((noreturn));

/* Scratch for dist_sum_floats, allocated once per run (not per call). */
typedef struct {
    const DistGroup *g;
    float           *slots;  /* [size * piece_per_rank] received contributions */
    int              piece;  /* elements reduced per round (bounds the scratch) */
    double          *small;  /* [size * DIST_SMALL_MAX] for dist_sum_doubles */
} DistReducer;

#define DIST_SMALL_MAX 8

void dist_reducer_create(DistReducer *r, const DistGroup *g);
void dist_reducer_free(DistReducer *r);

/* x[i] <- sum over ranks q, in order q = 0..N-1, of rank q's x[i], on every
 * rank (the result is bit-identical on all ranks). x: [n] floats, same n on
 * every rank. Each round handles `piece` elements: every rank receives its
 * 1/N share of them from all ranks, sums it, and the sums are gathered back,
 * so each rank sends and receives 2 (N-1)/N n floats in all, as a ring
 * allreduce does. Returns 0, or -1 with e set on a communication error. */
int dist_sum_floats(DistReducer *r, float *x, size_t n, Err *e);

/* The same for n <= DIST_SMALL_MAX doubles (losses, counts). */
int dist_sum_doubles(DistReducer *r, double *x, int n, Err *e);

/* Checks that every rank holds the same value (e.g. a checksum of its
 * starting weights). Returns -1 for "all equal", else the lowest rank whose
 * value differs from rank 0's (the same answer on every rank). */
int dist_first_differing(const DistGroup *g, uint64_t value);

/* Broadcasts n bytes from rank 0 to every rank of g. */
int dist_broadcast(const DistGroup *g, void *buf, size_t n, Err *e);

/* Point to point, for handing out work (study/farm.h). dist_send sends n
 * bytes to rank `to` with a tag >= 0. dist_recv waits for a message from
 * `from` (DIST_ANY: any rank) with any tag and returns it in *buf (malloc'd,
 * the caller frees; at least one byte even for an empty message) with its
 * length, sender and tag. It sleeps between polls rather than spinning: it
 * is for waits of any length (a worker between segments), not for the
 * gradient sum. */
#define DIST_ANY (-1)
int dist_send(const DistGroup *g, int to, int tag, const void *buf, size_t n, Err *e);
int dist_recv(const DistGroup *g, int from, void **buf, size_t *n, int *sender, int *tag, Err *e);

/* The contiguous share of `count` items (micro-batches of a step) that rank
 * takes among size ranks: items [*first, *first + *n). Earlier ranks take one
 * more when count is not a multiple of size; a rank may get none. */
void dist_share(int count, int rank, int size, int *first, int *n);

/* Sums slots[q * stride + i] over q = 0..nslots-1 in that order, in double,
 * into out[i] for i < n: the reduction every sum above uses. */
void dist_sum_in_rank_order(float *out, const float *slots, int nslots, size_t stride, size_t n);

#endif
