/* The updates of learner/sac.h: the Meta-SAC metagradient against a central finite difference
 * of L_meta(phi'(alpha)) through the full virtual step (double precision, v = 0 and v > 0),
 * the log-alpha clamp, the metagradient clip, the two-step critic option. The comparison with
 * the independent PyTorch implementation is in tests/test_reference.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "sac.h"

#define O 4
#define A 3
#define H 8
#define B 6
#define ND0 5

typedef struct {
    double obs[B * O], act[B * A], rew[B], next_obs[B * O], done[B], xi[B * A], xi_next[B * A];
    double d0[ND0 * O];
    batch_d b;
} fixture;

static void s_fixture(fixture *f, uint64_t seed) {
    rng_t r;
    rng_seed(&r, seed, 77);
    for (int k = 0; k < B * O; k++) {
        f->obs[k] = 2 * rng_uniform(&r) - 1;
        f->next_obs[k] = 2 * rng_uniform(&r) - 1;
    }
    for (int k = 0; k < B * A; k++) {
        f->act[k] = 2 * rng_uniform(&r) - 1;
        f->xi[k] = rng_normal(&r);
        f->xi_next[k] = rng_normal(&r);
    }
    for (int i = 0; i < B; i++) {
        f->rew[i] = rng_normal(&r);
        f->done[i] = i % 3 == 0;
    }
    for (int k = 0; k < ND0 * O; k++) f->d0[k] = 2 * rng_uniform(&r) - 1;
    f->b = (batch_d){B, f->obs, f->act, f->rew, f->next_obs, f->done, f->xi, f->xi_next};
}

static sac_d *s_agent(algo_t algo, uint64_t seed) {
    nn_shape_t s;
    nn_shape_init(&s, O, A, H);
    sac_opts_t o;
    sac_opts_default(&o, algo, A);
    double low[A] = {-1, -0.5, -2}, high[A] = {1, 0.5, 1};
    sac_d *a = sac_new_d(&s, &o, low, high, B > ND0 ? B : ND0, seed, 1);
    rng_t r;
    rng_seed(&r, seed, 2);
    for (size_t k = 0; k < s.pi_n; k++) a->phi[k] += 0.2 * (rng_uniform(&r) - 0.5);
    for (size_t k = 0; k < s.q_n; k++) a->theta[k] += 0.2 * (rng_uniform(&r) - 0.5);
    return a;
}

/* G = dL_meta/dlog alpha against (L(lam + h) - L(lam - h)) / 2h. */
static void s_check_meta_grad(sac_d *a, fixture *f, const char *what) {
    a->lam[0] = -0.3;
    double loss;
    double G = sac_meta_grad_d(a, &f->b, f->d0, ND0, &loss);
    double h = 1e-3;
    double lp = sac_meta_loss_at_d(a, &f->b, f->d0, ND0, exp(a->lam[0] + h));
    double lm = sac_meta_loss_at_d(a, &f->b, f->d0, ND0, exp(a->lam[0] - h));
    double l0 = sac_meta_loss_at_d(a, &f->b, f->d0, ND0, exp(a->lam[0]));
    double fd = (lp - lm) / (2 * h);
    cr_expect(fabs(l0 - loss) < 1e-14, "%s: the same L_meta both ways", what);
    cr_expect(G != 0.0 && fd != 0.0, "%s: a metagradient to compare (G %g, fd %g)", what, G, fd);
    cr_expect(fabs(G - fd) <= 1e-4 * fabs(fd) + 1e-13 * (1 + fabs(l0)) / h,
              "%s: closed form %.10g, finite difference %.10g", what, G, fd);
}

Test(sac, metagradient_matches_finite_difference_with_zero_rmsprop_state) {
    fixture f;
    s_fixture(&f, 1);
    sac_d *a = s_agent(ALGO_META_SAC, 1);
    s_check_meta_grad(a, &f, "v = 0");
    sac_destroy_d(&a);
}

Test(sac, metagradient_matches_finite_difference_with_nonzero_rmsprop_state) {
    fixture f;
    s_fixture(&f, 2);
    sac_d *a = s_agent(ALGO_META_SAC, 2);
    rng_t r;
    rng_seed(&r, 3, 3);
    for (size_t k = 0; k < a->shape.pi_n; k++) a->phi_v[k] = 1e-3 * rng_uniform(&r);
    s_check_meta_grad(a, &f, "v > 0");
    /* the D.1 ablation (meta loss on B1's states) and the unscaled meta action too */
    a->opt.meta_on_replay = 1;
    s_check_meta_grad(a, &f, "v > 0, meta loss on replay states");
    a->opt.meta_on_replay = 0;
    a->opt.meta_scaled_action = 0;
    s_check_meta_grad(a, &f, "v > 0, unscaled meta action");
    sac_destroy_d(&a);
}

Test(sac, log_alpha_is_clamped_at_zero_and_moves_against_the_metagradient) {
    int seen_clamp = 0, seen_down = 0;
    for (uint64_t seed = 1; seed < 40 && !(seen_clamp && seen_down); seed++) {
        fixture f;
        s_fixture(&f, seed);
        sac_d *a = s_agent(ALGO_META_SAC, seed);
        a->lam[0] = 0.0;
        double G = sac_meta_grad_d(a, &f.b, f.d0, ND0, NULL);
        sac_stats_t st;
        sac_update_d(a, &f.b, &f.b, f.d0, ND0, &st);
        cr_assert(fabs(st.meta_grad - G) < 1e-15);
        cr_assert(a->lam[0] <= 0.0, "log alpha %g > 0", a->lam[0]);
        if (G < 0) {  /* Adam's first step would be +lr: clamped */
            cr_expect(a->lam[0] == 0.0, "clamped to 0, got %g", a->lam[0]);
            seen_clamp = 1;
        } else if (G > 0) {  /* Adam's first step: -lr G / (|G| + eps) */
            double expect = -3e-4 * G / (G + 1e-8);
            cr_expect(fabs(a->lam[0] - expect) < 1e-12, "one Adam step to %g, got %g", expect,
                      a->lam[0]);
            seen_down = 1;
        }
        sac_destroy_d(&a);
    }
    cr_expect(seen_clamp && seen_down, "both signs of G occurred (%d %d)", seen_clamp, seen_down);
}

Test(sac, metagradient_is_clipped_to_its_bound) {
    fixture f;
    s_fixture(&f, 5);
    sac_d *a = s_agent(ALGO_META_SAC, 5);
    a->lam[0] = -0.5;
    /* a large virtual step (lr) on a small RMSProp state makes |G| large */
    a->opt.lr_pi = 0.03;
    for (size_t k = 0; k < a->shape.pi_n; k++) a->phi_v[k] = 1e-4;
    double G = sac_meta_grad_d(a, &f.b, f.d0, ND0, NULL);
    cr_assert(fabs(G) > 0.05, "the fixture must produce a large metagradient, got %g", G);
    sac_stats_t st;
    sac_update_d(a, &f.b, &f.b, f.d0, ND0, &st);
    cr_expect(st.meta_clipped == 1);
    double clipped = G * 0.05 / (fabs(G) + 1e-6);
    /* Adam's first moment after one step is (1 - beta1) times the clipped gradient */
    cr_expect(fabs(a->lam[1] - 0.1 * clipped) < 1e-12, "m %g, expected %g", a->lam[1],
              0.1 * clipped);
    sac_destroy_d(&a);
}

Test(sac, two_step_critic_option_takes_the_references_two_adam_steps) {
    fixture f;
    s_fixture(&f, 6);
    sac_d *one = s_agent(ALGO_SAC_V2, 6), *two = s_agent(ALGO_SAC_V2, 6);
    two->opt.critic_two_steps = 1;
    double *q0 = rl_malloc(sizeof(double) * one->shape.q_n);
    memcpy(q0, one->theta, sizeof(double) * one->shape.q_n);
    sac_update_d(one, &f.b, NULL, NULL, 0, NULL);
    /* the weights with the largest gradient of each critic (the others may be dead units) */
    size_t q1k = one->shape.q2[0].w, q2k = one->shape.q2[1].w;
    for (size_t k = 0; k < H * H; k++) {
        if (fabs(one->dtheta[one->shape.q2[0].w + k]) > fabs(one->dtheta[q1k])) q1k = one->shape.q2[0].w + k;
        if (fabs(one->dtheta[one->shape.q2[1].w + k]) > fabs(one->dtheta[q2k])) q2k = one->shape.q2[1].w + k;
    }
    cr_assert(fabs(one->dtheta[q1k]) > 1e-4 && fabs(one->dtheta[q2k]) > 1e-4);
    double q1_0 = q0[q1k], q2_0 = q0[q2k];
    free(q0);
    sac_update_d(two, &f.b, NULL, NULL, 0, NULL);
    double lr = 3e-4;
    /* one summed step at t = 1 moves every parameter with a gradient by lr */
    cr_expect(fabs(fabs(one->theta[q1k] - q1_0) - lr) < 1e-9);
    cr_expect(fabs(fabs(one->theta[q2k] - q2_0) - lr) < 1e-9);
    /* two steps: Q1 moves lr at t = 1, then 0.9 (0.1 g) / 0.19 over sqrt(0.999 (0.001 g^2) /
       0.001999) on zero gradient at t = 2; Q2 moves only at t = 2, by 0.526 / 0.707 lr */
    double q1_second = (0.09 / 0.19) / sqrt(0.000999 / 0.001999);
    double q2_second = (0.1 / 0.19) / sqrt(0.001 / 0.001999);
    cr_expect(fabs(fabs(two->theta[q1k] - q1_0) - lr * (1 + q1_second)) < 1e-8, "Q1 moved %g",
              fabs(two->theta[q1k] - q1_0));
    cr_expect(fabs(fabs(two->theta[q2k] - q2_0) - lr * q2_second) < 1e-8, "Q2 moved %g",
              fabs(two->theta[q2k] - q2_0));
    cr_expect(two->t_q == 2 && one->t_q == 1);
    sac_destroy_d(&one);
    sac_destroy_d(&two);
}

Test(sac, sac_v1_keeps_alpha_fixed_and_sac_v2_moves_it_toward_the_target_entropy) {
    fixture f;
    s_fixture(&f, 7);
    sac_d *v1 = s_agent(ALGO_SAC_V1, 7), *v2 = s_agent(ALGO_SAC_V2, 7);
    sac_stats_t st;
    sac_update_d(v1, &f.b, NULL, NULL, 0, &st);
    cr_expect(fabs(st.alpha - 0.2) < 1e-15);
    sac_update_d(v2, &f.b, NULL, NULL, 0, &st);
    /* loss -lam mean(log pi + H): when the entropy -mean(log pi) is above the target -H,
       mean(log pi + H) < 0, the gradient is positive and log alpha goes down */
    double above = st.entropy > v2->opt.target_entropy;
    cr_expect(above ? v2->lam[0] < 0 : v2->lam[0] > 0, "entropy %g, log alpha %g", st.entropy,
              v2->lam[0]);
    cr_expect(fabs(fabs(v2->lam[0]) - 3e-4) < 1e-9);
    sac_destroy_d(&v1);
    sac_destroy_d(&v2);
}

Test(sac, float_and_double_updates_agree) {
    fixture f;
    s_fixture(&f, 8);
    sac_d *ad = s_agent(ALGO_META_SAC, 8);
    nn_shape_t s = ad->shape;
    sac_opts_t o = ad->opt;
    float low[A] = {-1, -0.5f, -2}, high[A] = {1, 0.5f, 1};
    sac_f *af = sac_new_f(&s, &o, low, high, B, 8, 1);
    for (size_t k = 0; k < af->state_n; k++) af->state[k] = (float)ad->state[k];
    float fo[B * O], fa[B * A], fr[B], fn[B * O], fd[B], fx[B * A], fxn[B * A], f0[ND0 * O];
    for (int k = 0; k < B * O; k++) { fo[k] = (float)f.obs[k]; fn[k] = (float)f.next_obs[k]; }
    for (int k = 0; k < B * A; k++) {
        fa[k] = (float)f.act[k]; fx[k] = (float)f.xi[k]; fxn[k] = (float)f.xi_next[k];
    }
    for (int i = 0; i < B; i++) { fr[i] = (float)f.rew[i]; fd[i] = (float)f.done[i]; }
    for (int k = 0; k < ND0 * O; k++) f0[k] = (float)f.d0[k];
    batch_f bf = {B, fo, fa, fr, fn, fd, fx, fxn};
    sac_stats_t sd, sf;
    for (int u = 0; u < 3; u++) {
        sac_update_d(ad, &f.b, &f.b, f.d0, ND0, &sd);
        sac_update_f(af, &bf, &bf, f0, ND0, &sf);
    }
    cr_expect(fabs(sd.q_loss - sf.q_loss) < 1e-4 * fabs(sd.q_loss));
    cr_expect(fabs(sd.meta_grad - sf.meta_grad) < 1e-2 * fabs(sd.meta_grad), "G %g vs %g",
              sd.meta_grad, sf.meta_grad);
    double worst = 0;
    for (size_t k = 0; k < af->state_n; k++)
        worst = fmax(worst, fabs(af->state[k] - ad->state[k]) / (1e-6 + fabs(ad->state[k])));
    cr_expect(worst < 1e-3, "float and double states differ by %g relative", worst);
    sac_destroy_f(&af);
    sac_destroy_d(&ad);
}

Test(sac, td3_delays_the_actor_and_smooths_the_target_within_its_clip) {
    fixture f;
    s_fixture(&f, 9);
    for (int k = 0; k < B * A; k++) f.xi_next[k] = k % 2 ? 50.0 : -50.0;  /* noise far past the clip */
    sac_d *a = s_agent(ALGO_TD3, 9);
    size_t P = a->shape.pi_n;
    double *phi0 = rl_malloc(sizeof(double) * P), *bar0 = rl_malloc(sizeof(double) * P);
    memcpy(phi0, a->phi, sizeof(double) * P);
    memcpy(bar0, a->phi_bar, sizeof(double) * P);
    double theta_bar0 = a->theta_bar[5];
    sac_stats_t st;
    sac_update_d(a, &f.b, NULL, NULL, 0, &st);
    cr_expect(memcmp(phi0, a->phi, sizeof(double) * P) == 0, "no actor step on update 1");
    cr_expect(a->theta_bar[5] == theta_bar0, "no target update on update 1");
    /* target actions: the deterministic target action plus the clipped noise, within bounds */
    for (int i = 0; i < B; i++)
        for (int j = 0; j < A; j++) {
            double c = a->scale[j], lo = a->bias[j] - c, hi = a->bias[j] + c;
            double mu = a->pw_next->act[i * A + j], e = (i * A + j) % 2 ? 0.5 * c : -0.5 * c;
            double expect = fmin(hi, fmax(lo, mu + e));
            cr_assert(fabs(a->act_next[i * A + j] - expect) < 1e-12, "a' %g expected %g",
                      a->act_next[i * A + j], expect);
        }
    sac_update_d(a, &f.b, NULL, NULL, 0, &st);
    cr_expect(memcmp(phi0, a->phi, sizeof(double) * P) != 0, "actor step on update 2");
    for (size_t k = 0; k < P; k++)
        cr_assert(fabs(a->phi_bar[k] - (0.995 * bar0[k] + 0.005 * a->phi[k])) < 1e-12);
    cr_expect(a->theta_bar[5] != theta_bar0);
    cr_expect(st.alpha == 0.0);
    free(phi0);
    free(bar0);
    sac_destroy_d(&a);
}

/* sac_set_threads: the passes split into row ranges (learner/sac_impl.h) compute the same
 * update as one thread, to double rounding, for every algorithm and for part counts that split
 * B = 6 rows and |D0| = 5 evenly, unevenly and into more parts than rows (8: some parts
 * empty). A wrong row offset, a partial gradient left out
 * of the sum or a race would move the state by far more than 1e-12. */
Test(sac, a_team_computes_the_same_update_as_one_thread) {
    algo_t algos[] = {ALGO_SAC_V1, ALGO_SAC_V2, ALGO_META_SAC, ALGO_TD3};
    for (int ai = 0; ai < 4; ai++)
        for (int threads = 2; threads <= 8; threads += threads < 4 ? 1 : 4) {  /* 2 3 4 8 */
            fixture f;
            s_fixture(&f, 20 + ai);
            sac_d *one = s_agent(algos[ai], 20 + ai), *team = s_agent(algos[ai], 20 + ai);
            sac_set_threads_d(team, threads);
            sac_stats_t s1, st;
            for (int u = 0; u < 4; u++) {
                sac_update_d(one, &f.b, &f.b, f.d0, ND0, &s1);
                sac_update_d(team, &f.b, &f.b, f.d0, ND0, &st);
            }
            double worst = 0;
            size_t at = 0;
            for (size_t k = 0; k < one->state_n; k++) {
                double d = fabs(one->state[k] - team->state[k]) / (1e-3 + fabs(one->state[k]));
                if (d > worst) { worst = d; at = k; }
            }
            cr_expect(worst < 1e-12, "%s on %d threads: state[%zu] %.17g vs %.17g",
                      algo_name(algos[ai]), threads, at, team->state[at], one->state[at]);
            cr_expect(fabs(s1.q_loss - st.q_loss) <= 1e-12 * fabs(s1.q_loss));
            cr_expect(fabs(s1.meta_grad - st.meta_grad) <= 1e-10 * fabs(s1.meta_grad) + 1e-300);
            sac_destroy_d(&one);
            sac_destroy_d(&team);
        }
}

Test(sac, metagradient_matches_finite_difference_on_a_team_of_three) {
    fixture f;
    s_fixture(&f, 2);
    sac_d *a = s_agent(ALGO_META_SAC, 2);
    sac_set_threads_d(a, 3);
    rng_t r;
    rng_seed(&r, 3, 3);
    for (size_t k = 0; k < a->shape.pi_n; k++) a->phi_v[k] = 1e-3 * rng_uniform(&r);
    s_check_meta_grad(a, &f, "v > 0, 3 threads");
    sac_destroy_d(&a);
}

/* Sync mode's promise at learner sizes: the same inputs on the same thread count give the same
 * bits, whichever thread happens to run which part. */
Test(sac, a_team_is_bit_for_bit_deterministic) {
    nn_shape_t s;
    nn_shape_init(&s, 11, 3, 64);
    enum { N = 64 };
    rng_t r;
    rng_seed(&r, 4, 4);
    float *buf = rl_aligned(sizeof(float) * N * (2 * 11 + 3 * 3 + 2 + 11));
    for (int k = 0; k < N * (2 * 11 + 3 * 3 + 2 + 11); k++) buf[k] = (float)rng_normal(&r);
    float *obs = buf, *next = obs + N * 11, *act = next + N * 11, *xi = act + N * 3,
          *xin = xi + N * 3, *rew = xin + N * 3, *done = rew + N, *d0 = done + N;
    for (int i = 0; i < N; i++) done[i] = i % 7 == 0;
    for (int k = 0; k < N * 3; k++) act[k] = tanhf(act[k]);
    batch_f b = {N, obs, act, rew, next, done, xi, xin};
    float low[3] = {-1, -1, -1}, high[3] = {1, 1, 1};
    sac_opts_t o;
    sac_opts_default(&o, ALGO_META_SAC, 3);
    sac_f *x = sac_new_f(&s, &o, low, high, N, 5, 1), *y = sac_new_f(&s, &o, low, high, N, 5, 1);
    sac_set_threads_f(x, 2);
    sac_set_threads_f(y, 2);
    for (int u = 0; u < 20; u++) {
        sac_update_f(x, &b, &b, d0, N, NULL);
        sac_update_f(y, &b, &b, d0, N, NULL);
    }
    cr_expect(memcmp(x->state, y->state, sizeof(float) * x->state_n) == 0);
    sac_destroy_f(&x);
    sac_destroy_f(&y);
    free(buf);
}
