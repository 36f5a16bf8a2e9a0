#include "alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void rl__die(const char *file, int line, const char *cond, const char *fmt, ...) {
    fprintf(stderr, "FATAL %s:%d: assertion '%s' failed: ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void *s_check(void *p, size_t n, const char *file, int line) {
    if (!p && n) {
        fprintf(stderr, "FATAL %s:%d: out of memory allocating %zu bytes\n", file, line, n);
        abort();
    }
    return p;
}

void *rl__malloc(size_t n, const char *file, int line) {
    return s_check(malloc(n ? n : 1), n, file, line);
}

void *rl__calloc(size_t count, size_t size, const char *file, int line) {
    return s_check(calloc(count ? count : 1, size ? size : 1), count * size, file, line);
}

void *rl__realloc(void *p, size_t n, const char *file, int line) {
    return s_check(realloc(p, n ? n : 1), n, file, line);
}

void *rl__aligned(size_t n, const char *file, int line) {
    size_t rounded = (n + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    s_check(p, n, file, line);
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

char *rl__strdup(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = rl__malloc(n, file, line);
    memcpy(p, s, n);
    return p;
}
