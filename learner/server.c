#include "server.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "alloc.h"
#include "checkpoint.h"
#include "log.h"
#include "replay.h"
#include "rng.h"
#include "sac.h"
#include "tasks/task.h"

#define MAX_PEERS 1024
#define IDENT_MAX 255
#define REPORT_MS 5000.0
#define DRAIN_MAX 512  /* messages handled between two updates at most */

typedef struct {
    int used;
    uint8_t ident[IDENT_MAX];
    size_t ident_len;
    uint32_t id;
    int evaluator;
    uint32_t num_envs;
    double last_seen;
    uint64_t outstanding;   /* credits granted and not yet used */
    uint64_t next_seq;
    uint64_t steps;
    int eval_busy;          /* evaluator: a request is out */
    uint64_t eval_steps;    /* env steps of the weights it is evaluating */
    uint64_t eval_version;  /* and their version */
} peer_t;

struct server {
    config_t cfg;
    server_counters_t c;
    char endpoint[2][CONFIG_STR_MAX];
    void *zctx, *router, *pub;
    wire_decoder_t *dec;
    uint8_t *buf;           /* send buffer: fits a Welcome with the weights */
    size_t bufcap;

    task_model_t *model;    /* for sizes and bounds only */
    int O, A;
    nn_shape_t shape;
    sac_f *agent;
    replay_t *replay;
    d0_t *d0;
    batch_buf_t *b1, *b2;
    rng_t rng;
    Metasac__TensorLayout layout[6], *layout_p[6];
    char layout_names[6][16];

    peer_t *peers;
    uint32_t next_id;
    uint64_t granted;       /* credits granted in total (minus those taken back) */
    uint64_t total_steps;
    uint64_t next_eval;     /* env steps at which the next evaluation is due */
    uint64_t next_ckpt;     /* env steps at which the next checkpoint is due */
    uint64_t next_metrics;  /* sync mode: env steps of the next metrics line */
    float *eval_snap;       /* weights waiting for an evaluator */
    uint64_t eval_snap_version, eval_snap_steps;
    int eval_pending;

    /* reporting */
    double t_start, t_report, t_heartbeat;
    double t_done;          /* when training finished (waiting for the last evaluation) */
    uint64_t rep_steps, rep_updates, rep_recv;
    uint64_t stale_min, stale_max, stale_n;
    double stale_sum;
    sac_stats_t last;
    FILE *metrics, *evals;
};

static double s_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
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
    /* a wildcard bind is reachable on loopback */
    const char *star = strstr(last, "0.0.0.0");
    if (star)
        snprintf(s->endpoint[which], sizeof s->endpoint[which], "%.*s127.0.0.1%s",
                 (int)(star - last), last, star + 7);
    else
        snprintf(s->endpoint[which], sizeof s->endpoint[which], "%s", last);
    return 0;
}

static int s_open_run_dir(server_t *s, char *err, size_t errlen) {
    const char *dir = s->cfg.run_dir;
    if (!dir[0]) return 0;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create run directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    char path[CONFIG_STR_MAX + 32];
    snprintf(path, sizeof path, "%s/config.ini", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    config_dump(&s->cfg, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/learner.log", dir);
    if (log_set_file(path) != 0) LOG_W("cannot write %s: logging to stderr only", path);
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
    if (!f || fprintf(f, "%s\n%s\n", s->endpoint[0], s->endpoint[1]) < 0 || fclose(f) != 0 ||
        rename(tmp, path) != 0) {
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
    ckpt_t c = s_ckpt(s);
    char err[1024];
    if (checkpoint_save(s->cfg.run_dir, &c, err, sizeof err) < 0)
        LOG_E("learner: checkpoint failed: %s", err);
    else
        LOG_I("learner: checkpoint at %llu env steps, %llu updates (%.0f ms)",
              (unsigned long long)s->c.env_steps, (unsigned long long)s->c.updates,
              s_now_ms() - t0);
}

server_t *server_new(const config_t *cfg, char *err, size_t errlen) {
    server_t *s = rl_calloc(1, sizeof *s);
    s->cfg = *cfg;
    s->c.last_eval_mean = NAN;
    const char *task = config_task_name(cfg->task);
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
    nn_shape_init(&s->shape, s->O, s->A, cfg->hidden);
    sac_opts_t o;
    sac_opts_default(&o, (algo_t)cfg->algo, s->A);
    o.gamma = cfg->gamma;
    o.tau = cfg->tau;
    o.lr_q = cfg->critic_lr;
    o.lr_pi = cfg->policy_lr;
    o.lr_alpha = cfg->alpha_lr;
    o.alpha = cfg->alpha;
    o.target_entropy = config_target_entropy(cfg, s->A);
    o.rms_rho = cfg->rms_rho;
    o.rms_eps = cfg->rms_eps;
    o.meta_clip = cfg->meta_clip;
    o.meta_on_replay = cfg->meta_on_replay;
    o.resample = cfg->resample;
    o.meta_scaled_action = cfg->meta_scaled_action;
    o.critic_two_steps = cfg->critic_two_steps;
    o.td3_noise = cfg->td3_policy_noise;
    o.td3_noise_clip = cfg->td3_noise_clip;
    o.td3_policy_delay = cfg->td3_policy_delay;
    int cap = cfg->batch > cfg->d0_size ? cfg->batch : cfg->d0_size;
    s->agent = sac_new_f(&s->shape, &o, task_model_action_low(s->model),
                         task_model_action_high(s->model), cap, (uint64_t)cfg->seed,
                         RNG_STREAM_LEARNER);
    s->replay = replay_new(s->O, s->A, (size_t)cfg->replay_capacity);
    s->d0 = d0_new(s->O, cfg->d0_size, (d0_mode_t)cfg->d0_mode);
    s->b1 = batch_buf_new(s->O, s->A, cfg->batch);
    s->b2 = batch_buf_new(s->O, s->A, cfg->batch);
    rng_seed(&s->rng, (uint64_t)cfg->seed, RNG_STREAM_LEARNER + 1);
    s->peers = rl_calloc(MAX_PEERS, sizeof(peer_t));
    s->next_id = 1;
    s->total_steps = (uint64_t)config_total_steps(cfg);
    s->next_eval = (uint64_t)cfg->eval_interval;
    s->eval_snap = rl_aligned(sizeof(float) * s->shape.pi_n);

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

    wire_limits_t lim = {.max_msg_bytes = (size_t)cfg->max_msg_bytes,
                         .obs_dim = (uint32_t)s->O, .act_dim = (uint32_t)s->A,
                         .n_params = s->shape.pi_n};
    s->dec = wire_decoder_new(&lim);
    s->zctx = zmq_ctx_new();
    s->router = zmq_socket(s->zctx, ZMQ_ROUTER);
    s->pub = zmq_socket(s->zctx, ZMQ_PUB);
    /* ROUTER: 1000 messages per peer (honest actors hold at most 64 batches of credits) of at
       most 2 max_msg_bytes each bound the inbound queues.
       PUB: ZeroMQ learns that a subscriber has read messages only in batches, so a tiny
       high-water mark drops weights a reader has long consumed; 64 bounds a stuck reader to
       64 weight sets, and actors keep only the newest anyway (ZMQ_CONFLATE) */
    int linger = 500, hwm = 1000, pub_hwm = 64, hb = cfg->heartbeat_ms,
        hbt = cfg->heartbeat_timeout_ms;
    int64_t hard_max = 2 * cfg->max_msg_bytes;  /* beyond this ZeroMQ drops the connection */
    zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &hard_max, sizeof hard_max);
    zmq_setsockopt(s->router, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb);
    zmq_setsockopt(s->router, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof hbt);
    zmq_setsockopt(s->pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s->pub, ZMQ_SNDHWM, &pub_hwm, sizeof pub_hwm);
    if (s_bind(s, s->router, cfg->learner_bind, 0, err, errlen) < 0 ||
        s_bind(s, s->pub, cfg->weights_bind, 1, err, errlen) < 0 ||
        s_open_run_dir(s, err, errlen) < 0) {
        server_destroy(&s);
        return NULL;
    }
    if (s->cfg.run_dir[0] && s_resume(s, err, errlen) < 0) {
        server_destroy(&s);
        return NULL;
    }
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
    if (s->zctx) zmq_ctx_term(s->zctx);
    wire_decoder_destroy(&s->dec);
    sac_destroy_f(&s->agent);
    replay_destroy(&s->replay);
    d0_destroy(&s->d0);
    batch_buf_destroy(&s->b1);
    batch_buf_destroy(&s->b2);
    task_model_destroy(&s->model);
    if (s->metrics) fclose(s->metrics);
    if (s->evals) fclose(s->evals);
    if (s->cfg.run_dir[0]) log_set_file(NULL);
    free(s->peers);
    free(s->eval_snap);
    free(s->buf);
    free(s);
    *self_p = NULL;
}

const char *server_endpoint(const server_t *s, int which) { return s->endpoint[which != 0]; }

const server_counters_t *server_counters(const server_t *s) { return &s->c; }

const float *server_policy(const server_t *s, size_t *n) {
    *n = s->shape.pi_n;
    return s->agent->phi;
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

static void s_grant(server_t *s, peer_t *p, uint64_t steps, uint64_t version) {
    /* the first random_steps of the run take uniform random actions */
    uint64_t random_left = (uint64_t)s->cfg.random_steps > s->granted
                               ? (uint64_t)s->cfg.random_steps - s->granted : 0;
    uint64_t parts[2] = {steps < random_left ? steps : random_left, 0};
    parts[1] = steps - parts[0];
    for (int k = 0; k < 2; k++) {
        if (!parts[k]) continue;
        Metasac__Credits c = METASAC__CREDITS__INIT;
        c.steps = parts[k];
        c.random_actions = k == 0;
        c.act_with_version = version;
        s_send_to(s, p, wire_encode_credits(&c, s->buf, s->bufcap));
    }
    p->outstanding += steps;
    s->granted += steps;
}

/* Replay ratio r > 0: env steps may run ahead of update_after + updates / r by one window
 * (send_batch steps per actor) at most, so updates/steps stays within window/steps of r, and
 * each actor holds at most two batches of credits. Unthrottled (r = 0): each actor may hold up
 * to UNTHROTTLED_BATCHES batches, which bounds what can queue up at the learner. */
#define UNTHROTTLED_BATCHES 64
static void s_grant_credits(server_t *s) {
    if (s->cfg.sync) {  /* one step at a time, with exactly the current weights */
        if (s->granted != s->c.env_steps || s->c.env_steps >= s->total_steps ||
            s_update_owed(s))
            return;
        for (int i = 0; i < MAX_PEERS; i++) {
            peer_t *p = &s->peers[i];
            if (!p->used || p->evaluator) continue;
            /* the weights go on the same reliable, ordered pipe as the credit (PUB may drop) */
            Metasac__PolicyWeights w = s_weights(s, s->agent->phi, s->c.updates);
            s_send_to(s, p, wire_encode_weights(&w, s->buf, s->bufcap));
            s_grant(s, p, 1, s->c.updates);
            return;
        }
        return;
    }
    const uint64_t chunk = (uint64_t)s->cfg.send_batch;
    const uint64_t hold = (s->cfg.replay_ratio > 0 ? 2 : UNTHROTTLED_BATCHES) * chunk;
    uint64_t budget = UINT64_MAX;
    if (s->cfg.replay_ratio > 0) {
        uint64_t allowed = s_update_after(s) +
                           (uint64_t)floor((double)s->c.updates / s->cfg.replay_ratio) +
                           chunk * (uint64_t)(s->c.actors > 0 ? s->c.actors : 1);
        budget = allowed > s->granted ? allowed - s->granted : 0;
    }
    if (s->granted >= s->total_steps) return;
    uint64_t left = s->total_steps - s->granted;
    if (budget > left) budget = left;
    for (int i = 0; i < MAX_PEERS && budget > 0; i++) {
        peer_t *p = &s->peers[i];
        if (!p->used || p->evaluator || p->outstanding > hold - chunk) continue;
        uint64_t g = hold - p->outstanding;
        if (g > budget) g = budget;
        s_grant(s, p, g, 0);
        budget -= g;
    }
}

/* ---- receiving ------------------------------------------------------------------------- */

static peer_t *s_find_peer(server_t *s, const uint8_t *ident, size_t len) {
    for (int i = 0; i < MAX_PEERS; i++) {
        peer_t *p = &s->peers[i];
        if (p->used && p->ident_len == len && memcmp(p->ident, ident, len) == 0) return p;
    }
    return NULL;
}

static void s_drop_peer(server_t *s, peer_t *p, const char *why) {
    LOG_W("learner: %s %u %s; %llu unused credits taken back", p->evaluator ? "evaluator" : "actor",
          p->id, why, (unsigned long long)p->outstanding);
    s->granted -= p->outstanding;
    if (p->evaluator) {
        s->c.evaluators--;
        if (p->eval_busy) s->eval_pending = 1;  /* hand the snapshot to someone else */
    } else {
        s->c.actors--;
    }
    memset(p, 0, sizeof *p);
}

static void s_hello(server_t *s, const uint8_t *ident, size_t ident_len,
                    const Metasac__Hello *h) {
    peer_t *p = s_find_peer(s, ident, ident_len);
    if (p) s_drop_peer(s, p, "said hello again");
    uint32_t want = h->actor_id_request_case ? h->requested_actor_id : 0;
    for (int i = 0; want && i < MAX_PEERS; i++)
        if (s->peers[i].used && s->peers[i].id == want) want = 0;  /* taken */
    for (int i = 0; i < MAX_PEERS && !p; i++)
        if (!s->peers[i].used) p = &s->peers[i];
    if (!p) {
        LOG_W("learner: refusing a new peer: %d peers connected", MAX_PEERS);
        return;
    }
    p->used = 1;
    memcpy(p->ident, ident, ident_len);
    p->ident_len = ident_len;
    p->id = want ? want : s->next_id++;
    if (p->id >= s->next_id) s->next_id = p->id + 1;
    p->evaluator = h->role == METASAC__ROLE__ROLE_EVALUATOR;
    p->num_envs = h->num_envs;
    p->last_seen = s_now_ms();
    if (p->evaluator) s->c.evaluators++;
    else s->c.actors++;
    s->c.hellos++;

    Metasac__Welcome w = METASAC__WELCOME__INIT;
    Metasac__PolicyWeights pw = s_weights(s, s->agent->phi, s->c.updates);
    w.task = (char *)config_task_name(s->cfg.task);
    w.obs_dim = (uint32_t)s->O;
    w.act_dim = (uint32_t)s->A;
    w.n_action_low = w.n_action_high = (size_t)s->A;
    w.action_low = (float *)task_model_action_low(s->model);
    w.action_high = (float *)task_model_action_high(s->model);
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
    s_send_to(s, p, wire_encode_welcome(&w, s->buf, s->bufcap));
    LOG_I("learner: %s %u joined (%u envs); %d actors, %d evaluators",
          p->evaluator ? "evaluator" : "actor", p->id, p->num_envs, s->c.actors, s->c.evaluators);
}

static void s_transitions(server_t *s, peer_t *p, const Metasac__TransitionBatch *t) {
    if (p->evaluator || t->actor_id != p->id) {
        s->c.wrong_id++;
        LOG_W("learner: rejected transitions from peer %u claiming actor id %u", p->id, t->actor_id);
        return;
    }
    if (t->n > p->outstanding) {
        s->c.over_credit++;
        LOG_W("learner: rejected %u transitions from actor %u holding %llu credits", t->n, p->id,
              (unsigned long long)p->outstanding);
        return;
    }
    if (t->seq != p->next_seq)
        LOG_D("learner: actor %u batch %llu after %llu", p->id, (unsigned long long)t->seq,
              (unsigned long long)p->next_seq);
    p->next_seq = t->seq + 1;
    const size_t O = (size_t)s->O, A = (size_t)s->A;
    for (uint32_t i = 0; i < t->n; i++)
        replay_insert(s->replay, t->obs + i * O, t->act + i * A, t->rew[i], t->next_obs + i * O,
                      t->terminated[i]);
    p->outstanding -= t->n;
    p->steps += t->n;
    s->c.env_steps += t->n;
    s->rep_recv += t->n;
    uint64_t stale = s->c.updates > t->weight_version ? s->c.updates - t->weight_version : 0;
    if (s->stale_n == 0 || stale < s->stale_min) s->stale_min = stale;
    if (stale > s->stale_max) s->stale_max = stale;
    s->stale_sum += (double)stale;
    s->stale_n++;
}

static void s_eval_result(server_t *s, peer_t *p, const Metasac__EvalResult *r) {
    if (!p->evaluator || !p->eval_busy || r->weight_version != p->eval_version) {
        s->c.wrong_id++;
        LOG_W("learner: unexpected eval result from peer %u (weights v%llu)", p->id,
              (unsigned long long)r->weight_version);
        return;
    }
    p->eval_busy = 0;
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

static void s_reject(server_t *s, const peer_t *p, int code) {
    s->c.rejected[-code]++;
    LOG_W("learner: rejected a message from %s %u: %s (%s)", p ? "actor" : "unknown peer",
          p ? p->id : 0, wire_strerror(code), wire_decoder_detail(s->dec));
}

static void s_handle(server_t *s, zmq_msg_t *id, zmq_msg_t *body) {
    const uint8_t *ident = zmq_msg_data(id);
    size_t ident_len = zmq_msg_size(id);
    peer_t *p = ident_len <= IDENT_MAX ? s_find_peer(s, ident, ident_len) : NULL;
    const Metasac__Envelope *env;
    int rc = wire_decode(s->dec, zmq_msg_data(body), zmq_msg_size(body), &env);
    if (rc != WIRE_OK) {
        s_reject(s, p, rc);
        return;
    }
    if (env->body_case == METASAC__ENVELOPE__BODY_HELLO) {
        if (ident_len <= IDENT_MAX) s_hello(s, ident, ident_len, env->hello);
        return;
    }
    if (!p) {
        s->c.unknown_peer++;
        LOG_W("learner: rejected a %s message from a peer that never said hello",
              wire_body_name(env->body_case));
        return;
    }
    p->last_seen = s_now_ms();
    switch (env->body_case) {
    case METASAC__ENVELOPE__BODY_TRANSITIONS:
        s_transitions(s, p, env->transitions);
        break;
    case METASAC__ENVELOPE__BODY_RESET_STATES:
        if (env->reset_states->actor_id != p->id) {
            s->c.wrong_id++;
            break;
        }
        for (uint32_t i = 0; i < env->reset_states->n; i++)
            d0_offer(s->d0, env->reset_states->obs + (size_t)i * s->O, &s->rng);
        s->c.resets += env->reset_states->n;
        break;
    case METASAC__ENVELOPE__BODY_EVAL_RESULT:
        s_eval_result(s, p, env->eval_result);
        break;
    case METASAC__ENVELOPE__BODY_HEARTBEAT:
    case METASAC__ENVELOPE__BODY_STATS:
        break;
    default:
        s->c.rejected[-WIRE_ERR_UNKNOWN_TYPE]++;
        LOG_W("learner: actor %u sent a %s message, which actors do not send", p->id,
              wire_body_name(env->body_case));
    }
}

/* Drains up to DRAIN_MAX messages without blocking; returns how many. */
static int s_drain(server_t *s) {
    zmq_msg_t id, body;
    int n = 0;
    for (; n < DRAIN_MAX; n++) {
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, s->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            break;
        }
        zmq_msg_init(&body);
        int ok = zmq_msg_more(&id) && zmq_msg_recv(&body, s->router, 0) >= 0;
        int extra = 0;
        while (ok && zmq_msg_more(&body)) {  /* a frame too many: drain and reject */
            zmq_msg_t junk;
            zmq_msg_init(&junk);
            zmq_msg_recv(&junk, s->router, 0);
            zmq_msg_close(&junk);
            extra = 1;
        }
        if (!ok || extra) {
            s->c.bad_frames++;
            LOG_W("learner: rejected a malformed multipart message");
        } else {
            s_handle(s, &id, &body);
        }
        zmq_msg_close(&body);
        zmq_msg_close(&id);
    }
    return n;
}

/* ---- the loop -------------------------------------------------------------------------- */

static void s_update(server_t *s) {
    const int B = s->cfg.batch;
    batch_f b1 = replay_sample(s->replay, &s->rng, B, s->b1);
    batch_f b2 = s->cfg.algo == ALGO_META_SAC && s->cfg.resample
                     ? replay_sample(s->replay, &s->rng, B, s->b2) : b1;
    sac_update_f(s->agent, &b1, &b2, s->d0->obs, s->d0->size, &s->last);
    s->c.updates++;
    s->c.log_alpha = s->last.log_alpha;
    if (s->cfg.sync || s->c.updates % (uint64_t)s->cfg.broadcast_interval == 0) s_publish(s);
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
    for (int i = 0; i < MAX_PEERS; i++) {
        peer_t *p = &s->peers[i];
        if (!p->used || !p->evaluator || p->eval_busy) continue;
        Metasac__EvalRequest r = METASAC__EVAL_REQUEST__INIT;
        r.weight_version = s->eval_snap_version;
        r.episodes = (uint32_t)s->cfg.eval_episodes;
        s_send_to(s, p, wire_encode_eval_request(&r, s->buf, s->bufcap));
        Metasac__PolicyWeights w = s_weights(s, s->eval_snap, s->eval_snap_version);
        s_send_to(s, p, wire_encode_weights(&w, s->buf, s->bufcap));
        p->eval_busy = 1;
        p->eval_steps = s->eval_snap_steps;
        p->eval_version = s->eval_snap_version;
        s->eval_pending = 0;
        return;
    }
}

static void s_heartbeats(server_t *s, double now) {
    if (now - s->t_heartbeat < s->cfg.heartbeat_ms) return;
    s->t_heartbeat = now;
    for (int i = 0; i < MAX_PEERS; i++) {
        peer_t *p = &s->peers[i];
        if (!p->used) continue;
        if (now - p->last_seen > s->cfg.heartbeat_timeout_ms) {
            s->c.peers_expired++;
            s_drop_peer(s, p, "went silent");
            continue;
        }
        Metasac__Heartbeat h = METASAC__HEARTBEAT__INIT;
        h.weight_version = s->c.updates;
        h.time_us = (uint64_t)(now * 1e3);
        s_send_to(s, p, wire_encode_heartbeat(&h, s->buf, s->bufcap));
    }
}

static void s_report(server_t *s, double now, int force) {
    double dt = (now - s->t_report) / 1e3;
    if (!force && dt * 1e3 < REPORT_MS) return;
    if (dt <= 0) dt = 1e-3;
    double sps = (double)(s->c.env_steps - s->rep_steps) / dt;
    double ups = (double)(s->c.updates - s->rep_updates) / dt;
    double rps = (double)s->rep_recv / dt;
    double savg = s->stale_n ? s->stale_sum / (double)s->stale_n : 0;
    s->c.replay_size = s->replay->size;
    s->c.d0_size = (uint64_t)s->d0->size;
    uint64_t rejected = s->c.unknown_peer + s->c.wrong_id + s->c.over_credit + s->c.bad_frames;
    for (int k = 1; k < WIRE_ERR_COUNT; k++) rejected += s->c.rejected[k];
    LOG_I("steps %llu | env %.0f/s | upd %.0f/s | recv %.0f/s | actors %d | replay %zu (D0 %d) | "
          "stale %llu/%.1f/%llu | alpha %.4g | eval %.1f @%llu | rejected %llu",
          (unsigned long long)s->c.env_steps, sps, ups, rps, s->c.actors, s->replay->size,
          s->d0->size, (unsigned long long)s->stale_min, savg, (unsigned long long)s->stale_max,
          exp(s->c.log_alpha), s->c.last_eval_mean, (unsigned long long)s->c.last_eval_steps,
          (unsigned long long)rejected);
    if (s->metrics && !s->cfg.sync) {
        fprintf(s->metrics,
                "{\"time\":%.3f,\"env_steps\":%llu,\"updates\":%llu,\"env_sps\":%.2f,"
                "\"updates_ps\":%.2f,\"recv_tps\":%.2f,\"actors\":%d,\"replay\":%zu,"
                "\"stale_min\":%llu,\"stale_avg\":%.3f,\"stale_max\":%llu,\"alpha\":%.6g,"
                "\"log_alpha\":%.6g,\"q_loss\":%.6g,\"pi_loss\":%.6g,\"entropy\":%.6g,"
                "\"meta_grad\":%.6g,\"rejected\":%llu}\n",
                (now - s->t_start) / 1e3, (unsigned long long)s->c.env_steps,
                (unsigned long long)s->c.updates, sps, ups, rps, s->c.actors, s->replay->size,
                (unsigned long long)s->stale_min, savg, (unsigned long long)s->stale_max,
                exp(s->c.log_alpha), s->c.log_alpha, s->last.q_loss, s->last.pi_loss,
                s->last.entropy, s->last.meta_grad, (unsigned long long)rejected);
        fflush(s->metrics);
    }
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
    fprintf(s->metrics,
            "{\"env_steps\":%llu,\"updates\":%llu,\"alpha\":%.9g,\"log_alpha\":%.9g,"
            "\"q_loss\":%.9g,\"pi_loss\":%.9g,\"entropy\":%.9g,\"meta_grad\":%.9g,"
            "\"replay\":%zu,\"d0\":%d}\n",
            (unsigned long long)s->c.env_steps, (unsigned long long)s->c.updates,
            exp(s->c.log_alpha), s->c.log_alpha, s->last.q_loss, s->last.pi_loss, s->last.entropy,
            s->last.meta_grad, s->replay->size, s->d0->size);
    fflush(s->metrics);
    s->next_metrics = s_next_multiple(s->c.env_steps, 1000);
}

/* An evaluation is requested but not reported yet (and someone can report it). */
static int s_eval_outstanding(const server_t *s) {
    if (s->c.evaluators == 0) return 0;
    if (s->eval_pending) return 1;
    for (int i = 0; i < MAX_PEERS; i++)
        if (s->peers[i].used && s->peers[i].eval_busy) return 1;
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

int server_run(server_t *s, volatile sig_atomic_t *stop) {
    s->t_start = s->t_report = s->t_heartbeat = s_now_ms();
    s->rep_steps = s->c.env_steps;
    s->rep_updates = s->c.updates;
    while (!*stop && !s_finished(s, s_now_ms())) {
        int owed = s_update_owed(s);
        zmq_pollitem_t item = {s->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, owed ? 0 : 5) < 0 && errno != EINTR) {
            LOG_E("learner: poll: %s", zmq_strerror(errno));
            break;
        }
        s_drain(s);
        if (s_update_owed(s)) s_update(s);
        s_grant_credits(s);
        s_schedule_eval(s);
        s_dispatch_eval(s);
        s_sync_metrics(s);
        if (s->c.env_steps >= s->next_ckpt && !s_update_owed(s)) {
            s_checkpoint(s);
            s->next_ckpt = s_next_multiple(s->c.env_steps, s->cfg.checkpoint_interval);
        }
        double now = s_now_ms();
        s_heartbeats(s, now);
        s_report(s, now, 0);
    }
    s_report(s, s_now_ms(), 1);
    s_checkpoint(s);  /* on SIGINT/SIGTERM and at the end: nothing trained on is lost */
    LOG_I("learner: stopped at %llu env steps, %llu updates", (unsigned long long)s->c.env_steps,
          (unsigned long long)s->c.updates);
    return 0;
}
