/* Release formats: a checkpoint as the files other tools load.
 *
 * Hugging Face folder (export_hf), for transformers'
 * AutoModelForCausalLM/AutoTokenizer.from_pretrained:
 *   model.safetensors        the weights, F32 or BF16, Hugging Face Llama names
 *   config.json              the checkpoint's LlamaForCausalLM config, with
 *                            torch_dtype and the special token ids
 *   generation_config.json   greedy decoding that stops at <|endoftext|>
 *   tokenizer.json           the checkpoint's tokenizer, byte for byte
 *   tokenizer_config.json    PreTrainedTokenizerFast, the special tokens, and
 *                            chat_template = CHAT_TEMPLATE_JINJA (data/chat.h)
 *   special_tokens_map.json  bos/eos/pad = <|endoftext|>, the role markers
 *
 * GGUF file (export_gguf), for llama.cpp and the tools built on it, written
 * after the GGUF v3 specification (ggml's docs/gguf.md): little-endian; the
 * header, metadata key/values, tensor infos, then the tensor data, each
 * tensor at a multiple of 32 bytes. Metadata: general.architecture "llama"
 * and the llama.* hyperparameters; the tokenizer as tokenizer.ggml.model
 * "gpt2" (byte-level BPE) with pre-tokenizer "gpt-2" (plateau splits words as
 * GPT-2 does), every token string, its type (normal; control for the four
 * special tokens; unused for the model's padding rows past the tokenizer),
 * the merges in rank order, bos = eos = padding = <|endoftext|> with
 * add_bos_token true (every pre-training document starts with it), and the
 * chat template. Tensors use llama.cpp's names (token_embd, blk.N.attn_q, ...)
 * with ggml's dimension order (fastest-varying first, so a [rows, cols]
 * matrix has dims {cols, rows}). The query and key projections are permuted
 * from the Hugging Face rotate_half layout, where a head's rotary pairs are
 * (i, i + head_dim/2), to llama.cpp's adjacent pairs (2i, 2i + 1): GGUF row
 * h*hd + 2i + a is Hugging Face row h*hd + a*hd/2 + i (a in {0, 1}). Norm
 * weights stay F32 whatever the dtype, as llama.cpp expects.
 *
 * Both read only the checkpoint folder: it must be verified (checksums) and
 * carry tokenizer.json (train/checkpoint.h). Outputs are written atomically;
 * a failed export leaves nothing half-written under the final names. An
 * output path that already exists (file or folder) is refused, never
 * replaced or written into. */
#ifndef PLATEAU_EXPORT_H
#define PLATEAU_EXPORT_H

#include "core/error.h"
#include "model/config.h"

typedef enum { EXPORT_F32, EXPORT_F16, EXPORT_BF16 } ExportDtype;

/* "f32", "f16", "bf16" -> *d; -1 for anything else. */
int export_dtype_parse(const char *s, ExportDtype *d);
const char *export_dtype_name(ExportDtype d);

typedef struct {
    char       dir[4096];        /* the checkpoint folder */
    char       tokenizer[4096];  /* its tokenizer.json */
    char       id[17];           /* checkpoint id */
    Config     cfg;
    ParamTable table;
    float     *params;           /* owned, table.total floats */
} ExportSource;

/* Verifies and loads a checkpoint (or a run directory's latest one) with
 * its tokenizer.json, or with `tokenizer` when non-NULL (for checkpoints
 * written without one). Fails naming the folder when it has none. */
int  export_source_load(ExportSource *s, const char *ckpt, const char *tokenizer, Err *e);
void export_source_free(ExportSource *s);

/* dtype: EXPORT_F32 or EXPORT_BF16 (safetensors has no reason for F16 here). */
int export_hf(const ExportSource *s, const char *out_dir, ExportDtype dtype, Err *e);
int export_gguf(const ExportSource *s, const char *out_path, ExportDtype dtype, Err *e);

#endif
