/* What the update benchmarks share: a monotonic clock and a batch of random update inputs in
 * the learner's own batch buffers. Header-only: every bench/bench_*.c is its own program. */
#ifndef METASAC_BENCH_H
#define METASAC_BENCH_H

#include <stdlib.h>
#include <time.h>

#include "alloc.h"
#include "replay.h"
#include "sac.h"

static inline double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    batch_buf_t *buf;  /* the learner's own batch buffers, filled with random data */
    float *d0;         /* [B][obs] */
    batch_f b;
} bench_data_t;

/* B rows of random observations, actions in [-1, 1], rewards, every 50th row terminal, policy
 * noise, and B random D0 states. */
static inline void bench_data(bench_data_t *d, int B, int O, int A, rng_t *r) {
    batch_buf_t *x = d->buf = batch_buf_new(O, A, B);
    d->d0 = rl_aligned(sizeof(float) * B * O);
    for (int k = 0; k < B * O; k++) {
        x->obs[k] = (float)rng_normal(r);
        x->next_obs[k] = (float)rng_normal(r);
        d->d0[k] = (float)rng_normal(r);
    }
    for (int k = 0; k < B * A; k++) {
        x->act[k] = 2 * rng_uniformf(r) - 1;
        x->xi[k] = (float)rng_normal(r);
        x->xi_next[k] = (float)rng_normal(r);
    }
    for (int i = 0; i < B; i++) { x->rew[i] = (float)rng_normal(r); x->done[i] = i % 50 == 0; }
    d->b = (batch_f){B, x->obs, x->act, x->rew, x->next_obs, x->done, x->xi, x->xi_next};
}

static inline void bench_data_free(bench_data_t *d) {
    batch_buf_destroy(&d->buf);
    free(d->d0);
}

#endif
