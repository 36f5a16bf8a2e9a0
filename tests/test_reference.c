/* One full update of each algorithm against reference tensors from an independent PyTorch
 * implementation (tests/ref/make_ref.py, autograd; the files in tests/data/ref_*.bin are
 * committed so CI needs no PyTorch). Each case runs three consecutive updates from the same
 * initial networks and batches and compares, after every update, every parameter tensor of
 * every network (and target network), log alpha, the losses and the metagradient.
 *
 * Tolerances: losses to 1e-4 relative. A parameter tensor passes when the distance between the
 * C state and the reference state is below 1% of the distance the reference update moved it
 * (plus 1e-6 per element for float rounding): a wrong sign moves it 200% away and a wrong
 * factor of 2 at least 50%, while float rounding stays far below 1%.
 *
 * The three optimizers have distinct learning rates (cfg.lr in the files: critic 3e-4, policy
 * 1e-3, alpha 5e-3), so each step is checked with its own rate, not just with "the" rate. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "sac.h"

typedef struct {
    char name[96];
    size_t n;
    float *data;
} ref_tensor;

typedef struct {
    int count;
    ref_tensor *t;
} ref_file;

static uint32_t s_u32(FILE *fp, int *ok) {
    uint8_t b[4];
    if (fread(b, 1, 4, fp) != 4) { *ok = 0; return 0; }
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Format: "MSACREF1", u32 version 1, u32 count, then per tensor: u32 name length, name,
 * u32 ndim, u32 dims[ndim], float32 data (little-endian). */
static void s_load(const char *path, ref_file *f) {
    FILE *fp = fopen(path, "rb");
    cr_assert(fp, "cannot open %s (run from the repository root)", path);
    char magic[8];
    int ok = fread(magic, 1, 8, fp) == 8 && memcmp(magic, "MSACREF1", 8) == 0;
    cr_assert(ok, "%s: not a reference file", path);
    cr_assert(s_u32(fp, &ok) == 1 && ok, "%s: unknown version", path);
    f->count = (int)s_u32(fp, &ok);
    cr_assert(ok && f->count > 0 && f->count < 100000, "%s: bad tensor count", path);
    f->t = rl_calloc((size_t)f->count, sizeof(ref_tensor));
    for (int i = 0; i < f->count; i++) {
        ref_tensor *t = &f->t[i];
        uint32_t len = s_u32(fp, &ok);
        cr_assert(ok && len < sizeof t->name && fread(t->name, 1, len, fp) == len, "%s: name", path);
        uint32_t ndim = s_u32(fp, &ok);
        cr_assert(ok && ndim <= 4, "%s: %s: bad ndim", path, t->name);
        t->n = 1;
        for (uint32_t d = 0; d < ndim; d++) t->n *= s_u32(fp, &ok);
        t->data = rl_malloc(sizeof(float) * t->n);
        cr_assert(ok && fread(t->data, sizeof(float), t->n, fp) == t->n, "%s: %s: truncated",
                  path, t->name);
    }
    fclose(fp);
}

static void s_free(ref_file *f) {
    for (int i = 0; i < f->count; i++) free(f->t[i].data);
    free(f->t);
}

static const ref_tensor *s_find(const ref_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

/* The tensor called name, which must hold n floats. */
static const float *s_get(const ref_file *f, const char *name, size_t n) {
    const ref_tensor *t = s_find(f, name);
    cr_assert(t, "reference tensor %s missing", name);
    cr_assert(t->n == n, "reference tensor %s has %zu elements, expected %zu", name, t->n, n);
    return t->data;
}

static float s_scalar(const ref_file *f, const char *name) { return s_get(f, name, 1)[0]; }

/* Where the PyTorch tensor "<net>.l<l>.<weight|bias>" lives in the C layout. */
typedef struct { const char *net; float *base; int critic; } net_view;

static float *s_param(const sac_f *a, const net_view *v, int l, int bias, size_t *n) {
    const nn_shape_t *s = &a->shape;
    const nn_layer_t *L;
    size_t row0 = 0;  /* first row inside a shared layer */
    if (v->critic == 0) {
        L = &s->pi[l];
    } else if (l == 0) {
        L = &s->q1;  /* Q1 owns rows [0,H), Q2 rows [H,2H) */
        row0 = (size_t)(v->critic - 1) * s->hidden;
    } else {
        L = l == 1 ? &s->q2[v->critic - 1] : &s->q3[v->critic - 1];
    }
    size_t rows = v->critic && l == 0 ? (size_t)s->hidden : (size_t)L->out;
    *n = bias ? rows : rows * L->in;
    return v->base + (bias ? L->b + row0 : L->w + row0 * L->in);
}

static int s_views(sac_f *a, net_view *v, float *pi_state) {
    v[0] = (net_view){"policy", pi_state ? pi_state : a->phi, 0};
    v[1] = (net_view){"q1", a->theta, 1};
    v[2] = (net_view){"q2", a->theta, 2};
    v[3] = (net_view){"q1_target", a->theta_bar, 1};
    v[4] = (net_view){"q2_target", a->theta_bar, 2};
    return 5;
}

static void s_load_state(sac_f *a, const ref_file *f) {
    net_view v[5];
    int nv = s_views(a, v, NULL);
    for (int i = 0; i < nv; i++)
        for (int l = 0; l < 3; l++)
            for (int bias = 0; bias < 2; bias++) {
                char name[96];
                size_t n;
                float *dst = s_param(a, &v[i], l, bias, &n);
                snprintf(name, sizeof name, "init.%s.l%d.%s", v[i].net, l + 1, bias ? "bias" : "weight");
                memcpy(dst, s_get(f, name, n), sizeof(float) * n);
            }
    a->lam[0] = s_scalar(f, "init.log_alpha");
}

/* Compares one C tensor c with the reference after (and before) the update. */
static void s_expect_close(const char *name, const float *c, const float *after,
                           const float *before, size_t n) {
    double err = 0, step = 0;
    for (size_t k = 0; k < n; k++) {
        err += ((double)c[k] - after[k]) * ((double)c[k] - after[k]);
        step += ((double)after[k] - before[k]) * ((double)after[k] - before[k]);
    }
    err = sqrt(err);
    step = sqrt(step);
    cr_expect(err <= 0.01 * step + 1e-6 * sqrt((double)n),
              "%s: distance to the reference %.3g, reference step %.3g", name, err, step);
}

static void s_compare_state(sac_f *a, const ref_file *f, int k, int meta) {
    net_view v[6];
    int nv = s_views(a, v, NULL);
    if (meta) v[nv++] = (net_view){"policy_v", a->phi_v, 0};
    for (int i = 0; i < nv; i++)
        for (int l = 0; l < 3; l++)
            for (int bias = 0; bias < 2; bias++) {
                const char *kind = bias ? "bias" : "weight";
                char name[96], prev[96];
                size_t n;
                float *c = s_param(a, &v[i], l, bias, &n);
                snprintf(name, sizeof name, "u%d.out.%s.l%d.%s", k, v[i].net, l + 1, kind);
                if (strcmp(v[i].net, "policy_v") == 0) {
                    /* RMSProp's v has no "init" tensor: it starts at zero */
                    static float zeros[1 << 16];
                    const float *before = k ? s_get(f, (snprintf(prev, sizeof prev, "u%d.out.policy_v.l%d.%s", k - 1, l + 1, kind), prev), n) : zeros;
                    s_expect_close(name, c, s_get(f, name, n), before, n);
                    continue;
                }
                if (k == 0) snprintf(prev, sizeof prev, "init.%s.l%d.%s", v[i].net, l + 1, kind);
                else snprintf(prev, sizeof prev, "u%d.out.%s.l%d.%s", k - 1, v[i].net, l + 1, kind);
                s_expect_close(name, c, s_get(f, name, n), s_get(f, prev, n), n);
            }
}

static void s_expect_scalar(const char *what, double c, double r, double rtol, double atol) {
    cr_expect(fabs(c - r) <= rtol * fabs(r) + atol, "%s: C %.8g, reference %.8g", what, c, r);
}

static batch_f s_batch(const ref_file *f, const char *prefix, int B, int O, int A) {
    char name[96];
#define T(field, n) (snprintf(name, sizeof name, "%s." field, prefix), s_get(f, name, (size_t)(n)))
    batch_f b = {B, T("obs", B * O), T("act", B * A), T("rew", B), T("next_obs", B * O),
                 T("done", B), T("xi", B * A), T("xi_next", B * A)};
#undef T
    return b;
}

/* The learning rates of the reference (cfg.lr: critic, policy, alpha). They differ from each
 * other by a factor >= 3, so a step taken with another optimizer's rate misses by far more
 * than the 1% tolerance; the defaults (3e-4 each) could not tell them apart. */
static void s_set_lr(sac_opts_t *o, const ref_file *f) {
    const float *lr = s_get(f, "cfg.lr", 3);
    o->lr_q = lr[0];
    o->lr_pi = lr[1];
    o->lr_alpha = lr[2];
    cr_assert(o->lr_q != o->lr_pi && o->lr_pi != o->lr_alpha && o->lr_q != o->lr_alpha,
              "the reference's learning rates must differ");
}

static void s_run_case(const char *file, algo_t algo, void (*tweak)(sac_opts_t *), int threads) {
    ref_file f;
    s_load(file, &f);
    const float *dims = s_get(&f, "cfg.dims", 5);
    const int O = (int)dims[0], A = (int)dims[1], Hd = (int)dims[2], B = (int)dims[3],
              ND0 = (int)dims[4];
    nn_shape_t s;
    nn_shape_init(&s, O, A, Hd);
    sac_opts_t o;
    sac_opts_default(&o, algo, A);
    o.alpha = s_scalar(&f, "cfg.alpha");
    o.target_entropy = s_scalar(&f, "cfg.target_entropy");
    s_set_lr(&o, &f);
    if (tweak) tweak(&o);
    int meta = algo == ALGO_META_SAC;
    sac_f *a = sac_new_f(&s, &o, s_get(&f, "cfg.low", A), s_get(&f, "cfg.high", A),
                         B > ND0 ? B : ND0, 1, 1);
    sac_set_threads_f(a, threads);
    s_load_state(a, &f);
    const float *d0 = meta ? s_get(&f, "d0", (size_t)ND0 * O) : NULL;
    for (int k = 0; k < 3; k++) {
        char p1[32], p2[32], name[96];
        snprintf(p1, sizeof p1, meta ? "u%d.b1" : "u%d.b", k);
        snprintf(p2, sizeof p2, "u%d.b2", k);
        batch_f b1 = s_batch(&f, p1, B, O, A);
        batch_f b2 = meta ? s_batch(&f, p2, B, O, A) : b1;
        float la_before = a->lam[0];
        sac_stats_t st;
        sac_update_f(a, &b1, meta ? &b2 : NULL, d0, ND0, &st);
        cr_log_info("%s update %d: q_loss %g pi_loss %g G %g log_alpha %g", file, k, st.q_loss,
                    st.pi_loss, st.meta_grad, st.log_alpha);
#define R(field) (snprintf(name, sizeof name, "u%d.out." field, k), s_scalar(&f, name))
        s_expect_scalar("q_loss", st.q_loss, R("q_loss"), 1e-4, 1e-6);
        s_expect_scalar("pi_loss", st.pi_loss, R("pi_loss"), 1e-4, 1e-6);
        if (algo == ALGO_SAC_V2) s_expect_scalar("alpha_loss", st.alpha_loss, R("alpha_loss"), 1e-4, 1e-6);
        if (meta) {
            s_expect_scalar("meta_loss", st.meta_loss, R("meta_loss"), 1e-4, 1e-6);
            s_expect_scalar("meta_grad", st.meta_grad, R("meta_grad"), 2e-2, 1e-10);
        }
        /* log alpha: to float rounding, and its step to 1% */
        float la = R("log_alpha");
        float la_prev = k ? (snprintf(name, sizeof name, "u%d.out.log_alpha", k - 1), s_scalar(&f, name))
                          : s_scalar(&f, "init.log_alpha");
        s_expect_scalar("log_alpha", a->lam[0], la, 0, 1e-6 + 0.01 * fabs(la - la_prev));
        (void)la_before;
#undef R
        s_compare_state(a, &f, k, meta);
    }
    sac_destroy_f(&a);
    s_free(&f);
}

static void s_d1(sac_opts_t *o) { o->meta_on_replay = 1; }
static void s_d2(sac_opts_t *o) { o->resample = 0; }
static void s_unscaled(sac_opts_t *o) { o->meta_scaled_action = 0; }

Test(reference, sac_v1) { s_run_case("tests/data/ref_sac_v1.bin", ALGO_SAC_V1, NULL, 1); }
Test(reference, sac_v2) { s_run_case("tests/data/ref_sac_v2.bin", ALGO_SAC_V2, NULL, 1); }
Test(reference, meta_sac) { s_run_case("tests/data/ref_meta_sac.bin", ALGO_META_SAC, NULL, 1); }
Test(reference, meta_sac_d1_meta_loss_on_replay_states) {
    s_run_case("tests/data/ref_meta_sac_d1.bin", ALGO_META_SAC, s_d1, 1);
}
Test(reference, meta_sac_d2_no_resampling) {
    s_run_case("tests/data/ref_meta_sac_d2.bin", ALGO_META_SAC, s_d2, 1);
}
Test(reference, meta_sac_unscaled_meta_action) {
    s_run_case("tests/data/ref_meta_sac_unscaled.bin", ALGO_META_SAC, s_unscaled, 1);
}
Test(reference, meta_sac_clipped_metagradient) {
    s_run_case("tests/data/ref_meta_sac_clip.bin", ALGO_META_SAC, NULL, 1);
}
/* The same updates split across a team (sac_set_threads): the tolerances are the same. */
Test(reference, sac_v2_on_two_threads) {
    s_run_case("tests/data/ref_sac_v2.bin", ALGO_SAC_V2, NULL, 2);
}
Test(reference, meta_sac_on_two_threads) {
    s_run_case("tests/data/ref_meta_sac.bin", ALGO_META_SAC, NULL, 2);
}
Test(reference, meta_sac_clipped_metagradient_on_three_threads) {
    s_run_case("tests/data/ref_meta_sac_clip.bin", ALGO_META_SAC, NULL, 3);
}

/* TD3 (tests/data/ref_td3.bin): four updates, so the delayed actor step and the Polyak steps of
 * the target critics and the target actor (phi_bar, same layout as phi) happen at updates 1 and
 * 3 only. Every parameter tensor of the six networks is compared as above (on the updates where
 * the reference does not move a network its step is 0, so the C one must not move either);
 * q_loss every update, pi_loss on the actor updates; the target action and y of the critic
 * target elementwise, to 1e-4 relative (they are not updated state, so no step scale). */
static void s_expect_vec(const char *what, int k, const float *c, const float *r, size_t n) {
    for (size_t i = 0; i < n; i++)
        cr_expect(fabs((double)c[i] - r[i]) <= 1e-4 * fabs(r[i]) + 1e-5,
                  "update %d: %s[%zu]: C %.8g, reference %.8g", k, what, i, c[i], r[i]);
}

static void s_td3_case(int threads) {
    const char *file = "tests/data/ref_td3.bin";
    ref_file f;
    s_load(file, &f);
    const float *dims = s_get(&f, "cfg.dims", 5);
    const int O = (int)dims[0], A = (int)dims[1], Hd = (int)dims[2], B = (int)dims[3];
    nn_shape_t s;
    nn_shape_init(&s, O, A, Hd);
    sac_opts_t o;
    sac_opts_default(&o, ALGO_TD3, A);
    cr_assert(o.td3_noise == 0.2 && o.td3_noise_clip == 0.5 && o.td3_policy_delay == 2,
              "TD3 defaults changed: the reference uses noise 0.2, clip 0.5, delay 2");
    s_set_lr(&o, &f);
    sac_f *a = sac_new_f(&s, &o, s_get(&f, "cfg.low", A), s_get(&f, "cfg.high", A), B, 1, 1);
    sac_set_threads_f(a, threads);
    net_view v[6];
    int nv = s_views(a, v, NULL);
    v[nv++] = (net_view){"policy_target", a->phi_bar, 0};
    for (int i = 0; i < nv; i++)
        for (int l = 0; l < 3; l++)
            for (int bias = 0; bias < 2; bias++) {
                char name[96];
                size_t n;
                float *dst = s_param(a, &v[i], l, bias, &n);
                snprintf(name, sizeof name, "init.%s.l%d.%s", v[i].net, l + 1, bias ? "bias" : "weight");
                memcpy(dst, s_get(&f, name, n), sizeof(float) * n);
            }
    for (int k = 0; k < 4; k++) {
        char p[32], name[96], prev[96];
        snprintf(p, sizeof p, "u%d.b", k);
        batch_f b = s_batch(&f, p, B, O, A);
        sac_stats_t st;
        sac_update_f(a, &b, NULL, NULL, 0, &st);
        int actor = (k + 1) % 2 == 0;
        cr_log_info("%s update %d: q_loss %g pi_loss %g", file, k, st.q_loss, st.pi_loss);
#define R(field) (snprintf(name, sizeof name, "u%d.out." field, k), s_scalar(&f, name))
        s_expect_scalar("q_loss", st.q_loss, R("q_loss"), 1e-4, 1e-6);
        if (actor) s_expect_scalar("pi_loss", st.pi_loss, R("pi_loss"), 1e-4, 1e-6);
#undef R
        snprintf(name, sizeof name, "u%d.dbg.target_action", k);
        s_expect_vec("target_action", k, a->act_next, s_get(&f, name, (size_t)B * A), (size_t)B * A);
        snprintf(name, sizeof name, "u%d.dbg.target_y", k);
        s_expect_vec("target_y", k, a->y, s_get(&f, name, (size_t)B), (size_t)B);
        for (int i = 0; i < nv; i++)
            for (int l = 0; l < 3; l++)
                for (int bias = 0; bias < 2; bias++) {
                    const char *kind = bias ? "bias" : "weight";
                    size_t n;
                    float *c = s_param(a, &v[i], l, bias, &n);
                    snprintf(name, sizeof name, "u%d.out.%s.l%d.%s", k, v[i].net, l + 1, kind);
                    if (k == 0) snprintf(prev, sizeof prev, "init.%s.l%d.%s", v[i].net, l + 1, kind);
                    else snprintf(prev, sizeof prev, "u%d.out.%s.l%d.%s", k - 1, v[i].net, l + 1, kind);
                    s_expect_close(name, c, s_get(&f, name, n), s_get(&f, prev, n), n);
                }
    }
    sac_destroy_f(&a);
    s_free(&f);
}

Test(reference, td3) { s_td3_case(1); }
Test(reference, td3_on_two_threads) { s_td3_case(2); }
