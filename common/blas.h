/* Which OpenBLAS kernels a process runs.
 *
 * Debian 12's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels once, when the library is
 * loaded, from the CPU's family and model. It does not know recent Intel Xeons (Sapphire and
 * Emerald Rapids report family 6, models 143 and 207) and falls back to its Prescott (SSE3)
 * kernels: 3-5x slower on the learner's products than the AVX-512 kernels the CPU can run.
 * The choice can only be changed before the library loads, through OPENBLAS_CORETYPE, so
 * blas_pick_kernels re-executes the program once with it set from the CPU's own feature flags.
 * A user's OPENBLAS_CORETYPE is always respected. */
#ifndef METASAC_BLAS_H
#define METASAC_BLAS_H

/* The kernel set this CPU's features support that OpenBLAS 0.3.21 has ("SkylakeX" for
 * AVX-512 F/BW/DQ/VL, "Haswell" for AVX2 + FMA), or NULL. */
const char *blas_best_core(void);

/* The name of the kernels OpenBLAS runs ("Prescott", "SkylakeX", "Zen", ...). */
const char *blas_core(void);

/* First thing in main: when OpenBLAS fell back to its generic Prescott kernels on a CPU that
 * can run better ones and OPENBLAS_CORETYPE is unset, sets it and re-executes the program with
 * the same arguments (does not return). Otherwise returns, changing nothing. */
void blas_pick_kernels(char **argv);

#endif
