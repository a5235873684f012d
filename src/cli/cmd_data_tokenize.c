/* plateau data tokenize: corpus files -> llm.c token shards, streamed
 * (data/docsource.h: text, JSONL, .gz, .zst), in constant memory. Every
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
#include "data/docsource.h"
#include "data/shard.h"
#include "data/textdocs.h"
#include "data/tokenizer.h"

static const OptSpec OPTS[] = {
    {"tokenizer", "FILE", "tokenizer.json (required; at most 65536 tokens)"},
    {"out", "DIR", "directory for the shards (required; created if missing)"},
    {"shard-tokens", "N", "tokens per shard before starting the next (default 100000000)"},
    {"text-field", "NAME", "JSONL: the field holding each document's text (default text)"},
    {"max-bad-lines", "N", "JSONL: skip and count up to N malformed lines instead of stopping at the first (default 0)"},
    {NULL, NULL, NULL},
};

#define USAGE "plateau data tokenize --tokenizer tok.json --out DIR [--text-field NAME] FILES..."
#define ABOUT "Encodes corpus files into llm.c token shards (uint16), streaming: memory stays flat whatever\n" \
              "the file size. FILE.jsonl, FILE.jsonl.gz, FILE.jsonl.zst: one JSON object per line, the document\n" \
              "in its --text-field (FineWeb, Dolma). Other files: UTF-8 text (also .gz, .zst) whose documents are\n" \
              "separated by " TEXTDOCS_SEPARATOR ". Each document is written as <|endoftext|> + its tokens;\n" \
              "FILE.jsonl.zst becomes DIR/FILE_000000.bin (and _000001.bin, ... past --shard-tokens)."

/* "dir/train.jsonl.zst" -> "train" */
static void file_stem(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, size, "%s", base);
    size_t n = strlen(out);
    if (n > 3 && strcmp(out + n - 3, ".gz") == 0) out[n - 3] = 0;
    else if (n > 4 && strcmp(out + n - 4, ".zst") == 0) out[n - 4] = 0;
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

typedef struct {
    const char *dir;
    const char *stem;
    ShardStream out;
    int         open;
    size_t      cap;       /* tokens per shard */
    int         shards;
    size_t      written;
} ShardWriter;

static void flush_shard(ShardWriter *w)
{
    Err e;
    if (!w->open) return;
    w->written += w->out.n_tokens;
    if (shard_stream_close(&w->out, &e)) die(&e);
    w->open = 0;
    w->shards++;
}

static void put_tokens(ShardWriter *w, const int *ids, size_t n)
{
    Err e;
    for (size_t i = 0; i < n; i++) {
        if (!w->open) {
            char name[512], path[4096];
            snprintf(name, sizeof name, "%s_%06d.bin", w->stem, w->shards);
            path_join(path, sizeof path, w->dir, name);
            if (shard_stream_open(&w->out, path, &e)) die(&e);
            w->open = 1;
        }
        uint16_t t = (uint16_t)ids[i];
        if (shard_stream_put(&w->out, &t, 1, &e)) die(&e);
        if (w->out.n_tokens == w->cap) flush_shard(w);
    }
}

/* What every input file is encoded with, and the running totals. */
typedef struct {
    const Tokenizer  *tokenizer;
    TokenizerCache   *cache;
    int               eot;
    DocSourceOptions  source;
    int              *ids;        /* encoding buffer, grown as needed */
    size_t            ids_cap;
    size_t            tokens;     /* written, all files */
    double            file_bytes, text_bytes;
} Encoder;

/* Encodes one corpus file into w's shards (w->stem set by the caller) and
 * prints a line about it. Dies on an unreadable file; returns 1 when out of
 * memory, after saying so. */
static int tokenize_file(const char *path, Encoder *enc, ShardWriter *w)
{
    Err e;
    DocSource *src;
    if (docsource_open(&src, path, &enc->source, &e)) die(&e);
    w->shards = 0;
    w->written = 0;
    Progress p;
    progress_start(&p, path, docsource_disk_size(src), "B");
    const char *doc;
    size_t doc_bytes, n_docs = 0;
    double text_bytes = 0;
    int r;
    while ((r = docsource_next(src, &doc, &doc_bytes, &e)) == 1) {
        size_t n = 0;
        if (tokenizer_encode_cached(enc->tokenizer, enc->cache, doc, doc_bytes, &enc->ids, &n, &enc->ids_cap)) {
            fprintf(stderr, "plateau: out of memory encoding %s\n", path);
            return 1;
        }
        put_tokens(w, &enc->eot, 1);
        put_tokens(w, enc->ids, n);
        n_docs++;
        text_bytes += (double)doc_bytes;
        if ((n_docs & 255) == 0) progress_update(&p, docsource_disk_offset(src));
    }
    if (r < 0) {
        if (w->open) shard_stream_abort(&w->out);
        die(&e);
    }
    flush_shard(w);
    uint64_t file_bytes = docsource_disk_size(src);
    progress_update(&p, file_bytes);
    progress_finish(&p);
    printf("%s: %zu documents, %zu tokens (%.3f text bytes/token) -> %s/%s_*.bin (%d shard%s)\n", path, n_docs,
           w->written, w->written ? text_bytes / (double)w->written : 0.0, w->dir, w->stem, w->shards,
           w->shards == 1 ? "" : "s");
    if (docsource_bad_lines(src))
        printf("%s: skipped %ld bad line%s (first: %s)\n", path, docsource_bad_lines(src),
               docsource_bad_lines(src) == 1 ? "" : "s", docsource_first_bad(src));
    enc->tokens += w->written;
    enc->file_bytes += (double)file_bytes;
    enc->text_bytes += text_bytes;
    docsource_close(src);
    return 0;
}

int cmd_data_tokenize(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    const char *tok_path, *dir;
    long shard_tokens, max_bad;
    if (args_require(&a, "tokenizer", &tok_path, &e) || args_require(&a, "out", &dir, &e) ||
        args_long(&a, "shard-tokens", 100000000, &shard_tokens, &e) || args_long(&a, "max-bad-lines", 0, &max_bad, &e))
        args_fail(&e);
    if (shard_tokens <= 0 || shard_tokens > 0x7fffffffL) {
        fprintf(stderr, "plateau: --shard-tokens must be in 1..2147483647\n");
        return EXIT_USAGE;
    }
    if (max_bad < 0) {
        fprintf(stderr, "plateau: --max-bad-lines must be 0 or more\n");
        return EXIT_USAGE;
    }
    if (a.n_positional == 0) { fprintf(stderr, "plateau: no corpus files given (see --help)\n"); return EXIT_USAGE; }
    char stems[ARGS_MAX][256];
    for (int i = 0; i < a.n_positional; i++) {
        file_stem(a.positional[i], stems[i], sizeof stems[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(stems[i], stems[j]) == 0) {
                fprintf(stderr, "plateau: %s and %s would both write %s/%s_*.bin; rename one\n",
                        a.positional[j], a.positional[i], dir, stems[i]);
                return EXIT_USAGE;
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
    Encoder enc = {
        .tokenizer = t,
        .cache = tokenizer_cache_new_capped(1 << 18),   /* bounded: memory stays flat */
        .eot = tokenizer_special(t, SPECIAL_ENDOFTEXT),
        .source = {.text_field = args_str(&a, "text-field", "text"), .max_bad_lines = max_bad},
    };
    ShardWriter w = {.dir = dir, .cap = (size_t)shard_tokens};
    double t0 = now_seconds();
    for (int i = 0; i < a.n_positional; i++) {
        w.stem = stems[i];
        if (tokenize_file(a.positional[i], &enc, &w)) return 1;
    }
    double s = now_seconds() - t0, mb_files = enc.file_bytes / 1e6, mb_text = enc.text_bytes / 1e6;
    printf("tokens written    %zu (%.1f MB of files, %.1f MB of text, in %.2f s: %.1f MB/s of files, %.1f MB/s of text)\n",
           enc.tokens, mb_files, mb_text, s, s > 0 ? mb_files / s : 0.0, s > 0 ? mb_text / s : 0.0);
    free(enc.ids);
    tokenizer_cache_free(enc.cache);
    tokenizer_free(t);
    return 0;
}
