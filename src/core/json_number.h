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

#endif
