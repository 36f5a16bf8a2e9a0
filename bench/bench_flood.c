/* What a hostile sender at full speed costs a learner, measured against the same learner without
 * it in the same run (these machines are shared and noisy): phases alternate A (no flood) and B
 * (flood), ROUNDS times, and every figure is a ratio of B to its neighbouring A.
 *
 * In one process: a learner (server_run in a thread; SAC-v2, Hopper, hidden 256, batch 256,
 * replay ratio 1, so the update is the bottleneck), one real actor (actor_run in a thread) that
 * trains normally, and a hostile sender thread with its own ZeroMQ context. During B the sender
 * sends, in turns (one message of each kind per pass, as fast as its sockets take them):
 *   garbage     undecodable bytes
 *   version     a well-formed TransitionBatch of another protocol version
 *   nohello     a well-formed TransitionBatch claiming actor id 1 from a socket that never said hello
 *   under_max   a well-formed TransitionBatch just under max_msg_bytes, from a socket without hello
 *   over_max    a frame just over max_msg_bytes (under ZeroMQ's hard limit of twice that)
 *   over_2max   a frame over twice max_msg_bytes (ZeroMQ drops the connection; it reconnects)
 *   multiframe  a message of two frames
 *   overcredit  after a hello: batches of 64 transitions, more than the learner ever grants
 *   huge        after a hello: batches within the granted credits whose values are 1e30 (finite)
 *   dup         after a hello: one batch of 1 transition (seq 0, a legitimate original), then the
 *               same bytes again and again
 *   rehello     one socket saying hello again and again (each answered with a Welcome)
 *   swarm       NSWARM new sockets per B phase that say hello once, then half of them send only
 *               heartbeats and half stay silent (they hold peer-table entries and credits)
 * Every socket of the sender is new in each B phase and closed (linger 0) at its end.
 *
 * Figures: the learner's updates/s with/without flood (goal >= 0.90), the real actor's share of
 * the env steps the learner accepted (goal 1.0: nothing from the sender got in beyond the dup
 * originals, which an honest actor could have sent too), the real actor's env steps/s with/without
 * flood, the messages/s the sender offered (taken by its sockets), the learner's rejection
 * counters, and the process's RSS growth during the floods (goal: bounded).
 *
 * The sender runs at normal priority, so on these 2-core machines the figures include the CPU it
 * takes from the learner. FLOOD_NICE=19 runs it (and the I/O thread of its ZeroMQ context, which
 * inherits the value) at nice 19, standing for a remote machine, on an otherwise idle machine
 * only: on a loaded one a niced sender gets almost no CPU and offers next to nothing.
 *
 * A stall (no update for STALL_S seconds) stops the phase, is reported with what was being sent,
 * and the run waits for the learner to recover once the sender is gone; a learner that does not
 * recover ends the rounds. Exit status: 0 when every phase ran (goals missed or not: a benchmark
 * reports, tests judge), 1 when the learner stalled, hung or stopped, or something failed.
 *
 * FLOOD_KINDS (or argv[1]) picks the kinds: "all" (default), "garbage,dup" (only these), or
 * "-multiframe,-swarm" (all but these). FLOOD_LOG=warn shows the learner's log. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "actor.h"
#include "alloc.h"
#include "blas.h"
#include "config.h"
#include "log.h"
#include "server.h"
#include "wire.h"

enum { OBS = 11, ACT = 3, SEND_BATCH = 8, ROUNDS = 5, NSWARM = 128, OVERCREDIT_N = 64,
       HUGE_N = 8 };
#define MAX_MSG ((size_t)1 << 20)  /* the learner's max_msg_bytes */
#define PHASE_S 2.0                /* measured part of each phase */
#define SETTLE_B_S 0.5             /* flood running before B is measured */
#define SETTLE_A_MAX_S 2.0         /* at most this long for the learner to drain the flood */
#define STALL_S 3.0                /* no update this long: the learner stalled */
#define RECOVER_S 5.0              /* after a stall, wait this long for it to train again */
#define TICK_US 20000

static double s_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A field of /proc/self/status in kB ("VmRSS", "VmHWM"), -1 if absent. */
static long s_status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    size_t kl = strlen(key);
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* ---- the hostile sender ------------------------------------------------------------------ */

typedef enum {
    K_GARBAGE, K_VERSION, K_NOHELLO, K_UNDER, K_OVER, K_HARD, K_MULTI,
    K_OVERCREDIT, K_HUGE, K_DUP, K_REHELLO, K_SWARM, K_COUNT
} kind_t;
static const char *const KIND[K_COUNT] = {
    "garbage", "version", "nohello", "under_max", "over_max", "over_2max", "multiframe",
    "overcredit", "huge", "dup", "rehello", "swarm"};

typedef struct {
    void *s;
    uint32_t id;       /* from the Welcome; 0 before it */
    uint64_t credits;  /* granted and not used (as far as this sender is concerned) */
    uint64_t seq;
    double next_hb;    /* swarm: next heartbeat (0 = a silent one) */
} hpeer_t;

typedef struct {
    char ep[256];
    int enabled[K_COUNT];
    int nice;
    atomic_int flood, quit;
    atomic_int phase_open;           /* sockets of the current B phase are open */
    atomic_uint_fast64_t sent[K_COUNT];  /* messages taken by the sockets */
    atomic_uint_fast64_t legit;      /* transitions a correct learner accepts (dup originals) */
    atomic_uint_fast64_t huge_sent;  /* 1e30-valued transitions sent within credits */
    /* sender thread only */
    void *ctx;
    void *data[K_COUNT];             /* one socket per stateless kind */
    hpeer_t peer[K_COUNT];           /* overcredit, huge, dup, rehello */
    hpeer_t swarm[NSWARM];
    int nswarm;
    wire_decoder_t *dec;
    uint8_t *garbage, *version, *nohello, *under, *over, *hard, *hb, *hello, *tmp, *dup;
    size_t garbage_n, version_n, nohello_n, under_n, over_n, hard_n, hb_n, hello_n, dup_n;
    uint8_t *oc;                     /* the overcredit batch (needs the id) */
    size_t oc_n;
    float *obs, *act, *rew, *huge_obs, *huge_rew;
    protobuf_c_boolean *flags;
} attacker_t;

static void *s_socket(attacker_t *x, int sndhwm) {
    void *d = zmq_socket(x->ctx, ZMQ_DEALER);
    int linger = 0, rcvhwm = 0;  /* never pause the input: read everything */
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(d, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
    zmq_setsockopt(d, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    if (zmq_connect(d, x->ep) != 0) {
        fprintf(stderr, "bench_flood: connect %s: %s\n", x->ep, zmq_strerror(errno));
        exit(1);
    }
    return d;
}

static void s_close(void **s) {
    if (*s) zmq_close(*s);
    *s = NULL;
}

static void s_batch(const attacker_t *x, Metasac__TransitionBatch *t, uint32_t id, uint64_t seq,
                    uint32_t n, const float *obs, const float *rew) {
    Metasac__TransitionBatch init = METASAC__TRANSITION_BATCH__INIT;
    *t = init;
    t->actor_id = id;
    t->seq = seq;
    t->n = n;
    t->obs_dim = OBS;
    t->act_dim = ACT;
    t->n_obs = t->n_next_obs = (size_t)n * OBS;
    t->obs = t->next_obs = (float *)obs;
    t->n_act = (size_t)n * ACT;
    t->act = x->act;
    t->n_rew = t->n_terminated = t->n_truncated = n;
    t->rew = (float *)rew;
    t->terminated = t->truncated = x->flags;
}

static size_t s_encode_batch(const attacker_t *x, uint8_t *buf, size_t cap, uint32_t id,
                             uint64_t seq, uint32_t n, const float *obs, const float *rew,
                             uint32_t version) {
    Metasac__TransitionBatch t;
    s_batch(x, &t, id, seq, n, obs, rew);
    Metasac__Envelope env;
    wire_envelope_init(&env);
    env.protocol_version = version;
    env.body_case = METASAC__ENVELOPE__BODY_TRANSITIONS;
    env.transitions = &t;
    int64_t len = wire_encode(&env, buf, cap);
    if (len < 0) {
        fprintf(stderr, "bench_flood: a batch of %u does not fit %zu bytes\n", n, cap);
        exit(1);
    }
    return (size_t)len;
}

/* The largest plausible batch this sender can put into an under_max frame. */
enum { UNDER_N_MAX = 12000 };

static void s_attacker_init(attacker_t *x) {
    x->obs = rl_calloc((size_t)UNDER_N_MAX * OBS, sizeof(float));
    x->act = rl_calloc((size_t)UNDER_N_MAX * ACT, sizeof(float));
    x->rew = rl_calloc(UNDER_N_MAX, sizeof(float));
    x->flags = rl_calloc(UNDER_N_MAX, sizeof(protobuf_c_boolean));
    for (size_t k = 0; k < (size_t)UNDER_N_MAX * OBS; k++) x->obs[k] = (float)(k % 13) * 0.1f;
    for (size_t k = 0; k < (size_t)UNDER_N_MAX * ACT; k++) x->act[k] = 0.25f;
    for (size_t k = 0; k < UNDER_N_MAX; k++) x->rew[k] = 1.0f;
    x->huge_obs = rl_malloc(sizeof(float) * OVERCREDIT_N * OBS);
    x->huge_rew = rl_malloc(sizeof(float) * OVERCREDIT_N);
    for (size_t k = 0; k < OVERCREDIT_N * OBS; k++) x->huge_obs[k] = k % 2 ? 1e30f : -1e30f;
    for (size_t k = 0; k < OVERCREDIT_N; k++) x->huge_rew[k] = 1e30f;

    x->garbage_n = 64;
    x->garbage = rl_malloc(x->garbage_n);
    memset(x->garbage, 0xff, x->garbage_n);
    x->version = rl_malloc(65536);
    x->version_n = s_encode_batch(x, x->version, 65536, 1, 0, SEND_BATCH, x->obs, x->rew,
                                  WIRE_PROTOCOL_VERSION + 1);
    x->nohello = rl_malloc(65536);
    x->nohello_n = s_encode_batch(x, x->nohello, 65536, 1, 0, SEND_BATCH, x->obs, x->rew,
                                  WIRE_PROTOCOL_VERSION);
    x->under = rl_malloc(MAX_MSG);
    uint32_t n = UNDER_N_MAX;
    while (wire_transitions_bound(n, OBS, ACT) > MAX_MSG - 64) n -= 16;
    x->under_n = s_encode_batch(x, x->under, MAX_MSG, 1, 0, n, x->obs, x->rew,
                                WIRE_PROTOCOL_VERSION);
    x->over_n = MAX_MSG + 64;
    x->over = rl_calloc(1, x->over_n);
    memcpy(x->over, x->nohello, x->nohello_n);  /* a plausible start, then zeros */
    x->hard_n = 2 * MAX_MSG + 4096;
    x->hard = rl_calloc(1, x->hard_n);
    Metasac__Heartbeat h = METASAC__HEARTBEAT__INIT;
    x->hb = rl_malloc(256);
    x->hb_n = (size_t)wire_encode_heartbeat(&h, x->hb, 256);
    Metasac__Hello hello = METASAC__HELLO__INIT;
    hello.role = METASAC__ROLE__ROLE_ACTOR;
    hello.num_envs = 1;
    hello.build_version = "bench_flood";
    x->hello = rl_malloc(256);
    x->hello_n = (size_t)wire_encode_hello(&hello, x->hello, 256);
    x->tmp = rl_malloc(65536);
    x->dup = rl_malloc(65536);
    x->oc = rl_malloc(65536);
    wire_limits_t lim = {.max_msg_bytes = MAX_MSG};
    x->dec = wire_decoder_new(&lim);
}

static void s_attacker_free(attacker_t *x) {
    uint8_t *b[] = {x->garbage, x->version, x->nohello, x->under, x->over, x->hard, x->hb,
                    x->hello, x->tmp, x->dup, x->oc};
    for (size_t i = 0; i < sizeof b / sizeof *b; i++) free(b[i]);
    free(x->obs); free(x->act); free(x->rew); free(x->flags); free(x->huge_obs); free(x->huge_rew);
    wire_decoder_destroy(&x->dec);
}

static int s_is_peer_kind(int k) {
    return k == K_OVERCREDIT || k == K_HUGE || k == K_DUP || k == K_REHELLO;
}

static void s_open_phase(attacker_t *x) {
    for (int k = 0; k < K_COUNT; k++) {
        if (!x->enabled[k] || k == K_SWARM) continue;
        int big = k == K_UNDER || k == K_OVER || k == K_HARD;
        if (s_is_peer_kind(k)) {
            x->peer[k] = (hpeer_t){.s = s_socket(x, 1000)};
            zmq_send(x->peer[k].s, x->hello, x->hello_n, ZMQ_DONTWAIT);
        } else {
            x->data[k] = s_socket(x, big ? 2 : 1000);  /* bound the sender's own memory */
        }
    }
    x->nswarm = 0;
    x->dup_n = x->oc_n = 0;
    atomic_store(&x->phase_open, 1);
}

static void s_close_phase(attacker_t *x) {
    for (int k = 0; k < K_COUNT; k++) {
        s_close(&x->data[k]);
        s_close(&x->peer[k].s);
    }
    for (int i = 0; i < x->nswarm; i++) s_close(&x->swarm[i].s);
    x->nswarm = 0;
    atomic_store(&x->phase_open, 0);
}

/* Reads what the learner sent p: the Welcome's id and the credits (decode = 0: only until the
 * id is known, then the messages are dropped unread). */
static void s_read_peer(attacker_t *x, hpeer_t *p, int decode) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (int k = 0; k < 256 && zmq_msg_recv(&m, p->s, ZMQ_DONTWAIT) >= 0; k++) {
        if (p->id && !decode) continue;
        const Metasac__Envelope *env;
        if (wire_decode(x->dec, zmq_msg_data(&m), zmq_msg_size(&m), &env) != WIRE_OK) continue;
        if (env->body_case == METASAC__ENVELOPE__BODY_WELCOME) {
            p->id = env->welcome->actor_id;
            p->credits = 0;
        } else if (env->body_case == METASAC__ENVELOPE__BODY_CREDITS) {
            p->credits += env->credits->steps;
        }
    }
    zmq_msg_close(&m);
}

static int s_send(attacker_t *x, int k, void *s, const void *buf, size_t len, int more) {
    if (zmq_send(s, buf, len, ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0)) < 0) return 0;
    if (!more) atomic_fetch_add_explicit(&x->sent[k], 1, memory_order_relaxed);
    return 1;
}

/* One message of kind k if its socket takes it; 1 if sent. */
static int s_send_kind(attacker_t *x, int k) {
    hpeer_t *p = &x->peer[k];
    switch (k) {
    case K_GARBAGE: return s_send(x, k, x->data[k], x->garbage, x->garbage_n, 0);
    case K_VERSION: return s_send(x, k, x->data[k], x->version, x->version_n, 0);
    case K_NOHELLO: return s_send(x, k, x->data[k], x->nohello, x->nohello_n, 0);
    case K_UNDER: return s_send(x, k, x->data[k], x->under, x->under_n, 0);
    case K_OVER: return s_send(x, k, x->data[k], x->over, x->over_n, 0);
    case K_HARD: return s_send(x, k, x->data[k], x->hard, x->hard_n, 0);
    case K_MULTI:
        /* a heartbeat and garbage in one message (ZeroMQ delivers both frames or neither) */
        if (zmq_send(x->data[k], x->hb, x->hb_n, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0) return 0;
        zmq_send(x->data[k], x->garbage, 16, 0);
        atomic_fetch_add_explicit(&x->sent[k], 1, memory_order_relaxed);
        return 1;
    case K_REHELLO: return s_send(x, k, p->s, x->hello, x->hello_n, 0);
    case K_OVERCREDIT:
        if (!p->id) return 0;
        if (!x->oc_n)
            x->oc_n = s_encode_batch(x, x->oc, 65536, p->id, 0, OVERCREDIT_N, x->obs, x->rew,
                                     WIRE_PROTOCOL_VERSION);
        return s_send(x, k, p->s, x->oc, x->oc_n, 0);
    case K_HUGE: {
        if (!p->id || p->credits < HUGE_N) return 0;
        size_t len = s_encode_batch(x, x->tmp, 65536, p->id, p->seq, HUGE_N, x->huge_obs,
                                    x->huge_rew, WIRE_PROTOCOL_VERSION);
        if (!s_send(x, k, p->s, x->tmp, len, 0)) return 0;
        p->seq++;
        p->credits -= HUGE_N;
        atomic_fetch_add_explicit(&x->huge_sent, HUGE_N, memory_order_relaxed);
        return 1;
    }
    case K_DUP:
        if (!p->id) return 0;
        if (!x->dup_n) {  /* the original: one transition within the credits */
            if (p->credits < 1) return 0;
            x->dup_n = s_encode_batch(x, x->dup, 65536, p->id, 0, 1, x->obs, x->rew,
                                      WIRE_PROTOCOL_VERSION);
            if (!s_send(x, k, p->s, x->dup, x->dup_n, 0)) {
                x->dup_n = 0;
                return 0;
            }
            p->credits -= 1;
            atomic_fetch_add_explicit(&x->legit, 1, memory_order_relaxed);
            return 1;
        }
        return s_send(x, k, p->s, x->dup, x->dup_n, 0);
    default: return 0;
    }
}

/* The swarm: NSWARM new sockets per phase, 16 more per call, each says hello once; the even
 * ones send a heartbeat every 300 ms, the odd ones stay silent. */
static void s_swarm(attacker_t *x, double now) {
    for (int i = 0; i < 16 && x->nswarm < NSWARM; i++) {
        hpeer_t *p = &x->swarm[x->nswarm];
        *p = (hpeer_t){.s = s_socket(x, 1000), .next_hb = x->nswarm % 2 ? 0 : now + 0.3};
        s_send(x, K_SWARM, p->s, x->hello, x->hello_n, 0);
        x->nswarm++;
    }
    for (int i = 0; i < x->nswarm; i++) {
        hpeer_t *p = &x->swarm[i];
        s_read_peer(x, p, 0);
        if (p->next_hb > 0 && now >= p->next_hb) {
            Metasac__Heartbeat h = METASAC__HEARTBEAT__INIT;
            h.actor_id = p->id;
            int64_t len = wire_encode_heartbeat(&h, x->tmp, 256);
            s_send(x, K_SWARM, p->s, x->tmp, (size_t)len, 0);
            p->next_hb = now + 0.3;
        }
    }
}

static void *s_attacker_main(void *arg) {
    attacker_t *x = arg;
    if (x->nice) setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), x->nice);
    x->ctx = zmq_ctx_new();  /* its I/O thread inherits the nice value */
    double next_read = 0;
    while (!atomic_load(&x->quit)) {
        if (!atomic_load(&x->flood)) {
            if (atomic_load(&x->phase_open)) s_close_phase(x);
            usleep(1000);
            continue;
        }
        if (!atomic_load(&x->phase_open)) s_open_phase(x);
        int any = 0;
        for (int k = 0; k < K_COUNT; k++)
            if (x->enabled[k] && k != K_SWARM) any |= s_send_kind(x, k);
        double now = s_now();
        if (now >= next_read || !any) {
            for (int k = 0; k < K_COUNT; k++)
                if (x->peer[k].s) s_read_peer(x, &x->peer[k], k != K_REHELLO);
            if (x->enabled[K_SWARM]) s_swarm(x, now);
            next_read = now + 0.002;
        }
        if (!any) {  /* every socket is full: wait for one to take more */
            zmq_pollitem_t it[K_COUNT];
            int n = 0;
            for (int k = 0; k < K_COUNT; k++) {
                void *s = x->data[k] ? x->data[k] : x->peer[k].s;
                if (s && x->enabled[k]) it[n++] = (zmq_pollitem_t){s, 0, ZMQ_POLLOUT, 0};
            }
            zmq_poll(it, n, 1);
        }
    }
    s_close_phase(x);
    zmq_ctx_term(x->ctx);
    return NULL;
}

/* ---- learner and actor ------------------------------------------------------------------- */

typedef struct {
    server_t *s;
    volatile sig_atomic_t stop;
    atomic_int done;
    pthread_t th;
} learner_t;

typedef struct {
    actor_opts_t o;
    actor_counters_t c;
    volatile sig_atomic_t stop;
    atomic_int done;
    int rc;
    pthread_t th;
} actor_t;

static void *s_learner_main(void *arg) {
    learner_t *l = arg;
    server_run(l->s, &l->stop);
    atomic_store(&l->done, 1);
    return NULL;
}

static void *s_actor_main(void *arg) {
    actor_t *a = arg;
    a->rc = actor_run(&a->o, &a->stop, &a->c);
    atomic_store(&a->done, 1);
    return NULL;
}

/* ---- the run ------------------------------------------------------------------------------ */

typedef struct {
    learner_t *l;
    actor_t *a;
    attacker_t *x;
    const server_counters_t *c;
    uint64_t last_upd;
    double last_change;  /* when updates last moved */
    long rss_max_kb;     /* of the current phase */
    uint64_t sent_at_update[K_COUNT];  /* the sender's counts when updates last moved */
} watch_t;

/* One sample: tracks the last update and the RSS; 1 when the learner stalled or stopped. */
static int s_tick(watch_t *w) {
    double now = s_now();
    uint64_t u = w->c->updates;
    if (u != w->last_upd) {
        w->last_upd = u;
        w->last_change = now;
        for (int k = 0; k < K_COUNT; k++) w->sent_at_update[k] = atomic_load(&w->x->sent[k]);
    }
    long rss = s_status_kb("VmRSS");
    if (rss > w->rss_max_kb) w->rss_max_kb = rss;
    return now - w->last_change > STALL_S || atomic_load(&w->l->done);
}

static uint64_t s_rejected(const server_counters_t *c) {
    return c->rejected_total;
}

static uint64_t s_sent_total(attacker_t *x) {
    uint64_t n = 0;
    for (int k = 0; k < K_COUNT; k++) n += atomic_load(&x->sent[k]);
    return n;
}

typedef struct {
    double upd, env, msgs;  /* per second over the measured part */
    long rss_max_kb;
    int stalled;
} meas_t;

/* Watches for secs (or until a stall) and measures the rates. */
static void s_measure(watch_t *w, double secs, meas_t *m) {
    uint64_t u0 = w->c->updates, e0 = w->a->c.env_steps, s0 = s_sent_total(w->x);
    double t0 = s_now();
    w->rss_max_kb = 0;
    int stalled = 0;
    while (s_now() - t0 < secs && !(stalled = s_tick(w))) usleep(TICK_US);
    double dt = s_now() - t0;
    m->upd = (double)(w->c->updates - u0) / dt;
    m->env = (double)(w->a->c.env_steps - e0) / dt;
    m->msgs = (double)(s_sent_total(w->x) - s0) / dt;
    m->rss_max_kb = w->rss_max_kb;
    m->stalled = stalled;
}

static void s_print_counters(const char *indent, const server_counters_t *c) {
    printf("%srefused:", indent);
    for (int k = 0; k < REJECT_COUNT; k++)
        if (c->refused[k]) printf(" %s %llu", server_reject_name(k), (unsigned long long)c->refused[k]);
    printf("\n%speers_expired %llu, evicted %llu, credits reclaimed %llu, hellos %llu, actors now %d\n",
           indent, (unsigned long long)c->peers_expired, (unsigned long long)c->peers_evicted,
           (unsigned long long)c->credits_reclaimed, (unsigned long long)c->hellos, c->actors);
    printf("%scodec:", indent);
    for (int k = 1; k < WIRE_ERR_COUNT; k++)
        if (k != -WIRE_ERR_BUFFER) printf("%s %s %llu", k > 1 ? "," : "", wire_strerror(-k),
                                          (unsigned long long)c->rejected[k]);
    printf("\n");
}

/* What was being sent when the learner stalled. */
static void s_report_stall(watch_t *w, const char *phase, int round) {
    printf("\nlearner stalled: no update for %.1f s (at %llu updates, %llu env steps) in %s of "
           "round %d%s\n", s_now() - w->last_change, (unsigned long long)w->c->updates,
           (unsigned long long)w->c->env_steps, phase, round + 1,
           atomic_load(&w->l->done) ? " (server_run returned)" : "");
    printf("  being sent since the last update (messages taken by the sender's sockets):");
    for (int k = 0; k < K_COUNT; k++)
        if (w->x->enabled[k])
            printf(" %s %llu", KIND[k],
                   (unsigned long long)(atomic_load(&w->x->sent[k]) - w->sent_at_update[k]));
    printf("\n  learner counters now:\n");
    s_print_counters("    ", w->c);
    printf("  real actor: %llu env steps, %llu transitions sent, %llu reconnects\n",
           (unsigned long long)w->a->c.env_steps, (unsigned long long)w->a->c.transitions_sent,
           (unsigned long long)w->a->c.reconnects);
}

static int s_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_median(const double *v, int n) {
    if (n <= 0) return NAN;
    double t[2 * ROUNDS];
    memcpy(t, v, sizeof(double) * (size_t)n);
    qsort(t, (size_t)n, sizeof(double), s_cmp);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void s_kinds(attacker_t *x, const char *spec) {
    int only = spec && *spec && strcmp(spec, "all") != 0 && spec[0] != '-';
    for (int k = 0; k < K_COUNT; k++) x->enabled[k] = !only;
    if (!spec || !*spec || strcmp(spec, "all") == 0) return;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int neg = t[0] == '-';
        int found = 0;
        for (int k = 0; k < K_COUNT; k++)
            if (strcmp(t + neg, KIND[k]) == 0) {
                x->enabled[k] = !neg;
                found = 1;
            }
        if (!found) {
            fprintf(stderr, "bench_flood: unknown kind '%s' (kinds:", t + neg);
            for (int k = 0; k < K_COUNT; k++) fprintf(stderr, " %s", KIND[k]);
            fprintf(stderr, ")\n");
            exit(2);
        }
    }
}

int main(int argc, char **argv) {
    blas_pick_kernels(argv);  /* first: it may re-execute the program */
    const char *lg = getenv("FLOOD_LOG");
    log_level = LOG_ERROR;
    if (lg && log_parse_level(lg, &log_level) < 0) log_level = LOG_ERROR;
    openblas_set_num_threads(1);
    static attacker_t x;  /* large; zero-initialised */
    s_kinds(&x, argc > 1 ? argv[1] : getenv("FLOOD_KINDS"));
    const char *nv = getenv("FLOOD_NICE");
    x.nice = nv ? atoi(nv) : 0;

    config_t cfg;
    config_defaults(&cfg);
    cfg.task = TASK_HOPPER;
    cfg.algo = ALGO_SAC_V2;
    cfg.hidden = 256;
    cfg.batch = 256;
    cfg.d0_size = 256;
    cfg.replay_ratio = 1;
    cfg.update_after = 300;
    cfg.random_steps = 300;
    cfg.total_steps = (int64_t)1 << 40;
    cfg.eval_interval = 0;
    cfg.send_batch = SEND_BATCH;
    cfg.heartbeat_ms = 200;
    cfg.heartbeat_timeout_ms = 2000;
    cfg.max_msg_bytes = (int64_t)MAX_MSG;
    cfg.run_dir[0] = 0;
    snprintf(cfg.learner_bind, sizeof cfg.learner_bind, "tcp://127.0.0.1:*");
    snprintf(cfg.weights_bind, sizeof cfg.weights_bind, "tcp://127.0.0.1:*");
    char err[256];
    static learner_t l;
    l.s = server_new(&cfg, err, sizeof err);
    if (!l.s) {
        fprintf(stderr, "bench_flood: server_new: %s\n", err);
        return 1;
    }
    const server_counters_t *c = server_counters(l.s);
    pthread_create(&l.th, NULL, s_learner_main, &l);
    static actor_t a;
    actor_opts_default(&a.o);
    snprintf(a.o.learner, sizeof a.o.learner, "%s", server_endpoint(l.s, 0));
    snprintf(a.o.weights, sizeof a.o.weights, "%s", server_endpoint(l.s, 1));
    a.o.heartbeat_ms = 200;
    a.o.timeout_ms = 2000;
    pthread_create(&a.th, NULL, s_actor_main, &a);
    snprintf(x.ep, sizeof x.ep, "%s", server_endpoint(l.s, 0));
    s_attacker_init(&x);
    pthread_t xth;
    pthread_create(&xth, NULL, s_attacker_main, &x);

    printf("flood: SAC-v2 Hopper, hidden %d, batch %d, replay ratio 1, send_batch %d, "
           "max_msg_bytes %zu, 1 real actor, sender at nice %d; kinds:", cfg.hidden, cfg.batch,
           SEND_BATCH, MAX_MSG, x.nice);
    for (int k = 0; k < K_COUNT; k++) if (x.enabled[k]) printf(" %s", KIND[k]);
    printf("\n");
    fflush(stdout);

    watch_t w;
    memset(&w, 0, sizeof w);
    w.l = &l;
    w.a = &a;
    w.x = &x;
    w.c = c;
    w.last_change = s_now();
    int failed = 0, stalls = 0, hung = 0;
    /* warm-up: the learner trains before anything is measured */
    double t0 = s_now();
    while (c->updates < 20 && s_now() - t0 < 30 && !atomic_load(&l.done)) usleep(TICK_US);
    if (c->updates < 20) {
        printf("learner never trained: %llu updates, %llu env steps after %.0f s\n",
               (unsigned long long)c->updates, (unsigned long long)c->env_steps, s_now() - t0);
        return 1;
    }
    w.last_upd = c->updates;
    w.last_change = s_now();

    meas_t A[ROUNDS], B[ROUNDS];
    memset(A, 0, sizeof A);
    memset(B, 0, sizeof B);
    double ratio[ROUNDS], ra[ROUNDS], rb[ROUNDS], ea[ROUNDS], eb[ROUNDS], mb[ROUNDS];
    int nr = 0;
    long rss_base = 0, hwm_base = 0, rss_flood_max = 0;
    server_counters_t before = *c;
    uint64_t sent_flood[K_COUNT] = {0};
    double flood_time = 0;
    for (int r = 0; r < ROUNDS && !hung; r++) {
        /* A: the sender is silent; let the learner drain what the last flood left queued */
        double ts = s_now();
        uint64_t rej = s_rejected(c);
        double rej_t = ts;
        int stalled = 0;
        while (s_now() - ts < SETTLE_A_MAX_S && s_now() - rej_t < 0.2 && !(stalled = s_tick(&w))) {
            usleep(TICK_US);
            if (s_rejected(c) != rej) { rej = s_rejected(c); rej_t = s_now(); }
        }
        if (!stalled) s_measure(&w, PHASE_S, &A[r]);
        if (stalled || A[r].stalled) {
            s_report_stall(&w, "the no-flood phase", r);
            stalls++;
            stalled = 1;
        } else if (r == 0) {
            rss_base = s_status_kb("VmRSS");
            hwm_base = s_status_kb("VmHWM");
            before = *c;
        }
        /* B: the flood */
        uint64_t sent0[K_COUNT];
        for (int k = 0; k < K_COUNT; k++) sent0[k] = atomic_load(&x.sent[k]);
        if (!stalled) {
            atomic_store(&x.flood, 1);
            double tb = s_now();
            w.rss_max_kb = 0;
            while (s_now() - tb < SETTLE_B_S && !(stalled = s_tick(&w))) usleep(TICK_US);
            long settle_rss = w.rss_max_kb;
            if (!stalled) {
                s_measure(&w, PHASE_S, &B[r]);
                stalled = B[r].stalled;
                /* no update for a while at the end: keep flooding until it trains or stalls */
                while (!stalled && s_now() - w.last_change > 1.0) {
                    usleep(TICK_US);
                    stalled = s_tick(&w);
                }
                if (settle_rss > B[r].rss_max_kb) B[r].rss_max_kb = settle_rss;
            }
            flood_time += s_now() - tb;
            atomic_store(&x.flood, 0);
            if (stalled) {
                s_report_stall(&w, "the flood phase", r);
                stalls++;
            } else {
                ra[nr] = A[r].upd;
                rb[nr] = B[r].upd;
                ratio[nr] = B[r].upd / A[r].upd;
                ea[nr] = A[r].env;
                eb[nr] = B[r].env;
                mb[nr] = B[r].msgs;
                nr++;
                if (B[r].rss_max_kb > rss_flood_max) rss_flood_max = B[r].rss_max_kb;
                printf("round %d: no flood %6.1f upd/s %7.0f env/s | flood %6.1f upd/s %7.0f "
                       "env/s, sender %8.0f msg/s | ratio %.2f | RSS peak %.0f MB\n", r + 1,
                       A[r].upd, A[r].env, B[r].upd, B[r].env, B[r].msgs, ratio[nr - 1],
                       B[r].rss_max_kb / 1024.0);
                fflush(stdout);
            }
            for (int k = 0; k < K_COUNT; k++) sent_flood[k] += atomic_load(&x.sent[k]) - sent0[k];
        }
        if (stalled) {
            /* the sender is gone now: does the learner train again? */
            while (atomic_load(&x.phase_open)) usleep(1000);
            double tr = s_now();
            uint64_t u = c->updates;
            while (c->updates == u && s_now() - tr < RECOVER_S && !atomic_load(&l.done))
                usleep(TICK_US);
            if (c->updates != u) {
                printf("  the learner trained again %.1f s after the sender stopped\n",
                       s_now() - tr);
                w.last_upd = c->updates;
                w.last_change = s_now();
            } else {
                printf("  the learner did not train again in %.0f s after the sender stopped: "
                       "rounds ended\n", RECOVER_S);
                hung = 1;
            }
            fflush(stdout);
        }
    }

    /* stop everything; a learner that does not stop is left alone and reported */
    atomic_store(&x.quit, 1);
    pthread_join(xth, NULL);
    a.stop = 1;
    pthread_join(a.th, NULL);
    usleep(300000);  /* the actor's last batches reach the learner */
    int stopped_early = atomic_load(&l.done);
    l.stop = 1;
    double ts = s_now();
    while (!atomic_load(&l.done) && s_now() - ts < 3) usleep(TICK_US);
    int learner_stuck = !atomic_load(&l.done);
    server_counters_t fin = *c;
    if (!learner_stuck) pthread_join(l.th, NULL);
    long hwm_end = s_status_kb("VmHWM");

    /* figures */
    double med_ratio = s_median(ratio, nr), best_ratio = NAN;
    if (nr) {
        double ba = 0, bb = 0;
        for (int i = 0; i < nr; i++) { if (ra[i] > ba) ba = ra[i]; if (rb[i] > bb) bb = rb[i]; }
        best_ratio = bb / ba;
    }
    uint64_t accepted = fin.env_steps, honest = a.c.transitions_sent,
             legit = atomic_load(&x.legit);
    uint64_t excess = accepted > honest + legit ? accepted - honest - legit : 0;
    double share = accepted > legit ? (double)(accepted - legit - excess) / (double)(accepted - legit)
                                    : NAN;
    double growth_mb = rss_flood_max > 0 ? (rss_flood_max - rss_base) / 1024.0 : NAN;
    double first_peak = nr ? B[0].rss_max_kb / 1024.0 : NAN, last_peak = NAN;
    for (int r = ROUNDS - 1; r >= 0 && nr; r--)
        if (!B[r].stalled && B[r].rss_max_kb > 0) { last_peak = B[r].rss_max_kb / 1024.0; break; }

    printf("\nflood summary (%d of %d rounds measured, %.1f s of flood)\n", nr, ROUNDS, flood_time);
    printf("  %-44s %12s %12s %8s\n", "figure", "no flood", "flood", "ratio");
    printf("  %-44s %12.1f %12.1f %8.2f   (median of per-round ratios; best/best %.2f)\n",
           "learner updates/s (median)", s_median(ra, nr), s_median(rb, nr), med_ratio,
           best_ratio);
    printf("  %-44s %12.0f %12.0f %8.2f\n", "real actor env steps/s (median)", s_median(ea, nr),
           s_median(eb, nr), s_median(eb, nr) / s_median(ea, nr));
    printf("  %-44s %12s %12.0f\n", "sender messages/s offered (median)", "", s_median(mb, nr));
    printf("  sender messages taken by its sockets during the floods, by kind:\n   ");
    for (int k = 0; k < K_COUNT; k++)
        if (x.enabled[k])
            printf(" %s %.0f/s", KIND[k], flood_time > 0 ? sent_flood[k] / flood_time : 0.0);
    printf("\n  learner rejections during the run (before the first flood: %llu):\n",
           (unsigned long long)s_rejected(&before));
    s_print_counters("    ", &fin);
    printf("  env steps accepted %llu: real actor sent %llu, dup originals %llu (legitimate), "
           "1e30-valued sent within credits %llu; beyond these: %llu\n",
           (unsigned long long)accepted, (unsigned long long)honest, (unsigned long long)legit,
           (unsigned long long)atomic_load(&x.huge_sent), (unsigned long long)excess);
    printf("  real actor: %llu env steps, %llu reconnects, %llu bad messages\n",
           (unsigned long long)a.c.env_steps, (unsigned long long)a.c.reconnects,
           (unsigned long long)a.c.bad_messages);
    printf("  RSS: %.0f MB before the floods, peak %.0f MB during them (growth %.0f MB; first "
           "flood peak %.0f MB, last %.0f MB); VmHWM %.0f -> %.0f MB\n", rss_base / 1024.0,
           rss_flood_max / 1024.0, growth_mb, first_peak, last_peak, hwm_base / 1024.0,
           hwm_end / 1024.0);
    printf("\n%s update rate under flood >= 0.90 of without: %.2f\n",
           nr && med_ratio >= 0.90 ? "PASS" : "MISS", med_ratio);
    printf("%s real actor's share of accepted env steps == 1.0: %.4f (%llu from the sender)\n",
           nr && excess == 0 ? "PASS" : "MISS", share, (unsigned long long)excess);
    int bounded = nr && growth_mb <= 256 && last_peak <= first_peak + 32;
    printf("%s RSS growth during the floods bounded (<= 256 MB, last flood peak <= first + 32 MB): "
           "%.0f MB\n", bounded ? "PASS" : "MISS", growth_mb);
    printf("%s the learner never stalled: %d stall(s)%s\n", stalls ? "MISS" : "PASS", stalls,
           hung ? ", the last one for good" : "");

    if (a.rc != 0) { printf("actor_run failed\n"); failed = 1; }
    if (stopped_early) { printf("the learner stopped by itself\n"); failed = 1; }
    if (learner_stuck) printf("the learner did not stop when asked (left running)\n");
    if (stalls || hung || learner_stuck) failed = 1;
    fflush(stdout);
    if (!learner_stuck) server_destroy(&l.s);
    s_attacker_free(&x);
    return failed;
}
