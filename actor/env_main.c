/* metasac-env: inspect a locomotion task and measure it under uniform random actions.
 *
 *   metasac-env hopper --random_episodes=2000 --seed=1
 *
 * Options come from config_env_schema (common/config.c): --key=value flags, --config FILE, --help;
 * the task is the first bare argument (or --task).
 * Prints the observation/action sizes and bounds, the total mass, the mean and std of the
 * episode return and the mean episode length under actions uniform in the bounds, and env
 * steps per second (single thread, wrapper included). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "blas.h"
#include "config.h"
#include "log.h"
#include "rng.h"
#include "tasks/task.h"

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    blas_pick_kernels(argv);  /* first: it may re-execute the program */
    log_set_role("env");
    config_env_t c;
    char err[CONFIG_ERR_MAX];
    int rc0 = config_schema_load(&config_env_schema, &c, argc, argv, stderr, err, sizeof err);
    if (rc0 == 1) {
        config_schema_write_help(&config_env_schema, stdout);
        return 0;
    }
    if (rc0 < 0) {
        fprintf(stderr, "metasac-env: %s (see --help)\n", err);
        return 2;
    }
    log_level = (log_level_t)c.log_level;
    uint64_t episodes = (uint64_t)c.random_episodes, seed = (uint64_t)c.seed,
             stream = (uint64_t)c.stream;
    const char *name = c.task;
    if (!task_canonical_name(name)) {
        fprintf(stderr, "metasac-env: config: key 'task': unknown task '%s' (hopper, walker2d, "
                        "half_cheetah, ant, humanoid)\n", name);
        return 2;
    }
    task_model_t *tm = task_model_new(name);
    if (!tm) {
        fprintf(stderr, "metasac-env: cannot load the model of '%s' (see the log above; set "
                        "METASAC_MODEL_DIR to the directory holding the XML files)\n", name);
        return 1;
    }
    task_env_t *env = task_env_new(tm, seed, stream);
    if (!env) {
        task_model_destroy(&tm);
        return 1;
    }
    int od = task_model_obs_dim(tm), ad = task_model_act_dim(tm);
    const float *lo = task_model_action_low(tm), *hi = task_model_action_high(tm);
    const mjModel *m = task_model_mj(tm);
    printf("task            %s\n", task_model_name(tm));
    printf("model file      %s\n", task_model_file(tm));
    printf("obs dim         %d\n", od);
    printf("act dim         %d\n", ad);
    printf("action order   ");
    for (int i = 0; i < ad; i++) {
        int j = m->actuator_trnid[2 * i];
        printf(" %s[%g,%g]", mj_id2name(m, mjOBJ_JOINT, j), (double)lo[i], (double)hi[i]);
    }
    printf("\n");
    printf("total mass      %.6f kg\n", task_model_total_mass(tm));
    printf("dt              %g s (frame skip %d)\n", task_model_dt(tm), task_model_frame_skip(tm));

    int rc = 0;
    if (episodes > 0) {
        float *obs = rl_calloc((size_t)od, sizeof(float));
        float *act = rl_calloc((size_t)ad, sizeof(float));
        rng_t arng;
        rng_seed(&arng, seed, stream ^ 0x5a5a000000000000ull); /* action stream, distinct from env's */
        double sum = 0.0, sum2 = 0.0, len_sum = 0.0;
        uint64_t steps = 0, truncated = 0;
        double t0 = s_now();
        for (uint64_t e = 0; e < episodes && rc == 0; e++) {
            if (task_reset(env, obs) != 0) { rc = 1; break; }
            double ret = 0.0;
            int len = 0;
            for (;;) {
                for (int i = 0; i < ad; i++) act[i] = lo[i] + (hi[i] - lo[i]) * rng_uniformf(&arng);
                task_step_t r;
                if (task_step(env, act, obs, &r) != 0) { rc = 1; break; }
                ret += r.reward;
                len++;
                if (r.terminated || r.truncated) {
                    truncated += (uint64_t)(r.truncated && !r.terminated);
                    break;
                }
            }
            steps += (uint64_t)len;
            sum += ret;
            sum2 += ret * ret;
            len_sum += len;
        }
        double secs = s_now() - t0;
        if (rc != 0) {
            fprintf(stderr, "metasac-env: simulation error (see the log)\n");
        } else {
            double n = (double)episodes;
            double mean = sum / n;
            double var = episodes > 1 ? (sum2 - n * mean * mean) / (n - 1.0) : 0.0;
            double sd = sqrt(var > 0.0 ? var : 0.0);
            printf("episodes        %" PRIu64 " (uniform random actions, seed %" PRIu64 ", stream %" PRIu64 ")\n",
                   episodes, seed, stream);
            printf("return          mean %.3f  std %.3f  (stderr %.3f)\n", mean, sd, sd / sqrt(n));
            printf("episode length  mean %.2f  (%" PRIu64 " reached %d steps)\n", len_sum / n, truncated,
                   TASK_MAX_STEPS);
            printf("env steps/s     %.0f  (%" PRIu64 " steps in %.3f s, one thread)\n",
                   secs > 0 ? (double)steps / secs : 0.0, steps, secs);
            const task_stats_t *st = task_env_stats(env);
            printf("unstable        %" PRIu64 " episodes; clipped steps %" PRIu64 "\n", st->unstable, st->clipped);
        }
        free(obs);
        free(act);
    }
    task_env_destroy(&env);
    task_model_destroy(&tm);
    return rc;
}
