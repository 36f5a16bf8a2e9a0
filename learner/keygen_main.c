/* metasac-keygen: creates CURVE key pairs for the learner and the actors (see docs/SECURITY.md).
 * Exit codes: 0 ok, 1 error (message on stderr), 2 usage. */
#include <stdio.h>
#include <string.h>

#include "curve.h"

static void s_usage(FILE *out) {
    fprintf(out,
            "usage: metasac-keygen PREFIX          write PREFIX.key (secret, mode 0600) and\n"
            "                                      PREFIX.pub, print the public key\n"
            "       metasac-keygen --public FILE   print the public key of a secret key file\n"
            "       metasac-keygen --help\n"
            "\n"
            "Existing files are never overwritten. PREFIX.pub holds \"KEY NAME\" (NAME = the last\n"
            "part of PREFIX), so `cat PREFIX.pub >> authorized_keys` allows the key by name.\n");
}

int main(int argc, char **argv) {
    char err[1024];
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        s_usage(stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--public") == 0) {
        char sec[41], pub[41];
        if (curve_load_secret(argv[2], sec, pub, err, sizeof err) < 0) {
            fprintf(stderr, "metasac-keygen: %s\n", err);
            return 1;
        }
        printf("%s\n", pub);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-' || argv[1][0] == '\0') {
        s_usage(stderr);
        return 2;
    }
    char path[4096], pub[41];
    if (curve_keygen(argv[1], err, sizeof err) < 0) {
        fprintf(stderr, "metasac-keygen: %s\n", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s.pub", argv[1]);
    if (curve_load_public(path, pub, err, sizeof err) < 0) {
        fprintf(stderr, "metasac-keygen: %s\n", err);
        return 1;
    }
    fprintf(stderr, "metasac-keygen: wrote %s.key (secret, mode 0600) and %s\n", argv[1], path);
    printf("%s\n", pub);
    return 0;
}
