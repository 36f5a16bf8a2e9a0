/* Declarations of common/nn.h for one precision: included twice by nn.h with REAL and NN(). */

/* Policy activations kept from a forward for its backward, and scratch. Rows <= cap. */
typedef struct NN(pi_ws) {
    int cap;           /* max rows */
    int n;             /* rows of the last forward */
    const REAL *obs;   /* [n][obs] input of the last forward (borrowed) */
    const REAL *xi;    /* [n][A] noise of the last forward (borrowed), NULL = deterministic */
    REAL *h1, *h2;     /* [cap][H] post-ReLU activations */
    REAL *out;         /* [cap][2A] head output: mean, raw log-std */
    REAL *y;           /* [cap][A] tanh(u) (u = mu + sigma xi, or mu when deterministic) */
    REAL *act;         /* [cap][A] action c y + b */
    REAL *logp;        /* [cap] log pi(a|s) (stochastic forward only) */
    REAL *dout;        /* [cap][2A] scratch */
    REAL *dh1, *dh2;   /* [cap][H] scratch */
} NN(pi_ws);

NN(pi_ws) *NN(pi_ws_new)(const nn_shape_t *s, int cap);
void NN(pi_ws_destroy)(NN(pi_ws) **self_p);

/* Forward of the policy phi [pi_n] on obs [n][obs_dim] (n <= cap). With noise xi [n][A] it
 * samples a = c tanh(mu + sigma xi) + b and its log-prob; with xi NULL it gives the
 * deterministic action c tanh(mu) + b (logp untouched). scale c, bias b: [A]. */
void NN(pi_forward)(const nn_shape_t *s, const REAL *phi, const REAL *scale, const REAL *bias,
                    const REAL *obs, int n, const REAL *xi, NN(pi_ws) *w);

/* Backward of the last forward of w. dact [n][A] is dL/da (NULL = zero); every row's
 * dL/dlogp is c_logp (ignored after a deterministic forward). Writes dphi [pi_n]
 * (overwrites). The -xi^2/2 term of log pi is a constant under reparameterisation. */
void NN(pi_backward)(const nn_shape_t *s, const REAL *phi, const REAL *scale, NN(pi_ws) *w,
                     const REAL *dact, REAL c_logp, REAL *dphi);

/* Critic-pair activations. */
typedef struct NN(q_ws) {
    int cap, n;
    REAL *x;           /* [cap][obs+A] input [obs, act] */
    REAL *h1;          /* [cap][2H] post-ReLU, Q1 in columns [0,H), Q2 in [H,2H) */
    REAL *h2;          /* [2][cap][H] post-ReLU */
    REAL *q;           /* [2][cap] Q1 values then Q2 values (Q2 at q + cap) */
    REAL *dh1, *dh2;   /* scratch like h1, h2 */
    REAL *dq3;         /* [2][cap] scratch */
} NN(q_ws);

NN(q_ws) *NN(q_ws_new)(const nn_shape_t *s, int cap);
void NN(q_ws_destroy)(NN(q_ws) **self_p);

/* Forward of both critics theta [q_n] on (obs [n][obs_dim], act [n][A]). */
void NN(q_forward)(const nn_shape_t *s, const REAL *theta, const REAL *obs, const REAL *act,
                   int n, NN(q_ws) *w);

/* Backward of the last forward. dq1, dq2 [n]: dL/dQ1, dL/dQ2 (either may be NULL = zero).
 * dtheta [q_n] (overwritten) and dact [n][A] (overwritten) are computed when not NULL. */
void NN(q_backward)(const nn_shape_t *s, const REAL *theta, NN(q_ws) *w, const REAL *dq1,
                    const REAL *dq2, REAL *dtheta, REAL *dact);

/* Losses. Each returns the loss and writes its gradient with respect to its inputs. */

/* Critic target y [n] = r + gamma (1 - done) (min(qb1, qb2) - alpha logp_next); logp_next
 * NULL drops the entropy term (TD3). */
void NN(critic_target)(int n, const REAL *rew, const REAL *done, const REAL *qb1,
                       const REAL *qb2, const REAL *logp_next, REAL alpha, REAL gamma, REAL *y);
/* mean (q1 - y)^2 + mean (q2 - y)^2; dq1, dq2 [n]. */
REAL NN(critic_loss)(int n, const REAL *q1, const REAL *q2, const REAL *y, REAL *dq1, REAL *dq2);
/* mean (alpha logp - min(q1, q2)); dq1, dq2 [n] (the min routes to Q1 on ties); the gradient
 * with respect to each logp_i is alpha / n (not written). logp may be NULL (then alpha = 0:
 * the meta loss -mean min(q1, q2), and the TD3 actor loss). */
REAL NN(policy_loss)(int n, const REAL *q1, const REAL *q2, const REAL *logp, REAL alpha,
                     REAL *dq1, REAL *dq2);

/* Optimizers: flat loops over n parameters. t is the step count including this step (>= 1). */
void NN(adam_step)(const adam_hp_t *hp, long t, size_t n, REAL *p, const REAL *g, REAL *m,
                   REAL *v);
/* adam_step, then target <- (1 - tau) target + tau p in the same pass over memory. */
void NN(adam_polyak_step)(const adam_hp_t *hp, long t, size_t n, REAL *p, const REAL *g, REAL *m,
                          REAL *v, REAL *target, REAL tau);
/* v <- rho v + (1 - rho) g^2 + eps;  p <- p - lr g / sqrt(v). */
void NN(rms_step)(const rms_hp_t *hp, size_t n, REAL *p, const REAL *g, REAL *v);
/* target <- (1 - tau) target + tau src. */
void NN(polyak)(size_t n, REAL *target, const REAL *src, REAL tau);

/* Xavier-uniform weights (gain 1), zero biases. The policy's two heads are initialised as the
 * two separate A x H layers they are (fan_out A each). */
void NN(pi_init)(const nn_shape_t *s, REAL *phi, rng_t *r);
void NN(q_init)(const nn_shape_t *s, REAL *theta, rng_t *r);
