#include "config.h"

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

#define F(field) offsetof(config_t, field)
#define I32 ((int64_t)2147483647)
#define I64 INT64_MAX
#define E_INT(n, f, d, lo, hi, h) {n, CONFIG_INT, F(f), d, lo, hi, 0, 0, 0, NULL, h}
#define E_I64(n, f, d, lo, hi, h) {n, CONFIG_INT64, F(f), d, lo, hi, 0, 0, 0, NULL, h}
#define E_DBL(n, f, d, lo, hi, fl, h) {n, CONFIG_DOUBLE, F(f), d, 0, 0, lo, hi, fl, NULL, h}
#define E_BOOL(n, f, d, h) {n, CONFIG_BOOL, F(f), d, 0, 0, 0, 0, 0, NULL, h}
#define E_STR(n, f, d, h) {n, CONFIG_STRING, F(f), d, 1, CONFIG_STR_MAX - 1, 0, 0, 0, NULL, h}
#define E_PATH(n, f, d, h) {n, CONFIG_STRING, F(f), d, 0, CONFIG_STR_MAX - 1, 0, 0, 0, NULL, h}
#define E_ENUM(n, f, d, names, h) {n, CONFIG_ENUM, F(f), d, 0, 0, 0, 0, 0, names, h}

/* THE table. Adding a key = one line here + one field in config_t; then regenerate
 * deploy/metasac.conf.sample (tests/test_config.c says how when it differs). */
static const config_entry_t s_table[] = {
    /* run */
    E_ENUM("task", task, "hopper", s_tasks, "MuJoCo locomotion task to train on."),
    E_ENUM("algo", algo, "meta_sac", s_algos,
           "Learning algorithm: SAC with fixed alpha (sac_v1), learned alpha (sac_v2), "
           "metagradient alpha (meta_sac), or TD3."),
    E_I64("seed", seed, "1", 0, I64,
          "Run seed. Every random stream derives from it and a stream id (actor, env)."),
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
           "write identical metrics. Use with one actor and blas_threads 1."),
    E_ENUM("log_level", log_level, "info", s_log_levels, "Lowest level written to the log."),
    E_INT("blas_threads", blas_threads, "1", 1, 1024, "OpenBLAS threads of the learner."),
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
    /* distributed runtime */
    E_INT("actors", actors, "1", 1, 100000, "Actor processes the launcher starts."),
    E_INT("envs_per_actor", envs_per_actor, "1", 1, 4096, "Environments each actor steps."),
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
    E_INT("metrics_port", metrics_port, "0", -1, 65535,
          "HTTP port of the learner's Prometheus/OpenMetrics endpoint (GET /metrics, every "
          "interface); 0 = off, -1 = any free port (written to the endpoints file)."),
    E_I64("max_msg_bytes", max_msg_bytes, "67108864", 1024, (int64_t)1 << 31,
          "Largest message accepted (ZMQ_MAXMSGSIZE and the decoder's limit)."),
    E_INT("heartbeat_ms", heartbeat_ms, "1000", 10, 3600000, "Heartbeat interval."),
    E_INT("heartbeat_timeout_ms", heartbeat_timeout_ms, "10000", 10, 36000000,
          "A peer silent this long is considered gone."),
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

const config_entry_t *config_table(size_t *n) {
    if (n) *n = S_N;
    return s_table;
}

const config_entry_t *config_find(const char *key) {
    for (size_t i = 0; i < S_N; i++)
        if (strcmp(s_table[i].name, key) == 0) return &s_table[i];
    return NULL;
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

static void s_format(const config_entry_t *e, const config_t *cfg, char *buf, size_t n) {
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

void config_defaults(config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < S_N; i++) {
        char err[CONFIG_ERR_MAX];
        int rc = s_parse(&s_table[i], s_table[i].def, (char *)cfg + s_table[i].offset, err,
                         sizeof err);
        if (rc != 0) {  /* a bug in the table: fail loudly at the first run */
            fprintf(stderr, "FATAL %s:%d: bad default: %s\n", __FILE__, __LINE__, err);
            abort();
        }
    }
}

int config_set(config_t *cfg, const char *key, const char *value, char *err, size_t errlen) {
    const config_entry_t *e = config_find(key);
    if (!e) return s_err(err, errlen, "config: unknown key '%s'", key);
    if (!value) return s_err(err, errlen, "config: key '%s': missing value", key);
    return s_parse(e, value, (char *)cfg + e->offset, err, errlen);
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

int config_check(const config_t *cfg, char *err, size_t errlen) {
    /* Every field through its own parser: a hand-built config_t gets the same bound checks. */
    for (size_t i = 0; i < S_N; i++) {
        const config_entry_t *e = &s_table[i];
        char text[CONFIG_STR_MAX + 32];
        if (e->type == CONFIG_STRING && strnlen((const char *)cfg + e->offset, CONFIG_STR_MAX) ==
                                            CONFIG_STR_MAX)
            return s_err(err, errlen, "config: key '%s': string not terminated", e->name);
        if (e->type == CONFIG_DOUBLE && isnan(*(const double *)((const char *)cfg + e->offset)) &&
            !(e->flags & CONFIG_AUTO))
            return s_err(err, errlen, "config: key '%s': value nan is not allowed", e->name);
        s_format(e, cfg, text, sizeof text);
        config_t scratch;
        if (s_parse(e, text, (char *)&scratch + e->offset, err, errlen) != 0) return -1;
    }
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

/* ---------------------------------------------------------------- file */

typedef struct {
    config_t *cfg;
    const char *path;
    int line;                 /* current line, counted by s_reader */
    FILE *f;
    bool seen[S_N];
    char *err;
    size_t errlen;
    int failed;
} s_file_ctx;

static char *s_reader(char *str, int num, void *stream) {
    s_file_ctx *c = stream;
    char *r = fgets(str, num, c->f);
    if (r) c->line++;
    return r;
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
    const config_entry_t *e = config_find(name);
    char msg[CONFIG_ERR_MAX];
    int rc;
    if (e && c->seen[e - s_table]) {
        snprintf(msg, sizeof msg, "config: key '%s' given twice", name);
        rc = -1;
    } else {
        rc = config_set(c->cfg, name, value, msg, sizeof msg);
    }
    if (rc != 0) {
        s_err(c->err, c->errlen, "%s:%d: %s", c->path, c->line, msg);
        c->failed = 1;
        return 0;
    }
    c->seen[e - s_table] = true;
    return 1;
}

int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen) {
    s_file_ctx c = {.cfg = cfg, .path = path, .err = err, .errlen = errlen};
    c.f = fopen(path, "r");
    if (!c.f) return s_err(err, errlen, "config: cannot open '%s': %s", path, strerror(errno));
    int rc = ini_parse_stream(s_reader, &c, s_handler, &c);
    fclose(c.f);
    if (c.failed) return -1;  /* the handler wrote the error */
    if (rc != 0)
        return s_err(err, errlen, "%s:%d: syntax error (expected 'key = value', at most %d characters)",
                     path, rc > 0 ? rc : c.line, INI_MAX_LINE - 3);
    return 0;
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

int config_parse_args(config_t *cfg, int argc, char *const *argv, char *err, size_t errlen) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) return 1;
        if (strncmp(arg, "--", 2) != 0)
            return s_err(err, errlen, "config: unexpected argument '%s' (flags are --key=value)", arg);
        char key[64];
        const char *value;
        if (s_split_flag(arg, key, sizeof key, &value) != 0)
            return s_err(err, errlen, "config: malformed flag '%s'", arg);
        if (strcmp(key, "config") == 0) {
            if (!value && ++i >= argc) return s_err(err, errlen, "config: --config needs a path");
            continue;
        }
        const config_entry_t *e = config_find(key);
        if (!e && !value && strncmp(key, "no-", 3) == 0) {
            const config_entry_t *b = config_find(key + 3);
            if (b && b->type == CONFIG_BOOL) {
                *(bool *)((char *)cfg + b->offset) = false;
                continue;
            }
        }
        if (!e) return s_err(err, errlen, "config: unknown key '%s' (flag '%s')", key, arg);
        if (!value) {
            if (e->type == CONFIG_BOOL && (i + 1 >= argc || !s_is_bool_word(argv[i + 1]))) {
                value = "true";
            } else {
                if (i + 1 >= argc) return s_err(err, errlen, "config: key '%s': missing value", key);
                value = argv[++i];
            }
        }
        if (config_set(cfg, key, value, err, errlen) != 0) return -1;
    }
    return 0;
}

int config_load(config_t *cfg, int argc, char *const *argv, char *err, size_t errlen) {
    config_defaults(cfg);
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) return s_err(err, errlen, "config: --config needs a path");
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        }
    }
    if (path && config_load_file(cfg, path, err, errlen) != 0) return -1;
    int rc = config_parse_args(cfg, argc, argv, err, errlen);
    if (rc != 0) return rc;
    return config_check(cfg, err, errlen);
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
            "# override the file.\n");
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
