/* plateau data: makes the text, JSONL and token files the study trains on.
 * Each subcommand lives in its own file (cmd_data_NAME.c). */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *about;
} DataCommand;

static const DataCommand DATA_COMMANDS[] = {
    {"bios", cmd_data_bios, "generate the synthetic-biographies world (pre-training, SFT, eval files)"},
    {"wordnet", cmd_data_wordnet, "generate the WordNet world from /usr/share/wordnet"},
    {"sft", cmd_data_sft, "chat JSONL -> SFT token and loss-mask shards"},
    {"tokenize", cmd_data_tokenize, "UTF-8 text files -> llm.c token shards"},
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: plateau data SUBCOMMAND [options]   (plateau data SUBCOMMAND --help)\n\nsubcommands:\n");
    for (size_t i = 0; i < sizeof DATA_COMMANDS / sizeof DATA_COMMANDS[0]; i++)
        fprintf(fp, "  %-10s %s\n", DATA_COMMANDS[i].name, DATA_COMMANDS[i].about);
}

int cmd_data(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof DATA_COMMANDS / sizeof DATA_COMMANDS[0]; i++)
        if (strcmp(argv[0], DATA_COMMANDS[i].name) == 0) return DATA_COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "plateau data: unknown subcommand '%s'\n", argv[0]);
    usage(stderr);
    return 2;
}
