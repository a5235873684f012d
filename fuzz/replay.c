/* The plain driver: runs LLVMFuzzerTestOneInput once on every file of the
 * harness's corpus (FUZZ_CORPUS, a directory, relative to the repository
 * root), as one cmocka test, so `make test` replays every input a fuzzer
 * ever kept or found without needing clang. A crash fails the run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "fuzz.h"

#ifndef FUZZ_CORPUS
#error "build with -DFUZZ_CORPUS=\"fuzz/corpus/<name>\""
#endif

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void every_corpus_file_is_handled(void **state)
{
    (void)state;
    DIR *d = opendir(FUZZ_CORPUS);
    if (!d) fail_msg("%s: cannot open the corpus directory", FUZZ_CORPUS);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) names = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);   /* the same order every run */
    for (size_t i = 0; i < n; i++) {
        char path[1024], *data;
        size_t bytes;
        Err e;
        path_join(path, sizeof path, FUZZ_CORPUS, names[i]);
        if (read_file(path, &data, &bytes, &e)) fail_msg("%s", e.msg);
        LLVMFuzzerTestOneInput((const uint8_t *)data, bytes);
        free(data);
        free(names[i]);
    }
    free(names);
    printf("%s: %zu inputs replayed\n", FUZZ_CORPUS, n);
    assert_true(n > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(every_corpus_file_is_handled)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
