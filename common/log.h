/* Logging with levels. Lines are greppable: "pid:role HH:MM:SS.mmm LEVEL file:line message".
 * The level is checked before any formatting happens, so disabled levels cost one compare. */
#ifndef METASAC_LOG_H
#define METASAC_LOG_H

#include <stdint.h>
#include <stdio.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 } log_level_t;

extern log_level_t log_level;  /* messages below this level are dropped; default LOG_INFO */

/* Sets the role shown in every line ("learner", "actor3", ...); copied, may be NULL. */
void log_set_role(const char *role);
/* Also appends every line to this file (in addition to stderr). NULL closes it. Returns 0 or -1. */
int log_set_file(const char *path);
/* Parses "debug|info|warn|error|off"; returns -1 on an unknown name. */
int log_parse_level(const char *name, log_level_t *out);

void log_write(log_level_t level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Rate limiting for warnings a peer can trigger at will (rejected messages): each (kind, who)
 * pair writes at most one line per interval; the lines dropped in between are counted and the
 * next line written (or log_limiter_flush) reports how many. Fixed memory (a direct-mapped table
 * of LOG_LIMITER_SLOTS pairs; a collision forgets the older pair's count). Not thread-safe. */
#define LOG_LIMITER_SLOTS 1024
typedef struct log_limiter log_limiter_t;

/* interval_ms <= 0: every line passes. */
log_limiter_t *log_limiter_new(double interval_ms);
void log_limiter_destroy(log_limiter_t **self_p);
/* 1: write the line now; *suppressed (may be NULL) = lines of this pair dropped since the last
 * one written. 0: drop it (it is counted). */
int log_limiter_pass(log_limiter_t *l, unsigned kind, uint64_t who, double now_ms,
                     uint64_t *suppressed);
/* For every pair with dropped lines whose interval has passed: fn(ctx, kind, who, dropped),
 * and the pair starts a new interval. */
void log_limiter_flush(log_limiter_t *l, double now_ms,
                       void (*fn)(void *ctx, unsigned kind, uint64_t who, uint64_t dropped),
                       void *ctx);

#define LOG_AT(lvl, ...) \
    do { if ((lvl) >= log_level) log_write((lvl), __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define LOG_D(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)
#define LOG_I(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define LOG_W(...) LOG_AT(LOG_WARN, __VA_ARGS__)
#define LOG_E(...) LOG_AT(LOG_ERROR, __VA_ARGS__)

#endif
