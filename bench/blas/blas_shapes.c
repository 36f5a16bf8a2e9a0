/* Which BLAS runs the learner's products fastest. Records every sgemm/sgemv/sger call of one
 * Meta-SAC update at Hopper and Humanoid sizes (the learner's own code, through the linker's
 * --wrap), then replays exactly those calls against whatever libblas.so.3 is loaded, next to a
 * 256^3 sgemm. Built and run for each BLAS Debian has installed by bench/blas/compare.sh. */
#include <cblas.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "replay.h"
#include "sac.h"

enum { MAXCALLS = 512 };
typedef struct { int kind, ta, tb, m, n, k; } call_t;  /* kind 0 gemm, 1 gemv, 2 ger */
static call_t s_calls[MAXCALLS];
static int s_ncalls, s_recording;

void __real_cblas_sgemm(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, blasint, blasint, blasint,
                        float, const float *, blasint, const float *, blasint, float, float *,
                        blasint);
void __real_cblas_sgemv(CBLAS_ORDER, CBLAS_TRANSPOSE, blasint, blasint, float, const float *,
                        blasint, const float *, blasint, float, float *, blasint);
void __real_cblas_sger(CBLAS_ORDER, blasint, blasint, float, const float *, blasint,
                       const float *, blasint, float *, blasint);

void __wrap_cblas_sgemm(CBLAS_ORDER o, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint m,
                        blasint n, blasint k, float al, const float *a, blasint lda,
                        const float *b, blasint ldb, float be, float *c, blasint ldc) {
    if (s_recording && s_ncalls < MAXCALLS)
        s_calls[s_ncalls++] = (call_t){0, ta == CblasTrans, tb == CblasTrans, m, n, k};
    __real_cblas_sgemm(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
}

void __wrap_cblas_sgemv(CBLAS_ORDER o, CBLAS_TRANSPOSE ta, blasint m, blasint n, float al,
                        const float *a, blasint lda, const float *x, blasint incx, float be,
                        float *y, blasint incy) {
    if (s_recording && s_ncalls < MAXCALLS)
        s_calls[s_ncalls++] = (call_t){1, ta == CblasTrans, 0, m, n, 0};
    __real_cblas_sgemv(o, ta, m, n, al, a, lda, x, incx, be, y, incy);
}

void __wrap_cblas_sger(CBLAS_ORDER o, blasint m, blasint n, float al, const float *x,
                       blasint incx, const float *y, blasint incy, float *a, blasint lda) {
    if (s_recording && s_ncalls < MAXCALLS) s_calls[s_ncalls++] = (call_t){2, 0, 0, m, n, 0};
    __real_cblas_sger(o, m, n, al, x, incx, y, incy, a, lda);
}

static double s_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void s_record(int O, int A) {
    const int B = 256;
    nn_shape_t s;
    nn_shape_init(&s, O, A, 256);
    batch_buf_t *x = batch_buf_new(O, A, B);
    float *d0 = rl_aligned(sizeof(float) * B * O), low[32], high[32];
    for (int j = 0; j < A; j++) { low[j] = -1; high[j] = 1; }
    batch_f b = {B, x->obs, x->act, x->rew, x->next_obs, x->done, x->xi, x->xi_next};
    sac_opts_t o;
    sac_opts_default(&o, ALGO_META_SAC, A);
    sac_f *a = sac_new_f(&s, &o, low, high, B, 1, 1);
    s_ncalls = 0;
    s_recording = 1;
    sac_update_f(a, &b, &b, d0, B, NULL);
    s_recording = 0;
    sac_destroy_f(&a);
    batch_buf_destroy(&x);
    free(d0);
}

/* Seconds of one replay of the recorded calls (operands: big enough scratch). */
static double s_replay(float *A, float *B, float *C) {
    double t0 = s_now();
    for (int i = 0; i < s_ncalls; i++) {
        const call_t *c = &s_calls[i];
        if (c->kind == 0) {
            int lda = c->ta ? c->m : c->k, ldb = c->tb ? c->k : c->n;
            __real_cblas_sgemm(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans,
                               c->tb ? CblasTrans : CblasNoTrans, c->m, c->n, c->k, 1, A, lda, B,
                               ldb, 0, C, c->n);
        } else if (c->kind == 1) {
            __real_cblas_sgemv(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans, c->m, c->n, 1,
                               A, c->n, B, 1, 0, C, 1);
        } else {
            __real_cblas_sger(CblasRowMajor, c->m, c->n, 1, A, 1, B, 1, C, c->n);
        }
    }
    return s_now() - t0;
}

int main(void) {
    const char *(*corename)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT,
                                                                  "openblas_get_corename");
    size_t big = 1024 * 1024;
    float *A = rl_aligned(sizeof(float) * big), *Bm = rl_aligned(sizeof(float) * big),
          *C = rl_aligned(sizeof(float) * big);
    for (size_t k = 0; k < big; k++) { A[k] = (float)(k % 7) * 0.1f; Bm[k] = (float)(k % 5) * 0.1f; }
    double best_g = 0;
    for (int r = 0; r < 5; r++) {
        int n = 0;
        double t0 = s_now(), t;
        do {
            __real_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 256, 256, 256, 1, A,
                               256, Bm, 256, 0, C, 256);
            n++;
        } while ((t = s_now() - t0) < 0.1);
        if (2.0 * 256 * 256 * 256 * n / t / 1e9 > best_g) best_g = 2.0 * 256 * 256 * 256 * n / t / 1e9;
    }
    printf("kernels %-10s sgemm 256^3 %6.1f GFLOP/s", corename ? corename() : "-", best_g);
    struct { const char *name; int O, A; } sizes[] = {{"hopper", 11, 3}, {"humanoid", 376, 17}};
    for (int si = 0; si < 2; si++) {
        s_record(sizes[si].O, sizes[si].A);
        double best = 1e9;
        for (int r = 0; r < 20; r++) {
            double t = s_replay(A, Bm, C);
            if (t < best) best = t;
        }
        printf(" | %s meta_sac products %3d calls %6.2f ms (%5.1f upd/s ceiling)", sizes[si].name,
               s_ncalls, 1e3 * best, 1 / best);
    }
    printf("\n");
    free(A); free(Bm); free(C);
    return 0;
}
