#include "study/spec.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "core/file.h"
#include "model/config.h"
#include "train/schedule.h"

const char *world_kind_name(WorldKind w)
{
    switch (w) {
    case WORLD_BIOS: return "bios";
    case WORLD_WORDNET: return "wordnet";
    case WORLD_FILES: return "files";
    }
    return "?";
}

int64_t study_pretrain_steps(const StudySpec *s) { return s->pretrain_tokens / s->batch_tokens; }
int64_t study_mid_steps(const StudySpec *s) { return s->mid_tokens / s->batch_tokens; }

int arm_decays(const StudySpec *s, const ArmSpec *a)
{
    if (a->wsm) return 0;
    if (a->alpha_pre < 1.0) return 1;
    return study_is_three_stage(s) && a->alpha_mid < 1.0;
}

int arm_is_wso(const StudySpec *s, const ArmSpec *a) { return !a->wsm && !arm_decays(s, a); }

/* schedule = wsm while parsing; validate_arm turns it into wsm = 1 over SCHED_WSO. */
#define SCHED_WSM_PARSED ((ScheduleKind)-2)

/* ---- the keys ------------------------------------------------------------ */

/* How a value is read. Scalars are range-checked against the row's range;
 * the list and name types carry their own messages. */
typedef enum {
    V_INT,        /* a whole number, into an int or int64_t field */
    V_TOKENS,     /* a token count with an optional K, M, G or T, into int64_t */
    V_NUMBER,     /* a finite number, into a double */
    V_PATH,       /* a non-empty path, into char[STUDY_PATH_MAX] */
    V_TEXT,       /* a non-empty string that fits the char[] field */
    V_CHOICE,     /* one of the row's names, into an enum (the name's index) */
    V_PRESET,     /* a model preset name, into char[32] */
    V_SEEDS,      /* distinct integers in [0, STUDY_SEED_MAX], into seeds/n_seeds */
    V_RATES,      /* distinct learning rates in the range, into sft_lrs/n_sft_lrs */
    V_SCHEDULE,   /* wso, wsd, cosine or linear, into a ScheduleKind */
    V_SHAPE,      /* a WSD decay shape, into a DecayShape */
} ValueType;

typedef struct {
    double lo, hi;
    int    lo_open, hi_open;   /* 1: the bound itself is outside the range */
} Range;

/* One key of a section: its name, where its value goes, what it accepts and
 * the message that says so. A key set nowhere keeps `fallback` (scalars). */
typedef struct {
    const char        *name;
    ValueType          type;
    size_t             offset, size;   /* the field in StudySpec or ArmSpec */
    Range              range;
    const char        *expected;       /* "expected ..." when the value is refused */
    int                required;
    double             fallback;
    const char        *fallback_text;  /* V_TEXT */
    const char *const *choices;        /* V_CHOICE: names, NULL-terminated */
} KeySpec;

#define STUDY_FIELD(f) .offset = offsetof(StudySpec, f), .size = sizeof(((StudySpec *)0)->f)
#define ARM_FIELD(f) .offset = offsetof(ArmSpec, f), .size = sizeof(((ArmSpec *)0)->f)
#define AT_LEAST(x) {x, INFINITY, 0, 0}
#define BETWEEN(a, b) {a, b, 0, 0}
#define ABOVE_UP_TO(a, b) {a, b, 1, 0}
#define STRICTLY_BETWEEN(a, b) {a, b, 1, 1}

/* V_CHOICE stores the index of the name in an enum field. */
_Static_assert(sizeof(WorldKind) == sizeof(int), "V_CHOICE fields are int-sized enums");
static const char *const WORLD_NAMES[] = {"bios", "wordnet", "files", NULL};   /* WorldKind order */
_Static_assert(sizeof(Precision) == sizeof(int) && PRECISION_FP32 == 0 && PRECISION_BF16 == 1,
               "precision is a V_CHOICE over PRECISION_NAMES");
static const char *const PRECISION_NAMES[] = {"fp32", "bf16", NULL};                /* Precision order */

/* [study]; the order is the one "unknown key" messages list. */
static const KeySpec STUDY_KEYS[] = {
    {.name = "world", .type = V_CHOICE, STUDY_FIELD(world),
     .expected = "expected bios, wordnet or files", .required = 1, .choices = WORLD_NAMES},
    {.name = "people", .type = V_INT, STUDY_FIELD(people), .range = BETWEEN(2, 10000000),
     .expected = "expected a whole number of people in [2, 10000000]"},
    {.name = "pretrain_data", .type = V_PATH, STUDY_FIELD(pretrain_data), .expected = "expected a path"},
    {.name = "sft_data", .type = V_PATH, STUDY_FIELD(sft_data), .expected = "expected a path"},
    {.name = "preset", .type = V_PRESET, STUDY_FIELD(preset), .expected = "expected a model preset", .required = 1},
    {.name = "seeds", .type = V_SEEDS, STUDY_FIELD(seeds), .required = 1},
    {.name = "pretrain_tokens", .type = V_TOKENS, STUDY_FIELD(pretrain_tokens), .range = AT_LEAST(1), .required = 1},
    {.name = "mid_tokens", .type = V_TOKENS, STUDY_FIELD(mid_tokens), .range = AT_LEAST(0)},
    {.name = "sft_epochs", .type = V_NUMBER, STUDY_FIELD(sft_epochs), .range = ABOVE_UP_TO(0, 1000),
     .expected = "expected a number of epochs in (0, 1000]"},
    {.name = "sft_tokens", .type = V_TOKENS, STUDY_FIELD(sft_tokens), .range = AT_LEAST(1)},
    {.name = "batch_tokens", .type = V_TOKENS, STUDY_FIELD(batch_tokens), .range = AT_LEAST(1), .required = 1},
    {.name = "micro_batch", .type = V_INT, STUDY_FIELD(micro_batch), .range = BETWEEN(1, 65536),
     .expected = "expected a whole number of sequences in [1, 65536]", .required = 1},
    {.name = "seq_len", .type = V_INT, STUDY_FIELD(seq_len), .range = BETWEEN(2, 1 << 20),
     .expected = "expected a sequence length in [2, 1048576]", .required = 1},
    {.name = "peak_lr", .type = V_NUMBER, STUDY_FIELD(peak_lr), .range = ABOVE_UP_TO(0, 1),
     .expected = "expected a learning rate in (0, 1]", .required = 1},
    {.name = "warmup_steps", .type = V_INT, STUDY_FIELD(warmup_steps), .range = AT_LEAST(0),
     .expected = "expected a non-negative whole number of steps", .required = 1},
    {.name = "sft_lrs", .type = V_RATES, STUDY_FIELD(sft_lrs), .range = ABOVE_UP_TO(0, 1),
     .expected = "expected every learning rate in (0, 1]", .required = 1},
    {.name = "sft_warmup_steps", .type = V_INT, STUDY_FIELD(sft_warmup_steps), .range = AT_LEAST(0),
     .expected = "expected a non-negative whole number of steps", .required = 1},
    {.name = "sft_batch_tokens", .type = V_TOKENS, STUDY_FIELD(sft_batch_tokens), .range = AT_LEAST(1)},
    {.name = "probes", .type = V_INT, STUDY_FIELD(probes), .range = BETWEEN(1, 100000),
     .expected = "expected a number of probe vectors in [1, 100000]", .fallback = 50},
    {.name = "probe_every", .type = V_INT, STUDY_FIELD(probe_every), .range = AT_LEAST(0),
     .expected = "expected a non-negative number of steps (0: only at stage ends)"},
    {.name = "vocab", .type = V_INT, STUDY_FIELD(vocab), .range = BETWEEN(STUDY_VOCAB_MIN, 65536),
     .expected = "expected a vocabulary size in [300, 65536]"},
    {.name = "eval_items", .type = V_INT, STUDY_FIELD(eval_items), .range = AT_LEAST(0),
     .expected = "expected a non-negative number of items (0: all)"},
    {.name = "probe_sequences", .type = V_INT, STUDY_FIELD(probe_sequences), .range = BETWEEN(1, 1024),
     .expected = "expected a number of sequences in [1, 1024]", .fallback = 1},
    {.name = "precond_steps", .type = V_INT, STUDY_FIELD(precond_steps), .range = BETWEEN(0, 1000),
     .expected = "expected a number of Lanczos steps in [0, 1000] (0: no P^-1 H eigenvalue)", .fallback = 8},
    {.name = "text_field", .type = V_TEXT, STUDY_FIELD(text_field), .expected = "expected a JSON field name of 1-31 bytes",
     .fallback_text = "text"},
    {.name = "precision", .type = V_CHOICE, STUDY_FIELD(precision), .choices = PRECISION_NAMES,
     .expected = "expected fp32 or bf16"},   /* unset: precision_default() */
    {.name = "calibration", .type = V_PATH, STUDY_FIELD(calibration),
     .expected = "expected the path of a calibration.json that `plateau study calibrate` wrote"},
};
#define N_STUDY_KEYS (int)(sizeof STUDY_KEYS / sizeof STUDY_KEYS[0])

/* [arm NAME] */
static const KeySpec ARM_KEYS[] = {
    {.name = "schedule", .type = V_SCHEDULE, ARM_FIELD(schedule), .expected = "expected wso, wsd, cosine, linear or wsm"},
    {.name = "alpha_pre", .type = V_NUMBER, ARM_FIELD(alpha_pre), .range = BETWEEN(0, 1),
     .expected = "expected a number in [0, 1]"},
    {.name = "alpha_mid", .type = V_NUMBER, ARM_FIELD(alpha_mid), .range = BETWEEN(0, 1),
     .expected = "expected a number in [0, 1]"},
    {.name = "rho", .type = V_NUMBER, ARM_FIELD(rho), .range = STRICTLY_BETWEEN(0, 1),
     .expected = "expected a number in (0, 1)"},
    {.name = "decay", .type = V_SHAPE, ARM_FIELD(decay), .expected = "expected linear, 1-sqrt, cosine or exp"},
    {.name = "merge_last", .type = V_INT, ARM_FIELD(merge_last), .range = BETWEEN(2, LINEAGE_MAX_MERGED),
     .expected = "expected a number of checkpoints in [2, 64]"},
    {.name = "merge_every", .type = V_INT, ARM_FIELD(merge_every), .range = AT_LEAST(1),
     .expected = "expected a positive whole number of steps"},
    {.name = "merge_weights", .type = V_TEXT, ARM_FIELD(merge_weights),
     .expected = "expected uniform, cosine, 1-sqrt or comma-separated weights (at most 255 bytes)"},
};
#define N_ARM_KEYS (int)(sizeof ARM_KEYS / sizeof ARM_KEYS[0])

/* ---- parsing state ------------------------------------------------------ */

typedef struct {
    StudySpec  *s;
    const char *path;
    const char *text;      /* remaining input */
    int         line;      /* line being parsed (1-based) */
    int         failed;    /* first error recorded in e */
    Err        *e;
    int         study_seen;                  /* a [study] header was read, even with no key under it */
    int         study_line[N_STUDY_KEYS];          /* line each key was set on (0: not set) */
    int         arm_line[STUDY_MAX_ARMS][N_ARM_KEYS];
    char        cur_section[STUDY_NAME_MAX + 8];
    int         section_serial;              /* bumped at every [header] line */
    int         section_line;                /* line of the latest [header] */
    int         arm_serial[STUDY_MAX_ARMS];  /* header instance an arm came from */
} Parser;

/* inih reads line by line through this; counting here gives every handler
 * call its line number (Debian's inih is built without the lineno callback). */
static char *read_line(char *buf, int size, void *stream)
{
    Parser *p = stream;
    if (!*p->text) return NULL;
    const char *nl = strchr(p->text, '\n');
    size_t len = nl ? (size_t)(nl - p->text) + 1 : strlen(p->text);
    p->line++;
    if (len > (size_t)size - 1) {
        if (!p->failed) {
            p->failed = 1;
            err_set(p->e, "%s:%d: line is longer than %d characters", p->path, p->line, size - 2);
        }
        len = (size_t)size - 1;
        /* skip the rest of the over-long line so line numbers stay right */
        memcpy(buf, p->text, len);
        buf[len] = 0;
        p->text = nl ? nl + 1 : p->text + strlen(p->text);
        return buf;
    }
    memcpy(buf, p->text, len);
    buf[len] = 0;
    p->text += len;
    const char *c = buf;
    while (isspace((unsigned char)*c)) c++;
    if (*c == '[') {
        p->section_serial++;
        p->section_line = p->line;
        if (strncmp(c, "[study]", 7) == 0) p->study_seen = 1;   /* inih reports no key-less section */
    }
    return buf;
}

__attribute__((format(printf, 5, 6)))
static int fail(Parser *p, const char *section, const char *key, const char *value, const char *fmt, ...)
{
    if (p->failed) return 0;
    p->failed = 1;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    err_set(p->e, "%s:%d: [%s] %s = %s: %s", p->path, p->line, section, key, value, why);
    return 0;
}

static int parse_int64(const char *v, int64_t *out)
{
    errno = 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v) return -1;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return -1;
    *out = x;
    return 0;
}

/* Token counts: an integer with an optional K, M, G or T (powers of 1000). */
static int parse_tokens(const char *v, int64_t *out)
{
    errno = 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v) return -1;
    int64_t mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mul = 1000LL; end++; break;
    case 'M': mul = 1000000LL; end++; break;
    case 'G': case 'B': mul = 1000000000LL; end++; break;
    case 'T': mul = 1000000000000LL; end++; break;
    default: break;
    }
    while (isspace((unsigned char)*end)) end++;
    if (*end) return -1;
    if (x > INT64_MAX / mul || x < 0) return -1;
    *out = x * mul;
    return 0;
}

static int parse_double(const char *v, double *out)
{
    errno = 0;
    char *end;
    double x = strtod(v, &end);
    if (errno || end == v || !isfinite(x)) return -1;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return -1;
    *out = x;
    return 0;
}

/* Comma-separated list; returns the count or -1 (bad item) / -2 (too many). */
static int parse_double_list(const char *v, double *out, int max)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max) return -2;
        if (parse_double(tok, &out[n])) return -1;
        n++;
    }
    return n;
}

static int set_once(Parser *p, int *line_of_key, const char *section, const char *key, const char *value)
{
    if (*line_of_key) {
        char msg[64];
        snprintf(msg, sizeof msg, "already set at line %d", *line_of_key);
        return fail(p, section, key, value, "%s", msg);
    }
    *line_of_key = p->line;
    return 1;
}

static int find_key(const KeySpec *keys, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(keys[i].name, name) == 0) return i;
    return -1;
}

static void list_keys(char *out, size_t size, const KeySpec *keys, int n)
{
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%s", i ? ", " : "", keys[i].name);
    }
}

static int in_range(const Range *r, double x)
{
    return (r->lo_open ? x > r->lo : x >= r->lo) && (r->hi_open ? x < r->hi : x <= r->hi);
}

/* A scalar into its field; 0 with the row's message when refused. */
static int set_scalar(Parser *p, const KeySpec *k, void *field, const char *sec, const char *v)
{
    int64_t i64;
    double d;
    switch (k->type) {
    case V_INT:
        if (parse_int64(v, &i64) || !in_range(&k->range, (double)i64))
            return fail(p, sec, k->name, v, "%s", k->expected);
        if (k->size == sizeof(int)) *(int *)field = (int)i64;
        else *(int64_t *)field = i64;
        return 1;
    case V_TOKENS:
        if (parse_tokens(v, &i64))
            return fail(p, sec, k->name, v, "expected a token count (an integer, optionally with K, M, G or T)");
        if (!in_range(&k->range, (double)i64))
            return fail(p, sec, k->name, v, "expected at least %lld tokens", (long long)k->range.lo);
        *(int64_t *)field = i64;
        return 1;
    case V_NUMBER:
        if (parse_double(v, &d) || !in_range(&k->range, d)) return fail(p, sec, k->name, v, "%s", k->expected);
        *(double *)field = d;
        return 1;
    default:
        assert(0 && "not a scalar type");
        return 0;
    }
}

static int set_seeds(Parser *p, const KeySpec *k, StudySpec *s, const char *sec, const char *v)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    int n = 0;
    int64_t seed;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok)) tok++;
        if (n == STUDY_MAX_SEEDS) return fail(p, sec, k->name, v, "expected at most %d seeds", STUDY_MAX_SEEDS);
        if (parse_int64(tok, &seed) || seed < 0)   /* strtoll refuses beyond STUDY_SEED_MAX */
            return fail(p, sec, k->name, v, "expected a comma-separated list of integers in [0, %" PRId64 "]",
                        (int64_t)STUDY_SEED_MAX);
        for (int j = 0; j < n; j++)
            if (s->seeds[j] == (uint64_t)seed)
                return fail(p, sec, k->name, v, "seed %lld is listed twice", (long long)seed);
        s->seeds[n++] = (uint64_t)seed;
    }
    if (n == 0) return fail(p, sec, k->name, v, "expected at least one seed");
    s->n_seeds = n;
    return 1;
}

static int set_rates(Parser *p, const KeySpec *k, StudySpec *s, const char *sec, const char *v)
{
    int n = parse_double_list(v, s->sft_lrs, STUDY_MAX_SFT_LRS);
    if (n == -2) return fail(p, sec, k->name, v, "expected at most %d learning rates", STUDY_MAX_SFT_LRS);
    if (n <= 0) return fail(p, sec, k->name, v, "expected a comma-separated list of learning rates");
    for (int i = 0; i < n; i++) {
        if (!in_range(&k->range, s->sft_lrs[i])) return fail(p, sec, k->name, v, "%s", k->expected);
        for (int j = 0; j < i; j++)
            if (s->sft_lrs[j] == s->sft_lrs[i])
                return fail(p, sec, k->name, v, "learning rate %g is listed twice", s->sft_lrs[i]);
    }
    s->n_sft_lrs = n;
    return 1;
}

static int set_preset(Parser *p, const KeySpec *k, char *field, const char *sec, const char *v)
{
    Config c;
    Err ignored;
    if (config_preset(&c, v, &ignored)) {
        char names[256] = "";
        for (int i = 0; CONFIG_PRESET_NAMES[i]; i++) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", CONFIG_PRESET_NAMES[i]);
        }
        return fail(p, sec, k->name, v, "%s (%s)", k->expected, names);
    }
    snprintf(field, k->size, "%s", v);
    return 1;
}

/* A name-valued key into its enum field. */
static int set_name(Parser *p, const KeySpec *k, void *field, const char *sec, const char *v)
{
    switch (k->type) {
    case V_CHOICE:
        for (int i = 0; k->choices[i]; i++)
            if (strcmp(v, k->choices[i]) == 0) {
                *(int *)field = i;
                return 1;
            }
        return fail(p, sec, k->name, v, "%s", k->expected);
    case V_SCHEDULE: {   /* the kinds a study arm can name */
        ScheduleKind kind;
        if (strcmp(v, "wsm") == 0) {
            *(ScheduleKind *)field = SCHED_WSM_PARSED;
            return 1;
        }
        if (schedule_kind_from_name(v, &kind) ||
            (kind != SCHED_WSO && kind != SCHED_WSD && kind != SCHED_COSINE && kind != SCHED_LINEAR))
            return fail(p, sec, k->name, v, "%s", k->expected);
        *(ScheduleKind *)field = kind;
        return 1;
    }
    case V_SHAPE:
        if (schedule_shape_from_name(v, (DecayShape *)field)) return fail(p, sec, k->name, v, "%s", k->expected);
        return 1;
    default:
        assert(0 && "not a name type");
        return 0;
    }
}

/* Sets key `name` of a section whose keys are `keys` and whose fields start
 * at `base`; lines[] records where each key was set. Returns 1, or 0 after
 * recording an error. */
static int set_key(Parser *p, const KeySpec *keys, int n_keys, int *lines, void *base, const char *sec,
                   const char *name, const char *v)
{
    int i = find_key(keys, n_keys, name);
    if (i < 0) {
        char names[512];
        list_keys(names, sizeof names, keys, n_keys);
        return fail(p, sec, name, v, "unknown key (expected one of: %s)", names);
    }
    if (!set_once(p, &lines[i], sec, name, v)) return 0;
    const KeySpec *k = &keys[i];
    void *field = (char *)base + k->offset;
    switch (k->type) {
    case V_PATH:
        if (!*v) return fail(p, sec, name, v, "%s", k->expected);
        if (strlen(v) >= k->size) return fail(p, sec, name, v, "path is too long");
        snprintf(field, k->size, "%s", v);
        return 1;
    case V_TEXT:
        if (!*v || strlen(v) >= k->size) return fail(p, sec, name, v, "%s", k->expected);
        snprintf(field, k->size, "%s", v);
        return 1;
    case V_PRESET: return set_preset(p, k, field, sec, v);
    case V_SEEDS: return set_seeds(p, k, base, sec, v);
    case V_RATES: return set_rates(p, k, base, sec, v);
    case V_CHOICE:
    case V_SCHEDULE:
    case V_SHAPE: return set_name(p, k, field, sec, v);
    default: return set_scalar(p, k, field, sec, v);
    }
}

/* The line a [study] key was set on (0: not set). */
static int key_line(const Parser *p, const char *name)
{
    int i = find_key(STUDY_KEYS, N_STUDY_KEYS, name);
    assert(i >= 0);
    return p->study_line[i];
}

/* Missing required [study] keys are errors; missing optional scalars take
 * their fallback. */
static int apply_study_defaults(Parser *p)
{
    for (int i = 0; i < N_STUDY_KEYS; i++) {
        const KeySpec *k = &STUDY_KEYS[i];
        if (p->study_line[i]) continue;
        if (k->required) return err_set(p->e, "%s: [study] is missing %s", p->path, k->name);
        void *field = (char *)p->s + k->offset;
        if (k->type == V_INT && k->size == sizeof(int)) *(int *)field = (int)k->fallback;
        else if (k->type == V_INT || k->type == V_TOKENS) *(int64_t *)field = (int64_t)k->fallback;
        else if (k->type == V_NUMBER) *(double *)field = k->fallback;
        else if (k->type == V_TEXT) snprintf(field, k->size, "%s", k->fallback_text);
    }
    return 0;
}

/* inih calls this once per key = value, and (INI_CALL_HANDLER_ON_NEW_SECTION
 * is off) never for a bare section header, so empty sections are checked
 * after parsing via the recorded arm lines. */
static int on_value(void *user, const char *section, const char *name, const char *value)
{
    Parser *p = user;
    if (p->failed) return 1;   /* only the first error is reported */
    if (strcmp(section, "study") == 0) {
        set_key(p, STUDY_KEYS, N_STUDY_KEYS, p->study_line, p->s, "study", name, value);
        return 1;
    }
    if (strncmp(section, "arm ", 4) == 0) {
        const char *arm_name = section + 4;
        while (*arm_name == ' ') arm_name++;
        if (!*arm_name) return fail(p, section, name, value, "section [arm NAME] needs a name"), 1;
        for (const char *c = arm_name; *c; c++)
            if (!isalnum((unsigned char)*c) && !strchr("_-.(),", *c))
                return fail(p, section, name, value, "arm names may use letters, digits and _-.(), only"), 1;
        if (strlen(arm_name) >= STUDY_NAME_MAX) return fail(p, section, name, value, "arm name is too long"), 1;
        StudySpec *s = p->s;
        int idx = -1;
        for (int i = 0; i < s->n_arms; i++)
            if (strcmp(s->arms[i].name, arm_name) == 0) idx = i;
        if (idx < 0) {
            if (s->n_arms == STUDY_MAX_ARMS) return fail(p, section, name, value, "more than %d arms", STUDY_MAX_ARMS), 1;
            idx = s->n_arms++;
            ArmSpec *a = &s->arms[idx];
            snprintf(a->name, sizeof a->name, "%s", arm_name);
            a->schedule = (ScheduleKind)-1;
            a->alpha_pre = NAN;
            a->alpha_mid = NAN;
            a->rho = NAN;
            a->decay = DECAY_LINEAR;
            a->line = p->section_line;
            p->arm_serial[idx] = p->section_serial;
        } else if (p->arm_serial[idx] != p->section_serial) {
            return fail(p, section, name, value, "arm '%s' is defined twice (first at line %d)", arm_name, s->arms[idx].line), 1;
        }
        snprintf(p->cur_section, sizeof p->cur_section, "arm %s", arm_name);
        set_key(p, ARM_KEYS, N_ARM_KEYS, p->arm_line[idx], &s->arms[idx], p->cur_section, name, value);
        return 1;
    }
    fail(p, section, name, value, "unknown section [%s] (expected [study] or [arm NAME])", section);
    return 1;
}

/* The line key `name` of arm i was set on (0: not set). */
static int arm_key_line(const Parser *p, int i, const char *name)
{
    int k = find_key(ARM_KEYS, N_ARM_KEYS, name);
    assert(k >= 0);
    return p->arm_line[i][k];
}

/* Keys that only some worlds use, and the one SFT length. */
static int validate_world(Parser *p)
{
    StudySpec *s = p->s;
    const char *f = p->path;
    Err *e = p->e;
    if (s->world == WORLD_BIOS && !key_line(p, "people"))
        return err_set(e, "%s: [study] world = bios needs people (how many synthetic people)", f);
    if (s->world != WORLD_BIOS && key_line(p, "people"))
        return err_set(e, "%s:%d: [study] people: only used by world = bios", f, key_line(p, "people"));
    if (s->world == WORLD_FILES) {
        if (!key_line(p, "pretrain_data"))
            return err_set(e, "%s: [study] world = files needs pretrain_data (.txt, .jsonl, .jsonl.gz or .jsonl.zst)", f);
        if (!key_line(p, "sft_data"))
            return err_set(e, "%s: [study] world = files needs sft_data (a {\"messages\": [...]} JSONL file)", f);
    } else {
        if (key_line(p, "pretrain_data"))
            return err_set(e, "%s:%d: [study] pretrain_data: only used by world = files", f,
                           key_line(p, "pretrain_data"));
        if (key_line(p, "sft_data"))
            return err_set(e, "%s:%d: [study] sft_data: only used by world = files", f, key_line(p, "sft_data"));
        if (key_line(p, "text_field"))
            return err_set(e, "%s:%d: [study] text_field: only used by world = files", f, key_line(p, "text_field"));
    }
    if (!!key_line(p, "sft_epochs") == !!key_line(p, "sft_tokens"))
        return err_set(e, "%s: [study] needs exactly one of sft_epochs and sft_tokens", f);
    if (!key_line(p, "precision")) p->s->precision = precision_default();   /* bf16 where the CPU has it */
    return 0;
}

/* Token counts in whole batches, and a warmup shorter than pre-training. */
static int validate_sizes(Parser *p)
{
    StudySpec *s = p->s;
    const char *f = p->path;
    Err *e = p->e;
    if (!key_line(p, "sft_batch_tokens")) s->sft_batch_tokens = s->batch_tokens;
    int64_t seq_tokens = (int64_t)s->micro_batch * s->seq_len;
    if (s->batch_tokens % seq_tokens)
        return err_set(e, "%s:%d: [study] batch_tokens = %lld: expected a multiple of micro_batch * seq_len = %lld",
                       f, key_line(p, "batch_tokens"), (long long)s->batch_tokens, (long long)seq_tokens);
    if (s->sft_batch_tokens % s->seq_len)
        return err_set(e, "%s:%d: [study] sft_batch_tokens = %lld: expected a multiple of seq_len = %d",
                       f, key_line(p, "sft_batch_tokens"), (long long)s->sft_batch_tokens, s->seq_len);
    if (s->pretrain_tokens % s->batch_tokens)
        return err_set(e, "%s:%d: [study] pretrain_tokens = %lld: expected a multiple of batch_tokens = %lld (whole steps)",
                       f, key_line(p, "pretrain_tokens"), (long long)s->pretrain_tokens, (long long)s->batch_tokens);
    if (s->mid_tokens % s->batch_tokens)
        return err_set(e, "%s:%d: [study] mid_tokens = %lld: expected a multiple of batch_tokens = %lld (whole steps)",
                       f, key_line(p, "mid_tokens"), (long long)s->mid_tokens, (long long)s->batch_tokens);
    if (s->sft_tokens && s->sft_tokens < s->sft_batch_tokens)
        return err_set(e, "%s:%d: [study] sft_tokens = %lld: expected at least one SFT batch (%lld tokens)",
                       f, key_line(p, "sft_tokens"), (long long)s->sft_tokens, (long long)s->sft_batch_tokens);
    int64_t steps = study_pretrain_steps(s);
    if (s->warmup_steps >= steps)
        return err_set(e, "%s:%d: [study] warmup_steps = %lld: expected fewer than the %lld pre-training steps",
                       f, key_line(p, "warmup_steps"), (long long)s->warmup_steps, (long long)steps);
    return 0;
}

/* The merge keys: only on a wsm arm, required there, and a merge window
 * inside pre-training. A wsm arm becomes wsm = 1 over the WSO schedule. */
static int validate_wsm(Parser *p, int i)
{
    StudySpec *s = p->s;
    ArmSpec *a = &s->arms[i];
    const char *f = p->path;
    Err *e = p->e;
    static const char *const KEYS[] = {"merge_last", "merge_every", "merge_weights"};
    a->wsm = a->schedule == SCHED_WSM_PARSED;
    if (!a->wsm) {
        for (int k = 0; k < 3; k++)
            if (arm_key_line(p, i, KEYS[k]))
                return err_set(e, "%s:%d: [arm %s] %s: only used by schedule = wsm", f, arm_key_line(p, i, KEYS[k]),
                               a->name, KEYS[k]);
        return 0;
    }
    a->schedule = SCHED_WSO;
    for (int k = 0; k < 2; k++)
        if (!arm_key_line(p, i, KEYS[k]))
            return err_set(e, "%s:%d: [arm %s] schedule = wsm is missing %s (%s)", f, a->line, a->name, KEYS[k],
                           k == 0 ? "how many checkpoints to merge, >= 2" : "pre-training steps between them, >= 1");
    if (study_is_three_stage(s))
        return err_set(e, "%s:%d: [arm %s] schedule = wsm: only in two-stage studies (mid_tokens = 0)", f, a->line,
                       a->name);
    int64_t steps = study_pretrain_steps(s);
    /* compared by division: merge_last x merge_every may not fit in 64 bits */
    if (a->merge_every > steps / a->merge_last)
        return err_set(e, "%s:%d: [arm %s] merge_every = %lld: merge_last x merge_every = %d x %lld exceeds the %lld "
                          "pre-training steps (the oldest merged checkpoint must be after step 0)",
                       f, arm_key_line(p, i, "merge_every"), a->name, (long long)a->merge_every, a->merge_last,
                       (long long)a->merge_every, (long long)steps);
    int wline = arm_key_line(p, i, "merge_weights");
    if (!wline) snprintf(a->merge_weights, sizeof a->merge_weights, "uniform");
    Err why;
    if (merge_weights_parse(a->merge_weights, a->merge_last, &a->merge, &why))
        return err_set(e, "%s:%d: [arm %s] merge_weights = %s: %s", f, wline ? wline : a->line, a->name,
                       a->merge_weights, why.msg);
    return 0;
}

/* Arm i's keys against its schedule and the study's stages. */
static int validate_arm(Parser *p, int i)
{
    StudySpec *s = p->s;
    ArmSpec *a = &s->arms[i];
    const char *f = p->path;
    Err *e = p->e;
    int alpha_pre = arm_key_line(p, i, "alpha_pre"), alpha_mid = arm_key_line(p, i, "alpha_mid");
    int rho = arm_key_line(p, i, "rho"), three = study_is_three_stage(s);
    if (!arm_key_line(p, i, "schedule"))
        return err_set(e, "%s:%d: [arm %s] is missing schedule (wso, wsd, cosine, linear or wsm)", f, a->line, a->name);
    if (validate_wsm(p, i)) return -1;
    if (a->schedule == SCHED_WSO) {
        if (alpha_pre && a->alpha_pre != 1.0)
            return err_set(e, "%s:%d: [arm %s] alpha_pre = %g: expected 1 for %s; use schedule = wsd to decay", f,
                           alpha_pre, a->name, a->alpha_pre,
                           a->wsm ? "wsm (it merges the constant-LR WSO run)" : "wso (no decay)");
        a->alpha_pre = 1.0;
    } else if (!alpha_pre) {
        return err_set(e, "%s:%d: [arm %s] is missing alpha_pre (final LR as a fraction of the peak, in [0, 1])", f,
                       a->line, a->name);
    }
    if (a->schedule != SCHED_WSD) {
        if (rho) return err_set(e, "%s:%d: [arm %s] rho: only used by schedule = wsd", f, rho, a->name);
        if (arm_key_line(p, i, "decay"))
            return err_set(e, "%s:%d: [arm %s] decay: only used by schedule = wsd", f, arm_key_line(p, i, "decay"),
                           a->name);
    }
    if (!rho) a->rho = SCHEDULE_DEFAULT_RHO;
    if (three && !alpha_mid)
        return err_set(e, "%s:%d: [arm %s] is missing alpha_mid (the study has mid_tokens > 0)", f, a->line, a->name);
    if (!three && alpha_mid)
        return err_set(e, "%s:%d: [arm %s] alpha_mid: only used when [study] mid_tokens > 0", f, alpha_mid, a->name);
    if (!three) a->alpha_mid = 1.0;
    if (a->schedule == SCHED_WSD) {
        int64_t steps = study_pretrain_steps(s);
        ScheduleSpec w =
            schedule_of_kind(a->schedule, s->peak_lr, s->warmup_steps, steps, a->alpha_pre, a->rho, a->decay);
        int64_t stable_end = schedule_decay_start(&w);
        if (a->alpha_pre < 1.0 && (stable_end <= s->warmup_steps || stable_end >= steps))
            return err_set(e, "%s:%d: [arm %s] rho = %g: leaves no stable or no decay steps out of %lld post-warmup steps",
                           f, rho ? rho : a->line, a->name, a->rho, (long long)(steps - s->warmup_steps));
    }
    return 0;
}

/* Cross-field checks once every key is known. Messages point at the line of
 * the key they are about, or name the section when a key is missing. */
static int validate(Parser *p)
{
    if (!p->study_seen) return err_set(p->e, "%s: missing section [study]", p->path);
    if (apply_study_defaults(p) || validate_world(p) || validate_sizes(p)) return -1;
    if (p->s->n_arms == 0) return err_set(p->e, "%s: no [arm NAME] section (expected at least one arm)", p->path);
    for (int i = 0; i < p->s->n_arms; i++)
        if (validate_arm(p, i)) return -1;
    return 0;
}

int study_spec_parse(StudySpec *s, const char *path, const char *text, Err *e)
{
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(s->name, sizeof s->name, "%s", base);
    char *dot = strrchr(s->name, '.');
    if (dot && dot != s->name) *dot = 0;

    Parser p = {.s = s, .path = path, .text = text, .e = e};
    int rc = ini_parse_stream(read_line, &p, on_value, &p);
    if (p.failed) return -1;
    if (rc > 0) return err_set(e, "%s:%d: not an INI line (expected [section], key = value, or a ; or # comment)", path, rc);
    if (rc < 0) return err_set(e, "%s: could not be parsed (out of memory)", path);
    return validate(&p) ? -1 : 0;
}

int study_spec_load(StudySpec *s, const char *path, Err *e)
{
    char *text;
    size_t bytes;
    if (read_file(path, &text, &bytes, e)) return -1;
    if (strlen(text) != bytes) {
        free(text);
        return err_set(e, "%s: contains a NUL byte (expected a text file)", path);
    }
    int rc = study_spec_parse(s, path, text, e);
    free(text);
    return rc;
}
