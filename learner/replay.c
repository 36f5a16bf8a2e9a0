#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

replay_t *replay_new(int obs_dim, int act_dim, size_t capacity) {
    RL_ASSERT(obs_dim > 0 && act_dim > 0 && capacity > 0, "replay_new: bad sizes");
    replay_t *r = rl_calloc(1, sizeof *r);
    r->obs_dim = obs_dim;
    r->act_dim = act_dim;
    r->capacity = capacity;
    size_t per = 2 * (size_t)obs_dim + (size_t)act_dim + 2;
    r->block = rl_malloc(sizeof(float) * per * capacity);
    float *p = r->block;
    r->obs = p; p += capacity * obs_dim;
    r->next_obs = p; p += capacity * obs_dim;
    r->act = p; p += capacity * act_dim;
    r->rew = p; p += capacity;
    r->done = p;
    return r;
}

void replay_destroy(replay_t **self_p) {
    replay_t *r = *self_p;
    if (!r) return;
    free(r->block);
    free(r);
    *self_p = NULL;
}

void replay_insert(replay_t *r, const float *obs, const float *act, float rew,
                   const float *next_obs, int terminated) {
    size_t i = r->next, O = (size_t)r->obs_dim, A = (size_t)r->act_dim;
    memcpy(r->obs + i * O, obs, sizeof(float) * O);
    memcpy(r->next_obs + i * O, next_obs, sizeof(float) * O);
    memcpy(r->act + i * A, act, sizeof(float) * A);
    r->rew[i] = rew;
    r->done[i] = terminated ? 1.0f : 0.0f;
    r->next = (i + 1) % r->capacity;
    if (r->size < r->capacity) r->size++;
    r->inserted++;
}

batch_buf_t *batch_buf_new(int obs_dim, int act_dim, int cap) {
    batch_buf_t *b = rl_calloc(1, sizeof *b);
    size_t c = (size_t)cap;
    b->cap = cap;
    b->obs = rl_aligned(sizeof(float) * c * obs_dim);
    b->next_obs = rl_aligned(sizeof(float) * c * obs_dim);
    b->act = rl_aligned(sizeof(float) * c * act_dim);
    b->xi = rl_aligned(sizeof(float) * c * act_dim);
    b->xi_next = rl_aligned(sizeof(float) * c * act_dim);
    b->rew = rl_aligned(sizeof(float) * c);
    b->done = rl_aligned(sizeof(float) * c);
    return b;
}

void batch_buf_destroy(batch_buf_t **self_p) {
    batch_buf_t *b = *self_p;
    if (!b) return;
    free(b->obs); free(b->next_obs); free(b->act); free(b->xi); free(b->xi_next);
    free(b->rew); free(b->done);
    free(b);
    *self_p = NULL;
}

batch_f replay_sample(const replay_t *r, rng_t *rng, int n, batch_buf_t *buf) {
    RL_ASSERT(n <= buf->cap && r->size > 0, "replay_sample: %d rows, %zu held", n, r->size);
    size_t O = (size_t)r->obs_dim, A = (size_t)r->act_dim;
    for (int k = 0; k < n; k++) {
        size_t i = (size_t)rng_below(rng, r->size);
        memcpy(buf->obs + k * O, r->obs + i * O, sizeof(float) * O);
        memcpy(buf->next_obs + k * O, r->next_obs + i * O, sizeof(float) * O);
        memcpy(buf->act + k * A, r->act + i * A, sizeof(float) * A);
        buf->rew[k] = r->rew[i];
        buf->done[k] = r->done[i];
    }
    rng_normal_fill(rng, buf->xi, n * r->act_dim);
    rng_normal_fill(rng, buf->xi_next, n * r->act_dim);
    batch_f b = {n, buf->obs, buf->act, buf->rew, buf->next_obs, buf->done, buf->xi, buf->xi_next};
    return b;
}

d0_t *d0_new(int obs_dim, int capacity, d0_mode_t mode) {
    RL_ASSERT(obs_dim > 0 && capacity > 0, "d0_new: bad sizes");
    d0_t *d = rl_calloc(1, sizeof *d);
    d->obs_dim = obs_dim;
    d->capacity = capacity;
    d->mode = mode;
    d->obs = rl_aligned(sizeof(float) * (size_t)capacity * obs_dim);
    return d;
}

void d0_destroy(d0_t **self_p) {
    d0_t *d = *self_p;
    if (!d) return;
    free(d->obs);
    free(d);
    *self_p = NULL;
}

void d0_offer(d0_t *d, const float *obs, rng_t *rng) {
    d->seen++;
    long slot = -1;
    if (d->size < d->capacity) slot = d->size++;
    else if (d->mode == D0_RESERVOIR) {
        uint64_t j = rng_below(rng, d->seen);  /* keep with probability capacity / seen */
        if (j < (uint64_t)d->capacity) slot = (long)j;
    }
    if (slot >= 0) memcpy(d->obs + (size_t)slot * d->obs_dim, obs, sizeof(float) * d->obs_dim);
}

int d0_full(const d0_t *d) { return d->size == d->capacity; }
