/* Errors as values. A function that can fail returns 0 on success or -1 on
 * failure and fills an Err with one sentence for a person: which file, line
 * or field, and what was expected. The CLI decides whether to exit. */
#ifndef PLATEAU_ERROR_H
#define PLATEAU_ERROR_H

typedef struct {
    char msg[1024];
} Err;

/* Formats the message into e (if non-NULL) and returns -1, so callers can
 * write `return err_set(e, "...", ...);`. */
int err_set(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to an existing message (for adding context on the way
 * up, e.g. the checkpoint directory around a tensor-level message). Returns -1. */
int err_wrap(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Replaces every occurrence of `from` in e's message by `to`: an error
 * raised while writing a temporary (DIR.tmp.PID/...) names the user's
 * path (DIR/...) instead. Truncates to the message's size. */
void err_replace(Err *e, const char *from, const char *to);

/* Prints "plateau: <msg>" to stderr and exits with status 1. CLI only. */
void die(const Err *e) __attribute__((noreturn));

/* Allocation that cannot fail: running out of memory is not the user's
 * fault and nothing sensible can continue, so these print "plateau: out of
 * memory ..." to stderr and exit(1). The only allocation wrappers in plateau. */
void *xmalloc(unsigned long bytes);
void *xcalloc(unsigned long count, unsigned long size);
void *xrealloc(void *p, unsigned long bytes);
char *xstrdup(const char *s);

#endif
