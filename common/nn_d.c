/* Double instantiation of common/nn_impl.h: what the finite-difference tests run. */
#include <cblas.h>

#include "nn.h"

#define REAL double
#define NN(name) name##_d
#define GEMM cblas_dgemm
#define GEMV cblas_dgemv
#include "nn_impl.h"
