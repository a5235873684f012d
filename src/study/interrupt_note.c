#include "study/interrupt_note.h"

#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NOTE_BYTES 400

static const int NOTED[3] = {SIGINT, SIGTERM, SIGHUP};
static struct sigaction g_old[3];
static int g_installed;
static int g_tty;   /* stderr is a terminal: start on a fresh line, past a progress bar */

/* Two buffers: interrupt_note_set fills the one the handler is not reading,
 * then switches g_current, so the handler never sees half a note. */
static char g_note[2][NOTE_BYTES];
static volatile sig_atomic_t g_current;

/* write(2) only: the handler may run in any thread at any moment. */
static void put(const char *s)
{
    ssize_t ignored = write(STDERR_FILENO, s, strlen(s));
    (void)ignored;
}

const char *interrupt_signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT (Ctrl-C)" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

static void on_signal(int sig)
{
    put(g_tty ? "\nplateau: interrupted by " : "plateau: interrupted by ");
    put(interrupt_signal_name(sig));
    put(" while ");
    put(g_note[g_current]);
    put("; run the same command again to resume\n");
    raise(sig);   /* SA_RESETHAND restored the default action, SA_NODEFER lets it act now */
}

void interrupt_note_install(void)
{
    if (g_installed) return;
    g_tty = isatty(STDERR_FILENO);
    snprintf(g_note[0], sizeof g_note[0], "working");
    g_current = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (int k = 0; k < 3; k++) {
        sigaction(NOTED[k], NULL, &g_old[k]);
        if (g_old[k].sa_handler != SIG_IGN) sigaction(NOTED[k], &sa, NULL);
    }
    g_installed = 1;
}

void interrupt_note_set(const char *fmt, ...)
{
    int next = !g_current;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_note[next], sizeof g_note[next], fmt, ap);
    va_end(ap);
    atomic_signal_fence(memory_order_seq_cst);   /* the text is in place before the switch */
    g_current = next;
}

void interrupt_note_remove(void)
{
    if (!g_installed) return;
    for (int k = 0; k < 3; k++)
        if (g_old[k].sa_handler != SIG_IGN) sigaction(NOTED[k], &g_old[k], NULL);
    g_installed = 0;
}
