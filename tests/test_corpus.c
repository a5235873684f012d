/* Real-data formats: compressed files and their lines, corpus documents from
 * text and JSONL (plain, .gz, .zst) with the same tokens, bad lines with
 * file:line and --max-bad-lines, streamed shards, Tulu-layout SFT files, and
 * a study whose world is files (a .jsonl.gz corpus and a Tulu SFT file) run
 * end to end on the nano model. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "data/bios.h"
#include "data/chat.h"
#include "data/corpus.h"
#include "data/docsource.h"
#include "data/shard.h"
#include "data/textbuf.h"
#include "data/zfile.h"
#include "study/runner.h"
#include "study/spec.h"
#include "study/store.h"

static char g_root[64];

static void path_in_root(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_root, name); }

/* Writes text to root/name (compressed by the name) and returns the path. */
static const char *put(const char *name, const char *text)
{
    static char path[8][256];
    static int k;
    char *p = path[k++ % 8];
    path_in_root(p, 256, name);
    Err e;
    ZWriter *w;
    assert_int_equal(zwriter_open(&w, p, &e), 0);
    assert_int_equal(zwriter_write(w, text, strlen(text), &e), 0);
    assert_int_equal(zwriter_commit(w, &e), 0);
    return p;
}

/* All documents of a file, each followed by '\n', and their count. */
static char *all_docs(const char *path, const DocSourceOptions *o, long *n_docs, long *bad, Err *e, int *rc)
{
    DocSource *s;
    *rc = docsource_open(&s, path, o, e);
    if (*rc) return NULL;
    TextBuf b = {0};
    const char *doc;
    size_t bytes;
    int r;
    *n_docs = 0;
    while ((r = docsource_next(s, &doc, &bytes, e)) == 1) {
        textbuf_append(&b, doc, bytes);
        textbuf_putc(&b, '\n');
        (*n_docs)++;
    }
    *rc = r;
    if (bad) *bad = docsource_bad_lines(s);
    docsource_close(s);
    if (!b.data) textbuf_puts(&b, "");
    return b.data;
}

static void compressed_files_read_back_line_by_line(void **state)
{
    (void)state;
    static const char text[] = "first line\r\nsecond\n\nlast without newline";
    static const char *const names[] = {"l.txt", "l.txt.gz", "l.txt.zst"};
    for (int k = 0; k < 3; k++) {
        const char *p = put(names[k], text);
        Err e;
        LineReader *r;
        assert_int_equal(linereader_open(&r, p, &e), 0);
        const char *line;
        size_t n;
        static const char *const want[] = {"first line", "second", "", "last without newline"};
        for (int i = 0; i < 4; i++) {
            assert_int_equal(linereader_next(r, &line, &n, &e), 1);
            assert_int_equal(linereader_line(r), i + 1);
            assert_int_equal(n, strlen(want[i]));
            assert_memory_equal(line, want[i], n);
        }
        assert_int_equal(linereader_next(r, &line, &n, &e), 0);
        linereader_close(r);
    }
}

static void a_line_longer_than_the_read_window_comes_back_whole(void **state)
{
    (void)state;
    size_t big = 700000;   /* several 128 KiB windows */
    char *text = malloc(big + 16);
    for (size_t i = 0; i < big; i++) text[i] = (char)('a' + i % 26);
    memcpy(text + big, "\nend\n", 6);
    const char *p = put("long.txt.zst", text);
    Err e;
    LineReader *r;
    assert_int_equal(linereader_open(&r, p, &e), 0);
    const char *line;
    size_t n;
    assert_int_equal(linereader_next(r, &line, &n, &e), 1);
    assert_int_equal(n, big);
    assert_memory_equal(line, text, big);
    assert_int_equal(linereader_next(r, &line, &n, &e), 1);
    assert_int_equal(n, 3);
    linereader_close(r);
    free(text);
}

static void text_and_jsonl_in_every_compression_give_the_same_documents(void **state)
{
    (void)state;
    static const char txt[] = "  Doc one.\n<|endoftext|>\n\nDoc \"two\"\twith tab.<|endoftext|><|endoftext|>\n Doc three, Zürich.\n";
    static const char jsonl[] =
        "{\"text\": \"Doc one.\", \"id\": 1}\n"
        "\n"
        "{\"url\": \"x\", \"text\": \"Doc \\\"two\\\"\\twith tab.\"}\r\n"
        "{\"text\": \"Doc three, Z\\u00fcrich.\", \"meta\": {\"text\": 5}}";
    static const char want[] = "Doc one.\nDoc \"two\"\twith tab.\nDoc three, Zürich.\n";
    static const char *const names[] = {"d.txt", "d.txt.gz", "d.txt.zst", "d.jsonl", "d.jsonl.gz", "d.jsonl.zst"};
    for (int k = 0; k < 6; k++) {
        const char *p = put(names[k], k < 3 ? txt : jsonl);
        assert_int_equal(docsource_is_jsonl(p), k >= 3);
        long n;
        Err e;
        int rc;
        char *got = all_docs(p, NULL, &n, NULL, &e, &rc);
        if (rc) fail_msg("%s: %s", names[k], e.msg);
        assert_int_equal(n, 3);
        assert_string_equal(got, want);
        free(got);
    }
}

static void text_field_names_the_documents(void **state)
{
    (void)state;
    const char *p = put("f.jsonl", "{\"text\": \"a\", \"content\": \"first\"}\n{\"content\": \"second\"}\n");
    DocSourceOptions o = {.text_field = "content"};
    long n;
    Err e;
    int rc;
    char *got = all_docs(p, &o, &n, NULL, &e, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(got, "first\nsecond\n");
    free(got);
}

static void bad_lines_name_file_and_line_and_are_skipped_up_to_the_limit(void **state)
{
    (void)state;
    const char *p = put("bad.jsonl.gz",
                        "{\"text\": \"ok 1\"}\n"
                        "{\"text\": 5}\n"            /* line 2: not a string */
                        "not json\n"                  /* line 3 */
                        "[\"text\"]\n"                /* line 4: not an object */
                        "{\"body\": \"x\"}\n"         /* line 5: no field */
                        "{\"text\": \"ok 2\"} junk\n" /* line 6: trailing text */
                        "{\"text\": \"ok 3\"}\n");
    long n, bad;
    Err e;
    int rc;
    char *got = all_docs(p, NULL, &n, &bad, &e, &rc);
    assert_int_equal(rc, -1);
    char want[300];
    snprintf(want, sizeof want, "%s:2: has a non-string field \"text\"", p);
    assert_non_null(strstr(e.msg, want));
    free(got);
    DocSourceOptions o = {.max_bad_lines = 5};
    got = all_docs(p, &o, &n, &bad, &e, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 2);
    assert_int_equal(bad, 5);
    assert_string_equal(got, "ok 1\nok 3\n");
    free(got);
    o.max_bad_lines = 4;
    got = all_docs(p, &o, &n, &bad, &e, &rc);
    assert_int_equal(rc, -1);
    snprintf(want, sizeof want, "%s:6: unexpected text after the JSON object", p);
    assert_non_null(strstr(e.msg, want));
    assert_non_null(strstr(e.msg, "more than --max-bad-lines 4"));
    free(got);
}

static void truncated_and_corrupt_compressed_files_are_errors(void **state)
{
    (void)state;
    char path[256];
    Err e;
    CorpusStats st;
    for (int k = 0; k < 2; k++) {
        path_in_root(path, sizeof path, k ? "c.jsonl.zst" : "c.jsonl.gz");
        assert_int_equal(corpus_write(path, 200000, 5, &st, &e), 0);
        char *data;
        size_t bytes;
        assert_int_equal(read_file(path, &data, &bytes, &e), 0);
        char cut[256];
        path_in_root(cut, sizeof cut, k ? "cut.jsonl.zst" : "cut.jsonl.gz");
        assert_int_equal(write_file_atomic(cut, data, bytes / 2, &e), 0);
        long n;
        int rc;
        free(all_docs(cut, NULL, &n, NULL, &e, &rc));
        assert_int_equal(rc, -1);
        assert_non_null(strstr(e.msg, cut));
        assert_non_null(strstr(e.msg, "truncated"));
        data[bytes / 3] ^= 0x55;   /* a flipped byte in the middle */
        assert_int_equal(write_file_atomic(cut, data, bytes, &e), 0);
        free(all_docs(cut, NULL, &n, NULL, &e, &rc));
        assert_int_equal(rc, -1);
        assert_non_null(strstr(e.msg, "corrupt"));
        free(data);
    }
    /* plain JSONL named .jsonl.gz is not read as text (zlib would) */
    static const char plain[] = "{\"text\": \"a document\"}\n";
    path_in_root(path, sizeof path, "plain.jsonl.gz");
    assert_int_equal(write_file_atomic(path, plain, sizeof plain - 1, &e), 0);
    long n;
    int rc;
    free(all_docs(path, NULL, &n, NULL, &e, &rc));
    assert_int_equal(rc, -1);
    char want[400];
    snprintf(want, sizeof want, "%s: not gzip data", path);
    if (!strstr(e.msg, want)) fail_msg("message: %s", e.msg);
}

static void generated_corpus_is_a_function_of_size_and_seed(void **state)
{
    (void)state;
    char a[256], b[256];
    path_in_root(a, sizeof a, "g1.jsonl");
    path_in_root(b, sizeof b, "g2.jsonl.zst");
    Err e;
    CorpusStats sa, sb;
    assert_int_equal(corpus_write(a, 300000, 9, &sa, &e), 0);
    assert_int_equal(corpus_write(b, 300000, 9, &sb, &e), 0);
    assert_true(sa.text_bytes >= 300000 && sa.text_bytes < 310000);
    assert_int_equal(sa.text_bytes, sb.text_bytes);
    assert_int_equal(sa.documents, sb.documents);
    assert_true(sb.disk_bytes < sb.text_bytes / 3);   /* repetitive text compresses */
    long na, nb;
    int rc;
    char *da = all_docs(a, NULL, &na, NULL, &e, &rc);
    char *db = all_docs(b, NULL, &nb, NULL, &e, &rc);
    assert_int_equal(na, (long)sa.documents);
    assert_string_equal(da, db);
    free(da);
    free(db);
}

static void streamed_shard_equals_one_written_whole(void **state)
{
    (void)state;
    uint16_t tok[40000];
    for (int i = 0; i < 40000; i++) tok[i] = (uint16_t)(i * 7919u);
    char a[256], b[256];
    path_in_root(a, sizeof a, "whole.bin");
    path_in_root(b, sizeof b, "stream.bin");
    Err e;
    assert_int_equal(shard_write(a, tok, 40000, &e), 0);
    ShardStream s;
    assert_int_equal(shard_stream_open(&s, b, &e), 0);
    assert_false(file_exists(b));   /* appears only when complete */
    for (int i = 0; i < 40000; i += 3001)
        assert_int_equal(shard_stream_put(&s, tok + i, i + 3001 <= 40000 ? 3001 : (size_t)(40000 - i), &e), 0);
    assert_int_equal(shard_stream_close(&s, &e), 0);
    char *x, *y;
    size_t nx, ny;
    assert_int_equal(read_file(a, &x, &nx, &e), 0);
    assert_int_equal(read_file(b, &y, &ny, &e), 0);
    assert_int_equal(nx, ny);
    assert_memory_equal(x, y, nx);
    free(x);
    free(y);
}

/* A Tulu 3 style line: id, source, optional system turn, one or two rounds. */
static void tulu_line(TextBuf *out, long id, const ChatConversation *a, const ChatConversation *b)
{
    char head[64];
    snprintf(head, sizeof head, "{\"id\": \"plateau_bios_%ld\", \"messages\": [", id);
    textbuf_puts(out, head);
    if (id % 3 == 0) textbuf_puts(out, "{\"role\": \"system\", \"content\": \"Answer with the fact only.\"}, ");
    const ChatConversation *turns[2] = {a, b};
    int first = 1;
    for (int k = 0; k < (b ? 2 : 1); k++)
        for (int m = 0; m < turns[k]->n_messages; m++) {
            if (!first) textbuf_puts(out, ", ");
            first = 0;
            textbuf_puts(out, "{\"role\": ");
            textbuf_json_string(out, chat_role_name(turns[k]->messages[m].role));
            textbuf_puts(out, ", \"content\": ");
            textbuf_json_string(out, turns[k]->messages[m].content);
            textbuf_puts(out, "}");
        }
    textbuf_puts(out, "], \"source\": \"ai2-adapt-dev/plateau_bios\"}\n");
}

static void tulu_layout_sft_reads_with_system_and_multi_turn(void **state)
{
    (void)state;
    const char *p = put("tulu.jsonl.zst",
                        "{\"id\": \"a\", \"messages\": [{\"role\": \"system\", \"content\": \"S\"}, "
                        "{\"role\": \"user\", \"content\": \"Q1\", \"name\": \"u\"}, {\"role\": \"assistant\", \"content\": \"A1\"}, "
                        "{\"role\": \"user\", \"content\": \"Q2\"}, {\"role\": \"assistant\", \"content\": \"A2\"}], "
                        "\"source\": \"x\"}\n"
                        "{\"id\": \"b\", \"messages\": [{\"role\": \"tool\", \"content\": \"T\"}]}\n"
                        "{\"id\": \"c\", \"messages\": [{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"A\"}]}\n");
    ChatDataset d;
    Err e, first;
    assert_int_equal(chat_read_jsonl(&d, p, &e), -1);
    char want[300];
    snprintf(want, sizeof want, "%s:2: messages[0].role \"tool\"", p);
    assert_non_null(strstr(e.msg, want));
    long bad;
    assert_int_equal(chat_read_jsonl_skipping(&d, p, 1, &bad, &first, &e), 0);
    assert_int_equal(bad, 1);
    assert_non_null(strstr(first.msg, want));
    assert_int_equal(d.n, 2);
    assert_int_equal(d.lines[1], 3);
    assert_int_equal(d.items[0].n_messages, 5);
    assert_int_equal(d.items[0].messages[0].role, CHAT_SYSTEM);
    assert_string_equal(d.items[0].messages[4].content, "A2");
    chat_dataset_free(&d);
}

static void study_text_field_names_the_corpus_field_of_files_worlds(void **state)
{
    (void)state;
    static const char head[] = "[study]\n%s\npreset = nano\nseeds = 1\npretrain_tokens = 1024\nsft_epochs = 1\n"
                               "batch_tokens = 512\nmicro_batch = 8\nseq_len = 64\npeak_lr = 1e-3\nwarmup_steps = 1\n"
                               "sft_lrs = 1e-3\nsft_warmup_steps = 1\n%s[arm a]\nschedule = wso\n";
    char text[1024];
    StudySpec s;
    Err e;
    snprintf(text, sizeof text, head, "world = files\npretrain_data = c.jsonl.zst\nsft_data = t.jsonl", "");
    assert_int_equal(study_spec_parse(&s, "a.ini", text, &e), 0);
    assert_string_equal(s.text_field, "text");
    snprintf(text, sizeof text, head, "world = files\npretrain_data = c.jsonl.zst\nsft_data = t.jsonl",
             "text_field = content\n");
    assert_int_equal(study_spec_parse(&s, "a.ini", text, &e), 0);
    assert_string_equal(s.text_field, "content");
    snprintf(text, sizeof text, head, "world = bios\npeople = 10", "text_field = content\n");
    assert_int_equal(study_spec_parse(&s, "b.ini", text, &e), -1);
    assert_non_null(strstr(e.msg, "b.ini:15: [study] text_field: only used by world = files"));
}

/* The study: pre-training on a generated .jsonl.gz corpus, SFT on a
 * Tulu-layout file made from a bios world's questions. */
static void study_on_a_jsonl_gz_corpus_and_a_tulu_sft_file_runs_end_to_end(void **state)
{
    (void)state;
    char corpus[256], world[256], tulu[256], ini[256], out[256], path[512];
    path_in_root(corpus, sizeof corpus, "fineweb.jsonl.gz");
    path_in_root(world, sizeof world, "bios");
    path_in_root(tulu, sizeof tulu, "tulu3.jsonl");
    path_in_root(ini, sizeof ini, "files.ini");
    path_in_root(out, sizeof out, "study");
    Err e;
    CorpusStats cs;
    assert_int_equal(corpus_write(corpus, 400000, 3, &cs, &e), 0);
    BiosOptions o;
    bios_default_options(&o);
    o.people = 40;
    BiosWorld w;
    assert_int_equal(bios_generate(&w, &o, &e), 0);
    assert_int_equal(bios_write(&w, world, NULL, &e), 0);
    bios_free(&w);
    ChatDataset qa;
    snprintf(path, sizeof path, "%s/sft_train.jsonl", world);
    assert_int_equal(chat_read_jsonl(&qa, path, &e), 0);
    TextBuf tb = {0};
    long lines = 0;
    for (size_t i = 0; i < qa.n; lines++) {
        int two = lines % 4 == 1 && i + 1 < qa.n;   /* every fourth conversation has two rounds */
        tulu_line(&tb, lines, &qa.items[i], two ? &qa.items[i + 1] : NULL);
        i += two ? 2 : 1;
    }
    chat_dataset_free(&qa);
    assert_int_equal(write_file_atomic(tulu, tb.data, tb.len, &e), 0);
    textbuf_free(&tb);
    char text[2048];
    snprintf(text, sizeof text,
             "[study]\nworld = files\npretrain_data = %s\nsft_data = %s\npreset = nano\nvocab = 400\nseeds = 1\n"
             "pretrain_tokens = 16384\nsft_epochs = 1\nbatch_tokens = 1024\nmicro_batch = 8\nseq_len = 128\n"
             "peak_lr = 3e-3\nwarmup_steps = 2\nsft_lrs = 1e-3\nsft_warmup_steps = 1\nprobes = 2\n"
             "probe_sequences = 1\neval_items = 8\n[arm wso]\nschedule = wso\n[arm wsd]\nschedule = wsd\nalpha_pre = 0\n",
             corpus, tulu);
    assert_int_equal(write_file_atomic(ini, text, strlen(text), &e), 0);
    StudyRunOptions ro = {.quiet = 1};
    int rc = study_run(ini, out, &ro, &e);
    if (rc) fail_msg("study_run: %s", e.msg);
    /* the world holds every corpus document and every Tulu conversation */
    snprintf(path, sizeof path, "%s/world/pretrain.txt", out);
    long n;
    int r;
    free(all_docs(path, NULL, &n, NULL, &e, &r));
    assert_int_equal(r, 0);
    assert_int_equal(n, (long)cs.documents);
    ChatDataset tr, va;
    snprintf(path, sizeof path, "%s/world/sft_train.jsonl", out);
    assert_int_equal(chat_read_jsonl(&tr, path, &e), 0);
    snprintf(path, sizeof path, "%s/world/sft_valid.jsonl", out);
    assert_int_equal(chat_read_jsonl(&va, path, &e), 0);
    assert_int_equal((long)(tr.n + va.n), lines);
    assert_int_equal(va.n, lines / 10);
    assert_int_equal(tr.items[0].messages[0].role, CHAT_SYSTEM);   /* line 0 has the system turn */
    chat_dataset_free(&tr);
    chat_dataset_free(&va);
    /* each arm pre-trained, fine-tuned and evaluated; checkpoints carry the tokenizer */
    Store *st;
    assert_int_equal(store_open(&st, out, &e), 0);
    ArmValue *v;
    int nv;
    assert_int_equal(store_arm_evals(st, "files", "pretrain_end", "valid", "pt", "loss", &v, &nv, &e), 0);
    assert_int_equal(nv, 2);
    for (int i = 0; i < nv; i++) assert_true(v[i].value > 0 && v[i].value < log(400.0));   /* below chance */
    free(v);
    assert_int_equal(store_sft_evals(st, "files", "sft_valid", "average", "exact_match", &v, &nv, &e), 0);
    assert_int_equal(nv, 2);
    for (int i = 0; i < nv; i++) assert_true(v[i].value >= 0 && v[i].value <= 1);
    free(v);
    store_close(st);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(find '%s/segments' -name tokenizer.json | wc -l) -ge 4", out);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/plateau-corpus-XXXXXX");
    return mkdtemp(g_root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compressed_files_read_back_line_by_line),
        cmocka_unit_test(a_line_longer_than_the_read_window_comes_back_whole),
        cmocka_unit_test(text_and_jsonl_in_every_compression_give_the_same_documents),
        cmocka_unit_test(text_field_names_the_documents),
        cmocka_unit_test(bad_lines_name_file_and_line_and_are_skipped_up_to_the_limit),
        cmocka_unit_test(truncated_and_corrupt_compressed_files_are_errors),
        cmocka_unit_test(generated_corpus_is_a_function_of_size_and_seed),
        cmocka_unit_test(streamed_shard_equals_one_written_whole),
        cmocka_unit_test(tulu_layout_sft_reads_with_system_and_multi_turn),
        cmocka_unit_test(study_text_field_names_the_corpus_field_of_files_worlds),
        cmocka_unit_test(study_on_a_jsonl_gz_corpus_and_a_tulu_sft_file_runs_end_to_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
