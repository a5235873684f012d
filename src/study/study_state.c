#include "study/study_state.h"

#include <stdarg.h>
#include <stdio.h>

void study_say(const StudyState *S, const char *fmt, ...)
{
    if (S->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}
