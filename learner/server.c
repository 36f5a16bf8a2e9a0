#include "server.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "alloc.h"
#include "checkpoint.h"
#include "curve.h"
#include "log.h"
#include "metrics_http.h"
#include "replay.h"
#include "rng.h"
#include "sac.h"
#include "tasks/task.h"

#define IDENT_MAX 255
#define TICK_MS 100.0
#define DRAIN_MAX 512        /* messages handled between two updates at most */
#define BACKOFF_MAX_MS 60000.0
#define RESET_SAMPLES 2000   /* resets sampled at start-up to learn the initial-state region */
/* Hellos per network address: a burst of HELLO_BURST, then HELLO_RATE per second. Each hello
 * costs a Welcome with the whole policy, so an unlimited stream would be an amplifier. */
#define HELLO_BURST 64.0
#define HELLO_RATE 16.0
#define HELLO_SLOTS 1024

typedef struct {
    int used;
    int live_pos;             /* index in server.live */
    uint8_t ident[IDENT_MAX]; /* ZeroMQ routing id of the connection */
    size_t ident_len;
    uint64_t hash;            /* of ident */
    uint32_t id;
    int evaluator;
    uint32_t num_envs;
    char addr[48];            /* network address of the connection ("" unknown) */
    char host[WIRE_MAX_NAME + 1];  /* host name the peer reported */
    double t_seen;            /* last message of any kind */
    double t_data;            /* last accepted batch (hello time before the first) */
    double t_hold;            /* since when it has held credits without sending a batch */
    uint64_t outstanding;     /* credits granted and not yet used */
    uint32_t epoch;           /* credit epoch: bumped when credits are taken back */
    int proven;               /* sent an accepted batch since its hello or last probation */
    double backoff_ms;        /* > 0: on probation after its credits were taken back */
    double t_next_grant;      /* on probation: no credits before this time */
    uint64_t next_seq;
    uint64_t steps;           /* transitions accepted */
    uint64_t resets;          /* reset states accepted */
    uint64_t resets_asked;    /* initial resets the Welcome asked for */
    int eval_busy;            /* evaluator: a request is out */
    uint64_t eval_steps;      /* env steps of the weights it is evaluating */
    uint64_t eval_version;    /* and their version */
    uint32_t eval_episodes;   /* and the episodes asked for */
    uint64_t rep_steps;       /* steps at the last report (for its rate) */
    double rate;              /* accepted env steps/s over the last report interval */
    double st_sps;            /* from its Stats: env steps/s it reports */
    double st_policy_us;      /* from its Stats: policy time per env step [us] */
    uint64_t st_policy_time, st_steps;  /* the Stats totals these came from */
    uint32_t pid;
} peer_t;

typedef struct {
    uint64_t addr;          /* hash of the address (odd), 0 = unused */
    double tokens, t;       /* hellos it may still say, as of time t */
} hello_bucket_t;

struct server {
    config_t cfg;
    server_counters_t c;
    char endpoint[2][CONFIG_STR_MAX];
    void *zctx, *router, *pub;
    curve_auth_t *auth;     /* ZAP handler: which actor keys get in (NULL without CURVE) */
    wire_decoder_t *dec;
    uint8_t *buf;           /* send buffer: fits a Welcome with the weights */
    size_t bufcap;
    size_t in_max;          /* largest message an honest peer sends us */
    log_limiter_t *lim;

    task_model_t *model;    /* for sizes, bounds and the initial-state region */
    int O, A;
    const float *low, *high;  /* [A] action bounds */
    float *act_lo, *act_hi;   /* [A] accepted actions: the bounds plus a rounding tolerance */
    float *init_lo, *init_hi; /* [O] accepted reset states */
    nn_shape_t shape;
    sac_f *agent;
    replay_t *replay;
    d0_t *d0;
    batch_buf_t *b1, *b2;
    batch_f last_b1, last_b2;  /* the batches of the last update (views of b1, b2) */
    rng_t rng;
    Metasac__TensorLayout layout[6], *layout_p[6];
    char layout_names[6][16];

    /* non-finite guard: the last verified state of the agent */
    float *snap;            /* [agent->state_n] */
    long snap_t[4];         /* t_q, t_pi, t_alpha, updates of the agent at the snapshot */
    uint64_t snap_updates;  /* server updates at the snapshot */

    /* peers: a table, a dense list of the live ones, and a hash from routing id to slot */
    peer_t *peers;
    int max_peers;
    int *live, nlive;
    int32_t *ht;            /* [ht_cap] slot + 1, 0 empty, -1 deleted */
    size_t ht_cap, ht_deleted;
    uint32_t next_id;
    int rr;                 /* round-robin cursor into live */
    hello_bucket_t hello_bucket[HELLO_SLOTS];

    uint64_t granted;       /* credits granted in total (minus those taken back) */
    uint64_t total_steps;
    uint64_t next_eval;     /* env steps at which the next evaluation is due */
    uint64_t next_ckpt;     /* env steps at which the next checkpoint is due */
    uint64_t next_metrics;  /* sync mode: env steps of the next metrics line */
    float *eval_snap;       /* weights waiting for an evaluator */
    uint64_t eval_snap_version, eval_snap_steps;
    int eval_pending;

    /* timing */
    double t_start, t_report, t_heartbeat, t_tick;
    double t_done;          /* when training finished (waiting for the last evaluation) */
    double upd_ms;          /* moving average of an update's duration */
    uint64_t rep_steps, rep_updates, rep_recv;
    uint64_t stale_min, stale_max, stale_n;
    double stale_sum;
    uint64_t zero_meta;     /* consecutive Meta-SAC updates with a metagradient of exactly 0 */
    sac_stats_t last;
    FILE *metrics, *evals;
    int reports;            /* throughput lines written */
    double sps_avg;         /* moving average of env steps/s, for the ETA */
    metrics_http_t *http;   /* Prometheus endpoint (NULL when off) */
    char *prom;             /* its text, rendered here */
    size_t prom_cap;
    double t_prom;
};

static double s_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

const char *server_reject_name(int r) {
    static const char *names[REJECT_COUNT] = {
        "unknown_peer", "wrong_id",  "over_credit",     "bad_frames",    "obs_bound",
        "act_bound",    "reward_bound", "seq_duplicate", "seq_gap",      "future_version",
        "stale_epoch",  "reset_range", "reset_quota",   "eval_result",   "hello_again",
        "peer_limit",   "hello_rate"};
    return r >= 0 && r < REJECT_COUNT ? names[r] : "?";
}

/* 1 when every x[i] is finite (branch-free so it vectorises). */
static int s_finite(const float *x, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= !(fabsf(x[i]) <= 3.40282347e+38f);
    return !bad;
}

/* JSON has no NaN or Inf: those are written as null. */
static void s_json_num(FILE *f, const char *key, double x, int comma) {
    if (isfinite(x)) fprintf(f, "%s\"%s\":%.9g", comma ? "," : "", key, x);
    else fprintf(f, "%s\"%s\":null", comma ? "," : "", key);
}

/* ---- the non-finite guard --------------------------------------------------------------- */

static void s_snapshot(server_t *s) {
    sac_f *a = s->agent;
    memcpy(s->snap, a->state, sizeof(float) * a->state_n);
    s->snap_t[0] = a->t_q;
    s->snap_t[1] = a->t_pi;
    s->snap_t[2] = a->t_alpha;
    s->snap_t[3] = a->updates;
    s->snap_updates = s->c.updates;
}

/* Undoes every update since the last verified snapshot. The weight version (c.updates) keeps
 * counting, so actors take the restored weights as new ones. */
static void s_rollback(server_t *s, const char *what) {
    sac_f *a = s->agent;
    memcpy(a->state, s->snap, sizeof(float) * a->state_n);
    a->t_q = s->snap_t[0];
    a->t_pi = s->snap_t[1];
    a->t_alpha = s->snap_t[2];
    s->c.rollbacks++;
    s->c.log_alpha = log((double)sac_alpha_f(a));
    uint64_t held;  /* a poisoned replay can cause one per update: rate-limited too */
    if (!log_limiter_pass(s->lim, 2000, 0, s_now_ms(), &held)) return;
    if (held) LOG_E("learner: %llu more rollbacks like the next one", (unsigned long long)held);
    LOG_E("learner: update %llu produced a non-finite %s: undone with the %llu updates before it "
          "(back to the state after update %llu; %llu rollbacks so far)",
          (unsigned long long)s->c.updates, what,
          (unsigned long long)(s->c.updates - s->snap_updates - 1),
          (unsigned long long)s->snap_updates, (unsigned long long)s->c.rollbacks);
}

/* 1 when the whole agent state is finite; otherwise rolls back and returns 0. */
static int s_verify_state(server_t *s) {
    if (s_finite(s->agent->state, s->agent->state_n)) return 1;
    s_rollback(s, "parameter or optimizer state");
    return 0;
}

/* The region the task's initial observations come from: per dimension the range of
 * RESET_SAMPLES resets, widened by that range plus 5% of the value (and 0.05) on each side, so
 * an honest reset is never refused while a forged one must look like a real initial state. */
static void s_learn_initial_region(server_t *s) {
    const int O = s->O;
    float *obs = rl_malloc(sizeof(float) * (size_t)O);
    task_env_t *env = task_env_new(s->model, (uint64_t)s->cfg.seed, RNG_STREAM_LEARNER + 2);
    for (int j = 0; j < O; j++) {
        s->init_lo[j] = INFINITY;
        s->init_hi[j] = -INFINITY;
    }
    for (int k = 0; k < RESET_SAMPLES; k++) {
        if (task_reset(env, obs) != 0) continue;
        for (int j = 0; j < O; j++) {
            if (obs[j] < s->init_lo[j]) s->init_lo[j] = obs[j];
            if (obs[j] > s->init_hi[j]) s->init_hi[j] = obs[j];
        }
    }
    for (int j = 0; j < O; j++) {
        float lo = s->init_lo[j], hi = s->init_hi[j];
        if (!(lo <= hi)) lo = hi = 0;  /* no reset succeeded: an empty region refuses all */
        float mid = fabsf(lo) > fabsf(hi) ? fabsf(lo) : fabsf(hi);
        float w = (hi - lo) + 0.05f * mid + 0.05f;
        s->init_lo[j] = lo - w;
        s->init_hi[j] = hi + w;
    }
    task_env_destroy(&env);
    free(obs);
}

/* ---- set-up ---------------------------------------------------------------------------- */

static int s_bind(server_t *s, void *sock, const char *ep, int which, char *err, size_t errlen) {
    if (zmq_bind(sock, ep) != 0) {
        snprintf(err, errlen, "cannot bind '%s': %s", ep, zmq_strerror(errno));
        return -1;
    }
    char last[CONFIG_STR_MAX];
    size_t len = sizeof last;
    zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, last, &len);
    /* a wildcard bind is advertised at an address other nodes can reach: advertise_host, else
       this machine's host name */
    const char *star = strstr(last, "0.0.0.0");
    if (star) {
        char host[CONFIG_STR_MAX] = "";
        if (s->cfg.advertise_host[0]) snprintf(host, sizeof host, "%s", s->cfg.advertise_host);
        else if (gethostname(host, sizeof host - 1) != 0 || !host[0])
            snprintf(host, sizeof host, "127.0.0.1");
        snprintf(s->endpoint[which], sizeof s->endpoint[which], "%.*s%s%s", (int)(star - last),
                 last, host, star + 7);
    } else {
        snprintf(s->endpoint[which], sizeof s->endpoint[which], "%s", last);
    }
    return 0;
}

/* mkdir -p: every missing parent too. 0 or -1 (errno set). */
static int s_mkdirs(const char *dir) {
    char p[CONFIG_STR_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
        *c = '/';
    }
    return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The run directory, its log first (so every later error is in it). */
static int s_open_run_dir(server_t *s, char *err, size_t errlen) {
    const char *dir = s->cfg.run_dir;
    if (!dir[0]) return 0;
    if (s_mkdirs(dir) != 0) {
        snprintf(err, errlen, "cannot create run directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    char path[CONFIG_STR_MAX + 32];
    snprintf(path, sizeof path, "%s/learner.log", dir);
    if (log_set_file(path) != 0) LOG_W("cannot write %s: logging to stderr only", path);
    return 0;
}

/* After the resume check passed: the resolved config, metrics, evaluations, endpoints. */
static int s_write_run_files(server_t *s, char *err, size_t errlen) {
    const char *dir = s->cfg.run_dir;
    if (!dir[0]) return 0;
    char path[CONFIG_STR_MAX + 32];
    snprintf(path, sizeof path, "%s/config.ini", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    config_dump(&s->cfg, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    s->metrics = fopen(path, "a");
    snprintf(path, sizeof path, "%s/eval.csv", dir);
    int fresh = access(path, F_OK) != 0;
    s->evals = fopen(path, "a");
    if (!s->metrics || !s->evals) {
        snprintf(err, errlen, "cannot write metrics in '%s': %s", dir, strerror(errno));
        return -1;
    }
    if (fresh) fprintf(s->evals, "env_steps,weight_version,mean,std,episodes\n");
    fflush(s->evals);
    /* where actors connect (the real ports of a "*" bind), for the launcher and scripts */
    snprintf(path, sizeof path, "%s/endpoints", dir);
    char tmp[CONFIG_STR_MAX + 40];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    char http[CONFIG_STR_MAX + 64] = "";
    if (s->http) {
        const char *h = strstr(s->endpoint[0], "://");
        const char *colon = h ? strrchr(h + 3, ':') : NULL;
        snprintf(http, sizeof http, "http://%.*s:%d/metrics\n",
                 h && colon ? (int)(colon - h - 3) : 9, h && colon ? h + 3 : "127.0.0.1",
                 metrics_http_port(s->http));
    }
    if (!f || fprintf(f, "%s\n%s\n%s", s->endpoint[0], s->endpoint[1], http) < 0 ||
        fclose(f) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static ckpt_t s_ckpt(server_t *s) {
    ckpt_t c = {config_task_name(s->cfg.task), config_algo_name(s->cfg.algo), s->agent,
                s->replay, s->d0, &s->rng, s->c.env_steps, s->next_eval};
    return c;
}

static uint64_t s_next_multiple(uint64_t x, int64_t step) {
    return step > 0 ? (x / (uint64_t)step + 1) * (uint64_t)step : UINT64_MAX;
}

/* Re-running the same command on the same run directory resumes from its checkpoint. */
static int s_resume(server_t *s, char *err, size_t errlen) {
    ckpt_t c = s_ckpt(s);
    char msg[1024];
    int rc = checkpoint_load(s->cfg.run_dir, &c, msg, sizeof msg);
    if (rc < 0) {
        snprintf(err, errlen, "%s; move the checkpoint files away to start this run afresh", msg);
        return -1;
    }
    if (rc == 1) {
        s->c.env_steps = c.env_steps;
        s->c.updates = (uint64_t)s->agent->updates;
        s->next_eval = c.next_eval;
        s->granted = c.env_steps;
        LOG_I("learner: resumed from %s at %llu env steps, %llu updates", msg,
              (unsigned long long)c.env_steps, (unsigned long long)s->c.updates);
    }
    return 0;
}

static void s_checkpoint(server_t *s) {
    if (!s->cfg.run_dir[0]) return;
    double t0 = s_now_ms();
    s_verify_state(s);  /* a checkpoint never holds a non-finite value */
    ckpt_t c = s_ckpt(s);
    char err[1024];
    if (checkpoint_save(s->cfg.run_dir, &c, err, sizeof err) < 0)
        LOG_E("learner: checkpoint failed: %s", err);
    else
        LOG_I("learner: checkpoint at %llu env steps, %llu updates (%.0f ms)",
              (unsigned long long)s->c.env_steps, (unsigned long long)s->c.updates,
              s_now_ms() - t0);
}

/* The largest message an honest peer sends: a batch of the most credits an actor can hold,
 * the resets a Welcome can ask for, an evaluation's result. ZeroMQ drops a connection that
 * sends more than twice this; the codec refuses anything between. */
static size_t s_inbound_max(const server_t *s, uint64_t hold) {
    uint32_t n = hold > 1u << 20 ? 1u << 20 : (uint32_t)hold;
    size_t m = wire_transitions_bound(n, (uint32_t)s->O, (uint32_t)s->A);
    uint32_t resets = (uint32_t)s->cfg.d0_size + 4 * WIRE_MAX_ENVS + (uint32_t)hold;
    size_t r = wire_reset_states_bound(resets, (uint32_t)s->O);
    if (r > m) m = r;
    size_t e = wire_eval_result_bound((uint32_t)s->cfg.eval_episodes);
    if (e > m) m = e;
    m += 4096;
    if (m > (size_t)s->cfg.max_msg_bytes) m = (size_t)s->cfg.max_msg_bytes;
    return m;
}

static uint64_t s_hold(const server_t *s, const peer_t *p);

server_t *server_new(const config_t *cfg, char *err, size_t errlen) {
    server_t *s = rl_calloc(1, sizeof *s);
    s->cfg = *cfg;
    s->c.last_eval_mean = NAN;
    const char *task = config_task_name(cfg->task);
    for (int k = 0; k < 2; k++) {
        const char *ep = k ? cfg->weights_bind : cfg->learner_bind;
        if (curve_endpoint_is_local(ep) || cfg->curve_secret_key[0]) continue;
        if (!cfg->insecure) {
            snprintf(err, errlen,
                     "refusing to bind '%s' without CURVE keys: any host that reaches it could "
                     "send training data; set curve_secret_key and curve_authorized_keys (see "
                     "metasac-keygen) or pass --insecure",
                     ep);
            server_destroy(&s);
            return NULL;
        }
        LOG_W("learner: INSECURE: '%s' is reachable from other hosts and not encrypted or "
              "authenticated (--insecure)", ep);
    }
    s->model = task_model_new(task);
    if (!s->model) {
        snprintf(err, errlen, "cannot load task '%s' (models not found?)", task);
        server_destroy(&s);
        return NULL;
    }
    if (cfg->meta_classic_q) {
        snprintf(err, errlen, "meta_classic_q (ablation D.3) is not implemented yet");
        server_destroy(&s);
        return NULL;
    }
    s->O = task_model_obs_dim(s->model);
    s->A = task_model_act_dim(s->model);
    s->low = task_model_action_low(s->model);
    s->high = task_model_action_high(s->model);
    s->act_lo = rl_malloc(sizeof(float) * (size_t)s->A);
    s->act_hi = rl_malloc(sizeof(float) * (size_t)s->A);
    for (int j = 0; j < s->A; j++) {  /* c tanh(u) + b may round one ulp past a bound */
        float tol = 1e-5f * (s->high[j] - s->low[j]);
        s->act_lo[j] = s->low[j] - tol;
        s->act_hi[j] = s->high[j] + tol;
    }
    s->init_lo = rl_malloc(sizeof(float) * (size_t)s->O);
    s->init_hi = rl_malloc(sizeof(float) * (size_t)s->O);
    s_learn_initial_region(s);
    nn_shape_init(&s->shape, s->O, s->A, cfg->hidden);
    sac_opts_t o;
    sac_opts_from_config(&o, cfg, s->A);
    int cap = cfg->batch > cfg->d0_size ? cfg->batch : cfg->d0_size;
    s->agent = sac_new_f(&s->shape, &o, s->low, s->high, cap, (uint64_t)cfg->seed,
                         RNG_STREAM_LEARNER);
    sac_set_threads_f(s->agent, cfg->update_threads);
    s->snap = rl_aligned(sizeof(float) * s->agent->state_n);
    s->replay = replay_new(s->O, s->A, (size_t)cfg->replay_capacity);
    s->d0 = d0_new(s->O, cfg->d0_size, (d0_mode_t)cfg->d0_mode);
    s->b1 = batch_buf_new(s->O, s->A, cfg->batch);
    s->b2 = batch_buf_new(s->O, s->A, cfg->batch);
    rng_seed(&s->rng, (uint64_t)cfg->seed, RNG_STREAM_LEARNER + 1);
    s->max_peers = cfg->max_peers;
    s->peers = rl_calloc((size_t)s->max_peers, sizeof(peer_t));
    s->live = rl_calloc((size_t)s->max_peers, sizeof(int));
    for (s->ht_cap = 16; s->ht_cap < 2 * (size_t)s->max_peers;) s->ht_cap *= 2;
    s->ht = rl_calloc(s->ht_cap, sizeof(int32_t));
    s->next_id = 1;
    s->lim = log_limiter_new(cfg->log_interval_ms);
    s->total_steps = (uint64_t)config_total_steps(cfg);
    s->next_eval = (uint64_t)cfg->eval_interval;
    s->eval_snap = rl_aligned(sizeof(float) * s->shape.pi_n);
    s->upd_ms = 5;
    s->prom_cap = 16384 + (size_t)s->max_peers * 512;
    s->prom = rl_malloc(s->prom_cap);

    const nn_layer_t *L = s->shape.pi;
    for (int l = 0; l < 3; l++)
        for (int b = 0; b < 2; b++) {
            int k = 2 * l + b;
            Metasac__TensorLayout init = METASAC__TENSOR_LAYOUT__INIT;
            s->layout[k] = init;
            snprintf(s->layout_names[k], sizeof s->layout_names[k], "pi.l%d.%s", l + 1,
                     b ? "b" : "w");
            s->layout[k].name = s->layout_names[k];
            s->layout[k].rows = (uint32_t)L[l].out;
            s->layout[k].cols = b ? 1 : (uint32_t)L[l].in;
            s->layout_p[k] = &s->layout[k];
        }
    s->bufcap = wire_welcome_bound(s->shape.pi_n, 6, 16, (uint32_t)s->A, 32) + 4096;
    s->buf = rl_malloc(s->bufcap);

    peer_t proven = {.proven = 1};
    s->in_max = s_inbound_max(s, s_hold(s, &proven));
    /* a setting whose honest messages the learner itself would refuse is refused now, not
       discovered as a silent stall */
    size_t batch_bytes = wire_transitions_bound((uint32_t)cfg->send_batch, (uint32_t)s->O,
                                                (uint32_t)s->A) + 4096;
    if (batch_bytes > (size_t)cfg->max_msg_bytes) {
        snprintf(err, errlen, "send_batch %d makes a %s batch of up to %zu bytes, above "
                 "max_msg_bytes %lld: lower send_batch or raise max_msg_bytes", cfg->send_batch,
                 task, batch_bytes, (long long)cfg->max_msg_bytes);
        server_destroy(&s);
        return NULL;
    }
    wire_limits_t lim = {.max_msg_bytes = s->in_max,
                         .obs_dim = (uint32_t)s->O, .act_dim = (uint32_t)s->A,
                         .n_params = s->shape.pi_n};
    s->dec = wire_decoder_new(&lim);
    s->zctx = zmq_ctx_new();
    s->router = zmq_socket(s->zctx, ZMQ_ROUTER);
    s->pub = zmq_socket(s->zctx, ZMQ_PUB);
    if (cfg->curve_secret_key[0]) {
        /* the ZAP handler first: libzmq lets every CURVE client in while none is bound */
        char secret[41], public[41];
        if (curve_available(err, errlen) < 0 ||
            curve_load_secret(cfg->curve_secret_key, secret, public, err, errlen) < 0 ||
            !(s->auth = curve_auth_new(s->zctx, cfg->curve_authorized_keys, err, errlen)) ||
            curve_server_setup(s->router, secret, err, errlen) < 0 ||
            curve_server_setup(s->pub, secret, err, errlen) < 0) {
            server_destroy(&s);
            return NULL;
        }
        LOG_I("learner: CURVE on: learner key %s, actors allowed by %s", public,
              cfg->curve_authorized_keys);
    }
    /* ROUTER: each peer's inbound queue holds 256 messages (an honest actor has at most 64
       batches of credits) of at most 2 in_max bytes: beyond that ZeroMQ drops the connection.
       PUB: ZeroMQ learns that a subscriber has read messages only in batches, so a tiny
       high-water mark drops weights a reader has long consumed; 64 bounds a stuck reader to
       64 weight sets, and actors keep only the newest anyway (ZMQ_CONFLATE).
       No ZMTP heartbeats (ZMQ_HEARTBEAT_IVL): with them libzmq 4.3.4 can abort the whole
       process under a flood (Assertion failed: !_io_error, stream_engine_base.cpp:331, libzmq
       issue 4364); the protocol's own Heartbeat messages do their job. */
    int linger = 500, hwm = 256, pub_hwm = 64;
    int64_t hard_max = 2 * (int64_t)s->in_max;
    zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &hard_max, sizeof hard_max);
    zmq_setsockopt(s->pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s->pub, ZMQ_SNDHWM, &pub_hwm, sizeof pub_hwm);
    if (s_bind(s, s->router, cfg->learner_bind, 0, err, errlen) < 0 ||
        s_bind(s, s->pub, cfg->weights_bind, 1, err, errlen) < 0 ||
        (cfg->metrics_port != 0 &&
         !(s->http = metrics_http_new(cfg->metrics_port > 0 ? cfg->metrics_port : 0, err,
                                      errlen))) ||
        s_open_run_dir(s, err, errlen) < 0 ||
        /* the checkpoint is checked before anything in the run directory is rewritten */
        (s->cfg.run_dir[0] && s_resume(s, err, errlen) < 0) ||
        s_write_run_files(s, err, errlen) < 0) {
        LOG_E("learner: %s", err);  /* into learner.log too, whole */
        server_destroy(&s);
        return NULL;
    }
    s_snapshot(s);  /* the state is finite: fresh, or a checkpoint's (the loader checks) */
    s->next_ckpt = s_next_multiple(s->c.env_steps, s->cfg.checkpoint_interval);
    s->next_metrics = s_next_multiple(s->c.env_steps, 1000);
    s->c.log_alpha = log((double)sac_alpha_f(s->agent));
    LOG_I("learner: %s on %s (obs %d, act %d, %zu policy / %zu critic parameters), actors at %s, "
          "weights at %s", algo_name((algo_t)cfg->algo), task, s->O, s->A, s->shape.pi_n,
          s->shape.q_n, s->endpoint[0], s->endpoint[1]);
    return s;
}

void server_destroy(server_t **self_p) {
    server_t *s = *self_p;
    if (!s) return;
    if (s->router) zmq_close(s->router);
    if (s->pub) zmq_close(s->pub);
    curve_auth_destroy(&s->auth);  /* after the sockets: nobody gets in while they close */
    metrics_http_destroy(&s->http);
    free(s->prom);
    if (s->zctx) zmq_ctx_term(s->zctx);
    wire_decoder_destroy(&s->dec);
    sac_destroy_f(&s->agent);
    replay_destroy(&s->replay);
    d0_destroy(&s->d0);
    batch_buf_destroy(&s->b1);
    batch_buf_destroy(&s->b2);
    task_model_destroy(&s->model);
    log_limiter_destroy(&s->lim);
    if (s->metrics) fclose(s->metrics);
    if (s->evals) fclose(s->evals);
    if (s->cfg.run_dir[0]) log_set_file(NULL);
    free(s->peers);
    free(s->live);
    free(s->ht);
    free(s->eval_snap);
    free(s->snap);
    free(s->act_lo);
    free(s->act_hi);
    free(s->init_lo);
    free(s->init_hi);
    free(s->buf);
    free(s);
    *self_p = NULL;
}

const char *server_endpoint(const server_t *s, int which) { return s->endpoint[which != 0]; }

const server_counters_t *server_counters(const server_t *s) { return &s->c; }

int server_metrics_port(const server_t *s) { return s->http ? metrics_http_port(s->http) : 0; }

const float *server_policy(const server_t *s, size_t *n) {
    *n = s->shape.pi_n;
    return s->agent->phi;
}

const sac_f *server_agent(const server_t *s) { return s->agent; }

const float *server_last_update(const server_t *s, batch_f *b1, batch_f *b2, int *nd0,
                                sac_stats_t *st) {
    *b1 = s->last_b1;
    *b2 = s->last_b2;
    *nd0 = s->d0->size;
    *st = s->last;
    return s->d0->obs;
}

/* ---- sending --------------------------------------------------------------------------- */

static void s_send_to(server_t *s, const peer_t *p, int64_t len) {
    if (len < 0) {
        LOG_E("learner: a message does not fit the send buffer");
        return;
    }
    if (zmq_send(s->router, p->ident, p->ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(s->router, s->buf, (size_t)len, ZMQ_DONTWAIT) < 0)
        LOG_D("learner: send to actor %u dropped: %s", p->id, zmq_strerror(errno));
}

static Metasac__PolicyWeights s_weights(server_t *s, const float *phi, uint64_t version) {
    Metasac__PolicyWeights w = METASAC__POLICY_WEIGHTS__INIT;
    w.version = version;
    w.n_params = s->shape.pi_n;
    w.params = (float *)phi;
    w.n_layout = 6;
    w.layout = s->layout_p;
    return w;
}

static void s_publish(server_t *s) {
    if (!s_finite(s->agent->phi, s->shape.pi_n)) s_rollback(s, "policy parameter");
    Metasac__PolicyWeights w = s_weights(s, s->agent->phi, s->c.updates);
    int64_t len = wire_encode_weights(&w, s->buf, s->bufcap);
    if (len > 0 && zmq_send(s->pub, s->buf, (size_t)len, ZMQ_DONTWAIT) >= 0) s->c.published++;
}

static int s_ready(const server_t *s) {
    if (s->replay->size <= (size_t)s->cfg.batch) return 0;
    if (s->cfg.algo == ALGO_META_SAC && !s->cfg.meta_on_replay && !d0_full(s->d0)) return 0;
    return 1;
}

/* Env steps before the first update: update_after, and for TD3 at least random_steps (TD3
 * trains from its start_timesteps on). */
static uint64_t s_update_after(const server_t *s) {
    uint64_t after = (uint64_t)s->cfg.update_after;
    if (s->cfg.algo == ALGO_TD3 && (uint64_t)s->cfg.random_steps > after)
        after = (uint64_t)s->cfg.random_steps;
    return after;
}

static int s_update_owed(const server_t *s) {
    if (!s_ready(s)) return 0;
    if (s->cfg.replay_ratio <= 0) return 1;
    uint64_t after = s_update_after(s);
    if (s->c.env_steps <= after) return 0;
    double target = s->cfg.replay_ratio * (double)(s->c.env_steps - after);
    return (double)s->c.updates < floor(target);
}

/* ---- peers ----------------------------------------------------------------------------- */

static uint64_t s_hash(const uint8_t *b, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static peer_t *s_find_peer(server_t *s, const uint8_t *ident, size_t len) {
    uint64_t h = s_hash(ident, len);
    for (size_t k = 0, i = h & (s->ht_cap - 1); k < s->ht_cap; k++, i = (i + 1) & (s->ht_cap - 1)) {
        int32_t v = s->ht[i];
        if (v == 0) return NULL;
        if (v < 0) continue;
        peer_t *p = &s->peers[v - 1];
        if (p->hash == h && p->ident_len == len && memcmp(p->ident, ident, len) == 0) return p;
    }
    return NULL;
}

static void s_ht_insert(server_t *s, int slot) {
    if (s->ht_deleted > s->ht_cap / 4) {  /* rebuild without the deleted marks */
        memset(s->ht, 0, s->ht_cap * sizeof(int32_t));
        s->ht_deleted = 0;
        for (int k = 0; k < s->nlive; k++)
            if (s->live[k] != slot) s_ht_insert(s, s->live[k]);
    }
    size_t i = s->peers[slot].hash & (s->ht_cap - 1);
    while (s->ht[i] > 0) i = (i + 1) & (s->ht_cap - 1);
    if (s->ht[i] < 0) s->ht_deleted--;
    s->ht[i] = slot + 1;
}

static void s_ht_remove(server_t *s, int slot) {
    size_t i = s->peers[slot].hash & (s->ht_cap - 1);
    for (size_t k = 0; k < s->ht_cap; k++, i = (i + 1) & (s->ht_cap - 1))
        if (s->ht[i] == slot + 1) {
            s->ht[i] = -1;
            s->ht_deleted++;
            return;
        }
}

/* "actor 3 (127.0.0.1)" */
static const char *s_who(const peer_t *p, char *buf, size_t n) {
    snprintf(buf, n, "%s %u (%s)", p->evaluator ? "evaluator" : "actor", p->id,
             p->addr[0] ? p->addr : "?");
    return buf;
}

static void s_drop_peer(server_t *s, peer_t *p, const char *why) {
    char who[96];
    LOG_W("learner: %s %s; %llu unused credits taken back", s_who(p, who, sizeof who), why,
          (unsigned long long)p->outstanding);
    s->granted -= p->outstanding;
    if (p->evaluator) {
        s->c.evaluators--;
        if (p->eval_busy) s->eval_pending = 1;  /* hand the snapshot to someone else */
    } else {
        s->c.actors--;
    }
    int slot = (int)(p - s->peers);
    s_ht_remove(s, slot);
    int pos = p->live_pos;
    s->live[pos] = s->live[--s->nlive];
    s->peers[s->live[pos]].live_pos = pos;
    memset(p, 0, sizeof *p);
}

/* How long a peer has done nothing useful: actors since their last accepted batch, evaluators
 * since their last message (they only answer requests). */
static double s_idle_ms(const peer_t *p, double now) {
    return now - (p->evaluator ? p->t_seen : p->t_data);
}

/* The longest-idle peer (of one address when addr is not NULL), idle for at least
 * credit_timeout_ms; actors before evaluators. NULL if there is none. */
static peer_t *s_evictable(server_t *s, const char *addr, double now) {
    peer_t *best = NULL;
    for (int k = 0; k < s->nlive; k++) {
        peer_t *p = &s->peers[s->live[k]];
        if (addr && strcmp(p->addr, addr) != 0) continue;
        if (s_idle_ms(p, now) < s->cfg.credit_timeout_ms) continue;
        if (!best || (best->evaluator && !p->evaluator) ||
            (best->evaluator == p->evaluator && s_idle_ms(p, now) > s_idle_ms(best, now)))
            best = p;
    }
    return best;
}

static int s_id_taken(const server_t *s, uint32_t id) {
    for (int k = 0; k < s->nlive; k++)
        if (s->peers[s->live[k]].id == id) return 1;
    return 0;
}

/* A free actor id: the requested one if it is free, else the next unused one (ids stay in
 * [1, WIRE_MAX_ACTOR_ID] so every actor's seed streams are its own). */
static uint32_t s_new_id(server_t *s, uint32_t want) {
    if (want && want <= WIRE_MAX_ACTOR_ID && !s_id_taken(s, want)) return want;
    for (;;) {
        if (s->next_id == 0 || s->next_id > WIRE_MAX_ACTOR_ID) s->next_id = 1;
        uint32_t id = s->next_id++;
        if (!s_id_taken(s, id)) return id;
    }
}

/* ---- credits --------------------------------------------------------------------------- */

/* Replay ratio r > 0: env steps may run ahead of update_after + updates / r by one window of
 * send_batch steps per actor, so updates/steps stays within window/steps of r; a proven actor
 * holds at most two batches of credits. Unthrottled (r = 0): up to UNTHROTTLED_BATCHES
 * batches, which bounds what can queue up at the learner. An actor that has not sent a batch
 * yet (or is on probation) holds one batch at most: an idle peer can never hold more than its
 * own share of the window. */
#define UNTHROTTLED_BATCHES 64
static uint64_t s_hold(const server_t *s, const peer_t *p) {
    uint64_t chunk = (uint64_t)s->cfg.send_batch;
    if (!p->proven) return chunk;
    return (s->cfg.replay_ratio > 0 ? 2 : UNTHROTTLED_BATCHES) * chunk;
}

static void s_send_credits(server_t *s, peer_t *p, uint64_t steps, int random, uint64_t version) {
    Metasac__Credits c = METASAC__CREDITS__INIT;
    c.steps = steps;
    c.random_actions = random;
    c.act_with_version = version;
    c.epoch = p->epoch;
    s_send_to(s, p, wire_encode_credits(&c, s->buf, s->bufcap));
}

static void s_grant(server_t *s, peer_t *p, uint64_t steps, uint64_t version, double now) {
    /* the first random_steps of the run take uniform random actions */
    uint64_t random_left = (uint64_t)s->cfg.random_steps > s->granted
                               ? (uint64_t)s->cfg.random_steps - s->granted : 0;
    uint64_t parts[2] = {steps < random_left ? steps : random_left, 0};
    parts[1] = steps - parts[0];
    for (int k = 0; k < 2; k++)
        if (parts[k]) s_send_credits(s, p, parts[k], k == 0, version);
    if (p->outstanding == 0) p->t_hold = now;
    p->outstanding += steps;
    s->granted += steps;
}

/* Credits go round-robin, one batch at a time, to the live actors that have room; an actor on
 * probation gets one batch only after its pause. */
static void s_grant_credits(server_t *s, double now) {
    if (s->cfg.sync) {  /* one step at a time, with exactly the current weights */
        if (s->granted != s->c.env_steps || s->c.env_steps >= s->total_steps ||
            s_update_owed(s))
            return;
        for (int k = 0; k < s->nlive; k++) {
            peer_t *p = &s->peers[s->live[k]];
            if (p->evaluator) continue;
            /* the weights go on the same reliable, ordered pipe as the credit (PUB may drop) */
            Metasac__PolicyWeights w = s_weights(s, s->agent->phi, s->c.updates);
            s_send_to(s, p, wire_encode_weights(&w, s->buf, s->bufcap));
            s_grant(s, p, 1, s->c.updates, now);
            return;
        }
        return;
    }
    if (s->nlive == 0 || s->granted >= s->total_steps) return;
    const uint64_t chunk = (uint64_t)s->cfg.send_batch;
    uint64_t budget = s->total_steps - s->granted;
    if (s->cfg.replay_ratio > 0) {
        uint64_t active = 0, probation_held = 0;
        for (int k = 0; k < s->nlive; k++) {
            const peer_t *p = &s->peers[s->live[k]];
            if (p->evaluator) continue;
            if (p->backoff_ms > 0) probation_held += p->outstanding;
            else active++;
        }
        uint64_t allowed = s_update_after(s) +
                           (uint64_t)floor((double)s->c.updates / s->cfg.replay_ratio) +
                           chunk * (active > 0 ? active : 1) + probation_held;
        uint64_t b = allowed > s->granted ? allowed - s->granted : 0;
        if (b < budget) budget = b;
    }
    const uint64_t left = s->total_steps - s->granted;
    const uint64_t want = chunk < left ? chunk : left;
    const int passes = s->cfg.replay_ratio > 0 ? 2 : UNTHROTTLED_BATCHES;
    for (int pass = 0; pass < passes && budget >= want; pass++) {
        int any = 0;
        for (int k = 0; k < s->nlive && budget >= want; k++) {
            int pos = (s->rr + k) % s->nlive;
            peer_t *p = &s->peers[s->live[pos]];
            if (p->evaluator || now < p->t_next_grant || p->outstanding + want > s_hold(s, p))
                continue;
            s_grant(s, p, want, 0, now);
            budget -= want;
            s->rr = (pos + 1) % s->nlive;
            any = 1;
        }
        if (!any) break;
    }
}

/* Takes every credit a peer holds back into the pool; a new credit epoch revokes them on its
 * side (batches of the old epoch still in flight are dropped). */
static void s_revoke(server_t *s, peer_t *p, int probation) {
    s->granted -= p->outstanding;
    p->outstanding = 0;
    p->epoch++;
    if (probation) {
        p->proven = 0;
        p->backoff_ms = p->backoff_ms > 0 ? 2 * p->backoff_ms : s->cfg.credit_timeout_ms;
        if (p->backoff_ms > BACKOFF_MAX_MS) p->backoff_ms = BACKOFF_MAX_MS;
        p->t_next_grant = s_now_ms() + p->backoff_ms;
    }
    s_send_credits(s, p, 0, 0, 0);
}

/* An actor that has held credits for credit_timeout_ms without sending loses them and is put
 * on probation: one batch at a time, after a pause that doubles each time (up to
 * BACKOFF_MAX_MS), until it sends again. */
static void s_reclaim(server_t *s, peer_t *p, double now) {
    char who[96];
    s->c.credits_reclaimed++;
    if (log_limiter_pass(s->lim, 1000, p->id, now, NULL))
        LOG_W("learner: %s held %llu credits for %.1f s without sending: taken back",
              s_who(p, who, sizeof who), (unsigned long long)p->outstanding,
              (now - p->t_hold) / 1e3);
    s_revoke(s, p, 1);
}

/* ---- receiving ------------------------------------------------------------------------- */

/* Counts a refusal and writes one rate-limited line naming the sender. kind: a
 * server_reject_t, or 100 + -wire code. */
static void s_refuse(server_t *s, const peer_t *p, const char *addr, unsigned kind,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void s_refuse(server_t *s, const peer_t *p, const char *addr, unsigned kind,
                     const char *fmt, ...) {
    if (kind >= 100) s->c.rejected[kind - 100]++;
    else s->c.refused[kind]++;
    s->c.rejected_total++;
    double now = s_now_ms();
    uint64_t who = p ? p->id : s_hash((const uint8_t *)addr, strlen(addr)) | (1ull << 63);
    uint64_t dropped;
    if (!log_limiter_pass(s->lim, kind, who, now, &dropped)) return;
    char msg[512], name[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p) s_who(p, name, sizeof name);
    else snprintf(name, sizeof name, "unknown peer (%s)", addr[0] ? addr : "?");
    if (dropped)
        LOG_W("learner: rejected from %s: %s [%s; %llu more like it in the last %.0f s]", name,
              msg, kind >= 100 ? wire_strerror(-(int)(kind - 100)) : server_reject_name((int)kind),
              (unsigned long long)dropped, s->cfg.log_interval_ms / 1e3);
    else
        LOG_W("learner: rejected from %s: %s [%s]", name, msg,
              kind >= 100 ? wire_strerror(-(int)(kind - 100)) : server_reject_name((int)kind));
}

/* Lines the limiter held back, once their interval is over. */
static void s_flush_one(void *ctx, unsigned kind, uint64_t who, uint64_t n) {
    server_t *s = ctx;
    const char *what = kind == 1000 ? "credit reclaims" : kind == 2000 ? "rollbacks"
                       : kind >= 100 ? wire_strerror(-(int)(kind - 100))
                                     : server_reject_name((int)kind);
    if (who >> 63)
        LOG_W("learner: %llu more '%s' rejections from an unknown peer in the last %.0f s",
              (unsigned long long)n, what, s->cfg.log_interval_ms / 1e3);
    else
        LOG_W("learner: %llu more '%s' from peer %llu in the last %.0f s", (unsigned long long)n,
              what, (unsigned long long)who, s->cfg.log_interval_ms / 1e3);
}

/* Returns the n credits of a refused batch to the pool: the steps never entered replay. */
static void s_return_credits(server_t *s, peer_t *p, uint64_t n) {
    if (n > p->outstanding) n = p->outstanding;
    p->outstanding -= n;
    s->granted -= n;
}

/* 1 if addr may say hello now (token bucket per address, in a fixed direct-mapped table). */
static int s_hello_allowed(server_t *s, const char *addr, double now) {
    uint64_t h = s_hash((const uint8_t *)addr, strlen(addr)) | 1;
    hello_bucket_t *b = &s->hello_bucket[h % HELLO_SLOTS];
    if (b->addr != h) {
        b->addr = h;
        b->tokens = HELLO_BURST;
        b->t = now;
    }
    b->tokens += (now - b->t) * HELLO_RATE / 1e3;
    if (b->tokens > HELLO_BURST) b->tokens = HELLO_BURST;
    b->t = now;
    if (b->tokens < 1) return 0;
    b->tokens -= 1;
    return 1;
}

static void s_hello(server_t *s, const uint8_t *ident, size_t ident_len, const char *addr,
                    const Metasac__Hello *h) {
    double now = s_now_ms();
    char who[96];
    peer_t *p = s_find_peer(s, ident, ident_len);
    if (p) {
        s_refuse(s, p, addr, REJECT_HELLO_AGAIN, "a second hello on a registered connection");
        return;
    }
    if (!s_hello_allowed(s, addr, now)) {
        s_refuse(s, NULL, addr, REJECT_HELLO_RATE, "more than %.0f hellos a second from one "
                 "address", HELLO_RATE);
        return;
    }
    int same_host = 0;
    for (int k = 0; k < s->nlive; k++) same_host += strcmp(s->peers[s->live[k]].addr, addr) == 0;
    if (same_host >= s->cfg.max_peers_per_host || s->nlive >= s->max_peers) {
        int per_host = same_host >= s->cfg.max_peers_per_host;
        peer_t *victim = s_evictable(s, per_host ? addr : NULL, now);
        if (!victim) {
            s_refuse(s, NULL, addr, REJECT_PEER_LIMIT, "no room for a new peer (%d peers, %d from "
                     "this address, none idle)", s->nlive, same_host);
            return;
        }
        s->c.peers_evicted++;
        s_drop_peer(s, victim, "evicted (idle) to make room for a new peer");
    }
    int slot = 0;
    while (s->peers[slot].used) slot++;
    p = &s->peers[slot];
    p->used = 1;
    memcpy(p->ident, ident, ident_len);
    p->ident_len = ident_len;
    p->hash = s_hash(ident, ident_len);
    p->id = s_new_id(s, h->actor_id_request_case ? h->requested_actor_id : 0);
    p->evaluator = h->role == METASAC__ROLE__ROLE_EVALUATOR;
    p->num_envs = h->num_envs;
    p->pid = h->pid;
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    snprintf(p->host, sizeof p->host, "%s", h->host && h->host[0] ? h->host : addr);
    p->t_seen = p->t_data = now;
    p->live_pos = s->nlive;
    s->live[s->nlive++] = slot;
    s_ht_insert(s, slot);
    if (p->evaluator) s->c.evaluators++;
    else s->c.actors++;
    s->c.hellos++;

    Metasac__Welcome w = METASAC__WELCOME__INIT;
    Metasac__PolicyWeights pw = s_weights(s, s->agent->phi, s->c.updates);
    w.task = (char *)config_task_name(s->cfg.task);
    w.obs_dim = (uint32_t)s->O;
    w.act_dim = (uint32_t)s->A;
    w.n_action_low = w.n_action_high = (size_t)s->A;
    w.action_low = (float *)s->low;
    w.action_high = (float *)s->high;
    w.run_seed = (uint64_t)s->cfg.seed;
    w.actor_id = p->id;
    w.seed_stream_base = p->evaluator ? RNG_STREAM_EVAL((uint64_t)p->id << 16)
                                      : RNG_STREAM_ACTOR(p->id, 0);
    w.weights = &pw;
    w.algo = (char *)config_algo_name(s->cfg.algo);
    w.expl_noise = (float)s->cfg.td3_expl_noise;
    w.send_batch = (uint32_t)s->cfg.send_batch;
    int d0_missing = s->d0->capacity - s->d0->size;
    w.initial_resets = p->evaluator || s->cfg.algo != ALGO_META_SAC ? 0 : (uint32_t)d0_missing;
    w.max_abs_obs = (float)s->cfg.max_abs_obs;
    w.max_abs_reward = (float)s->cfg.max_abs_reward;
    p->resets_asked = w.initial_resets;
    s_send_to(s, p, wire_encode_welcome(&w, s->buf, s->bufcap));
    LOG_I("learner: %s joined from host %s (%u envs, pid %u, build %s); %d actors, %d evaluators",
          s_who(p, who, sizeof who), p->host, p->num_envs, p->pid,
          h->build_version && h->build_version[0] ? h->build_version : "?", s->c.actors,
          s->c.evaluators);
}

/* Index of the first value with |x| > bound (or not finite), or -1. */
static long s_over(const float *x, size_t n, float bound) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= !(fabsf(x[i]) <= bound);
    if (!bad) return -1;
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(x[i]) <= bound)) return (long)i;
    return -1;
}

static void s_transitions(server_t *s, peer_t *p, const Metasac__TransitionBatch *t,
                          double now) {
    const size_t O = (size_t)s->O, A = (size_t)s->A, n = t->n;
    s->rep_recv += n;  /* received, whether accepted or refused below */
    if (p->evaluator || t->actor_id != p->id) {
        s_refuse(s, p, p->addr, REJECT_WRONG_ID, "transitions claiming actor id %u",
                 t->actor_id);
        return;
    }
    if (t->credit_epoch != p->epoch) {  /* taken under credits the learner took back */
        s->c.refused[REJECT_STALE_EPOCH]++;
        s->c.rejected_total++;
        LOG_D("learner: actor %u: a batch of credit epoch %u (now %u) dropped", p->id,
              t->credit_epoch, p->epoch);
        return;
    }
    if (t->seq < p->next_seq) {
        s_refuse(s, p, p->addr, REJECT_SEQ_DUP, "batch %llu again (expected %llu)",
                 (unsigned long long)t->seq, (unsigned long long)p->next_seq);
        return;
    }
    uint64_t expected = p->next_seq;
    p->next_seq = t->seq + 1;
    if (t->seq > expected) {
        s_return_credits(s, p, n);
        s_refuse(s, p, p->addr, REJECT_SEQ_GAP, "batch %llu after %llu",
                 (unsigned long long)t->seq, (unsigned long long)expected - 1);
        return;
    }
    if (n > p->outstanding) {
        uint64_t held = p->outstanding;
        s_return_credits(s, p, held);
        s_refuse(s, p, p->addr, REJECT_OVER_CREDIT, "%zu transitions while holding %llu credits",
                 n, (unsigned long long)held);
        return;
    }
    if (t->weight_version > s->c.updates) {
        s_return_credits(s, p, n);
        s_refuse(s, p, p->addr, REJECT_FUTURE_VERSION, "weight version %llu, the learner is at %llu",
                 (unsigned long long)t->weight_version, (unsigned long long)s->c.updates);
        return;
    }
    const float mo = (float)s->cfg.max_abs_obs, mr = (float)s->cfg.max_abs_reward;
    long i;
    if ((i = s_over(t->obs, n * O, mo)) >= 0 || (i = s_over(t->next_obs, n * O, mo)) >= 0) {
        s_return_credits(s, p, n);
        s_refuse(s, p, p->addr, REJECT_OBS_BOUND, "an observation beyond +-%g", (double)mo);
        return;
    }
    if ((i = s_over(t->rew, n, mr)) >= 0) {
        s_return_credits(s, p, n);
        s_refuse(s, p, p->addr, REJECT_REWARD_BOUND, "reward %g beyond +-%g", (double)t->rew[i],
                 (double)mr);
        return;
    }
    for (size_t k = 0; k < n * A; k++) {
        size_t j = k % A;
        if (!(t->act[k] >= s->act_lo[j] && t->act[k] <= s->act_hi[j])) {
            s_return_credits(s, p, n);
            s_refuse(s, p, p->addr, REJECT_ACT_BOUND, "action[%zu] = %g outside [%g, %g]", j,
                     (double)t->act[k], (double)s->low[j], (double)s->high[j]);
            return;
        }
    }
    for (size_t k = 0; k < n; k++)
        replay_insert(s->replay, t->obs + k * O, t->act + k * A, t->rew[k], t->next_obs + k * O,
                      t->terminated[k]);
    p->outstanding -= n;
    if (p->outstanding > 0) p->t_hold = now;
    p->steps += n;
    p->t_data = now;
    p->proven = 1;
    p->backoff_ms = 0;
    p->t_next_grant = 0;
    s->c.env_steps += n;
    uint64_t stale = s->c.updates - t->weight_version;
    if (s->stale_n == 0 || stale < s->stale_min) s->stale_min = stale;
    if (stale > s->stale_max) s->stale_max = stale;
    s->stale_sum += (double)stale;
    s->stale_n++;
}

static void s_resets(server_t *s, peer_t *p, const Metasac__ResetStates *r) {
    const size_t O = (size_t)s->O;
    if (r->actor_id != p->id || p->evaluator) {
        s_refuse(s, p, p->addr, REJECT_WRONG_ID, "reset states claiming actor id %u", r->actor_id);
        return;
    }
    /* an honest actor resets once per episode (and once per env at start, plus the extra ones
       the Welcome asked for): an episode takes at least one step */
    uint64_t quota = p->resets_asked + 2 * (p->steps + p->num_envs) + 64;
    if (p->resets + r->n > quota) {
        s_refuse(s, p, p->addr, REJECT_RESET_QUOTA, "%llu reset states after %llu steps",
                 (unsigned long long)(p->resets + r->n), (unsigned long long)p->steps);
        return;
    }
    for (size_t k = 0; k < (size_t)r->n * O; k++) {
        size_t j = k % O;
        if (!(r->obs[k] >= s->init_lo[j] && r->obs[k] <= s->init_hi[j])) {
            s_refuse(s, p, p->addr, REJECT_RESET_RANGE,
                     "reset state %zu: obs[%zu] = %g is no initial state of %s ([%g, %g])", k / O,
                     j, (double)r->obs[k], config_task_name(s->cfg.task), (double)s->init_lo[j],
                     (double)s->init_hi[j]);
            return;
        }
    }
    for (uint32_t i = 0; i < r->n; i++) d0_offer(s->d0, r->obs + (size_t)i * O, &s->rng);
    p->resets += r->n;
    s->c.resets += r->n;
}

static void s_eval_result(server_t *s, peer_t *p, const Metasac__EvalResult *r) {
    if (!p->evaluator || !p->eval_busy || r->weight_version != p->eval_version ||
        r->actor_id != p->id) {
        s_refuse(s, p, p->addr, REJECT_EVAL, "an eval result not asked for (weights v%llu)",
                 (unsigned long long)r->weight_version);
        return;
    }
    p->eval_busy = 0;
    const char *bad = r->episodes != p->eval_episodes ? "episodes" : NULL;
    for (uint32_t i = 0; !bad && i < r->episodes; i++)
        if (r->lengths[i] > TASK_MAX_STEPS ||
            fabs(r->returns[i]) > s->cfg.max_abs_reward * (double)r->lengths[i])
            bad = "a return or length impossible for the task";
    if (bad) {
        s_refuse(s, p, p->addr, REJECT_EVAL, "eval result with %s: evaluation at %llu steps lost",
                 bad, (unsigned long long)p->eval_steps);
        return;
    }
    s->c.evals++;
    s->c.last_eval_mean = r->mean;
    s->c.last_eval_steps = p->eval_steps;
    LOG_I("learner: eval at %llu env steps (weights v%llu): return %.1f +- %.1f over %u episodes",
          (unsigned long long)p->eval_steps, (unsigned long long)r->weight_version, r->mean,
          r->std, r->episodes);
    if (s->evals) {
        fprintf(s->evals, "%llu,%llu,%.6g,%.6g,%u\n", (unsigned long long)p->eval_steps,
                (unsigned long long)r->weight_version, r->mean, r->std, r->episodes);
        fflush(s->evals);
    }
}

static void s_handle(server_t *s, zmq_msg_t *id, zmq_msg_t *body, double now) {
    const uint8_t *ident = zmq_msg_data(id);
    size_t ident_len = zmq_msg_size(id);
    const char *addr = zmq_msg_gets(body, "Peer-Address");
    if (!addr) addr = "";
    peer_t *p = ident_len <= IDENT_MAX ? s_find_peer(s, ident, ident_len) : NULL;
    const Metasac__Envelope *env;
    int rc = wire_decode(s->dec, zmq_msg_data(body), zmq_msg_size(body), &env);
    if (rc != WIRE_OK) {
        if (p && p->eval_busy) {  /* its answer is lost: free it for the next request */
            p->eval_busy = 0;
            LOG_W("learner: evaluator %u's answer was refused: evaluation at %llu steps lost", p->id,
                  (unsigned long long)p->eval_steps);
        }
        if (p && p->outstanding > 0) s_revoke(s, p, 0);
        s_refuse(s, p, addr, 100u + (unsigned)-rc, "%s", wire_decoder_detail(s->dec));
        return;
    }
    if (env->body_case == METASAC__ENVELOPE__BODY_HELLO) {
        if (ident_len <= IDENT_MAX) s_hello(s, ident, ident_len, addr, env->hello);
        return;
    }
    if (!p) {
        s_refuse(s, NULL, addr, REJECT_UNKNOWN_PEER, "a %s message from a peer that never said hello",
                 wire_body_name(env->body_case));
        return;
    }
    p->t_seen = now;
    switch (env->body_case) {
    case METASAC__ENVELOPE__BODY_TRANSITIONS:
        s_transitions(s, p, env->transitions, now);
        break;
    case METASAC__ENVELOPE__BODY_RESET_STATES:
        s_resets(s, p, env->reset_states);
        break;
    case METASAC__ENVELOPE__BODY_EVAL_RESULT:
        s_eval_result(s, p, env->eval_result);
        break;
    case METASAC__ENVELOPE__BODY_HEARTBEAT:
        break;
    case METASAC__ENVELOPE__BODY_STATS: {
        const Metasac__Stats *st = env->stats;
        if (st->actor_id != p->id) {
            s_refuse(s, p, p->addr, REJECT_WRONG_ID, "stats claiming actor id %u", st->actor_id);
            break;
        }
        p->st_sps = st->steps_per_sec;
        if (st->env_steps > p->st_steps)
            p->st_policy_us = (double)(st->policy_time_us - p->st_policy_time) /
                              (double)(st->env_steps - p->st_steps);
        p->st_steps = st->env_steps;
        p->st_policy_time = st->policy_time_us;
        p->pid = st->pid;
        if (st->host && st->host[0]) snprintf(p->host, sizeof p->host, "%s", st->host);
        break;
    }
    default:
        s_refuse(s, p, p->addr, REJECT_WRONG_ID, "a %s message, which actors do not send",
                 wire_body_name(env->body_case));
    }
}

/* Drains messages without blocking: up to DRAIN_MAX, and for at most budget_ms (> 0) so a
 * flood cannot starve the updates. Returns how many. */
static int s_drain(server_t *s, double budget_ms) {
    zmq_msg_t id, body;
    double t0 = s_now_ms(), now = t0;
    int n = 0;
    for (; n < DRAIN_MAX; n++) {
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, s->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            break;
        }
        /* ZeroMQ delivers all frames of a message together: the rest is already here */
        zmq_msg_init(&body);
        int ok = zmq_msg_more(&id) && zmq_msg_recv(&body, s->router, ZMQ_DONTWAIT) >= 0;
        int extra = 0, more = ok && zmq_msg_more(&body);
        while (more) {  /* frames too many: drain them (the flag of the LAST frame read) */
            zmq_msg_t junk;
            zmq_msg_init(&junk);
            more = zmq_msg_recv(&junk, s->router, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&junk);
            zmq_msg_close(&junk);
            extra = 1;
        }
        if ((n & 15) == 0) now = s_now_ms();
        if (!ok || extra) {
            const char *addr = ok ? zmq_msg_gets(&body, "Peer-Address") : NULL;
            size_t il = zmq_msg_size(&id);
            peer_t *p = il <= IDENT_MAX ? s_find_peer(s, zmq_msg_data(&id), il) : NULL;
            s_refuse(s, p, addr ? addr : "", REJECT_BAD_FRAMES, "a message of %s frames",
                     extra ? "several" : "too few");
        } else {
            s_handle(s, &id, &body, now);
        }
        zmq_msg_close(&body);
        zmq_msg_close(&id);
        if (budget_ms > 0 && (n & 15) == 15 && s_now_ms() - t0 > budget_ms) {
            n++;
            break;
        }
    }
    return n;
}

/* ---- the loop -------------------------------------------------------------------------- */

static void s_update(server_t *s) {
    const int B = s->cfg.batch;
    double t0 = s_now_ms();
    batch_f b1 = replay_sample(s->replay, &s->rng, B, s->b1);
    batch_f b2 = s->cfg.algo == ALGO_META_SAC && s->cfg.resample
                     ? replay_sample(s->replay, &s->rng, B, s->b2) : b1;
    sac_update_f(s->agent, &b1, &b2, s->d0->obs, s->d0->size, &s->last);
    s->last_b1 = b1;
    s->last_b2 = b2;
    s->c.updates++;
    s->agent->updates = (long)s->c.updates;  /* stays the weight version after a rollback */
    const sac_stats_t *st = &s->last;
    const char *bad = !isfinite(st->q_loss)                 ? "critic loss"
                      : !isfinite(st->pi_loss)              ? "policy loss"
                      : !isfinite(st->meta_grad)            ? "metagradient"
                      : !isfinite(sac_alpha_f(s->agent))    ? "alpha"
                      : !isfinite(s->agent->lam[0])         ? "log alpha"
                                                            : NULL;
    if (bad) s_rollback(s, bad);
    else if (s->c.updates - s->snap_updates >= (uint64_t)s->cfg.rollback_interval &&
             s_verify_state(s))
        s_snapshot(s);
    s->c.log_alpha = log((double)sac_alpha_f(s->agent));
    if (s->cfg.algo == ALGO_META_SAC && !bad) {  /* a metagradient stuck at 0 is a silent failure */
        s->zero_meta = st->meta_grad == 0 ? s->zero_meta + 1 : 0;
        if (s->zero_meta == 1000)
            LOG_W("learner: the metagradient has been exactly 0 for 1000 updates: alpha cannot "
                  "move (is D0 made of real initial states? D0 holds %d)", s->d0->size);
    }
    if (s->cfg.sync || s->c.updates % (uint64_t)s->cfg.broadcast_interval == 0) s_publish(s);
    s->upd_ms = 0.95 * s->upd_ms + 0.05 * (s_now_ms() - t0);
}

static void s_schedule_eval(server_t *s) {
    if (s->cfg.eval_interval <= 0 || s->c.env_steps < s->next_eval) return;
    if (s->eval_pending) LOG_W("learner: evaluation at %llu steps skipped: no evaluator free",
                               (unsigned long long)s->eval_snap_steps);
    memcpy(s->eval_snap, s->agent->phi, sizeof(float) * s->shape.pi_n);
    s->eval_snap_version = s->c.updates;
    s->eval_snap_steps = s->next_eval;
    s->eval_pending = 1;
    while (s->next_eval <= s->c.env_steps) s->next_eval += (uint64_t)s->cfg.eval_interval;
}

static void s_dispatch_eval(server_t *s) {
    if (!s->eval_pending) return;
    for (int k = 0; k < s->nlive; k++) {
        peer_t *p = &s->peers[s->live[k]];
        if (!p->evaluator || p->eval_busy) continue;
        Metasac__EvalRequest r = METASAC__EVAL_REQUEST__INIT;
        r.weight_version = s->eval_snap_version;
        r.episodes = (uint32_t)s->cfg.eval_episodes;
        s_send_to(s, p, wire_encode_eval_request(&r, s->buf, s->bufcap));
        Metasac__PolicyWeights w = s_weights(s, s->eval_snap, s->eval_snap_version);
        s_send_to(s, p, wire_encode_weights(&w, s->buf, s->bufcap));
        p->eval_busy = 1;
        p->eval_steps = s->eval_snap_steps;
        p->eval_version = s->eval_snap_version;
        p->eval_episodes = r.episodes;
        s->eval_pending = 0;
        return;
    }
}

static void s_heartbeats(server_t *s, double now) {
    if (now - s->t_heartbeat < s->cfg.heartbeat_ms) return;
    s->t_heartbeat = now;
    for (int k = 0; k < s->nlive; k++) {
        peer_t *p = &s->peers[s->live[k]];
        Metasac__Heartbeat h = METASAC__HEARTBEAT__INIT;
        h.weight_version = s->c.updates;
        h.time_us = (uint64_t)(now * 1e3);
        s_send_to(s, p, wire_encode_heartbeat(&h, s->buf, s->bufcap));
    }
}

static void s_render_prom(server_t *s);

/* Every TICK_MS: silent peers expire, credits held too long come back, held-back log lines
 * are written. */
static void s_tick(server_t *s, double now) {
    if (now - s->t_tick < TICK_MS) return;
    s->t_tick = now;
    for (int k = 0; k < s->nlive; k++) {
        peer_t *p = &s->peers[s->live[k]];
        if (now - p->t_seen > s->cfg.heartbeat_timeout_ms) {
            s->c.peers_expired++;
            s_drop_peer(s, p, "went silent");
            k--;  /* the last live peer moved into this position */
            continue;
        }
        if (p->outstanding > 0 && !s->cfg.sync &&
            now - (p->t_hold > p->t_data ? p->t_hold : p->t_data) > s->cfg.credit_timeout_ms)
            s_reclaim(s, p, now);
    }
    log_limiter_flush(s->lim, now, s_flush_one, s);
    if (s->http && now - s->t_prom >= 250) {  /* fresh for a scraper, cheap */
        s->t_prom = now;
        s_render_prom(s);
    }
}

/* "2h14m", "7m05s", "40s"; "-" when unknown. */
static void s_duration(double secs, char *buf, size_t n) {
    if (!(secs >= 0) || secs > 1e8) snprintf(buf, n, "-");
    else if (secs >= 3600) snprintf(buf, n, "%dh%02dm", (int)(secs / 3600), (int)(secs / 60) % 60);
    else if (secs >= 60) snprintf(buf, n, "%dm%02ds", (int)(secs / 60), (int)secs % 60);
    else snprintf(buf, n, "%ds", (int)secs);
}

/* Every third report: one line per host with its live actors, their accepted env steps/s and
 * their share of all steps in the interval (what a user scaling actors per node watches). */
static void s_host_summary(server_t *s, double total_rate) {
    char done[1024] = "";  /* hosts already printed, "|"-separated; bounded by max_peers */
    int printed = 0;
    for (int k = 0; k < s->nlive && printed < 64; k++) {
        const peer_t *p = &s->peers[s->live[k]];
        if (p->evaluator) continue;
        char key[WIRE_MAX_NAME + 3];
        snprintf(key, sizeof key, "|%s|", p->host);
        if (strstr(done, key)) continue;
        if (strlen(done) + strlen(key) < sizeof done) strcat(done, key + (done[0] ? 1 : 0));
        int n = 0;
        double rate = 0, policy = 0, reported = 0;
        for (int j = k; j < s->nlive; j++) {
            const peer_t *q = &s->peers[s->live[j]];
            if (q->evaluator || strcmp(q->host, p->host) != 0) continue;
            n++;
            rate += q->rate;
            reported += q->st_sps;
            policy += q->st_policy_us;
        }
        LOG_I("host %s: %d actors, env %.0f/s (they report %.0f/s), %.1f%% of steps, policy "
              "%.1f us/step", p->host, n, rate, reported,
              total_rate > 0 ? 100 * rate / total_rate : 0, n ? policy / n : 0);
        printed++;
    }
}

/* The Prometheus text (exposition format 0.0.4) of the counters and the per-actor figures. */
static void s_render_prom(server_t *s) {
    char *b = s->prom;
    size_t cap = s->prom_cap, n = 0;
#define P(...)                                                                           \
    do {                                                                                 \
        int w_ = snprintf(b + n, n < cap ? cap - n : 0, __VA_ARGS__);                   \
        if (w_ > 0) n += (size_t)w_;                                                     \
    } while (0)
#define METRIC(name, type, help, fmt, val) \
    P("# HELP %s %s\n# TYPE %s %s\n%s " fmt "\n", name, help, name, type, name, val)
    const server_counters_t *c = &s->c;
    METRIC("metasac_env_steps_total", "counter", "Environment steps accepted into replay.", "%llu",
           (unsigned long long)c->env_steps);
    METRIC("metasac_env_steps_target", "gauge", "total_steps of the run.", "%llu",
           (unsigned long long)s->total_steps);
    METRIC("metasac_updates_total", "counter", "Gradient updates (the weight version).", "%llu",
           (unsigned long long)c->updates);
    METRIC("metasac_actors", "gauge", "Actors connected.", "%d", c->actors);
    METRIC("metasac_evaluators", "gauge", "Evaluators connected.", "%d", c->evaluators);
    METRIC("metasac_replay_size", "gauge", "Transitions in the replay buffer.", "%zu",
           s->replay->size);
    METRIC("metasac_d0_size", "gauge", "Initial states in D0.", "%d", s->d0->size);
    if (s->cfg.algo != ALGO_TD3 && isfinite(c->log_alpha)) {
        METRIC("metasac_alpha", "gauge", "Entropy temperature.", "%.9g", exp(c->log_alpha));
        METRIC("metasac_log_alpha", "gauge", "log of the entropy temperature.", "%.9g",
               c->log_alpha);
    }
    if (!isnan(c->last_eval_mean)) {
        METRIC("metasac_eval_return", "gauge", "Mean return of the last evaluation.", "%.9g",
               c->last_eval_mean);
        METRIC("metasac_eval_env_steps", "gauge", "Env steps of the last evaluation's weights.",
               "%llu", (unsigned long long)c->last_eval_steps);
    }
    METRIC("metasac_rollbacks_total", "counter", "Updates undone for a non-finite value.", "%llu",
           (unsigned long long)c->rollbacks);
    METRIC("metasac_credits_reclaimed_total", "counter", "Credits taken back from idle holders.",
           "%llu", (unsigned long long)c->credits_reclaimed);
    METRIC("metasac_peers_evicted_total", "counter", "Idle peers evicted for new ones.", "%llu",
           (unsigned long long)c->peers_evicted);
    METRIC("metasac_peers_expired_total", "counter", "Peers dropped after going silent.", "%llu",
           (unsigned long long)c->peers_expired);
    METRIC("metasac_auth_refused_total", "counter", "CURVE handshakes refused.", "%llu",
           (unsigned long long)(s->auth ? curve_auth_refused(s->auth) : 0));
    P("# HELP metasac_rejected_total Messages refused, by reason.\n"
      "# TYPE metasac_rejected_total counter\n");
    for (int k = 1; k < WIRE_ERR_COUNT; k++) {
        if (-k == WIRE_ERR_BUFFER) continue;
        const char *names[] = {"", "undecodable", "version", "oversize", "unknown_type", "shape",
                               "nonfinite", "range", "arena", "", "denormal"};
        P("metasac_rejected_total{reason=\"%s\"} %llu\n", names[k],
          (unsigned long long)c->rejected[k]);
    }
    for (int k = 0; k < REJECT_COUNT; k++)
        P("metasac_rejected_total{reason=\"%s\"} %llu\n", server_reject_name(k),
          (unsigned long long)c->refused[k]);
    P("# HELP metasac_actor_env_steps_total Env steps accepted from each actor.\n"
      "# TYPE metasac_actor_env_steps_total counter\n");
    for (int k = 0; k < s->nlive; k++) {
        const peer_t *p = &s->peers[s->live[k]];
        if (!p->evaluator)
            P("metasac_actor_env_steps_total{actor=\"%u\",host=\"%s\"} %llu\n", p->id, p->host,
              (unsigned long long)p->steps);
    }
    P("# HELP metasac_actor_env_steps_per_second Env steps/s each actor reports.\n"
      "# TYPE metasac_actor_env_steps_per_second gauge\n");
    for (int k = 0; k < s->nlive; k++) {
        const peer_t *p = &s->peers[s->live[k]];
        if (!p->evaluator)
            P("metasac_actor_env_steps_per_second{actor=\"%u\",host=\"%s\"} %.6g\n", p->id,
              p->host, p->st_sps);
    }
    P("# HELP metasac_actor_policy_seconds_per_step Policy inference time per env step.\n"
      "# TYPE metasac_actor_policy_seconds_per_step gauge\n");
    for (int k = 0; k < s->nlive; k++) {
        const peer_t *p = &s->peers[s->live[k]];
        if (!p->evaluator)
            P("metasac_actor_policy_seconds_per_step{actor=\"%u\",host=\"%s\"} %.6g\n", p->id,
              p->host, p->st_policy_us * 1e-6);
    }
#undef METRIC
#undef P
    if (n > cap) n = cap;  /* cut (the buffer is sized for max_peers actors) */
    metrics_http_set(s->http, b, n);
}

static void s_report(server_t *s, double now, int force) {
    double dt = (now - s->t_report) / 1e3;
    if (!force && dt * 1e3 < s->cfg.report_ms) return;
    if (dt <= 0) dt = 1e-3;
    double sps = (double)(s->c.env_steps - s->rep_steps) / dt;
    s->sps_avg = s->reports == 0 ? sps : 0.7 * s->sps_avg + 0.3 * sps;
    for (int k = 0; k < s->nlive; k++) {
        peer_t *p = &s->peers[s->live[k]];
        p->rate = (double)(p->steps - p->rep_steps) / dt;
        p->rep_steps = p->steps;
    }
    double ups = (double)(s->c.updates - s->rep_updates) / dt;
    double rps = (double)s->rep_recv / dt;
    double savg = s->stale_n ? s->stale_sum / (double)s->stale_n : 0;
    s->c.replay_size = s->replay->size;
    s->c.d0_size = (uint64_t)s->d0->size;
    s->c.auth_refused = s->auth ? curve_auth_refused(s->auth) : 0;
    char alpha[32], eval[48];
    if (s->cfg.algo == ALGO_TD3) snprintf(alpha, sizeof alpha, "-");  /* TD3 has no alpha */
    else snprintf(alpha, sizeof alpha, "%.4g", exp(s->c.log_alpha));
    if (isnan(s->c.last_eval_mean)) snprintf(eval, sizeof eval, "-");
    else snprintf(eval, sizeof eval, "%.1f @%llu", s->c.last_eval_mean,
                  (unsigned long long)s->c.last_eval_steps);
    char eta[32];
    s_duration(s->c.env_steps >= s->total_steps ? 0
               : s->sps_avg > 0 ? (double)(s->total_steps - s->c.env_steps) / s->sps_avg : -1,
               eta, sizeof eta);
    LOG_I("steps %llu/%llu (%.0f%%) ETA %s | env %.0f/s | upd %.0f/s | recv %.0f/s | actors %d | "
          "replay %zu (D0 %d) | stale %llu/%.1f/%llu | alpha %s | eval %s | rejected %llu",
          (unsigned long long)s->c.env_steps, (unsigned long long)s->total_steps,
          100.0 * (double)s->c.env_steps / (double)s->total_steps, eta, sps, ups, rps,
          s->c.actors, s->replay->size,
          s->d0->size, (unsigned long long)s->stale_min, savg, (unsigned long long)s->stale_max,
          alpha, eval, (unsigned long long)s->c.rejected_total);
    if (s->metrics && !s->cfg.sync) {
        FILE *f = s->metrics;
        fprintf(f, "{\"time\":%.3f,\"env_steps\":%llu,\"updates\":%llu", (now - s->t_start) / 1e3,
                (unsigned long long)s->c.env_steps, (unsigned long long)s->c.updates);
        s_json_num(f, "env_sps", sps, 1);
        s_json_num(f, "updates_ps", ups, 1);
        s_json_num(f, "recv_tps", rps, 1);
        fprintf(f, ",\"actors\":%d,\"replay\":%zu,\"stale_min\":%llu", s->c.actors,
                s->replay->size, (unsigned long long)s->stale_min);
        s_json_num(f, "stale_avg", savg, 1);
        fprintf(f, ",\"stale_max\":%llu", (unsigned long long)s->stale_max);
        s_json_num(f, "alpha", exp(s->c.log_alpha), 1);
        s_json_num(f, "log_alpha", s->c.log_alpha, 1);
        s_json_num(f, "q_loss", s->last.q_loss, 1);
        s_json_num(f, "pi_loss", s->last.pi_loss, 1);
        s_json_num(f, "entropy", s->last.entropy, 1);
        s_json_num(f, "meta_grad", s->last.meta_grad, 1);
        fprintf(f, ",\"rejected\":%llu,\"rollbacks\":%llu,\"credits_reclaimed\":%llu",
                (unsigned long long)s->c.rejected_total, (unsigned long long)s->c.rollbacks,
                (unsigned long long)s->c.credits_reclaimed);
        fprintf(f, ",\"per_actor\":[");  /* each actor's own figures */
        int first = 1;
        for (int k = 0; k < s->nlive; k++) {
            const peer_t *p = &s->peers[s->live[k]];
            if (p->evaluator) continue;
            fprintf(f, "%s{\"id\":%u,\"host\":\"%s\",\"pid\":%u,\"envs\":%u,\"steps\":%llu",
                    first ? "" : ",", p->id, p->host, p->pid, p->num_envs,
                    (unsigned long long)p->steps);
            s_json_num(f, "env_sps", p->rate, 1);
            s_json_num(f, "reported_sps", p->st_sps, 1);
            s_json_num(f, "policy_us", p->st_policy_us, 1);
            fprintf(f, "}");
            first = 0;
        }
        fprintf(f, "]}\n");
        fflush(f);
    }
    if (++s->reports % 3 == 0 && s->c.actors > 0) s_host_summary(s, sps);
    s->t_report = now;
    s->rep_steps = s->c.env_steps;
    s->rep_updates = s->c.updates;
    s->rep_recv = 0;
    s->stale_n = 0;
    s->stale_sum = 0;
    s->stale_min = s->stale_max = 0;
}

/* Sync mode: a metrics line every 1000 env steps once its updates are done, with only what
 * the seed determines (no time, no rates), so two runs write identical files. */
static void s_sync_metrics(server_t *s) {
    if (!s->cfg.sync || !s->metrics || s->c.env_steps < s->next_metrics || s_update_owed(s))
        return;
    FILE *f = s->metrics;
    fprintf(f, "{\"env_steps\":%llu,\"updates\":%llu", (unsigned long long)s->c.env_steps,
            (unsigned long long)s->c.updates);
    s_json_num(f, "alpha", exp(s->c.log_alpha), 1);
    s_json_num(f, "log_alpha", s->c.log_alpha, 1);
    s_json_num(f, "q_loss", s->last.q_loss, 1);
    s_json_num(f, "pi_loss", s->last.pi_loss, 1);
    s_json_num(f, "entropy", s->last.entropy, 1);
    s_json_num(f, "meta_grad", s->last.meta_grad, 1);
    fprintf(f, ",\"replay\":%zu,\"d0\":%d}\n", s->replay->size, s->d0->size);
    fflush(f);
    s->next_metrics = s_next_multiple(s->c.env_steps, 1000);
}

/* An evaluation is requested but not reported yet (and someone can report it). */
static int s_eval_outstanding(const server_t *s) {
    if (s->c.evaluators == 0) return 0;
    if (s->eval_pending) return 1;
    for (int k = 0; k < s->nlive; k++)
        if (s->peers[s->live[k]].eval_busy) return 1;
    return 0;
}

/* Done: every step trained on, and the last evaluation (the one at total_steps) reported, or
 * given up on after EVAL_WAIT_MS without an answer. */
#define EVAL_WAIT_MS 600000.0
static int s_finished(server_t *s, double now) {
    if (s->c.env_steps < s->total_steps || s_update_owed(s)) return 0;
    if (!s_eval_outstanding(s)) return 1;
    if (s->t_done == 0) {
        s->t_done = now;
        LOG_I("learner: training done; waiting for the last evaluation");
    }
    if (now - s->t_done < EVAL_WAIT_MS) return 0;
    LOG_W("learner: the last evaluation did not come back in %.0f s", EVAL_WAIT_MS / 1e3);
    return 1;
}

/* Tells every peer the run is over: actors and evaluators exit 0. */
static void s_stop_peers(server_t *s, const char *why) {
    Metasac__Stop m = METASAC__STOP__INIT;
    m.reason = (char *)why;
    m.env_steps = s->c.env_steps;
    int64_t len = wire_encode_stop(&m, s->buf, s->bufcap);
    for (int k = 0; k < s->nlive; k++) s_send_to(s, &s->peers[s->live[k]], len);
}

int server_run(server_t *s, volatile sig_atomic_t *stop) {
    s->t_start = s->t_report = s->t_heartbeat = s->t_tick = s_now_ms();
    if (s->c.env_steps >= s->total_steps && !s_update_owed(s)) {
        LOG_I("learner: the run is already complete (%llu of %llu env steps): nothing to do; "
              "raise total_steps to train on", (unsigned long long)s->c.env_steps,
              (unsigned long long)s->total_steps);
        return 0;
    }
    s->rep_steps = s->c.env_steps;
    s->rep_updates = s->c.updates;
    int finished = 0;
    while (!*stop && !(finished = s_finished(s, s_now_ms()))) {
        int owed = s_update_owed(s);
        zmq_pollitem_t item = {s->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, owed ? 0 : 5) < 0 && errno != EINTR) {
            LOG_E("learner: poll: %s", zmq_strerror(errno));
            break;
        }
        /* with an update owed, reading messages may take 5% of an update's time at most */
        double budget = owed ? 0.05 * s->upd_ms : 0;
        s_drain(s, budget > 0.25 ? budget : owed ? 0.25 : 0);
        if (s_update_owed(s)) s_update(s);
        double now = s_now_ms();
        s_grant_credits(s, now);
        s_schedule_eval(s);
        s_dispatch_eval(s);
        s_sync_metrics(s);
        /* a due checkpoint waits for owed updates only in sync mode (exact resume); else a
           learner that always owes an update would never write one */
        if (s->c.env_steps >= s->next_ckpt && (!s->cfg.sync || !s_update_owed(s))) {
            s_checkpoint(s);
            s->next_ckpt = s_next_multiple(s->c.env_steps, s->cfg.checkpoint_interval);
        }
        now = s_now_ms();
        s_tick(s, now);
        s_heartbeats(s, now);
        s_report(s, now, 0);
    }
    s_report(s, s_now_ms(), 1);
    s_checkpoint(s);  /* on SIGINT/SIGTERM and at the end: nothing trained on is lost */
    if (finished) {
        s_stop_peers(s, "total_steps reached");
        LOG_I("learner: run complete: %llu env steps; actors and evaluators told to stop",
              (unsigned long long)s->c.env_steps);
    }
    LOG_I("learner: stopped at %llu env steps, %llu updates", (unsigned long long)s->c.env_steps,
          (unsigned long long)s->c.updates);
    return 0;
}
