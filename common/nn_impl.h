/* The body of common/nn.h for one precision. Included by nn_f.c (float) and nn_d.c (double)
 * with REAL, NN(), and the BLAS names GEMM/GEMV defined. <tgmath.h> makes exp, log,
 * tanh and sqrt follow REAL. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "alloc.h"

/* ---- linear layer: forward and backward side by side ----------------------------------- */

/* y[n][out] (row stride ldy) = x[n][in] (row stride ldx) W^T + b, then max(., 0) when relu.
 * The bias and the ReLU are applied in one pass over the product. */
RL_VECTOR_CLONES
static void s_linear_fwd(int n, int in, int out, const REAL *x, int ldx, const REAL *W,
                         const REAL *b, REAL *y, int ldy, int relu) {
    if (out == 1) {  /* a width-1 head is a matrix-vector product */
        GEMV(CblasRowMajor, CblasNoTrans, n, in, 1, x, ldx, W, 1, 0, y, ldy);
        for (int i = 0; i < n; i++) y[(size_t)i * ldy] += b[0];
        return;
    }
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1, x, ldx, W, in, 0, y, ldy);
    for (int i = 0; i < n; i++) {
        REAL *row = y + (size_t)i * ldy;
        if (relu) {  /* branch-free so it vectorises: a branch per element costs more */
            for (int j = 0; j < out; j++) {
                REAL v = row[j] + b[j];
                row[j] = v > 0 ? v : 0;
            }
        } else {
            for (int j = 0; j < out; j++) row[j] += b[j];
        }
    }
}

/* Given dy[n][out] (stride lddy): dW[out][in] = dy^T x, db[out] = column sums of dy,
 * dx[n][in] (stride lddx) = dy W. Each output is skipped when NULL; all are overwritten. */
RL_VECTOR_CLONES
static void s_linear_bwd(int n, int in, int out, const REAL *x, int ldx, const REAL *W,
                         const REAL *dy, int lddy, REAL *dW, REAL *db, REAL *dx, int lddx) {
    if (dW) {
        if (out == 1)
            GEMV(CblasRowMajor, CblasTrans, n, in, 1, x, ldx, dy, lddy, 0, dW, 1);
        else
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1, dy, lddy, x, ldx, 0,
                 dW, in);
    }
    if (db) {
        memset(db, 0, sizeof(REAL) * out);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < out; j++) db[j] += dy[(size_t)i * lddy + j];
    }
    if (dx) {
        RL_ASSERT(out > 1, "width-1 layers compute dx with their activation (q_backward)");
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1, dy, lddy, W, in, 0, dx,
             lddx);
    }
}

/* dh *= (h > 0), h the post-ReLU activation; branch-free like the forward. */
RL_VECTOR_CLONES
static void s_relu_bwd(int n, int m, const REAL *h, int ldh, REAL *dh, int lddh) {
    for (int i = 0; i < n; i++) {
        const REAL *hr = h + (size_t)i * ldh;
        REAL *dr = dh + (size_t)i * lddh;
        for (int j = 0; j < m; j++) dr[j] = hr[j] > 0 ? dr[j] : 0;
    }
}

/* dh[n][m] = (h > 0) dq[i] w[j]: the gradient into a ReLU layer below a width-1 head. */
RL_VECTOR_CLONES
static void s_outer_relu_bwd(int n, int m, const REAL *dq, const REAL *w, const REAL *h,
                             REAL *dh) {
    for (int i = 0; i < n; i++) {
        const REAL *hr = h + (size_t)i * m;
        REAL *dr = dh + (size_t)i * m, g = dq[i];
        for (int j = 0; j < m; j++) dr[j] = hr[j] > 0 ? g * w[j] : 0;
    }
}

/* ---- policy ----------------------------------------------------------------------------- */

NN(pi_ws) *NN(pi_ws_new)(const nn_shape_t *s, int cap) {
    NN(pi_ws) *w = rl_calloc(1, sizeof *w);
    size_t H = (size_t)s->hidden, A = (size_t)s->act_dim, c = (size_t)cap;
    w->cap = cap;
    w->h1 = rl_aligned(sizeof(REAL) * c * H);
    w->h2 = rl_aligned(sizeof(REAL) * c * H);
    w->dh1 = rl_aligned(sizeof(REAL) * c * H);
    w->dh2 = rl_aligned(sizeof(REAL) * c * H);
    w->out = rl_aligned(sizeof(REAL) * c * 2 * A);
    w->dout = rl_aligned(sizeof(REAL) * c * 2 * A);
    w->y = rl_aligned(sizeof(REAL) * c * A);
    w->act = rl_aligned(sizeof(REAL) * c * A);
    w->logp = rl_aligned(sizeof(REAL) * c);
    return w;
}

void NN(pi_ws_destroy)(NN(pi_ws) **self_p) {
    NN(pi_ws) *w = *self_p;
    if (!w) return;
    free(w->h1); free(w->h2); free(w->dh1); free(w->dh2); free(w->out); free(w->dout);
    free(w->y); free(w->act); free(w->logp);
    free(w);
    *self_p = NULL;
}

static REAL s_clamp_log_std(REAL raw) {
    return raw < NN_LOG_STD_MIN ? (REAL)NN_LOG_STD_MIN
                                : raw > NN_LOG_STD_MAX ? (REAL)NN_LOG_STD_MAX : raw;
}

void NN(pi_forward)(const nn_shape_t *s, const REAL *phi, const REAL *scale, const REAL *bias,
                    const REAL *obs, int n, const REAL *xi, NN(pi_ws) *w) {
    RL_ASSERT(n <= w->cap, "pi_forward: %d rows > capacity %d", n, w->cap);
    const int H = s->hidden, A = s->act_dim, O = s->obs_dim;
    const nn_layer_t *L = s->pi;
    w->n = n;
    w->obs = obs;
    w->xi = xi;
    s_linear_fwd(n, O, H, obs, O, phi + L[0].w, phi + L[0].b, w->h1, H, 1);
    s_linear_fwd(n, H, H, w->h1, H, phi + L[1].w, phi + L[1].b, w->h2, H, 1);
    s_linear_fwd(n, H, 2 * A, w->h2, H, phi + L[2].w, phi + L[2].b, w->out, 2 * A, 0);
    const REAL half_log_2pi = (REAL)0.91893853320467274178;
    for (int i = 0; i < n; i++) {
        const REAL *mu = w->out + (size_t)i * 2 * A, *raw = mu + A;
        REAL *y = w->y + (size_t)i * A, *a = w->act + (size_t)i * A;
        if (!xi) {
            for (int j = 0; j < A; j++) {
                y[j] = tanh(mu[j]);
                a[j] = scale[j] * y[j] + bias[j];
            }
            continue;
        }
        const REAL *e = xi + (size_t)i * A;
        REAL lp = 0;
        for (int j = 0; j < A; j++) {
            REAL ls = s_clamp_log_std(raw[j]);
            y[j] = tanh(mu[j] + exp(ls) * e[j]);
            a[j] = scale[j] * y[j] + bias[j];
            lp += -(REAL)0.5 * e[j] * e[j] - ls - half_log_2pi -
                  log(scale[j] * (1 - y[j] * y[j]) + (REAL)NN_LOGP_EPS);
        }
        w->logp[i] = lp;
    }
}

void NN(pi_backward)(const nn_shape_t *s, const REAL *phi, const REAL *scale, NN(pi_ws) *w,
                     const REAL *dact, REAL c_logp, REAL *dphi) {
    const int H = s->hidden, A = s->act_dim, O = s->obs_dim, n = w->n;
    const nn_layer_t *L = s->pi;
    for (int i = 0; i < n; i++) {
        const REAL *mu = w->out + (size_t)i * 2 * A, *raw = mu + A;
        const REAL *y = w->y + (size_t)i * A;
        const REAL *da = dact ? dact + (size_t)i * A : NULL;
        REAL *dmu = w->dout + (size_t)i * 2 * A, *dls = dmu + A;
        for (int j = 0; j < A; j++) {
            REAL c = scale[j], dy = 1 - y[j] * y[j];  /* dy/du */
            REAL g_a = da ? da[j] : 0;
            if (!w->xi) {  /* deterministic: a = c tanh(mu) + b */
                dmu[j] = g_a * c * dy;
                dls[j] = 0;
                continue;
            }
            /* d/du of -log(c (1 - y^2) + eps) = 2 c y (1 - y^2) / (c (1 - y^2) + eps) */
            REAL du = g_a * c * dy + c_logp * 2 * c * y[j] * dy / (c * dy + (REAL)NN_LOGP_EPS);
            int inside = raw[j] >= (REAL)NN_LOG_STD_MIN && raw[j] <= (REAL)NN_LOG_STD_MAX;
            REAL sigma = exp(s_clamp_log_std(raw[j]));
            dmu[j] = du;
            dls[j] = inside ? du * sigma * w->xi[(size_t)i * A + j] - c_logp : 0;
        }
    }
    s_linear_bwd(n, H, 2 * A, w->h2, H, phi + L[2].w, w->dout, 2 * A, dphi + L[2].w,
                 dphi + L[2].b, w->dh2, H);
    s_relu_bwd(n, H, w->h2, H, w->dh2, H);
    s_linear_bwd(n, H, H, w->h1, H, phi + L[1].w, w->dh2, H, dphi + L[1].w, dphi + L[1].b,
                 w->dh1, H);
    s_relu_bwd(n, H, w->h1, H, w->dh1, H);
    s_linear_bwd(n, O, H, w->obs, O, phi + L[0].w, w->dh1, H, dphi + L[0].w, dphi + L[0].b,
                 NULL, 0);
}

/* ---- twin critics ----------------------------------------------------------------------- */

NN(q_ws) *NN(q_ws_new)(const nn_shape_t *s, int cap) {
    NN(q_ws) *w = rl_calloc(1, sizeof *w);
    size_t H = (size_t)s->hidden, c = (size_t)cap, in = (size_t)(s->obs_dim + s->act_dim);
    w->cap = cap;
    w->x = rl_aligned(sizeof(REAL) * c * in);
    w->h1 = rl_aligned(sizeof(REAL) * c * 2 * H);
    w->dh1 = rl_aligned(sizeof(REAL) * c * 2 * H);
    w->h2 = rl_aligned(sizeof(REAL) * 2 * c * H);
    w->dh2 = rl_aligned(sizeof(REAL) * 2 * c * H);
    w->q = rl_aligned(sizeof(REAL) * 2 * c);
    w->dq3 = rl_aligned(sizeof(REAL) * 2 * c);
    return w;
}

void NN(q_ws_destroy)(NN(q_ws) **self_p) {
    NN(q_ws) *w = *self_p;
    if (!w) return;
    free(w->x); free(w->h1); free(w->dh1); free(w->h2); free(w->dh2); free(w->q); free(w->dq3);
    free(w);
    *self_p = NULL;
}

void NN(q_forward)(const nn_shape_t *s, const REAL *theta, const REAL *obs, const REAL *act,
                   int n, NN(q_ws) *w) {
    RL_ASSERT(n <= w->cap, "q_forward: %d rows > capacity %d", n, w->cap);
    const int H = s->hidden, A = s->act_dim, O = s->obs_dim, in = O + A;
    w->n = n;
    for (int i = 0; i < n; i++) {
        memcpy(w->x + (size_t)i * in, obs + (size_t)i * O, sizeof(REAL) * O);
        memcpy(w->x + (size_t)i * in + O, act + (size_t)i * A, sizeof(REAL) * A);
    }
    s_linear_fwd(n, in, 2 * H, w->x, in, theta + s->q1.w, theta + s->q1.b, w->h1, 2 * H, 1);
    for (int c = 0; c < 2; c++) {
        REAL *h2 = w->h2 + (size_t)c * w->cap * H;
        s_linear_fwd(n, H, H, w->h1 + c * H, 2 * H, theta + s->q2[c].w, theta + s->q2[c].b, h2,
                     H, 1);
        s_linear_fwd(n, H, 1, h2, H, theta + s->q3[c].w, theta + s->q3[c].b,
                     w->q + (size_t)c * w->cap, 1, 0);
    }
}

void NN(q_backward)(const nn_shape_t *s, const REAL *theta, NN(q_ws) *w, const REAL *dq1,
                    const REAL *dq2, REAL *dtheta, REAL *dact) {
    const int H = s->hidden, A = s->act_dim, O = s->obs_dim, in = O + A, n = w->n;
    for (int c = 0; c < 2; c++) {
        const REAL *src = c == 0 ? dq1 : dq2;
        REAL *dq = w->dq3 + (size_t)c * w->cap;
        if (src) memcpy(dq, src, sizeof(REAL) * n);
        else memset(dq, 0, sizeof(REAL) * n);
        const REAL *h2 = w->h2 + (size_t)c * w->cap * H;
        REAL *dh2 = w->dh2 + (size_t)c * w->cap * H;
        /* width-1 head: dW3 = h2^T dq (gemv), db3 = sum dq, and dh2 = the outer product
           dq w3^T masked by the ReLU, in one vectorised pass */
        const REAL *w3 = theta + s->q3[c].w;
        if (dtheta)
            s_linear_bwd(n, H, 1, h2, H, w3, dq, 1, dtheta + s->q3[c].w, dtheta + s->q3[c].b,
                         NULL, 0);
        s_outer_relu_bwd(n, H, dq, w3, h2, dh2);
        s_linear_bwd(n, H, H, w->h1 + c * H, 2 * H, theta + s->q2[c].w, dh2, H,
                     dtheta ? dtheta + s->q2[c].w : NULL, dtheta ? dtheta + s->q2[c].b : NULL,
                     w->dh1 + c * H, 2 * H);
    }
    s_relu_bwd(n, 2 * H, w->h1, 2 * H, w->dh1, 2 * H);
    if (dtheta)
        s_linear_bwd(n, in, 2 * H, w->x, in, theta + s->q1.w, w->dh1, 2 * H,
                     dtheta + s->q1.w, dtheta + s->q1.b, NULL, 0);
    if (dact)  /* only the action columns of dx: dact = dh1 W1[:, O:O+A] */
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, A, 2 * H, 1, w->dh1, 2 * H,
             theta + s->q1.w + O, in, 0, dact, A);
}

/* ---- losses ----------------------------------------------------------------------------- */

void NN(critic_target)(int n, const REAL *rew, const REAL *done, const REAL *qb1,
                       const REAL *qb2, const REAL *logp_next, REAL alpha, REAL gamma, REAL *y) {
    for (int i = 0; i < n; i++) {
        REAL qmin = qb1[i] <= qb2[i] ? qb1[i] : qb2[i];
        REAL ent = logp_next ? alpha * logp_next[i] : 0;
        y[i] = rew[i] + gamma * (1 - done[i]) * (qmin - ent);
    }
}

REAL NN(critic_loss)(int n, const REAL *q1, const REAL *q2, const REAL *y, REAL *dq1,
                     REAL *dq2) {
    double l = 0;
    for (int i = 0; i < n; i++) {
        REAL e1 = q1[i] - y[i], e2 = q2[i] - y[i];
        l += (double)e1 * e1 + (double)e2 * e2;
        dq1[i] = 2 * e1 / n;
        dq2[i] = 2 * e2 / n;
    }
    return (REAL)(l / n);
}

REAL NN(policy_loss)(int n, const REAL *q1, const REAL *q2, const REAL *logp, REAL alpha,
                     REAL *dq1, REAL *dq2) {
    double l = 0;
    for (int i = 0; i < n; i++) {
        int first = q1[i] <= q2[i];
        REAL qmin = first ? q1[i] : q2[i];
        l += (logp ? (double)alpha * logp[i] : 0.0) - qmin;
        dq1[i] = first ? -(REAL)1 / n : 0;
        dq2[i] = first ? 0 : -(REAL)1 / n;
    }
    return (REAL)(l / n);
}

/* ---- optimizers ------------------------------------------------------------------------- */

/* Adam in PyTorch's form; when target is not NULL the same pass also moves it toward the new
 * p by Polyak averaging (the compiler unswitches the loop on target). */
RL_VECTOR_CLONES
static void s_adam(const adam_hp_t *hp, long t, size_t n, REAL *p, const REAL *g, REAL *m,
                   REAL *v, REAL *target, REAL tau) {
    const REAL b1 = (REAL)hp->beta1, b2 = (REAL)hp->beta2, eps = (REAL)hp->eps;
    const REAL bc1 = (REAL)(1 - pow(hp->beta1, (double)t));
    const REAL sbc2 = (REAL)sqrt(1 - pow(hp->beta2, (double)t));
    const REAL step = (REAL)hp->lr / bc1;
    for (size_t k = 0; k < n; k++) {
        m[k] = b1 * m[k] + (1 - b1) * g[k];
        v[k] = b2 * v[k] + (1 - b2) * g[k] * g[k];
        p[k] -= step * m[k] / (sqrt(v[k]) / sbc2 + eps);
        if (target) target[k] = (1 - tau) * target[k] + tau * p[k];
    }
}

void NN(adam_step)(const adam_hp_t *hp, long t, size_t n, REAL *p, const REAL *g, REAL *m,
                   REAL *v) {
    s_adam(hp, t, n, p, g, m, v, NULL, 0);
}

void NN(adam_polyak_step)(const adam_hp_t *hp, long t, size_t n, REAL *p, const REAL *g, REAL *m,
                          REAL *v, REAL *target, REAL tau) {
    s_adam(hp, t, n, p, g, m, v, target, tau);
}

RL_VECTOR_CLONES
void NN(rms_step)(const rms_hp_t *hp, size_t n, REAL *p, const REAL *g, REAL *v) {
    const REAL rho = (REAL)hp->rho, eps = (REAL)hp->eps, lr = (REAL)hp->lr;
    for (size_t k = 0; k < n; k++) {
        v[k] = rho * v[k] + (1 - rho) * g[k] * g[k] + eps;
        p[k] -= lr * g[k] / sqrt(v[k]);
    }
}

RL_VECTOR_CLONES
void NN(polyak)(size_t n, REAL *target, const REAL *src, REAL tau) {
    for (size_t k = 0; k < n; k++) target[k] = (1 - tau) * target[k] + tau * src[k];
}

/* ---- initialisation --------------------------------------------------------------------- */

static void s_xavier(REAL *W, int rows, int in, int fan_out, rng_t *r) {
    double a = sqrt(6.0 / (double)(in + fan_out));
    for (size_t k = 0; k < (size_t)rows * in; k++) W[k] = (REAL)(a * (2 * rng_uniform(r) - 1));
}

void NN(pi_init)(const nn_shape_t *s, REAL *phi, rng_t *r) {
    memset(phi, 0, sizeof(REAL) * s->pi_n);
    for (int l = 0; l < 2; l++) s_xavier(phi + s->pi[l].w, s->pi[l].out, s->pi[l].in, s->pi[l].out, r);
    const nn_layer_t *h = &s->pi[2];
    int A = s->act_dim;
    s_xavier(phi + h->w, A, h->in, A, r);                          /* mean head */
    s_xavier(phi + h->w + (size_t)A * h->in, A, h->in, A, r);      /* log-std head */
}

void NN(q_init)(const nn_shape_t *s, REAL *theta, rng_t *r) {
    memset(theta, 0, sizeof(REAL) * s->q_n);
    int H = s->hidden, in = s->q1.in;
    s_xavier(theta + s->q1.w, H, in, H, r);                        /* Q1's first layer */
    s_xavier(theta + s->q1.w + (size_t)H * in, H, in, H, r);       /* Q2's first layer */
    for (int c = 0; c < 2; c++) {
        s_xavier(theta + s->q2[c].w, H, H, H, r);
        s_xavier(theta + s->q3[c].w, 1, H, 1, r);
    }
}
