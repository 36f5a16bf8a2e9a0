/* metasac-actor: one actor (or evaluator) process. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "log.h"

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig) {
    (void)sig;
    s_stop = 1;
}

static void s_usage(FILE *f) {
    fprintf(f,
            "usage: metasac-actor --learner=ENDPOINT [--weights=ENDPOINT] [options]\n"
            "  --learner=EP       learner ROUTER endpoint (e.g. tcp://127.0.0.1:5555), required\n"
            "  --weights=EP       learner weights PUB endpoint (actors; e.g. tcp://127.0.0.1:5556)\n"
            "  --evaluator        run as the evaluator (deterministic episodes on request)\n"
            "  --envs=N           environments stepped by this process (default 1)\n"
            "  --id=N             actor id to ask for (a restarted actor keeps its id)\n"
            "  --heartbeat_ms=N   heartbeat interval (default 1000)\n"
            "  --timeout_ms=N     reconnect after this long without word from the learner (10000)\n"
            "  --give_up_ms=N     exit with status 3 after this long without a learner (0 = never)\n"
            "  --curve_server_key=FILE  the learner's CURVE public key (metasac-keygen)\n"
            "  --curve_key=FILE   this actor's CURVE secret key (its public key must be in the\n"
            "                     learner's curve_authorized_keys)\n"
            "  --log_level=L      debug|info|warn|error (default info)\n");
}

/* Parses a decimal integer in [lo, hi]; -1 on anything else. */
static int s_int(const char *name, const char *v, long lo, long hi, long *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        fprintf(stderr, "metasac-actor: --%s: '%s' is not an integer in [%ld, %ld]\n", name, v,
                lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

int main(int argc, char **argv) {
    actor_opts_t o;
    actor_opts_default(&o);
    static const struct option opts[] = {
        {"learner", required_argument, 0, 'l'}, {"weights", required_argument, 0, 'w'},
        {"evaluator", no_argument, 0, 'e'},     {"envs", required_argument, 0, 'n'},
        {"id", required_argument, 0, 'i'},      {"heartbeat_ms", required_argument, 0, 'b'},
        {"timeout_ms", required_argument, 0, 't'}, {"log_level", required_argument, 0, 'g'},
        {"give_up_ms", required_argument, 0, 'G'},
        {"curve_server_key", required_argument, 0, 'S'}, {"curve_key", required_argument, 0, 'K'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': snprintf(o.learner, sizeof o.learner, "%s", optarg); break;
        case 'w': snprintf(o.weights, sizeof o.weights, "%s", optarg); break;
        case 'e': o.evaluator = 1; break;
        case 'n': if (s_int("envs", optarg, 1, 4096, &v)) return 2; o.num_envs = (int)v; break;
        case 'i': if (s_int("id", optarg, 1, 1000000, &v)) return 2; o.requested_id = (int)v; break;
        case 'b': if (s_int("heartbeat_ms", optarg, 10, 3600000, &v)) return 2; o.heartbeat_ms = (int)v; break;
        case 't': if (s_int("timeout_ms", optarg, 20, 36000000, &v)) return 2; o.timeout_ms = (int)v; break;
        case 'S': snprintf(o.curve_server_key, sizeof o.curve_server_key, "%s", optarg); break;
        case 'K': snprintf(o.curve_key, sizeof o.curve_key, "%s", optarg); break;
        case 'G': if (s_int("give_up_ms", optarg, 0, 2000000000, &v)) return 2; o.give_up_ms = (int)v; break;
        case 'g':
            if (log_parse_level(optarg, &log_level) < 0) {
                fprintf(stderr, "metasac-actor: --log_level: unknown level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind < argc || !o.learner[0] || (!o.evaluator && !o.weights[0])) {
        fprintf(stderr, "metasac-actor: %s\n", optind < argc ? "unexpected argument"
                : !o.learner[0] ? "--learner is required" : "--weights is required for an actor");
        s_usage(stderr);
        return 2;
    }
    if (o.heartbeat_ms >= o.timeout_ms) {
        fprintf(stderr, "metasac-actor: --timeout_ms must exceed --heartbeat_ms\n");
        return 2;
    }
    log_set_role(o.evaluator ? "evaluator" : "actor");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = actor_run(&o, &s_stop, NULL);
    return rc == 0 ? 0 : rc == -2 ? 3 : 1;
}
