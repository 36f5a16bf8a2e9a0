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
