/* Checked allocation. Out of memory is a bug-class failure: these abort with file:line and
 * never return NULL. Use them at start-up only; hot paths allocate nothing. */
#ifndef METASAC_ALLOC_H
#define METASAC_ALLOC_H

#include <stddef.h>

void *rl__malloc(size_t n, const char *file, int line);
void *rl__calloc(size_t count, size_t size, const char *file, int line);
void *rl__realloc(void *p, size_t n, const char *file, int line);
/* 64-byte aligned, zeroed; release with free(). */
void *rl__aligned(size_t n, const char *file, int line);
char *rl__strdup(const char *s, const char *file, int line);

#define rl_malloc(n) rl__malloc((n), __FILE__, __LINE__)
#define rl_calloc(c, s) rl__calloc((c), (s), __FILE__, __LINE__)
#define rl_realloc(p, n) rl__realloc((p), (n), __FILE__, __LINE__)
#define rl_aligned(n) rl__aligned((n), __FILE__, __LINE__)
#define rl_strdup(s) rl__strdup((s), __FILE__, __LINE__)

/* Aborts with file:line and the message when cond is false. For bugs, never for bad input. */
#define RL_ASSERT(cond, ...) \
    do { if (!(cond)) rl__die(__FILE__, __LINE__, #cond, __VA_ARGS__); } while (0)
_Noreturn void rl__die(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* For the learner's hot elementwise loops: the function is compiled for AVX-512, AVX2 and
 * baseline x86-64 and the version the CPU runs is picked when the program loads (the build
 * itself targets baseline x86-64, so one binary runs on every node). -std=c11 implies
 * -ffp-contract=off (no fused multiply-adds), so every version computes the same bits. */
#ifndef RL_VECTOR_CLONES  /* -DRL_VECTOR_CLONES= builds baseline code only */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define RL_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RL_VECTOR_CLONES
#endif
#endif

#endif
