/* Tests of common/tasks: the five MuJoCo locomotion tasks.
 * Reference figures come from docs/ENVIRONMENTS.md (masses: "Mass (2.2.2)" lines; random-policy
 * statistics: section 8.2). Expected rewards are recomputed here from mjData with the formulas
 * written out independently of the task code, with hard-coded coefficients and dt. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rng.h"
#include "tasks/task.h"

static const char *const k_tasks[TASK_COUNT] = {"hopper", "walker2d", "half_cheetah", "ant", "humanoid"};

static void s_quiet(void) { log_level = LOG_ERROR; }

static task_env_t *s_env(const char *name, uint64_t seed) {
    task_env_t *e = task_new(name, seed, 0);
    cr_assert_not_null(e, "task_new(%s)", name);
    return e;
}

static void s_random_action(rng_t *r, const task_model_t *tm, float *a) {
    const float *lo = task_model_action_low(tm), *hi = task_model_action_high(tm);
    for (int i = 0; i < task_model_act_dim(tm); i++) a[i] = lo[i] + (hi[i] - lo[i]) * rng_uniformf(r);
}

static int s_body(const mjModel *m, const char *name) {
    int id = mj_name2id(m, mjOBJ_BODY, name);
    cr_assert_geq(id, 0, "no body %s", name);
    return id;
}

static int s_joint(const mjModel *m, const char *name) {
    int id = mj_name2id(m, mjOBJ_JOINT, name);
    cr_assert_geq(id, 0, "no joint %s", name);
    return id;
}

static void s_rel(double got, double want, double rel, const char *what) {
    cr_assert(fabs(got - want) <= rel * fabs(want), "%s: got %.8g want %.8g (rel tol %g)", what, got,
              want, rel);
}

/* ------------------------------------------------------------------------------------------ */

Test(tasks, names, .init = s_quiet) {
    cr_assert_str_eq(task_canonical_name("Hopper-v2"), "hopper");
    cr_assert_str_eq(task_canonical_name("HalfCheetah-v3"), "half_cheetah");
    cr_assert_str_eq(task_canonical_name("halfcheetah"), "half_cheetah");
    cr_assert_str_eq(task_canonical_name("Walker2d"), "walker2d");
    cr_assert_str_eq(task_canonical_name("walker2d-v2"), "walker2d");
    cr_assert_str_eq(task_canonical_name("ANT"), "ant");
    cr_assert_null(task_canonical_name("walker"));
    cr_assert_null(task_canonical_name(""));
    cr_assert_null(task_canonical_name("v2"));
    cr_assert_null(task_new("nope", 1, 0));
    for (int i = 0; i < TASK_COUNT; i++) cr_assert_str_eq(task_name_at(i), k_tasks[i]);
    cr_assert_null(task_name_at(TASK_COUNT));
}

Test(tasks, model_path_search_order, .init = s_quiet) {
    char path[4096];
    setenv("METASAC_MODEL_DIR", "/nonexistent-dir", 1);
    cr_assert_eq(task_model_path("hopper", path, sizeof path), 0, "falls through to later dirs");
    setenv("METASAC_MODEL_DIR", "common/tasks/models", 1);
    cr_assert_eq(task_model_path("Hopper-v2", path, sizeof path), 0);
    cr_assert_str_eq(path, "common/tasks/models/hopper.xml", "METASAC_MODEL_DIR comes first");
    unsetenv("METASAC_MODEL_DIR");
    cr_assert_eq(task_model_path("ant", path, sizeof path), 0);
    cr_assert_neq(strstr(path, "ant.xml"), NULL);
    cr_assert_eq(task_model_path("nope", path, sizeof path), -1);
}

/* Sizes, bounds, timing, options, action order. */
Test(tasks, sizes_options_action_order, .init = s_quiet) {
    static const struct {
        int obs, act, nq, nv, fs;
        double ts, lo, hi;
        int integrator, solver, iters;
        const char *order[17];
    } want[TASK_COUNT] = {
        {11, 3, 6, 6, 4, 0.002, -1, 1, mjINT_RK4, mjSOL_NEWTON, 100,
         {"thigh_joint", "leg_joint", "foot_joint"}},
        {17, 6, 9, 9, 4, 0.002, -1, 1, mjINT_RK4, mjSOL_NEWTON, 100,
         {"thigh_joint", "leg_joint", "foot_joint", "thigh_left_joint", "leg_left_joint", "foot_left_joint"}},
        {17, 6, 9, 9, 5, 0.01, -1, 1, mjINT_EULER, mjSOL_NEWTON, 100,
         {"bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"}},
        {111, 8, 15, 14, 5, 0.01, -1, 1, mjINT_RK4, mjSOL_NEWTON, 100,
         {"hip_4", "ankle_4", "hip_1", "ankle_1", "hip_2", "ankle_2", "hip_3", "ankle_3"}},
        {376, 17, 24, 23, 5, 0.003, -0.4, 0.4, mjINT_RK4, mjSOL_PGS, 50,
         {"abdomen_y", "abdomen_z", "abdomen_x", "right_hip_x", "right_hip_z", "right_hip_y", "right_knee",
          "left_hip_x", "left_hip_z", "left_hip_y", "left_knee", "right_shoulder1", "right_shoulder2",
          "right_elbow", "left_shoulder1", "left_shoulder2", "left_elbow"}},
    };
    static const double gears[TASK_COUNT][17] = {
        {200, 200, 200},
        {100, 100, 100, 100, 100, 100},
        {120, 90, 60, 120, 60, 30},
        {150, 150, 150, 150, 150, 150, 150, 150},
        {100, 100, 100, 100, 100, 300, 200, 100, 100, 300, 200, 25, 25, 25, 25, 25, 25},
    };
    for (int t = 0; t < TASK_COUNT; t++) {
        task_model_t *tm = task_model_new(k_tasks[t]);
        cr_assert_not_null(tm, "%s", k_tasks[t]);
        const mjModel *m = task_model_mj(tm);
        cr_assert_eq(task_model_obs_dim(tm), want[t].obs, "%s obs", k_tasks[t]);
        cr_assert_eq(task_model_act_dim(tm), want[t].act, "%s act", k_tasks[t]);
        cr_assert_eq(m->nq, want[t].nq);
        cr_assert_eq(m->nv, want[t].nv);
        cr_assert_eq(task_model_frame_skip(tm), want[t].fs, "%s frame skip", k_tasks[t]);
        cr_assert_float_eq(m->opt.timestep, want[t].ts, 1e-12, "%s timestep", k_tasks[t]);
        cr_assert_float_eq(task_model_dt(tm), want[t].ts * want[t].fs, 1e-12);
        cr_assert_eq(m->opt.integrator, want[t].integrator, "%s integrator", k_tasks[t]);
        cr_assert_eq(m->opt.solver, want[t].solver, "%s solver", k_tasks[t]);
        cr_assert_eq(m->opt.iterations, want[t].iters, "%s iterations", k_tasks[t]);
        cr_assert_float_eq(m->opt.gravity[2], -9.81, 1e-12);
        for (int i = 0; i < want[t].act; i++) {
            cr_assert_eq(m->actuator_trntype[i], mjTRN_JOINT);
            cr_assert_str_eq(mj_id2name(m, mjOBJ_JOINT, m->actuator_trnid[2 * i]), want[t].order[i],
                             "%s actuator %d", k_tasks[t], i);
            cr_assert_float_eq(m->actuator_gear[6 * i], gears[t][i], 1e-12, "%s gear %d", k_tasks[t], i);
            cr_assert_float_eq(task_model_action_low(tm)[i], (float)want[t].lo, 1e-7);
            cr_assert_float_eq(task_model_action_high(tm)[i], (float)want[t].hi, 1e-7);
        }
        task_model_destroy(&tm);
        cr_assert_null(tm);
    }
}

/* Total and per-body masses against docs/ENVIRONMENTS.md "Mass (2.2.2)", 1e-4 relative. */
Test(tasks, masses, .init = s_quiet) {
    static const struct {
        const char *task;
        double total;
        const char *body[14];
        double mass[14];
    } want[TASK_COUNT] = {
        {"hopper", 15.820, {"torso", "thigh", "leg", "foot"}, {3.665191, 4.057891, 2.781357, 5.315575}},
        {"walker2d", 23.677,
         {"torso", "thigh", "leg", "foot", "thigh_left", "leg_left", "foot_left"},
         {3.665191, 4.057891, 2.781357, 3.166725, 4.057891, 2.781357, 3.166725}},
        {"half_cheetah", 14.0,
         {"torso", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"},
         {6.250209, 1.543515, 1.587448, 1.095397, 1.438075, 1.200837, 0.884519}},
        {"ant", 0.910880,
         {"torso", "front_left_leg", "aux_1", "front_right_leg", "aux_2", "back_leg", "aux_3",
          "right_back_leg", "aux_4"},
         {0.327249, 0.039158, 0.039158, 0.039158, 0.039158, 0.039158, 0.039158, 0.039158, 0.039158}},
        {"humanoid", 42.116,
         {"torso", "lwaist", "pelvis", "right_thigh", "left_thigh", "right_shin", "left_shin", "right_foot",
          "left_foot", "right_upper_arm", "left_upper_arm", "right_lower_arm", "left_lower_arm"},
         {8.907462, 2.261947, 6.616194, 4.751751, 4.751751, 2.755696, 2.755696, 1.767146, 1.767146,
          1.661080, 1.661080, 1.229540, 1.229540}},
    };
    for (int t = 0; t < TASK_COUNT; t++) {
        task_model_t *tm = task_model_new(want[t].task);
        cr_assert_not_null(tm);
        const mjModel *m = task_model_mj(tm);
        char what[128];
        snprintf(what, sizeof what, "%s total mass", want[t].task);
        s_rel(task_model_total_mass(tm), want[t].total, 1e-4, what);
        for (int b = 0; b < 14 && want[t].body[b]; b++) {
            snprintf(what, sizeof what, "%s %s mass", want[t].task, want[t].body[b]);
            s_rel(m->body_mass[s_body(m, want[t].body[b])], want[t].mass[b], 1e-4, what);
        }
        if (t == 3) { /* the Ant's unnamed ankle bodies: children of aux_i */
            for (int b = 1; b < m->nbody; b++)
                if (!mj_id2name(m, mjOBJ_BODY, b)) s_rel(m->body_mass[b], 0.067592, 1e-4, "ant ankle");
        }
        task_model_destroy(&tm);
    }
}

/* Joint and contact parameters that masses and sizes do not pin down. */
Test(tasks, joint_and_geom_parameters, .init = s_quiet) {
    task_model_t *tm = task_model_new("hopper");
    const mjModel *m = task_model_mj(tm);
    int j = s_joint(m, "thigh_joint");
    cr_assert_float_eq(m->dof_armature[m->jnt_dofadr[j]], 1.0, 1e-12);
    cr_assert_float_eq(m->dof_damping[m->jnt_dofadr[j]], 1.0, 1e-12);
    cr_assert_float_eq(m->jnt_range[2 * j], -150.0 * mjPI / 180.0, 1e-9);
    cr_assert_float_eq(m->qpos0[1], 1.25, 1e-12, "rootz ref 1.25");
    cr_assert_float_eq(m->geom_friction[3 * mj_name2id(m, mjOBJ_GEOM, "foot_geom")], 2.0, 1e-12);
    cr_assert_eq(m->dof_armature[0], 0.0);
    task_model_destroy(&tm);

    tm = task_model_new("walker2d");
    m = task_model_mj(tm);
    j = s_joint(m, "leg_left_joint");
    cr_assert_float_eq(m->dof_armature[m->jnt_dofadr[j]], 0.01, 1e-12);
    cr_assert_float_eq(m->dof_damping[m->jnt_dofadr[j]], 0.1, 1e-12);
    cr_assert_float_eq(m->geom_friction[3 * mj_name2id(m, mjOBJ_GEOM, "foot_geom")], 0.9, 1e-12);
    cr_assert_float_eq(m->geom_friction[3 * mj_name2id(m, mjOBJ_GEOM, "foot_left_geom")], 1.9, 1e-12);
    cr_assert_eq(m->geom_conaffinity[mj_name2id(m, mjOBJ_GEOM, "foot_geom")], 0);
    task_model_destroy(&tm);

    tm = task_model_new("half_cheetah");
    m = task_model_mj(tm);
    static const char *cj[6] = {"bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"};
    static const double stiff[6] = {240, 180, 120, 180, 120, 60}, damp[6] = {6, 4.5, 3, 4.5, 3, 1.5};
    static const double range[6][2] = {{-.52, 1.05}, {-.785, .785}, {-.4, .785}, {-1, .7}, {-1.2, .87}, {-.5, .5}};
    for (int i = 0; i < 6; i++) {
        j = s_joint(m, cj[i]);
        cr_assert_float_eq(m->jnt_stiffness[j], stiff[i], 1e-12, "%s stiffness", cj[i]);
        cr_assert_float_eq(m->dof_damping[m->jnt_dofadr[j]], damp[i], 1e-12);
        cr_assert_float_eq(m->dof_armature[m->jnt_dofadr[j]], 0.1, 1e-12);
        cr_assert_float_eq(m->jnt_range[2 * j], range[i][0], 1e-12, "%s range (radians)", cj[i]);
        cr_assert_float_eq(m->jnt_range[2 * j + 1], range[i][1], 1e-12);
    }
    task_model_destroy(&tm);

    tm = task_model_new("ant");
    m = task_model_mj(tm);
    j = s_joint(m, "ankle_2");
    cr_assert_float_eq(m->jnt_range[2 * j], -70.0 * mjPI / 180.0, 1e-9);
    cr_assert_float_eq(m->jnt_axis[3 * j], sqrt(0.5), 1e-9);
    cr_assert_float_eq(m->geom_margin[0], 0.01, 1e-12, "ant floor margin");
    cr_assert_float_eq(m->qpos0[2], 0.75, 1e-12);
    task_model_destroy(&tm);

    tm = task_model_new("humanoid");
    m = task_model_mj(tm);
    j = s_joint(m, "right_hip_y");
    cr_assert_float_eq(m->dof_armature[m->jnt_dofadr[j]], 0.008, 1e-12);
    j = s_joint(m, "left_knee");
    cr_assert_float_eq(m->jnt_stiffness[j], 1.0, 1e-12);
    j = s_joint(m, "right_knee");
    cr_assert_float_eq(m->jnt_stiffness[j], 0.0, 1e-12);
    cr_assert_float_eq(m->jnt_range[2 * j + 1], -2.0 * mjPI / 180.0, 1e-9);
    j = s_joint(m, "left_hip_y");
    cr_assert_float_eq(m->jnt_range[2 * j], -110.0 * mjPI / 180.0, 1e-9);
    cr_assert_float_eq(m->qpos0[2], 1.4, 1e-12);
    task_model_destroy(&tm);
}

/* ------------------------------------------------------------------------------------------ */
/* Rewards recomputed from mjData with the v2 formulas. */

static double s_sumsq(const float *a, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * a[i];
    return s;
}

static double s_mass_center_x(const mjModel *m, const mjData *d) {
    double mx = 0, ms = 0;
    for (int b = 0; b < m->nbody; b++) {
        mx += m->body_mass[b] * d->xipos[3 * b];
        ms += m->body_mass[b];
    }
    return mx / ms;
}

/* Expected reward of one step given the state before (x_before) and after (mjData). */
static double s_expected_reward(int t, const mjModel *m, const mjData *d, double x_before,
                                const float *a) {
    switch (t) {
    case 0: /* hopper */
    case 1: /* walker2d */
        return (d->qpos[0] - x_before) / 0.008 + 1.0 - 1e-3 * s_sumsq(a, m->nu);
    case 2: /* half_cheetah */
        return (d->qpos[0] - x_before) / 0.05 - 0.1 * s_sumsq(a, m->nu);
    case 3: { /* ant */
        double cc = 0;
        for (int i = 0; i < 6 * m->nbody; i++) {
            double f = fmin(1.0, fmax(-1.0, d->cfrc_ext[i]));
            cc += f * f;
        }
        return (d->xpos[3] - x_before) / 0.05 + 1.0 - 0.5 * s_sumsq(a, m->nu) - 0.5e-3 * cc;
    }
    default: { /* humanoid */
        double cc = 0;
        for (int i = 0; i < 6 * m->nbody; i++) cc += d->cfrc_ext[i] * d->cfrc_ext[i];
        cc = fmin(0.5e-6 * cc, 10.0);
        return 0.25 * (s_mass_center_x(m, d) - x_before) / 0.003 + 5.0 - 0.1 * s_sumsq(a, m->nu) - cc;
    }
    }
}

static double s_x_now(int t, const mjModel *m, const mjData *d) {
    if (t <= 2) return d->qpos[0];
    if (t == 3) return d->xpos[3];
    return s_mass_center_x(m, d);
}

Test(tasks, rewards_match_v2_formulas, .init = s_quiet) {
    for (int t = 0; t < TASK_COUNT; t++) {
        task_env_t *e = s_env(k_tasks[t], 3);
        const task_model_t *tm = task_env_model(e);
        const mjModel *m = task_model_mj(tm);
        mjData *d = task_env_data(e);
        float obs[376], a[17];
        rng_t r;
        rng_seed(&r, 11, 0);
        int checked = 0, with_contact_cost = 0;
        for (int ep = 0; ep < 20 && checked < 60; ep++) {
            cr_assert_eq(task_reset(e, obs), 0);
            for (;;) {
                s_random_action(&r, tm, a);
                double xb = s_x_now(t, m, d);
                task_step_t res;
                cr_assert_eq(task_step(e, a, obs, &res), 0);
                double want = s_expected_reward(t, m, d, xb, a);
                cr_assert(fabs(res.reward - want) <= 1e-9 * (1.0 + fabs(want)),
                          "%s reward %.12g want %.12g", k_tasks[t], res.reward, want);
                if (t >= 3) {
                    double cc = 0;
                    for (int i = 0; i < 6 * m->nbody; i++) cc += fabs(d->cfrc_ext[i]);
                    with_contact_cost += cc > 0;
                }
                checked++;
                if (res.terminated || res.truncated || checked >= 60) break;
            }
        }
        if (t >= 3) cr_assert_gt(with_contact_cost, 0, "%s: contact forces never non-zero", k_tasks[t]);
        task_env_destroy(&e);
        cr_assert_null(e);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Termination on constructed states. */

/* Sets qpos0 with entry i overridden (and qvel 0, or qvel[vi] = vval), returns task_healthy. */
static int s_healthy_with(task_env_t *e, int qi, double qval, int vi, double vval) {
    const mjModel *m = task_model_mj(task_env_model(e));
    double qpos[32], qvel[32];
    memcpy(qpos, m->qpos0, sizeof(double) * (size_t)m->nq);
    memset(qvel, 0, sizeof qvel);
    if (qi >= 0) qpos[qi] = qval;
    if (vi >= 0) qvel[vi] = vval;
    cr_assert_eq(task_set_state(e, qpos, qvel), 0);
    return task_healthy(e);
}

Test(tasks, termination_conditions, .init = s_quiet) {
    task_env_t *e = s_env("hopper", 1);
    cr_assert(s_healthy_with(e, -1, 0, -1, 0));
    cr_assert(!s_healthy_with(e, 1, 0.70, -1, 0), "z <= 0.7");
    cr_assert(s_healthy_with(e, 1, 0.71, -1, 0));
    cr_assert(!s_healthy_with(e, 2, 0.2, -1, 0), "|pitch| >= 0.2");
    cr_assert(!s_healthy_with(e, 2, -0.21, -1, 0));
    cr_assert(s_healthy_with(e, 2, 0.19, -1, 0));
    cr_assert(!s_healthy_with(e, -1, 0, 0, 100.0), "unclipped |vx| >= 100");
    cr_assert(s_healthy_with(e, -1, 0, 0, 99.0));
    cr_assert(!s_healthy_with(e, -1, 0, 4, -150.0));
    cr_assert(s_healthy_with(e, 0, 500.0, -1, 0), "x is not range-checked");
    /* and task_step reports it */
    s_healthy_with(e, 1, 0.6, -1, 0);
    float a[17] = {0}, obs[376];
    task_step_t r;
    cr_assert_eq(task_step(e, a, obs, &r), 0);
    cr_assert(r.terminated && !r.truncated && !r.unstable);
    cr_assert_eq(task_step(e, a, obs, &r), -1, "stepping a finished episode is refused");
    task_env_destroy(&e);

    e = s_env("walker2d", 1);
    cr_assert(s_healthy_with(e, -1, 0, -1, 0));
    cr_assert(!s_healthy_with(e, 1, 0.8, -1, 0));
    cr_assert(s_healthy_with(e, 1, 0.81, -1, 0));
    cr_assert(!s_healthy_with(e, 1, 2.0, -1, 0));
    cr_assert(s_healthy_with(e, 1, 1.99, -1, 0));
    cr_assert(!s_healthy_with(e, 2, 1.0, -1, 0));
    cr_assert(!s_healthy_with(e, 2, -1.0, -1, 0));
    cr_assert(s_healthy_with(e, 2, 0.99, -1, 0), "walker pitch limit is 1, not hopper's 0.2");
    cr_assert(s_healthy_with(e, -1, 0, 0, 500.0), "no velocity check in walker");
    task_env_destroy(&e);

    e = s_env("half_cheetah", 1);
    cr_assert(s_healthy_with(e, 1, -5.0, -1, 0), "half_cheetah never terminates");
    cr_assert(s_healthy_with(e, 2, 3.0, 0, 1000.0));
    task_env_destroy(&e);

    e = s_env("ant", 1);
    cr_assert(s_healthy_with(e, -1, 0, -1, 0));
    cr_assert(s_healthy_with(e, 2, 1.0, -1, 0), "z = 1.0 still healthy (inclusive)");
    cr_assert(!s_healthy_with(e, 2, 1.001, -1, 0));
    cr_assert(s_healthy_with(e, 2, 0.2, -1, 0));
    cr_assert(!s_healthy_with(e, 2, 0.199, -1, 0));
    task_env_destroy(&e);

    e = s_env("humanoid", 1);
    cr_assert(s_healthy_with(e, -1, 0, -1, 0));
    cr_assert(!s_healthy_with(e, 2, 0.999, -1, 0));
    cr_assert(s_healthy_with(e, 2, 1.001, -1, 0));
    cr_assert(!s_healthy_with(e, 2, 2.001, -1, 0));
    cr_assert(s_healthy_with(e, 2, 1.999, -1, 0));
    task_env_destroy(&e);
}

/* ------------------------------------------------------------------------------------------ */
/* Observation layout. */

Test(tasks, observation_layout, .init = s_quiet) {
    float obs[376];
    for (int t = 0; t < TASK_COUNT; t++) {
        task_env_t *e = s_env(k_tasks[t], 5);
        const mjModel *m = task_model_mj(task_env_model(e));
        mjData *d = task_env_data(e);
        cr_assert_eq(task_reset(e, obs), 0);
        rng_t r;
        rng_seed(&r, 2, 0);
        float a[17];
        task_step_t res;
        for (int k = 0; k < 8; k++) { /* move away from the reset state */
            s_random_action(&r, task_env_model(e), a);
            cr_assert_eq(task_step(e, a, obs, &res), 0);
            if (res.terminated) break;
        }
        /* push some velocities past the planar tasks' clip at 10 */
        double qpos[32], qvel[32];
        memcpy(qpos, d->qpos, sizeof(double) * (size_t)m->nq);
        memcpy(qvel, d->qvel, sizeof(double) * (size_t)m->nv);
        qvel[m->nv - 1] = 25.0;
        qvel[m->nv - 2] = -25.0;
        cr_assert_eq(task_set_state(e, qpos, qvel), 0);
        task_observe(e, obs);
        int k = 0;
        int skip = t <= 2 ? 1 : 2;
        for (int i = skip; i < m->nq; i++, k++) cr_assert_eq(obs[k], (float)d->qpos[i], "%s qpos %d", k_tasks[t], i);
        for (int i = 0; i < m->nv; i++, k++) {
            double v = d->qvel[i];
            if (t <= 1) v = fmin(10.0, fmax(-10.0, v));
            cr_assert_eq(obs[k], (float)v, "%s qvel %d", k_tasks[t], i);
        }
        if (t <= 1) cr_assert_eq(obs[k - 1], 10.0f, "hopper/walker clip qvel at 10");
        if (t == 2) cr_assert_eq(obs[k - 1], 25.0f, "half_cheetah does not clip");
        if (t == 3) {
            for (int i = 0; i < 6 * m->nbody; i++, k++)
                cr_assert_eq(obs[k], (float)fmin(1.0, fmax(-1.0, d->cfrc_ext[i])));
        }
        if (t == 4) {
            for (int i = 0; i < 10 * m->nbody; i++, k++) cr_assert_eq(obs[k], (float)d->cinert[i]);
            for (int i = 0; i < 6 * m->nbody; i++, k++) cr_assert_eq(obs[k], (float)d->cvel[i]);
            for (int i = 0; i < m->nv; i++, k++) cr_assert_eq(obs[k], (float)d->qfrc_actuator[i]);
            for (int i = 0; i < 6 * m->nbody; i++, k++) cr_assert_eq(obs[k], (float)d->cfrc_ext[i]);
        }
        cr_assert_eq(k, task_model_obs_dim(task_env_model(e)), "%s obs size", k_tasks[t]);
        task_env_destroy(&e);
    }
}

/* Reset noise: every qpos entry within the task's noise of qpos0, some noise present. */
Test(tasks, reset_noise, .init = s_quiet) {
    static const double qn[TASK_COUNT] = {0.005, 0.005, 0.1, 0.1, 0.01};
    for (int t = 0; t < TASK_COUNT; t++) {
        task_env_t *e = s_env(k_tasks[t], 9);
        const mjModel *m = task_model_mj(task_env_model(e));
        mjData *d = task_env_data(e);
        double maxdev = 0;
        for (int ep = 0; ep < 20; ep++) {
            cr_assert_eq(task_reset(e, NULL), 0);
            cr_assert_eq(task_env_episode_steps(e), 0);
            for (int i = 0; i < m->nq; i++) {
                if (t >= 3 && i >= 3 && i < 7) continue; /* free-joint quaternion: MuJoCo normalises it */
                double dev = fabs(d->qpos[i] - m->qpos0[i]);
                cr_assert_leq(dev, qn[t], "%s qpos %d", k_tasks[t], i);
                maxdev = fmax(maxdev, dev);
            }
            if (t != 2 && t != 3)
                for (int i = 0; i < m->nv; i++) cr_assert_leq(fabs(d->qvel[i]), qn[t]);
        }
        cr_assert_gt(maxdev, 0.5 * qn[t], "%s: reset noise too small", k_tasks[t]);
        task_env_destroy(&e);
    }
}

/* task_reset (which avoids mj_resetData's stack clearing) must give what mj_resetData +
 * set_state gives, after an episode that left contacts, forces and warmstarts behind. */
Test(tasks, reset_matches_mj_resetData, .init = s_quiet) {
    for (int t = 0; t < TASK_COUNT; t++) {
        task_env_t *e = s_env(k_tasks[t], 21), *f = s_env(k_tasks[t], 22);
        const task_model_t *tm = task_env_model(e);
        const mjModel *m = task_model_mj(tm);
        mjData *de = task_env_data(e), *df = task_env_data(f);
        int od = task_model_obs_dim(tm);
        float oe[376], of[376], a[17];
        rng_t r;
        rng_seed(&r, 5, 5);
        cr_assert_eq(task_reset(e, oe), 0);
        double forces = 0;
        for (int k = 0; k < 40; k++) { /* dirty the mjData: small actions, until feet push on the floor */
            s_random_action(&r, tm, a);
            for (int i = 0; i < m->nu; i++) a[i] *= 0.1f;
            task_step_t res;
            cr_assert_eq(task_step(e, a, oe, &res), 0);
            forces = 0;
            for (int i = 0; i < 6 * m->nbody; i++) forces += fabs(de->cfrc_ext[i]);
            if (res.terminated || (k >= 5 && forces > 0)) break;
        }
        if (t >= 3) cr_assert_gt(forces, 0, "%s: precondition, contact forces before the reset", k_tasks[t]);
        cr_assert_eq(task_reset(e, oe), 0);
        /* f: the reference path, mj_resetData + state + mj_forward */
        cr_assert_eq(task_set_state(f, de->qpos, de->qvel), 0); /* opens f's episode */
        mj_resetData(m, df);
        memcpy(df->qpos, de->qpos, sizeof(double) * (size_t)m->nq);
        memcpy(df->qvel, de->qvel, sizeof(double) * (size_t)m->nv);
        mj_forward(m, df);
        task_observe(f, of);
        /* planar tasks: bit for bit; free-joint tasks: MuJoCo renormalises the quaternion again */
        double tol = t <= 2 ? 0.0 : 1e-9;
        for (int i = 0; i < od; i++)
            cr_assert(fabs(oe[i] - of[i]) <= tol * (1 + fabs(of[i])) * 1e3, "%s reset obs %d: %g vs %g",
                      k_tasks[t], i, oe[i], of[i]);
        if (t >= 3)
            for (int i = od - 84; i < od; i++) cr_assert_eq(oe[i], 0.0f, "%s: stale contact force at reset", k_tasks[t]);
        for (int k = 0; k < 25; k++) {
            s_random_action(&r, tm, a);
            task_step_t r1, r2;
            cr_assert_eq(task_step(e, a, oe, &r1), 0);
            cr_assert_eq(task_step(f, a, of, &r2), 0);
            for (int i = 0; i < m->nq; i++)
                cr_assert(fabs(de->qpos[i] - df->qpos[i]) <= tol * (1 + fabs(df->qpos[i])),
                          "%s step %d qpos %d: %.17g vs %.17g", k_tasks[t], k, i, de->qpos[i], df->qpos[i]);
            if (r1.terminated || r2.terminated) break;
        }
        task_env_destroy(&e);
        task_env_destroy(&f);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Determinism, seeds, shared models. */

/* Runs n steps with actions from action seed 4 and returns a checksum of obs and rewards. */
static void s_trajectory(task_env_t *e, int n, float *out_obs0, double *out_sum) {
    rng_t r;
    rng_seed(&r, 4, 0);
    float obs[376], a[17];
    int od = task_model_obs_dim(task_env_model(e));
    cr_assert_eq(task_reset(e, obs), 0);
    memcpy(out_obs0, obs, sizeof(float) * (size_t)od);
    double s = 0;
    for (int k = 0; k < n; k++) {
        s_random_action(&r, task_env_model(e), a);
        task_step_t res;
        cr_assert_eq(task_step(e, a, obs, &res), 0);
        s += res.reward;
        for (int i = 0; i < od; i++) s += obs[i] * (1.0 + 1e-3 * i);
        if (res.terminated || res.truncated) cr_assert_eq(task_reset(e, obs), 0);
    }
    *out_sum = s;
}

Test(tasks, determinism_and_seeds, .init = s_quiet) {
    for (int t = 0; t < TASK_COUNT; t++) {
        task_model_t *tm = task_model_new(k_tasks[t]);
        int od = task_model_obs_dim(tm);
        task_env_t *a = task_env_new(tm, 42, 7), *b = task_env_new(tm, 42, 7);
        task_env_t *c = task_env_new(tm, 43, 7), *s = task_env_new(tm, 42, 8);
        float o1[376], o2[376], o3[376], o4[376];
        double s1, s2, s3, s4;
        s_trajectory(a, 60, o1, &s1);
        s_trajectory(b, 60, o2, &s2);
        cr_assert_eq(memcmp(o1, o2, sizeof(float) * (size_t)od), 0, "%s same seed, same reset", k_tasks[t]);
        cr_assert_eq(s1, s2, "%s same seed, same trajectory", k_tasks[t]);
        s_trajectory(c, 60, o3, &s3);
        s_trajectory(s, 60, o4, &s4);
        cr_assert_neq(memcmp(o1, o3, sizeof(float) * (size_t)od), 0, "%s other seed", k_tasks[t]);
        cr_assert_neq(memcmp(o1, o4, sizeof(float) * (size_t)od), 0, "%s other stream", k_tasks[t]);
        cr_assert_neq(s1, s3);
        task_env_destroy(&a);
        task_env_destroy(&b);
        task_env_destroy(&c);
        task_env_destroy(&s);
        task_model_destroy(&tm);
    }
}

/* Two envs on one shared model, stepped interleaved, match a lone env. */
Test(tasks, shared_model_interleaved, .init = s_quiet) {
    task_model_t *tm = task_model_new("walker2d");
    task_env_t *e1 = task_env_new(tm, 5, 1), *e2 = task_env_new(tm, 6, 1);
    task_env_t *ref = task_new("walker2d", 5, 1);
    float o1[17], o2[17], o3[17], a[6];
    rng_t r;
    rng_seed(&r, 1, 1);
    cr_assert_eq(task_reset(e1, o1), 0);
    cr_assert_eq(task_reset(e2, o2), 0);
    cr_assert_eq(task_reset(ref, o3), 0);
    for (int k = 0; k < 15; k++) {
        s_random_action(&r, tm, a);
        task_step_t r1, r2, r3;
        cr_assert_eq(task_step(e1, a, o1, &r1), 0);
        cr_assert_eq(task_step(e2, a, o2, &r2), 0);
        cr_assert_eq(task_step(ref, a, o3, &r3), 0);
        cr_assert_eq(memcmp(o1, o3, sizeof o1), 0);
        cr_assert_eq(r1.reward, r3.reward);
        if (r1.terminated) break;
    }
    task_env_destroy(&e1);
    task_env_destroy(&e2);
    task_env_destroy(&ref);
    task_model_destroy(&tm);
    cr_assert_null(tm);
    task_model_destroy(&tm); /* no-op on NULL */
}

/* ------------------------------------------------------------------------------------------ */

Test(tasks, ant_contact_forces_when_touching_floor, .init = s_quiet) {
    task_env_t *e = s_env("ant", 1);
    const mjModel *m = task_model_mj(task_env_model(e));
    mjData *d = task_env_data(e);
    float obs[111], a[8] = {0};
    cr_assert_eq(task_reset(e, obs), 0);
    int touched = 0;
    for (int k = 0; k < 40 && !touched; k++) {
        task_step_t r;
        cr_assert_eq(task_step(e, a, obs, &r), 0);
        int floor_contact = 0;
        for (int c = 0; c < d->ncon; c++)
            if (d->contact[c].geom1 == 0 || d->contact[c].geom2 == 0) floor_contact = 1;
        if (!floor_contact) continue;
        touched = 1;
        double block = 0, world = 0;
        for (int i = 27; i < 111; i++) block += fabs(obs[i]);
        for (int i = 27; i < 33; i++) world += fabs(obs[i]);
        cr_assert_gt(block, 1e-3, "contact block is zero while touching the floor");
        cr_assert_eq(world, 0.0, "world-body row must be zero");
        for (int i = 27; i < 111; i++) cr_assert(obs[i] >= -1.0f && obs[i] <= 1.0f, "clipped to [-1, 1]");
    }
    cr_assert(touched, "the ant never touched the floor in 40 steps");
    (void)m;
    task_env_destroy(&e);
}

Test(tasks, nan_and_inf_actions_rejected, .init = s_quiet) {
    for (int t = 0; t < TASK_COUNT; t++) {
        task_env_t *e = s_env(k_tasks[t], 1);
        const mjModel *m = task_model_mj(task_env_model(e));
        mjData *d = task_env_data(e);
        float obs[376], a[17] = {0};
        cr_assert_eq(task_reset(e, obs), 0);
        double qpos[32], qvel[32], ctrl[17], time = d->time;
        memcpy(qpos, d->qpos, sizeof(double) * (size_t)m->nq);
        memcpy(qvel, d->qvel, sizeof(double) * (size_t)m->nv);
        memcpy(ctrl, d->ctrl, sizeof(double) * (size_t)m->nu);
        task_step_t r = {0};
        a[m->nu - 1] = NAN;
        cr_assert_eq(task_step(e, a, obs, &r), -1, "%s NaN accepted", k_tasks[t]);
        a[m->nu - 1] = 0;
        a[0] = -INFINITY;
        cr_assert_eq(task_step(e, a, obs, &r), -1, "%s Inf accepted", k_tasks[t]);
        cr_assert_eq(memcmp(qpos, d->qpos, sizeof(double) * (size_t)m->nq), 0, "state touched");
        cr_assert_eq(memcmp(qvel, d->qvel, sizeof(double) * (size_t)m->nv), 0);
        cr_assert_eq(memcmp(ctrl, d->ctrl, sizeof(double) * (size_t)m->nu), 0, "ctrl touched");
        cr_assert_eq(d->time, time);
        cr_assert_eq(task_env_episode_steps(e), 0);
        cr_assert_eq(task_env_stats(e)->bad_actions, 2);
        a[0] = 0;
        cr_assert_eq(task_step(e, a, obs, &r), 0, "a good action still works");
        task_env_destroy(&e);
    }
}

Test(tasks, out_of_bounds_actions_clipped, .init = s_quiet) {
    for (int t = 0; t < TASK_COUNT; t++) {
        task_env_t *e = s_env(k_tasks[t], 2), *ref = s_env(k_tasks[t], 2);
        const task_model_t *tm = task_env_model(e);
        const mjModel *m = task_model_mj(tm);
        const float *lo = task_model_action_low(tm), *hi = task_model_action_high(tm);
        float o1[376], o2[376], big[17], clip[17];
        cr_assert_eq(task_reset(e, o1), 0);
        cr_assert_eq(task_reset(ref, o2), 0);
        for (int i = 0; i < m->nu; i++) {
            big[i] = (i % 2) ? 7.5f : -1e6f;
            clip[i] = (i % 2) ? hi[i] : lo[i];
        }
        task_step_t r1, r2;
        cr_assert_eq(task_step(e, big, o1, &r1), 0);
        cr_assert_eq(task_step(ref, clip, o2, &r2), 0);
        cr_assert_eq(memcmp(o1, o2, sizeof(float) * (size_t)task_model_obs_dim(tm)), 0, "%s", k_tasks[t]);
        cr_assert_eq(r1.reward, r2.reward, "%s: ctrl cost must use the clipped action", k_tasks[t]);
        for (int i = 0; i < m->nu; i++) cr_assert_eq(task_env_data(e)->ctrl[i], (double)clip[i]);
        cr_assert_eq(task_env_stats(e)->clipped, 1);
        cr_assert_eq(task_env_stats(ref)->clipped, 0);
        task_env_destroy(&e);
        task_env_destroy(&ref);
    }
}

Test(tasks, truncation_at_1000_steps, .init = s_quiet, .timeout = 60) {
    task_env_t *e = s_env("half_cheetah", 1);
    float obs[17], a[6] = {0};
    cr_assert_eq(task_reset(e, obs), 0);
    task_step_t r = {0};
    for (int k = 1; k <= TASK_MAX_STEPS; k++) {
        cr_assert_eq(task_step(e, a, obs, &r), 0);
        cr_assert_eq(r.truncated, k == TASK_MAX_STEPS, "step %d", k);
        cr_assert_eq(r.terminated, 0);
    }
    cr_assert_eq(task_env_episode_steps(e), TASK_MAX_STEPS);
    cr_assert_eq(task_step(e, a, obs, &r), -1, "past the time limit");
    cr_assert_eq(task_reset(e, obs), 0);
    cr_assert_eq(task_step(e, a, obs, &r), 0);
    cr_assert_eq(task_env_stats(e)->episodes, 2);
    task_env_destroy(&e);
}

Test(tasks, instability_ends_episode_and_is_counted, .init = s_quiet) {
    task_env_t *e = s_env("hopper", 1);
    mjData *d = task_env_data(e);
    float obs[11], a[3] = {0};
    cr_assert_eq(task_reset(e, obs), 0);
    double qpos[6], qvel[6] = {0};
    memcpy(qpos, d->qpos, sizeof qpos);
    qvel[3] = 1e30;
    cr_assert_eq(task_set_state(e, qpos, qvel), 0);
    task_step_t r;
    cr_assert_eq(task_step(e, a, obs, &r), 0);
    cr_assert(r.unstable && r.terminated);
    cr_assert_eq(r.reward, 0.0);
    for (int i = 0; i < 11; i++) cr_assert(isfinite(obs[i]));
    cr_assert_eq(task_env_stats(e)->unstable, 1);
    cr_assert_eq(task_reset(e, obs), 0, "recovers after reset");
    cr_assert_eq(task_step(e, a, obs, &r), 0);
    cr_assert(!r.unstable);
    task_env_destroy(&e);
}

/* A MuJoCo error (mju_error) inside a step is caught: -1, counted, and task_reset recovers.
 * Injected by exhausting the mjData stack, which makes MuJoCo's stack allocator call mju_error. */
Test(tasks, mujoco_error_is_recovered, .init = s_quiet) {
    task_env_t *e = s_env("walker2d", 1);
    mjData *d = task_env_data(e);
    float obs[17], a[6] = {0};
    task_step_t r;
    cr_assert_eq(task_step(e, a, obs, &r), -1, "step before the first reset is refused");
    cr_assert_eq(task_env_stats(e)->refused, 1);
    cr_assert_eq(task_reset(e, obs), 0);
    d->pstack = d->nstack - 8;
    cr_assert_eq(task_step(e, a, obs, &r), -1);
    cr_assert_eq(task_env_stats(e)->mj_errors, 1);
    cr_assert_eq(task_step(e, a, obs, &r), -1, "the env needs a reset after an error");
    cr_assert_eq(task_reset(e, obs), 0);
    cr_assert_eq(task_step(e, a, obs, &r), 0);
    cr_assert(!r.unstable);
    task_env_destroy(&e);
}

/* ------------------------------------------------------------------------------------------ */
/* All slow tests use the same .timeout: Criterion 2.4 leaks 48 bytes in its runner (LeakSanitizer
 * fails the SAN=address build) when tests with different timeout values run with --jobs 2. */
/* Uniform-random-policy statistics vs docs/ENVIRONMENTS.md section 8.2.
 * Tolerance: 4.5 standard errors of the difference between our mean and the reference mean,
 * sqrt(sd^2/n + sd^2/n_ref) with sd the reference std for returns and our sample std for lengths
 * (the reference gives no length std), plus the reference's rounding. A wrong reward coefficient,
 * noise, mass or health threshold moves these means by many standard errors. */

static void s_random_stats(const char *task, int episodes, double ref_ret, double ref_sd,
                           int ref_n, double ref_len, double ret_round, double len_round) {
    task_env_t *e = s_env(task, 2024);
    const task_model_t *tm = task_env_model(e);
    rng_t r;
    rng_seed(&r, 2024, 99);
    float obs[376], a[17];
    double sr = 0, sl = 0, sl2 = 0;
    for (int ep = 0; ep < episodes; ep++) {
        cr_assert_eq(task_reset(e, obs), 0);
        double ret = 0;
        int len = 0;
        for (;;) {
            s_random_action(&r, tm, a);
            task_step_t res;
            cr_assert_eq(task_step(e, a, obs, &res), 0);
            ret += res.reward;
            len++;
            if (res.terminated || res.truncated) break;
        }
        sr += ret;
        sl += len;
        sl2 += (double)len * len;
    }
    double n = episodes;
    double mean = sr / n, mlen = sl / n;
    double len_sd = sqrt(fmax(0.0, (sl2 - n * mlen * mlen) / (n - 1)));
    double tol_ret = 4.5 * ref_sd * sqrt(1.0 / n + 1.0 / ref_n) + ret_round;
    double tol_len = 4.5 * len_sd * sqrt(1.0 / n + 1.0 / ref_n) + len_round;
    cr_log_info("%s: %d episodes, return %.3f (ref %.3f, tol %.3f), length %.2f (ref %.1f, tol %.2f)",
                task, episodes, mean, ref_ret, tol_ret, mlen, ref_len, tol_len);
    cr_assert_leq(fabs(mean - ref_ret), tol_ret, "%s mean return %.3f vs %.3f (tol %.3f)", task, mean,
                  ref_ret, tol_ret);
    cr_assert_leq(fabs(mlen - ref_len), tol_len, "%s mean length %.2f vs %.1f (tol %.2f)", task, mlen,
                  ref_len, tol_len);
    cr_assert_eq(task_env_stats(e)->unstable, 0, "%s unstable episodes", task);
    task_env_destroy(&e);
}

Test(tasks, random_policy_hopper, .init = s_quiet, .timeout = 60) {
    s_random_stats("hopper", 2000, 18.3, 16.4, 5000, 22.1, 0.05, 0.05);
}
Test(tasks, random_policy_walker2d, .init = s_quiet, .timeout = 60) {
    s_random_stats("walker2d", 2000, 2.75, 6.1, 5000, 21.3, 0.005, 0.05);
}
Test(tasks, random_policy_half_cheetah, .init = s_quiet, .timeout = 60) {
    s_random_stats("half_cheetah", 120, -284.5, 76.6, 300, 1000.0, 0.05, 0.0);
}
Test(tasks, random_policy_ant, .init = s_quiet, .timeout = 60) {
    s_random_stats("ant", 160, -64.2, 99.8, 500, 186.0, 0.05, 0.5);
}
Test(tasks, random_policy_humanoid, .init = s_quiet, .timeout = 60) {
    s_random_stats("humanoid", 600, 118.3, 32.7, 5000, 24.2, 0.05, 0.05);
}
