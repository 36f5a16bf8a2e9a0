#include "blas.h"

#include <cblas.h>
#include <errno.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Not in Debian 12's cblas.h of every flavour; exported by every OpenBLAS build. */
char *openblas_get_corename(void);

const char *blas_best_core(void) {
#if !defined(__x86_64__)
    return NULL;  /* the fallback this works around is x86's */
#else
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
#endif
}

const char *blas_core(void) {
    const char *c = openblas_get_corename();
    return c ? c : "?";
}

void blas_pick_kernels(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return;  /* the user's choice, or we already re-executed */
    const char *best = blas_best_core();
    if (!best || strcasecmp(blas_core(), "Prescott") != 0) return;
    if (setenv("OPENBLAS_CORETYPE", best, 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* Still the Prescott kernels: correct, only slower. Say so once and go on. */
    fprintf(stderr, "warning: could not re-execute with OPENBLAS_CORETYPE=%s (%s); running "
                    "OpenBLAS's generic Prescott kernels\n", best, strerror(errno));
    unsetenv("OPENBLAS_CORETYPE");
}
