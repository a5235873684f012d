/* Evaluation throughput on a generated bios world: the pt suite (multiple
 * choice, items/s), the sft suite (greedy generation with the KV cache,
 * items/s and generated tokens/s, next to generation without the cache), and
 * the validation loss (tokens/s), for micro- and mini-sized models.
 *
 *   ./build/bench/bench_eval [micro|mini ...] [--items N] [--max-new N]
 *
 * Weights are random (throughput does not depend on them), so generation
 * rarely stops early: every answer runs to --max-new tokens, the worst case. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/progress.h"
#include "data/bios.h"
#include "data/tokenizer.h"
#include "eval/lm.h"
#include "eval/loss.h"
#include "eval/qa.h"
#include "eval/task.h"
#include "eval/suite.h"
#include "model/llama.h"
#include "model/matmul.h"

static void check(int rc, const Err *e)
{
    if (rc) {
        fprintf(stderr, "bench_eval: %s\n", e->msg);
        exit(1);
    }
}

/* The first n lines of a task file, as a new file (so --items bounds the run). */
static void head_file(const char *src, const char *dst, int n)
{
    char *text;
    size_t bytes;
    Err e;
    check(read_file(src, &text, &bytes, &e), &e);
    size_t k = 0;
    for (int line = 0; line < n && k < bytes; k++)
        if (text[k] == '\n') line++;
    check(write_file_atomic(dst, text, k, &e), &e);
    free(text);
}

static void run_preset(const char *preset, const char *world, int items, int max_new)
{
    Err e;
    Config c;
    check(config_preset(&c, preset, &e), &e);
    char path[4096], mc[4096], qa[4096], tok_path[4096];
    path_join(tok_path, sizeof tok_path, world, "tokenizer.json");
    Tokenizer *tok;
    check(tokenizer_load(&tok, tok_path, &e), &e);
    c.vocab_size = tokenizer_vocab_size(tok);
    path_join(path, sizeof path, world, "eval_mc_test.jsonl");
    path_join(mc, sizeof mc, world, "bench_mc.jsonl");
    head_file(path, mc, items);
    path_join(path, sizeof path, world, "eval_qa_test.jsonl");
    path_join(qa, sizeof qa, world, "bench_qa.jsonl");
    head_file(path, qa, items / 4);

    Model m;
    int B = 16;
    check(model_create(&m, &c, B, c.seq_len, &e), &e);
    model_init_weights(&m, 1);
    printf("%-6s dim %d, %d layers, vocab %d, seq_len %d, %.2fM params, %d threads, %s\n", preset, c.dim,
           c.n_layers, c.vocab_size, c.seq_len, (double)m.n_params / 1e6, omp_get_max_threads(), matmul_backend());

    /* pt: multiple choice, 4 choices per item, batches of 16 rows */
    LmScorer s;
    lm_scorer_init(&s, &m);
    EvalReport r;
    eval_report_init(&r, "pt");
    const char *mc_files[] = {mc};
    check(eval_suite_pt(&r, mc_files, 1, tok, &s.scorer, 0, &e), &e);
    printf("  pt   multiple choice      %7ld items in %6.2f s  %8.1f items/s\n", r.items, r.seconds,
           r.items / r.seconds);
    eval_report_free(&r);

    /* sft: greedy generation, with and without the KV cache */
    for (int cache = 1; cache >= 0; cache--) {
        LmGenerator g;
        check(lm_generator_init(&g, &m, B, cache, &e), &e);
        Task t;
        check(task_load(&t, qa, &e), &e);
        long n = cache ? t.n_items : (t.n_items < 10 ? t.n_items : 10);
        QaResult q;
        double t0 = now_seconds();
        Progress p;
        progress_start(&p, "sft", (uint64_t)n, "items");
        check(qa_evaluate(&t, tok, &g.gen, max_new, n, &q, &p, &e), &e);
        progress_finish(&p);
        double dt = now_seconds() - t0;
        printf("  sft  generation %-8s %7ld items in %6.2f s  %8.1f items/s  %8.0f generated tokens/s\n",
               cache ? "cached" : "no cache", q.n, dt, q.n / dt, q.generated_tokens / dt);
        qa_result_free(&q);
        task_free(&t);
        lm_generator_free(&g);
    }

    /* loss: windows of seq_len over the tokenised pre-training text */
    path_join(path, sizeof path, world, "pretrain.txt");
    char *text;
    size_t bytes;
    check(read_file(path, &text, &bytes, &e), &e);
    size_t want = (size_t)(64 * c.seq_len + 1) * 8;   /* ~8 bytes/token is ample */
    int *ids = NULL;
    size_t n_ids = 0, cap = 0;
    tokenizer_encode(tok, text, bytes < want ? bytes : want, &ids, &n_ids, &cap);
    free(text);
    uint16_t *t16 = malloc(n_ids * sizeof *t16);
    for (size_t i = 0; i < n_ids; i++) t16[i] = (uint16_t)ids[i];
    size_t n_tok = n_ids < (size_t)(64 * c.seq_len + 1) ? n_ids : (size_t)(64 * c.seq_len + 1);
    LossResult l;
    double t0 = now_seconds();
    check(loss_evaluate(t16, NULL, n_tok, LOADER_STREAM, &s.scorer, &l, NULL, &e), &e);
    double dt = now_seconds() - t0;
    printf("  loss windows of %-4d     %7lld windows in %5.2f s %8.0f tokens/s\n", c.seq_len,
           (long long)l.n_windows, dt, (double)l.n_scored / dt);
    free(ids);
    free(t16);
    lm_scorer_free(&s);
    model_free(&m);
    tokenizer_free(tok);
}

int main(int argc, char **argv)
{
    const char *presets[8];
    int n_presets = 0, items = 400, max_new = 16;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--items") == 0 && i + 1 < argc) items = atoi(argv[++i]);
        else if (strcmp(argv[i], "--max-new") == 0 && i + 1 < argc) max_new = atoi(argv[++i]);
        else if (n_presets < 8) presets[n_presets++] = argv[i];
    }
    if (n_presets == 0) {
        presets[0] = "micro";
        presets[1] = "mini";
        n_presets = 2;
    }
    progress_quiet(1);

    /* a bios world of 1000 people and a 4096-token tokenizer on its text */
    Err e;
    char dir[] = "/tmp/plateau_bench_eval_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    BiosOptions o;
    bios_default_options(&o);
    o.people = 1000;
    BiosWorld w;
    check(bios_generate(&w, &o, &e), &e);
    check(bios_write(&w, dir, NULL, &e), &e);
    bios_free(&w);
    char path[4096], *text;
    size_t bytes;
    path_join(path, sizeof path, dir, "pretrain.txt");
    check(read_file(path, &text, &bytes, &e), &e);
    Tokenizer *tok;
    check(tokenizer_train(&tok, text, bytes, 2048, &e), &e);
    free(text);
    path_join(path, sizeof path, dir, "tokenizer.json");
    check(tokenizer_save(tok, path, &e), &e);
    tokenizer_free(tok);
    printf("bios world: 1000 people, tokenizer 2048 tokens; %d MC items (4 choices), %d QA items, max %d new tokens\n",
           items, items / 4, max_new);

    for (int i = 0; i < n_presets; i++) run_preset(presets[i], dir, items, max_new);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
