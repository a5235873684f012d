/* plateau model info: what a preset is and what training it costs. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include <omp.h>

#include "model/config.h"
#include "model/llama.h"

static const OptSpec OPTS[] = {
    {"preset", "NAME", "model preset: nano, micro, mini, small, llama-1b, llama-8b (default nano)"},
    {"tied", NULL, "tie the output head to the embedding"},
    {"untied", NULL, "separate output head (the default except for llama-1b)"},
    {"batch", "B", "sequences per step for the memory estimate (default 8)"},
    {"seq-len", "T", "sequence length for FLOPs and memory (default: the preset's)"},
    {"precision", "P", "fp32 or bf16 for the memory estimate (default: bf16 where the CPU has it)"},
    {NULL, NULL, NULL},
};

static const char *human_bytes(char *buf, size_t size, double bytes)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) { bytes /= 1024; u++; }
    snprintf(buf, size, "%.2f %s", bytes, unit[u]);
    return buf;
}

int cmd_model(int argc, char **argv)
{
    Args a;
    Err e;
    if (argc < 1 || strcmp(argv[0], "info") != 0) {
        if (args_first_is_help(argc, argv)) {
            args_usage(stdout, "plateau model info [--preset NAME]", "Prints a model's shape, parameter count, training FLOPs per token and step memory.", OPTS);
            return 0;
        }
        fprintf(stderr, "plateau model: expected 'info' (see plateau model --help)\n");
        return EXIT_USAGE;
    }
    if (args_begin(&a, OPTS, argc - 1, argv + 1, "plateau model info [--preset NAME]",
                   "Prints a model's shape, parameter count, training FLOPs per token and step memory."))
        return 0;
    Config c;
    const char *name = args_str(&a, "preset", "nano");
    if (config_preset(&c, name, &e)) args_fail(&e);
    if (args_has(&a, "tied")) c.tied = 1;
    if (args_has(&a, "untied")) c.tied = 0;
    long B, T;
    if (args_long(&a, "batch", 8, &B, &e) || args_long(&a, "seq-len", c.seq_len, &T, &e)) args_fail(&e);
    Precision prec = precision_default();
    if (args_has(&a, "precision") && precision_parse(args_str(&a, "precision", ""), "--precision", &prec, &e))
        args_fail(&e);
    if (config_validate(&c, &e)) args_fail(&e);

    uint64_t n = config_param_count(&c);
    char count[64];
    /* thousands separators */
    char raw[32];
    snprintf(raw, sizeof raw, "%llu", (unsigned long long)n);
    int len = (int)strlen(raw), o = 0;
    for (int i = 0; i < len; i++) {
        count[o++] = raw[i];
        if ((len - i - 1) % 3 == 0 && i < len - 1) count[o++] = ',';
    }
    count[o] = 0;

    printf("preset                 %s\n", name);
    printf("dim                    %d\n", c.dim);
    printf("n_layers               %d\n", c.n_layers);
    printf("n_heads                %d\n", c.n_heads);
    printf("n_kv_heads             %d\n", c.n_kv_heads);
    printf("head_dim               %d\n", config_head_dim(&c));
    printf("ffn_dim                %d\n", c.ffn_dim);
    printf("vocab_size             %d\n", c.vocab_size);
    printf("seq_len                %d\n", c.seq_len);
    printf("rope_theta             %g\n", c.rope_theta);
    printf("norm_eps               %g\n", c.norm_eps);
    printf("output head            %s\n", c.tied ? "tied to embedding" : "untied");
    printf("parameters             %s\n", count);
    printf("train FLOPs/token      %.4g (at T=%ld)\n", config_train_flops_per_token(&c, (int)T), T);
    /* The model's own allocation plan; linear in T (attention keeps no T x T array). */
    int nt = omp_get_max_threads();
    double at_T = (double)model_train_step_bytes(&c, (int)B, (int)T, nt, prec);
    double per_1k = (double)model_train_step_bytes(&c, (int)B, (int)T + 1024, nt, prec) - at_T;
    char b1[32], b2[32];
    printf("train step memory      %s\n", human_bytes(b1, sizeof b1, at_T));
    printf("                       (B=%ld x T=%ld, %s, %d threads: weights, grads, AdamW moments, activations)\n", B, T,
           precision_name(prec), nt);
    printf("                       linear in T: %s more per 1024 tokens of sequence length\n",
           human_bytes(b2, sizeof b2, per_1k));
    return 0;
}
