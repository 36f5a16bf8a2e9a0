#include "nn.h"

static size_t s_layer(nn_layer_t *l, int in, int out, size_t at) {
    l->in = in;
    l->out = out;
    l->w = at;
    l->b = at + (size_t)in * out;
    return l->b + (size_t)out;
}

void nn_shape_init(nn_shape_t *s, int obs_dim, int act_dim, int hidden) {
    s->obs_dim = obs_dim;
    s->act_dim = act_dim;
    s->hidden = hidden;
    size_t at = 0;
    at = s_layer(&s->pi[0], obs_dim, hidden, at);
    at = s_layer(&s->pi[1], hidden, hidden, at);
    at = s_layer(&s->pi[2], hidden, 2 * act_dim, at);
    s->pi_n = at;
    at = s_layer(&s->q1, obs_dim + act_dim, 2 * hidden, 0);
    for (int c = 0; c < 2; c++) {
        at = s_layer(&s->q2[c], hidden, hidden, at);
        at = s_layer(&s->q3[c], hidden, 1, at);
    }
    s->q_n = at;
}

double nn_pi_forward_flops(const nn_shape_t *s, int n) {
    double H = s->hidden;
    return 2.0 * n * (s->obs_dim * H + H * H + H * 2 * s->act_dim);
}

double nn_q_forward_flops(const nn_shape_t *s, int n) {
    double H = s->hidden;
    return 2.0 * n * ((s->obs_dim + s->act_dim) * 2 * H + 2 * (H * H + H));
}
