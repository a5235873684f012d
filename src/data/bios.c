#include "data/bios.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/rng.h"
#include "data/bios_pools.h"
#include "data/textdocs.h"

_Static_assert(BIOS_POOL_ATTRIBUTES == BIOS_N_ATTRIBUTES, "templates per attribute");
_Static_assert(BIOS_MAX_TEMPLATES == 32, "BiosStats.template_uses width");

/* One stream per product, so e.g. changing how SFT questions are drawn never
 * changes pretrain.txt. */
enum {
    STREAM_PEOPLE = 0x62696f7301,   /* "bios" + n */
    STREAM_SPLIT,
    STREAM_PRETRAIN,
    STREAM_MID,
    STREAM_SFT,
    STREAM_EVAL_TEST,
    STREAM_EVAL_TRAIN,
    STREAM_MC_TEST,
    STREAM_MC_TRAIN,
};

static const char *const ATTRIBUTE_NAMES[BIOS_N_ATTRIBUTES] = {
    "birth_date", "birth_city", "university", "major", "employer", "work_city",
};

const char *bios_attribute_name(BiosAttribute a) { return ATTRIBUTE_NAMES[a]; }

const char *bios_split_name(BiosSplit s)
{
    return s == BIOS_SPLIT_TEST ? "test" : s == BIOS_SPLIT_MID ? "mid" : "train";
}

int bios_template_count(BiosAttribute a)
{
    int n = 0;
    while (n < BIOS_MAX_TEMPLATES && BIOS_SENTENCES[a][n]) n++;
    return n;
}

const char *bios_template(BiosAttribute a, int k) { return BIOS_SENTENCES[a][k]; }

int bios_question_count(BiosAttribute a)
{
    int n = 0;
    while (n < BIOS_MAX_QUESTIONS && BIOS_QUESTIONS[a][n]) n++;
    return n;
}

void bios_default_options(BiosOptions *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->people = 2000;
    o->bios_per_person = 5;
    o->permute_sentences = 1;
    o->full_name_every_sentence = 1;
    o->vary_templates = 1;
    o->mid_people = -1;
    o->mid_bios_of_train = 1;
    o->mid_questions_per_attribute = 2;
    o->eval_train_people = -1;
}

/* ---- people ---------------------------------------------------------- */

static int days_in_month(int month, int year)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 && leap);
}

/* A name as one integer, for the uniqueness check. */
static uint32_t name_key(const BiosPerson *p)
{
    uint32_t first = p->first + (p->female ? 0 : (uint32_t)BIOS_N_FEMALE_NAMES);
    uint32_t middle = p->middle == BIOS_NO_MIDDLE ? 0 : p->middle + 1u;
    return (first * (uint32_t)(BIOS_N_MIDDLE_NAMES + 1) + middle) * (uint32_t)BIOS_N_LAST_NAMES + p->last;
}

static uint16_t draw_pool(Rng *r, int n) { return (uint16_t)rng_below(r, (uint64_t)n); }

int bios_generate(BiosWorld *w, const BiosOptions *o, Err *e)
{
    memset(w, 0, sizeof *w);
    BiosOptions opt = *o;
    if (opt.people < 4 || opt.people > 1000000)
        return err_set(e, "bios: people = %d, expected 4 .. 1000000", opt.people);
    if (opt.bios_per_person < 1 || opt.bios_per_person > 1000)
        return err_set(e, "bios: bios_per_person = %d, expected 1 .. 1000", opt.bios_per_person);
    int n_test = opt.people / 2;
    if (opt.mid_people < 0) opt.mid_people = opt.people / 20;
    if (opt.mid_people > opt.people - n_test - 1)
        return err_set(e, "bios: mid_people = %d leaves no P_train among %d people (P_test takes %d)",
                       opt.mid_people, opt.people, n_test);
    int n_train = opt.people - n_test - opt.mid_people;
    if (opt.eval_train_people < 0) opt.eval_train_people = n_train < n_test ? n_train : n_test;
    if (opt.eval_train_people > n_train)
        return err_set(e, "bios: eval_train_people = %d but P_train has only %d people",
                       opt.eval_train_people, n_train);
    if (opt.mid_questions_per_attribute < 0 || opt.mid_questions_per_attribute > BIOS_MAX_QUESTIONS)
        return err_set(e, "bios: mid_questions_per_attribute = %d, expected 0 .. %d",
                       opt.mid_questions_per_attribute, BIOS_MAX_QUESTIONS);
    for (int a = 0; a < BIOS_N_ATTRIBUTES; a++)
        if (opt.mid_questions_per_attribute > bios_question_count((BiosAttribute)a))
            return err_set(e, "bios: mid_questions_per_attribute = %d exceeds the %d phrasings of %s",
                           opt.mid_questions_per_attribute, bios_question_count((BiosAttribute)a),
                           ATTRIBUTE_NAMES[a]);

    int n = opt.people;
    BiosPerson *people = xcalloc((unsigned long)n, sizeof *people);
    /* open-addressing set of name keys (membership only; never iterated) */
    size_t cap = 1;
    while (cap < 2 * (size_t)n) cap *= 2;
    uint32_t *set = xmalloc(cap * sizeof *set);
    memset(set, 0xff, cap * sizeof *set);

    Rng r = rng_stream(opt.seed, STREAM_PEOPLE);
    for (int i = 0; i < n; i++) {
        BiosPerson *p = &people[i];
        for (;;) {   /* redraw the name until unused: at most 1e6 of 2.4e6 names are taken */
            p->female = (uint8_t)rng_below(&r, 2);
            p->first = draw_pool(&r, p->female ? BIOS_N_FEMALE_NAMES : BIOS_N_MALE_NAMES);
            p->middle = rng_below(&r, 2) ? draw_pool(&r, BIOS_N_MIDDLE_NAMES) : BIOS_NO_MIDDLE;
            p->last = draw_pool(&r, BIOS_N_LAST_NAMES);
            uint32_t key = name_key(p);
            size_t h = (size_t)mix64(key) & (cap - 1);
            while (set[h] != UINT32_MAX && set[h] != key) h = (h + 1) & (cap - 1);
            if (set[h] == UINT32_MAX) { set[h] = key; break; }
        }
        p->birth_year = (uint16_t)(1950 + rng_below(&r, 56));
        p->birth_month = (uint8_t)(1 + rng_below(&r, 12));
        p->birth_day = (uint8_t)(1 + rng_below(&r, (uint64_t)days_in_month(p->birth_month, p->birth_year)));
        p->birth_city = draw_pool(&r, BIOS_N_CITIES);
        p->university = draw_pool(&r, BIOS_N_UNIVERSITIES);
        p->major = draw_pool(&r, BIOS_N_MAJORS);
        p->employer = draw_pool(&r, BIOS_N_COMPANIES);
    }
    free(set);

    uint32_t *perm = xmalloc((size_t)n * sizeof *perm);
    for (int i = 0; i < n; i++) perm[i] = (uint32_t)i;
    Rng rs = rng_stream(opt.seed, STREAM_SPLIT);
    rng_shuffle_u32(&rs, perm, (uint64_t)n);
    for (int i = 0; i < n; i++)
        people[perm[i]].split = i < n_test ? BIOS_SPLIT_TEST
                              : i < n_test + opt.mid_people ? BIOS_SPLIT_MID : BIOS_SPLIT_TRAIN;
    free(perm);

    w->opt = opt;
    w->people = people;
    w->n_people = n;
    w->n_test = n_test;
    w->n_mid = opt.mid_people;
    w->n_train = n_train;
    w->n_eval_train = opt.eval_train_people;
    return 0;
}

void bios_free(BiosWorld *w)
{
    free(w->people);
    memset(w, 0, sizeof *w);
}

/* ---- text ------------------------------------------------------------- */

void bios_full_name(const BiosWorld *w, int person, TextBuf *out)
{
    const BiosPerson *p = &w->people[person];
    textbuf_puts(out, p->female ? BIOS_FEMALE_NAMES[p->first] : BIOS_MALE_NAMES[p->first]);
    if (p->middle != BIOS_NO_MIDDLE) {
        textbuf_putc(out, ' ');
        textbuf_puts(out, BIOS_MIDDLE_NAMES[p->middle]);
    }
    textbuf_putc(out, ' ');
    textbuf_puts(out, BIOS_LAST_NAMES[p->last]);
}

static void date_text(int year, int month, int day, TextBuf *out)
{
    textbuf_puts(out, BIOS_MONTHS[month - 1]);
    textbuf_putc(out, ' ');
    textbuf_long(out, day);
    textbuf_puts(out, ", ");
    textbuf_long(out, year);
}

void bios_value(const BiosWorld *w, int person, BiosAttribute a, TextBuf *out)
{
    const BiosPerson *p = &w->people[person];
    switch (a) {
    case BIOS_BIRTH_DATE: date_text(p->birth_year, p->birth_month, p->birth_day, out); break;
    case BIOS_BIRTH_CITY: textbuf_puts(out, BIOS_CITIES[p->birth_city]); break;
    case BIOS_UNIVERSITY: textbuf_puts(out, BIOS_UNIVERSITIES[p->university]); break;
    case BIOS_MAJOR: textbuf_puts(out, BIOS_MAJORS[p->major]); break;
    case BIOS_EMPLOYER: textbuf_puts(out, BIOS_COMPANIES[p->employer].name); break;
    case BIOS_WORK_CITY: textbuf_puts(out, BIOS_CITIES[BIOS_COMPANIES[p->employer].city]); break;
    default: assert(0);
    }
}

void bios_render(const BiosWorld *w, int person, BiosAttribute a, const char *tmpl,
                 int pronoun, TextBuf *out)
{
    const BiosPerson *p = &w->people[person];
    const char *s = tmpl;
    while (*s) {
        if (*s != '{') {
            const char *brace = strchr(s, '{');
            size_t len = brace ? (size_t)(brace - s) : strlen(s);
            textbuf_append(out, s, len);
            s += len;
            continue;
        }
        if (strncmp(s, "{name}", 6) == 0) {
            s += 6;
            if (pronoun && s == tmpl + 6) {
                if (strncmp(s, "'s", 2) == 0) {
                    textbuf_puts(out, p->female ? "Her" : "His");
                    s += 2;
                } else {
                    textbuf_puts(out, p->female ? "She" : "He");
                }
            } else {
                bios_full_name(w, person, out);
            }
        } else if (strncmp(s, "{value}", 7) == 0) {
            s += 7;
            bios_value(w, person, a, out);
        } else if (strncmp(s, "{employer}", 10) == 0) {
            s += 10;
            bios_value(w, person, BIOS_EMPLOYER, out);
        } else {
            assert(!"unknown placeholder in a bios template");
            textbuf_putc(out, *s++);
        }
    }
}

/* One biography: six sentences, one per attribute, on one line. */
static void render_biography(const BiosWorld *w, int person, Rng *r, BiosStats *stats, TextBuf *out)
{
    uint32_t order[BIOS_N_ATTRIBUTES];
    for (int i = 0; i < BIOS_N_ATTRIBUTES; i++) order[i] = (uint32_t)i;
    if (w->opt.permute_sentences) rng_shuffle_u32(r, order, BIOS_N_ATTRIBUTES);
    for (int i = 0; i < BIOS_N_ATTRIBUTES; i++) {
        BiosAttribute a = (BiosAttribute)order[i];
        int k = w->opt.vary_templates ? (int)rng_below(r, (uint64_t)bios_template_count(a)) : 0;
        if (i) textbuf_putc(out, ' ');
        bios_render(w, person, a, BIOS_SENTENCES[a][k], !w->opt.full_name_every_sentence && i > 0, out);
        if (stats) stats->template_uses[a][k]++;
    }
}

static void render_qa_document(const BiosWorld *w, int person, BiosAttribute a, int q, TextBuf *out)
{
    textbuf_puts(out, "Q: ");
    bios_render(w, person, a, BIOS_QUESTIONS[a][q], 0, out);
    textbuf_puts(out, " A: ");
    bios_value(w, person, a, out);
}

/* A document list: (person, kind) pairs shuffled before rendering, so the
 * order in the file carries no information about who or what comes next.
 * kind < 0: a biography; kind = a * BIOS_MAX_QUESTIONS + q: a Q/A document. */
typedef struct {
    int32_t person;
    int32_t kind;
} DocRef;

static void shuffle_docs(Rng *r, DocRef *d, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, i);
        DocRef t = d[i - 1];
        d[i - 1] = d[j];
        d[j] = t;
    }
}

static long render_documents(const BiosWorld *w, DocRef *docs, size_t n, Rng *r,
                             BiosStats *stats, TextBuf *out)
{
    shuffle_docs(r, docs, n);
    for (size_t i = 0; i < n; i++) {
        if (docs[i].kind < 0)
            render_biography(w, docs[i].person, r, stats, out);
        else
            render_qa_document(w, docs[i].person, (BiosAttribute)(docs[i].kind / BIOS_MAX_QUESTIONS),
                               docs[i].kind % BIOS_MAX_QUESTIONS, out);
        textbuf_puts(out, "\n" TEXTDOCS_SEPARATOR "\n");
    }
    return (long)n;
}

static long pretrain_text(const BiosWorld *w, BiosStats *stats, TextBuf *out)
{
    int K = w->opt.bios_per_person;
    size_t n = (size_t)w->n_people * (size_t)K;
    DocRef *docs = xmalloc(n * sizeof *docs);
    for (int p = 0; p < w->n_people; p++)
        for (int k = 0; k < K; k++) docs[(size_t)p * K + k] = (DocRef){p, -1};
    Rng r = rng_stream(w->opt.seed, STREAM_PRETRAIN);
    long count = render_documents(w, docs, n, &r, stats, out);
    free(docs);
    return count;
}

static long mid_text(const BiosWorld *w, BiosStats *stats, TextBuf *out)
{
    int K = w->opt.bios_per_person, Q = w->opt.mid_questions_per_attribute;
    Rng r = rng_stream(w->opt.seed, STREAM_MID);
    size_t cap = (size_t)w->n_people * (size_t)(K + BIOS_N_ATTRIBUTES * Q), n = 0;
    DocRef *docs = xmalloc(cap * sizeof *docs);
    for (int p = 0; p < w->n_people; p++) {
        int split = w->people[p].split;
        if (split == BIOS_SPLIT_TEST) continue;
        if (split == BIOS_SPLIT_MID || w->opt.mid_bios_of_train)
            for (int k = 0; k < K; k++) docs[n++] = (DocRef){p, -1};
        if (split != BIOS_SPLIT_MID) continue;
        for (int a = 0; a < BIOS_N_ATTRIBUTES; a++) {
            /* Q distinct phrasings: the first Q of a shuffled list */
            uint32_t phr[BIOS_MAX_QUESTIONS];
            int nq = bios_question_count((BiosAttribute)a);
            for (int q = 0; q < nq; q++) phr[q] = (uint32_t)q;
            rng_shuffle_u32(&r, phr, (uint64_t)nq);
            for (int q = 0; q < Q; q++) docs[n++] = (DocRef){p, a * BIOS_MAX_QUESTIONS + (int)phr[q]};
        }
    }
    long count = render_documents(w, docs, n, &r, stats, out);
    free(docs);
    return count;
}

/* {"messages":[{"role":"user","content":Q}(,{"role":"assistant","content":V})]
 *  (,"answer":V,"attribute":A,"person":NAME)} */
static void qa_record(const BiosWorld *w, int person, BiosAttribute a, Rng *r, int for_eval,
                      TextBuf *tmp, TextBuf *out)
{
    int q = (int)rng_below(r, (uint64_t)bios_question_count(a));
    textbuf_puts(out, "{\"messages\":[{\"role\":\"user\",\"content\":");
    textbuf_clear(tmp);
    bios_render(w, person, a, BIOS_QUESTIONS[a][q], 0, tmp);
    textbuf_json_string(out, tmp->data);
    textbuf_clear(tmp);
    bios_value(w, person, a, tmp);
    if (!for_eval) {
        textbuf_puts(out, "},{\"role\":\"assistant\",\"content\":");
        textbuf_json_string(out, tmp->data);
        textbuf_puts(out, "}]}\n");
        return;
    }
    textbuf_puts(out, "}],\"answer\":");
    textbuf_json_string(out, tmp->data);
    textbuf_puts(out, ",\"attribute\":");
    textbuf_json_string(out, ATTRIBUTE_NAMES[a]);
    textbuf_puts(out, ",\"person\":");
    textbuf_clear(tmp);
    bios_full_name(w, person, tmp);
    textbuf_json_string(out, tmp->data);
    textbuf_puts(out, "}\n");
}

/* SFT records for P_train, shuffled, then the first 90% to train and the rest
 * to valid. Returns the train count. */
static long sft_text(const BiosWorld *w, TextBuf *train, TextBuf *valid, long *n_valid)
{
    Rng r = rng_stream(w->opt.seed, STREAM_SFT);
    size_t n = (size_t)w->n_train * BIOS_N_ATTRIBUTES, m = 0;
    TextBuf *lines = xcalloc(n, sizeof *lines);
    TextBuf tmp = {0};
    for (int p = 0; p < w->n_people; p++) {
        if (w->people[p].split != BIOS_SPLIT_TRAIN) continue;
        for (int a = 0; a < BIOS_N_ATTRIBUTES; a++) qa_record(w, p, (BiosAttribute)a, &r, 0, &tmp, &lines[m++]);
    }
    assert(m == n);
    textbuf_free(&tmp);
    return world_split_records(lines, n, &r, train, valid, n_valid);
}

/* The people an eval file covers: all of P_test, or the first
 * n_eval_train members of P_train in person order. */
static int in_eval_set(const BiosWorld *w, int person, BiosSplit which, int *train_seen)
{
    int split = w->people[person].split;
    if (which == BIOS_SPLIT_TEST) return split == BIOS_SPLIT_TEST;
    if (split != BIOS_SPLIT_TRAIN || *train_seen >= w->n_eval_train) return 0;
    (*train_seen)++;
    return 1;
}

static long eval_qa_text(const BiosWorld *w, BiosSplit which, TextBuf *out)
{
    Rng r = rng_stream(w->opt.seed, which == BIOS_SPLIT_TEST ? STREAM_EVAL_TEST : STREAM_EVAL_TRAIN);
    TextBuf tmp = {0};
    long count = 0;
    int seen = 0;
    for (int p = 0; p < w->n_people; p++) {
        if (!in_eval_set(w, p, which, &seen)) continue;
        for (int a = 0; a < BIOS_N_ATTRIBUTES; a++, count++) qa_record(w, p, (BiosAttribute)a, &r, 1, &tmp, out);
    }
    textbuf_free(&tmp);
    return count;
}

/* A distractor value for attribute a, as text. */
static void random_value(Rng *r, BiosAttribute a, TextBuf *out)
{
    switch (a) {
    case BIOS_BIRTH_DATE: {
        int y = 1950 + (int)rng_below(r, 56), m = 1 + (int)rng_below(r, 12);
        date_text(y, m, 1 + (int)rng_below(r, (uint64_t)days_in_month(m, y)), out);
        break;
    }
    case BIOS_BIRTH_CITY:
    case BIOS_WORK_CITY: textbuf_puts(out, BIOS_CITIES[rng_below(r, (uint64_t)BIOS_N_CITIES)]); break;
    case BIOS_UNIVERSITY: textbuf_puts(out, BIOS_UNIVERSITIES[rng_below(r, (uint64_t)BIOS_N_UNIVERSITIES)]); break;
    case BIOS_MAJOR: textbuf_puts(out, BIOS_MAJORS[rng_below(r, (uint64_t)BIOS_N_MAJORS)]); break;
    case BIOS_EMPLOYER: textbuf_puts(out, BIOS_COMPANIES[rng_below(r, (uint64_t)BIOS_N_COMPANIES)].name); break;
    default: assert(0);
    }
}

#define MC_CHOICES 4

static long eval_mc_text(const BiosWorld *w, BiosSplit which, TextBuf *out)
{
    Rng r = rng_stream(w->opt.seed, which == BIOS_SPLIT_TEST ? STREAM_MC_TEST : STREAM_MC_TRAIN);
    TextBuf tmp = {0}, choice[MC_CHOICES] = {{0}};
    long count = 0;
    int seen = 0;
    for (int p = 0; p < w->n_people; p++) {
        if (!in_eval_set(w, p, which, &seen)) continue;
        for (int a = 0; a < BIOS_N_ATTRIBUTES; a++, count++) {
            int answer = (int)rng_below(&r, MC_CHOICES);
            for (int c = 0; c < MC_CHOICES; c++) {
                textbuf_clear(&choice[c]);
                textbuf_putc(&choice[c], ' ');
                if (c == answer) { bios_value(w, p, (BiosAttribute)a, &choice[c]); continue; }
                for (;;) {   /* redraw until distinct from the answer and earlier distractors */
                    choice[c].len = 1;
                    random_value(&r, (BiosAttribute)a, &choice[c]);
                    textbuf_clear(&tmp);
                    textbuf_putc(&tmp, ' ');
                    bios_value(w, p, (BiosAttribute)a, &tmp);
                    int clash = strcmp(tmp.data, choice[c].data) == 0;
                    for (int d = 0; d < c && !clash; d++) clash = strcmp(choice[d].data, choice[c].data) == 0;
                    if (!clash) break;
                }
            }
            textbuf_puts(out, "{\"context\":");
            textbuf_clear(&tmp);
            bios_render(w, p, (BiosAttribute)a, BIOS_CLOZE[a], 0, &tmp);
            textbuf_json_string(out, tmp.data);
            textbuf_puts(out, ",\"choices\":[");
            for (int c = 0; c < MC_CHOICES; c++) {
                if (c) textbuf_putc(out, ',');
                textbuf_json_string(out, choice[c].data);
            }
            textbuf_puts(out, "],\"answer\":");
            textbuf_long(out, answer);
            textbuf_puts(out, ",\"attribute\":");
            textbuf_json_string(out, ATTRIBUTE_NAMES[a]);
            textbuf_puts(out, ",\"person\":");
            textbuf_clear(&tmp);
            bios_full_name(w, p, &tmp);
            textbuf_json_string(out, tmp.data);
            textbuf_puts(out, "}\n");
        }
    }
    textbuf_free(&tmp);
    for (int c = 0; c < MC_CHOICES; c++) textbuf_free(&choice[c]);
    return count;
}

static long people_text(const BiosWorld *w, TextBuf *out)
{
    TextBuf tmp = {0};
    for (int p = 0; p < w->n_people; p++) {
        textbuf_puts(out, "{\"name\":");
        textbuf_clear(&tmp);
        bios_full_name(w, p, &tmp);
        textbuf_json_string(out, tmp.data);
        textbuf_puts(out, ",\"split\":");
        textbuf_json_string(out, bios_split_name((BiosSplit)w->people[p].split));
        for (int a = 0; a < BIOS_N_ATTRIBUTES; a++) {
            textbuf_puts(out, ",\"");
            textbuf_puts(out, ATTRIBUTE_NAMES[a]);
            textbuf_puts(out, "\":");
            textbuf_clear(&tmp);
            bios_value(w, p, (BiosAttribute)a, &tmp);
            textbuf_json_string(out, tmp.data);
        }
        textbuf_puts(out, "}\n");
    }
    textbuf_free(&tmp);
    return w->n_people;
}

static void world_json(const BiosWorld *w, const BiosStats *st, TextBuf *out)
{
    const BiosOptions *o = &w->opt;
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    textbuf_puts(out, "{\n  \"world\": \"bios\",\n  \"format_version\": 1,\n  \"seed\": ");
    textbuf_puts(out, seed);
    textbuf_puts(out, ",\n  \"people\": ");
    textbuf_long(out, w->n_people);
    textbuf_puts(out, ",\n  \"splits\": ");
    world_splits_json(out, w->n_test, w->n_train, w->n_mid, w->n_eval_train);
    textbuf_puts(out, ",\n  \"options\": {\"bios_per_person\": ");
    textbuf_long(out, o->bios_per_person);
    textbuf_puts(out, ", \"permute_sentences\": ");
    textbuf_puts(out, o->permute_sentences ? "true" : "false");
    textbuf_puts(out, ", \"full_name_every_sentence\": ");
    textbuf_puts(out, o->full_name_every_sentence ? "true" : "false");
    textbuf_puts(out, ", \"vary_templates\": ");
    textbuf_puts(out, o->vary_templates ? "true" : "false");
    textbuf_puts(out, ", \"mid_bios_of_train\": ");
    textbuf_puts(out, o->mid_bios_of_train ? "true" : "false");
    textbuf_puts(out, ", \"mid_questions_per_attribute\": ");
    textbuf_long(out, o->mid_questions_per_attribute);
    textbuf_puts(out, "},\n  \"attributes\": [");
    for (int a = 0; a < BIOS_N_ATTRIBUTES; a++) {
        if (a) textbuf_puts(out, ", ");
        textbuf_json_string(out, ATTRIBUTE_NAMES[a]);
    }
    textbuf_puts(out, "],\n  \"mc_choices\": 4,\n  \"files\": ");
    world_files_json(out, st->files, BIOS_N_FILES);
    textbuf_puts(out, "\n}\n");
}

static int emit(const char *dir, const char *name, TextBuf *b, long lines, BiosStats *st, int *nf, Err *e)
{
    return world_file_emit(dir, name, b, lines, st->files, nf, e);
}

int bios_write(const BiosWorld *w, const char *dir, BiosStats *stats, Err *e)
{
    BiosStats local;
    BiosStats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (make_dirs(dir, e)) return -1;
    int nf = 0;
    long n, n_valid;
    TextBuf a = {0}, b = {0};

    n = pretrain_text(w, st, &a);
    if (emit(dir, "pretrain.txt", &a, n, st, &nf, e)) goto fail;
    n = mid_text(w, st, &a);
    if (emit(dir, "mid.txt", &a, n, st, &nf, e)) goto fail;
    n = sft_text(w, &a, &b, &n_valid);
    if (emit(dir, "sft_train.jsonl", &a, n, st, &nf, e)) goto fail;
    if (emit(dir, "sft_valid.jsonl", &b, n_valid, st, &nf, e)) goto fail;
    n = eval_qa_text(w, BIOS_SPLIT_TEST, &a);
    if (emit(dir, "eval_qa_test.jsonl", &a, n, st, &nf, e)) goto fail;
    n = eval_qa_text(w, BIOS_SPLIT_TRAIN, &a);
    if (emit(dir, "eval_qa_train.jsonl", &a, n, st, &nf, e)) goto fail;
    n = eval_mc_text(w, BIOS_SPLIT_TEST, &a);
    if (emit(dir, "eval_mc_test.jsonl", &a, n, st, &nf, e)) goto fail;
    n = eval_mc_text(w, BIOS_SPLIT_TRAIN, &a);
    if (emit(dir, "eval_mc_train.jsonl", &a, n, st, &nf, e)) goto fail;
    n = people_text(w, &a);
    if (emit(dir, "people.jsonl", &a, n, st, &nf, e)) goto fail;
    world_json(w, st, &a);
    if (emit(dir, "world.json", &a, 1, st, &nf, e)) goto fail;
    return 0;
fail:
    textbuf_free(&a);
    textbuf_free(&b);
    return -1;
}
