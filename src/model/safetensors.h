/* Model weights in the safetensors format, so that Hugging Face tools read
 * plateau's checkpoints unchanged: an 8-byte little-endian header length N,
 * N bytes of JSON (padded with spaces to a multiple of 8) mapping each tensor
 * name to {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}
 * (byte offsets into the data section), a "__metadata__" object
 * {"format": "pt"}, then the raw little-endian data.
 *
 * Tensors are named and shaped by a ParamTable (Hugging Face Llama names),
 * stored in table order, contiguous. Reading validates the file against the
 * table the caller expects and refuses any difference with one message that
 * names the file and the tensor. */
#ifndef PLATEAU_SAFETENSORS_H
#define PLATEAU_SAFETENSORS_H

#include "core/error.h"
#include "model/config.h"

/* Writes params (t->total floats, laid out as the table says) atomically. */
int safetensors_write(const char *path, const ParamTable *t, const float *params, Err *e);

/* The same with every tensor stored as dt: F32 as is, or BF16 (rounded to
 * nearest even, core/half.h) for release files half the size. Only F32
 * files load back (checkpoints are F32). */
typedef enum { SAFETENSORS_F32, SAFETENSORS_BF16 } SafetensorsDtype;
int safetensors_write_as(const char *path, const ParamTable *t, const float *params, SafetensorsDtype dt, Err *e);

/* Reads a file written for table t into params (t->total floats). Refuses:
 * a file too short for its header or its data (truncated), a header that is
 * not one JSON object starting at its first byte, a header with anything but
 * spaces (0x20) after that object (the message gives the byte and its file
 * offset), a header whose entries are malformed, a dtype other than F32, a tensor
 * the table does not have, a tensor the table has but the file lacks, a shape
 * other than the table's, and data offsets that overlap, leave holes or run
 * past the end. params is unspecified on failure. */
int safetensors_read(const char *path, const ParamTable *t, float *params, Err *e);

#endif
