#include "study/study_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void study_say(const StudyState *S, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (S->transcript) {
        size_t used = strlen(S->transcript);
        if (used < S->transcript_size) vsnprintf(S->transcript + used, S->transcript_size - used, fmt, ap);
    } else if (!S->quiet) {
        vprintf(fmt, ap);
        fflush(stdout);
    }
    va_end(ap);
}
