/* Updates per second of SAC-v2 and Meta-SAC at Hopper and Humanoid sizes (batch 256, hidden
 * 256, |D0| 256), and the GFLOP/s they achieve next to the GFLOP/s of a 256x256x256 sgemm
 * measured in the same run (the machines are shared and noisy: only the ratio means much).
 * One OpenBLAS thread, then two. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "blas.h"
#include "replay.h"
#include "sac.h"

static double s_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GFLOP/s of one ~0.1 s burst of C = A B, 256^3. */
static double s_sgemm_burst(const float *a, const float *b, float *c) {
    const int n = 256;
    int reps = 0;
    double t0 = s_now(), t;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        reps++;
    } while ((t = s_now() - t0) < 0.1);
    return 2.0 * n * n * n * reps / t / 1e9;
}

typedef struct {
    batch_buf_t *buf;  /* the learner's own batch buffers, filled with random data */
    float *d0;         /* [B][obs] */
    batch_f b;
} data_t;

static void s_data(data_t *d, int B, int O, int A, rng_t *r) {
    batch_buf_t *x = d->buf = batch_buf_new(O, A, B);
    d->d0 = rl_aligned(sizeof(float) * B * O);
    for (int k = 0; k < B * O; k++) {
        x->obs[k] = (float)rng_normal(r);
        x->next_obs[k] = (float)rng_normal(r);
        d->d0[k] = (float)rng_normal(r);
    }
    for (int k = 0; k < B * A; k++) {
        x->act[k] = 2 * rng_uniformf(r) - 1;
        x->xi[k] = (float)rng_normal(r);
        x->xi_next[k] = (float)rng_normal(r);
    }
    for (int i = 0; i < B; i++) { x->rew[i] = (float)rng_normal(r); x->done[i] = i % 50 == 0; }
    d->b = (batch_f){B, x->obs, x->act, x->rew, x->next_obs, x->done, x->xi, x->xi_next};
}

static void s_data_free(data_t *d) {
    batch_buf_destroy(&d->buf);
    free(d->d0);
}

/* Updates per second of one ~0.3 s burst. */
static double s_update_burst(sac_f *a, data_t *d, int B) {
    int reps = 0;
    double t0 = s_now(), t;
    do {
        sac_update_f(a, &d->b, &d->b, d->d0, B, NULL);
        reps++;
    } while ((t = s_now() - t0) < 0.3);
    return reps / t;
}

/* The machine is shared: rounds alternate a reference burst and an update burst, and each
 * figure is the best of its rounds, so both come from the quietest moments of the same run. */
enum { ROUNDS = 6 };

int main(int argc, char **argv) {
    (void)argc;
    blas_pick_kernels(argv);  /* first: it may re-execute the program */
    const int B = 256, Hd = 256;
    float *ga = rl_aligned(sizeof(float) * 256 * 256), *gb = rl_aligned(sizeof(float) * 256 * 256),
          *gc = rl_aligned(sizeof(float) * 256 * 256);
    for (int k = 0; k < 256 * 256; k++) { ga[k] = (float)(k % 7) * 0.1f; gb[k] = (float)(k % 5) * 0.1f; }
    struct { const char *name; int obs, act; } sizes[] = {{"hopper", 11, 3}, {"humanoid", 376, 17}};
    algo_t algos[] = {ALGO_SAC_V2, ALGO_META_SAC};
    rng_t r;
    rng_seed(&r, 1, 0);
    for (int threads = 1; threads <= 2; threads++) {
        openblas_set_num_threads(threads);
        printf("OpenBLAS threads: %d\n", threads);
        printf("%-9s %-9s %9s %9s %9s %9s %7s\n", "size", "algo", "MFLOP/upd", "upd/s",
               "GFLOP/s", "sgemm", "ratio");
        for (int si = 0; si < 2; si++) {
            nn_shape_t s;
            nn_shape_init(&s, sizes[si].obs, sizes[si].act, Hd);
            data_t d;
            s_data(&d, B, s.obs_dim, s.act_dim, &r);
            float low[32], high[32];
            for (int j = 0; j < s.act_dim; j++) { low[j] = -1; high[j] = 1; }
            for (int ai = 0; ai < 2; ai++) {
                sac_opts_t o;
                sac_opts_default(&o, algos[ai], s.act_dim);
                sac_f *a = sac_new_f(&s, &o, low, high, B, 1, 1);
                for (int w = 0; w < 3; w++) sac_update_f(a, &d.b, &d.b, d.d0, B, NULL);
                double ups = 0, ref = 0;
                for (int round = 0; round < ROUNDS; round++) {
                    double g = s_sgemm_burst(ga, gb, gc), u = s_update_burst(a, &d, B);
                    if (g > ref) ref = g;
                    if (u > ups) ups = u;
                }
                double flops = sac_update_flops(&s, algos[ai], B, B);
                double gf = flops * ups / 1e9;
                printf("%-9s %-9s %9.1f %9.1f %9.1f %9.1f %6.0f%%\n", sizes[si].name,
                       algo_name(algos[ai]), flops / 1e6, ups, gf, ref, 100 * gf / ref);
                fflush(stdout);
                sac_destroy_f(&a);
            }
            s_data_free(&d);
        }
    }
    free(ga); free(gb); free(gc);
    return 0;
}
