#include "dist/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef PLATEAU_MPI
#include <mpi.h>
#endif

/* Elements per reduction round: 4M floats (16 MiB) bounds the scratch and
 * keeps every MPI count far below INT_MAX, whatever the model size. */
#define DIST_PIECE (1 << 22)
/* dist_recv's polling interval: 2 ms, nothing next to a training segment. */
#define DIST_POLL_NS 2000000

static DistGroup g_world = {.rank = 0, .size = 1, .comm = 0};
static DistGroup g_self = {.rank = 0, .size = 1, .comm = 0};
static int g_started;

void dist_share(int count, int rank, int size, int *first, int *n)
{
    int base = count / size, extra = count % size;
    *n = base + (rank < extra);
    *first = rank * base + (rank < extra ? rank : extra);
}

void dist_sum_in_rank_order(float *out, const float *slots, int nslots, size_t stride, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double s = slots[i];
        for (int q = 1; q < nslots; q++) s += slots[(size_t)q * stride + i];
        out[i] = (float)s;
    }
}

int dist_is_root(const DistGroup *g) { return g == NULL || g->rank == 0; }
const DistGroup *dist_world(void) { return &g_world; }
const DistGroup *dist_self(void) { return &g_self; }

void dist_reducer_create(DistReducer *r, const DistGroup *g)
{
    memset(r, 0, sizeof *r);
    r->g = g;
    r->piece = DIST_PIECE;
    if (g->size > 1) {
        int per_rank = (r->piece + g->size - 1) / g->size;
        r->slots = xmalloc((size_t)g->size * per_rank * sizeof(float));
        r->small = xmalloc((size_t)g->size * DIST_SMALL_MAX * sizeof(double));
    }
}

void dist_reducer_free(DistReducer *r)
{
    free(r->slots);
    free(r->small);
    memset(r, 0, sizeof *r);
}

#ifdef PLATEAU_MPI

static MPI_Comm comm_of(const DistGroup *g) { return MPI_Comm_f2c(g->comm); }

static int mpi_err(Err *e, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return err_set(e, "MPI %s failed: %.*s", what, len, msg);
}

int dist_available(void) { return 1; }

int dist_init(int *argc, char ***argv)
{
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK")) return 1;
    /* FUNNELED: only the main thread calls MPI; OpenMP threads never do. */
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    /* Errors come back as codes with a message, not as an abort inside MPI. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    g_started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
    g_world.comm = (int)MPI_Comm_c2f(MPI_COMM_WORLD);
    g_self.comm = (int)MPI_Comm_c2f(MPI_COMM_SELF);
    return g_world.size;
}

void dist_finalize(void)
{
    if (g_started) MPI_Finalize();
    g_started = 0;
}

void dist_abort(void)
{
    fflush(stdout);
    fflush(stderr);
    if (g_started && g_world.size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

int dist_sum_floats(DistReducer *r, float *x, size_t n, Err *e)
{
    const DistGroup *g = r->g;
    const int N = g->size, me = g->rank;
    if (N == 1) return 0;
    MPI_Comm comm = comm_of(g);
    int counts[N], displs[N], recv_counts[N], recv_displs[N];
    for (size_t p0 = 0; p0 < n; p0 += (size_t)r->piece) {
        int len = n - p0 < (size_t)r->piece ? (int)(n - p0) : r->piece;
        /* Rank q owns elements [displs[q], displs[q] + counts[q]) of the piece. */
        for (int q = 0; q < N; q++) dist_share(len, q, N, &displs[q], &counts[q]);
        for (int q = 0; q < N; q++) {
            recv_counts[q] = counts[me];
            recv_displs[q] = q * counts[me];
        }
        /* Reduce-scatter by hand: every rank's copy of my share lands in its
         * own slot, then the slots are added in rank order. */
        int rc = MPI_Alltoallv(x + p0, counts, displs, MPI_FLOAT, r->slots, recv_counts, recv_displs, MPI_FLOAT, comm);
        if (rc != MPI_SUCCESS) return mpi_err(e, rc, "gradient exchange (Alltoallv)");
        dist_sum_in_rank_order(x + p0 + displs[me], r->slots, N, (size_t)counts[me], (size_t)counts[me]);
        rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, x + p0, counts, displs, MPI_FLOAT, comm);
        if (rc != MPI_SUCCESS) return mpi_err(e, rc, "gradient gather (Allgatherv)");
    }
    return 0;
}

int dist_sum_doubles(DistReducer *r, double *x, int n, Err *e)
{
    const DistGroup *g = r->g;
    if (g->size == 1) return 0;
    if (n > DIST_SMALL_MAX) return err_set(e, "dist_sum_doubles: %d values, at most %d", n, DIST_SMALL_MAX);
    int rc = MPI_Allgather(x, n, MPI_DOUBLE, r->small, n, MPI_DOUBLE, comm_of(g));
    if (rc != MPI_SUCCESS) return mpi_err(e, rc, "sum (Allgather)");
    for (int i = 0; i < n; i++) {
        double s = r->small[i];
        for (int q = 1; q < g->size; q++) s += r->small[q * n + i];
        x[i] = s;
    }
    return 0;
}

int dist_first_differing(const DistGroup *g, uint64_t value)
{
    if (g->size == 1) return -1;
    uint64_t *all = xmalloc((size_t)g->size * sizeof *all);
    MPI_Allgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, comm_of(g));
    int bad = -1;
    for (int q = 1; q < g->size && bad < 0; q++)
        if (all[q] != all[0]) bad = q;
    free(all);
    return bad;
}

int dist_broadcast(const DistGroup *g, void *buf, size_t n, Err *e)
{
    if (g->size == 1) return 0;
    for (size_t off = 0; off < n; off += 1u << 30) {
        int len = n - off < (1u << 30) ? (int)(n - off) : 1 << 30;
        int rc = MPI_Bcast((char *)buf + off, len, MPI_BYTE, 0, comm_of(g));
        if (rc != MPI_SUCCESS) return mpi_err(e, rc, "broadcast");
    }
    return 0;
}

int dist_send(const DistGroup *g, int to, int tag, const void *buf, size_t n, Err *e)
{
    if (n > (size_t)1 << 30) return err_set(e, "dist_send: message of %zu bytes is too long", n);
    int rc = MPI_Send(buf, (int)n, MPI_BYTE, to, tag, comm_of(g));
    if (rc != MPI_SUCCESS) return mpi_err(e, rc, "send");
    return 0;
}

int dist_recv(const DistGroup *g, int from, void **buf, size_t *n, int *sender, int *tag, Err *e)
{
    /* Poll, sleeping in between: a rank waiting for work (or a coordinator
     * waiting for results) may wait for hours and should not hold a core,
     * as MPI's blocking receive does by spinning. */
    MPI_Status st;
    for (int flag = 0;;) {
        int rc = MPI_Iprobe(from == DIST_ANY ? MPI_ANY_SOURCE : from, MPI_ANY_TAG, comm_of(g), &flag, &st);
        if (rc != MPI_SUCCESS) return mpi_err(e, rc, "probe");
        if (flag) break;
        nanosleep(&(struct timespec){0, DIST_POLL_NS}, NULL);
    }
    int len;
    MPI_Get_count(&st, MPI_BYTE, &len);
    *buf = xmalloc((size_t)len + 1);
    int rc = MPI_Recv(*buf, len, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, comm_of(g), MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
        free(*buf);
        *buf = NULL;
        return mpi_err(e, rc, "receive");
    }
    *sender = st.MPI_SOURCE;
    *tag = st.MPI_TAG;
    *n = (size_t)len;
    return 0;
}

#else /* one process: every group has one rank */

int dist_available(void) { return 0; }

int dist_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_started = 0;
    /* Launched as one of several ranks, a one-process build would run the
     * whole command N times over the same files. */
    const char *n = getenv("OMPI_COMM_WORLD_SIZE") ? getenv("OMPI_COMM_WORLD_SIZE") : getenv("PMI_SIZE");
    if (n && atoi(n) > 1) {
        fprintf(stderr, "plateau: started as one of %s ranks, but this plateau was built without MPI "
                        "(install libopenmpi-dev and rebuild)\n", n);
        exit(1);
    }
    return 1;
}

void dist_finalize(void) {}

void dist_abort(void)
{
    fflush(stdout);
    exit(1);
}

int dist_sum_floats(DistReducer *r, float *x, size_t n, Err *e)
{
    (void)r, (void)x, (void)n, (void)e;
    return 0;
}

int dist_sum_doubles(DistReducer *r, double *x, int n, Err *e)
{
    (void)r, (void)x, (void)n, (void)e;
    return 0;
}

int dist_first_differing(const DistGroup *g, uint64_t value)
{
    (void)g, (void)value;
    return -1;
}

int dist_broadcast(const DistGroup *g, void *buf, size_t n, Err *e)
{
    (void)g, (void)buf, (void)n, (void)e;
    return 0;
}

int dist_send(const DistGroup *g, int to, int tag, const void *buf, size_t n, Err *e)
{
    (void)g, (void)to, (void)tag, (void)buf, (void)n;
    return err_set(e, "dist_send: plateau was built without MPI (one process, nothing to send to)");
}

int dist_recv(const DistGroup *g, int from, void **buf, size_t *n, int *sender, int *tag, Err *e)
{
    (void)g, (void)from, (void)sender, (void)tag;
    *buf = NULL;
    *n = 0;
    return err_set(e, "dist_recv: plateau was built without MPI (one process, nothing to receive)");
}

#endif
