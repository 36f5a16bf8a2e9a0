/* The five MuJoCo locomotion tasks: Hopper, Walker2d, HalfCheetah, Ant, Humanoid.
 *
 * Definitions (docs/ENVIRONMENTS.md): the project's own MJCF models (common/tasks/models/NAME.xml,
 * MuJoCo 2.2.2 exact-capsule masses), the Gym v2 observations and rewards (Hopper 11, Walker2d 17,
 * HalfCheetah 17, Ant 111 with the clipped contact-force block, Humanoid 376),
 * mj_rnePostConstraint once after the frame_skip mj_steps of every env step (contact forces are
 * real), episodes truncated at TASK_MAX_STEPS (truncation is not termination).
 *
 * Ownership: a task_model_t holds one compiled mjModel and is read-only after task_model_new, so
 * one model can be shared by any number of envs (and threads) of a process. Each task_env_t owns
 * its mjData, RNG stream and counters and must be used by one thread at a time.
 * Hot path: task_reset and task_step allocate nothing.
 * Errors: bad input from the caller (NaN/Inf actions, a finished episode) returns -1 and leaves
 * the simulation untouched; a MuJoCo error inside stepping (mju_error) is logged and returns -1,
 * and the env then needs task_reset. Programming bugs (NULL env) abort via RL_ASSERT. */
#ifndef METASAC_TASK_H
#define METASAC_TASK_H

#include <stddef.h>
#include <stdint.h>

#include <mujoco/mujoco.h>

#define TASK_MAX_STEPS 1000 /* TimeLimit of all five tasks */
#define TASK_COUNT 5

typedef struct task_model_t task_model_t;
typedef struct task_env_t task_env_t;

/* Result of one env step (task_step). */
typedef struct {
    double reward;   /* v2 reward of this step; 0 when the step was unstable */
    int terminated;  /* 1 if unhealthy after the step, or unstable; the episode is over */
    int truncated;   /* 1 if this was step TASK_MAX_STEPS of the episode and it did not terminate */
    int unstable;    /* 1 if MuJoCo warned (bad qpos/qvel/qacc, ...) or the state went non-finite */
} task_step_t;

/* Per-env counters since task_env_new. */
typedef struct {
    uint64_t episodes;     /* task_reset calls that succeeded */
    uint64_t steps;        /* env steps taken (each = frame_skip mj_steps) */
    uint64_t unstable;     /* episodes ended by a MuJoCo warning or a non-finite state */
    uint64_t bad_actions;  /* task_step calls rejected for a NaN/Inf action */
    uint64_t clipped;      /* steps with at least one action entry clipped to the bounds */
    uint64_t mj_errors;    /* MuJoCo errors (mju_error) caught during reset/step */
    uint64_t refused;      /* task_step calls on a finished (or never started) episode */
} task_stats_t;

/* ---- names and model files ---- */

/* Canonical task names, i in [0, TASK_COUNT): "hopper", "walker2d", "half_cheetah", "ant",
 * "humanoid". Returns NULL out of range. */
const char *task_name_at(int i);
/* Canonical name for a user-given name, case-insensitive, '_'/'-' ignored, a trailing "-v2"/"v3"/
 * "v4" accepted ("HalfCheetah-v2" -> "half_cheetah"); NULL if unknown. Static string. */
const char *task_canonical_name(const char *name);
/* Finds <name>.xml (canonical name) in, in order: $METASAC_MODEL_DIR,
 * <dir of /proc/self/exe>/../share/metasac/models, METASAC_PREFIX/share/metasac/models,
 * METASAC_SOURCE_DIR/common/tasks/models. Writes the path to out[0..n). 0 found, -1 not. */
int task_model_path(const char *name, char *out, size_t n);
/* Routes MuJoCo's warnings and errors to common/log.h. Idempotent, thread-safe; called by
 * task_model_new. Errors inside task_reset/task_step are recovered from (longjmp, -1 returned);
 * an error anywhere else is logged and aborts (MuJoCo cannot continue after mju_error). */
void task_install_mujoco_handlers(void);

/* ---- shared model (read-only after creation) ---- */

/* Loads and checks the named task's model (any name task_canonical_name accepts). NULL, logged,
 * on an unknown name, a missing/invalid XML, or a model whose sizes are not the task's. */
task_model_t *task_model_new(const char *name);
/* Frees the model and NULLs *self_p; NULL or *NULL is a no-op. Destroy its envs first. */
void task_model_destroy(task_model_t **self_p);
const char *task_model_name(const task_model_t *tm); /* canonical name */
int task_model_obs_dim(const task_model_t *tm);      /* 11, 17, 17, 111, 376 */
int task_model_act_dim(const task_model_t *tm);      /* 3, 6, 6, 8, 17 (= mjModel nu) */
/* Action bounds [act_dim], the actuators' ctrlrange as float; owned by the model. */
const float *task_model_action_low(const task_model_t *tm);
const float *task_model_action_high(const task_model_t *tm);
int task_model_frame_skip(const task_model_t *tm); /* mj_steps per env step */
double task_model_dt(const task_model_t *tm);      /* timestep * frame_skip [s] */
double task_model_total_mass(const task_model_t *tm); /* [kg] */
const mjModel *task_model_mj(const task_model_t *tm); /* borrowed, read-only */
const char *task_model_file(const task_model_t *tm);  /* path it was loaded from */

/* ---- environments (mutable, one per worker) ---- */

/* New env on a shared model (borrowed: it must outlive the env). The RNG stream is
 * rng_seed(seed, stream); the same (seed, stream) gives the same episodes. Call task_reset first. */
task_env_t *task_env_new(const task_model_t *model, uint64_t seed, uint64_t stream);
/* Convenience: loads its own model (owned, freed by task_env_destroy). NULL if the model fails. */
task_env_t *task_new(const char *name, uint64_t seed, uint64_t stream);
/* Frees the env (and its model if it owns one) and NULLs *self_p; NULL or *NULL is a no-op. */
void task_env_destroy(task_env_t **self_p);

/* Starts an episode: the state mj_resetData gives (without its costly clearing of the mjData
 * stack), qpos0/qvel 0 plus the task's reset noise, mj_forward; contact forces read as zero.
 * Writes the initial observation to obs[obs_dim] (may be NULL). Returns 0, or -1 on a MuJoCo error. */
int task_reset(task_env_t *env, float *obs);
/* One env step with action[act_dim]: entries are clipped to [low, high]; any NaN/Inf entry
 * returns -1 with nothing changed (counted). Runs frame_skip mj_steps and mj_rnePostConstraint,
 * then writes the next observation to obs[obs_dim] (may be NULL) and the result to *out (not NULL).
 * Returns -1 also if the episode is over (terminated/truncated: call task_reset) or MuJoCo
 * raised an error (logged, counted; the env needs task_reset). */
int task_step(task_env_t *env, const float *action, float *obs, task_step_t *out);

/* Like Gym's set_state: qpos[nq], qvel[nv] copied in, then mj_forward. Starts the episode
 * clock anew (step count 0) without noise. For tests and tools. Returns 0 or -1. */
int task_set_state(task_env_t *env, const double *qpos, const double *qvel);
/* Observation of the current mjData into obs[obs_dim]. */
void task_observe(const task_env_t *env, float *obs);
/* 1 if the current state passes the task's health check (always 1 for HalfCheetah). */
int task_healthy(const task_env_t *env);
/* The x used for forward velocity: qpos[0] (planar tasks), torso xpos (Ant), mass-weighted
 * xipos (Humanoid), read from the current mjData. */
double task_forward_x(const task_env_t *env);

const task_model_t *task_env_model(const task_env_t *env);
/* The env's mjData: borrowed; writing to it is allowed for tests and tools (call mj_forward). */
mjData *task_env_data(task_env_t *env);
int task_env_episode_steps(const task_env_t *env); /* steps since the last reset */
const task_stats_t *task_env_stats(const task_env_t *env);

#endif
