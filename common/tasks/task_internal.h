/* Internal to common/tasks: the per-task definition table each task file provides. */
#ifndef METASAC_TASK_INTERNAL_H
#define METASAC_TASK_INTERNAL_H

#include <math.h>

#include <mujoco/mujoco.h>

typedef struct {
    const char *name;  /* canonical name, also the model file stem */
    int nq, nv, nu, nbody; /* sizes the model must have */
    int obs_dim;
    int frame_skip;
    double qpos_noise;   /* qpos = qpos0 + U(-qpos_noise, qpos_noise) on every entry */
    double qvel_noise;   /* qvel = U(-qvel_noise, qvel_noise), or qvel_noise * N(0,1) if qvel_normal */
    int qvel_normal;
    double forward_weight; /* reward = forward_weight * (x_after - x_before) / dt */
    double healthy_reward; /*        + healthy_reward (paid on every step, v2) */
    double ctrl_weight;    /*        - ctrl_weight * sum(a^2), a = the clipped action */
    /* - contact_cost(m, d) (after mj_rnePostConstraint); NULL for none */
    double (*contact_cost)(const mjModel *m, const mjData *d);
    double (*forward_x)(const mjModel *m, const mjData *d);
    int (*healthy)(const mjModel *m, const mjData *d); /* NULL: always healthy */
    void (*observe)(const mjModel *m, const mjData *d, float *obs); /* obs[obs_dim] */
} rl__task_spec_t;

extern const rl__task_spec_t rl__task_hopper;
extern const rl__task_spec_t rl__task_walker2d;
extern const rl__task_spec_t rl__task_half_cheetah;
extern const rl__task_spec_t rl__task_ant;
extern const rl__task_spec_t rl__task_humanoid;

/* Shared helpers for the task files. */
double rl__task_qpos0_x(const mjModel *m, const mjData *d); /* qpos[0] */
int rl__task_all_finite(const double *x, int n);
static inline double rl__clip(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

#endif
