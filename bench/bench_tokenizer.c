/* Tokenizer benchmark: training time and encoding throughput on two corpora,
 * side by side: the generated bios world's pre-training text (what a study
 * tokenizes; 5,000 people, ~8 MB) and WordNet's glosses (definitions and
 * examples from Debian's wordnet-base, ~9 MB, real English), one document a
 * line.
 *
 *   build/bench/bench_tokenizer [MB]     (default: each whole corpus)
 *
 * Times are process CPU seconds, best of 3: the code is single-threaded, and
 * CPU time stays meaningful when other jobs share the machine (wall time is
 * printed too for the whole run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "core/progress.h"
#include "data/bios.h"
#include "data/textdocs.h"
#include "data/tokenizer.h"

#define WORDNET_DIR "/usr/share/wordnet"

/* Appends the gloss of every synset line ("... | gloss") of a wndb data file. */
static void append_glosses(const char *path, char **text, size_t *used, size_t *cap, size_t limit)
{
    Err e;
    char *data;
    size_t bytes;
    if (read_file(path, &data, &bytes, &e)) die(&e);
    for (char *line = data; line < data + bytes && *used < limit;) {
        char *end = memchr(line, '\n', (size_t)(data + bytes - line));
        if (!end) end = data + bytes;
        char *bar = line[0] != ' ' ? memchr(line, '|', (size_t)(end - line)) : NULL;   /* licence lines start with spaces */
        if (bar) {
            char *g = bar + 1;
            while (g < end && *g == ' ') g++;
            char *ge = end;
            while (ge > g && ge[-1] == ' ') ge--;
            size_t n = (size_t)(ge - g);
            if (*used + n + 1 > *cap) {
                while (*used + n + 1 > *cap) *cap *= 2;
                *text = realloc(*text, *cap);
                if (!*text) { fprintf(stderr, "out of memory\n"); exit(1); }
            }
            memcpy(*text + *used, g, n);
            *used += n;
            (*text)[(*used)++] = '\n';
        }
        line = end + 1;
    }
    free(data);
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void cpu_name(char *out, size_t size)
{
    snprintf(out, size, "unknown CPU");
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp) return;
    char line[512];
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) snprintf(out, size, "%s", c + 2);
            out[strcspn(out, "\n")] = 0;
            break;
        }
    fclose(fp);
}

static double train_seconds(const char *text, size_t bytes, int vocab, Tokenizer **keep)
{
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        Err e;
        Tokenizer *t;
        double t0 = cpu_seconds();
        if (tokenizer_train(&t, text, bytes, vocab, &e)) die(&e);
        double s = cpu_seconds() - t0;
        if (s < best) best = s;
        if (rep == 2 && keep) *keep = t;
        else tokenizer_free(t);
    }
    return best;
}

/* Training and encoding figures for one corpus. */
static void bench_corpus(const char *text, size_t used)
{
    /* training: best of 3 (it is deterministic, so the runs are identical) */
    size_t train_bytes = used < 4000000 ? used : 4000000;
    Tokenizer *t8k = NULL, *t32k = NULL;
    double s8k_4 = train_seconds(text, train_bytes, 8192, NULL);
    double s8k = train_seconds(text, used, 8192, &t8k);
    double s32k = train_seconds(text, used, 32768, &t32k);
    printf("train          vocab  8192 on %5.2f MB: %.3f s\n", (double)train_bytes / 1e6, s8k_4);
    printf("train          vocab  8192 on %5.2f MB: %.3f s (reached %d)\n", (double)used / 1e6, s8k,
           tokenizer_vocab_size(t8k));
    printf("train          vocab 32768 on %5.2f MB: %.3f s (reached %d)\n", (double)used / 1e6, s32k,
           tokenizer_vocab_size(t32k));

    /* encoding the whole corpus in one call (with the word cache), line by
     * line (each call too short for the cache), and line by line with a
     * TokenizerCache; best of 3 */
    Tokenizer *toks[2] = {t8k, t32k};
    for (int k = 0; k < 2; k++) {
        int *ids = NULL;
        size_t n = 0, ids_cap = 0;
        double best_whole = 1e30, best_lines = 1e30, best_cached = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            n = 0;
            double t0 = cpu_seconds();
            if (tokenizer_encode(toks[k], text, used, &ids, &n, &ids_cap)) exit(1);
            double s = cpu_seconds() - t0;
            if (s < best_whole) best_whole = s;
        }
        size_t whole_n = n;
        for (int rep = 0; rep < 3; rep++) {
            n = 0;
            double t0 = cpu_seconds();
            for (size_t pos = 0; pos < used;) {
                char *end = memchr(text + pos, '\n', used - pos);
                size_t len = end ? (size_t)(end - (text + pos)) + 1 : used - pos;
                if (tokenizer_encode(toks[k], text + pos, len, &ids, &n, &ids_cap)) exit(1);
                pos += len;
            }
            double s = cpu_seconds() - t0;
            if (s < best_lines) best_lines = s;
        }
        for (int rep = 0; rep < 3; rep++) {
            n = 0;
            TokenizerCache *cache = tokenizer_cache_new();
            double t0 = cpu_seconds();
            for (size_t pos = 0; pos < used;) {
                char *end = memchr(text + pos, '\n', used - pos);
                size_t len = end ? (size_t)(end - (text + pos)) + 1 : used - pos;
                if (tokenizer_encode_cached(toks[k], cache, text + pos, len, &ids, &n, &ids_cap)) exit(1);
                pos += len;
            }
            double s = cpu_seconds() - t0;
            if (s < best_cached) best_cached = s;
            tokenizer_cache_free(cache);
        }
        if (n != whole_n) printf("MISMATCH: %zu tokens line by line, %zu in one call\n", n, whole_n);
        double t0 = cpu_seconds();
        size_t back_bytes;
        char *back = tokenizer_decode(toks[k], ids, whole_n, &back_bytes);
        double decode_s = cpu_seconds() - t0;
        int same = back && back_bytes == used && memcmp(back, text, used) == 0;
        printf("encode         vocab %5d: %.3f bytes/token\n", tokenizer_vocab_size(toks[k]),
               (double)used / (double)whole_n);
        printf("                 one call %.1f MB/s; line by line %.1f MB/s, with a TokenizerCache %.1f MB/s\n",
               (double)used / 1e6 / best_whole, (double)used / 1e6 / best_lines, (double)used / 1e6 / best_cached);
        printf("                 decode %.0f MB/s; round trip %s\n", (double)used / 1e6 / decode_s,
               same ? "ok" : "FAILED");
        free(back);
        free(ids);
    }
    tokenizer_free(t8k);
    tokenizer_free(t32k);
}

/* The bios world's pre-training documents, one a line, cut at limit bytes. */
static char *bios_corpus(size_t limit, size_t *used)
{
    Err e;
    char dir[] = "/tmp/plateau-bench-tok-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); exit(1); }
    BiosOptions o;
    bios_default_options(&o);
    o.people = 5000;
    BiosWorld w;
    if (bios_generate(&w, &o, &e) || bios_write(&w, dir, NULL, &e)) die(&e);
    bios_free(&w);
    char path[256], *raw;
    size_t bytes;
    path_join(path, sizeof path, dir, "pretrain.txt");
    if (read_file(path, &raw, &bytes, &e)) die(&e);
    char *text = textdocs_join(raw, bytes, used);
    free(raw);
    if (*used > limit) {
        while (limit > 0 && text[limit - 1] != '\n') limit--;
        *used = limit;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return text;
}

int main(int argc, char **argv)
{
    double wall0 = now_seconds();
    double mb_limit = argc > 1 ? atof(argv[1]) : 1e9;
    size_t limit = (size_t)(mb_limit * 1e6), used = 0, cap = 1 << 20;
    char cpu[256];
    cpu_name(cpu, sizeof cpu);
    printf("machine        %s, %ld cores\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));

    char *text = bios_corpus(limit, &used);
    size_t lines = 0;
    for (size_t i = 0; i < used; i++) lines += text[i] == '\n';
    printf("\ncorpus         bios world pre-training text (5000 people), %.2f MB, %zu documents\n",
           (double)used / 1e6, lines);
    bench_corpus(text, used);
    free(text);

    used = 0;
    text = malloc(cap);
    const char *files[] = {"data.noun", "data.verb", "data.adj", "data.adv"};
    for (int i = 0; i < 4; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", WORDNET_DIR, files[i]);
        append_glosses(path, &text, &used, &cap, limit);
    }
    lines = 0;
    for (size_t i = 0; i < used; i++) lines += text[i] == '\n';
    printf("\ncorpus         WordNet glosses, %.2f MB, %zu lines\n", (double)used / 1e6, lines);
    bench_corpus(text, used);
    free(text);
    printf("wall time      %.1f s for the whole benchmark\n", now_seconds() - wall0);
    return 0;
}
