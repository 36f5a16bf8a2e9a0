/* wire: the only module that packs, unpacks and validates protocol messages (proto/metasac.proto).
 *
 * One ZeroMQ frame = one Metasac__Envelope. Senders fill a generated body struct (use the
 * METASAC__*__INIT macros; array fields point at the caller's own buffers) and encode it into a
 * caller-provided buffer: nothing is allocated. Receivers own one wire_decoder_t per receiving
 * thread; it decodes into a preallocated arena (protobuf-c's ProtobufCAllocator hook), so decoding
 * allocates nothing after wire_decoder_new and can never leak: every protobuf_c_message_unpack is
 * paired with its release here (arena reset on the next decode / destroy). A decoded message is
 * fully validated before the caller sees it -- version, type, sizes, shapes, finiteness, ranges --
 * and every rejection has its own negative code for the caller to count and log with the peer id.
 * What wire cannot know (is this actor id the sender's? is this seq the next one?) is the caller's.
 */
#ifndef METASAC_WIRE_H
#define METASAC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "metasac.pb-c.h"

/* Bumped on any change an older peer would misread; peers of another version are refused. */
#define WIRE_PROTOCOL_VERSION 2u

/* Results. 0 is success; every failure is a distinct negative value. */
typedef enum {
    WIRE_OK = 0,
    WIRE_ERR_DECODE = -1,       /* bytes are not a valid protobuf Envelope */
    WIRE_ERR_VERSION = -2,      /* protocol_version != WIRE_PROTOCOL_VERSION */
    WIRE_ERR_OVERSIZE = -3,     /* frame longer than the decoder's max_msg_bytes */
    WIRE_ERR_UNKNOWN_TYPE = -4, /* Envelope without a body this build knows */
    WIRE_ERR_SHAPE = -5,        /* an array length disagrees with the declared n / dims / layout */
    WIRE_ERR_NONFINITE = -6,    /* NaN or +-Inf in a float/double field */
    WIRE_ERR_RANGE = -7,        /* a scalar out of its allowed range (n = 0, unknown role, ...) */
    WIRE_ERR_ARENA = -8,        /* decoded form would exceed the decoder's arena (hostile input) */
    WIRE_ERR_BUFFER = -9,       /* encode: the output buffer is too small */
    WIRE_ERR_DENORMAL = -10,    /* a subnormal float: no simulation produces one */
} wire_err_t;

#define WIRE_ERR_COUNT 11 /* number of codes including WIRE_OK: index counters by -code */

/* Bounds every peer must respect, whatever the run's configuration. */
#define WIRE_MAX_ACTOR_ID 1000000u    /* actor ids are 1..this (seed streams stay distinct) */
#define WIRE_MAX_ENVS 4096u           /* Hello.num_envs */
#define WIRE_MAX_EPISODES 100000u     /* EvalRequest/EvalResult episodes */
#define WIRE_MAX_NAME 64u             /* host, build_version */
#define WIRE_MAX_TEXT 256u            /* Stop.reason */
/* Control messages (hello, credits, heartbeat, eval_request, stats, stop) are far smaller
 * than this from any honest peer; a longer one is refused as WIRE_ERR_OVERSIZE. */
#define WIRE_CONTROL_MAX_BYTES 1024u

/* Static English text for a code ("ok", "undecodable bytes", ...); never NULL. */
const char *wire_strerror(int code);
/* Static name of a body type ("transitions", ...; "none" for NOT_SET, "unknown" otherwise). */
const char *wire_body_name(Metasac__Envelope__BodyCase body);

/* What a receiver accepts. Zero-valued dims/params mean "not known yet": then only the message's
 * self-consistency is checked (an actor before its Welcome). */
typedef struct {
    size_t max_msg_bytes; /* longer frames are refused before parsing; must be > 0 */
    size_t arena_bytes;   /* decode arena; 0 = 2 * max_msg_bytes + 64 KiB */
    uint32_t obs_dim;     /* expected TransitionBatch/ResetStates obs_dim; 0 = any */
    uint32_t act_dim;     /* expected TransitionBatch act_dim; 0 = any */
    size_t n_params;      /* expected PolicyWeights params length (also in Welcome); 0 = any */
} wire_limits_t;

/* ---- encoding: no allocation, the caller owns buf ---- */

/* Sets *env to an empty Envelope stamped with WIRE_PROTOCOL_VERSION. */
void wire_envelope_init(Metasac__Envelope *env);
/* Packs env as-is (version included) into buf[0..cap). Returns the byte count, or
 * WIRE_ERR_BUFFER when it does not fit (buf is then untouched). env is not validated. */
int64_t wire_encode(const Metasac__Envelope *env, uint8_t *buf, size_t cap);
/* Wraps body in a current-version Envelope and packs it into buf[0..cap). Returns the byte count
 * or WIRE_ERR_BUFFER. The body is read only (the const is dropped for protobuf-c's sake). */
int64_t wire_encode_hello(const Metasac__Hello *body, uint8_t *buf, size_t cap);
int64_t wire_encode_welcome(const Metasac__Welcome *body, uint8_t *buf, size_t cap);
int64_t wire_encode_transitions(const Metasac__TransitionBatch *body, uint8_t *buf, size_t cap);
int64_t wire_encode_reset_states(const Metasac__ResetStates *body, uint8_t *buf, size_t cap);
int64_t wire_encode_weights(const Metasac__PolicyWeights *body, uint8_t *buf, size_t cap);
int64_t wire_encode_credits(const Metasac__Credits *body, uint8_t *buf, size_t cap);
int64_t wire_encode_heartbeat(const Metasac__Heartbeat *body, uint8_t *buf, size_t cap);
int64_t wire_encode_eval_request(const Metasac__EvalRequest *body, uint8_t *buf, size_t cap);
int64_t wire_encode_eval_result(const Metasac__EvalResult *body, uint8_t *buf, size_t cap);
int64_t wire_encode_stats(const Metasac__Stats *body, uint8_t *buf, size_t cap);
int64_t wire_encode_stop(const Metasac__Stop *body, uint8_t *buf, size_t cap);

/* Upper bounds of encoded sizes, for sizing send buffers once at start-up.
 * Transitions: a batch of n with these dims. Weights: n_params floats and n_layout entries whose
 * names are at most max_name bytes (Welcome adds act_dim bounds and a task name: use
 * wire_welcome_bound). */
size_t wire_transitions_bound(uint32_t n, uint32_t obs_dim, uint32_t act_dim);
size_t wire_reset_states_bound(uint32_t n, uint32_t obs_dim);
size_t wire_weights_bound(size_t n_params, size_t n_layout, size_t max_name);
size_t wire_welcome_bound(size_t n_params, size_t n_layout, size_t max_name, uint32_t act_dim,
                          size_t task_len);
size_t wire_eval_result_bound(uint32_t episodes);

/* 1 when x is finite and not subnormal (zero is fine): what every float on the wire must be. */
static inline int wire_float_ok(float x) {
    float a = x < 0 ? -x : x;
    return a <= 3.40282347e+38f && (a >= 1.17549435e-38f || a == 0.0f);
}

/* Checks a message against lim exactly as the decoder does (senders may call it before sending
 * data they did not produce themselves). Returns WIRE_OK or a negative wire_err_t; if detail is
 * non-NULL, writes a one-line explanation into detail[0..detail_cap). */
int wire_validate(const Metasac__Envelope *env, const wire_limits_t *lim, char *detail,
                  size_t detail_cap);

/* ---- decoding ---- */

typedef struct wire_decoder wire_decoder_t;

/* A decoder with its own arena sized from lim (copied). Aborts on OOM or lim->max_msg_bytes == 0.
 * One per thread: a decoder is not thread-safe. */
wire_decoder_t *wire_decoder_new(const wire_limits_t *lim);
/* Frees the decoder and its arena (invalidating the last decoded message); NULLs *self_p.
 * NULL or *self_p == NULL is a no-op. */
void wire_decoder_destroy(wire_decoder_t **self_p);
/* The limits in force; mutable so a receiver can fill in dims once it learns them
 * (max_msg_bytes/arena_bytes changes are ignored: the arena is sized at creation). */
wire_limits_t *wire_decoder_limits(wire_decoder_t *self);

/* Decodes and validates buf[0..len) (buf may be NULL when len == 0). On WIRE_OK *out points at
 * the message, owned by the decoder and valid until the next wire_decode on it or its destroy;
 * the caller dispatches on (*out)->body_case. On failure returns a negative wire_err_t, sets
 * *out = NULL, and nothing is retained. Never aborts on any input. */
int wire_decode(wire_decoder_t *self, const void *buf, size_t len, const Metasac__Envelope **out);
/* One line explaining the last failure of wire_decode ("" after success); owned by self. */
const char *wire_decoder_detail(const wire_decoder_t *self);

#endif
