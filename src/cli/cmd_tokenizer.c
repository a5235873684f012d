/* plateau tokenizer: train a byte-level BPE tokenizer on text files, and
 * encode text with one (to inspect what the model will see). */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/file.h"
#include "core/progress.h"
#include "data/chat.h"
#include "data/docsource.h"
#include "data/textbuf.h"
#include "data/textdocs.h"
#include "data/tokenizer.h"

static const OptSpec TRAIN_OPTS[] = {
    {"vocab", "N", "vocabulary size, bytes + merges + 4 special tokens (required)"},
    {"out", "FILE", "where to write tokenizer.json (required)"},
    {"text-field", "NAME", "JSONL files: the field holding each document's text (default text)"},
    {NULL, NULL, NULL},
};

static const OptSpec ENCODE_OPTS[] = {
    {"tokenizer", "FILE", "tokenizer.json to encode with (required)"},
    {"text", "TEXT", "text to encode (otherwise the file given as argument)"},
    {"pieces", NULL, "print each token as id:\"bytes\" instead of bare ids"},
    {"docs", NULL, "one JSON line {\"text\", \"ids\"} per document of FILE (separated by " TEXTDOCS_SEPARATOR ")"},
    {"chat", NULL, "FILE is chat JSONL: one JSON line {\"text\", \"ids\"} per conversation, as SFT renders it"},
    {"generation-prompt", NULL, "with --chat: render each conversation as the prompt for the next reply"},
    {NULL, NULL, NULL},
};

#define TRAIN_USAGE "plateau tokenizer train --vocab N --out tok.json FILES..."
#define TRAIN_ABOUT "Learns a byte-level BPE tokenizer from corpus files (UTF-8 text whose documents are separated\n" \
                    "by " TEXTDOCS_SEPARATOR ", or .jsonl with a text field; .gz and .zst too; documents joined by\n" \
                    "newlines) and saves it as a Hugging Face tokenizer.json."
#define ENCODE_USAGE "plateau tokenizer encode --tokenizer tok.json [--text TEXT | FILE | --docs FILE | --chat FILE]"
#define ENCODE_ABOUT "Prints the token ids of a text, as the model would see it (no special tokens)."

/* Reads every file's documents (any corpus format, data/docsource.h) into
 * one text, each document followed by a newline so that no word spans two
 * documents. */
static char *read_documents(char **paths, int n_paths, const DocSourceOptions *o, size_t *out_bytes)
{
    TextBuf all = {0};
    for (int i = 0; i < n_paths; i++) {
        Err e;
        DocSource *s;
        const char *doc;
        size_t bytes;
        int r;
        if (docsource_open(&s, paths[i], o, &e)) die(&e);
        while ((r = docsource_next(s, &doc, &bytes, &e)) == 1) {
            textbuf_append(&all, doc, bytes);
            textbuf_putc(&all, '\n');
        }
        if (r < 0) die(&e);
        docsource_close(s);
    }
    if (!all.data) textbuf_puts(&all, "");
    *out_bytes = all.len;
    return all.data;
}

static int tokenizer_train_main(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, TRAIN_OPTS, argc, argv, TRAIN_USAGE, TRAIN_ABOUT)) return 0;
    long vocab;
    const char *out;
    if (args_long(&a, "vocab", -1, &vocab, &e) || args_require(&a, "out", &out, &e)) args_fail(&e);
    if (vocab < 0) { fprintf(stderr, "plateau: missing --vocab (see --help)\n"); return EXIT_USAGE; }
    if (a.n_positional == 0) { fprintf(stderr, "plateau: no text files given (see --help)\n"); return EXIT_USAGE; }
    if (vocab > 65536)
        fprintf(stderr, "plateau: warning: a vocabulary of %ld does not fit uint16 token shards (at most 65536)\n", vocab);

    size_t bytes;
    DocSourceOptions dso = {.text_field = args_str(&a, "text-field", "text")};
    char *text = read_documents(a.positional, a.n_positional, &dso, &bytes);
    double t0 = now_seconds();
    Tokenizer *t;
    if (tokenizer_train(&t, text, bytes, (int)(vocab > 1 << 30 ? 1 << 30 : vocab), &e)) die(&e);
    double train_s = now_seconds() - t0;
    int *ids = NULL;
    size_t n = 0, cap = 0;
    t0 = now_seconds();
    if (tokenizer_encode(t, text, bytes, &ids, &n, &cap)) {
        fprintf(stderr, "plateau: out of memory encoding the training text\n");
        return 1;
    }
    double encode_s = now_seconds() - t0;
    if (tokenizer_save(t, out, &e)) die(&e);
    printf("vocab size        %d (256 bytes + %d merged + %d special)\n", tokenizer_vocab_size(t),
           tokenizer_vocab_size(t) - 256 - SPECIAL_COUNT, SPECIAL_COUNT);
    printf("merges            %d\n", tokenizer_merge_count(t));
    printf("training text     %.2f MB from %d file(s)\n", (double)bytes / 1e6, a.n_positional);
    printf("training time     %.2f s\n", train_s);
    printf("compression       %.3f bytes/token (%zu tokens; encoded at %.1f MB/s)\n",
           n ? (double)bytes / (double)n : 0.0, n, encode_s > 0 ? (double)bytes / 1e6 / encode_s : 0.0);
    if (tokenizer_vocab_size(t) < vocab)
        printf("note              the text ran out of pairs to merge before %ld tokens\n", vocab);
    printf("saved             %s\n", out);
    free(ids);
    free(text);
    tokenizer_free(t);
    return 0;
}

/* A token's bytes, quoted; control bytes, and all high bytes of a piece
 * that is not whole UTF-8 characters, as \xNN. */
static void print_piece(const char *s, size_t n)
{
    int raw_high = utf8_first_invalid(s, n) == n;
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c == '\t') printf("\\t");
        else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !raw_high)) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('"');
}

/* Prints {"text": TEXT, "ids": [...]} and a newline. */
static void print_text_ids(const char *text, size_t bytes, const int *ids, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    char *copy = xmalloc(bytes + 1);
    memcpy(copy, text, bytes);
    copy[bytes] = 0;
    cJSON_AddStringToObject(o, "text", copy);
    cJSON *arr = cJSON_AddArrayToObject(o, "ids");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
    char *line = cJSON_PrintUnformatted(o);
    puts(line);
    free(line);
    free(copy);
    cJSON_Delete(o);
}

/* --docs: each document of the text on its own. */
static int encode_docs(const Tokenizer *t, const char *text, size_t bytes)
{
    TextDocs docs;
    const char *doc;
    size_t doc_bytes;
    int *ids = NULL;
    size_t cap = 0;
    textdocs_begin(&docs, text, bytes);
    while (textdocs_next(&docs, &doc, &doc_bytes)) {
        size_t n = 0;
        if (tokenizer_encode(t, doc, doc_bytes, &ids, &n, &cap)) return -1;
        print_text_ids(doc, doc_bytes, ids, n);
    }
    free(ids);
    return 0;
}

/* --chat: each conversation as chat_encode (or chat_encode_prompt) gives it,
 * with the text its ids decode to. */
static int encode_chat(const Tokenizer *t, const char *path, int prompt, Err *e)
{
    ChatDataset ds;
    if (chat_read_jsonl(&ds, path, e)) return -1;
    int rc = 0;
    for (size_t i = 0; i < ds.n && !rc; i++) {
        int *ids = NULL;
        size_t n = 0, cap = 0, bytes;
        rc = prompt ? chat_encode_prompt(t, &ds.items[i], &ids, &n, &cap, e)
                    : chat_encode(t, &ds.items[i], &ids, NULL, &n, &cap, e);
        if (rc) break;
        char *text = tokenizer_decode(t, ids, n, &bytes);
        print_text_ids(text, bytes, ids, n);
        free(text);
        free(ids);
    }
    chat_dataset_free(&ds);
    return rc;
}

static int tokenizer_encode_main(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, ENCODE_OPTS, argc, argv, ENCODE_USAGE, ENCODE_ABOUT)) return 0;
    const char *path;
    if (args_require(&a, "tokenizer", &path, &e)) args_fail(&e);
    const char *inline_text = args_str(&a, "text", NULL);
    if ((inline_text != NULL) == (a.n_positional == 1) || a.n_positional > 1) {
        fprintf(stderr, "plateau: give either --text TEXT or one FILE (see --help)\n");
        return EXIT_USAGE;
    }
    Tokenizer *t;
    if (tokenizer_load(&t, path, &e)) die(&e);
    if (args_has(&a, "chat")) {
        if (!inline_text && encode_chat(t, a.positional[0], args_has(&a, "generation-prompt"), &e)) die(&e);
        tokenizer_free(t);
        return 0;
    }
    char *owned = NULL;
    size_t bytes;
    if (inline_text) {
        bytes = strlen(inline_text);
    } else {
        if (read_file(a.positional[0], &owned, &bytes, &e)) die(&e);
        inline_text = owned;
    }
    if (args_has(&a, "docs")) {
        if (encode_docs(t, inline_text, bytes)) {
            fprintf(stderr, "plateau: out of memory encoding\n");
            return 1;
        }
        free(owned);
        tokenizer_free(t);
        return 0;
    }
    int *ids = NULL;
    size_t n = 0, cap = 0;
    if (tokenizer_encode(t, inline_text, bytes, &ids, &n, &cap)) {
        fprintf(stderr, "plateau: out of memory encoding\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (i) putchar(' ');
        printf("%d", ids[i]);
        if (args_has(&a, "pieces")) {
            size_t len;
            char *piece = tokenizer_decode(t, ids + i, 1, &len);
            putchar(':');
            print_piece(piece, len);
            free(piece);
        }
    }
    putchar('\n');
    free(ids);
    free(owned);
    tokenizer_free(t);
    return 0;
}

int cmd_tokenizer(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "train") == 0) return tokenizer_train_main(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "encode") == 0) return tokenizer_encode_main(argc - 1, argv + 1);
    int help = args_first_is_help(argc, argv);
    FILE *fp = help ? stdout : stderr;
    fprintf(fp, "usage: plateau tokenizer train|encode [options]   (each with --help)\n\n"
                "  train    %s\n  encode   %s\n", TRAIN_USAGE, ENCODE_USAGE);
    return help ? 0 : EXIT_USAGE;
}
