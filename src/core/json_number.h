/* Numbers read from JSON files. cJSON keeps every number as a double, and
 * converting a double that is out of range of the target type (1e10 to int,
 * -8 to uint64_t, 1e300 to float) is undefined behaviour in C. So every
 * number plateau reads from a file goes through one of these two checks
 * before any conversion: a NULL, non-number, non-finite, non-integral (for
 * json_integer) or out-of-range value is refused.
 *
 * Errors fill e with a fragment that names the value and the range, e.g.
 * "1e+10 is outside [1, 65536]"; the caller prepends the file and field with
 * err_wrap(e, "%s: field %s", path, name). */
#ifndef PLATEAU_JSON_NUMBER_H
#define PLATEAU_JSON_NUMBER_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Doubles hold every integer exactly up to 2^53; larger bounds are refused
 * (asserted), so lo and hi convert to and from double without loss. */
#define JSON_INTEGER_MAX (INT64_C(1) << 53)

/* j must be a finite integral number in [lo, hi] (-JSON_INTEGER_MAX <= lo <= hi
 * <= JSON_INTEGER_MAX); *out receives it. Returns 0, or -1 with e filled. */
int json_integer(const cJSON *j, int64_t lo, int64_t hi, int64_t *out, Err *e);

/* The same for int targets: [lo, hi] within int's range. */
int json_int(const cJSON *j, int lo, int hi, int *out, Err *e);

/* j must be a finite number in [lo, hi]; *out receives it. Returns 0, or -1
 * with e filled. */
int json_real(const cJSON *j, double lo, double hi, double *out, Err *e);

/* Writing. cJSON prints a double with 15 significant digits whenever those
 * read back within an epsilon of it, which drops the last bit of about one
 * double in ten. Measurements plateau writes (sharpness, evaluation) carry
 * their exact value instead: the shortest of %.1g .. %.17g that strtod reads
 * back to the same double, as a raw JSON number; NaN and infinities, which
 * JSON cannot hold, become null. */
cJSON *json_exact_number(double v);
/* The same as text, for writers that print JSON themselves: writes the
 * shortest %.Ng that reads back to v, or "null", into buf (32 bytes are
 * always enough) and returns buf. */
const char *json_number_text(double v, char *buf, size_t size);
/* The shortest decimal that strtof reads back to the float v (1e-05, not
 * 9.99999975e-06), or "null". */
const char *json_float_text(float v, char *buf, size_t size);
/* json_exact_number added to obj under name; returns the item. */
cJSON *json_add_exact(cJSON *obj, const char *name, double v);
/* An array of n exact numbers. */
cJSON *json_exact_array(const double *v, int n);

/* Writes j as indented JSON with a final newline to path, atomically, or to
 * stdout when path is "-" (core/file.h, write_file_or_stdout). j stays the
 * caller's. */
int json_write(const char *path, const cJSON *j, Err *e);

#endif
