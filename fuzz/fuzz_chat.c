/* Chat JSONL (SFT data and generation prompts): one conversation per line,
 * each a {"messages": [{"role", "content"}, ...]} object. */
#include "data/chat.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ChatDataset d;
    Err e;
    if (chat_read_jsonl(&d, fuzz_write("chat.jsonl", data, size), &e) == 0) chat_dataset_free(&d);
    return 0;
}
