#include "checkpoint.h"

#include <errno.h>
#include <math.h>
#include <time.h>
#include <zlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "checkpoint.pb-c.h"

static const char s_magic[8] = {'M', 'S', 'A', 'C', 'C', 'K', 'P', '2'};
static const char s_magic_v1[8] = {'M', 'S', 'A', 'C', 'C', 'K', 'P', 'T'};
#define RECORD_MAX ((size_t)CHECKPOINT_CHUNK * 4 + 4096)  /* bytes: a chunk plus framing */

static void s_fnv(uint64_t *h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001b3ull;
    }
}

/* ---- writing --------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    uint64_t hash, records;
    uint8_t *buf;
    size_t cap;
    int failed;
} writer_t;

static void s_put(writer_t *w, const Metasac__CheckpointRecord *r, int hashed) {
    size_t n = metasac__checkpoint_record__get_packed_size(r);
    if (n > w->cap) {
        w->buf = rl_realloc(w->buf, n);
        w->cap = n;
    }
    metasac__checkpoint_record__pack(r, w->buf);
    uint32_t crc = (uint32_t)crc32(0L, w->buf, (uInt)n);
    uint8_t len[8] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24),
                      (uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24)};
    if (fwrite(len, 1, 8, w->f) != 8 || fwrite(w->buf, 1, n, w->f) != n) w->failed = 1;
    if (hashed) {
        s_fnv(&w->hash, len, 8);
        s_fnv(&w->hash, w->buf, n);
        w->records++;
    }
}

static void s_put_array(writer_t *w, Metasac__CheckpointArray which, const float *data, size_t n) {
    for (size_t off = 0; off < n; off += CHECKPOINT_CHUNK) {
        Metasac__CheckpointChunk c = METASAC__CHECKPOINT_CHUNK__INIT;
        c.array = which;
        c.offset = off;
        c.n_data = n - off < CHECKPOINT_CHUNK ? n - off : CHECKPOINT_CHUNK;
        c.data = (float *)data + off;
        Metasac__CheckpointRecord r = METASAC__CHECKPOINT_RECORD__INIT;
        r.body_case = METASAC__CHECKPOINT_RECORD__BODY_CHUNK;
        r.chunk = &c;
        s_put(w, &r, 1);
    }
}

/* 1 when every x[i] is finite. */
static int s_finite(const float *x, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= !(fabsf(x[i]) <= 3.40282347e+38f);
    return !bad;
}

int checkpoint_save(const char *dir, const ckpt_t *c, char *err, size_t errlen) {
    char tmp[4096], cur[4096], prev[4096];
    if (!s_finite(c->agent->state, c->agent->state_n)) {
        snprintf(err, errlen, "refusing to save a non-finite learner state (the previous "
                 "checkpoints are kept)");
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s/checkpoint.tmp", dir);
    snprintf(cur, sizeof cur, "%s/checkpoint.bin", dir);
    snprintf(prev, sizeof prev, "%s/checkpoint.prev.bin", dir);
    writer_t w = {fopen(tmp, "wb"), 0xcbf29ce484222325ull, 0, NULL, 0, 0};
    if (!w.f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (fwrite(s_magic, 1, 8, w.f) != 8) w.failed = 1;
    s_fnv(&w.hash, s_magic, 8);

    const sac_f *a = c->agent;
    const replay_t *rp = c->replay;
    Metasac__CheckpointHeader h = METASAC__CHECKPOINT_HEADER__INIT;
    uint64_t rng_words[4];
    memcpy(rng_words, c->rng->s, sizeof rng_words);
    h.format_version = CHECKPOINT_FORMAT_VERSION;
    h.task = (char *)c->task;
    h.algo = (char *)c->algo;
    h.obs_dim = (uint32_t)a->shape.obs_dim;
    h.act_dim = (uint32_t)a->shape.act_dim;
    h.hidden = (uint32_t)a->shape.hidden;
    h.env_steps = c->env_steps;
    h.updates = (uint64_t)a->updates;
    h.t_q = (uint64_t)a->t_q;
    h.t_pi = (uint64_t)a->t_pi;
    h.t_alpha = (uint64_t)a->t_alpha;
    h.next_eval = c->next_eval;
    h.n_rng_state = 4;
    h.rng_state = rng_words;
    h.rng_spare = c->rng->spare;
    h.rng_has_spare = c->rng->has_spare != 0;
    h.replay_capacity = rp->capacity;
    h.replay_size = rp->size;
    h.replay_next = rp->next;
    h.replay_inserted = rp->inserted;
    h.d0_capacity = (uint32_t)c->d0->capacity;
    h.d0_size = (uint32_t)c->d0->size;
    h.d0_seen = c->d0->seen;
    h.agent_state_len = a->state_n;
    Metasac__CheckpointRecord r = METASAC__CHECKPOINT_RECORD__INIT;
    r.body_case = METASAC__CHECKPOINT_RECORD__BODY_HEADER;
    r.header = &h;
    s_put(&w, &r, 1);

    size_t O = (size_t)rp->obs_dim, A = (size_t)rp->act_dim, n = rp->size;
    s_put_array(&w, METASAC__CHECKPOINT_ARRAY__CKPT_AGENT_STATE, a->state, a->state_n);
    s_put_array(&w, METASAC__CHECKPOINT_ARRAY__CKPT_OBS, rp->obs, n * O);
    s_put_array(&w, METASAC__CHECKPOINT_ARRAY__CKPT_NEXT_OBS, rp->next_obs, n * O);
    s_put_array(&w, METASAC__CHECKPOINT_ARRAY__CKPT_ACT, rp->act, n * A);
    s_put_array(&w, METASAC__CHECKPOINT_ARRAY__CKPT_REW, rp->rew, n);
    s_put_array(&w, METASAC__CHECKPOINT_ARRAY__CKPT_DONE, rp->done, n);
    s_put_array(&w, METASAC__CHECKPOINT_ARRAY__CKPT_D0, c->d0->obs, (size_t)c->d0->size * O);

    Metasac__CheckpointEnd e = METASAC__CHECKPOINT_END__INIT;
    e.records = w.records;
    e.checksum = w.hash;
    Metasac__CheckpointRecord re = METASAC__CHECKPOINT_RECORD__INIT;
    re.body_case = METASAC__CHECKPOINT_RECORD__BODY_END;
    re.end = &e;
    s_put(&w, &re, 0);
    free(w.buf);
    if (fflush(w.f) != 0 || fsync(fileno(w.f)) != 0) w.failed = 1;
    if (fclose(w.f) != 0) w.failed = 1;
    if (w.failed) {
        snprintf(err, errlen, "writing %s failed: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (access(cur, F_OK) == 0 && rename(cur, prev) != 0) {  /* cur is good: we wrote it */
        snprintf(err, errlen, "cannot keep %s as %s: %s", cur, prev, strerror(errno));
        return -1;
    }
    if (rename(tmp, cur) != 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, cur, strerror(errno));
        return -1;
    }
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* ---- reading --------------------------------------------------------------------------- */

typedef struct {
    float *dst;
    size_t len, filled;
} target_t;

/* The one reader of the format. Every record's CRC, the header, the chunks' order and bounds,
 * the end record and the finiteness of what is kept are checked. state [state_n] receives the
 * agent's state block; with full, the replay, D0 and the run's capacities too (a resume);
 * without (NULL: only the policy is wanted, e.g. metasac-export), the replay and D0 chunks are
 * checked and dropped, whatever the capacities. *hdr and rng[4] receive the header. */
static int s_read(const char *path, const char *task, const char *algo, const nn_shape_t *shape,
                  float *state, size_t state_n, ckpt_t *full, Metasac__CheckpointHeader *hdr_out,
                  uint64_t rng_words[4], char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    uint64_t hash = 0xcbf29ce484222325ull, records = 0;
    uint8_t *buf = rl_malloc(RECORD_MAX);
    char magic[8];
    int rc = -1, have_header = 0, ended = 0;
    Metasac__CheckpointHeader hdr = METASAC__CHECKPOINT_HEADER__INIT;
    target_t t[7];
    memset(t, 0, sizeof t);
    replay_t *rp = full ? full->replay : NULL;
    d0_t *d0 = full ? full->d0 : NULL;
    if (fread(magic, 1, 8, f) != 8 ||
        (memcmp(magic, s_magic, 8) != 0 && memcmp(magic, s_magic_v1, 8) != 0)) {
        snprintf(err, errlen, "%s: not a metasac checkpoint", path);
        goto out;
    }
    if (memcmp(magic, s_magic_v1, 8) == 0) {
        snprintf(err, errlen, "%s: checkpoint format 1, written by an older build (this one "
                 "reads format %u)", path, CHECKPOINT_FORMAT_VERSION);
        goto out;
    }
    s_fnv(&hash, magic, 8);
    for (;;) {
        uint8_t lb[8];
        if (fread(lb, 1, 8, f) != 8) {
            snprintf(err, errlen, "%s: truncated after %llu records (no end record)", path,
                     (unsigned long long)records);
            goto out;
        }
        size_t n = (size_t)lb[0] | (size_t)lb[1] << 8 | (size_t)lb[2] << 16 | (size_t)lb[3] << 24;
        uint32_t crc = (uint32_t)lb[4] | (uint32_t)lb[5] << 8 | (uint32_t)lb[6] << 16 |
                       (uint32_t)lb[7] << 24;
        if (n > RECORD_MAX || fread(buf, 1, n, f) != n) {
            snprintf(err, errlen, "%s: record %llu is truncated or too long (%zu bytes)", path,
                     (unsigned long long)records, n);
            goto out;
        }
        /* nothing of a record is believed before its CRC matches */
        if ((uint32_t)crc32(0L, buf, (uInt)n) != crc) {
            snprintf(err, errlen, "%s: record %llu is corrupt (CRC mismatch): the file is damaged",
                     path, (unsigned long long)records);
            goto out;
        }
        Metasac__CheckpointRecord *r = metasac__checkpoint_record__unpack(NULL, n, buf);
        if (!r) {
            snprintf(err, errlen, "%s: record %llu does not decode", path,
                     (unsigned long long)records);
            goto out;
        }
        int bad = 0;
        if (r->body_case == METASAC__CHECKPOINT_RECORD__BODY_END) {
            if (r->end->records != records || r->end->checksum != hash) {
                snprintf(err, errlen, "%s: checksum or record count mismatch: the file is corrupt",
                         path);
                bad = 1;
            }
            ended = 1;
        } else if (!have_header) {
            const Metasac__CheckpointHeader *h = r->header;
            if (r->body_case != METASAC__CHECKPOINT_RECORD__BODY_HEADER) {
                snprintf(err, errlen, "%s: the first record is not a header", path);
                bad = 1;
            } else if (h->format_version != CHECKPOINT_FORMAT_VERSION) {
                snprintf(err, errlen, "%s: format version %u, this build reads %u", path,
                         h->format_version, CHECKPOINT_FORMAT_VERSION);
                bad = 1;
            } else if (strcmp(h->task, task) || strcmp(h->algo, algo) ||
                       h->obs_dim != (uint32_t)shape->obs_dim ||
                       h->act_dim != (uint32_t)shape->act_dim ||
                       h->hidden != (uint32_t)shape->hidden) {
                snprintf(err, errlen, "%s: a checkpoint of %s/%s (hidden %u), this run is %s/%s "
                         "(hidden %d)", path, h->task, h->algo, h->hidden, task, algo,
                         shape->hidden);
                bad = 1;
            } else if ((rp && (h->replay_capacity != rp->capacity ||
                               h->d0_capacity != (uint32_t)d0->capacity)) ||
                       h->agent_state_len != state_n || h->replay_size > h->replay_capacity ||
                       h->replay_size > (uint64_t)SIZE_MAX / 4 / (h->obs_dim + 1u) ||
                       h->replay_next >= h->replay_capacity || h->d0_size > h->d0_capacity ||
                       h->n_rng_state != 4 || h->replay_inserted < h->replay_size ||
                       (h->replay_size < h->replay_capacity && h->replay_next != h->replay_size) ||
                       h->d0_seen < h->d0_size) {
                snprintf(err, errlen, "%s: replay capacity %llu / D0 %u / state %llu differ from "
                         "this run's %zu / %d / %zu, or the counters disagree", path,
                         (unsigned long long)h->replay_capacity, h->d0_capacity,
                         (unsigned long long)h->agent_state_len, rp ? rp->capacity : 0,
                         d0 ? d0->capacity : 0, state_n);
                bad = 1;
            } else if ((h->rng_state[0] | h->rng_state[1] | h->rng_state[2] |
                        h->rng_state[3]) == 0 || !isfinite(h->rng_spare)) {
                snprintf(err, errlen, "%s: an impossible random-number state", path);
                bad = 1;
            } else {
                hdr = *h;
                hdr.task = hdr.algo = NULL;
                hdr.rng_state = NULL;
                memcpy(rng_words, h->rng_state, 4 * sizeof(uint64_t));
                size_t O = h->obs_dim, A = h->act_dim, sz = (size_t)h->replay_size;
                t[0] = (target_t){state, state_n, 0};
                t[1] = (target_t){rp ? rp->obs : NULL, sz * O, 0};
                t[2] = (target_t){rp ? rp->next_obs : NULL, sz * O, 0};
                t[3] = (target_t){rp ? rp->act : NULL, sz * A, 0};
                t[4] = (target_t){rp ? rp->rew : NULL, sz, 0};
                t[5] = (target_t){rp ? rp->done : NULL, sz, 0};
                t[6] = (target_t){d0 ? d0->obs : NULL, (size_t)h->d0_size * O, 0};
                have_header = 1;
            }
        } else if (r->body_case == METASAC__CHECKPOINT_RECORD__BODY_CHUNK) {
            const Metasac__CheckpointChunk *ch = r->chunk;
            if ((unsigned)ch->array > 6 || ch->offset > t[ch->array].len ||
                ch->n_data > t[ch->array].len - ch->offset || ch->n_data == 0 ||
                ch->offset != t[ch->array].filled) {
                snprintf(err, errlen, "%s: record %llu is empty, out of order or writes outside "
                         "its array", path, (unsigned long long)records);
                bad = 1;
            } else {
                if (t[ch->array].dst)  /* without a target: checked and dropped */
                    memcpy(t[ch->array].dst + ch->offset, ch->data, sizeof(float) * ch->n_data);
                t[ch->array].filled += ch->n_data;
            }
        } else {
            snprintf(err, errlen, "%s: record %llu is not a chunk", path, (unsigned long long)records);
            bad = 1;
        }
        metasac__checkpoint_record__free_unpacked(r, NULL);
        if (bad) goto out;
        if (ended) break;
        s_fnv(&hash, lb, 8);
        s_fnv(&hash, buf, n);
        records++;
    }
    if (!have_header) {
        snprintf(err, errlen, "%s: no header record", path);
        goto out;
    }
    if (fgetc(f) != EOF) {
        snprintf(err, errlen, "%s: bytes after the end record", path);
        goto out;
    }
    for (int k = 0; k < 7; k++) {
        if (t[k].filled != t[k].len) {
            snprintf(err, errlen, "%s: array %d is incomplete (%zu of %zu values)", path, k,
                     t[k].filled, t[k].len);
            goto out;
        }
        if (t[k].dst && !s_finite(t[k].dst, t[k].len)) {  /* never resume a poisoned run */
            snprintf(err, errlen, "%s: array %d holds non-finite values", path, k);
            goto out;
        }
    }
    *hdr_out = hdr;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

int checkpoint_load_file(const char *path, ckpt_t *c, char *err, size_t errlen) {
    sac_f *a = c->agent;
    Metasac__CheckpointHeader hdr;
    uint64_t rng_words[4];
    if (s_read(path, c->task, c->algo, &a->shape, a->state, a->state_n, c, &hdr, rng_words, err,
               errlen) < 0)
        return -1;
    /* everything checked: the scalars last */
    a->updates = (long)hdr.updates;
    a->t_q = (long)hdr.t_q;
    a->t_pi = (long)hdr.t_pi;
    a->t_alpha = (long)hdr.t_alpha;
    memcpy(c->rng->s, rng_words, sizeof rng_words);
    c->rng->spare = hdr.rng_spare;
    c->rng->has_spare = hdr.rng_has_spare;
    c->replay->size = hdr.replay_size;
    c->replay->next = hdr.replay_next;
    c->replay->inserted = hdr.replay_inserted;
    c->d0->size = (int)hdr.d0_size;
    c->d0->seen = hdr.d0_seen;
    c->env_steps = hdr.env_steps;
    c->next_eval = hdr.next_eval;
    return 0;
}

int checkpoint_read_state(const char *path, const char *task, const char *algo,
                          const nn_shape_t *shape, float *state, size_t state_n,
                          uint64_t *env_steps, uint64_t *updates, char *err, size_t errlen) {
    Metasac__CheckpointHeader hdr;
    uint64_t rng_words[4];
    if (s_read(path, task, algo, shape, state, state_n, NULL, &hdr, rng_words, err, errlen) < 0)
        return -1;
    if (env_steps) *env_steps = hdr.env_steps;
    if (updates) *updates = hdr.updates;
    return 0;
}

int checkpoint_load(const char *dir, ckpt_t *c, char *err, size_t errlen) {
    char cur[4096], prev[4096], e1[512] = "", e2[512] = "";
    snprintf(cur, sizeof cur, "%s/checkpoint.bin", dir);
    snprintf(prev, sizeof prev, "%s/checkpoint.prev.bin", dir);
    int have_cur = access(cur, F_OK) == 0, have_prev = access(prev, F_OK) == 0;
    if (!have_cur && !have_prev) return 0;
    if (have_cur && checkpoint_load_file(cur, c, e1, sizeof e1) == 0) {
        snprintf(err, errlen, "%s", cur);
        return 1;
    }
    if (have_prev && checkpoint_load_file(prev, c, e2, sizeof e2) == 0) {
        /* the unusable file goes aside, so the next save does not rotate it over the good one */
        char bad[4200] = "";
        if (have_cur) {
            snprintf(bad, sizeof bad, "%s/checkpoint.corrupt-%lld.bin", dir, (long long)time(NULL));
            if (rename(cur, bad) != 0) snprintf(bad, sizeof bad, "(could not move it: %s)",
                                                strerror(errno));
        }
        snprintf(err, errlen, "%s (refused %s: %s%s%s)", prev, cur, have_cur ? e1 : "missing",
                 bad[0] ? "; kept as " : "", bad);
        return 1;
    }
    snprintf(err, errlen, "no usable checkpoint: %s%s%s", have_cur ? e1 : "",
             have_cur && have_prev ? "; " : "", have_prev ? e2 : "");
    return -1;
}
