/* Chat JSONL (SFT data and generation prompts): one conversation per line,
 * each a {"messages": [{"role", "content"}, ...]} object, read plain or
 * through the gzip and zstd decoders (data/zfile.h). An input whose first
 * byte is 1 or 2 (mod 4) is the rest of it as a .jsonl.gz or .jsonl.zst
 * file; any other input (a JSON line starts with '{', 3 mod 4) is the plain
 * file, whole. */
#include "data/chat.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int kind = size ? data[0] % 4 : 0;
    const char *path = kind == 1   ? fuzz_write("chat.jsonl.gz", data + 1, size - 1)
                       : kind == 2 ? fuzz_write("chat.jsonl.zst", data + 1, size - 1)
                                   : fuzz_write("chat.jsonl", data, size);
    ChatDataset d;
    Err e;
    if (chat_read_jsonl(&d, path, &e) == 0) chat_dataset_free(&d);
    return 0;
}
