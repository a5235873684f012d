/* Learning-rate schedules: pure functions of (spec, step), no state.
 *
 * Positions and steps. The paper writes eta(t) for a position t in
 * [0, T_end] (PAPER.md, Schedules). plateau's convention, used everywhere:
 *
 *     the update of step s (0-based, s = 0 .. total-1) uses eta(s + 1).
 *
 * So the first update uses eta_max/T_w (never a wasted zero-LR step), the
 * update of step T_w-1 is the first at eta_max, and the last update (s =
 * total-1) uses exactly eta(T_end) = alpha*eta_max. schedule_lr() takes a step
 * s; schedule_eta() takes a position t of the paper. A stage that continues
 * another (mid-training) starts where the parent ended: at eta_parent(T_end).
 *
 * Kinds (warmup is linear from 0 over T_w steps and identical for every kind;
 * a warmup of 0 starts at the peak):
 *   wso       warmup, then eta_max to the end (the paper's WSD with alpha = 1).
 *   constant  the same LR curve as wso; a plain name for runs outside the paper.
 *   wsd       warmup, eta_max until T_stable = T_w + round(rho*(T_end-T_w)),
 *             then a decay of the given shape to alpha*eta_max at T_end.
 *             With p = (t-T_stable)/(T_end-T_stable) the LR is
 *             eta_max*(alpha + (1-alpha)*f(p)) with f(p) =
 *               linear  1 - p                      (the paper's WSD)
 *               1-sqrt  1 - sqrt(p)                (Hagele et al. 2024 cooldown)
 *               cosine  (1 + cos(pi*p))/2          (Hagele et al. 2024 cooldown)
 *             and for shape exp, eta_max*alpha^p: geometric from eta_max to
 *             alpha*eta_max. alpha = 0 has no geometric path to 0, so exp then
 *             decays geometrically to SCHEDULE_EXP_FLOOR*eta_max over
 *             (T_stable, T_end) and is exactly 0 at T_end (the last update).
 *   cosine    eta_max*(alpha + (1-alpha)/2*(1 + cos(pi*(t-T_w)/(T_end-T_w)))).
 *   linear    eta_max*((1-alpha)*(T_end-t)/(T_end-T_w) + alpha).
 *   mid       mid-training continuation, no re-warmup: `start` is the LR where
 *             the parent stage ended, eta_parent(T_pre); over the stage's
 *             T_mid = total steps, at position t in [0, T_mid] (t = 0 is T_pre
 *             in the paper's numbering): start*((1-alpha)*(T_mid-t)/T_mid + alpha),
 *             alpha being the paper's alpha_mid.
 * SFT uses cosine (or linear) with alpha = 0: see schedule_sft().
 *
 * Text form, for checkpoint lineage and study files (fields in this order;
 * the ones a kind does not use are not printed and are rejected by the parser):
 *   wso:peak=0.0003,warmup=100,total=1000
 *   constant:peak=0.0003,warmup=100,total=1000
 *   wsd:peak=0.0003,warmup=100,total=1000,alpha=0.1,rho=0.75,shape=linear
 *   cosine:peak=0.0003,warmup=100,total=1000,alpha=0.1
 *   linear:peak=0.0003,warmup=100,total=1000,alpha=0
 *   mid:start=3e-05,total=500,alpha=0
 * Parsing: peak (start for mid) and total are required; warmup defaults to 0,
 * rho to 0.75, shape to linear; alpha is required for wsd, cosine, linear, mid.
 * Numbers print in the shortest form that reads back to the same double, so
 * parse(format(spec)) == spec bit for bit. */
#ifndef PLATEAU_SCHEDULE_H
#define PLATEAU_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum {
    SCHED_WSO,
    SCHED_CONSTANT,
    SCHED_WSD,
    SCHED_COSINE,
    SCHED_LINEAR,
    SCHED_MID,
} ScheduleKind;

typedef enum {
    DECAY_LINEAR,
    DECAY_1_SQRT,
    DECAY_COSINE,
    DECAY_EXP,
} DecayShape;

#define SCHEDULE_DEFAULT_RHO 0.75
/* Mid-training's default alpha_mid (final LR / the LR pre-training ended
 * at) for the commands that offer one (train, schedule): decay to zero.
 * Study files name it per arm. */
#define SCHEDULE_DEFAULT_ALPHA_MID 0.0
/* exp decay with alpha = 0: the LR falls geometrically to this fraction of the
 * peak just before T_end, then is 0 at T_end. */
#define SCHEDULE_EXP_FLOOR 1e-3
/* Longest text form schedule_format() writes, including the NUL. */
#define SCHEDULE_TEXT_MAX 192

typedef struct {
    ScheduleKind kind;
    double       peak;    /* eta_max; for mid, the parent's final LR eta(T_pre) */
    int64_t      warmup;  /* T_w, steps; 0 for mid (no re-warmup) */
    int64_t      total;   /* T_end, steps in this stage (updates taken) */
    double       alpha;   /* final LR / peak; 1 for wso and constant */
    double       rho;     /* wsd: stable share of the post-warmup steps */
    DecayShape   shape;   /* wsd: decay shape */
} ScheduleSpec;

/* Constructors; each returns a canonical spec (unused fields at their
 * defaults) that schedule_validate() may still reject (e.g. warmup > total). */
ScheduleSpec schedule_wso(double peak, int64_t warmup, int64_t total);
ScheduleSpec schedule_wsd(double peak, int64_t warmup, int64_t total, double alpha, double rho,
                          DecayShape shape);
ScheduleSpec schedule_cosine(double peak, int64_t warmup, int64_t total, double alpha);
ScheduleSpec schedule_linear(double peak, int64_t warmup, int64_t total, double alpha);
ScheduleSpec schedule_constant(double peak, int64_t warmup, int64_t total);
/* One of the five kinds above by its kind: alpha, rho and shape are used
 * where the kind has them (wsd: all three; cosine, linear: alpha). k must
 * not be SCHED_MID (see schedule_mid). */
ScheduleSpec schedule_of_kind(ScheduleKind k, double peak, int64_t warmup, int64_t total, double alpha, double rho,
                              DecayShape shape);
/* Mid-training after a parent stage that ended at start_lr (use
 * schedule_final_lr(&parent)). */
ScheduleSpec schedule_mid(double start_lr, int64_t total, double alpha_mid);
/* SFT: warmup then cosine to 0, the paper's recipe (100 warmup steps; see
 * schedule_sft_warmup for short runs). */
ScheduleSpec schedule_sft(double peak, int64_t warmup, int64_t total);
/* The paper's 100 SFT warmup steps, scaled down to total/10 for runs shorter
 * than 1000 steps so a short run still spends 90% of its steps decaying. */
int64_t schedule_sft_warmup(int64_t total);

/* Sets the fields a kind does not use to their defaults (alpha 1 for wso and
 * constant, rho 0.75 and shape linear outside wsd, warmup 0 for mid), so
 * specs that give the same LR curve compare and print equal. */
ScheduleSpec schedule_canonical(const ScheduleSpec *s);

/* Checks every field; the message names the field and the allowed range:
 * peak > 0 and finite (start >= 0 for mid), 0 <= warmup <= total, total > 0,
 * 0 <= alpha <= 1, 0 <= rho <= 1. */
int schedule_validate(const ScheduleSpec *s, Err *e);

/* The paper's eta(t) at position t in [0, total]; t < 0 gives eta(0) and
 * t > total gives eta(total). s must be valid. */
double schedule_eta(const ScheduleSpec *s, int64_t t);
/* The learning rate of the update of step `step` (0-based): eta(step + 1).
 * Steps at or past total keep the final LR eta(total). */
double schedule_lr(const ScheduleSpec *s, int64_t step);
/* eta(total) = the LR of the last update: where a continuation starts. */
double schedule_final_lr(const ScheduleSpec *s);

/* The first step whose LR differs from the warmup-then-constant (wso) curve
 * with the same peak and warmup; total if there is none. A WSD arm runs the
 * WSO trunk's steps [0, decay_start) and branches there:
 *   wsd: T_stable; cosine, linear: T_w; mid: 0; wso, constant: total;
 *   any kind with alpha = 1: total (its LR never falls below the peak). */
int64_t schedule_decay_start(const ScheduleSpec *s);

/* Number of leading steps (from 0, up to the shorter total) whose LRs are
 * bit-identical in a and b: how much of a's trajectory b can reuse. */
int64_t schedule_common_prefix(const ScheduleSpec *a, const ScheduleSpec *b);

/* Same kind and same bits in every field of the canonical forms. */
int schedule_equal(const ScheduleSpec *a, const ScheduleSpec *b);

const char *schedule_kind_name(ScheduleKind k);
const char *schedule_shape_name(DecayShape s);
int schedule_kind_from_name(const char *name, ScheduleKind *out);
int schedule_shape_from_name(const char *name, DecayShape *out);

/* Writes the canonical text form (see above) into out; returns its length.
 * out_size >= SCHEDULE_TEXT_MAX always suffices. */
int schedule_format(const ScheduleSpec *s, char *out, size_t out_size);
/* Parses and validates a text form. Errors quote the text and name the bad
 * field, e.g. "schedule 'wsd:peak=3e-4,...,alpha=1.5': alpha must be in
 * [0, 1], got 1.5". */
int schedule_parse(const char *text, ScheduleSpec *out, Err *e);

#endif
