/* The tiny learner the checkpoint fuzzer, the corpus generator and tests/test_fuzz_corpus.c
 * share: Hopper's dimensions (obs 11, act 3) with a hidden width of 8, a replay ring of 64 and
 * a D0 of 8. One definition, so the seeds the generator writes are exactly what the fuzzer and
 * the test load into. Header-only (static inline): it is not part of the library. */
#ifndef METASAC_FUZZ_TINY_H
#define METASAC_FUZZ_TINY_H

#include <stdint.h>

#include "checkpoint.h"
#include "replay.h"
#include "rng.h"
#include "sac.h"

#define TINY_OBS 11
#define TINY_ACT 3
#define TINY_HIDDEN 8
#define TINY_REPLAY 64
#define TINY_D0 8
#define TINY_TASK "hopper"
#define TINY_ALGO "meta_sac"

typedef struct {
    nn_shape_t shape;
    sac_f *agent;
    replay_t *replay;
    d0_t *d0;
    rng_t rng;
} tiny_t;

/* hidden and replay capacity are parameters so the generator can write mismatched files. */
static inline void tiny_new_as(tiny_t *t, uint64_t seed, int hidden, size_t replay_cap) {
    static const float low[TINY_ACT] = {-1, -1, -1}, high[TINY_ACT] = {1, 1, 1};
    nn_shape_init(&t->shape, TINY_OBS, TINY_ACT, hidden);
    sac_opts_t o;
    sac_opts_default(&o, ALGO_META_SAC, TINY_ACT);
    t->agent = sac_new_f(&t->shape, &o, low, high, 16, seed, 1);
    t->replay = replay_new(TINY_OBS, TINY_ACT, replay_cap);
    t->d0 = d0_new(TINY_OBS, TINY_D0, D0_FIXED);
    rng_seed(&t->rng, seed, 9);
}

static inline void tiny_new(tiny_t *t, uint64_t seed) {
    tiny_new_as(t, seed, TINY_HIDDEN, TINY_REPLAY);
}

static inline void tiny_free(tiny_t *t) {
    sac_destroy_f(&t->agent);
    replay_destroy(&t->replay);
    d0_destroy(&t->d0);
}

/* n synthetic transitions (every third one also offered to D0), deterministic. */
static inline void tiny_fill(tiny_t *t, int n) {
    rng_t r;
    rng_seed(&r, 123, 4);
    float o[TINY_OBS], a[TINY_ACT], nx[TINY_OBS];
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < TINY_OBS; k++) {
            o[k] = (float)rng_normal(&r);
            nx[k] = (float)rng_normal(&r);
        }
        for (int k = 0; k < TINY_ACT; k++) a[k] = rng_uniformf(&r);
        replay_insert(t->replay, o, a, (float)rng_normal(&r), nx, i % 17 == 0);
        if (i % 3 == 0) d0_offer(t->d0, o, &t->rng);
    }
}

/* The checkpoint view of t; env_steps is set to the transitions inserted so far. */
static inline ckpt_t tiny_view(tiny_t *t) {
    ckpt_t c = {TINY_TASK, TINY_ALGO, t->agent, t->replay, t->d0, &t->rng,
                t->replay->inserted, 10000};
    return c;
}

#endif
