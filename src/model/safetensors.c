#include "model/safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/half.h"
#include "core/json_number.h"

/* Largest header we accept: far above any real model's (a few hundred
 * tensors, ~100 bytes each), small enough that a garbage length is caught. */
#define MAX_HEADER_BYTES (64u << 20)

static void put_u64_le(unsigned char *b, uint64_t x)
{
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(x >> (8 * i));
}

static uint64_t get_u64_le(const unsigned char *b)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x |= (uint64_t)b[i] << (8 * i);
    return x;
}

/* The JSON header for table t, padded with spaces to a multiple of 8 bytes.
 * Caller frees. */
static char *build_header(const ParamTable *t, SafetensorsDtype dt, size_t *len)
{
    const char *dtype = dt == SAFETENSORS_BF16 ? "BF16" : "F32";
    const size_t elem = dt == SAFETENSORS_BF16 ? 2 : 4;
    size_t cap = 256 + (size_t)t->count * 256, n = 0;
    char *h = xmalloc(cap);
    n += (size_t)snprintf(h + n, cap - n, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t begin = 0;
    for (int i = 0; i < t->count; i++) {
        const ParamEntry *p = &t->entries[i];
        uint64_t end = begin + (uint64_t)p->numel * elem;
        if (p->ndim == 1)
            n += (size_t)snprintf(h + n, cap - n,
                                  ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%" PRId64 "],"
                                  "\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
                                  p->name, dtype, p->shape[0], begin, end);
        else
            n += (size_t)snprintf(h + n, cap - n,
                                  ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%" PRId64 ",%" PRId64 "],"
                                  "\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
                                  p->name, dtype, p->shape[0], p->shape[1], begin, end);
        begin = end;
    }
    n += (size_t)snprintf(h + n, cap - n, "}");
    while (n % 8) h[n++] = ' ';
    h[n] = 0;
    *len = n;
    return h;
}

/* Writes n floats of x as bfloat16, a block at a time. */
static int write_bf16(AtomicFile *af, const float *x, size_t n, Err *e)
{
    uint16_t buf[4096];
    for (size_t i = 0; i < n;) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++) buf[j] = f32_to_bf16(x[i + j]);   /* little-endian host */
        if (afile_write(af, buf, k * sizeof *buf, e)) return -1;
        i += k;
    }
    return 0;
}

int safetensors_write_as(const char *path, const ParamTable *t, const float *params, SafetensorsDtype dt, Err *e)
{
    size_t hlen;
    char *header = build_header(t, dt, &hlen);
    unsigned char lenbuf[8];
    put_u64_le(lenbuf, hlen);
    AtomicFile af;
    int rc = -1;
    if (afile_open(&af, path, e)) goto out;
    if (afile_write(&af, lenbuf, 8, e) || afile_write(&af, header, hlen, e)) goto out;
    for (int i = 0; i < t->count; i++) {
        const ParamEntry *p = &t->entries[i];
        if (dt == SAFETENSORS_BF16 ? write_bf16(&af, params + p->offset, p->numel, e)
                                   : afile_write(&af, params + p->offset, p->numel * sizeof(float), e))
            goto out;
    }
    rc = afile_commit(&af, e);
out:
    free(header);
    return rc;
}

int safetensors_write(const char *path, const ParamTable *t, const float *params, Err *e)
{
    return safetensors_write_as(path, t, params, SAFETENSORS_F32, e);
}

static void format_shape(char *out, size_t n, const int64_t *shape, int ndim)
{
    size_t k = (size_t)snprintf(out, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(out + k, n - k, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (k < n) snprintf(out + k, n - k, "]");
}

/* A JSON number that must be a non-negative integer (safetensors writes
 * offsets and dims as integers; a double holds them exactly up to 2^53). */
static int json_u64(const cJSON *j, uint64_t *out)
{
    Err ignored;
    int64_t v;
    if (json_integer(j, 0, JSON_INTEGER_MAX, &v, &ignored)) return -1;
    *out = (uint64_t)v;
    return 0;
}

typedef struct {
    const ParamEntry *entry;
    uint64_t begin, end;
} Located;

static int cmp_begin(const void *a, const void *b)
{
    const Located *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

int safetensors_read(const char *path, const ParamTable *t, float *params, Err *e)
{
    FILE *fp = file_open_read(path, e);
    if (!fp) return -1;
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        fclose(fp);
        return err_set(e, "%s: cannot stat: %s", path, strerror(errno));
    }
    uint64_t file_bytes = (uint64_t)st.st_size;
    char *header = NULL;
    cJSON *root = NULL;
    Located *loc = NULL;
    int rc = -1;

    unsigned char lenbuf[8];
    if (file_bytes < 8 || fread(lenbuf, 1, 8, fp) != 8) {
        err_set(e, "%s: truncated: %" PRIu64 " bytes is too short for a safetensors header", path, file_bytes);
        goto out;
    }
    uint64_t hlen = get_u64_le(lenbuf);
    if (hlen > MAX_HEADER_BYTES) {
        err_set(e, "%s: header length %" PRIu64 " is implausible (corrupted file?)", path, hlen);
        goto out;
    }
    if (8 + hlen > file_bytes) {
        err_set(e, "%s: truncated: header promises %" PRIu64 " bytes but the file has %" PRIu64 " after the length",
                path, hlen, file_bytes - 8);
        goto out;
    }
    header = xmalloc(hlen + 1);
    if (fread(header, 1, hlen, fp) != hlen) {
        err_set(e, "%s: short read in the header", path);
        goto out;
    }
    header[hlen] = 0;
    /* The format: the header starts with '{' and may be padded after its one
     * JSON object with spaces (0x20) only. */
    const char *json_end = NULL;
    root = hlen && header[0] == '{' ? cJSON_ParseWithLengthOpts(header, hlen, &json_end, 0) : NULL;
    if (!cJSON_IsObject(root)) {
        err_set(e, "%s: header is not a JSON object (corrupted file?)", path);
        goto out;
    }
    for (const char *c = json_end; c < header + hlen; c++)
        if (*c != ' ') {
            err_set(e, "%s: header byte 0x%02x at file offset %zu follows its JSON object; only spaces (0x20) may",
                    path, (unsigned char)*c, (size_t)(8 + (c - header)));
            goto out;
        }

    loc = xcalloc((size_t)t->count, sizeof *loc);
    int found = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        const char *name = item->string;
        if (strcmp(name, "__metadata__") == 0) continue;
        int k = -1;
        for (int i = 0; i < t->count; i++)
            if (strcmp(t->entries[i].name, name) == 0) { k = i; break; }
        if (k < 0) {
            err_set(e, "%s: unexpected tensor %s (a model of this config has no such tensor)", path, name);
            goto out;
        }
        const ParamEntry *p = &t->entries[k];
        if (loc[k].entry) {
            err_set(e, "%s: tensor %s appears twice", path, name);
            goto out;
        }
        const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
        if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
            cJSON_GetArraySize(offs) != 2) {
            err_set(e, "%s: tensor %s: entry needs dtype, shape and two data_offsets", path, name);
            goto out;
        }
        if (strcmp(dtype->valuestring, "F32") != 0) {
            err_set(e, "%s: tensor %s has dtype %s, expected F32", path, name, dtype->valuestring);
            goto out;
        }
        int ndim = cJSON_GetArraySize(shape);
        int64_t got[8] = {0};
        int shape_ok = ndim == p->ndim;
        for (int d = 0; d < ndim && d < 8; d++) {
            uint64_t v;
            if (json_u64(cJSON_GetArrayItem(shape, d), &v)) {
                err_set(e, "%s: tensor %s: shape holds a value that is not a size", path, name);
                goto out;
            }
            got[d] = (int64_t)v;
            if (d < p->ndim && got[d] != p->shape[d]) shape_ok = 0;
        }
        if (!shape_ok) {
            char g[128], w[128];
            format_shape(g, sizeof g, got, ndim < 8 ? ndim : 8);
            format_shape(w, sizeof w, p->shape, p->ndim);
            err_set(e, "%s: tensor %s has shape %s, expected %s", path, name, g, w);
            goto out;
        }
        uint64_t b, en;
        if (json_u64(cJSON_GetArrayItem(offs, 0), &b) || json_u64(cJSON_GetArrayItem(offs, 1), &en) ||
            en < b || en - b != (uint64_t)p->numel * sizeof(float)) {
            err_set(e, "%s: tensor %s: data_offsets do not span %zu bytes (%zu floats)", path, name,
                    p->numel * sizeof(float), p->numel);
            goto out;
        }
        loc[k] = (Located){p, b, en};
        found++;
    }
    for (int i = 0; i < t->count; i++)
        if (!loc[i].entry) {
            err_set(e, "%s: missing tensor %s", path, t->entries[i].name);
            goto out;
        }
    (void)found;

    /* The data section must be exactly the tensors, back to back. */
    Located *sorted = xmalloc((size_t)t->count * sizeof *sorted);
    memcpy(sorted, loc, (size_t)t->count * sizeof *sorted);
    qsort(sorted, (size_t)t->count, sizeof *sorted, cmp_begin);
    uint64_t expect = 0;
    for (int i = 0; i < t->count; i++) {
        if (sorted[i].begin != expect) {
            err_set(e, "%s: tensor %s: data_offsets leave a gap or overlap at byte %" PRIu64, path,
                    sorted[i].entry->name, expect);
            free(sorted);
            goto out;
        }
        expect = sorted[i].end;
    }
    free(sorted);
    uint64_t data_bytes = file_bytes - 8 - hlen;
    if (data_bytes < expect) {
        err_set(e, "%s: truncated: data section holds %" PRIu64 " bytes, the header promises %" PRIu64,
                path, data_bytes, expect);
        goto out;
    }
    if (data_bytes > expect) {
        err_set(e, "%s: %" PRIu64 " bytes of trailing data after the last tensor", path, data_bytes - expect);
        goto out;
    }

    for (int i = 0; i < t->count; i++) {
        const ParamEntry *p = loc[i].entry;
        if (fseeko(fp, (off_t)(8 + hlen + loc[i].begin), SEEK_SET) != 0 ||
            fread(params + p->offset, sizeof(float), p->numel, fp) != p->numel) {
            err_set(e, "%s: short read in tensor %s", path, p->name);
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    free(header);
    free(loc);
    fclose(fp);
    return rc;
}
