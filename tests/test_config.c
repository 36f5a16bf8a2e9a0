/* config: defaults, file + flags (flags win), every bound enforced with an error naming the key,
 * unknown keys refused, the dump reads back identical, the committed sample matches the table. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define SAMPLE_PATH METASAC_SOURCE_DIR "/deploy/metasac.conf.sample"

static char s_tmp[64];

/* Writes text to a fresh temp file; returns its path (static storage). */
static const char *s_file(const char *text) {
    snprintf(s_tmp, sizeof s_tmp, "/tmp/metasac-config-XXXXXX");
    int fd = mkstemp(s_tmp);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return s_tmp;
}

static char *s_read_all(FILE *f) {
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    return s;
}

Test(config, defaults_are_the_papers) {
    config_t c;
    config_defaults(&c);
    cr_assert_eq(c.task, TASK_HOPPER);
    cr_assert_eq(c.algo, ALGO_META_SAC);
    cr_assert_eq(c.hidden, 256);
    cr_assert_eq(c.batch, 256);
    cr_assert_eq(c.gamma, 0.99);
    cr_assert_eq(c.tau, 0.005);
    cr_assert_eq(c.critic_lr, 3e-4);
    cr_assert_eq(c.policy_lr, 3e-4);
    cr_assert_eq(c.alpha_lr, 3e-4);
    cr_assert_eq(c.alpha, 0.2);
    cr_assert(isnan(c.target_entropy));
    cr_assert_eq(config_target_entropy(&c, 6), -6.0);
    cr_assert_eq(c.rms_rho, 0.99);
    cr_assert_eq(c.rms_eps, 1e-12);
    cr_assert_eq(c.meta_clip, 0.05);
    cr_assert_eq(c.d0_size, 256);
    cr_assert_eq(c.d0_mode, D0_FIXED);
    cr_assert(!c.meta_on_replay);
    cr_assert(c.resample);
    cr_assert(c.meta_scaled_action);
    cr_assert(!c.critic_two_steps);
    cr_assert_eq(c.replay_capacity, 1000000);
    cr_assert_eq(c.replay_ratio, 1.0);
    cr_assert_eq(c.random_steps, 10000);
    cr_assert_eq(c.update_after, 256);
    cr_assert_eq(c.eval_interval, 10000);
    cr_assert_eq(c.eval_episodes, 10);
    cr_assert_eq(config_total_steps(&c), 1000000);
    c.task = TASK_HUMANOID;
    cr_assert_eq(config_total_steps(&c), 10000000);
    c.total_steps = 5;
    cr_assert_eq(config_total_steps(&c), 5);
    config_defaults(&c);
    char err[CONFIG_ERR_MAX] = "";
    cr_assert_eq(config_check(&c, err, sizeof err), 0, "%s", err);
}

Test(config, flags_override_file_in_any_order) {
    const char *path = s_file("# comment\n"
                              "task = walker2d\n"
                              "gamma = 0.95   ; inline comment\n"
                              "batch = 128\n"
                              "resample = false\n"
                              "[metasac]\n"
                              "run_dir = /tmp/some run\n");
    char cfgflag[96];
    snprintf(cfgflag, sizeof cfgflag, "--config=%s", path);
    char *argv[] = {"prog", "--gamma=0.9", "--batch", "64", cfgflag, "--no-meta_scaled_action",
                    "--seed", "1e3", "--resample", "--tau=1", NULL};
    config_t c;
    char err[CONFIG_ERR_MAX] = "";
    cr_assert_eq(config_load(&c, 10, argv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.task, TASK_WALKER2D, "from the file");
    cr_assert_str_eq(c.run_dir, "/tmp/some run", "from the file");
    cr_assert_eq(c.gamma, 0.9, "flag beats file although the file comes later on the line");
    cr_assert_eq(c.batch, 64);
    cr_assert(c.resample, "bare --resample is true and beats the file's false");
    cr_assert(!c.meta_scaled_action);
    cr_assert_eq(c.seed, 1000);
    cr_assert_eq(c.tau, 1.0);
    unlink(path);
}

Test(config, bool_flag_forms) {
    config_t c;
    config_defaults(&c);
    char err[CONFIG_ERR_MAX];
    char *a1[] = {"p", "--resample", "no", "--meta_on_replay", "--critic_two_steps=on"};
    cr_assert_eq(config_parse_args(&c, 5, a1, err, sizeof err), 0, "%s", err);
    cr_assert(!c.resample);
    cr_assert(c.meta_on_replay);
    cr_assert(c.critic_two_steps);
    char *a2[] = {"p", "--no-gamma"};
    cr_assert_eq(config_parse_args(&c, 2, a2, err, sizeof err), -1, "--no- only for booleans");
    char *a3[] = {"p", "--batch"};
    cr_assert_eq(config_parse_args(&c, 2, a3, err, sizeof err), -1);
    cr_assert(strstr(err, "batch"), "%s", err);
    char *a4[] = {"p", "stray"};
    cr_assert_eq(config_parse_args(&c, 2, a4, err, sizeof err), -1);
    cr_assert(strstr(err, "stray"), "%s", err);
    char *a5[] = {"p", "--help"};
    cr_assert_eq(config_parse_args(&c, 2, a5, err, sizeof err), 1);
}

/* For every numeric entry, a value just outside each bound is refused, the error names the key
 * and the value, and the config is left unchanged. */
Test(config, every_bound_enforced) {
    size_t n;
    const config_entry_t *t = config_table(&n);
    int checked = 0;
    for (size_t i = 0; i < n; i++) {
        const config_entry_t *e = &t[i];
        char bad[2][64];
        int nbad = 0;
        if (e->type == CONFIG_INT || e->type == CONFIG_INT64) {
            if (e->imin > INT64_MIN) snprintf(bad[nbad++], 64, "%lld", (long long)e->imin - 1);
            if (e->imax < INT64_MAX) snprintf(bad[nbad++], 64, "%lld", (long long)e->imax + 1);
        } else if (e->type == CONFIG_DOUBLE) {
            snprintf(bad[nbad++], 64, "%.17g",
                     (e->flags & CONFIG_MIN_OPEN) ? e->dmin : nextafter(e->dmin, -INFINITY));
            snprintf(bad[nbad++], 64, "%.17g",
                     (e->flags & CONFIG_MAX_OPEN) ? e->dmax : nextafter(e->dmax, INFINITY));
        } else {
            continue;
        }
        for (int k = 0; k < nbad; k++) {
            config_t c, before;
            config_defaults(&c);
            before = c;
            char err[CONFIG_ERR_MAX] = "";
            cr_assert_eq(config_set(&c, e->name, bad[k], err, sizeof err), -1, "%s=%s accepted",
                         e->name, bad[k]);
            char quoted[80];
            snprintf(quoted, sizeof quoted, "'%s'", e->name);
            cr_assert(strstr(err, quoted), "error lacks the key: %s", err);
            cr_assert(strstr(err, bad[k]), "error lacks the value: %s", err);
            cr_assert(strstr(err, "range"), "error lacks the range: %s", err);
            cr_assert(config_equal(&c, &before), "a refused value changed the config");
            checked++;
        }
    }
    cr_assert_gt(checked, 40);
}

Test(config, named_validation_errors) {
    config_t c;
    config_defaults(&c);
    char err[CONFIG_ERR_MAX];
    struct { const char *key, *value, *needle; } cases[] = {
        {"gamma", "1.5", "[0, 1]"},
        {"gamma", "-0.01", "[0, 1]"},
        {"tau", "0", "(0, 1]"},
        {"batch", "0", "[1, "},
        {"gamma", "abc", "not a finite number"},
        {"gamma", "nan", "not a finite number"},
        {"lr_typo", "1", "unknown key"},
        {"batch", "12x", "not an integer"},
        {"batch", "2.5", "not an integer"},
        {"task", "hoper", "hopper|walker2d|half_cheetah|ant|humanoid"},
        {"algo", "sac", "sac_v1|sac_v2|meta_sac|td3"},
        {"resample", "maybe", "true|false"},
        {"run_dir", "", "characters"},
        {"run_dir", "a;b", "not allowed"},
        {"target_entropy", "automatic", "or auto"},
        {"alpha", "inf", "not a finite number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err[0] = '\0';
        cr_assert_eq(config_set(&c, cases[i].key, cases[i].value, err, sizeof err), -1, "%s=%s",
                     cases[i].key, cases[i].value);
        cr_assert(strstr(err, cases[i].key), "no key in: %s", err);
        cr_assert(strstr(err, cases[i].needle), "no '%s' in: %s", cases[i].needle, err);
    }
    /* cross-key rules */
    config_defaults(&c);
    c.replay_capacity = 100;
    cr_assert_eq(config_check(&c, err, sizeof err), -1);
    cr_assert(strstr(err, "batch"), "%s", err);
    /* bounds also hold for a config_t built by hand */
    config_defaults(&c);
    c.gamma = 2;
    cr_assert_eq(config_check(&c, err, sizeof err), -1);
    cr_assert(strstr(err, "'gamma'"), "%s", err);
    config_defaults(&c);
    c.tau = NAN;
    cr_assert_eq(config_check(&c, err, sizeof err), -1);
    cr_assert(strstr(err, "'tau'"), "%s", err);
}

Test(config, file_errors_name_path_line_and_key) {
    config_t c;
    config_defaults(&c);
    char err[CONFIG_ERR_MAX];
    const char *p = s_file("task = ant\n\nbogus_key = 3\n");
    cr_assert_eq(config_load_file(&c, p, err, sizeof err), -1);
    cr_assert(strstr(err, p) && strstr(err, ":3:") && strstr(err, "bogus_key"), "%s", err);
    unlink(p);
    p = s_file("gamma = 0.5\ngamma = 0.6\n");
    cr_assert_eq(config_load_file(&c, p, err, sizeof err), -1);
    cr_assert(strstr(err, "twice") && strstr(err, ":2:"), "%s", err);
    unlink(p);
    p = s_file("[other]\nbatch = 4\n");
    cr_assert_eq(config_load_file(&c, p, err, sizeof err), -1);
    cr_assert(strstr(err, "[other]"), "%s", err);
    unlink(p);
    p = s_file("batch 4\n");
    cr_assert_eq(config_load_file(&c, p, err, sizeof err), -1);
    cr_assert(strstr(err, "syntax"), "%s", err);
    unlink(p);
    p = s_file("tau = 2\n");
    cr_assert_eq(config_load_file(&c, p, err, sizeof err), -1);
    cr_assert(strstr(err, "'tau'") && strstr(err, "(0, 1]"), "%s", err);
    unlink(p);
    cr_assert_eq(config_load_file(&c, "/nonexistent/metasac.conf", err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent/metasac.conf"), "%s", err);
    char *argv[] = {"p", "--config", "/nonexistent/x.conf"};
    cr_assert_eq(config_load(&c, 3, argv, err, sizeof err), -1);
}

Test(config, dump_reads_back_identical) {
    config_t c;
    config_defaults(&c);
    char err[CONFIG_ERR_MAX] = "";
    /* awkward values: shortest-round-trip doubles, auto, strings with spaces */
    char *argv[] = {"p", "--gamma=0.1", "--tau=0.3333333333333333", "--policy_lr=1e-7",
                    "--target_entropy=-2.5", "--algo=td3", "--run_dir=/tmp/a b/c",
                    "--seed=9007199254740993", "--log_level=debug", "--meta_on_replay=yes"};
    cr_assert_eq(config_parse_args(&c, 10, argv, err, sizeof err), 0, "%s", err);
    for (int round = 0; round < 2; round++) {
        if (round == 1) c.target_entropy = NAN; /* auto survives too */
        FILE *f = tmpfile();
        config_dump(&c, f);
        char *text = s_read_all(f);
        fclose(f);
        const char *p = s_file(text);
        config_t back;
        config_defaults(&back);
        back.gamma = 0.5; /* must be overwritten */
        cr_assert_eq(config_load_file(&back, p, err, sizeof err), 0, "%s\n%s", err, text);
        cr_assert(config_equal(&c, &back), "dump did not read back:\n%s", text);
        cr_assert_eq(back.seed, 9007199254740993LL);
        cr_assert_eq(back.tau, 0.3333333333333333);
        unlink(p);
        free(text);
    }
    /* config_equal is not trivially true */
    config_t d = c;
    d.eval_episodes++;
    cr_assert(!config_equal(&c, &d));
}

Test(config, sample_matches_table_and_loads_to_defaults) {
    FILE *f = tmpfile();
    config_write_sample(f);
    char *gen = s_read_all(f);
    fclose(f);
    /* every key appears, with its help */
    size_t n;
    const config_entry_t *t = config_table(&n);
    for (size_t i = 0; i < n; i++) {
        char line[96];
        snprintf(line, sizeof line, "\n%s = ", t[i].name);
        cr_assert(strstr(gen, line), "sample lacks %s", t[i].name);
    }
    /* loading the sample yields the defaults */
    const char *p = s_file(gen);
    config_t a, b;
    config_defaults(&a);
    config_defaults(&b);
    b.batch = 1;
    char err[CONFIG_ERR_MAX] = "";
    cr_assert_eq(config_load_file(&b, p, err, sizeof err), 0, "%s", err);
    cr_assert(config_equal(&a, &b));
    unlink(p);
    /* the committed sample is exactly the generated one */
    FILE *c = fopen(SAMPLE_PATH, "r");
    cr_assert_not_null(c, "missing %s", SAMPLE_PATH);
    char *committed = s_read_all(c);
    fclose(c);
    if (strcmp(gen, committed) != 0) {
        FILE *o = fopen("/tmp/metasac.conf.sample.generated", "w");
        if (o) fputs(gen, o), fclose(o);
        cr_assert_fail("%s is stale: cp /tmp/metasac.conf.sample.generated %s", SAMPLE_PATH,
                       SAMPLE_PATH);
    }
    free(gen);
    free(committed);
}

Test(config, get_and_names) {
    config_t c;
    config_defaults(&c);
    char v[64];
    cr_assert_eq(config_get(&c, "critic_lr", v, sizeof v), 0);
    cr_assert_str_eq(v, "0.0003");
    cr_assert_eq(config_get(&c, "target_entropy", v, sizeof v), 0);
    cr_assert_str_eq(v, "auto");
    cr_assert_eq(config_get(&c, "task", v, sizeof v), 0);
    cr_assert_str_eq(v, "hopper");
    cr_assert_eq(config_get(&c, "nope", v, sizeof v), -1);
    cr_assert_str_eq(config_task_name(TASK_HALF_CHEETAH), "half_cheetah");
    cr_assert_str_eq(config_algo_name(ALGO_SAC_V2), "sac_v2");
    cr_assert_str_eq(config_algo_name(17), "?");
    /* table sanity: unique names, defaults inside their own bounds */
    size_t n;
    const config_entry_t *t = config_table(&n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(config_find(t[i].name), &t[i], "duplicate key %s", t[i].name);
        cr_assert(t[i].help && strlen(t[i].help) > 10, "%s lacks help", t[i].name);
        config_t x;
        config_defaults(&x);
        char err[CONFIG_ERR_MAX];
        cr_assert_eq(config_set(&x, t[i].name, t[i].def, err, sizeof err), 0, "%s", err);
    }
}
