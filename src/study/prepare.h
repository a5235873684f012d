/* A study's data, built once in its output folder before any training:
 *
 *   DIR/world/          the world folder (docs/WORLDS.md): bios, wordnet, or
 *                       for world = files the user's text and JSONL split 9:1.
 *                       bios renders as many distinct biographies per person
 *                       as pretrain_tokens needs (at least 5), so the
 *                       training text never repeats, only the facts do
 *   DIR/data/tokenizer.json   byte-level BPE trained on the pre-training text
 *                       at the study's vocabulary (spec.vocab, else the preset's,
 *                       at least STUDY_VOCAB_MIN)
 *   DIR/data/pt_train.bin, pt_valid.bin   pre-training tokens, one
 *                       <|endoftext|> before every document; the last
 *                       documents (about 5%, at most PREP_VALID_MAX_TOKENS) are
 *                       the validation stream, never trained on
 *   DIR/data/mid.bin    mid-training tokens (three-stage studies)
 *   DIR/data/sft_train.bin + .mask.bin, sft_valid.bin + .mask.bin
 *                       SFT rows of seq_len+1 tokens with assistant-only masks
 *                       (the loader's LOADER_ROWS layout)
 *   DIR/data/eval_qa_valid.jsonl   the SFT validation conversations as
 *                       generation items (the last assistant reply is the
 *                       answer): the split the SFT learning rate is chosen on
 *   DIR/data/data.json  what was built (the world text, token counts); removed
 *                       first when the data is rebuilt and written last, so
 *                       its presence with the same world text means
 *                       everything above is complete and is reused as is.
 *
 * Everything is a pure function of the spec (world, people, vocabulary,
 * seq_len), so two folders built from the same spec hold the same bytes. */
#ifndef PLATEAU_STUDY_PREPARE_H
#define PLATEAU_STUDY_PREPARE_H

#include <stdint.h>

#include "core/error.h"
#include "study/spec.h"

#define PREP_PATH_MAX 4096
#define PREP_VALID_MAX_TOKENS 65536
#define PREP_MAX_TASKS 8
#define PREP_WORLD_SEED 1   /* the world is the same for every seed of a study */
/* Bumped whenever the same spec would give other data bytes (2: assistant
 * replies trained with a leading space; 3: bios renders as many distinct
 * biographies per person as the pre-training budget needs); part of every
 * segment id. */
#define PREP_DATA_VERSION 3

typedef struct {
    char    world_dir[PREP_PATH_MAX];
    char    tokenizer[PREP_PATH_MAX];
    char    pt_train[PREP_PATH_MAX], pt_valid[PREP_PATH_MAX], mid[PREP_PATH_MAX];
    char    sft_train[PREP_PATH_MAX], sft_train_mask[PREP_PATH_MAX];
    char    sft_valid[PREP_PATH_MAX], sft_valid_mask[PREP_PATH_MAX];
    char    qa_valid[PREP_PATH_MAX];           /* generation items from the SFT validation split */
    char    qa_test[PREP_PATH_MAX];            /* held-out people/words ("" for world = files) */
    char    mc_tasks[PREP_MAX_TASKS][PREP_PATH_MAX];   /* the pt suite: multiple-choice files */
    int     n_mc_tasks;
    int     vocab;
    int64_t pt_train_tokens, pt_valid_tokens, mid_tokens;
    int64_t sft_train_rows, sft_valid_rows;    /* rows of seq_len + 1 tokens */
    int     reused;                            /* 1: found complete on disk, nothing built */
} StudyData;

/* The vocabulary a study trains its tokenizer to: spec.vocab, else the
 * preset's raised to STUDY_VOCAB_MIN. -1 for an unknown preset. */
int study_vocab(const StudySpec *s, Err *e);

/* The world as text: generator, data version, world seed, size and
 * vocabulary, e.g. "bios v2 seed=1 people=200 vocab=2048". Segment ids
 * (study/plan.h) and the data folder's stale check (which adds seq_len) are
 * both made of it, so what names the data and what checks it cannot drift
 * apart. Fails only for an unknown preset. */
#define STUDY_WORLD_TEXT_MAX (160 + 2 * STUDY_PATH_MAX)
int study_world_text(const StudySpec *s, char *out, size_t size, Err *e);

/* What DIR/data/data.json records of the data it describes: the world
 * text and seq_len, e.g. "bios v3 seed=1 people=200 vocab=2048
 * pretrain_tokens=1146880 seq_len=128"; another text means the folder's
 * data is stale for s and study_prepare rebuilds world/ and data/. */
#define STUDY_DATA_TEXT_MAX (STUDY_WORLD_TEXT_MAX + 32)
int study_data_text(const StudySpec *s, char *out, size_t size, Err *e);
/* The text DIR/data/data.json records: 1 found, 0 when there is no
 * readable data.json (no data built yet, or an interrupted build). */
int study_data_built(const char *out_dir, char *text, size_t size);

/* Builds (or finds complete) the data of spec s under out_dir, printing one
 * line per step unless quiet. Errors name the file and what was expected. */
int study_prepare(StudyData *d, const StudySpec *s, const char *out_dir, int quiet, Err *e);

#endif
