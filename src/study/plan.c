#include "study/plan.h"
#include "study/prepare.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"


ScheduleSpec arm_pretrain_schedule(const StudySpec *s, const ArmSpec *a)
{
    return schedule_of_kind(a->schedule, s->peak_lr, s->warmup_steps, study_pretrain_steps(s), a->alpha_pre, a->rho,
                            a->decay);
}

ScheduleSpec arm_mid_schedule(const StudySpec *s, const ArmSpec *a)
{
    assert(study_is_three_stage(s));
    ScheduleSpec pre = arm_pretrain_schedule(s, a);
    return schedule_mid(schedule_final_lr(&pre), study_mid_steps(s), a->alpha_mid);
}

int64_t study_sft_steps(const StudySpec *s)
{
    return s->sft_tokens > 0 ? s->sft_tokens / s->sft_batch_tokens : 0;
}

/* ---- ids ----------------------------------------------------------------- */

static void id_of(char out[SEGMENT_ID_LEN + 1], const char *text)
{
    snprintf(out, SEGMENT_ID_LEN + 1, "%016" PRIx64, checksum_bytes(text, strlen(text)));
}

/* The exact LR of every step in [start, end), as the bits the trainer uses. */
static uint64_t lr_checksum(const ScheduleSpec *sched, int64_t start, int64_t end)
{
    Checksum c;
    checksum_init(&c);
    for (int64_t step = start; step < end; step++) {
        double lr = schedule_lr(sched, step);
        checksum_update(&c, &lr, sizeof lr);
    }
    return checksum_final(&c);
}

/* A float as the shortest decimal that reads back to it ("0.95" for 0.95f),
 * then as the double of that decimal: the recipe's values as written. */
static double decimal_value(float x)
{
    char text[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)x);
        if (strtof(text, NULL) == x) break;
    }
    return strtod(text, NULL);
}

static void recipe_text(Stage st, char *out, size_t size)
{
    AdamWConfig r = stage_adamw(st);
    snprintf(out, size, "adamw beta1=%.17g beta2=%.17g eps=%.17g weight_decay=%.17g clip=%.17g",
             decimal_value(r.beta1), decimal_value(r.beta2), decimal_value(r.eps), decimal_value(r.weight_decay),
             decimal_value(r.clip));
}

/* ---- building ------------------------------------------------------------ */

typedef struct {
    Plan   *p;
    int     cap;
    int     seed_index;
    /* steps at which a segment carrying arm a must end (its merge inputs), ascending */
    int64_t cuts[STUDY_MAX_ARMS][LINEAGE_MAX_MERGED];
    int     n_cuts[STUDY_MAX_ARMS];
} Builder;

int plan_merge_steps(const StudySpec *s, const ArmSpec *a, int64_t *steps)
{
    if (!a->wsm) return 0;
    int64_t T = study_pretrain_steps(s);
    for (int j = 0; j < a->merge_last; j++) steps[j] = T - (int64_t)(a->merge_last - 1 - j) * a->merge_every;
    return a->merge_last;
}

/* The first step after `start` at which a segment carrying any arm of the
 * group must end for a merge, or `end` if none comes before it. */
static int64_t first_cut(const Builder *b, const int *group, int n, int64_t start, int64_t end)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < b->n_cuts[group[i]]; j++) {
            int64_t c = b->cuts[group[i]][j];
            if (c > start && c < end) end = c;
        }
    return end;
}

static PlanSegment *new_segment(Builder *b)
{
    Plan *p = b->p;
    if (p->n_segments == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        p->segments = xrealloc(p->segments, (size_t)b->cap * sizeof *p->segments);
    }
    PlanSegment *seg = &p->segments[p->n_segments++];
    memset(seg, 0, sizeof *seg);
    return seg;
}

/* Fills data, spec_text and id of a pre/mid segment whose other fields are set. */
static void finish_training_segment(Plan *p, PlanSegment *seg)
{
    const StudySpec *s = &p->spec;
    char recipe[256];
    recipe_text(seg->stage, recipe, sizeof recipe);
    snprintf(seg->data, sizeof seg->data,
             "%s %s seed=%" PRIu64 " batch_tokens=%" PRId64 " micro_batch=%d seq_len=%d precision=%s",
             seg->stage == STAGE_PRETRAIN ? "pretrain" : "mid", p->world, seg->seed, s->batch_tokens, s->micro_batch,
             s->seq_len, precision_name(s->precision));
    snprintf(seg->spec_text, sizeof seg->spec_text,
             "plateau segment v1\nparent %s\nstage %s\nsteps %" PRId64 " %" PRId64 "\ndata %s\noptimizer %s\n"
             "lr_checksum %016" PRIx64 "\n",
             seg->parent_id, stage_name(seg->stage), seg->start_step, seg->end_step, seg->data, recipe,
             lr_checksum(&seg->schedule, seg->start_step, seg->end_step));
    id_of(seg->id, seg->spec_text);
    schedule_format(&seg->schedule, seg->schedule_text, sizeof seg->schedule_text);
}

/* Builds the prefix tree of one stage for a group of arms that all start
 * from the same parent at step `start` with identical LRs before it.
 * sched[i] is arm i's schedule for this stage; ends[i] receives the index of
 * the segment where arm i's stage ends.
 *
 * The group shares one segment up to the first step at which any two of its
 * arms' LRs differ (the least common prefix with any one member: common
 * prefixes are an ultrametric, so the least over pairs equals the least
 * against a fixed member). It then splits into classes that still agree
 * past that step, each recursing from there. */
static void build_stage(Builder *b, Stage stage, const int *group, int n, int parent, int64_t start, int64_t total,
                        const ScheduleSpec *sched, int *ends)
{
    Plan *p = b->p;
    int64_t end = total;
    for (int i = 1; i < n; i++) {
        int64_t c = schedule_common_prefix(&sched[group[0]], &sched[group[i]]);
        if (c < end) end = c;
    }
    end = first_cut(b, group, n, start, end);
    assert(end >= start);
    if (end > start) {
        PlanSegment *seg = new_segment(b);
        seg->parent = parent;
        seg->init = b->seed_index;
        snprintf(seg->parent_id, sizeof seg->parent_id, "%s",
                 parent >= 0 ? p->segments[parent].id : p->inits[b->seed_index].id);
        seg->stage = stage;
        seg->seed = p->spec.seeds[b->seed_index];
        seg->start_step = start;
        seg->end_step = end;
        seg->schedule = sched[group[0]];
        for (int i = 0; i < n; i++) seg->arms |= 1u << group[i];
        finish_training_segment(p, seg);
        parent = (int)(seg - p->segments);
    }
    if (end == total) {
        for (int i = 0; i < n; i++) ends[group[i]] = parent;
        return;
    }
    /* Partition into classes that agree beyond `end`. */
    int done[STUDY_MAX_ARMS] = {0};
    for (int i = 0; i < n; i++) {
        if (done[i]) continue;
        int cls[STUDY_MAX_ARMS], m = 0;
        for (int j = i; j < n; j++) {
            if (done[j]) continue;
            if (j == i || schedule_common_prefix(&sched[group[i]], &sched[group[j]]) > end) {
                cls[m++] = group[j];
                done[j] = 1;
            }
        }
        build_stage(b, stage, cls, m, parent, end, total, sched, ends);
    }
}

/* The merge segment of wsm arm a after its trunk ends in segment `trunk_end`:
 * its inputs are the trunk's segments ending at the arm's merge steps.
 * Returns its index (an identical merge of another arm is shared). */
static int add_merge_segment(Builder *b, int a, int trunk_end, const ScheduleSpec *sched)
{
    Plan *p = b->p;
    const ArmSpec *arm = &p->spec.arms[a];
    int64_t steps[LINEAGE_MAX_MERGED];
    int k = plan_merge_steps(&p->spec, arm, steps);
    PlanSegment m;
    memset(&m, 0, sizeof m);
    int found = 0;
    for (int i = trunk_end; i >= 0 && found < k; i = p->segments[i].parent)
        if (p->segments[i].end_step == steps[k - 1 - found]) m.merge_inputs[k - 1 - found++] = i;
    assert(found == k);   /* build_stage ended the trunk at every merge step */
    m.n_merge = k;
    m.merge = arm->merge;
    m.parent = trunk_end;
    m.init = b->seed_index;
    snprintf(m.parent_id, sizeof m.parent_id, "%s", p->segments[trunk_end].id);
    m.stage = STAGE_PRETRAIN;
    m.seed = p->spec.seeds[b->seed_index];
    m.start_step = m.end_step = study_pretrain_steps(&p->spec);
    m.schedule = *sched;
    snprintf(m.data, sizeof m.data, "merge of %d checkpoints", k);
    size_t used = (size_t)snprintf(m.spec_text, sizeof m.spec_text, "plateau segment v1\nparent %s\nstage merge\n",
                                   m.parent_id);
    for (int j = 0; j < k && used < sizeof m.spec_text; j++)
        used += (size_t)snprintf(m.spec_text + used, sizeof m.spec_text - used, "input %s step %" PRId64 " weight %.17g\n",
                                 p->segments[m.merge_inputs[j]].id, steps[j], m.merge.c[j]);
    id_of(m.id, m.spec_text);
    char w[256];
    merge_weights_format(&m.merge, w, sizeof w);
    snprintf(m.schedule_text, sizeof m.schedule_text, "merge last %d every %" PRId64 " weights %.100s", k,
             arm->merge_every, w);
    int at = plan_find(p, m.id);
    if (at >= 0) return at;
    PlanSegment *stored = new_segment(b);
    *stored = m;
    return p->n_segments - 1;
}

static int add_sft_segment(Builder *b, int base, double lr)
{
    Plan *p = b->p;
    const StudySpec *s = &p->spec;
    PlanSegment probe_seg;
    memset(&probe_seg, 0, sizeof probe_seg);
    PlanSegment *seg = &probe_seg;
    seg->parent = base;
    seg->init = b->seed_index;
    snprintf(seg->parent_id, sizeof seg->parent_id, "%s", p->segments[base].id);
    seg->stage = STAGE_SFT;
    seg->seed = s->seeds[b->seed_index];
    seg->start_step = 0;
    seg->end_step = p->sft_steps > 0 ? p->sft_steps : -1;
    seg->sft_lr = lr;
    seg->schedule = schedule_sft(lr, s->sft_warmup_steps, p->sft_steps > 0 ? p->sft_steps : s->sft_warmup_steps + 1);
    char recipe[256], length[64];
    recipe_text(STAGE_SFT, recipe, sizeof recipe);
    if (s->sft_tokens > 0) snprintf(length, sizeof length, "tokens=%" PRId64, s->sft_tokens);
    else snprintf(length, sizeof length, "epochs=%.17g", s->sft_epochs);
    snprintf(seg->data, sizeof seg->data, "sft %s seed=%" PRIu64 " batch_tokens=%" PRId64 " seq_len=%d precision=%s %s",
             p->world, seg->seed, s->sft_batch_tokens, s->seq_len, precision_name(s->precision), length);
    snprintf(seg->spec_text, sizeof seg->spec_text,
             "plateau segment v1\nparent %.16s\nstage sft\ndata %.*s\noptimizer %s\nschedule sft peak=%.17g warmup=%" PRId64
             " decay=cosine alpha=0\n",
             seg->parent_id, (int)sizeof seg->data, seg->data, recipe, lr, s->sft_warmup_steps);
    id_of(seg->id, seg->spec_text);
    if (p->sft_steps > 0) schedule_format(&seg->schedule, seg->schedule_text, sizeof seg->schedule_text);
    else snprintf(seg->schedule_text, sizeof seg->schedule_text, "sft:peak=%.6g,warmup=%" PRId64 ",total=(from data)",
                  lr, s->sft_warmup_steps);
    /* Two arms with the same base share their whole sweep. */
    int found = plan_find(p, seg->id);
    if (found >= 0) return found;
    PlanSegment *stored = new_segment(b);
    *stored = probe_seg;
    return p->n_segments - 1;
}

int plan_build(Plan *p, const StudySpec *s, int64_t sft_steps, Err *e)
{
    memset(p, 0, sizeof *p);
    p->spec = *s;
    s = &p->spec;
    p->sft_steps = s->sft_tokens > 0 ? study_sft_steps(s) : sft_steps;
    /* Each count is below 2^63 / STUDY_MAX_ARMS / STUDY_MAX_SEEDS only if
     * bounded first, hence the division. */
    int64_t per_run = study_pretrain_steps(s) + study_mid_steps(s), n_runs = (int64_t)s->n_arms * s->n_seeds;
    if (per_run > PLAN_MAX_STEPS / (n_runs > 0 ? n_runs : 1))
        return err_set(e, "%s: %" PRId64 " pre- and mid-training steps per run x %" PRId64 " runs (%d arms x %d seeds) "
                          "exceed the %lld steps a plan may hold (study/plan.h); use fewer tokens or a larger "
                          "batch_tokens", s->path, per_run, n_runs, s->n_arms, s->n_seeds, PLAN_MAX_STEPS);
    /* The SFT schedule meets the same rule as every other (schedule.h), as
     * soon as its length is known. */
    for (int k = 0; p->sft_steps > 0 && k < s->n_sft_lrs; k++) {
        ScheduleSpec sft = schedule_sft(s->sft_lrs[k], s->sft_warmup_steps, p->sft_steps);
        if (schedule_validate(&sft, e))
            return err_wrap(e, "%s: [study] sft_warmup_steps = %" PRId64 ", SFT run of %" PRId64 " steps", s->path,
                            s->sft_warmup_steps, p->sft_steps);
    }

    ScheduleSpec pre[STUDY_MAX_ARMS], mid[STUDY_MAX_ARMS];
    for (int a = 0; a < s->n_arms; a++) {
        pre[a] = arm_pretrain_schedule(s, &s->arms[a]);
        if (schedule_validate(&pre[a], e))
            return err_wrap(e, "%s:%d: [arm %s] pre-training schedule", s->path, s->arms[a].line, s->arms[a].name);
        if (study_is_three_stage(s)) {
            mid[a] = arm_mid_schedule(s, &s->arms[a]);
            if (schedule_validate(&mid[a], e))
                return err_wrap(e, "%s:%d: [arm %s] mid-training schedule", s->path, s->arms[a].line, s->arms[a].name);
        }
    }

    char world[STUDY_WORLD_TEXT_MAX];
    if (study_world_text(s, world, sizeof world, e)) return -1;
    /* What the segments train on depends on the world generator (its seed and
     * version, study/prepare.h) and on the tokenizer's vocabulary. */
    snprintf(p->world, sizeof p->world, "world=%s", world);
    Builder b = {.p = p};
    p->n_inits = s->n_seeds;
    for (int si = 0; si < s->n_seeds; si++) {
        PlanInit *in = &p->inits[si];
        in->seed = s->seeds[si];
        snprintf(in->text, sizeof in->text, "plateau init v1\nseed %" PRIu64 "\npreset %s\ntokenizer %s\n", in->seed,
                 s->preset, p->world);
        id_of(in->id, in->text);
    }

    for (int si = 0; si < s->n_seeds; si++) {
        b.seed_index = si;
        int all[STUDY_MAX_ARMS], pre_end[STUDY_MAX_ARMS], mid_end[STUDY_MAX_ARMS];
        for (int a = 0; a < s->n_arms; a++) {
            all[a] = a;
            b.n_cuts[a] = plan_merge_steps(s, &s->arms[a], b.cuts[a]);
        }
        build_stage(&b, STAGE_PRETRAIN, all, s->n_arms, -1, 0, study_pretrain_steps(s), pre, pre_end);
        for (int a = 0; a < s->n_arms; a++)
            if (s->arms[a].wsm) {
                pre_end[a] = add_merge_segment(&b, a, pre_end[a], &pre[a]);
                p->segments[pre_end[a]].arms |= 1u << a;
            }

        if (study_is_three_stage(s)) {
            /* Mid-training groups: arms that ended pre-training in the same segment. */
            int done[STUDY_MAX_ARMS] = {0};
            for (int a = 0; a < s->n_arms; a++) {
                if (done[a]) continue;
                int grp[STUDY_MAX_ARMS], n = 0;
                for (int c = a; c < s->n_arms; c++)
                    if (!done[c] && pre_end[c] == pre_end[a]) { grp[n++] = c; done[c] = 1; }
                build_stage(&b, STAGE_MID, grp, n, pre_end[a], 0, study_mid_steps(s), mid, mid_end);
            }
        }
        for (int a = 0; a < s->n_arms; a++) {
            ArmRun *r = &p->runs[a][si];
            r->pretrain_end = pre_end[a];
            r->mid_end = study_is_three_stage(s) ? mid_end[a] : -1;
            r->base = study_is_three_stage(s) ? mid_end[a] : pre_end[a];
            for (int k = 0; k < s->n_sft_lrs; k++) {
                r->sft[k] = add_sft_segment(&b, r->base, s->sft_lrs[k]);
                p->segments[r->sft[k]].arms |= 1u << a;
            }
        }
    }

    /* Saving: what every (arm, seed) alone would run vs the DAG. */
    PlanSaving *sv = &p->saving;
    int64_t runs = (int64_t)s->n_arms * s->n_seeds;
    sv->separate_steps[STAGE_PRETRAIN] = runs * study_pretrain_steps(s);
    sv->separate_steps[STAGE_MID] = runs * study_mid_steps(s);
    sv->separate_steps[STAGE_SFT] = runs * s->n_sft_lrs * (p->sft_steps > 0 ? p->sft_steps : 0);
    for (int i = 0; i < p->n_segments; i++) {
        const PlanSegment *seg = &p->segments[i];
        sv->segments[seg->stage]++;
        if (seg->end_step > 0) sv->planned_steps[seg->stage] += seg->end_step - seg->start_step;
        assert(seg->parent < i);   /* topological order */
    }
    return 0;
}

void plan_free(Plan *p)
{
    free(p->segments);
    p->segments = NULL;
    p->n_segments = 0;
}

int plan_runnable(const Plan *p, const int *done, int *out, int max)
{
    int n = 0;
    for (int i = 0; i < p->n_segments; i++) {
        int parent = p->segments[i].parent;
        if (done[i] || (parent >= 0 && !done[parent])) continue;
        if (n < max) out[n] = i;
        n++;
    }
    return n;
}

int plan_ends_stage(const Plan *p, int i)
{
    if (p->segments[i].stage == STAGE_SFT) return 1;
    for (int a = 0; a < p->spec.n_arms; a++)
        for (int s = 0; s < p->spec.n_seeds; s++)
            if (p->runs[a][s].pretrain_end == i || p->runs[a][s].mid_end == i) return 1;
    return 0;
}

int plan_find(const Plan *p, const char *id)
{
    for (int i = 0; i < p->n_segments; i++)
        if (strcmp(p->segments[i].id, id) == 0) return i;
    return -1;
}

void plan_arm_names(const Plan *p, uint32_t arms, char *out, size_t out_size)
{
    size_t len = 0;
    out[0] = 0;
    for (int a = 0; a < p->spec.n_arms; a++) {
        if (!(arms & (1u << a))) continue;
        int w = snprintf(out + len, out_size - len, "%s%s", len ? " " : "", p->spec.arms[a].name);
        if (w < 0 || (size_t)w >= out_size - len) break;
        len += (size_t)w;
    }
}

int plan_probe_steps(const Plan *p, const PlanSegment *seg, int64_t *out, int max)
{
    int n = 0;
#define PUSH(x) do { if (n < max) out[n] = (x); n++; } while (0)
    if (seg->stage == STAGE_PRETRAIN) {
        int64_t T = study_pretrain_steps(&p->spec), K = p->spec.probe_every;
        if (K > 0)
            for (int64_t q = (seg->start_step / K + 1) * K; q <= seg->end_step && q < T; q += K) PUSH(q);
        if (seg->end_step == T) PUSH(T);
    } else if (seg->stage == STAGE_MID) {
        if (seg->end_step == study_mid_steps(&p->spec)) PUSH(seg->end_step);
    } else {
        PUSH(seg->end_step);   /* -1: at the end, once the SFT length is known */
    }
#undef PUSH
    return n;
}

/* ---- printing -------------------------------------------------------------- */

/* Token counts as a study file would write them: exact K/M/G suffixes only. */
static void print_tokens(FILE *fp, int64_t n)
{
    if (n >= 1000000000LL && n % 1000000000LL == 0) fprintf(fp, "%" PRId64 "G", n / (int64_t)1000000000);
    else if (n >= 1000000LL && n % 1000000LL == 0) fprintf(fp, "%" PRId64 "M", n / (int64_t)1000000);
    else if (n >= 1000LL && n % 1000LL == 0) fprintf(fp, "%" PRId64 "K", n / (int64_t)1000);
    else fprintf(fp, "%" PRId64, n);
}

static const char *steps_word(int64_t n) { return n == 1 ? "step" : "steps"; }

void plan_saving_text(const char *what, int64_t separate, int64_t planned, char *out, size_t size)
{
    int64_t saved = separate - planned;
    snprintf(out, size, "%s: %" PRId64 " %s planned, %" PRId64 " if every arm ran alone; sharing saves %" PRId64
             " %s (%.1f%%)", what, planned, steps_word(planned), separate, saved, steps_word(saved),
             separate > 0 ? 100.0 * (double)saved / (double)separate : 0.0);
}

static void print_saving_line(FILE *fp, const char *what, int64_t separate, int64_t planned)
{
    char text[256];
    plan_saving_text(what, separate, planned, text, sizeof text);
    fprintf(fp, "  %s\n", text);
}

void plan_print(const Plan *p, FILE *fp)
{
    const StudySpec *s = &p->spec;
    fprintf(fp, "study %s (%s): %d arm%s x %d seed%s x %d SFT learning rate%s, %s, preset %s, %s\n", s->name,
            s->path, s->n_arms, s->n_arms == 1 ? "" : "s", s->n_seeds, s->n_seeds == 1 ? "" : "s", s->n_sft_lrs,
            s->n_sft_lrs == 1 ? "" : "s", study_is_three_stage(s) ? "three-stage" : "two-stage", s->preset,
            p->world);
    fprintf(fp, "  pre-training %" PRId64 " %s (", study_pretrain_steps(s), steps_word(study_pretrain_steps(s)));
    print_tokens(fp, s->pretrain_tokens);
    fprintf(fp, " tokens, ");
    print_tokens(fp, s->batch_tokens);
    fprintf(fp, " a step), warmup %" PRId64 ", peak LR %g\n", s->warmup_steps, s->peak_lr);
    if (study_is_three_stage(s)) {
        fprintf(fp, "  mid-training %" PRId64 " %s (", study_mid_steps(s), steps_word(study_mid_steps(s)));
        print_tokens(fp, s->mid_tokens);
        fprintf(fp, " tokens)\n");
    }
    fprintf(fp, "  SFT ");
    if (p->sft_steps > 0) fprintf(fp, "%" PRId64 " %s", p->sft_steps, steps_word(p->sft_steps));
    else fprintf(fp, "%g epoch%s (steps from the data)", s->sft_epochs, s->sft_epochs == 1 ? "" : "s");
    fprintf(fp, ", warmup %" PRId64 ", LRs", s->sft_warmup_steps);
    for (int k = 0; k < s->n_sft_lrs; k++) fprintf(fp, "%s%g", k ? ", " : " ", s->sft_lrs[k]);
    fprintf(fp, "\n\ninits:\n");
    for (int i = 0; i < p->n_inits; i++)
        fprintf(fp, "  %s  init(seed %" PRIu64 ", %s)\n", p->inits[i].id, p->inits[i].seed, s->preset);

    fprintf(fp, "\nsegments (topological order; [start, end) in each stage's steps):\n");
    for (int i = 0; i < p->n_segments; i++) {
        const PlanSegment *seg = &p->segments[i];
        char parent[48], range[64], names[1024];
        if (seg->parent >= 0) snprintf(parent, sizeof parent, "#%d", seg->parent);
        else snprintf(parent, sizeof parent, "init(seed %" PRIu64 ")", seg->seed);
        if (seg->n_merge > 0)
            snprintf(range, sizeof range, "of %d checkpoints at step %" PRId64, seg->n_merge, seg->end_step);
        else if (seg->end_step >= 0)
            snprintf(range, sizeof range, "[%" PRId64 ", %" PRId64 ") %" PRId64 " %s", seg->start_step, seg->end_step,
                     seg->end_step - seg->start_step, steps_word(seg->end_step - seg->start_step));
        else snprintf(range, sizeof range, "[0, end of data)");
        plan_arm_names(p, seg->arms, names, sizeof names);
        fprintf(fp, "  #%-3d %s <- %-14s %-8s %-28s arms %s\n", i, seg->id, parent,
                seg->n_merge > 0 ? "merge" : stage_name(seg->stage), range, names);
        fprintf(fp, "       %s", seg->schedule_text);
        for (int j = 0; j < seg->n_merge; j++)
            fprintf(fp, "%s#%d x %.4g", j ? ", " : ": ", seg->merge_inputs[j], seg->merge.c[j]);
        fprintf(fp, "\n");
    }

    fprintf(fp, "\narms (seed %" PRIu64 "; other seeds have the same shape):\n", s->seeds[0]);
    for (int a = 0; a < s->n_arms; a++) {
        const ArmRun *r = &p->runs[a][0];
        int path[4096], n = 0;
        for (int i = r->base; i >= 0 && n < 4096; i = p->segments[i].parent) path[n++] = i;
        fprintf(fp, "  %-12s", s->arms[a].name);
        for (int k = n - 1; k >= 0; k--) fprintf(fp, " #%d", path[k]);
        fprintf(fp, " -> SFT");
        for (int k = 0; k < s->n_sft_lrs; k++) fprintf(fp, " #%d", r->sft[k]);
        fprintf(fp, "\n");
    }

    const PlanSaving *sv = &p->saving;
    fprintf(fp, "\nsharing (%d segments: %d pre-training, %d mid-training, %d SFT; steps of every seed):\n",
            p->n_segments,
            sv->segments[STAGE_PRETRAIN], sv->segments[STAGE_MID], sv->segments[STAGE_SFT]);
    print_saving_line(fp, "pre-training", sv->separate_steps[STAGE_PRETRAIN], sv->planned_steps[STAGE_PRETRAIN]);
    if (study_is_three_stage(s))
        print_saving_line(fp, "mid-training", sv->separate_steps[STAGE_MID], sv->planned_steps[STAGE_MID]);
    if (p->sft_steps > 0) print_saving_line(fp, "SFT", sv->separate_steps[STAGE_SFT], sv->planned_steps[STAGE_SFT]);
    else fprintf(fp, "  SFT: %d run%s planned, %d if every arm ran alone\n", sv->segments[STAGE_SFT],
                 sv->segments[STAGE_SFT] == 1 ? "" : "s", s->n_arms * s->n_seeds * s->n_sft_lrs);
    int64_t sep = 0, run = 0;
    for (int st = STAGE_PRETRAIN; st <= STAGE_SFT; st++) {
        sep += sv->separate_steps[st];
        run += sv->planned_steps[st];
    }
    if (p->sft_steps > 0 || study_is_three_stage(s))   /* else it repeats the pre-training line */
        print_saving_line(fp, p->sft_steps > 0 ? "all stages" : "pre+mid", sep, run);
}
