/* metasac-learner: the learner process. Every flag is a config key (--key=value); --config FILE
 * reads an INI file first; --help lists every key with its default and meaning. */
#include <cblas.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "config.h"
#include "log.h"
#include "server.h"

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig) {
    (void)sig;
    s_stop = 1;
}

int main(int argc, char **argv) {
    blas_pick_kernels(argv);  /* first: it may re-execute the program */
    config_t cfg;
    char err[CONFIG_ERR_MAX];
    int rc = config_load(&cfg, argc, argv, err, sizeof err);
    if (rc == 1) {
        printf("usage: metasac-learner [--config FILE] [--key=value ...]\n"
               "(OpenBLAS %s kernels)\n\n"
               "Every key, its default and its meaning (the same syntax works in FILE):\n\n",
               blas_core());
        config_write_sample(stdout);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "metasac-learner: %s (see --help)\n", err);
        return 2;
    }
    log_level = (log_level_t)cfg.log_level;
    log_set_role("learner");
    openblas_set_num_threads(cfg.blas_threads);
    LOG_I("update on %d thread(s), OpenBLAS %s kernels%s, %d OpenBLAS thread(s) each",
          cfg.update_threads, blas_core(),
          getenv("OPENBLAS_CORETYPE") ? " (OPENBLAS_CORETYPE)" : "", cfg.blas_threads);
    if (cfg.update_threads > 1 && cfg.blas_threads > 1)
        LOG_W("update_threads %d x blas_threads %d: both levels of threads busy-wait; on few "
              "cores set blas_threads = 1", cfg.update_threads, cfg.blas_threads);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    char serr[2048];  /* a refused checkpoint explains itself at length */
    server_t *s = server_new(&cfg, serr, sizeof serr);
    if (!s) {
        fprintf(stderr, "metasac-learner: %s\n", serr);
        return 1;
    }
    server_run(s, &s_stop);
    server_destroy(&s);
    return 0;
}
