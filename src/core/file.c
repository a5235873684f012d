#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int afile_open(AtomicFile *af, const char *path, Err *e)
{
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->path) return err_set(e, "%s: path too long", path);
    snprintf(af->path, sizeof af->path, "%s", path);
    snprintf(af->tmp_path, sizeof af->tmp_path, "%s.tmp.%d", path, (int)getpid());
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) return err_set(e, "%s: cannot create: %s", path, strerror(errno));   /* the user's name, not the temporary's */
    return 0;
}

int afile_write(AtomicFile *af, const void *data, size_t bytes, Err *e)
{
    if (bytes && fwrite(data, 1, bytes, af->fp) != bytes) {
        int saved = errno;
        afile_abort(af);
        return err_set(e, "%s: write failed: %s", af->path, strerror(saved));
    }
    return 0;
}

int afile_printf(AtomicFile *af, Err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(af->fp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        afile_abort(af);
        return err_set(e, "%s: write failed", af->path);
    }
    return 0;
}

static void fsync_dir_of(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int afile_commit(AtomicFile *af, Err *e)
{
    if (!af->fp) return err_set(e, "%s: file already closed", af->path);
    if (fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0) {
        int saved = errno;
        afile_abort(af);
        return err_set(e, "%s: flush failed: %s", af->path, strerror(saved));
    }
    if (fclose(af->fp) != 0) {
        af->fp = NULL;
        unlink(af->tmp_path);
        return err_set(e, "%s: close failed: %s", af->path, strerror(errno));
    }
    af->fp = NULL;
    if (rename(af->tmp_path, af->path) != 0) {
        int saved = errno;
        unlink(af->tmp_path);
        return err_set(e, "%s: rename failed: %s", af->path, strerror(saved));
    }
    fsync_dir_of(af->path);
    return 0;
}

void afile_abort(AtomicFile *af)
{
    if (af->fp) {
        fclose(af->fp);
        af->fp = NULL;
        unlink(af->tmp_path);
    }
}

int write_file_atomic(const char *path, const void *data, size_t bytes, Err *e)
{
    AtomicFile af;
    if (afile_open(&af, path, e)) return -1;
    if (afile_write(&af, data, bytes, e)) return -1;
    return afile_commit(&af, e);
}

static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

FILE *file_open_read(const char *path, Err *e)
{
    /* O_NONBLOCK so that opening a FIFO with no writer does not hang before
     * fstat can refuse it; regular files ignore the flag. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        err_set(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err_set(e, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(e, "%s: is %s, expected a regular file", path, file_kind(st.st_mode));
        close(fd);
        return NULL;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        err_set(e, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
    }
    return fp;
}

int read_file(const char *path, char **data, size_t *bytes, Err *e)
{
    FILE *fp = file_open_read(path, e);
    if (!fp) return -1;
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        fclose(fp);
        return err_set(e, "%s: cannot stat: %s", path, strerror(errno));
    }
    size_t n = (size_t)st.st_size;
    char *buf = xmalloc(n + 1);
    if (fread(buf, 1, n, fp) != n) {
        fclose(fp);
        free(buf);
        return err_set(e, "%s: short read", path);
    }
    fclose(fp);
    buf[n] = 0;
    *data = buf;
    if (bytes) *bytes = n;
    return 0;
}

int make_dirs(const char *path, Err *e)
{
    char buf[4096];
    if (strlen(path) >= sizeof buf) return err_set(e, "%s: path too long", path);
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return err_set(e, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return err_set(e, "%s: cannot create directory: %s", buf, strerror(errno));
    return 0;
}

int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

void path_join(char *out, size_t out_size, const char *dir, const char *name)
{
    size_t n = strlen(dir);
    if (n && dir[n - 1] == '/') snprintf(out, out_size, "%s%s", dir, name);
    else snprintf(out, out_size, "%s/%s", dir, name);
}

int write_file_or_stdout(const char *path, const void *data, size_t bytes, Err *e)
{
    if (strcmp(path, "-") != 0) return write_file_atomic(path, data, bytes, e);
    if (fwrite(data, 1, bytes, stdout) != bytes || fflush(stdout) != 0)
        return err_set(e, "writing to stdout: %s", strerror(errno));
    return 0;
}

void path_dirname(char *out, size_t out_size, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(out, out_size, ".");
    else snprintf(out, out_size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
}
