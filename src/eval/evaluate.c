#include "eval/evaluate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "data/shard.h"
#include "eval/lm.h"

void eval_options_default(EvalOptions *o, const char *suite)
{
    memset(o, 0, sizeof *o);
    o->suite = suite;
    o->loss_layout = LOADER_STREAM;
    o->max_new = 32;
    o->batch = 16;
}

/* "dir/val_000000.bin" -> "val_000000" */
static void file_stem(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    snprintf(out, size, "%s", base ? base + 1 : path);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

static int loss_of_shard(EvalReport *r, const Model *m, const EvalOptions *o, const TokenScorer *s, Err *e)
{
    Shard tokens, mask = {0};
    char name[512];
    file_stem(o->loss_tokens, name, sizeof name);
    if (shard_read(&tokens, o->loss_tokens, e)) return -1;
    int rc = 0;
    if (o->loss_mask) {
        rc = shard_read(&mask, o->loss_mask, e);
        if (!rc && mask.n_tokens != tokens.n_tokens)
            rc = err_set(e, "%s: %zu mask entries for %zu tokens in %s", o->loss_mask, mask.n_tokens,
                         tokens.n_tokens, o->loss_tokens);
    }
    for (size_t i = 0; i < tokens.n_tokens && !rc; i++)
        if (tokens.tokens[i] >= m->cfg.vocab_size)
            rc = err_set(e, "%s: token %u at position %zu is outside the model's vocabulary of %d", o->loss_tokens,
                         tokens.tokens[i], i, m->cfg.vocab_size);
    if (!rc)
        rc = eval_suite_loss(r, name, tokens.tokens, o->loss_mask ? mask.tokens : NULL, tokens.n_tokens,
                             o->loss_layout, s, o->limit, e);
    shard_free(&tokens);
    if (mask.tokens) shard_free(&mask);
    return rc;
}

int eval_model(EvalReport *r, Model *m, const Tokenizer *tok, const EvalOptions *o, Err *e)
{
    int is_pt = strcmp(o->suite, "pt") == 0, is_sft = strcmp(o->suite, "sft") == 0;
    int is_loss = strcmp(o->suite, "loss") == 0;
    eval_report_init(r, o->suite);
    r->show_samples = o->show_samples;
    r->quiet = o->quiet;
    r->sample_seed = o->sample_seed;
    if (!is_pt && !is_sft && !is_loss) return err_set(e, "suite '%s': expected pt, sft or loss", o->suite);
    int T = o->seq_len > 0 ? o->seq_len : m->max_T;
    if (T > m->max_T || o->batch < 1 || (!is_sft && o->batch > m->max_B))
        return err_set(e, "evaluation batch %d x %d does not fit the model's buffers %d x %d", o->batch, T,
                       m->max_B, m->max_T);
    if (!tok && (!is_loss || o->world)) return err_set(e, "the %s suite needs a tokenizer", o->suite);
    if (tok && tokenizer_vocab_size(tok) > m->cfg.vocab_size)
        return err_set(e, "the tokenizer has %d tokens but the model's vocabulary is %d", tokenizer_vocab_size(tok),
                       m->cfg.vocab_size);

    char **world_files = NULL;
    int n_world = 0, rc = 0;
    const char *const *files = o->tasks;
    int n_files = o->n_tasks;
    if (!is_loss && !files) {
        if (!o->world) return err_set(e, "the %s suite needs task files or a world folder", o->suite);
        if (eval_world_tasks(o->world, o->suite, &world_files, &n_world, e)) return -1;
        files = (const char *const *)world_files;
        n_files = n_world;
    }

    LmScorer lm;
    lm_scorer_init(&lm, m);
    TokenScorer s = lm.scorer;
    s.max_rows = o->batch;
    s.max_tokens = T + 1;
    if (is_pt) {
        rc = eval_suite_pt(r, files, n_files, tok, &s, o->limit, e);
    } else if (is_sft) {
        LmGenerator g;
        rc = lm_generator_init(&g, m, o->batch, 1, e);
        if (!rc) {
            g.gen.max_tokens = T;
            if (s.max_rows > m->max_B) s.max_rows = m->max_B;
            rc = eval_suite_sft(r, files, n_files, tok, &g.gen, &s, o->space_replies, o->max_new, o->limit, e);
            lm_generator_free(&g);
        }
    } else {
        int did = 0;
        if (o->loss_tokens) {
            rc = loss_of_shard(r, m, o, &s, e);
            did = 1;
        }
        char jsonl[4096];
        if (!rc && o->world) {
            path_join(jsonl, sizeof jsonl, o->world, "sft_valid.jsonl");
            if (file_exists(jsonl)) {
                rc = eval_suite_chat_loss(r, "sft_valid", jsonl, tok, &s, o->limit, e);
                did = 1;
            }
        }
        if (!rc && !did) rc = err_set(e, "the loss suite needs a token shard or a world with sft_valid.jsonl");
    }
    lm_scorer_free(&lm);
    for (int i = 0; i < n_world; i++) free(world_files[i]);
    free(world_files);
    if (rc) eval_report_free(r);
    return rc;
}
