/* wire: every message round-trips (also over a real ZeroMQ inproc PAIR), and every class of bad
 * input is rejected with its own code: garbage, truncation, wrong version, shape mismatch, NaN,
 * Inf, oversize, unknown type, out-of-range scalars, arena exhaustion. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "rng.h"
#include "wire.h"

#define OBS 5
#define ACT 3
#define N 7
#define MAXMSG (1u << 20)

static uint8_t buf[MAXMSG];

static wire_decoder_t *s_decoder(uint32_t obs, uint32_t act, size_t n_params) {
    wire_limits_t lim = {.max_msg_bytes = MAXMSG, .obs_dim = obs, .act_dim = act,
                         .n_params = n_params};
    return wire_decoder_new(&lim);
}

/* A transition batch over static arrays filled with distinct finite values. */
static float t_obs[N * OBS], t_act[N * ACT], t_rew[N], t_next[N * OBS];
static protobuf_c_boolean t_term[N], t_trunc[N];

static Metasac__TransitionBatch s_batch(void) {
    for (int i = 0; i < N * OBS; i++) t_obs[i] = 0.5f * (float)i - 3.0f, t_next[i] = -t_obs[i];
    for (int i = 0; i < N * ACT; i++) t_act[i] = 0.01f * (float)i;
    for (int i = 0; i < N; i++) t_rew[i] = (float)i * 1.25f, t_term[i] = i == 3, t_trunc[i] = i == 6;
    Metasac__TransitionBatch b = METASAC__TRANSITION_BATCH__INIT;
    b.actor_id = 4;
    b.seq = 123456789012ull;
    b.weight_version = 77;
    b.n = N;
    b.obs_dim = OBS;
    b.act_dim = ACT;
    b.n_obs = N * OBS, b.obs = t_obs;
    b.n_act = N * ACT, b.act = t_act;
    b.n_rew = N, b.rew = t_rew;
    b.n_next_obs = N * OBS, b.next_obs = t_next;
    b.n_terminated = N, b.terminated = t_term;
    b.n_truncated = N, b.truncated = t_trunc;
    return b;
}

/* Weights: two tensors 3x4 and 4x1 = 16 params. */
#define NP 16
static float w_params[NP];
static Metasac__TensorLayout w_l0 = METASAC__TENSOR_LAYOUT__INIT, w_l1 = METASAC__TENSOR_LAYOUT__INIT;
static Metasac__TensorLayout *w_layout[2] = {&w_l0, &w_l1};

static Metasac__PolicyWeights s_weights(void) {
    for (int i = 0; i < NP; i++) w_params[i] = (float)i / 7.0f - 1.0f;
    w_l0.name = "policy.l1.w", w_l0.rows = 3, w_l0.cols = 4;
    w_l1.name = "policy.l1.b", w_l1.rows = 4, w_l1.cols = 1;
    Metasac__PolicyWeights w = METASAC__POLICY_WEIGHTS__INIT;
    w.version = 99;
    w.n_params = NP, w.params = w_params;
    w.n_layout = 2, w.layout = w_layout;
    return w;
}

static int64_t s_encode_batch(const Metasac__TransitionBatch *b) {
    int64_t n = wire_encode_transitions(b, buf, sizeof buf);
    cr_assert_gt(n, 0);
    return n;
}

static void s_assert_batch_eq(const Metasac__TransitionBatch *a, const Metasac__TransitionBatch *b) {
    cr_assert_eq(a->actor_id, b->actor_id);
    cr_assert_eq(a->seq, b->seq);
    cr_assert_eq(a->weight_version, b->weight_version);
    cr_assert_eq(a->n, b->n);
    cr_assert_eq(a->obs_dim, b->obs_dim);
    cr_assert_eq(a->act_dim, b->act_dim);
    cr_assert_eq(a->n_obs, b->n_obs);
    cr_assert_eq(memcmp(a->obs, b->obs, a->n_obs * sizeof(float)), 0);
    cr_assert_eq(memcmp(a->act, b->act, a->n_act * sizeof(float)), 0);
    cr_assert_eq(memcmp(a->rew, b->rew, a->n_rew * sizeof(float)), 0);
    cr_assert_eq(memcmp(a->next_obs, b->next_obs, a->n_next_obs * sizeof(float)), 0);
    for (size_t i = 0; i < a->n; i++) {
        cr_assert_eq(!!a->terminated[i], !!b->terminated[i]);
        cr_assert_eq(!!a->truncated[i], !!b->truncated[i]);
    }
}

/* ------------------------------------------------------------------ round trips */

Test(wire, roundtrip_transitions) {
    Metasac__TransitionBatch b = s_batch();
    int64_t n = s_encode_batch(&b);
    cr_assert_leq((size_t)n, wire_transitions_bound(N, OBS, ACT));
    wire_decoder_t *d = s_decoder(OBS, ACT, 0);
    const Metasac__Envelope *env;
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK, "%s", wire_decoder_detail(d));
    cr_assert_eq(env->protocol_version, WIRE_PROTOCOL_VERSION);
    cr_assert_eq(env->body_case, METASAC__ENVELOPE__BODY_TRANSITIONS);
    s_assert_batch_eq(env->transitions, &b);
    wire_decoder_destroy(&d);
    cr_assert_null(d);
    wire_decoder_destroy(&d); /* no-op */
}

Test(wire, roundtrip_hello) {
    Metasac__Hello h = METASAC__HELLO__INIT;
    h.role = METASAC__ROLE__ROLE_EVALUATOR;
    h.num_envs = 8;
    h.build_version = "v1.2-3-gabc";
    h.actor_id_request_case = METASAC__HELLO__ACTOR_ID_REQUEST_REQUESTED_ACTOR_ID;
    h.requested_actor_id = 1; /* presence matters: id 1 requested, not "any" */
    int64_t n = wire_encode_hello(&h, buf, sizeof buf);
    wire_decoder_t *d = s_decoder(0, 0, 0);
    const Metasac__Envelope *env;
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK, "%s", wire_decoder_detail(d));
    cr_assert_eq(env->body_case, METASAC__ENVELOPE__BODY_HELLO);
    cr_assert_eq(env->hello->role, METASAC__ROLE__ROLE_EVALUATOR);
    cr_assert_eq(env->hello->num_envs, 8);
    cr_assert_str_eq(env->hello->build_version, "v1.2-3-gabc");
    cr_assert_eq(env->hello->actor_id_request_case,
                 METASAC__HELLO__ACTOR_ID_REQUEST_REQUESTED_ACTOR_ID);
    cr_assert_eq(env->hello->requested_actor_id, 1);
    /* Absent request: "any id". */
    h.actor_id_request_case = METASAC__HELLO__ACTOR_ID_REQUEST__NOT_SET;
    n = wire_encode_hello(&h, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK);
    cr_assert_eq(env->hello->actor_id_request_case, METASAC__HELLO__ACTOR_ID_REQUEST__NOT_SET);
    wire_decoder_destroy(&d);
}

Test(wire, roundtrip_welcome) {
    Metasac__PolicyWeights w = s_weights();
    float lo[ACT] = {-1, -0.4f, -2}, hi[ACT] = {1, 0.4f, 3};
    Metasac__Welcome m = METASAC__WELCOME__INIT;
    m.task = "humanoid";
    m.obs_dim = OBS, m.act_dim = ACT;
    m.n_action_low = ACT, m.action_low = lo;
    m.n_action_high = ACT, m.action_high = hi;
    m.run_seed = 0xdeadbeefcafef00dull;
    m.actor_id = 12;
    m.seed_stream_base = RNG_STREAM_ACTOR(12, 0);
    m.weights = &w;
    int64_t n = wire_encode_welcome(&m, buf, sizeof buf);
    cr_assert_gt(n, 0);
    cr_assert_leq((size_t)n, wire_welcome_bound(NP, 2, strlen("policy.l1.w"), ACT, strlen("humanoid")));
    wire_decoder_t *d = s_decoder(0, 0, 0);
    const Metasac__Envelope *env;
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK, "%s", wire_decoder_detail(d));
    const Metasac__Welcome *r = env->welcome;
    cr_assert_eq(env->body_case, METASAC__ENVELOPE__BODY_WELCOME);
    cr_assert_str_eq(r->task, "humanoid");
    cr_assert_eq(r->obs_dim, OBS);
    cr_assert_eq(r->act_dim, ACT);
    cr_assert_eq(memcmp(r->action_low, lo, sizeof lo), 0);
    cr_assert_eq(memcmp(r->action_high, hi, sizeof hi), 0);
    cr_assert_eq(r->run_seed, 0xdeadbeefcafef00dull);
    cr_assert_eq(r->actor_id, 12);
    cr_assert_eq(r->seed_stream_base, RNG_STREAM_ACTOR(12, 0));
    cr_assert_eq(r->weights->version, 99);
    cr_assert_eq(r->weights->n_params, NP);
    cr_assert_eq(memcmp(r->weights->params, w_params, sizeof w_params), 0);
    cr_assert_str_eq(r->weights->layout[1]->name, "policy.l1.b");
    /* low >= high is refused */
    hi[1] = lo[1];
    n = wire_encode_welcome(&m, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_RANGE);
    wire_decoder_destroy(&d);
}

Test(wire, roundtrip_reset_states) {
    Metasac__ResetStates m = METASAC__RESET_STATES__INIT;
    float obs[2 * OBS];
    for (int i = 0; i < 2 * OBS; i++) obs[i] = (float)i * 0.1f;
    m.actor_id = 3, m.n = 2, m.obs_dim = OBS, m.n_obs = 2 * OBS, m.obs = obs;
    int64_t n = wire_encode_reset_states(&m, buf, sizeof buf);
    cr_assert_leq((size_t)n, wire_reset_states_bound(2, OBS));
    wire_decoder_t *d = s_decoder(OBS, ACT, 0);
    const Metasac__Envelope *env;
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK, "%s", wire_decoder_detail(d));
    cr_assert_eq(env->body_case, METASAC__ENVELOPE__BODY_RESET_STATES);
    cr_assert_eq(env->reset_states->actor_id, 3);
    cr_assert_eq(env->reset_states->n, 2);
    cr_assert_eq(memcmp(env->reset_states->obs, obs, sizeof obs), 0);
    wire_decoder_destroy(&d);
}

Test(wire, roundtrip_weights) {
    Metasac__PolicyWeights w = s_weights();
    int64_t n = wire_encode_weights(&w, buf, sizeof buf);
    cr_assert_leq((size_t)n, wire_weights_bound(NP, 2, strlen("policy.l1.w")));
    wire_decoder_t *d = s_decoder(0, 0, NP);
    const Metasac__Envelope *env;
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK, "%s", wire_decoder_detail(d));
    cr_assert_eq(env->body_case, METASAC__ENVELOPE__BODY_WEIGHTS);
    cr_assert_eq(env->weights->version, 99);
    cr_assert_eq(env->weights->n_layout, 2);
    cr_assert_str_eq(env->weights->layout[0]->name, "policy.l1.w");
    cr_assert_eq(env->weights->layout[0]->rows, 3);
    cr_assert_eq(env->weights->layout[0]->cols, 4);
    cr_assert_eq(memcmp(env->weights->params, w_params, sizeof w_params), 0);
    /* A receiver expecting another parameter count refuses it. */
    wire_decoder_limits(d)->n_params = NP + 1;
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_SHAPE);
    wire_decoder_destroy(&d);
}

Test(wire, roundtrip_small_messages) {
    wire_decoder_t *d = s_decoder(0, 0, 0);
    const Metasac__Envelope *env;
    int64_t n;

    Metasac__Credits c = METASAC__CREDITS__INIT;
    c.steps = 1000, c.random_actions = 1;
    n = wire_encode_credits(&c, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK);
    cr_assert_eq(env->body_case, METASAC__ENVELOPE__BODY_CREDITS);
    cr_assert_eq(env->credits->steps, 1000);
    cr_assert(env->credits->random_actions);

    Metasac__Heartbeat h = METASAC__HEARTBEAT__INIT;
    h.actor_id = 9, h.weight_version = 5, h.time_us = 123456789;
    n = wire_encode_heartbeat(&h, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK);
    cr_assert_eq(env->body_case, METASAC__ENVELOPE__BODY_HEARTBEAT);
    cr_assert_eq(env->heartbeat->actor_id, 9);
    cr_assert_eq(env->heartbeat->weight_version, 5);
    cr_assert_eq(env->heartbeat->time_us, 123456789);

    Metasac__EvalRequest q = METASAC__EVAL_REQUEST__INIT;
    q.weight_version = 42, q.episodes = 10;
    n = wire_encode_eval_request(&q, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK);
    cr_assert_eq(env->body_case, METASAC__ENVELOPE__BODY_EVAL_REQUEST);
    cr_assert_eq(env->eval_request->weight_version, 42);
    cr_assert_eq(env->eval_request->episodes, 10);

    double ret[3] = {100.5, 200.25, -3};
    uint32_t len[3] = {1000, 1000, 17};
    Metasac__EvalResult r = METASAC__EVAL_RESULT__INIT;
    r.actor_id = 1, r.weight_version = 42, r.episodes = 3;
    r.n_returns = 3, r.returns = ret, r.n_lengths = 3, r.lengths = len;
    r.mean = 99.25, r.std = sqrt((1.25 * 1.25 + 101.0 * 101.0 + 102.25 * 102.25) / 3);
    n = wire_encode_eval_result(&r, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK, "%s", wire_decoder_detail(d));
    cr_assert_eq(env->body_case, METASAC__ENVELOPE__BODY_EVAL_RESULT);
    cr_assert_eq(env->eval_result->episodes, 3);
    cr_assert_eq(memcmp(env->eval_result->returns, ret, sizeof ret), 0);
    cr_assert_eq(memcmp(env->eval_result->lengths, len, sizeof len), 0);
    cr_assert_eq(env->eval_result->mean, 99.25);
    cr_assert_eq(env->eval_result->std, r.std);

    Metasac__Stats s = METASAC__STATS__INIT;
    s.actor_id = 2, s.env_steps = 1u << 30, s.episodes = 7, s.batches_sent = 11;
    s.transitions_sent = 12, s.resets_sent = 13, s.credit_wait_us = 14, s.step_time_us = 15;
    s.policy_time_us = 16, s.reconnects = 1, s.steps_per_sec = 1234.5, s.weight_version = 8;
    n = wire_encode_stats(&s, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK);
    cr_assert_eq(env->body_case, METASAC__ENVELOPE__BODY_STATS);
    const Metasac__Stats *g = env->stats;
    cr_assert_eq(g->env_steps, 1u << 30);
    cr_assert_eq(g->episodes + g->batches_sent + g->transitions_sent + g->resets_sent, 43);
    cr_assert_eq(g->credit_wait_us + g->step_time_us + g->policy_time_us, 45);
    cr_assert_eq(g->reconnects, 1);
    cr_assert_eq(g->steps_per_sec, 1234.5);
    cr_assert_eq(g->weight_version, 8);
    wire_decoder_destroy(&d);
}

Test(wire, encode_buffer_too_small) {
    Metasac__TransitionBatch b = s_batch();
    int64_t n = s_encode_batch(&b);
    uint8_t small[64];
    memset(small, 0xAB, sizeof small);
    cr_assert_eq(wire_encode_transitions(&b, small, sizeof small), WIRE_ERR_BUFFER);
    cr_assert_eq(small[0], 0xAB, "buffer must be untouched");
    cr_assert_eq(wire_encode_transitions(&b, buf, (size_t)n - 1), WIRE_ERR_BUFFER);
    cr_assert_eq(wire_encode_transitions(&b, buf, (size_t)n), n);
}

/* ------------------------------------------------------------------ over ZeroMQ */

Test(wire, over_zmq_inproc_pair, .timeout = 20) {
    void *ctx = zmq_ctx_new();
    cr_assert_not_null(ctx);
    void *rx = zmq_socket(ctx, ZMQ_PAIR), *tx = zmq_socket(ctx, ZMQ_PAIR);
    int linger = 0;
    zmq_setsockopt(rx, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(tx, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_bind(rx, "inproc://wire-test"), 0);
    cr_assert_eq(zmq_connect(tx, "inproc://wire-test"), 0);

    Metasac__TransitionBatch b = s_batch();
    Metasac__PolicyWeights w = s_weights();
    wire_decoder_t *d = s_decoder(OBS, ACT, NP);
    static uint8_t rbuf[MAXMSG];
    for (int k = 0; k < 3; k++) {
        b.seq = (uint64_t)k;
        int64_t n = k == 1 ? wire_encode_weights(&w, buf, sizeof buf) : s_encode_batch(&b);
        cr_assert_eq(zmq_send(tx, buf, (size_t)n, 0), n);
        int got = zmq_recv(rx, rbuf, sizeof rbuf, 0);
        cr_assert_eq(got, n);
        const Metasac__Envelope *env;
        cr_assert_eq(wire_decode(d, rbuf, (size_t)got, &env), WIRE_OK, "%s", wire_decoder_detail(d));
        if (k == 1) {
            cr_assert_eq(env->body_case, METASAC__ENVELOPE__BODY_WEIGHTS);
            cr_assert_eq(memcmp(env->weights->params, w_params, sizeof w_params), 0);
        } else {
            cr_assert_eq(env->body_case, METASAC__ENVELOPE__BODY_TRANSITIONS);
            s_assert_batch_eq(env->transitions, &b);
        }
    }
    /* A corrupted frame through the socket is refused, and the next good one still decodes. */
    int64_t n = s_encode_batch(&b);
    cr_assert_eq(zmq_send(tx, buf, (size_t)n / 2, 0), n / 2);
    int got = zmq_recv(rx, rbuf, sizeof rbuf, 0);
    const Metasac__Envelope *env;
    cr_assert_eq(wire_decode(d, rbuf, (size_t)got, &env), WIRE_ERR_DECODE);
    cr_assert_null(env);
    wire_decoder_destroy(&d);
    zmq_close(tx);
    zmq_close(rx);
    zmq_ctx_term(ctx);
}

/* ------------------------------------------------------------------ rejects */

static int s_decode_batch(Metasac__TransitionBatch *b) {
    int64_t n = s_encode_batch(b);
    wire_decoder_t *d = s_decoder(OBS, ACT, 0);
    const Metasac__Envelope *env = (const void *)1;
    int rc = wire_decode(d, buf, (size_t)n, &env);
    if (rc != WIRE_OK) cr_assert_null(env, "a rejected decode must not return a message");
    cr_assert_str_neq(rc != WIRE_OK ? wire_decoder_detail(d) : "x", "", "rejects explain themselves");
    wire_decoder_destroy(&d);
    return rc;
}

Test(wire, reject_garbage_bytes) {
    rng_t r;
    rng_seed(&r, 2024, 7);
    wire_decoder_t *d = s_decoder(OBS, ACT, 0);
    int counts[WIRE_ERR_COUNT] = {0};
    for (int k = 0; k < 5000; k++) {
        size_t len = (size_t)rng_below(&r, 600);
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)rng_u64(&r);
        const Metasac__Envelope *env;
        int rc = wire_decode(d, buf, len, &env);
        cr_assert(rc <= 0 && rc > -WIRE_ERR_COUNT, "code %d out of the enum", rc);
        cr_assert_neq(rc, WIRE_ERR_OVERSIZE);
        cr_assert_neq(rc, WIRE_ERR_BUFFER);
        counts[-rc]++;
    }
    /* Random bytes are overwhelmingly not protobuf; a valid full message by chance is absurd. */
    cr_assert_gt(counts[-WIRE_ERR_DECODE], 4000, "decode rejects: %d", counts[-WIRE_ERR_DECODE]);
    cr_assert_eq(counts[WIRE_OK], 0);
    wire_decoder_destroy(&d);
}

Test(wire, reject_mutated_messages) {
    /* Flip bytes of a valid message: reaches validation paths deeper than random garbage. */
    rng_t r;
    rng_seed(&r, 99, 1);
    Metasac__TransitionBatch b = s_batch();
    static uint8_t good[4096];
    int64_t n = s_encode_batch(&b);
    memcpy(good, buf, (size_t)n);
    wire_decoder_t *d = s_decoder(OBS, ACT, 0);
    int rejected = 0;
    for (int k = 0; k < 3000; k++) {
        memcpy(buf, good, (size_t)n);
        int flips = 1 + (int)rng_below(&r, 4);
        for (int f = 0; f < flips; f++) buf[rng_below(&r, (uint64_t)n)] ^= (uint8_t)(1 + rng_below(&r, 255));
        const Metasac__Envelope *env;
        int rc = wire_decode(d, buf, (size_t)n, &env);
        cr_assert(rc <= 0 && rc > -WIRE_ERR_COUNT);
        if (rc == WIRE_OK) { /* a flip inside a float payload: still a fully valid batch */
            cr_assert_eq(env->transitions->n_obs, (size_t)env->transitions->n * OBS);
        } else {
            rejected++;
        }
    }
    cr_assert_gt(rejected, 300);
    wire_decoder_destroy(&d);
}

Test(wire, reject_truncated) {
    Metasac__TransitionBatch b = s_batch();
    int64_t n = s_encode_batch(&b);
    wire_decoder_t *d = s_decoder(OBS, ACT, 0);
    const Metasac__Envelope *env;
    for (int64_t cut = 0; cut < n; cut++) {
        int rc = wire_decode(d, buf, (size_t)cut, &env);
        cr_assert_lt(rc, 0, "prefix of %lld of %lld bytes accepted", (long long)cut, (long long)n);
    }
    cr_assert_eq(wire_decode(d, buf, (size_t)n / 2, &env), WIRE_ERR_DECODE);
    cr_assert_eq(wire_decode(d, buf, (size_t)n - 1, &env), WIRE_ERR_DECODE);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK);
    wire_decoder_destroy(&d);
}

Test(wire, reject_wrong_version) {
    Metasac__TransitionBatch b = s_batch();
    Metasac__Envelope env_out;
    wire_envelope_init(&env_out);
    env_out.body_case = METASAC__ENVELOPE__BODY_TRANSITIONS;
    env_out.transitions = &b;
    wire_decoder_t *d = s_decoder(OBS, ACT, 0);
    const Metasac__Envelope *env;
    uint32_t versions[] = {0, WIRE_PROTOCOL_VERSION + 1, 0xffffffffu};
    for (int k = 0; k < 3; k++) {
        env_out.protocol_version = versions[k];
        int64_t n = wire_encode(&env_out, buf, sizeof buf);
        cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_VERSION, "version %u", versions[k]);
    }
    /* An empty frame decodes to version 0. */
    cr_assert_eq(wire_decode(d, NULL, 0, &env), WIRE_ERR_VERSION);
    wire_decoder_destroy(&d);
}

Test(wire, reject_shape_mismatch) {
    Metasac__TransitionBatch b = s_batch();
    b.n = N + 1; /* arrays hold N */
    cr_assert_eq(s_decode_batch(&b), WIRE_ERR_SHAPE);
    b = s_batch();
    b.n_obs = N * OBS - 1;
    cr_assert_eq(s_decode_batch(&b), WIRE_ERR_SHAPE);
    b = s_batch();
    b.n_truncated = N - 1;
    cr_assert_eq(s_decode_batch(&b), WIRE_ERR_SHAPE);
    b = s_batch();
    b.n_rew = 0;
    cr_assert_eq(s_decode_batch(&b), WIRE_ERR_SHAPE);
    /* Self-consistent but not the dims the receiver expects. */
    b = s_batch();
    b.obs_dim = 7, b.n_obs = N * 7, b.n_next_obs = N * 7;
    float big[N * 7] = {0};
    b.obs = big, b.next_obs = big;
    cr_assert_eq(s_decode_batch(&b), WIRE_ERR_SHAPE);
    /* ... which a receiver that does not know the dims yet accepts. */
    int64_t n = s_encode_batch(&b);
    wire_decoder_t *d = s_decoder(0, 0, 0);
    const Metasac__Envelope *env;
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK, "%s", wire_decoder_detail(d));
    /* Weights whose layout does not cover the params. */
    Metasac__PolicyWeights w = s_weights();
    w_l1.rows = 5;
    n = wire_encode_weights(&w, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_SHAPE);
    w = s_weights();
    w.n_params = NP - 1;
    n = wire_encode_weights(&w, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_SHAPE);
    /* Eval result with fewer returns than episodes. */
    double ret[2] = {1, 2};
    uint32_t len[3] = {1, 2, 3};
    Metasac__EvalResult r = METASAC__EVAL_RESULT__INIT;
    r.episodes = 3, r.n_returns = 2, r.returns = ret, r.n_lengths = 3, r.lengths = len;
    n = wire_encode_eval_result(&r, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_SHAPE);
    wire_decoder_destroy(&d);
}

Test(wire, reject_nan_and_inf) {
    Metasac__TransitionBatch b = s_batch();
    t_obs[N * OBS - 1] = NAN;
    cr_assert_eq(s_decode_batch(&b), WIRE_ERR_NONFINITE);
    b = s_batch();
    t_rew[2] = INFINITY;
    cr_assert_eq(s_decode_batch(&b), WIRE_ERR_NONFINITE);
    b = s_batch();
    t_act[0] = -INFINITY;
    cr_assert_eq(s_decode_batch(&b), WIRE_ERR_NONFINITE);
    b = s_batch();
    t_next[5] = NAN;
    cr_assert_eq(s_decode_batch(&b), WIRE_ERR_NONFINITE);
    b = s_batch();
    cr_assert_eq(s_decode_batch(&b), WIRE_OK);

    wire_decoder_t *d = s_decoder(0, 0, 0);
    const Metasac__Envelope *env;
    Metasac__PolicyWeights w = s_weights();
    w_params[NP - 1] = NAN;
    int64_t n = wire_encode_weights(&w, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_NONFINITE);
    double ret[1] = {INFINITY};
    uint32_t len[1] = {5};
    Metasac__EvalResult r = METASAC__EVAL_RESULT__INIT;
    r.episodes = 1, r.n_returns = 1, r.returns = ret, r.n_lengths = 1, r.lengths = len;
    n = wire_encode_eval_result(&r, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_NONFINITE);
    Metasac__Stats s = METASAC__STATS__INIT;
    s.steps_per_sec = NAN;
    n = wire_encode_stats(&s, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_NONFINITE);
    wire_decoder_destroy(&d);
}

Test(wire, reject_oversize) {
    wire_limits_t lim = {.max_msg_bytes = 256};
    wire_decoder_t *d = wire_decoder_new(&lim);
    Metasac__TransitionBatch b = s_batch();
    int64_t n = s_encode_batch(&b);
    cr_assert_gt(n, 256);
    const Metasac__Envelope *env;
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_OVERSIZE);
    cr_assert_eq(wire_decode(d, buf, 257, &env), WIRE_ERR_OVERSIZE);
    /* a frame of exactly the limit is parsed (and here refused as a truncated message) */
    cr_assert_eq(wire_decode(d, buf, 256, &env), WIRE_ERR_DECODE);
    wire_decoder_destroy(&d);
}

Test(wire, reject_unknown_type) {
    wire_decoder_t *d = s_decoder(0, 0, 0);
    const Metasac__Envelope *env;
    /* the current version, then field 15 (a body type from the future), length 0 */
    const uint8_t future[] = {0x08, (uint8_t)WIRE_PROTOCOL_VERSION, 0x7a, 0x00};
    cr_assert_eq(wire_decode(d, future, sizeof future, &env), WIRE_ERR_UNKNOWN_TYPE);
    /* version 1 and no body at all */
    Metasac__Envelope e;
    wire_envelope_init(&e);
    int64_t n = wire_encode(&e, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_UNKNOWN_TYPE);
    wire_decoder_destroy(&d);
}

Test(wire, reject_out_of_range) {
    wire_decoder_t *d = s_decoder(0, 0, 0);
    const Metasac__Envelope *env;
    Metasac__Hello h = METASAC__HELLO__INIT;
    h.num_envs = 1; /* role left unspecified */
    int64_t n = wire_encode_hello(&h, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_RANGE);
    h.role = (Metasac__Role)17;
    n = wire_encode_hello(&h, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_RANGE);
    h.role = METASAC__ROLE__ROLE_ACTOR, h.num_envs = 0;
    n = wire_encode_hello(&h, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_RANGE);
    Metasac__EvalRequest q = METASAC__EVAL_REQUEST__INIT;
    n = wire_encode_eval_request(&q, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_RANGE);
    Metasac__TransitionBatch b = s_batch();
    b.n = 0, b.n_obs = b.n_act = b.n_rew = b.n_next_obs = b.n_terminated = b.n_truncated = 0;
    n = wire_encode_transitions(&b, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_RANGE);
    wire_decoder_destroy(&d);
}

Test(wire, reject_arena_exhausted) {
    /* A small arena cannot hold a message that expands on decode: refused, never overrun. */
    wire_limits_t lim = {.max_msg_bytes = MAXMSG, .arena_bytes = 256};
    wire_decoder_t *d = wire_decoder_new(&lim);
    Metasac__TransitionBatch b = s_batch();
    int64_t n = s_encode_batch(&b);
    const Metasac__Envelope *env;
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_ERR_ARENA);
    /* Small messages still fit. */
    Metasac__Credits c = METASAC__CREDITS__INIT;
    c.steps = 3;
    n = wire_encode_credits(&c, buf, sizeof buf);
    cr_assert_eq(wire_decode(d, buf, (size_t)n, &env), WIRE_OK, "%s", wire_decoder_detail(d));
    wire_decoder_destroy(&d);
}

Test(wire, decoder_reuse_after_reject) {
    wire_decoder_t *d = s_decoder(OBS, ACT, 0);
    Metasac__TransitionBatch b = s_batch();
    const Metasac__Envelope *env;
    for (int k = 0; k < 200; k++) { /* arena is reset per decode: no growth, no exhaustion */
        b.seq = (uint64_t)k;
        int64_t n = s_encode_batch(&b);
        cr_assert_eq(wire_decode(d, buf, (size_t)(k % 2 ? n : n / 3), &env),
                     k % 2 ? WIRE_OK : WIRE_ERR_DECODE);
        if (k % 2) {
            cr_assert_eq(env->transitions->seq, (uint64_t)k);
            cr_assert_str_eq(wire_decoder_detail(d), "");
        } else {
            cr_assert_str_neq(wire_decoder_detail(d), "");
        }
    }
    wire_decoder_destroy(&d);
}

Test(wire, codes_are_distinct_and_named) {
    int codes[] = {WIRE_OK, WIRE_ERR_DECODE, WIRE_ERR_VERSION, WIRE_ERR_OVERSIZE,
                   WIRE_ERR_UNKNOWN_TYPE, WIRE_ERR_SHAPE, WIRE_ERR_NONFINITE, WIRE_ERR_RANGE,
                   WIRE_ERR_ARENA, WIRE_ERR_BUFFER, WIRE_ERR_DENORMAL};
    cr_assert_eq(sizeof codes / sizeof *codes, WIRE_ERR_COUNT);
    for (int i = 0; i < WIRE_ERR_COUNT; i++) {
        cr_assert_eq(codes[i], -i, "codes index counters by -code");
        for (int j = 0; j < i; j++) cr_assert_str_neq(wire_strerror(codes[i]), wire_strerror(codes[j]));
    }
    cr_assert_str_eq(wire_strerror(-1000), "unknown wire error code");
    cr_assert_str_eq(wire_body_name(METASAC__ENVELOPE__BODY_TRANSITIONS), "transitions");
    cr_assert_str_eq(wire_body_name((Metasac__Envelope__BodyCase)99), "unknown");
}

Test(wire, validate_before_send) {
    Metasac__TransitionBatch b = s_batch();
    Metasac__Envelope e;
    wire_envelope_init(&e);
    e.body_case = METASAC__ENVELOPE__BODY_TRANSITIONS;
    e.transitions = &b;
    wire_limits_t lim = {.max_msg_bytes = MAXMSG, .obs_dim = OBS, .act_dim = ACT};
    char detail[128];
    cr_assert_eq(wire_validate(&e, &lim, detail, sizeof detail), WIRE_OK);
    t_obs[3] = NAN;
    cr_assert_eq(wire_validate(&e, &lim, detail, sizeof detail), WIRE_ERR_NONFINITE);
    cr_assert(strstr(detail, "transitions.obs[3]"), "detail names the field: %s", detail);
}
