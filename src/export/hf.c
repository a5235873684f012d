/* The checkpoint loaded for export, and the Hugging Face folder. */
#include "export/export.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "data/chat.h"
#include "data/tokenizer.h"
#include "model/safetensors.h"
#include "train/checkpoint.h"

int export_dtype_parse(const char *s, ExportDtype *d)
{
    if (strcmp(s, "f32") == 0) *d = EXPORT_F32;
    else if (strcmp(s, "f16") == 0) *d = EXPORT_F16;
    else if (strcmp(s, "bf16") == 0) *d = EXPORT_BF16;
    else return -1;
    return 0;
}

const char *export_dtype_name(ExportDtype d)
{
    return d == EXPORT_F16 ? "f16" : d == EXPORT_BF16 ? "bf16" : "f32";
}

int export_source_load(ExportSource *s, const char *ckpt, const char *tokenizer, Err *e)
{
    memset(s, 0, sizeof *s);
    if (checkpoint_resolve(ckpt, s->dir, sizeof s->dir, e) || checkpoint_read_config(s->dir, &s->cfg, e)) return -1;
    path_join(s->tokenizer, sizeof s->tokenizer, s->dir, "tokenizer.json");
    if (tokenizer) snprintf(s->tokenizer, sizeof s->tokenizer, "%s", tokenizer);
    else if (!file_exists(s->tokenizer))
        return err_set(e, "%s: holds no tokenizer.json (checkpoints written by plateau train --tokenizer, plateau init "
                          "--tokenizer or a study carry one); give --tokenizer FILE", s->dir);
    Tokenizer *tk;
    if (tokenizer_load(&tk, s->tokenizer, e)) return -1;
    int n = tokenizer_vocab_size(tk);
    tokenizer_free(tk);
    if (n > s->cfg.vocab_size)
        return err_set(e, "%s has %d tokens but the model's vocabulary is %d", s->tokenizer, n, s->cfg.vocab_size);
    param_table_build(&s->table, &s->cfg);
    s->params = xmalloc(s->table.total * sizeof(float));
    Lineage lin;
    if (checkpoint_load(s->dir, &s->cfg, s->params, NULL, NULL, &lin, e)) {
        export_source_free(s);
        return -1;
    }
    snprintf(s->id, sizeof s->id, "%s", lin.id);
    return 0;
}

void export_source_free(ExportSource *s)
{
    free(s->params);
    param_table_free(&s->table);
    s->params = NULL;
}

/* ---- the folder's JSON files -------------------------------------------- */

static int write_json(const char *dir, const char *name, cJSON *root, Err *e)
{
    char path[4200];
    path_join(path, sizeof path, dir, name);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return err_set(e, "%s: out of memory", path);
    size_t n = strlen(text);
    text = realloc(text, n + 2);
    text[n++] = '\n';
    int rc = write_file_atomic(path, text, n, e);
    free(text);
    return rc;
}

/* config.json: the checkpoint's, with the dtype and the special token ids. */
static int write_config(const ExportSource *s, const char *dir, ExportDtype dt, int eot, Err *e)
{
    char path[4200], *text;
    path_join(path, sizeof path, s->dir, "config.json");
    if (read_file(path, &text, NULL, e)) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set(e, "%s: not a JSON object", path);
    }
    cJSON_ReplaceItemInObjectCaseSensitive(root, "torch_dtype",
                                           cJSON_CreateString(dt == EXPORT_BF16 ? "bfloat16" : "float32"));
    cJSON_DeleteItemFromObjectCaseSensitive(root, "bos_token_id");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "eos_token_id");
    cJSON_AddNumberToObject(root, "bos_token_id", eot);
    cJSON_AddNumberToObject(root, "eos_token_id", eot);
    return write_json(dir, "config.json", root, e);
}

static int write_generation_config(const ExportSource *s, const char *dir, int eot, Err *e)
{
    cJSON *g = cJSON_CreateObject();
    cJSON_AddNumberToObject(g, "bos_token_id", eot);
    cJSON_AddNumberToObject(g, "eos_token_id", eot);
    cJSON_AddNumberToObject(g, "pad_token_id", eot);
    cJSON_AddBoolToObject(g, "do_sample", 0);
    cJSON_AddNumberToObject(g, "max_length", s->cfg.seq_len);
    return write_json(dir, "generation_config.json", g, e);
}

/* The special tokens map, shared by tokenizer_config.json and
 * special_tokens_map.json. */
static void add_special_tokens(cJSON *o)
{
    const char *eot = tokenizer_special_text(SPECIAL_ENDOFTEXT);
    cJSON_AddStringToObject(o, "bos_token", eot);
    cJSON_AddStringToObject(o, "eos_token", eot);
    cJSON_AddStringToObject(o, "pad_token", eot);
    cJSON *extra = cJSON_AddArrayToObject(o, "additional_special_tokens");
    for (int k = SPECIAL_SYSTEM; k < SPECIAL_COUNT; k++)
        cJSON_AddItemToArray(extra, cJSON_CreateString(tokenizer_special_text((SpecialToken)k)));
}

static int write_tokenizer_config(const ExportSource *s, const Tokenizer *tk, const char *dir, Err *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *dec = cJSON_AddObjectToObject(o, "added_tokens_decoder");
    for (int k = 0; k < SPECIAL_COUNT; k++) {
        char id[16];
        snprintf(id, sizeof id, "%d", tokenizer_special(tk, (SpecialToken)k));
        cJSON *t = cJSON_AddObjectToObject(dec, id);
        cJSON_AddStringToObject(t, "content", tokenizer_special_text((SpecialToken)k));
        cJSON_AddBoolToObject(t, "lstrip", 0);
        cJSON_AddBoolToObject(t, "normalized", 0);
        cJSON_AddBoolToObject(t, "rstrip", 0);
        cJSON_AddBoolToObject(t, "single_word", 0);
        cJSON_AddBoolToObject(t, "special", 1);
    }
    add_special_tokens(o);
    cJSON_AddStringToObject(o, "chat_template", CHAT_TEMPLATE_JINJA);
    cJSON_AddBoolToObject(o, "clean_up_tokenization_spaces", 0);
    cJSON_AddNumberToObject(o, "model_max_length", s->cfg.seq_len);
    cJSON_AddStringToObject(o, "tokenizer_class", "PreTrainedTokenizerFast");
    return write_json(dir, "tokenizer_config.json", o, e);
}

static int write_special_tokens_map(const char *dir, Err *e)
{
    cJSON *map = cJSON_CreateObject();
    add_special_tokens(map);
    return write_json(dir, "special_tokens_map.json", map, e);
}

static int copy_file(const char *src, const char *dir, const char *name, Err *e)
{
    char path[4200], *text;
    size_t bytes;
    path_join(path, sizeof path, dir, name);
    if (read_file(src, &text, &bytes, e)) return -1;
    int rc = write_file_atomic(path, text, bytes, e);
    free(text);
    return rc;
}

int export_hf(const ExportSource *s, const char *out_dir, ExportDtype dtype, Err *e)
{
    if (dtype == EXPORT_F16) return err_set(e, "the Hugging Face folder takes --dtype f32 or bf16");
    if (file_exists(out_dir))   /* never mix a release with what a folder already holds */
        return err_set(e, "%s already exists: give a new folder for the export (nothing was written)", out_dir);
    Tokenizer *tk;
    if (tokenizer_load(&tk, s->tokenizer, e)) return -1;
    const int eot = tokenizer_special(tk, SPECIAL_ENDOFTEXT);
    char path[4200];
    path_join(path, sizeof path, out_dir, "model.safetensors");
    int rc = make_dirs(out_dir, e) ||
             safetensors_write_as(path, &s->table, s->params, dtype == EXPORT_BF16 ? SAFETENSORS_BF16 : SAFETENSORS_F32,
                                  e) ||
             write_config(s, out_dir, dtype, eot, e) || write_generation_config(s, out_dir, eot, e) ||
             copy_file(s->tokenizer, out_dir, "tokenizer.json", e) || write_tokenizer_config(s, tk, out_dir, e) ||
             write_special_tokens_map(out_dir, e);
    tokenizer_free(tk);
    return rc ? -1 : 0;
}
