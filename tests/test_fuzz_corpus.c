/* The fuzzers' corpus (fuzz/corpus/, written by fuzz/make_corpus.c, plus any reproducer a fuzzer
 * found) replayed through the two parsers of untrusted bytes, so every `make test` (also under
 * SAN=address,undefined) re-checks what the fuzzers checked:
 *   wire/valid-TYPE.bin        decodes to WIRE_OK with body TYPE, with and without known dims,
 *                              and its re-encoding decodes again to the same bytes;
 *   wire/invalid-CODE-*.bin    is refused with that code (decode, version, unknown_type, shape,
 *                              nonfinite, range);
 *   checkpoint/valid-*.bin     loads (0) into the tiny learner of fuzz/tiny.h and restores
 *                              consistent sizes;
 *   checkpoint/invalid-*.bin   is refused (-1) with a reason;
 *   any other file             (a fuzzer's reproducer, repro-*) is replayed and must not crash;
 *                              a reproducer of a bug not fixed yet has its own disabled test. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "checkpoint.h"
#include "fuzz/tiny.h"
#include "wire.h"

#define MAXMSG ((size_t)1 << 20)

static uint8_t s_enc[2][MAXMSG];

typedef struct {
    char name[256];
    uint8_t *data;
    size_t len;
} seed_t;

/* Every regular file of dir, sorted by name; *n of them. */
static seed_t *s_read_dir(const char *dir, size_t *n) {
    DIR *d = opendir(dir);
    cr_assert(d, "cannot open %s (tests run from the source root)", dir);
    seed_t *v = NULL;
    size_t cnt = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        cr_assert(f, "%s", path);
        v = rl_realloc(v, (cnt + 1) * sizeof *v);
        seed_t *s = &v[cnt++];
        snprintf(s->name, sizeof s->name, "%s", e->d_name);
        s->data = rl_malloc(1 << 16);
        s->len = fread(s->data, 1, 1 << 16, f);
        cr_assert(feof(f), "%s is over 64 KiB: corpus files stay small", path);
        fclose(f);
    }
    closedir(d);
    *n = cnt;
    return v;
}

static void s_free_seeds(seed_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i].data);
    free(v);
}

/* Reproducers of open bugs that are undefined behaviour: harmless in the normal build, an abort
 * under UBSan (make test SAN=address,undefined). Until each is fixed it is replayed only in the
 * normal build, and a disabled test below is the fix's test. */
#ifdef __SANITIZE_ADDRESS__
#define S_SANITIZED 1
#else
#define S_SANITIZED 0
#endif
static int s_open_ub(const char *file) {
    (void)file;  /* none open: checkpoint.c refuses empty chunks since format 2 */
    return S_SANITIZED && 0;
}

static int s_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static const struct {
    const char *name;
    int code;
} s_codes[] = {
    {"decode", WIRE_ERR_DECODE},   {"version", WIRE_ERR_VERSION},
    {"unknown_type", WIRE_ERR_UNKNOWN_TYPE}, {"shape", WIRE_ERR_SHAPE},
    {"nonfinite", WIRE_ERR_NONFINITE},       {"range", WIRE_ERR_RANGE},
};

/* "invalid-CODE-..." -> the wire_err_t it names; 1 if the name names none. */
static int s_expected_code(const char *file) {
    const char *p = file + strlen("invalid-");
    for (size_t i = 0; i < sizeof s_codes / sizeof *s_codes; i++) {
        size_t k = strlen(s_codes[i].name);
        if (strncmp(p, s_codes[i].name, k) == 0 && (p[k] == '-' || p[k] == '.'))
            return s_codes[i].code;
    }
    return 1;
}

Test(fuzz_corpus, wire_seeds_decode_as_their_names_say) {
    nn_shape_t s;
    nn_shape_init(&s, TINY_OBS, TINY_ACT, TINY_HIDDEN);
    wire_limits_t known = {.max_msg_bytes = MAXMSG, .obs_dim = TINY_OBS, .act_dim = TINY_ACT,
                           .n_params = s.pi_n};
    wire_limits_t any = {.max_msg_bytes = MAXMSG};
    wire_decoder_t *dec[2] = {wire_decoder_new(&known), wire_decoder_new(&any)};
    size_t n, valid = 0, invalid = 0;
    seed_t *v = s_read_dir("fuzz/corpus/wire", &n);
    int seen[16] = {0};
    for (size_t i = 0; i < n; i++) {
        const char *f = v[i].name;
        for (int k = 0; k < 2; k++) {
            const Metasac__Envelope *env;
            int rc = wire_decode(dec[k], v[i].data, v[i].len, &env);
            const char *lim = k ? "no dims" : "Hopper dims";
            if (s_prefix(f, "valid-")) {
                cr_expect_eq(rc, WIRE_OK, "%s (%s): %s: %s", f, lim, wire_strerror(rc),
                             wire_decoder_detail(dec[k]));
                if (rc != WIRE_OK) continue;
                char want[128];
                snprintf(want, sizeof want, "valid-%s.bin", wire_body_name(env->body_case));
                cr_expect_str_eq(f, want, "%s decodes as a %s", f, wire_body_name(env->body_case));
                if (k == 0 && (unsigned)env->body_case < 16) seen[env->body_case] = 1;
                int64_t n1 = wire_encode(env, s_enc[0], MAXMSG);
                cr_assert_gt(n1, 0, "%s: re-encoding failed", f);
                cr_expect_eq(wire_decode(dec[k], s_enc[0], (size_t)n1, &env), WIRE_OK,
                             "%s (%s): its re-encoding is refused: %s", f, lim,
                             wire_decoder_detail(dec[k]));
                if (env) {
                    int64_t n2 = wire_encode(env, s_enc[1], MAXMSG);
                    cr_expect(n2 == n1 && memcmp(s_enc[0], s_enc[1], (size_t)n1) == 0,
                              "%s: the round trip changed the bytes", f);
                }
                valid += k == 0;
            } else if (s_prefix(f, "invalid-")) {
                int want = s_expected_code(f);
                cr_assert_neq(want, 1, "%s: the name names no wire error code", f);
                cr_expect_eq(rc, want, "%s (%s): got %d (%s: %s), expected %d (%s)", f, lim, rc,
                             wire_strerror(rc), wire_decoder_detail(dec[k]), want,
                             wire_strerror(want));
                cr_expect_null(env, "%s: a refused frame leaves no message", f);
                invalid += k == 0;
            }
            /* anything else: a fuzzer's reproducer; decoding it without a crash is the test */
        }
    }
    for (int b = METASAC__ENVELOPE__BODY_HELLO; b <= METASAC__ENVELOPE__BODY_STOP; b++)
        cr_expect(seen[b], "no valid seed of type %s (make fuzz-corpus)",
                  wire_body_name((Metasac__Envelope__BodyCase)b));
    cr_expect_geq(invalid, 5, "only %zu invalid wire seeds", invalid);
    cr_expect_eq(valid, 11);
    s_free_seeds(v, n);
    wire_decoder_destroy(&dec[0]);
    wire_decoder_destroy(&dec[1]);
}

/* Found by fuzz_wire (fuzz/corpus/wire/repro-field0-roundtrip.bin, 14 bytes:
 * 08 01 | 81 00 + 8 zero bytes | 42 00): a Heartbeat with an extra field numbered 0 (wire type
 * 64-bit) whose tag is the non-minimal varint 81 00. Field number 0 is invalid protobuf, and
 * libprotobuf-c 1.4.1 refuses it as the one-byte tag 01 but keeps it as an unknown field when the
 * tag takes two bytes, so wire_decode accepts the frame while it refuses its own re-encoding
 * (which writes the tag as 01). Enable this test once common/wire.c refuses frames holding an
 * unknown field numbered 0 (e.g. by walking base.unknown_fields after unpacking). */
Test(fuzz_corpus, wire_refuses_a_field_numbered_zero) {
    size_t n;
    seed_t *v = s_read_dir("fuzz/corpus/wire", &n);
    wire_limits_t any = {.max_msg_bytes = MAXMSG};
    wire_decoder_t *d = wire_decoder_new(&any);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].name, "repro-field0-roundtrip.bin") != 0) continue;
        const Metasac__Envelope *env;
        found = 1;
        cr_expect_eq(wire_decode(d, v[i].data, v[i].len, &env), WIRE_ERR_DECODE,
                     "a field numbered 0 is accepted");
    }
    cr_expect(found);
    wire_decoder_destroy(&d);
    s_free_seeds(v, n);
}

Test(fuzz_corpus, checkpoint_seeds_load_or_are_refused_as_their_names_say) {
    size_t n, valid = 0, invalid = 0;
    seed_t *v = s_read_dir("fuzz/corpus/checkpoint", &n);
    char path[] = "/tmp/metasac-corpus-ckpt-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    for (size_t i = 0; i < n; i++) {
        const char *f = v[i].name;
        if (s_open_ub(f)) continue;
        FILE *out = fopen(path, "wb");
        cr_assert(out && fwrite(v[i].data, 1, v[i].len, out) == v[i].len && fclose(out) == 0);
        tiny_t t;
        tiny_new(&t, 7);
        ckpt_t c = tiny_view(&t);
        c.env_steps = 12345; /* a valid file must overwrite these */
        c.next_eval = 0;
        char err[512] = "";
        int rc = checkpoint_load_file(path, &c, err, sizeof err);
        if (s_prefix(f, "valid-")) {
            cr_expect_eq(rc, 0, "%s refused: %s", f, err);
            /* the generator saves env_steps = transitions inserted, next_eval = 10000 */
            cr_expect(c.env_steps == t.replay->inserted && c.next_eval == 10000,
                      "%s: env_steps %llu, inserted %llu, next_eval %llu", f,
                      (unsigned long long)c.env_steps, (unsigned long long)t.replay->inserted,
                      (unsigned long long)c.next_eval);
            cr_expect(t.replay->size <= t.replay->capacity && t.replay->next < t.replay->capacity &&
                      t.replay->size == (t.replay->inserted < TINY_REPLAY ? t.replay->inserted
                                                                           : TINY_REPLAY),
                      "%s: replay size %zu next %zu inserted %llu", f, t.replay->size,
                      t.replay->next, (unsigned long long)t.replay->inserted);
            cr_expect(t.d0->size >= 0 && t.d0->size <= t.d0->capacity);
            valid++;
        } else if (s_prefix(f, "invalid-")) {
            cr_expect_eq(rc, -1, "%s accepted", f);
            cr_expect(err[0] != '\0', "%s refused without a reason", f);
            invalid++;
        } else {
            cr_expect(rc == 0 || rc == -1, "%s: rc %d", f, rc);
        }
        tiny_free(&t);
    }
    unlink(path);
    cr_expect_geq(valid, 3, "only %zu valid checkpoint seeds (make fuzz-corpus)", valid);
    cr_expect_geq(invalid, 5, "only %zu invalid checkpoint seeds", invalid);
    s_free_seeds(v, n);
}

/* Loads fuzz/corpus/checkpoint/NAME into a fresh tiny learner; returns checkpoint_load_file's
 * result and leaves the learner in *t (tiny_free it). */
static int s_load_seed(const char *name, tiny_t *t) {
    char path[256], err[512];
    snprintf(path, sizeof path, "fuzz/corpus/checkpoint/%s", name);
    tiny_new(t, 7);
    ckpt_t c = tiny_view(t);
    return checkpoint_load_file(path, &c, err, sizeof err);
}

/* Found by review while writing fuzz_checkpoint (checksums keep a fuzzer from getting there):
 * learner/checkpoint.c restores the learner's xoshiro256** state without checking it. Four zero
 * words are the one state xoshiro never leaves: rng_u64 returns 0 forever, so rng_normal's
 * `do u1 = rng_uniform(r); while (u1 <= 0.0)` never ends and the resumed learner hangs in its
 * first replay_sample. repro-zero-rng.bin is a checkpoint_save of such a state (with a valid
 * checksum). Enable once checkpoint_load_file refuses it. */
Test(fuzz_corpus, checkpoint_refuses_an_all_zero_rng_state) {
    tiny_t t;
    cr_expect_eq(s_load_seed("repro-zero-rng.bin", &t), -1, "an all-zero RNG state is accepted");
    tiny_free(&t);
}

/* Same class: rng_spare is restored without a finiteness check, so a NaN spare with
 * rng_has_spare makes the next rng_normal return NaN (NaN policy noise in the first update).
 * The loader also restores NaN/Inf in the agent state and the replay arrays unchecked. */
Test(fuzz_corpus, checkpoint_refuses_a_nan_spare_normal) {
    tiny_t t;
    cr_expect_eq(s_load_seed("repro-nan-spare.bin", &t), -1, "a NaN spare normal is accepted");
    tiny_free(&t);
}

/* Found by fuzz_checkpoint (fuzz/corpus/checkpoint/repro-empty-chunk.bin, 98 bytes: the magic,
 * the header record of valid-empty.bin, then one 2-byte record 12 00 = a CheckpointChunk with no
 * field set): learner/checkpoint.c:255 does memcpy(dst + offset, ch->data, 4 * ch->n_data) with
 * ch->data == NULL and n_data == 0, undefined behaviour that UBSan (nonnull-attribute) aborts on.
 * checkpoint_save never writes an empty chunk; a corrupt or crafted file can. The file has no End
 * record, so the right answer is -1 whatever the fix (skip empty chunks or refuse them); under
 * SAN=address,undefined this test fails until then. fuzz/sanitize-ignore.txt silences it in the
 * fuzz build meanwhile: delete that entry with the fix. */
Test(fuzz_corpus, checkpoint_empty_chunk_is_not_undefined_behaviour) {
    tiny_t t;
    cr_expect_eq(s_load_seed("repro-empty-chunk.bin", &t), -1);
    tiny_free(&t);
}
