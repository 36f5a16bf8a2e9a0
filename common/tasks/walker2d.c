/* Walker2d (docs/ENVIRONMENTS.md section 3): obs 17 = qpos[1:9], clip(qvel[0:9], -10, 10);
 * reward vx + 1 - 1e-3 |a|^2; healthy iff 0.8 < z < 2.0 and -1 < pitch < 1 (z = qpos[1],
 * pitch = qpos[2]); no state-range check (v2). */
#include "task_internal.h"

static void s_observe(const mjModel *m, const mjData *d, float *obs) {
    (void)m;
    for (int i = 0; i < 8; i++) obs[i] = (float)d->qpos[1 + i];
    for (int i = 0; i < 9; i++) obs[8 + i] = (float)rl__clip(d->qvel[i], -10.0, 10.0);
}

static int s_healthy(const mjModel *m, const mjData *d) {
    (void)m;
    double z = d->qpos[1], pitch = d->qpos[2];
    return z > 0.8 && z < 2.0 && pitch > -1.0 && pitch < 1.0;
}

const rl__task_spec_t rl__task_walker2d = {
    .name = "walker2d", .nq = 9, .nv = 9, .nu = 6, .nbody = 8, .obs_dim = 17, .frame_skip = 4,
    .qpos_noise = 0.005, .qvel_noise = 0.005, .qvel_normal = 0,
    .forward_weight = 1.0, .healthy_reward = 1.0, .ctrl_weight = 1e-3, .contact_cost = NULL,
    .forward_x = rl__task_qpos0_x, .healthy = s_healthy, .observe = s_observe,
};
