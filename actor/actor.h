/* The actor process's work: connect to the learner, say hello, receive the task, seeds and
 * weights, step one or more environments with the policy while holding credits, push
 * transitions and the initial observation of every episode, pick up new weights, reconnect when
 * the learner goes away, and stop when *stop becomes non-zero. In the evaluator role it runs
 * deterministic episodes of the weight version the learner asks for and reports the returns.
 *
 * An actor holds nothing worth saving: killing it loses only its unsent steps. */
#ifndef METASAC_ACTOR_H
#define METASAC_ACTOR_H

#include <signal.h>
#include <stdint.h>

#define ACTOR_ENDPOINT_MAX 160

typedef struct {
    char learner[ACTOR_ENDPOINT_MAX];  /* learner ROUTER endpoint, e.g. tcp://127.0.0.1:5555 */
    char weights[ACTOR_ENDPOINT_MAX];  /* learner PUB endpoint for weights, e.g. tcp://...:5556 */
    int evaluator;                     /* 1 = evaluator role */
    int num_envs;                      /* environments stepped by this process, >= 1 */
    int requested_id;                  /* actor id to ask for (a restarted actor), -1 = any */
    int64_t max_msg_bytes;             /* largest message accepted */
    int heartbeat_ms;                  /* send a heartbeat after this long without sending */
    int timeout_ms;                    /* no word from the learner this long: reconnect */
    int give_up_ms;                    /* no learner this long: actor_run returns -2; 0 = never */
    char curve_server_key[ACTOR_ENDPOINT_MAX];  /* learner's public key file; "" = no CURVE */
    char curve_key[ACTOR_ENDPOINT_MAX];         /* this actor's secret key file */
    int ignore_stop;                   /* 1: on Stop wait for a learner to come back instead of
                                          returning (a run to be resumed with more steps; tests) */
} actor_opts_t;

/* Defaults: one env, any id, 64 MiB messages, 1 s heartbeats, 10 s timeout, never give up;
 * endpoints empty. */
void actor_opts_default(actor_opts_t *o);

/* What one actor_run did, for tests and the exit log. */
typedef struct {
    uint64_t env_steps, episodes, batches_sent, transitions_sent, resets_sent;
    uint64_t weights_received, reconnects, evals_run, bad_messages;
    uint64_t dropped_steps;      /* steps not sent: a value beyond the learner's bounds */
    uint64_t credits_revoked;    /* times the learner took its credits back */
    uint64_t send_stalls;        /* sends that found the queue to the learner full */
    uint64_t last_weight_version;
    uint32_t actor_id;
    int stopped;                 /* the learner said the run is over (Stop) */
} actor_counters_t;

/* Runs until *stop is non-zero (checked at least every 100 ms) or the learner sends Stop.
 * Returns 0 on a clean stop or a Stop, -1 if it could not start (bad endpoint, unknown task),
 * -2 after give_up_ms without a learner; counters may be NULL. */
int actor_run(const actor_opts_t *o, volatile sig_atomic_t *stop, actor_counters_t *counters);

#endif
