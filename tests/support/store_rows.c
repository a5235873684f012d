#include "support/store_rows.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *store_rows(const char *dir, int *n_rows)
{
    static const char *const QUERIES[] = {
        "SELECT id, status FROM segments ORDER BY id",
        "SELECT segment, step, loss, lr, grad_norm, tokens FROM metrics ORDER BY segment, step",
        "SELECT segment, step, suite, task, metric, value, stderr, n FROM evaluations "
        "ORDER BY segment, step, suite, task, metric",
        "SELECT segment, step, data, trace, stderr, probes, top_eigenvalue FROM sharpness "
        "ORDER BY segment, step, data",
        "SELECT segment, step, suite, task, item, correct, score, score_metric FROM items "
        "ORDER BY segment, step, suite, task, item",
        "SELECT study, arm, seed, pretrain_end, mid_end, base FROM arm_runs ORDER BY study, arm, seed",
        "SELECT arm, seed, sft_lr, segment, chosen FROM sft_sweep ORDER BY arm, seed, sft_lr",
    };
    char path[700];
    snprintf(path, sizeof path, "%s/results.sqlite", dir);
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) fail_msg("cannot open %s", path);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    int rows = 0;
    for (size_t q = 0; q < sizeof QUERIES / sizeof QUERIES[0]; q++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, QUERIES[q], -1, &st, NULL) != SQLITE_OK)
            fail_msg("%s: %s", QUERIES[q], sqlite3_errmsg(db));
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                char cell[128];
                switch (sqlite3_column_type(st, c)) {
                case SQLITE_FLOAT: snprintf(cell, sizeof cell, "%a|", sqlite3_column_double(st, c)); break;
                case SQLITE_NULL: snprintf(cell, sizeof cell, "NULL|"); break;
                default: snprintf(cell, sizeof cell, "%s|", (const char *)sqlite3_column_text(st, c));
                }
                size_t n = strlen(cell);
                while (len + n + 2 > cap) out = realloc(out, cap *= 2);
                memcpy(out + len, cell, n + 1);
                len += n;
            }
            out[len++] = '\n';
            out[len] = 0;
            rows++;
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    if (n_rows) *n_rows = rows;
    return out;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

void assert_same_store_rows(const char *a, const char *b)
{
    if (strcmp(a, b) == 0) return;
    const char *pa = a, *pb = b;
    int line = 1;
    for (;;) {
        size_t la = strcspn(pa, "\n"), lb = strcspn(pb, "\n");
        if (la != lb || memcmp(pa, pb, la) != 0 || !pa[la] || !pb[lb])
            fail_msg("store rows differ (%d rows against %d), first at row %d:\n  %.*s\n  %.*s", count_lines(a),
                     count_lines(b), line, (int)la, pa, (int)lb, pb);
        pa += la + 1;
        pb += lb + 1;
        line++;
    }
}
