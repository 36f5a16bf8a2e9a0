/* metasac-actor: one actor (or evaluator) process. Its options come from config_actor_schema
 * (common/config.c): --key=value flags, --config FILE (the learner's file works too), --help. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "blas.h"
#include "config.h"
#include "log.h"

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig) {
    (void)sig;
    s_stop = 1;
}

int main(int argc, char **argv) {
    blas_pick_kernels(argv);  /* first: it may re-execute the program */
    config_actor_t c;
    char err[CONFIG_ERR_MAX];
    int rc = config_schema_load(&config_actor_schema, &c, argc, argv, stderr, err, sizeof err);
    if (rc == 1) {
        config_schema_write_help(&config_actor_schema, stdout);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "metasac-actor: %s (see --help)\n", err);
        return 2;
    }
    actor_opts_t o;
    actor_opts_default(&o);
    snprintf(o.learner, sizeof o.learner, "%s", c.learner);
    snprintf(o.weights, sizeof o.weights, "%s", c.weights);
    o.evaluator = c.evaluator;
    o.num_envs = c.envs_per_actor;
    o.requested_id = c.id > 0 ? c.id : -1;
    o.max_msg_bytes = c.max_msg_bytes;
    o.heartbeat_ms = c.heartbeat_ms;
    o.timeout_ms = c.heartbeat_timeout_ms;
    o.give_up_ms = c.give_up_ms;
    snprintf(o.curve_server_key, sizeof o.curve_server_key, "%s", c.curve_server_key);
    snprintf(o.curve_key, sizeof o.curve_key, "%s", c.curve_key);
    log_level = (log_level_t)c.log_level;
    log_set_role(o.evaluator ? "evaluator" : "actor");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = actor_run(&o, &s_stop, NULL);
    return rc == 0 ? 0 : rc == -2 ? 3 : 1;
}
