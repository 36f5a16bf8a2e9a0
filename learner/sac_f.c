/* Float instantiation of learner/sac_impl.h: what the learner runs. */
#include "sac.h"

#define REAL float
#define NN(name) name##_f
#include "sac_impl.h"
