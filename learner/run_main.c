/* metasac-run: the one-command local run. Starts a learner, N actors and an evaluator on this
 * machine, restarts an actor that dies, and on Ctrl-C (SIGINT) or SIGTERM stops them all (the
 * learner first). Every flag is a learner config key and goes to the learner unchanged; the
 * launcher reads actors, envs_per_actor and run_dir from them. Actor logs go to
 * <run_dir>/actor-<id>.log; the learner's throughput lines to the terminal and learner.log. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "alloc.h"
#include "blas.h"
#include "config.h"
#include "log.h"

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig) {
    (void)sig;
    s_stop = 1;
}

static double s_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    pid_t pid;
    int id;
    int evaluator;
    double started;
    int restarts;
} child_t;

static char s_bin[PATH_MAX];
static pid_t s_launcher;
static char s_learner_ep[CONFIG_STR_MAX], s_weights_ep[CONFIG_STR_MAX];
static char s_metrics_url[CONFIG_STR_MAX];
static config_t s_cfg;

/* Starts argv[0] with argv, output appended to log_path (NULL: inherited), niceness raised by
   nice_inc. */
static pid_t s_spawn(char *const argv[], const char *log_path, int nice_inc) {
    pid_t pid = fork();
    if (pid < 0) {
        LOG_E("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);  /* Ctrl-C reaches the launcher only; it stops the children in order */
        /* and if the launcher dies without stopping them (SIGKILL), they get SIGTERM: no
           orphans */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != s_launcher) _exit(1);  /* it died before the prctl */
        errno = 0;
        if (nice_inc && nice(nice_inc) == -1 && errno)
            fprintf(stderr, "metasac-run: nice(%d): %s\n", nice_inc, strerror(errno));
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        execv(argv[0], argv);
        fprintf(stderr, "metasac-run: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static void s_start_actor(child_t *c) {
    char exe[PATH_MAX + 32], l[CONFIG_STR_MAX + 16], w[CONFIG_STR_MAX + 16], id[32], envs[32],
        logp[CONFIG_STR_MAX + 32], hb[48], to[48], mm[64], ll[32];
    snprintf(exe, sizeof exe, "%s/metasac-actor", s_bin);
    snprintf(l, sizeof l, "--learner=%s", s_learner_ep);
    snprintf(w, sizeof w, "--weights=%s", s_weights_ep);
    snprintf(id, sizeof id, "--id=%d", c->id);
    snprintf(envs, sizeof envs, "--envs_per_actor=%d", s_cfg.envs_per_actor);
    snprintf(hb, sizeof hb, "--heartbeat_ms=%d", s_cfg.heartbeat_ms);
    snprintf(to, sizeof to, "--heartbeat_timeout_ms=%d", s_cfg.heartbeat_timeout_ms);
    /* the keys actors share with the learner, resolved (file and flags) */
    snprintf(mm, sizeof mm, "--max_msg_bytes=%lld", (long long)s_cfg.max_msg_bytes);
    char lv[16];
    config_get(&s_cfg, "log_level", lv, sizeof lv);
    snprintf(ll, sizeof ll, "--log_level=%s", lv);
    snprintf(logp, sizeof logp, "%s/%s-%d.log", s_cfg.run_dir, c->evaluator ? "evaluator" : "actor",
             c->id);
    char *argv[] = {exe, l, w, id, envs, hb, to, mm, ll, c->evaluator ? "--evaluator" : NULL, NULL};
    c->pid = s_spawn(argv, logp, c->evaluator ? s_cfg.evaluator_nice : 0);
    c->started = s_now();
}

/* Waits for the learner to write <run_dir>/endpoints; -1 if it exits or 60 s pass first. */
static int s_wait_endpoints(pid_t learner) {
    char path[CONFIG_STR_MAX + 16];
    snprintf(path, sizeof path, "%s/endpoints", s_cfg.run_dir);
    double t0 = s_now();
    while (!s_stop && s_now() - t0 < 60) {
        FILE *f = fopen(path, "r");
        if (f) {
            int ok = fscanf(f, "%159s %159s", s_learner_ep, s_weights_ep) == 2;
            if (ok && fscanf(f, "%159s", s_metrics_url) != 1) s_metrics_url[0] = 0;
            fclose(f);
            if (ok) return 0;
        }
        if (waitpid(learner, NULL, WNOHANG) == learner) return -1;
        usleep(20000);
    }
    return -1;
}

static int s_has_flag(int argc, char **argv, const char *key) {
    size_t n = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, key, n) == 0 &&
            (argv[i][2 + n] == '=' || argv[i][2 + n] == 0))
            return 1;
    return 0;
}

int main(int argc, char **argv) {
    blas_pick_kernels(argv);  /* first: it may re-execute the program */
    char err[CONFIG_ERR_MAX];
    int rc = config_load(&s_cfg, argc, argv, err, sizeof err);
    if (rc == 1) {
        printf("usage: metasac-run [--config FILE] [--key=value ...]\n\n"
               "Starts a learner, `actors` actors and an evaluator on this machine; every flag\n"
               "is a learner config key (metasac-learner --help lists them). Ctrl-C stops all.\n");
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "metasac-run: %s (see --help)\n", err);
        return 2;
    }
    log_set_role("launcher");
    s_launcher = getpid();
    ssize_t n = readlink("/proc/self/exe", s_bin, sizeof s_bin - 1);
    if (n <= 0) {
        fprintf(stderr, "metasac-run: cannot find its own directory\n");
        return 1;
    }
    s_bin[n] = 0;
    *strrchr(s_bin, '/') = 0;

    /* the learner's argv: ours, plus a per-run directory and free loopback ports unless given */
    char **largv = rl_calloc((size_t)argc + 8, sizeof(char *));
    char exe[PATH_MAX + 32], dir_flag[CONFIG_STR_MAX + 16];
    snprintf(exe, sizeof exe, "%s/metasac-learner", s_bin);
    int k = 0;
    largv[k++] = exe;
    for (int i = 1; i < argc; i++) largv[k++] = argv[i];
    if (!s_has_flag(argc, argv, "run_dir")) {
        snprintf(s_cfg.run_dir, sizeof s_cfg.run_dir, "runs/%s-%s-s%lld",
                 config_task_name(s_cfg.task), config_algo_name(s_cfg.algo),
                 (long long)s_cfg.seed);
        snprintf(dir_flag, sizeof dir_flag, "--run_dir=%s", s_cfg.run_dir);
        largv[k++] = dir_flag;
    }
    if (!s_has_flag(argc, argv, "metrics_port")) largv[k++] = "--metrics_port=-1";  /* a free one */
    if (!s_has_flag(argc, argv, "learner_bind")) largv[k++] = "--learner_bind=tcp://127.0.0.1:*";
    if (!s_has_flag(argc, argv, "weights_bind")) largv[k++] = "--weights_bind=tcp://127.0.0.1:*";
    for (char *c = s_cfg.run_dir + 1; *c; c++)  /* mkdir -p */
        if (*c == '/') {
            *c = 0;
            mkdir(s_cfg.run_dir, 0755);
            *c = '/';
        }
    if (mkdir(s_cfg.run_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "metasac-run: cannot create run directory '%s': %s\n", s_cfg.run_dir,
                strerror(errno));
        free(largv);
        return 1;
    }
    char path[CONFIG_STR_MAX + 16];
    snprintf(path, sizeof path, "%s/endpoints", s_cfg.run_dir);
    unlink(path);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    pid_t learner = s_spawn(largv, NULL, 0);
    if (learner < 0 || s_wait_endpoints(learner) < 0) {
        LOG_E("the learner did not start (see %s/learner.log)", s_cfg.run_dir);
        if (learner > 0) kill(learner, SIGTERM);
        free(largv);
        return 1;
    }
    int nc = s_cfg.actors + 1;
    child_t *kids = rl_calloc((size_t)nc, sizeof *kids);
    for (int i = 0; i < nc; i++) {
        kids[i].id = i + 1;
        kids[i].evaluator = i == s_cfg.actors;
        s_start_actor(&kids[i]);
    }
    LOG_I("run %s: learner %d, %d actors, 1 evaluator; logs in %s%s%s", s_cfg.run_dir,
          (int)learner, s_cfg.actors, s_cfg.run_dir, s_metrics_url[0] ? "; metrics at " : "",
          s_metrics_url);
    int learner_status = 0, learner_done = 0, stopping = 0;
    while (!learner_done) {
        if (s_stop && !stopping) {
            LOG_I("stopping: the learner first, then the actors");
            kill(learner, SIGTERM);
            stopping = 1;
        }
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pid == learner) {
            learner_done = 1;
            learner_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            continue;
        }
        for (int i = 0; i < nc; i++) {
            if (kids[i].pid != pid) continue;
            kids[i].pid = 0;
            if (stopping) break;
            int quick = s_now() - kids[i].started < 2.0;
            LOG_W("%s %d exited (%s %d): restarting%s", kids[i].evaluator ? "evaluator" : "actor",
                  kids[i].id, WIFEXITED(st) ? "status" : "signal",
                  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), quick ? " in 1 s" : "");
            if (quick) sleep(1);
            kids[i].restarts++;
            s_start_actor(&kids[i]);
        }
    }
    for (int i = 0; i < nc; i++)
        if (kids[i].pid > 0) kill(kids[i].pid, SIGTERM);
    double t0 = s_now();
    for (int i = 0; i < nc; i++) {
        while (kids[i].pid > 0) {
            if (waitpid(kids[i].pid, NULL, WNOHANG) == kids[i].pid) kids[i].pid = 0;
            else if (s_now() - t0 > 10) { kill(kids[i].pid, SIGKILL); waitpid(kids[i].pid, NULL, 0); kids[i].pid = 0; }
            else usleep(20000);
        }
    }
    LOG_I("run %s finished (learner status %d)", s_cfg.run_dir, learner_status);
    free(kids);
    free(largv);
    return learner_status;
}
