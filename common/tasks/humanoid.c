/* Humanoid (docs/ENVIRONMENTS.md section 6), v2 definitions: obs 376 = qpos[2:24] (22), qvel (23),
 * cinert (14x10), cvel (14x6), qfrc_actuator (23), cfrc_ext (14x6, unclipped);
 * reward 1.25 vx + 5 - 0.1 |ctrl|^2 - min(0.5e-6 |cfrc_ext|^2, 10) with vx from the
 * mass-weighted mean of xipos; healthy iff 1.0 <= z = qpos[2] <= 2.0. */
#include "task_internal.h"

static void s_copy(float *dst, const double *src, int n) {
    for (int i = 0; i < n; i++) dst[i] = (float)src[i];
}

static void s_observe(const mjModel *m, const mjData *d, float *obs) {
    float *o = obs;
    s_copy(o, d->qpos + 2, m->nq - 2);       o += m->nq - 2;
    s_copy(o, d->qvel, m->nv);               o += m->nv;
    s_copy(o, d->cinert, 10 * m->nbody);     o += 10 * m->nbody;
    s_copy(o, d->cvel, 6 * m->nbody);        o += 6 * m->nbody;
    s_copy(o, d->qfrc_actuator, m->nv);      o += m->nv;
    s_copy(o, d->cfrc_ext, 6 * m->nbody);
}

static double s_contact_cost(const mjModel *m, const mjData *d) {
    double s = 0.0;
    for (int i = 0; i < 6 * m->nbody; i++) s += d->cfrc_ext[i] * d->cfrc_ext[i];
    s *= 0.5e-6;
    return s < 10.0 ? s : 10.0;
}

static double s_forward_x(const mjModel *m, const mjData *d) {
    double mx = 0.0, mass = 0.0;
    for (int b = 0; b < m->nbody; b++) {
        mx += m->body_mass[b] * d->xipos[3 * b];
        mass += m->body_mass[b];
    }
    return mx / mass;
}

static int s_healthy(const mjModel *m, const mjData *d) {
    (void)m;
    double z = d->qpos[2];
    return z >= 1.0 && z <= 2.0;
}

const rl__task_spec_t rl__task_humanoid = {
    .name = "humanoid", .nq = 24, .nv = 23, .nu = 17, .nbody = 14, .obs_dim = 376, .frame_skip = 5,
    .qpos_noise = 0.01, .qvel_noise = 0.01, .qvel_normal = 0,
    .forward_weight = 1.25, .healthy_reward = 5.0, .ctrl_weight = 0.1, .contact_cost = s_contact_cost,
    .forward_x = s_forward_x, .healthy = s_healthy, .observe = s_observe,
};
