/* OpenBLAS's kernels for this CPU (see blascore.h). */
#define _GNU_SOURCE
#include "core/blascore.h"

#include <cblas.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

const char *blascore_name(void)
{
    const char *c = openblas_get_corename();
    return c ? c : "?";
}

void blascore_pin(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE")) return; /* the user's, or ours after the exec */
    if (strcasecmp(blascore_name(), "Prescott")) return; /* the library knows this CPU */
    const char *want = NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", argv); /* returns only on failure: go on with Prescott */
}
