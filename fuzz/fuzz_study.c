/* Study INI files: parsed and validated, then planned (the segment DAG,
 * prefix sharing between schedules, probe steps) and the plan printed, as
 * `plateau study plan` does. Sizes may be hostile (10^12 steps): planning
 * must refuse or answer quickly, never walk the steps. */
#include <stdio.h>

#include "fuzz.h"
#include "study/plan.h"
#include "study/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    StudySpec s;
    Err e;
    if (study_spec_load(&s, fuzz_write("study.ini", data, size), &e)) return 0;
    Plan p;
    if (plan_build(&p, &s, 0, &e)) return 0;
    static FILE *null;
    if (!null) null = fopen("/dev/null", "w");
    plan_print(&p, null);
    int64_t probe[64];
    for (int i = 0; i < p.n_segments; i++) plan_probe_steps(&p, &p.segments[i], probe, 64);
    plan_free(&p);
    return 0;
}
