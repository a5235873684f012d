/* The options that choose a model shape, shared by the commands that create
 * one (init, train --preset): --preset, --vocab, --tied/--untied. */
#ifndef PLATEAU_CLI_MODEL_OPTS_H
#define PLATEAU_CLI_MODEL_OPTS_H

#include "cli/args.h"
#include "model/config.h"

/* Fills *c from the preset with the overrides applied, and validates it. */
int cli_model_config(const Args *a, Config *c, Err *e);

#endif
