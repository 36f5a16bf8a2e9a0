/* The programs run the best OpenBLAS kernels this CPU supports even where the library's own
 * detection falls back to its generic Prescott kernels (common/blas.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blas.h"

/* The kernel name metasac-learner --help reports, run with OPENBLAS_CORETYPE as given (NULL:
 * unset). */
static void s_learner_core(const char *coretype, char *out, size_t cap) {
    const char *bin = getenv("METASAC_BIN_DIR");
    cr_assert(bin, "METASAC_BIN_DIR names build/bin (make test sets it)");
    char cmd[1024];
    if (coretype)
        snprintf(cmd, sizeof cmd, "env OPENBLAS_CORETYPE=%s %s/metasac-learner --help", coretype,
                 bin);
    else
        snprintf(cmd, sizeof cmd, "env -u OPENBLAS_CORETYPE %s/metasac-learner --help", bin);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    char line[256], fmt[32];
    snprintf(fmt, sizeof fmt, "(OpenBLAS %%%zus kernels)", cap - 1);
    out[0] = 0;
    while (fgets(line, sizeof line, p))
        if (!out[0]) sscanf(line, fmt, out);
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
    cr_assert(out[0], "no kernel line in %s's output", cmd);
}

Test(blas, programs_escape_the_generic_fallback) {
    char got[64];
    s_learner_core(NULL, got, sizeof got);
    /* This test binary does not re-execute: blas_core() is the library's own choice. */
    const char *own = blas_core(), *best = blas_best_core();
    const char *want = strcasecmp(own, "Prescott") == 0 && best ? best : own;
    cr_expect_str_eq(got, want, "library chose %s, CPU supports %s", own, best ? best : "-");
}

Test(blas, a_users_coretype_is_respected) {
    char got[64];
    s_learner_core("Prescott", got, sizeof got);
    cr_expect_str_eq(got, "Prescott");
}
