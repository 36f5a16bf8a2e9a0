/* The learner process's work: bind the sockets, own the replay buffer, D0 and every network,
 * grant credits so the replay ratio holds, run the updates, publish weights, schedule
 * evaluations, and write the run directory. Single-threaded: one loop interleaves draining the
 * sockets and updating, so the order of events is simple to reason about.
 *
 * Protocol (proto/metasac.proto): an actor's DEALER sends Hello; the learner answers Welcome
 * (task, sizes, bounds, seeds, the current weights, how many extra resets to send up front to
 * fill D0) and Credits. The actor steps only while it holds credits and pushes TransitionBatch
 * and ResetStates; new weights go out on the PUB socket every broadcast_interval updates. An
 * evaluator gets EvalRequest followed by the PolicyWeights to evaluate and answers EvalResult.
 * Both sides send Heartbeats; a peer silent for heartbeat_timeout_ms is dropped and its
 * unused credits are taken back. At total_steps every peer is sent Stop.
 *
 * Every message is untrusted. The codec (common/wire.c) refuses what is not a well-formed
 * message; the learner then refuses what makes no sense for this run (values outside the task's
 * bounds, sequence numbers that repeat or skip, more credits used than granted, reset states
 * that are not initial states of the task, ...), counts it by reason, names the sender in a
 * rate-limited log line and returns the batch's credits. Credits go round-robin to the live
 * actors; an actor that holds credits for credit_timeout_ms without sending loses them. An
 * update that produces a non-finite value is undone, and non-finite weights are never
 * published or checkpointed. docs/DESIGN.md describes the conversation. */
#ifndef METASAC_SERVER_H
#define METASAC_SERVER_H

#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "sac.h"
#include "wire.h"

typedef struct server server_t;

/* Why the learner refused a message that decoded and validated as a protocol message (the
 * codec's own refusals are counted by wire error code). Index server_counters_t.refused. */
typedef enum {
    REJECT_UNKNOWN_PEER,    /* data from a peer that never said hello (or was evicted) */
    REJECT_WRONG_ID,        /* actor_id not the sender's, or a message its role does not send */
    REJECT_OVER_CREDIT,     /* a batch larger than the sender's outstanding credits */
    REJECT_BAD_FRAMES,      /* a message of more than one frame, or an empty one */
    REJECT_OBS_BOUND,       /* |obs| or |next_obs| above max_abs_obs */
    REJECT_ACT_BOUND,       /* an action outside the task's bounds */
    REJECT_REWARD_BOUND,    /* |reward| above max_abs_reward */
    REJECT_SEQ_DUP,         /* a batch sequence number already seen (a duplicate) */
    REJECT_SEQ_GAP,         /* a batch sequence number that skips ahead */
    REJECT_FUTURE_VERSION,  /* weight_version newer than the learner's */
    REJECT_STALE_EPOCH,     /* steps taken under credits the learner had taken back */
    REJECT_RESET_RANGE,     /* a reset state outside the task's initial-state region */
    REJECT_RESET_QUOTA,     /* more reset states than the sender's episodes can explain */
    REJECT_EVAL,            /* an eval result not asked for, or impossible for the task */
    REJECT_HELLO_AGAIN,     /* a second hello on a connection that is registered */
    REJECT_PEER_LIMIT,      /* no room for a new peer (table or per-host limit, nobody idle) */
    REJECT_HELLO_RATE,      /* too many hellos from one address (each costs a Welcome) */
    REJECT_COUNT
} server_reject_t;

/* "unknown_peer", "wrong_id", ...: static, for logs and metric labels; "?" out of range. */
const char *server_reject_name(int reason);

typedef struct {
    uint64_t env_steps;          /* transitions accepted into replay */
    uint64_t updates;            /* gradient updates done (= the current weight version) */
    uint64_t resets;             /* reset states received */
    uint64_t published;          /* weight broadcasts */
    uint64_t evals;              /* evaluation results received */
    uint64_t rejected[WIRE_ERR_COUNT];  /* refused by the codec, by wire error code (index -code) */
    uint64_t refused[REJECT_COUNT];     /* refused by meaning, by server_reject_t */
    uint64_t rejected_total;     /* sum of both */
    uint64_t peers_expired;      /* peers dropped after heartbeat_timeout_ms of silence */
    uint64_t peers_evicted;      /* idle peers dropped to make room for a new one */
    uint64_t credits_reclaimed;  /* times credits were taken back from a peer that held them */
    uint64_t rollbacks;          /* updates undone because of a non-finite value */
    uint64_t auth_refused;       /* CURVE handshakes refused (unknown key), at the last report */
    uint64_t hellos;             /* welcomes sent */
    int actors, evaluators;      /* connected now */
    double last_eval_mean;       /* NAN before the first */
    uint64_t last_eval_steps;    /* env steps of the weights it evaluated */
    uint64_t replay_size, d0_size;
    double log_alpha;
} server_counters_t;

/* Binds the endpoints of cfg (a "*" port in tcp endpoints picks a free one: see
 * server_endpoint) and sets everything up; writes the resolved config to cfg->run_dir when set.
 * NULL with a message in err on a failure (unknown task, endpoint in use, run dir unwritable). */
server_t *server_new(const config_t *cfg, char *err, size_t errlen);
void server_destroy(server_t **self_p);

/* Runs until *stop is non-zero or total_steps env steps have been taken and trained on.
 * Returns 0. */
int server_run(server_t *s, volatile sig_atomic_t *stop);

/* The endpoints actually bound (with the real port), for actors to connect to; which = 0 for
 * the ROUTER, 1 for the weights PUB. Loopback address when the bind was on "*". */
const char *server_endpoint(const server_t *s, int which);

/* The port of the Prometheus endpoint (GET /metrics), 0 when metrics_port is 0. */
int server_metrics_port(const server_t *s);

/* Counters, readable from another thread while server_run runs (plain reads of integers that
 * only grow; good enough for tests and monitoring). */
const server_counters_t *server_counters(const server_t *s);

/* The current policy parameters (n floats, the learner's own buffer; read it only while
 * server_run is not running). */
const float *server_policy(const server_t *s, size_t *n);

/* For tests of the wiring from the config to the update (tests/test_wiring.c); read them only
 * while server_run is not running. server_agent: the learner's agent (its sac_opts_t, networks
 * and optimizer state). server_last_update: what the last update was given: the replay batches
 * b1 and b2 (b2 = b1 unless Meta-SAC resamples), D0's rows (returned, *nd0 of them) and the
 * update's statistics (*st). */
const sac_f *server_agent(const server_t *s);
const float *server_last_update(const server_t *s, batch_f *b1, batch_f *b2, int *nd0,
                                sac_stats_t *st);

#endif
