/* Ant (docs/ENVIRONMENTS.md section 5), v2 definitions: obs 111 = qpos[2:15] (13), qvel (14),
 * clip(cfrc_ext, -1, 1) for all 14 bodies x 6 (84); reward vx + 1 - 0.5 |a|^2
 * - 0.5e-3 |clip(cfrc_ext, -1, 1)|^2 with vx from the torso body frame x (xpos);
 * healthy iff the state is finite and 0.2 <= z = qpos[2] <= 1.0. */
#include "task_internal.h"

static void s_observe(const mjModel *m, const mjData *d, float *obs) {
    int k = 0;
    for (int i = 2; i < m->nq; i++) obs[k++] = (float)d->qpos[i];
    for (int i = 0; i < m->nv; i++) obs[k++] = (float)d->qvel[i];
    for (int i = 0; i < 6 * m->nbody; i++) obs[k++] = (float)rl__clip(d->cfrc_ext[i], -1.0, 1.0);
}

static double s_contact_cost(const mjModel *m, const mjData *d) {
    double s = 0.0;
    for (int i = 0; i < 6 * m->nbody; i++) {
        double f = rl__clip(d->cfrc_ext[i], -1.0, 1.0);
        s += f * f;
    }
    return 0.5e-3 * s;
}

static double s_forward_x(const mjModel *m, const mjData *d) {
    (void)m;
    return d->xpos[3 * 1 + 0];  /* body 1 = torso */
}

static int s_healthy(const mjModel *m, const mjData *d) {
    if (!rl__task_all_finite(d->qpos, m->nq) || !rl__task_all_finite(d->qvel, m->nv)) return 0;
    double z = d->qpos[2];
    return z >= 0.2 && z <= 1.0;
}

const rl__task_spec_t rl__task_ant = {
    .name = "ant", .nq = 15, .nv = 14, .nu = 8, .nbody = 14, .obs_dim = 111, .frame_skip = 5,
    .qpos_noise = 0.1, .qvel_noise = 0.1, .qvel_normal = 1,
    .forward_weight = 1.0, .healthy_reward = 1.0, .ctrl_weight = 0.5, .contact_cost = s_contact_cost,
    .forward_x = s_forward_x, .healthy = s_healthy, .observe = s_observe,
};
