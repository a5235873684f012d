/* plateau export: a checkpoint as a Hugging Face folder or a GGUF file
 * (export/export.h). */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "export/export.h"

static const OptSpec OPTS[] = {
    {"format", "F", "hf (a folder for transformers) or gguf (one file for llama.cpp) (required)"},
    {"out", "PATH", "the folder (hf) or the .gguf file to write (required)"},
    {"tokenizer", "FILE", "tokenizer.json, for a checkpoint written without one (default: the checkpoint's)"},
    {"dtype", "T", "weights as f32 (default) or bf16; gguf also takes f16 (norm gains stay f32)"},
    {NULL, NULL, NULL},
};

static const char USAGE[] = "plateau export --format hf|gguf CKPT --out PATH [--dtype f32|f16|bf16]";
static const char ABOUT[] =
    "Writes a checkpoint (or a run directory's latest one) in a release format, with the tokenizer and the\n"
    "SFT chat template it carries: --format hf a folder that transformers' AutoModelForCausalLM and\n"
    "AutoTokenizer load (model.safetensors, config.json, generation_config.json, tokenizer.json,\n"
    "tokenizer_config.json, special_tokens_map.json); --format gguf a GGUF v3 file that llama.cpp runs.";

int cmd_export(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    const char *format, *out;
    if (args_require(&a, "format", &format, &e) || args_require(&a, "out", &out, &e)) args_fail(&e);
    int gguf = strcmp(format, "gguf") == 0;
    if (!gguf && strcmp(format, "hf") != 0) {
        fprintf(stderr, "plateau: --format %s: expected hf or gguf\n", format);
        return EXIT_USAGE;
    }
    ExportDtype dt;
    if (export_dtype_parse(args_str(&a, "dtype", "f32"), &dt) || (!gguf && dt == EXPORT_F16)) {
        fprintf(stderr, "plateau: --dtype %s: expected f32 or bf16%s\n", args_str(&a, "dtype", ""),
                gguf ? " or f16" : "");
        return EXIT_USAGE;
    }
    if (a.n_positional != 1) {
        fprintf(stderr, "plateau: give exactly one checkpoint (see --help)\n");
        return EXIT_USAGE;
    }
    ExportSource s;
    if (export_source_load(&s, a.positional[0], args_str(&a, "tokenizer", NULL), &e)) die(&e);
    if (gguf ? export_gguf(&s, out, dt, &e) : export_hf(&s, out, dt, &e)) die(&e);
    printf("%s: checkpoint %s (%s), %zu parameters, %s -> %s\n", gguf ? "gguf" : "hf", s.id, s.dir, s.table.total,
           export_dtype_name(dt), out);
    export_source_free(&s);
    return 0;
}
