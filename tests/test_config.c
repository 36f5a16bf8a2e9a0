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

/* 1 if every word of help appears in text in order (the help writer wraps lines). */
static int s_help_wrapped(const char *text, const char *help) {
    const char *at = text;
    char word[128];
    while (*help) {
        size_t n = strcspn(help, " ");
        if (n >= sizeof word) return 0;
        memcpy(word, help, n);
        word[n] = '\0';
        at = strstr(at, word);
        if (!at) return 0;
        at += n;
        help += n;
        while (*help == ' ') help++;
    }
    return 1;
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

/* ---------------------------------------------------------------- file syntax */

/* Debian's libinih keeps " # ..." in the value; the handler must cut it (and " ; ..."). */
Test(config, inline_comments_stripped) {
    const char *p = s_file("batch = 64 # minibatch\n"
                           "gamma = 0.5 ; semicolon\n"
                           "run_dir = /tmp/a b   # spaces before the comment\n"
                           "task = ant\t# after a tab\n"
                           "learner_connect = tcp://h:5555 # a colon inside the value\n"
                           "resample = false#not a comment: refused below\n");
    config_t c;
    config_defaults(&c);
    char err[CONFIG_ERR_MAX] = "";
    cr_assert_eq(config_load_file(&c, p, err, sizeof err), -1, "'false#not' is not a boolean");
    cr_assert(strstr(err, ":6:") && strstr(err, "resample"), "%s", err);
    cr_assert_eq(c.batch, 64);
    cr_assert_eq(c.gamma, 0.5);
    cr_assert_str_eq(c.run_dir, "/tmp/a b");
    cr_assert_eq(c.task, TASK_ANT);
    cr_assert_str_eq(c.learner_connect, "tcp://h:5555");
    unlink(p);
}

Test(config, colon_separator_refused_with_path_and_line) {
    const char *p = s_file("gamma = 0.5\n# task: ant (a comment may say anything)\ntask: hopper\n");
    config_t c;
    config_defaults(&c);
    char err[CONFIG_ERR_MAX] = "";
    cr_assert_eq(config_load_file(&c, p, err, sizeof err), -1);
    char where[96];
    snprintf(where, sizeof where, "%s:3:", p);
    cr_assert(strstr(err, where), "no path:line in: %s", err);
    cr_assert(strstr(err, "key = value") && strstr(err, "task = hopper"), "%s", err);
    unlink(p);
    /* the actor's reader is the same */
    p = s_file("envs_per_actor: 2\n");
    config_actor_t a;
    config_schema_defaults(&config_actor_schema, &a);
    cr_assert_eq(config_schema_load_file(&config_actor_schema, &a, p, err, sizeof err), -1);
    cr_assert(strstr(err, ":1:") && strstr(err, "envs_per_actor = 2"), "%s", err);
    unlink(p);
}

Test(config, did_you_mean_for_file_keys_and_flags) {
    config_t c;
    config_defaults(&c);
    char err[CONFIG_ERR_MAX] = "";
    const char *p = s_file("task = ant\nbach = 3\n");
    cr_assert_eq(config_load_file(&c, p, err, sizeof err), -1);
    cr_assert(strstr(err, ":2:") && strstr(err, "did you mean 'batch'?"), "%s", err);
    unlink(p);
    char *a1[] = {"p", "--envs=4"};  /* a prefix of the real key */
    cr_assert_eq(config_parse_args(&c, 2, a1, err, sizeof err), -1);
    cr_assert(strstr(err, "did you mean 'envs_per_actor'?"), "%s", err);
    char *a2[] = {"p", "--critic-lr=1e-3"};  /* '-' for '_' */
    cr_assert_eq(config_parse_args(&c, 2, a2, err, sizeof err), -1);
    cr_assert(strstr(err, "did you mean 'critic_lr'?"), "%s", err);
    config_actor_t a;
    config_schema_defaults(&config_actor_schema, &a);
    char *a3[] = {"p", "--heartbeat_timout_ms=500"};
    cr_assert_eq(config_schema_parse_args(&config_actor_schema, &a, 2, a3, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "did you mean 'heartbeat_timeout_ms'?"), "%s", err);
    /* nothing close: no suggestion */
    cr_assert_eq(config_set(&c, "zzzzzz", "1", err, sizeof err), -1);
    cr_assert(strstr(err, "unknown key 'zzzzzz'") && !strstr(err, "did you mean"), "%s", err);
    cr_assert_null(config_suggest(&config_learner_schema, "qq"));
    cr_assert_str_eq(config_suggest(&config_actor_schema, "evaluater"), "evaluator");
}

/* ---------------------------------------------------------------- the other programs */

Test(config, actor_table_parses_its_flags) {
    config_actor_t a;
    char err[CONFIG_ERR_MAX] = "";
    char *argv[] = {"metasac-actor", "--learner=tcp://10.0.0.1:5555", "--weights",
                    "tcp://10.0.0.1:5556", "--envs_per_actor=3", "--id", "7",
                    "--heartbeat_timeout_ms=5000", "--log_level=debug", "--give_up_ms=60000",
                    "--max_msg_bytes=1e6"};
    cr_assert_eq(config_schema_load(&config_actor_schema, &a, 11, argv, NULL, err, sizeof err), 0,
                 "%s", err);
    cr_assert_str_eq(a.learner, "tcp://10.0.0.1:5555");
    cr_assert_str_eq(a.weights, "tcp://10.0.0.1:5556");
    cr_assert_eq(a.envs_per_actor, 3);
    cr_assert_eq(a.id, 7);
    cr_assert_eq(a.heartbeat_ms, 1000, "default");
    cr_assert_eq(a.heartbeat_timeout_ms, 5000);
    cr_assert_eq(a.log_level, 0, "debug");
    cr_assert_eq(a.give_up_ms, 60000);
    cr_assert_eq(a.max_msg_bytes, 1000000);
    cr_assert(!a.evaluator);
    /* bounds: key, value and range named */
    char *b1[] = {"p", "--learner=x", "--weights=y", "--envs_per_actor=0"};
    cr_assert_eq(config_schema_load(&config_actor_schema, &a, 4, b1, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "'envs_per_actor'") && strstr(err, "0") && strstr(err, "[1, 4096]"),
              "%s", err);
    /* required keys and cross-key rules */
    char *b2[] = {"p", "--weights=y"};
    cr_assert_eq(config_schema_load(&config_actor_schema, &a, 2, b2, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "'learner'"), "%s", err);
    char *b3[] = {"p", "--learner=x", "--evaluator"};
    cr_assert_eq(config_schema_load(&config_actor_schema, &a, 3, b3, NULL, err, sizeof err), 0,
                 "an evaluator needs no weights endpoint: %s", err);
    cr_assert(a.evaluator);
    char *b4[] = {"p", "--learner=x", "--weights=y", "--heartbeat_ms=500", "--heartbeat_timeout_ms=400"};
    cr_assert_eq(config_schema_load(&config_actor_schema, &a, 5, b4, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "heartbeat_timeout_ms"), "%s", err);
    /* a learner-only key is no actor flag, and the error says whose it is */
    char *b5[] = {"p", "--learner=x", "--weights=y", "--batch=64"};
    cr_assert_eq(config_schema_load(&config_actor_schema, &a, 4, b5, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "'batch'") && strstr(err, "metasac-learner"), "%s", err);
}

/* One file for every program: the learner's resolved config.ini configures an actor. */
Test(config, actor_reads_the_learner_config_file) {
    config_t c;
    config_defaults(&c);
    c.envs_per_actor = 4;
    c.heartbeat_ms = 200;
    c.heartbeat_timeout_ms = 3000;
    c.log_level = 2; /* warn */
    c.max_msg_bytes = 1 << 20;
    FILE *f = tmpfile();
    config_dump(&c, f);
    char *text = s_read_all(f);
    fclose(f);
    const char *p = s_file(text);
    char cfgflag[96];
    snprintf(cfgflag, sizeof cfgflag, "--config=%s", p);
    char *argv[] = {"metasac-actor", cfgflag, "--learner=tcp://h:1", "--weights=tcp://h:2",
                    "--heartbeat_ms=100"};
    config_actor_t a;
    char err[CONFIG_ERR_MAX] = "";
    cr_assert_eq(config_schema_load(&config_actor_schema, &a, 5, argv, NULL, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(a.envs_per_actor, 4);
    cr_assert_eq(a.heartbeat_ms, 100, "a flag beats the file");
    cr_assert_eq(a.heartbeat_timeout_ms, 3000);
    cr_assert_eq(a.log_level, 2);
    cr_assert_eq(a.max_msg_bytes, 1 << 20);
    unlink(p);
    free(text);
    /* the file may hold actor keys too, and the learner ignores them */
    p = s_file("batch = 32\nlearner = tcp://h:1\nweights = tcp://h:2\nenvs_per_actor = 2\n"
               "random_episodes = 5\n");
    config_defaults(&c);
    cr_assert_eq(config_load_file(&c, p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.batch, 32);
    cr_assert_eq(c.envs_per_actor, 2);
    config_schema_defaults(&config_actor_schema, &a);
    cr_assert_eq(config_schema_load_file(&config_actor_schema, &a, p, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(a.learner, "tcp://h:1");
    cr_assert_eq(a.envs_per_actor, 2);
    unlink(p);
    /* a key no program knows is still refused, with the line */
    p = s_file("envs_per_actor = 2\nenvs_per_actr = 3\n");
    cr_assert_eq(config_schema_load_file(&config_actor_schema, &a, p, err, sizeof err), -1);
    cr_assert(strstr(err, ":2:") && strstr(err, "did you mean 'envs_per_actor'?"), "%s", err);
    unlink(p);
}

static char *s_warnings_of(const config_schema_t *s, void *cfg, int argc, char **argv, int *rc) {
    FILE *w = tmpfile();
    char err[CONFIG_ERR_MAX] = "";
    *rc = config_schema_load(s, cfg, argc, argv, w, err, sizeof err);
    cr_assert_eq(*rc, 0, "%s", err);
    char *text = s_read_all(w);
    fclose(w);
    return text;
}

Test(config, deprecated_aliases_work_and_warn) {
    config_actor_t a;
    int rc;
    char *argv[] = {"metasac-actor", "--learner=x", "--weights=y", "--envs=3", "--timeout_ms",
                    "4000", "--heartbeat_ms=100"};
    char *w = s_warnings_of(&config_actor_schema, &a, 7, argv, &rc);
    cr_assert_eq(a.envs_per_actor, 3);
    cr_assert_eq(a.heartbeat_timeout_ms, 4000);
    cr_assert(strstr(w, "metasac-actor: --envs is deprecated, use --envs_per_actor\n"), "%s", w);
    cr_assert(strstr(w, "--timeout_ms is deprecated, use --heartbeat_timeout_ms\n"), "%s", w);
    free(w);
    /* the new names do not warn */
    char *argv2[] = {"metasac-actor", "--learner=x", "--weights=y", "--envs_per_actor=3"};
    w = s_warnings_of(&config_actor_schema, &a, 4, argv2, &rc);
    cr_assert_str_eq(w, "");
    free(w);
    /* an alias still gets the key's bounds */
    char err[CONFIG_ERR_MAX] = "";
    char *argv3[] = {"metasac-actor", "--learner=x", "--weights=y", "--envs=0"};
    cr_assert_eq(config_schema_load(&config_actor_schema, &a, 4, argv3, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "'envs_per_actor'") && strstr(err, "range"), "%s", err);
    /* metasac-env: old long and short spellings, positional task */
    config_env_t e;
    char *argv4[] = {"metasac-env", "hopper", "--random-episodes", "7", "-s", "3",
                     "--log-level=error", "--stream=2"};
    w = s_warnings_of(&config_env_schema, &e, 8, argv4, &rc);
    cr_assert_str_eq(e.task, "hopper");
    cr_assert_eq(e.random_episodes, 7);
    cr_assert_eq(e.seed, 3);
    cr_assert_eq(e.stream, 2);
    cr_assert_eq(e.log_level, 3);
    cr_assert(strstr(w, "--random-episodes is deprecated, use --random_episodes"), "%s", w);
    cr_assert(strstr(w, "-s is deprecated, use --seed"), "%s", w);
    cr_assert(strstr(w, "--log-level is deprecated, use --log_level"), "%s", w);
    free(w);
}

Test(config, env_task_positional_or_flag) {
    config_env_t e;
    char err[CONFIG_ERR_MAX] = "";
    char *a1[] = {"metasac-env", "--task=Walker2d-v2", "--seed=5"};
    cr_assert_eq(config_schema_load(&config_env_schema, &e, 3, a1, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(e.task, "Walker2d-v2");
    cr_assert_eq(e.random_episodes, 100, "default");
    cr_assert_eq(e.log_level, 2, "metasac-env's own default: warn");
    char *a2[] = {"metasac-env", "hopper", "ant"};
    cr_assert_eq(config_schema_load(&config_env_schema, &e, 3, a2, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "'ant'"), "%s", err);
    char *a3[] = {"metasac-env", "--seed=1"};
    cr_assert_eq(config_schema_load(&config_env_schema, &e, 2, a3, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "'task'"), "%s", err);
    char *a4[] = {"metasac-env", "hopper", "--random_episodes=100000001"};
    cr_assert_eq(config_schema_load(&config_env_schema, &e, 3, a4, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "'random_episodes'") && strstr(err, "100000001") &&
              strstr(err, "[0, 100000000]"), "%s", err);
}

Test(config, help_generated_from_each_table) {
    const config_schema_t *all[] = {&config_actor_schema, &config_env_schema};
    for (int k = 0; k < 2; k++) {
        const config_schema_t *s = all[k];
        FILE *f = tmpfile();
        config_schema_write_help(s, f);
        char *text = s_read_all(f);
        fclose(f);
        char want[128];
        snprintf(want, sizeof want, "usage: %s ", s->program);
        cr_assert(strstr(text, want), "%s", text);
        for (size_t i = 0; i < s->n; i++) {
            snprintf(want, sizeof want, "\n  --%s=", s->table[i].name);
            cr_assert(strstr(text, want), "help of %s lacks %s", s->program, s->table[i].name);
            cr_assert(strstr(text, s->table[i].help) || s_help_wrapped(text, s->table[i].help),
                      "help of %s lacks the text of %s", s->program, s->table[i].name);
        }
        for (size_t i = 0; i < s->naliases; i++)
            cr_assert(strstr(text, s->aliases[i].flag), "%s lacks alias %s", s->program,
                      s->aliases[i].flag);
        free(text);
        /* --help and -h are seen wherever they are */
        char *argv[] = {"p", "--bogus", "--help"};
        void *cfg = calloc(1, s->size);
        char err[CONFIG_ERR_MAX];
        cr_assert_eq(config_schema_load(s, cfg, 3, argv, NULL, err, sizeof err), 1);
        free(cfg);
    }
    FILE *f = tmpfile();
    config_schema_write_help(&config_actor_schema, f);
    char *text = s_read_all(f);
    fclose(f);
    cr_assert(strstr(text, "integer [1, 4096]; default: 1"), "envs_per_actor's range: %s", text);
    cr_assert(strstr(text, "--envs -> --envs_per_actor"), "%s", text);
    free(text);
}

/* A key in two tables means the same thing: same type, bounds and help (the K_ macros). */
Test(config, shared_keys_agree_across_programs) {
    const config_schema_t *all[] = {&config_actor_schema, &config_env_schema};
    int shared = 0;
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < all[k]->n; i++) {
            const config_entry_t *x = &all[k]->table[i], *y = config_find(x->name);
            cr_assert_eq(config_schema_find(all[k], x->name), x, "duplicate key %s", x->name);
            if (!y || (all[k] == &config_env_schema && strcmp(x->name, "task") == 0))
                continue;  /* the env's task is a free string: Gym names too */
            shared++;
            cr_assert(x->type == y->type && x->imin == y->imin && x->imax == y->imax &&
                          x->dmin == y->dmin && x->dmax == y->dmax && x->flags == y->flags &&
                          x->names == y->names && strcmp(x->help, y->help) == 0,
                      "%s differs between %s and the learner", x->name, all[k]->program);
        }
    }
    cr_assert_eq(shared, 7, "envs_per_actor, heartbeat_ms, heartbeat_timeout_ms, log_level, "
                            "max_msg_bytes; seed, log_level");
}
