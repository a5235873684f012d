/* plateau data wordnet: writes the WordNet world folder. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/wordnet.h"

static const OptSpec OPTS[] = {
    {"out", "DIR", "world folder to write (required)"},
    {"seed", "S", "world seed (default 1)"},
    {"wordnet-dir", "DIR", "folder with data.noun etc. (default " WORDNET_DIR ")"},
    {"license", "FILE", "WordNet licence to copy (default " WORDNET_COPYRIGHT ")"},
    {"max-synsets", "N", "use a seeded subset of N askable synsets (default 0: all of WordNet)"},
    {"docs-per-synset", "K", "pre-training documents per synset (default 1)"},
    {"mid-percent", "P", "askable synsets in P_mid, percent (default 5)"},
    {"eval-train-items", "E", "train-half synsets in eval_*_train.jsonl (default min(train, test))"},
    {NULL, NULL, NULL},
};

int cmd_data_wordnet(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, "plateau data wordnet --out DIR [--seed S] [--max-synsets N]",
                   "Builds a world from Princeton WordNet 3.0 (Debian wordnet-base): pre-training text from\n"
                   "definitions and examples, SFT questions (definition, synonym, category) about half the words,\n"
                   "evaluation on the other half. Copies the WordNet licence to DIR/LICENSE-WordNet."))
        return 0;
    const char *out;
    WordNetOptions o;
    wordnet_default_options(&o);
    long seed, max, k, mid, evt;
    if (args_require(&a, "out", &out, &e) ||
        args_long(&a, "seed", (long)o.seed, &seed, &e) ||
        args_long(&a, "max-synsets", o.max_synsets, &max, &e) ||
        args_long(&a, "docs-per-synset", o.docs_per_synset, &k, &e) ||
        args_long(&a, "mid-percent", o.mid_percent, &mid, &e) ||
        args_long(&a, "eval-train-items", -1, &evt, &e))
        args_fail(&e);
    if (seed < 0 || max < 0 || max > 10000000 || k > 100 || mid > 100 || evt < -1 || evt > 10000000) {
        fprintf(stderr, "plateau: --seed and --max-synsets must be >= 0, --docs-per-synset <= 100, --mid-percent <= 40\n");
        return EXIT_USAGE;
    }
    o.seed = (uint64_t)seed;
    o.max_synsets = (int)max;
    o.docs_per_synset = (int)k;
    o.mid_percent = (int)mid;
    o.eval_train_items = (int)evt;

    WordNetDb db;
    WordNetStats st;
    if (wordnet_load(&db, args_str(&a, "wordnet-dir", WORDNET_DIR), &e)) die(&e);
    if (wordnet_write(&db, &o, args_str(&a, "license", NULL), out, &st, &e)) die(&e);
    printf("wordnet world in %s: %d synsets in pre-training, %d askable (test %d, train %d, mid %d), seed %llu\n",
           out, st.n_synsets, st.n_test + st.n_train + st.n_mid, st.n_test, st.n_train, st.n_mid,
           (unsigned long long)o.seed);
    for (int f = 0; f < WORDNET_N_FILES && st.files[f].name; f++)
        printf("  %-20s %8ld %s %10ld bytes\n", st.files[f].name, st.files[f].lines,
               strstr(st.files[f].name, ".txt") ? "docs   " : "records", st.files[f].bytes);
    wordnet_free(&db);
    return 0;
}
