/* The real-text world, "wordnet": English definitions, synonyms, categories
 * and example sentences from Princeton WordNet 3.0 as packaged by Debian
 * (wordnet-base: /usr/share/wordnet/data.{noun,verb,adj,adv}).
 *
 * Two layers:
 *  - a parser for the wndb(5) data-file format into a WordNetDb (synsets with
 *    their words, gloss split into definition and examples, and the first
 *    hypernym resolved to a synset index);
 *  - a world generator that writes the same folder layout as the bios world
 *    (see bios.h) from a seeded split of the "askable" synsets: those whose
 *    first word belongs to no other synset in any part of speech, so a
 *    question about the word has one right answer.
 *
 * World folder written by wordnet_write() (atomic files, world.json last):
 *   pretrain.txt        one document per synset, documents separated by an
 *                       empty line: definition, synonyms, category, examples
 *   mid.txt             documents of every synset not in the test half, plus
 *                       "Q: ... A: ..." documents about the P_mid group
 *   sft_train.jsonl     chat questions about the train half: definition,
 *   sft_valid.jsonl       synonym, category (hypernym); shuffled, split 9:1
 *   eval_qa_test.jsonl  {"messages":[user],"answer":A,"answers":[all correct],
 *   eval_qa_train.jsonl   "attribute":"synonym"|"hypernym","word":W}: exact match
 *                         against any of "answers" (the first is "answer")
 *   eval_mc_test.jsonl  {"context":..,"choices":[4],"answer":K,"attribute":
 *   eval_mc_train.jsonl   "definition"|"word","word":W}: word -> definition and
 *                         definition -> word, distractors from the same part of speech
 *   world.json          seed, options, sizes
 *   LICENSE-WordNet     the WordNet 3.0 licence, which must travel with the data */
#ifndef PLATEAU_WORDNET_H
#define PLATEAU_WORDNET_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "data/textbuf.h"
#include "data/worldfile.h"

#define WORDNET_DIR "/usr/share/wordnet"
#define WORDNET_COPYRIGHT "/usr/share/doc/wordnet-base/copyright"

typedef struct {
    uint32_t offset;          /* synset_offset field (byte offset in its data file) */
    char     pos;             /* ss_type: 'n', 'v', 'a', 's' (adjective satellite), 'r' */
    int      first_word, n_words;        /* range in WordNetDb.words */
    int      first_example, n_examples;  /* range in WordNetDb.examples */
    uint32_t definition;      /* offset into WordNetDb.text */
    int      hypernym;        /* synset index of the first @ / @i pointer, or -1 */
    uint32_t hypernym_offset; /* its synset_offset (0 if none); same part of speech */
} WordNetSynset;

typedef struct {
    WordNetSynset *synsets;  int n_synsets, cap_synsets;
    uint32_t *words;         int n_words, cap_words;      /* offsets into text */
    uint32_t *examples;      int n_examples, cap_examples;
    TextBuf   text;          /* all strings, NUL-separated */
} WordNetDb;

/* Parses one data file's contents (licence header lines start with two
 * spaces and are skipped). Words get '_' -> ' ' and lose adjective markers
 * such as "(p)". file_name only labels errors: "data.noun:12: ...".
 * Hypernyms are resolved by wordnet_link(). */
int  wordnet_parse(WordNetDb *db, const char *text, size_t bytes, const char *file_name, Err *e);
/* Resolves every hypernym_offset to a synset index; a dangling pointer is an error. */
int  wordnet_link(WordNetDb *db, Err *e);
/* Reads and links data.noun, data.verb, data.adj, data.adv from dir. A
 * missing file is an error that says to install wordnet-base. */
int  wordnet_load(WordNetDb *db, const char *dir, Err *e);
void wordnet_free(WordNetDb *db);

const char *wordnet_word(const WordNetDb *db, int synset, int k);
const char *wordnet_definition(const WordNetDb *db, int synset);
const char *wordnet_example(const WordNetDb *db, int synset, int k);

typedef struct {
    uint64_t seed;
    int max_synsets;          /* 0: all; else a seeded subset of askable synsets (and their hypernyms' words) */
    int docs_per_synset;      /* pre-training documents per synset, each with fresh templates (1) */
    int mid_percent;          /* P_mid as a percentage of the askable synsets (5) */
    int eval_train_items;     /* train-half synsets in eval_*_train; -1: min(train, test) */
} WordNetOptions;

typedef WorldFileInfo WordNetFileInfo;

#define WORDNET_N_FILES 10
typedef struct {
    int n_synsets, n_askable, n_test, n_train, n_mid, n_eval_train;
    WordNetFileInfo files[WORDNET_N_FILES];
} WordNetStats;

void wordnet_default_options(WordNetOptions *o);
/* Writes the world folder from a loaded db; license_path is copied to
 * LICENSE-WordNet (NULL: the Debian copyright file). stats may be NULL. */
int  wordnet_write(const WordNetDb *db, const WordNetOptions *o, const char *license_path,
                   const char *dir, WordNetStats *stats, Err *e);

#endif
