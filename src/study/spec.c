#include "study/spec.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <math.h>
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
    if (a->alpha_pre < 1.0) return 1;
    return study_is_three_stage(s) && a->alpha_mid < 1.0;
}

/* ---- parsing state ------------------------------------------------------ */

/* Keys of [study], with the line each was set on (0 = not set), so that a
 * duplicate names both lines and a later cross-field check can point at the
 * line of the value it complains about. */
enum {
    K_WORLD, K_PEOPLE, K_PRETRAIN_DATA, K_SFT_DATA, K_PRESET, K_SEEDS,
    K_PRETRAIN_TOKENS, K_MID_TOKENS, K_SFT_EPOCHS, K_SFT_TOKENS, K_BATCH_TOKENS,
    K_MICRO_BATCH, K_SEQ_LEN, K_PEAK_LR, K_WARMUP_STEPS, K_SFT_LRS,
    K_SFT_WARMUP_STEPS, K_SFT_BATCH_TOKENS, K_PROBES, K_PROBE_EVERY, K_VOCAB, K_EVAL_ITEMS,
    K_PROBE_SEQUENCES, K_TEXT_FIELD, K_COUNT
};
static const char *const STUDY_KEYS[K_COUNT] = {
    "world", "people", "pretrain_data", "sft_data", "preset", "seeds",
    "pretrain_tokens", "mid_tokens", "sft_epochs", "sft_tokens", "batch_tokens",
    "micro_batch", "seq_len", "peak_lr", "warmup_steps", "sft_lrs",
    "sft_warmup_steps", "sft_batch_tokens", "probes", "probe_every", "vocab", "eval_items",
    "probe_sequences", "text_field",
};

enum { A_SCHEDULE, A_ALPHA_PRE, A_ALPHA_MID, A_RHO, A_DECAY, A_COUNT };
static const char *const ARM_KEYS[A_COUNT] = {"schedule", "alpha_pre", "alpha_mid", "rho", "decay"};

typedef struct {
    StudySpec  *s;
    const char *path;
    const char *text;      /* remaining input */
    int         line;      /* line being parsed (1-based) */
    int         failed;    /* first error recorded in e */
    Err        *e;
    int         study_seen;
    int         study_line[K_COUNT];
    int         arm_line[STUDY_MAX_ARMS][A_COUNT];
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

static int find_key(const char *const *keys, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(keys[i], name) == 0) return i;
    return -1;
}

static void list_keys(char *out, size_t size, const char *const *keys, int n)
{
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%s", i ? ", " : "", keys[i]);
    }
}

static int study_key(Parser *p, const char *name, const char *v)
{
    StudySpec *s = p->s;
    const char *sec = "study";
    int k = find_key(STUDY_KEYS, K_COUNT, name);
    if (k < 0) {
        char keys[512];
        list_keys(keys, sizeof keys, STUDY_KEYS, K_COUNT);
        return fail(p, sec, name, v, "unknown key (expected one of: %s)", keys);
    }
    if (!set_once(p, &p->study_line[k], sec, name, v)) return 0;
    int64_t i64;
    double d;
    switch (k) {
    case K_WORLD:
        if (strcmp(v, "bios") == 0) s->world = WORLD_BIOS;
        else if (strcmp(v, "wordnet") == 0) s->world = WORLD_WORDNET;
        else if (strcmp(v, "files") == 0) s->world = WORLD_FILES;
        else return fail(p, sec, name, v, "expected bios, wordnet or files");
        return 1;
    case K_PEOPLE:
        if (parse_int64(v, &i64) || i64 < 2 || i64 > 10000000)
            return fail(p, sec, name, v, "expected a whole number of people in [2, 10000000]");
        s->people = (int)i64;
        return 1;
    case K_PRETRAIN_DATA:
    case K_SFT_DATA: {
        char *dst = k == K_PRETRAIN_DATA ? s->pretrain_data : s->sft_data;
        if (!*v) return fail(p, sec, name, v, "expected a path");
        if (strlen(v) >= STUDY_PATH_MAX) return fail(p, sec, name, v, "path is too long");
        snprintf(dst, STUDY_PATH_MAX, "%s", v);
        return 1;
    }
    case K_PRESET: {
        Config c;
        Err ce;
        if (config_preset(&c, v, &ce)) {
            char names[256] = "";
            for (int i = 0; CONFIG_PRESET_NAMES[i]; i++) {
                size_t len = strlen(names);
                snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", CONFIG_PRESET_NAMES[i]);
            }
            return fail(p, sec, name, v, "expected a model preset (%s)", names);
        }
        snprintf(s->preset, sizeof s->preset, "%s", v);
        return 1;
    }
    case K_SEEDS: {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", v);
        int n = 0;
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (isspace((unsigned char)*tok)) tok++;
            if (n == STUDY_MAX_SEEDS) return fail(p, sec, name, v, "expected at most %d seeds", STUDY_MAX_SEEDS);
            if (parse_int64(tok, &i64) || i64 < 0)
                return fail(p, sec, name, v, "expected a comma-separated list of non-negative integers");
            for (int j = 0; j < n; j++)
                if (s->seeds[j] == (uint64_t)i64) return fail(p, sec, name, v, "seed %lld is listed twice", (long long)i64);
            s->seeds[n++] = (uint64_t)i64;
        }
        if (n == 0) return fail(p, sec, name, v, "expected at least one seed");
        s->n_seeds = n;
        return 1;
    }
    case K_PRETRAIN_TOKENS:
    case K_MID_TOKENS:
    case K_SFT_TOKENS:
    case K_BATCH_TOKENS:
    case K_SFT_BATCH_TOKENS: {
        if (parse_tokens(v, &i64)) return fail(p, sec, name, v, "expected a token count (an integer, optionally with K, M, G or T)");
        int64_t min = k == K_MID_TOKENS ? 0 : 1;
        if (i64 < min) return fail(p, sec, name, v, "expected at least %lld tokens", (long long)min);
        int64_t *dst = k == K_PRETRAIN_TOKENS ? &s->pretrain_tokens
                     : k == K_MID_TOKENS      ? &s->mid_tokens
                     : k == K_SFT_TOKENS      ? &s->sft_tokens
                     : k == K_BATCH_TOKENS    ? &s->batch_tokens
                                              : &s->sft_batch_tokens;
        *dst = i64;
        return 1;
    }
    case K_SFT_EPOCHS:
        if (parse_double(v, &d) || d <= 0 || d > 1000) return fail(p, sec, name, v, "expected a number of epochs in (0, 1000]");
        s->sft_epochs = d;
        return 1;
    case K_MICRO_BATCH:
        if (parse_int64(v, &i64) || i64 < 1 || i64 > 65536) return fail(p, sec, name, v, "expected a whole number of sequences in [1, 65536]");
        s->micro_batch = (int)i64;
        return 1;
    case K_SEQ_LEN:
        if (parse_int64(v, &i64) || i64 < 2 || i64 > 1 << 20) return fail(p, sec, name, v, "expected a sequence length in [2, 1048576]");
        s->seq_len = (int)i64;
        return 1;
    case K_PEAK_LR:
        if (parse_double(v, &d) || d <= 0 || d > 1) return fail(p, sec, name, v, "expected a learning rate in (0, 1]");
        s->peak_lr = d;
        return 1;
    case K_WARMUP_STEPS:
    case K_SFT_WARMUP_STEPS:
        if (parse_int64(v, &i64) || i64 < 0) return fail(p, sec, name, v, "expected a non-negative whole number of steps");
        *(k == K_WARMUP_STEPS ? &s->warmup_steps : &s->sft_warmup_steps) = i64;
        return 1;
    case K_SFT_LRS: {
        int n = parse_double_list(v, s->sft_lrs, STUDY_MAX_SFT_LRS);
        if (n == -2) return fail(p, sec, name, v, "expected at most %d learning rates", STUDY_MAX_SFT_LRS);
        if (n <= 0) return fail(p, sec, name, v, "expected a comma-separated list of learning rates");
        for (int i = 0; i < n; i++) {
            if (s->sft_lrs[i] <= 0 || s->sft_lrs[i] > 1) return fail(p, sec, name, v, "expected every learning rate in (0, 1]");
            for (int j = 0; j < i; j++)
                if (s->sft_lrs[j] == s->sft_lrs[i]) return fail(p, sec, name, v, "learning rate %g is listed twice", s->sft_lrs[i]);
        }
        s->n_sft_lrs = n;
        return 1;
    }
    case K_PROBES:
        if (parse_int64(v, &i64) || i64 < 1 || i64 > 100000) return fail(p, sec, name, v, "expected a number of probe vectors in [1, 100000]");
        s->probes = (int)i64;
        return 1;
    case K_PROBE_EVERY:
        if (parse_int64(v, &i64) || i64 < 0) return fail(p, sec, name, v, "expected a non-negative number of steps (0: only at stage ends)");
        s->probe_every = i64;
        return 1;
    case K_VOCAB:
        if (parse_int64(v, &i64) || i64 < 300 || i64 > 65536) return fail(p, sec, name, v, "expected a vocabulary size in [300, 65536]");
        s->vocab = (int)i64;
        return 1;
    case K_EVAL_ITEMS:
        if (parse_int64(v, &i64) || i64 < 0) return fail(p, sec, name, v, "expected a non-negative number of items (0: all)");
        s->eval_items = i64;
        return 1;
    case K_PROBE_SEQUENCES:
        if (parse_int64(v, &i64) || i64 < 1 || i64 > 1024) return fail(p, sec, name, v, "expected a number of sequences in [1, 1024]");
        s->probe_sequences = (int)i64;
        return 1;
    case K_TEXT_FIELD:
        if (!*v || strlen(v) >= sizeof s->text_field) return fail(p, sec, name, v, "expected a JSON field name of 1-31 bytes");
        snprintf(s->text_field, sizeof s->text_field, "%s", v);
        return 1;
    }
    return 1;
}

static int arm_key(Parser *p, int arm_index, const char *name, const char *v)
{
    ArmSpec *a = &p->s->arms[arm_index];
    const char *sec = p->cur_section;
    int k = find_key(ARM_KEYS, A_COUNT, name);
    if (k < 0) {
        char keys[256];
        list_keys(keys, sizeof keys, ARM_KEYS, A_COUNT);
        return fail(p, sec, name, v, "unknown key (expected one of: %s)", keys);
    }
    if (!set_once(p, &p->arm_line[arm_index][k], sec, name, v)) return 0;
    double d;
    switch (k) {
    case A_SCHEDULE:
        if (schedule_kind_from_name(v, &a->schedule) ||
            (a->schedule != SCHED_WSO && a->schedule != SCHED_WSD && a->schedule != SCHED_COSINE &&
             a->schedule != SCHED_LINEAR))
            return fail(p, sec, name, v, "expected wso, wsd, cosine or linear");
        return 1;
    case A_ALPHA_PRE:
    case A_ALPHA_MID:
        if (parse_double(v, &d) || d < 0 || d > 1) return fail(p, sec, name, v, "expected a number in [0, 1]");
        *(k == A_ALPHA_PRE ? &a->alpha_pre : &a->alpha_mid) = d;
        return 1;
    case A_RHO:
        if (parse_double(v, &d) || d <= 0 || d >= 1) return fail(p, sec, name, v, "expected a number in (0, 1)");
        a->rho = d;
        return 1;
    case A_DECAY:
        if (schedule_shape_from_name(v, &a->decay)) return fail(p, sec, name, v, "expected linear, 1-sqrt, cosine or exp");
        return 1;
    }
    return 1;
}

/* inih calls this once per key = value, and (INI_CALL_HANDLER_ON_NEW_SECTION
 * is off) never for a bare section header, so empty sections are checked
 * after parsing via the recorded arm lines. */
static int on_value(void *user, const char *section, const char *name, const char *value)
{
    Parser *p = user;
    if (p->failed) return 1;   /* only the first error is reported */
    if (strcmp(section, "study") == 0) {
        p->study_seen = 1;
        study_key(p, name, value);
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
        arm_key(p, idx, name, value);
        return 1;
    }
    fail(p, section, name, value, "unknown section [%s] (expected [study] or [arm NAME])", section);
    return 1;
}

/* Cross-field checks once every key is known. Messages point at the line of
 * the key they are about, or name the section when a key is missing. */
static int validate(Parser *p)
{
    StudySpec *s = p->s;
    Err *e = p->e;
    const char *f = p->path;
    int *L = p->study_line;
    if (!p->study_seen) return err_set(e, "%s: missing section [study]", f);
    static const int required[] = {K_WORLD, K_PRESET, K_SEEDS, K_PRETRAIN_TOKENS, K_BATCH_TOKENS, K_MICRO_BATCH,
                                   K_SEQ_LEN, K_PEAK_LR, K_WARMUP_STEPS, K_SFT_LRS, K_SFT_WARMUP_STEPS};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!L[required[i]]) return err_set(e, "%s: [study] is missing %s", f, STUDY_KEYS[required[i]]);

    if (s->world == WORLD_BIOS && !L[K_PEOPLE]) return err_set(e, "%s: [study] world = bios needs people (how many synthetic people)", f);
    if (s->world != WORLD_BIOS && L[K_PEOPLE])
        return err_set(e, "%s:%d: [study] people: only used by world = bios", f, L[K_PEOPLE]);
    if (s->world == WORLD_FILES) {
        if (!L[K_PRETRAIN_DATA])
            return err_set(e, "%s: [study] world = files needs pretrain_data (.txt, .jsonl, .jsonl.gz or .jsonl.zst)", f);
        if (!L[K_SFT_DATA]) return err_set(e, "%s: [study] world = files needs sft_data (a {\"messages\": [...]} JSONL file)", f);
    } else {
        if (L[K_PRETRAIN_DATA]) return err_set(e, "%s:%d: [study] pretrain_data: only used by world = files", f, L[K_PRETRAIN_DATA]);
        if (L[K_SFT_DATA]) return err_set(e, "%s:%d: [study] sft_data: only used by world = files", f, L[K_SFT_DATA]);
        if (L[K_TEXT_FIELD]) return err_set(e, "%s:%d: [study] text_field: only used by world = files", f, L[K_TEXT_FIELD]);
    }
    if (!L[K_TEXT_FIELD]) snprintf(s->text_field, sizeof s->text_field, "text");
    if (!!L[K_SFT_EPOCHS] == !!L[K_SFT_TOKENS])
        return err_set(e, "%s: [study] needs exactly one of sft_epochs and sft_tokens", f);
    if (!L[K_SFT_BATCH_TOKENS]) s->sft_batch_tokens = s->batch_tokens;
    if (!L[K_PROBES]) s->probes = 50;
    if (!L[K_PROBE_SEQUENCES]) s->probe_sequences = 1;

    int64_t seq_tokens = (int64_t)s->micro_batch * s->seq_len;
    if (s->batch_tokens % seq_tokens)
        return err_set(e, "%s:%d: [study] batch_tokens = %lld: expected a multiple of micro_batch * seq_len = %lld",
                       f, L[K_BATCH_TOKENS], (long long)s->batch_tokens, (long long)seq_tokens);
    if (s->sft_batch_tokens % s->seq_len)
        return err_set(e, "%s:%d: [study] sft_batch_tokens = %lld: expected a multiple of seq_len = %d",
                       f, L[K_SFT_BATCH_TOKENS], (long long)s->sft_batch_tokens, s->seq_len);
    if (s->pretrain_tokens % s->batch_tokens)
        return err_set(e, "%s:%d: [study] pretrain_tokens = %lld: expected a multiple of batch_tokens = %lld (whole steps)",
                       f, L[K_PRETRAIN_TOKENS], (long long)s->pretrain_tokens, (long long)s->batch_tokens);
    if (s->mid_tokens % s->batch_tokens)
        return err_set(e, "%s:%d: [study] mid_tokens = %lld: expected a multiple of batch_tokens = %lld (whole steps)",
                       f, L[K_MID_TOKENS], (long long)s->mid_tokens, (long long)s->batch_tokens);
    if (s->sft_tokens && s->sft_tokens < s->sft_batch_tokens)
        return err_set(e, "%s:%d: [study] sft_tokens = %lld: expected at least one SFT batch (%lld tokens)",
                       f, L[K_SFT_TOKENS], (long long)s->sft_tokens, (long long)s->sft_batch_tokens);
    int64_t steps = study_pretrain_steps(s);
    if (s->warmup_steps >= steps)
        return err_set(e, "%s:%d: [study] warmup_steps = %lld: expected fewer than the %lld pre-training steps",
                       f, L[K_WARMUP_STEPS], (long long)s->warmup_steps, (long long)steps);

    if (s->n_arms == 0) return err_set(e, "%s: no [arm NAME] section (expected at least one arm)", f);
    int three = study_is_three_stage(s);
    for (int i = 0; i < s->n_arms; i++) {
        ArmSpec *a = &s->arms[i];
        int *A = p->arm_line[i];
        if (!A[A_SCHEDULE]) return err_set(e, "%s:%d: [arm %s] is missing schedule (wso, wsd, cosine or linear)", f, a->line, a->name);
        if (a->schedule == SCHED_WSO) {
            if (A[A_ALPHA_PRE] && a->alpha_pre != 1.0)
                return err_set(e, "%s:%d: [arm %s] alpha_pre = %g: expected 1 for wso (no decay); use schedule = wsd to decay",
                               f, A[A_ALPHA_PRE], a->name, a->alpha_pre);
            a->alpha_pre = 1.0;
        } else if (!A[A_ALPHA_PRE]) {
            return err_set(e, "%s:%d: [arm %s] is missing alpha_pre (final LR as a fraction of the peak, in [0, 1])", f, a->line, a->name);
        }
        if (a->schedule != SCHED_WSD) {
            if (A[A_RHO]) return err_set(e, "%s:%d: [arm %s] rho: only used by schedule = wsd", f, A[A_RHO], a->name);
            if (A[A_DECAY]) return err_set(e, "%s:%d: [arm %s] decay: only used by schedule = wsd", f, A[A_DECAY], a->name);
        }
        if (!A[A_RHO]) a->rho = SCHEDULE_DEFAULT_RHO;
        if (three && !A[A_ALPHA_MID])
            return err_set(e, "%s:%d: [arm %s] is missing alpha_mid (the study has mid_tokens > 0)", f, a->line, a->name);
        if (!three && A[A_ALPHA_MID])
            return err_set(e, "%s:%d: [arm %s] alpha_mid: only used when [study] mid_tokens > 0", f, A[A_ALPHA_MID], a->name);
        if (!three) a->alpha_mid = 1.0;
        if (a->schedule == SCHED_WSD) {
            ScheduleSpec w = schedule_of_kind(a->schedule, s->peak_lr, s->warmup_steps, steps, a->alpha_pre, a->rho, a->decay);
            int64_t stable_end = schedule_decay_start(&w);
            if (a->alpha_pre < 1.0 && (stable_end <= s->warmup_steps || stable_end >= steps))
                return err_set(e, "%s:%d: [arm %s] rho = %g: leaves no stable or no decay steps out of %lld post-warmup steps",
                               f, A[A_RHO] ? A[A_RHO] : a->line, a->name, a->rho, (long long)(steps - s->warmup_steps));
        }
    }
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
