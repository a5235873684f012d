/* The line a study process leaves when Ctrl-C (or SIGTERM, SIGHUP) ends it
 * outside a --jobs wait: while preparing its data, timing the machine, or
 * running a segment in this process.
 *
 * The signal still ends the process at once, as its default action does
 * (the wait status says so; a shell reports 130 for Ctrl-C): every file a
 * study writes is written whole or not at all and a segment's rows are
 * stored when it ends, so there is nothing to clean up and the same
 * command resumes. Before that, one line goes to stderr:
 *
 *   plateau: interrupted by SIGINT (Ctrl-C) while preparing DIR/data; run the same command again to resume
 *
 * While --jobs workers run, study/jobs.c takes the signals over (its error
 * names the running segments) and gives this handler back. A signal that
 * was ignored when the note was installed stays ignored. Handlers are
 * process-wide: one note at a time. */
#ifndef PLATEAU_STUDY_INTERRUPT_NOTE_H
#define PLATEAU_STUDY_INTERRUPT_NOTE_H

/* Installs the handler for SIGINT, SIGTERM and SIGHUP with the activity
 * "working" until interrupt_note_set names one. */
void interrupt_note_install(void);
/* What the study is doing, as the words after "while " (at most 400
 * bytes kept). Not for a signal handler. */
void interrupt_note_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Gives the signals back the dispositions they had at install. */
void interrupt_note_remove(void);

/* "SIGINT (Ctrl-C)", "SIGTERM", "SIGHUP", else "a signal": static text, safe
 * in a signal handler. */
const char *interrupt_signal_name(int sig);

#endif
