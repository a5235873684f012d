/* plateau data corpus: a synthetic FineWeb-layout JSONL corpus of a given
 * size (data/corpus.h), for trying and benchmarking the corpus readers. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/progress.h"
#include "data/corpus.h"

static const OptSpec OPTS[] = {
    {"out", "FILE", "FILE.jsonl, FILE.jsonl.gz or FILE.jsonl.zst to write (required)"},
    {"bytes", "N", "JSONL bytes before compression; K, M, G are powers of 1000 (default 10M)"},
    {"seed", "S", "seed of the world and of the documents (default 1)"},
    {NULL, NULL, NULL},
};

static int parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    double mult = *end == 'K' ? 1e3 : *end == 'M' ? 1e6 : *end == 'G' ? 1e9 : 1;
    if (mult > 1) end++;
    if (*end || v <= 0 || v * mult > 1e15) return -1;
    *out = (uint64_t)(v * mult);
    return 0;
}

int cmd_data_corpus(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, "plateau data corpus --out FILE.jsonl.zst [--bytes 1G] [--seed S]",
                   "Writes a synthetic web-style corpus in the FineWeb JSONL layout ({\"text\", \"id\", \"url\", ...}\n"
                   "per line), texts made of short biographies from a bios world, compressed by the file's name."))
        return 0;
    const char *out;
    long seed;
    uint64_t bytes;
    if (args_require(&a, "out", &out, &e) || args_long(&a, "seed", 1, &seed, &e)) args_fail(&e);
    if (parse_bytes(args_str(&a, "bytes", "10M"), &bytes)) {
        fprintf(stderr, "plateau: --bytes %s: expected a positive size such as 500M or 1G\n", args_str(&a, "bytes", ""));
        return EXIT_USAGE;
    }
    double t0 = now_seconds();
    CorpusStats st;
    if (corpus_write(out, bytes, (uint64_t)seed, &st, &e)) die(&e);
    double s = now_seconds() - t0;
    printf("%s: %" PRIu64 " documents, %.1f MB of JSONL, %.1f MB on disk (%.1f s)\n", out, st.documents,
           (double)st.text_bytes / 1e6, (double)st.disk_bytes / 1e6, s);
    return 0;
}
