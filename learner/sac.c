#include "sac.h"

#include <string.h>

static const char *s_names[] = {"sac_v1", "sac_v2", "meta_sac", "td3"};

const char *algo_name(algo_t a) { return (unsigned)a < 4 ? s_names[a] : "?"; }

int algo_parse(const char *name, algo_t *out) {
    for (int i = 0; i < 4; i++)
        if (strcmp(name, s_names[i]) == 0) { *out = (algo_t)i; return 0; }
    return -1;
}

void sac_opts_default(sac_opts_t *o, algo_t algo, int act_dim) {
    memset(o, 0, sizeof *o);
    o->algo = algo;
    o->gamma = 0.99;
    o->tau = 0.005;
    o->lr_q = o->lr_pi = o->lr_alpha = 3e-4;
    o->alpha = 0.2;
    o->log_alpha_init = 0.0;
    o->target_entropy = -(double)act_dim;
    o->adam_beta1 = 0.9;
    o->adam_beta2 = 0.999;
    o->adam_eps = 1e-8;
    o->rms_rho = 0.99;
    o->rms_eps = 1e-12;
    o->meta_clip = 0.05;
    o->meta_on_replay = 0;
    o->resample = 1;
    o->meta_scaled_action = 1;
    o->critic_two_steps = 0;
    o->td3_noise = 0.2;
    o->td3_noise_clip = 0.5;
    o->td3_policy_delay = 2;
}

/* FLOP model of the code in sac_impl.h: 2 per multiply-add of every matrix product it issues.
 * Per layer of n rows: forward, dW and dX each cost 2 n in out. */
static double s_pi_fwd(const nn_shape_t *s, int n) { return nn_pi_forward_flops(s, n); }
static double s_pi_bwd(const nn_shape_t *s, int n) {  /* dW of all layers, dX of layers 2, 3 */
    double H = s->hidden, A2 = 2.0 * s->act_dim;
    return nn_pi_forward_flops(s, n) + 2.0 * n * (A2 * H + H * H);
}
static double s_q_fwd(const nn_shape_t *s, int n) { return nn_q_forward_flops(s, n); }
static double s_q_bwd(const nn_shape_t *s, int n, int dtheta) {
    double H = s->hidden, A = s->act_dim;
    double dx = 2.0 * n * (2 * H + 2 * H * H);         /* through the heads and hidden layers */
    double dact = 2.0 * n * (2 * H * A);               /* action columns of the first layer */
    return dtheta ? nn_q_forward_flops(s, n) + dx : dx + dact;
}

double sac_update_flops(const nn_shape_t *s, algo_t algo, int batch, int nd0) {
    int n = batch;
    double critic = s_pi_fwd(s, n) + 2 * s_q_fwd(s, n) + s_q_bwd(s, n, 1);
    double policy = s_pi_fwd(s, n) + s_q_fwd(s, n) + s_q_bwd(s, n, 0) + s_pi_bwd(s, n);
    if (algo == ALGO_TD3) return critic + policy / 2;  /* the actor every 2nd update (default) */
    double f = critic + policy;
    if (algo == ALGO_META_SAC)
        f += s_pi_fwd(s, n) + s_q_fwd(s, n) + s_q_bwd(s, n, 0) + 2 * s_pi_bwd(s, n)  /* B1 */
           + s_pi_fwd(s, nd0) + s_q_fwd(s, nd0) + s_q_bwd(s, nd0, 0) + s_pi_bwd(s, nd0);  /* D0 */
    return f;
}

void sac_opts_from_config(sac_opts_t *o, const config_t *cfg, int act_dim) {
    sac_opts_default(o, (algo_t)cfg->algo, act_dim);
    o->gamma = cfg->gamma;
    o->tau = cfg->tau;
    o->lr_q = cfg->critic_lr;
    o->lr_pi = cfg->policy_lr;
    o->lr_alpha = cfg->alpha_lr;
    o->alpha = cfg->alpha;
    o->target_entropy = config_target_entropy(cfg, act_dim);
    o->rms_rho = cfg->rms_rho;
    o->rms_eps = cfg->rms_eps;
    o->meta_clip = cfg->meta_clip;
    o->meta_on_replay = cfg->meta_on_replay;
    o->resample = cfg->resample;
    o->meta_scaled_action = cfg->meta_scaled_action;
    o->critic_two_steps = cfg->critic_two_steps;
    o->td3_noise = cfg->td3_policy_noise;
    o->td3_noise_clip = cfg->td3_noise_clip;
    o->td3_policy_delay = cfg->td3_policy_delay;
}
