/* plateau generate: the greedy continuation of one prompt by a checkpoint,
 * with the tokenizer the checkpoint carries. The reference that exported
 * models are compared against (tests/interop/): the same prompt ids, the
 * same argmax at every step, and each chosen token's log-probability. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/file.h"
#include "core/json_number.h"
#include "data/chat.h"
#include "data/textdocs.h"
#include "data/tokenizer.h"
#include "eval/lm.h"
#include "model/decode.h"
#include "model/llama.h"
#include "train/checkpoint.h"

static const OptSpec OPTS[] = {
    {"ckpt", "DIR", "checkpoint (or run directory: its latest checkpoint) holding tokenizer.json (required)"},
    {"prompt", "TEXT", "the prompt (required)"},
    {"max-new", "N", "tokens to generate at most (default 64, or what the context leaves after the prompt); stops "
                     "early at <|endoftext|>"},
    {"chat", NULL, "TEXT is a user message: render it with the SFT chat template and generate the reply"},
    {"tokenizer", "FILE", "tokenizer.json (default: the checkpoint's)"},
    {"no-stop", NULL, "keep generating past <|endoftext|> up to --max-new (to compare implementations)"},
    {"json", NULL, "print a JSON object: prompt_ids, ids, logprobs, text (bad UTF-8 as U+FFFD), stopped_at_endoftext"},
    {NULL, NULL, NULL},
};

static const char USAGE[] = "plateau generate --ckpt DIR --prompt TEXT [--max-new N] [--chat] [--json]";
static const char ABOUT[] =
    "Prints the greedy continuation of TEXT (argmax at every step, first index on ties). A plain prompt\n"
    "starts with <|endoftext|>, as every pre-training document does; with --chat the prompt is\n"
    "<|user|>\\nTEXT\\n<|assistant|>\\n, the SFT template. Generation stops at <|endoftext|> or --max-new.\n"
    "An empty plain prompt continues <|endoftext|> alone: the model's unconditional start of a document.";

/* log softmax(logits)[k], in double. */
static double log_prob(const float *logits, int V, int k)
{
    float mx = logits[0];
    for (int i = 1; i < V; i++)
        if (logits[i] > mx) mx = logits[i];
    double s = 0;
    for (int i = 0; i < V; i++) s += exp((double)logits[i] - mx);
    return (double)logits[k] - mx - log(s);
}

static cJSON *id_array(const int *ids, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

/* text as a NUL-terminated string JSON can hold: each byte that is not part
 * of a valid UTF-8 sequence (byte-level tokens can split a character), and
 * each NUL, becomes U+FFFD. */
static char *valid_utf8(const char *text, size_t bytes)
{
    char *out = xmalloc(3 * bytes + 1), *w = out;
    size_t i = 0;
    while (i < bytes) {
        size_t ok = i + utf8_first_invalid(text + i, bytes - i);
        for (; i < ok; i++) {
            if (text[i]) *w++ = text[i];
            else w += sprintf(w, "\xEF\xBF\xBD");
        }
        if (i < bytes) {
            w += sprintf(w, "\xEF\xBF\xBD");
            i++;
        }
    }
    *w = 0;
    return out;
}

/* The --json object; log-probabilities that are not finite (a model whose
 * logits are) print as null, which JSON can hold. */
static void print_json(const int *prompt_ids, size_t n_prompt, const int *ids, const double *lp, size_t n,
                       const char *text, size_t bytes, int stopped)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "prompt_ids", id_array(prompt_ids, n_prompt));
    cJSON_AddItemToObject(o, "ids", id_array(ids, n));
    cJSON_AddItemToObject(o, "logprobs", json_exact_array(lp, (int)n));
    char *t = valid_utf8(text, bytes);
    cJSON_AddStringToObject(o, "text", t);
    free(t);
    cJSON_AddBoolToObject(o, "stopped_at_endoftext", stopped);
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

/* The prompt's ids: <|endoftext|> + text, or the chat template's prompt. */
static int encode_prompt(const Tokenizer *tk, const char *text, int chat, int **ids, size_t *n, Err *e)
{
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    if (chat) {
        ChatMessage msg = {CHAT_USER, (char *)text};
        ChatConversation c = {&msg, 1};
        return chat_encode_prompt(tk, &c, ids, n, &cap, e);
    }
    cap = 64;
    *ids = xmalloc(cap * sizeof **ids);
    (*ids)[(*n)++] = tokenizer_special(tk, SPECIAL_ENDOFTEXT);
    if (tokenizer_encode(tk, text, strlen(text), ids, n, &cap)) return err_set(e, "out of memory encoding the prompt");
    return 0;
}

int cmd_generate(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    const char *ckpt_arg, *prompt;
    long max_new;
    char dir[4096], tok_path[4096];
    if (args_require(&a, "ckpt", &ckpt_arg, &e) || args_require(&a, "prompt", &prompt, &e) ||
        args_long(&a, "max-new", 64, &max_new, &e))
        args_fail(&e);
    if (checkpoint_resolve(ckpt_arg, dir, sizeof dir, &e)) die(&e);
    path_join(tok_path, sizeof tok_path, dir, "tokenizer.json");
    if (args_has(&a, "tokenizer")) snprintf(tok_path, sizeof tok_path, "%s", args_str(&a, "tokenizer", ""));
    else if (!file_exists(tok_path)) {
        err_set(&e, "%s holds no tokenizer.json: give --tokenizer FILE", dir);
        die(&e);
    }
    Config cfg;
    Tokenizer *tk;
    if (checkpoint_read_config(dir, &cfg, &e) || tokenizer_load(&tk, tok_path, &e)) die(&e);
    if (tokenizer_vocab_size(tk) > cfg.vocab_size) {
        err_set(&e, "%s has %d tokens but the model's vocabulary is %d", tok_path, tokenizer_vocab_size(tk),
                cfg.vocab_size);
        die(&e);
    }
    int *prompt_ids;
    size_t n_prompt;
    if (encode_prompt(tk, prompt, args_has(&a, "chat"), &prompt_ids, &n_prompt, &e)) die(&e);
    if (n_prompt >= (size_t)cfg.seq_len) {
        err_set(&e, "the prompt's %zu tokens%s fill the model's context of %d: nothing is left to generate", n_prompt,
                args_has(&a, "chat") ? " (with the chat template)" : " (with the leading <|endoftext|>)", cfg.seq_len);
        die(&e);
    }
    long room = cfg.seq_len - (long)n_prompt;
    if (max_new > room) {
        if (args_has(&a, "max-new"))
            fprintf(stderr, "plateau: note: --max-new %ld: the model's context of %d leaves %ld tokens after the "
                            "prompt's %zu; generating at most %ld\n", max_new, cfg.seq_len, room, n_prompt, room);
        max_new = room;
    }
    if (!*prompt && !args_has(&a, "chat"))
        fprintf(stderr, "plateau: note: empty prompt: continuing <|endoftext|> alone (an unconditional start)\n");
    Model m;
    Decoder d;
    if (model_create(&m, &cfg, 1, 1, &e) || checkpoint_load(dir, &cfg, m.params, NULL, NULL, NULL, &e) ||
        decoder_create(&d, &m, 1, (int)n_prompt + (int)max_new, &e))
        die(&e);
    const int V = cfg.vocab_size, eot = tokenizer_special(tk, SPECIAL_ENDOFTEXT);
    int *out = xmalloc((size_t)max_new * sizeof *out);
    double *lp = xmalloc((size_t)max_new * sizeof *lp);
    size_t n_out = 0;
    decoder_reset(&d);
    const float *logits = decoder_forward(&d, prompt_ids, (int)n_prompt);
    int slot = 0, stopped = 0, no_stop = args_has(&a, "no-stop");
    while (n_out < (size_t)max_new) {
        int next = argmax(logits, V);
        if (next == eot && !no_stop) { stopped = 1; break; }
        lp[n_out] = log_prob(logits, V, next);
        out[n_out++] = next;
        if (n_out < (size_t)max_new) logits = decoder_step(&d, &slot, &next, 1);
    }
    size_t bytes;
    char *text = tokenizer_decode(tk, out, n_out, &bytes);
    if (args_has(&a, "json")) {
        print_json(prompt_ids, n_prompt, out, lp, n_out, text, bytes, stopped);
    } else {
        fwrite(text, 1, bytes, stdout);
        printf("\n");
    }
    free(text);
    free(out);
    free(lp);
    free(prompt_ids);
    decoder_free(&d);
    model_free(&m);
    tokenizer_free(tk);
    return 0;
}
