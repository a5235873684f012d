#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

void fixture_load(Fixture *fx, const char *file)
{
    const char *dir = getenv("PLATEAU_FIXTURES");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/fixtures", file);
    char *buf;
    size_t n;
    Err e;
    if (read_file(path, &buf, &n, &e)) fail_msg("%s (run from the repository root)", e.msg);
    assert_true(n > 12);
    assert_memory_equal(buf, "PLTFIX01", 8);
    size_t pos = 8;
#define TAKE(dst, bytes) (assert_true(pos + (bytes) <= n), memcpy((dst), buf + pos, (bytes)), pos += (bytes))
    uint32_t count;
    TAKE(&count, 4);
    assert_true(count <= FIXTURE_MAX_ARRAYS);
    fx->count = (int)count;
    for (int i = 0; i < fx->count; i++) {
        FixArray *a = &fx->arr[i];
        uint32_t len, dtype, ndim;
        TAKE(&len, 4);
        assert_true(len < sizeof a->name);
        TAKE(a->name, len);
        a->name[len] = 0;
        TAKE(&dtype, 4);
        TAKE(&ndim, 4);
        assert_true(ndim <= 4);
        a->dtype = (int)dtype;
        a->ndim = (int)ndim;
        a->numel = 1;
        for (uint32_t k = 0; k < ndim; k++) {
            TAKE(&a->dims[k], 8);
            a->numel *= a->dims[k];
        }
        assert_true(pos + a->numel * 4 <= n);
        a->data = malloc(a->numel * 4 + 4);
        assert_non_null(a->data);
        memcpy(a->data, buf + pos, a->numel * 4);
        pos += a->numel * 4;
    }
#undef TAKE
    assert_int_equal(pos, n);
    free(buf);
}

void fixture_free(Fixture *fx)
{
    for (int i = 0; i < fx->count; i++) free(fx->arr[i].data);
    fx->count = 0;
}

const FixArray *fixture_find(const Fixture *fx, const char *name)
{
    for (int i = 0; i < fx->count; i++)
        if (strcmp(fx->arr[i].name, name) == 0) return &fx->arr[i];
    return NULL;
}

const FixArray *fixture_get(const Fixture *fx, const char *name)
{
    const FixArray *a = fixture_find(fx, name);
    if (!a) fail_msg("fixture has no array '%s'", name);
    return a;
}

void fixture_load_params(const Fixture *fx, const ParamTable *t, float *dst, const char *prefix)
{
    for (int i = 0; i < t->count; i++) {
        const ParamEntry *p = &t->entries[i];
        char name[160];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        const FixArray *a = fixture_get(fx, name);
        assert_int_equal(a->dtype, 0);
        assert_int_equal(a->numel, p->numel);
        assert_int_equal(a->dims[0], p->shape[0]);
        memcpy(dst + p->offset, a->data, p->numel * sizeof(float));
    }
}

double rel_err(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
