/* The wiring from the config to the update, which no other test covers: every other test of the
 * learning core builds its sac_opts_t by hand, with 3e-4 for all three learning rates.
 *
 * 1. server_new turns a config_t into the agent's sac_opts_t: every field is checked against
 *    the config, for two configs whose values differ from sac_opts_default's and from each
 *    other (so a dropped, swapped or constant assignment fails: e.g. lr_pi from alpha_lr).
 * 2. The server gives the update D0, not the replay batch: a real learner (server_run) and a
 *    real actor run until the learner has done exactly one Meta-SAC update; the agent must then
 *    be in the state that sac_update_f reaches when called directly, from a fresh agent with the
 *    same seed and the options the config asks for, on the same batches and D0. The same call
 *    with the replay batch's states in place of D0 must give a recognisably different
 *    metagradient (so the check can tell the two apart). */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "actor.h"
#include "config.h"
#include "log.h"
#include "rng.h"
#include "sac.h"
#include "server.h"
#include "harness.h"
#include "tasks/task.h"


static void s_config(config_t *cfg, int algo) {
    config_defaults(cfg);
    cfg->task = TASK_HOPPER;
    cfg->algo = algo;
    cfg->hidden = 16;
    cfg->eval_interval = 0;
    cfg->run_dir[0] = 0;
    cfg->metrics_port = 0;
    snprintf(cfg->learner_bind, sizeof cfg->learner_bind, "tcp://127.0.0.1:*");
    snprintf(cfg->weights_bind, sizeof cfg->weights_bind, "tcp://127.0.0.1:*");
}

/* Unusual values for every key that reaches sac_opts_t, all different from each other and from
 * sac_opts_default's (which server_new starts from). v selects one of two such sets; the
 * booleans take both values across the two. */
static void s_unusual(config_t *cfg, int v) {
    cfg->critic_lr = v ? 2.5e-4 : 7e-4;
    cfg->policy_lr = v ? 1.3e-3 : 1.1e-4;
    cfg->alpha_lr = v ? 4.5e-3 : 2.2e-3;
    cfg->gamma = v ? 0.97 : 0.95;
    cfg->tau = v ? 0.011 : 0.02;
    cfg->alpha = v ? 0.137 : 0.061;
    cfg->target_entropy = v ? -1.25 : -0.75;
    cfg->rms_rho = v ? 0.93 : 0.95;
    cfg->rms_eps = v ? 3e-10 : 7e-11;
    cfg->meta_clip = v ? 0.021 : 0.33;
    cfg->meta_on_replay = v;
    cfg->resample = !v;
    cfg->meta_scaled_action = !v;
    cfg->critic_two_steps = v;
    cfg->td3_policy_noise = v ? 0.31 : 0.15;
    cfg->td3_noise_clip = v ? 0.41 : 0.65;
    cfg->td3_policy_delay = v ? 3 : 4;
}

/* The sac_opts_t the config asks for: sac_opts_default for the algorithm and action size, then
 * every config key that has a counterpart. */
static sac_opts_t s_expected(const config_t *cfg, int act_dim) {
    sac_opts_t o;
    sac_opts_default(&o, (algo_t)cfg->algo, act_dim);
    o.gamma = cfg->gamma;
    o.tau = cfg->tau;
    o.lr_q = cfg->critic_lr;
    o.lr_pi = cfg->policy_lr;
    o.lr_alpha = cfg->alpha_lr;
    o.alpha = cfg->alpha;
    o.target_entropy = cfg->target_entropy;
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
    return o;
}

#define FIELDS(X)                                                                           \
    X(gamma, "%g") X(tau, "%g") X(lr_q, "%g") X(lr_pi, "%g") X(lr_alpha, "%g") X(alpha, "%g") \
    X(log_alpha_init, "%g") X(target_entropy, "%g") X(adam_beta1, "%g") X(adam_beta2, "%g")   \
    X(adam_eps, "%g") X(rms_rho, "%g") X(rms_eps, "%g") X(meta_clip, "%g")                    \
    X(meta_on_replay, "%d") X(resample, "%d") X(meta_scaled_action, "%d")                     \
    X(critic_two_steps, "%d") X(td3_noise, "%g") X(td3_noise_clip, "%g")                      \
    X(td3_policy_delay, "%d")

/* got == want field by field (exactly: server_new copies, it computes nothing). */
static void s_expect_opts(const sac_opts_t *got, const sac_opts_t *want, const char *what) {
    cr_expect(got->algo == want->algo, "%s: algo %d, config %d", what, got->algo, want->algo);
#define X(f, fmt) cr_expect(got->f == want->f, "%s: " #f " " fmt ", config asks for " fmt, what, \
                            got->f, want->f);
    FIELDS(X)
#undef X
}

/* Every configurable field of want differs from sac_opts_default's (so a dropped assignment
 * shows; the booleans in value set 1, they take the other value in set 0), and the three
 * learning rates differ from each other (so a swapped one shows). */
static void s_check_unusual(const sac_opts_t *want, int act_dim, int v) {
    sac_opts_t d;
    sac_opts_default(&d, want->algo, act_dim);
    static const char *const fixed[] = {"log_alpha_init", "adam_beta1", "adam_beta2", "adam_eps"};
    static const char *const flags[] = {"meta_on_replay", "resample", "meta_scaled_action",
                                        "critic_two_steps"};
#define X(f, fmt)                                                                           \
    {                                                                                       \
        int skip = 0;                                                                       \
        for (int i = 0; i < 4; i++)                                                         \
            skip |= !strcmp(#f, fixed[i]) || (!v && !strcmp(#f, flags[i]));                \
        cr_assert(skip || want->f != d.f, "test values: " #f " is sac_opts_default's");     \
    }
    FIELDS(X)
#undef X
    cr_assert(want->lr_q != want->lr_pi && want->lr_pi != want->lr_alpha &&
              want->lr_q != want->lr_alpha);
}

Test(wiring, every_config_key_reaches_the_agents_options, .init = harness_quiet, .timeout = 60) {
    const int algos[] = {ALGO_META_SAC, ALGO_SAC_V2, ALGO_TD3, ALGO_SAC_V1};
    for (int v = 0; v < 2; v++)
        for (int k = 0; k < 4; k++) {
            config_t cfg;
            s_config(&cfg, algos[k]);
            s_unusual(&cfg, v);
            char err[256], what[64];
            server_t *s = server_new(&cfg, err, sizeof err);
            cr_assert(s, "server_new: %s", err);
            const sac_f *a = server_agent(s);
            sac_opts_t want = s_expected(&cfg, a->shape.act_dim);
            s_check_unusual(&want, a->shape.act_dim, v);
            snprintf(what, sizeof what, "%s, value set %d", algo_name((algo_t)algos[k]), v);
            s_expect_opts(&a->opt, &want, what);
            server_destroy(&s);
        }
}

/* ---- D0 reaches the update ---------------------------------------------------------------- */


/* Largest |x - y| over n floats, relative to 1 + |y|. */
static double s_maxdiff(const float *x, const float *y, size_t n) {
    double m = 0;
    for (size_t k = 0; k < n; k++) {
        double d = fabs((double)x[k] - y[k]) / (1 + fabs((double)y[k]));
        if (d > m) m = d;
    }
    return m;
}

/* A fresh agent as server_new builds it (same seed and stream), with the options the config
 * asks for, after one sac_update_f on b1/b2 with the meta states d0 (nd0 rows). */
static sac_f *s_direct(const config_t *cfg, const sac_f *like, const batch_f *b1,
                       const batch_f *b2, const float *d0, int nd0, sac_stats_t *st) {
    task_model_t *tm = task_model_new(config_task_name(cfg->task));
    cr_assert(tm);
    sac_opts_t o = s_expected(cfg, like->shape.act_dim);
    sac_f *a = sac_new_f(&like->shape, &o, task_model_action_low(tm), task_model_action_high(tm),
                         like->cap, (uint64_t)cfg->seed, RNG_STREAM_LEARNER);
    task_model_destroy(&tm);
    sac_update_f(a, b1, b2, d0, nd0, st);
    return a;
}

Test(wiring, the_server_gives_the_update_d0_not_the_replay_batch, .init = harness_quiet,
     .timeout = 120) {
    config_t cfg;
    s_config(&cfg, ALGO_META_SAC);
    s_unusual(&cfg, 0);  /* meta_on_replay 0 (D0 is used), resample 1, distinct rates */
    cfg.batch = 16;
    cfg.d0_size = 8;
    cfg.d0_mode = D0_FIXED;  /* D0 stays what the update saw */
    cfg.total_steps = 48;
    cfg.update_after = 47;   /* exactly one update, after the last env step */
    cfg.replay_ratio = 1;
    cfg.random_steps = 48;
    cfg.send_batch = 8;
    cfg.heartbeat_ms = 100;
    cfg.heartbeat_timeout_ms = 5000;
    learner_h l = {0};
    char err[256];
    l.s = server_new(&cfg, err, sizeof err);
    cr_assert(l.s, "server_new: %s", err);
    pthread_create(&l.th, NULL, harness_learner_main, &l);
    actor_h a;
    actor_opts_default(&a.o);
    snprintf(a.o.learner, sizeof a.o.learner, "%s", server_endpoint(l.s, 0));
    snprintf(a.o.weights, sizeof a.o.weights, "%s", server_endpoint(l.s, 1));
    memset(&a.c, 0, sizeof a.c);
    a.o.heartbeat_ms = 100;
    a.o.timeout_ms = 5000;
    a.stop = 0;
    pthread_create(&a.th, NULL, harness_actor_main, &a);
    pthread_join(l.th, NULL);  /* server_run returns at total_steps, every step trained on */
    a.stop = 1;
    pthread_join(a.th, NULL);

    const server_counters_t *c = server_counters(l.s);
    cr_assert(c->updates == 1, "the learner did %llu updates, the test needs exactly 1",
              (unsigned long long)c->updates);
    batch_f b1, b2;
    int nd0;
    sac_stats_t st;
    const float *d0 = server_last_update(l.s, &b1, &b2, &nd0, &st);
    cr_assert(nd0 == cfg.d0_size, "D0 holds %d states, the test needs it full (%d)", nd0,
              cfg.d0_size);
    cr_assert(b1.n == cfg.batch && b2.n == cfg.batch);
    const sac_f *got = server_agent(l.s);
    /* resample: the real updates get a batch of their own, not B1 again */
    cr_expect(b2.obs != b1.obs &&
                  memcmp(b2.obs, b1.obs, sizeof(float) * (size_t)b1.n * got->shape.obs_dim),
              "resample is on but the update was given B1 as B2");

    /* what the update must have done: the direct call with D0 */
    sac_stats_t st_d0, st_b1, st_b1n;
    sac_f *want = s_direct(&cfg, got, &b1, &b2, d0, nd0, &st_d0);
    /* what it would have done with the replay batch's states as D0 (all of them, or nd0) */
    sac_f *wrong = s_direct(&cfg, got, &b1, &b2, b1.obs, b1.n, &st_b1);
    sac_f *wrong_n = s_direct(&cfg, got, &b1, &b2, b1.obs, nd0, &st_b1n);
    cr_log_info("G with D0 %.9g, with B1's states %.9g / %.9g; the server's %.9g", st_d0.meta_grad,
                st_b1.meta_grad, st_b1n.meta_grad, st.meta_grad);
    /* the check can tell D0 from the replay states */
    cr_assert(st_d0.meta_grad != 0, "a metagradient to compare");
    double sep = fmin(fabs(st_b1.meta_grad - st_d0.meta_grad),
                      fabs(st_b1n.meta_grad - st_d0.meta_grad));
    cr_assert(sep > 1e-3 * fabs(st_d0.meta_grad),
              "D0 and the replay states give nearly the same G (%.9g, %.9g, %.9g): pick other data",
              st_d0.meta_grad, st_b1.meta_grad, st_b1n.meta_grad);
    /* the server's update is the direct one with D0 */
    cr_expect(fabs(st.meta_grad - st_d0.meta_grad) <= 1e-5 * fabs(st_d0.meta_grad),
              "the server's metagradient %.9g is not the one on D0 (%.9g); on B1's states it "
              "would be %.9g (all rows) or %.9g (|D0| rows)",
              st.meta_grad, st_d0.meta_grad, st_b1.meta_grad, st_b1n.meta_grad);
    cr_expect(fabs(st.meta_loss - st_d0.meta_loss) <= 1e-5 * (1 + fabs(st_d0.meta_loss)),
              "the server's meta loss %.9g, on D0 %.9g", st.meta_loss, st_d0.meta_loss);
    double dstate = s_maxdiff(got->state, want->state, got->state_n);
    cr_expect(dstate <= 1e-6, "the server's agent differs from the direct update on D0 by %.3g",
              dstate);
    cr_expect(got->t_q == want->t_q && got->t_pi == want->t_pi && got->t_alpha == want->t_alpha,
              "optimizer step counts: server %ld %ld %ld, direct %ld %ld %ld", got->t_q,
              got->t_pi, got->t_alpha, want->t_q, want->t_pi, want->t_alpha);
    sac_destroy_f(&want);
    sac_destroy_f(&wrong);
    sac_destroy_f(&wrong_n);
    server_destroy(&l.s);
}
