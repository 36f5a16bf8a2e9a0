#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const s_tasks[] = {"hopper", "walker2d", "half_cheetah", "ant", "humanoid", NULL};
static const char *const s_algos[] = {"sac_v1", "sac_v2", "meta_sac", "td3", NULL};
static const char *const s_d0_modes[] = {"fixed", "reservoir", NULL};
/* Same order as log_level_t in log.h. */
static const char *const s_log_levels[] = {"debug", "info", "warn", "error", "off", NULL};

#define I32 ((int64_t)2147483647)
#define I64 INT64_MAX
/* Entries of struct T (config_t, config_actor_t, config_env_t); field name = the struct's. */
#define T_INT(T, n, f, d, lo, hi, h) {n, CONFIG_INT, offsetof(T, f), d, lo, hi, 0, 0, 0, NULL, h}
#define T_I64(T, n, f, d, lo, hi, h) {n, CONFIG_INT64, offsetof(T, f), d, lo, hi, 0, 0, 0, NULL, h}
#define T_DBL(T, n, f, d, lo, hi, fl, h) {n, CONFIG_DOUBLE, offsetof(T, f), d, 0, 0, lo, hi, fl, NULL, h}
#define T_BOOL(T, n, f, d, h) {n, CONFIG_BOOL, offsetof(T, f), d, 0, 0, 0, 0, 0, NULL, h}
#define T_STR(T, n, f, d, h) {n, CONFIG_STRING, offsetof(T, f), d, 1, CONFIG_STR_MAX - 1, 0, 0, 0, NULL, h}
#define T_PATH(T, n, f, d, h) {n, CONFIG_STRING, offsetof(T, f), d, 0, CONFIG_STR_MAX - 1, 0, 0, 0, NULL, h}
#define T_ENUM(T, n, f, d, names, h) {n, CONFIG_ENUM, offsetof(T, f), d, 0, 0, 0, 0, 0, names, h}
#define E_INT(...) T_INT(config_t, __VA_ARGS__)
#define E_I64(...) T_I64(config_t, __VA_ARGS__)
#define E_DBL(...) T_DBL(config_t, __VA_ARGS__)
#define E_BOOL(...) T_BOOL(config_t, __VA_ARGS__)
#define E_STR(...) T_STR(config_t, __VA_ARGS__)
#define E_PATH(...) T_PATH(config_t, __VA_ARGS__)
#define E_ENUM(...) T_ENUM(config_t, __VA_ARGS__)

/* Keys several programs share: defined once, so name, type, bounds and help cannot drift. */
#define K_SEED(T)                                                                              \
    T_I64(T, "seed", seed, "1", 0, I64,                                                         \
          "Run seed. Every random stream derives from it and a stream id (actor, env).")
#define K_LOG_LEVEL(T, def) T_ENUM(T, "log_level", log_level, def, s_log_levels, "Lowest level written to the log.")
#define K_ENVS_PER_ACTOR(T)                                                                    \
    T_INT(T, "envs_per_actor", envs_per_actor, "1", 1, 4096, "Environments each actor steps.")
#define K_MAX_MSG_BYTES(T)                                                                     \
    T_I64(T, "max_msg_bytes", max_msg_bytes, "67108864", 1024, (int64_t)1 << 31,              \
          "Largest message accepted (ZMQ_MAXMSGSIZE and the decoder's limit).")
#define K_HEARTBEAT_MS(T) T_INT(T, "heartbeat_ms", heartbeat_ms, "1000", 10, 3600000, "Heartbeat interval.")
#define K_HEARTBEAT_TIMEOUT_MS(T)                                                              \
    T_INT(T, "heartbeat_timeout_ms", heartbeat_timeout_ms, "10000", 10, 36000000,              \
          "A peer silent this long is considered gone.")

/* THE table. Adding a key = one line here + one field in config_t; then regenerate
 * deploy/metasac.conf.sample (tests/test_config.c says how when it differs). */
static const config_entry_t s_table[] = {
    /* run */
    E_ENUM("task", task, "hopper", s_tasks, "MuJoCo locomotion task to train on."),
    E_ENUM("algo", algo, "meta_sac", s_algos,
           "Learning algorithm: SAC with fixed alpha (sac_v1), learned alpha (sac_v2), "
           "metagradient alpha (meta_sac), or TD3."),
    K_SEED(config_t),
    E_I64("total_steps", total_steps, "0", 0, I64,
          "Environment steps to train for. 0 = the paper's length for the task (hopper 1M, "
          "humanoid 10M, others 3M)."),
    E_STR("run_dir", run_dir, "runs/default",
          "Run directory: resolved config, logs, metrics, checkpoints. Restarting with the same "
          "run_dir resumes."),
    E_I64("checkpoint_interval", checkpoint_interval, "100000", 0, I64,
          "Environment steps between checkpoints; 0 = only at exit (SIGINT/SIGTERM)."),
    E_BOOL("sync", sync, "false",
           "Synchronous, reproducible mode: one actor acts with exactly the weights of every "
           "update in lock-step (replay ratio 1, weights after every update), metrics are "
           "written every 1000 env steps without wall-clock fields, so two runs with one seed "
           "write identical metrics (for the same update_threads). Use with one actor and "
           "blas_threads 1."),
    K_LOG_LEVEL(config_t, "info"),
    E_INT("update_threads", update_threads, "2", 1, 64,
          "Threads of the learner's update: every forward and backward pass is split into this "
          "many row ranges run side by side, each with one OpenBLAS thread. Results are "
          "deterministic for a given value and differ between values in the last bits."),
    E_INT("blas_threads", blas_threads, "1", 1, 1024,
          "OpenBLAS threads of each update thread (keep 1 when update_threads > 1: two "
          "levels of busy-waiting threads on the same cores slow each other down 3-4x)."),
    /* networks and optimisation */
    E_INT("hidden", hidden, "256", 1, 65536, "Width of both hidden layers of every network."),
    E_INT("batch", batch, "256", 1, 1048576, "Minibatch size B of every update."),
    E_DBL("gamma", gamma, "0.99", 0.0, 1.0, 0, "Discount factor."),
    E_DBL("tau", tau, "0.005", 0.0, 1.0, CONFIG_MIN_OPEN,
          "Polyak coefficient of the target critics, applied after every update."),
    E_DBL("critic_lr", critic_lr, "3e-4", 0.0, 1.0, CONFIG_MIN_OPEN, "Critic Adam learning rate."),
    E_DBL("policy_lr", policy_lr, "3e-4", 0.0, 1.0, CONFIG_MIN_OPEN,
          "Policy learning rate (Adam; RMSProp for meta_sac, also in the virtual step)."),
    E_DBL("alpha_lr", alpha_lr, "3e-4", 0.0, 1.0, CONFIG_MIN_OPEN,
          "Learning rate of log alpha (sac_v2 and meta_sac)."),
    E_BOOL("critic_two_steps", critic_two_steps, "false",
           "Take two Adam steps per critic update, one per Q loss, as the reference code does "
           "(default: one step on the summed loss)."),
    /* entropy temperature */
    E_DBL("alpha", alpha, "0.2", 0.0, 1e3, 0,
          "Fixed entropy temperature of sac_v1 (the paper uses 0.05 for humanoid)."),
    E_DBL("target_entropy", target_entropy, "auto", -1e6, 1e6, CONFIG_AUTO,
          "Target entropy H of sac_v2; auto = -act_dim."),
    /* Meta-SAC */
    E_DBL("rms_rho", rms_rho, "0.99", 0.0, 1.0, CONFIG_MAX_OPEN,
          "RMSProp square-average decay of the policy optimizer (meta_sac)."),
    E_DBL("rms_eps", rms_eps, "1e-12", 0.0, 1.0, 0,
          "RMSProp epsilon, inside the square root (meta_sac)."),
    E_DBL("meta_clip", meta_clip, "0.05", 0.0, 1e6, CONFIG_MIN_OPEN,
          "Clip of the metagradient |dL_meta/dlog alpha|."),
    E_INT("d0_size", d0_size, "256", 1, 1048576, "Number of initial states in D0."),
    E_ENUM("d0_mode", d0_mode, "fixed", s_d0_modes,
           "fixed: D0 is the first d0_size reset states, never refreshed (reference); "
           "reservoir: a reservoir sample of all reset states seen."),
    E_BOOL("meta_on_replay", meta_on_replay, "false",
           "Ablation D.1: meta loss on the replay batch's states instead of D0."),
    E_BOOL("resample", resample, "true",
           "Draw a fresh batch for the real updates after the meta step (false = ablation D.2: "
           "reuse it)."),
    E_BOOL("meta_scaled_action", meta_scaled_action, "true",
           "Scale the meta loss action to the action bounds (false reproduces the reference, "
           "which uses tanh(mu))."),
    E_BOOL("meta_classic_q", meta_classic_q, "false",
           "Ablation D.3: meta loss with a separate critic trained with alpha = 0."),
    /* TD3 */
    E_DBL("td3_policy_noise", td3_policy_noise, "0.2", 0.0, 1e3, 0,
          "TD3 target policy smoothing noise std, times the max action."),
    E_DBL("td3_noise_clip", td3_noise_clip, "0.5", 0.0, 1e3, 0,
          "TD3 clip of the smoothing noise, times the max action."),
    E_INT("td3_policy_delay", td3_policy_delay, "2", 1, 1000,
          "TD3 critic updates per actor and target update."),
    E_DBL("td3_expl_noise", td3_expl_noise, "0.1", 0.0, 1e3, 0,
          "TD3 exploration noise std, times the max action."),
    /* schedule */
    E_I64("replay_capacity", replay_capacity, "1000000", 1, (int64_t)1 << 40,
          "Replay buffer capacity in transitions."),
    E_DBL("replay_ratio", replay_ratio, "1.0", 0.0, 1e6, 0,
          "Gradient updates per environment step, enforced with credits; 0 = unthrottled."),
    E_I64("random_steps", random_steps, "10000", 0, I64,
          "Environment steps with uniform random actions at the start of the run."),
    E_I64("update_after", update_after, "256", 0, I64,
          "Updates start once the replay holds more than this many transitions (td3: not "
          "before random_steps, TD3's start_timesteps)."),
    E_I64("eval_interval", eval_interval, "10000", 0, I64,
          "Environment steps between evaluations; 0 = never."),
    E_INT("eval_episodes", eval_episodes, "10", 1, 100000,
          "Episodes per evaluation (deterministic policy)."),
    E_INT("evaluator_nice", evaluator_nice, "10", 0, 19,
          "Niceness metasac-run adds to the evaluator it starts: evaluations are not on the "
          "learner's critical path, and on a machine with few cores an evaluator at full "
          "priority takes its CPU from the update (6% of the update rate on 2 cores, "
          "bench_loop)."),
    /* distributed runtime */
    E_INT("actors", actors, "1", 1, 100000, "Actor processes the launcher starts."),
    K_ENVS_PER_ACTOR(config_t),
    E_INT("send_batch", send_batch, "1", 1, 1048576,
          "Transitions per TransitionBatch message (1 keeps one actor in lock-step with the "
          "learner)."),
    E_INT("broadcast_interval", broadcast_interval, "1", 1, I32,
          "Learner updates between policy weight broadcasts."),
    E_STR("learner_bind", learner_bind, "tcp://127.0.0.1:5555",
          "ZeroMQ endpoint the learner's ROUTER binds (transitions, hello, credits). An address "
          "other hosts can reach (tcp://*:5555) needs curve_secret_key, or insecure."),
    E_STR("learner_connect", learner_connect, "tcp://127.0.0.1:5555",
          "ZeroMQ endpoint actors connect their DEALER to."),
    E_STR("weights_bind", weights_bind, "tcp://127.0.0.1:5556",
          "ZeroMQ endpoint the learner's weight PUB binds (same rule as learner_bind)."),
    E_STR("weights_connect", weights_connect, "tcp://127.0.0.1:5556",
          "ZeroMQ endpoint actors connect their weight SUB to."),
    E_PATH("advertise_host", advertise_host, "",
           "Host (name or address) other nodes reach the learner at, written to the run's "
           "endpoints file for a wildcard bind (tcp://*:PORT); empty = this machine's host name."),
    E_INT("report_ms", report_ms, "5000", 100, 3600000,
          "Interval of the throughput line and of metrics.jsonl; every third line is followed "
          "by one line per host (its actors, env steps/s, share)."),
    E_INT("metrics_port", metrics_port, "0", -1, 65535,
          "HTTP port of the learner's Prometheus/OpenMetrics endpoint (GET /metrics, every "
          "interface); 0 = off, -1 = any free port (written to the endpoints file)."),
    K_MAX_MSG_BYTES(config_t),
    K_HEARTBEAT_MS(config_t),
    K_HEARTBEAT_TIMEOUT_MS(config_t),
    /* trust */
    E_DBL("max_abs_obs", max_abs_obs, "1e5", 0.0, 1e30, CONFIG_MIN_OPEN,
          "Largest observation (and reset state) magnitude accepted; a batch with a larger "
          "value is refused (random Humanoid episodes reach about 5e3)."),
    E_DBL("max_abs_reward", max_abs_reward, "1000", 0.0, 1e30, CONFIG_MIN_OPEN,
          "Largest per-step reward magnitude accepted; a batch with a larger one is refused."),
    E_INT("credit_timeout_ms", credit_timeout_ms, "3000", 10, 3600000,
          "Credits an actor holds this long without sending transitions are taken back and "
          "shared among the others; such an actor gets one batch of credits at a time, after "
          "a growing pause, until it sends again."),
    E_INT("max_peers", max_peers, "1024", 1, 65536,
          "Actors and evaluators connected at most; when full, the longest-idle peer is evicted "
          "for a new one."),
    E_INT("max_peers_per_host", max_peers_per_host, "256", 1, 65536,
          "Peers from one network address at most (its longest-idle peer is evicted first)."),
    E_INT("rollback_interval", rollback_interval, "100", 1, 1000000,
          "Updates between verified snapshots of the learner's networks and optimizers; an "
          "update that produces a non-finite loss or parameter is undone by going back to the "
          "last snapshot."),
    E_INT("log_interval_ms", log_interval_ms, "10000", 0, 3600000,
          "Repeated warnings of one kind about one peer are logged once per interval, with a "
          "count; 0 logs every one."),
    E_PATH("curve_secret_key", curve_secret_key, "",
           "CURVE secret key file of the learner (metasac-keygen); empty = no encryption. With "
           "it, only actors whose public key is in curve_authorized_keys get in."),
    E_PATH("curve_authorized_keys", curve_authorized_keys, "",
           "File of allowed actor public keys, one per line (re-read when it changes)."),
    E_BOOL("insecure", insecure, "false",
           "Allow binding an address other hosts can reach without CURVE (anyone who can reach "
           "the port can then send data); a warning is logged at every start."),
};

#define S_N (sizeof s_table / sizeof s_table[0])

/* metasac-actor. Keys shared with the learner come from the K_ macros above. */
#define A config_actor_t
static const config_entry_t s_actor_table[] = {
    T_PATH(A, "learner", learner, "",
           "Learner ROUTER endpoint to connect to, e.g. tcp://127.0.0.1:5555 (required)."),
    T_PATH(A, "weights", weights, "",
           "Learner weights PUB endpoint, e.g. tcp://127.0.0.1:5556 (required for an actor, not "
           "for the evaluator)."),
    T_BOOL(A, "evaluator", evaluator, "false",
           "Run as the evaluator: deterministic episodes of the weights the learner asks for."),
    K_ENVS_PER_ACTOR(A),
    T_INT(A, "id", id, "0", 0, 1000000,
          "Actor id to ask the learner for (a restarted actor keeps its id); 0 = any."),
    K_HEARTBEAT_MS(A),
    K_HEARTBEAT_TIMEOUT_MS(A),
    T_INT(A, "give_up_ms", give_up_ms, "0", 0, 2000000000,
          "Exit with status 3 after this long without a learner; 0 = never."),
    T_PATH(A, "curve_server_key", curve_server_key, "",
           "The learner's CURVE public key file (metasac-keygen); empty = no CURVE."),
    T_PATH(A, "curve_key", curve_key, "",
           "This actor's CURVE secret key file (its public key must be in the learner's "
           "curve_authorized_keys)."),
    K_LOG_LEVEL(A, "info"),
    K_MAX_MSG_BYTES(A),
};
#undef A

/* The spellings metasac-actor had before it shared the learner's names; drop after a release. */
static const config_alias_t s_actor_aliases[] = {
    {"--envs", "envs_per_actor"},
    {"--timeout_ms", "heartbeat_timeout_ms"},
};

/* metasac-env. */
#define V config_env_t
static const config_entry_t s_env_table[] = {
    T_PATH(V, "task", task, "",
           "Task to inspect: hopper|walker2d|half_cheetah|ant|humanoid (Gym names like Hopper-v2 "
           "too). The first bare argument sets it."),
    T_I64(V, "random_episodes", random_episodes, "100", 0, 100000000,
          "Episodes under uniform random actions; 0 = none."),
    K_SEED(V),
    T_I64(V, "stream", stream, "0", 0, I64, "RNG stream id of the env."),
    K_LOG_LEVEL(V, "warn"),
};
#undef V

static const config_alias_t s_env_aliases[] = {
    {"--random-episodes", "random_episodes"},
    {"--log-level", "log_level"},
    {"-n", "random_episodes"},
    {"-s", "seed"},
    {"-l", "log_level"},
};

static int s_learner_rules(const void *cfg, char *err, size_t errlen);
static int s_actor_rules(const void *cfg, char *err, size_t errlen);
static int s_env_rules(const void *cfg, char *err, size_t errlen);

#define N_OF(a) (sizeof (a) / sizeof (a)[0])

const config_schema_t config_learner_schema = {
    "metasac-learner", "[--config FILE] [--key=value ...]", s_table, S_N, sizeof(config_t),
    NULL, 0, NULL, s_learner_rules};
const config_schema_t config_actor_schema = {
    "metasac-actor", "--learner=ENDPOINT [--weights=ENDPOINT] [--config FILE] [--key=value ...]",
    s_actor_table, N_OF(s_actor_table), sizeof(config_actor_t), s_actor_aliases,
    N_OF(s_actor_aliases), NULL, s_actor_rules};
const config_schema_t config_env_schema = {
    "metasac-env", "TASK [--config FILE] [--key=value ...]", s_env_table, N_OF(s_env_table),
    sizeof(config_env_t), s_env_aliases, N_OF(s_env_aliases), "task", s_env_rules};

/* Every program: a file key one of them knows is a valid key of the shared file. */
static const config_schema_t *const s_schemas[] = {&config_learner_schema, &config_actor_schema,
                                                   &config_env_schema};

#define S_TABLE_MAX 128 /* entries per table at most (the file parser's seen[] array) */

const config_entry_t *config_table(size_t *n) {
    if (n) *n = S_N;
    return s_table;
}

const config_entry_t *config_schema_find(const config_schema_t *s, const char *key) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->table[i].name, key) == 0) return &s->table[i];
    return NULL;
}

const config_entry_t *config_find(const char *key) {
    return config_schema_find(&config_learner_schema, key);
}

/* The first other program whose table has key, or NULL. */
static const config_schema_t *s_owner_elsewhere(const config_schema_t *s, const char *key) {
    for (size_t i = 0; i < N_OF(s_schemas); i++)
        if (s_schemas[i] != s && config_schema_find(s_schemas[i], key)) return s_schemas[i];
    return NULL;
}

/* Levenshtein distance with '-' equal to '_' and case ignored; saturates at 99. */
static int s_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int ca = a[i - 1] == '-' ? '_' : tolower((unsigned char)a[i - 1]);
            int cb = b[j - 1] == '-' ? '_' : tolower((unsigned char)b[j - 1]);
            int best = diag + (ca != cb);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = row[j];
            row[j] = best;
        }
    }
    return row[lb];
}

/* How close key is to name: its edit distance when <= 2 (and smaller than key), 3 when one is a
 * prefix of the other (at least 3 characters), else -1. */
static int s_closeness(const char *key, const char *name) {
    int d = s_distance(key, name);
    if (d <= 2 && (size_t)d < strlen(key)) return d;
    size_t lk = strlen(key), ln = strlen(name);
    size_t m = lk < ln ? lk : ln;
    if (m >= 3 && strncasecmp(key, name, m) == 0) return 3;
    return -1;
}

const char *config_suggest(const config_schema_t *s, const char *key) {
    const char *best = NULL;
    int best_score = 100;
    /* own keys first: at an equal score they win */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < N_OF(s_schemas); k++) {
            const config_schema_t *t = s_schemas[k];
            if ((pass == 0) != (t == s)) continue;
            for (size_t i = 0; i < t->n; i++) {
                int c = s_closeness(key, t->table[i].name);
                if (c >= 0 && c < best_score) {
                    best_score = c;
                    best = t->table[i].name;
                }
            }
        }
    }
    return best;
}

/* ---------------------------------------------------------------- errors */

static int s_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int s_err(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---------------------------------------------------------------- value text */

/* Shortest %g form that reads back to exactly x. */
static void s_fmt_double(double x, char *buf, size_t n) {
    if (!buf || n == 0) return;  /* also silences a gcc -O3 + sanitizer false positive */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

static void s_range(const config_entry_t *e, char *buf, size_t n) {
    char lo[32], hi[32];
    switch (e->type) {
    case CONFIG_INT:
    case CONFIG_INT64:
        snprintf(buf, n, "[%lld, %lld]", (long long)e->imin, (long long)e->imax);
        break;
    case CONFIG_DOUBLE:
        s_fmt_double(e->dmin, lo, sizeof lo);
        s_fmt_double(e->dmax, hi, sizeof hi);
        snprintf(buf, n, "%s%s, %s%s%s", (e->flags & CONFIG_MIN_OPEN) ? "(" : "[", lo, hi,
                 (e->flags & CONFIG_MAX_OPEN) ? ")" : "]", (e->flags & CONFIG_AUTO) ? " or auto" : "");
        break;
    case CONFIG_BOOL:
        snprintf(buf, n, "true|false");
        break;
    case CONFIG_STRING:
        snprintf(buf, n, "%lld to %lld characters, no ';', '#' or control characters",
                 (long long)e->imin, (long long)e->imax);
        break;
    case CONFIG_ENUM: {
        size_t used = 0;
        buf[0] = '\0';
        for (int i = 0; e->names[i] && used < n; i++)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? "|" : "", e->names[i]);
        break;
    }
    }
}

static const char *s_type_name(config_type_t t) {
    static const char *names[] = {"integer", "integer", "number", "boolean", "string", "one of"};
    return names[t];
}

/* Parses text into *out per entry type, checking bounds. Writes nothing on failure. */
static int s_parse(const config_entry_t *e, const char *v, void *field, char *err, size_t errlen) {
    char range[160];
    s_range(e, range, sizeof range);
    char *end;
    switch (e->type) {
    case CONFIG_INT:
    case CONFIG_INT64: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        int ok = end != v && *end == '\0' && errno == 0;
        if (!ok) {  /* exact integers in float syntax: 1e6, 2.0 */
            errno = 0;
            double d = strtod(v, &end);
            ok = end != v && *end == '\0' && errno == 0 && isfinite(d) && d == floor(d) &&
                 fabs(d) <= 9007199254740992.0;
            x = ok ? (long long)d : 0;
        }
        if (!ok)
            return s_err(err, errlen, "config: key '%s': '%s' is not an integer (allowed: %s)",
                         e->name, v, range);
        if (x < e->imin || x > e->imax)
            return s_err(err, errlen, "config: key '%s': value %s out of range %s", e->name, v,
                         range);
        if (e->type == CONFIG_INT) *(int *)field = (int)x;
        else *(int64_t *)field = (int64_t)x;
        return 0;
    }
    case CONFIG_DOUBLE: {
        if ((e->flags & CONFIG_AUTO) && strcmp(v, "auto") == 0) {
            *(double *)field = NAN;
            return 0;
        }
        double x = strtod(v, &end);  /* overflow gives +-inf, underflow a tiny value: both fine */
        if (end == v || *end != '\0' || !isfinite(x))
            return s_err(err, errlen, "config: key '%s': '%s' is not a finite number (allowed: %s)",
                         e->name, v, range);
        int lo_ok = (e->flags & CONFIG_MIN_OPEN) ? x > e->dmin : x >= e->dmin;
        int hi_ok = (e->flags & CONFIG_MAX_OPEN) ? x < e->dmax : x <= e->dmax;
        if (!lo_ok || !hi_ok)
            return s_err(err, errlen, "config: key '%s': value %s out of range %s", e->name, v,
                         range);
        *(double *)field = x;
        return 0;
    }
    case CONFIG_BOOL: {
        static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
        for (int i = 0; i < 4; i++) {
            if (strcasecmp(v, yes[i]) == 0) { *(bool *)field = true; return 0; }
            if (strcasecmp(v, no[i]) == 0) { *(bool *)field = false; return 0; }
        }
        return s_err(err, errlen, "config: key '%s': '%s' is not a boolean (allowed: %s)", e->name,
                     v, range);
    }
    case CONFIG_STRING: {
        size_t len = strlen(v);
        if ((int64_t)len < e->imin || (int64_t)len > e->imax)
            return s_err(err, errlen, "config: key '%s': '%.40s%s' has %zu characters (allowed: %s)",
                         e->name, v, len > 40 ? "..." : "", len, range);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)v[i];
            /* ';' and '#' would start a comment when re-read, edge spaces would be stripped */
            if (c < 0x20 || c == 0x7f || c == ';' || c == '#' ||
                ((i == 0 || i == len - 1) && c == ' '))
                return s_err(err, errlen,
                             "config: key '%s': '%.40s' has a character not allowed (allowed: %s)",
                             e->name, v, range);
        }
        memcpy(field, v, len + 1);
        return 0;
    }
    case CONFIG_ENUM:
        for (int i = 0; e->names[i]; i++)
            if (strcmp(v, e->names[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        return s_err(err, errlen, "config: key '%s': '%s' is not one of %s", e->name, v, range);
    }
    return s_err(err, errlen, "config: key '%s': bad table type", e->name);
}

static void s_format(const config_entry_t *e, const void *cfg, char *buf, size_t n) {
    const char *field = (const char *)cfg + e->offset;
    switch (e->type) {
    case CONFIG_INT: snprintf(buf, n, "%d", *(const int *)field); break;
    case CONFIG_INT64: snprintf(buf, n, "%lld", (long long)*(const int64_t *)field); break;
    case CONFIG_DOUBLE: {
        double x = *(const double *)field;
        if (isnan(x)) snprintf(buf, n, "auto");
        else s_fmt_double(x, buf, n);
        break;
    }
    case CONFIG_BOOL: snprintf(buf, n, "%s", *(const bool *)field ? "true" : "false"); break;
    case CONFIG_STRING: snprintf(buf, n, "%s", field); break;
    case CONFIG_ENUM: {
        int i = *(const int *)field, k = 0;
        while (e->names[k]) k++;
        snprintf(buf, n, "%s", i >= 0 && i < k ? e->names[i] : "?");
        break;
    }
    }
}

/* ---------------------------------------------------------------- public: values */

void config_schema_defaults(const config_schema_t *s, void *cfg) {
    memset(cfg, 0, s->size);
    for (size_t i = 0; i < s->n; i++) {
        char err[CONFIG_ERR_MAX];
        int rc = s_parse(&s->table[i], s->table[i].def, (char *)cfg + s->table[i].offset, err,
                         sizeof err);
        if (rc != 0) {  /* a bug in the table: fail loudly at the first run */
            fprintf(stderr, "FATAL %s:%d: %s: bad default: %s\n", __FILE__, __LINE__, s->program,
                    err);
            abort();
        }
    }
}

void config_defaults(config_t *cfg) { config_schema_defaults(&config_learner_schema, cfg); }

/* "config: unknown key 'k'" with "; did you mean 'x'?" when a key is close. */
static int s_unknown(const config_schema_t *s, const char *key, const char *flag, char *err,
                     size_t errlen) {
    const char *near = config_suggest(s, key);
    char hint[96] = "";
    if (near) snprintf(hint, sizeof hint, "; did you mean '%s'?", near);
    if (flag)
        return s_err(err, errlen, "config: unknown key '%s' (flag '%s')%s", key, flag, hint);
    return s_err(err, errlen, "config: unknown key '%s'%s", key, hint);
}

int config_schema_set(const config_schema_t *s, void *cfg, const char *key, const char *value,
                      char *err, size_t errlen) {
    const config_entry_t *e = config_schema_find(s, key);
    if (!e) return s_unknown(s, key, NULL, err, errlen);
    if (!value) return s_err(err, errlen, "config: key '%s': missing value", key);
    return s_parse(e, value, (char *)cfg + e->offset, err, errlen);
}

int config_set(config_t *cfg, const char *key, const char *value, char *err, size_t errlen) {
    return config_schema_set(&config_learner_schema, cfg, key, value, err, errlen);
}

int config_get(const config_t *cfg, const char *key, char *buf, size_t buflen) {
    const config_entry_t *e = config_find(key);
    if (!e || !buf || buflen == 0) return -1;
    s_format(e, cfg, buf, buflen);
    return 0;
}

int config_equal(const config_t *a, const config_t *b) {
    for (size_t i = 0; i < S_N; i++) {
        const config_entry_t *e = &s_table[i];
        const char *x = (const char *)a + e->offset, *y = (const char *)b + e->offset;
        int same = 0;
        switch (e->type) {
        case CONFIG_INT:
        case CONFIG_ENUM: same = *(const int *)x == *(const int *)y; break;
        case CONFIG_INT64: same = *(const int64_t *)x == *(const int64_t *)y; break;
        case CONFIG_BOOL: same = *(const bool *)x == *(const bool *)y; break;
        case CONFIG_STRING: same = strcmp(x, y) == 0; break;
        case CONFIG_DOUBLE: {
            double p = *(const double *)x, q = *(const double *)y;
            same = p == q || (isnan(p) && isnan(q));
            break;
        }
        }
        if (!same) return 0;
    }
    return 1;
}

int config_schema_check(const config_schema_t *s, const void *cfg, char *err, size_t errlen) {
    /* Every field through its own parser: a hand-built struct gets the same bound checks. */
    for (size_t i = 0; i < s->n; i++) {
        const config_entry_t *e = &s->table[i];
        const char *field = (const char *)cfg + e->offset;
        char text[CONFIG_STR_MAX + 32];
        if (e->type == CONFIG_STRING && strnlen(field, CONFIG_STR_MAX) == CONFIG_STR_MAX)
            return s_err(err, errlen, "config: key '%s': string not terminated", e->name);
        if (e->type == CONFIG_DOUBLE && isnan(*(const double *)field) && !(e->flags & CONFIG_AUTO))
            return s_err(err, errlen, "config: key '%s': value nan is not allowed", e->name);
        s_format(e, cfg, text, sizeof text);
        union { double d; int64_t i; char s[CONFIG_STR_MAX]; } scratch;
        if (s_parse(e, text, &scratch, err, errlen) != 0) return -1;
    }
    return s->check ? s->check(cfg, err, errlen) : 0;
}

int config_check(const config_t *cfg, char *err, size_t errlen) {
    return config_schema_check(&config_learner_schema, cfg, err, errlen);
}

static int s_learner_rules(const void *p, char *err, size_t errlen) {
    const config_t *cfg = p;
    if (cfg->batch > cfg->replay_capacity)
        return s_err(err, errlen, "config: key 'batch': %d exceeds replay_capacity %lld",
                     cfg->batch, (long long)cfg->replay_capacity);
    if (cfg->update_after >= cfg->replay_capacity)
        return s_err(err, errlen,
                     "config: key 'update_after': %lld must be below replay_capacity %lld",
                     (long long)cfg->update_after, (long long)cfg->replay_capacity);
    if (cfg->heartbeat_timeout_ms <= cfg->heartbeat_ms)
        return s_err(err, errlen,
                     "config: key 'heartbeat_timeout_ms': %d must exceed heartbeat_ms %d",
                     cfg->heartbeat_timeout_ms, cfg->heartbeat_ms);
    if (!cfg->curve_secret_key[0] != !cfg->curve_authorized_keys[0])
        return s_err(err, errlen,
                     "config: keys 'curve_secret_key' and 'curve_authorized_keys' go together "
                     "(set both for CURVE, neither without)");
    return 0;
}

static int s_actor_rules(const void *p, char *err, size_t errlen) {
    const config_actor_t *a = p;
    if (!a->learner[0])
        return s_err(err, errlen,
                     "config: key 'learner' is required (the learner's ROUTER endpoint, e.g. "
                     "--learner=tcp://127.0.0.1:5555)");
    if (!a->evaluator && !a->weights[0])
        return s_err(err, errlen,
                     "config: key 'weights' is required for an actor (the learner's weights "
                     "endpoint, e.g. --weights=tcp://127.0.0.1:5556)");
    if (a->heartbeat_timeout_ms <= a->heartbeat_ms)
        return s_err(err, errlen,
                     "config: key 'heartbeat_timeout_ms': %d must exceed heartbeat_ms %d",
                     a->heartbeat_timeout_ms, a->heartbeat_ms);
    if (!a->curve_server_key[0] != !a->curve_key[0])
        return s_err(err, errlen,
                     "config: keys 'curve_server_key' and 'curve_key' go together (set both for "
                     "CURVE, neither without)");
    return 0;
}

static int s_env_rules(const void *p, char *err, size_t errlen) {
    const config_env_t *v = p;
    if (!v->task[0])
        return s_err(err, errlen,
                     "config: key 'task' is required (give it first: metasac-env hopper, or "
                     "--task=hopper)");
    return 0;
}

/* ---------------------------------------------------------------- file */

typedef struct {
    const config_schema_t *s;
    void *cfg;
    const char *path;
    int line;                 /* current line, counted by s_reader */
    int at_line_start;        /* the next fgets starts a line (a long line comes in pieces) */
    FILE *f;
    bool seen[S_TABLE_MAX];
    char *err;
    size_t errlen;
    int failed;
} s_file_ctx;

/* libinih splits at the first '=' or ':'; only '=' is ours. A line whose first separator is ':'
 * (YAML habit: `task: hopper`) is refused here, where the raw line is visible. */
static void s_check_separator(s_file_ctx *c, const char *str) {
    const char *p = str;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '\n' || *p == '\r' || *p == '#' || *p == ';' || *p == '[') return;
    const char *sep = p + strcspn(p, "=:");
    if (*sep != ':') return;
    size_t n = (size_t)(sep - p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    const char *v = sep + 1;
    while (*v == ' ' || *v == '\t') v++;
    size_t m = strcspn(v, "\r\n");
    while (m > 0 && (v[m - 1] == ' ' || v[m - 1] == '\t')) m--;
    int nk = (int)(n > 60 ? 60 : n), nv = (int)(m > 60 ? 60 : m);
    s_err(c->err, c->errlen,
          "%s:%d: '%.*s: %.*s' is not allowed: use `key = value` (%.*s = %.*s)", c->path,
          c->line, nk, p, nv, v, nk, p, nv, v);
    c->failed = 1;
}

static char *s_reader(char *str, int num, void *stream) {
    s_file_ctx *c = stream;
    char *r = fgets(str, num, c->f);
    if (!r) return r;
    if (c->at_line_start) {
        c->line++;
        if (!c->failed) s_check_separator(c, str);
    }
    c->at_line_start = strchr(str, '\n') != NULL;
    return r;
}

/* Copies value into buf without an inline comment: from the first '#' or ';' that starts the
 * value or follows a blank, trailing blanks removed. Values never hold ';' or '#' (the string
 * parser refuses them), so this cuts nothing a value could mean. libinih strips " ;" itself but
 * (as Debian builds it) not " #". */
static void s_strip_comment(const char *value, char *buf, size_t n) {
    snprintf(buf, n, "%s", value);
    for (size_t i = 0; buf[i]; i++)
        if ((buf[i] == '#' || buf[i] == ';') && (i == 0 || buf[i - 1] == ' ' || buf[i - 1] == '\t')) {
            buf[i] = '\0';
            break;
        }
    size_t len = strlen(buf);
    while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t')) buf[--len] = '\0';
}

static int s_handler(void *user, const char *section, const char *name, const char *value) {
    s_file_ctx *c = user;
    if (c->failed) return 0;
    if (section[0] && strcmp(section, "metasac") != 0) {
        s_err(c->err, c->errlen, "%s:%d: section [%s] not allowed (keys go at the top or under [metasac])",
              c->path, c->line, section);
        c->failed = 1;
        return 0;
    }
    const config_entry_t *e = config_schema_find(c->s, name);
    if (!e && s_owner_elsewhere(c->s, name)) return 1;  /* another program's key: one file for all */
    char msg[CONFIG_ERR_MAX], v[INI_MAX_LINE + 1];
    s_strip_comment(value, v, sizeof v);
    int rc;
    if (e && c->seen[e - c->s->table]) {
        snprintf(msg, sizeof msg, "config: key '%s' given twice", name);
        rc = -1;
    } else {
        rc = config_schema_set(c->s, c->cfg, name, v, msg, sizeof msg);
    }
    if (rc != 0) {
        s_err(c->err, c->errlen, "%s:%d: %s", c->path, c->line, msg);
        c->failed = 1;
        return 0;
    }
    c->seen[e - c->s->table] = true;
    return 1;
}

int config_schema_load_file(const config_schema_t *s, void *cfg, const char *path, char *err,
                            size_t errlen) {
    if (s->n > S_TABLE_MAX) return s_err(err, errlen, "config: %s: table too long", s->program);
    s_file_ctx c = {.s = s, .cfg = cfg, .path = path, .at_line_start = 1, .err = err,
                    .errlen = errlen};
    c.f = fopen(path, "r");
    if (!c.f) return s_err(err, errlen, "config: cannot open '%s': %s", path, strerror(errno));
    int rc = ini_parse_stream(s_reader, &c, s_handler, &c);
    fclose(c.f);
    if (c.failed) return -1;  /* the handler or the reader wrote the error */
    if (rc != 0)
        return s_err(err, errlen, "%s:%d: syntax error (expected 'key = value', at most %d characters)",
                     path, rc > 0 ? rc : c.line, INI_MAX_LINE - 3);
    return 0;
}

int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen) {
    return config_schema_load_file(&config_learner_schema, cfg, path, err, errlen);
}

/* ---------------------------------------------------------------- flags */

/* Splits "--key=value" / "--key": key copied into key[0..keylen), *value points after '=' or NULL. */
static int s_split_flag(const char *arg, char *key, size_t keylen, const char **value) {
    const char *k = arg + 2, *eq = strchr(k, '=');
    size_t n = eq ? (size_t)(eq - k) : strlen(k);
    if (n == 0 || n >= keylen) return -1;
    memcpy(key, k, n);
    key[n] = '\0';
    *value = eq ? eq + 1 : NULL;
    return 0;
}

static int s_is_bool_word(const char *v) {
    static const char *w[] = {"true", "false", "yes", "no", "on", "off", "1", "0"};
    for (int i = 0; i < 8; i++)
        if (strcasecmp(v, w[i]) == 0) return 1;
    return 0;
}

/* The deprecated alias arg starts with ("--envs" or "--envs=4"), or NULL. */
static const config_alias_t *s_alias(const config_schema_t *s, const char *arg, const char **value) {
    for (size_t i = 0; i < s->naliases; i++) {
        size_t n = strlen(s->aliases[i].flag);
        if (strncmp(arg, s->aliases[i].flag, n) == 0 && (arg[n] == '\0' || arg[n] == '=')) {
            *value = arg[n] == '=' ? arg + n + 1 : NULL;
            return &s->aliases[i];
        }
    }
    return NULL;
}

int config_schema_parse_args(const config_schema_t *s, void *cfg, int argc, char *const *argv,
                             FILE *warn, char *err, size_t errlen) {
    int positional_seen = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) return 1;
        char key[64];
        const char *value = NULL;
        const config_entry_t *e;
        const config_alias_t *al = s_alias(s, arg, &value);
        if (al) {
            if (warn)
                fprintf(warn, "%s: %s is deprecated, use --%s\n", s->program, al->flag, al->key);
            snprintf(key, sizeof key, "%s", al->key);
            e = config_schema_find(s, key);
        } else if (arg[0] != '-' && s->positional && !positional_seen) {
            positional_seen = 1;
            if (config_schema_set(s, cfg, s->positional, arg, err, errlen) != 0) return -1;
            continue;
        } else if (strncmp(arg, "--", 2) != 0) {
            return s_err(err, errlen, "config: unexpected argument '%s' (flags are --key=value)", arg);
        } else {
            if (s_split_flag(arg, key, sizeof key, &value) != 0)
                return s_err(err, errlen, "config: malformed flag '%s'", arg);
            if (strcmp(key, "config") == 0) {
                if (!value && ++i >= argc) return s_err(err, errlen, "config: --config needs a path");
                continue;
            }
            e = config_schema_find(s, key);
            if (!e && !value && strncmp(key, "no-", 3) == 0) {
                const config_entry_t *b = config_schema_find(s, key + 3);
                if (b && b->type == CONFIG_BOOL) {
                    *(bool *)((char *)cfg + b->offset) = false;
                    continue;
                }
            }
            if (!e) {
                const config_schema_t *o = s_owner_elsewhere(s, key);
                if (o)
                    return s_err(err, errlen,
                                 "config: key '%s' is a %s key; %s does not use it (a config file "
                                 "may hold it)", key, o->program, s->program);
                return s_unknown(s, key, arg, err, errlen);
            }
        }
        if (!value) {
            if (e->type == CONFIG_BOOL && (i + 1 >= argc || !s_is_bool_word(argv[i + 1]))) {
                value = "true";
            } else {
                if (i + 1 >= argc) return s_err(err, errlen, "config: key '%s': missing value", key);
                value = argv[++i];
            }
        }
        if (config_schema_set(s, cfg, key, value, err, errlen) != 0) return -1;
    }
    return 0;
}

int config_parse_args(config_t *cfg, int argc, char *const *argv, char *err, size_t errlen) {
    return config_schema_parse_args(&config_learner_schema, cfg, argc, argv, NULL, err, errlen);
}

int config_schema_load(const config_schema_t *s, void *cfg, int argc, char *const *argv,
                       FILE *warn, char *err, size_t errlen) {
    config_schema_defaults(s, cfg);
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) return s_err(err, errlen, "config: --config needs a path");
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        }
    }
    if (path && config_schema_load_file(s, cfg, path, err, errlen) != 0) return -1;
    int rc = config_schema_parse_args(s, cfg, argc, argv, warn, err, errlen);
    if (rc != 0) return rc;
    return config_schema_check(s, cfg, err, errlen);
}

int config_load(config_t *cfg, int argc, char *const *argv, char *err, size_t errlen) {
    return config_schema_load(&config_learner_schema, cfg, argc, argv, NULL, err, errlen);
}

/* ---------------------------------------------------------------- output */

void config_dump(const config_t *cfg, FILE *f) {
    fprintf(f, "# metasac resolved configuration (read it back with --config FILE)\n");
    for (size_t i = 0; i < S_N; i++) {
        char v[CONFIG_STR_MAX + 32];
        s_format(&s_table[i], cfg, v, sizeof v);
        fprintf(f, "%s = %s\n", s_table[i].name, v);
    }
}

/* Writes text as '# ' comment lines wrapped at ~90 columns. */
static void s_comment(FILE *f, const char *text) {
    const char *p = text;
    while (*p) {
        size_t n = strlen(p);
        if (n > 88) {
            n = 88;
            while (n > 0 && p[n] != ' ') n--;
            if (n == 0) n = 88;
        }
        fprintf(f, "# %.*s\n", (int)n, p);
        p += n;
        while (*p == ' ') p++;
    }
}

void config_write_sample(FILE *f) {
    config_t def;
    config_defaults(&def);
    fprintf(f,
            "# metasac sample configuration. Generated from the table in common/config.c: do not\n"
            "# edit by hand (tests/test_config.c checks that this file matches the table).\n"
            "# Every value below is the default. Use with: --config FILE; flags (--key=value)\n"
            "# override the file. metasac-actor and metasac-env read the same file: each uses the\n"
            "# keys it knows (envs_per_actor, heartbeat_ms, log_level, seed, ...) and ignores the\n"
            "# other programs' keys; their --help lists their own keys.\n");
    for (size_t i = 0; i < S_N; i++) {
        const config_entry_t *e = &s_table[i];
        char range[160], v[CONFIG_STR_MAX + 32], line[400];
        s_range(e, range, sizeof range);
        s_format(e, &def, v, sizeof v);
        fprintf(f, "\n");
        s_comment(f, e->help);
        snprintf(line, sizeof line, "%s %s", s_type_name(e->type), range);
        s_comment(f, line);
        fprintf(f, "%s = %s\n", e->name, v);
    }
}

/* Writes text wrapped at ~90 columns, every line indented by indent spaces. */
static void s_wrap(FILE *f, const char *text, int indent) {
    const char *p = text;
    while (*p) {
        size_t n = strlen(p), w = (size_t)(92 - indent);
        if (n > w) {
            n = w;
            while (n > 0 && p[n] != ' ') n--;
            if (n == 0) n = w;
        }
        fprintf(f, "%*s%.*s\n", indent, "", (int)n, p);
        p += n;
        while (*p == ' ') p++;
    }
}

void config_schema_write_help(const config_schema_t *s, FILE *f) {
    unsigned char *def = calloc(1, s->size);
    if (!def) return;
    config_schema_defaults(s, def);
    fprintf(f, "usage: %s %s\n\n", s->program, s->usage);
    s_wrap(f,
           "Every option is --key=value or --key value (a boolean also --key or --no-key). "
           "--config FILE reads the same keys from an INI file (`key = value` lines, '#' or ';' "
           "comments); flags override it, and keys of the other metasac programs (the learner's "
           "config.ini) are accepted there and ignored, so one file serves every program.",
           0);
    fprintf(f, "\n");
    for (size_t i = 0; i < s->n; i++) {
        const config_entry_t *e = &s->table[i];
        char range[160], v[CONFIG_STR_MAX + 32], line[400];
        s_range(e, range, sizeof range);
        s_format(e, def, v, sizeof v);
        fprintf(f, "  --%s=%s\n", e->name,
                e->type == CONFIG_STRING ? "STRING" : e->type == CONFIG_BOOL ? "BOOL"
                : e->type == CONFIG_ENUM ? "NAME" : "N");
        s_wrap(f, e->help, 6);
        snprintf(line, sizeof line, "%s %s; default: %s", s_type_name(e->type), range,
                 v[0] ? v : "(empty)");
        s_wrap(f, line, 6);
    }
    fprintf(f, "  -h, --help\n      This text.\n");
    if (s->naliases) {
        fprintf(f, "\nDeprecated spellings (still accepted for one release, with a warning):\n");
        for (size_t i = 0; i < s->naliases; i++)
            fprintf(f, "  %s -> --%s\n", s->aliases[i].flag, s->aliases[i].key);
    }
    free(def);
}

/* ---------------------------------------------------------------- helpers */

const char *config_task_name(int task) {
    return task >= 0 && task < (int)(sizeof s_tasks / sizeof *s_tasks) - 1 ? s_tasks[task] : "?";
}

const char *config_algo_name(int algo) {
    return algo >= 0 && algo < (int)(sizeof s_algos / sizeof *s_algos) - 1 ? s_algos[algo] : "?";
}

int64_t config_total_steps(const config_t *cfg) {
    if (cfg->total_steps > 0) return cfg->total_steps;
    switch (cfg->task) {
    case TASK_HOPPER: return 1000000;
    case TASK_HUMANOID: return 10000000;
    default: return 3000000;
    }
}

double config_target_entropy(const config_t *cfg, int act_dim) {
    return isnan(cfg->target_entropy) ? -(double)act_dim : cfg->target_entropy;
}
