#include "data/worldfile.h"

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
