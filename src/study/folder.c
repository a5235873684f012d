#include "study/folder.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/file.h"
#include "study/prepare.h"

/* The holder's "pid command" line, as it wrote it after taking the lock
 * ("" when it has not yet). */
static void read_holder(int fd, char *holder, size_t size)
{
    char buf[128];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    long pid;
    int used = 0;
    holder[0] = 0;
    if (sscanf(buf, "%ld %n", &pid, &used) == 1 && used > 0) {
        buf[strcspn(buf, "\n")] = 0;
        snprintf(holder, size, "plateau %s (pid %ld)", buf + used, pid);
    }
}

int folder_lock(FolderLock *l, const char *dir, const char *command, Err *e)
{
    char path[4096];
    l->fd = -1;
    if (make_dirs(dir, e)) return -1;
    path_join(path, sizeof path, dir, FOLDER_LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return err_set(e, "%s: cannot open the folder's lock file: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        char holder[200];
        if (busy) read_holder(fd, holder, sizeof holder);
        else snprintf(holder, sizeof holder, "%s", strerror(errno));
        close(fd);
        if (!busy) return err_set(e, "%s: cannot lock: %s", path, holder);
        return err_set(e, "%s: in use by another %s; wait for it or stop it", dir,
                       holder[0] ? holder : "plateau study run or calibrate");
    }
    char line[128];
    int n = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), command);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n) {
        int err = errno;
        close(fd);
        return err_set(e, "%s: cannot write the lock holder: %s", path, strerror(err));
    }
    l->fd = fd;
    return 0;
}

void folder_unlock(FolderLock *l)
{
    if (l->fd >= 0) close(l->fd);   /* closing the only descriptor releases the flock */
    l->fd = -1;
}

/* What differs between two data texts (study/prepare.h: space-separated
 * words, key=value after the world and its version): "key a -> b" per
 * changed key, or the whole texts when their shapes differ. */
static void describe_change(const char *was, const char *now, char *out, size_t size)
{
    char a[STUDY_DATA_TEXT_MAX], b[STUDY_DATA_TEXT_MAX];
    snprintf(a, sizeof a, "%s", was);
    snprintf(b, sizeof b, "%s", now);
    char *sa, *sb, *wa = strtok_r(a, " ", &sa), *wb = strtok_r(b, " ", &sb);
    size_t used = 0;
    out[0] = 0;
    for (; wa && wb; wa = strtok_r(NULL, " ", &sa), wb = strtok_r(NULL, " ", &sb)) {
        if (strcmp(wa, wb) == 0) continue;
        const char *ea = strchr(wa, '='), *eb = strchr(wb, '=');
        if (!ea || !eb || ea - wa != eb - wb || strncmp(wa, wb, (size_t)(ea - wa)) != 0) break;
        used += (size_t)snprintf(out + used, used < size ? size - used : 0, "%s%.*s %s -> %s", used ? ", " : "",
                                 (int)(ea - wa), wa, ea + 1, eb + 1);
    }
    if (wa || wb || !out[0]) snprintf(out, size, "%s -> %s", was, now);
}

int folder_check_data(const StudySpec *s, const char *dir, int rebuild, char *notice, size_t notice_size, Err *e)
{
    char built[STUDY_DATA_TEXT_MAX], wanted[STUDY_DATA_TEXT_MAX], change[2 * STUDY_DATA_TEXT_MAX + 8];
    notice[0] = 0;
    if (study_data_text(s, wanted, sizeof wanted, e)) return -1;
    if (!study_data_built(dir, built, sizeof built) || strcmp(built, wanted) == 0) return 0;
    describe_change(built, wanted, change, sizeof change);
    if (!rebuild)
        return err_set(e, "%s/data was built for other settings than study %s's (%s): using this folder would rebuild "
                          "%s/world and %s/data (and a study run would run every segment again); use a new --out "
                          "folder, or pass "
                          "--rebuild-data to rebuild them here (the old segments stay in the store, unreported)",
                       dir, s->name, change, dir, dir);
    snprintf(notice, notice_size, "--rebuild-data: %s/data was built for other settings (%s): the world and data are "
                                  "rebuilt; segments of the old data stay in the store but are not reported\n",
             dir, change);
    return 0;
}

/* ---- an edited study file ------------------------------------------------- */

typedef struct {
    char section[STUDY_NAME_MAX + 8], key[64], value[256];
} Setting;

typedef struct {
    Setting *v;
    int      n, cap;
} Settings;

static int collect_setting(void *user, const char *section, const char *name, const char *value)
{
    Settings *s = user;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 32;
        s->v = xrealloc(s->v, (size_t)s->cap * sizeof *s->v);
    }
    Setting *t = &s->v[s->n++];
    snprintf(t->section, sizeof t->section, "%s", section);
    snprintf(t->key, sizeof t->key, "%s", name);
    snprintf(t->value, sizeof t->value, "%s", value);
    return 1;
}

/* s's setting of section and key; NULL when s has none. With key NULL:
 * the first setting of the section. */
static const Setting *find_setting(const Settings *s, const char *section, const char *key)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i].section, section) == 0 && (!key || strcmp(s->v[i].key, key) == 0)) return &s->v[i];
    return NULL;
}

static void append(char *out, size_t size, size_t *used, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void append(char *out, size_t size, size_t *used, const char *fmt, ...)
{
    if (*used >= size) return;
    if (*used) *used += (size_t)snprintf(out + *used, size - *used, "; ");
    if (*used >= size) return;
    va_list ap;
    va_start(ap, fmt);
    *used += (size_t)vsnprintf(out + *used, size - *used, fmt, ap);
    va_end(ap);
}

/* [section] before a key outside [study] */
static const char *where(const char *section, char *buf, size_t size)
{
    if (strcmp(section, "study") == 0) return "";
    snprintf(buf, size, "[%s] ", section);
    return buf;
}

/* Every section or key of one that `other` lacks, as "`what`" (added or removed). */
static void list_missing(const Settings *one, const Settings *other, const char *what, char *out, size_t size,
                         size_t *used)
{
    char buf[STUDY_NAME_MAX + 16];
    for (int i = 0; i < one->n; i++) {
        const Setting *t = &one->v[i];
        if (!find_setting(other, t->section, NULL)) {
            if (find_setting(one, t->section, NULL) == t) append(out, size, used, "[%s] %s", t->section, what);
        } else if (!find_setting(other, t->section, t->key)) {
            append(out, size, used, "%s%s %s", where(t->section, buf, sizeof buf), t->key, what);
        }
    }
}

void folder_describe_spec_change(const char *was, const char *now, char *out, size_t size)
{
    Settings a = {0}, b = {0};
    size_t used = 0;
    char buf[STUDY_NAME_MAX + 16];
    out[0] = 0;
    if (ini_parse_string(was, collect_setting, &a) != 0 || ini_parse_string(now, collect_setting, &b) != 0) {
        snprintf(out, size, "the old or the new file is not an INI file");
    } else {
        for (int i = 0; i < b.n; i++) {
            const Setting *t = &b.v[i], *old = find_setting(&a, t->section, t->key);
            if (old && strcmp(old->value, t->value) != 0)
                append(out, size, &used, "%s%s %s -> %s", where(t->section, buf, sizeof buf), t->key, old->value,
                       t->value);
        }
        list_missing(&b, &a, "added", out, size, &used);
        list_missing(&a, &b, "removed", out, size, &used);
        if (!used) snprintf(out, size, "comments and layout only");
    }
    free(a.v);
    free(b.v);
}
