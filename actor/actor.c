#include "actor.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "alloc.h"
#include "curve.h"
#include "log.h"
#include "nn.h"
#include "rng.h"
#include "tasks/task.h"
#include "wire.h"

#define ACTOR_BUILD_VERSION "metasac-1"

void actor_opts_default(actor_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->num_envs = 1;
    o->requested_id = -1;
    o->max_msg_bytes = 64 << 20;
    o->heartbeat_ms = 1000;
    o->timeout_ms = 10000;
    o->give_up_ms = 0;
}

static double s_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

typedef struct {
    const actor_opts_t *o;
    actor_counters_t *c;
    void *zctx, *dealer, *sub;
    wire_decoder_t *dec;
    uint8_t *buf;              /* send buffer, sized per session */
    size_t bufcap;
    int connected, welcomed;
    double last_recv, last_send;
    double last_learner;       /* last message from a learner (or the start) */
    double last_stats;         /* when the last Stats went out */
    uint64_t stats_steps;      /* env steps at the last Stats */
    double policy_us, step_us; /* time in policy forward passes and in env steps */
    char host[WIRE_MAX_NAME + 1];
    int curve;                 /* keys below are loaded */
    char server_pub[41], my_secret[41], my_pub[41];

    /* the session, from the Welcome */
    uint32_t id;
    int td3;
    float expl_noise;
    int send_batch;
    float max_abs_obs, max_abs_reward;  /* the learner refuses batches beyond these */
    uint32_t epoch;            /* credit epoch */
    char task[64];
    task_model_t *model;
    task_env_t **envs;
    int O, A;
    nn_shape_t shape;
    float *phi;                /* [pi_n] current weights */
    uint64_t version;
    float *low, *high, *scale, *bias;  /* [A] */
    pi_ws_f *pw;
    rng_t rng;                 /* action noise */
    float *obs, *next, *act, *xi;      /* [num_envs][O or A] */

    /* outgoing */
    int nb;                    /* transitions pending */
    uint64_t batch_version;    /* weights of the first pending transition */
    float *b_obs, *b_act, *b_rew, *b_next;
    protobuf_c_boolean *b_term, *b_trunc;
    float *resets;
    int nresets, reset_cap;
    uint64_t seq;
    uint64_t credits_random, credits_policy;
    uint64_t need_version;     /* sync mode: act only with exactly these weights */
    uint32_t session_id;       /* actor id of the session whose envs are running */

    /* evaluator */
    int eval_requested;        /* an evaluation is asked for */
    uint64_t eval_version;     /* of these weights (0 is a valid version) */
    int eval_phi_valid;        /* eval_phi holds weights of eval_phi_version */
    uint32_t eval_episodes;
    float *eval_phi;
    uint64_t eval_phi_version;
} actor_t;

/* ---- sockets -------------------------------------------------------------------------- */

/* linger_ms: how long unsent messages may still go out (0 when the learner is gone). */
static void s_close_sockets(actor_t *a, int linger_ms) {
    if (a->dealer) {
        zmq_setsockopt(a->dealer, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        zmq_close(a->dealer);
    }
    if (a->sub) {
        zmq_setsockopt(a->sub, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        zmq_close(a->sub);
    }
    a->dealer = a->sub = NULL;
    a->connected = a->welcomed = 0;
}

static int s_send(actor_t *a, int64_t len) {
    if (len < 0) {
        LOG_E("actor %u: message does not fit the send buffer (%s)", a->id, wire_strerror((int)len));
        return -1;
    }
    if (zmq_send(a->dealer, a->buf, (size_t)len, ZMQ_DONTWAIT) < 0) {
        if (a->c->send_stalls++ % 1000 == 0)
            LOG_W("actor %u: the queue to the learner is full (%s): holding %d transitions "
                  "until it drains (%llu times so far)", a->id, zmq_strerror(errno), a->nb,
                  (unsigned long long)a->c->send_stalls);
        return -1;
    }
    a->last_send = s_now_ms();
    return 0;
}

static int s_connect(actor_t *a) {
    a->dealer = zmq_socket(a->zctx, ZMQ_DEALER);
    int linger = 200, hwm = 1000, ivl = 100, maxivl = 2000;
    int64_t maxmsg = a->o->max_msg_bytes;
    zmq_setsockopt(a->dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(a->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(a->dealer, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(a->dealer, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(a->dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(a->dealer, ZMQ_RECONNECT_IVL_MAX, &maxivl, sizeof maxivl);
    char err[256];
    if (a->curve && curve_client_setup(a->dealer, a->server_pub, a->my_secret, a->my_pub, err,
                                       sizeof err) < 0) {
        LOG_E("%s", err);
        return -1;
    }
    if (zmq_connect(a->dealer, a->o->learner) != 0) {
        LOG_E("cannot connect to learner endpoint '%s': %s", a->o->learner, zmq_strerror(errno));
        return -1;
    }
    if (!a->o->evaluator && a->o->weights[0]) {
        a->sub = zmq_socket(a->zctx, ZMQ_SUB);
        int conflate = 1;  /* only the newest weights matter */
        zmq_setsockopt(a->sub, ZMQ_CONFLATE, &conflate, sizeof conflate);
        zmq_setsockopt(a->sub, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(a->sub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        zmq_setsockopt(a->sub, ZMQ_SUBSCRIBE, "", 0);
        if (a->curve && curve_client_setup(a->sub, a->server_pub, a->my_secret, a->my_pub, err,
                                           sizeof err) < 0) {
            LOG_E("%s", err);
            return -1;
        }
        if (zmq_connect(a->sub, a->o->weights) != 0) {
            LOG_E("cannot connect to weights endpoint '%s': %s", a->o->weights, zmq_strerror(errno));
            return -1;
        }
    }
    a->connected = 1;
    a->last_recv = s_now_ms();
    Metasac__Hello h = METASAC__HELLO__INIT;
    h.role = a->o->evaluator ? METASAC__ROLE__ROLE_EVALUATOR : METASAC__ROLE__ROLE_ACTOR;
    h.num_envs = (uint32_t)a->o->num_envs;
    h.build_version = (char *)ACTOR_BUILD_VERSION;
    h.host = a->host;
    h.pid = (uint32_t)getpid();
    int64_t want = a->id ? (int64_t)a->id : a->o->requested_id;
    if (want > 0) {
        h.actor_id_request_case = METASAC__HELLO__ACTOR_ID_REQUEST_REQUESTED_ACTOR_ID;
        h.requested_actor_id = (uint32_t)want;
    }
    s_send(a, wire_encode_hello(&h, a->buf, a->bufcap));  /* queued until connected */
    return 0;
}

/* ---- session set-up from the Welcome ---------------------------------------------------- */

static void s_free_session(actor_t *a) {
    if (a->envs)
        for (int e = 0; e < a->o->num_envs; e++) task_env_destroy(&a->envs[e]);
    free(a->envs);
    a->envs = NULL;
    task_model_destroy(&a->model);
    pi_ws_destroy_f(&a->pw);
    float **bufs[] = {&a->phi, &a->low, &a->high, &a->scale, &a->bias, &a->obs, &a->next,
                      &a->act, &a->xi, &a->b_obs, &a->b_act, &a->b_rew, &a->b_next, &a->resets,
                      &a->eval_phi};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) { free(*bufs[i]); *bufs[i] = NULL; }
    free(a->b_term); free(a->b_trunc);
    a->b_term = a->b_trunc = NULL;
    a->task[0] = 0;
}

/* Copies weights whose layout matches the session's policy into dst. -1 if they do not. */
static int s_take_weights(actor_t *a, const Metasac__PolicyWeights *w, float *dst) {
    if (w->n_params != a->shape.pi_n) {
        LOG_W("actor %u: weights with %zu parameters, the policy has %zu", a->id, w->n_params,
              a->shape.pi_n);
        a->c->bad_messages++;
        return -1;
    }
    memcpy(dst, w->params, sizeof(float) * w->n_params);
    return 0;
}

/* Subnormal values, which the learner refuses, become 0. */
static void s_clean_obs(float *obs, int n) {
    for (int i = 0; i < n; i++)
        if (fabsf(obs[i]) < FLT_MIN) obs[i] = 0;
}

static void s_queue_reset(actor_t *a, float *obs) {
    if (a->o->evaluator) return;  /* an evaluator sends no data (the learner refuses it) */
    s_clean_obs(obs, a->O);
    if (a->nresets == a->reset_cap) return;  /* bounded; flushed with every batch */
    memcpy(a->resets + (size_t)a->nresets * a->O, obs, sizeof(float) * a->O);
    a->nresets++;
}

static int s_flush(actor_t *a);

static int s_welcome(actor_t *a, const Metasac__Welcome *w) {
    const int N = a->o->num_envs;
    if (strcmp(w->task, a->task) != 0) {
        s_free_session(a);
        a->model = task_model_new(w->task);
        if (!a->model) {
            LOG_E("the learner's task '%s' cannot be loaded here", w->task);
            return -1;
        }
        snprintf(a->task, sizeof a->task, "%s", w->task);
    }
    a->O = (int)w->obs_dim;
    a->A = (int)w->act_dim;
    if (a->O != task_model_obs_dim(a->model) || a->A != task_model_act_dim(a->model)) {
        LOG_E("the learner's sizes %d/%d differ from task %s's %d/%d", a->O, a->A, w->task,
              task_model_obs_dim(a->model), task_model_act_dim(a->model));
        return -1;
    }
    const Metasac__PolicyWeights *pw = w->weights;
    if (!pw || pw->n_layout < 1) {
        LOG_E("welcome without weights");
        return -1;
    }
    nn_shape_init(&a->shape, a->O, a->A, (int)pw->layout[0]->rows);
    if (!a->envs) {
        int cap = N > 1 ? N : 1;
        a->envs = rl_calloc((size_t)N, sizeof *a->envs);
        a->phi = rl_aligned(sizeof(float) * a->shape.pi_n);
        a->eval_phi = rl_aligned(sizeof(float) * a->shape.pi_n);
        a->low = rl_aligned(sizeof(float) * a->A);
        a->high = rl_aligned(sizeof(float) * a->A);
        a->scale = rl_aligned(sizeof(float) * a->A);
        a->bias = rl_aligned(sizeof(float) * a->A);
        a->pw = pi_ws_new_f(&a->shape, cap);
        a->obs = rl_aligned(sizeof(float) * cap * a->O);
        a->next = rl_aligned(sizeof(float) * cap * a->O);
        a->act = rl_aligned(sizeof(float) * cap * a->A);
        a->xi = rl_aligned(sizeof(float) * cap * a->A);
    }
    int resume = a->envs && a->envs[0] && a->session_id == w->actor_id;
    a->id = a->session_id = w->actor_id;
    a->c->actor_id = a->id;
    a->td3 = strcmp(w->algo, "td3") == 0;
    a->expl_noise = w->expl_noise;
    a->send_batch = w->send_batch > 0 ? (int)w->send_batch : 64;
    a->reset_cap = (int)w->initial_resets + 4 * N + a->send_batch;
    a->max_abs_obs = w->max_abs_obs > 0 ? w->max_abs_obs : FLT_MAX;
    a->max_abs_reward = w->max_abs_reward > 0 ? w->max_abs_reward : FLT_MAX;
    a->epoch = 0;
    /* the send buffer fits the largest message this session can send */
    size_t need = wire_transitions_bound((uint32_t)a->send_batch, (uint32_t)a->O, (uint32_t)a->A);
    size_t rb = wire_reset_states_bound((uint32_t)a->reset_cap, (uint32_t)a->O);
    if (rb > need) need = rb;
    need += 4096;
    if (need > a->bufcap) {
        free(a->buf);
        a->buf = rl_malloc(need);
        a->bufcap = need;
    }
    free(a->b_obs); free(a->b_act); free(a->b_rew); free(a->b_next); free(a->resets);
    free(a->b_term); free(a->b_trunc);
    a->b_obs = rl_aligned(sizeof(float) * a->send_batch * a->O);
    a->b_next = rl_aligned(sizeof(float) * a->send_batch * a->O);
    a->b_act = rl_aligned(sizeof(float) * a->send_batch * a->A);
    a->b_rew = rl_aligned(sizeof(float) * a->send_batch);
    a->b_term = rl_calloc((size_t)a->send_batch, sizeof(protobuf_c_boolean));
    a->b_trunc = rl_calloc((size_t)a->send_batch, sizeof(protobuf_c_boolean));
    a->resets = rl_aligned(sizeof(float) * (size_t)a->reset_cap * a->O);
    a->nb = a->nresets = 0;
    a->seq = 0;
    a->credits_random = a->credits_policy = 0;
    a->need_version = 0;
    for (int j = 0; j < a->A; j++) {
        a->low[j] = w->action_low[j];
        a->high[j] = w->action_high[j];
        a->scale[j] = (a->high[j] - a->low[j]) / 2;
        a->bias[j] = (a->high[j] + a->low[j]) / 2;
    }
    if (s_take_weights(a, pw, a->phi) < 0) return -1;
    a->version = pw->version;
    a->c->weights_received++;
    a->c->last_weight_version = a->version;
    if (resume) {
        /* the same learner run came back (a restart from its checkpoint): the episodes, their
           observations and the noise stream go on where they were */
        LOG_I("actor %u: episodes continue", a->id);
    } else {
        rng_seed(&a->rng, w->run_seed, w->seed_stream_base + 0xFFFF);
        for (int e = 0; e < N; e++) {
            task_env_destroy(&a->envs[e]);
            a->envs[e] = task_env_new(a->model, w->run_seed, w->seed_stream_base + (uint64_t)e);
        }
        /* the extra resets the learner asked for (to fill D0 up front), then each env's first */
        for (uint32_t k = 0; k < w->initial_resets; k++) {
            if (task_reset(a->envs[0], a->obs) == 0) s_queue_reset(a, a->obs);
        }
        for (int e = 0; e < N; e++)
            if (task_reset(a->envs[e], a->obs + (size_t)e * a->O) == 0)
                s_queue_reset(a, a->obs + (size_t)e * a->O);
    }
    a->welcomed = 1;
    s_flush(a);
    LOG_I("actor %u: %s on %s, %d env(s), weights v%llu%s", a->id,
          a->o->evaluator ? "evaluating" : "acting", a->task, N, (unsigned long long)a->version,
          a->c->reconnects ? " (reconnected)" : "");
    return 0;
}

/* ---- outgoing ------------------------------------------------------------------------- */

/* Sends the pending reset states and transitions. 0 when nothing is left pending; -1 when the
 * queue to the learner is full (they stay pending, sequence numbers unused, and go out on a
 * later call: the learner refuses sequence gaps). */
static int s_flush(actor_t *a) {
    if (a->nresets > 0) {
        Metasac__ResetStates r = METASAC__RESET_STATES__INIT;
        r.actor_id = a->id;
        r.n = (uint32_t)a->nresets;
        r.obs_dim = (uint32_t)a->O;
        r.n_obs = (size_t)a->nresets * a->O;
        r.obs = a->resets;
        if (s_send(a, wire_encode_reset_states(&r, a->buf, a->bufcap)) != 0) return -1;
        a->c->resets_sent += (uint64_t)a->nresets;
        a->nresets = 0;
    }
    if (a->nb > 0) {
        Metasac__TransitionBatch t = METASAC__TRANSITION_BATCH__INIT;
        size_t n = (size_t)a->nb;
        t.actor_id = a->id;
        t.seq = a->seq;
        t.credit_epoch = a->epoch;
        t.weight_version = a->batch_version;
        t.n = (uint32_t)n;
        t.obs_dim = (uint32_t)a->O;
        t.act_dim = (uint32_t)a->A;
        t.n_obs = t.n_next_obs = n * a->O;
        t.obs = a->b_obs;
        t.next_obs = a->b_next;
        t.n_act = n * a->A;
        t.act = a->b_act;
        t.n_rew = t.n_terminated = t.n_truncated = n;
        t.rew = a->b_rew;
        t.terminated = a->b_term;
        t.truncated = a->b_trunc;
        if (s_send(a, wire_encode_transitions(&t, a->buf, a->bufcap)) != 0) return -1;
        a->seq++;
        a->c->batches_sent++;
        a->c->transitions_sent += n;
        a->nb = 0;
    }
    return 0;
}

/* What the learner would refuse: a value beyond its bounds (a blown-up simulation). Subnormal
 * values, which no physical quantity needs, become 0 (the learner refuses them too). */
static int s_sendable(const actor_t *a, float *next, float *rew) {
    int ok = fabsf(*rew) <= a->max_abs_reward;
    if (fabsf(*rew) < FLT_MIN) *rew = 0;
    for (int i = 0; i < a->O; i++) {
        float x = fabsf(next[i]);
        ok &= x <= a->max_abs_obs;
        if (x < FLT_MIN) next[i] = 0;
    }
    return ok;
}


static void s_heartbeat(actor_t *a) {
    Metasac__Heartbeat h = METASAC__HEARTBEAT__INIT;
    h.actor_id = a->id;
    h.weight_version = a->version;
    h.time_us = (uint64_t)(s_now_ms() * 1e3);
    s_send(a, wire_encode_heartbeat(&h, a->buf, a->bufcap));
}

/* ---- stepping ------------------------------------------------------------------------- */

/* Actions for envs [0, n): uniform random, the stochastic policy, or TD3's deterministic
 * policy plus N(0, expl_noise c) noise clipped to the bounds. */
static void s_actions(actor_t *a, int n, int random) {
    const int A = a->A;
    if (random) {
        for (int k = 0; k < n * A; k++) {
            int j = k % A;
            a->act[k] = a->low[j] + (a->high[j] - a->low[j]) * rng_uniformf(&a->rng);
        }
        return;
    }
    double t0 = s_now_ms();
    if (a->td3) {
        pi_forward_f(&a->shape, a->phi, a->scale, a->bias, a->obs, n, NULL, a->pw);
        for (int k = 0; k < n * A; k++) {
            int j = k % A;
            float v = a->pw->act[k] + a->expl_noise * a->scale[j] * (float)rng_normal(&a->rng);
            a->act[k] = v < a->low[j] ? a->low[j] : v > a->high[j] ? a->high[j] : v;
        }
        a->policy_us += 1e3 * (s_now_ms() - t0);
        return;
    }
    rng_normal_fill(&a->rng, a->xi, n * A);
    pi_forward_f(&a->shape, a->phi, a->scale, a->bias, a->obs, n, a->xi, a->pw);
    memcpy(a->act, a->pw->act, sizeof(float) * n * A);
    a->policy_us += 1e3 * (s_now_ms() - t0);
}

static void s_step(actor_t *a) {
    const int O = a->O, A = a->A;
    if (a->nb == a->send_batch && s_flush(a) != 0) return;  /* the last batch is not out yet */
    uint64_t credits = a->credits_random + a->credits_policy;
    int n = credits < (uint64_t)a->o->num_envs ? (int)credits : a->o->num_envs;
    if (n > a->send_batch - a->nb) n = a->send_batch - a->nb;
    int random = a->credits_random > 0;
    if (random && (uint64_t)n > a->credits_random) n = (int)a->credits_random;
    s_actions(a, n, random);
    double t0 = s_now_ms();
    for (int e = 0; e < n; e++) {
        float *obs = a->obs + (size_t)e * O, *next = a->next + (size_t)e * O;
        const float *act = a->act + (size_t)e * A;
        task_step_t r;
        if (task_step(a->envs[e], act, next, &r) < 0) {  /* MuJoCo error: start over */
            if (task_reset(a->envs[e], obs) == 0) s_queue_reset(a, obs);
            continue;
        }
        float rew = (float)r.reward;
        if (!s_sendable(a, next, &rew)) {  /* not sent, no credit used: start over */
            if (a->c->dropped_steps++ % 100 == 0)
                LOG_W("actor %u: a step beyond the learner's bounds (|obs| <= %g, |reward| <= %g) "
                      "was dropped and its episode restarted (%llu so far)", a->id,
                      (double)a->max_abs_obs, (double)a->max_abs_reward,
                      (unsigned long long)a->c->dropped_steps);
            if (task_reset(a->envs[e], obs) == 0) s_queue_reset(a, obs);
            continue;
        }
        if (a->nb == 0) a->batch_version = a->version;
        int i = a->nb++;
        memcpy(a->b_obs + (size_t)i * O, obs, sizeof(float) * O);
        memcpy(a->b_next + (size_t)i * O, next, sizeof(float) * O);
        memcpy(a->b_act + (size_t)i * A, act, sizeof(float) * A);
        a->b_rew[i] = rew;
        a->b_term[i] = r.terminated != 0;
        a->b_trunc[i] = r.truncated != 0;
        a->c->env_steps++;
        if (random) a->credits_random--;
        else a->credits_policy--;
        if (r.terminated || r.truncated) {
            a->c->episodes++;
            if (task_reset(a->envs[e], obs) == 0) s_queue_reset(a, obs);
        } else {
            memcpy(obs, next, sizeof(float) * O);
        }
        if (a->nb == a->send_batch && s_flush(a) != 0) return;
    }
    a->step_us += 1e3 * (s_now_ms() - t0);
    if (a->credits_random + a->credits_policy == 0 || a->nresets >= a->reset_cap / 2) s_flush(a);
}

/* Every STATS_MS an actor reports its own figures (the learner's per-host view). */
#define STATS_MS 5000.0
static void s_stats(actor_t *a, double now) {
    if (now - a->last_stats < STATS_MS) return;
    double dt = (now - a->last_stats) / 1e3;
    Metasac__Stats st = METASAC__STATS__INIT;
    st.actor_id = a->id;
    st.weight_version = a->version;
    st.env_steps = a->c->env_steps;
    st.episodes = a->c->episodes;
    st.batches_sent = a->c->batches_sent;
    st.transitions_sent = a->c->transitions_sent;
    st.resets_sent = a->c->resets_sent;
    st.step_time_us = (uint64_t)a->step_us;
    st.policy_time_us = (uint64_t)a->policy_us;
    st.reconnects = (uint32_t)a->c->reconnects;
    st.steps_per_sec = a->last_stats > 0 ? (double)(a->c->env_steps - a->stats_steps) / dt : 0;
    st.host = a->host;
    st.pid = (uint32_t)getpid();
    st.num_envs = (uint32_t)a->o->num_envs;
    s_send(a, wire_encode_stats(&st, a->buf, a->bufcap));
    a->last_stats = now;
    a->stats_steps = a->c->env_steps;
}

/* Evaluator: deterministic episodes of eval_phi; returns 0 or -1 when stopped. */
static int s_evaluate(actor_t *a, volatile sig_atomic_t *stop) {
    uint32_t E = a->eval_episodes;
    double *ret = rl_calloc(E, sizeof(double));
    uint32_t *len = rl_calloc(E, sizeof(uint32_t));
    float *obs = a->obs, *next = a->next;
    for (uint32_t ep = 0; ep < E && !*stop; ep++) {
        task_env_t *env = a->envs[ep % (uint32_t)a->o->num_envs];
        if (task_reset(env, obs) < 0) { ep--; continue; }
        for (;;) {
            pi_forward_f(&a->shape, a->eval_phi, a->scale, a->bias, obs, 1, NULL, a->pw);
            task_step_t r;
            if (task_step(env, a->pw->act, next, &r) < 0) break;
            ret[ep] += r.reward;
            len[ep]++;
            memcpy(obs, next, sizeof(float) * a->O);
            if (r.terminated || r.truncated) break;
        }
        s_heartbeat(a);
    }
    int rc = -1;
    if (!*stop) {
        double m = 0, v = 0;
        for (uint32_t i = 0; i < E; i++) m += ret[i];
        m /= E;
        for (uint32_t i = 0; i < E; i++) v += (ret[i] - m) * (ret[i] - m);
        Metasac__EvalResult res = METASAC__EVAL_RESULT__INIT;
        res.actor_id = a->id;
        res.weight_version = a->eval_version;
        res.episodes = E;
        res.n_returns = res.n_lengths = E;
        res.returns = ret;
        res.lengths = len;
        res.mean = m;
        res.std = sqrt(v / E);
        s_send(a, wire_encode_eval_result(&res, a->buf, a->bufcap));
        a->c->evals_run++;
        LOG_I("evaluator %u: weights v%llu: return %.1f +- %.1f over %u episodes", a->id,
              (unsigned long long)a->eval_version, m, res.std, E);
        rc = 0;
    }
    free(ret);
    free(len);
    a->eval_requested = 0;
    return rc;
}

/* ---- incoming ------------------------------------------------------------------------- */

static int s_handle(actor_t *a, const void *data, size_t len) {
    const Metasac__Envelope *env;
    int rc = wire_decode(a->dec, data, len, &env);
    if (rc != WIRE_OK) {
        a->c->bad_messages++;
        LOG_W("actor %u: rejected a message from the learner: %s (%s)", a->id, wire_strerror(rc),
              wire_decoder_detail(a->dec));
        return 0;
    }
    a->last_recv = a->last_learner = s_now_ms();
    switch (env->body_case) {
    case METASAC__ENVELOPE__BODY_WELCOME:
        return s_welcome(a, env->welcome);
    case METASAC__ENVELOPE__BODY_CREDITS:
        if (env->credits->epoch != a->epoch) {
            /* the learner took back what we held: steps not yet sent were taken under credits
               that are gone (it would refuse them) */
            if (env->credits->epoch < a->epoch) break;  /* stale */
            a->epoch = env->credits->epoch;
            a->credits_random = a->credits_policy = 0;
            a->nb = 0;
            a->c->credits_revoked++;
            LOG_W("actor %u: the learner took back its credits (epoch %u)", a->id, a->epoch);
        }
        if (env->credits->random_actions) a->credits_random += env->credits->steps;
        else a->credits_policy += env->credits->steps;
        a->need_version = env->credits->act_with_version;
        break;
    case METASAC__ENVELOPE__BODY_STOP:
        LOG_I("actor %u: the learner ended the run (%s) at %llu env steps", a->id,
              env->stop->reason ? env->stop->reason : "", (unsigned long long)env->stop->env_steps);
        if (!a->o->ignore_stop) a->c->stopped = 1;
        break;
    case METASAC__ENVELOPE__BODY_WEIGHTS:
        LOG_D("actor %u: weights v%llu (have v%llu, need v%llu, credits %llu)", a->id,
              (unsigned long long)env->weights->version, (unsigned long long)a->version,
              (unsigned long long)a->need_version,
              (unsigned long long)(a->credits_random + a->credits_policy));
        if (!a->welcomed) break;
        if (a->o->evaluator) {  /* the snapshot to evaluate */
            if (s_take_weights(a, env->weights, a->eval_phi) == 0) {
                a->eval_phi_version = env->weights->version;
                a->eval_phi_valid = 1;
            }
        } else if (env->weights->version > a->version &&
                   s_take_weights(a, env->weights, a->phi) == 0) {
            a->version = env->weights->version;
            a->c->weights_received++;
            a->c->last_weight_version = a->version;
        }
        break;
    case METASAC__ENVELOPE__BODY_EVAL_REQUEST:
        a->eval_requested = 1;
        a->eval_version = env->eval_request->weight_version;
        a->eval_episodes = env->eval_request->episodes;
        if (wire_eval_result_bound(a->eval_episodes) + 4096 > a->bufcap) {
            free(a->buf);
            a->bufcap = wire_eval_result_bound(a->eval_episodes) + 4096;
            a->buf = rl_malloc(a->bufcap);
        }
        break;
    case METASAC__ENVELOPE__BODY_HEARTBEAT:
        break;
    default:
        a->c->bad_messages++;
        LOG_W("actor %u: unexpected %s message from the learner", a->id,
              wire_body_name(env->body_case));
    }
    return 0;
}

int actor_run(const actor_opts_t *o, volatile sig_atomic_t *stop, actor_counters_t *counters) {
    actor_counters_t local;
    actor_t a;
    int rc = 0;
    memset(&a, 0, sizeof a);
    a.o = o;
    a.c = counters ? counters : &local;
    memset(a.c, 0, sizeof *a.c);
    wire_limits_t lim = {.max_msg_bytes = (size_t)o->max_msg_bytes};
    a.dec = wire_decoder_new(&lim);
    a.bufcap = (size_t)64 << 10;  /* hello and heartbeats; grown to the session's needs */
    a.buf = rl_malloc(a.bufcap);
    if (gethostname(a.host, sizeof a.host) != 0) snprintf(a.host, sizeof a.host, "unknown");
    a.host[WIRE_MAX_NAME] = 0;
    for (char *c = a.host; *c; c++)
        if (*c < 0x21 || *c > 0x7e || *c == '"' || *c == '\\') *c = '_';
    a.last_learner = s_now_ms();
    if (o->curve_server_key[0] || o->curve_key[0]) {
        char err[512];
        if (!o->curve_server_key[0] || !o->curve_key[0]) {
            LOG_E("CURVE needs both the learner's public key and this actor's secret key");
            rc = -1;
        } else if (curve_available(err, sizeof err) < 0 ||
                   curve_load_public(o->curve_server_key, a.server_pub, err, sizeof err) < 0 ||
                   curve_load_secret(o->curve_key, a.my_secret, a.my_pub, err, sizeof err) < 0) {
            LOG_E("%s", err);
            rc = -1;
        } else {
            a.curve = 1;
        }
    }
    a.zctx = zmq_ctx_new();
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (rc == 0 && !*stop && !a.c->stopped) {
        if (!a.connected && s_connect(&a) < 0) { rc = -1; break; }
        double now = s_now_ms();
        int can_step = a.welcomed && !o->evaluator && a.credits_random + a.credits_policy > 0 &&
                       (a.need_version == 0 || a.version == a.need_version);
        zmq_pollitem_t items[2] = {{a.dealer, 0, ZMQ_POLLIN, 0}, {a.sub, 0, ZMQ_POLLIN, 0}};
        int nitems = a.sub ? 2 : 1;
        if (zmq_poll(items, nitems, can_step ? 0 : 50) < 0 && errno != EINTR) {
            LOG_E("poll: %s", zmq_strerror(errno));
            rc = -1;
            break;
        }
        for (int k = 0; k < 256 && zmq_msg_recv(&msg, a.dealer, ZMQ_DONTWAIT) >= 0; k++) {
            if (s_handle(&a, zmq_msg_data(&msg), zmq_msg_size(&msg)) < 0) { rc = -1; break; }
        }
        if (rc < 0 || a.c->stopped) break;
        while (a.sub && zmq_msg_recv(&msg, a.sub, ZMQ_DONTWAIT) >= 0)
            s_handle(&a, zmq_msg_data(&msg), zmq_msg_size(&msg));
        if (a.welcomed && !o->evaluator && a.credits_random + a.credits_policy > 0 &&
            (a.need_version == 0 || a.version == a.need_version))
            s_step(&a);
        if (o->evaluator && a.welcomed && a.eval_requested && a.eval_phi_valid &&
            a.eval_phi_version == a.eval_version)
            s_evaluate(&a, stop);
        now = s_now_ms();
        if (a.welcomed && !o->evaluator) s_stats(&a, now);
        if (a.connected && now - a.last_send > o->heartbeat_ms) {
            if (a.welcomed) s_heartbeat(&a);
            else a.last_send = now;
        }
        if (o->give_up_ms > 0 && now - a.last_learner > o->give_up_ms) {
            LOG_E("actor %u: no learner at %s for %.0f s: giving up", a.id, o->learner,
                  (now - a.last_learner) / 1e3);
            rc = -2;
            break;
        }
        if (a.connected && now - a.last_recv > o->timeout_ms) {
            LOG_W("actor %u: no word from the learner for %.1f s: reconnecting", a.id,
                  (now - a.last_recv) / 1e3);
            s_close_sockets(&a, 0);
            a.c->reconnects++;
        }
    }
    if (a.welcomed && !a.c->stopped && rc == 0) s_flush(&a);  /* pending data, a short linger */
    zmq_msg_close(&msg);
    s_close_sockets(&a, 500);
    zmq_ctx_term(a.zctx);
    s_free_session(&a);
    free(a.buf);
    wire_decoder_destroy(&a.dec);
    LOG_I("actor %u: stopped after %llu env steps, %llu transitions sent, %llu reconnects", a.id,
          (unsigned long long)a.c->env_steps, (unsigned long long)a.c->transitions_sent,
          (unsigned long long)a.c->reconnects);
    return rc;
}
