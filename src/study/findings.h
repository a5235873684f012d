/* The findings of a study: each claim of the paper as an effect with its
 * 95% interval and a verdict (study/stats.h), computed from the results
 * store, one line each in the report.
 *
 * Effects, for a study with a WSO arm (constant LR after warmup in every
 * stage) and decay arms; "best decay arm" is the decay arm with the best
 * mean over seeds on that metric (the paper's Delta reference):
 *   loss       WSO - best decay arm, PT (MT) validation loss; blocked t over
 *              seeds (stats.h), the seed-to-seed spread pooled over the arms
 *              of one kind: those holding the peak LR for a stable phase
 *              (WSO, WSD, WSM) or those decaying from warmup (cosine,
 *              linear), the kind of the pair's arm that shares least of
 *              WSO's run (the loss of thousands of tokens has little item
 *              noise)
 *   pt acc     WSO - best decay arm, PT (MT) task accuracy, and its
 *   pt margin  continuous companion, the multiple-choice margin
 *   sft em     WSO - best decay arm, SFT exact match at the chosen SFT LR,
 *   sft lp     and its companion, the answers' per-token log-likelihood
 *              (these four: paired bootstrap over seeds x items when the
 *              store has every item, with the items of all tasks of a suite
 *              pooled, resampling seed FINDINGS_BOOTSTRAP_SEED, widened to
 *              the blocked t over seeds of the arms' item means where that
 *              is wider; else the blocked t on the suite averages)
 *   sharpness  Tr(H) of each decay arm / WSO's on the PT probe batch at the
 *              end of pre-training (mid-training): blocked t over seeds of
 *              the log values (one seed: the delta method, effect_ratio)
 *   forgetting WSO - best decay arm in forgetting and in relative weight
 *   distance   distance (blocked t over seeds), against the flat-minimum
 *              prediction that WSO moves less and forgets less (< 0)
 *   wsm        per wsm arm: WSM - best WSD arm in PT validation loss and SFT
 *              exact match (as above; WSM's claim: lower loss, higher score),
 *              and WSM / WSO in PT-data Tr(H) and in the P^-1 H top
 *              eigenvalue (ratios; a merge that acts as a decay is sharper
 *              in Tr(H), as the paper's decay arms are, and lower in P^-1 H,
 *              as Cohen et al. find a decay releases it)
 *   r          Pearson r between PT-data sharpness and SFT exact match over
 *              the (arm, seed) models, with Spearman's rho and the
 *              within-arm r beside it (two clusters alone cannot make them)
 * Each effect is compared with the paper's two-stage (three-stage) 1B
 * result for its sign; the seeds needed to resolve an unresolved effect are
 * for the paper's size when the paper has one on this scale, else for the
 * size measured here. */
#ifndef PLATEAU_STUDY_FINDINGS_H
#define PLATEAU_STUDY_FINDINGS_H

#include <stdio.h>

#include "core/error.h"
#include "study/spec.h"
#include "study/stats.h"
#include "study/store.h"

#define FINDINGS_MAX 64
/* The resampling seed of every bootstrap in a report: fixed, so the same
 * store always gives the same intervals. */
#define FINDINGS_BOOTSTRAP_SEED 1

typedef enum { FINDING_EFFECT, FINDING_CORRELATION } FindingKind;

typedef struct {
    FindingKind kind;
    char        what[160];        /* e.g. "SFT exact match (%), WSO - best decay arm (wsd0.1)" */
    int         measured;         /* 0: not computable; why says so */
    char        why[256];
    Effect      effect;           /* FINDING_EFFECT */
    Correlation corr;             /* FINDING_CORRELATION */
    double      null;             /* 0, or 1 for a ratio */
    int         paper_sign;       /* +1 / -1: where the paper's effect lies from null */
    double      paper_size;       /* the paper's effect on this scale; NaN: it has none */
    int         decimals;
    Verdict     verdict;
    int         seeds_to_resolve; /* when unresolved; > SEEDS_TO_RESOLVE_MAX: not within reach */
    char        reference[128];   /* non-empty: whose prediction the verdict is against (then in
                                     place of the paper's value), e.g. "flat-minimum prediction: lower for WSO" */
} Finding;

typedef struct {
    Finding items[FINDINGS_MAX];
    int     n;
    int     has_wso;
} Findings;

/* What SFT changed per (arm, seed) and the base's preconditioned sharpness
 * (study/runner.h, store conventions; NaN where absent): at the chosen SFT
 * LR, forgetting (nats/token), relative weight distance and the SFT model's
 * Tr(H) on the SFT probe batch with its standard error over probes; at the
 * end of pre-training, the top eigenvalue of P^-1 H and Adam's threshold at
 * the last pre-training LR. */
typedef struct {
    double forgetting[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];
    double rel_distance[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];
    double sft_trace[STUDY_MAX_ARMS][STUDY_MAX_SEEDS], sft_trace_se[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];
    double precond_eig[STUDY_MAX_ARMS][STUDY_MAX_SEEDS], threshold[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];
} ModelMeasures;
int model_measures_load(ModelMeasures *mm, const StudySpec *s, Store *st, Err *e);

/* Reads what the store holds for the study's arms and seeds and computes
 * every finding; a finding whose inputs are missing (a study still running)
 * is kept with measured = 0 and the reason. Fails only on store errors. */
int findings_compute(Findings *f, const StudySpec *s, Store *st, Err *e);

/* One markdown bullet per finding: what, the effect, [lo, hi], the verdict
 * word in bold, the seeds-to-resolve number when unresolved, the method,
 * and the paper's value. */
void findings_write(FILE *md, const Findings *f);

/* The spread of per-seed values x[a][k] (NaN: missing): within, the pooled
 * standard deviation between seeds of one arm, sqrt(sum over arms of
 * sum_k (x - arm mean)^2 / sum over arms of (n_a - 1)); between, the
 * standard deviation of the arm means (divisor arms - 1). NaN when not
 * computable. A probe batch is large enough when within < between: seeds
 * of one arm then disagree less than the arms do. */
void seed_and_arm_spread(const double x[][STUDY_MAX_SEEDS], int n_arms, int n_seeds, double *within,
                         double *between);

/* Tr(H) over seeds as the report states it: *mean of the non-NaN
 * trace[0..n) and *half, the half width of its 95% interval: a t interval
 * over seeds, or with one seed z(0.975) times that seed's standard error
 * over probes (NaN when not known). Returns how many seeds have a value
 * (0: *mean and *half NaN). */
int trace_interval(const double *trace, const double *probe_se, int n, double *mean, double *half);

/* 0 when one Hutchinson estimate's 95% interval, trace -+ z(0.975) *
 * std_err, holds 0 (the estimate does not tell the trace from 0), else 1
 * (also when std_err is NaN). */
int trace_resolved(double trace, double std_err);

/* One Hutchinson estimate with its standard error over probes, as the
 * study's progress lines print it: "812.3 ± 41", "unresolved (-394 ± 1.8e+03)"
 * when trace_resolved is 0, the value alone when std_err is NaN. */
void format_trace_estimate(char *out, size_t size, double trace, double std_err);

/* A Tr(H) cell: mean over seeds with its 95% t interval (one seed: the
 * estimate -+ z(0.975) times its standard error over probes); a value
 * whose interval contains 0 is written "unresolved [lo, hi]", not as a
 * number. */
void format_trace_cell(char *out, size_t size, const double *trace, const double *probe_se, int n);

/* Any other per-seed value: "mean [lo, hi]", the 95% t interval over the
 * non-NaN x[0..n-1] (one value: the value alone; none: "n/a"; the same
 * value in every seed: "v (every seed)"; an infinite mean, as Adam's
 * threshold at LR 0: "∞"), each %.*g with `digits`. positive: the quantity
 * is positive by nature (an eigenvalue, a trace), so an interval that
 * contains 0 is written "unresolved [lo, hi]", not as a number. */
void format_interval_cell(char *out, size_t size, const double *x, int n, int digits, int positive);

#endif
