#include "study/findings.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* The paper's 1B effects (docs/PAPER.md): two-stage, then three-stage. */
typedef struct {
    double loss, task, sft, sharpness_ratio, r;
} PaperEffects;
static const PaperEffects PAPER_2STAGE = {0.071, -1.7, +0.3, 2.0, -0.709};
static const PaperEffects PAPER_3STAGE = {0.062, -0.1, +0.8, 2.0, -0.709};

enum { M_LOSS, M_PT_ACC, M_PT_MARGIN, M_SFT_EM, M_SFT_LP, N_METRICS };

/* One model's items of a suite (store_read_items). */
typedef struct {
    ItemScore *v;
    int        n;
} ItemList;

/* What the store holds, per arm and seed. */
typedef struct {
    double     value[N_METRICS][STUDY_MAX_ARMS][STUDY_MAX_SEEDS];
    double     trace[STUDY_MAX_ARMS][STUDY_MAX_SEEDS], trace_se[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];
    ItemList   pt_items[STUDY_MAX_ARMS][STUDY_MAX_SEEDS], sft_items[STUDY_MAX_ARMS][STUDY_MAX_SEEDS];
} Inputs;

static int arm_seed(const StudySpec *s, const ArmValue *v, int *a, int *k)
{
    for (*a = 0; *a < s->n_arms; (*a)++)
        if (strcmp(s->arms[*a].name, v->arm) == 0)
            for (*k = 0; *k < s->n_seeds; (*k)++)
                if (s->seeds[*k] == v->seed) return 1;
    return 0;
}

/* Fills value[m] from the evaluations at the end of pre-training (mid-training). */
static int load_base_metric(Inputs *in, int m, const StudySpec *s, Store *st, const char *suite, const char *task,
                            const char *metric, double scale, int with_base, Err *e)
{
    const char *role = study_is_three_stage(s) ? "mid_end" : "pretrain_end";
    ArmValue *v;
    int n, a, k;
    if (store_arm_evals(st, s->name, role, suite, task, metric, &v, &n, e)) return -1;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (!arm_seed(s, &v[i], &a, &k)) continue;
        in->value[m][a][k] = scale * v[i].value;
        if (!with_base) continue;
        /* the segment SFT starts from: its items and its sharpness at the end */
        ItemList *items = &in->pt_items[a][k];
        if (store_read_items(st, v[i].segment, "pt", NULL, &items->v, &items->n, e) < 0) rc = -1;
        SharpnessRecord *sr;
        int ns;
        if (!rc && store_read_sharpness(st, v[i].segment, &sr, &ns, e)) rc = -1;
        if (rc) break;
        for (int j = 0; j < ns; j++)
            if (strcmp(sr[j].data, "pt") == 0) {
                in->trace[a][k] = sr[j].trace;   /* step order: the last is the end */
                in->trace_se[a][k] = sr[j].std_err;
            }
        free(sr);
    }
    free(v);
    return rc;
}

static int load_sft(Inputs *in, const StudySpec *s, Store *st, Err *e)
{
    for (int a = 0; a < s->n_arms; a++)
        for (int k = 0; k < s->n_seeds; k++) {
            double lr, v;
            char seg[SEGMENT_ID_LEN + 1];
            int found = store_chosen_sft(st, s->name, s->arms[a].name, s->seeds[k], &lr, seg, e);
            if (found < 0) return -1;
            if (!found) continue;
            /* the held-out test split, or the validation split where the world has none */
            const char *suite = "sft";
            found = store_eval(st, seg, suite, "average", "exact_match", &v, NULL, e);
            if (found == 0) {
                suite = "sft_valid";
                found = store_eval(st, seg, suite, "average", "exact_match", &v, NULL, e);
            }
            if (found < 0) return -1;
            if (!found) continue;
            in->value[M_SFT_EM][a][k] = 100 * v;
            if (store_eval(st, seg, suite, "average", "answer_logprob", &in->value[M_SFT_LP][a][k], NULL, e) < 0 ||
                store_read_items(st, seg, suite, NULL, &in->sft_items[a][k].v, &in->sft_items[a][k].n, e) < 0)
                return -1;
        }
    return 0;
}

static int load_inputs(Inputs *in, const StudySpec *s, Store *st, Err *e)
{
    for (int m = 0; m < N_METRICS; m++)
        for (int a = 0; a < STUDY_MAX_ARMS; a++)
            for (int k = 0; k < STUDY_MAX_SEEDS; k++) in->value[m][a][k] = NAN;
    for (int a = 0; a < STUDY_MAX_ARMS; a++)
        for (int k = 0; k < STUDY_MAX_SEEDS; k++) in->trace[a][k] = in->trace_se[a][k] = NAN;
    return load_base_metric(in, M_LOSS, s, st, "valid", "pt", "loss", 1, 1, e) ||
           load_base_metric(in, M_PT_ACC, s, st, "pt", "average", "acc", 100, 0, e) ||
           load_base_metric(in, M_PT_MARGIN, s, st, "pt", "average", "margin", 1, 0, e) || load_sft(in, s, st, e);
}

static void free_inputs(Inputs *in, const StudySpec *s)
{
    for (int a = 0; a < s->n_arms; a++)
        for (int k = 0; k < s->n_seeds; k++) {
            free(in->pt_items[a][k].v);
            free(in->sft_items[a][k].v);
        }
}

static double seed_mean(const double *x, int n)
{
    double sum = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i])) {
            sum += x[i];
            k++;
        }
    return k ? sum / k : NAN;
}

/* Of the arms `eligible` admits, the one with the best mean of x over
 * seeds (the lowest when lower is better), or -1. */
static int best_arm(const StudySpec *s, const double x[][STUDY_MAX_SEEDS], int lower,
                    int (*eligible)(const StudySpec *, const ArmSpec *))
{
    int best = -1;
    double bv = NAN;
    for (int a = 0; a < s->n_arms; a++) {
        if (!eligible(s, &s->arms[a])) continue;
        double v = seed_mean(x[a], s->n_seeds);
        if (isnan(v)) continue;
        if (best < 0 || (lower ? v < bv : v > bv)) {
            best = a;
            bv = v;
        }
    }
    return best;
}

/* The decay arm with the best mean on metric m (lower for the loss), or -1. */
static int best_decay_arm(const StudySpec *s, const Inputs *in, int m)
{
    return best_arm(s, in->value[m], m == M_LOSS, arm_decays);
}

static int arm_is_wsd(const StudySpec *s, const ArmSpec *a) { return a->schedule == SCHED_WSD && arm_decays(s, a); }

static Finding *add(Findings *f, FindingKind kind, const char *what, double null, int sign, double paper, int dec)
{
    Finding *x = &f->items[f->n++];
    memset(x, 0, sizeof *x);
    x->kind = kind;
    snprintf(x->what, sizeof x->what, "%s", what);
    x->null = null;
    x->paper_sign = sign;
    x->paper_size = paper;
    x->decimals = dec;
    x->verdict = VERDICT_UNRESOLVED;
    return x;
}

static void settle(Finding *x)
{
    x->measured = 1;
    if (x->kind == FINDING_CORRELATION) {
        x->verdict = verdict_of(x->corr.lo, x->corr.hi, 0, x->paper_sign);
        return;
    }
    x->verdict = verdict_of(x->effect.lo, x->effect.hi, x->null, x->paper_sign);
    double size = !isnan(x->paper_size) ? x->paper_size : x->effect.estimate;
    if (x->effect.log_scale) size = size > 0 ? log(size) : NAN;
    x->seeds_to_resolve = effect_seeds_to_resolve(&x->effect, size);
}

/* Per-item values of one arm's seeds into buf (seed-major); the seeds both
 * arms have items for, with equal counts. Returns the item count, 0 if any
 * seed lacks them. */
static int gather_items(ItemList items[][STUDY_MAX_SEEDS], int a, int b, int n_seeds, int use_score,
                        double *buf_a, double *buf_b)
{
    int n = items[a][0].n;
    for (int k = 0; k < n_seeds; k++)
        if (items[a][k].n == 0 || items[a][k].n != n || items[b][k].n != n) return 0;
    for (int k = 0; k < n_seeds; k++)
        for (int i = 0; i < n; i++) {
            size_t c = (size_t)k * (size_t)n + (size_t)i;
            const ItemScore *x = &items[a][k].v[i], *y = &items[b][k].v[i];
            buf_a[c] = use_score ? x->score : 100.0 * x->correct;
            buf_b[c] = use_score ? y->score : 100.0 * y->correct;
        }
    return n;
}

/* An arm that decays from the end of warmup (cosine, linear), rather than
 * holding the peak LR for a stable phase as WSO, WSD and WSM do. */
static int decays_from_warmup(const ArmSpec *a) { return a->schedule == SCHED_COSINE || a->schedule == SCHED_LINEAR; }

/* Arm a - arm b over seeds from the per-seed values of every arm, x[arm][seed]
 * (NaN: not measured): the blocked t (stats.h), which pools the seed-to-seed
 * spread of the arms of one kind; log_scale for a ratio a / b. The kind is
 * that of the pair's arm that shares least of WSO's run: arms holding the
 * peak LR ride WSO's trunk through their stable phase and scatter about it
 * far less than arms decaying from warmup, which share only the warmup (the
 * standard deviation of an arm's difference from WSO over seeds was 1.4-7x
 * larger for cosine and linear than for WSD and WSM in log Tr(H) and in PT
 * loss, in quick at 1 and at 2 threads and in paper-2stage), so one pool
 * for both would widen the one's intervals and narrow the other's. */
static int over_seeds(const StudySpec *s, const double x[][STUDY_MAX_SEEDS], int a, int b, int log_scale, Effect *out,
                      Err *e)
{
    unsigned char pool[STUDY_MAX_ARMS];
    int kind = decays_from_warmup(&s->arms[a]) || decays_from_warmup(&s->arms[b]);
    for (int k = 0; k < s->n_arms; k++) pool[k] = decays_from_warmup(&s->arms[k]) == kind;
    return effect_blocked_t(&x[0][0], s->n_arms, STUDY_MAX_SEEDS, pool, a, b, log_scale, out, e);
}

/* Each arm's per-seed mean of its n_items items into mean (NaN where an arm's
 * seed has not exactly n_items). */
static void item_means(const StudySpec *s, ItemList items[][STUDY_MAX_SEEDS], int n_items, int use_score,
                       double mean[][STUDY_MAX_SEEDS])
{
    for (int a = 0; a < STUDY_MAX_ARMS; a++)
        for (int k = 0; k < STUDY_MAX_SEEDS; k++) {
            mean[a][k] = NAN;
            if (a >= s->n_arms || k >= s->n_seeds || items[a][k].n != n_items) continue;
            double sum = 0;
            for (int i = 0; i < n_items; i++)
                sum += use_score ? items[a][k].v[i].score : 100.0 * items[a][k].v[i].correct;
            mean[a][k] = sum / n_items;
        }
}

/* Arm w - arm b on metric m into x: the bootstrap over items (widened to
 * the blocked t over seeds of the arms' item means where that is wider)
 * when every seed has them, else the blocked t over seeds of the suite
 * averages. */
static void compare_arms(Finding *x, const StudySpec *s, Inputs *in, int w, int b, int m)
{
    Err e;
    ItemList(*items)[STUDY_MAX_SEEDS] = m == M_PT_ACC || m == M_PT_MARGIN ? in->pt_items : in->sft_items;
    int n_items = 0;
    if (m != M_LOSS) {
        long n0 = items[w][0].n > 0 ? items[w][0].n : 1;
        double *ba = xmalloc((unsigned long)(n0 * s->n_seeds) * sizeof *ba);
        double *bb = xmalloc((unsigned long)(n0 * s->n_seeds) * sizeof *bb);
        int use_score = m == M_PT_MARGIN || m == M_SFT_LP;
        n_items = gather_items(items, w, b, s->n_seeds, use_score, ba, bb);
        int rc = -1;
        if (n_items > 0) {
            double(*mean)[STUDY_MAX_SEEDS] = xmalloc(sizeof(double[STUDY_MAX_ARMS][STUDY_MAX_SEEDS]));
            item_means(s, items, n_items, use_score, mean);
            Effect seeds;
            int blocked = s->n_seeds >= 2 && over_seeds(s, mean, w, b, 0, &seeds, &e) == 0;
            rc = effect_seeds_and_items(ba, bb, s->n_seeds, n_items, BOOTSTRAP_RESAMPLES, FINDINGS_BOOTSTRAP_SEED,
                                        blocked ? &seeds : NULL, &x->effect, &e);
            free(mean);
        }
        free(ba);
        free(bb);
        if (rc == 0) {
            settle(x);
            return;
        }
    }
    if (over_seeds(s, in->value[m], w, b, 0, &x->effect, &e)) {
        snprintf(x->why, sizeof x->why, "%.*s", (int)sizeof x->why - 1, e.msg);
        return;
    }
    settle(x);
}

/* Arm a / arm b of a positive per-seed value: the blocked t of the log
 * ratio with 2 or more seeds, else the delta method on one seed with its
 * standard errors (se may be NULL: none). */
static int ratio_over_seeds(const StudySpec *s, const double x[][STUDY_MAX_SEEDS], const double se[][STUDY_MAX_SEEDS],
                            int a, int b, Effect *out, Err *e)
{
    int both = 0;
    for (int k = 0; k < s->n_seeds; k++) both += !isnan(x[a][k]) && !isnan(x[b][k]);
    if (both >= 2) return over_seeds(s, x, a, b, 1, out, e);
    return effect_ratio(x[a], se ? se[a] : NULL, x[b], se ? se[b] : NULL, s->n_seeds, out, e);
}

/* WSO - best decay arm on metric m. */
static void wso_minus_best(Findings *f, const StudySpec *s, Inputs *in, int w, int m, const char *label,
                           double paper, int sign, int dec)
{
    int b = best_decay_arm(s, in, m);
    char what[160];
    snprintf(what, sizeof what, "%s, WSO - best decay arm (%s)", label, b >= 0 ? s->arms[b].name : "none");
    Finding *x = add(f, FINDING_EFFECT, what, 0, sign, paper, dec);
    if (b < 0) snprintf(x->why, sizeof x->why, "no decay arm has this result yet");
    else compare_arms(x, s, in, w, b, m);
}

/* Tr(H) on PT data at the end of pre-training (mid-training), arm a / WSO. */
static Finding *trace_ratio(Findings *f, const StudySpec *s, const Inputs *in, int a, int w, double paper)
{
    char what[160];
    snprintf(what, sizeof what, "Tr(H) on PT data at the end of %s, %s / WSO",
             study_is_three_stage(s) ? "mid-training" : "pre-training", s->arms[a].name);
    Finding *x = add(f, FINDING_EFFECT, what, 1, +1, paper, 2);
    /* a trace whose own interval holds 0 makes no ratio */
    for (int k = 0; k < s->n_seeds && !x->why[0]; k++)
        for (int j = 0; j < 2; j++) {
            int arm = j ? a : w;
            double t = in->trace[arm][k], se = in->trace_se[arm][k];
            if (!isnan(t) && !isnan(se) && !trace_resolved(t, se)) {
                snprintf(x->why, sizeof x->why, "Tr(H) of %s seed %llu is %.4g ± %.2g: its interval holds 0",
                         s->arms[arm].name, (unsigned long long)s->seeds[k], t, se);
                break;
            }
        }
    Err e;
    if (!x->why[0] && ratio_over_seeds(s, in->trace, in->trace_se, a, w, &x->effect, &e))
        snprintf(x->why, sizeof x->why, "%.*s", (int)sizeof x->why - 1, e.msg);
    if (!x->why[0]) settle(x);
    return x;
}

static void sharpness_ratios(Findings *f, const StudySpec *s, const Inputs *in, int w, double paper)
{
    for (int a = 0; a < s->n_arms; a++)
        if (arm_decays(s, &s->arms[a])) trace_ratio(f, s, in, a, w, paper);
}

/* WSO - best decay arm (the lowest) on a per-model measure, by blocked t,
 * against the flat-minimum prediction that WSO's is lower. */
static void wso_minus_best_measure(Findings *f, const StudySpec *s, const double x[][STUDY_MAX_SEEDS], int w,
                                   const char *label, int dec)
{
    int b = best_arm(s, x, 1, arm_decays);
    char what[160];
    snprintf(what, sizeof what, "%s, WSO - best decay arm (%s)", label, b >= 0 ? s->arms[b].name : "none");
    Finding *fx = add(f, FINDING_EFFECT, what, 0, -1, NAN, dec);
    snprintf(fx->reference, sizeof fx->reference, "flat-minimum prediction: lower for WSO");
    Err e;
    if (b < 0) snprintf(fx->why, sizeof fx->why, "no decay arm has this result yet");
    else if (over_seeds(s, x, w, b, 0, &fx->effect, &e))
        snprintf(fx->why, sizeof fx->why, "%.*s", (int)sizeof fx->why - 1, e.msg);
    else settle(fx);
}

/* Per wsm arm: WSM - best WSD arm in PT loss and SFT score, and WSM / WSO
 * in Tr(H) and in the P^-1 H top eigenvalue. */
static void wsm_findings(Findings *f, const StudySpec *s, Inputs *in, const ModelMeasures *mm, int w)
{
    static const struct {
        int         m, lower, sign;
        const char *label, *claim;
        int         dec;
    } DIFFS[] = {
        {M_LOSS, 1, -1, "PT validation loss", "WSM's claim (Tian et al. 2025): lower for WSM", 3},
        {M_SFT_EM, 0, +1, "SFT exact match (%)", "WSM's claim carried to SFT: higher for WSM", 1},
    };
    for (int a = 0; a < s->n_arms; a++) {
        if (!s->arms[a].wsm) continue;
        for (size_t d = 0; d < sizeof DIFFS / sizeof DIFFS[0]; d++) {
            int b = best_arm(s, in->value[DIFFS[d].m], DIFFS[d].lower, arm_is_wsd);
            char what[160];
            snprintf(what, sizeof what, "%s, %s - best WSD arm (%s)", DIFFS[d].label, s->arms[a].name,
                     b >= 0 ? s->arms[b].name : "none");
            Finding *x = add(f, FINDING_EFFECT, what, 0, DIFFS[d].sign, NAN, DIFFS[d].dec);
            snprintf(x->reference, sizeof x->reference, "%s", DIFFS[d].claim);
            if (b < 0) snprintf(x->why, sizeof x->why, "no WSD arm has this result yet");
            else compare_arms(x, s, in, a, b, DIFFS[d].m);
        }
        Finding *x = trace_ratio(f, s, in, a, w, NAN);
        snprintf(x->reference, sizeof x->reference, "a merge acting as a decay is sharper, as the paper's decay "
                                                    "arms are (about 2-3x)");
        char what[160];
        snprintf(what, sizeof what, "top eigenvalue of P^-1 H at the end of pre-training (%lld sequences), %s / WSO",
                 (long long)(s->batch_tokens / s->seq_len), s->arms[a].name);
        x = add(f, FINDING_EFFECT, what, 1, -1, NAN, 2);
        snprintf(x->reference, sizeof x->reference, "Cohen et al. 2022: a decay releases it, so below 1 if the "
                                                    "merge acts as one");
        Err e;
        if (s->precond_steps == 0) snprintf(x->why, sizeof x->why, "not measured: the study sets precond_steps = 0");
        else if (ratio_over_seeds(s, mm->precond_eig, NULL, a, w, &x->effect, &e))
            snprintf(x->why, sizeof x->why, "%.*s", (int)sizeof x->why - 1, e.msg);
        else settle(x);
    }
}

int model_measures_load(ModelMeasures *mm, const StudySpec *s, Store *st, Err *e)
{
    double(*fields[])[STUDY_MAX_SEEDS] = {mm->forgetting, mm->rel_distance, mm->sft_trace, mm->sft_trace_se,
                                           mm->precond_eig, mm->threshold};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        for (int a = 0; a < STUDY_MAX_ARMS; a++)
            for (int k = 0; k < STUDY_MAX_SEEDS; k++) fields[i][a][k] = NAN;
    for (int a = 0; a < s->n_arms; a++)
        for (int k = 0; k < s->n_seeds; k++) {
            double lr;
            char seg[SEGMENT_ID_LEN + 1];
            int found = store_chosen_sft(st, s->name, s->arms[a].name, s->seeds[k], &lr, seg, e);
            if (found < 0) return -1;
            if (found && (store_eval(st, seg, "sft_change", "pt", "forgetting", &mm->forgetting[a][k], NULL, e) < 0 ||
                          store_eval(st, seg, "sft_change", "weights", "rel_distance", &mm->rel_distance[a][k], NULL,
                                     e) < 0 ||
                          store_eval(st, seg, "sft_change", "sft", "trace", &mm->sft_trace[a][k],
                                     &mm->sft_trace_se[a][k], e) < 0))
                return -1;
        }
    static const char *const METRICS[2] = {"top_eig", "threshold"};
    for (int i = 0; i < 2; i++) {
        ArmValue *v;
        int n, a, k;
        if (store_arm_evals(st, s->name, "pretrain_end", "precond", "pt", METRICS[i], &v, &n, e)) return -1;
        for (int j = 0; j < n; j++)
            if (arm_seed(s, &v[j], &a, &k)) (i ? mm->threshold : mm->precond_eig)[a][k] = v[j].value;
        free(v);
    }
    return 0;
}

static void correlations(Findings *f, const StudySpec *s, const Inputs *in, double paper_r)
{
    double xs[STUDY_MAX_ARMS * STUDY_MAX_SEEDS], ys[STUDY_MAX_ARMS * STUDY_MAX_SEEDS];
    int groups[STUDY_MAX_ARMS * STUDY_MAX_SEEDS], np = 0;
    for (int a = 0; a < s->n_arms; a++)
        for (int k = 0; k < s->n_seeds; k++)
            if (!isnan(in->trace[a][k]) && !isnan(in->value[M_SFT_EM][a][k])) {
                xs[np] = in->trace[a][k];
                ys[np] = in->value[M_SFT_EM][a][k];
                groups[np++] = a;
            }
    static const char *const what[3] = {"Pearson r, PT-data Tr(H) vs SFT exact match over (arm, seed) models",
                                        "Spearman rho, the same points",
                                        "within-arm r (each arm's means removed), the same points"};
    for (int c = 0; c < 3; c++) {
        Finding *x = add(f, FINDING_CORRELATION, what[c], 0, paper_r < 0 ? -1 : +1, paper_r, 2);
        Err e;
        int rc = c == 0 ? pearson(xs, ys, np, &x->corr, &e)
                 : c == 1 ? spearman(xs, ys, np, &x->corr, &e)
                          : within_group_r(xs, ys, groups, np, s->n_arms, &x->corr, &e);
        if (rc) {
            snprintf(x->why, sizeof x->why, "%.*s", (int)sizeof x->why - 1, e.msg);
            continue;
        }
        settle(x);
        if (!x->corr.ci_defined) snprintf(x->why, sizeof x->why, "too few points for an interval");
        int points = points_to_resolve(paper_r) + (c == 2 ? s->n_arms - 1 : 0);
        x->seeds_to_resolve = (points + s->n_arms - 1) / s->n_arms;
    }
}

int findings_compute(Findings *f, const StudySpec *s, Store *st, Err *e)
{
    memset(f, 0, sizeof *f);
    int w = -1;
    for (int a = 0; a < s->n_arms && w < 0; a++)
        if (arm_is_wso(s, &s->arms[a])) w = a;
    f->has_wso = w >= 0;
    if (w < 0) return 0;
    Inputs *in = xcalloc(1, sizeof *in);
    if (load_inputs(in, s, st, e)) {
        free_inputs(in, s);
        free(in);
        return -1;
    }
    int three = study_is_three_stage(s);
    const PaperEffects *p = three ? &PAPER_3STAGE : &PAPER_2STAGE;
    wso_minus_best(f, s, in, w, M_LOSS, three ? "MT validation loss" : "PT validation loss", p->loss, +1, 3);
    wso_minus_best(f, s, in, w, M_PT_ACC, three ? "MT task accuracy (%)" : "PT task accuracy (%)", p->task, -1, 1);
    wso_minus_best(f, s, in, w, M_PT_MARGIN, "multiple-choice margin (nats)", NAN, -1, 3);
    wso_minus_best(f, s, in, w, M_SFT_EM, "SFT exact match (%)", p->sft, +1, 1);
    wso_minus_best(f, s, in, w, M_SFT_LP, "SFT answer log-likelihood (nats/token)", NAN, +1, 3);
    sharpness_ratios(f, s, in, w, p->sharpness_ratio);
    correlations(f, s, in, p->r);
    ModelMeasures *mm = xmalloc(sizeof *mm);
    int rc = model_measures_load(mm, s, st, e);
    if (!rc) {
        wso_minus_best_measure(f, s, mm->forgetting, w, "forgetting after SFT (nats/token)", 4);
        wso_minus_best_measure(f, s, mm->rel_distance, w, "relative weight distance of SFT", 4);
        wsm_findings(f, s, in, mm, w);
    }
    free(mm);
    free_inputs(in, s);
    free(in);
    return rc;
}

static void write_value(FILE *md, double v, int dec, int sign)
{
    if (sign) fprintf(md, "%+.*f", dec, v);
    else fprintf(md, "%.*f", dec, v);
}

/* An unresolved finding whose interval [lo, hi] also excludes the paper's
 * value (it lies beyond the interval, away from the null): the effect here
 * is smaller than the paper's, which more seeds would not change. */
static void write_smaller_note(FILE *md, double lo, double hi, double null, double paper)
{
    if (isnan(paper) || isnan(lo) || isnan(hi)) return;
    if (paper > null ? hi < paper : lo > paper)
        fprintf(md, "; the interval also excludes the paper's value: the effect here is smaller than the paper's");
}

static void write_resolve(FILE *md, const Finding *x)
{
    if (x->verdict != VERDICT_UNRESOLVED || !x->measured) return;
    if (x->effect.std_err == 0) {
        fprintf(md, "; no spread between seeds or items to scale the seeds needed from");
        return;
    }
    int n = x->seeds_to_resolve;
    const char *of = isnan(x->paper_size) ? "the effect measured here" : "an effect of the paper's size";
    if (n > SEEDS_TO_RESOLVE_MAX) fprintf(md, "; more than %d seeds would be needed to resolve %s", SEEDS_TO_RESOLVE_MAX, of);
    else fprintf(md, "; %d seeds would resolve %s", n, of);
    write_smaller_note(md, x->effect.lo, x->effect.hi, x->null, x->paper_size);
}

void findings_write(FILE *md, const Findings *f)
{
    for (int i = 0; i < f->n; i++) {
        const Finding *x = &f->items[i];
        fprintf(md, "- %s: ", x->what);
        if (!x->measured) {
            fprintf(md, "**unresolved** (%s)", x->why);
        } else if (x->kind == FINDING_CORRELATION) {
            fprintf(md, "%.2f ", x->corr.r);
            if (x->corr.ci_defined) fprintf(md, "[%.2f, %.2f] **%s**", x->corr.lo, x->corr.hi, verdict_name(x->verdict));
            else fprintf(md, "**unresolved** (%s)", x->why);
            if (x->verdict == VERDICT_UNRESOLVED) {
                fprintf(md, "; %d seeds would resolve a correlation of the paper's size", x->seeds_to_resolve);
                if (x->corr.ci_defined) write_smaller_note(md, x->corr.lo, x->corr.hi, 0, x->paper_size);
            }
            fprintf(md, " (%s over %d models; paper: r = %.3f)",
                    strstr(x->what, "Spearman") ? "Fisher z with the 1.06 variance" : "Fisher z", x->corr.n,
                    x->paper_size);
        } else {
            const Effect *ef = &x->effect;
            int ratio = ef->log_scale;
            write_value(md, ef->estimate, x->decimals, !ratio);
            fprintf(md, "%s [", ratio ? "x" : "");
            write_value(md, ef->lo, x->decimals, !ratio);
            fprintf(md, ", ");
            write_value(md, ef->hi, x->decimals, !ratio);
            fprintf(md, "] **%s**", verdict_name(x->verdict));
            write_resolve(md, x);
            fprintf(md, " (%s, %d seed%s", ef->method, ef->n_seeds, ef->n_seeds == 1 ? "" : "s");
            if (ef->n_items) fprintf(md, " x %d items", ef->n_items);
            if (ef->n_arms > 2) fprintf(md, ", seed spread pooled over %d arms", ef->n_arms);
            if (x->reference[0]) fprintf(md, "; %s)", x->reference);
            else if (isnan(x->paper_size)) fprintf(md, "; paper: %s)", x->paper_sign > 0 ? "higher for WSO" : "lower for WSO");
            else if (ratio) fprintf(md, "; paper: about 2-3x)");
            else {
                fprintf(md, "; paper: ");
                write_value(md, x->paper_size, x->decimals, 1);
                fprintf(md, ")");
            }
        }
        fprintf(md, "\n");
    }
}

/* The mean of the non-NaN x[0..n-1] (*k of them, 0: NaN) and the half
 * width of its 95% t interval (NaN for fewer than 2); *first is the index
 * of the first value. */
static double seed_interval(const double *x, int n, double *half, int *k, int *first)
{
    double mean = 0, ss = 0;
    *k = 0;
    *first = -1;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i])) {
            if (*first < 0) *first = i;
            mean += x[i];
            ++*k;
        }
    if (*k == 0) return *half = NAN;
    mean /= *k;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i])) ss += (x[i] - mean) * (x[i] - mean);
    *half = *k > 1 ? t_quantile(0.975, *k - 1) * sqrt(ss / (*k - 1) / *k) : NAN;
    return mean;
}

int trace_interval(const double *trace, const double *probe_se, int n, double *mean, double *half)
{
    int k, first;
    *mean = seed_interval(trace, n, half, &k, &first);
    if (k == 1) *half = isnan(probe_se[first]) ? NAN : normal_quantile(0.975) * probe_se[first];
    return k;
}

int trace_resolved(double trace, double std_err)
{
    return !(fabs(trace) <= normal_quantile(0.975) * std_err);
}

void format_trace_estimate(char *out, size_t size, double trace, double std_err)
{
    if (isnan(std_err)) snprintf(out, size, "%.4g", trace);
    else if (trace_resolved(trace, std_err)) snprintf(out, size, "%.4g ± %.2g", trace, std_err);
    else snprintf(out, size, "unresolved (%.4g ± %.2g)", trace, std_err);
}

void format_trace_cell(char *out, size_t size, const double *trace, const double *probe_se, int n)
{
    double mean, half;
    if (trace_interval(trace, probe_se, n, &mean, &half) == 0) {
        snprintf(out, size, "n/a");
        return;
    }
    if (isnan(half)) snprintf(out, size, "%.4g", mean);
    else if (fabs(mean) <= half) snprintf(out, size, "unresolved [%.3g, %.3g]", mean - half, mean + half);
    else snprintf(out, size, "%.4g [%.4g, %.4g]", mean, mean - half, mean + half);
}

void format_interval_cell(char *out, size_t size, const double *x, int n, int digits, int positive)
{
    double half;
    int k, first;
    double mean = seed_interval(x, n, &half, &k, &first);
    if (k == 0) snprintf(out, size, "n/a");
    else if (isinf(mean)) snprintf(out, size, "%s∞", mean < 0 ? "-" : "");
    else if (k == 1 || isnan(half)) snprintf(out, size, "%.*g", digits, mean);
    else if (half == 0) snprintf(out, size, "%.*g (every seed)", digits, mean);
    else if (positive && fabs(mean) <= half)
        snprintf(out, size, "unresolved [%.3g, %.3g]", mean - half, mean + half);
    else snprintf(out, size, "%.*g [%.*g, %.*g]", digits, mean, digits, mean - half, digits, mean + half);
}

void seed_and_arm_spread(const double x[][STUDY_MAX_SEEDS], int n_arms, int n_seeds, double *within,
                         double *between)
{
    double ss = 0, means[STUDY_MAX_ARMS] = {0};
    int df = 0, n_means = 0;
    for (int a = 0; a < n_arms; a++) {
        double m = seed_mean(x[a], n_seeds);
        if (isnan(m)) continue;
        int k = 0;
        for (int i = 0; i < n_seeds; i++)
            if (!isnan(x[a][i])) {
                ss += (x[a][i] - m) * (x[a][i] - m);
                k++;
            }
        df += k - 1;
        means[n_means++] = m;
    }
    *within = df > 0 ? sqrt(ss / df) : NAN;
    double mm = seed_mean(means, n_means), sb = 0;
    for (int a = 0; a < n_means; a++) sb += (means[a] - mm) * (means[a] - mm);
    *between = n_means > 1 ? sqrt(sb / (n_means - 1)) : NAN;
}
