#include "rng.h"

#include <math.h>

static uint64_t s_splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t s_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void rng_seed(rng_t *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed;
    uint64_t mix = s_splitmix(&x) ^ stream;  /* decorrelate (seed, stream) pairs */
    x = mix;
    for (int i = 0; i < 4; i++) r->s[i] = s_splitmix(&x);
    r->spare = 0.0;
    r->has_spare = 0;
}

uint64_t rng_u64(rng_t *r) {
    uint64_t *s = r->s;
    uint64_t result = s_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s_rotl(s[3], 45);
    return result;
}

double rng_uniform(rng_t *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

float rng_uniformf(rng_t *r) { return (float)(rng_u64(r) >> 40) * 0x1.0p-24f; }

uint64_t rng_below(rng_t *r, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;  /* reject the biased tail */
    uint64_t x;
    do x = rng_u64(r); while (x >= limit);
    return x % n;
}

double rng_normal(rng_t *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1, u2;
    do u1 = rng_uniform(r); while (u1 <= 0.0);
    u2 = rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586 * u2;
    r->spare = rad * sin(th);
    r->has_spare = 1;
    return rad * cos(th);
}

void rng_normal_fill(rng_t *r, float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = (float)rng_normal(r);
}
