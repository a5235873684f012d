#include <stdio.h>
#include "cli/commands.h"
int cmd_data_sft(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return 2; }
