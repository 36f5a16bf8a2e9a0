/* metasac-export: the deterministic policy of a run directory's checkpoint as a NumPy .npz
 * (docs/EXPORT.md). Exit 0, 1 on an error (no or no usable checkpoint, bad config, output not
 * writable), 2 on a usage error. */
#include <stdio.h>
#include <string.h>

#include "blas.h"
#include "export.h"

static void s_usage(FILE *f) {
    fprintf(f,
            "usage: metasac-export RUN_DIR -o POLICY.npz\n\n"
            "Reads RUN_DIR/config.ini and RUN_DIR/checkpoint.bin (checkpoint.prev.bin when that\n"
            "one is missing or unusable) and writes the deterministic policy as an uncompressed\n"
            ".npz: l1_w l1_b l2_w l2_b l3_w l3_b action_low action_high metadata (docs/EXPORT.md).\n"
            "The run directory is only read, so a training run may be exported while it runs.\n");
}

int main(int argc, char **argv) {
    blas_pick_kernels(argv);  /* first: it may re-execute the program */
    const char *run_dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            s_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "metasac-export: %s needs a file name\n", argv[i]);
                return 2;
            }
            out = argv[++i];
        } else if (!strncmp(argv[i], "--output=", 9)) {
            out = argv[i] + 9;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "metasac-export: unknown option %s (see --help)\n", argv[i]);
            return 2;
        } else if (run_dir) {
            fprintf(stderr, "metasac-export: one run directory only ('%s' and '%s')\n", run_dir,
                    argv[i]);
            return 2;
        } else {
            run_dir = argv[i];
        }
    }
    if (!run_dir || !out || !out[0]) {
        s_usage(stderr);
        return 2;
    }
    char err[4096];
    export_info_t info;
    if (export_policy(run_dir, out, &info, err, sizeof err) < 0) {
        fprintf(stderr, "metasac-export: error: %s\n", err);
        return 1;
    }
    if (info.skipped[0])
        fprintf(stderr, "metasac-export: warning: checkpoint.bin passed over (%s); exported the "
                "previous checkpoint\n", info.skipped);
    fprintf(stderr, "metasac-export: %s -> %s (%s/%s, obs %d, act %d, hidden %d, env steps %llu, "
            "weight version %llu)\n", info.checkpoint, out, info.task, info.algo, info.obs_dim,
            info.act_dim, info.hidden, (unsigned long long)info.env_steps,
            (unsigned long long)info.updates);
    return 0;
}
