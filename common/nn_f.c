/* Float instantiation of common/nn_impl.h: what the learner and the actors run. */
#include <cblas.h>

#include "nn.h"

#define REAL float
#define NN(name) name##_f
#define GEMM cblas_sgemm
#define GEMV cblas_sgemv
#include "nn_impl.h"
