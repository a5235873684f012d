#include "core/json_number.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

/* The common checks; *d receives the finite value. */
static int finite_number(const cJSON *j, double *d, Err *e)
{
    if (!j) return err_set(e, "missing");
    if (!cJSON_IsNumber(j)) return err_set(e, "not a number");
    if (!isfinite(j->valuedouble)) return err_set(e, "%g is not finite", j->valuedouble);
    *d = j->valuedouble;
    return 0;
}

int json_integer(const cJSON *j, int64_t lo, int64_t hi, int64_t *out, Err *e)
{
    assert(-JSON_INTEGER_MAX <= lo && lo <= hi && hi <= JSON_INTEGER_MAX);
    double d = 0;
    if (finite_number(j, &d, e)) return -1;
    if (d != floor(d)) return err_set(e, "%g is not an integer", d);
    if (d < (double)lo || d > (double)hi)
        return err_set(e, "%.15g is outside [%" PRId64 ", %" PRId64 "]", d, lo, hi);
    *out = (int64_t)d;   /* exact: |d| <= 2^53 */
    return 0;
}

int json_int(const cJSON *j, int lo, int hi, int *out, Err *e)
{
    int64_t v = 0;
    if (json_integer(j, lo, hi, &v, e)) return -1;
    *out = (int)v;
    return 0;
}

int json_real(const cJSON *j, double lo, double hi, double *out, Err *e)
{
    assert(lo <= hi);
    double d = 0;
    if (finite_number(j, &d, e)) return -1;
    if (d < lo || d > hi) return err_set(e, "%g is outside [%g, %g]", d, lo, hi);
    *out = d;
    return 0;
}

const char *json_number_text(double v, char *buf, size_t size)
{
    if (!isfinite(v)) {
        snprintf(buf, size, "null");
        return buf;
    }
    if (v == floor(v) && fabs(v) < 1e15) {   /* 10000, not 1e+04 */
        snprintf(buf, size, "%.0f", v);
        return buf;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}

const char *json_float_text(float v, char *buf, size_t size)
{
    if (!isfinite(v)) {
        snprintf(buf, size, "null");
        return buf;
    }
    if (v == floorf(v) && fabsf(v) < 1e7f) {
        snprintf(buf, size, "%.0f", (double)v);
        return buf;
    }
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, size, "%.*g", digits, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    return buf;
}

cJSON *json_exact_number(double v)
{
    char text[32];
    if (!isfinite(v)) return cJSON_CreateNull();
    return cJSON_CreateRaw(json_number_text(v, text, sizeof text));
}

cJSON *json_add_exact(cJSON *obj, const char *name, double v)
{
    cJSON *item = json_exact_number(v);
    cJSON_AddItemToObject(obj, name, item);
    return item;
}

cJSON *json_exact_array(const double *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, json_exact_number(v[i]));
    return a;
}

int json_write(const char *path, const cJSON *j, Err *e)
{
    char *text = cJSON_Print(j);
    if (!text) return err_set(e, "%s: out of memory formatting the JSON", path);
    size_t n = strlen(text);
    text[n] = '\n';   /* over the terminator: the output ends with a newline */
    int rc = write_file_or_stdout(path, text, n + 1, e);
    free(text);
    return rc;
}
