/* Learner checkpoints: the versioned protobuf file of proto/checkpoint.proto, written
 * atomically (temporary file, fsync, rename) as <dir>/checkpoint.bin, the previous one kept as
 * <dir>/checkpoint.prev.bin. Every record carries a CRC32 checked before anything in it is
 * believed. Loading refuses a corrupt, truncated, mismatched or non-finite file with a clear
 * message and falls back to the previous one, moving the refused file aside (as
 * checkpoint.corrupt-<time>.bin) so the next save cannot rotate it over the good one. A
 * non-finite state is never saved. */
#ifndef METASAC_CHECKPOINT_H
#define METASAC_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "replay.h"
#include "rng.h"
#include "sac.h"

#define CHECKPOINT_FORMAT_VERSION 2u
#define CHECKPOINT_CHUNK (1u << 22)  /* floats per chunk record */

/* What a checkpoint holds, by reference: the objects are written from / restored into. */
typedef struct {
    const char *task, *algo;  /* identity: a checkpoint of another task/algo is refused */
    sac_f *agent;             /* networks, targets, optimizer states, log alpha, step counts */
    replay_t *replay;
    d0_t *d0;
    rng_t *rng;               /* the learner's sampling stream */
    uint64_t env_steps;       /* in/out */
    uint64_t next_eval;       /* in/out */
} ckpt_t;

/* Writes <dir>/checkpoint.bin atomically. 0, or -1 with err (I/O error; nothing replaced). */
int checkpoint_save(const char *dir, const ckpt_t *c, char *err, size_t errlen);

/* Restores from <dir>/checkpoint.bin, or from checkpoint.prev.bin when that one is unusable.
 * Returns 1 restored (which file in err as information), 0 no checkpoint exists, -1 none
 * usable (err says why; the objects may be partly overwritten: start afresh or give up). */
int checkpoint_load(const char *dir, ckpt_t *c, char *err, size_t errlen);

/* Restores from one file. 0 or -1 with err. */
int checkpoint_load_file(const char *path, ckpt_t *c, char *err, size_t errlen);

/* Only the agent's state block (state [state_n], e.g. sac_f.state) of a checkpoint of task/algo
 * and shape, with the same checks as checkpoint_load_file but none of the run's capacities: the
 * replay and D0 are checked and dropped (metasac-export needs no replay-sized memory).
 * env_steps and updates (the weight version) may be NULL. 0, or -1 with err. */
int checkpoint_read_state(const char *path, const char *task, const char *algo,
                          const nn_shape_t *shape, float *state, size_t state_n,
                          uint64_t *env_steps, uint64_t *updates, char *err, size_t errlen);

#endif
