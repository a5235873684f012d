#include "cli/model_opts.h"

int cli_model_config(const Args *a, Config *c, Err *e)
{
    const char *preset;
    long vocab;
    if (args_require(a, "preset", &preset, e) || config_preset(c, preset, e)) return -1;
    if (args_long(a, "vocab", c->vocab_size, &vocab, e)) return -1;
    c->vocab_size = (int)vocab;
    if (args_has(a, "tied")) c->tied = 1;
    if (args_has(a, "untied")) c->tied = 0;
    return config_validate(c, e);
}

