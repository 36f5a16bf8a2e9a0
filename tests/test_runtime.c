/* The distributed runtime over real ZeroMQ sockets on loopback: a learner (server_run in a
 * thread) with actors (actor_run in threads, or real metasac-actor processes where a SIGKILL is
 * the point), and a hostile test client that sends every kind of bad input. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "actor.h"
#include "config.h"
#include "log.h"
#include "server.h"
#include "harness.h"
#include "wire.h"

/* ---- harness ---- */


/* A small, fast configuration: hidden 32, batch 32, |D0| 32, ephemeral loopback ports. */
static void s_config(config_t *cfg, int algo) {
    config_defaults(cfg);
    cfg->task = TASK_HOPPER;
    cfg->algo = algo;
    cfg->hidden = 32;
    cfg->batch = 32;
    cfg->d0_size = 32;
    cfg->update_after = 32;
    cfg->random_steps = 200;
    cfg->total_steps = 1000000;
    cfg->eval_interval = 0;
    cfg->send_batch = 8;
    cfg->heartbeat_ms = 100;
    cfg->heartbeat_timeout_ms = 1000;
    cfg->max_msg_bytes = 1 << 20;
    cfg->run_dir[0] = 0;
    snprintf(cfg->learner_bind, sizeof cfg->learner_bind, "tcp://127.0.0.1:*");
    snprintf(cfg->weights_bind, sizeof cfg->weights_bind, "tcp://127.0.0.1:*");
}

static void s_learner_start(learner_h *l, const config_t *cfg) {
    char err[256];
    l->stop = 0;
    l->s = server_new(cfg, err, sizeof err);
    cr_assert(l->s, "server_new: %s", err);
    pthread_create(&l->th, NULL, harness_learner_main, l);
}

/* Stops the learner and returns its final counters (the server is gone after this). */
static server_counters_t s_learner_stop(learner_h *l) {
    l->stop = 1;
    pthread_join(l->th, NULL);
    server_counters_t c = *server_counters(l->s);
    server_destroy(&l->s);
    return c;
}

static void s_actor_start(actor_h *a, const learner_h *l, int evaluator) {
    actor_opts_default(&a->o);
    snprintf(a->o.learner, sizeof a->o.learner, "%s", server_endpoint(l->s, 0));
    snprintf(a->o.weights, sizeof a->o.weights, "%s", server_endpoint(l->s, 1));
    a->o.evaluator = evaluator;
    memset(&a->c, 0, sizeof a->c);
    a->o.heartbeat_ms = 100;
    a->o.timeout_ms = 1000;
    a->stop = 0;
    pthread_create(&a->th, NULL, harness_actor_main, a);
}

static void s_actor_stop(actor_h *a) {
    a->stop = 1;
    pthread_join(a->th, NULL);
}




/* ---- training ---- */

Test(runtime, two_actors_train_and_the_replay_ratio_holds, .init = harness_quiet, .timeout = 120) {
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    cfg.total_steps = 3000;
    learner_h l;
    s_learner_start(&l, &cfg);
    actor_h a[2];
    for (int i = 0; i < 2; i++) s_actor_start(&a[i], &l, 0);
    const server_counters_t *c = server_counters(l.s);
    pthread_join(l.th, NULL);  /* the learner stops by itself at total_steps */
    for (int i = 0; i < 2; i++) s_actor_stop(&a[i]);
    uint64_t steps = c->env_steps, updates = c->updates;
    cr_expect(steps >= 3000, "env steps %llu", (unsigned long long)steps);
    /* ratio 1: one update per env step after update_after; actors may run ahead by one window
       of send_batch steps per actor, so updates = steps - update_after - [0, 2 * 8] */
    double expect = (double)steps - cfg.update_after;
    cr_expect(updates <= expect && updates >= expect - 2 * 8 - 1,
              "updates %llu for %llu steps (expected %.0f minus at most one window)",
              (unsigned long long)updates, (unsigned long long)steps, expect);
    cr_expect(a[0].c.env_steps > 300 && a[1].c.env_steps > 300, "both actors stepped: %llu %llu",
              (unsigned long long)a[0].c.env_steps, (unsigned long long)a[1].c.env_steps);
    cr_expect(a[0].c.env_steps + a[1].c.env_steps >= steps);
    cr_expect(a[0].c.last_weight_version > 0, "actors picked up new weights");
    cr_expect(c->rejected[-WIRE_ERR_DECODE] == 0 && c->refused[REJECT_UNKNOWN_PEER] == 0 && c->refused[REJECT_OVER_CREDIT] == 0);
    l.stop = 1;
    server_destroy(&l.s);
}

Test(runtime, d0_fills_from_reset_states_before_meta_updates, .init = harness_quiet, .timeout = 60) {
    config_t cfg;
    s_config(&cfg, ALGO_META_SAC);
    cfg.d0_size = 48;
    learner_h l;
    s_learner_start(&l, &cfg);
    actor_h a;
    s_actor_start(&a, &l, 0);
    const server_counters_t *c = server_counters(l.s);
    cr_assert(harness_wait_u64(&c->updates, 50, 30), "Meta-SAC updates ran");
    s_actor_stop(&a);
    server_counters_t fin = s_learner_stop(&l);
    c = &fin;
    /* the Welcome asked for the missing |D0| resets up front, plus each episode's reset */
    cr_expect(c->d0_size == 48, "D0 holds %llu", (unsigned long long)c->d0_size);
    cr_expect(c->resets >= 48 && a.c.resets_sent == c->resets, "resets %llu sent %llu",
              (unsigned long long)c->resets, (unsigned long long)a.c.resets_sent);
    cr_expect(isfinite(c->log_alpha) && c->log_alpha <= 0, "log alpha clamped: %g", c->log_alpha);
}

Test(runtime, a_late_joiner_gets_the_current_weights_at_once, .init = harness_quiet, .timeout = 60) {
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    learner_h l;
    s_learner_start(&l, &cfg);
    actor_h a, late;
    s_actor_start(&a, &l, 0);
    const server_counters_t *c = server_counters(l.s);
    cr_assert(harness_wait_u64(&c->updates, 200, 30));
    uint64_t at_join = c->updates;
    s_actor_start(&late, &l, 0);
    cr_assert(harness_wait_u64(&late.c.weights_received, 1, 10), "the late actor got weights");
    cr_expect(late.c.last_weight_version >= at_join, "weights v%llu, learner was at %llu",
              (unsigned long long)late.c.last_weight_version, (unsigned long long)at_join);
    cr_assert(harness_wait_u64(&late.c.transitions_sent, 16, 10), "and trains");
    s_actor_stop(&late);
    s_actor_stop(&a);
    s_learner_stop(&l);
}

Test(runtime, evaluator_reports_returns_for_the_requested_weights, .init = harness_quiet,
     .timeout = 60) {
    config_t cfg;
    s_config(&cfg, ALGO_TD3);
    cfg.random_steps = 600;  /* TD3 trains from here: the evaluation at 500 is of version 0 */
    cfg.eval_interval = 500;
    cfg.eval_episodes = 3;
    cfg.total_steps = 1000;
    learner_h l;
    s_learner_start(&l, &cfg);
    actor_h a, ev;
    s_actor_start(&a, &l, 0);
    s_actor_start(&ev, &l, 1);
    pthread_join(l.th, NULL);  /* stops by itself, after the evaluation at the last step */
    server_counters_t c = *server_counters(l.s);
    s_actor_stop(&ev);
    s_actor_stop(&a);
    server_destroy(&l.s);
    cr_expect(c.evals == 2, "evaluations at 500 and 1000 steps: %llu", (unsigned long long)c.evals);
    cr_expect(c.last_eval_steps == 1000 && isfinite(c.last_eval_mean), "the last one at %llu",
              (unsigned long long)c.last_eval_steps);
    cr_expect(ev.c.evals_run == 2 && ev.c.env_steps == 0, "the evaluator never trains");
    cr_expect(c.rejected_total == 0, "an honest run has no rejections (%llu; wrong_id %llu)",
              (unsigned long long)c.rejected_total,
              (unsigned long long)c.refused[REJECT_WRONG_ID]);
    cr_expect(c.updates == 1000 - 600, "TD3 updates from step 600 on: %llu",
              (unsigned long long)c.updates);
}

/* ---- faults ---- */

Test(runtime, a_killed_actor_is_dropped_and_its_restart_rejoins, .init = harness_quiet,
     .timeout = 90) {
    const char *bin = getenv("METASAC_BIN_DIR");
    cr_assert(bin, "METASAC_BIN_DIR names build/bin (make test sets it)");
    char exe[512];
    snprintf(exe, sizeof exe, "%s/metasac-actor", bin);
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    learner_h l;
    s_learner_start(&l, &cfg);
    const server_counters_t *c = server_counters(l.s);
    char lep[200], wep[200];
    snprintf(lep, sizeof lep, "--learner=%s", server_endpoint(l.s, 0));
    snprintf(wep, sizeof wep, "--weights=%s", server_endpoint(l.s, 1));
    pid_t pids[2];
    for (int r = 0; r < 2; r++) {
        pids[r] = fork();
        if (pids[r] == 0) {
            execl(exe, exe, lep, wep, "--id=7", "--heartbeat_ms=100", "--heartbeat_timeout_ms=1000",
                  "--log_level=error", (char *)NULL);
            _exit(127);
        }
        uint64_t before = c->env_steps;
        cr_assert(harness_wait_u64(&c->env_steps, before + 300, 30), "actor process %d trains", r);
        if (r == 0) {
            kill(pids[0], SIGKILL);  /* no goodbye: the learner must notice the silence */
            waitpid(pids[0], NULL, 0);
            cr_assert(harness_wait_u64(&c->peers_expired, 1, 10), "the dead actor was dropped");
            cr_expect(c->actors == 0);
        }
    }
    cr_expect(c->hellos == 2 && c->actors == 1, "the restart rejoined (%d actors)", c->actors);
    kill(pids[1], SIGTERM);
    int status;
    waitpid(pids[1], &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIGTERM is a clean exit");
    s_learner_stop(&l);
}

/* A raw DEALER that says whatever the test wants. */
static void *s_client(void *zctx, const char *ep) {
    void *d = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert(zmq_connect(d, ep) == 0);
    return d;
}

static void s_send_env(void *d, const Metasac__Envelope *env) {
    uint8_t buf[8192];
    int64_t n = wire_encode(env, buf, sizeof buf);
    cr_assert(n > 0);
    zmq_send(d, buf, (size_t)n, 0);
}

static void s_batch(Metasac__TransitionBatch *t, uint32_t id, uint32_t obs_dim, float *obs,
                    float *act, float *rew, protobuf_c_boolean *flags) {
    Metasac__TransitionBatch init = METASAC__TRANSITION_BATCH__INIT;
    *t = init;
    t->actor_id = id;
    t->n = 1;
    t->obs_dim = obs_dim;
    t->act_dim = 3;
    t->n_obs = t->n_next_obs = obs_dim;
    t->obs = t->next_obs = obs;
    t->n_act = 3;
    t->act = act;
    t->n_rew = t->n_terminated = t->n_truncated = 1;
    t->rew = rew;
    t->terminated = t->truncated = flags;
}

Test(runtime, every_kind_of_bad_input_is_rejected_and_training_goes_on, .init = harness_quiet,
     .timeout = 90) {
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    learner_h l;
    s_learner_start(&l, &cfg);
    actor_h a;
    s_actor_start(&a, &l, 0);
    const server_counters_t *c = server_counters(l.s);
    cr_assert(harness_wait_u64(&c->updates, 100, 30));
    void *zctx = zmq_ctx_new();
    void *d = s_client(zctx, server_endpoint(l.s, 0));

    /* 1. undecodable bytes */
    zmq_send(d, "\xff\xff\xff\xff garbage", 12, 0);
    /* 2. an unknown actor (no hello) sending well-formed transitions */
    float obs[11] = {0}, act[3] = {0}, rew[1] = {1};
    protobuf_c_boolean flags[1] = {0};
    Metasac__TransitionBatch t;
    s_batch(&t, 99, 11, obs, act, rew, flags);
    Metasac__Envelope env;
    wire_envelope_init(&env);
    env.body_case = METASAC__ENVELOPE__BODY_TRANSITIONS;
    env.transitions = &t;
    s_send_env(d, &env);
    /* 3. a wrong protocol version */
    env.protocol_version = WIRE_PROTOCOL_VERSION + 1;
    s_send_env(d, &env);
    env.protocol_version = WIRE_PROTOCOL_VERSION;
    /* 4. a wrong observation size */
    float obs12[12] = {0};
    s_batch(&t, 99, 12, obs12, act, rew, flags);
    s_send_env(d, &env);
    /* 5. NaN and 6. Inf */
    obs[3] = NAN;
    s_batch(&t, 99, 11, obs, act, rew, flags);
    s_send_env(d, &env);
    obs[3] = 0;
    rew[0] = INFINITY;
    s_send_env(d, &env);
    /* 7. oversized (over max_msg_bytes, under ZeroMQ's hard limit of twice that) */
    size_t big = (size_t)cfg.max_msg_bytes + 100;
    char *junk = calloc(1, big);
    zmq_send(d, junk, big, 0);
    free(junk);

    double t0 = harness_now();
    while (harness_now() - t0 < 10 &&
           (c->rejected[-WIRE_ERR_DECODE] < 1 || c->refused[REJECT_UNKNOWN_PEER] < 1 ||
            c->rejected[-WIRE_ERR_VERSION] < 1 || c->rejected[-WIRE_ERR_SHAPE] < 1 ||
            c->rejected[-WIRE_ERR_NONFINITE] < 2 || c->rejected[-WIRE_ERR_OVERSIZE] < 1))
        usleep(5000);
    cr_expect(c->rejected[-WIRE_ERR_DECODE] >= 1, "undecodable");
    cr_expect(c->refused[REJECT_UNKNOWN_PEER] == 1, "unknown actor: %llu", (unsigned long long)c->refused[REJECT_UNKNOWN_PEER]);
    cr_expect(c->rejected[-WIRE_ERR_VERSION] == 1, "version");
    cr_expect(c->rejected[-WIRE_ERR_SHAPE] == 1, "shape");
    cr_expect(c->rejected[-WIRE_ERR_NONFINITE] == 2, "NaN and Inf");
    cr_expect(c->rejected[-WIRE_ERR_OVERSIZE] == 1, "oversize");
    /* nothing bad entered replay: every transition in it came from the real actor */
    uint64_t upd = c->updates;
    cr_assert(harness_wait_u64(&c->updates, upd + 100, 30), "training goes on");
    s_actor_stop(&a);
    /* the actor's last batch (flushed as it stops) may still be on its way */
    harness_wait_u64(&c->env_steps, a.c.transitions_sent, 5);
    server_counters_t fin = s_learner_stop(&l);
    c = &fin;
    cr_expect(c->env_steps == a.c.transitions_sent, "replay got exactly the actor's %llu, not %llu",
              (unsigned long long)a.c.transitions_sent, (unsigned long long)c->env_steps);
    zmq_close(d);
    zmq_ctx_term(zctx);
}

/* Issue 8, finding 8: metrics.jsonl held nan/-inf (TD3's log alpha is log 0), which no JSON
 * parser reads. Non-finite values are written as null. */
Test(runtime, metrics_are_json_without_nan_or_inf, .init = harness_quiet, .timeout = 60) {
    config_t cfg;
    s_config(&cfg, ALGO_TD3);
    cfg.random_steps = 300;
    cfg.total_steps = 600;
    char dir[] = "/tmp/metasac-metrics-XXXXXX";
    cr_assert(mkdtemp(dir));
    snprintf(cfg.run_dir, sizeof cfg.run_dir, "%s", dir);
    learner_h l;
    s_learner_start(&l, &cfg);
    actor_h a;
    s_actor_start(&a, &l, 0);
    pthread_join(l.th, NULL);  /* stops by itself at total_steps, with a final metrics line */
    s_actor_stop(&a);
    server_destroy(&l.s);
    char path[256], line[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    cr_assert(f, "no %s", path);
    int lines = 0, nulls = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        for (char *c = line; *c; c++) *c = (char)tolower((unsigned char)*c);
        cr_expect(!strstr(line, "nan") && !strstr(line, "inf"), "not JSON: %s", line);
        cr_expect(line[0] == '{' && strstr(line, "}\n"), "one object per line: %s", line);
        nulls += strstr(line, "\"log_alpha\":null") != NULL;
    }
    fclose(f);
    cr_expect(lines >= 1 && nulls == lines, "TD3's log alpha (log 0) is null: %d of %d", nulls,
              lines);
    cr_expect(a.c.stopped, "the actor was told the run is over (Stop)");
}

/* Each hello costs the learner a Welcome holding the whole policy: hellos from one address are
 * rate-limited (a burst of 64, then 16 a second), so a stream of new connections cannot turn
 * the learner into an amplifier; a real actor still gets in. */
Test(runtime, hellos_from_one_address_are_rate_limited, .init = harness_quiet, .timeout = 60) {
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    learner_h l;
    s_learner_start(&l, &cfg);
    const server_counters_t *c = server_counters(l.s);
    void *zctx = zmq_ctx_new();
    enum { N = 200 };
    void *d[N];
    Metasac__Hello h = METASAC__HELLO__INIT;
    h.role = METASAC__ROLE__ROLE_ACTOR;
    h.num_envs = 1;
    Metasac__Envelope env;
    wire_envelope_init(&env);
    env.body_case = METASAC__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    double t0 = harness_now();
    for (int i = 0; i < N; i++) {
        d[i] = s_client(zctx, server_endpoint(l.s, 0));
        s_send_env(d[i], &env);
    }
    cr_assert(harness_wait_u64(&c->refused[REJECT_HELLO_RATE], 1, 10), "no hello was refused");
    double dt = harness_now() - t0;
    usleep(200000);
    uint64_t welcomed = c->hellos;
    cr_expect(welcomed <= 64 + (uint64_t)(16 * (dt + 0.3)) + 2 && welcomed >= 64,
              "%llu welcomes for %d hellos in %.2f s", (unsigned long long)welcomed, N, dt);
    actor_h a;
    s_actor_start(&a, &l, 0);
    cr_expect(harness_wait_u64(&a.c.transitions_sent, 16, 20), "a real actor still gets in and trains");
    s_actor_stop(&a);
    s_learner_stop(&l);
    for (int i = 0; i < N; i++) zmq_close(d[i]);
    zmq_ctx_term(zctx);
}

/* Issue 9: a wildcard bind used to be advertised as 127.0.0.1, useless to another node. */
Test(runtime, a_wildcard_bind_is_advertised_at_a_reachable_host, .init = harness_quiet, .timeout = 30) {
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    snprintf(cfg.learner_bind, sizeof cfg.learner_bind, "tcp://*:*");
    snprintf(cfg.weights_bind, sizeof cfg.weights_bind, "tcp://*:*");
    char err[1024];
    cr_expect_null(server_new(&cfg, err, sizeof err), "a reachable bind without keys is refused");
    cr_expect(strstr(err, "insecure") && strstr(err, "curve_secret_key"), "%s", err);
    cfg.insecure = true;
    snprintf(cfg.advertise_host, sizeof cfg.advertise_host, "node7.cluster");
    server_t *s = server_new(&cfg, err, sizeof err);
    cr_assert(s, "%s", err);
    cr_expect(strncmp(server_endpoint(s, 0), "tcp://node7.cluster:", 20) == 0 &&
                  strncmp(server_endpoint(s, 1), "tcp://node7.cluster:", 20) == 0,
              "%s %s", server_endpoint(s, 0), server_endpoint(s, 1));
    server_destroy(&s);
    cfg.advertise_host[0] = 0;
    char host[256] = "", want[300];
    gethostname(host, sizeof host - 1);
    snprintf(want, sizeof want, "tcp://%s:", host);
    s = server_new(&cfg, err, sizeof err);
    cr_assert(s, "%s", err);
    cr_expect(strncmp(server_endpoint(s, 0), want, strlen(want)) == 0, "%s, host %s",
              server_endpoint(s, 0), host);
    server_destroy(&s);
}

/* Pids of the live (not zombie) children of parent. */
static int s_children(pid_t parent, pid_t *out, int max) {
    int n = 0;
    FILE *p = popen("ls /proc", "r");
    char name[64];
    while (p && fscanf(p, "%63s", name) == 1 && n < max) {
        char path[128], line[512], state;
        int ppid;
        snprintf(path, sizeof path, "/proc/%s/stat", name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        char *rp = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
        fclose(f);
        if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == parent && state != 'Z')
            out[n++] = atoi(name);
    }
    if (p) pclose(p);
    return n;
}

/* 1 while pid exists and is not a zombie. */
static int s_alive(pid_t pid) {
    char path[64], line[512], state;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char *rp = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
    fclose(f);
    return rp && sscanf(rp + 1, " %c", &state) == 1 && state != 'Z';
}

/* The niceness of pid (field 19 of /proc/pid/stat), or -100. */
static int s_nice(pid_t pid) {
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -100;
    char *rp = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
    fclose(f);
    int nice = -100;
    char *tok = rp ? strtok(rp + 1, " ") : NULL;
    for (int field = 3; tok; field++, tok = strtok(NULL, " "))
        if (field == 19) { nice = atoi(tok); break; }
    return nice;
}

/* Issue 9: a SIGKILLed metasac-run left its learner and actors running as orphans. Issue 11:
 * the evaluator it starts runs evaluator_nice above the others. */
Test(runtime, killing_the_launcher_leaves_no_orphans, .init = harness_quiet, .timeout = 60) {
    const char *bin = getenv("METASAC_BIN_DIR");
    cr_assert(bin, "METASAC_BIN_DIR names build/bin (make test sets it)");
    char exe[512], dir[] = "/tmp/metasac-orphans-XXXXXX", flag[128];
    cr_assert(mkdtemp(dir));
    snprintf(exe, sizeof exe, "%s/metasac-run", bin);
    snprintf(flag, sizeof flag, "--run_dir=%s/run", dir);
    pid_t launcher = fork();
    if (launcher == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1), dup2(fd, 2);
        execl(exe, exe, flag, "--hidden=32", "--batch=32", "--actors=2", "--total_steps=10000000",
              "--log_level=error", "--evaluator_nice=7", (char *)NULL);
        _exit(127);
    }
    pid_t kids[16];
    int n = 0;
    for (int i = 0; i < 200 && n < 4; i++) {  /* learner, 2 actors, evaluator */
        usleep(50000);
        n = s_children(launcher, kids, 16);
    }
    cr_assert_geq(n, 4, "the launcher started its children (%d)", n);
    int base = s_nice(launcher), raised = 0, same = 0;
    for (int i = 0; i < 100 && !(raised == 1 && same == n - 1); i++) {  /* a child just forked */
        if (i) usleep(50000);                                            /* has not niced yet */
        raised = same = 0;
        for (int k = 0; k < n; k++) {
            raised += s_nice(kids[k]) == (base + 7 > 19 ? 19 : base + 7);
            same += s_nice(kids[k]) == base;
        }
    }
    cr_expect(raised == 1 && same == n - 1, "one child (the evaluator) at nice %d + 7: %d raised, "
              "%d at %d", base, raised, same, base);
    kill(launcher, SIGKILL);
    waitpid(launcher, NULL, 0);
    int left = n;
    for (int i = 0; i < 100 && left > 0; i++) {
        usleep(100000);
        left = 0;
        for (int k = 0; k < n; k++) left += s_alive(kids[k]);
    }
    for (int k = 0; k < n; k++)
        if (s_alive(kids[k])) kill(kids[k], SIGKILL);  /* clean up what the test found */
    cr_expect_eq(left, 0, "%d processes outlived a SIGKILLed launcher", left);
}

/* GET path from 127.0.0.1:port; the body (malloc'd) or NULL. A test client, not a parser. */
static char *s_http_get(int port, const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return NULL; }
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) { close(fd); return NULL; }
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while ((r = read(fd, buf + len, cap - len)) > 0) len += (size_t)r;
    close(fd);
    buf[len] = 0;
    return buf;
}

/* Issue 9: per-actor figures (actors' Stats) and the Prometheus endpoint with actor/host labels. */
Test(runtime, the_metrics_endpoint_serves_counters_and_per_actor_series, .init = harness_quiet,
     .timeout = 60) {
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    cfg.metrics_port = -1;
    learner_h l;
    s_learner_start(&l, &cfg);
    int port = server_metrics_port(l.s);
    cr_assert_gt(port, 0);
    actor_h a[2];
    for (int i = 0; i < 2; i++) s_actor_start(&a[i], &l, 0);
    const server_counters_t *c = server_counters(l.s);
    cr_assert(harness_wait_u64(&c->updates, 100, 30));
    void *zctx = zmq_ctx_new();  /* one refused message, to see a reason label move */
    void *d = s_client(zctx, server_endpoint(l.s, 0));
    zmq_send(d, "garbage!", 8, 0);
    cr_assert(harness_wait_u64(&c->rejected[-WIRE_ERR_DECODE], 1, 10));
    usleep(1500000);  /* the text is rendered every second */
    char *body = s_http_get(port, "/metrics");
    cr_assert(body, "no answer on port %d", port);
    cr_expect(strstr(body, "HTTP/1.0 200") || strstr(body, "HTTP/1.1 200"), "%.200s", body);
    cr_expect(strstr(body, "text/plain; version=0.0.4"), "Prometheus content type");
    char host[256] = "", want[400];
    gethostname(host, sizeof host - 1);
    for (int i = 0; i < 2; i++) {
        snprintf(want, sizeof want, "metasac_actor_env_steps_total{actor=\"%u\",host=\"%s\"} ",
                 a[i].c.actor_id, host);
        const char *v = strstr(body, want);
        cr_expect(v && strtoull(v + strlen(want), NULL, 10) > 0, "no %s in\n%s", want, body);
    }
    const char *v = strstr(body, "\nmetasac_env_steps_total ");
    cr_expect(v && strtoull(v + 25, NULL, 10) > 0 && strtoull(v + 25, NULL, 10) <= c->env_steps,
              "env steps series");
    cr_expect(strstr(body, "metasac_rejected_total{reason=\"undecodable\"} 1\n"), "%s", body);
    cr_expect(strstr(body, "\nmetasac_alpha ") && strstr(body, "\nmetasac_updates_total "));
    free(body);
    body = s_http_get(port, "/nope");
    cr_expect(body && strstr(body, " 404 "), "other paths are 404");
    free(body);
    for (int i = 0; i < 2; i++) s_actor_stop(&a[i]);
    s_learner_stop(&l);
    zmq_close(d);
    zmq_ctx_term(zctx);
}

/* Issue 9: the throughput line shows progress and an ETA, every third one is followed by a
 * per-host summary, and metrics.jsonl carries each actor's own figures (from its Stats). */
Test(runtime, throughput_lines_show_progress_and_each_host, .init = harness_quiet, .timeout = 60) {
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    cfg.report_ms = 200;
    cfg.total_steps = 6000;
    char dir[] = "/tmp/metasac-hosts-XXXXXX";
    cr_assert(mkdtemp(dir));
    snprintf(cfg.run_dir, sizeof cfg.run_dir, "%s", dir);
    log_level = LOG_INFO;  /* the lines under test are INFO; they go to learner.log */
    learner_h l;
    s_learner_start(&l, &cfg);
    actor_h a[2];
    for (int i = 0; i < 2; i++) s_actor_start(&a[i], &l, 0);
    pthread_join(l.th, NULL);
    for (int i = 0; i < 2; i++) s_actor_stop(&a[i]);
    server_destroy(&l.s);
    log_level = LOG_ERROR;
    char path[256], line[8192], host[256] = "", want[320];
    gethostname(host, sizeof host - 1);
    snprintf(want, sizeof want, "host %s: 2 actors, env ", host);
    snprintf(path, sizeof path, "%s/learner.log", dir);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    int progress = 0, hosts = 0;
    while (fgets(line, sizeof line, f)) {
        progress += strstr(line, "/6000 (") && strstr(line, "%) ETA ");
        hosts += strstr(line, want) && strstr(line, "% of steps");
    }
    fclose(f);
    cr_expect(progress >= 3, "progress lines: %d", progress);
    cr_expect(hosts >= 1, "no per-host line '%s...'", want);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    f = fopen(path, "r");
    cr_assert(f);
    int per_actor = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "\"per_actor\":[{\"id\":");
        if (!p) continue;
        snprintf(want, sizeof want, "\"host\":\"%s\"", host);
        per_actor += strstr(p, want) && strstr(p, "\"reported_sps\":") && strstr(p, "\"policy_us\":");
    }
    fclose(f);
    cr_expect(per_actor >= 1, "metrics.jsonl lines with per-actor figures: %d", per_actor);
}

/* Issue 10, finding 4: --task=humanoid --send_batch=512 used to overflow the actor's fixed send
 * buffer and stall silently. A batch the learner would refuse is now refused at start; one that
 * fits goes through (the actor sizes its buffer from the wire bounds). */
Test(runtime, an_impossible_batch_size_is_refused_at_start, .init = harness_quiet, .timeout = 60) {
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    cfg.task = TASK_HUMANOID;
    cfg.send_batch = 512;  /* 512 x (2 x 376 + 17 + 3) floats: about 1.6 MB */
    cfg.max_msg_bytes = 1 << 20;
    char err[1024];
    cr_expect_null(server_new(&cfg, err, sizeof err));
    cr_expect(strstr(err, "send_batch 512") && strstr(err, "max_msg_bytes"), "%s", err);
    cfg.max_msg_bytes = 4 << 20;
    cfg.random_steps = 2000;
    learner_h l;
    s_learner_start(&l, &cfg);
    actor_h a;
    s_actor_start(&a, &l, 0);
    const server_counters_t *c = server_counters(l.s);
    cr_expect(harness_wait_u64(&c->env_steps, 1024, 40), "humanoid batches of 512 arrive: %llu steps",
              (unsigned long long)c->env_steps);
    s_actor_stop(&a);
    s_learner_stop(&l);
}
