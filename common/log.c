#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

log_level_t log_level = LOG_INFO;
static char s_role[32] = "metasac";
static FILE *s_file;

void log_set_role(const char *role) {
    snprintf(s_role, sizeof s_role, "%s", role ? role : "metasac");
}

int log_set_file(const char *path) {
    if (s_file) fclose(s_file);
    s_file = NULL;
    if (!path) return 0;
    s_file = fopen(path, "a");
    if (!s_file) return -1;
    setvbuf(s_file, NULL, _IOLBF, 0);
    return 0;
}

int log_parse_level(const char *name, log_level_t *out) {
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (strcmp(name, names[i]) == 0) { *out = (log_level_t)i; return 0; }
    return -1;
}

void log_write(log_level_t level, const char *file, int line, const char *fmt, ...) {
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char head[128];
    snprintf(head, sizeof head, "%d:%s %02d:%02d:%02d.%03d %s %s:%d", (int)getpid(), s_role,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), tags[level], base, line);
    fprintf(stderr, "%s %s\n", head, msg);
    if (s_file) fprintf(s_file, "%s %s\n", head, msg);
}
