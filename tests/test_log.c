/* log: level filtering (below-level lines are neither formatted nor written) and the line
 * format "pid:role HH:MM:SS.mmm LEVEL file:line message", checked through log_set_file. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char s_path[64];

static void s_setup(void) {
    cr_redirect_stderr(); /* the logger also writes to stderr: keep test output clean */
    snprintf(s_path, sizeof s_path, "/tmp/metasac-log-XXXXXX");
    int fd = mkstemp(s_path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(log_set_file(s_path), 0);
}

static void s_teardown(void) {
    log_set_file(NULL);
    unlink(s_path);
}

/* Closes the log file and returns its whole content (caller frees). */
static char *s_contents(void) {
    cr_assert_eq(log_set_file(NULL), 0);
    FILE *f = fopen(s_path, "r");
    cr_assert_not_null(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return strdup(text);
}

static int s_count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

Test(log, level_filters_below, .init = s_setup, .fini = s_teardown) {
    log_level = LOG_WARN;
    LOG_D("debug-line");
    LOG_I("info-line");
    LOG_W("warn-line %d", 7);
    LOG_E("error-line %s", "x");
    char *t = s_contents();
    cr_assert_null(strstr(t, "debug-line"), "%s", t);
    cr_assert_null(strstr(t, "info-line"), "%s", t);
    cr_assert_not_null(strstr(t, "warn-line 7"), "%s", t);
    cr_assert_not_null(strstr(t, "error-line x"), "%s", t);
    cr_assert_eq(s_count_lines(t), 2, "%s", t);
    free(t);
}

Test(log, off_drops_everything_and_debug_keeps_everything, .init = s_setup, .fini = s_teardown) {
    log_level = LOG_OFF;
    LOG_E("nothing");
    log_level = LOG_DEBUG;
    LOG_D("d");
    LOG_I("i");
    LOG_W("w");
    LOG_E("e");
    char *t = s_contents();
    cr_assert_null(strstr(t, "nothing"));
    cr_assert_eq(s_count_lines(t), 4, "%s", t);
    free(t);
}

static int s_calls;
static int s_side_effect(void) { return ++s_calls; }

Test(log, disabled_level_does_not_evaluate_arguments, .init = s_setup, .fini = s_teardown) {
    log_level = LOG_INFO;
    s_calls = 0;
    LOG_D("value %d", s_side_effect());
    cr_assert_eq(s_calls, 0, "a filtered message formatted its arguments");
    LOG_I("value %d", s_side_effect());
    cr_assert_eq(s_calls, 1);
}

Test(log, line_format, .init = s_setup, .fini = s_teardown) {
    log_level = LOG_INFO;
    log_set_role("actor3");
    int line = __LINE__ + 1;
    LOG_W("hello %s %d", "world", 42);
    log_set_role(NULL);
    LOG_E("second");
    char *t = s_contents();
    regex_t re;
    cr_assert_eq(regcomp(&re,
                         "^([0-9]+):([^ ]+) ([0-2][0-9]):([0-5][0-9]):([0-6][0-9])\\.([0-9]{3}) "
                         "(WARN|ERROR) ([^ :]+):([0-9]+) (.*)$",
                         REG_EXTENDED | REG_NEWLINE),
                 0);
    regmatch_t m[11];
    cr_assert_eq(regexec(&re, t, 11, m, 0), 0, "bad line: %s", t);
    char field[11][128];
    for (int i = 1; i < 11; i++)
        snprintf(field[i], sizeof field[i], "%.*s", (int)(m[i].rm_eo - m[i].rm_so), t + m[i].rm_so);
    cr_assert_eq(atoi(field[1]), (int)getpid());
    cr_assert_str_eq(field[2], "actor3");
    cr_assert_str_eq(field[7], "WARN");
    cr_assert_str_eq(field[8], "test_log.c", "file is the base name of the caller");
    cr_assert_eq(atoi(field[9]), line);
    cr_assert_str_eq(field[10], "hello world 42");
    /* the second line: default role, ERROR */
    const char *second = strchr(t, '\n') + 1;
    cr_assert_eq(regexec(&re, second, 11, m, 0), 0, "bad line: %s", second);
    cr_assert_eq(strncmp(second + m[7].rm_so, "ERROR", 5), 0);
    cr_assert_eq(strncmp(second + m[2].rm_so, "metasac ", 8), 0, "%s", second);
    regfree(&re);
    free(t);
}

Test(log, parse_level_and_bad_file) {
    log_level_t l;
    const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(log_parse_level(names[i], &l), 0);
        cr_assert_eq((int)l, i);
    }
    l = LOG_WARN;
    cr_assert_eq(log_parse_level("verbose", &l), -1);
    cr_assert_eq(l, LOG_WARN, "untouched on failure");
    cr_assert_eq(log_set_file("/nonexistent-dir/x/metasac.log"), -1);
}

/* ---- rate limiting (issue 8, finding 7: one WARN line per rejected message) ---- */

static void s_count_flush(void *ctx, unsigned kind, uint64_t who, uint64_t n) {
    uint64_t *got = ctx;
    got[0] += n;
    got[1] = kind;
    got[2] = who;
}

Test(log, limiter_passes_one_line_per_interval_per_pair_with_the_count) {
    log_limiter_t *l = log_limiter_new(1000);
    uint64_t dropped = 99;
    int passed = 0;
    for (int i = 0; i < 5000; i++) passed += log_limiter_pass(l, 3, 7, 10.0 + i * 0.1, NULL);
    cr_expect_eq(passed, 1, "5000 lines in 0.5 s: only the first passes (%d did)", passed);
    /* another kind, or another peer, is its own pair */
    cr_expect(log_limiter_pass(l, 4, 7, 20, NULL));
    cr_expect(log_limiter_pass(l, 3, 8, 20, NULL));
    /* after the interval the next line passes and carries the count of the dropped ones */
    cr_expect(log_limiter_pass(l, 3, 7, 1011, &dropped));
    cr_expect_eq(dropped, 4999);
    cr_expect(!log_limiter_pass(l, 3, 7, 1500, NULL));
    /* a flush reports pairs with dropped lines once their interval is over, then forgets them */
    uint64_t got[3] = {0};
    log_limiter_flush(l, 1600, s_count_flush, got);
    cr_expect_eq(got[0], 0, "interval not over yet");
    log_limiter_flush(l, 2100, s_count_flush, got);
    cr_expect(got[0] == 1 && got[1] == 3 && got[2] == 7, "flushed %llu of kind %llu who %llu",
              (unsigned long long)got[0], (unsigned long long)got[1], (unsigned long long)got[2]);
    got[0] = 0;
    log_limiter_flush(l, 5000, s_count_flush, got);
    cr_expect_eq(got[0], 0, "nothing twice");
    log_limiter_destroy(&l);
    cr_expect_null(l);
    /* interval 0: everything passes */
    l = log_limiter_new(0);
    for (int i = 0; i < 10; i++) cr_expect(log_limiter_pass(l, 1, 1, i, NULL));
    log_limiter_destroy(&l);
}
