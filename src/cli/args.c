#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/jobs.h"

static int check_number(const char *name, const char *value, Err *e);

/* 1 for --help or -h, 0 for anything else, -1 for --help=VALUE. */
static int help_word(const char *arg, Err *e)
{
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) return 1;
    if (strncmp(arg, "--help=", 7) == 0) return err_set(e, "option --help takes no value (give --help alone)");
    return 0;
}

void args_fail(const Err *e)
{
    fprintf(stderr, "plateau: %s\n", e->msg);
    exit(EXIT_USAGE);
}

int args_first_is_help(int argc, char **argv)
{
    Err e;
    int help = argc < 1 ? 0 : help_word(argv[0], &e);
    if (help < 0) args_fail(&e);
    return help;
}

static int find(const OptSpec *spec, const char *name)
{
    for (int i = 0; spec[i].name; i++)
        if (strcmp(spec[i].name, name) == 0) return i;
    return -1;
}

int args_parse(Args *a, const OptSpec *spec, int argc, char **argv, Err *e)
{
    memset(a, 0, sizeof *a);
    a->spec = spec;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        int help = help_word(s, e);
        if (help < 0) return -1;
        if (help) {
            a->help = 1;
            continue;
        }
        if (strncmp(s, "--", 2) != 0 || s[2] == 0) {
            if (a->n_positional == ARGS_MAX) return err_set(e, "too many arguments");
            if (!*s) return err_set(e, "argument %d is an empty string (see --help)", a->n_positional + 1);
            a->positional[a->n_positional++] = argv[i];
            continue;
        }
        char name[128];
        const char *eq = strchr(s + 2, '=');
        size_t len = eq ? (size_t)(eq - (s + 2)) : strlen(s + 2);
        if (len >= sizeof name) return err_set(e, "option %s is too long", s);
        memcpy(name, s + 2, len);
        name[len] = 0;
        int k = find(spec, name);
        if (k < 0) return err_set(e, "unknown option --%s (see --help)", name);
        if (!spec[k].value_name) {
            if (eq) return err_set(e, "option --%s takes no value", name);
            a->present[k] = 1;
            continue;
        }
        const char *value = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!value) return err_set(e, "option --%s needs a value (%s)", name, spec[k].value_name);
        if (!*value && strcmp(spec[k].value_name, "TEXT") != 0)
            return err_set(e, "option --%s: expected %s, got an empty string", name, spec[k].value_name);
        if (check_number(name, value, e)) return -1;
        /* the later one would silently win: say so instead */
        if (a->present[k])
            return err_set(e, "option --%s given twice ('%s' and '%s'): give it once", name, a->values[k], value);
        a->present[k] = 1;
        a->values[k] = value;
    }
    return 0;
}

void args_usage(FILE *fp, const char *usage, const char *about, const OptSpec *spec)
{
    fprintf(fp, "usage: %s\n", usage);
    if (about && *about) fprintf(fp, "\n%s\n", about);
    if (spec[0].name) fprintf(fp, "\noptions:\n");
    for (int i = 0; spec[i].name; i++) {
        char left[64];
        if (spec[i].value_name) snprintf(left, sizeof left, "--%s %s", spec[i].name, spec[i].value_name);
        else snprintf(left, sizeof left, "--%s", spec[i].name);
        fprintf(fp, "  %-24s %s\n", left, spec[i].help);
    }
    fprintf(fp, "  %-24s %s\n", "--help", "show this help");
}

int args_has(const Args *a, const char *name)
{
    int k = find(a->spec, name);
    return k >= 0 && a->present[k];
}

const char *args_str(const Args *a, const char *name, const char *def)
{
    int k = find(a->spec, name);
    return (k >= 0 && a->values[k]) ? a->values[k] : def;
}

/* The accepted range of every numeric option, by name: an option means the
 * same thing in every command that has it, so one table serves them all.
 * Commands refine these where they know more (--seq-len up to the model's
 * context, --alpha against the schedule). lo_open: lo itself is refused;
 * integer: a whole number (args_long), else any finite number (args_double). */
typedef struct {
    const char *name;
    double      lo, hi;
    int         lo_open;
    int         integer;
} OptRange;

#define INT_OPT_MAX 2147483647.0   /* options stored in an int */
#define COUNT_MAX   9007199254740992.0   /* 2^53: token and step counts */
#define WHOLE(name, lo, hi) {name, lo, hi, 0, 1}
#define REAL(name, lo, hi, lo_open) {name, lo, hi, lo_open, 0}

static const OptRange RANGES[] = {
    /* sizes of a batch, a window, a model: at least 1 */
    WHOLE("seq-len", 1, INT_OPT_MAX),          WHOLE("batch", 1, INT_OPT_MAX),
    WHOLE("micro-batch", 1, INT_OPT_MAX),      WHOLE("batch-tokens", 1, COUNT_MAX),
    WHOLE("vocab", 1, INT_OPT_MAX),            WHOLE("max-new", 1, INT_OPT_MAX),
    WHOLE("limit", 1, INT_OPT_MAX),            WHOLE("probes", 1, INT_OPT_MAX),
    WHOLE("min-probes", 1, INT_OPT_MAX),       WHOLE("eig-iters", 1, INT_OPT_MAX),
    WHOLE("lanczos-steps", 1, INT_OPT_MAX),    WHOLE("probe-batch", 1, INT_OPT_MAX),
    WHOLE("probe-probes", 1, INT_OPT_MAX),     WHOLE("people", 1, INT_OPT_MAX),
    WHOLE("bios-per-person", 1, INT_OPT_MAX),  WHOLE("mid-questions", 1, INT_OPT_MAX),
    WHOLE("docs-per-synset", 1, INT_OPT_MAX),  WHOLE("shard-tokens", 1, COUNT_MAX),
    WHOLE("log-every", 0, COUNT_MAX),          WHOLE("jobs", 1, JOBS_MAX),
    /* counts where 0 means none, all or only at the end */
    WHOLE("steps", 0, COUNT_MAX),              WHOLE("warmup", 0, COUNT_MAX),
    WHOLE("mid-steps", 0, COUNT_MAX),          WHOLE("sft-steps", 0, COUNT_MAX),
    WHOLE("ckpt-every", 0, COUNT_MAX),         WHOLE("probe-every", 1, COUNT_MAX),
    WHOLE("samples", 0, INT_OPT_MAX),          WHOLE("max-bad-lines", 0, COUNT_MAX),
    WHOLE("mid-people", 0, INT_OPT_MAX),       WHOLE("eval-train-people", 0, INT_OPT_MAX),
    WHOLE("eval-train-items", 0, INT_OPT_MAX), WHOLE("max-synsets", 0, INT_OPT_MAX),
    WHOLE("seed", 0, COUNT_MAX),               WHOLE("probe-seed", 0, COUNT_MAX),
    WHOLE("mid-percent", 0, 100),
    /* real numbers */
    REAL("lr", 0, HUGE_VAL, 1),                REAL("peak", 0, HUGE_VAL, 1),
    REAL("alpha", 0, 1, 0),                    REAL("alpha-mid", 0, 1, 0),
    REAL("rho", 0, 1, 0),                      REAL("weight-decay", 0, HUGE_VAL, 0),
    REAL("clip", 0, HUGE_VAL, 0),              REAL("tol", 0, HUGE_VAL, 0),
    REAL("eig-tol", 0, HUGE_VAL, 1),           REAL("fraction", 0, 1, 1),
};

static const OptRange *range_of(const char *name)
{
    for (size_t i = 0; i < sizeof RANGES / sizeof RANGES[0]; i++)
        if (strcmp(RANGES[i].name, name) == 0) return &RANGES[i];
    return NULL;
}

const char *args_range_text(const char *name, int integer, char *buf, size_t size)
{
    const OptRange *r = range_of(name);
    if (!r) return NULL;
    const char *kind = integer ? "an integer" : "a number";
    if (r->hi == HUGE_VAL || r->hi == INT_OPT_MAX || r->hi == COUNT_MAX)
        snprintf(buf, size, "%s %s %g", kind, r->lo_open ? ">" : ">=", r->lo);
    else
        snprintf(buf, size, "%s in %c%g, %g]", kind, r->lo_open ? '(' : '[', r->lo, r->hi);
    return buf;
}

/* Checks a given value of --name against the table. */
static int check_range(const char *name, const char *text, double v, int integer, Err *e)
{
    const OptRange *r = range_of(name);
    if (!r || ((r->lo_open ? v > r->lo : v >= r->lo) && v <= r->hi)) return 0;
    char range[96];
    args_range_text(name, integer, range, sizeof range);
    if (v > r->hi && (r->hi == INT_OPT_MAX || r->hi == COUNT_MAX))   /* a bound the text leaves out */
        return err_set(e, "--%s: expected %s, at most %.0f; got '%s'", name, range, r->hi, text);
    return err_set(e, "--%s: expected %s, got '%s'", name, range, text);
}

static int parse_long(const char *name, const char *s, long *out, Err *e)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) {   /* malformed: the same range an out-of-range value is told */
        char range[96];
        const char *want = args_range_text(name, 1, range, sizeof range);
        return err_set(e, "--%s: expected %s, got '%s'", name, want ? want : "an integer", s);
    }
    if (check_range(name, s, (double)v, 1, e)) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *name, const char *s, double *out, Err *e)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return err_set(e, "--%s: expected a finite number, got '%s'", name, s);
    if (check_range(name, s, v, 0, e)) return -1;
    *out = v;
    return 0;
}

/* A value of an option in the table, checked when it is given. */
static int check_number(const char *name, const char *value, Err *e)
{
    const OptRange *r = range_of(name);
    long l;
    double d;
    if (!r) return 0;
    return r->integer ? parse_long(name, value, &l, e) : parse_double(name, value, &d, e);
}

int args_long(const Args *a, const char *name, long def, long *out, Err *e)
{
    const char *s = args_str(a, name, NULL);
    if (!s) { *out = def; return 0; }
    return parse_long(name, s, out, e);
}

int args_double(const Args *a, const char *name, double def, double *out, Err *e)
{
    const char *s = args_str(a, name, NULL);
    if (!s) { *out = def; return 0; }
    return parse_double(name, s, out, e);
}

int args_require(const Args *a, const char *name, const char **out, Err *e)
{
    const char *s = args_str(a, name, NULL);
    if (!s) return err_set(e, "missing --%s (see --help)", name);
    *out = s;
    return 0;
}

int args_begin(Args *a, const OptSpec *spec, int argc, char **argv, const char *usage, const char *about)
{
    Err e;
    if (args_parse(a, spec, argc, argv, &e)) args_fail(&e);
    if (a->help) {
        args_usage(stdout, usage, about, spec);
        return 1;
    }
    return 0;
}

int args_list(const Args *a, const char *name, char ***items)
{
    const char *s = args_str(a, name, "");
    int n = 0;
    *items = NULL;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len) {
            *items = xrealloc(*items, (size_t)(n + 1) * sizeof **items);
            char *item = xmalloc(len + 1);
            memcpy(item, s, len);
            item[len] = 0;
            (*items)[n++] = item;
        }
        s += len + (end ? 1 : 0);
    }
    return n;
}

void args_list_free(char **items, int n)
{
    for (int i = 0; i < n; i++) free(items[i]);
    free(items);
}
