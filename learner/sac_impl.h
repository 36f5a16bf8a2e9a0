/* The body of learner/sac.h for one precision; included by sac_f.c and sac_d.c.
 * Section and step numbers in the comments are those of docs/ALGORITHM.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "alloc.h"

NN(sac) *NN(sac_new)(const nn_shape_t *shape, const sac_opts_t *opt, const REAL *low,
                     const REAL *high, int cap, uint64_t seed, uint64_t stream) {
    NN(sac) *a = rl_calloc(1, sizeof *a);
    a->shape = *shape;
    a->opt = *opt;
    a->cap = cap;
    const int A = shape->act_dim;
    const size_t P = shape->pi_n, Q = shape->q_n;
    a->scale = rl_aligned(sizeof(REAL) * A);
    a->bias = rl_aligned(sizeof(REAL) * A);
    a->unit = rl_aligned(sizeof(REAL) * A);
    a->zero = rl_aligned(sizeof(REAL) * A);
    for (int j = 0; j < A; j++) {
        a->scale[j] = (high[j] - low[j]) / 2;
        a->bias[j] = (high[j] + low[j]) / 2;
        a->unit[j] = 1;
    }
    a->state_n = 4 * P + 4 * Q + 3;
    a->state = rl_aligned(sizeof(REAL) * a->state_n);
    REAL *p = a->state;
    a->phi = p; p += P;
    a->phi_m = p; p += P;
    a->phi_v = p; p += P;
    a->phi_bar = p; p += P;
    a->theta = p; p += Q;
    a->theta_bar = p; p += Q;
    a->theta_m = p; p += Q;
    a->theta_v = p; p += Q;
    a->lam = p; p += 3;
    RL_ASSERT(p == a->state + a->state_n, "state block carving");

    rng_t r;
    rng_seed(&r, seed, stream);
    NN(pi_init)(shape, a->phi, &r);
    NN(q_init)(shape, a->theta, &r);
    memcpy(a->theta_bar, a->theta, sizeof(REAL) * Q);
    memcpy(a->phi_bar, a->phi, sizeof(REAL) * P);
    a->lam[0] = (REAL)(opt->algo == ALGO_SAC_V1 ? log(opt->alpha) : opt->log_alpha_init);

    a->g = rl_aligned(sizeof(REAL) * P);
    a->g_ent = rl_aligned(sizeof(REAL) * P);
    a->phi_virt = rl_aligned(sizeof(REAL) * P);
    a->meta_h = rl_aligned(sizeof(REAL) * P);
    a->dtheta = rl_aligned(sizeof(REAL) * Q);
    a->dtheta2 = rl_aligned(sizeof(REAL) * Q);
    a->dact = rl_aligned(sizeof(REAL) * cap * A);
    a->act_next = rl_aligned(sizeof(REAL) * cap * A);
    a->dq1 = rl_aligned(sizeof(REAL) * cap);
    a->dq2 = rl_aligned(sizeof(REAL) * cap);
    a->y = rl_aligned(sizeof(REAL) * cap);
    a->pw = NN(pi_ws_new)(shape, cap);
    a->pw_next = NN(pi_ws_new)(shape, cap);
    a->pw_meta = NN(pi_ws_new)(shape, cap);
    a->qw = NN(q_ws_new)(shape, cap);
    a->qw_next = NN(q_ws_new)(shape, cap);
    a->qw_meta = NN(q_ws_new)(shape, cap);
    return a;
}

void NN(sac_destroy)(NN(sac) **self_p) {
    NN(sac) *a = *self_p;
    if (!a) return;
    free(a->scale); free(a->bias); free(a->unit); free(a->zero); free(a->state);
    free(a->g); free(a->g_ent); free(a->phi_virt); free(a->meta_h);
    free(a->dtheta); free(a->dtheta2); free(a->dact); free(a->act_next);
    free(a->dq1); free(a->dq2); free(a->y);
    NN(pi_ws_destroy)(&a->pw); NN(pi_ws_destroy)(&a->pw_next); NN(pi_ws_destroy)(&a->pw_meta);
    NN(q_ws_destroy)(&a->qw); NN(q_ws_destroy)(&a->qw_next); NN(q_ws_destroy)(&a->qw_meta);
    team_destroy(&a->team);
    free(a->g_part); free(a->g_part2); free(a->dtheta_part); free(a->sum_part);
    free(a);
    *self_p = NULL;
}

/* Meta-SAC step 3 on parameters [k0, k1): phi' = phi - lr g / D, g = alpha g_ent + g_q. */
RL_VECTOR_CLONES
static void s_virtual_step(NN(sac) *a, REAL alpha, size_t k0, size_t k1) {
    const REAL rho = (REAL)a->opt.rms_rho, eps = (REAL)a->opt.rms_eps, lr = (REAL)a->opt.lr_pi;
    for (size_t k = k0; k < k1; k++) {
        REAL g = alpha * a->g_ent[k] + a->g[k];
        REAL D = sqrt(rho * a->phi_v[k] + (1 - rho) * g * g + eps);
        a->phi_virt[k] = a->phi[k] - lr * g / D;
    }
}

/* Meta-SAC step 4 on parameters [k0, k1): sum_k h_k J_k, J_k = -lr g_ent_k (rho v_k + eps) / D_k^3
   (G is alpha times the sum over all k). */
static double s_meta_g_sum(const NN(sac) *a, REAL alpha, size_t k0, size_t k1) {
    const REAL rho = (REAL)a->opt.rms_rho, eps = (REAL)a->opt.rms_eps, lr = (REAL)a->opt.lr_pi;
    double G = 0;
    for (size_t k = k0; k < k1; k++) {
        REAL g = alpha * a->g_ent[k] + a->g[k];
        REAL sv = rho * a->phi_v[k] + eps;
        REAL D = sqrt(sv + (1 - rho) * g * g);
        G += (double)a->meta_h[k] * (double)(-lr * a->g_ent[k] * sv / (D * D * D));
    }
    return G;
}

void NN(sac_set_threads)(NN(sac) *a, int threads) {
    RL_ASSERT(!a->team && threads >= 1, "sac_set_threads once, threads %d", threads);
    a->parts = threads;
    if (threads == 1) return;
    a->team = team_new(threads);
    a->g_part = rl_aligned(sizeof(REAL) * (size_t)(threads - 1) * a->shape.pi_n);
    a->g_part2 = rl_aligned(sizeof(REAL) * (size_t)(threads - 1) * a->shape.pi_n);
    a->dtheta_part = rl_aligned(sizeof(REAL) * (size_t)(threads - 1) * a->shape.q_n);
    a->sum_part = rl_aligned(sizeof(double) * (size_t)threads);
}

/* ---- the passes, split into row ranges across the team ---------------------------------- */

/* What one job computes; each kind reads the fields it names. */
typedef enum {
    J_PI_FWD, J_PI_BWD, J_Q_FWD, J_Q_BWD, J_SUM, J_ADAM, J_RMS, J_VIRT, J_METAG
} job_kind_t;

typedef struct job {
    job_kind_t kind;
    NN(sac) *a;
    const REAL *params, *scale, *bias;  /* network weights and the action map */
    const REAL *obs, *act, *xi;         /* inputs [n][.] */
    const REAL *dact, *dq1, *dq2;       /* upstream gradients [n][.] */
    REAL c_logp, alpha, tau;
    int n;
    NN(pi_ws) *pw;
    NN(q_ws) *qw;
    REAL *grad, *dact_out;              /* outputs */
    size_t len;                         /* J_SUM, J_ADAM, J_RMS: parameter count */
    REAL *p, *m, *v, *target;           /* optimizer state */
    const void *hp;                     /* adam_hp_t or rms_hp_t */
    long t;
    struct job *next;                   /* the next job of a chain (s_job), or NULL */
} job_t;

/* [*k0, *k1): part p of P of n items, boundaries on multiples of 16 (whole cache lines). */
static void s_range(size_t n, int p, int P, size_t *k0, size_t *k1) {
    size_t blocks = (n + 15) / 16;
    *k0 = blocks * (size_t)p / (size_t)P * 16;
    *k1 = blocks * (size_t)(p + 1) / (size_t)P * 16;
    if (*k0 > n) *k0 = n;
    if (*k1 > n) *k1 = n;
}

/* A copy of w whose buffers start at row r0 (the caller sets n). */
static NN(pi_ws) s_pi_view(const nn_shape_t *s, const NN(pi_ws) *w, int r0) {
    const size_t H = (size_t)s->hidden, A = (size_t)s->act_dim, r = (size_t)r0;
    NN(pi_ws) v = *w;
    v.cap = w->cap - r0;
    v.h1 += r * H; v.h2 += r * H; v.dh1 += r * H; v.dh2 += r * H;
    v.out += r * 2 * A; v.dout += r * 2 * A; v.y += r * A; v.act += r * A; v.logp += r;
    if (w->obs) v.obs = w->obs + r * (size_t)s->obs_dim;
    if (w->xi) v.xi = w->xi + r * A;
    return v;
}

/* Critic 2's rows stay at + cap from critic 1's, so the view keeps cap. */
static NN(q_ws) s_q_view(const nn_shape_t *s, const NN(q_ws) *w, int r0) {
    const size_t H = (size_t)s->hidden, r = (size_t)r0;
    NN(q_ws) v = *w;
    v.x += r * (size_t)(s->obs_dim + s->act_dim);
    v.h1 += r * 2 * H; v.dh1 += r * 2 * H; v.h2 += r * H; v.dh2 += r * H;
    v.q += r; v.dq3 += r;
    return v;
}

static void s_job1(job_t *j, int p, int P) {
    NN(sac) *a = j->a;
    const nn_shape_t *s = &a->shape;
    const size_t O = (size_t)s->obs_dim, A = (size_t)s->act_dim;
    const int r0 = j->n * p / P, nr = j->n * (p + 1) / P - r0;
    size_t k0, k1;
    s_range(j->len, p, P, &k0, &k1);
    switch (j->kind) {
    case J_PI_FWD: {
        if (nr == 0) break;  /* more parts than rows */
        NN(pi_ws) v = s_pi_view(s, j->pw, r0);
        NN(pi_forward)(s, j->params, j->scale, j->bias, j->obs + r0 * O, nr,
                       j->xi ? j->xi + r0 * A : NULL, &v);
        break;
    }
    case J_PI_BWD: {
        NN(pi_ws) v = s_pi_view(s, j->pw, r0);
        v.n = nr;
        REAL *g = p == 0 ? j->grad : j->p + (size_t)(p - 1) * s->pi_n;
        if (nr == 0) {  /* more parts than rows: this part's share of the sum is zero */
            memset(g, 0, sizeof(REAL) * s->pi_n);
            break;
        }
        NN(pi_backward)(s, j->params, j->scale, &v, j->dact ? j->dact + r0 * A : NULL, j->c_logp,
                        g);
        break;
    }
    case J_Q_FWD: {
        if (nr == 0) break;
        NN(q_ws) v = s_q_view(s, j->qw, r0);
        NN(q_forward)(s, j->params, j->obs + r0 * O, j->act + r0 * A, nr, &v);
        break;
    }
    case J_Q_BWD: {
        NN(q_ws) v = s_q_view(s, j->qw, r0);
        v.n = nr;
        REAL *g = !j->grad ? NULL : p == 0 ? j->grad : a->dtheta_part + (size_t)(p - 1) * s->q_n;
        if (nr == 0) {
            if (g) memset(g, 0, sizeof(REAL) * s->q_n);
            break;
        }
        NN(q_backward)(s, j->params, &v, j->dq1 ? j->dq1 + r0 : NULL,
                       j->dq2 ? j->dq2 + r0 : NULL, g, j->dact_out ? j->dact_out + r0 * A : NULL);
        break;
    }
    case J_SUM:  /* grad += the other parts' partial gradients (at p), in part order */
        for (int q = 1; q < P; q++) {
            const REAL *src = j->p + (size_t)(q - 1) * j->len;
            for (size_t k = k0; k < k1; k++) j->grad[k] += src[k];
        }
        break;
    case J_ADAM:
        if (j->target)
            NN(adam_polyak_step)(j->hp, j->t, k1 - k0, j->p + k0, j->grad + k0, j->m + k0,
                                 j->v + k0, j->target + k0, j->tau);
        else
            NN(adam_step)(j->hp, j->t, k1 - k0, j->p + k0, j->grad + k0, j->m + k0, j->v + k0);
        break;
    case J_RMS:
        NN(rms_step)(j->hp, k1 - k0, j->p + k0, j->grad + k0, j->v + k0);
        break;
    case J_VIRT:
        s_virtual_step(a, j->alpha, k0, k1);
        break;
    case J_METAG:
        a->sum_part[p] = s_meta_g_sum(a, j->alpha, k0, k1);
        break;
    }
}

/* Runs every job of the chain starting at arg on part p: the jobs of a chain must be row-local
   (part p of a job reads only rows of part p from the jobs before it), so a chain needs no
   barrier between its jobs. */
static void s_job(void *arg, int p, int P) {
    for (job_t *j = arg; j; j = j->next) s_job1(j, p, P);
}

static void s_run(NN(sac) *a, job_t *j) {
    if (a->team) team_run(a->team, s_job, j, a->parts);
    else s_job(j, 0, 1);
}

/* Builders of the row-split passes (same contracts as pi_forward, pi_backward, q_forward and
   q_backward), run alone or chained by s_run; the *_done functions finish them after s_run. */
static job_t s_pi_fwd_job(NN(sac) *a, const REAL *phi, const REAL *scale, const REAL *bias,
                          const REAL *obs, int n, const REAL *xi, NN(pi_ws) *w) {
    RL_ASSERT(n <= w->cap, "pi_forward: %d rows > capacity %d", n, w->cap);
    return (job_t){.kind = J_PI_FWD, .a = a, .params = phi, .scale = scale, .bias = bias,
                   .obs = obs, .xi = xi, .n = n, .pw = w};
}

static void s_pi_fwd_done(const job_t *j) {
    j->pw->n = j->n;
    j->pw->obs = j->obs;
    j->pw->xi = j->xi;
}

static job_t s_q_fwd_job(NN(sac) *a, const REAL *theta, const REAL *obs, const REAL *act, int n,
                         NN(q_ws) *w) {
    RL_ASSERT(n <= w->cap, "q_forward: %d rows > capacity %d", n, w->cap);
    return (job_t){.kind = J_Q_FWD, .a = a, .params = theta, .obs = obs, .act = act, .n = n,
                   .qw = w};
}

static void s_q_fwd_done(const job_t *j) { j->qw->n = j->n; }

/* parts: where parts 1.. of the gradient go (a->g_part, or a->g_part2 for a second gradient
   in the same chain). n is that of the forward the backward follows. */
static job_t s_pi_bwd_job(NN(sac) *a, const REAL *phi, const REAL *scale, NN(pi_ws) *w, int n,
                          const REAL *dact, REAL c_logp, REAL *dphi, REAL *parts) {
    return (job_t){.kind = J_PI_BWD, .a = a, .params = phi, .scale = scale, .dact = dact,
                   .c_logp = c_logp, .n = n, .pw = w, .grad = dphi, .p = parts};
}

static job_t s_q_bwd_job(NN(sac) *a, const REAL *theta, NN(q_ws) *w, int n, const REAL *dq1,
                         const REAL *dq2, REAL *dtheta, REAL *dact) {
    return (job_t){.kind = J_Q_BWD, .a = a, .params = theta, .dq1 = dq1, .dq2 = dq2, .n = n,
                   .qw = w, .grad = dtheta, .dact_out = dact};
}

/* grad += the other parts' partial gradients (nothing on one thread); a second pair
   (grad2, parts2) is summed by the same job when grad2 is not NULL. */
static void s_sum(NN(sac) *a, REAL *grad, size_t len, REAL *parts, REAL *grad2,
                  REAL *parts2) {
    if (!a->team) return;
    job_t j2 = {.kind = J_SUM, .a = a, .grad = grad2, .len = len, .p = parts2};
    job_t j = {.kind = J_SUM, .a = a, .grad = grad, .len = len, .p = parts,
               .next = grad2 ? &j2 : NULL};
    s_run(a, &j);
}

/* The row-local chains of an update. */

/* pi_forward on obs, then q_forward of theta on (obs, the policy's actions). */
static void s_pi_q_fwd(NN(sac) *a, const REAL *phi, const REAL *scale, const REAL *bias,
                       const REAL *obs, int n, const REAL *xi, NN(pi_ws) *pw, const REAL *theta,
                       NN(q_ws) *qw) {
    job_t f = s_pi_fwd_job(a, phi, scale, bias, obs, n, xi, pw);
    job_t q = s_q_fwd_job(a, theta, obs, pw->act, n, qw);
    f.next = &q;
    s_run(a, &f);
    s_pi_fwd_done(&f);
    s_q_fwd_done(&q);
}

/* q_backward to dact (no critic gradient), then pi_backward of phi into g. */
static void s_q_pi_bwd(NN(sac) *a, const REAL *theta, NN(q_ws) *qw, const REAL *dq1,
                       const REAL *dq2, const REAL *phi, const REAL *scale, NN(pi_ws) *pw,
                       REAL c_logp, REAL *g) {
    job_t q = s_q_bwd_job(a, theta, qw, qw->n, dq1, dq2, NULL, a->dact);
    job_t b = s_pi_bwd_job(a, phi, scale, pw, pw->n, a->dact, c_logp, g, a->g_part);
    q.next = &b;
    s_run(a, &q);
    s_sum(a, g, a->shape.pi_n, a->g_part, NULL, NULL);
}

/* adam_step (target NULL) or adam_polyak_step over n parameters, split by ranges. */
static void s_adam_par(NN(sac) *a, const adam_hp_t *hp, long t, size_t n, REAL *p, const REAL *g,
                       REAL *m, REAL *v, REAL *target, REAL tau) {
    job_t j = {.kind = J_ADAM, .a = a, .hp = hp, .t = t, .len = n, .p = p, .grad = (REAL *)g,
               .m = m, .v = v, .target = target, .tau = tau};
    s_run(a, &j);
}

static void s_rms_par(NN(sac) *a, const rms_hp_t *hp, size_t n, REAL *p, const REAL *g, REAL *v) {
    job_t j = {.kind = J_RMS, .a = a, .hp = hp, .len = n, .p = p, .grad = (REAL *)g, .v = v};
    s_run(a, &j);
}

REAL NN(sac_alpha)(const NN(sac) *a) {
    if (a->opt.algo == ALGO_TD3) return 0;
    return a->opt.algo == ALGO_SAC_V1 ? (REAL)a->opt.alpha : exp(a->lam[0]);
}

static adam_hp_t s_adam(const sac_opts_t *o, double lr) {
    adam_hp_t hp = {lr, o->adam_beta1, o->adam_beta2, o->adam_eps};
    return hp;
}

/* Zeroes the parameters of critic c (0 = Q1, 1 = Q2) in a critic-layout vector. */
static void s_zero_critic(const nn_shape_t *s, REAL *v, int c) {
    size_t H = (size_t)s->hidden, in = (size_t)s->q1.in;
    memset(v + s->q1.w + c * H * in, 0, sizeof(REAL) * H * in);
    memset(v + s->q1.b + c * H, 0, sizeof(REAL) * H);
    memset(v + s->q2[c].w, 0, sizeof(REAL) * (s->q3[c].b + 1 - s->q2[c].w));
}

/* TD3 target policy smoothing: a' = clip(mu_bar(s') + clip(0.2 c xi, -0.5 c, 0.5 c), low, high)
 * with c the per-dimension half range (max action), written to a->act_next. */
static void s_td3_target_action(NN(sac) *a, const NN(batch) *b) {
    const nn_shape_t *s = &a->shape;
    const int n = b->n, A = s->act_dim;
    job_t f = s_pi_fwd_job(a, a->phi_bar, a->scale, a->bias, b->next_obs, n, NULL, a->pw_next);
    s_run(a, &f);
    s_pi_fwd_done(&f);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < A; j++) {
            size_t k = (size_t)i * A + j;
            REAL c = a->scale[j], lim = (REAL)a->opt.td3_noise_clip * c;
            REAL e = (REAL)a->opt.td3_noise * c * b->xi_next[k];
            e = e < -lim ? -lim : e > lim ? lim : e;
            REAL v = a->pw_next->act[k] + e, lo = a->bias[j] - c, hi = a->bias[j] + c;
            a->act_next[k] = v < lo ? lo : v > hi ? hi : v;
        }
}

/* TD3 actor step: maximise Q1(s, mu(s)) with Adam. */
static void s_td3_actor_step(NN(sac) *a, const NN(batch) *b, sac_stats_t *st) {
    const nn_shape_t *s = &a->shape;
    const int n = b->n;
    s_pi_q_fwd(a, a->phi, a->scale, a->bias, b->obs, n, NULL, a->pw, a->theta, a->qw);
    double l = 0;
    for (int i = 0; i < n; i++) {
        l -= a->qw->q[i];
        a->dq1[i] = -(REAL)1 / n;
    }
    s_q_pi_bwd(a, a->theta, a->qw, a->dq1, NULL, a->phi, a->scale, a->pw, 0, a->g);
    adam_hp_t hp = s_adam(&a->opt, a->opt.lr_pi);
    s_adam_par(a, &hp, ++a->t_pi, s->pi_n, a->phi, a->g, a->phi_m, a->phi_v, NULL, 0);
    if (st) st->pi_loss = l / n;
}

/* Section 2: critic target with the current policy and target critics, one Adam step on the
 * summed loss of both critics (or the reference's two steps, opt.critic_two_steps). */
static void s_critic_step(NN(sac) *a, const NN(batch) *b, REAL alpha, sac_stats_t *st) {
    const nn_shape_t *s = &a->shape;
    const int n = b->n, cap = a->cap;
    if (a->opt.algo == ALGO_TD3) {
        s_td3_target_action(a, b);
        /* the target critics on the smoothed target action, and the critics on the batch */
        job_t qt = s_q_fwd_job(a, a->theta_bar, b->next_obs, a->act_next, n, a->qw_next);
        job_t qc = s_q_fwd_job(a, a->theta, b->obs, b->act, n, a->qw);
        qt.next = &qc;
        s_run(a, &qt);
        s_q_fwd_done(&qt);
        s_q_fwd_done(&qc);
        NN(critic_target)(n, b->rew, b->done, a->qw_next->q, a->qw_next->q + cap, NULL, 0,
                          (REAL)a->opt.gamma, a->y);
    } else {
        /* the policy at s', the target critics there, and the critics on the batch: one chain */
        job_t pn = s_pi_fwd_job(a, a->phi, a->scale, a->bias, b->next_obs, n, b->xi_next,
                                a->pw_next);
        job_t qt = s_q_fwd_job(a, a->theta_bar, b->next_obs, a->pw_next->act, n, a->qw_next);
        job_t qc = s_q_fwd_job(a, a->theta, b->obs, b->act, n, a->qw);
        pn.next = &qt;
        qt.next = &qc;
        s_run(a, &pn);
        s_pi_fwd_done(&pn);
        s_q_fwd_done(&qt);
        s_q_fwd_done(&qc);
        NN(critic_target)(n, b->rew, b->done, a->qw_next->q, a->qw_next->q + cap,
                          a->pw_next->logp, alpha, (REAL)a->opt.gamma, a->y);
    }
    REAL loss = NN(critic_loss)(n, a->qw->q, a->qw->q + cap, a->y, a->dq1, a->dq2);
    job_t qb = s_q_bwd_job(a, a->theta, a->qw, n, a->dq1, a->dq2, a->dtheta, NULL);
    s_run(a, &qb);
    s_sum(a, a->dtheta, s->q_n, a->dtheta_part, NULL, NULL);
    /* SAC and Meta-SAC: the Polyak step of the target critics (the last step of the update)
       runs inside the critic's Adam pass over memory. It is exact to do it here: nothing
       between this step and the end of the update changes the critics. */
    REAL tau = (REAL)a->opt.tau;
    int fuse = a->opt.algo != ALGO_TD3;
    adam_hp_t hp = s_adam(&a->opt, a->opt.lr_q);
    if (a->opt.critic_two_steps) {
        memcpy(a->dtheta2, a->dtheta, sizeof(REAL) * s->q_n);
        s_zero_critic(s, a->dtheta, 1);   /* gradient of the Q1 loss alone */
        s_zero_critic(s, a->dtheta2, 0);  /* gradient of the Q2 loss alone */
        s_adam_par(a, &hp, ++a->t_q, s->q_n, a->theta, a->dtheta, a->theta_m, a->theta_v, NULL, 0);
    }
    REAL *g = a->opt.critic_two_steps ? a->dtheta2 : a->dtheta;
    s_adam_par(a, &hp, ++a->t_q, s->q_n, a->theta, g, a->theta_m, a->theta_v,
               fuse ? a->theta_bar : NULL, tau);
    if (st) {
        double qm = 0;
        for (int i = 0; i < n; i++) qm += a->qw->q[i];
        st->q_loss = loss;
        st->q_mean = qm / n;
    }
}

/* Section 2: policy loss on b with the (already updated) critics; Adam for SAC, the RMSProp of
 * section 4 step 8 for Meta-SAC. Leaves log pi of the batch in a->pw->logp. */
static void s_policy_step(NN(sac) *a, const NN(batch) *b, REAL alpha, sac_stats_t *st) {
    const nn_shape_t *s = &a->shape;
    const int n = b->n, cap = a->cap;
    s_pi_q_fwd(a, a->phi, a->scale, a->bias, b->obs, n, b->xi, a->pw, a->theta, a->qw);
    REAL loss = NN(policy_loss)(n, a->qw->q, a->qw->q + cap, a->pw->logp, alpha, a->dq1, a->dq2);
    s_q_pi_bwd(a, a->theta, a->qw, a->dq1, a->dq2, a->phi, a->scale, a->pw, alpha / n, a->g);
    if (a->opt.algo == ALGO_META_SAC) {
        rms_hp_t hp = {a->opt.lr_pi, a->opt.rms_rho, a->opt.rms_eps};
        s_rms_par(a, &hp, s->pi_n, a->phi, a->g, a->phi_v);
        a->t_pi++;
    } else {
        adam_hp_t hp = s_adam(&a->opt, a->opt.lr_pi);
        s_adam_par(a, &hp, ++a->t_pi, s->pi_n, a->phi, a->g, a->phi_m, a->phi_v, NULL, 0);
    }
    if (st) {
        double lp = 0;
        for (int i = 0; i < n; i++) lp += a->pw->logp[i];
        st->pi_loss = loss;
        st->entropy = -lp / n;
    }
}

/* Meta-SAC step 2: a->g = g_q = -d/dphi mean min Q(s, a(s)) and a->g_ent = d/dphi mean log pi,
 * both total derivatives through the reparameterised action, on B1 with the current critics. */
static void s_meta_policy_grads(NN(sac) *a, const NN(batch) *b1) {
    const int n = b1->n, cap = a->cap;
    s_pi_q_fwd(a, a->phi, a->scale, a->bias, b1->obs, n, b1->xi, a->pw, a->theta, a->qw);
    NN(policy_loss)(n, a->qw->q, a->qw->q + cap, NULL, 0, a->dq1, a->dq2);
    /* one chain: dL/da through the critics, then both backward passes of the policy */
    job_t qb = s_q_bwd_job(a, a->theta, a->qw, n, a->dq1, a->dq2, NULL, a->dact);
    job_t gq = s_pi_bwd_job(a, a->phi, a->scale, a->pw, n, a->dact, 0, a->g, a->g_part);
    job_t ge = s_pi_bwd_job(a, a->phi, a->scale, a->pw, n, NULL, (REAL)1 / n, a->g_ent,
                            a->g_part2);
    qb.next = &gq;
    gq.next = &ge;
    s_run(a, &qb);
    s_sum(a, a->g, a->shape.pi_n, a->g_part, a->g_ent, a->g_part2);
}

/* Meta-SAC steps 3-4 for a given alpha: phi' = phi - lr g / D with g = alpha g_ent + g_q, then
 * L_meta = -mean over the meta states of min Q(s0, deterministic action of phi'). Leaves the
 * forward passes in pw_meta/qw_meta and dL/dQ in dq1/dq2. */
static REAL s_meta_virtual_loss(NN(sac) *a, const REAL *states, int ns, REAL alpha) {
    const nn_shape_t *s = &a->shape;
    job_t j = {.kind = J_VIRT, .a = a, .alpha = alpha, .len = s->pi_n};
    s_run(a, &j);
    const int scaled = a->opt.meta_scaled_action;
    s_pi_q_fwd(a, a->phi_virt, scaled ? a->scale : a->unit, scaled ? a->bias : a->zero, states,
               ns, NULL, a->pw_meta, a->theta, a->qw_meta);
    return NN(policy_loss)(ns, a->qw_meta->q, a->qw_meta->q + a->cap, NULL, 0, a->dq1, a->dq2);
}

static const REAL *s_meta_states(const NN(sac) *a, const NN(batch) *b1, const REAL *d0,
                                 int nd0, int *ns) {
    if (a->opt.meta_on_replay) {
        *ns = b1->n;
        return b1->obs;
    }
    *ns = nd0;
    return d0;
}

REAL NN(sac_meta_loss_at)(NN(sac) *a, const NN(batch) *b1, const REAL *d0, int nd0,
                          REAL alpha) {
    int ns;
    const REAL *states = s_meta_states(a, b1, d0, nd0, &ns);
    s_meta_policy_grads(a, b1);
    return s_meta_virtual_loss(a, states, ns, alpha);
}

REAL NN(sac_meta_grad)(NN(sac) *a, const NN(batch) *b1, const REAL *d0, int nd0,
                       REAL *meta_loss) {
    const nn_shape_t *s = &a->shape;
    const REAL alpha = exp(a->lam[0]);
    int ns;
    const REAL *states = s_meta_states(a, b1, d0, nd0, &ns);
    s_meta_policy_grads(a, b1);
    REAL loss = s_meta_virtual_loss(a, states, ns, alpha);
    if (meta_loss) *meta_loss = loss;
    /* h = dL_meta/dphi' by ordinary backprop (the log-std head receives zero). */
    const int scaled = a->opt.meta_scaled_action;
    s_q_pi_bwd(a, a->theta, a->qw_meta, a->dq1, a->dq2, a->phi_virt,
               scaled ? a->scale : a->unit, a->pw_meta, 0, a->meta_h);
    /* G = alpha sum_k h_k J_k, J_k = -lr g_ent_k (rho v_k + eps) / D_k^3 */
    double G = 0;
    if (a->team) {
        job_t j = {.kind = J_METAG, .a = a, .alpha = alpha, .len = s->pi_n};
        s_run(a, &j);
        for (int p = 0; p < a->parts; p++) G += a->sum_part[p];
    } else {
        G = s_meta_g_sum(a, alpha, 0, s->pi_n);
    }
    return (REAL)(alpha * G);
}

static void s_update(NN(sac) *a, const NN(batch) *b1, const NN(batch) *b2, const REAL *d0,
                     int nd0, sac_stats_t *st);

void NN(sac_update)(NN(sac) *a, const NN(batch) *b1, const NN(batch) *b2, const REAL *d0,
                    int nd0, sac_stats_t *st) {
    sac_stats_t tmp;
    if (!st) st = &tmp;
    if (a->team) team_busy(a->team, 1);
    s_update(a, b1, b2, d0, nd0, st);
    if (a->team) team_busy(a->team, 0);
}

static void s_update(NN(sac) *a, const NN(batch) *b1, const NN(batch) *b2, const REAL *d0,
                     int nd0, sac_stats_t *st) {
    memset(st, 0, sizeof *st);
    const sac_opts_t *o = &a->opt;
    const nn_shape_t *s = &a->shape;
    adam_hp_t alpha_hp = s_adam(o, o->lr_alpha);
    REAL alpha = NN(sac_alpha)(a);
    const NN(batch) *b = b1;

    if (o->algo == ALGO_META_SAC) {
        REAL loss;
        REAL G = NN(sac_meta_grad)(a, b1, d0, nd0, &loss);  /* steps 1-4 */
        st->meta_loss = loss;
        st->meta_grad = G;
        if (fabs((double)G) > o->meta_clip) {                 /* step 5 */
            G = G * (REAL)o->meta_clip / (fabs(G) + (REAL)1e-6);
            st->meta_clipped = 1;
        }
        NN(adam_step)(&alpha_hp, ++a->t_alpha, 1, &a->lam[0], &G, &a->lam[1], &a->lam[2]);
        if (a->lam[0] > 0) a->lam[0] = 0;
        alpha = exp(a->lam[0]);
        if (o->resample && b2) b = b2;                        /* step 6 */
    }
    if (o->algo == ALGO_TD3) {
        s_critic_step(a, b, 0, st);
        if ((a->updates + 1) % o->td3_policy_delay == 0) {  /* delayed actor and targets */
            s_td3_actor_step(a, b, st);
            NN(polyak)(s->q_n, a->theta_bar, a->theta, (REAL)o->tau);
            NN(polyak)(s->pi_n, a->phi_bar, a->phi, (REAL)o->tau);
        }
        a->updates++;
        return;
    }
    s_critic_step(a, b, alpha, st);                           /* step 7 */
    s_policy_step(a, b, alpha, st);                           /* step 8 */
    if (o->algo == ALGO_SAC_V2) {
        /* loss -log_alpha mean(log pi + H); its gradient is -mean(log pi + H) */
        double m = 0;
        for (int i = 0; i < b->n; i++) m += a->pw->logp[i] + o->target_entropy;
        m /= b->n;
        REAL grad = (REAL)-m;
        st->alpha_loss = -(double)a->lam[0] * m;
        NN(adam_step)(&alpha_hp, ++a->t_alpha, 1, &a->lam[0], &grad, &a->lam[1], &a->lam[2]);
    }
    /* step 9, Polyak of the target critics: done inside s_critic_step */
    a->updates++;
    st->alpha = NN(sac_alpha)(a);
    st->log_alpha = log(st->alpha);
}
