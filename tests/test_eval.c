/* metasac-eval (actor/eval_main.c) on the run directory of a real, short training: a learner
 * (server_run in a thread), one actor and one evaluator (actor_run in threads) over loopback.
 *
 * Which evaluation to compare with: the learner snapshots the weights for an evaluation when
 * env_steps reaches the interval, and in the default asynchronous mode updates owed for the
 * last steps may still run after it, so the final checkpoint can hold newer weights than the
 * evaluated ones. The run is therefore in sync mode (one actor in lock-step with the learner):
 * the update for the last env step runs in the same loop pass before the snapshot, no update
 * is owed after it, and the checkpoint at exit holds exactly the evaluated (trained) weights.
 * The test checks that premise too (eval.csv's weight_version = the checkpoint's updates).
 *
 * There are two evaluations (at total/2 and total), so reproducing the last one also replays
 * the evaluator's env streams across evaluations (--eval_index 1), and the evaluator steps two
 * envs, so episodes cycle over envs. The evaluator asks for id actors + 1, the id metasac-run
 * gives it, which metasac-eval uses by default. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actor.h"
#include "alloc.h"
#include "config.h"
#include "log.h"
#include "server.h"
#include "harness.h"



static char *s_fmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    cr_assert_geq(vasprintf(&s, fmt, ap), 0);
    va_end(ap);
    return s;
}

/* Runs cmd through sh (stderr joined to stdout); the exit status, the output in a new string. */
static int s_run(char **out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *cmd = NULL;
    cr_assert_geq(vasprintf(&cmd, fmt, ap), 0);
    va_end(ap);
    char *full = s_fmt("%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    cr_assert(p, "popen %s", cmd);
    size_t cap = 1 << 16, n = 0, k;
    char *b = rl_malloc(cap);
    while ((k = fread(b + n, 1, cap - 1 - n, p)) > 0) {
        n += k;
        if (n + 1 == cap) b = rl_realloc(b, cap *= 2);
    }
    b[n] = 0;
    int st = pclose(p);
    free(full);
    free(cmd);
    *out = b;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static const char *s_bin(void) {
    const char *bin = getenv("METASAC_BIN_DIR");
    cr_assert(bin, "METASAC_BIN_DIR names build/bin (make test sets it)");
    return bin;
}

/* A short Hopper run in sync mode with evaluations at total/2 and total (3 episodes each,
 * two evaluator envs) into a new temporary run directory, returned. *eval_id: the evaluator's. */
static char *s_train(uint32_t *eval_id) {
    char *dir = rl_strdup("/tmp/metasac-eval-XXXXXX");
    cr_assert(mkdtemp(dir));
    config_t cfg;
    config_defaults(&cfg);
    cfg.task = TASK_HOPPER;
    cfg.algo = ALGO_SAC_V2;
    cfg.sync = 1;
    cfg.hidden = 32;
    cfg.batch = 32;
    cfg.update_after = 100;
    cfg.random_steps = 200;
    cfg.total_steps = 800;
    cfg.eval_interval = 400;
    cfg.eval_episodes = 3;
    cfg.actors = 1;
    cfg.envs_per_actor = 2;  /* what metasac-run gives the evaluator; the test's actor has 1 */
    cfg.replay_capacity = 2000;
    cfg.checkpoint_interval = 0;
    cfg.heartbeat_ms = 100;
    cfg.heartbeat_timeout_ms = 5000;
    cfg.max_msg_bytes = 1 << 20;
    snprintf(cfg.run_dir, sizeof cfg.run_dir, "%s", dir);
    snprintf(cfg.learner_bind, sizeof cfg.learner_bind, "tcp://127.0.0.1:*");
    snprintf(cfg.weights_bind, sizeof cfg.weights_bind, "tcp://127.0.0.1:*");
    char err[256];
    learner_h l = {0};
    l.s = server_new(&cfg, err, sizeof err);
    cr_assert(l.s, "server_new: %s", err);
    pthread_create(&l.th, NULL, harness_learner_main, &l);
    actor_h a[2];
    for (int i = 0; i < 2; i++) {
        actor_opts_default(&a[i].o);
        snprintf(a[i].o.learner, sizeof a[i].o.learner, "%s", server_endpoint(l.s, 0));
        snprintf(a[i].o.weights, sizeof a[i].o.weights, "%s", server_endpoint(l.s, 1));
        a[i].o.evaluator = i == 1;
        a[i].o.num_envs = i == 1 ? cfg.envs_per_actor : 1;
        a[i].o.requested_id = i == 1 ? cfg.actors + 1 : 1;  /* as metasac-run's --id */
        a[i].o.heartbeat_ms = 100;
        a[i].o.timeout_ms = 5000;
        a[i].stop = 0;
        memset(&a[i].c, 0, sizeof a[i].c);
        pthread_create(&a[i].th, NULL, harness_actor_main, &a[i]);
    }
    pthread_join(l.th, NULL);  /* stops by itself after the evaluation at total_steps */
    server_counters_t c = *server_counters(l.s);
    for (int i = 0; i < 2; i++) {
        a[i].stop = 1;
        pthread_join(a[i].th, NULL);
    }
    server_destroy(&l.s);
    cr_assert(c.evals == 2 && c.last_eval_steps == 800, "two evaluations, the last at 800 steps "
              "(%llu, at %llu)", (unsigned long long)c.evals,
              (unsigned long long)c.last_eval_steps);
    cr_assert(c.updates == 800 - 100, "sync mode: one update per step after update_after (%llu)",
              (unsigned long long)c.updates);
    cr_assert(a[1].c.evals_run == 2);
    *eval_id = a[1].c.actor_id;
    return dir;
}

static void s_rmtree(char *dir) {
    char *cmd = s_fmt("rm -rf '%s'", dir);
    cr_expect(system(cmd) == 0);
    free(cmd);
    free(dir);
}

/* eval.csv's last row: weight_version, and the mean and std fields as printed. */
static void s_last_eval(const char *dir, unsigned long long *version, char *mean, char *sd) {
    char *path = s_fmt("%s/eval.csv", dir), line[512], last[512] = "";
    FILE *f = fopen(path, "r");
    cr_assert(f, "no %s", path);
    while (fgets(line, sizeof line, f)) snprintf(last, sizeof last, "%s", line);
    fclose(f);
    free(path);
    unsigned long long steps;
    unsigned eps;
    cr_assert(sscanf(last, "%llu,%llu,%63[^,],%63[^,],%u", &steps, version, mean, sd, &eps) == 5,
              "eval.csv's last row: %s", last);
    cr_assert(steps == 800 && eps == 3, "%s", last);
}

/* "mean M std S episodes E" from metasac-eval's output. */
static void s_printed(const char *out, char *mean, char *sd) {
    const char *m = strstr(out, "\nmean ");
    unsigned eps;
    cr_assert(m && sscanf(m, "\nmean %63s std %63s episodes %u", mean, sd, &eps) == 3,
              "no summary line in:\n%s", out);
}

Test(eval, returns_equal_the_evaluators_for_the_checkpointed_weights, .init = harness_quiet,
     .timeout = 180) {
    uint32_t id;
    char *dir = s_train(&id);
    cr_assert(id == 2, "the evaluator got id %u, not actors + 1", id);
    unsigned long long version;
    char csv_mean[64], csv_sd[64], mean[64], sd[64], *out;
    s_last_eval(dir, &version, csv_mean, csv_sd);

    /* defaults: the run's seed, eval_episodes, envs_per_actor and evaluator id actors + 1 */
    int rc = s_run(&out, "%s/metasac-eval '%s' --eval_index 1", s_bin(), dir);
    cr_assert(rc == 0, "metasac-eval failed (%d):\n%s", rc, out);
    char *want = s_fmt("weight version %llu)", version);
    cr_assert(strstr(out, want), "the checkpoint does not hold the evaluated weights v%llu "
              "(the premise of this test):\n%s", version, out);
    free(want);
    cr_assert(version > 0, "trained weights are evaluated");
    s_printed(out, mean, sd);
    cr_expect_str_eq(mean, csv_mean, "mean %s, the evaluator logged %s:\n%s", mean, csv_mean,
                     out);
    cr_expect_str_eq(sd, csv_sd, "std %s, the evaluator logged %s", sd, csv_sd);
    free(out);

    /* the same, every flag given explicitly */
    rc = s_run(&out, "%s/metasac-eval '%s' --episodes=3 --seed 1 --evaluator_id %u --envs 2 "
               "--eval_index=1", s_bin(), dir, id);
    cr_assert(rc == 0, "%s", out);
    s_printed(out, mean, sd);
    cr_expect_str_eq(mean, csv_mean);
    free(out);

    /* the comparison can fail: another evaluator's streams, the first evaluation's env state,
       or one env instead of two give other episodes */
    const char *other[] = {"--eval_index 1 --evaluator_id 3", "--eval_index 0",
                           "--eval_index 1 --envs 1"};
    for (int k = 0; k < 3; k++) {
        rc = s_run(&out, "%s/metasac-eval '%s' %s", s_bin(), dir, other[k]);
        cr_assert(rc == 0, "%s", out);
        s_printed(out, mean, sd);
        cr_expect_str_neq(mean, csv_mean, "%s gave the logged mean too", other[k]);
        free(out);
    }

    /* errors are clear, exit 1 (run) or 2 (usage) */
    rc = s_run(&out, "%s/metasac-eval /nonexistent-run", s_bin());
    cr_expect(rc == 1 && strstr(out, "config.ini"), "%d: %s", rc, out);
    free(out);
    rc = s_run(&out, "%s/metasac-eval '%s' --episodes 0", s_bin(), dir);
    cr_expect(rc == 2 && strstr(out, "--episodes"), "%d: %s", rc, out);
    free(out);
    rc = s_run(&out, "PATH=/nonexistent %s/metasac-eval '%s' --video '%s/x.mp4'", s_bin(), dir,
               dir);
    cr_expect(rc == 1 && strstr(out, "--video") && strstr(out, "ffmpeg"),
              "without ffmpeg --video fails with the reason: %d: %s", rc, out);
    free(out);
    s_rmtree(dir);
}

/* Reads frame k of an MP4 as raw RGB (w * h * 3 bytes) through ffmpeg. */
static unsigned char *s_frame(const char *mp4, int k, size_t n) {
    char *cmd = s_fmt("ffmpeg -v error -i '%s' -vf 'select=eq(n\\,%d)' -vframes 1 -f rawvideo "
                      "-pix_fmt rgb24 - 2>/dev/null", mp4, k);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    unsigned char *b = rl_malloc(n);
    size_t got = fread(b, 1, n, p);
    pclose(p);
    cr_assert(got == n, "frame %d: %zu of %zu bytes (%s)", k, got, n, cmd);
    free(cmd);
    return b;
}

Test(eval, video_has_a_frame_per_reset_and_step_and_shows_the_robot, .init = harness_quiet,
     .timeout = 240) {
    uint32_t id;
    char *dir = s_train(&id);
    char *mp4 = s_fmt("%s/episodes.mp4", dir), *out;
    int rc = s_run(&out, "%s/metasac-eval '%s' --episodes 2 --video '%s'", s_bin(), dir, mp4);
    cr_assert(rc == 0, "metasac-eval --video failed (%d):\n%s", rc, out);
    /* one frame per reset state and per step */
    long frames = 0, len;
    const char *p = out;
    while ((p = strstr(p, " length ")) && sscanf(p, " length %ld", &len) == 1) {
        frames += len + 1;
        p++;
    }
    cr_assert(frames > 2, "episode lengths in:\n%s", out);
    free(out);
    rc = s_run(&out, "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
               "stream=nb_read_frames,width,height -of csv=p=0 '%s'", mp4);
    int w = 0, h = 0;
    long n = 0;
    cr_assert(rc == 0 && sscanf(out, "%d,%d,%ld", &w, &h, &n) == 3, "ffprobe: %s", out);
    free(out);
    cr_expect(n == frames, "%ld frames in the MP4, expected %ld (sum of length + 1)", n, frames);
    cr_assert(w > 0 && h > 0);
    /* not blank: the frames vary, and the robot moves between two frames of an episode */
    size_t bytes = (size_t)w * (size_t)h * 3;
    unsigned char *f0 = s_frame(mp4, 0, bytes), *f1 = s_frame(mp4, (int)(frames / 4), bytes);
    double s = 0, s2 = 0;
    size_t differ = 0;
    for (size_t i = 0; i < bytes; i++) {
        s += f1[i];
        s2 += (double)f1[i] * f1[i];
        differ += abs((int)f0[i] - (int)f1[i]) > 24;
    }
    double var = s2 / (double)bytes - (s / (double)bytes) * (s / (double)bytes);
    cr_expect(var > 100, "pixel variance %.1f: a blank frame", var);
    cr_expect(differ > 100, "%zu bytes differ between frames 0 and %ld: nothing moves", differ,
              frames / 4);
    free(f0);
    free(f1);
    free(mp4);
    s_rmtree(dir);
}
