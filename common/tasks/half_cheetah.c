/* HalfCheetah (docs/ENVIRONMENTS.md section 4): obs 17 = qpos[1:9], qvel[0:9] (no clipping;
 * qpos[1] is the height change from 0.7); reward vx - 0.1 |a|^2; never terminates. */
#include "task_internal.h"

static void s_observe(const mjModel *m, const mjData *d, float *obs) {
    (void)m;
    for (int i = 0; i < 8; i++) obs[i] = (float)d->qpos[1 + i];
    for (int i = 0; i < 9; i++) obs[8 + i] = (float)d->qvel[i];
}

const rl__task_spec_t rl__task_half_cheetah = {
    .name = "half_cheetah", .nq = 9, .nv = 9, .nu = 6, .nbody = 8, .obs_dim = 17, .frame_skip = 5,
    .qpos_noise = 0.1, .qvel_noise = 0.1, .qvel_normal = 1,
    .forward_weight = 1.0, .healthy_reward = 0.0, .ctrl_weight = 0.1, .contact_cost = NULL,
    .forward_x = rl__task_qpos0_x, .healthy = NULL, .observe = s_observe,
};
