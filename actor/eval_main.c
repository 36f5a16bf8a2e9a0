/* metasac-eval: deterministic episodes of a run directory's checkpointed policy, run exactly as
 * the run's evaluator runs them, optionally rendered to an MP4.
 *
 * What "exactly" means (actor/actor.c s_evaluate, learner/server.c s_hello): evaluator ID steps
 * envs_per_actor envs, env e seeded with (run seed, RNG_STREAM_EVAL(ID << 16) + e); at its
 * Welcome every env is reset once; evaluation k's episode i uses env i % envs after a reset, the
 * action is the deterministic policy c * tanh(mu) + b with c, b from the task's bounds, and the
 * return is the double sum of the rewards up to termination or truncation (a MuJoCo error ends
 * the episode where it is). The envs carry on from one evaluation to the next, so the k-th
 * evaluation of a session (--eval_index k) is reproduced by first replaying the resets of the k
 * before it (eval_episodes each, the run's value). A run resumed from its checkpoint starts a
 * new evaluator session (index 0 again) unless the same evaluator process reconnected.
 *
 * Video: MuJoCo's own renderer (mjr_*) draws into an offscreen framebuffer of an EGL context on
 * Mesa's surfaceless platform (llvmpipe, no display or GPU needed); frames are piped as raw RGB
 * to ffmpeg. One frame per reset state and one per env step: sum(length + 1) frames, at the
 * task's control rate 1 / (timestep * frame_skip).
 *
 * Exit 0, 1 on an error (run dir, checkpoint, rendering, ffmpeg), 2 on a usage error. */
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "blas.h"
#include "config.h"
#include "export.h"
#include "log.h"
#include "nn.h"
#include "rng.h"
#include "tasks/task.h"

extern char **environ;

/* ---- offscreen rendering and the ffmpeg pipe -------------------------------------------- */

typedef struct {
    EGLDisplay dpy;
    EGLContext ctx;
    EGLSurface surf;
    mjvScene scn;
    mjvCamera cam;
    mjvOption opt;
    mjrContext con;
    int have_scene, have_con;
    int w, h;
    unsigned char *rgb, *row;
    pid_t ffmpeg;
    int fd;  /* ffmpeg's stdin */
    uint64_t frames;
} video_t;

static const char *s_egl_err(void) {
    static char b[32];
    snprintf(b, sizeof b, "EGL error 0x%04x", (unsigned)eglGetError());
    return b;
}

/* An EGL display without a window system: Mesa's surfaceless platform, else the default
 * display. NULL display with err on failure. */
static EGLDisplay s_egl_display(char *err, size_t errlen) {
    const char *ext = eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS);
    EGLint major = 0, minor = 0;
    if (ext && strstr(ext, "EGL_MESA_platform_surfaceless")) {
        PFNEGLGETPLATFORMDISPLAYEXTPROC get =
            (PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
        EGLDisplay d = get ? get(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL)
                           : EGL_NO_DISPLAY;
        if (d != EGL_NO_DISPLAY && eglInitialize(d, &major, &minor)) return d;
    }
    EGLDisplay d = eglGetDisplay(EGL_DEFAULT_DISPLAY);
    if (d != EGL_NO_DISPLAY && eglInitialize(d, &major, &minor)) return d;
    snprintf(err, errlen, "no EGL display: the surfaceless platform (EGL_MESA_platform_surfaceless"
             "%s) and the default display both failed (%s); install Mesa's EGL and drivers "
             "(Debian: libegl1 libegl-mesa0 libgl1-mesa-dri)",
             ext && strstr(ext, "EGL_MESA_platform_surfaceless") ? "" : ", not offered",
             s_egl_err());
    return EGL_NO_DISPLAY;
}

static void s_video_close(video_t *v, int ok, char *err, size_t errlen);

/* The GL context, MuJoCo's scene and offscreen buffer, and ffmpeg writing path.
 * 0, or -1 with err (everything set up so far is released). */
static int s_video_open(video_t *v, const mjModel *m, const char *path, double dt, char *err,
                        size_t errlen) {
    memset(v, 0, sizeof *v);
    v->fd = -1;
    v->dpy = s_egl_display(err, errlen);
    if (v->dpy == EGL_NO_DISPLAY) return -1;
    const EGLint attrs[] = {EGL_RED_SIZE, 8, EGL_GREEN_SIZE, 8, EGL_BLUE_SIZE, 8,
                            EGL_DEPTH_SIZE, 24, EGL_STENCIL_SIZE, 8,
                            EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT,
                            EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_NONE};
    EGLConfig cfg;
    EGLint n = 0;
    if (!eglChooseConfig(v->dpy, attrs, &cfg, 1, &n) || n < 1) {
        snprintf(err, errlen, "no EGL config with desktop OpenGL, RGB8, depth 24 and stencil 8 "
                 "(%s)", s_egl_err());
        goto fail;
    }
    if (!eglBindAPI(EGL_OPENGL_API)) {
        snprintf(err, errlen, "EGL cannot bind desktop OpenGL (%s)", s_egl_err());
        goto fail;
    }
    v->ctx = eglCreateContext(v->dpy, cfg, EGL_NO_CONTEXT, NULL);
    if (v->ctx == EGL_NO_CONTEXT) {
        snprintf(err, errlen, "eglCreateContext failed (%s)", s_egl_err());
        goto fail;
    }
    /* MuJoCo draws into its own framebuffer object: no surface is needed where
       EGL_KHR_surfaceless_context is offered, else a 1x1 pbuffer */
    v->surf = EGL_NO_SURFACE;
    if (!eglMakeCurrent(v->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, v->ctx)) {
        const EGLint pb[] = {EGL_WIDTH, 1, EGL_HEIGHT, 1, EGL_NONE};
        v->surf = eglCreatePbufferSurface(v->dpy, cfg, pb);
        if (v->surf == EGL_NO_SURFACE || !eglMakeCurrent(v->dpy, v->surf, v->surf, v->ctx)) {
            snprintf(err, errlen, "eglMakeCurrent failed without a surface and with a pbuffer "
                     "(%s)", s_egl_err());
            goto fail;
        }
    }
    mjv_defaultScene(&v->scn);
    mjv_defaultOption(&v->opt);
    mjr_defaultContext(&v->con);
    mjv_defaultFreeCamera(m, &v->cam);
    mjv_makeScene(m, &v->scn, 2000);
    v->have_scene = 1;
    mjr_makeContext(m, &v->con, mjFONTSCALE_100);
    v->have_con = 1;
    mjr_setBuffer(mjFB_OFFSCREEN, &v->con);
    if (v->con.currentBuffer != mjFB_OFFSCREEN || v->con.offWidth < 2 || v->con.offHeight < 2) {
        snprintf(err, errlen, "MuJoCo has no offscreen framebuffer in this GL context");
        goto fail;
    }
    v->w = v->con.offWidth & ~1;  /* yuv420p needs even sizes */
    v->h = v->con.offHeight & ~1;
    /* follow the torso (body 1 of every task's model) from the side */
    v->cam.type = mjCAMERA_TRACKING;
    v->cam.trackbodyid = 1;
    v->cam.distance = 1.2 * m->stat.extent;
    v->cam.azimuth = 90;
    v->cam.elevation = -15;
    v->rgb = rl_malloc((size_t)v->w * (size_t)v->h * 3);
    v->row = rl_malloc((size_t)v->w * 3);

    int p[2];
    if (pipe(p) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    char size[32], rate[48];
    snprintf(size, sizeof size, "%dx%d", v->w, v->h);
    snprintf(rate, sizeof rate, "1000000/%ld", lround(dt * 1e6));
    char *argv[] = {"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-r", rate, "-i", "-",
                    "-an", "-pix_fmt", "yuv420p", "-movflags", "+faststart", (char *)path, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0], 0);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    posix_spawn_file_actions_addclose(&fa, p[1]);
    int rc = posix_spawnp(&v->ffmpeg, "ffmpeg", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[0]);
    if (rc != 0) {
        close(p[1]);
        v->ffmpeg = 0;
        snprintf(err, errlen, "cannot run ffmpeg: %s%s", strerror(rc),
                 rc == ENOENT ? " (not in PATH; Debian: apt-get install ffmpeg)" : "");
        goto fail;
    }
    v->fd = p[1];
    return 0;
fail:
    s_video_close(v, 0, NULL, 0);
    return -1;
}

/* Renders d's state and writes the frame to ffmpeg. 0, or -1 with err. */
static int s_video_frame(video_t *v, const mjModel *m, mjData *d, char *err, size_t errlen) {
    mjrRect vp = {0, 0, v->w, v->h};
    mjv_updateScene(m, d, &v->opt, NULL, &v->cam, mjCAT_ALL, &v->scn);
    mjr_render(vp, &v->scn, &v->con);
    mjr_readPixels(v->rgb, NULL, vp, &v->con);
    size_t rb = (size_t)v->w * 3;
    for (int y = 0; y < v->h / 2; y++) {  /* GL's rows go bottom-up, video's top-down */
        unsigned char *a = v->rgb + (size_t)y * rb, *b = v->rgb + (size_t)(v->h - 1 - y) * rb;
        memcpy(v->row, a, rb);
        memcpy(a, b, rb);
        memcpy(b, v->row, rb);
    }
    size_t n = rb * (size_t)v->h, off = 0;
    while (off < n) {
        ssize_t w = write(v->fd, v->rgb + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            snprintf(err, errlen, "ffmpeg stopped reading frames (%s); see its messages above",
                     strerror(errno));
            return -1;
        }
        off += (size_t)w;
    }
    v->frames++;
    return 0;
}

/* Ends ffmpeg (waits for it) and frees the GL state. ok: the video is complete; err gets
 * ffmpeg's failure then (returned through err[0] != 0). */
static void s_video_close(video_t *v, int ok, char *err, size_t errlen) {
    if (v->fd >= 0) close(v->fd);
    v->fd = -1;
    if (v->ffmpeg > 0) {
        int st = 0;
        while (waitpid(v->ffmpeg, &st, 0) < 0 && errno == EINTR) {}
        if (ok && err && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            snprintf(err, errlen, "ffmpeg failed (%s %d)", WIFEXITED(st) ? "exit status" : "signal",
                     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        v->ffmpeg = 0;
    }
    if (v->have_con) mjr_freeContext(&v->con);
    if (v->have_scene) mjv_freeScene(&v->scn);
    v->have_con = v->have_scene = 0;
    if (v->dpy != EGL_NO_DISPLAY && v->dpy) {
        eglMakeCurrent(v->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
        if (v->surf != EGL_NO_SURFACE && v->surf) eglDestroySurface(v->dpy, v->surf);
        if (v->ctx != EGL_NO_CONTEXT && v->ctx) eglDestroyContext(v->dpy, v->ctx);
        /* no eglTerminate: it unloads Mesa's driver, whose few allocations that outlive the
           display would then be reported by LeakSanitizer from an unknown module, where no
           suppression can name them; the process ends right after anyway */
        eglReleaseThread();
    }
    v->dpy = EGL_NO_DISPLAY;
    free(v->rgb);
    free(v->row);
    v->rgb = v->row = NULL;
}

/* ---- command line ------------------------------------------------------------------------ */

static void s_usage(FILE *f) {
    fprintf(f,
            "usage: metasac-eval RUN_DIR [--episodes N] [--seed S] [--evaluator_id ID]\n"
            "                    [--envs N] [--eval_index K] [--video FILE.mp4]\n\n"
            "Runs deterministic episodes of the policy in RUN_DIR's checkpoint (checkpoint.bin,\n"
            "else checkpoint.prev.bin) on the run's task exactly as the run's evaluator does, and\n"
            "prints each episode's return and length and their mean and std (the mean and std\n"
            "line is in eval.csv's precision, %%.6g).\n\n"
            "  --episodes N      episodes to run (default: the run's eval_episodes, 10 by default)\n"
            "  --seed S          run seed of the env streams (default: the run's seed)\n"
            "  --evaluator_id ID the evaluator whose env streams to use (default: actors + 1, the\n"
            "                    id metasac-run gives its evaluator)\n"
            "  --envs N          envs the evaluator steps (default: the run's envs_per_actor)\n"
            "  --eval_index K    reproduce the evaluator's (K+1)-th evaluation of its session: the\n"
            "                    resets of the K before it are replayed first (default 0)\n"
            "  --video FILE.mp4  also render the episodes offscreen (MuJoCo's renderer on an EGL\n"
            "                    surfaceless context) and encode them with ffmpeg: one frame per\n"
            "                    reset and per step, at the task's control rate\n"
            "The run directory is only read.\n");
}

/* "--name V" or "--name=V": the value, advancing *i; NULL if argv[*i] is not this option. */
static const char *s_opt(int argc, char **argv, int *i, const char *name, int *missing) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != 0) return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static int s_parse_u64(const char *s, uint64_t max, uint64_t *out) {
    char *end;
    errno = 0;
    if (!s[0] || s[0] == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    blas_pick_kernels(argv);  /* first: it may re-execute the program */
    const char *run_dir = NULL, *video_path = NULL;
    const char *names[] = {"--episodes", "--seed", "--evaluator_id", "--envs", "--eval_index"};
    const uint64_t max[] = {100000, INT64_MAX, 0xFFFFFFFFu, 4096, 1000000};
    uint64_t val[5];
    int given[5] = {0};
    for (int i = 1; i < argc; i++) {
        int missing = 0, k;
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            s_usage(stdout);
            return 0;
        }
        if ((v = s_opt(argc, argv, &i, "--video", &missing))) {
            video_path = v;
            continue;
        }
        for (k = 0; k < 5 && !missing; k++)
            if ((v = s_opt(argc, argv, &i, names[k], &missing))) break;
        if (missing) {
            fprintf(stderr, "metasac-eval: %s needs a value\n", argv[i]);
            return 2;
        }
        if (k < 5) {
            if (s_parse_u64(v, max[k], &val[k]) < 0 || (k != 1 && k != 4 && val[k] == 0)) {
                fprintf(stderr, "metasac-eval: %s: '%s' is not an integer in [%d, %" PRIu64 "]\n",
                        names[k], v, k == 1 || k == 4 ? 0 : 1, max[k]);
                return 2;
            }
            given[k] = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "metasac-eval: unknown option %s (see --help)\n", argv[i]);
            return 2;
        } else if (run_dir) {
            fprintf(stderr, "metasac-eval: one run directory only ('%s' and '%s')\n", run_dir,
                    argv[i]);
            return 2;
        } else {
            run_dir = argv[i];
        }
    }
    if (!run_dir || (video_path && !video_path[0])) {
        s_usage(stderr);
        return 2;
    }
    log_level = LOG_WARN;  /* MuJoCo's warnings still show */

    char err[4096] = "";
    config_t cfg;
    task_model_t *model = NULL;
    export_info_t info;
    sac_f *agent = export_load_agent(run_dir, &cfg, &model, &info, err, sizeof err);
    if (!agent) {
        fprintf(stderr, "metasac-eval: error: %s\n", err);
        return 1;
    }
    if (info.skipped[0])
        fprintf(stderr, "metasac-eval: warning: checkpoint.bin passed over (%s); using the "
                "previous checkpoint\n", info.skipped);
    uint32_t E = given[0] ? (uint32_t)val[0] : (uint32_t)cfg.eval_episodes;
    uint64_t seed = given[1] ? val[1] : (uint64_t)cfg.seed;
    uint32_t id = given[2] ? (uint32_t)val[2] : (uint32_t)cfg.actors + 1;
    int N = given[3] ? (int)val[3] : cfg.envs_per_actor;
    uint64_t skip_evals = given[4] ? val[4] : 0;

    const int O = info.obs_dim, A = info.act_dim;
    const float *low = task_model_action_low(model), *high = task_model_action_high(model);
    float *scale = rl_aligned(sizeof(float) * A), *bias = rl_aligned(sizeof(float) * A);
    for (int j = 0; j < A; j++) {  /* as the actor computes them from its Welcome */
        scale[j] = (high[j] - low[j]) / 2;
        bias[j] = (high[j] + low[j]) / 2;
    }
    pi_ws_f *pw = pi_ws_new_f(&agent->shape, N);
    float *obs = rl_aligned(sizeof(float) * (size_t)N * O);
    float *next = rl_aligned(sizeof(float) * (size_t)N * O);
    double *ret = rl_calloc(E, sizeof(double));
    uint32_t *len = rl_calloc(E, sizeof(uint32_t));
    task_env_t **envs = rl_calloc((size_t)N, sizeof *envs);
    uint64_t base = RNG_STREAM_EVAL((uint64_t)id << 16);
    int rc = 1;
    video_t video;
    int have_video = 0;

    /* the evaluator's Welcome: each env created and reset once (its initial_resets are 0) */
    for (int e = 0; e < N; e++) {
        envs[e] = task_env_new(model, seed, base + (uint64_t)e);
        task_reset(envs[e], obs + (size_t)e * O);
    }
    /* the session's earlier evaluations: their resets only (the episodes' steps draw nothing) */
    for (uint64_t k = 0; k < skip_evals; k++)
        for (uint32_t ep = 0; ep < (uint32_t)cfg.eval_episodes; ep++)
            if (task_reset(envs[ep % (uint32_t)N], obs) < 0) ep--;

    if (video_path) {
        signal(SIGPIPE, SIG_IGN);  /* a dead ffmpeg is a write error, not a silent exit */
        if (s_video_open(&video, task_model_mj(model), video_path, task_model_dt(model), err,
                         sizeof err) < 0) {
            fprintf(stderr, "metasac-eval: error: --video: offscreen rendering is not possible "
                    "here: %s\n", err);
            goto out;
        }
        have_video = 1;
    }

    printf("metasac-eval: %s: %s/%s hidden %d, %s (env steps %" PRIu64 ", weight version %"
           PRIu64 ")\n", run_dir, info.task, info.algo, info.hidden, info.checkpoint,
           info.env_steps, info.updates);
    printf("evaluator %u, seed %" PRIu64 ", %d env(s), evaluation %" PRIu64 " of the session, "
           "%u episodes\n", id, seed, N, skip_evals, E);
    for (uint32_t ep = 0; ep < E; ep++) {
        task_env_t *env = envs[ep % (uint32_t)N];
        if (task_reset(env, obs) < 0) {  /* as the evaluator: the episode starts over */
            ep--;
            continue;
        }
        const mjModel *m = task_model_mj(model);
        if (have_video && s_video_frame(&video, m, task_env_data(env), err, sizeof err) < 0)
            goto video_failed;
        for (;;) {
            pi_forward_f(&agent->shape, agent->phi, scale, bias, obs, 1, NULL, pw);
            task_step_t r;
            if (task_step(env, pw->act, next, &r) < 0) break;
            ret[ep] += r.reward;
            len[ep]++;
            memcpy(obs, next, sizeof(float) * O);
            if (have_video && s_video_frame(&video, m, task_env_data(env), err, sizeof err) < 0)
                goto video_failed;
            if (r.terminated || r.truncated) break;
        }
        printf("episode %u: return %.6f length %u\n", ep + 1, ret[ep], len[ep]);
        fflush(stdout);
    }
    /* the evaluator's arithmetic, in its order */
    double mean = 0, var = 0;
    for (uint32_t i = 0; i < E; i++) mean += ret[i];
    mean /= E;
    for (uint32_t i = 0; i < E; i++) var += (ret[i] - mean) * (ret[i] - mean);
    double sd = sqrt(var / E);
    printf("mean %.6g std %.6g episodes %u\n", mean, sd, E);
    printf("exact: mean %.17g std %.17g\n", mean, sd);
    rc = 0;
    if (have_video) {
        err[0] = 0;
        uint64_t frames = video.frames;
        s_video_close(&video, 1, err, sizeof err);
        have_video = 0;
        if (err[0]) {
            fprintf(stderr, "metasac-eval: error: --video: %s\n", err);
            rc = 1;
        } else {
            printf("video: %s, %" PRIu64 " frames (%dx%d)\n", video_path, frames, video.w,
                   video.h);
        }
    }
    goto out;
video_failed:
    fprintf(stderr, "metasac-eval: error: --video: %s\n", err);
out:
    if (have_video) s_video_close(&video, 0, NULL, 0);
    for (int e = 0; e < N; e++) task_env_destroy(&envs[e]);
    free(envs);
    free(ret);
    free(len);
    free(obs);
    free(next);
    free(scale);
    free(bias);
    pi_ws_destroy_f(&pw);
    sac_destroy_f(&agent);
    task_model_destroy(&model);
    return rc;
}
