#include "support/checkpoint_files.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/file.h"

float *checkpoint_files_load(const char *dir, Lineage *lin, AdamW *opt, size_t *n)
{
    Config c;
    Err e;
    if (checkpoint_read_config(dir, &c, &e)) fail_msg("%s", e.msg);
    ParamTable t;
    param_table_build(&t, &c);
    float *p = malloc(t.total * sizeof(float));
    AdamWConfig oc = adamw_defaults();
    adamw_create(opt, &oc, &t);
    int has;
    if (checkpoint_load(dir, &c, p, opt, &has, lin, &e)) fail_msg("%s", e.msg);
    if (n) *n = t.total;
    param_table_free(&t);
    return p;
}

void assert_same_checkpoint_file(const char *dir_a, const char *dir_b, const char *name)
{
    char pa[4096], pb[4096], *a, *b;
    size_t na, nb;
    Err e;
    path_join(pa, sizeof pa, dir_a, name);
    path_join(pb, sizeof pb, dir_b, name);
    if (read_file(pa, &a, &na, &e) || read_file(pb, &b, &nb, &e)) fail_msg("%s", e.msg);
    if (na != nb || memcmp(a, b, na) != 0) fail_msg("%s differs between %s and %s", name, dir_a, dir_b);
    free(a);
    free(b);
}
