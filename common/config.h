/* config: every run parameter, driven by ONE table (common/config.c, s_table).
 *
 * Each table entry holds the key, its type, the config_t field it fills, the default (as text,
 * parsed by the same code as user input), the bounds and the help text. Everything else derives
 * from it: config_defaults, the file parser (INI via libinih: `key = value` lines, '#' or ';'
 * comments, optionally under a [metasac] section), `--key=value` / `--key value` flags, bound
 * checks with errors naming the key, the bad value and the allowed range, config_dump (the
 * resolved config in the file format, re-readable) and config_write_sample (the documented
 * deploy/metasac.conf.sample).
 *
 * Errors are environmental (a user's typo): functions return -1 and write one line into the
 * caller's err[0..errlen) (err may be NULL); they never exit, log or abort on bad input.
 * A config_t is a plain value (strings are inline arrays): copy it with `=`, share it const.
 */
#ifndef METASAC_CONFIG_H
#define METASAC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_STR_MAX 160 /* string values are at most CONFIG_STR_MAX - 1 bytes */
#define CONFIG_ERR_MAX 256 /* a buffer this large holds any error message */

typedef enum { TASK_HOPPER, TASK_WALKER2D, TASK_HALF_CHEETAH, TASK_ANT, TASK_HUMANOID } config_task_t;
typedef enum { ALGO_SAC_V1, ALGO_SAC_V2, ALGO_META_SAC, ALGO_TD3 } config_algo_t;
typedef enum { D0_FIXED, D0_RESERVOIR } config_d0_mode_t;

/* The resolved configuration. Enum fields hold the enums above (log_level holds a log_level_t);
 * target_entropy is NAN for "auto" (use config_target_entropy); total_steps 0 means the task's
 * paper length (use config_total_steps). */
typedef struct {
    /* run */
    int task;                     /* config_task_t */
    int algo;                     /* config_algo_t */
    int64_t seed;
    int64_t total_steps;          /* env steps; 0 = per task (hopper 1M, humanoid 10M, else 3M) */
    char run_dir[CONFIG_STR_MAX];
    int64_t checkpoint_interval;  /* env steps between checkpoints; 0 = only at exit */
    bool sync;                    /* synchronous reproducible mode */
    int log_level;                /* log_level_t */
    int update_threads;
    int blas_threads;
    /* networks and optimisation */
    int hidden;
    int batch;
    double gamma;
    double tau;
    double critic_lr;
    double policy_lr;
    double alpha_lr;
    bool critic_two_steps;
    /* entropy temperature */
    double alpha;                 /* fixed alpha (sac_v1) */
    double target_entropy;        /* NAN = auto (-act_dim) */
    /* Meta-SAC */
    double rms_rho;
    double rms_eps;
    double meta_clip;
    int d0_size;
    int d0_mode;                  /* config_d0_mode_t */
    bool meta_on_replay;
    bool resample;
    bool meta_scaled_action;
    bool meta_classic_q;
    /* TD3 */
    double td3_policy_noise;
    double td3_noise_clip;
    int td3_policy_delay;
    double td3_expl_noise;
    /* schedule */
    int64_t replay_capacity;
    double replay_ratio;
    int64_t random_steps;
    int64_t update_after;
    int64_t eval_interval;
    int eval_episodes;
    int evaluator_nice;
    /* distributed runtime */
    int actors;
    int envs_per_actor;
    int send_batch;
    int broadcast_interval;
    char learner_bind[CONFIG_STR_MAX];
    char learner_connect[CONFIG_STR_MAX];
    char weights_bind[CONFIG_STR_MAX];
    char weights_connect[CONFIG_STR_MAX];
    char advertise_host[CONFIG_STR_MAX];  /* host written for a wildcard bind; "" = host name */
    int metrics_port;             /* Prometheus endpoint: 0 off, -1 any free port */
    int report_ms;                /* throughput line (and metrics.jsonl line) interval */
    int64_t max_msg_bytes;
    int heartbeat_ms;
    int heartbeat_timeout_ms;
    /* trust: what the learner accepts from the network */
    double max_abs_obs;           /* |observation| and |reset state| above this: batch refused */
    double max_abs_reward;        /* |reward| above this: batch refused */
    int credit_timeout_ms;        /* credits held this long without sending are taken back */
    int max_peers;                /* connected actors + evaluators at most */
    int max_peers_per_host;       /* of them from one network address */
    int rollback_interval;        /* updates between verified snapshots (non-finite guard) */
    int log_interval_ms;          /* repeated warnings of one kind from one peer: one line per */
    char curve_secret_key[CONFIG_STR_MAX];       /* learner's CURVE secret key file; "" = none */
    char curve_authorized_keys[CONFIG_STR_MAX];  /* allowed actor public keys, one per line */
    bool insecure;                /* allow a non-loopback bind without CURVE */
} config_t;

typedef enum {
    CONFIG_INT,    /* int field; bounds imin..imax */
    CONFIG_INT64,  /* int64_t field; bounds imin..imax; accepts exact integers like 1e6 */
    CONFIG_DOUBLE, /* double field; bounds dmin..dmax, open per flags; NaN/Inf never */
    CONFIG_BOOL,   /* bool field; true|false|yes|no|on|off|1|0 */
    CONFIG_STRING, /* char[CONFIG_STR_MAX] field; length imin..imax; no control chars, ';', '#' */
    CONFIG_ENUM,   /* int field; one of names[] (index stored) */
} config_type_t;

#define CONFIG_MIN_OPEN 1u /* double: value must be > dmin */
#define CONFIG_MAX_OPEN 2u /* double: value must be < dmax */
#define CONFIG_AUTO 4u     /* double: the word "auto" is accepted and stored as NAN */

typedef struct {
    const char *name;
    config_type_t type;
    size_t offset;             /* of the field in config_t */
    const char *def;           /* default, in the file syntax */
    int64_t imin, imax;        /* int/int64 bounds; string length bounds */
    double dmin, dmax;         /* double bounds */
    unsigned flags;            /* CONFIG_MIN_OPEN | CONFIG_MAX_OPEN | CONFIG_AUTO */
    const char *const *names;  /* enum: NULL-terminated list of names */
    const char *help;          /* one or more sentences; the sample config prints it */
} config_entry_t;

/* The table (static storage); *n receives its length. */
const config_entry_t *config_table(size_t *n);
/* The entry for key, or NULL. */
const config_entry_t *config_find(const char *key);

/* Fills every field with its default. */
void config_defaults(config_t *cfg);
/* Parses value for key, checks its bounds and stores it. -1 (cfg unchanged) on an unknown key,
 * an unparsable value or a value out of range; the error names key, value and allowed range. */
int config_set(config_t *cfg, const char *key, const char *value, char *err, size_t errlen);
/* Writes key's value in the file syntax into buf[0..buflen) (truncated to fit). -1 on an
 * unknown key or an empty buffer. */
int config_get(const config_t *cfg, const char *key, char *buf, size_t buflen);
/* Applies a config file over cfg. An inline comment (" # ..." or " ; ...") after a value is
 * not part of it; a key another metasac program uses (config_actor_schema, ...) is accepted and
 * ignored. -1 on an unreadable file, a syntax error, `key: value` (libinih would take ':' as
 * '='; refused so that one syntax is documented), a section other than [metasac], a key given
 * twice, an unknown key (with "did you mean"), or any config_set error; the error has
 * path:line. cfg may be partly updated on failure (callers start over or give up). */
int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen);
/* Applies flags argv[1..argc): --key=value, --key value, and for booleans also bare --key
 * (true) and --no-key (false). --config PATH / --config=PATH is skipped (config_load handles it).
 * Returns 0, 1 when --help or -h was seen (nothing else applied after it), or -1 on an unknown
 * key (with "did you mean 'x'?" when a key is close, or naming the program a key belongs to),
 * a missing value, a positional argument or a config_set error. */
int config_parse_args(config_t *cfg, int argc, char *const *argv, char *err, size_t errlen);
/* Rules across keys (batch <= replay_capacity, ...) and every field's bounds (for a config_t
 * assembled by hand). 0 or -1. */
int config_check(const config_t *cfg, char *err, size_t errlen);
/* The whole start-up: defaults, then the file named by --config (if any), then the other flags
 * (flags override the file whatever their order), then config_check. Returns 0, 1 for --help,
 * or -1. */
int config_load(config_t *cfg, int argc, char *const *argv, char *err, size_t errlen);

/* Writes every key as `key = value` lines under a header comment, in table order, in a form
 * config_load_file reads back to an identical config. */
void config_dump(const config_t *cfg, FILE *f);
/* Writes the documented sample config: for each key its help, type and allowed values as
 * comments, then `key = default`. deploy/metasac.conf.sample is this output. */
void config_write_sample(FILE *f);
/* 1 if every table field is equal (NAN equals NAN: "auto"), else 0. */
int config_equal(const config_t *a, const config_t *b);

/* ---------------------------------------------------------------- every program's table
 *
 * The same machinery serves every program: a config_schema_t names a program, its table (entries
 * whose offsets point into that program's struct), deprecated flag spellings and cross-key rules.
 * Keys shared by several programs (envs_per_actor, heartbeat_ms, log_level, seed, ...) are
 * defined once in config.c and have the same name, type, bounds and help everywhere, so ONE
 * config file serves all programs: a program reading a file accepts, and ignores, a key that
 * belongs to another program's table; a key no program knows is refused with a suggestion.
 * Flags are stricter: a flag must be one of the program's own keys (or a deprecated alias,
 * which works and writes a one-line warning). */

/* A deprecated flag spelling: "--envs" or "-n" -> key. Flags only, never in files. */
typedef struct {
    const char *flag;
    const char *key;
} config_alias_t;

typedef struct {
    const char *program;               /* "metasac-actor": errors, warnings and help */
    const char *usage;                 /* the usage line's arguments after the program name */
    const config_entry_t *table;
    size_t n;
    size_t size;                       /* of the struct the offsets point into */
    const config_alias_t *aliases;     /* deprecated flag spellings, may be NULL */
    size_t naliases;
    const char *positional;            /* key a bare argument sets (once), or NULL: refused */
    int (*check)(const void *cfg, char *err, size_t errlen); /* cross-key rules, or NULL */
} config_schema_t;

/* metasac-actor's options (an actor or the evaluator); actor_main maps them to actor_opts_t. */
typedef struct {
    char learner[CONFIG_STR_MAX];          /* learner ROUTER endpoint; required */
    char weights[CONFIG_STR_MAX];          /* learner PUB endpoint; required unless evaluator */
    bool evaluator;
    int envs_per_actor;
    int id;                                /* actor id to ask for; 0 = any */
    int heartbeat_ms;
    int heartbeat_timeout_ms;
    int give_up_ms;                        /* 0 = never */
    char curve_server_key[CONFIG_STR_MAX]; /* learner's public key file; "" = no CURVE */
    char curve_key[CONFIG_STR_MAX];        /* this actor's secret key file */
    int log_level;                         /* log_level_t */
    int64_t max_msg_bytes;
} config_actor_t;

/* metasac-env's options. task is the name as given (Gym names like Hopper-v2 too; env_main
 * checks it); the first bare argument sets it. */
typedef struct {
    char task[CONFIG_STR_MAX];
    int64_t random_episodes;
    int64_t seed;
    int64_t stream;
    int log_level;                         /* log_level_t */
} config_env_t;

extern const config_schema_t config_learner_schema;  /* config_t: metasac-learner, metasac-run */
extern const config_schema_t config_actor_schema;    /* config_actor_t: metasac-actor */
extern const config_schema_t config_env_schema;      /* config_env_t: metasac-env */

/* The same operations as above, for any schema; cfg points to the schema's struct. Deprecated
 * aliases write "PROGRAM: --old is deprecated, use --new" lines to warn (NULL = silent). */
const config_entry_t *config_schema_find(const config_schema_t *s, const char *key);
void config_schema_defaults(const config_schema_t *s, void *cfg);
int config_schema_set(const config_schema_t *s, void *cfg, const char *key, const char *value,
                      char *err, size_t errlen);
int config_schema_load_file(const config_schema_t *s, void *cfg, const char *path, char *err,
                            size_t errlen);
int config_schema_parse_args(const config_schema_t *s, void *cfg, int argc, char *const *argv,
                             FILE *warn, char *err, size_t errlen);
int config_schema_check(const config_schema_t *s, const void *cfg, char *err, size_t errlen);
int config_schema_load(const config_schema_t *s, void *cfg, int argc, char *const *argv,
                       FILE *warn, char *err, size_t errlen);
/* --help text: the usage line, then every flag with its help, type, range and default, then
 * the deprecated spellings. */
void config_schema_write_help(const config_schema_t *s, FILE *f);
/* The closest key any program knows (edit distance <= 2, or key is a prefix of it), preferring
 * the schema's own keys; NULL when nothing is close. */
const char *config_suggest(const config_schema_t *s, const char *key);

/* Names of enum values; "?" when out of range. */
const char *config_task_name(int task);
const char *config_algo_name(int algo);
/* Resolved "auto" values. */
int64_t config_total_steps(const config_t *cfg);
double config_target_entropy(const config_t *cfg, int act_dim);

#endif
