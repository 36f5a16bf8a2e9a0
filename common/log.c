#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
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

/* ---- rate limiting ---- */

typedef struct {
    int used;
    unsigned kind;
    uint64_t who;
    double t_line;        /* when the last line of this pair was written */
    uint64_t dropped;     /* lines dropped since */
} s_slot_t;

struct log_limiter {
    double interval_ms;
    s_slot_t slot[LOG_LIMITER_SLOTS];
};

log_limiter_t *log_limiter_new(double interval_ms) {
    log_limiter_t *l = calloc(1, sizeof *l);
    if (!l) {
        fprintf(stderr, "FATAL %s:%d: out of memory\n", __FILE__, __LINE__);
        abort();
    }
    l->interval_ms = interval_ms;
    return l;
}

void log_limiter_destroy(log_limiter_t **self_p) {
    if (!self_p || !*self_p) return;
    free(*self_p);
    *self_p = NULL;
}

static s_slot_t *s_slot(log_limiter_t *l, unsigned kind, uint64_t who) {
    uint64_t h = (who + 0x9e3779b97f4a7c15ull * (kind + 1u)) * 0xbf58476d1ce4e5b9ull;
    return &l->slot[(h >> 40) % LOG_LIMITER_SLOTS];
}

int log_limiter_pass(log_limiter_t *l, unsigned kind, uint64_t who, double now_ms,
                     uint64_t *suppressed) {
    if (suppressed) *suppressed = 0;
    if (l->interval_ms <= 0) return 1;
    s_slot_t *s = s_slot(l, kind, who);
    if (!s->used || s->kind != kind || s->who != who) {
        *s = (s_slot_t){1, kind, who, now_ms, 0};
        return 1;
    }
    if (now_ms - s->t_line < l->interval_ms) {
        s->dropped++;
        return 0;
    }
    if (suppressed) *suppressed = s->dropped;
    s->t_line = now_ms;
    s->dropped = 0;
    return 1;
}

void log_limiter_flush(log_limiter_t *l, double now_ms,
                       void (*fn)(void *ctx, unsigned kind, uint64_t who, uint64_t dropped),
                       void *ctx) {
    for (int i = 0; i < LOG_LIMITER_SLOTS; i++) {
        s_slot_t *s = &l->slot[i];
        if (!s->used || s->dropped == 0 || now_ms - s->t_line < l->interval_ms) continue;
        fn(ctx, s->kind, s->who, s->dropped);
        s->t_line = now_ms;
        s->dropped = 0;
    }
}
