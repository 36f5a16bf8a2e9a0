/* Hopper (docs/ENVIRONMENTS.md section 2): obs 11 = qpos[1:6], clip(qvel[0:6], -10, 10);
 * reward vx + 1 - 1e-3 |a|^2; unhealthy if any of qpos[2:], qvel not strictly inside (-100, 100)
 * (or non-finite), z = qpos[1] <= 0.7, |pitch| = |qpos[2]| >= 0.2. */
#include "task_internal.h"

static void s_observe(const mjModel *m, const mjData *d, float *obs) {
    (void)m;
    for (int i = 0; i < 5; i++) obs[i] = (float)d->qpos[1 + i];
    for (int i = 0; i < 6; i++) obs[5 + i] = (float)rl__clip(d->qvel[i], -10.0, 10.0);
}

static int s_healthy(const mjModel *m, const mjData *d) {
    for (int i = 2; i < m->nq; i++)
        if (!(fabs(d->qpos[i]) < 100.0)) return 0;  /* also rejects NaN */
    for (int i = 0; i < m->nv; i++)
        if (!(fabs(d->qvel[i]) < 100.0)) return 0;
    if (!rl__task_all_finite(d->qpos, 2)) return 0;
    double z = d->qpos[1], pitch = d->qpos[2];
    return z > 0.7 && fabs(pitch) < 0.2;
}

const rl__task_spec_t rl__task_hopper = {
    .name = "hopper", .nq = 6, .nv = 6, .nu = 3, .nbody = 5, .obs_dim = 11, .frame_skip = 4,
    .qpos_noise = 0.005, .qvel_noise = 0.005, .qvel_normal = 0,
    .forward_weight = 1.0, .healthy_reward = 1.0, .ctrl_weight = 1e-3, .contact_cost = NULL,
    .forward_x = rl__task_qpos0_x, .healthy = s_healthy, .observe = s_observe,
};
