/* rng: reproducible streams, independent streams, unbiased integers, uniform and normal moments.
 * Every statistical check uses a fixed seed, so it is deterministic; the thresholds are stated
 * so that a correct generator passes them with overwhelming margin and a broken one cannot. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "rng.h"

#define LEN 1000

Test(rng, same_seed_and_stream_same_sequence) {
    rng_t a, b;
    rng_seed(&a, 42, RNG_STREAM_ACTOR(3, 1));
    rng_seed(&b, 42, RNG_STREAM_ACTOR(3, 1));
    for (int i = 0; i < LEN; i++) cr_assert_eq(rng_u64(&a), rng_u64(&b), "diverged at %d", i);
    for (int i = 0; i < LEN; i++) cr_assert_eq(rng_normal(&a), rng_normal(&b));
    /* reseeding restarts the sequence, and the state is a plain value (checkpoint = memcpy) */
    rng_t c;
    memcpy(&c, &a, sizeof c);
    cr_assert_eq(rng_normal(&a), rng_normal(&c));
    cr_assert_eq(rng_u64(&a), rng_u64(&c));
    uint64_t first;
    rng_seed(&a, 7, 1);
    first = rng_u64(&a);
    rng_u64(&a);
    rng_seed(&a, 7, 1);
    cr_assert_eq(rng_u64(&a), first);
}

static int s_matches(uint64_t seed1, uint64_t st1, uint64_t seed2, uint64_t st2) {
    rng_t a, b;
    rng_seed(&a, seed1, st1);
    rng_seed(&b, seed2, st2);
    int same = 0;
    for (int i = 0; i < LEN; i++) same += rng_u64(&a) == rng_u64(&b);
    return same;
}

Test(rng, different_streams_and_seeds_differ) {
    /* Two independent 64-bit sequences agree at a position with probability 2^-64: any match
     * in 1000 positions means the streams are correlated. */
    cr_assert_eq(s_matches(1, RNG_STREAM_ACTOR(0, 0), 1, RNG_STREAM_ACTOR(0, 1)), 0);
    cr_assert_eq(s_matches(1, RNG_STREAM_ACTOR(0, 0), 1, RNG_STREAM_ACTOR(1, 0)), 0);
    cr_assert_eq(s_matches(1, RNG_STREAM_LEARNER, 1, RNG_STREAM_EVAL(0)), 0);
    cr_assert_eq(s_matches(1, 5, 2, 5), 0);
    cr_assert_eq(s_matches(0, 0, 0, 1), 0);
    /* and a stream is not a shifted copy of its neighbour: first outputs of 2000 streams
     * (actors x envs) are all distinct, and none equals another stream's second output */
    enum { S = 2000 };
    static uint64_t firsts[S], seconds[S];
    for (int s = 0; s < S; s++) {
        rng_t r;
        rng_seed(&r, 123, RNG_STREAM_ACTOR(s / 8, s % 8));
        firsts[s] = rng_u64(&r);
        seconds[s] = rng_u64(&r);
    }
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            if (i < j) cr_assert_neq(firsts[i], firsts[j], "streams %d and %d start alike", i, j);
            cr_assert_neq(firsts[i], seconds[j]);
        }
}

Test(rng, below_in_range) {
    rng_t r;
    rng_seed(&r, 9, 9);
    uint64_t ns[] = {1, 2, 3, 7, 1000, (1ull << 63) + 1, UINT64_MAX};
    for (size_t k = 0; k < sizeof ns / sizeof *ns; k++)
        for (int i = 0; i < 20000; i++) cr_assert_lt(rng_below(&r, ns[k]), ns[k]);
    for (int i = 0; i < 100; i++) cr_assert_eq(rng_below(&r, 1), 0);
    /* n just above 2^63: half of all u64 values are rejected; results still cover both halves */
    int high = 0;
    for (int i = 0; i < 1000; i++) high += rng_below(&r, (1ull << 63) + 1) >= (1ull << 62);
    cr_assert(high > 400 && high < 600, "high half %d of 1000", high);
}

/* Pearson chi-square over k bins with m draws each expected. */
static double s_chi2(const long *count, int k, double expected) {
    double chi = 0;
    for (int i = 0; i < k; i++) chi += (count[i] - expected) * (count[i] - expected) / expected;
    return chi;
}

Test(rng, below_is_uniform_chi_square) {
    /* k = 10 bins (df 9): chi2 critical value at p = 0.001 is 27.88. k = 97 (df 96): p = 0.001 at
     * 141.6. A generator stuck on a residue or biased by 1% fails these by far. */
    rng_t r;
    rng_seed(&r, 2718, 28);
    long c10[10] = {0};
    const int draws = 200000;
    for (int i = 0; i < draws; i++) c10[rng_below(&r, 10)]++;
    double chi = s_chi2(c10, 10, draws / 10.0);
    cr_assert_lt(chi, 27.88, "chi2(df 9) = %f", chi);
    static long c97[97];
    for (int i = 0; i < draws; i++) c97[rng_below(&r, 97)]++;
    chi = s_chi2(c97, 97, draws / 97.0);
    cr_assert_lt(chi, 141.6, "chi2(df 96) = %f", chi);
    /* rng_uniform over 20 equal bins (df 19, p = 0.001: 43.82), values in [0, 1) */
    long cu[20] = {0};
    for (int i = 0; i < draws; i++) {
        double u = rng_uniform(&r);
        cr_assert(u >= 0.0 && u < 1.0);
        cu[(int)(u * 20)]++;
        float f = rng_uniformf(&r);
        cr_assert(f >= 0.0f && f < 1.0f);
    }
    chi = s_chi2(cu, 20, draws / 20.0);
    cr_assert_lt(chi, 43.82, "chi2(df 19) = %f", chi);
}

Test(rng, normal_moments) {
    /* n = 400000 standard normals. Standard errors: mean 1/sqrt(n) = 0.00158, variance
     * sqrt(2/n) = 0.00224, fraction beyond 1.96 sqrt(0.05 * 0.95 / n) = 0.00034. Tolerance:
     * 5 standard errors each. Kurtosis (E x^4 = 3) to 0.05 catches a wrong transform. */
    rng_t r;
    rng_seed(&r, 31337, RNG_STREAM_LEARNER);
    const int n = 400000;
    double s1 = 0, s2 = 0, s4 = 0;
    int tail = 0;
    for (int i = 0; i < n; i++) {
        double x = rng_normal(&r);
        cr_assert(isfinite(x));
        s1 += x;
        s2 += x * x;
        s4 += x * x * x * x;
        tail += fabs(x) > 1.959964;
    }
    double mean = s1 / n, var = s2 / n - mean * mean;
    cr_assert_lt(fabs(mean), 5 * 0.00158, "mean %f", mean);
    cr_assert_lt(fabs(var - 1.0), 5 * 0.00224, "var %f", var);
    cr_assert_lt(fabs((double)tail / n - 0.05), 5 * 0.00034, "tail %f", (double)tail / n);
    cr_assert_lt(fabs(s4 / n - 3.0), 0.05, "E x^4 = %f", s4 / n);
}

Test(rng, normal_fill_matches_normal) {
    rng_t a, b;
    rng_seed(&a, 5, 6);
    rng_seed(&b, 5, 6);
    float x[101];
    rng_normal_fill(&a, x, 101);
    for (int i = 0; i < 101; i++) cr_assert_eq(x[i], (float)rng_normal(&b), "at %d", i);
    /* consecutive pairs are not equal (the cached Box-Muller spare is the sine partner) */
    int equal = 0;
    for (int i = 0; i + 1 < 101; i++) equal += x[i] == x[i + 1];
    cr_assert_eq(equal, 0);
}
