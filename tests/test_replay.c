/* learner/replay.c: the ring, uniform sampling, fresh noise, D0 fixed and reservoir. */
#include <criterion/criterion.h>
#include <math.h>

#include "replay.h"

static void s_put(replay_t *r, int id) {
    float o[2] = {(float)id, -(float)id}, a[1] = {(float)id * 0.5f}, n[2] = {(float)id + 1, 0};
    replay_insert(r, o, a, (float)id * 10, n, id % 2);
}

Test(replay, ring_keeps_the_newest_capacity_transitions) {
    replay_t *r = replay_new(2, 1, 5);
    for (int id = 0; id < 8; id++) s_put(r, id);
    cr_assert_eq(r->size, 5u);
    cr_assert_eq(r->inserted, 8u);
    int seen[8] = {0};
    for (size_t i = 0; i < r->size; i++) {
        int id = (int)r->obs[2 * i];
        cr_assert(r->obs[2 * i + 1] == -(float)id && r->next_obs[2 * i] == (float)id + 1);
        cr_assert(r->act[i] == (float)id * 0.5f && r->rew[i] == (float)id * 10);
        cr_assert(r->done[i] == (float)(id % 2));
        seen[id] = 1;
    }
    for (int id = 0; id < 8; id++) cr_expect_eq(seen[id], id >= 3, "transition %d", id);
    replay_destroy(&r);
    cr_assert_null(r);
}

Test(replay, sampling_is_uniform_and_rows_stay_together) {
    enum { C = 20, N = 200, ROUNDS = 200 };
    replay_t *r = replay_new(2, 1, C);
    for (int id = 0; id < C; id++) s_put(r, id);
    batch_buf_t *buf = batch_buf_new(2, 1, N);
    rng_t g;
    rng_seed(&g, 3, 0);
    double count[C] = {0}, xs = 0, xs2 = 0;
    for (int round = 0; round < ROUNDS; round++) {
        batch_f b = replay_sample(r, &g, N, buf);
        for (int k = 0; k < N; k++) {
            int id = (int)b.obs[2 * k];
            cr_assert(b.next_obs[2 * k] == (float)id + 1 && b.rew[k] == (float)id * 10);
            count[id]++;
            xs += b.xi[k];
            xs2 += b.xi[k] * b.xi[k];
        }
    }
    /* chi-square with 19 degrees of freedom: P(chi2 > 43.8) = 0.001 */
    double e = (double)N * ROUNDS / C, chi2 = 0;
    for (int i = 0; i < C; i++) chi2 += (count[i] - e) * (count[i] - e) / e;
    cr_expect(chi2 < 43.8, "chi-square %g", chi2);
    double m = xs / (N * ROUNDS), v = xs2 / (N * ROUNDS) - m * m;
    cr_expect(fabs(m) < 5 / sqrt(N * ROUNDS) && fabs(v - 1) < 0.05, "noise mean %g var %g", m, v);
    batch_buf_destroy(&buf);
    replay_destroy(&r);
}

Test(replay, d0_fixed_keeps_the_first_states) {
    d0_t *d = d0_new(1, 4, D0_FIXED);
    rng_t g;
    rng_seed(&g, 1, 0);
    for (int i = 0; i < 10; i++) {
        float o = (float)i;
        d0_offer(d, &o, &g);
        cr_assert_eq(d0_full(d), i >= 3);
    }
    for (int i = 0; i < 4; i++) cr_expect(d->obs[i] == (float)i);
    d0_destroy(&d);
}

Test(replay, d0_reservoir_is_a_uniform_sample_of_everything_offered) {
    enum { CAP = 4, OFFERED = 20, TRIALS = 4000 };
    rng_t g;
    rng_seed(&g, 2, 0);
    double kept[OFFERED] = {0};
    for (int t = 0; t < TRIALS; t++) {
        d0_t *d = d0_new(1, CAP, D0_RESERVOIR);
        for (int i = 0; i < OFFERED; i++) {
            float o = (float)i;
            d0_offer(d, &o, &g);
        }
        for (int i = 0; i < CAP; i++) kept[(int)d->obs[i]]++;
        d0_destroy(&d);
    }
    /* each state is kept with probability CAP / OFFERED = 0.2: 800 +- 25 (binomial sd) */
    for (int i = 0; i < OFFERED; i++)
        cr_expect(fabs(kept[i] - 800) < 5 * 25.3, "state %d kept %g times", i, kept[i]);
}
