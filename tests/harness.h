/* What the runtime tests share: a learner (server_run) and actors (actor_run) in threads of
 * the test process, quiet logging, and waiting on a counter. Each test file keeps its own
 * configuration and start-up helpers on top of these. */
#ifndef METASAC_TESTS_HARNESS_H
#define METASAC_TESTS_HARNESS_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "actor.h"
#include "log.h"
#include "server.h"

typedef struct {
    server_t *s;
    volatile sig_atomic_t stop;
    pthread_t th;
} learner_h;

typedef struct {
    actor_opts_t o;
    actor_counters_t c;
    volatile sig_atomic_t stop;
    pthread_t th;
} actor_h;

/* Thread bodies for pthread_create(&l->th, NULL, harness_learner_main, l) and the actor's. */
static inline void *harness_learner_main(void *arg) {
    learner_h *l = arg;
    server_run(l->s, &l->stop);
    return NULL;
}

static inline void *harness_actor_main(void *arg) {
    actor_h *a = arg;
    actor_run(&a->o, &a->stop, &a->c);
    return NULL;
}

/* Criterion .init: errors only, everything with TEST_LOG set. */
static inline void harness_quiet(void) { log_level = getenv("TEST_LOG") ? LOG_INFO : LOG_ERROR; }

/* Monotonic seconds. */
static inline double harness_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Waits until *v >= target (a counter another thread raises), at most timeout seconds. */
static inline int harness_wait_u64(const volatile uint64_t *v, uint64_t target, double timeout) {
    double t0 = harness_now();
    while (*v < target && harness_now() - t0 < timeout) usleep(2000);
    return *v >= target;
}

#endif
