/* Test fixtures made by tools/reference.py and tools/hessian_reference.py:
 * "PLTFIX01", a u32 array count, then per array a u32 name length and the
 * name, u32 dtype (0 float32, 1 int32), u32 ndim, ndim u64 dims and the
 * row-major data (tools/README.md). Reading failures fail the calling cmocka
 * test. Files are looked up in $PLATEAU_FIXTURES, else tests/fixtures. */
#ifndef PLATEAU_TEST_FIXTURE_H
#define PLATEAU_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"

#define FIXTURE_MAX_ARRAYS 256

typedef struct {
    char     name[128];
    int      dtype;      /* 0 float32, 1 int32 */
    int      ndim;
    uint64_t dims[4];
    size_t   numel;
    void    *data;       /* own copy: in the file, arrays follow names of any length, so unaligned */
} FixArray;

typedef struct {
    int      count;
    FixArray arr[FIXTURE_MAX_ARRAYS];
} Fixture;

void            fixture_load(Fixture *fx, const char *file);
void            fixture_free(Fixture *fx);
const FixArray *fixture_find(const Fixture *fx, const char *name);   /* NULL if absent */
const FixArray *fixture_get(const Fixture *fx, const char *name);    /* fails the test if absent */

/* Copies array "<prefix>NAME" into dst at each table entry's offset (dst is
 * a flat parameter-layout vector), checking dtype and shape. */
void fixture_load_params(const Fixture *fx, const ParamTable *t, float *dst, const char *prefix);

/* ||a - b|| / ||b||, in double (||a - b|| when b is zero). */
double rel_err(const float *a, const float *b, size_t n);

#endif
