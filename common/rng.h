/* Seeded random streams: xoshiro256** seeded by splitmix64 from (run seed, stream id).
 * Every actor/env gets its own stream id, so streams are independent and reproducible.
 * The state is a plain struct: checkpointing it is a memcpy. */
#ifndef METASAC_RNG_H
#define METASAC_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];      /* xoshiro256** state */
    double spare;       /* second Box-Muller normal, valid when has_spare */
    int has_spare;
} rng_t;

/* Stream ids by convention: STREAM_LEARNER, STREAM_ACTOR(actor, env), STREAM_EVAL(env). */
#define RNG_STREAM_LEARNER 1u
#define RNG_STREAM_ACTOR(actor, env) (((uint64_t)2 << 56) | ((uint64_t)(actor) << 24) | (uint64_t)(env))
#define RNG_STREAM_EVAL(env) (((uint64_t)3 << 56) | (uint64_t)(env))

void rng_seed(rng_t *r, uint64_t seed, uint64_t stream);
uint64_t rng_u64(rng_t *r);
/* Uniform in [0, 1) with 53 (double) / 24 (float) random bits. */
double rng_uniform(rng_t *r);
float rng_uniformf(rng_t *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t rng_below(rng_t *r, uint64_t n);
/* Standard normal (Box-Muller, caches the second value). */
double rng_normal(rng_t *r);
/* Fills x[0..n) with standard normals as floats. */
void rng_normal_fill(rng_t *r, float *x, int n);

#endif
