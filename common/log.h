/* Logging with levels. Lines are greppable: "pid:role HH:MM:SS.mmm LEVEL file:line message".
 * The level is checked before any formatting happens, so disabled levels cost one compare. */
#ifndef METASAC_LOG_H
#define METASAC_LOG_H

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

#define LOG_AT(lvl, ...) \
    do { if ((lvl) >= log_level) log_write((lvl), __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define LOG_D(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)
#define LOG_I(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define LOG_W(...) LOG_AT(LOG_WARN, __VA_ARGS__)
#define LOG_E(...) LOG_AT(LOG_ERROR, __VA_ARGS__)

#endif
