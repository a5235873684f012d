/* The embedded default world, "bios": N synthetic people with six facts each
 * (birth date, birth city, university, major, employer, the employer's city)
 * and the texts a knowledge-extraction study trains and evaluates on.
 *
 * Everything is a pure function of (seed, options): integer arithmetic,
 * frozen pools (bios_pools.c) and seeded streams from core/rng.h, so the same
 * inputs give byte-identical files on every machine.
 *
 * People are split three ways by a seeded permutation:
 *   P_test  floor(N/2) people: never seen in SFT or mid-training data; the
 *           held-out half whose extraction measures what pre-training stored;
 *   P_mid   a small group (default N/20) whose question-answer text goes into
 *           mid-training, teaching the answer format without touching P_test;
 *   P_train everyone else: SFT questions, and a slice evaluated like P_test.
 *
 * World folder written by bios_write() (every file atomic; world.json last,
 * so its presence means the folder is complete):
 *   pretrain.txt        biographies of all people, one document per line,
 *                       documents separated by an empty line ("doc\n\ndoc\n\n")
 *   mid.txt             same layout: biographies of P_train and P_mid (or P_mid
 *                       only, see mid_bios_of_train) plus "Q: ... A: ..."
 *                       documents about P_mid, shuffled together
 *   sft_train.jsonl     {"messages":[{"role":"user",...},{"role":"assistant",...}]}
 *   sft_valid.jsonl       questions about P_train, one per (person, attribute),
 *                         shuffled and split 9:1; the assistant says the bare value
 *   eval_qa_test.jsonl  {"messages":[{"role":"user","content":Q}],"answer":V,
 *   eval_qa_train.jsonl   "attribute":"birth_city","person":NAME} for P_test and a
 *                         slice of P_train; exact match of the generated reply
 *   eval_mc_test.jsonl  {"context":"NAME was born in","choices":[" Lima",...4],
 *   eval_mc_train.jsonl   "answer":K,"attribute":...,"person":...}: zero-shot cloze
 *   people.jsonl        every person's facts and split, for analysis
 *   world.json          seed, options, split sizes, documents/lines and bytes per file */
#ifndef PLATEAU_BIOS_H
#define PLATEAU_BIOS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "data/textbuf.h"
#include "data/worldfile.h"

typedef enum {
    BIOS_BIRTH_DATE = 0,
    BIOS_BIRTH_CITY,
    BIOS_UNIVERSITY,
    BIOS_MAJOR,
    BIOS_EMPLOYER,
    BIOS_WORK_CITY,
    BIOS_N_ATTRIBUTES
} BiosAttribute;

typedef enum { BIOS_SPLIT_TRAIN = 0, BIOS_SPLIT_TEST, BIOS_SPLIT_MID } BiosSplit;

/* Each augmentation is a switch (1 on, 0 off). */
typedef struct {
    uint64_t seed;
    int people;                  /* N, 4 .. 1,000,000 */
    int bios_per_person;         /* biographies per person in pre-training (5) */
    int permute_sentences;       /* shuffle sentence order per biography (1) */
    int full_name_every_sentence;/* 1: full name in every sentence; 0: He/She after the first (1) */
    int vary_templates;          /* 1: each sentence draws one of >= 20 templates; 0: template 0 (1) */
    int mid_people;              /* |P_mid|; -1: N/20 */
    int mid_bios_of_train;       /* mid.txt biographies: 1 P_train and P_mid, 0 P_mid only (1) */
    int mid_questions_per_attribute; /* Q/A documents per P_mid person and attribute (2) */
    int eval_train_people;       /* P_train slice in eval_*_train; -1: min(|P_train|, |P_test|) */
} BiosOptions;

#define BIOS_NO_MIDDLE 0xffff

typedef struct {
    uint16_t first;          /* index into BIOS_FEMALE_NAMES or BIOS_MALE_NAMES */
    uint16_t middle;         /* index into BIOS_MIDDLE_NAMES or BIOS_NO_MIDDLE */
    uint16_t last;
    uint8_t  female;
    uint8_t  split;          /* BiosSplit */
    uint16_t birth_year;
    uint8_t  birth_month;    /* 1..12 */
    uint8_t  birth_day;      /* 1..31, valid for the month and year */
    uint16_t birth_city, university, major, employer;   /* pool indices */
} BiosPerson;

typedef struct {
    BiosOptions opt;         /* resolved: no -1 left */
    BiosPerson *people;      /* owned, n_people */
    int n_people, n_test, n_train, n_mid, n_eval_train;
} BiosWorld;

/* What bios_write produced, for world.json, the CLI report and tests. */
typedef WorldFileInfo BiosFileInfo;

#define BIOS_N_FILES 10
typedef struct {
    BiosFileInfo files[BIOS_N_FILES];
    /* sentences rendered from each template in pretrain.txt and mid.txt */
    long template_uses[BIOS_N_ATTRIBUTES][32];
} BiosStats;

void bios_default_options(BiosOptions *o);
/* Draws the people and the split. Fails on impossible options (names the field). */
int  bios_generate(BiosWorld *w, const BiosOptions *o, Err *e);
void bios_free(BiosWorld *w);
/* Writes the world folder described above (creates dir). stats may be NULL. */
int  bios_write(const BiosWorld *w, const char *dir, BiosStats *stats, Err *e);

const char *bios_attribute_name(BiosAttribute a);      /* "birth_date", ... */
const char *bios_split_name(BiosSplit s);               /* "train", "test", "mid" */
int  bios_template_count(BiosAttribute a);
const char *bios_template(BiosAttribute a, int k);
int  bios_question_count(BiosAttribute a);

/* Full name ("Ada Rowan Okafor") and an attribute's value as text
 * ("March 5, 1987", "Lima", ...), appended to out. */
void bios_full_name(const BiosWorld *w, int person, TextBuf *out);
void bios_value(const BiosWorld *w, int person, BiosAttribute a, TextBuf *out);
/* Renders a sentence/question template for a person, appended to out; with
 * pronoun != 0 a leading {name} becomes He/She ({name}'s: His/Her). */
void bios_render(const BiosWorld *w, int person, BiosAttribute a, const char *tmpl,
                 int pronoun, TextBuf *out);

#endif
