/* Evaluation task JSONL: multiple-choice items (context, choices, answer)
 * or generation items (messages, answer), one per line. */
#include "eval/task.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Task t;
    Err e;
    if (task_load(&t, fuzz_write("task.jsonl", data, size), &e) == 0) task_free(&t);
    return 0;
}
