/* Policy export: a run directory's checkpoint -> a NumPy .npz file of the deterministic policy
 * (metasac-export; docs/EXPORT.md documents the file).
 *
 * The .npz is written here from the published formats, with no library: a ZIP archive
 * (PKWARE APPNOTE: local file headers, central directory, end record; every member stored,
 * CRC-32 from zlib) of NPY v1.0 members (little-endian '<f4' arrays, C order).
 *
 * The checkpoint is read with checkpoint_read_state (learner/checkpoint.h): the learner's own
 * reader and checks, keeping only the agent's state block, so no replay buffer (GBs for
 * Humanoid) is allocated. It never modifies the run directory (checkpoint_load would move a refused file
 * aside; an export must not touch a run that may still be training). */
#ifndef METASAC_EXPORT_H
#define METASAC_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nn.h"
#include "sac.h"
#include "tasks/task.h"

/* One .npy member of an .npz. dtype "<f4" (data: float[], written little-endian) or
 * "|S" (data: bytes, a 0-d fixed-length byte string, e.g. JSON; ndim must be 0). */
typedef struct {
    const char *name;  /* member name without ".npy" */
    const char *dtype; /* "<f4" or "|S" */
    int ndim;          /* 0, 1 or 2 */
    size_t shape[2];
    const void *data;
    size_t nbytes;     /* "|S": length of the string; "<f4": ignored (4 * product of shape) */
} npy_member_t;

/* Writes the members as an uncompressed .npz at path (via a temporary file in the same
 * directory and a rename: a failed export leaves no partial file). 0, or -1 with err. */
int npz_write(const char *path, const npy_member_t *m, int n, char *err, size_t errlen);

/* Writes agent's policy (phi) as l1_w [H][obs], l1_b [H], l2_w [H][H], l2_b [H], l3_w [2A][H],
 * l3_b [2A], action_low/action_high [A] and metadata (JSON text). 0, or -1 with err. */
int export_write_policy(const char *path, const sac_f *agent, const float *low,
                        const float *high, const char *metadata_json, char *err, size_t errlen);

typedef struct {
    char checkpoint[4200]; /* the checkpoint file the policy came from */
    char skipped[1024];    /* why checkpoint.bin was passed over ("" when it was used) */
    char task[32], algo[32];
    int obs_dim, act_dim, hidden;
    uint64_t env_steps, updates;
} export_info_t;

/* The whole export: run_dir/config.ini -> the learner's shapes and bounds as server_new builds
 * them -> run_dir/checkpoint.bin (else checkpoint.prev.bin) -> out. info may be NULL.
 * 0, or -1 with err (no config, no or no usable checkpoint, output not writable). */
int export_policy(const char *run_dir, const char *out, export_info_t *info, char *err,
                  size_t errlen);

/* export_policy's loading half, for tools that run the policy (metasac-eval): run_dir's
 * config.ini into *cfg, the task's model into *model (the caller destroys it after the agent),
 * and the learner's agent as server_new builds it with the checkpoint's state (checkpoint.bin,
 * else checkpoint.prev.bin; the run directory is never modified). info may be NULL.
 * The agent (sac_destroy_f), or NULL with err and *model NULL. */
sac_f *export_load_agent(const char *run_dir, config_t *cfg, task_model_t **model,
                         export_info_t *info, char *err, size_t errlen);

#endif
