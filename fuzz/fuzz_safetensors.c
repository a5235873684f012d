/* model.safetensors: the header length, the JSON header (tensor names,
 * dtypes, shapes, offsets, padding) and the data section, read against the
 * parameter table of fuzz_config(). */
#include <stdlib.h>

#include "fuzz.h"
#include "model/config.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ParamTable table;
    static float *params;
    if (!params) {
        Config c = fuzz_config();
        param_table_build(&table, &c);
        params = malloc(table.total * sizeof(float));
    }
    Err e;
    safetensors_read(fuzz_write("model.safetensors", data, size), &table, params, &e);
    return 0;
}
