/* Chaos: a learner, four actors and an evaluator run as real processes (metasac-learner and
 * metasac-actor from $METASAC_BIN_DIR) while a seeded schedule SIGKILLs one of them every 2-6 s
 * and restarts it after 0-1 s with the same command line (the learner resumes from its run
 * directory's checkpoint; an actor asks for its old id). At the end everything is stopped with
 * SIGTERM and the run directory is checked:
 *   - every learner life after a restart resumed from a checkpoint (once one existed) and made
 *     progress past the point it resumed from;
 *   - counters never went backwards: non-decreasing within a life, and a restart resumes at or
 *     after the last checkpoint completed before the kill (a SIGKILL loses at most the steps
 *     after it);
 *   - the final checkpoint's replay buffer holds only finite, in-bounds rows;
 *   - the learner's resident memory stayed under a bound computed from the config;
 *   - overall progress, every actor stepped, the evaluator reported, nobody died by itself.
 *
 * Environment: CHAOS_SECONDS (default 60; e.g. 600 for a long run), CHAOS_SEED (default: from
 * the clock; always printed, so a failure can be replayed with the same kill schedule),
 * CHAOS_KEEP=1 keeps the run directory of a passing run (a failing run always keeps it). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "checkpoint.h"
#include "config.h"
#include "replay.h"
#include "rng.h"
#include "sac.h"
#include "tasks/task.h"

/* ---- parameters ---- */

#define CHAOS_DEFAULT_SECONDS 60
#define CHAOS_TIMEOUT_S 1800      /* Criterion's hard limit: CHAOS_SECONDS up to 1500 */
#define CHAOS_MARGIN_S 300        /* internal watchdog: CHAOS_SECONDS + this */
#define CHAOS_WARMUP_S 3.0        /* no kill before this */
#define CHAOS_SETTLE_S 8.0        /* no kill in the last seconds: every process ends a live run */
#define CHAOS_GAP_MIN_S 2.0       /* between two kills */
#define CHAOS_GAP_MAX_S 6.0
#define CHAOS_LEARNER_P 0.2       /* chance that a kill hits the learner ... */
#define CHAOS_LEARNER_LIFE_S 10.0 /* ... if it has lived at least this long */
#define CHAOS_RSS_EVERY_S 0.5
#define CHAOS_ACTORS 4
#define CHAOS_PROCS (CHAOS_ACTORS + 2) /* [0] learner, [1..4] actors, [5] evaluator */
#define CHAOS_EVALUATOR (CHAOS_ACTORS + 1)
#define CHAOS_EVALUATOR_ID 100

/* Physical plausibility of stored rows: Hopper's observations are positions and velocities
 * (velocities clipped to +-10 by the task), its reward is at most a few per step; anything
 * beyond these is corruption, not physics. */
#define OBS_ABS_MAX 1e4f
#define REWARD_ABS_MAX 1e3f

/* Overall progress: unloaded this config runs ~3000 env steps/s; with sanitizers, two shared
 * cores, the kills and the other tests, 20/s is still far below any healthy run. */
#define MIN_STEPS_PER_S 20
/* The evaluator must have reported once the run passed this many evaluation points. */
#define EVAL_POINTS_REQUIRED 4

#define EVAL_INTERVAL 2000
#define REPLAY_CAPACITY 20000

/* ---- processes ---- */

typedef struct {
    pid_t pid;
    const char *name;
    char log[512];
    char *argv[24];
    int kills, starts, unexpected;
    double started;
} proc_t;

typedef struct {
    size_t log_off, metrics_off; /* where this life's lines start in learner.log/metrics.jsonl */
    int ckpt_existed;            /* checkpoint.bin was there when it started */
    double t_start, t_end;
    int killed;                  /* ended by our SIGKILL (else by SIGTERM at the end, or itself) */
} life_t;

static proc_t s_p[CHAOS_PROCS];
static char s_dir[256];
static volatile sig_atomic_t s_watchdog_fired;
static int s_failures; /* failed expectations: a failing run keeps its directory */

/* cr_expect that also counts the failure */
#define CHAOS_EXPECT(cond, ...)                                                                    \
    do {                                                                                           \
        int ok_ = (cond) ? 1 : 0;                                                                  \
        s_failures += !ok_;                                                                        \
        cr_expect(ok_, __VA_ARGS__);                                                               \
    } while (0)

static double s_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Kills whatever is still running; safe from a signal handler (kill and waitpid only). */
static void s_kill_all(void) {
    for (int i = 0; i < CHAOS_PROCS; i++) {
        pid_t pid = s_p[i].pid;
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            s_p[i].pid = 0;
        }
    }
}

static void s_on_watchdog(int sig) {
    s_watchdog_fired = 1;
    s_kill_all();
    signal(sig, SIG_DFL);
    raise(sig); /* the worker dies: Criterion reports the test as crashed */
}

static void s_fini(void) {
    alarm(0);
    s_kill_all();
}

static long s_file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

static void s_start(proc_t *p) {
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* if the test dies (crash, Criterion's timeout), the children die with it */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(126);
        int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(p->argv[0], p->argv);
        fprintf(stderr, "chaos: cannot run %s: %s\n", p->argv[0], strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    p->starts++;
    p->started = s_now();
}

static long s_rss_kb(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* ---- the run's state ---- */

typedef struct {
    double t0;
    life_t *lives;
    int nlives, maxlives;
    long rss_max_kb;
    double rss_max_at;
    int rss_samples;
    double next_rss;
    int unexpected;
    char unexpected_msg[1024];
    char ckpt_path[300], log_path[300], metrics_path[300];
} run_t;

static void s_learner_life_begin(run_t *r) {
    cr_assert(r->nlives < r->maxlives, "the learner keeps dying:%s (see %s and %s/learner.out)",
              r->unexpected_msg, r->log_path, s_dir);
    life_t *l = &r->lives[r->nlives++];
    l->log_off = (size_t)s_file_size(r->log_path);
    l->metrics_off = (size_t)s_file_size(r->metrics_path);
    l->ckpt_existed = access(r->ckpt_path, F_OK) == 0;
    l->t_start = s_now() - r->t0;
    s_start(&s_p[0]);
}

static void s_learner_life_end(run_t *r, int killed) {
    life_t *l = &r->lives[r->nlives - 1];
    l->t_end = s_now() - r->t0;
    l->killed = killed;
}

/* Restarts a process that exited without being asked to (that is a failure, recorded). */
static void s_reap(run_t *r) {
    for (int i = 0; i < CHAOS_PROCS; i++) {
        int st;
        if (s_p[i].pid <= 0 || waitpid(s_p[i].pid, &st, WNOHANG) != s_p[i].pid) continue;
        s_p[i].pid = 0;
        s_p[i].unexpected++;
        r->unexpected++;
        size_t n = strlen(r->unexpected_msg);
        snprintf(r->unexpected_msg + n, sizeof r->unexpected_msg - n, " %s at %.1f s (%s %d);",
                 s_p[i].name, s_now() - r->t0, WIFEXITED(st) ? "status" : "signal",
                 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        if (i == 0) {
            s_learner_life_end(r, 0);
            s_learner_life_begin(r);
        } else {
            s_start(&s_p[i]);
        }
    }
}

static void s_sample_rss(run_t *r) {
    double now = s_now();
    if (now < r->next_rss || s_p[0].pid <= 0) return;
    r->next_rss = now + CHAOS_RSS_EVERY_S;
    long kb = s_rss_kb(s_p[0].pid);
    if (kb < 0) return;
    r->rss_samples++;
    if (kb > r->rss_max_kb) {
        r->rss_max_kb = kb;
        r->rss_max_at = now - r->t0;
    }
}

static void s_wait_until(run_t *r, double t) {
    while (s_now() - r->t0 < t) {
        s_reap(r);
        s_sample_rss(r);
        usleep(20000);
    }
}

/* ---- the kill schedule: a pure function of the seed ---- */

typedef struct {
    double t, delay;
    int victim;
} event_t;

static uint64_t s_mix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double s_unit(uint64_t *x) { return (double)(s_mix(x) >> 11) * 0x1p-53; }

static int s_schedule(uint64_t seed, double duration, event_t *ev, int max) {
    uint64_t x = seed;
    double t = CHAOS_WARMUP_S, learner_since = 0;
    int n = 0;
    while (n < max) {
        /* four draws per event, always, so the schedule depends on the seed only */
        double gap = CHAOS_GAP_MIN_S + (CHAOS_GAP_MAX_S - CHAOS_GAP_MIN_S) * s_unit(&x);
        double learner = s_unit(&x), which = s_unit(&x), delay = s_unit(&x);
        t += gap;
        if (t > duration - CHAOS_SETTLE_S) break;
        int v = 1 + (int)(which * (CHAOS_PROCS - 1));
        if (v > CHAOS_PROCS - 1) v = CHAOS_PROCS - 1;
        if (learner < CHAOS_LEARNER_P && t - learner_since >= CHAOS_LEARNER_LIFE_S) {
            v = 0;
            learner_since = t + delay;
        }
        ev[n].t = t;
        ev[n].victim = v;
        ev[n].delay = delay;
        n++;
    }
    return n;
}

/* ---- reading the run directory ---- */

static char *s_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        *len = 0;
        return rl_strdup("");
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = rl_malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[got] = 0;
    *len = got;
    return b;
}

/* "... KEY N env steps, M updates" at the last KEY of the line; 1 if found. */
static int s_steps_after(const char *line, const char *key, unsigned long long *steps,
                         unsigned long long *updates) {
    const char *p = strstr(line, key), *q;
    if (!p) return 0;
    while ((q = strstr(p + 1, key))) p = q;
    return sscanf(p + strlen(key), "%llu env steps, %llu updates", steps, updates) == 2;
}

static int s_json_u64(const char *line, const char *key, unsigned long long *v) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(line, k);
    if (!p) return 0;
    char *end;
    *v = strtoull(p + strlen(k), &end, 10);
    return end != p + strlen(k);
}

typedef struct {
    int resumed;                     /* a "resumed from" line */
    unsigned long long res_steps, res_updates;
    int nckpt;                       /* "checkpoint at" lines */
    unsigned long long ckpt_steps, ckpt_updates; /* the last one */
    unsigned long long ckpt_gap;     /* most env steps between two checkpoints (or the start) */
    int stopped;                     /* "stopped at" line (SIGTERM) */
    unsigned long long stop_steps, stop_updates;
    int nmetrics;
    unsigned long long max_steps, max_updates;   /* over every line of the life */
    int backwards;                   /* metrics going down within the life */
    char backwards_msg[256];
} life_stats_t;

static void s_parse_life(const char *log, size_t lo, size_t hi, const char *met, size_t mlo,
                         size_t mhi, life_stats_t *s) {
    memset(s, 0, sizeof *s);
    char line[2048];
    for (size_t i = lo; i < hi;) {
        size_t j = i;
        while (j < hi && log[j] != '\n') j++;
        size_t n = j - i < sizeof line - 1 ? j - i : sizeof line - 1;
        memcpy(line, log + i, n);
        line[n] = 0;
        i = j + 1;
        unsigned long long a, b;
        if (strstr(line, "learner: resumed from ") && s_steps_after(line, " at ", &a, &b)) {
            s->resumed = 1;
            s->res_steps = a;
            s->res_updates = b;
        } else if (s_steps_after(line, "learner: checkpoint at ", &a, &b)) {
            unsigned long long from = s->nckpt ? s->ckpt_steps : s->res_steps;
            if (a > from && a - from > s->ckpt_gap) s->ckpt_gap = a - from;
            s->nckpt++;
            s->ckpt_steps = a;
            s->ckpt_updates = b;
        } else if (s_steps_after(line, "learner: stopped at ", &a, &b)) {
            s->stopped = 1;
            s->stop_steps = a;
            s->stop_updates = b;
        } else {
            continue;
        }
        if (a > s->max_steps) s->max_steps = a;
        if (b > s->max_updates) s->max_updates = b;
    }
    unsigned long long prev_s = 0, prev_u = 0;
    for (size_t i = mlo; i < mhi;) {
        size_t j = i;
        while (j < mhi && met[j] != '\n') j++;
        size_t n = j - i < sizeof line - 1 ? j - i : sizeof line - 1;
        memcpy(line, met + i, n);
        line[n] = 0;
        i = j + 1;
        unsigned long long st, up;
        if (!s_json_u64(line, "env_steps", &st) || !s_json_u64(line, "updates", &up)) continue;
        if (s->nmetrics > 0 && (st < prev_s || up < prev_u) && !s->backwards) {
            s->backwards = 1;
            snprintf(s->backwards_msg, sizeof s->backwards_msg,
                     "metrics line %d: env_steps %llu updates %llu after %llu / %llu",
                     s->nmetrics + 1, st, up, prev_s, prev_u);
        }
        prev_s = st;
        prev_u = up;
        s->nmetrics++;
        if (st > s->max_steps) s->max_steps = st;
        if (up > s->max_updates) s->max_updates = up;
    }
}

/* Env steps of the last "stopped after N env steps" line of an actor's log; -1 if none. */
static long long s_actor_final_steps(const char *path) {
    size_t n;
    char *b = s_slurp(path, &n);
    long long steps = -1;
    const char *p = b, *q;
    while ((q = strstr(p, ": stopped after "))) {
        steps = strtoll(q + strlen(": stopped after "), NULL, 10);
        p = q + 1;
    }
    free(b);
    return steps;
}

static int s_count_lines(const char *path) {
    size_t n;
    char *b = s_slurp(path, &n);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += b[i] == '\n';
    free(b);
    return lines;
}

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* ---- the final checkpoint ---- */

typedef struct {
    unsigned long long env_steps, inserted;
    size_t size;
    long bad_rows;
    char first_bad[256];
    long bad_params;
    size_t row_bytes, state_bytes;
} ckpt_check_t;

static int s_vec_ok(const float *v, int n, float absmax) {
    for (int k = 0; k < n; k++)
        if (!isfinite(v[k]) || fabsf(v[k]) > absmax) return 0;
    return 1;
}

/* Loads <dir>/checkpoint.bin into objects built like the learner's (learner/server.c) and
 * checks every stored row and every network parameter. */
static void s_check_checkpoint(ckpt_check_t *out) {
    memset(out, 0, sizeof *out);
    char path[300], err[1024];
    snprintf(path, sizeof path, "%s/config.ini", s_dir);
    config_t cfg;
    char *argv[] = {"chaos", "--config", path, NULL};
    cr_assert(config_load(&cfg, 3, argv, err, sizeof err) == 0, "%s", err);
    const char *task = config_task_name(cfg.task);
    task_model_t *m = task_model_new(task);
    cr_assert(m, "task %s", task);
    int O = task_model_obs_dim(m), A = task_model_act_dim(m);
    const float *lo = task_model_action_low(m), *hi = task_model_action_high(m);
    nn_shape_t shape;
    nn_shape_init(&shape, O, A, cfg.hidden);
    sac_opts_t o;
    sac_opts_default(&o, (algo_t)cfg.algo, A);
    int cap = cfg.batch > cfg.d0_size ? cfg.batch : cfg.d0_size;
    sac_f *agent = sac_new_f(&shape, &o, lo, hi, cap, 1, RNG_STREAM_LEARNER);
    replay_t *rp = replay_new(O, A, (size_t)cfg.replay_capacity);
    d0_t *d0 = d0_new(O, cfg.d0_size, (d0_mode_t)cfg.d0_mode);
    rng_t rng;
    rng_seed(&rng, 1, 2);
    ckpt_t c = {task, config_algo_name(cfg.algo), agent, rp, d0, &rng, 0, 0};
    snprintf(path, sizeof path, "%s/checkpoint.bin", s_dir);
    cr_assert(checkpoint_load_file(path, &c, err, sizeof err) == 0, "final checkpoint: %s", err);
    out->env_steps = c.env_steps;
    out->inserted = rp->inserted;
    out->size = rp->size;
    out->row_bytes = sizeof(float) * (size_t)(2 * O + A + 2);
    out->state_bytes = sizeof(float) * agent->state_n;
    cr_assert(rp->size <= rp->capacity && rp->next < rp->capacity);
    for (size_t i = 0; i < rp->size; i++) {
        const float *ob = rp->obs + i * (size_t)O, *nx = rp->next_obs + i * (size_t)O,
                    *ac = rp->act + i * (size_t)A;
        const char *what = NULL;
        if (!s_vec_ok(ob, O, OBS_ABS_MAX)) what = "obs";
        else if (!s_vec_ok(nx, O, OBS_ABS_MAX)) what = "next_obs";
        else if (!isfinite(rp->rew[i]) || fabsf(rp->rew[i]) > REWARD_ABS_MAX) what = "reward";
        else if (!(rp->done[i] == 0.0f || rp->done[i] == 1.0f)) what = "done";
        for (int k = 0; !what && k < A; k++)
            if (!(ac[k] >= lo[k] && ac[k] <= hi[k])) what = "action";
        if (what && out->bad_rows++ == 0)
            snprintf(out->first_bad, sizeof out->first_bad,
                     "row %zu: %s (reward %g, done %g, act[0] %g)", i, what, (double)rp->rew[i],
                     (double)rp->done[i], (double)ac[0]);
    }
    for (int i = 0; i < d0->size; i++)
        if (!s_vec_ok(d0->obs + (size_t)i * (size_t)O, O, OBS_ABS_MAX) && out->bad_rows++ == 0)
            snprintf(out->first_bad, sizeof out->first_bad, "D0 row %d", i);
    for (size_t i = 0; i < agent->state_n; i++) out->bad_params += !isfinite(agent->state[i]);
    sac_destroy_f(&agent);
    replay_destroy(&rp);
    d0_destroy(&d0);
    task_model_destroy(&m);
}

/* ---- the memory bound ----
 * Measured (hidden 32, replay 20000, 4 actors + evaluator, build/ -O3): the learner's VmRSS is
 * ~14.6 MB right after start and levels off at ~16.8 MB once the replay buffer is full. It is
 * the shared libraries and their data (OpenBLAS, MuJoCo, ZeroMQ with its I/O thread, protobuf-c,
 * libc: the fixed allowance below), plus the replay buffer (capacity x row bytes, 2.2 MB here),
 * the networks with targets and optimizer state (state_n floats, ~0.1 MB), the decoder and send
 * buffers (a Welcome with the weights, a few KB) and ZeroMQ's queues (bounded by the high-water
 * marks; at send_batch 8 a message is < 1 KB). The bound is twice that estimate: a learner that
 * keeps one extra copy of the replay per restart, or leaks per peer or per message, crosses it
 * within a minute; a healthy one sits at half of it.
 * AddressSanitizer adds shadow memory, redzones, allocator metadata and its quarantine of freed
 * blocks (capped for the children at 16 MB below; the default 256 MB would make any bound
 * meaningless): measured ~48 MB at the end of a 60 s run under SAN=address,undefined. Its
 * fixed part (RSS_SAN_MB: quarantine + runtime) and a factor on the heap (shadow + redzones)
 * give an estimate of ~43 MB, so the bound is ~86 MB there. */
#define RSS_FIXED_MB 14.0
#if defined(__SANITIZE_ADDRESS__)
#define RSS_SAN_MB 24.0
#define RSS_SAN_FACTOR 2.0
#else
#define RSS_SAN_MB 0.0
#define RSS_SAN_FACTOR 1.0
#endif

static double s_rss_bound_mb(const ckpt_check_t *k, long capacity) {
    double heap = (double)capacity * (double)k->row_bytes + 4.0 * (double)k->state_bytes;
    double estimate = RSS_FIXED_MB + RSS_SAN_MB + RSS_SAN_FACTOR * heap / 1048576.0;
    return 2.0 * estimate;
}

/* ---- the test ---- */

static void s_args(proc_t *p, int n, ...) {
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) p->argv[i] = rl_strdup(va_arg(ap, const char *));
    va_end(ap);
    p->argv[n] = NULL;
}

static void s_free_args(void) {
    for (int i = 0; i < CHAOS_PROCS; i++)
        for (int k = 0; s_p[i].argv[k]; k++) {
            free(s_p[i].argv[k]);
            s_p[i].argv[k] = NULL;
        }
}

/* Two distinct free loopback ports, both held while choosing so they differ. */
static void s_free_ports(int port[2]) {
    int fd[2];
    for (int i = 0; i < 2; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert(fd[i] >= 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        cr_assert(bind(fd[i], (struct sockaddr *)&a, sizeof a) == 0);
        socklen_t len = sizeof a;
        cr_assert(getsockname(fd[i], (struct sockaddr *)&a, &len) == 0);
        port[i] = ntohs(a.sin_port);
    }
    close(fd[0]);
    close(fd[1]);
}

Test(chaos, kill_and_restart_everything_at_random, .fini = s_fini, .timeout = CHAOS_TIMEOUT_S) {
    const char *bin = getenv("METASAC_BIN_DIR");
    cr_assert(bin, "METASAC_BIN_DIR names build/bin (make test sets it)");
    const char *e = getenv("CHAOS_SECONDS");
    int duration = e ? atoi(e) : CHAOS_DEFAULT_SECONDS;
    cr_assert(duration >= 20 && duration + CHAOS_MARGIN_S <= CHAOS_TIMEOUT_S,
              "CHAOS_SECONDS=%d: must be in [20, %d]", duration,
              CHAOS_TIMEOUT_S - CHAOS_MARGIN_S);
    e = getenv("CHAOS_SEED");
    uint64_t seed = e ? strtoull(e, NULL, 0)
                      : (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    snprintf(s_dir, sizeof s_dir, "/tmp/metasac-chaos-XXXXXX");
    cr_assert(mkdtemp(s_dir), "mkdtemp: %s", strerror(errno));
    int port[2];
    s_free_ports(port);

    /* the processes: learner [0], actors [1..4], evaluator [5] */
    char exe_l[512], exe_a[512], rd[300], lb[64], wb[64], lc[64], wc[64];
    snprintf(exe_l, sizeof exe_l, "%s/metasac-learner", bin);
    snprintf(exe_a, sizeof exe_a, "%s/metasac-actor", bin);
    snprintf(rd, sizeof rd, "--run_dir=%s", s_dir);
    snprintf(lb, sizeof lb, "--learner_bind=tcp://127.0.0.1:%d", port[0]);
    snprintf(wb, sizeof wb, "--weights_bind=tcp://127.0.0.1:%d", port[1]);
    snprintf(lc, sizeof lc, "--learner=tcp://127.0.0.1:%d", port[0]);
    snprintf(wc, sizeof wc, "--weights=tcp://127.0.0.1:%d", port[1]);
    memset(s_p, 0, sizeof s_p);
    s_p[0].name = "learner";
    snprintf(s_p[0].log, sizeof s_p[0].log, "%s/learner.out", s_dir);
    s_args(&s_p[0], 20, exe_l, "--task=hopper", "--algo=sac_v2", "--hidden=32", "--batch=32",
           "--update_after=64", "--random_steps=500", "--replay_capacity=20000",
           "--checkpoint_interval=500", "--send_batch=8", "--heartbeat_ms=100",
           "--heartbeat_timeout_ms=1000", "--eval_interval=2000", "--eval_episodes=2",
           "--total_steps=1000000000", "--seed=1", "--blas_threads=1", rd, lb, wb);
    static const char *names[] = {"learner", "actor 1", "actor 2", "actor 3", "actor 4",
                                  "evaluator"};
    for (int i = 1; i < CHAOS_PROCS; i++) {
        char id[32];
        int evaluator = i == CHAOS_EVALUATOR;
        snprintf(id, sizeof id, "--id=%d", evaluator ? CHAOS_EVALUATOR_ID : i);
        s_p[i].name = names[i];
        snprintf(s_p[i].log, sizeof s_p[i].log, "%s/%s-%d.log", s_dir,
                 evaluator ? "evaluator" : "actor", evaluator ? CHAOS_EVALUATOR_ID : i);
        if (evaluator)
            s_args(&s_p[i], 7, exe_a, lc, wc, id, "--heartbeat_ms=100", "--heartbeat_timeout_ms=1000",
                   "--evaluator");
        else
            s_args(&s_p[i], 6, exe_a, lc, wc, id, "--heartbeat_ms=100", "--heartbeat_timeout_ms=1000");
    }
#if defined(__SANITIZE_ADDRESS__)
    /* keep the children's RSS meaningful: ASan's default quarantine alone is 256 MB */
    setenv("ASAN_OPTIONS", "quarantine_size_mb=16", 1);
#endif

    int maxev = duration / (int)CHAOS_GAP_MIN_S + 2;
    event_t *ev = rl_calloc((size_t)maxev, sizeof *ev);
    int nev = s_schedule(seed, duration, ev, maxev);
    int planned_learner = 0;
    for (int i = 0; i < nev; i++) planned_learner += ev[i].victim == 0;
    fprintf(stderr,
            "chaos: seed %llu (CHAOS_SEED=%llu replays it), %d s, %d kills planned (%d of the "
            "learner); run dir %s (learner.log, learner.out, actor-N.log, evaluator-%d.log)\n",
            (unsigned long long)seed, (unsigned long long)seed, duration, nev, planned_learner,
            s_dir, CHAOS_EVALUATOR_ID);

    run_t r;
    memset(&r, 0, sizeof r);
    r.maxlives = nev + 64;
    r.lives = rl_calloc((size_t)r.maxlives, sizeof *r.lives);
    snprintf(r.ckpt_path, sizeof r.ckpt_path, "%s/checkpoint.bin", s_dir);
    snprintf(r.log_path, sizeof r.log_path, "%s/learner.log", s_dir);
    snprintf(r.metrics_path, sizeof r.metrics_path, "%s/metrics.jsonl", s_dir);

    signal(SIGALRM, s_on_watchdog);
    alarm((unsigned)(duration + CHAOS_MARGIN_S));
    r.t0 = s_now();
    s_learner_life_begin(&r);
    usleep(300000); /* actors may come first too, but let the learner bind */
    for (int i = 1; i < CHAOS_PROCS; i++) s_start(&s_p[i]);

    for (int k = 0; k < nev; k++) {
        s_wait_until(&r, ev[k].t);
        proc_t *p = &s_p[ev[k].victim];
        if (p->pid > 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            p->pid = 0;
            p->kills++;
        }
        if (ev[k].victim == 0) s_learner_life_end(&r, 1);
        fprintf(stderr, "chaos: %6.1f s  SIGKILL %s, restart in %.2f s\n", s_now() - r.t0,
                p->name, ev[k].delay);
        s_wait_until(&r, s_now() - r.t0 + ev[k].delay);
        if (ev[k].victim == 0) s_learner_life_begin(&r);
        else s_start(p);
    }
    s_wait_until(&r, duration);

    /* stop: the actors and the evaluator first (they flush and log their totals), then the
       learner (final checkpoint); each must exit 0 on SIGTERM within its grace period */
    int bad_exit = 0;
    char bad_exit_msg[512] = "";
    for (int pass = 0; pass < 2; pass++) {
        int from = pass == 0 ? 1 : 0, to = pass == 0 ? CHAOS_PROCS : 1;
        for (int i = from; i < to; i++)
            if (s_p[i].pid > 0) kill(s_p[i].pid, SIGTERM);
        double t_stop = s_now();
        for (int i = from; i < to; i++) {
            int st = 0;
            pid_t got = 0;
            while (s_p[i].pid > 0 && (got = waitpid(s_p[i].pid, &st, WNOHANG)) == 0 &&
                   s_now() - t_stop < 30) {
                if (i == 0) s_sample_rss(&r);
                usleep(20000);
            }
            if (s_p[i].pid <= 0) continue;
            if (got != s_p[i].pid) {
                kill(s_p[i].pid, SIGKILL);
                waitpid(s_p[i].pid, &st, 0);
                st = -1;
            }
            s_p[i].pid = 0;
            if (st != 0) {
                bad_exit++;
                size_t n = strlen(bad_exit_msg);
                snprintf(bad_exit_msg + n, sizeof bad_exit_msg - n, " %s: %s %d;", s_p[i].name,
                         st == -1 ? "hung, status" : WIFEXITED(st) ? "status" : "signal",
                         st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            }
        }
    }
    s_learner_life_end(&r, 0);
    alarm(0);
    double elapsed = s_now() - r.t0;

    /* ---- the invariants ---- */
    int kills = 0;
    for (int i = 0; i < CHAOS_PROCS; i++) kills += s_p[i].kills;
    fprintf(stderr, "chaos: %.1f s, %d kills (learner %d, actors %d/%d/%d/%d, evaluator %d), "
            "%d learner lives; RSS max %.1f MB at %.1f s (%d samples)\n", elapsed, kills,
            s_p[0].kills, s_p[1].kills, s_p[2].kills, s_p[3].kills, s_p[4].kills,
            s_p[CHAOS_EVALUATOR].kills, r.nlives, (double)r.rss_max_kb / 1024.0, r.rss_max_at,
            r.rss_samples);
    CHAOS_EXPECT(r.unexpected == 0, "processes exited by themselves:%s (logs in %s)",
              r.unexpected_msg, s_dir);
    CHAOS_EXPECT(bad_exit == 0, "SIGTERM is a clean exit:%s (logs in %s)", bad_exit_msg, s_dir);

    size_t loglen, metlen;
    char *log = s_slurp(r.log_path, &loglen), *met = s_slurp(r.metrics_path, &metlen);
    unsigned long long last_ckpt_steps = 0, last_ckpt_updates = 0, final_steps = 0,
                       final_updates = 0;
    int any_ckpt = 0;
    life_stats_t st;
    for (int i = 0; i < r.nlives; i++) {
        life_t *l = &r.lives[i];
        size_t hi = i + 1 < r.nlives ? r.lives[i + 1].log_off : loglen;
        size_t mhi = i + 1 < r.nlives ? r.lives[i + 1].metrics_off : metlen;
        s_parse_life(log, l->log_off, hi, met, l->metrics_off, mhi, &st);
        fprintf(stderr,
                "chaos: learner life %d %.1f-%.1f s%s: %s %llu/%llu, reached %llu/%llu "
                "(env steps/updates), %d checkpoints (largest gap %llu env steps), %d metrics lines\n",
                i, l->t_start, l->t_end, l->killed ? " (SIGKILL)" : "",
                st.resumed ? "resumed at" : "fresh at", st.res_steps, st.res_updates,
                st.max_steps, st.max_updates, st.nckpt, st.ckpt_gap, st.nmetrics);
        /* resumed from a checkpoint whenever one existed */
        CHAOS_EXPECT(!l->ckpt_existed || st.resumed,
                  "learner life %d (started at %.1f s) did not resume although %s existed "
                  "(see %s)", i, l->t_start, r.ckpt_path, r.log_path);
        /* and made progress past where it resumed */
        CHAOS_EXPECT(st.max_steps > st.res_steps && st.max_updates > st.res_updates,
                  "learner life %d (%.1f-%.1f s) made no progress: resumed at %llu/%llu, "
                  "reached %llu/%llu (see %s)", i, l->t_start, l->t_end, st.res_steps,
                  st.res_updates, st.max_steps, st.max_updates, r.log_path);
        /* never backwards within a life ... */
        CHAOS_EXPECT(!st.backwards, "learner life %d: counters went backwards: %s (see %s)", i,
                  st.backwards_msg, r.metrics_path);
        /* ... nor across a restart: at most the steps after the last checkpoint are lost */
        if (i > 0)
            CHAOS_EXPECT(st.res_steps >= last_ckpt_steps && st.res_updates >= last_ckpt_updates,
                      "learner life %d resumed at %llu env steps / %llu updates, but a "
                      "checkpoint at %llu / %llu had completed before the kill (see %s)", i,
                      st.res_steps, st.res_updates, last_ckpt_steps, last_ckpt_updates,
                      r.log_path);
        if (st.nckpt > 0) {
            any_ckpt = 1;
            last_ckpt_steps = st.ckpt_steps;
            last_ckpt_updates = st.ckpt_updates;
        }
        if (i == r.nlives - 1) {
            CHAOS_EXPECT(st.stopped, "the last learner life logged no 'stopped at' line (see %s)",
                      r.log_path);
            final_steps = st.stop_steps;
            final_updates = st.stop_updates;
        }
    }
    CHAOS_EXPECT(any_ckpt, "no checkpoint was ever written (see %s)", r.log_path);
    free(log);
    free(met);

    /* overall progress */
    CHAOS_EXPECT(final_steps >= (unsigned long long)MIN_STEPS_PER_S * (unsigned long long)duration &&
              final_updates > 0, "too little progress: %llu env steps, %llu updates in %d s",
              final_steps, final_updates, duration);
    /* every actor stepped: each one's last life ran the settle period, and logs its total */
    for (int i = 1; i <= CHAOS_ACTORS; i++) {
        long long n = s_actor_final_steps(s_p[i].log);
        CHAOS_EXPECT(n > 0, "actor %d stepped %lld env steps in its last life (%.1f s, "
                     "connected through the settle period with no kill; starved of credits? "
                     "see %s and 'joined' in %s)", i, n, elapsed - (s_p[i].started - r.t0),
                     s_p[i].log, r.log_path);
    }
    /* the evaluator reported */
    char evpath[300];
    snprintf(evpath, sizeof evpath, "%s/eval.csv", s_dir);
    int evals = s_count_lines(evpath) - 1;
    fprintf(stderr, "chaos: %d evaluations in %s\n", evals, evpath);
    if (final_steps >= (unsigned long long)EVAL_POINTS_REQUIRED * EVAL_INTERVAL)
        CHAOS_EXPECT(evals >= 1, "no evaluation in %llu env steps (see %s)", final_steps, evpath);

    /* the final checkpoint: it is the SIGTERM one, and every row in it is sane */
    ckpt_check_t k;
    s_check_checkpoint(&k);
    CHAOS_EXPECT(k.env_steps == final_steps, "final checkpoint at %llu env steps, learner stopped "
              "at %llu", k.env_steps, final_steps);
    CHAOS_EXPECT(k.inserted == k.env_steps, "replay inserted %llu transitions, env steps %llu",
              k.inserted, k.env_steps);
    CHAOS_EXPECT(k.size == (k.inserted < REPLAY_CAPACITY ? k.inserted : REPLAY_CAPACITY),
              "replay holds %zu rows after %llu inserts", k.size, k.inserted);
    CHAOS_EXPECT(k.bad_rows == 0, "%ld bad rows in the replay buffer / D0, first: %s", k.bad_rows,
              k.first_bad);
    CHAOS_EXPECT(k.bad_params == 0, "%ld non-finite network parameters", k.bad_params);

    /* memory */
    double bound = s_rss_bound_mb(&k, REPLAY_CAPACITY);
    fprintf(stderr, "chaos: learner RSS max %.1f MB, bound %.1f MB\n",
            (double)r.rss_max_kb / 1024.0, bound);
    CHAOS_EXPECT(r.rss_samples > 0, "no RSS sample of the learner");
    CHAOS_EXPECT((double)r.rss_max_kb / 1024.0 < bound,
              "learner RSS reached %.1f MB at %.1f s, bound %.1f MB", (double)r.rss_max_kb / 1024.0,
              r.rss_max_at, bound);

    free(r.lives);
    free(ev);
    s_free_args();
    if (s_failures == 0 && !getenv("CHAOS_KEEP")) nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    else fprintf(stderr, "chaos: run directory kept: %s\n", s_dir);
}
