#include "data/worldfile.h"

#include <stdlib.h>
#include <string.h>

#include "core/file.h"

int world_file_emit(const char *dir, const char *name, TextBuf *b, long lines, WorldFileInfo *files,
                    int *n_files, Err *e)
{
    char path[4096];
    path_join(path, sizeof path, dir, name);
    if (write_file_atomic(path, b->data ? b->data : "", b->len, e)) return -1;
    files[*n_files] = (WorldFileInfo){name, lines, (long)b->len};
    (*n_files)++;
    textbuf_free(b);
    return 0;
}

void world_files_json(TextBuf *out, const WorldFileInfo *files, int n)
{
    textbuf_putc(out, '{');
    int first = 1;
    for (int f = 0; f < n; f++) {
        if (!files[f].name) continue;
        textbuf_puts(out, first ? "\n    " : ",\n    ");
        first = 0;
        textbuf_json_string(out, files[f].name);
        textbuf_puts(out, ": {\"");
        textbuf_puts(out, strstr(files[f].name, ".txt") ? "documents" : "records");
        textbuf_puts(out, "\": ");
        textbuf_long(out, files[f].lines);
        textbuf_puts(out, ", \"bytes\": ");
        textbuf_long(out, files[f].bytes);
        textbuf_putc(out, '}');
    }
    textbuf_puts(out, "\n  }");
}

void world_splits_json(TextBuf *out, long test, long train, long mid, long eval_train)
{
    textbuf_puts(out, "{\"test\": ");
    textbuf_long(out, test);
    textbuf_puts(out, ", \"train\": ");
    textbuf_long(out, train);
    textbuf_puts(out, ", \"mid\": ");
    textbuf_long(out, mid);
    textbuf_puts(out, ", \"eval_train\": ");
    textbuf_long(out, eval_train);
    textbuf_putc(out, '}');
}

long world_split_records(TextBuf *lines, size_t n, Rng *r, TextBuf *train, TextBuf *valid, long *n_valid)
{
    uint32_t *order = xmalloc((n ? n : 1) * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    rng_shuffle_u32(r, order, n);
    size_t n_train = n * 9 / 10;
    for (size_t i = 0; i < n; i++) {
        TextBuf *l = &lines[order[i]];
        textbuf_append(i < n_train ? train : valid, l->data, l->len);
        textbuf_free(l);
    }
    free(order);
    free(lines);
    *n_valid = (long)(n - n_train);
    return (long)n_train;
}
