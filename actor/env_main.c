/* metasac-env: inspect a locomotion task and measure it under uniform random actions.
 *
 *   metasac-env hopper --random-episodes 2000 --seed 1
 *
 * Prints the observation/action sizes and bounds, the total mass, the mean and std of the
 * episode return and the mean episode length under actions uniform in the bounds, and env
 * steps per second (single thread, wrapper included). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "rng.h"
#include "tasks/task.h"

static void s_usage(FILE *f) {
    fprintf(f,
            "usage: metasac-env TASK [options]\n"
            "  TASK: hopper | walker2d | half_cheetah | ant | humanoid (Gym names like Hopper-v2 too)\n"
            "  -n, --random-episodes N   episodes under uniform random actions (default 100, 0: none)\n"
            "  -s, --seed S              run seed (default 1)\n"
            "      --stream K            RNG stream id of the env (default 0)\n"
            "  -l, --log-level LEVEL     debug|info|warn|error|off (default warn)\n"
            "  -h, --help                this text\n");
}

/* Parses a whole unsigned decimal number no larger than max. 0 or -1. */
static int s_parse_u64(const char *s, uint64_t max, uint64_t *out) {
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v > max) return -1;
    *out = (uint64_t)v;
    return 0;
}

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    log_set_role("env");
    log_level = LOG_WARN;
    uint64_t episodes = 100, seed = 1, stream = 0;
    enum { OPT_STREAM = 256 };
    static const struct option opts[] = {
        {"random-episodes", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"stream", required_argument, NULL, OPT_STREAM},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "n:s:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (s_parse_u64(optarg, 100000000u, &episodes) != 0) {
                fprintf(stderr, "metasac-env: --random-episodes wants an integer in [0, 1e8], got '%s'\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (s_parse_u64(optarg, UINT64_MAX, &seed) != 0) {
                fprintf(stderr, "metasac-env: --seed wants a non-negative integer, got '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_STREAM:
            if (s_parse_u64(optarg, UINT64_MAX, &stream) != 0) {
                fprintf(stderr, "metasac-env: --stream wants a non-negative integer, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'l':
            if (log_parse_level(optarg, &log_level) != 0) {
                fprintf(stderr, "metasac-env: unknown log level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "metasac-env: %s\n", optind >= argc ? "missing TASK" : "exactly one TASK expected");
        s_usage(stderr);
        return 2;
    }
    const char *name = argv[optind];
    if (!task_canonical_name(name)) {
        fprintf(stderr, "metasac-env: unknown task '%s' (hopper, walker2d, half_cheetah, ant, humanoid)\n", name);
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
