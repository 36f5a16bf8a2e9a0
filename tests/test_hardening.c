/* Regression tests for the learner's hardening against hostile peers (commits 1058588 and
 * 3e7d5cc). Each test reproduces one finding against the code before it (c16c616) with a real
 * learner (server_run in a thread), real actors (actor_run in threads) where the finding is
 * about them, and a raw DEALER "hostile client" that speaks protocol v2 itself: it says hello,
 * reads its Welcome and Credits (tracking the credit epoch like an honest actor), heartbeats so
 * it stays registered, and sends whatever the test needs. Every assertion is one the code
 * before the hardening fails (it hangs, stores the bad data, freezes, or logs every line). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_timedjoin_np */
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "actor.h"
#include "checkpoint.h"
#include "config.h"
#include "log.h"
#include "replay.h"
#include "rng.h"
#include "sac.h"
#include "server.h"
#include "harness.h"
#include "tasks/task.h"
#include "wire.h"

#define OBS 11 /* hopper */
#define ACT 3

/* ---- harness (on top of tests/harness.h) ---- */



/* Small and fast: hidden 32, batch 32, |D0| 32, send_batch 8, ephemeral loopback ports, short
 * heartbeats and credit timeout, a small replay buffer. */
static void s_config(config_t *cfg, int algo) {
    config_defaults(cfg);
    cfg->task = TASK_HOPPER;
    cfg->algo = algo;
    cfg->hidden = 32;
    cfg->batch = 32;
    cfg->d0_size = 32;
    cfg->update_after = 32;
    cfg->random_steps = 200;
    cfg->total_steps = 10000000;
    cfg->replay_capacity = 50000;
    cfg->eval_interval = 0;
    cfg->send_batch = 8;
    cfg->heartbeat_ms = 100;
    cfg->heartbeat_timeout_ms = 1000;
    cfg->credit_timeout_ms = 500;
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

/* Stops server_run and returns the final counters; the server stays (server_policy). */
static server_counters_t s_learner_halt(learner_h *l) {
    l->stop = 1;
    pthread_join(l->th, NULL);
    return *server_counters(l->s);
}

static void s_actor_start(actor_h *a, const learner_h *l) {
    actor_opts_default(&a->o);
    snprintf(a->o.learner, sizeof a->o.learner, "%s", server_endpoint(l->s, 0));
    snprintf(a->o.weights, sizeof a->o.weights, "%s", server_endpoint(l->s, 1));
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


static int s_policy_finite(const server_t *s) {
    size_t n;
    const float *phi = server_policy(s, &n);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(phi[i])) return 0;
    return n > 0;
}

/* ---- the hostile client ---- */

typedef struct {
    void *sock;
    wire_decoder_t *dec;
    uint32_t id;
    uint64_t welcomes;
    uint32_t initial_resets;
    uint32_t epoch;          /* the credit epoch, as an honest actor tracks it */
    uint64_t credits;        /* credits held (granted in this epoch, minus steps sent) */
    uint64_t credit_grants;  /* Credits messages with steps > 0 */
    uint64_t credit_steps;   /* steps granted in total */
    uint64_t revokes;        /* Credits of a newer epoch (credits taken back) */
    double t_credit;         /* when the last grant arrived */
    uint64_t seq;            /* the next batch sequence number */
    uint64_t version;        /* the learner's weight version (heartbeats) */
    double t_hb;
    int answer_nan;          /* answer every grant with a NaN batch of all its credits */
} hc_t;

static uint8_t s_buf[1 << 21];

static void hc_open(hc_t *h, void *zctx, const char *ep) {
    memset(h, 0, sizeof *h);
    h->sock = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(h->sock, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert(zmq_connect(h->sock, ep) == 0);
    wire_limits_t lim = {.max_msg_bytes = 1 << 20};
    h->dec = wire_decoder_new(&lim);
}

static void hc_close(hc_t *h) {
    if (h->sock) zmq_close(h->sock);
    wire_decoder_destroy(&h->dec);
    h->sock = NULL;
}

static void hc_send_raw(hc_t *h, const void *buf, size_t len) {
    cr_assert(zmq_send(h->sock, buf, len, 0) == (int)len, "send: %s", zmq_strerror(errno));
}

static void hc_send_env(hc_t *h, const Metasac__Envelope *env) {
    int64_t n = wire_encode(env, s_buf, sizeof s_buf);
    cr_assert(n > 0);
    hc_send_raw(h, s_buf, (size_t)n);
}

static void hc_hello(hc_t *h, Metasac__Role role, uint32_t num_envs, uint32_t want_id) {
    Metasac__Hello m = METASAC__HELLO__INIT;
    m.role = role;
    m.num_envs = num_envs;
    m.host = "hostile";
    if (want_id) {
        m.actor_id_request_case = METASAC__HELLO__ACTOR_ID_REQUEST_REQUESTED_ACTOR_ID;
        m.requested_actor_id = want_id;
    }
    Metasac__Envelope env;
    wire_envelope_init(&env);
    env.body_case = METASAC__ENVELOPE__BODY_HELLO;
    env.hello = &m;
    hc_send_env(h, &env);
}

static void hc_heartbeat(hc_t *h) {
    Metasac__Heartbeat m = METASAC__HEARTBEAT__INIT;
    m.actor_id = h->id;
    m.weight_version = h->version;
    Metasac__Envelope env;
    wire_envelope_init(&env);
    env.body_case = METASAC__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &m;
    hc_send_env(h, &env);
    h->t_hb = harness_now();
}

/* One batch of n transitions filled with these values. */
typedef struct {
    uint32_t n;
    float obs, act, rew;
    int terminated, truncated;
    uint64_t version;
    uint32_t actor_id; /* 0: the client's own */
} hb_t;

static hb_t hb_ok(uint32_t n) {
    hb_t b = {.n = n, .obs = 0.1f, .act = 0.0f, .rew = 0.5f};
    return b;
}

/* Sends b with sequence number seq under the client's credit epoch. */
static void hc_batch_seq(hc_t *h, hb_t b, uint64_t seq) {
    static float obs[4096 * OBS], act[4096 * ACT], rew[4096];
    static protobuf_c_boolean term[4096], trunc[4096];
    cr_assert(b.n >= 1 && b.n <= 4096);
    for (size_t i = 0; i < (size_t)b.n * OBS; i++) obs[i] = b.obs;
    for (size_t i = 0; i < (size_t)b.n * ACT; i++) act[i] = b.act;
    for (uint32_t i = 0; i < b.n; i++) {
        rew[i] = b.rew;
        term[i] = b.terminated;
        trunc[i] = b.truncated;
    }
    Metasac__TransitionBatch t = METASAC__TRANSITION_BATCH__INIT;
    t.actor_id = b.actor_id ? b.actor_id : h->id;
    t.seq = seq;
    t.weight_version = b.version;
    t.n = b.n;
    t.obs_dim = OBS;
    t.act_dim = ACT;
    t.n_obs = t.n_next_obs = (size_t)b.n * OBS;
    t.obs = t.next_obs = obs;
    t.n_act = (size_t)b.n * ACT;
    t.act = act;
    t.n_rew = t.n_terminated = t.n_truncated = b.n;
    t.rew = rew;
    t.terminated = term;
    t.truncated = trunc;
    t.credit_epoch = h->epoch;
    Metasac__Envelope env;
    wire_envelope_init(&env);
    env.body_case = METASAC__ENVELOPE__BODY_TRANSITIONS;
    env.transitions = &t;
    hc_send_env(h, &env);
    h->credits -= b.n < h->credits ? b.n : h->credits;
}

/* Sends b as the next batch in sequence. */
static void hc_batch(hc_t *h, hb_t b) { hc_batch_seq(h, b, h->seq++); }

static void hc_resets(hc_t *h, uint32_t n, const float *state /* [OBS], or NULL */, float v) {
    static float obs[4096 * OBS];
    cr_assert(n >= 1 && n <= 4096);
    for (size_t i = 0; i < (size_t)n * OBS; i++) obs[i] = state ? state[i % OBS] : v;
    Metasac__ResetStates r = METASAC__RESET_STATES__INIT;
    r.actor_id = h->id;
    r.n = n;
    r.obs_dim = OBS;
    r.n_obs = (size_t)n * OBS;
    r.obs = obs;
    Metasac__Envelope env;
    wire_envelope_init(&env);
    env.body_case = METASAC__ENVELOPE__BODY_RESET_STATES;
    env.reset_states = &r;
    hc_send_env(h, &env);
}

static void hc_handle(hc_t *h, const void *data, size_t len) {
    const Metasac__Envelope *env;
    if (wire_decode(h->dec, data, len, &env) != WIRE_OK) return;
    switch (env->body_case) {
    case METASAC__ENVELOPE__BODY_WELCOME:
        h->id = env->welcome->actor_id;
        h->initial_resets = env->welcome->initial_resets;
        h->welcomes++;
        break;
    case METASAC__ENVELOPE__BODY_CREDITS: {
        const Metasac__Credits *c = env->credits;
        if (c->epoch < h->epoch) break;
        if (c->epoch > h->epoch) {
            h->epoch = c->epoch;
            h->credits = 0;
            h->revokes++;
        }
        if (c->steps > 0) {
            h->credits += c->steps;
            h->credit_grants++;
            h->credit_steps += c->steps;
            h->t_credit = harness_now();
        }
        if (h->answer_nan && h->credits > 0) {
            hb_t b = hb_ok((uint32_t)h->credits);
            b.obs = NAN;
            hc_batch(h, b);
        }
        break;
    }
    case METASAC__ENVELOPE__BODY_HEARTBEAT:
        h->version = env->heartbeat->weight_version;
        break;
    default:
        break;
    }
}

/* Reads whatever arrived (waiting up to wait_ms for the first message) and heartbeats every
 * 100 ms once welcomed, as an honest actor would: the learner must not drop it for silence. */
static void hc_pump(hc_t *h, int wait_ms) {
    zmq_pollitem_t it = {h->sock, 0, ZMQ_POLLIN, 0};
    if (wait_ms > 0) zmq_poll(&it, 1, wait_ms);
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, h->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        hc_handle(h, zmq_msg_data(&m), zmq_msg_size(&m));
        zmq_msg_close(&m);
    }
    if (h->welcomes && harness_now() - h->t_hb > 0.1) hc_heartbeat(h);
}

static void s_pump_all(hc_t **hs, int nh) {
    for (int i = 0; i < nh; i++) hc_pump(hs[i], 0);
    usleep(2000);
}

/* Waits until *v >= target (at most timeout s), keeping the clients alive meanwhile. */
static int s_wait_pump(hc_t **hs, int nh, const volatile uint64_t *v, uint64_t target,
                       double timeout) {
    double t0 = harness_now();
    while (*v < target && harness_now() - t0 < timeout) s_pump_all(hs, nh);
    return *v >= target;
}

static int s_wait_u64(const volatile uint64_t *v, uint64_t target, double timeout) {
    return s_wait_pump(NULL, 0, v, target, timeout);
}

static void s_pump_for(hc_t **hs, int nh, double secs) {
    double t0 = harness_now();
    while (harness_now() - t0 < secs) s_pump_all(hs, nh);
}

/* Says hello and waits for the Welcome. */
static void hc_join(hc_t *h, Metasac__Role role, uint32_t want_id) {
    hc_hello(h, role, 1, want_id);
    cr_assert(s_wait_pump(&h, 1, &h->welcomes, 1, 10), "the hostile client was welcomed");
}

/* Waits for at least n credits that arrived less than fresh_s ago (so the learner's credit
 * timeout cannot take them back before the next sends arrive). */
static int hc_wait_fresh_credits(hc_t *h, uint64_t n, double fresh_s, double timeout) {
    double t0 = harness_now();
    while (harness_now() - t0 < timeout) {
        hc_pump(h, 2);
        if (h->credits >= n && harness_now() - h->t_credit < fresh_s) return 1;
    }
    return 0;
}

/* After an actor stopped, its last batches may still be on the way: wait until the learner
 * holds `expect` steps (or 3 s). */
static void s_settle(const server_counters_t *c, uint64_t expect) {
    double t0 = harness_now();
    while (c->env_steps < expect && harness_now() - t0 < 3) usleep(2000);
}

/* ---- 1. a message of several frames ---- */

/* Old s_drain looped on the MORE flag of the body frame, which never changes, and called a
 * blocking zmq_msg_recv: a 2-frame message from anyone hung the learner for good. */
Test(hardening, two_frame_message_does_not_hang, .init = harness_quiet, .timeout = 60) {
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    learner_h l;
    s_learner_start(&l, &cfg);
    actor_h a;
    s_actor_start(&a, &l);
    const server_counters_t *c = server_counters(l.s);
    cr_assert(s_wait_u64(&c->updates, 50, 30), "training started");

    void *zctx = zmq_ctx_new();
    void *d = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert(zmq_connect(d, server_endpoint(l.s, 0)) == 0);
    zmq_send(d, "a", 1, ZMQ_SNDMORE);  /* before any hello */
    zmq_send(d, "b", 1, 0);
    zmq_send(d, "x", 1, ZMQ_SNDMORE);  /* and one of three frames */
    zmq_send(d, "y", 1, ZMQ_SNDMORE);
    zmq_send(d, "z", 1, 0);

    cr_expect(s_wait_u64(&c->refused[REJECT_BAD_FRAMES], 2, 10),
              "both multi-frame messages counted: %llu",
              (unsigned long long)c->refused[REJECT_BAD_FRAMES]);
    uint64_t u = c->updates;
    cr_expect(s_wait_u64(&c->updates, u + 100, 20), "the learner keeps updating (%llu -> %llu)",
              (unsigned long long)u, (unsigned long long)c->updates);
    s_actor_stop(&a);

    double t0 = harness_now();
    l.stop = 1;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 3;
    int rc = pthread_timedjoin_np(l.th, NULL, &dl);
    cr_assert(rc == 0, "server_run did not return within 3 s of stop (a blocked recv?)");
    cr_expect(harness_now() - t0 < 3);
    server_destroy(&l.s);
    zmq_close(d);
    zmq_ctx_term(zctx);
}

/* ---- 2. finite but absurd values ---- */

/* Old code stored any finite value: obs 1e38 or reward -3e38 entered replay and blew up the
 * networks. Now each is refused by reason, and the batch's credits come back. */
Test(hardening, huge_finite_values_are_refused, .init = harness_quiet, .timeout = 60) {
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    cfg.credit_timeout_ms = 3000;  /* a returned credit must not be confused with a reclaim */
    learner_h l;
    s_learner_start(&l, &cfg);
    const server_counters_t *c = server_counters(l.s);
    void *zctx = zmq_ctx_new();
    hc_t h;
    hc_open(&h, zctx, server_endpoint(l.s, 0));
    hc_t *hs[1] = {&h};
    hc_join(&h, METASAC__ROLE__ROLE_ACTOR, 0);
    actor_h a;
    s_actor_start(&a, &l);
    cr_assert(s_wait_pump(hs, 1, &c->updates, 20, 30), "training started");
    cr_assert(hc_wait_fresh_credits(&h, 8, 0.3, 10), "the hostile client holds credits (%llu)",
              (unsigned long long)h.credits);
    uint64_t revokes = h.revokes, steps_granted = h.credit_steps;

    hb_t b = hb_ok(1);
    b.obs = 1e38f;
    hc_batch(&h, b);
    b = hb_ok(1);
    b.act = 1e38f;
    hc_batch(&h, b);
    b = hb_ok(1);
    b.act = 1.01f;  /* hopper actions are in [-1, 1] */
    hc_batch(&h, b);
    b = hb_ok(1);
    b.rew = -3e38f;
    hc_batch(&h, b);
    b = hb_ok(1);
    b.rew = 1e6f;  /* max_abs_reward 1000 */
    hc_batch(&h, b);
    b = hb_ok((uint32_t)h.credits);  /* the rest of its credits, in one refused batch */
    b.obs = -2e5f;                   /* max_abs_obs 1e5 */
    hc_batch(&h, b);
    cr_assert(h.credits == 0);

    double t0 = harness_now();
    while (harness_now() - t0 < 10 && (c->refused[REJECT_OBS_BOUND] < 2 ||
                                 c->refused[REJECT_ACT_BOUND] < 2 ||
                                 c->refused[REJECT_REWARD_BOUND] < 2))
        s_pump_all(hs, 1);
    cr_expect(c->refused[REJECT_OBS_BOUND] == 2, "obs 1e38 and -2e5: %llu",
              (unsigned long long)c->refused[REJECT_OBS_BOUND]);
    cr_expect(c->refused[REJECT_ACT_BOUND] == 2, "act 1e38 and 1.01: %llu",
              (unsigned long long)c->refused[REJECT_ACT_BOUND]);
    cr_expect(c->refused[REJECT_REWARD_BOUND] == 2, "reward -3e38 and 1e6: %llu",
              (unsigned long long)c->refused[REJECT_REWARD_BOUND]);
    /* the refused steps' credits came back: new ones arrive without a revocation */
    cr_expect(s_wait_pump(hs, 1, &h.credit_steps, steps_granted + 1, 10),
              "no credits granted after the refusals");
    cr_expect(h.revokes == revokes, "the credits came back by a reclaim, not by the refusals");

    uint64_t u = c->updates;
    cr_expect(s_wait_pump(hs, 1, &c->updates, u + 200, 30), "training goes on");
    s_actor_stop(&a);
    s_settle(c, a.c.transitions_sent);
    server_counters_t fin = s_learner_halt(&l);
    if (a.c.credits_revoked == 0)
        cr_expect(fin.env_steps == a.c.transitions_sent,
                  "replay holds %llu steps, the real actor sent %llu",
                  (unsigned long long)fin.env_steps, (unsigned long long)a.c.transitions_sent);
    else
        cr_expect(fin.env_steps <= a.c.transitions_sent);
    cr_expect(s_policy_finite(l.s), "the policy is finite");
    cr_expect(isfinite(fin.log_alpha), "log alpha %g", fin.log_alpha);
    cr_expect(a.c.bad_messages == 0);
    server_destroy(&l.s);
    hc_close(&h);
    zmq_ctx_term(zctx);
}

/* ---- 3. forged reset states ---- */

static void s_real_initial_state(float *obs) {
    task_model_t *m = task_model_new("hopper");
    cr_assert(m);
    task_env_t *e = task_env_new(m, 77, 5);
    cr_assert(task_reset(e, obs) == 0);
    task_env_destroy(&e);
    task_model_destroy(&m);
}

/* Old code put every reset state it was sent into D0: a peer that said hello first filled D0
 * with 9e37s (or states no episode starts from) and the metagradient, computed on D0, was
 * garbage. Now states outside the initial-state region and more resets than episodes are
 * refused, and D0 fills from the real actor. */
Test(hardening, forged_reset_states_do_not_enter_d0, .init = harness_quiet, .timeout = 90) {
    float real[OBS];
    s_real_initial_state(real);
    for (int mode = 0; mode < 2; mode++) {
        config_t cfg;
        s_config(&cfg, ALGO_META_SAC);
        cfg.d0_mode = mode ? D0_RESERVOIR : D0_FIXED;
        cfg.credit_timeout_ms = 3000;
        learner_h l;
        s_learner_start(&l, &cfg);
        const server_counters_t *c = server_counters(l.s);
        void *zctx = zmq_ctx_new();
        hc_t h;
        hc_open(&h, zctx, server_endpoint(l.s, 0));
        hc_t *hs[1] = {&h};
        hc_join(&h, METASAC__ROLE__ROLE_ACTOR, 0);  /* before the real actor */
        cr_expect(h.initial_resets == 32, "the Welcome asks for the %u missing D0 states",
                  h.initial_resets);
        uint64_t range = 0, quota = 0;
        if (mode == 0) {
            hc_resets(&h, 32, NULL, 9e37f);
            hc_resets(&h, 32, NULL, 5.0f);  /* in range, but no hopper episode starts there */
            range = 2;
            /* real-looking initial states, far more than its (zero) episodes explain */
            for (int k = 0; k < 50; k++) hc_resets(&h, 100, real, 0);
            quota = 50;
        }
        actor_h a;
        s_actor_start(&a, &l);
        cr_assert(s_wait_pump(hs, 1, &c->updates, 60, 40), "Meta-SAC updates ran (%llu)",
                  (unsigned long long)c->updates);
        if (mode == 1) {  /* reservoir: D0 keeps replacing; 5000 bad states replace nothing */
            for (int k = 0; k < 100; k++) hc_resets(&h, 50, NULL, 9e37f);
            range = 100;
        }
        double t0 = harness_now();
        while (harness_now() - t0 < 10 && (c->refused[REJECT_RESET_RANGE] < range ||
                                     c->refused[REJECT_RESET_QUOTA] < quota))
            s_pump_all(hs, 1);
        uint64_t u = c->updates;
        cr_expect(s_wait_pump(hs, 1, &c->updates, u + 150, 40), "Meta-SAC goes on");
        s_actor_stop(&a);
        server_counters_t fin = s_learner_halt(&l);
        cr_expect(fin.refused[REJECT_RESET_RANGE] == range, "mode %d: %llu out-of-region refusals",
                  mode, (unsigned long long)fin.refused[REJECT_RESET_RANGE]);
        cr_expect(fin.refused[REJECT_RESET_QUOTA] == quota, "mode %d: %llu over-quota refusals",
                  mode, (unsigned long long)fin.refused[REJECT_RESET_QUOTA]);
        cr_expect(fin.resets == a.c.resets_sent && fin.resets >= 32,
                  "mode %d: D0 was offered %llu states; the real actor sent %llu", mode,
                  (unsigned long long)fin.resets, (unsigned long long)a.c.resets_sent);
        cr_expect(fin.d0_size == 32, "D0 holds %llu", (unsigned long long)fin.d0_size);
        cr_expect(isfinite(fin.log_alpha) && fin.log_alpha < 0,
                  "mode %d: the metagradient moved alpha: log alpha %g", mode, fin.log_alpha);
        cr_expect(s_policy_finite(l.s));
        server_destroy(&l.s);
        hc_close(&h);
        zmq_ctx_term(zctx);
    }
}

/* ---- 4. idle peers ---- */

static void *s_dealer(void *zctx, const char *ep) {
    void *d = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0, hwm = 16;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(d, ZMQ_RCVHWM, &hwm, sizeof hwm);
    cr_assert(zmq_connect(d, ep) == 0);
    return d;
}

static void s_raw_hello(void *d) {
    Metasac__Hello m = METASAC__HELLO__INIT;
    m.role = METASAC__ROLE__ROLE_ACTOR;
    m.num_envs = 1;
    Metasac__Envelope env;
    wire_envelope_init(&env);
    env.body_case = METASAC__ENVELOPE__BODY_HELLO;
    env.hello = &m;
    uint8_t buf[256];
    int64_t n = wire_encode(&env, buf, sizeof buf);
    cr_assert(n > 0);
    zmq_send(d, buf, (size_t)n, 0);
}

/* Old code gave a new peer two batches of credits at once and never took them back from a
 * peer that kept heartbeating: at replay ratio 1 those credits were exactly the window the real
 * actor needed, so one idle peer froze training for good, and hundreds of silent hellos held
 * every credit until they timed out. */
Test(hardening, idle_peer_cannot_freeze_training, .init = harness_quiet, .timeout = 90) {
    /* (a) one peer that only heartbeats, there before the first update */
    {
        config_t cfg;
        s_config(&cfg, ALGO_SAC_V2);
        learner_h l;
        s_learner_start(&l, &cfg);
        const server_counters_t *c = server_counters(l.s);
        void *zctx = zmq_ctx_new();
        hc_t h;
        hc_open(&h, zctx, server_endpoint(l.s, 0));
        hc_t *hs[1] = {&h};
        hc_join(&h, METASAC__ROLE__ROLE_ACTOR, 0);
        actor_h a;
        s_actor_start(&a, &l);
        cr_expect(s_wait_pump(hs, 1, &c->updates, 300, 30), "training froze at %llu updates",
                  (unsigned long long)c->updates);
        cr_expect(s_wait_pump(hs, 1, &c->credits_reclaimed, 1, 5), "the idle peer kept its credits");
        cr_expect(c->actors == 2, "the idle peer is still registered (it heartbeats)");
        s_actor_stop(&a);
        s_learner_halt(&l);
        server_destroy(&l.s);
        hc_close(&h);
        zmq_ctx_term(zctx);
    }
    /* (b) 500 silent hellos, one socket each; they stay registered for 10 s */
    {
        config_t cfg;
        s_config(&cfg, ALGO_SAC_V2);
        cfg.heartbeat_timeout_ms = 10000;
        cfg.max_peers_per_host = 1024;
        learner_h l;
        s_learner_start(&l, &cfg);
        const server_counters_t *c = server_counters(l.s);
        void *zctx = zmq_ctx_new();
        enum { N = 500 };
        void **d = calloc(N, sizeof *d);
        for (int i = 0; i < N; i++) {
            d[i] = s_dealer(zctx, server_endpoint(l.s, 0));
            s_raw_hello(d[i]);
        }
        /* hellos are rate-limited per address (a burst of 64, then 16/s): the rest are refused */
        double tw = harness_now();
        while (harness_now() - tw < 20 && c->hellos + c->refused[REJECT_HELLO_RATE] < N) usleep(2000);
        cr_assert(c->hellos + c->refused[REJECT_HELLO_RATE] == N && c->hellos >= 64,
                  "%llu of %d hellos welcomed, %llu refused for their rate",
                  (unsigned long long)c->hellos, N,
                  (unsigned long long)c->refused[REJECT_HELLO_RATE]);
        actor_h a;
        double t0 = harness_now();
        s_actor_start(&a, &l);
        int ok = s_wait_u64(&a.c.transitions_sent, 64, 6);
        cr_expect(ok, "the real actor sent %llu steps in %.1f s among %d silent peers",
                  (unsigned long long)a.c.transitions_sent, harness_now() - t0, N);
        s_actor_stop(&a);
        s_learner_halt(&l);
        server_destroy(&l.s);
        for (int i = 0; i < N; i++) zmq_close(d[i]);
        free(d);
        zmq_ctx_term(zctx);
    }
    /* (c) 300 hellos from one host with max_peers_per_host 64 */
    {
        config_t cfg;
        s_config(&cfg, ALGO_SAC_V2);
        cfg.heartbeat_timeout_ms = 10000;
        cfg.max_peers_per_host = 64;
        learner_h l;
        s_learner_start(&l, &cfg);
        const server_counters_t *c = server_counters(l.s);
        void *zctx = zmq_ctx_new();
        enum { N = 300 };
        void **d = calloc(N, sizeof *d);
        for (int i = 0; i < N; i++) {
            d[i] = s_dealer(zctx, server_endpoint(l.s, 0));
            s_raw_hello(d[i]);
        }
        double t0 = harness_now();
        while (harness_now() - t0 < 20 && c->hellos + c->refused[REJECT_PEER_LIMIT] +
                                            c->refused[REJECT_HELLO_RATE] < N)
            usleep(2000);
        cr_expect(c->hellos + c->refused[REJECT_PEER_LIMIT] + c->refused[REJECT_HELLO_RATE] == N,
                  "%llu hellos, %llu refused for room, %llu for their rate",
                  (unsigned long long)c->hellos, (unsigned long long)c->refused[REJECT_PEER_LIMIT],
                  (unsigned long long)c->refused[REJECT_HELLO_RATE]);
        cr_expect(c->actors <= 64, "%d peers from one host (limit 64)", c->actors);
        actor_h a;
        s_actor_start(&a, &l);
        cr_expect(s_wait_u64(&a.c.transitions_sent, 64, 10),
                  "the real actor is locked out (%llu steps)",
                  (unsigned long long)a.c.transitions_sent);
        server_counters_t fin = s_learner_halt(&l);
        s_actor_stop(&a);
        cr_expect(fin.peers_evicted > 0 || a.c.reconnects == 0, "evicted %llu",
                  (unsigned long long)fin.peers_evicted);
        server_destroy(&l.s);
        for (int i = 0; i < N; i++) zmq_close(d[i]);
        free(d);
        zmq_ctx_term(zctx);
    }
}

/* ---- 5. credits: fair shares, refused batches, hoarders ---- */

static double s_rate(const volatile uint64_t *v, hc_t **hs, int nh, double secs) {
    uint64_t v0 = *v;
    double t0 = harness_now();
    s_pump_for(hs, nh, secs);
    return (double)(*v - v0) / (harness_now() - t0);
}

/* Old code granted credits in table order, topping up the first peers to two batches each
 * before the later ones got any; a batch the codec refused kept its credits outstanding for
 * good; and a peer that took credits and never sent starved everyone at replay ratio 1. */
Test(hardening, credits_are_fair_and_returned, .init = harness_quiet, .timeout = 120) {
    /* (a) four real actors share the env steps */
    {
        config_t cfg;
        s_config(&cfg, ALGO_SAC_V2);
        cfg.credit_timeout_ms = 3000;
        learner_h l;
        s_learner_start(&l, &cfg);
        const server_counters_t *c = server_counters(l.s);
        actor_h a[4];
        for (int i = 0; i < 4; i++) s_actor_start(&a[i], &l);
        for (int i = 0; i < 4; i++)
            cr_assert(s_wait_u64(&a[i].c.transitions_sent, 40, 30), "actor %d started", i);
        uint64_t t0[4], t1[4];
        for (int i = 0; i < 4; i++) t0[i] = a[i].c.transitions_sent;
        uint64_t e0 = c->env_steps;
        cr_expect(s_wait_u64(&c->env_steps, e0 + 3000, 40), "3000 more steps");
        for (int i = 0; i < 4; i++) t1[i] = a[i].c.transitions_sent;
        for (int i = 0; i < 4; i++) s_actor_stop(&a[i]);
        s_learner_halt(&l);
        server_destroy(&l.s);
        double mean = 0;
        for (int i = 0; i < 4; i++) mean += (double)(t1[i] - t0[i]) / 4;
        for (int i = 0; i < 4; i++)
            cr_expect(fabs((double)(t1[i] - t0[i]) - mean) <= 0.25 * mean,
                      "actor %d took %llu steps, the mean is %.0f (%llu %llu %llu %llu)", i,
                      (unsigned long long)(t1[i] - t0[i]), mean,
                      (unsigned long long)(t1[0] - t0[0]), (unsigned long long)(t1[1] - t0[1]),
                      (unsigned long long)(t1[2] - t0[2]), (unsigned long long)(t1[3] - t0[3]));
    }
    /* (b) a refused batch returns its credits; (c) a hoarder costs at most 10% of the rate.
       A long credit timeout: only the refusal itself can bring the credits back. */
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    cfg.credit_timeout_ms = 60000;
    learner_h l;
    s_learner_start(&l, &cfg);
    const server_counters_t *c = server_counters(l.s);
    actor_h a;
    s_actor_start(&a, &l);
    cr_assert(s_wait_u64(&c->updates, 100, 30));
    void *zctx = zmq_ctx_new();
    {
        double before = s_rate(&a.c.transitions_sent, NULL, 0, 1.5);
        hc_t h;
        hc_open(&h, zctx, server_endpoint(l.s, 0));
        hc_t *hs[1] = {&h};
        h.answer_nan = 1;  /* every grant is answered with a NaN batch of all of it */
        hc_join(&h, METASAC__ROLE__ROLE_ACTOR, 0);
        cr_expect(s_wait_pump(hs, 1, &c->rejected[-WIRE_ERR_NONFINITE], 3, 10),
                  "NaN batches refused: %llu",
                  (unsigned long long)c->rejected[-WIRE_ERR_NONFINITE]);
        cr_expect(h.revokes >= 2 && h.credit_grants >= 3,
                  "credits of refused batches came back (%llu revocations, %llu grants)",
                  (unsigned long long)h.revokes, (unsigned long long)h.credit_grants);
        double after = s_rate(&a.c.transitions_sent, hs, 1, 1.5);
        cr_expect(after >= 0.3 * before, "the real actor's env rate fell from %.0f to %.0f/s",
                  before, after);
        hc_close(&h);
        cr_assert(s_wait_u64(&c->peers_expired, 1, 5), "the NaN peer went away");
    }
    /* (c) a hoarder (hello, takes credits, never sends) holds at most its own share, one
       batch, so the real actor's window is untouched and training goes on at its pace. What
       that costs in updates/s is a timing figure: bench/bench_flood measures it (its swarm of
       silent peers) against a no-flood phase of the same run; a timed unit test would only
       measure this machine's load. */
    {
        hc_t h;
        hc_open(&h, zctx, server_endpoint(l.s, 0));
        hc_t *hs[1] = {&h};
        hc_join(&h, METASAC__ROLE__ROLE_ACTOR, 0);
        cr_assert(s_wait_pump(hs, 1, &h.credit_steps, 1, 5), "the hoarder got credits");
        uint64_t u0 = c->updates, t0 = a.c.transitions_sent;
        s_rate(&c->updates, hs, 1, 1.5);  /* pumps the hoarder's socket meanwhile */
        cr_expect(h.credits > 0 && h.credits <= (uint64_t)cfg.send_batch && h.revokes == 0,
                  "the hoarder holds %llu credits (its share is one batch of %d)",
                  (unsigned long long)h.credits, cfg.send_batch);
        cr_expect(c->updates > u0 + 50 && a.c.transitions_sent > t0 + 50,
                  "training went on next to the hoarder: %llu updates, %llu steps",
                  (unsigned long long)(c->updates - u0),
                  (unsigned long long)(a.c.transitions_sent - t0));
        hc_close(&h);
    }
    s_actor_stop(&a);
    s_learner_halt(&l);
    server_destroy(&l.s);
    zmq_ctx_term(zctx);
}

/* ---- 6. the rest ---- */

static size_t s_varint(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* An Envelope holding a Heartbeat padded with an unknown bytes field to `pad` bytes. */
static size_t s_fat_heartbeat(uint8_t *buf, uint32_t actor_id, size_t pad) {
    static uint8_t hb[1 << 17];
    size_t n = 0;
    hb[n++] = 0x08;  /* Heartbeat.actor_id */
    n += s_varint(hb + n, actor_id);
    hb[n++] = (15 << 3) | 2;  /* field 15, bytes: unknown to the schema */
    n += s_varint(hb + n, pad);
    memset(hb + n, 'x', pad);
    n += pad;
    size_t m = 0;
    buf[m++] = 0x08;  /* protocol_version */
    m += s_varint(buf + m, WIRE_PROTOCOL_VERSION);
    buf[m++] = (8 << 3) | 2;  /* Envelope.heartbeat */
    m += s_varint(buf + m, n);
    memcpy(buf + m, hb, n);
    return m + n;
}

static void s_eval_result(hc_t *h, double ret, double mean) {
    double returns[1] = {ret};
    uint32_t lengths[1] = {10};
    Metasac__EvalResult r = METASAC__EVAL_RESULT__INIT;
    r.actor_id = h->id;
    r.weight_version = 0;
    r.episodes = 1;
    r.n_returns = 1;
    r.returns = returns;
    r.n_lengths = 1;
    r.lengths = lengths;
    r.mean = mean;
    r.std = 0;
    Metasac__Envelope env;
    wire_envelope_init(&env);
    env.body_case = METASAC__ENVELOPE__BODY_EVAL_RESULT;
    env.eval_result = &r;
    hc_send_env(h, &env);
}

Test(hardening, other_bad_input_is_refused, .init = harness_quiet, .timeout = 90) {
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    cfg.credit_timeout_ms = 5000;
    learner_h l;
    s_learner_start(&l, &cfg);
    const server_counters_t *c = server_counters(l.s);
    actor_h a;
    s_actor_start(&a, &l);
    cr_assert(s_wait_u64(&c->updates, 20, 30));
    void *zctx = zmq_ctx_new();
    const char *ep = server_endpoint(l.s, 0);
    hc_t h;
    hc_open(&h, zctx, ep);
    hc_t *hs[1] = {&h};
    hc_join(&h, METASAC__ROLE__ROLE_ACTOR, 0);
    cr_assert(hc_wait_fresh_credits(&h, 8, 1, 10));
    uint64_t mine = 0;  /* hostile steps the learner should have accepted */

    /* the same batch twice: stored once */
    hb_t ok = hb_ok(1);
    hc_batch_seq(&h, ok, 0);
    hc_batch_seq(&h, ok, 0);
    h.seq = 1;
    mine++;
    cr_expect(s_wait_pump(hs, 1, &c->refused[REJECT_SEQ_DUP], 1, 5), "duplicate");
    /* a sequence jump */
    hc_batch_seq(&h, ok, 5);
    h.seq = 6;
    cr_expect(s_wait_pump(hs, 1, &c->refused[REJECT_SEQ_GAP], 1, 5), "gap");
    /* weights from the future */
    hb_t fut = hb_ok(1);
    fut.version = c->updates + 1000000;
    hc_batch(&h, fut);
    cr_expect(s_wait_pump(hs, 1, &c->refused[REJECT_FUTURE_VERSION], 1, 5), "future version");
    /* codec refusals from a registered peer */
    hb_t both = hb_ok(1);
    both.terminated = both.truncated = 1;
    hc_batch_seq(&h, both, h.seq);
    cr_expect(s_wait_pump(hs, 1, &c->rejected[-WIRE_ERR_RANGE], 1, 5), "terminated+truncated");
    hb_t den = hb_ok(1);
    den.obs = 1e-40f;
    hc_batch_seq(&h, den, h.seq);
    cr_expect(s_wait_pump(hs, 1, &c->rejected[-WIRE_ERR_DENORMAL], 1, 5), "denormal");
    static uint8_t fat[1 << 17];
    size_t fat_n = s_fat_heartbeat(fat, h.id, 50000);
    hc_send_raw(&h, fat, fat_n);
    cr_expect(s_wait_pump(hs, 1, &c->rejected[-WIRE_ERR_OVERSIZE], 1, 5), "50 KB heartbeat");

    /* hellos out of range */
    hc_t x;
    hc_open(&x, zctx, ep);
    hc_hello(&x, METASAC__ROLE__ROLE_ACTOR, 0xFFFFFFFFu, 0);
    cr_expect(s_wait_pump(hs, 1, &c->rejected[-WIRE_ERR_RANGE], 2, 5), "num_envs 2^32-1");
    hc_hello(&x, METASAC__ROLE__ROLE_ACTOR, 1, 0xFFFFFFFFu);
    cr_expect(s_wait_pump(hs, 1, &c->rejected[-WIRE_ERR_RANGE], 3, 5), "actor id 2^32-1");
    hc_pump(&x, 100);
    cr_expect(x.welcomes == 0, "a refused hello got a Welcome");
    hc_close(&x);

    /* two peers asking for id 1 */
    hc_t p1, p2;
    hc_open(&p1, zctx, ep);
    hc_open(&p2, zctx, ep);
    hc_join(&p1, METASAC__ROLE__ROLE_ACTOR, 1);
    hc_join(&p2, METASAC__ROLE__ROLE_ACTOR, 1);
    cr_expect(p1.id != p2.id && p1.id >= 1 && p2.id >= 1 && p1.id != h.id && p2.id != h.id,
              "ids %u and %u (hostile %u)", p1.id, p2.id, h.id);
    hc_close(&p1);
    hc_close(&p2);

    /* an evaluator reporting a mean its returns do not give, then an impossible return */
    hc_t ev;
    hc_open(&ev, zctx, ep);
    hc_join(&ev, METASAC__ROLE__ROLE_EVALUATOR, 0);
    s_eval_result(&ev, 10, 1e9);
    cr_expect(s_wait_pump(hs, 1, &c->rejected[-WIRE_ERR_RANGE], 4, 5), "mean 1e9 of a return 10");
    s_eval_result(&ev, 1e9, 1e9);
    cr_expect(s_wait_pump(hs, 1, &c->refused[REJECT_EVAL], 1, 5), "an eval not asked for");
    cr_expect(c->evals == 0 && isnan(c->last_eval_mean), "an evaluation was believed: %g",
              c->last_eval_mean);
    hc_close(&ev);

    /* a second hello on the registered connection: refused, no new Welcome, same id, and the
       peer goes on with its credits */
    uint32_t id = h.id;
    hc_hello(&h, METASAC__ROLE__ROLE_ACTOR, 1, 0);
    cr_expect(s_wait_pump(hs, 1, &c->refused[REJECT_HELLO_AGAIN], 1, 5), "second hello");
    hc_pump(&h, 200);
    cr_expect(h.welcomes == 1 && h.id == id, "the peer was re-registered (%llu welcomes, id %u)",
              (unsigned long long)h.welcomes, h.id);
    cr_assert(hc_wait_fresh_credits(&h, 2, 2, 10), "the peer still gets credits");
    uint64_t e = c->env_steps;
    hc_batch(&h, hb_ok(2));
    mine += 2;
    cr_expect(s_wait_pump(hs, 1, &c->env_steps, e + 2, 5), "its batch after the second hello");

    s_actor_stop(&a);
    s_settle(c, a.c.transitions_sent + mine);
    server_counters_t fin = s_learner_halt(&l);
    if (a.c.credits_revoked == 0)
        cr_expect(fin.env_steps == a.c.transitions_sent + mine,
                  "replay holds %llu steps: the real actor sent %llu, the hostile peer %llu valid",
                  (unsigned long long)fin.env_steps, (unsigned long long)a.c.transitions_sent,
                  (unsigned long long)mine);
    cr_expect(fin.refused[REJECT_SEQ_DUP] == 1 && fin.refused[REJECT_SEQ_GAP] == 1 &&
              fin.refused[REJECT_FUTURE_VERSION] == 1 && fin.refused[REJECT_HELLO_AGAIN] == 1);
    cr_expect(s_policy_finite(l.s));
    server_destroy(&l.s);
    hc_close(&h);
    zmq_ctx_term(zctx);
}

/* ---- 7. log flooding ---- */

/* Old code wrote one WARN line per rejected message: a peer could fill the disk. */
Test(hardening, rejection_logs_are_rate_limited, .init = harness_quiet, .timeout = 60) {
    char path[] = "/tmp/metasac-hardening-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    cfg.log_interval_ms = 1000;
    cfg.credit_timeout_ms = 60000;
    learner_h l;
    s_learner_start(&l, &cfg);
    const server_counters_t *c = server_counters(l.s);
    void *zctx = zmq_ctx_new();
    hc_t h;
    hc_open(&h, zctx, server_endpoint(l.s, 0));
    hc_t *hs[1] = {&h};
    hc_join(&h, METASAC__ROLE__ROLE_ACTOR, 0);
    log_level = LOG_WARN;
    cr_assert(log_set_file(path) == 0);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    if (!getenv("TEST_LOG")) dup2(devnull, 2);  /* the lines go to the file; keep stderr calm */

    enum { N = 2000 };
    hb_t b = hb_ok(1);
    b.actor_id = h.id + 1000;  /* another actor's id: refused as wrong_id */
    double t0 = harness_now();
    for (int i = 0; i < N; i++) {
        hc_batch(&h, b);
        if ((i & 63) == 0) hc_pump(&h, 0);
    }
    int all = s_wait_pump(hs, 1, &c->refused[REJECT_WRONG_ID], N, 20);
    double sent_s = harness_now() - t0;
    s_pump_for(hs, 1, 1.5);  /* the interval ends; the held-back count is written */
    s_learner_halt(&l);
    log_set_file(NULL);
    log_level = LOG_ERROR;
    dup2(saved, 2);
    close(saved);
    close(devnull);
    cr_assert(all, "%llu of %d refused", (unsigned long long)c->refused[REJECT_WRONG_ID], N);

    FILE *f = fopen(path, "r");
    cr_assert(f);
    char line[2048], who[64];
    snprintf(who, sizeof who, "rejected from actor %u (", h.id);
    char flush_tag[64];
    snprintf(flush_tag, sizeof flush_tag, "'wrong_id' from peer %u ", h.id);
    unsigned long long lines = 0, reported = 0;
    while (fgets(line, sizeof line, f)) {
        char *p;
        if (strstr(line, who)) {
            lines++;
            if ((p = strstr(line, "; ")) && strstr(line, "more like it")) {
                unsigned long long k;
                char *q = strstr(line, "[wrong_id; ");
                if (q && sscanf(q, "[wrong_id; %llu more", &k) == 1) reported += k;
            }
        } else if ((p = strstr(line, flush_tag))) {
            unsigned long long k;
            char *q = strstr(line, "learner: ");
            if (q && sscanf(q, "learner: %llu more", &k) == 1) reported += k;
        }
    }
    fclose(f);
    unlink(path);
    cr_expect(lines >= 1 && lines <= 2 + (unsigned long long)sent_s,
              "%llu WARN lines for %d rejections in %.1f s", lines, N, sent_s);
    cr_expect(lines + reported == N, "%llu lines + %llu reported as held back != %d", lines,
              reported, N);
    server_destroy(&l.s);
    hc_close(&h);
    zmq_ctx_term(zctx);
}

/* ---- 8. non-finite updates ---- */

/* Old code had no guard: one update that overflowed (values allowed by a lax config) turned the
 * networks into NaN for good, published NaN weights (actors refused them) and checkpointed them.
 * Now the update is undone, and neither the actors nor the checkpoint ever see a NaN. */
Test(hardening, non_finite_update_is_undone, .init = harness_quiet, .timeout = 90) {
    char dir[] = "/tmp/metasac-hardening-run-XXXXXX";
    cr_assert(mkdtemp(dir));
    config_t cfg;
    s_config(&cfg, ALGO_SAC_V2);
    cfg.max_abs_obs = 1e30;
    cfg.max_abs_reward = 1e30;
    cfg.credit_timeout_ms = 3000;
    cfg.replay_capacity = 20000;
    cfg.checkpoint_interval = 0;
    snprintf(cfg.run_dir, sizeof cfg.run_dir, "%s", dir);
    learner_h l;
    s_learner_start(&l, &cfg);
    const server_counters_t *c = server_counters(l.s);
    actor_h a;
    s_actor_start(&a, &l);
    cr_assert(s_wait_u64(&c->updates, 100, 30));
    void *zctx = zmq_ctx_new();
    hc_t h;
    hc_open(&h, zctx, server_endpoint(l.s, 0));
    hc_t *hs[1] = {&h};
    hc_join(&h, METASAC__ROLE__ROLE_ACTOR, 0);
    uint64_t injected = 0;
    double t0 = harness_now();
    while (c->rollbacks == 0 && harness_now() - t0 < 10) {
        hc_pump(&h, 2);
        if (h.credits > 0) {
            hb_t b = hb_ok((uint32_t)h.credits);
            b.obs = 1e30f;
            b.rew = 1e30f;
            injected += b.n;
            hc_batch(&h, b);
        }
    }
    cr_expect(c->rollbacks > 0, "no rollback after %llu injected steps (%llu in replay)",
              (unsigned long long)injected, (unsigned long long)c->env_steps);
    uint64_t w = a.c.weights_received;
    cr_expect(s_wait_pump(hs, 1, &a.c.weights_received, w + 20, 20), "weights keep arriving");
    uint64_t u = c->updates;
    cr_expect(s_wait_pump(hs, 1, &c->updates, u + 100, 20), "training goes on");
    s_actor_stop(&a);
    server_counters_t fin = s_learner_halt(&l);  /* writes the checkpoint */
    cr_expect(a.c.bad_messages == 0, "the actor refused %llu messages (NaN weights?)",
              (unsigned long long)a.c.bad_messages);
    cr_expect(a.c.last_weight_version > 100);
    cr_expect(s_policy_finite(l.s), "the learner's policy is finite");
    cr_expect(isfinite(fin.log_alpha), "log alpha %g", fin.log_alpha);
    server_destroy(&l.s);
    hc_close(&h);
    zmq_ctx_term(zctx);

    /* the checkpoint written at stop loads and is finite */
    task_model_t *m = task_model_new("hopper");
    cr_assert(m);
    nn_shape_t shape;
    nn_shape_init(&shape, OBS, ACT, cfg.hidden);
    sac_opts_t o;
    sac_opts_default(&o, ALGO_SAC_V2, ACT);
    sac_f *agent = sac_new_f(&shape, &o, task_model_action_low(m), task_model_action_high(m),
                             cfg.batch, 1, 1);
    replay_t *rp = replay_new(OBS, ACT, (size_t)cfg.replay_capacity);
    d0_t *d0 = d0_new(OBS, cfg.d0_size, D0_FIXED);
    rng_t rng;
    rng_seed(&rng, 1, 1);
    ckpt_t ck = {"hopper", "sac_v2", agent, rp, d0, &rng, 0, 0};
    char path[256], err[1024];
    snprintf(path, sizeof path, "%s/checkpoint.bin", dir);
    cr_expect(checkpoint_load_file(path, &ck, err, sizeof err) == 0, "checkpoint: %s", err);
    cr_expect(ck.env_steps == fin.env_steps, "checkpoint at %llu steps, the run had %llu",
              (unsigned long long)ck.env_steps, (unsigned long long)fin.env_steps);
    int finite = 1;
    for (size_t i = 0; i < agent->state_n; i++) finite &= isfinite(agent->state[i]) != 0;
    cr_expect(finite, "the checkpointed learner state is finite");
    sac_destroy_f(&agent);
    replay_destroy(&rp);
    d0_destroy(&d0);
    task_model_destroy(&m);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect(system(cmd) == 0);
}
