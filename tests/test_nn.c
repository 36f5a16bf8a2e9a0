/* Every backward pass of common/nn.h against central finite differences in double precision,
 * plus the optimizers against hand-computed values and the initialisation's bounds. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "nn.h"

#define O 4
#define A 3
#define H 8
#define N 5

static void s_fill(double *x, size_t n, double lo, double hi, rng_t *r) {
    for (size_t k = 0; k < n; k++) x[k] = lo + (hi - lo) * rng_uniform(r);
}

/* Central difference of f at every coordinate of x (restored after), compared with g. The
 * tolerance is relative (1e-5) plus the rounding error of the difference quotient itself
 * (1e-14 |L| / h), so a wrong sign or factor anywhere fails while rounding does not. */
typedef double (*loss_fn)(void *ctx);
static void s_check_grad(const char *what, double *x, size_t n, const double *g, loss_fn f,
                         void *ctx) {
    const double h = 1e-4;  /* tanh near saturation makes smaller steps rounding-bound */
    const double rounding = 1e-14 * (1.0 + fabs(f(ctx))) / h;
    double worst = 0;
    size_t worst_k = 0, bad = 0;
    for (size_t k = 0; k < n; k++) {
        double x0 = x[k];
        x[k] = x0 + h;
        double lp = f(ctx);
        x[k] = x0 - h;
        double lm = f(ctx);
        x[k] = x0;
        double fd = (lp - lm) / (2 * h);
        double excess = fabs(fd - g[k]) / (1e-5 * (fabs(fd) + fabs(g[k])) + rounding);
        if (excess > 1) bad++;
        if (excess > worst) { worst = excess; worst_k = k; }
    }
    cr_expect(bad == 0, "%s: %zu of %zu coordinates off; worst %zu at %.3g x tolerance", what,
              bad, n, worst_k, worst);
}

/* ---- policy ---- */

typedef struct {
    nn_shape_t s;
    double *phi, *scale, *bias, *obs, *xi, *wa;
    double c_logp;
    int stochastic;
    pi_ws_d *w;
} pi_ctx;

/* L = sum_ij wa_ij a_ij + c_logp sum_i logp_i */
static double s_pi_loss(void *vctx) {
    pi_ctx *c = vctx;

    pi_forward_d(&c->s, c->phi, c->scale, c->bias, c->obs, N, c->stochastic ? c->xi : NULL, c->w);
    double l = 0;
    for (int k = 0; k < N * A; k++) l += c->wa[k] * c->w->act[k];
    if (c->stochastic)
        for (int i = 0; i < N; i++) l += c->c_logp * c->w->logp[i];
    return l;
}

static void s_pi_setup(pi_ctx *c, rng_t *r) {
    nn_shape_init(&c->s, O, A, H);
    c->phi = rl_calloc(c->s.pi_n, sizeof(double));
    pi_init_d(&c->s, c->phi, r);
    for (size_t k = 0; k < c->s.pi_n; k++) c->phi[k] += 0.1 * (rng_uniform(r) - 0.5);
    c->phi[c->s.pi[2].b + A + 1] = 5.0;    /* log-std unit 1 clamped at the top: no gradient */
    c->phi[c->s.pi[2].b + A + 2] = -25.0;  /* log-std unit 2 clamped at the bottom */
    c->scale = rl_calloc(A, sizeof(double));
    c->bias = rl_calloc(A, sizeof(double));
    s_fill(c->scale, A, 0.3, 2.0, r);
    s_fill(c->bias, A, -0.5, 0.5, r);
    c->obs = rl_calloc(N * O, sizeof(double));
    s_fill(c->obs, N * O, -2, 2, r);
    c->xi = rl_calloc(N * A, sizeof(double));
    for (int k = 0; k < N * A; k++) c->xi[k] = rng_normal(r);
    c->wa = rl_calloc(N * A, sizeof(double));
    s_fill(c->wa, N * A, -1, 1, r);
    c->c_logp = 0.7;
    c->w = pi_ws_new_d(&c->s, N);
}

static void s_pi_free(pi_ctx *c) {
    free(c->phi); free(c->scale); free(c->bias); free(c->obs); free(c->xi); free(c->wa);
    pi_ws_destroy_d(&c->w);
}

Test(nn, policy_backward_stochastic_matches_finite_differences) {
    rng_t r;
    rng_seed(&r, 1, 0);
    pi_ctx c;
    s_pi_setup(&c, &r);
    c.stochastic = 1;
    double *g = rl_calloc(c.s.pi_n, sizeof(double));
    s_pi_loss(&c);
    pi_backward_d(&c.s, c.phi, c.scale, c.w, c.wa, c.c_logp, g);
    s_check_grad("policy (a and log pi)", c.phi, c.s.pi_n, g, s_pi_loss, &c);
    /* the clamped log-std units get no gradient, the unclamped one does */
    cr_expect(g[c.s.pi[2].b + A + 1] == 0.0 && g[c.s.pi[2].b + A + 2] == 0.0);
    cr_expect(g[c.s.pi[2].b + A + 0] != 0.0);
    free(g);
    s_pi_free(&c);
}

Test(nn, policy_backward_log_prob_only_matches_finite_differences) {
    rng_t r;
    rng_seed(&r, 2, 0);
    pi_ctx c;
    s_pi_setup(&c, &r);
    c.stochastic = 1;
    memset(c.wa, 0, sizeof(double) * N * A);
    double *g = rl_calloc(c.s.pi_n, sizeof(double));
    s_pi_loss(&c);
    pi_backward_d(&c.s, c.phi, c.scale, c.w, NULL, c.c_logp, g);
    s_check_grad("policy (log pi alone, dact NULL)", c.phi, c.s.pi_n, g, s_pi_loss, &c);
    free(g);
    s_pi_free(&c);
}

Test(nn, policy_backward_deterministic_matches_finite_differences) {
    rng_t r;
    rng_seed(&r, 3, 0);
    pi_ctx c;
    s_pi_setup(&c, &r);
    c.stochastic = 0;
    double *g = rl_calloc(c.s.pi_n, sizeof(double));
    s_pi_loss(&c);
    pi_backward_d(&c.s, c.phi, c.scale, c.w, c.wa, 123.0 /* ignored */, g);
    s_check_grad("policy (deterministic)", c.phi, c.s.pi_n, g, s_pi_loss, &c);
    for (size_t k = c.s.pi[2].w + (size_t)A * H; k < c.s.pi[2].b; k++)
        cr_assert(g[k] == 0.0, "log-std head weight %zu got gradient %g", k, g[k]);
    free(g);
    s_pi_free(&c);
}

Test(nn, policy_log_prob_matches_the_formula) {
    /* One row, hidden weights zero: mu = b_mu, raw log-std = b_ls, computed by hand. */
    nn_shape_t s;
    nn_shape_init(&s, 1, 1, 2);
    double phi[64] = {0};
    phi[s.pi[2].b] = 0.3;       /* mu */
    phi[s.pi[2].b + 1] = -0.5;  /* log-std */
    double scale = 2.0, bias = 0.5, obs = 1.0, xi = 0.8;
    pi_ws_d *w = pi_ws_new_d(&s, 1);
    pi_forward_d(&s, phi, &scale, &bias, &obs, 1, &xi, w);
    double u = 0.3 + exp(-0.5) * 0.8, y = tanh(u);
    double lp = -0.5 * 0.8 * 0.8 + 0.5 - 0.5 * log(2 * M_PI) - log(2.0 * (1 - y * y) + 1e-6);
    cr_expect(fabs(w->act[0] - (2.0 * y + 0.5)) < 1e-12, "action %g", w->act[0]);
    cr_expect(fabs(w->logp[0] - lp) < 1e-12, "logp %g expected %g", w->logp[0], lp);
    pi_forward_d(&s, phi, &scale, &bias, &obs, 1, NULL, w);
    cr_expect(fabs(w->act[0] - (2.0 * tanh(0.3) + 0.5)) < 1e-12);
    pi_ws_destroy_d(&w);
}

/* ---- critics ---- */

typedef struct {
    nn_shape_t s;
    double *theta, *obs, *act, *w1, *w2;
    q_ws_d *w;
} q_ctx;

static double s_q_loss(void *vctx) {
    q_ctx *c = vctx;
    q_forward_d(&c->s, c->theta, c->obs, c->act, N, c->w);
    double l = 0;
    for (int i = 0; i < N; i++) l += c->w1[i] * c->w->q[i] + c->w2[i] * c->w->q[c->w->cap + i];
    return l;
}

Test(nn, critic_backward_matches_finite_differences) {
    rng_t r;
    rng_seed(&r, 4, 0);
    q_ctx c;
    nn_shape_init(&c.s, O, A, H);
    c.theta = rl_calloc(c.s.q_n, sizeof(double));
    q_init_d(&c.s, c.theta, &r);
    for (size_t k = 0; k < c.s.q_n; k++) c.theta[k] += 0.1 * (rng_uniform(&r) - 0.5);
    c.obs = rl_calloc(N * O, sizeof(double));
    c.act = rl_calloc(N * A, sizeof(double));
    c.w1 = rl_calloc(N, sizeof(double));
    c.w2 = rl_calloc(N, sizeof(double));
    s_fill(c.obs, N * O, -2, 2, &r);
    s_fill(c.act, N * A, -1, 1, &r);
    s_fill(c.w1, N, -1, 1, &r);
    s_fill(c.w2, N, -1, 1, &r);
    c.w = q_ws_new_d(&c.s, N + 2);  /* cap > n: strides must use cap */
    double *g = rl_calloc(c.s.q_n, sizeof(double)), *ga = rl_calloc(N * A, sizeof(double));
    s_q_loss(&c);
    q_backward_d(&c.s, c.theta, c.w, c.w1, c.w2, g, ga);
    s_check_grad("critics (parameters)", c.theta, c.s.q_n, g, s_q_loss, &c);
    s_check_grad("critics (action input)", c.act, N * A, ga, s_q_loss, &c);
    /* Q1's loss alone reaches none of Q2's own parameters */
    s_q_loss(&c);
    q_backward_d(&c.s, c.theta, c.w, c.w1, NULL, g, NULL);
    for (size_t k = c.s.q2[1].w; k <= c.s.q3[1].b; k++) cr_assert(g[k] == 0.0);
    free(g); free(ga); free(c.theta); free(c.obs); free(c.act); free(c.w1); free(c.w2);
    q_ws_destroy_d(&c.w);
}

/* ---- losses ---- */

typedef struct {
    double q1[N], q2[N], y[N], logp[N], alpha;
    int which;  /* 0 critic loss, 1 policy loss */
} loss_ctx;

static double s_loss(void *vctx) {
    loss_ctx *c = vctx;
    double d1[N], d2[N];
    return c->which == 0 ? critic_loss_d(N, c->q1, c->q2, c->y, d1, d2)
                         : policy_loss_d(N, c->q1, c->q2, c->logp, c->alpha, d1, d2);
}

Test(nn, losses_match_finite_differences) {
    rng_t r;
    rng_seed(&r, 5, 0);
    loss_ctx c;
    s_fill(c.q1, N, -3, 3, &r);
    s_fill(c.q2, N, -3, 3, &r);
    s_fill(c.y, N, -3, 3, &r);
    s_fill(c.logp, N, -3, 3, &r);
    c.alpha = 0.37;
    double d1[N], d2[N];
    for (c.which = 0; c.which < 2; c.which++) {
        if (c.which == 0) critic_loss_d(N, c.q1, c.q2, c.y, d1, d2);
        else policy_loss_d(N, c.q1, c.q2, c.logp, c.alpha, d1, d2);
        s_check_grad(c.which ? "policy loss dQ1" : "critic loss dQ1", c.q1, N, d1, s_loss, &c);
        s_check_grad(c.which ? "policy loss dQ2" : "critic loss dQ2", c.q2, N, d2, s_loss, &c);
    }
    /* the policy loss is linear in log pi with slope alpha / n */
    double l0 = s_loss(&c);
    c.logp[2] += 1.0;
    cr_expect(fabs(s_loss(&c) - l0 - c.alpha / N) < 1e-12);
}

Test(nn, critic_target_matches_the_formula) {
    double rew[2] = {1.0, -2.0}, done[2] = {0.0, 1.0}, qb1[2] = {3.0, 5.0}, qb2[2] = {2.5, 7.0};
    double logp[2] = {-1.5, 0.4}, y[2];
    critic_target_d(2, rew, done, qb1, qb2, logp, 0.2, 0.99, y);
    cr_expect(fabs(y[0] - (1.0 + 0.99 * (2.5 + 0.2 * 1.5))) < 1e-12, "y0 %g", y[0]);
    cr_expect(fabs(y[1] - (-2.0)) < 1e-12, "a terminal row bootstraps nothing: %g", y[1]);
}

/* ---- optimizers against values computed by hand ---- */

Test(nn, adam_matches_hand_computed_steps) {
    adam_hp_t hp = {0.1, 0.9, 0.999, 1e-8};
    double p = 1.0, m = 0, v = 0, g = 0.5;
    adam_step_d(&hp, 1, 1, &p, &g, &m, &v);
    /* m = 0.05, v = 0.00025; mhat = 0.5, vhat = 0.25; p = 1 - 0.1 * 0.5 / (0.5 + 1e-8) */
    cr_expect(fabs(m - 0.05) < 1e-15 && fabs(v - 0.00025) < 1e-15);
    cr_expect(fabs(p - (1.0 - 0.05 / (0.5 + 1e-8))) < 1e-12, "p %.15g", p);
    g = -1.0;
    adam_step_d(&hp, 2, 1, &p, &g, &m, &v);
    /* m = 0.045 - 0.1 = -0.055; v = 0.00024975 + 0.001 = 0.00124975
       mhat = -0.055 / 0.19 = -0.289473684; vhat = 0.00124975 / 0.001999 = 0.625187594 */
    double expect = 0.9 + 0.1 * 0.289473684210526 / (sqrt(0.625187593796898) + 1e-8);
    cr_expect(fabs(p - expect) < 1e-7, "p %.15g expected %.15g", p, expect);
    float pf = 1.0f, mf = 0, vf = 0, gf = 0.5f;
    adam_step_f(&hp, 1, 1, &pf, &gf, &mf, &vf);
    cr_expect(fabsf(pf - 0.9f) < 1e-6f, "float Adam %g", pf);
}

Test(nn, rmsprop_matches_the_algorithm_md_form) {
    rms_hp_t hp = {0.01, 0.99, 1e-12};
    double p = 1.0, v = 0, g = 2.0;
    rms_step_d(&hp, 1, &p, &g, &v);
    /* v = 0.01 * 4 + 1e-12 = 0.04 + 1e-12 (eps stored in v); p = 1 - 0.01 * 2 / sqrt(v) = 0.9 */
    cr_expect(fabs(v - (0.04 + 1e-12)) < 1e-15, "v %.17g", v);
    cr_expect(fabs(p - (1.0 - 0.02 / sqrt(0.04 + 1e-12))) < 1e-15, "p %.17g", p);
    g = -1.0;
    rms_step_d(&hp, 1, &p, &g, &v);
    double v2 = 0.99 * (0.04 + 1e-12) + 0.01 + 1e-12;  /* 0.0496 + 1.99e-12 */
    cr_expect(fabs(v - v2) < 1e-15);
    cr_expect(fabs(p - (0.9 + 0.01 / sqrt(v2))) < 1e-9, "p %.17g", p);
}

Test(nn, polyak_moves_the_target_by_tau) {
    double t[2] = {1.0, -2.0}, s[2] = {3.0, 2.0};
    polyak_d(2, t, s, 0.005);
    cr_expect(fabs(t[0] - 1.01) < 1e-15 && fabs(t[1] - (-1.98)) < 1e-15, "%g %g", t[0], t[1]);
}

Test(nn, xavier_init_respects_the_bounds_and_zero_biases) {
    nn_shape_t s;
    nn_shape_init(&s, 11, 3, 256);
    cr_assert_eq(s.pi_n, (size_t)(11 * 256 + 256 + 256 * 256 + 256 + 256 * 6 + 6));
    cr_assert_eq(s.q_n, (size_t)(14 * 512 + 512 + 2 * (256 * 256 + 256 + 256 + 1)));
    float *phi = rl_calloc(s.pi_n, sizeof(float));
    rng_t r;
    rng_seed(&r, 9, 0);
    pi_init_f(&s, phi, &r);
    double a0 = sqrt(6.0 / (11 + 256)), a2 = sqrt(6.0 / (256 + 3)), m0 = 0;
    for (int k = 0; k < 11 * 256; k++) {
        cr_assert(fabsf(phi[k]) <= a0);
        m0 = fmax(m0, fabsf(phi[k]));
    }
    cr_expect(m0 > 0.95 * a0, "the uniform range is used: max %g of bound %g", m0, a0);
    for (size_t k = s.pi[2].w; k < s.pi[2].b; k++) cr_assert(fabsf(phi[k]) <= a2);
    for (int l = 0; l < 3; l++)
        for (int j = 0; j < s.pi[l].out; j++) cr_assert(phi[s.pi[l].b + j] == 0.0f);
    free(phi);
}

Test(nn, fused_adam_polyak_equals_adam_then_polyak) {
    adam_hp_t hp = {0.01, 0.9, 0.999, 1e-8};
    double p1[3] = {1, -2, 3}, m1[3] = {0.1, 0, -0.2}, v1[3] = {0.01, 0, 0.02}, t1[3] = {0, 1, 2};
    double p2[3], m2[3], v2[3], t2[3], g[3] = {0.5, -1, 0.25};
    memcpy(p2, p1, sizeof p1); memcpy(m2, m1, sizeof m1); memcpy(v2, v1, sizeof v1);
    memcpy(t2, t1, sizeof t1);
    adam_step_d(&hp, 3, 3, p1, g, m1, v1);
    polyak_d(3, t1, p1, 0.005);
    adam_polyak_step_d(&hp, 3, 3, p2, g, m2, v2, t2, 0.005);
    for (int k = 0; k < 3; k++) cr_expect(p1[k] == p2[k] && t1[k] == t2[k] && m1[k] == m2[k]);
}
