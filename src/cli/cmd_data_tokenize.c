/* plateau data tokenize: UTF-8 text files -> llm.c token shards. Every
 * document starts with <|endoftext|> (llm.c's convention); each input file
 * gives its own shards DIR/<name>_000000.bin, ... of at most --shard-tokens. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/file.h"
#include "core/progress.h"
#include "data/shard.h"
#include "data/textdocs.h"
#include "data/tokenizer.h"

static const OptSpec OPTS[] = {
    {"tokenizer", "FILE", "tokenizer.json (required; at most 65536 tokens)"},
    {"out", "DIR", "directory for the shards (required; created if missing)"},
    {"shard-tokens", "N", "tokens per shard before starting the next (default 100000000)"},
    {NULL, NULL, NULL},
};

#define USAGE "plateau data tokenize --tokenizer tok.json --out DIR FILES..."
#define ABOUT "Encodes UTF-8 text files into llm.c token shards (uint16). Documents within a\n" \
              "file are separated by " TEXTDOCS_SEPARATOR "; each is written as <|endoftext|> + its tokens.\n" \
              "FILE.txt becomes DIR/FILE_000000.bin (and _000001.bin, ... past --shard-tokens)."

/* "dir/train.txt" -> "train" */
static void file_stem(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, size, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

typedef struct {
    const char *dir;
    const char *stem;
    uint16_t   *buf;
    size_t      used, cap;     /* cap = tokens per shard */
    int         shards;
    size_t      written;
} ShardWriter;

static void flush_shard(ShardWriter *w)
{
    if (w->used == 0) return;
    char name[512], path[4096];
    Err e;
    snprintf(name, sizeof name, "%s_%06d.bin", w->stem, w->shards);
    path_join(path, sizeof path, w->dir, name);
    if (shard_write(path, w->buf, w->used, &e)) die(&e);
    w->written += w->used;
    w->shards++;
    w->used = 0;
}

static void put_tokens(ShardWriter *w, const int *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        w->buf[w->used++] = (uint16_t)ids[i];
        if (w->used == w->cap) flush_shard(w);
    }
}

/* Line and column (1-based, in bytes) of offset in text, for messages. */
static void line_col(const char *text, size_t offset, size_t *line, size_t *col)
{
    *line = 1;
    size_t start = 0;
    for (size_t i = 0; i < offset; i++)
        if (text[i] == '\n') { (*line)++; start = i + 1; }
    *col = offset - start + 1;
}

int cmd_data_tokenize(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    const char *tok_path, *dir;
    long shard_tokens;
    if (args_require(&a, "tokenizer", &tok_path, &e) || args_require(&a, "out", &dir, &e) ||
        args_long(&a, "shard-tokens", 100000000, &shard_tokens, &e))
        die(&e);
    if (shard_tokens <= 0 || shard_tokens > 0x7fffffffL) {
        fprintf(stderr, "plateau: --shard-tokens must be in 1..2147483647\n");
        return 2;
    }
    if (a.n_positional == 0) { fprintf(stderr, "plateau: no text files given (see --help)\n"); return 2; }
    char stems[ARGS_MAX][256];
    for (int i = 0; i < a.n_positional; i++) {
        file_stem(a.positional[i], stems[i], sizeof stems[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(stems[i], stems[j]) == 0) {
                fprintf(stderr, "plateau: %s and %s would both write %s/%s_*.bin; rename one\n",
                        a.positional[j], a.positional[i], dir, stems[i]);
                return 2;
            }
    }
    Tokenizer *t;
    if (tokenizer_load(&t, tok_path, &e)) die(&e);
    if (tokenizer_vocab_size(t) > 65536) {
        fprintf(stderr, "plateau: %s: a vocabulary of %d tokens does not fit uint16 token shards (at most 65536)\n",
                tok_path, tokenizer_vocab_size(t));
        return 1;
    }
    if (make_dirs(dir, &e)) die(&e);
    const int eot = tokenizer_special(t, SPECIAL_ENDOFTEXT);
    TokenizerCache *cache = tokenizer_cache_new();

    ShardWriter w = {.dir = dir, .cap = (size_t)shard_tokens};
    w.buf = xmalloc(w.cap * sizeof *w.buf);
    size_t total = 0;
    double t0 = now_seconds(), total_bytes = 0;
    for (int i = 0; i < a.n_positional; i++) {
        char *text;
        size_t bytes;
        if (read_file(a.positional[i], &text, &bytes, &e)) die(&e);
        size_t bad = utf8_first_invalid(text, bytes);
        if (bad < bytes) {
            size_t line, col;
            line_col(text, bad, &line, &col);
            fprintf(stderr, "plateau: %s:%zu:%zu: not UTF-8 (byte 0x%02X at offset %zu)\n", a.positional[i], line,
                    col, (unsigned char)text[bad], bad);
            return 1;
        }
        w.stem = stems[i];
        w.shards = 0;
        w.written = 0;
        Progress p;
        progress_start(&p, a.positional[i], bytes, "B");
        TextDocs docs;
        const char *doc;
        size_t doc_bytes, n_docs = 0;
        int *ids = NULL;
        size_t cap = 0;
        textdocs_begin(&docs, text, bytes);
        while (textdocs_next(&docs, &doc, &doc_bytes)) {
            size_t n = 0;
            if (tokenizer_encode_cached(t, cache, doc, doc_bytes, &ids, &n, &cap)) {
                fprintf(stderr, "plateau: out of memory encoding %s\n", a.positional[i]);
                return 1;
            }
            put_tokens(&w, &eot, 1);
            put_tokens(&w, ids, n);
            n_docs++;
            progress_update(&p, (uint64_t)(doc + doc_bytes - text));
        }
        flush_shard(&w);
        progress_update(&p, bytes);
        progress_finish(&p);
        printf("%s: %zu documents, %zu tokens (%.3f bytes/token) -> %s/%s_*.bin (%d shard%s)\n", a.positional[i],
               n_docs, w.written, w.written ? (double)bytes / (double)w.written : 0.0, dir, w.stem, w.shards,
               w.shards == 1 ? "" : "s");
        total += w.written;
        total_bytes += (double)bytes;
        free(ids);
        free(text);
    }
    double s = now_seconds() - t0;
    printf("tokens written    %zu (%.1f MB of text in %.2f s, %.1f MB/s)\n", total, total_bytes / 1e6, s,
           s > 0 ? total_bytes / 1e6 / s : 0.0);
    free(w.buf);
    tokenizer_cache_free(cache);
    tokenizer_free(t);
    return 0;
}
