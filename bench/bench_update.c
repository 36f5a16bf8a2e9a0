/* Updates per second of SAC-v2, Meta-SAC and TD3 at Hopper and Humanoid sizes (batch 256,
 * hidden 256, |D0| 256) in three settings: one thread; two update threads (update_threads 2,
 * the learner's default: every pass split in two row ranges, one OpenBLAS thread each); one
 * update thread with two OpenBLAS threads (the old way). Each is printed as GFLOP/s against the
 * GFLOP/s of a single-threaded 256x256x256 sgemm measured in the same run (the machines are
 * shared and noisy: only ratios mean much). Then, when Debian's python3-torch is installed
 * (never in CI), the same updates in PyTorch (bench/torch_update.py) and the ratio.
 * BENCH_TORCH=0 skips PyTorch. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bench.h"
#include "blas.h"
#include "replay.h"
#include "sac.h"

/* GFLOP/s of one ~0.1 s burst of C = A B, 256^3. */
static double s_sgemm_burst(const float *a, const float *b, float *c) {
    const int n = 256;
    int reps = 0;
    double t0 = bench_now(), t;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        reps++;
    } while ((t = bench_now() - t0) < 0.1);
    return 2.0 * n * n * n * reps / t / 1e9;
}

/* Updates per second of one ~0.3 s burst. */
static double s_update_burst(sac_f *a, bench_data_t *d, int B) {
    int reps = 0;
    double t0 = bench_now(), t;
    do {
        sac_update_f(a, &d->b, &d->b, d->d0, B, NULL);
        reps++;
    } while ((t = bench_now() - t0) < 0.3);
    return reps / t;
}

/* The machine is shared: rounds alternate a reference burst and an update burst, and each
 * figure is the best of its rounds, so both come from the quietest moments of the same run. */
enum { ROUNDS = 6, MODES = 3 };

static const struct { const char *name; int update_threads, blas_threads; } s_modes[MODES] = {
    {"1 thread", 1, 1}, {"2 threads", 2, 1}, {"OpenBLAS x2", 1, 2}};

/* PyTorch's updates/s for the configuration, with torch_threads intra-op threads and
 * blas_threads OpenBLAS threads, or -1 when it cannot run. */
static double s_torch(int obs, int act, const char *algo, int blas_threads, double *gflops) {
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "TORCH_THREADS=1 OPENBLAS_NUM_THREADS=%d /usr/bin/python3 %s/bench/torch_update.py "
             "%d %d %s 3 2>/dev/null", blas_threads, METASAC_SOURCE_DIR, obs, act, algo);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    double u = -1, g = 0;
    if (fscanf(p, "updates/s %lf sgemm_gflops %lf", &u, &g) != 2) u = -1;
    if (pclose(p) != 0) u = -1;
    *gflops = g;
    return u;
}

int main(int argc, char **argv) {
    (void)argc;
    blas_pick_kernels(argv);  /* first: it may re-execute the program */
    const int B = 256, Hd = 256;
    float *ga = rl_aligned(sizeof(float) * 256 * 256), *gb = rl_aligned(sizeof(float) * 256 * 256),
          *gc = rl_aligned(sizeof(float) * 256 * 256);
    for (int k = 0; k < 256 * 256; k++) {
        ga[k] = (float)(k % 7) * 0.1f;
        gb[k] = (float)(k % 5) * 0.1f;
    }
    struct { const char *name; int obs, act; } sizes[] = {{"hopper", 11, 3}, {"humanoid", 376, 17}};
    algo_t algos[] = {ALGO_SAC_V2, ALGO_META_SAC, ALGO_TD3};
    const char *bt = getenv("BENCH_TORCH");
    int torch = !(bt && strcmp(bt, "0") == 0) && access("/usr/bin/python3", X_OK) == 0 &&
                system("/usr/bin/python3 -c 'import torch' 2>/dev/null") == 0;
    rng_t r;
    rng_seed(&r, 1, 0);
    printf("OpenBLAS %s kernels; sgemm = in-run 256^3 sgemm GFLOP/s on one thread; each mode's "
           "update GFLOP/s as a multiple of it\n", blas_core());
    printf("%-9s %-9s %9s %7s |", "size", "algo", "MFLOP/upd", "sgemm");
    for (int m = 0; m < MODES; m++) printf(" %11s x sgemm |", s_modes[m].name);
    printf("\n");
    double torch_rows[2][2][2], torch_gf[2][2][2], c_rows[2][2][MODES];
    for (int si = 0; si < 2; si++) {
        nn_shape_t s;
        nn_shape_init(&s, sizes[si].obs, sizes[si].act, Hd);
        bench_data_t d;
        bench_data(&d, B, s.obs_dim, s.act_dim, &r);
        float low[32], high[32];
        for (int j = 0; j < s.act_dim; j++) { low[j] = -1; high[j] = 1; }
        for (int ai = 0; ai < 3; ai++) {
            sac_opts_t o;
            sac_opts_default(&o, algos[ai], s.act_dim);
            sac_f *a[MODES];
            for (int m = 0; m < MODES; m++) {
                a[m] = sac_new_f(&s, &o, low, high, B, 1, 1);
                sac_set_threads_f(a[m], s_modes[m].update_threads);
                openblas_set_num_threads(s_modes[m].blas_threads);
                for (int w = 0; w < 3; w++) sac_update_f(a[m], &d.b, &d.b, d.d0, B, NULL);
            }
            double ups[MODES] = {0}, ref = 0;
            for (int round = 0; round < ROUNDS; round++) {
                openblas_set_num_threads(1);
                double g = s_sgemm_burst(ga, gb, gc);
                if (g > ref) ref = g;
                for (int m = 0; m < MODES; m++) {
                    openblas_set_num_threads(s_modes[m].blas_threads);
                    double u = s_update_burst(a[m], &d, B);
                    if (u > ups[m]) ups[m] = u;
                }
            }
            double flops = sac_update_flops(&s, algos[ai], B, B);
            printf("%-9s %-9s %9.1f %7.1f |", sizes[si].name, algo_name(algos[ai]), flops / 1e6,
                   ref);
            for (int m = 0; m < MODES; m++) {
                printf(" %5.1f/s %5.2f |", ups[m], flops * ups[m] / 1e9 / ref);
                if (ai < 2) c_rows[si][ai][m] = ups[m];
            }
            printf("\n");
            fflush(stdout);
            for (int m = 0; m < MODES; m++) sac_destroy_f(&a[m]);
        }
        bench_data_free(&d);
    }
    openblas_set_num_threads(1);
    if (!torch) {
        printf("\nPyTorch: skipped (%s)\n", bt && strcmp(bt, "0") == 0
                                                ? "BENCH_TORCH=0"
                                                : "needs Debian's python3-torch");
    } else {
        printf("\nPyTorch 1.13 (bench/torch_update.py, same updates, 1 torch thread; its own "
               "in-process sgemm in brackets), and this learner's rate over PyTorch's best\n");
        printf("%-9s %-9s | %22s | %22s | %9s %9s\n", "size", "algo", "torch, 1 OpenBLAS thr",
               "torch, 2 OpenBLAS thr", "C 1 thr", "C 2 thr");
        for (int si = 0; si < 2; si++)
            for (int ai = 0; ai < 2; ai++) {
                for (int bt2 = 0; bt2 < 2; bt2++)
                    torch_rows[si][ai][bt2] = s_torch(sizes[si].obs, sizes[si].act,
                                                      algo_name(algos[ai]), bt2 + 1,
                                                      &torch_gf[si][ai][bt2]);
                double best = fmax(torch_rows[si][ai][0], torch_rows[si][ai][1]);
                printf("%-9s %-9s | %7.1f/s (%5.1f GF/s) | %7.1f/s (%5.1f GF/s) | %8.2fx %8.2fx\n",
                       sizes[si].name, algo_name(algos[ai]), torch_rows[si][ai][0],
                       torch_gf[si][ai][0], torch_rows[si][ai][1], torch_gf[si][ai][1],
                       c_rows[si][ai][0] / best, c_rows[si][ai][1] / best);
                fflush(stdout);
            }
    }
    free(ga); free(gb); free(gc);
    return 0;
}
