/* deploy/presets/TASK-ALGO.conf: one per task x algorithm of the paper; each loads with
 * config_load_file and sets the task and algorithm its name says, the task's paper length, and
 * Humanoid's SAC-v1 temperature 0.05 (every other key is the default). `make install` puts the
 * programs, scripts, sample config and presets under PREFIX (checked with DESTDIR). */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"

#ifndef METASAC_SOURCE_DIR
#define METASAC_SOURCE_DIR "."
#endif
#define PRESETS METASAC_SOURCE_DIR "/deploy/presets"

static const char *const s_tasks[] = {"hopper", "walker2d", "half_cheetah", "ant", "humanoid"};
static const char *const s_algos[] = {"sac_v1", "sac_v2", "meta_sac", "td3"};

Test(presets, every_preset_loads_and_sets_what_its_name_says) {
    glob_t g;
    cr_assert(glob(PRESETS "/*.conf", 0, NULL, &g) == 0, "no presets in " PRESETS);
    cr_expect(g.gl_pathc == 20, "one preset per task x algorithm: %zu files", g.gl_pathc);
    int seen[5][4] = {{0}};
    config_t def;
    config_defaults(&def);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i], *base = strrchr(path, '/') + 1;
        config_t cfg;
        char err[CONFIG_ERR_MAX];
        config_defaults(&cfg);
        cr_assert(config_load_file(&cfg, path, err, sizeof err) == 0, "%s", err);
        cr_expect(config_check(&cfg, err, sizeof err) == 0, "%s: %s", base, err);
        char want[64];
        snprintf(want, sizeof want, "%s-%s.conf", config_task_name(cfg.task),
                 config_algo_name(cfg.algo));
        cr_expect_str_eq(base, want, "%s sets task %s and algo %s", base,
                         config_task_name(cfg.task), config_algo_name(cfg.algo));
        seen[cfg.task][cfg.algo]++;
        int64_t len = cfg.task == TASK_HOPPER ? 1000000 : cfg.task == TASK_HUMANOID ? 10000000
                                                                                   : 3000000;
        cr_expect(cfg.total_steps == len, "%s: total_steps %lld, the paper's is %lld", base,
                  (long long)cfg.total_steps, (long long)len);
        double alpha = cfg.task == TASK_HUMANOID && cfg.algo == ALGO_SAC_V1 ? 0.05 : def.alpha;
        cr_expect(cfg.alpha == alpha, "%s: alpha %g, the paper's is %g", base, cfg.alpha, alpha);
        /* nothing else differs from the defaults (which are the paper's) */
        cfg.task = def.task;
        cfg.algo = def.algo;
        cfg.total_steps = def.total_steps;
        cfg.alpha = def.alpha;
        cr_expect(config_equal(&cfg, &def), "%s sets keys besides task, algo, total_steps, alpha",
                  base);
    }
    for (int t = 0; t < 5; t++)
        for (int a = 0; a < 4; a++)
            cr_expect(seen[t][a] == 1, "%s-%s.conf: %d presets", s_tasks[t], s_algos[a],
                      seen[t][a]);
    globfree(&g);
}

/* make install DESTDIR=tmp PREFIX=/usr: only the install rule runs (the programs are built). */
Test(presets, make_install_puts_programs_scripts_config_and_presets_under_prefix, .timeout = 120) {
    char dir[] = "/tmp/metasac-install-XXXXXX", cmd[1024], path[600];
    cr_assert(mkdtemp(dir));
    const char *bin = getenv("METASAC_BIN_DIR");
    cr_assert(bin, "METASAC_BIN_DIR names build/bin (make test sets it)");
    /* BUILD= the build directory of the programs under test (build or build-<sanitizers>) */
    char build[600];
    snprintf(build, sizeof build, "%s", bin);
    char *slash = strrchr(build, '/');
    cr_assert(slash);
    *slash = 0;
    snprintf(cmd, sizeof cmd,
             "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C '%s' install BUILD='%s' DESTDIR='%s' PREFIX=/usr >'%s/log' 2>&1",
             METASAC_SOURCE_DIR, build, dir, dir);
    int st = system(cmd);
    snprintf(path, sizeof path, "cat '%s/log' >&2", dir);
    if (st != 0) cr_expect(system(path) == 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "make install failed");
    static const char *const want[] = {
        "bin/metasac-learner", "bin/metasac-actor", "bin/metasac-run", "bin/metasac-export",
        "bin/metasac-plot", "bin/metasac-sweep", "share/metasac/metasac.conf.sample",
        "share/metasac/presets/hopper-meta_sac.conf", "share/metasac/presets/humanoid-sac_v1.conf",
        "share/metasac/models/hopper.xml"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        struct stat sb;
        snprintf(path, sizeof path, "%s/usr/%s", dir, want[i]);
        cr_expect(stat(path, &sb) == 0, "%s is installed", want[i]);
        if (!strncmp(want[i], "bin/", 4))
            cr_expect(stat(path, &sb) == 0 && (sb.st_mode & 0111), "%s is executable", want[i]);
    }
    glob_t g;
    snprintf(path, sizeof path, "%s/usr/share/metasac/presets/*.conf", dir);
    cr_expect(glob(path, 0, NULL, &g) == 0 && g.gl_pathc == 20, "every preset is installed");
    globfree(&g);
    /* the installed sweep finds the installed launcher next to itself, not ../build/bin */
    snprintf(cmd, sizeof cmd,
             "cd / && env -u METASAC_BIN_DIR PATH=/usr/bin:/bin '%s/usr/bin/metasac-sweep' "
             "--dry-run --tasks hopper --algos td3 --seeds 1 --runs '%s/runs' 2>&1 | "
             "grep -q \"would run: %s/usr/bin/metasac-run --task=hopper\"",
             dir, dir, dir);
    cr_expect(system(cmd) == 0, "the installed metasac-sweep runs the installed metasac-run");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect(system(cmd) == 0);
}
