/* Declarations of learner/sac.h for one precision: included twice with REAL and NN(). */

/* A batch of transitions with the policy noise that goes with them (rows n). All borrowed. */
typedef struct NN(batch) {
    int n;
    const REAL *obs;       /* [n][obs] */
    const REAL *act;       /* [n][A] */
    const REAL *rew;       /* [n] */
    const REAL *next_obs;  /* [n][obs] */
    const REAL *done;      /* [n] 1 = true termination (never a time-limit truncation) */
    const REAL *xi;        /* [n][A] N(0,1) noise of the policy sample at obs */
    const REAL *xi_next;   /* [n][A] N(0,1) noise of the policy sample at next_obs (for TD3:
                              the target-smoothing noise before scaling and clipping) */
} NN(batch);

/* Every network, target, optimizer state and scratch buffer of one learner. The persistent
 * state is one block (state, state_n floats) carved in the order below, so a checkpoint is one
 * copy; scratch is separate. */
typedef struct NN(sac) {
    nn_shape_t shape;
    sac_opts_t opt;
    int cap;                 /* max rows of any batch or of D0 */
    REAL *scale, *bias;      /* [A] action scale c = (high-low)/2 and bias b = (high+low)/2 */
    REAL *unit, *zero;       /* [A] ones and zeros (the reference's unscaled meta action) */

    REAL *state;             /* the persistent block, state_n floats */
    size_t state_n;
    REAL *phi;               /* [pi_n] policy */
    REAL *phi_m, *phi_v;     /* [pi_n] policy Adam moments; phi_v is RMSProp's v for Meta-SAC */
    REAL *phi_bar;           /* [pi_n] TD3 target actor */
    REAL *theta, *theta_bar; /* [q_n] critics and target critics */
    REAL *theta_m, *theta_v; /* [q_n] critic Adam moments */
    REAL *lam;               /* [3] log alpha, its Adam m and v */
    long t_q, t_pi, t_alpha; /* optimizer step counts: critic Adam, policy optimizer, alpha Adam */
    long updates;            /* completed calls of sac_update */

    REAL *g, *g_ent, *phi_virt, *meta_h;  /* [pi_n] scratch */
    REAL *dtheta, *dtheta2;               /* [q_n] scratch */
    REAL *dact;                           /* [cap][A] scratch */
    REAL *dq1, *dq2, *y;                  /* [cap] scratch */
    REAL *act_next;                       /* [cap][A] scratch (TD3 target action) */
    NN(pi_ws) *pw, *pw_next, *pw_meta;
    NN(q_ws) *qw, *qw_next, *qw_meta;

    /* P-way data parallelism, sac_set_threads: every forward and backward pass is split into
       P row ranges run by a team, passes that only read their own rows chained without a
       barrier; part p > 0 of a backward writes its partial gradient to g_part (g_part2 for
       the second policy gradient of one chain) or dtheta_part + (p - 1) * size, summed into
       the result in part order. */
    team_t *team;            /* NULL: one thread, nothing split */
    int parts;               /* P */
    REAL *g_part, *g_part2, *dtheta_part;  /* [P-1][pi_n], [P-1][pi_n], [P-1][q_n] */
    double *sum_part;        /* [P] per-part partial sums of the meta gradient */
} NN(sac);

/* A learner for obs_dim/act_dim/hidden in shape, with options opt, action bounds low/high [A],
 * batches and D0 of at most cap rows, networks initialised from the stream (seed, stream). */
NN(sac) *NN(sac_new)(const nn_shape_t *shape, const sac_opts_t *opt, const REAL *low,
                     const REAL *high, int cap, uint64_t seed, uint64_t stream);
void NN(sac_destroy)(NN(sac) **self_p);

/* Runs every later update on threads threads (>= 1; default 1). Call once, before the first
 * update. Results are deterministic for a given thread count; they differ from one count to
 * another in the last bits of the gradients (partial sums over row ranges), like a change of
 * BLAS kernels. */
void NN(sac_set_threads)(NN(sac) *a, int threads);

/* Current temperature exp(log alpha) (SAC-v1: the fixed alpha; TD3: 0). */
REAL NN(sac_alpha)(const NN(sac) *a);

/* One gradient update. SAC-v1/v2/TD3 use b1 only. Meta-SAC: b1 is the meta batch, b2 the
 * resampled batch of the real updates (ignored when opt.resample is 0), d0 [nd0][obs] the
 * initial states (ignored when opt.meta_on_replay). st may be NULL. No allocation, no I/O. */
void NN(sac_update)(NN(sac) *a, const NN(batch) *b1, const NN(batch) *b2, const REAL *d0,
                    int nd0, sac_stats_t *st);

/* Meta-SAC steps 1-5 without the lambda step: returns G = dL_meta/dlog alpha (unclipped) at
 * the current state and writes L_meta to *meta_loss (may be NULL). Changes only scratch. */
REAL NN(sac_meta_grad)(NN(sac) *a, const NN(batch) *b1, const REAL *d0, int nd0,
                       REAL *meta_loss);

/* L_meta(phi'(alpha)) for a given alpha: the virtual step and the meta loss of steps 2-4,
 * for checking sac_meta_grad by finite differences. Changes only scratch. */
REAL NN(sac_meta_loss_at)(NN(sac) *a, const NN(batch) *b1, const REAL *d0, int nd0, REAL alpha);
