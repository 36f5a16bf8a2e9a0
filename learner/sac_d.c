/* Double instantiation of learner/sac_impl.h: what the finite-difference tests run. */
#include "sac.h"

#define REAL double
#define NN(name) name##_d
#include "sac_impl.h"
