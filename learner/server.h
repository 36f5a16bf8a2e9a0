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
 * unused credits are taken back. Anything malformed is rejected, counted by reason and logged
 * with the sender's id: it never reaches the replay buffer. */
#ifndef METASAC_SERVER_H
#define METASAC_SERVER_H

#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "wire.h"

typedef struct server server_t;

typedef struct {
    uint64_t env_steps;          /* transitions accepted into replay */
    uint64_t updates;            /* gradient updates done (= the current weight version) */
    uint64_t resets;             /* reset states received */
    uint64_t published;          /* weight broadcasts */
    uint64_t evals;              /* evaluation results received */
    uint64_t rejected[WIRE_ERR_COUNT];  /* by wire error code (index -code) */
    uint64_t unknown_peer;       /* data from a peer that never said hello */
    uint64_t wrong_id;           /* actor_id field not the one this peer was given */
    uint64_t over_credit;        /* a batch larger than the sender's outstanding credits */
    uint64_t bad_frames;         /* multipart or empty frames */
    uint64_t peers_expired;      /* peers dropped after heartbeat_timeout_ms of silence */
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

/* Counters, readable from another thread while server_run runs (plain reads of integers that
 * only grow; good enough for tests and monitoring). */
const server_counters_t *server_counters(const server_t *s);

/* The current policy parameters (n floats, the learner's own buffer; read it only while
 * server_run is not running). */
const float *server_policy(const server_t *s, size_t *n);

#endif
