/* Shared task machinery: model lookup and loading, env lifetime, reset, step, MuJoCo handlers.
 * The per-task definitions (observation, reward terms, health check, noise) are tables in
 * hopper.c, walker2d.c, half_cheetah.c, ant.c, humanoid.c. */
#include "task.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "rng.h"
#include "task_internal.h"

#ifndef METASAC_PREFIX
#define METASAC_PREFIX "/usr/local"
#endif
#ifndef METASAC_SOURCE_DIR
#define METASAC_SOURCE_DIR "."
#endif

static const rl__task_spec_t *const s_specs[TASK_COUNT] = {
    &rl__task_hopper, &rl__task_walker2d, &rl__task_half_cheetah, &rl__task_ant, &rl__task_humanoid,
};

struct task_model_t {
    const rl__task_spec_t *spec;
    mjModel *m;            /* owned; never written after task_model_new */
    float *act_low;        /* [nu] */
    float *act_high;       /* [nu] */
    double dt;             /* timestep * frame_skip */
    char path[PATH_MAX];   /* XML it was loaded from */
};

struct task_env_t {
    const task_model_t *model; /* borrowed unless owned_model is set */
    task_model_t *owned_model; /* set by task_new */
    const rl__task_spec_t *spec;
    mjData *d;                 /* owned */
    rng_t rng;                 /* reset noise stream */
    int t;                     /* steps in the current episode */
    int done;                  /* episode over (or never started, or broken): task_reset needed */
    task_stats_t stats;
};

/* ---------------------------------------------------------------------------------------------
 * MuJoCo error and warning handlers. mju_error must not return into MuJoCo, so inside a guarded
 * region (reset/step/load on this thread) the handler longjmps back; elsewhere it aborts. */

static _Thread_local jmp_buf *s_guard;

static void s_mj_warning(const char *msg) { LOG_W("mujoco warning: %s", msg); }

static void s_mj_error(const char *msg) {
    LOG_E("mujoco error: %s", msg);
    if (s_guard) longjmp(*s_guard, 1);
    LOG_E("mujoco error outside a guarded call: aborting");
    abort();
}

static pthread_once_t s_handlers_once = PTHREAD_ONCE_INIT;
static void s_install_handlers(void) {
    mju_user_warning = s_mj_warning;
    mju_user_error = s_mj_error;
}
void task_install_mujoco_handlers(void) { pthread_once(&s_handlers_once, s_install_handlers); }

/* Runs n mj_steps then (if rne) mj_rnePostConstraint, or just mj_forward if n == 0, catching
 * mju_error. 0 or -1. */
static int s_simulate(const mjModel *m, mjData *d, int n, int rne) {
    jmp_buf jb;
    jmp_buf *volatile prev = s_guard;
    if (setjmp(jb)) {
        s_guard = prev;
        return -1;
    }
    s_guard = &jb;
    if (n == 0) {
        mj_forward(m, d);
    } else {
        for (int k = 0; k < n; k++) mj_step(m, d);
        if (rne) mj_rnePostConstraint(m, d);
    }
    s_guard = prev;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Names and files. */

const char *task_name_at(int i) { return (i >= 0 && i < TASK_COUNT) ? s_specs[i]->name : NULL; }

/* lower-case, drop '_' and '-', drop a trailing "v<digits>" */
static void s_normalize(const char *in, char *out, size_t n) {
    size_t k = 0;
    for (; *in && k + 1 < n; in++) {
        if (*in == '_' || *in == '-') continue;
        out[k++] = (char)tolower((unsigned char)*in);
    }
    out[k] = '\0';
    size_t j = k;
    while (j > 0 && isdigit((unsigned char)out[j - 1])) j--;
    if (j < k && j >= 2 && out[j - 1] == 'v') out[j - 1] = '\0'; /* "hopperv2" -> "hopper" */
}

const char *task_canonical_name(const char *name) {
    if (!name) return NULL;
    char want[64];
    s_normalize(name, want, sizeof want);
    for (int i = 0; i < TASK_COUNT; i++) {
        char have[64];
        s_normalize(s_specs[i]->name, have, sizeof have);
        if (strcmp(want, have) == 0) return s_specs[i]->name;
    }
    return NULL;
}

static const rl__task_spec_t *s_spec(const char *name) {
    const char *c = task_canonical_name(name);
    if (!c) return NULL;
    for (int i = 0; i < TASK_COUNT; i++)
        if (s_specs[i]->name == c) return s_specs[i];
    return NULL;
}

static int s_try(const char *dir, const char *suffix, const char *name, char *out, size_t n) {
    if (!dir || !*dir) return -1;
    int len = snprintf(out, n, "%s%s/%s.xml", dir, suffix, name);
    if (len < 0 || (size_t)len >= n) return -1;
    return access(out, R_OK) == 0 ? 0 : -1;
}

int task_model_path(const char *name, char *out, size_t n) {
    const char *c = task_canonical_name(name);
    if (!c || !out || n == 0) return -1;
    if (s_try(getenv("METASAC_MODEL_DIR"), "", c, out, n) == 0) return 0;
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            if (s_try(exe, "/../share/metasac/models", c, out, n) == 0) return 0;
        }
    }
    if (s_try(METASAC_PREFIX, "/share/metasac/models", c, out, n) == 0) return 0;
    if (s_try(METASAC_SOURCE_DIR, "/common/tasks/models", c, out, n) == 0) return 0;
    out[0] = '\0';
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Model. */

task_model_t *task_model_new(const char *name) {
    task_install_mujoco_handlers();
    const rl__task_spec_t *spec = s_spec(name);
    if (!spec) {
        LOG_E("unknown task '%s' (known: hopper, walker2d, half_cheetah, ant, humanoid)",
              name ? name : "(null)");
        return NULL;
    }
    char path[PATH_MAX];
    if (task_model_path(spec->name, path, sizeof path) != 0) {
        LOG_E("model file %s.xml not found (searched $METASAC_MODEL_DIR, <exe>/../share/metasac/"
              "models, " METASAC_PREFIX "/share/metasac/models, " METASAC_SOURCE_DIR
              "/common/tasks/models)", spec->name);
        return NULL;
    }
    char err[1024] = "";
    mjModel *m = mj_loadXML(path, NULL, err, sizeof err);
    if (!m) {
        LOG_E("cannot load %s: %s", path, err);
        return NULL;
    }
    if (err[0]) LOG_W("loading %s: %s", path, err);
    if (m->nq != spec->nq || m->nv != spec->nv || m->nu != spec->nu || m->nbody != spec->nbody) {
        LOG_E("%s: sizes nq %d nv %d nu %d nbody %d, task %s expects %d %d %d %d", path, m->nq,
              m->nv, m->nu, m->nbody, spec->name, spec->nq, spec->nv, spec->nu, spec->nbody);
        mj_deleteModel(m);
        return NULL;
    }
    for (int i = 0; i < m->nu; i++) {
        if (!m->actuator_ctrllimited[i]) {
            LOG_E("%s: actuator %d has no ctrlrange (every task actuator must be ctrllimited)",
                  path, i);
            mj_deleteModel(m);
            return NULL;
        }
    }
    task_model_t *tm = rl_calloc(1, sizeof *tm);
    tm->spec = spec;
    tm->m = m;
    tm->act_low = rl_calloc((size_t)m->nu, sizeof(float));
    tm->act_high = rl_calloc((size_t)m->nu, sizeof(float));
    for (int i = 0; i < m->nu; i++) {
        tm->act_low[i] = (float)m->actuator_ctrlrange[2 * i];
        tm->act_high[i] = (float)m->actuator_ctrlrange[2 * i + 1];
    }
    tm->dt = m->opt.timestep * spec->frame_skip;
    snprintf(tm->path, sizeof tm->path, "%s", path);
    LOG_D("task %s: model %s, obs %d, act %d, dt %g", spec->name, path, spec->obs_dim, m->nu,
          tm->dt);
    return tm;
}

void task_model_destroy(task_model_t **self_p) {
    if (!self_p || !*self_p) return;
    task_model_t *tm = *self_p;
    mj_deleteModel(tm->m);
    free(tm->act_low);
    free(tm->act_high);
    free(tm);
    *self_p = NULL;
}

const char *task_model_name(const task_model_t *tm) { return tm->spec->name; }
int task_model_obs_dim(const task_model_t *tm) { return tm->spec->obs_dim; }
int task_model_act_dim(const task_model_t *tm) { return tm->m->nu; }
const float *task_model_action_low(const task_model_t *tm) { return tm->act_low; }
const float *task_model_action_high(const task_model_t *tm) { return tm->act_high; }
int task_model_frame_skip(const task_model_t *tm) { return tm->spec->frame_skip; }
double task_model_dt(const task_model_t *tm) { return tm->dt; }
double task_model_total_mass(const task_model_t *tm) { return mj_getTotalmass(tm->m); }
const mjModel *task_model_mj(const task_model_t *tm) { return tm->m; }
const char *task_model_file(const task_model_t *tm) { return tm->path; }

/* ---------------------------------------------------------------------------------------------
 * Env. */

task_env_t *task_env_new(const task_model_t *model, uint64_t seed, uint64_t stream) {
    RL_ASSERT(model, "task_env_new: NULL model");
    task_install_mujoco_handlers();
    mjData *d = mj_makeData(model->m);
    if (!d) {
        LOG_E("task %s: mj_makeData failed", model->spec->name);
        return NULL;
    }
    task_env_t *env = rl_calloc(1, sizeof *env);
    env->model = model;
    env->spec = model->spec;
    env->d = d;
    env->done = 1;
    rng_seed(&env->rng, seed, stream);
    return env;
}

task_env_t *task_new(const char *name, uint64_t seed, uint64_t stream) {
    task_model_t *tm = task_model_new(name);
    if (!tm) return NULL;
    task_env_t *env = task_env_new(tm, seed, stream);
    if (!env) {
        task_model_destroy(&tm);
        return NULL;
    }
    env->owned_model = tm;
    return env;
}

void task_env_destroy(task_env_t **self_p) {
    if (!self_p || !*self_p) return;
    task_env_t *env = *self_p;
    mj_deleteData(env->d);
    task_model_destroy(&env->owned_model);
    free(env);
    *self_p = NULL;
}

const task_model_t *task_env_model(const task_env_t *env) { return env->model; }
mjData *task_env_data(task_env_t *env) { return env->d; }
int task_env_episode_steps(const task_env_t *env) { return env->t; }
const task_stats_t *task_env_stats(const task_env_t *env) { return &env->stats; }

void task_observe(const task_env_t *env, float *obs) {
    env->spec->observe(env->model->m, env->d, obs);
}

int task_healthy(const task_env_t *env) {
    return env->spec->healthy ? env->spec->healthy(env->model->m, env->d) : 1;
}

double task_forward_x(const task_env_t *env) { return env->spec->forward_x(env->model->m, env->d); }

/* What mj_resetData does for the state, without clearing the whole mjData arena: mj_resetData
 * in 2.2.2 also memsets the ~10 MB stack, which costs 50-70 us, about one Hopper env step, on
 * every reset. Everything not set here is either recomputed by mj_forward before it is read, or
 * (cacc, cfrc_int, cfrc_ext, only written by mj_rnePostConstraint) zeroed explicitly, so the
 * result is the state mj_resetData would give (tests/test_tasks.c checks the trajectories). */
static void s_reset_data(const mjModel *m, mjData *d) {
    d->pstack = 0; /* also recovers from a longjmp out of MuJoCo */
    memset(d->warning, 0, sizeof d->warning);
    memset(d->timer, 0, sizeof d->timer);
    d->solver_iter = 0;
    d->solver_nnz = 0;
    d->ne = d->nf = d->nefc = d->ncon = 0;
    d->time = 0.0;
    d->energy[0] = d->energy[1] = 0.0;
    mju_copy(d->qpos, m->qpos0, m->nq);
    mju_zero(d->qvel, m->nv);
    mju_zero(d->act, m->na);
    mju_zero(d->qacc_warmstart, m->nv);
    mju_zero(d->ctrl, m->nu);
    mju_zero(d->qfrc_applied, m->nv);
    mju_zero(d->xfrc_applied, 6 * m->nbody);
    mju_zero(d->qacc, m->nv);
    mju_zero(d->act_dot, m->na);
    mju_zero(d->userdata, m->nuserdata);
    mju_zero(d->sensordata, m->nsensordata);
    for (int b = 0; b < m->nbody; b++) {
        int id = m->body_mocapid[b];
        if (id >= 0) {
            mju_copy3(d->mocap_pos + 3 * id, m->body_pos + 3 * b);
            mju_copy4(d->mocap_quat + 4 * id, m->body_quat + 4 * b);
        }
    }
    mju_zero(d->cacc, 6 * m->nbody);
    mju_zero(d->cfrc_int, 6 * m->nbody);
    mju_zero(d->cfrc_ext, 6 * m->nbody);
}

int task_reset(task_env_t *env, float *obs) {
    RL_ASSERT(env, "task_reset: NULL env");
    const mjModel *m = env->model->m;
    const rl__task_spec_t *spec = env->spec;
    mjData *d = env->d;
    s_reset_data(m, d);
    double c = spec->qpos_noise;
    for (int i = 0; i < m->nq; i++) d->qpos[i] = m->qpos0[i] + (-c + 2.0 * c * rng_uniform(&env->rng));
    c = spec->qvel_noise;
    for (int i = 0; i < m->nv; i++)
        d->qvel[i] = spec->qvel_normal ? c * rng_normal(&env->rng)
                                       : (-c + 2.0 * c * rng_uniform(&env->rng));
    env->t = 0;
    if (s_simulate(m, d, 0, 0) != 0) {
        env->stats.mj_errors++;
        env->done = 1;
        return -1;
    }
    env->done = 0;
    env->stats.episodes++;
    if (obs) spec->observe(m, d, obs);
    return 0;
}

int task_set_state(task_env_t *env, const double *qpos, const double *qvel) {
    RL_ASSERT(env && qpos && qvel, "task_set_state: NULL argument");
    const mjModel *m = env->model->m;
    mjData *d = env->d;
    s_reset_data(m, d);
    memcpy(d->qpos, qpos, sizeof(double) * (size_t)m->nq);
    memcpy(d->qvel, qvel, sizeof(double) * (size_t)m->nv);
    env->t = 0;
    if (s_simulate(m, d, 0, 0) != 0) {
        env->stats.mj_errors++;
        env->done = 1;
        return -1;
    }
    env->done = 0;
    return 0;
}

/* Sum of the warning counters that signal a broken simulation. */
static int s_warnings(const mjData *d) {
    int n = 0;
    for (int i = 0; i < mjNWARNING; i++) n += d->warning[i].number;
    return n;
}

int task_step(task_env_t *env, const float *action, float *obs, task_step_t *out) {
    RL_ASSERT(env && action && out, "task_step: NULL argument");
    const task_model_t *tm = env->model;
    const mjModel *m = tm->m;
    const rl__task_spec_t *spec = env->spec;
    mjData *d = env->d;
    if (env->done) {
        if (env->stats.refused++ < 10)
            LOG_W("task %s: task_step on a finished episode refused: call task_reset first", spec->name);
        return -1;
    }
    for (int i = 0; i < m->nu; i++) {
        if (!isfinite(action[i])) {
            if (env->stats.bad_actions++ < 10)
                LOG_W("task %s: non-finite action[%d] rejected", spec->name, i);
            return -1;
        }
    }
    int clipped = 0;
    double ctrl_sq = 0.0;
    for (int i = 0; i < m->nu; i++) {
        float a = action[i];
        if (a < tm->act_low[i]) { a = tm->act_low[i]; clipped = 1; }
        if (a > tm->act_high[i]) { a = tm->act_high[i]; clipped = 1; }
        d->ctrl[i] = (double)a;
        ctrl_sq += (double)a * (double)a;
    }
    env->stats.clipped += (uint64_t)clipped;

    double x_before = spec->forward_x(m, d);
    int warn_before = s_warnings(d);
    int rc = s_simulate(m, d, spec->frame_skip, 1);
    env->t++;
    env->stats.steps++;
    if (rc != 0) {
        env->stats.mj_errors++;
        env->done = 1;
        return -1;
    }
    double x_after = spec->forward_x(m, d);

    int unstable = s_warnings(d) != warn_before || !rl__task_all_finite(d->qpos, m->nq) ||
                   !rl__task_all_finite(d->qvel, m->nv) || !isfinite(x_after);
    out->unstable = unstable;
    out->truncated = env->t >= TASK_MAX_STEPS;
    if (unstable) {
        if (env->stats.unstable++ < 10)
            LOG_W("task %s: simulation unstable at episode step %d (time %.3f): episode ended",
                  spec->name, env->t, d->time);
        out->reward = 0.0;
        out->terminated = 1;
    } else {
        double r = spec->forward_weight * (x_after - x_before) / tm->dt + spec->healthy_reward -
                   spec->ctrl_weight * ctrl_sq;
        if (spec->contact_cost) r -= spec->contact_cost(m, d);
        out->reward = r;
        out->terminated = spec->healthy ? !spec->healthy(m, d) : 0;
    }
    if (obs) {
        spec->observe(m, d, obs);
        if (unstable)
            for (int i = 0; i < spec->obs_dim; i++)
                if (!isfinite(obs[i])) obs[i] = 0.0f;
    }
    /* the time limit truncates only an episode that did not terminate: a transition is one or
       the other (the target bootstraps after a truncation, never after a termination) */
    if (out->terminated) out->truncated = 0;
    if (out->terminated || out->truncated) env->done = 1;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Helpers for the task files. */

double rl__task_qpos0_x(const mjModel *m, const mjData *d) {
    (void)m;
    return d->qpos[0];
}

int rl__task_all_finite(const double *x, int n) {
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}
