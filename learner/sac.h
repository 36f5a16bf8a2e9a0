/* The learner's updates as pure functions with no I/O: SAC-v1 (fixed alpha), SAC-v2 (learned
 * alpha with a target entropy), Meta-SAC (alpha tuned by a metagradient through one virtual
 * RMSProp step, meta loss on D0) and TD3. docs/ALGORITHM.md is the specification; the order of
 * operations here follows it step by step ("section N" and "step N" in learner/sac*.h are its
 * numbers).
 *
 * Like common/nn.h, everything exists in float (_f, what the learner runs) and double (_d, what
 * the finite-difference tests run), built from learner/sac_impl.h. */
#ifndef METASAC_SAC_H
#define METASAC_SAC_H

#include <stdint.h>

#include "config.h"
#include "nn.h"
#include "team.h"

/* The algorithms: ALGO_SAC_V1, ALGO_SAC_V2, ALGO_META_SAC, ALGO_TD3 (the config's enum). */
typedef config_algo_t algo_t;

/* Returns "sac_v1", "sac_v2", "meta_sac", "td3"; algo_parse returns -1 on an unknown name. */
const char *algo_name(algo_t a);
int algo_parse(const char *name, algo_t *out);

typedef struct {
    algo_t algo;
    double gamma;              /* discount, 0.99 */
    double tau;                /* Polyak rate of the target critics, 0.005 */
    double lr_q, lr_pi, lr_alpha;  /* learning rates, 3e-4 each */
    double alpha;              /* SAC-v1 fixed temperature, 0.2 (0.05 for Humanoid) */
    double log_alpha_init;     /* SAC-v2 and Meta-SAC: initial log alpha, 0 */
    double target_entropy;     /* SAC-v2: -dim(A) */
    double adam_beta1, adam_beta2, adam_eps;  /* 0.9, 0.999, 1e-8 */
    double rms_rho, rms_eps;   /* Meta-SAC policy RMSProp: 0.99, 1e-12 inside the sqrt */
    double meta_clip;          /* |dL_meta/dlog alpha| clip, 0.05 */
    int meta_on_replay;        /* ablation D.1: meta loss on B1's states instead of D0 */
    int resample;              /* 1 = real updates on a fresh batch B2; 0 = ablation D.2 */
    int meta_scaled_action;    /* 1 = meta loss uses c tanh(mu) + b; 0 = the reference's tanh(mu) */
    int critic_two_steps;      /* [choice] 1 = the reference's two Adam steps (Q1 loss, Q2 loss) */
    double td3_noise, td3_noise_clip;  /* TD3 target smoothing: 0.2, 0.5 (times max action) */
    int td3_policy_delay;      /* TD3: actor and target updates every 2 critic updates */
} sac_opts_t;

/* The paper's defaults for algo and an action dimension act_dim. */
void sac_opts_default(sac_opts_t *o, algo_t algo, int act_dim);
/* The options of a run's configuration (what the learner and metasac-export build from). */
void sac_opts_from_config(sac_opts_t *o, const config_t *cfg, int act_dim);

/* Floating-point operations of the matrix products of one update (batch rows, nd0 meta states;
 * TD3: the mean over its default actor delay of 2),
 * 2 per multiply-add: what the benchmark divides by the time to report GFLOP/s. */
double sac_update_flops(const nn_shape_t *s, algo_t algo, int batch, int nd0);

/* What one update measured; every field is meaningful only for the algorithms that have it. */
typedef struct {
    double q_loss;      /* critic loss before the critic step */
    double pi_loss;     /* policy loss before the policy step */
    double alpha_loss;  /* SAC-v2 */
    double meta_loss;   /* Meta-SAC: L_meta at the virtually updated policy */
    double meta_grad;   /* Meta-SAC: dL_meta/dlog alpha before clipping */
    int meta_clipped;   /* Meta-SAC: 1 when the clip was applied */
    double alpha, log_alpha;  /* after the update */
    double entropy;     /* -mean log pi of the policy-loss batch */
    double q_mean;      /* mean Q1 of the critic batch */
} sac_stats_t;

#define REAL float
#define NN(name) name##_f
#include "sac_decl.h"
#undef REAL
#undef NN
#define REAL double
#define NN(name) name##_d
#include "sac_decl.h"
#undef REAL
#undef NN

#endif
