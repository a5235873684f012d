/* Test helper: every result row of a study folder's results.sqlite as one
 * text, doubles in hexadecimal (exact), tables and rows in a fixed order,
 * checkpoint paths (which name the folder) left out: segment status,
 * metrics, evaluations, sharpness, items, arm runs and the SFT sweep. Two
 * folders hold the same results exactly when their texts are equal. */
#ifndef PLATEAU_TEST_STORE_ROWS_H
#define PLATEAU_TEST_STORE_ROWS_H

/* Malloc'd; fails the calling cmocka test if the store cannot be read.
 * *n_rows (may be NULL) receives the number of rows. */
char *store_rows(const char *dir, int *n_rows);

/* Fails the calling test unless a and b (store_rows texts) are equal,
 * showing the first line that differs and the row counts. */
void assert_same_store_rows(const char *a, const char *b);

#endif
