#include "export.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "alloc.h"
#include "checkpoint.h"
#include "checkpoint.pb-c.h"
#include "config.h"
#include "tasks/task.h"

/* ---- .npz: NPY v1.0 members in a stored ZIP ------------------------------------------------ */

static void s_le16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void s_le32(uint8_t *p, uint32_t v) {
    s_le16(p, v);
    s_le16(p + 2, v >> 16);
}

/* The member's bytes (NPY header then data) in a new buffer; *n its length. NULL + err when the
 * member cannot be represented. */
static uint8_t *s_npy(const npy_member_t *m, size_t *n, char *err, size_t errlen) {
    char descr[32], shape[64], dict[160];
    size_t count = 1, data_n;
    int is_f4 = strcmp(m->dtype, "<f4") == 0;
    if (!is_f4 && !(strcmp(m->dtype, "|S") == 0 && m->ndim == 0 && m->nbytes > 0)) {
        snprintf(err, errlen, "npz member %s: unsupported dtype %s/ndim %d", m->name, m->dtype,
                 m->ndim);
        return NULL;
    }
    if (m->ndim == 0)
        snprintf(shape, sizeof shape, "()");
    else if (m->ndim == 1)
        snprintf(shape, sizeof shape, "(%zu,)", m->shape[0]);
    else
        snprintf(shape, sizeof shape, "(%zu, %zu)", m->shape[0], m->shape[1]);
    for (int d = 0; d < m->ndim; d++) count *= m->shape[d];
    if (is_f4) {
        snprintf(descr, sizeof descr, "<f4");
        data_n = 4 * count;
    } else {
        snprintf(descr, sizeof descr, "|S%zu", m->nbytes);
        data_n = m->nbytes;
    }
    int dn = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                      descr, shape);
    /* magic (6) + version (2) + header length (2) + dict + spaces + '\n': a multiple of 64, so
     * the data is aligned (the NPY spec's requirement for v1.0 readers) */
    size_t head = ((size_t)10 + (size_t)dn + 1 + 63) / 64 * 64;
    uint8_t *b = rl_malloc(head + data_n);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    s_le16(b + 8, (uint32_t)(head - 10));
    memcpy(b + 10, dict, (size_t)dn);
    memset(b + 10 + dn, ' ', head - 10 - (size_t)dn - 1);
    b[head - 1] = '\n';
    if (is_f4) {
        const float *x = m->data;
        for (size_t i = 0; i < count; i++) {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            s_le32(b + head + 4 * i, u);
        }
    } else {
        memcpy(b + head, m->data, data_n);
    }
    *n = head + data_n;
    return b;
}

int npz_write(const char *path, const npy_member_t *m, int n, char *err, size_t errlen) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    /* DOS time and date of every member: 1980-01-01 00:00 (the ZIP epoch), so one policy always
     * gives the same bytes */
    const uint32_t dos_time = 0, dos_date = (0u << 9) | (1u << 5) | 1u;
    uint8_t *cd = NULL;  /* the central directory, built while the members are written */
    size_t cd_n = 0, off = 0;
    int failed = 0, rc = -1;
    err[0] = 0;
    for (int k = 0; k < n && !failed; k++) {
        char name[128];
        int nl = snprintf(name, sizeof name, "%s.npy", m[k].name);
        size_t len;
        uint8_t *b = s_npy(&m[k], &len, err, errlen);
        if (!b) goto out;
        if (len > 0xfffffffeu || off + len + 30 + (size_t)nl > 0xfffffffeu) {
            snprintf(err, errlen, "npz member %s: too large for a ZIP without ZIP64", m[k].name);
            free(b);
            goto out;
        }
        uint32_t crc = (uint32_t)crc32(0L, b, (uInt)len);
        uint8_t lh[30];
        s_le32(lh, 0x04034b50u);      /* local file header signature */
        s_le16(lh + 4, 20);           /* version needed to extract: 2.0 */
        s_le16(lh + 6, 0);            /* flags */
        s_le16(lh + 8, 0);            /* method: stored */
        s_le16(lh + 10, dos_time);
        s_le16(lh + 12, dos_date);
        s_le32(lh + 14, crc);
        s_le32(lh + 18, (uint32_t)len);  /* compressed size */
        s_le32(lh + 22, (uint32_t)len);  /* uncompressed size */
        s_le16(lh + 26, (uint32_t)nl);
        s_le16(lh + 28, 0);           /* extra field length */
        if (fwrite(lh, 1, 30, f) != 30 || fwrite(name, 1, (size_t)nl, f) != (size_t)nl ||
            fwrite(b, 1, len, f) != len)
            failed = 1;
        free(b);
        cd = rl_realloc(cd, cd_n + 46 + (size_t)nl);
        uint8_t *c = cd + cd_n;
        s_le32(c, 0x02014b50u);       /* central directory header signature */
        s_le16(c + 4, 20);            /* version made by: 2.0, MS-DOS attributes */
        memcpy(c + 6, lh + 4, 26);    /* version needed .. file name length, as above */
        s_le16(c + 30, 0);            /* file comment length */
        s_le16(c + 32, 0);            /* disk number start */
        s_le16(c + 34, 0);            /* internal attributes */
        s_le32(c + 36, 0);            /* external attributes */
        s_le32(c + 42, (uint32_t)off);  /* offset of the local header */
        memcpy(c + 46, name, (size_t)nl);
        cd_n += 46 + (size_t)nl;
        off += 30 + (size_t)nl + len;
    }
    if (!failed) {
        uint8_t end[22];
        s_le32(end, 0x06054b50u);     /* end of central directory signature */
        s_le16(end + 4, 0);           /* this disk */
        s_le16(end + 6, 0);           /* disk of the central directory */
        s_le16(end + 8, (uint32_t)n); /* entries on this disk */
        s_le16(end + 10, (uint32_t)n);
        s_le32(end + 12, (uint32_t)cd_n);
        s_le32(end + 16, (uint32_t)off);
        s_le16(end + 20, 0);          /* comment length */
        if (fwrite(cd, 1, cd_n, f) != cd_n || fwrite(end, 1, 22, f) != 22) failed = 1;
    }
    if (fflush(f) != 0) failed = 1;
    if (failed) {
        snprintf(err, errlen, "writing %s failed: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "writing %s failed: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc != 0) unlink(tmp);
    free(cd);
    return rc;
}

/* ---- the policy file ------------------------------------------------------------------------ */

int export_write_policy(const char *path, const sac_f *agent, const float *low,
                        const float *high, const char *metadata_json, char *err, size_t errlen) {
    const nn_shape_t *s = &agent->shape;
    const nn_layer_t *L = s->pi;
    static const char *const names[3][2] = {{"l1_w", "l1_b"}, {"l2_w", "l2_b"}, {"l3_w", "l3_b"}};
    npy_member_t m[9];
    int n = 0;
    for (int l = 0; l < 3; l++) {
        /* W is [out][in] row-major in phi (common/nn.h), which is NumPy's C order as is */
        m[n++] = (npy_member_t){names[l][0], "<f4", 2, {(size_t)L[l].out, (size_t)L[l].in},
                                agent->phi + L[l].w, 0};
        m[n++] = (npy_member_t){names[l][1], "<f4", 1, {(size_t)L[l].out, 0},
                                agent->phi + L[l].b, 0};
    }
    m[n++] = (npy_member_t){"action_low", "<f4", 1, {(size_t)s->act_dim, 0}, low, 0};
    m[n++] = (npy_member_t){"action_high", "<f4", 1, {(size_t)s->act_dim, 0}, high, 0};
    m[n++] = (npy_member_t){"metadata", "|S", 0, {0, 0}, metadata_json, strlen(metadata_json)};
    return npz_write(path, m, n, err, errlen);
}

/* The learner's agent as server_new builds it from cfg (keep in step with learner/server.c). */
static sac_f *s_agent_new(const config_t *cfg, const nn_shape_t *shape, const float *low,
                          const float *high) {
    int A = shape->act_dim;
    sac_opts_t o;
    sac_opts_from_config(&o, cfg, A);
    int cap = cfg->batch > cfg->d0_size ? cfg->batch : cfg->d0_size;
    return sac_new_f(shape, &o, low, high, cap, (uint64_t)cfg->seed, RNG_STREAM_LEARNER);
}

sac_f *export_load_agent(const char *run_dir, config_t *cfg, task_model_t **model_out,
                         export_info_t *info, char *err, size_t errlen) {
    export_info_t local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    *model_out = NULL;
    char path[4200], cur[4200], prev[4200], e1[1024] = "", e2[1024] = "", cerr[CONFIG_ERR_MAX];
    snprintf(path, sizeof path, "%s/config.ini", run_dir);
    config_defaults(cfg);
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "%s: %s (is %s a run directory?)", path, strerror(errno), run_dir);
        return NULL;
    }
    if (config_load_file(cfg, path, cerr, sizeof cerr) < 0 ||
        config_check(cfg, cerr, sizeof cerr) < 0) {
        snprintf(err, errlen, "%s", cerr);
        return NULL;
    }
    const char *task = config_task_name(cfg->task), *algo = config_algo_name(cfg->algo);
    task_model_t *model = task_model_new(task);
    if (!model) {
        snprintf(err, errlen, "cannot load task '%s' (models not found? set METASAC_MODEL_DIR)",
                 task);
        return NULL;
    }
    int O = task_model_obs_dim(model), A = task_model_act_dim(model);
    const float *low = task_model_action_low(model), *high = task_model_action_high(model);
    nn_shape_t shape;
    nn_shape_init(&shape, O, A, cfg->hidden);
    sac_f *agent = s_agent_new(cfg, &shape, low, high);
    float *state = rl_aligned(sizeof(float) * agent->state_n);

    snprintf(cur, sizeof cur, "%s/checkpoint.bin", run_dir);
    snprintf(prev, sizeof prev, "%s/checkpoint.prev.bin", run_dir);
    int have_cur = access(cur, F_OK) == 0, have_prev = access(prev, F_OK) == 0;
    const char *used = NULL;
    if (!have_cur && !have_prev) {
        snprintf(err, errlen, "no checkpoint in %s (neither checkpoint.bin nor "
                 "checkpoint.prev.bin): the run has not saved one yet", run_dir);
    } else if (have_cur && checkpoint_read_state(cur, task, algo, &shape, state,
                                                   agent->state_n, &info->env_steps,
                                                   &info->updates, e1, sizeof e1) == 0) {
        used = cur;
    } else if (have_prev && checkpoint_read_state(prev, task, algo, &shape, state,
                                                   agent->state_n, &info->env_steps,
                                                   &info->updates, e2, sizeof e2) == 0) {
        used = prev;
        snprintf(info->skipped, sizeof info->skipped, "%s", have_cur ? e1 : "checkpoint.bin is missing");
    } else {
        snprintf(err, errlen, "no usable checkpoint in %s: %s%s%s", run_dir, have_cur ? e1 : "",
                 have_cur && have_prev ? "; " : "", have_prev ? e2 : "");
    }
    if (!used) {
        free(state);
        sac_destroy_f(&agent);
        task_model_destroy(&model);
        return NULL;
    }
    memcpy(agent->state, state, sizeof(float) * agent->state_n);
    free(state);
    snprintf(info->checkpoint, sizeof info->checkpoint, "%s", used);
    snprintf(info->task, sizeof info->task, "%s", task);
    snprintf(info->algo, sizeof info->algo, "%s", algo);
    info->obs_dim = O;
    info->act_dim = A;
    info->hidden = cfg->hidden;
    *model_out = model;
    return agent;
}

int export_policy(const char *run_dir, const char *out, export_info_t *info, char *err,
                  size_t errlen) {
    export_info_t local;
    if (!info) info = &local;
    config_t cfg;
    task_model_t *model;
    sac_f *agent = export_load_agent(run_dir, &cfg, &model, info, err, errlen);
    if (!agent) return -1;
    size_t cl = strlen(info->checkpoint);
    const char *base = cl >= 19 && !strcmp(info->checkpoint + cl - 19, "checkpoint.prev.bin")
                           ? "checkpoint.prev.bin" : "checkpoint.bin";
    char meta[1024];
    snprintf(meta, sizeof meta,
             "{\"format\": \"metasac-policy\", \"format_version\": 1, \"task\": \"%s\", "
             "\"algo\": \"%s\", \"obs_dim\": %d, \"act_dim\": %d, \"hidden\": %d, "
             "\"env_steps\": %llu, \"weight_version\": %llu, \"checkpoint\": \"%s\", "
             "\"activation\": \"relu\", "
             "\"action\": \"c * tanh(mu) + b, c = (high - low) / 2, b = (high + low) / 2\"}",
             info->task, info->algo, info->obs_dim, info->act_dim, info->hidden,
             (unsigned long long)info->env_steps, (unsigned long long)info->updates, base);
    int rc = export_write_policy(out, agent, task_model_action_low(model),
                                 task_model_action_high(model), meta, err, errlen);
    sac_destroy_f(&agent);
    task_model_destroy(&model);
    return rc;
}
