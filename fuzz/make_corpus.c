/* Writes the fuzzers' seed corpus: fuzz/corpus/wire/ (one valid Envelope of every message type
 * for Hopper's dimensions and a hidden-8 policy, plus invalid frames named after the rejection
 * they must get) and fuzz/corpus/checkpoint/ (checkpoints written by checkpoint_save for the tiny
 * learner of fuzz/tiny.h, plus truncated, corrupted and mismatched variants). Everything goes
 * through the real encoders, so after a format change `make fuzz-corpus` regenerates the lot.
 * Files of other names in those directories (fuzzer reproducers) are left alone.
 *
 * Usage: make_corpus DIR   (DIR = fuzz/corpus) */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "checkpoint.h"
#include "fuzz/tiny.h"
#include "wire.h"

static const char *s_root;
static uint8_t s_buf[1 << 16];

static void s_write(const char *sub, const char *name, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s", s_root, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "make_corpus: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if (n >= (1 << 16)) {
        fprintf(stderr, "make_corpus: %s is %zu bytes: keep seeds under 64 KiB\n", path, n);
        exit(1);
    }
    printf("  %-40s %6zu bytes\n", path, n);
}

static void s_wire(const char *name, int64_t n) {
    if (n < 0) {
        fprintf(stderr, "make_corpus: encoding %s failed (%lld)\n", name, (long long)n);
        exit(1);
    }
    s_write("wire", name, s_buf, (size_t)n);
}

/* ---- wire ---- */

#define WN 4 /* transitions per batch */
static float w_obs[WN * TINY_OBS], w_next[WN * TINY_OBS], w_act[WN * TINY_ACT], w_rew[WN];
static protobuf_c_boolean w_term[WN], w_trunc[WN];

static Metasac__TransitionBatch s_batch(void) {
    for (int i = 0; i < WN * TINY_OBS; i++) w_obs[i] = 0.25f * (float)i - 2, w_next[i] = -w_obs[i];
    for (int i = 0; i < WN * TINY_ACT; i++) w_act[i] = 0.1f * (float)i - 0.5f;
    for (int i = 0; i < WN; i++) w_rew[i] = 1.5f * (float)i, w_term[i] = i == 2, w_trunc[i] = i == 3;
    Metasac__TransitionBatch b = METASAC__TRANSITION_BATCH__INIT;
    b.actor_id = 3, b.seq = 41, b.weight_version = 1200, b.n = WN;
    b.obs_dim = TINY_OBS, b.act_dim = TINY_ACT;
    b.n_obs = WN * TINY_OBS, b.obs = w_obs;
    b.n_act = WN * TINY_ACT, b.act = w_act;
    b.n_rew = WN, b.rew = w_rew;
    b.n_next_obs = WN * TINY_OBS, b.next_obs = w_next;
    b.n_terminated = WN, b.terminated = w_term;
    b.n_truncated = WN, b.truncated = w_trunc;
    return b;
}

/* The hidden-8 Hopper policy's parameter vector and its six-tensor layout. */
static float p_params[4096];
static Metasac__TensorLayout p_layout[6];
static Metasac__TensorLayout *p_layout_p[6];
static char p_names[6][16];

static Metasac__PolicyWeights s_weights(void) {
    nn_shape_t s;
    nn_shape_init(&s, TINY_OBS, TINY_ACT, TINY_HIDDEN);
    if (s.pi_n > sizeof p_params / sizeof *p_params) abort();
    for (size_t i = 0; i < s.pi_n; i++) p_params[i] = (float)((double)i / 97.0 - 1.0);
    for (int l = 0, k = 0; l < 3; l++)
        for (int b = 0; b < 2; b++, k++) {
            Metasac__TensorLayout init = METASAC__TENSOR_LAYOUT__INIT;
            p_layout[k] = init;
            snprintf(p_names[k], sizeof p_names[k], "pi.l%d.%s", l + 1, b ? "b" : "w");
            p_layout[k].name = p_names[k];
            p_layout[k].rows = (uint32_t)s.pi[l].out;
            p_layout[k].cols = b ? 1 : (uint32_t)s.pi[l].in;
            p_layout_p[k] = &p_layout[k];
        }
    Metasac__PolicyWeights w = METASAC__POLICY_WEIGHTS__INIT;
    w.version = 1200;
    w.n_params = s.pi_n, w.params = p_params;
    w.n_layout = 6, w.layout = p_layout_p;
    return w;
}

static void s_wire_corpus(void) {
    Metasac__Hello h = METASAC__HELLO__INIT;
    h.role = METASAC__ROLE__ROLE_ACTOR, h.num_envs = 2, h.build_version = "v0-fuzz-seed";
    h.actor_id_request_case = METASAC__HELLO__ACTOR_ID_REQUEST_REQUESTED_ACTOR_ID;
    h.requested_actor_id = 3;
    s_wire("valid-hello.bin", wire_encode_hello(&h, s_buf, sizeof s_buf));

    Metasac__PolicyWeights w = s_weights();
    float lo[TINY_ACT] = {-1, -1, -1}, hi[TINY_ACT] = {1, 1, 1};
    Metasac__Welcome m = METASAC__WELCOME__INIT;
    m.task = "hopper", m.algo = "meta_sac", m.obs_dim = TINY_OBS, m.act_dim = TINY_ACT;
    m.n_action_low = TINY_ACT, m.action_low = lo, m.n_action_high = TINY_ACT, m.action_high = hi;
    m.run_seed = 1, m.actor_id = 3, m.seed_stream_base = 300, m.weights = &w;
    m.expl_noise = 0.1f, m.send_batch = 4, m.initial_resets = 8;
    s_wire("valid-welcome.bin", wire_encode_welcome(&m, s_buf, sizeof s_buf));

    Metasac__TransitionBatch b = s_batch();
    s_wire("valid-transitions.bin", wire_encode_transitions(&b, s_buf, sizeof s_buf));

    Metasac__ResetStates r = METASAC__RESET_STATES__INIT;
    r.actor_id = 3, r.n = 2, r.obs_dim = TINY_OBS, r.n_obs = 2 * TINY_OBS, r.obs = w_obs;
    s_wire("valid-reset_states.bin", wire_encode_reset_states(&r, s_buf, sizeof s_buf));

    s_wire("valid-weights.bin", wire_encode_weights(&w, s_buf, sizeof s_buf));

    Metasac__Credits c = METASAC__CREDITS__INIT;
    c.steps = 500, c.random_actions = 1, c.act_with_version = 7;
    s_wire("valid-credits.bin", wire_encode_credits(&c, s_buf, sizeof s_buf));

    Metasac__Heartbeat hb = METASAC__HEARTBEAT__INIT;
    hb.actor_id = 3, hb.weight_version = 1200, hb.time_us = 123456789;
    s_wire("valid-heartbeat.bin", wire_encode_heartbeat(&hb, s_buf, sizeof s_buf));

    Metasac__EvalRequest er = METASAC__EVAL_REQUEST__INIT;
    er.weight_version = 1200, er.episodes = 10;
    s_wire("valid-eval_request.bin", wire_encode_eval_request(&er, s_buf, sizeof s_buf));

    double ret[3] = {310.5, 290.25, 305.0};
    uint32_t len[3] = {1000, 870, 1000};
    Metasac__EvalResult res = METASAC__EVAL_RESULT__INIT;
    res.actor_id = 9, res.weight_version = 1200, res.episodes = 3;
    res.n_returns = 3, res.returns = ret, res.n_lengths = 3, res.lengths = len;
    res.mean = (ret[0] + ret[1] + ret[2]) / 3;
    res.std = sqrt(((ret[0] - res.mean) * (ret[0] - res.mean) +
                    (ret[1] - res.mean) * (ret[1] - res.mean) +
                    (ret[2] - res.mean) * (ret[2] - res.mean)) / 3);
    s_wire("valid-eval_result.bin", wire_encode_eval_result(&res, s_buf, sizeof s_buf));

    Metasac__Stop stop = METASAC__STOP__INIT;
    stop.reason = "total_steps reached", stop.env_steps = 1000000;
    s_wire("valid-stop.bin", wire_encode_stop(&stop, s_buf, sizeof s_buf));

    Metasac__Stats st = METASAC__STATS__INIT;
    st.actor_id = 3, st.weight_version = 1200, st.env_steps = 5000, st.episodes = 12;
    st.batches_sent = 100, st.transitions_sent = 5000, st.resets_sent = 12;
    st.credit_wait_us = 1000, st.step_time_us = 20000, st.policy_time_us = 9000;
    st.reconnects = 1, st.steps_per_sec = 450.5;
    s_wire("valid-stats.bin", wire_encode_stats(&st, s_buf, sizeof s_buf));

    /* Invalid frames, named after the code the decoder must return (tests/test_fuzz_corpus.c). */
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99, 0x01};
    s_write("wire", "invalid-decode-garbage.bin", garbage, sizeof garbage);
    int64_t n = wire_encode_transitions(&b, s_buf, sizeof s_buf);
    s_wire("invalid-decode-truncated.bin", n / 2);
    s_wire("invalid-version-empty.bin", 0); /* proto3: no field = version 0 */
    Metasac__Envelope e;
    wire_envelope_init(&e);
    s_wire("invalid-unknown_type-no-body.bin", wire_encode(&e, s_buf, sizeof s_buf));
    e.protocol_version = WIRE_PROTOCOL_VERSION + 1;
    e.body_case = METASAC__ENVELOPE__BODY_HEARTBEAT, e.heartbeat = &hb;
    s_wire("invalid-version-next.bin", wire_encode(&e, s_buf, sizeof s_buf));
    b.n_obs--;
    s_wire("invalid-shape-transitions.bin", wire_encode_transitions(&b, s_buf, sizeof s_buf));
    b.n_obs++;
    w_rew[1] = NAN;
    s_wire("invalid-nonfinite-transitions.bin", wire_encode_transitions(&b, s_buf, sizeof s_buf));
    w_rew[1] = 0;
    p_layout[5].rows++; /* layout covers one param more than the vector holds */
    s_wire("invalid-shape-weights.bin", wire_encode_weights(&w, s_buf, sizeof s_buf));
    p_layout[5].rows--;
    lo[1] = 2; /* low >= high */
    s_wire("invalid-range-welcome.bin", wire_encode_welcome(&m, s_buf, sizeof s_buf));
    h.num_envs = 0;
    s_wire("invalid-range-hello.bin", wire_encode_hello(&h, s_buf, sizeof s_buf));
    res.std = -1;
    s_wire("invalid-range-eval_result.bin", wire_encode_eval_result(&res, s_buf, sizeof s_buf));
}

/* ---- checkpoints ---- */

static char s_tmp[64];

/* Saves t through checkpoint_save and returns the file's bytes (malloc'd) and length. */
static uint8_t *s_save(tiny_t *t, const char *task, size_t *len) {
    char err[512], path[128];
    ckpt_t c = tiny_view(t);
    c.task = task;
    if (checkpoint_save(s_tmp, &c, err, sizeof err) != 0) {
        fprintf(stderr, "make_corpus: checkpoint_save: %s\n", err);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/checkpoint.bin", s_tmp);
    FILE *f = fopen(path, "rb");
    if (!f) abort();
    uint8_t *p = rl_malloc(1 << 16);
    *len = fread(p, 1, 1 << 16, f);
    if (!feof(f)) {
        fprintf(stderr, "make_corpus: a tiny checkpoint is over 64 KiB\n");
        exit(1);
    }
    fclose(f);
    unlink(path);
    snprintf(path, sizeof path, "%s/checkpoint.prev.bin", s_tmp);
    unlink(path);
    return p;
}

static void s_checkpoint_corpus(void) {
    snprintf(s_tmp, sizeof s_tmp, "/tmp/metasac-corpus-XXXXXX");
    if (!mkdtemp(s_tmp)) abort();
    tiny_t t;
    size_t n;
    uint8_t *p;

    tiny_new(&t, 1); /* empty replay and D0 */
    p = s_save(&t, TINY_TASK, &n);
    s_write("checkpoint", "valid-empty.bin", p, n);
    free(p);
    tiny_fill(&t, 5);
    p = s_save(&t, TINY_TASK, &n);
    s_write("checkpoint", "valid-5.bin", p, n);
    /* corrupted and truncated variants of that one */
    s_write("checkpoint", "invalid-truncated-magic.bin", p, 5);
    s_write("checkpoint", "invalid-truncated-header.bin", p, 20);
    s_write("checkpoint", "invalid-truncated-half.bin", p, n / 2);
    s_write("checkpoint", "invalid-truncated-no-end.bin", p, n - 1);
    p[n / 2] ^= 0x40;
    s_write("checkpoint", "invalid-flipped-middle.bin", p, n);
    p[n / 2] ^= 0x40;
    p[n - 1] ^= 0x01; /* inside the End record: its checksum */
    s_write("checkpoint", "invalid-flipped-end.bin", p, n);
    p[n - 1] ^= 0x01;
    p[0] = 'X';
    s_write("checkpoint", "invalid-magic.bin", p, n);
    free(p);
    tiny_fill(&t, 70); /* wraps the ring of 64, fills D0 */
    p = s_save(&t, TINY_TASK, &n);
    s_write("checkpoint", "valid-wrapped.bin", p, n);
    free(p);
    p = s_save(&t, "walker2d", &n);
    s_write("checkpoint", "invalid-other-task.bin", p, n);
    free(p);
    /* Reproducers of what the loader accepts but should not (tests/test_fuzz_corpus.c has a
     * disabled test for each): a learner RNG state of four zero words (xoshiro256** then
     * returns 0 forever and rng_normal loops forever on u1 <= 0), and a NaN spare normal. */
    rng_t keep = t.rng;
    memset(t.rng.s, 0, sizeof t.rng.s);
    p = s_save(&t, TINY_TASK, &n);
    s_write("checkpoint", "repro-zero-rng.bin", p, n);
    free(p);
    t.rng = keep;
    t.rng.spare = NAN;
    t.rng.has_spare = 1;
    p = s_save(&t, TINY_TASK, &n);
    s_write("checkpoint", "repro-nan-spare.bin", p, n);
    free(p);
    tiny_free(&t);

    tiny_new_as(&t, 1, TINY_HIDDEN + 1, TINY_REPLAY);
    tiny_fill(&t, 3);
    p = s_save(&t, TINY_TASK, &n);
    s_write("checkpoint", "invalid-other-hidden.bin", p, n);
    free(p);
    tiny_free(&t);
    tiny_new_as(&t, 1, TINY_HIDDEN, TINY_REPLAY / 2);
    tiny_fill(&t, 3);
    p = s_save(&t, TINY_TASK, &n);
    s_write("checkpoint", "invalid-other-capacity.bin", p, n);
    free(p);
    tiny_free(&t);
    rmdir(s_tmp);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR   (writes DIR/wire/ and DIR/checkpoint/)\n", argv[0]);
        return 2;
    }
    s_root = argv[1];
    char d[1024];
    mkdir(s_root, 0755);
    snprintf(d, sizeof d, "%s/wire", s_root);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/checkpoint", s_root);
    mkdir(d, 0755);
    s_wire_corpus();
    s_checkpoint_corpus();
    return 0;
}
