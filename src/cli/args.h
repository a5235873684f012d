/* Command-line options shared by every subcommand: `--name value` and
 * `--flag`, declared in a table that also produces the `--help` text, so an
 * unknown option or a missing value is one clear error naming the option.
 *
 * Exit statuses, one rule for every command:
 *   0           done, or --help shown
 *   EXIT_USAGE  (2) the command line alone is wrong: an unknown command,
 *               subcommand or option; an option without its value, with a
 *               value it takes none of (--help=1, --quiet=yes), given twice or
 *               given an empty value; a number malformed or outside its
 *               option's range; a value not among those the option accepts;
 *               a required option or argument missing, an extra argument;
 *               options that exclude each other.
 *   1           the command line was understood but the work failed: an input
 *               missing or malformed, inputs that do not fit each other or a
 *               checkpoint (a --seq-len beyond its context), an output that
 *               already exists, a run that diverged (core/error.h die()). */
#ifndef PLATEAU_ARGS_H
#define PLATEAU_ARGS_H

#include <stdio.h>

#include "core/error.h"

#define ARGS_MAX 64
#define EXIT_USAGE 2

typedef struct {
    const char *name;        /* without the leading "--" */
    const char *value_name;  /* e.g. "N", "DIR"; NULL for a flag */
    const char *help;        /* one line; mention the default */
} OptSpec;                   /* tables end with {NULL} */

typedef struct {
    const OptSpec *spec;
    const char    *values[ARGS_MAX];   /* per spec entry; NULL if absent */
    int            present[ARGS_MAX];
    int            help;               /* --help or -h was given */
    char          *positional[ARGS_MAX];
    int            n_positional;
} Args;

/* Fails, naming the option, on an unknown option, a missing value, a value
 * given to a flag (--help included), an option with a value given twice (a
 * flag twice is the flag), an empty value (allowed only for options whose
 * value_name is "TEXT", such as a prompt) and a number that args_long or
 * args_double would refuse (the range table in args.c); also on an empty
 * argument. */
int args_parse(Args *a, const OptSpec *spec, int argc, char **argv, Err *e);
void args_usage(FILE *fp, const char *usage, const char *about, const OptSpec *spec);

int         args_has(const Args *a, const char *name);
const char *args_str(const Args *a, const char *name, const char *def);
/* Parse numbers strictly; a malformed value is an error naming the option.
 * A value that is given is also checked against the accepted range of an
 * option of that name (one table in args.c for every command: --seq-len >= 1,
 * --clip >= 0, --alpha in [0, 1], ...): "--clip: expected a number >= 0, got
 * '-1'". NaN and infinities are refused. The default is not checked. */
int args_long(const Args *a, const char *name, long def, long *out, Err *e);
int args_double(const Args *a, const char *name, double def, double *out, Err *e);
/* The range of --name as the errors state it ("an integer >= 1"), into buf;
 * NULL when the table has no entry for name. */
const char *args_range_text(const char *name, int integer, char *buf, size_t size);
/* Fails with "missing --name" when absent. */
int args_require(const Args *a, const char *name, const char **out, Err *e);

/* The value of --name as a comma-separated list: *items receives a malloc'd
 * array of the non-empty items, each malloc'd (free with args_list_free).
 * Returns the count: 0 when the option is absent or lists nothing. */
int  args_list(const Args *a, const char *name, char ***items);
void args_list_free(char **items, int n);

/* Standard prologue for a subcommand: parses, prints usage on --help (returns
 * 1: caller returns 0), exits with EXIT_USAGE and a message on a bad option. */
/* Prints "plateau: <msg>" and exits with EXIT_USAGE: for a command line
 * that is wrong by itself (see the rule above); die() is for the rest. */
void args_fail(const Err *e) __attribute__((noreturn));

/* For dispatchers that read argv themselves: 1 when argv[0] asks for help
 * (--help, -h), 0 when it does not or argc is 0; exits with EXIT_USAGE on
 * --help=VALUE. */
int args_first_is_help(int argc, char **argv);

int args_begin(Args *a, const OptSpec *spec, int argc, char **argv, const char *usage, const char *about);

#endif
