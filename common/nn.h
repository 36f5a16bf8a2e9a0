/* Networks of the learner and the actors: linear layers, the tanh-squashed Gaussian policy,
 * the twin critics, their forward and backward passes, the losses, and the optimizers.
 *
 * Every function exists in two precisions built from one source (common/nn_impl.h):
 * suffix _f (float, what the programs run) and _d (double, what the finite-difference tests
 * run). Shapes and layouts are precision independent and defined once here.
 *
 * Parameter layout (PyTorch convention: W is [out][in], y = x W^T + b):
 *   policy block  (pi_n floats): pi[0] W,b (obs -> H), pi[1] W,b (H -> H),
 *                                pi[2] W,b (H -> 2A: rows [0,A) the mean, rows [A,2A) raw log-std)
 *   critic block  (q_n floats):  q1 W,b ((obs+act) -> 2H: rows [0,H) belong to Q1, [H,2H) to Q2;
 *                                the two critics share their input, so this is one wide product),
 *                                then for c = 0 (Q1), 1 (Q2): q2[c] W,b (H -> H), q3[c] W,b (H -> 1).
 * Gradients, Adam moments, RMSProp state and target copies use the same layout, so an optimizer
 * step, Polyak averaging, a checkpoint or a weight broadcast is one flat loop or one memcpy.
 *
 * The math (networks, losses, optimizers) is specified in docs/ALGORITHM.md sections 1, 2 and 8. */
#ifndef METASAC_NN_H
#define METASAC_NN_H

#include <stddef.h>

#include "rng.h"

#define NN_LOG_STD_MIN (-20.0)
#define NN_LOG_STD_MAX 2.0
#define NN_LOGP_EPS 1e-6  /* inside log(c (1 - y^2) + eps) of the tanh correction */

typedef struct {
    int in, out;
    size_t w, b;  /* offsets of W [out][in] and b [out] inside the block */
} nn_layer_t;

typedef struct {
    int obs_dim, act_dim, hidden;
    nn_layer_t pi[3];      /* policy layers, see the layout above */
    size_t pi_n;           /* policy parameter count */
    nn_layer_t q1;         /* critics' shared-input first layer, out = 2H */
    nn_layer_t q2[2];      /* per critic, H -> H */
    nn_layer_t q3[2];      /* per critic, H -> 1 */
    size_t q_n;            /* critic-pair parameter count */
} nn_shape_t;

void nn_shape_init(nn_shape_t *s, int obs_dim, int act_dim, int hidden);

/* Floating-point operations of one forward (rows n) of each network, counting 2 per
 * multiply-add of the matrix products (used by the benchmark to report GFLOP/s). */
double nn_pi_forward_flops(const nn_shape_t *s, int n);
double nn_q_forward_flops(const nn_shape_t *s, int n);

typedef struct { double lr, beta1, beta2, eps; } adam_hp_t;  /* PyTorch Adam, bias-corrected */
typedef struct { double lr, rho, eps; } rms_hp_t; /* docs/ALGORITHM.md section 4 step 8 */

#define REAL float
#define NN(name) name##_f
#include "nn_decl.h"
#undef REAL
#undef NN
#define REAL double
#define NN(name) name##_d
#include "nn_decl.h"
#undef REAL
#undef NN

#endif
