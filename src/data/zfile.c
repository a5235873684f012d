#include "data/zfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "core/file.h"

struct ZFile {
    ZFileKind kind;
    char      path[4096];
    FILE     *fp;          /* plain and zstd */
    gzFile    gz;
    uint64_t  disk_size;
    /* zstd: compressed input buffered from fp */
    ZSTD_DStream *zs;
    void     *in;
    size_t    in_cap;
    ZSTD_inBuffer zin;
    size_t    frame_left;  /* last ZSTD_decompressStream result: 0 between frames */
    int       in_eof;
};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

ZFileKind zfile_kind(const char *path)
{
    return ends_with(path, ".gz") ? ZFILE_GZIP : ends_with(path, ".zst") ? ZFILE_ZSTD : ZFILE_PLAIN;
}

int zfile_open(ZFile **out, const char *path, Err *e)
{
    ZFile *f = xcalloc(1, sizeof *f);
    f->kind = zfile_kind(path);
    snprintf(f->path, sizeof f->path, "%s", path);
    /* Regular files only (file_open_read names anything else); gzip reads
     * through a duplicate of the checked descriptor. */
    FILE *fp = file_open_read(path, e);
    struct stat st;
    if (!fp || fstat(fileno(fp), &st) != 0) {
        if (fp) fclose(fp);
        free(f);
        return fp ? err_set(e, "%s: cannot stat: %s", path, strerror(errno)) : -1;
    }
    f->disk_size = (uint64_t)st.st_size;
    /* zlib would read a file without a gzip header as plain text: a .gz that
     * is not gzip is refused instead (RFC 1952: ID1 0x1f, ID2 0x8b). */
    unsigned char magic[2] = {0, 0};
    if (f->kind == ZFILE_GZIP &&
        (fread(magic, 1, 2, fp) != 2 || magic[0] != 0x1f || magic[1] != 0x8b || fseek(fp, 0, SEEK_SET) != 0)) {
        fclose(fp);
        free(f);
        return err_set(e, "%s: not gzip data (it does not start with the gzip signature 1f 8b), though its name ends "
                          "in .gz", path);
    }
    if (f->kind == ZFILE_GZIP) {
        int fd = dup(fileno(fp));
        fclose(fp);
        f->gz = fd >= 0 ? gzdopen(fd, "rb") : NULL;
        if (f->gz) gzbuffer(f->gz, 1 << 17);
        else if (fd >= 0) close(fd);
    } else {
        f->fp = fp;
    }
    if (!f->gz && !f->fp) {
        free(f);
        return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    }
    if (f->kind == ZFILE_ZSTD) {
        f->zs = ZSTD_createDStream();
        f->in_cap = ZSTD_DStreamInSize();
        f->in = xmalloc(f->in_cap);
        f->zin = (ZSTD_inBuffer){f->in, 0, 0};
        ZSTD_initDStream(f->zs);
    }
    *out = f;
    return 0;
}

static long read_zstd(ZFile *f, void *buf, size_t cap, Err *e)
{
    ZSTD_outBuffer out = {buf, cap, 0};
    while (out.pos == 0) {
        if (f->zin.pos == f->zin.size) {
            if (f->in_eof) break;
            size_t n = fread(f->in, 1, f->in_cap, f->fp);
            if (n == 0) {
                if (ferror(f->fp)) return err_set(e, "%s: read error: %s", f->path, strerror(errno));
                f->in_eof = 1;
                break;
            }
            f->zin = (ZSTD_inBuffer){f->in, n, 0};
        }
        size_t r = ZSTD_decompressStream(f->zs, &out, &f->zin);
        if (ZSTD_isError(r))
            return err_set(e, "%s: corrupt Zstandard data near byte %llu: %s", f->path,
                           (unsigned long long)zfile_disk_offset(f), ZSTD_getErrorName(r));
        f->frame_left = r;
    }
    if (out.pos == 0 && f->frame_left != 0)
        return err_set(e, "%s: truncated Zstandard data (the last frame is incomplete)", f->path);
    return (long)out.pos;
}

long zfile_read(ZFile *f, void *buf, size_t cap, Err *e)
{
    if (cap > (1u << 30)) cap = 1u << 30;
    if (f->kind == ZFILE_ZSTD) return read_zstd(f, buf, cap, e);
    if (f->kind == ZFILE_GZIP) {
        int n = gzread(f->gz, buf, (unsigned)cap);
        int code;
        const char *msg = gzerror(f->gz, &code);
        if (n < 0 || (code != Z_OK && code != Z_STREAM_END))
            return err_set(e, "%s: corrupt or truncated gzip data: %s", f->path, msg);
        return n;
    }
    size_t n = fread(buf, 1, cap, f->fp);
    if (n == 0 && ferror(f->fp)) return err_set(e, "%s: read error: %s", f->path, strerror(errno));
    return (long)n;
}

uint64_t zfile_disk_offset(const ZFile *f)
{
    if (f->kind == ZFILE_GZIP) return (uint64_t)gzoffset(f->gz);
    long pos = ftell(f->fp);
    uint64_t off = pos < 0 ? 0 : (uint64_t)pos;
    if (f->kind == ZFILE_ZSTD) off -= (uint64_t)(f->zin.size - f->zin.pos);
    return off;
}

uint64_t zfile_disk_size(const ZFile *f) { return f->disk_size; }

void zfile_close(ZFile *f)
{
    if (!f) return;
    if (f->gz) gzclose(f->gz);
    if (f->fp) fclose(f->fp);
    if (f->zs) ZSTD_freeDStream(f->zs);
    free(f->in);
    free(f);
}

/* ---- lines --------------------------------------------------------------- */

#define CHUNK_BYTES (1u << 17)

struct LineReader {
    ZFile *f;
    char  *buf;          /* buf[start, end) holds read, unreturned bytes */
    size_t start, end, cap;
    int    eof;
    long   line;
};

int linereader_open(LineReader **out, const char *path, Err *e)
{
    ZFile *f;
    if (zfile_open(&f, path, e)) return -1;
    LineReader *r = xcalloc(1, sizeof *r);
    r->f = f;
    r->cap = 2 * CHUNK_BYTES;
    r->buf = xmalloc(r->cap);
    *out = r;
    return 0;
}

int linereader_next(LineReader *r, const char **line, size_t *bytes, Err *e)
{
    size_t scanned = r->start;
    for (;;) {
        char *nl = memchr(r->buf + scanned, '\n', r->end - scanned);
        if (nl || (r->eof && r->end > r->start)) {
            size_t len = nl ? (size_t)(nl - (r->buf + r->start)) : r->end - r->start;
            *line = r->buf + r->start;
            r->start += len + (nl ? 1 : 0);
            if (len && (*line)[len - 1] == '\r') len--;
            *bytes = len;
            r->line++;
            return 1;
        }
        if (r->eof) return 0;
        /* Move what is left to the front, grow if a line outgrows the buffer, read more. */
        scanned = r->end - r->start;
        memmove(r->buf, r->buf + r->start, scanned);
        r->end = scanned;
        r->start = 0;
        if (r->cap - r->end < CHUNK_BYTES) {
            r->cap = 2 * r->cap;
            char *nb = realloc(r->buf, r->cap);
            if (!nb) return err_set(e, "%s:%ld: out of memory for a line of %zu bytes", r->f->path, r->line + 1, r->end);
            r->buf = nb;
        }
        long n = zfile_read(r->f, r->buf + r->end, r->cap - r->end, e);
        if (n < 0) return -1;
        if (n == 0) r->eof = 1;
        r->end += (size_t)n;
    }
}

long linereader_line(const LineReader *r) { return r->line; }
const ZFile *linereader_file(const LineReader *r) { return r->f; }

void linereader_close(LineReader *r)
{
    if (!r) return;
    zfile_close(r->f);
    free(r->buf);
    free(r);
}

/* ---- writing ------------------------------------------------------------- */

struct ZWriter {
    ZFileKind  kind;
    AtomicFile af;
    z_stream   gz;
    ZSTD_CStream *zs;
    unsigned char *out;
    size_t     out_cap;
    uint64_t   disk;
};

int zwriter_open(ZWriter **out, const char *path, Err *e)
{
    ZWriter *w = xcalloc(1, sizeof *w);
    w->kind = zfile_kind(path);
    if (afile_open(&w->af, path, e)) {
        free(w);
        return -1;
    }
    w->out_cap = 1 << 17;
    w->out = xmalloc(w->out_cap);
    if (w->kind == ZFILE_GZIP && deflateInit2(&w->gz, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        zwriter_abort(w);
        return err_set(e, "%s: cannot start gzip compression", path);
    }
    if (w->kind == ZFILE_ZSTD) {
        w->zs = ZSTD_createCStream();
        ZSTD_initCStream(w->zs, 3);
    }
    *out = w;
    return 0;
}

static int put_disk(ZWriter *w, size_t n, Err *e)
{
    w->disk += n;
    return n ? afile_write(&w->af, w->out, n, e) : 0;
}

/* Compresses data (finishing the stream when finish) into the file. */
static int compress_into(ZWriter *w, const void *data, size_t bytes, int finish, Err *e)
{
    if (w->kind == ZFILE_GZIP) {
        w->gz.next_in = (unsigned char *)data;
        w->gz.avail_in = (unsigned)bytes;
        int r;
        do {
            w->gz.next_out = w->out;
            w->gz.avail_out = (unsigned)w->out_cap;
            r = deflate(&w->gz, finish ? Z_FINISH : Z_NO_FLUSH);
            if (r == Z_STREAM_ERROR) return err_set(e, "%s: gzip compression failed", w->af.path);
            if (put_disk(w, w->out_cap - w->gz.avail_out, e)) return -1;
        } while (w->gz.avail_out == 0 || (finish && r != Z_STREAM_END));
        return 0;
    }
    ZSTD_inBuffer in = {data, bytes, 0};
    for (;;) {
        ZSTD_outBuffer o = {w->out, w->out_cap, 0};
        size_t r = ZSTD_compressStream2(w->zs, &o, &in, finish ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(r)) return err_set(e, "%s: Zstandard compression failed: %s", w->af.path, ZSTD_getErrorName(r));
        if (put_disk(w, o.pos, e)) return -1;
        if (finish ? r == 0 : in.pos == in.size) return 0;
    }
}

int zwriter_write(ZWriter *w, const void *data, size_t bytes, Err *e)
{
    if (w->kind == ZFILE_PLAIN) {
        w->disk += bytes;
        return afile_write(&w->af, data, bytes, e);
    }
    while (bytes > 0) {   /* zlib counts in unsigned int */
        size_t k = bytes < (1u << 30) ? bytes : (1u << 30);
        if (compress_into(w, data, k, 0, e)) return -1;
        data = (const char *)data + k;
        bytes -= k;
    }
    return 0;
}

static void zwriter_free(ZWriter *w)
{
    if (w->kind == ZFILE_GZIP) deflateEnd(&w->gz);
    if (w->zs) ZSTD_freeCStream(w->zs);
    free(w->out);
    free(w);
}

int zwriter_commit(ZWriter *w, Err *e)
{
    int rc = (w->kind != ZFILE_PLAIN && compress_into(w, "", 0, 1, e)) ? -1 : afile_commit(&w->af, e);
    zwriter_free(w);
    return rc;
}

void zwriter_abort(ZWriter *w)
{
    afile_abort(&w->af);
    zwriter_free(w);
}

uint64_t zwriter_disk_bytes(const ZWriter *w) { return w->disk; }
