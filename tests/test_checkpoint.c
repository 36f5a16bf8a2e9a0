/* learner/checkpoint.c and resuming: a checkpoint restores every piece of learner state
 * exactly; a truncated or corrupt file is refused and the previous one used; a checkpoint of
 * another task is refused. In synchronous mode two runs with one seed write identical metrics
 * and weights, and "run N, stop, resume, run N more" ends with the same weights as "run 2N". */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actor.h"
#include "alloc.h"
#include "checkpoint.h"
#include "config.h"
#include "log.h"
#include "server.h"

/* ---- the file ---- */

typedef struct {
    nn_shape_t shape;
    sac_f *agent;
    replay_t *replay;
    d0_t *d0;
    rng_t rng;
    batch_buf_t *b1, *b2;
} learner_state;

static void s_state_new(learner_state *l, uint64_t seed) {
    nn_shape_init(&l->shape, 5, 2, 16);
    sac_opts_t o;
    sac_opts_default(&o, ALGO_META_SAC, 2);
    float low[2] = {-1, -2}, high[2] = {1, 2};
    l->agent = sac_new_f(&l->shape, &o, low, high, 16, seed, 1);
    l->replay = replay_new(5, 2, 100);
    l->d0 = d0_new(5, 8, D0_FIXED);
    rng_seed(&l->rng, seed, 9);
    l->b1 = batch_buf_new(5, 2, 16);
    l->b2 = batch_buf_new(5, 2, 16);
}

static void s_state_free(learner_state *l) {
    sac_destroy_f(&l->agent);
    replay_destroy(&l->replay);
    d0_destroy(&l->d0);
    batch_buf_destroy(&l->b1);
    batch_buf_destroy(&l->b2);
}

/* Synthetic transitions and resets, then n Meta-SAC updates sampled from the learner's RNG. */
static void s_fill(learner_state *l, int transitions) {
    rng_t r;
    rng_seed(&r, 123, 4);
    float o[5], a[2], n[5];
    for (int t = 0; t < transitions; t++) {
        for (int k = 0; k < 5; k++) { o[k] = (float)rng_normal(&r); n[k] = (float)rng_normal(&r); }
        for (int k = 0; k < 2; k++) a[k] = rng_uniformf(&r);
        replay_insert(l->replay, o, a, (float)rng_normal(&r), n, t % 17 == 0);
        if (t % 3 == 0) d0_offer(l->d0, o, &l->rng);
    }
}

static void s_train(learner_state *l, int n) {
    for (int i = 0; i < n; i++) {
        batch_f b1 = replay_sample(l->replay, &l->rng, 16, l->b1);
        batch_f b2 = replay_sample(l->replay, &l->rng, 16, l->b2);
        sac_update_f(l->agent, &b1, &b2, l->d0->obs, l->d0->size, NULL);
    }
}

static ckpt_t s_view(learner_state *l, uint64_t steps) {
    ckpt_t c = {"hopper", "meta_sac", l->agent, l->replay, l->d0, &l->rng, steps, 7000};
    return c;
}

static char *s_tmpdir(void) {
    char *d = rl_strdup("/tmp/metasac-ckpt-XXXXXX");
    cr_assert(mkdtemp(d));
    return d;
}

Test(checkpoint, resuming_from_a_checkpoint_continues_exactly) {
    char *dir = s_tmpdir(), err[512];
    learner_state a, b, straight;
    s_state_new(&a, 1);
    s_state_new(&straight, 1);
    s_fill(&a, 150);  /* wraps the ring of 100 */
    s_fill(&straight, 150);
    s_train(&a, 5);
    s_train(&straight, 10);
    ckpt_t ca = s_view(&a, 150);
    cr_assert(checkpoint_save(dir, &ca, err, sizeof err) == 0, "%s", err);
    s_state_new(&b, 2);  /* a different seed: everything must come from the file */
    ckpt_t cb = s_view(&b, 0);
    cb.next_eval = 0;
    cr_assert(checkpoint_load(dir, &cb, err, sizeof err) == 1, "%s", err);
    cr_expect(cb.env_steps == 150 && cb.next_eval == 7000);
    cr_expect(b.replay->size == 100 && b.replay->next == 50 && b.replay->inserted == 150);
    cr_expect(b.d0->size == 8 && b.d0->seen == a.d0->seen);
    cr_expect(b.agent->updates == 5 && b.agent->t_alpha == a.agent->t_alpha);
    s_train(&b, 5);
    cr_expect(memcmp(b.agent->state, straight.agent->state, sizeof(float) * b.agent->state_n) == 0,
              "5 + (checkpoint) + 5 updates equal 10 updates, bit for bit");
    s_state_free(&a);
    s_state_free(&b);
    s_state_free(&straight);
    free(dir);
}

static long s_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

Test(checkpoint, a_truncated_or_corrupt_file_is_refused_and_the_previous_one_used) {
    char *dir = s_tmpdir(), err[512], cur[512], prev[512];
    snprintf(cur, sizeof cur, "%s/checkpoint.bin", dir);
    snprintf(prev, sizeof prev, "%s/checkpoint.prev.bin", dir);
    learner_state a, b;
    s_state_new(&a, 1);
    s_fill(&a, 60);
    ckpt_t ca = s_view(&a, 60);
    cr_assert(checkpoint_save(dir, &ca, err, sizeof err) == 0);
    s_fill(&a, 20);
    ca.env_steps = 80;
    cr_assert(checkpoint_save(dir, &ca, err, sizeof err) == 0);  /* the first one becomes prev */
    long n = s_size(cur);
    cr_assert(n > 100 && s_size(prev) > 100);
    char *bytes = rl_malloc((size_t)n);
    FILE *f = fopen(cur, "rb");
    cr_assert(fread(bytes, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    /* every truncation point refuses the file itself ... */
    int cuts[] = {0, 5, 8, 11, (int)(n / 2), (int)n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        f = fopen(cur, "wb");
        fwrite(bytes, 1, (size_t)cuts[i], f);
        fclose(f);
        s_state_new(&b, 3);
        ckpt_t cb = s_view(&b, 0);
        cr_expect(checkpoint_load_file(cur, &cb, err, sizeof err) == -1, "cut at %d accepted", cuts[i]);
        /* ... and checkpoint_load falls back to the previous one */
        cr_expect(checkpoint_load(dir, &cb, err, sizeof err) == 1 && cb.env_steps == 60,
                  "fallback: %s", err);
        cr_expect(strstr(err, "checkpoint.prev.bin") != NULL, "says which file: %s", err);
        s_state_free(&b);
    }
    /* one flipped byte in the middle: the checksum catches it */
    bytes[n / 2] ^= 0x40;
    f = fopen(cur, "wb");
    fwrite(bytes, 1, (size_t)n, f);
    fclose(f);
    s_state_new(&b, 3);
    ckpt_t cb = s_view(&b, 0);
    cr_expect(checkpoint_load_file(cur, &cb, err, sizeof err) == -1);
    cr_expect(strstr(err, "corrupt") || strstr(err, "decode") || strstr(err, "outside"), "%s", err);
    /* both unusable: refused with both reasons */
    unlink(prev);
    cr_expect(checkpoint_load(dir, &cb, err, sizeof err) == -1 && strstr(err, "no usable"), "%s", err);
    s_state_free(&b);
    s_state_free(&a);
    free(bytes);
    free(dir);
}

/* Issue 8, finding 9: after falling back to checkpoint.prev.bin, the next save rotated the
 * corrupt checkpoint.bin into prev (the last good one was lost), and a flipped header byte was
 * read as "a checkpoint of hnpper/meta_sac". */
Test(checkpoint, a_fallback_keeps_the_good_checkpoint_and_a_flipped_header_byte_is_corruption) {
    char *dir = s_tmpdir(), err[512], cur[512], prev[512];
    snprintf(cur, sizeof cur, "%s/checkpoint.bin", dir);
    snprintf(prev, sizeof prev, "%s/checkpoint.prev.bin", dir);
    learner_state a, b;
    s_state_new(&a, 1);
    s_fill(&a, 60);
    ckpt_t ca = s_view(&a, 60);
    cr_assert(checkpoint_save(dir, &ca, err, sizeof err) == 0, "%s", err);
    ca.env_steps = 80;
    cr_assert(checkpoint_save(dir, &ca, err, sizeof err) == 0, "%s", err);
    /* flip one byte of the task name inside the header record (after magic, length, CRC) */
    long n = s_size(cur);
    char *bytes = rl_malloc((size_t)n);
    FILE *f = fopen(cur, "rb");
    cr_assert(fread(bytes, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    char *task = memmem(bytes, 64, "hopper", 6);
    cr_assert(task, "the header holds the task name");
    task[1] ^= 0x01;  /* "hopper" -> "hnpper" */
    f = fopen(cur, "wb");
    fwrite(bytes, 1, (size_t)n, f);
    fclose(f);
    s_state_new(&b, 3);
    ckpt_t cb = s_view(&b, 0);
    cr_expect(checkpoint_load_file(cur, &cb, err, sizeof err) == -1);
    cr_expect(strstr(err, "corrupt") && !strstr(err, "hnpper"), "reported as: %s", err);
    /* the fallback uses prev and moves the corrupt file aside ... */
    cr_expect(checkpoint_load(dir, &cb, err, sizeof err) == 1 && cb.env_steps == 60, "%s", err);
    cr_expect(access(cur, F_OK) != 0, "the corrupt checkpoint.bin was moved aside: %s", err);
    cr_expect(strstr(err, "checkpoint.corrupt-"), "and the message says where: %s", err);
    /* ... so the next save keeps the good one as prev */
    ca.env_steps = 61;
    cr_assert(checkpoint_save(dir, &ca, err, sizeof err) == 0, "%s", err);
    s_state_free(&b);
    s_state_new(&b, 3);
    cb = s_view(&b, 0);
    cr_expect(checkpoint_load_file(prev, &cb, err, sizeof err) == 0 && cb.env_steps == 60,
              "prev is still the last good checkpoint: %s", err);
    s_state_free(&b);
    /* a non-finite state is never saved, and nothing is replaced */
    a.agent->phi[3] = NAN;
    cr_expect(checkpoint_save(dir, &ca, err, sizeof err) == -1 && strstr(err, "non-finite"),
              "%s", err);
    s_state_new(&b, 3);
    cb = s_view(&b, 0);
    cr_expect(checkpoint_load_file(cur, &cb, err, sizeof err) == 0 && cb.env_steps == 61, "%s",
              err);
    s_state_free(&b);
    s_state_free(&a);
    free(bytes);
    free(dir);
}

Test(checkpoint, a_checkpoint_of_another_task_is_refused_with_both_names) {
    char *dir = s_tmpdir(), err[512];
    learner_state a;
    s_state_new(&a, 1);
    s_fill(&a, 30);
    ckpt_t ca = s_view(&a, 30);
    cr_assert(checkpoint_save(dir, &ca, err, sizeof err) == 0);
    ca.task = "walker2d";
    cr_expect(checkpoint_load(dir, &ca, err, sizeof err) == -1);
    cr_expect(strstr(err, "hopper") && strstr(err, "walker2d"), "%s", err);
    s_state_free(&a);
    free(dir);
}

/* ---- synchronous runs ---- */

typedef struct {
    server_t *s;
    volatile sig_atomic_t stop;
} run_h;

static void *s_run_main(void *arg) {
    run_h *r = arg;
    server_run(r->s, &r->stop);
    return NULL;
}

typedef struct {
    actor_opts_t o;
    volatile sig_atomic_t stop;
} act_h;

static void *s_act_main(void *arg) {
    act_h *a = arg;
    actor_run(&a->o, &a->stop, NULL);
    return NULL;
}

static void s_sync_cfg(config_t *cfg, const char *dir, const char *tag, int64_t total) {
    config_defaults(cfg);
    cfg->task = TASK_HOPPER;
    cfg->algo = ALGO_META_SAC;
    cfg->sync = true;
    cfg->hidden = 32;
    cfg->batch = 32;
    cfg->d0_size = 32;
    cfg->update_after = 32;
    cfg->random_steps = 300;
    cfg->eval_interval = 0;
    cfg->checkpoint_interval = 0;
    cfg->total_steps = total;
    cfg->heartbeat_ms = 50;
    cfg->heartbeat_timeout_ms = 5000;
    snprintf(cfg->run_dir, sizeof cfg->run_dir, "%s", dir);
    snprintf(cfg->learner_bind, sizeof cfg->learner_bind, "ipc:///tmp/msac-%d-%s-r.ipc",
             (int)getpid(), tag);
    snprintf(cfg->weights_bind, sizeof cfg->weights_bind, "ipc:///tmp/msac-%d-%s-w.ipc",
             (int)getpid(), tag);
}

/* Runs the learner of cfg to its total_steps with the actor a (started if not running). */
static void s_learn(const config_t *cfg, act_h *a, pthread_t *ath, int start_actor,
                    float *weights, size_t *n) {
    char err[512];
    run_h r = {server_new(cfg, err, sizeof err), 0};
    cr_assert(r.s, "%s", err);
    if (start_actor) {
        actor_opts_default(&a->o);
        snprintf(a->o.learner, sizeof a->o.learner, "%s", server_endpoint(r.s, 0));
        snprintf(a->o.weights, sizeof a->o.weights, "%s", server_endpoint(r.s, 1));
        a->o.heartbeat_ms = 50;
        a->o.timeout_ms = 2000;  /* a reconnect mid-run would lose a step: not under load */
        a->o.ignore_stop = 1;    /* it outlives the learner that stops at N (and resumes) */
        a->stop = 0;
        pthread_create(ath, NULL, s_act_main, a);
    }
    pthread_t th;
    pthread_create(&th, NULL, s_run_main, &r);
    pthread_join(th, NULL);  /* stops by itself at total_steps, after a final checkpoint */
    const float *p = server_policy(r.s, n);
    memcpy(weights, p, sizeof(float) * *n);
    server_destroy(&r.s);
}

static char *s_slurp(const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s", path);
    char *buf = rl_calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void s_quiet(void) { log_level = getenv("TEST_LOG") ? LOG_INFO : LOG_ERROR; }

Test(checkpoint, sync_runs_reproduce_and_resume_exactly, .init = s_quiet, .timeout = 180) {
    enum { N = 1000 };
    size_t n;
    float *w_a = rl_malloc(sizeof(float) * 200000), *w_b = rl_malloc(sizeof(float) * 200000),
          *w_c = rl_malloc(sizeof(float) * 200000);
    char *d_a = s_tmpdir(), *d_b = s_tmpdir(), *d_c = s_tmpdir();
    config_t cfg;
    act_h act;
    pthread_t ath;
    /* two straight runs of 2N steps */
    s_sync_cfg(&cfg, d_a, "a", 2 * N);
    s_learn(&cfg, &act, &ath, 1, w_a, &n);
    act.stop = 1;
    pthread_join(ath, NULL);
    s_sync_cfg(&cfg, d_b, "b", 2 * N);
    s_learn(&cfg, &act, &ath, 1, w_b, &n);
    act.stop = 1;
    pthread_join(ath, NULL);
    char *m_a = s_slurp(d_a, "metrics.jsonl"), *m_b = s_slurp(d_b, "metrics.jsonl");
    cr_expect(strlen(m_a) > 100 && strchr(m_a, '\n') != strrchr(m_a, '\n'), "two metrics lines");
    cr_expect(strcmp(m_a, m_b) == 0, "identical metrics:\n%s---\n%s", m_a, m_b);
    cr_expect(memcmp(w_a, w_b, sizeof(float) * n) == 0, "identical weights");
    /* N steps, the learner stops (final checkpoint), a new learner resumes for N more; the
       actor stays up and reconnects by itself */
    s_sync_cfg(&cfg, d_c, "c", N);
    s_learn(&cfg, &act, &ath, 1, w_c, &n);
    cfg.total_steps = 2 * N;
    s_learn(&cfg, &act, &ath, 0, w_c, &n);
    act.stop = 1;
    pthread_join(ath, NULL);
    char *m_c = s_slurp(d_c, "metrics.jsonl");
    cr_expect(memcmp(w_a, w_c, sizeof(float) * n) == 0, "N + resume + N equals 2N");
    cr_expect(strcmp(m_a, m_c) == 0, "and the same metrics:\n%s---\n%s", m_a, m_c);
    free(m_a); free(m_b); free(m_c);
    free(w_a); free(w_b); free(w_c);
    free(d_a); free(d_b); free(d_c);
}

/* ---- a learner process killed with SIGKILL ---- */

/* The largest N of "checkpoint at N env steps" and of "resumed ... at N env steps" lines. */
static void s_scan_log(const char *dir, long *ckpt, long *resumed) {
    char path[512], line[1024];
    snprintf(path, sizeof path, "%s/learner.log", dir);
    *ckpt = *resumed = -1;
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        const char *p;
        long v;
        if ((p = strstr(line, "checkpoint at ")) && sscanf(p, "checkpoint at %ld", &v) == 1 &&
            v > *ckpt)
            *ckpt = v;
        if ((p = strstr(line, "resumed from ")) && (p = strstr(p, " at ")) &&
            sscanf(p, " at %ld", &v) == 1)
            *resumed = v;
    }
    fclose(f);
}

static pid_t s_learner_process(const char *dir, const char *tag) {
    const char *bin = getenv("METASAC_BIN_DIR");
    cr_assert(bin, "METASAC_BIN_DIR names build/bin (make test sets it)");
    static char exe[512], rd[600], lb[200], wb[200];
    snprintf(exe, sizeof exe, "%s/metasac-learner", bin);
    snprintf(rd, sizeof rd, "--run_dir=%s", dir);
    snprintf(lb, sizeof lb, "--learner_bind=ipc:///tmp/msac-%d-%s-r.ipc", (int)getpid(), tag);
    snprintf(wb, sizeof wb, "--weights_bind=ipc:///tmp/msac-%d-%s-w.ipc", (int)getpid(), tag);
    pid_t pid = fork();
    if (pid == 0) {
        if (!getenv("TEST_LOG")) freopen("/dev/null", "w", stderr);  /* learner.log has it */
        execl(exe, exe, "--task=hopper", "--algo=sac_v2", "--hidden=32", "--batch=32",
              "--update_after=32", "--random_steps=200", "--eval_interval=0",
              "--checkpoint_interval=400", "--heartbeat_ms=50", "--heartbeat_timeout_ms=2000",
              "--log_level=info", rd, lb, wb, (char *)NULL);
        _exit(127);
    }
    return pid;
}

Test(checkpoint, a_learner_killed_with_sigkill_resumes_from_its_last_checkpoint,
     .init = s_quiet, .timeout = 120) {
    char *dir = s_tmpdir();
    pid_t l = s_learner_process(dir, "k");
    act_h act;
    actor_opts_default(&act.o);
    snprintf(act.o.learner, sizeof act.o.learner, "ipc:///tmp/msac-%d-k-r.ipc", (int)getpid());
    snprintf(act.o.weights, sizeof act.o.weights, "ipc:///tmp/msac-%d-k-w.ipc", (int)getpid());
    act.o.heartbeat_ms = 50;
    act.o.timeout_ms = 500;
    act.stop = 0;
    pthread_t ath;
    pthread_create(&ath, NULL, s_act_main, &act);
    long ckpt = -1, resumed = -1;
    for (int i = 0; i < 600 && ckpt < 800; i++) {  /* two periodic checkpoints */
        usleep(50000);
        s_scan_log(dir, &ckpt, &resumed);
    }
    cr_assert(ckpt >= 800, "periodic checkpoints were written (last at %ld)", ckpt);
    kill(l, SIGKILL);
    waitpid(l, NULL, 0);
    s_scan_log(dir, &ckpt, &resumed);
    long before = ckpt;  /* the last one written before the kill */
    l = s_learner_process(dir, "k");  /* the same command on the same run directory */
    for (int i = 0; i < 600 && resumed < 0; i++) {
        usleep(50000);
        s_scan_log(dir, &ckpt, &resumed);
    }
    cr_expect(resumed == before, "resumed at %ld, the last checkpoint was at %ld", resumed, before);
    for (int i = 0; i < 600 && ckpt < before + 800; i++) {  /* the actor came back by itself */
        usleep(50000);
        s_scan_log(dir, &ckpt, &resumed);
    }
    cr_expect(ckpt >= before + 800, "training continued: last checkpoint at %ld", ckpt);
    kill(l, SIGTERM);
    int status;
    waitpid(l, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIGTERM: a clean exit");
    act.stop = 1;
    pthread_join(ath, NULL);
    free(dir);
}

/* Issue 10, findings 2, 3 and 6: a resume that is refused must not have rewritten config.ini and
 * must say why, whole, in learner.log; a nested run directory is created; a finished run
 * started again does nothing (no 0/s metrics line). */
Test(checkpoint, a_refused_resume_rewrites_nothing_and_a_finished_run_does_nothing,
     .init = s_quiet, .timeout = 120) {
    char *base = s_tmpdir(), dir[120], err[2048];
    snprintf(dir, sizeof dir, "%s/nested/deeper/run", base);  /* parents do not exist yet */
    config_t cfg;
    s_sync_cfg(&cfg, dir, "f", 400);
    cfg.sync = false;
    cfg.send_batch = 8;
    act_h act;
    pthread_t ath;
    size_t n;
    float *w = rl_malloc(sizeof(float) * 200000);
    s_learn(&cfg, &act, &ath, 1, w, &n);  /* to total_steps, final checkpoint */
    act.stop = 1;
    pthread_join(ath, NULL);
    char *ini = s_slurp(dir, "config.ini"), *metrics = s_slurp(dir, "metrics.jsonl");
    cr_assert(strstr(ini, "hidden = 32"), "%s", ini);
    /* the same run again: complete, nothing to do, nothing appended */
    server_t *s = server_new(&cfg, err, sizeof err);
    cr_assert(s, "%s", err);
    volatile sig_atomic_t stop = 0;
    server_run(s, &stop);
    server_destroy(&s);
    char *metrics2 = s_slurp(dir, "metrics.jsonl");
    cr_expect_str_eq(metrics2, metrics, "a finished run appended metrics");
    /* another architecture: refused before config.ini is touched, the reason in the log */
    cfg.hidden = 16;
    cr_expect_null(server_new(&cfg, err, sizeof err));
    cr_expect(strstr(err, "hidden 32") && strstr(err, "hidden 16") && strstr(err, "afresh"),
              "the whole reason, with the fix: %s", err);
    char *ini2 = s_slurp(dir, "config.ini"), *log = s_slurp(dir, "learner.log");
    cr_expect_str_eq(ini2, ini, "config.ini was rewritten by a refused resume");
    cr_expect(strstr(log, "afresh"), "the refusal is in learner.log");
    free(ini), free(ini2), free(metrics), free(metrics2), free(log), free(w), free(base);
}
