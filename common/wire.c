#include "wire.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* Alignment of every arena allocation: what malloc guarantees, so protobuf-c's structs and
 * arrays (including doubles and uint64s) are aligned as they would be on the heap. */
#define S_ALIGN ((size_t)16)
#define S_ARENA_SLACK ((size_t)64 * 1024)

struct wire_decoder {
    wire_limits_t lim;            /* copy of the caller's limits */
    uint8_t *arena;               /* [cap] bump storage for one decoded message */
    size_t cap;
    size_t used;
    int exhausted;                /* an allocation was refused during the current unpack */
    ProtobufCAllocator alloc;     /* alloc/free hooks into the arena, data = self */
    char detail[192];             /* explanation of the last failure */
};

/* ---------------------------------------------------------------- names and codes */

const char *wire_strerror(int code) {
    switch (code) {
    case WIRE_OK: return "ok";
    case WIRE_ERR_DECODE: return "undecodable bytes";
    case WIRE_ERR_VERSION: return "wrong protocol version";
    case WIRE_ERR_OVERSIZE: return "message too large";
    case WIRE_ERR_UNKNOWN_TYPE: return "unknown message type";
    case WIRE_ERR_SHAPE: return "array length does not match declared sizes";
    case WIRE_ERR_NONFINITE: return "NaN or Inf in a float field";
    case WIRE_ERR_RANGE: return "field value out of range";
    case WIRE_ERR_ARENA: return "decoded message exceeds the decode arena";
    case WIRE_ERR_BUFFER: return "output buffer too small";
    case WIRE_ERR_DENORMAL: return "subnormal float";
    default: return "unknown wire error code";
    }
}

const char *wire_body_name(Metasac__Envelope__BodyCase body) {
    switch (body) {
    case METASAC__ENVELOPE__BODY__NOT_SET: return "none";
    case METASAC__ENVELOPE__BODY_HELLO: return "hello";
    case METASAC__ENVELOPE__BODY_WELCOME: return "welcome";
    case METASAC__ENVELOPE__BODY_TRANSITIONS: return "transitions";
    case METASAC__ENVELOPE__BODY_RESET_STATES: return "reset_states";
    case METASAC__ENVELOPE__BODY_WEIGHTS: return "weights";
    case METASAC__ENVELOPE__BODY_CREDITS: return "credits";
    case METASAC__ENVELOPE__BODY_HEARTBEAT: return "heartbeat";
    case METASAC__ENVELOPE__BODY_EVAL_REQUEST: return "eval_request";
    case METASAC__ENVELOPE__BODY_EVAL_RESULT: return "eval_result";
    case METASAC__ENVELOPE__BODY_STATS: return "stats";
    case METASAC__ENVELOPE__BODY_STOP: return "stop";
    default: return "unknown";
    }
}

/* ---------------------------------------------------------------- encoding */

void wire_envelope_init(Metasac__Envelope *env) {
    metasac__envelope__init(env);
    env->protocol_version = WIRE_PROTOCOL_VERSION;
}

int64_t wire_encode(const Metasac__Envelope *env, uint8_t *buf, size_t cap) {
    size_t need = metasac__envelope__get_packed_size(env);
    if (need > cap || need > (size_t)INT64_MAX) return WIRE_ERR_BUFFER;
    size_t got = metasac__envelope__pack(env, buf);
    RL_ASSERT(got == need, "packed %zu bytes, predicted %zu", got, need);
    return (int64_t)got;
}

/* protobuf-c's message structs hold non-const pointers; packing only reads them. */
#define S_ENCODE_BODY(fn, type, member, case_)                                   \
    int64_t fn(const type *body, uint8_t *buf, size_t cap) {                     \
        Metasac__Envelope env;                                                   \
        wire_envelope_init(&env);                                                \
        env.body_case = case_;                                                   \
        env.member = (type *)body;                                               \
        return wire_encode(&env, buf, cap);                                      \
    }

S_ENCODE_BODY(wire_encode_hello, Metasac__Hello, hello, METASAC__ENVELOPE__BODY_HELLO)
S_ENCODE_BODY(wire_encode_welcome, Metasac__Welcome, welcome, METASAC__ENVELOPE__BODY_WELCOME)
S_ENCODE_BODY(wire_encode_transitions, Metasac__TransitionBatch, transitions,
              METASAC__ENVELOPE__BODY_TRANSITIONS)
S_ENCODE_BODY(wire_encode_reset_states, Metasac__ResetStates, reset_states,
              METASAC__ENVELOPE__BODY_RESET_STATES)
S_ENCODE_BODY(wire_encode_weights, Metasac__PolicyWeights, weights, METASAC__ENVELOPE__BODY_WEIGHTS)
S_ENCODE_BODY(wire_encode_credits, Metasac__Credits, credits, METASAC__ENVELOPE__BODY_CREDITS)
S_ENCODE_BODY(wire_encode_heartbeat, Metasac__Heartbeat, heartbeat,
              METASAC__ENVELOPE__BODY_HEARTBEAT)
S_ENCODE_BODY(wire_encode_eval_request, Metasac__EvalRequest, eval_request,
              METASAC__ENVELOPE__BODY_EVAL_REQUEST)
S_ENCODE_BODY(wire_encode_eval_result, Metasac__EvalResult, eval_result,
              METASAC__ENVELOPE__BODY_EVAL_RESULT)
S_ENCODE_BODY(wire_encode_stats, Metasac__Stats, stats, METASAC__ENVELOPE__BODY_STATS)
S_ENCODE_BODY(wire_encode_stop, Metasac__Stop, stop, METASAC__ENVELOPE__BODY_STOP)

/* Bounds: a tag is 1 byte here (field numbers < 16), a varint at most 10 bytes, so a scalar
 * field costs <= 11, a length-delimited field <= 11 + payload; packed floats are 4 bytes, packed
 * bools 1 byte each. The envelope adds its version and the body's tag and length. */
#define S_FIELD 11u
#define S_ENVELOPE (2 * (size_t)S_FIELD)

size_t wire_transitions_bound(uint32_t n, uint32_t obs_dim, uint32_t act_dim) {
    size_t nn = n, floats = nn * obs_dim * 2 + nn * act_dim + nn;
    return S_ENVELOPE + 7 * S_FIELD + 4 * S_FIELD + 4 * floats + 2 * (S_FIELD + nn);
}

size_t wire_eval_result_bound(uint32_t episodes) {
    return S_ENVELOPE + 6 * S_FIELD + 2 * S_FIELD + (size_t)episodes * (8 + 10);
}

size_t wire_reset_states_bound(uint32_t n, uint32_t obs_dim) {
    return S_ENVELOPE + 3 * S_FIELD + S_FIELD + 4 * (size_t)n * obs_dim;
}

static size_t s_weights_body_bound(size_t n_params, size_t n_layout, size_t max_name) {
    return S_FIELD + S_FIELD + 4 * n_params + n_layout * (S_FIELD + S_FIELD + max_name + 2 * S_FIELD);
}

size_t wire_weights_bound(size_t n_params, size_t n_layout, size_t max_name) {
    return S_ENVELOPE + s_weights_body_bound(n_params, n_layout, max_name);
}

size_t wire_welcome_bound(size_t n_params, size_t n_layout, size_t max_name, uint32_t act_dim,
                          size_t task_len) {
    return S_ENVELOPE + S_FIELD + task_len + 2 * S_FIELD + 2 * (S_FIELD + 4 * (size_t)act_dim) +
           8 * S_FIELD + S_FIELD + s_weights_body_bound(n_params, n_layout, max_name);
}

/* ---------------------------------------------------------------- validation */

static int s_fail(char *detail, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int s_fail(char *detail, size_t cap, int code, const char *fmt, ...) {
    if (detail && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

#define FAIL(code, ...) return s_fail(detail, cap, (code), __VA_ARGS__)

/* Index of the first non-finite or subnormal value, or -1. */
static long s_bad_f(const float *x, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= !wire_float_ok(x[i]);  /* branch-free: vectorises */
    if (!bad) return -1;
    for (size_t i = 0; i < n; i++)
        if (!wire_float_ok(x[i])) return (long)i;
    return -1;
}

static long s_nonfinite_d(const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long)i;
    return -1;
}

/* Checks an array's length against its declared shape and its values for finiteness. */
static int s_floats(const char *what, const float *x, size_t got, uint64_t want, char *detail,
                    size_t cap) {
    if (got != want) FAIL(WIRE_ERR_SHAPE, "%s has %zu values, expected %llu", what, got,
                          (unsigned long long)want);
    long bad = s_bad_f(x, got);
    if (bad >= 0)
        FAIL(isfinite(x[bad]) ? WIRE_ERR_DENORMAL : WIRE_ERR_NONFINITE, "%s[%ld] = %g", what, bad,
             (double)x[bad]);
    return WIRE_OK;
}

static int s_dims(const char *msg, uint32_t obs_dim, uint32_t act_dim, int has_act,
                  const wire_limits_t *lim, char *detail, size_t cap) {
    if (obs_dim == 0) FAIL(WIRE_ERR_RANGE, "%s: obs_dim = 0", msg);
    if (has_act && act_dim == 0) FAIL(WIRE_ERR_RANGE, "%s: act_dim = 0", msg);
    if (lim->obs_dim && obs_dim != lim->obs_dim)
        FAIL(WIRE_ERR_SHAPE, "%s: obs_dim %u, expected %u", msg, obs_dim, lim->obs_dim);
    if (has_act && lim->act_dim && act_dim != lim->act_dim)
        FAIL(WIRE_ERR_SHAPE, "%s: act_dim %u, expected %u", msg, act_dim, lim->act_dim);
    return WIRE_OK;
}

/* A short printable name (host, build version): what may go into logs and metric labels. */
static int s_name(const char *what, const char *v, size_t max, char *detail, size_t cap) {
    if (!v) return WIRE_OK;
    size_t n = strnlen(v, max + 1);
    if (n > max) FAIL(WIRE_ERR_RANGE, "%s longer than %zu bytes", what, max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            FAIL(WIRE_ERR_RANGE, "%s has a character that is not printable ASCII (0x%02x)", what, c);
    }
    return WIRE_OK;
}

static int s_check_hello(const Metasac__Hello *m, char *detail, size_t cap) {
    if (m->role != METASAC__ROLE__ROLE_ACTOR && m->role != METASAC__ROLE__ROLE_EVALUATOR)
        FAIL(WIRE_ERR_RANGE, "hello: role %d is neither actor nor evaluator", (int)m->role);
    if (m->num_envs == 0 || m->num_envs > WIRE_MAX_ENVS)
        FAIL(WIRE_ERR_RANGE, "hello: num_envs %u not in [1, %u]", m->num_envs, WIRE_MAX_ENVS);
    if (m->actor_id_request_case == METASAC__HELLO__ACTOR_ID_REQUEST_REQUESTED_ACTOR_ID &&
        (m->requested_actor_id == 0 || m->requested_actor_id > WIRE_MAX_ACTOR_ID))
        FAIL(WIRE_ERR_RANGE, "hello: requested actor id %u not in [1, %u]", m->requested_actor_id,
             WIRE_MAX_ACTOR_ID);
    int rc = s_name("hello.host", m->host, WIRE_MAX_NAME, detail, cap);
    if (rc) return rc;
    return s_name("hello.build_version", m->build_version, WIRE_MAX_NAME, detail, cap);
}

static int s_check_weights(const char *msg, const Metasac__PolicyWeights *m,
                           const wire_limits_t *lim, char *detail, size_t cap) {
    if (m->n_params == 0) FAIL(WIRE_ERR_RANGE, "%s: empty parameter vector", msg);
    if (lim->n_params && m->n_params != lim->n_params)
        FAIL(WIRE_ERR_SHAPE, "%s: %zu params, expected %zu", msg, m->n_params, lim->n_params);
    if (m->n_layout == 0) FAIL(WIRE_ERR_SHAPE, "%s: no layout", msg);
    uint64_t total = 0;
    for (size_t i = 0; i < m->n_layout; i++) {
        const Metasac__TensorLayout *t = m->layout[i];
        if (!t->name || !t->name[0]) FAIL(WIRE_ERR_RANGE, "%s: layout[%zu] has no name", msg, i);
        if (t->rows == 0 || t->cols == 0)
            FAIL(WIRE_ERR_RANGE, "%s: layout[%zu] '%.40s' is %ux%u", msg, i, t->name, t->rows,
                 t->cols);
        total += (uint64_t)t->rows * t->cols;  /* each term < 2^64, total checked every step */
        if (total > m->n_params)
            FAIL(WIRE_ERR_SHAPE, "%s: layout covers more than the %zu params", msg, m->n_params);
    }
    if (total != m->n_params)
        FAIL(WIRE_ERR_SHAPE, "%s: layout covers %llu of %zu params", msg,
             (unsigned long long)total, m->n_params);
    return s_floats("weights.params", m->params, m->n_params, m->n_params, detail, cap);
}

static int s_check_welcome(const Metasac__Welcome *m, const wire_limits_t *lim, char *detail,
                           size_t cap) {
    if (!m->task || !m->task[0]) FAIL(WIRE_ERR_RANGE, "welcome: empty task name");
    int rc = s_dims("welcome", m->obs_dim, m->act_dim, 1, lim, detail, cap);
    if (rc) return rc;
    if ((rc = s_floats("welcome.action_low", m->action_low, m->n_action_low, m->act_dim, detail,
                       cap)))
        return rc;
    if ((rc = s_floats("welcome.action_high", m->action_high, m->n_action_high, m->act_dim,
                       detail, cap)))
        return rc;
    for (size_t j = 0; j < m->act_dim; j++)
        if (!(m->action_low[j] < m->action_high[j]))
            FAIL(WIRE_ERR_RANGE, "welcome: action bound %zu: low %g >= high %g", j,
                 (double)m->action_low[j], (double)m->action_high[j]);
    if (!(m->max_abs_obs >= 0) || !(m->max_abs_reward >= 0) || !isfinite(m->max_abs_obs) ||
        !isfinite(m->max_abs_reward))
        FAIL(WIRE_ERR_RANGE, "welcome: bounds %g / %g", (double)m->max_abs_obs,
             (double)m->max_abs_reward);
    if (!m->weights) FAIL(WIRE_ERR_SHAPE, "welcome: no weights");
    return s_check_weights("welcome.weights", m->weights, lim, detail, cap);
}

static int s_check_transitions(const Metasac__TransitionBatch *m, const wire_limits_t *lim,
                               char *detail, size_t cap) {
    if (m->n == 0) FAIL(WIRE_ERR_RANGE, "transitions: n = 0");
    int rc = s_dims("transitions", m->obs_dim, m->act_dim, 1, lim, detail, cap);
    if (rc) return rc;
    uint64_t n = m->n, no = n * m->obs_dim, na = n * m->act_dim;
    if (m->n_terminated != n)
        FAIL(WIRE_ERR_SHAPE, "transitions.terminated has %zu values, expected %llu",
             m->n_terminated, (unsigned long long)n);
    if (m->n_truncated != n)
        FAIL(WIRE_ERR_SHAPE, "transitions.truncated has %zu values, expected %llu",
             m->n_truncated, (unsigned long long)n);
    /* Shapes of all arrays before any value scan: a wrong shape is the cheaper verdict. */
    if (m->n_obs != no || m->n_act != na || m->n_rew != n || m->n_next_obs != no)
        FAIL(WIRE_ERR_SHAPE,
             "transitions: n=%u obs_dim=%u act_dim=%u but obs/act/rew/next_obs have "
             "%zu/%zu/%zu/%zu values",
             m->n, m->obs_dim, m->act_dim, m->n_obs, m->n_act, m->n_rew, m->n_next_obs);
    for (size_t i = 0; i < n; i++)
        if (m->terminated[i] && m->truncated[i])
            FAIL(WIRE_ERR_RANGE, "transitions[%zu] is both terminated and truncated", i);
    if ((rc = s_floats("transitions.obs", m->obs, m->n_obs, no, detail, cap))) return rc;
    if ((rc = s_floats("transitions.act", m->act, m->n_act, na, detail, cap))) return rc;
    if ((rc = s_floats("transitions.rew", m->rew, m->n_rew, n, detail, cap))) return rc;
    return s_floats("transitions.next_obs", m->next_obs, m->n_next_obs, no, detail, cap);
}

static int s_check_reset_states(const Metasac__ResetStates *m, const wire_limits_t *lim,
                                char *detail, size_t cap) {
    if (m->n == 0) FAIL(WIRE_ERR_RANGE, "reset_states: n = 0");
    int rc = s_dims("reset_states", m->obs_dim, 0, 0, lim, detail, cap);
    if (rc) return rc;
    return s_floats("reset_states.obs", m->obs, m->n_obs, (uint64_t)m->n * m->obs_dim, detail,
                    cap);
}

static int s_check_eval_result(const Metasac__EvalResult *m, char *detail, size_t cap) {
    if (m->episodes == 0 || m->episodes > WIRE_MAX_EPISODES)
        FAIL(WIRE_ERR_RANGE, "eval_result: episodes %u not in [1, %u]", m->episodes,
             WIRE_MAX_EPISODES);
    if (m->n_returns != m->episodes || m->n_lengths != m->episodes)
        FAIL(WIRE_ERR_SHAPE, "eval_result: episodes=%u but %zu returns and %zu lengths",
             m->episodes, m->n_returns, m->n_lengths);
    long bad = s_nonfinite_d(m->returns, m->n_returns);
    if (bad >= 0) FAIL(WIRE_ERR_NONFINITE, "eval_result.returns[%ld] = %g", bad, m->returns[bad]);
    if (!isfinite(m->mean) || !isfinite(m->std))
        FAIL(WIRE_ERR_NONFINITE, "eval_result: mean %g std %g", m->mean, m->std);
    if (m->std < 0) FAIL(WIRE_ERR_RANGE, "eval_result: std %g < 0", m->std);
    /* mean and std must be those of the returns it reports */
    double mean = 0, var = 0, scale = 1;
    for (size_t i = 0; i < m->n_returns; i++) {
        mean += m->returns[i];
        scale += fabs(m->returns[i]);
        if (m->lengths[i] == 0) FAIL(WIRE_ERR_RANGE, "eval_result: episode %zu has length 0", i);
    }
    mean /= (double)m->n_returns;
    for (size_t i = 0; i < m->n_returns; i++) var += (m->returns[i] - mean) * (m->returns[i] - mean);
    double sd = sqrt(var / (double)m->n_returns), tol = 1e-6 * scale;
    if (!(fabs(m->mean - mean) <= tol) || !(fabs(m->std - sd) <= tol))
        FAIL(WIRE_ERR_RANGE, "eval_result: mean %g std %g, but the returns give %g and %g", m->mean,
             m->std, mean, sd);
    return WIRE_OK;
}

int wire_validate(const Metasac__Envelope *env, const wire_limits_t *lim, char *detail,
                  size_t cap) {
    static const wire_limits_t any = {0};
    if (!lim) lim = &any;
    if (detail && cap) detail[0] = '\0';
    if (env->protocol_version != WIRE_PROTOCOL_VERSION)
        FAIL(WIRE_ERR_VERSION, "protocol version %u, this build speaks %u", env->protocol_version,
             WIRE_PROTOCOL_VERSION);
    switch (env->body_case) {
    case METASAC__ENVELOPE__BODY_HELLO:
        if (!env->hello) break;
        return s_check_hello(env->hello, detail, cap);
    case METASAC__ENVELOPE__BODY_WELCOME:
        if (!env->welcome) break;
        return s_check_welcome(env->welcome, lim, detail, cap);
    case METASAC__ENVELOPE__BODY_TRANSITIONS:
        if (!env->transitions) break;
        return s_check_transitions(env->transitions, lim, detail, cap);
    case METASAC__ENVELOPE__BODY_RESET_STATES:
        if (!env->reset_states) break;
        return s_check_reset_states(env->reset_states, lim, detail, cap);
    case METASAC__ENVELOPE__BODY_WEIGHTS:
        if (!env->weights) break;
        return s_check_weights("weights", env->weights, lim, detail, cap);
    case METASAC__ENVELOPE__BODY_CREDITS:
    case METASAC__ENVELOPE__BODY_HEARTBEAT:
        if (!env->credits) break;  /* union member: any body pointer */
        return WIRE_OK;
    case METASAC__ENVELOPE__BODY_EVAL_REQUEST:
        if (!env->eval_request) break;
        if (env->eval_request->episodes == 0 || env->eval_request->episodes > WIRE_MAX_EPISODES)
            FAIL(WIRE_ERR_RANGE, "eval_request: episodes %u not in [1, %u]",
                 env->eval_request->episodes, WIRE_MAX_EPISODES);
        return WIRE_OK;
    case METASAC__ENVELOPE__BODY_EVAL_RESULT:
        if (!env->eval_result) break;
        return s_check_eval_result(env->eval_result, detail, cap);
    case METASAC__ENVELOPE__BODY_STATS:
        if (!env->stats) break;
        if (!isfinite(env->stats->steps_per_sec))
            FAIL(WIRE_ERR_NONFINITE, "stats: steps_per_sec %g", env->stats->steps_per_sec);
        if (env->stats->steps_per_sec < 0)
            FAIL(WIRE_ERR_RANGE, "stats: steps_per_sec %g < 0", env->stats->steps_per_sec);
        if (env->stats->num_envs > WIRE_MAX_ENVS)
            FAIL(WIRE_ERR_RANGE, "stats: num_envs %u > %u", env->stats->num_envs, WIRE_MAX_ENVS);
        return s_name("stats.host", env->stats->host, WIRE_MAX_NAME, detail, cap);
    case METASAC__ENVELOPE__BODY_STOP:
        if (!env->stop) break;
        if (env->stop->reason && strnlen(env->stop->reason, WIRE_MAX_TEXT + 1) > WIRE_MAX_TEXT)
            FAIL(WIRE_ERR_RANGE, "stop: reason longer than %u bytes", WIRE_MAX_TEXT);
        return WIRE_OK;
    default:
        FAIL(WIRE_ERR_UNKNOWN_TYPE, "message type %d not known to this build",
             (int)env->body_case);
    }
    FAIL(WIRE_ERR_UNKNOWN_TYPE, "%s body missing", wire_body_name(env->body_case));
}

/* ---------------------------------------------------------------- decoding */

static void *s_arena_alloc(void *data, size_t size) {
    wire_decoder_t *d = data;
    size_t room = d->cap - d->used;
    if (size > room) {  /* checked before rounding: no overflow */
        d->exhausted = 1;
        return NULL;
    }
    size_t need = (size + S_ALIGN - 1) / S_ALIGN * S_ALIGN;
    if (need == 0) need = S_ALIGN;  /* distinct non-NULL pointers even for size 0 */
    if (need > room) {
        d->exhausted = 1;
        return NULL;
    }
    void *p = d->arena + d->used;
    d->used += need;
    return p;
}

/* Individual frees are no-ops: the whole arena is released at the next decode. */
static void s_arena_free(void *data, void *ptr) {
    (void)data;
    (void)ptr;
}

wire_decoder_t *wire_decoder_new(const wire_limits_t *lim) {
    RL_ASSERT(lim && lim->max_msg_bytes > 0, "wire_decoder_new: max_msg_bytes must be > 0");
    wire_decoder_t *d = rl_calloc(1, sizeof *d);
    d->lim = *lim;
    d->cap = lim->arena_bytes ? lim->arena_bytes : 2 * lim->max_msg_bytes + S_ARENA_SLACK;
    d->cap = d->cap / S_ALIGN * S_ALIGN;
    RL_ASSERT(d->cap >= S_ALIGN, "wire_decoder_new: arena of %zu bytes", d->cap);
    d->arena = rl_malloc(d->cap);  /* glibc malloc: 16-byte aligned, untouched pages stay free */
    d->alloc.alloc = s_arena_alloc;
    d->alloc.free = s_arena_free;
    d->alloc.allocator_data = d;
    return d;
}

void wire_decoder_destroy(wire_decoder_t **self_p) {
    if (!self_p || !*self_p) return;
    free((*self_p)->arena);
    free(*self_p);
    *self_p = NULL;
}

wire_limits_t *wire_decoder_limits(wire_decoder_t *self) { return &self->lim; }

const char *wire_decoder_detail(const wire_decoder_t *self) { return self->detail; }

int wire_decode(wire_decoder_t *d, const void *buf, size_t len, const Metasac__Envelope **out) {
    static const uint8_t empty[1];
    *out = NULL;
    d->detail[0] = '\0';
    d->used = 0;  /* releases the previous message: the free_unpacked of the arena allocator */
    d->exhausted = 0;
    if (len > d->lim.max_msg_bytes)
        return s_fail(d->detail, sizeof d->detail, WIRE_ERR_OVERSIZE, "%zu bytes > limit %zu",
                      len, d->lim.max_msg_bytes);
    Metasac__Envelope *env =
        metasac__envelope__unpack(&d->alloc, len, buf && len ? (const uint8_t *)buf : empty);
    if (!env) {
        if (d->exhausted)
            return s_fail(d->detail, sizeof d->detail, WIRE_ERR_ARENA,
                          "%zu-byte frame needs more than the %zu-byte decode arena", len, d->cap);
        return s_fail(d->detail, sizeof d->detail, WIRE_ERR_DECODE,
                      "%zu bytes are not a protobuf Envelope", len);
    }
    /* protobuf-c keeps a field numbered 0 (invalid protobuf) as an unknown field, and then
       cannot re-encode the message: refuse it */
    const ProtobufCMessage *body = env->body_case != METASAC__ENVELOPE__BODY__NOT_SET
                                       ? (const ProtobufCMessage *)env->hello : NULL;
    for (int k = 0; k < 2; k++) {
        const ProtobufCMessage *m = k ? body : &env->base;
        for (unsigned i = 0; m && i < m->n_unknown_fields; i++)
            if (m->unknown_fields[i].tag == 0) {
                d->used = 0;
                return s_fail(d->detail, sizeof d->detail, WIRE_ERR_DECODE, "a field numbered 0");
            }
    }
    switch (env->body_case) {  /* control messages have a small fixed size */
    case METASAC__ENVELOPE__BODY_HELLO:
    case METASAC__ENVELOPE__BODY_CREDITS:
    case METASAC__ENVELOPE__BODY_HEARTBEAT:
    case METASAC__ENVELOPE__BODY_EVAL_REQUEST:
    case METASAC__ENVELOPE__BODY_STATS:
    case METASAC__ENVELOPE__BODY_STOP:
        if (len > WIRE_CONTROL_MAX_BYTES) {
            d->used = 0;
            return s_fail(d->detail, sizeof d->detail, WIRE_ERR_OVERSIZE,
                          "a %zu-byte %s message (control messages are <= %u bytes)", len,
                          wire_body_name(env->body_case), WIRE_CONTROL_MAX_BYTES);
        }
        break;
    default:
        break;
    }
    int rc = wire_validate(env, &d->lim, d->detail, sizeof d->detail);
    if (rc != WIRE_OK) {
        d->used = 0;
        return rc;
    }
    *out = env;
    return WIRE_OK;
}
