/* The whole loop against the update alone, in one run: metasac-run (a learner, one actor and
 * the evaluator, separate processes over loopback, the defaults a user gets: replay ratio 1,
 * weights broadcast after every update, a checkpoint every 100,000 steps, evaluations of 10
 * episodes every 10,000 steps by an evaluator at nice 10) on Hopper with Meta-SAC, and this
 * process's sac_update rate on the same sizes and thread counts, as bench_update measures it.
 * The machine is shared and its speed drifts by 20-30% within minutes, so the two are interleaved: ROUNDS times, the run's update rate over a window (read
 * from its own metrics.jsonl), then every process of the run stopped (SIGSTOP) while this one
 * measures the update alone for 2 s (shorter than the learner's 3 s credit timeout), then the
 * run continued (SIGCONT) and given 2 s to settle. The warm-up (2,000 random steps instead of
 * 10,000, to save time: an update costs the same) is not counted.
 * Target: the loop sustains >= 90% of the update alone. Also prints the projected time to 1M
 * env steps at the loop's rate.
 *
 *   build/bench/bench_loop [WINDOW_SECONDS [metasac-run flags...]]   (default 20; 6 rounds:
 *   about 15,000 env steps measured, so one or two evaluations fall inside) */
#include <cblas.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bench.h"
#include "blas.h"
#include "replay.h"
#include "sac.h"

static void s_sleep(double s) {
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&t, NULL);
}

/* Updates/s of sac_update alone: Hopper sizes, Meta-SAC, batch and |D0| 256. */
static double s_update_alone(int threads, double seconds) {
    const int B = 256, O = 11, A = 3;
    nn_shape_t s;
    nn_shape_init(&s, O, A, 256);
    rng_t r;
    rng_seed(&r, 1, 0);
    bench_data_t d;
    bench_data(&d, B, O, A, &r);
    float low[3] = {-1, -1, -1}, high[3] = {1, 1, 1};
    sac_opts_t o;
    sac_opts_default(&o, ALGO_META_SAC, A);
    sac_f *a = sac_new_f(&s, &o, low, high, B, 1, 1);
    sac_set_threads_f(a, threads);
    for (int w = 0; w < 3; w++) sac_update_f(a, &d.b, &d.b, d.d0, B, NULL);
    /* the mean rate over the period, like the loop's (not the best burst) */
    long n = 0;
    double t0 = bench_now(), t;
    do {
        sac_update_f(a, &d.b, &d.b, d.d0, B, NULL);
        n++;
    } while ((t = bench_now() - t0) < seconds);
    double rate = (double)n / t;
    sac_destroy_f(&a);
    bench_data_free(&d);
    return rate;
}

/* The last line of path: its "time" (s since the learner started) and "updates" and
 * "env_steps". Returns 0, or -1 when there is no complete line yet. */
static int s_last_metrics(const char *path, double *time_s, double *updates, double *steps) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[8192], last[8192] = "";
    while (fgets(line, sizeof line, f))
        if (strchr(line, '\n')) memcpy(last, line, sizeof line);
    fclose(f);
    const char *t = strstr(last, "\"time\":"), *u = strstr(last, "\"updates\":"),
               *e = strstr(last, "\"env_steps\":");
    if (!t || !u || !e) return -1;
    *time_s = strtod(t + 7, NULL);
    *updates = strtod(u + 10, NULL);
    *steps = strtod(e + 12, NULL);
    return 0;
}

/* Sends sig to pid and to every process whose parent it is. */
static void s_signal_tree(pid_t pid, int sig) {
    kill(pid, sig);
    DIR *d = opendir("/proc");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *close = strrchr(buf, ')');  /* "pid (comm) state ppid ..." */
        char state;
        int ppid;
        if (close && sscanf(close + 1, " %c %d", &state, &ppid) == 2 && ppid == pid)
            kill((pid_t)atoi(e->d_name), sig);
    }
    closedir(d);
}

enum { ROUNDS = 6 };

int main(int argc, char **argv) {
    blas_pick_kernels(argv);  /* first: it may re-execute the program */
    double window = argc > 1 ? atof(argv[1]) : 20;
    if (window < 5) window = 5;
    const int threads = 2;
    openblas_set_num_threads(1);
    char dir[] = "/tmp/metasac-bench-loop-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char bin[4096], rd[4200], metrics[4300], th[64];
    snprintf(bin, sizeof bin, "%s/build/bin/metasac-run", METASAC_SOURCE_DIR);
    const char *env_bin = getenv("METASAC_BIN_DIR");
    if (env_bin) snprintf(bin, sizeof bin, "%s/metasac-run", env_bin);
    snprintf(rd, sizeof rd, "--run_dir=%s/run", dir);
    snprintf(metrics, sizeof metrics, "%s/run/metrics.jsonl", dir);
    snprintf(th, sizeof th, "--update_threads=%d", threads);

    printf("whole loop: metasac-run, Hopper, Meta-SAC, replay ratio 1, 1 actor + evaluator, "
           "update_threads %d, OpenBLAS %s kernels; %d interleaved rounds\n", threads,
           blas_core(), ROUNDS);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char logp[4400];
        snprintf(logp, sizeof logp, "%s/run.log", dir);
        if (!freopen(logp, "w", stdout) || !freopen(logp, "a", stderr)) _exit(127);
        char *args[64] = {bin, "--task=hopper", "--algo=meta_sac", rd, th, "--report_ms=1000",
                          "--total_steps=100000000", "--seed=1", "--random_steps=2000"};
        int na = 9;
        for (int i = 2; i < argc && na < 63; i++) args[na++] = argv[i];  /* later flags win */
        args[na] = NULL;
        execv(bin, args);
        _exit(127);
    }
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    /* warm-up: past the random-action phase and 2,000 more updates */
    double t0, u0, e0, t1, u1, e1, deadline = bench_now() + 600;
    int status, ok = 0;
    while (bench_now() < deadline) {
        s_sleep(0.5);
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "metasac-run exited early (see %s/run.log)\n", dir);
            return 1;
        }
        if (s_last_metrics(metrics, &t0, &u0, &e0) == 0 && e0 >= 4000) { ok = 1; break; }
    }
    double loop_u = 0, loop_e = 0, loop_t = 0, alone_sum = 0;
    for (int r = 0; ok && r < ROUNDS; r++) {
        if (s_last_metrics(metrics, &t0, &u0, &e0) != 0) { ok = 0; break; }
        s_sleep(window);
        if (s_last_metrics(metrics, &t1, &u1, &e1) != 0 || t1 <= t0) { ok = 0; break; }
        s_signal_tree(pid, SIGSTOP);
        double alone = s_update_alone(threads, 2);
        s_signal_tree(pid, SIGCONT);
        printf("round %d: whole loop %.1f updates/s over %.1f s; update alone %.1f updates/s\n",
               r + 1, (u1 - u0) / (t1 - t0), t1 - t0, alone);
        fflush(stdout);
        loop_u += u1 - u0;
        loop_e += e1 - e0;
        loop_t += t1 - t0;
        alone_sum += alone;
        s_sleep(2);  /* settle: the metrics line after a stop spans it */
    }
    s_signal_tree(pid, SIGCONT);
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    if (!ok) {
        fprintf(stderr, "no metrics from the run (see %s/run.log)\n", dir);
        return 1;
    }
    double loop = loop_u / loop_t, steps = loop_e / loop_t, alone = alone_sum / ROUNDS;
    printf("whole loop: %.1f updates/s, %.1f env steps/s; update alone: %.1f updates/s\n", loop,
           steps, alone);
    printf("ratio whole loop / update alone: %.2f (target >= 0.90)\n", loop / alone);
    printf("projected time to 1M env steps at the loop's rate: %.2f h\n", 1e6 / steps / 3600);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
