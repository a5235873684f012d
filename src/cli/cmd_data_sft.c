/* plateau data sft: chat JSONL -> packed SFT token and loss-mask shards. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/file.h"
#include "data/chat.h"
#include "data/tokenizer.h"

static const OptSpec OPTS[] = {
    {"tokenizer", "FILE", "tokenizer.json (required)"},
    {"in", "FILE", "chat JSONL, {\"messages\":[...]} per line (required)"},
    {"out", "DIR", "output folder (required)"},
    {"name", "STEM", "output names STEM.bin and STEM.mask.bin (default: the input's name without .jsonl)"},
    {"seq-len", "T", "training context: rows of T+1 tokens; longer conversations are cut from the end (default 256)"},
    {"stream", NULL, "plain concatenation (loader STREAM layout) instead of rows of T+1 tokens"},
    {"max-bad-lines", "N", "skip and count up to N malformed lines instead of stopping at the first (default 0)"},
    {"space-replies", NULL, "put a space before each assistant reply, so a reply's first word has the tokens\n"
                            "                           pre-training text gives it (what a study does for its worlds)"},
    {NULL, NULL, NULL},
};

int cmd_data_sft(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, "plateau data sft --tokenizer tok.json --in FILE.jsonl --out DIR [--seq-len T]",
                   "Reads {\"messages\": [...]} JSONL (the Tulu 3 layout; other fields ignored; also .jsonl.gz,\n"
                   ".jsonl.zst). Renders each conversation in the Tulu chat template, packs whole conversations into rows of\n"
                   "T+1 tokens (padding each row's tail with <|endoftext|>, mask 0; the loader's ROWS layout) and\n"
                   "writes DIR/STEM.bin (tokens) and DIR/STEM.mask.bin (1 on assistant tokens and their\n"
                   "<|endoftext|>), both llm.c shards of the same length."))
        return 0;
    const char *tok_path, *in, *out;
    long T, max_bad, bad;
    if (args_require(&a, "tokenizer", &tok_path, &e) || args_require(&a, "in", &in, &e) ||
        args_require(&a, "out", &out, &e) || args_long(&a, "seq-len", 256, &T, &e) ||
        args_long(&a, "max-bad-lines", 0, &max_bad, &e))
        args_fail(&e);
    if (max_bad < 0) {
        fprintf(stderr, "plateau: --max-bad-lines must be 0 or more\n");
        return EXIT_USAGE;
    }
    if (T < 2 || T > 1 << 24) {
        fprintf(stderr, "plateau: --seq-len must be in 2 .. 16777216\n");
        return EXIT_USAGE;
    }
    char stem[1024];
    const char *name = args_str(&a, "name", NULL);
    if (name) {
        snprintf(stem, sizeof stem, "%s", name);
    } else {
        const char *base = strrchr(in, '/');
        snprintf(stem, sizeof stem, "%s", base ? base + 1 : in);
        size_t len = strlen(stem);
        if (len > 3 && strcmp(stem + len - 3, ".gz") == 0) stem[len -= 3] = '\0';
        else if (len > 4 && strcmp(stem + len - 4, ".zst") == 0) stem[len -= 4] = '\0';
        if (len > 6 && strcmp(stem + len - 6, ".jsonl") == 0) stem[len - 6] = '\0';
    }

    Tokenizer *t;
    if (tokenizer_load(&t, tok_path, &e)) die(&e);
    ChatDataset d;
    Err first_bad;
    if (chat_read_jsonl_skipping(&d, in, max_bad, &bad, &first_bad, &e)) die(&e);
    if (bad) printf("%s: skipped %ld bad line%s (first: %s)\n", in, bad, bad == 1 ? "" : "s", first_bad.msg);
    int rows = !args_has(&a, "stream");
    size_t limit = rows ? (size_t)T + 1 : (size_t)T;
    SftStream s;
    sft_stream_init(&s, rows ? (size_t)T + 1 : 0);
    int space = args_has(&a, "space-replies");
    for (size_t i = 0; i < d.n; i++) {
        if (space) chat_space_replies(&d.items[i]);
        if (sft_stream_add(&s, t, &d.items[i], limit, &e)) die(&e);
    }
    if (sft_stream_finish(&s, t, &e)) die(&e);
    char tokens_path[4096], mask_path[4096], file[1100];
    if (make_dirs(out, &e)) die(&e);
    snprintf(file, sizeof file, "%s.bin", stem);
    path_join(tokens_path, sizeof tokens_path, out, file);
    snprintf(file, sizeof file, "%s.mask.bin", stem);
    path_join(mask_path, sizeof mask_path, out, file);
    if (sft_stream_write(&s, tokens_path, mask_path, &e)) die(&e);
    printf("%s: %zu conversations -> %ld packed (%ld truncated to %zu tokens), %ld dropped (no assistant token within %zu)\n",
           in, d.n, s.examples, s.truncated, limit, s.dropped, limit);
    printf("  %s: %zu tokens (%s), %ld in the loss (%.1f%%), %ld padding (%.1f%%)\n  %s\n", tokens_path,
           s.n_tokens, rows ? "rows of T+1: loader layout ROWS" : "one stream: loader layout STREAM",
           s.loss_tokens, s.n_tokens ? 100.0 * (double)s.loss_tokens / (double)s.n_tokens : 0.0,
           s.pad_tokens, s.n_tokens ? 100.0 * (double)s.pad_tokens / (double)s.n_tokens : 0.0, mask_path);
    if (s.truncated || s.dropped)
        fprintf(stderr, "plateau: warning: %ld conversations truncated and %ld dropped at --seq-len %ld\n",
                s.truncated, s.dropped, T);
    sft_stream_free(&s);
    chat_dataset_free(&d);
    tokenizer_free(t);
    return 0;
}
