#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (strncmp(s, "--", 2) != 0 || s[2] == 0) {
            if (a->n_positional == ARGS_MAX) return err_set(e, "too many arguments");
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
 * context, --alpha against the schedule). lo_open: lo itself is refused. */
typedef struct {
    const char *name;
    double      lo, hi;
    int         lo_open;
} OptRange;

#define INT_OPT_MAX 2147483647.0   /* options stored in an int */
#define COUNT_MAX   9007199254740992.0   /* 2^53: token and step counts */

static const OptRange RANGES[] = {
    /* sizes of a batch, a window, a model: at least 1 */
    {"seq-len", 1, INT_OPT_MAX, 0},          {"batch", 1, INT_OPT_MAX, 0},
    {"micro-batch", 1, INT_OPT_MAX, 0},      {"batch-tokens", 1, COUNT_MAX, 0},
    {"vocab", 1, INT_OPT_MAX, 0},            {"max-new", 1, INT_OPT_MAX, 0},
    {"limit", 1, INT_OPT_MAX, 0},            {"probes", 1, INT_OPT_MAX, 0},
    {"min-probes", 1, INT_OPT_MAX, 0},       {"eig-iters", 1, INT_OPT_MAX, 0},
    {"lanczos-steps", 1, INT_OPT_MAX, 0},    {"probe-batch", 1, INT_OPT_MAX, 0},
    {"probe-probes", 1, INT_OPT_MAX, 0},     {"people", 1, INT_OPT_MAX, 0},
    {"bios-per-person", 1, INT_OPT_MAX, 0},  {"mid-questions", 1, INT_OPT_MAX, 0},
    {"docs-per-synset", 1, INT_OPT_MAX, 0},  {"shard-tokens", 1, COUNT_MAX, 0},
    {"log-every", 0, COUNT_MAX, 0},
    /* counts where 0 means none, all or only at the end */
    {"steps", 0, COUNT_MAX, 0},              {"warmup", 0, COUNT_MAX, 0},
    {"mid-steps", 0, COUNT_MAX, 0},          {"sft-steps", 0, COUNT_MAX, 0},
    {"ckpt-every", 0, COUNT_MAX, 0},         {"probe-every", 1, COUNT_MAX, 0},
    {"samples", 0, INT_OPT_MAX, 0},          {"max-bad-lines", 0, COUNT_MAX, 0},
    {"mid-people", 0, INT_OPT_MAX, 0},       {"eval-train-people", 0, INT_OPT_MAX, 0},
    {"eval-train-items", 0, INT_OPT_MAX, 0}, {"max-synsets", 0, INT_OPT_MAX, 0},
    {"seed", 0, COUNT_MAX, 0},               {"probe-seed", 0, COUNT_MAX, 0},
    /* real numbers */
    {"lr", 0, HUGE_VAL, 1},                  {"peak", 0, HUGE_VAL, 1},
    {"alpha", 0, 1, 0},                      {"alpha-mid", 0, 1, 0},
    {"rho", 0, 1, 0},                        {"weight-decay", 0, HUGE_VAL, 0},
    {"clip", 0, HUGE_VAL, 0},                {"tol", 0, HUGE_VAL, 0},
    {"eig-tol", 0, HUGE_VAL, 1},             {"fraction", 0, 1, 1},
    {"mid-percent", 0, 100, 0},
};

const char *args_range_text(const char *name, int integer, char *buf, size_t size)
{
    for (size_t i = 0; i < sizeof RANGES / sizeof RANGES[0]; i++) {
        const OptRange *r = &RANGES[i];
        if (strcmp(r->name, name)) continue;
        const char *kind = integer ? "an integer" : "a number";
        if (r->hi == HUGE_VAL || r->hi == INT_OPT_MAX || r->hi == COUNT_MAX)
            snprintf(buf, size, "%s %s %g", kind, r->lo_open ? ">" : ">=", r->lo);
        else
            snprintf(buf, size, "%s in %c%g, %g]", kind, r->lo_open ? '(' : '[', r->lo, r->hi);
        return buf;
    }
    return NULL;
}

/* Checks a given value of --name against the table. */
static int check_range(const char *name, const char *text, double v, int integer, Err *e)
{
    for (size_t i = 0; i < sizeof RANGES / sizeof RANGES[0]; i++) {
        const OptRange *r = &RANGES[i];
        if (strcmp(r->name, name)) continue;
        if ((r->lo_open ? v > r->lo : v >= r->lo) && v <= r->hi) return 0;
        char range[96];
        args_range_text(name, integer, range, sizeof range);
        if (v > r->hi && (r->hi == INT_OPT_MAX || r->hi == COUNT_MAX))   /* a bound the text leaves out */
            return err_set(e, "--%s: expected %s, at most %.0f; got '%s'", name, range, r->hi, text);
        return err_set(e, "--%s: expected %s, got '%s'", name, range, text);
    }
    return 0;
}

int args_long(const Args *a, const char *name, long def, long *out, Err *e)
{
    const char *s = args_str(a, name, NULL);
    if (!s) { *out = def; return 0; }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return err_set(e, "--%s: expected an integer, got '%s'", name, s);
    if (check_range(name, s, (double)v, 1, e)) return -1;
    *out = v;
    return 0;
}

int args_double(const Args *a, const char *name, double def, double *out, Err *e)
{
    const char *s = args_str(a, name, NULL);
    if (!s) { *out = def; return 0; }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return err_set(e, "--%s: expected a finite number, got '%s'", name, s);
    if (check_range(name, s, v, 0, e)) return -1;
    *out = v;
    return 0;
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
    if (args_parse(a, spec, argc, argv, &e)) die(&e);
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
