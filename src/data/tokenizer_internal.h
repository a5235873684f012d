/* The Tokenizer's representation, shared by the BPE core (tokenizer.c) and
 * the Hugging Face tokenizer.json reader/writer (tokenizer_json.c). Nothing
 * outside src/data/tokenizer*.c includes this. */
#ifndef PLATEAU_TOKENIZER_INTERNAL_H
#define PLATEAU_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "data/tokenizer.h"

struct Tokenizer {
    int            vocab_size;       /* every id, specials included */
    size_t        *tok_off;          /* [vocab_size + 1]: token id's bytes are */
    unsigned char *tok_bytes;        /*   tok_bytes[tok_off[id] .. tok_off[id+1]) */
    int            byte_token[256];  /* the id of each single byte */
    int            special[SPECIAL_COUNT];
    int            n_merges;
    int           *merge_left;       /* [n_merges], in rank order: merge r joins */
    int           *merge_right;      /*   (left[r], right[r]) into result[r]    */
    int           *merge_result;
    uint64_t      *rank_keys;        /* open-addressing map (left, right) -> rank */
    int           *rank_vals;
    size_t         rank_cap;         /* power of two */
};

/* Builds the (left, right) -> rank map from the merge arrays. Where the same
 * pair appears twice, the lower rank wins. */
void tokenizer_index_merges(Tokenizer *t);

#endif
