/* tokenizer.json: the pipeline fields, the vocabulary and its ids, the
 * merges and the added tokens. A file that loads must also encode and
 * decode. */
#include <stdlib.h>
#include <string.h>

#include "data/tokenizer.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Tokenizer *t = NULL;
    Err e;
    if (tokenizer_load(&t, fuzz_write("tokenizer.json", data, size), &e)) return 0;
    static const char text[] = "Ann was born in 1984 in Oslo. <|user|> caf\xc3\xa9 \xff\x00!";
    int *ids = NULL;
    size_t n = 0, cap = 0, bytes;
    tokenizer_encode(t, text, sizeof text - 1, &ids, &n, &cap);
    free(tokenizer_decode(t, ids, n, &bytes));
    free(ids);
    tokenizer_free(t);
    return 0;
}
