/* deploy/metasac-plot and deploy/metasac-sweep: synthetic run directories (2 algorithms x 3
 * seeds with known curves, a malformed eval line, a malformed metrics line, an empty eval.csv)
 * are plotted and tabulated; the table's numbers are recomputed here from the generator with
 * the script's documented convention (mean +- SAMPLE std over seeds, n-1 denominator). The
 * sweep's argument checks run without any training; its grid/resume logic runs against a fake
 * launcher. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef METASAC_SOURCE_DIR
#define METASAC_SOURCE_DIR "."
#endif
#define PLOT METASAC_SOURCE_DIR "/deploy/metasac-plot"
#define SWEEP METASAC_SOURCE_DIR "/deploy/metasac-sweep"

#define N_EVAL 11    /* evaluations at env steps 0, 10000, ..., 100000 */
#define N_METRICS 21 /* metrics lines at env steps 0, 5000, ..., 100000 */

static const char *const s_algos[] = {"meta_sac", "sac_v2"};

/* --- small helpers --------------------------------------------------------------------------- */

static char *s_fmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    cr_assert_geq(vasprintf(&s, fmt, ap), 0);
    va_end(ap);
    return s;
}

/* A fresh temp directory (caller frees; removed by s_rmtree). */
static char *s_tmpdir(void) {
    char *d = strdup("/tmp/metasac-plot-test-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static void s_rmtree(char *dir) {
    char *cmd = s_fmt("rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
    free(dir);
}

static void s_write(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* Whole file as a string ("" if absent); *n gets its size. */
static char *s_slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (n) *n = 0;
        return strdup("");
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *s = malloc((size_t)len + 1);
    cr_assert_eq(fread(s, 1, (size_t)len, f), (size_t)len);
    s[len] = '\0';
    fclose(f);
    if (n) *n = (size_t)len;
    return s;
}

/* Runs a shell command with stdout/stderr to dir/out and dir/err; returns the exit status. */
static int s_run(const char *dir, const char *cmd) {
    char *full = s_fmt("%s >'%s/out' 2>'%s/err' </dev/null", cmd, dir, dir);
    int st = system(full);
    free(full);
    cr_assert(WIFEXITED(st), "command did not exit normally: %s", cmd);
    return WEXITSTATUS(st);
}

static char *s_out(const char *dir, const char *which) {
    char *p = s_fmt("%s/%s", dir, which);
    char *s = s_slurp(p, NULL);
    free(p);
    return s;
}

/* sqrt by Newton's method (no libm: the test also builds with just -lcriterion) */
static double s_sqrt(double x) {
    if (x <= 0) return 0;
    double r = x > 1 ? x : 1;
    for (int i = 0; i < 200; i++) r = 0.5 * (r + x / r);
    return r;
}

/* mean and sample std (n-1) of x[0..n); *sd = NAN for n < 2 */
static double s_mean_std(const double *x, int n, double *sd) {
    double m = 0, ss = 0;
    for (int i = 0; i < n; i++) m += x[i];
    m /= n;
    for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    *sd = n < 2 ? NAN : s_sqrt(ss / (n - 1));
    return m;
}

/* "mean +- std" exactly as the table prints it */
static char *s_pm(const double *x, int n, int prec) {
    double sd, m = s_mean_std(x, n, &sd);
    return isnan(sd) ? s_fmt("%.*f +- n/a", prec, m) : s_fmt("%.*f +- %.*f", prec, m, prec, sd);
}

/* --- synthetic runs -------------------------------------------------------------------------- */

/* Eval return of algorithm a, seed s at evaluation k: rises, peaks at k = 9, drops at the end. */
static double s_ret(int a, int s, int k) {
    return k < N_EVAL - 1 ? (a + 1) * s * 10.0 * k + 0.5 * s : (a + 1) * s * 80.0 + 0.25;
}
static double s_sps(int s, int j) { return j == 0 ? 5.0 : 1000.0 + 10 * s + j; } /* line 0: start-up */
static double s_ups(int s, int j) { return j == 0 ? 1.0 : 500.0 + s + 0.5 * j; }
/* log alpha as written to the file (%.6g) and read back, so expectations match the text */
static double s_la(int a, int s, int j) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.6g", -0.1 * j * (a + 1) - 0.01 * s);
    return strtod(buf, NULL);
}

static char *s_make_run(const char *root, const char *task, const char *algo, int a, int seed,
                        int malformed_eval, int malformed_metrics) {
    char *d = s_fmt("%s/%s-%s-s%d", root, task, algo, seed);
    cr_assert_eq(mkdir(d, 0755), 0);
    char *p = s_fmt("%s/config.ini", d);
    char *t = s_fmt("# written by test_plot\n[metasac]\ntask = %s\nalgo = %s  # inline\nseed = %d\n"
                    "alpha = 0.2\n", task, algo, seed);
    s_write(p, t);
    free(p), free(t);

    p = s_fmt("%s/eval.csv", d);
    FILE *f = fopen(p, "w");
    fprintf(f, "env_steps,weight_version,mean,std,episodes\n");
    for (int k = 0; k < N_EVAL; k++) {
        if (malformed_eval && k == 5) fprintf(f, "12345,oops\n"); /* becomes file line 7 */
        fprintf(f, "%d,%d,%.17g,%.3f,10\n", k * 10000, k * 37, s_ret(a, seed, k), 1.5);
    }
    fclose(f);
    free(p);

    p = s_fmt("%s/metrics.jsonl", d);
    f = fopen(p, "w");
    for (int j = 0; j < N_METRICS; j++) {
        if (malformed_metrics && j == 2) fprintf(f, "this is not json\n"); /* file line 3 */
        fprintf(f, "{\"time\": %d, \"env_steps\": %d, \"updates\": %d, \"env_sps\": %.17g, "
                   "\"updates_ps\": %.17g, \"alpha\": 0.1, \"log_alpha\": %.6g, \"q_loss\": 1.5, "
                   "\"pi_loss\": -2, \"entropy\": 0.5, \"meta_grad\": 1e-3}\n",
                j * 5, j * 5000, j * 4000, s_sps(seed, j), s_ups(seed, j), s_la(a, seed, j));
    }
    fclose(f);
    free(p);
    return d;
}

/* 2 algorithms x 3 seeds on hopper, a malformed eval line in meta_sac s2, a malformed metrics
 * line in sac_v2 s3, and an extra sac_v2 run (seed 7) with an empty eval.csv. Returns the
 * run directories as one shell-quoted argument string. */
static char *s_make_grid(const char *root) {
    char *args = strdup("");
    for (int a = 0; a < 2; a++)
        for (int s = 1; s <= 3; s++) {
            char *d = s_make_run(root, "hopper", s_algos[a], a, s, a == 0 && s == 2, a == 1 && s == 3);
            char *n = s_fmt("%s '%s'", args, d);
            free(args), free(d);
            args = n;
        }
    char *d = s_fmt("%s/hopper-sac_v2-s7", root);
    cr_assert_eq(mkdir(d, 0755), 0);
    char *p = s_fmt("%s/config.ini", d);
    s_write(p, "task = hopper\nalgo = sac_v2\nseed = 7\n");
    free(p);
    p = s_fmt("%s/eval.csv", d);
    s_write(p, "");
    free(p);
    char *n = s_fmt("%s '%s'", args, d);
    free(args), free(d);
    return n;
}

static void s_assert_png(const char *path) {
    size_t n;
    char *s = s_slurp(path, &n);
    cr_assert_gt(n, 2000, "%s: missing or too small (%zu bytes)", path, n);
    cr_assert_eq(memcmp(s, "\x89PNG\r\n\x1a\n", 8), 0, "%s: not a PNG", path);
    free(s);
}

static char *s_assert_svg(const char *path) {
    size_t n;
    char *s = s_slurp(path, &n);
    cr_assert_gt(n, 2000, "%s: missing or too small (%zu bytes)", path, n);
    cr_assert_not_null(strstr(s, "<svg"), "%s: no <svg", path);
    return s;
}

/* --- metasac-plot ------------------------------------------------------------------------------ */

Test(plot, figure1_panels_and_table, .timeout = 60) {
    char *root = s_tmpdir();
    char *args = s_make_grid(root);
    char *cmd = s_fmt("'%s' -o '%s/plots/hop' %s", PLOT, root, args);
    int st = s_run(root, cmd);
    char *out = s_out(root, "out"), *err = s_out(root, "err");
    cr_assert_eq(st, 0, "status %d\nstderr:\n%s", st, err);

    /* warnings name file and line; the rest is still plotted */
    cr_assert_not_null(strstr(err, "hopper-meta_sac-s2/eval.csv:7:"), "stderr:\n%s", err);
    cr_assert_not_null(strstr(err, "hopper-sac_v2-s3/metrics.jsonl:3:"), "stderr:\n%s", err);
    cr_assert_not_null(strstr(err, "hopper-sac_v2-s7/eval.csv: empty; run skipped"), "stderr:\n%s", err);

    const char *panels[] = {"return", "log_alpha"};
    for (int i = 0; i < 2; i++) {
        char *png = s_fmt("%s/plots/hop-hopper-%s.png", root, panels[i]);
        char *svgp = s_fmt("%s/plots/hop-hopper-%s.svg", root, panels[i]);
        s_assert_png(png);
        char *svg = s_assert_svg(svgp);
        for (int a = 0; a < 2; a++)
            cr_assert_not_null(strstr(svg, s_algos[a]), "%s lacks %s", svgp, s_algos[a]);
        cr_assert_not_null(strstr(svg, "3 seeds"), "%s: the key should count 3 seeds", svgp);
        free(png), free(svgp), free(svg);
    }

    /* the table: printed and written, same text */
    char *mdp = s_fmt("%s/plots/hop-summary.md", root);
    char *md = s_slurp(mdp, NULL);
    cr_assert_str_eq(md, out);
    cr_assert_not_null(strstr(md, "sample standard deviation (n-1"), "%s", md);
    cr_assert_not_null(strstr(md, "## hopper"), "%s", md);
    for (int a = 0; a < 2; a++) {
        double fin[3], best[3], sps[3], ups[3], la[3];
        for (int s = 1; s <= 3; s++) {
            fin[s - 1] = s_ret(a, s, N_EVAL - 1);
            best[s - 1] = -INFINITY;
            for (int k = 0; k < N_EVAL; k++) if (s_ret(a, s, k) > best[s - 1]) best[s - 1] = s_ret(a, s, k);
            sps[s - 1] = ups[s - 1] = 0;
            for (int j = 1; j < N_METRICS; j++) sps[s - 1] += s_sps(s, j), ups[s - 1] += s_ups(s, j);
            sps[s - 1] /= N_METRICS - 1, ups[s - 1] /= N_METRICS - 1;
            la[s - 1] = s_la(a, s, N_METRICS - 1);
        }
        double sd;
        char *pf = s_pm(fin, 3, 1), *pb = s_pm(best, 3, 1), *pl = s_pm(la, 3, 3);
        char *row = s_fmt("| %s | 3 | 100000 | %s | %s | %.1f | %.1f | %s |", s_algos[a], pf, pb,
                          s_mean_std(sps, 3, &sd), s_mean_std(ups, 3, &sd), pl);
        cr_assert_not_null(strstr(md, row), "expected row\n%s\nin\n%s", row, md);
        free(pf), free(pb), free(pl), free(row);
    }
    free(md), free(mdp), free(out), free(err), free(cmd), free(args);
    s_rmtree(root);
}

Test(plot, sample_std_convention, .timeout = 60) {
    /* one algorithm, final returns 100, 200, 300: 200.0 +- 100.0 (population std would be 81.6) */
    char *root = s_tmpdir();
    char *args = strdup("");
    for (int s = 1; s <= 3; s++) {
        char *d = s_fmt("%s/walker2d-sac_v1-s%d", root, s);
        cr_assert_eq(mkdir(d, 0755), 0);
        char *p = s_fmt("%s/config.ini", d), *t = s_fmt("task=walker2d\nalgo=sac_v1\nseed=%d\n", s);
        s_write(p, t);
        free(p), free(t);
        p = s_fmt("%s/eval.csv", d);
        t = s_fmt("env_steps,weight_version,mean,std,episodes\n0,0,%d,1,10\n10000,5,%d,1,10\n",
                  10 * s, 100 * s);
        s_write(p, t);
        free(p), free(t);
        char *n = s_fmt("%s '%s'", args, d);
        free(args), free(d);
        args = n;
    }
    char *cmd = s_fmt("'%s' -o '%s/w' %s", PLOT, root, args);
    int st = s_run(root, cmd);
    char *out = s_out(root, "out"), *err = s_out(root, "err");
    cr_assert_eq(st, 0, "stderr:\n%s", err);
    cr_assert_not_null(strstr(out, "| sac_v1 | 3 | 10000 | 200.0 +- 100.0 | 200.0 +- 100.0 | - | - | - |"),
                       "%s", out);
    cr_assert_not_null(strstr(err, "metrics.jsonl: missing"), "stderr:\n%s", err);
    free(out), free(err), free(cmd), free(args);
    s_rmtree(root);
}

Test(plot, td3_has_no_log_alpha_and_one_seed_has_no_std, .timeout = 60) {
    char *root = s_tmpdir();
    char *d1 = s_make_run(root, "ant", "td3", 0, 1, 0, 0);
    char *d2 = s_make_run(root, "ant", "meta_sac", 1, 1, 0, 0);
    char *cmd = s_fmt("'%s' -o '%s/ant' '%s' '%s'", PLOT, root, d1, d2);
    int st = s_run(root, cmd);
    char *out = s_out(root, "out"), *err = s_out(root, "err");
    cr_assert_eq(st, 0, "stderr:\n%s", err);
    char *p = s_fmt("%s/ant-ant-return.svg", root);
    char *svg = s_assert_svg(p);
    cr_assert_not_null(strstr(svg, "td3"));
    free(p), free(svg);
    p = s_fmt("%s/ant-ant-log_alpha.svg", root);
    svg = s_assert_svg(p);
    cr_assert_null(strstr(svg, "td3"), "td3 has no alpha: it must not be in the log alpha panel");
    cr_assert_not_null(strstr(svg, "meta_sac (1 seed)"));
    free(p), free(svg);
    cr_assert_not_null(strstr(out, "| td3 | 1 | 100000 | 80.2 +- n/a |"), "%s", out);
    cr_assert_not_null(strstr(out, "- (none) |"), "%s", out);
    free(out), free(err), free(cmd), free(d1), free(d2);
    s_rmtree(root);
}

Test(plot, directory_without_config_ini_is_an_error, .timeout = 60) {
    char *root = s_tmpdir();
    char *good = s_make_run(root, "hopper", "sac_v2", 1, 1, 0, 0);
    char *bad = s_fmt("%s/not-a-run", root);
    cr_assert_eq(mkdir(bad, 0755), 0);
    char *cmd = s_fmt("'%s' -o '%s/x' '%s' '%s'", PLOT, root, good, bad);
    int st = s_run(root, cmd);
    char *err = s_out(root, "err");
    cr_assert_neq(st, 0);
    char *msg = s_fmt("%s: no config.ini", bad);
    cr_assert_not_null(strstr(err, msg), "stderr:\n%s", err);
    char *png = s_fmt("%s/x-hopper-return.png", root);
    cr_assert_neq(access(png, F_OK), 0, "nothing may be written on a bad argument");
    free(err), free(cmd), free(msg), free(png), free(good), free(bad);
    s_rmtree(root);
}

Test(plot, nothing_plottable_fails, .timeout = 60) {
    char *root = s_tmpdir();
    char *d = s_fmt("%s/r1", root), *d2 = s_fmt("%s/r2", root);
    cr_assert_eq(mkdir(d, 0755), 0);
    cr_assert_eq(mkdir(d2, 0755), 0);
    char *p = s_fmt("%s/config.ini", d);
    s_write(p, "task = hopper\nalgo = sac_v2\nseed = 1\n");
    free(p);
    p = s_fmt("%s/config.ini", d2);
    s_write(p, "task = hopper\nalgo = sac_v2\nseed = 2\n");
    free(p);
    p = s_fmt("%s/eval.csv", d2); /* header and one garbage line */
    s_write(p, "env_steps,weight_version,mean,std,episodes\n10000,1,abc,1,10\n");
    free(p);
    char *cmd = s_fmt("'%s' -o '%s/x' '%s' '%s'", PLOT, root, d, d2);
    int st = s_run(root, cmd);
    char *err = s_out(root, "err");
    cr_assert_eq(st, 1, "stderr:\n%s", err);
    cr_assert_not_null(strstr(err, "r1/eval.csv: missing; run skipped"), "stderr:\n%s", err);
    cr_assert_not_null(strstr(err, "r2/eval.csv:2: mean \"abc\""), "stderr:\n%s", err);
    cr_assert_not_null(strstr(err, "nothing to plot"), "stderr:\n%s", err);
    free(err), free(cmd), free(d), free(d2);
    s_rmtree(root);
}

Test(plot, usage_errors_and_help, .timeout = 60) {
    char *root = s_tmpdir();
    char *cmd = s_fmt("'%s' --help", PLOT);
    cr_assert_eq(s_run(root, cmd), 0);
    char *out = s_out(root, "out");
    cr_assert_not_null(strstr(out, "SAMPLE standard deviation"));
    free(cmd), free(out);
    cmd = s_fmt("'%s' '%s'", PLOT, root); /* no -o */
    cr_assert_eq(s_run(root, cmd), 2);
    char *err = s_out(root, "err");
    cr_assert_not_null(strstr(err, "missing -o PREFIX"), "%s", err);
    free(cmd), free(err);
    s_rmtree(root);
}

/* --- metasac-sweep ----------------------------------------------------------------------------- */

/* The sweep tests cd into their temp dir (runs/ is relative): the script's absolute path. */
static char *s_sweep_path(void) {
    char *p = realpath(SWEEP, NULL);
    cr_assert_not_null(p, "%s not found", SWEEP);
    return p;
}

/* Runs metasac-sweep with args (no launcher needed: validation comes first); expects status 2
 * and want in stderr. */
static void s_sweep_rejects(const char *args, const char *want) {
    char *root = s_tmpdir();
    char *sweep = s_sweep_path();
    char *cmd = s_fmt("cd '%s' && METASAC_BIN_DIR='%s' '%s' %s", root, root, sweep, args);
    free(sweep);
    int st = s_run(root, cmd);
    char *err = s_out(root, "err");
    cr_assert_eq(st, 2, "%s: status %d, stderr:\n%s", args, st, err);
    cr_assert_not_null(strstr(err, want), "%s: expected '%s' in stderr:\n%s", args, want, err);
    char *runs = s_fmt("%s/runs", root);
    cr_assert_neq(access(runs, F_OK), 0, "%s: a rejected sweep must create nothing", args);
    free(err), free(cmd), free(runs);
    s_rmtree(root);
}

Test(sweep, rejects_bad_parallel, .timeout = 60) {
    s_sweep_rejects("--parallel 0", "--parallel '0': expected a positive integer");
    s_sweep_rejects("--parallel=abc", "--parallel 'abc': expected a positive integer");
    s_sweep_rejects("--parallel -2", "--parallel '-2'");
    s_sweep_rejects("--parallel 1.5", "--parallel '1.5'");
    s_sweep_rejects("--parallel", "--parallel needs a value");
}

Test(sweep, rejects_unknown_names_and_bad_flags, .timeout = 60) {
    s_sweep_rejects("--algos meta_sac,sac_v3", "unknown algo 'sac_v3'");
    s_sweep_rejects("--tasks hopper,cartpole", "unknown task 'cartpole'");
    s_sweep_rejects("--seeds 1,x", "'x' is not a non-negative integer seed");
    s_sweep_rejects("--seeds 1,1", "'1' given twice");
    s_sweep_rejects("--name ../up", "--name '../up'");
    s_sweep_rejects("--bogus", "unknown argument '--bogus'");
    s_sweep_rejects("-- --seed=4", "the sweep sets --task, --algo, --seed and --run_dir");
    s_sweep_rejects("-- total_steps=5", "learner flags have the form --key=value");
    s_sweep_rejects("", "launcher"); /* METASAC_BIN_DIR is an empty directory */
}

Test(sweep, grid_resume_and_table_with_a_fake_launcher, .timeout = 60) {
    char *root = s_tmpdir();
    char *sweep = s_sweep_path();
    char *bin = s_fmt("%s/bin", root);
    cr_assert_eq(mkdir(bin, 0755), 0);
    /* Stands in for metasac-run: logs its argv, writes a finished run (evals to total_steps). */
    char *fake = s_fmt("%s/metasac-run", bin);
    s_write(fake,
            "#!/bin/sh\n"
            "for a; do case $a in --task=*) t=${a#*=};; --algo=*) al=${a#*=};; --seed=*) s=${a#*=};;\n"
            "  --run_dir=*) d=${a#*=};; --total_steps=*) n=${a#*=};; esac; done\n"
            "echo \"$*\" >> \"$(dirname \"$0\")/calls\"\n"
            "printf 'task = %s\\nalgo = %s\\nseed = %s\\n' $t $al $s > $d/config.ini\n"
            "echo env_steps,weight_version,mean,std,episodes > $d/eval.csv\n"
            "k=0; while [ $k -le $n ]; do echo \"$k,1,$((k / 100 + s)),1,10\" >> $d/eval.csv;\n"
            "  echo \"{\\\"env_steps\\\": $k, \\\"env_sps\\\": 10, \\\"updates_ps\\\": 5, "
            "\\\"log_alpha\\\": -1}\" >> $d/metrics.jsonl; k=$((k + 10000)); done\n");
    cr_assert_eq(chmod(fake, 0755), 0);
    char *cmd = s_fmt("cd '%s' && METASAC_BIN_DIR='%s' '%s' --algos meta_sac,sac_v2 --seeds 1,2 "
                      "--parallel 2 --name t -- --total_steps=30000 --actors=2",
                      root, bin, sweep);
    int st = s_run(root, cmd);
    char *out = s_out(root, "out"), *err = s_out(root, "err");
    cr_assert_eq(st, 0, "stderr:\n%s", err);
    char *callsp = s_fmt("%s/calls", bin);
    char *calls = s_slurp(callsp, NULL);
    cr_assert_not_null(strstr(calls, "--task=hopper --algo=sac_v2 --seed=2 --run_dir=runs/t/hopper-sac_v2-s2 "
                                     "--total_steps=30000 --actors=2"), "calls:\n%s", calls);
    int n = 0;
    for (char *c = calls; (c = strchr(c, '\n')); c++) n++;
    cr_assert_eq(n, 4, "calls:\n%s", calls);
    /* final return per seed: 30000/100 + s = 301, 302 -> 301.5 +- 0.7 */
    cr_assert_not_null(strstr(out, "| meta_sac | 2 | 30000 | 301.5 +- 0.7 |"), "%s", out);
    char *png = s_fmt("%s/runs/t/plots/t-hopper-return.png", root);
    s_assert_png(png);
    free(out), free(err), free(calls);

    /* rerun: every run already reaches total_steps, so the launcher is not called again */
    st = s_run(root, cmd);
    err = s_out(root, "err");
    cr_assert_eq(st, 0, "stderr:\n%s", err);
    cr_assert_not_null(strstr(err, "4 already finished, 0 started"), "stderr:\n%s", err);
    calls = s_slurp(callsp, NULL);
    n = 0;
    for (char *c = calls; (c = strchr(c, '\n')); c++) n++;
    cr_assert_eq(n, 4, "a finished run was started again:\n%s", calls);
    free(err), free(calls), free(callsp), free(png), free(cmd), free(fake), free(bin), free(sweep);
    s_rmtree(root);
}

Test(sweep, dry_run_lists_the_grid, .timeout = 60) {
    char *root = s_tmpdir();
    char *sweep = s_sweep_path();
    char *cmd = s_fmt("cd '%s' && METASAC_BIN_DIR='%s' '%s' --dry-run --algos td3 --tasks hopper,ant "
                      "--seeds 3 --name d -- --actors=2",
                      root, root, sweep);
    int st = s_run(root, cmd);
    char *out = s_out(root, "out"), *err = s_out(root, "err");
    cr_assert_eq(st, 0, "stderr:\n%s", err);
    cr_assert_not_null(strstr(out, "--task=hopper --algo=td3 --seed=3 --run_dir=runs/d/hopper-td3-s3 --actors=2"), "%s", out);
    cr_assert_not_null(strstr(out, "--run_dir=runs/d/ant-td3-s3"), "%s", out);
    free(out), free(err), free(cmd), free(sweep);
    s_rmtree(root);
}
