/* metasac-export (learner/export.c): a learner built from a run directory's config.ini as the
 * learner builds it is checkpointed, exported, loaded by NumPy (Debian's python3-numpy) and run
 * there (tests/export_check.py); every action must equal pi_forward_f's within 1e-5. The check
 * itself must catch a transposed tensor and a damaged file. The policy-only reader agrees with
 * checkpoint_load_file, falls back to checkpoint.prev.bin without touching the run directory,
 * never allocates the replay buffer, and every error is a clear message with exit status 1. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "checkpoint.h"
#include "config.h"
#include "export.h"
#include "replay.h"
#include "sac.h"
#include "tasks/task.h"

#ifndef METASAC_SOURCE_DIR
#define METASAC_SOURCE_DIR "."
#endif
#define CHECK_PY METASAC_SOURCE_DIR "/tests/export_check.py"
#define PYTHON "/usr/bin/python3"

/* ---- helpers ------------------------------------------------------------------------------- */

static char *s_fmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    cr_assert_geq(vasprintf(&s, fmt, ap), 0);
    va_end(ap);
    return s;
}

static char *s_tmpdir(void) {
    char *d = rl_strdup("/tmp/metasac-export-XXXXXX");
    cr_assert(mkdtemp(d));
    return d;
}

static void s_rmtree(char *dir) {
    char *cmd = s_fmt("rm -rf '%s'", dir);
    cr_expect(system(cmd) == 0);
    free(cmd);
    free(dir);
}

/* Runs cmd through sh with stderr joined to stdout; returns the exit status, output in out. */
static int s_run(const char *cmd, char *out, size_t outlen) {
    char *full = s_fmt("%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    cr_assert(p, "popen %s", cmd);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    int st = pclose(p);
    free(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static const char *s_bin(void) {
    const char *bin = getenv("METASAC_BIN_DIR");
    cr_assert(bin, "METASAC_BIN_DIR names build/bin (make test sets it)");
    return bin;
}

static char *s_slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = rl_malloc((size_t)len + 1);
    cr_assert(fread(b, 1, (size_t)len, f) == (size_t)len);
    b[len] = 0;
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void s_flip_byte(const char *path, long at) {
    FILE *f = fopen(path, "r+b");
    cr_assert(f);
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

/* ---- a learner as server_new builds it from a run directory's config ---------------------- */

typedef struct {
    config_t cfg;
    task_model_t *model;
    nn_shape_t shape;
    sac_f *agent;
    replay_t *replay;
    d0_t *d0;
    rng_t rng;
} learner_t;

static void s_config(config_t *cfg, const char *task, const char *algo) {
    char err[CONFIG_ERR_MAX];
    config_defaults(cfg);
    cr_assert(config_set(cfg, "task", task, err, sizeof err) == 0, "%s", err);
    cr_assert(config_set(cfg, "algo", algo, err, sizeof err) == 0, "%s", err);
    cr_assert(config_set(cfg, "hidden", "24", err, sizeof err) == 0, "%s", err);
    cr_assert(config_set(cfg, "batch", "16", err, sizeof err) == 0, "%s", err);
    cr_assert(config_set(cfg, "d0_size", "8", err, sizeof err) == 0, "%s", err);
    cr_assert(config_set(cfg, "replay_capacity", "500", err, sizeof err) == 0, "%s", err);
    cr_assert(config_check(cfg, err, sizeof err) == 0, "%s", err);
}

static void s_write_config(const char *dir, const config_t *cfg) {
    char *p = s_fmt("%s/config.ini", dir);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    config_dump(cfg, f);
    fclose(f);
    free(p);
}

static void s_learner_new(learner_t *l, const config_t *cfg, uint64_t seed) {
    l->cfg = *cfg;
    l->model = task_model_new(config_task_name(cfg->task));
    cr_assert(l->model);
    int O = task_model_obs_dim(l->model), A = task_model_act_dim(l->model);
    nn_shape_init(&l->shape, O, A, cfg->hidden);
    sac_opts_t o;
    sac_opts_default(&o, (algo_t)cfg->algo, A);
    o.alpha = cfg->alpha;
    int cap = cfg->batch > cfg->d0_size ? cfg->batch : cfg->d0_size;
    l->agent = sac_new_f(&l->shape, &o, task_model_action_low(l->model),
                         task_model_action_high(l->model), cap, seed, RNG_STREAM_LEARNER);
    l->replay = replay_new(O, A, (size_t)cfg->replay_capacity);
    l->d0 = d0_new(O, cfg->d0_size, D0_FIXED);
    rng_seed(&l->rng, seed, 9);
}

static void s_learner_free(learner_t *l) {
    sac_destroy_f(&l->agent);
    replay_destroy(&l->replay);
    d0_destroy(&l->d0);
    task_model_destroy(&l->model);
}

/* A trained-looking policy (non-zero biases, every weight distinct), some replay and D0 rows,
 * and a weight version. */
static void s_learner_fill(learner_t *l, long updates) {
    rng_t r;
    rng_seed(&r, 77 + (uint64_t)updates, 3);
    for (size_t i = 0; i < l->shape.pi_n; i++) l->agent->phi[i] = 0.4f * (float)rng_normal(&r);
    int O = l->shape.obs_dim, A = l->shape.act_dim;
    float *o = rl_calloc((size_t)O, sizeof(float)), *a = rl_calloc((size_t)A, sizeof(float));
    for (int t = 0; t < 30; t++) {
        for (int k = 0; k < O; k++) o[k] = (float)rng_normal(&r);
        replay_insert(l->replay, o, a, 0.5f, o, 0);
        d0_offer(l->d0, o, &l->rng);
    }
    free(o);
    free(a);
    l->agent->updates = updates;
}

static void s_save(learner_t *l, const char *dir, uint64_t env_steps) {
    char err[512];
    ckpt_t c = {config_task_name(l->cfg.task), config_algo_name(l->cfg.algo), l->agent,
                l->replay, l->d0, &l->rng, env_steps, 10000};
    cr_assert(checkpoint_save(dir, &c, err, sizeof err) == 0, "%s", err);
}

/* C's actions on n observations of growing size, as export_check.py's CASES file. */
static void s_cases(learner_t *l, const char *path, int n) {
    int O = l->shape.obs_dim, A = l->shape.act_dim;
    float *obs = rl_calloc((size_t)n * (size_t)O, sizeof(float));
    rng_t r;
    rng_seed(&r, 5, 5);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < O; k++) obs[i * O + k] = (float)(rng_normal(&r) * (0.2 + i));
    pi_ws_f *w = pi_ws_new_f(&l->shape, n);
    pi_forward_f(&l->shape, l->agent->phi, l->agent->scale, l->agent->bias, obs, n, NULL, w);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < O; k++) fprintf(f, "%.9g ", obs[i * O + k]);
        for (int j = 0; j < A; j++) fprintf(f, "%.9g%c", w->act[i * A + j], j + 1 < A ? ' ' : '\n');
    }
    fclose(f);
    pi_ws_destroy_f(&w);
    free(obs);
}

static int s_check(const char *npz, const char *cases, const char *task, const char *algo,
                   char *out, size_t outlen) {
    char *cmd = s_fmt("'%s' '%s' '%s' '%s' %s %s", PYTHON, CHECK_PY, npz, cases, task, algo);
    int rc = s_run(cmd, out, outlen);
    free(cmd);
    return rc;
}

static int s_export(const char *dir, const char *out, char *msg, size_t msglen) {
    char *cmd = s_fmt("'%s/metasac-export' '%s' -o '%s'", s_bin(), dir, out);
    int rc = s_run(cmd, msg, msglen);
    free(cmd);
    return rc;
}

/* ---- tests --------------------------------------------------------------------------------- */

/* Every task's shapes and bounds (Humanoid's +-0.4 makes c != 1) and every algorithm once. */
static void s_round_trip(const char *task, const char *algo) {
    char *dir = s_tmpdir(), out[8192];
    config_t cfg;
    s_config(&cfg, task, algo);
    s_write_config(dir, &cfg);
    learner_t l;
    s_learner_new(&l, &cfg, 1);
    s_learner_fill(&l, 42);
    s_save(&l, dir, 1234);
    s_learner_free(&l);

    char *npz = s_fmt("%s/policy.npz", dir), *cases = s_fmt("%s/cases.txt", dir);
    cr_assert(s_export(dir, npz, out, sizeof out) == 0, "metasac-export failed: %s", out);
    cr_expect(strstr(out, "weight version 42"), "%s", out);

    /* the C reference: the whole learner restored by checkpoint_load_file (another seed, so
     * every weight comes from the file) */
    learner_t r;
    s_learner_new(&r, &cfg, 2);
    char err[512], *ck = s_fmt("%s/checkpoint.bin", dir);
    ckpt_t c = {task, algo, r.agent, r.replay, r.d0, &r.rng, 0, 0};
    cr_assert(checkpoint_load_file(ck, &c, err, sizeof err) == 0, "%s", err);
    s_cases(&r, cases, 6);
    int rc = s_check(npz, cases, task, algo, out, sizeof out);
    cr_expect(rc == 0, "%s/%s: NumPy's actions differ from C's: %s", task, algo, out);

    size_t n;
    char *bytes = s_slurp(npz, &n);
    cr_expect(memmem(bytes, n, "\"weight_version\": 42", 20) &&
              memmem(bytes, n, "\"env_steps\": 1234", 17), "metadata holds the counters");
    free(bytes);
    s_learner_free(&r);
    free(ck);
    free(npz);
    free(cases);
    s_rmtree(dir);
}

Test(export, numpy_runs_the_exported_hopper_policy_like_c, .timeout = 60) {
    s_round_trip("hopper", "meta_sac");
}

Test(export, numpy_runs_the_exported_humanoid_policy_like_c, .timeout = 60) {
    s_round_trip("humanoid", "sac_v1");
}

Test(export, numpy_runs_the_exported_td3_policy_like_c, .timeout = 60) {
    s_round_trip("half_cheetah", "td3");
}

/* The check is only worth something if it fails: a transposed square l2_w (same shape, wrong
 * orientation), a damaged member, a truncated file. */
Test(export, the_numpy_check_catches_a_transposed_tensor_and_a_damaged_file, .timeout = 60) {
    char *dir = s_tmpdir(), out[8192];
    config_t cfg;
    s_config(&cfg, "hopper", "sac_v2");
    learner_t l;
    s_learner_new(&l, &cfg, 1);
    s_learner_fill(&l, 7);
    char *npz = s_fmt("%s/p.npz", dir), *cases = s_fmt("%s/cases.txt", dir), err[512];
    s_cases(&l, cases, 5);
    const char *meta = "{\"task\": \"hopper\", \"algo\": \"sac_v2\", \"obs_dim\": 11, "
                       "\"act_dim\": 3, \"hidden\": 24}";
    const float *low = task_model_action_low(l.model), *high = task_model_action_high(l.model);
    cr_assert(export_write_policy(npz, l.agent, low, high, meta, err, sizeof err) == 0, "%s", err);
    cr_assert(s_check(npz, cases, "hopper", "sac_v2", out, sizeof out) == 0, "%s", out);

    size_t n;
    char *good = s_slurp(npz, &n);
    s_flip_byte(npz, (long)n / 2);  /* inside a member's data: its CRC-32 no longer matches */
    cr_expect(s_check(npz, cases, "hopper", "sac_v2", out, sizeof out) != 0,
              "a damaged file is refused");
    FILE *f = fopen(npz, "wb");
    fwrite(good, 1, n - 30, f);  /* truncated: no end of central directory */
    fclose(f);
    cr_expect(s_check(npz, cases, "hopper", "sac_v2", out, sizeof out) != 0 &&
              strstr(out, "np.load"), "a truncated file does not load: %s", out);
    free(good);

    const nn_layer_t *L2 = &l.shape.pi[1];
    float *w = l.agent->phi + L2->w, *t = rl_malloc(sizeof(float) * 24 * 24);
    for (int i = 0; i < 24; i++)
        for (int j = 0; j < 24; j++) t[j * 24 + i] = w[i * 24 + j];
    memcpy(w, t, sizeof(float) * 24 * 24);
    free(t);
    cr_assert(export_write_policy(npz, l.agent, low, high, meta, err, sizeof err) == 0, "%s", err);
    cr_expect(s_check(npz, cases, "hopper", "sac_v2", out, sizeof out) != 0 &&
              strstr(out, "action mismatch"), "a transposed l2_w is caught: %s", out);
    s_learner_free(&l);
    free(npz);
    free(cases);
    s_rmtree(dir);
}

Test(export, the_policy_reader_restores_the_same_state_as_checkpoint_load_file) {
    char *dir = s_tmpdir(), err[512];
    config_t cfg;
    s_config(&cfg, "walker2d", "meta_sac");
    learner_t l, r;
    s_learner_new(&l, &cfg, 1);
    s_learner_fill(&l, 9);
    s_save(&l, dir, 99);
    s_learner_new(&r, &cfg, 3);
    char *ck = s_fmt("%s/checkpoint.bin", dir);
    ckpt_t c = {"walker2d", "meta_sac", r.agent, r.replay, r.d0, &r.rng, 0, 0};
    cr_assert(checkpoint_load_file(ck, &c, err, sizeof err) == 0, "%s", err);
    float *state = rl_calloc(l.agent->state_n, sizeof(float));
    uint64_t steps = 0, upd = 0;
    cr_assert(checkpoint_read_state(ck, "walker2d", "meta_sac", &l.shape, state,
                                      l.agent->state_n, &steps, &upd, err, sizeof err) == 0,
              "%s", err);
    cr_expect(memcmp(state, r.agent->state, sizeof(float) * l.agent->state_n) == 0);
    cr_expect(memcmp(state, l.agent->state, sizeof(float) * l.agent->state_n) == 0);
    cr_expect(steps == 99 && upd == 9);
    /* another run's checkpoint, and a damaged one, are refused like checkpoint_load_file does */
    cr_expect(checkpoint_read_state(ck, "hopper", "meta_sac", &l.shape, state,
                                      l.agent->state_n, NULL, NULL, err, sizeof err) < 0 &&
              strstr(err, "a checkpoint of walker2d/meta_sac"), "%s", err);
    s_flip_byte(ck, 200);
    cr_expect(checkpoint_read_state(ck, "walker2d", "meta_sac", &l.shape, state,
                                      l.agent->state_n, NULL, NULL, err, sizeof err) < 0 &&
              strstr(err, "corrupt"), "%s", err);
    free(state);
    free(ck);
    s_learner_free(&l);
    s_learner_free(&r);
    s_rmtree(dir);
}

Test(export, a_corrupt_checkpoint_falls_back_to_the_previous_one_and_the_run_is_untouched,
     .timeout = 60) {
    char *dir = s_tmpdir(), out[8192];
    config_t cfg;
    s_config(&cfg, "hopper", "meta_sac");
    s_write_config(dir, &cfg);
    learner_t l;
    s_learner_new(&l, &cfg, 1);
    s_learner_fill(&l, 10);
    s_save(&l, dir, 100);  /* becomes checkpoint.prev.bin */
    s_learner_fill(&l, 20);
    s_save(&l, dir, 200);
    s_learner_free(&l);
    char *ck = s_fmt("%s/checkpoint.bin", dir), *npz = s_fmt("%s/p.npz", dir);
    s_flip_byte(ck, 300);
    cr_assert(s_export(dir, npz, out, sizeof out) == 0, "%s", out);
    cr_expect(strstr(out, "warning: checkpoint.bin passed over") && strstr(out, "corrupt") &&
              strstr(out, "weight version 10"), "%s", out);
    struct stat st;
    cr_expect(stat(ck, &st) == 0, "the refused checkpoint.bin stays where it is");
    char *ls = s_fmt("ls '%s' | grep -c corrupt", dir);
    cr_expect(s_run(ls, out, sizeof out) != 0, "nothing was moved aside: %s", out);
    free(ls);
    free(ck);
    free(npz);
    s_rmtree(dir);
}

Test(export, errors_are_clear_messages_with_exit_status_1, .timeout = 60) {
    char *dir = s_tmpdir(), out[8192];
    char *npz = s_fmt("%s/p.npz", dir);
    cr_expect(s_export(dir, npz, out, sizeof out) == 1 && strstr(out, "config.ini") &&
              strstr(out, "run directory"), "not a run directory: %s", out);
    config_t cfg;
    s_config(&cfg, "hopper", "sac_v2");
    s_write_config(dir, &cfg);
    cr_expect(s_export(dir, npz, out, sizeof out) == 1 && strstr(out, "no checkpoint in"),
              "no checkpoint: %s", out);
    learner_t l;
    s_learner_new(&l, &cfg, 1);
    s_learner_fill(&l, 1);
    s_save(&l, dir, 1);
    s_save(&l, dir, 2);
    s_learner_free(&l);
    char *ck = s_fmt("%s/checkpoint.bin", dir), *pv = s_fmt("%s/checkpoint.prev.bin", dir);
    s_flip_byte(ck, 100);
    s_flip_byte(pv, 100);
    cr_expect(s_export(dir, npz, out, sizeof out) == 1 && strstr(out, "no usable checkpoint") &&
              strstr(out, "checkpoint.bin:") && strstr(out, "checkpoint.prev.bin:"),
              "both corrupt: %s", out);
    cr_expect(access(npz, F_OK) != 0, "no output after an error");
    s_flip_byte(pv, 100);  /* repaired */
    char *bad = s_fmt("%s/no/such/dir/p.npz", dir);
    cr_expect(s_export(dir, bad, out, sizeof out) == 1 && strstr(out, "cannot write") &&
              strstr(out, "No such file"), "unwritable output: %s", out);
    /* a checkpoint of another algorithm than config.ini says */
    char *cmd = s_fmt("sed -i 's/^algo = .*/algo = td3/' '%s/config.ini'", dir);
    cr_assert(system(cmd) == 0);
    cr_expect(s_export(dir, npz, out, sizeof out) == 1 && strstr(out, "hopper/sac_v2") &&
              strstr(out, "hopper/td3"), "mismatched run: %s", out);
    free(cmd);
    cmd = s_fmt("'%s/metasac-export' '%s'", s_bin(), dir);
    cr_expect(s_run(cmd, out, sizeof out) == 2 && strstr(out, "usage"), "no -o: %s", out);
    free(cmd);
    free(bad);
    free(ck);
    free(pv);
    free(npz);
    s_rmtree(dir);
}

/* Humanoid with the default replay_capacity (1M rows = 3 GB of replay): the export must not
 * allocate it. The checkpoint is written from a replay_t that claims the capacity but holds no
 * row (checkpoint_save writes only held rows); the export then runs under a 1 GB address-space
 * limit, which a full checkpoint_load_file (replay_new of 1M rows) could not live in. */
Test(export, a_humanoid_export_does_not_allocate_the_replay_buffer, .timeout = 60) {
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("AddressSanitizer reserves terabytes of address space");
#endif
    char *dir = s_tmpdir(), out[8192];
    config_t cfg;
    s_config(&cfg, "humanoid", "meta_sac");
    learner_t l;
    s_learner_new(&l, &cfg, 1);
    s_learner_fill(&l, 5);
    char err[CONFIG_ERR_MAX];
    cr_assert(config_set(&cfg, "replay_capacity", "1000000", err, sizeof err) == 0, "%s", err);
    s_write_config(dir, &cfg);
    replay_t *small = l.replay, big = {.obs_dim = small->obs_dim, .act_dim = small->act_dim,
                                       .capacity = 1000000};
    l.replay = &big;  /* claims the capacity, holds no row: nothing of it is read or written */
    s_save(&l, dir, 5);
    l.replay = small;
    s_learner_free(&l);
    char *npz = s_fmt("%s/p.npz", dir);
    char *cmd = s_fmt("ulimit -v 1000000 && OPENBLAS_NUM_THREADS=1 '%s/metasac-export' '%s' -o '%s'",
                      s_bin(), dir, npz);
    cr_expect(s_run(cmd, out, sizeof out) == 0, "export under a 1 GB limit: %s", out);
    free(cmd);
    free(npz);
    s_rmtree(dir);
}
