/* plateau data: makes the text, JSONL and token files the study trains on.
 * Each subcommand lives in its own file (cmd_data_NAME.c) and is one line in
 * this table. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *about;
} DataCommand;

static const DataCommand DATA_COMMANDS[] = {
    {"bios", cmd_data_bios, "generate the synthetic-biographies world (pre-training, SFT, eval files)"},
    {"wordnet", cmd_data_wordnet, "generate the WordNet world from /usr/share/wordnet"},
    {"tokenize", cmd_data_tokenize, "corpus files (.txt, .jsonl, .jsonl.gz, .jsonl.zst) -> llm.c token shards"},
    {"corpus", cmd_data_corpus, "a synthetic FineWeb-layout JSONL corpus of a given size (.gz, .zst)"},
    {"sft", cmd_data_sft, "chat JSONL -> SFT token and loss-mask shards"},
};

#define N_DATA_COMMANDS (sizeof DATA_COMMANDS / sizeof DATA_COMMANDS[0])

int cmd_data(int argc, char **argv)
{
    if (argc >= 1)
        for (size_t i = 0; i < N_DATA_COMMANDS; i++)
            if (strcmp(argv[0], DATA_COMMANDS[i].name) == 0) return DATA_COMMANDS[i].run(argc - 1, argv + 1);
    int help = args_first_is_help(argc, argv);
    FILE *fp = help ? stdout : stderr;
    if (argc >= 1 && !help) fprintf(stderr, "plateau data: unknown subcommand '%s'\n", argv[0]);
    fprintf(fp, "usage: plateau data SUBCOMMAND [options]   (each with --help)\n\nsubcommands:\n");
    for (size_t i = 0; i < N_DATA_COMMANDS; i++)
        fprintf(fp, "  %-12s %s\n", DATA_COMMANDS[i].name, DATA_COMMANDS[i].about);
    return help ? 0 : EXIT_USAGE;
}
