/* The learner's replay buffer (a ring of transitions, one allocation, uniform sampling with
 * replacement) and D0 (the initial observations the Meta-SAC meta loss is evaluated on).
 * See docs/ALGORITHM.md sections 4 (D0) and 5 (sampling). */
#ifndef METASAC_REPLAY_H
#define METASAC_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "rng.h"
#include "sac.h"

typedef struct {
    int obs_dim, act_dim;
    size_t capacity;        /* transitions */
    size_t size;            /* transitions held, <= capacity */
    size_t next;            /* ring position of the next insert */
    uint64_t inserted;      /* transitions ever inserted */
    float *block;           /* the one allocation the fields below are carved from */
    float *obs, *next_obs;  /* [capacity][obs_dim] */
    float *act;             /* [capacity][act_dim] */
    float *rew, *done;      /* [capacity]; done = 1 for a true termination only */
} replay_t;

replay_t *replay_new(int obs_dim, int act_dim, size_t capacity);
void replay_destroy(replay_t **self_p);

/* Appends one transition, overwriting the oldest when full. Inputs are copied. The caller has
 * validated them (finite, sizes): nothing here can fail. */
void replay_insert(replay_t *r, const float *obs, const float *act, float rew,
                   const float *next_obs, int terminated);

/* Buffers for sampled batches: the transitions and fresh N(0,1) policy noise. */
typedef struct {
    int cap;
    float *obs, *act, *rew, *next_obs, *done, *xi, *xi_next;
} batch_buf_t;

batch_buf_t *batch_buf_new(int obs_dim, int act_dim, int cap);
void batch_buf_destroy(batch_buf_t **self_p);

/* Draws n <= buf->cap transitions uniformly with replacement (r->size > 0) and fresh noise
 * from rng into buf; returns the batch view of buf. No allocation. */
batch_f replay_sample(const replay_t *r, rng_t *rng, int n, batch_buf_t *buf);

/* D0_FIXED or D0_RESERVOIR (the config's enum). */
typedef config_d0_mode_t d0_mode_t;

typedef struct {
    int obs_dim, capacity, size;
    d0_mode_t mode;
    uint64_t seen;          /* reset states offered so far */
    float *obs;             /* [capacity][obs_dim] */
} d0_t;

d0_t *d0_new(int obs_dim, int capacity, d0_mode_t mode);
void d0_destroy(d0_t **self_p);
/* Offers one initial observation. Fixed mode keeps the first `capacity` and ignores the rest
 * (the reference); reservoir mode keeps a uniform sample of all offered (Algorithm R). */
void d0_offer(d0_t *d, const float *obs, rng_t *rng);
int d0_full(const d0_t *d);

#endif
