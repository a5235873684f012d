/* plateau data bios: writes the synthetic-biographies world folder. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/bios.h"

static const OptSpec OPTS[] = {
    {"out", "DIR", "world folder to write (required)"},
    {"people", "N", "number of people (default 2000)"},
    {"seed", "S", "world seed (default 1)"},
    {"bios-per-person", "K", "biographies per person in pretrain.txt (default 5)"},
    {"mid-people", "M", "people in P_mid, whose Q/A text is in mid.txt (default N/20)"},
    {"mid-questions", "Q", "Q/A documents per P_mid person and attribute (default 2)"},
    {"eval-train-people", "E", "P_train people in eval_*_train.jsonl (default min(|P_train|, |P_test|))"},
    {"no-permute", NULL, "keep the sentence order of every biography fixed"},
    {"pronouns", NULL, "He/She instead of the full name after a biography's first sentence"},
    {"single-template", NULL, "one fixed sentence template per attribute instead of >= 20"},
    {"mid-bios-only-mid", NULL, "mid.txt biographies of P_mid only (default: P_train and P_mid)"},
    {NULL, NULL, NULL},
};

int cmd_data_bios(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, "plateau data bios --out DIR [--people N] [--seed S] ...",
                   "Generates N synthetic people and writes pretrain.txt, mid.txt, sft_{train,valid}.jsonl,\n"
                   "eval_qa_{test,train}.jsonl, eval_mc_{test,train}.jsonl, people.jsonl and world.json.\n"
                   "Same seed and options give identical bytes."))
        return 0;
    const char *out;
    BiosOptions o;
    bios_default_options(&o);
    long people, seed, k, mid, midq, evt;
    if (args_require(&a, "out", &out, &e) ||
        args_long(&a, "people", o.people, &people, &e) ||
        args_long(&a, "seed", (long)o.seed, &seed, &e) ||
        args_long(&a, "bios-per-person", o.bios_per_person, &k, &e) ||
        args_long(&a, "mid-people", -1, &mid, &e) ||
        args_long(&a, "mid-questions", o.mid_questions_per_attribute, &midq, &e) ||
        args_long(&a, "eval-train-people", -1, &evt, &e))
        args_fail(&e);
    if (seed < 0 || people > 1000000 || k > 1000 || mid > 1000000 || midq > 1000 || evt > 1000000) {
        fprintf(stderr, "plateau: --seed must be >= 0 and counts at most 1000000\n");
        return EXIT_USAGE;
    }
    o.seed = (uint64_t)seed;
    o.people = (int)people;
    o.bios_per_person = (int)k;
    o.mid_people = mid < -1 ? -2 : (int)mid;
    o.mid_questions_per_attribute = (int)midq;
    o.eval_train_people = evt < -1 ? -2 : (int)evt;
    o.permute_sentences = !args_has(&a, "no-permute");
    o.full_name_every_sentence = !args_has(&a, "pronouns");
    o.vary_templates = !args_has(&a, "single-template");
    o.mid_bios_of_train = !args_has(&a, "mid-bios-only-mid");
    if (o.mid_people == -2 || o.eval_train_people == -2) {
        fprintf(stderr, "plateau: --mid-people and --eval-train-people must be >= 0\n");
        return EXIT_USAGE;
    }

    BiosWorld w;
    BiosStats st;
    if (bios_generate(&w, &o, &e)) die(&e);
    if (bios_write(&w, out, &st, &e)) die(&e);
    printf("bios world in %s: %d people (test %d, train %d, mid %d), seed %llu\n", out, w.n_people,
           w.n_test, w.n_train, w.n_mid, (unsigned long long)o.seed);
    for (int f = 0; f < BIOS_N_FILES && st.files[f].name; f++)
        printf("  %-20s %8ld %s %10ld bytes\n", st.files[f].name, st.files[f].lines,
               strstr(st.files[f].name, ".txt") ? "docs   " : "records", st.files[f].bytes);
    bios_free(&w);
    return 0;
}
