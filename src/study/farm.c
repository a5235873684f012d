#include "study/farm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TAG_ASSIGN = FARM_TAG_FIRST, TAG_RESULT, TAG_FAIL, TAG_STOP };

#define TRANSCRIPT_MAX 8192

typedef struct {
    int32_t index;
    char    id[SEGMENT_ID_LEN + 1];
    char    parent_id[SEGMENT_ID_LEN + 1];   /* "" when the segment starts from an init */
    char    parent_checkpoint[4096];
} Assign;

typedef struct {
    int32_t index;
    int32_t transcript_len;   /* followed by the transcript, then the recorded store calls */
    Cost    done, spent_s;    /* the work the segment measured */
} ResultHeader;

typedef struct {
    int32_t index;
    char    msg[sizeof(Err)];
} Failure;

/* ---- MPI ranks as a link ----------------------------------------------------- */

static int mpi_send(FarmLink *l, int to, int tag, const void *buf, size_t n, Err *e)
{
    return dist_send(l->ctx, to, tag, buf, n, e);
}

static int mpi_recv(FarmLink *l, int from, void **buf, size_t *n, int *sender, int *tag, Err *e)
{
    return dist_recv(l->ctx, from, buf, n, sender, tag, e);
}

FarmLink farm_link_mpi(const DistGroup *g)
{
    return (FarmLink){.size = g->size, .worker_noun = "rank", .send = mpi_send, .recv = mpi_recv,
                      .ctx = (void *)g};
}

/* ---- endpoint 0 ------------------------------------------------------------------ */

/* The first segment in plan order that is not done, not handed out, and
 * whose parent is done; -1 if none. */
static int next_ready(const Farm *f, const char *handed)
{
    for (int i = 0; i < f->plan->n_segments; i++) {
        int p = f->plan->segments[i].parent;
        if (f->status[i] != SEG_DONE && !handed[i] && (p < 0 || f->status[p] == SEG_DONE)) return i;
    }
    return -1;
}

static int assign(FarmLink *l, Farm *f, int i, int worker, Err *e)
{
    const PlanSegment *s = &f->plan->segments[i];
    Assign a = {.index = i};
    snprintf(a.id, sizeof a.id, "%s", s->id);
    if (s->parent >= 0) {
        SegmentStatus ps;
        snprintf(a.parent_id, sizeof a.parent_id, "%s", f->plan->segments[s->parent].id);
        if (store_segment_status(f->store, a.parent_id, &ps, a.parent_checkpoint, sizeof a.parent_checkpoint, e))
            return -1;
    }
    if (store_segment_running(f->store, s->id, e)) return -1;
    return l->send(l, worker, TAG_ASSIGN, &a, sizeof a, e);
}

static int stop_all(FarmLink *l, Err *e)
{
    for (int r = 1; r < l->size; r++)
        if (l->send(l, r, TAG_STOP, "", 0, e)) return -1;
    return 0;
}

/* A worker's report of segment i: apply its recorded calls, check that
 * they ended with the segment done. */
static int take_result(FarmLink *l, Farm *f, int worker, const void *msg, size_t n, int expect, Err *e)
{
    ResultHeader h;
    if (n < sizeof h) return err_set(e, "%s %d: a result message of %zu bytes is too short", l->worker_noun, worker, n);
    memcpy(&h, msg, sizeof h);
    if (h.index != expect || h.transcript_len < 0 || (size_t)h.transcript_len > n - sizeof h)
        return err_set(e, "%s %d: result for segment %d, expected %d (or a bad length)", l->worker_noun, worker,
                       h.index, expect);
    const char *text = (const char *)msg + sizeof h;
    const PlanSegment *s = &f->plan->segments[expect];
    if (store_replay(f->store, text + h.transcript_len, n - sizeof h - (size_t)h.transcript_len, e))
        return err_wrap(e, "%s %d, segment %s", l->worker_noun, worker, s->id);
    SegmentStatus st;
    if (store_segment_status(f->store, s->id, &st, NULL, 0, e)) return -1;
    if (st != SEG_DONE)
        return err_set(e, "%s %d reported segment %s finished, but its results do not mark it done", l->worker_noun,
                       worker, s->id);
    f->status[expect] = SEG_DONE;
    char transcript[TRANSCRIPT_MAX + 1];
    int len = h.transcript_len < TRANSCRIPT_MAX ? h.transcript_len : TRANSCRIPT_MAX;
    memcpy(transcript, text, (size_t)len);
    transcript[len] = 0;
    return f->finished ? f->finished(f->ctx, expect, worker, transcript, h.done, h.spent_s, e) : 0;
}

/* Adds to e which segments were running when the link failed. */
static void name_running(const FarmLink *l, const Farm *f, const int *busy, Err *e)
{
    char list[512] = "";
    size_t used = 0;
    int n = 0;
    for (int r = 1; r < l->size && used < sizeof list; r++)
        if (busy[r] >= 0) {
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s (%s %d)", n ? ", " : "",
                                     f->plan->segments[busy[r]].id, l->worker_noun, r);
            n++;
        }
    if (n == 0) return;
    Err why = *e;
    err_set(e, "%s while segment%s %s ran: %s not done, and running the study again runs %s again", why.msg,
            n > 1 ? "s" : "", list, n > 1 ? "they are" : "it is", n > 1 ? "them" : "it");
}

int farm_serve(FarmLink *l, Farm *f, int *ran, Err *e)
{
    const int n = f->plan->n_segments;
    char *handed = xcalloc((size_t)n + 1, 1);
    int *busy = xmalloc((size_t)l->size * sizeof *busy);   /* segment each worker runs, -1: free */
    for (int r = 0; r < l->size; r++) busy[r] = -1;
    int n_handed = 0, running = 0, rc = -1;
    *ran = 0;
    for (;;) {
        for (int r = 1; r < l->size; r++) {
            if (busy[r] >= 0 || (f->max_segments > 0 && n_handed == f->max_segments)) continue;
            int i = next_ready(f, handed);
            if (i < 0) break;
            if (assign(l, f, i, r, e)) goto out;
            if (f->started) f->started(f->ctx, i, r);
            handed[i] = 1;
            busy[r] = i;
            n_handed++;
            running++;
        }
        if (running == 0) break;   /* all done, or the rest waits for max_segments */
        void *msg;
        size_t len;
        int from, tag;
        if (l->recv(l, DIST_ANY, &msg, &len, &from, &tag, e)) {
            name_running(l, f, busy, e);
            goto out;
        }
        int bad = from <= 0 || from >= l->size || busy[from] < 0;
        if (!bad && tag == TAG_RESULT) {
            int r2 = take_result(l, f, from, msg, len, busy[from], e);
            free(msg);
            if (r2) goto out;
            busy[from] = -1;
            running--;
            ++*ran;
        } else if (!bad && tag == TAG_FAIL) {
            Failure fl = {0};
            memcpy(&fl, msg, len < sizeof fl ? len : sizeof fl);
            fl.msg[sizeof fl.msg - 1] = 0;
            free(msg);
            err_set(e, "%s %d, segment %s: %s", l->worker_noun, from, f->plan->segments[busy[from]].id, fl.msg);
            goto out;
        } else {
            free(msg);
            err_set(e, "unexpected message (tag %d) from %s %d", tag, l->worker_noun, from);
            goto out;
        }
    }
    rc = 0;
out:
    if (rc && l->halt) {
        l->halt(l);
    } else {
        Err stop_err;
        if (stop_all(l, &stop_err) && rc == 0) {
            *e = stop_err;
            rc = -1;
        }
    }
    free(handed);
    free(busy);
    return rc;
}

/* ---- workers ------------------------------------------------------------------- */

/* Runs the assigned segment and sends its result (or its failure) to endpoint 0. */
static int run_assigned(FarmLink *l, int self, Farm *f, const Assign *a, char *transcript, Err *e)
{
    if (a->index < 0 || a->index >= f->plan->n_segments || strcmp(f->plan->segments[a->index].id, a->id))
        return err_set(e, "%s %d: segment %s is not segment %d of this %s's plan (do all %ss run the same study "
                          "file and plateau?)", l->worker_noun, self, a->id, a->index, l->worker_noun, l->worker_noun);
    store_recording_clear(f->recording);
    if (a->parent_id[0]) store_recording_know(f->recording, a->parent_id, SEG_DONE, a->parent_checkpoint);
    transcript[0] = 0;
    ResultHeader h = {.index = a->index};
    Err run_err;
    if (f->run(f->ctx, a->index, transcript, TRANSCRIPT_MAX, &h.done, &h.spent_s, &run_err)) {
        Failure fl = {.index = a->index};
        snprintf(fl.msg, sizeof fl.msg, "%s", run_err.msg);
        return l->send(l, 0, TAG_FAIL, &fl, sizeof fl, e);   /* endpoint 0 stops everyone */
    }
    size_t rec_n;
    const void *rec = store_recording_bytes(f->recording, &rec_n);
    h.transcript_len = (int32_t)strlen(transcript);
    size_t total = sizeof h + (size_t)h.transcript_len + rec_n;
    char *out = xmalloc(total);
    memcpy(out, &h, sizeof h);
    memcpy(out + sizeof h, transcript, (size_t)h.transcript_len);
    if (rec_n) memcpy(out + sizeof h + h.transcript_len, rec, rec_n);
    int rc = l->send(l, 0, TAG_RESULT, out, total, e);
    free(out);
    return rc;
}

int farm_work(FarmLink *l, int self, Farm *f, Err *e)
{
    char *transcript = xmalloc(TRANSCRIPT_MAX + 1);
    int rc = -1;
    for (;;) {
        void *msg;
        size_t len;
        int from, tag;
        if (l->recv(l, 0, &msg, &len, &from, &tag, e)) break;
        if (tag == TAG_STOP) {
            free(msg);
            rc = 0;
            break;
        }
        Assign a;
        if (tag != TAG_ASSIGN || len != sizeof a) {
            free(msg);
            err_set(e, "%s %d: unexpected message (tag %d, %zu bytes) from endpoint 0", l->worker_noun, self, tag, len);
            break;
        }
        memcpy(&a, msg, sizeof a);
        free(msg);
        a.id[SEGMENT_ID_LEN] = 0;
        a.parent_id[SEGMENT_ID_LEN] = 0;
        a.parent_checkpoint[sizeof a.parent_checkpoint - 1] = 0;
        if (run_assigned(l, self, f, &a, transcript, e)) break;
    }
    free(transcript);
    return rc;
}
