/* curve: key files (modes, no overwrite, round trips, every bad line refused with path:line),
 * the allow-list, local endpoints, the ZAP handler answering raw RFC 27 requests, and real
 * CURVE sockets over tcp://127.0.0.1: allowed / unknown / plain clients, a key added to the
 * allow-list during the run, PUB/SUB, log rate limiting, clean shutdown in every order. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "log.h"

/* ---- helpers ------------------------------------------------------------------------- */

static char s_dir[64];
static char s_err_buf[1024];

static void s_setup(void) {
    cr_redirect_stderr(); /* the logger writes to stderr too: keep the test output clean */
    snprintf(s_dir, sizeof s_dir, "/tmp/metasac-curve-XXXXXX");
    cr_assert_not_null(mkdtemp(s_dir));
    log_level = LOG_INFO;
}

static void s_teardown(void) {
    log_set_file(NULL);
    DIR *d = opendir(s_dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", s_dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(s_dir);
}

/* A path in the test directory (static rotating buffers: up to 8 live at once). */
static const char *s_path(const char *name) {
    static char bufs[8][256];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, 256, "%s/%s", s_dir, name);
    return b;
}

static void s_write(const char *path, const char *text, mode_t mode) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(path, mode), 0);
}

static void s_append(const char *path, const char *text) {
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* The whole file (static buffer). */
static const char *s_read(const char *path) {
    static char text[1 << 16];
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static double s_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

static void s_sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

typedef struct {
    char pub[41], sec[41];
} keypair_t;

static keypair_t s_keypair(void) {
    keypair_t k;
    cr_assert_eq(zmq_curve_keypair(k.pub, k.sec), 0);
    return k;
}

/* ---- key files ----------------------------------------------------------------------- */

Test(curve, keygen_writes_private_key_and_public_key_and_never_overwrites, .init = s_setup,
     .fini = s_teardown, .timeout = 10) {
    umask(022);
    const char *prefix = s_path("node1-actor");
    cr_assert_eq(curve_keygen(prefix, s_err_buf, sizeof s_err_buf), 0, "%s", s_err_buf);
    struct stat st;
    cr_assert_eq(stat(s_path("node1-actor.key"), &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
    cr_assert_eq(stat(s_path("node1-actor.pub"), &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0644, "mode %o", st.st_mode & 07777);

    char sec[41], pub[41], pub2[41];
    cr_assert_eq(curve_load_secret(s_path("node1-actor.key"), sec, pub, s_err_buf,
                                   sizeof s_err_buf), 0, "%s", s_err_buf);
    cr_assert_eq(curve_load_public(s_path("node1-actor.pub"), pub2, s_err_buf,
                                   sizeof s_err_buf), 0, "%s", s_err_buf);
    cr_assert_str_eq(pub, pub2);
    char expect[64];
    snprintf(expect, sizeof expect, "%s node1-actor\n", pub);
    cr_assert_str_eq(s_read(s_path("node1-actor.pub")), expect);
    char before[128];
    snprintf(before, sizeof before, "%s", s_read(s_path("node1-actor.key")));
    cr_assert_eq(strlen(before), 41);

    /* again: refused, both files untouched */
    cr_assert_eq(curve_keygen(prefix, s_err_buf, sizeof s_err_buf), -1);
    cr_assert_not_null(strstr(s_err_buf, "exists"), "%s", s_err_buf);
    cr_assert_str_eq(s_read(s_path("node1-actor.key")), before);
    cr_assert_str_eq(s_read(s_path("node1-actor.pub")), expect);

    /* only the .pub exists: refused, and no .key left behind */
    s_write(s_path("lone.pub"), "x\n", 0644);
    cr_assert_eq(curve_keygen(s_path("lone"), s_err_buf, sizeof s_err_buf), -1);
    cr_assert_not_null(strstr(s_err_buf, "lone.pub exists"), "%s", s_err_buf);
    cr_assert_eq(access(s_path("lone.key"), F_OK), -1);

    /* a directory that does not exist: an error, not a crash */
    cr_assert_eq(curve_keygen(s_path("nodir/x"), s_err_buf, sizeof s_err_buf), -1);
    cr_assert_not_null(strstr(s_err_buf, "nodir/x.key"), "%s", s_err_buf);

    /* two key pairs differ */
    cr_assert_eq(curve_keygen(s_path("node2"), s_err_buf, sizeof s_err_buf), 0);
    cr_assert_eq(curve_load_public(s_path("node2.pub"), pub2, s_err_buf, sizeof s_err_buf), 0);
    cr_assert_str_neq(pub, pub2);
}

Test(curve, load_round_trips_with_comments_and_blank_lines, .init = s_setup, .fini = s_teardown) {
    keypair_t k = s_keypair();
    char text[256];
    snprintf(text, sizeof text, "# the learner's secret key\n\n   %s  \r\n\n# end\n", k.sec);
    s_write(s_path("l.key"), text, 0600);
    snprintf(text, sizeof text, "\n# public\n%s\n", k.pub);
    s_write(s_path("l.pub"), text, 0644);
    char sec[41], pub[41], pub2[41];
    cr_assert_eq(curve_load_secret(s_path("l.key"), sec, pub, s_err_buf, sizeof s_err_buf), 0,
                 "%s", s_err_buf);
    cr_assert_str_eq(sec, k.sec);
    cr_assert_str_eq(pub, k.pub);
    cr_assert_eq(curve_load_public(s_path("l.pub"), pub2, s_err_buf, sizeof s_err_buf), 0,
                 "%s", s_err_buf);
    cr_assert_str_eq(pub2, k.pub);
    /* a public key file may name its key */
    snprintf(text, sizeof text, "%s learner # comment\n", k.pub);
    s_write(s_path("n.pub"), text, 0644);
    cr_assert_eq(curve_load_public(s_path("n.pub"), pub2, s_err_buf, sizeof s_err_buf), 0,
                 "%s", s_err_buf);
    cr_assert_str_eq(pub2, k.pub);
    /* a missing file names the path */
    cr_assert_eq(curve_load_public(s_path("missing.pub"), pub2, s_err_buf, sizeof s_err_buf), -1);
    cr_assert_not_null(strstr(s_err_buf, "missing.pub"), "%s", s_err_buf);
}

Test(curve, secret_key_accessible_by_group_or_others_is_refused, .init = s_setup,
     .fini = s_teardown) {
    keypair_t k = s_keypair();
    char text[64];
    snprintf(text, sizeof text, "%s\n", k.sec);
    const char *path = s_path("s.key");
    const mode_t bad[] = {0640, 0604, 0660, 0644, 0620};
    char sec[41], pub[41];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_write(path, text, bad[i]);
        memset(sec, 'x', sizeof sec);
        cr_assert_eq(curve_load_secret(path, sec, pub, s_err_buf, sizeof s_err_buf), -1,
                     "mode %o accepted", bad[i]);
        cr_assert_not_null(strstr(s_err_buf, path), "%s", s_err_buf);
        cr_assert_not_null(strstr(s_err_buf, "chmod 600"), "%s", s_err_buf);
        cr_assert_eq(sec[0], '\0', "the secret output is cleared on failure");
    }
    s_write(path, text, 0600);
    cr_assert_eq(curve_load_secret(path, sec, pub, s_err_buf, sizeof s_err_buf), 0, "%s",
                 s_err_buf);
    cr_assert_str_eq(sec, k.sec);
    s_write(path, text, 0400);
    cr_assert_eq(curve_load_secret(path, sec, pub, s_err_buf, sizeof s_err_buf), 0, "%s",
                 s_err_buf);
}

/* Writes text as a secret (mode 0600) and a public key file; both loads must fail with an
 * error that starts with "path:line:". */
static void s_assert_bad(const char *text, int line) {
    char sec[41], pub[41], expect[300];
    const char *kp = s_path("bad.key"), *pp = s_path("bad.pub");
    s_write(kp, text, 0600);
    s_write(pp, text, 0644);
    cr_assert_eq(curve_load_secret(kp, sec, pub, s_err_buf, sizeof s_err_buf), -1,
                 "accepted: [%s]", text);
    snprintf(expect, sizeof expect, "%s:%d: ", kp, line);
    cr_assert_eq(strncmp(s_err_buf, expect, strlen(expect)), 0, "[%s]: %s", text, s_err_buf);
    cr_assert_eq(curve_load_public(pp, pub, s_err_buf, sizeof s_err_buf), -1,
                 "accepted: [%s]", text);
    snprintf(expect, sizeof expect, "%s:%d: ", pp, line);
    cr_assert_eq(strncmp(s_err_buf, expect, strlen(expect)), 0, "[%s]: %s", text, s_err_buf);
}

Test(curve, malformed_key_lines_are_refused_with_path_and_line, .init = s_setup,
     .fini = s_teardown) {
    keypair_t k = s_keypair(), k2 = s_keypair();
    char t[512];
    snprintf(t, sizeof t, "# c\n%.39s\n", k.sec);  /* one character short */
    s_assert_bad(t, 2);
    snprintf(t, sizeof t, "%sA\n", k.sec);  /* one too many */
    s_assert_bad(t, 1);
    snprintf(t, sizeof t, "\n\n~%.39s\n", k.sec + 1);  /* '~' is not Z85 */
    s_assert_bad(t, 3);
    snprintf(t, sizeof t, "%s\n# second\n%s\n", k.sec, k2.sec);  /* two keys */
    s_assert_bad(t, 3);
    snprintf(t, sizeof t, "%s name extra\n", k.sec);  /* text after the name */
    s_assert_bad(t, 1);
    snprintf(t, sizeof t, "%.20s %.20s\n", k.sec, k.sec + 20);  /* a split key */
    s_assert_bad(t, 1);
    /* a secret key file takes no name */
    snprintf(t, sizeof t, "%s learner\n", k.sec);
    s_write(s_path("named.key"), t, 0600);
    char sec[41], pub[41];
    cr_assert_eq(curve_load_secret(s_path("named.key"), sec, pub, s_err_buf, sizeof s_err_buf),
                 -1);
    cr_assert_not_null(strstr(s_err_buf, "named.key:1: "), "%s", s_err_buf);
    /* a NUL byte in a line */
    FILE *f = fopen(s_path("nul.pub"), "w");
    fwrite(k.pub, 1, 20, f);
    fputc('\0', f);
    fputs(k.pub + 21, f);
    fclose(f);
    cr_assert_eq(curve_load_public(s_path("nul.pub"), pub, s_err_buf, sizeof s_err_buf), -1);
    cr_assert_not_null(strstr(s_err_buf, "nul.pub:1: "), "%s", s_err_buf);
    /* no key at all */
    s_write(s_path("empty.pub"), "# nothing\n\n", 0644);
    cr_assert_eq(curve_load_public(s_path("empty.pub"), pub, s_err_buf, sizeof s_err_buf), -1);
    cr_assert_not_null(strstr(s_err_buf, "no key"), "%s", s_err_buf);
}

/* ---- the allow-list ------------------------------------------------------------------ */

Test(curve, allow_list_parses_names_comments_and_refuses_a_bad_line, .init = s_setup,
     .fini = s_teardown) {
    keypair_t a = s_keypair(), b = s_keypair(), c = s_keypair(), u = s_keypair();
    char t[1024];
    snprintf(t, sizeof t,
             "# authorized actors\n"
             "\n"
             "%s node1-actor\n"
             "  %s\n"
             "%s\tnode2 # the second node\n"
             "%s node1-actor\n",  /* the same line twice: harmless */
             a.pub, b.pub, c.pub, a.pub);
    const char *path = s_path("authorized_keys");
    s_write(path, t, 0644);
    curve_keylist_t *l = curve_keylist_load(path, s_err_buf, sizeof s_err_buf);
    cr_assert_not_null(l, "%s", s_err_buf);
    cr_assert_eq(curve_keylist_size(l), 3);
    cr_assert_str_eq(curve_keylist_find(l, a.pub), "node1-actor");
    cr_assert_str_eq(curve_keylist_find(l, b.pub), b.pub);
    cr_assert_str_eq(curve_keylist_find(l, c.pub), "node2");
    cr_assert_null(curve_keylist_find(l, u.pub));
    cr_assert_null(curve_keylist_find(l, a.sec));
    cr_assert_null(curve_keylist_find(l, "short"));
    curve_keylist_destroy(&l);
    cr_assert_null(l);

    /* one bad line (a truncated paste on line 4) fails the whole load */
    snprintf(t, sizeof t, "# keys\n%s node1\n\n%.30s node2\n%s node3\n", a.pub, b.pub, c.pub);
    s_write(path, t, 0644);
    cr_assert_null(curve_keylist_load(path, s_err_buf, sizeof s_err_buf));
    char expect[300];
    snprintf(expect, sizeof expect, "%s:4: ", path);
    cr_assert_eq(strncmp(s_err_buf, expect, strlen(expect)), 0, "%s", s_err_buf);

    /* the same key under two names is ambiguous */
    snprintf(t, sizeof t, "%s node1\n%s node9\n", a.pub, a.pub);
    s_write(path, t, 0644);
    cr_assert_null(curve_keylist_load(path, s_err_buf, sizeof s_err_buf));
    snprintf(expect, sizeof expect, "%s:2: ", path);
    cr_assert_eq(strncmp(s_err_buf, expect, strlen(expect)), 0, "%s", s_err_buf);

    /* a name too long */
    snprintf(t, sizeof t, "%s %0100d\n", a.pub, 7);
    s_write(path, t, 0644);
    cr_assert_null(curve_keylist_load(path, s_err_buf, sizeof s_err_buf));
    snprintf(expect, sizeof expect, "%s:1: ", path);
    cr_assert_eq(strncmp(s_err_buf, expect, strlen(expect)), 0, "%s", s_err_buf);

    /* an empty list is valid */
    s_write(path, "# nobody yet\n", 0644);
    l = curve_keylist_load(path, s_err_buf, sizeof s_err_buf);
    cr_assert_not_null(l, "%s", s_err_buf);
    cr_assert_eq(curve_keylist_size(l), 0);
    cr_assert_null(curve_keylist_find(l, a.pub));
    curve_keylist_destroy(&l);
}

Test(curve, cat_pub_into_authorized_keys_names_the_key, .init = s_setup, .fini = s_teardown) {
    cr_assert_eq(curve_keygen(s_path("rack7-actor"), s_err_buf, sizeof s_err_buf), 0);
    cr_assert_eq(curve_keygen(s_path("rack8-actor"), s_err_buf, sizeof s_err_buf), 0);
    const char *path = s_path("authorized_keys");
    s_write(path, "# actors\n", 0644);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cat '%s' '%s' >> '%s'", s_path("rack7-actor.pub"),
             s_path("rack8-actor.pub"), path);
    cr_assert_eq(system(cmd), 0);
    char pub7[41], pub8[41];
    cr_assert_eq(curve_load_public(s_path("rack7-actor.pub"), pub7, s_err_buf, sizeof s_err_buf), 0);
    cr_assert_eq(curve_load_public(s_path("rack8-actor.pub"), pub8, s_err_buf, sizeof s_err_buf), 0);
    curve_keylist_t *l = curve_keylist_load(path, s_err_buf, sizeof s_err_buf);
    cr_assert_not_null(l, "%s", s_err_buf);
    cr_assert_eq(curve_keylist_size(l), 2);
    cr_assert_str_eq(curve_keylist_find(l, pub7), "rack7-actor");
    cr_assert_str_eq(curve_keylist_find(l, pub8), "rack8-actor");
    curve_keylist_destroy(&l);
}

Test(curve, endpoint_is_local) {
    const char *local[] = {"ipc:///tmp/x.ipc", "inproc://a", "tcp://127.0.0.1:5555",
                           "tcp://127.0.0.1:*", "tcp://127.1.2.3:80", "tcp://localhost:5555",
                           "tcp://LOCALHOST:1", "tcp://[::1]:5555"};
    const char *remote[] = {"tcp://*:5555", "tcp://0.0.0.0:5555", "tcp://10.0.0.1:5555",
                            "tcp://128.0.0.1:5555", "tcp://eth0:5555", "tcp://lo:5555",
                            "tcp://[::]:5555", "tcp://[::ffff:127.0.0.1]:5555",
                            "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://127.0.0.1:55x",
                            "tcp://127.0.0.1.evil.com:1", "tcp://localhost.evil.com:1",
                            "tcp://10.0.0.1;127.0.0.1:5555", "tcp://127.0.0.1;10.0.0.1:5555",
                            "tcp://:5555", "pgm://127.0.0.1:5555", "udp://127.0.0.1:5555",
                            "ws://127.0.0.1:80", "ipc:/", "", "127.0.0.1:5555",
                            "tcp://127.0.0.256:1", "tcp://0127.0.0.1:1"};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        cr_expect_eq(curve_endpoint_is_local(local[i]), 1, "%s", local[i]);
    for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++)
        cr_expect_eq(curve_endpoint_is_local(remote[i]), 0, "%s", remote[i]);
    cr_expect_eq(curve_endpoint_is_local(NULL), 0);
}

Test(curve, socket_setup_refuses_bad_keys) {
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    keypair_t k = s_keypair(), o = s_keypair();
    cr_assert_eq(curve_server_setup(s, "tooshort", s_err_buf, sizeof s_err_buf), -1);
    cr_assert_eq(curve_client_setup(s, k.pub, o.sec, k.pub, s_err_buf, sizeof s_err_buf), -1);
    cr_assert_not_null(strstr(s_err_buf, "does not belong"), "%s", s_err_buf);
    cr_assert_eq(curve_client_setup(s, "x", o.sec, o.pub, s_err_buf, sizeof s_err_buf), -1);
    cr_assert_eq(curve_client_setup(s, k.pub, o.sec, o.pub, s_err_buf, sizeof s_err_buf), 0,
                 "%s", s_err_buf);
    char got[41];
    size_t len = sizeof got;
    cr_assert_eq(zmq_getsockopt(s, ZMQ_CURVE_SERVERKEY, got, &len), 0);
    cr_assert_str_eq(got, k.pub);
    void *srv = zmq_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(curve_server_setup(srv, k.sec, s_err_buf, sizeof s_err_buf), 0, "%s", s_err_buf);
    int server = 0;
    len = sizeof server;
    cr_assert_eq(zmq_getsockopt(srv, ZMQ_CURVE_SERVER, &server, &len), 0);
    cr_assert_eq(server, 1);
    char dom[32];
    len = sizeof dom;
    cr_assert_eq(zmq_getsockopt(srv, ZMQ_ZAP_DOMAIN, dom, &len), 0);
    cr_assert_str_eq(dom, CURVE_ZAP_DOMAIN);
    zmq_close(s);
    zmq_close(srv);
    zmq_ctx_term(ctx);
}

/* ---- the ZAP handler, spoken to directly ----------------------------------------------- */

/* Sends one ZAP request (frames as given; creds may be NULL) and returns the status code;
 * the user id goes to user. */
static int s_zap(void *req, const char *version, const char *mech, const void *cred,
                 size_t credlen, char *user, size_t userlen) {
    const char *frames[] = {version, "42", "metasac", "192.0.2.7", "", mech};
    for (int i = 0; i < 6; i++)
        cr_assert_geq(zmq_send(req, frames[i], strlen(frames[i]),
                               (i < 5 || cred) ? ZMQ_SNDMORE : 0), 0);
    if (cred) cr_assert_geq(zmq_send(req, cred, credlen, 0), 0);
    char f[6][128];
    int n = 0, more = 1;
    while (more) {
        int len = zmq_recv(req, f[n < 6 ? n : 5], 127, 0);
        cr_assert_geq(len, 0);
        f[n < 6 ? n : 5][len < 127 ? len : 127] = '\0';
        n++;
        size_t sz = sizeof more;
        zmq_getsockopt(req, ZMQ_RCVMORE, &more, &sz);
    }
    cr_assert_eq(n, 6, "a ZAP reply has 6 frames");
    cr_assert_str_eq(f[0], "1.0");
    cr_assert_str_eq(f[1], "42", "the request id is echoed");
    cr_assert_str_eq(f[5], "", "no metadata");
    snprintf(user, userlen, "%s", f[4]);
    return atoi(f[2]);
}

Test(curve, zap_handler_answers_rfc27_requests, .init = s_setup, .fini = s_teardown,
     .timeout = 10) {
    keypair_t a = s_keypair(), b = s_keypair(), u = s_keypair();
    char t[256];
    snprintf(t, sizeof t, "%s node1-actor\n%s\n", a.pub, b.pub);
    s_write(s_path("authorized_keys"), t, 0644);
    void *ctx = zmq_ctx_new();
    curve_auth_t *auth = curve_auth_new(ctx, s_path("authorized_keys"), s_err_buf,
                                        sizeof s_err_buf);
    cr_assert_not_null(auth, "%s", s_err_buf);
    /* one handler per context */
    cr_assert_null(curve_auth_new(ctx, s_path("authorized_keys"), s_err_buf, sizeof s_err_buf));
    cr_assert_not_null(strstr(s_err_buf, "already"), "%s", s_err_buf);

    void *req = zmq_socket(ctx, ZMQ_REQ);
    cr_assert_eq(zmq_connect(req, "inproc://zeromq.zap.01"), 0);
    uint8_t ka[32], kb[32], ku[32];
    zmq_z85_decode(ka, a.pub);
    zmq_z85_decode(kb, b.pub);
    zmq_z85_decode(ku, u.pub);
    char user[128];
    cr_assert_eq(s_zap(req, "1.0", "CURVE", ka, 32, user, sizeof user), 200);
    cr_assert_str_eq(user, "node1-actor");
    cr_assert_eq(s_zap(req, "1.0", "CURVE", kb, 32, user, sizeof user), 200);
    cr_assert_str_eq(user, b.pub, "an unnamed key's user id is its Z85");
    cr_assert_eq(s_zap(req, "1.0", "CURVE", ku, 32, user, sizeof user), 400);
    cr_assert_str_eq(user, "");
    cr_assert_eq(s_zap(req, "1.0", "NULL", NULL, 0, user, sizeof user), 400);
    cr_assert_eq(s_zap(req, "1.0", "PLAIN", "user", 4, user, sizeof user), 400);
    cr_assert_eq(s_zap(req, "1.0", "CURVE", ka, 31, user, sizeof user), 500);
    cr_assert_eq(s_zap(req, "2.0", "CURVE", ka, 32, user, sizeof user), 500);
    cr_assert_eq(curve_auth_allowed(auth), 2);
    cr_assert_eq(curve_auth_refused(auth), 5);
    zmq_close(req);
    curve_auth_destroy(&auth);
    cr_assert_null(auth);
    curve_auth_destroy(&auth);  /* NULL-safe */
    zmq_ctx_term(ctx);
}

Test(curve, refusals_are_logged_at_most_once_a_second, .init = s_setup, .fini = s_teardown,
     .timeout = 10) {
    keypair_t a = s_keypair(), u = s_keypair();
    char t[128];
    snprintf(t, sizeof t, "%s node1\n", a.pub);
    s_write(s_path("authorized_keys"), t, 0644);
    cr_assert_eq(log_set_file(s_path("log")), 0);
    void *ctx = zmq_ctx_new();
    curve_auth_t *auth = curve_auth_new(ctx, s_path("authorized_keys"), s_err_buf,
                                        sizeof s_err_buf);
    cr_assert_not_null(auth, "%s", s_err_buf);
    void *req = zmq_socket(ctx, ZMQ_REQ);
    cr_assert_eq(zmq_connect(req, "inproc://zeromq.zap.01"), 0);
    uint8_t ku[32];
    zmq_z85_decode(ku, u.pub);
    char user[64];
    double t0 = s_ms();
    for (int i = 0; i < 200; i++)
        cr_assert_eq(s_zap(req, "1.0", "CURVE", ku, 32, user, sizeof user), 400);
    double flood_ms = s_ms() - t0;
    cr_assert_lt(flood_ms, 900, "the flood must fit in one rate-limit window (%.0f ms)", flood_ms);
    cr_assert_eq(curve_auth_refused(auth), 200);
    s_sleep_ms(1800);  /* the thread's idle tick writes the summary */
    zmq_close(req);
    curve_auth_destroy(&auth);
    cr_assert_eq(log_set_file(NULL), 0);
    const char *log = s_read(s_path("log"));
    int lines = 0;
    for (const char *p = log; (p = strstr(p, "CURVE: refused")); p++) lines++;
    cr_assert_eq(lines, 1, "one refusal line for a flood within a second:\n%s", log);
    cr_assert_not_null(strstr(log, u.pub), "the refused key is named:\n%s", log);
    cr_assert_not_null(strstr(log, "192.0.2.7"), "the address is named:\n%s", log);
    cr_assert_not_null(strstr(log, "199 more handshakes refused"), "the summary counts:\n%s",
                       log);
    zmq_ctx_term(ctx);
}

Test(curve, destroy_never_hangs_whatever_happened_to_the_context, .init = s_setup,
     .fini = s_teardown, .timeout = 10) {
    keypair_t a = s_keypair();
    char t[128];
    snprintf(t, sizeof t, "%s\n", a.pub);
    s_write(s_path("authorized_keys"), t, 0644);
    /* shut down first */
    void *ctx = zmq_ctx_new();
    curve_auth_t *auth = curve_auth_new(ctx, s_path("authorized_keys"), s_err_buf,
                                        sizeof s_err_buf);
    cr_assert_not_null(auth, "%s", s_err_buf);
    zmq_ctx_shutdown(ctx);
    curve_auth_destroy(&auth);
    zmq_ctx_term(ctx);
    /* terminated first (the thread closes its socket on ETERM, so term returns) */
    ctx = zmq_ctx_new();
    auth = curve_auth_new(ctx, s_path("authorized_keys"), s_err_buf, sizeof s_err_buf);
    cr_assert_not_null(auth, "%s", s_err_buf);
    zmq_ctx_term(ctx);
    curve_auth_destroy(&auth);
    /* a missing allow-list fails at creation */
    ctx = zmq_ctx_new();
    cr_assert_null(curve_auth_new(ctx, s_path("nope"), s_err_buf, sizeof s_err_buf));
    cr_assert_not_null(strstr(s_err_buf, "nope"), "%s", s_err_buf);
    zmq_ctx_term(ctx);
}

/* ---- real CURVE sockets over tcp://127.0.0.1 ------------------------------------------ */

typedef struct {
    void *ctx, *server;
    curve_auth_t *auth;
    keypair_t srv;
    char ep[128];
} fx_t;

/* A context, the ZAP handler on authorized_keys, then a CURVE server socket of this type bound
 * to an ephemeral loopback port (the handler exists before the bind, as the header asks). */
static void s_server(fx_t *fx, int type) {
    fx->ctx = zmq_ctx_new();
    fx->srv = s_keypair();
    fx->auth = curve_auth_new(fx->ctx, s_path("authorized_keys"), s_err_buf, sizeof s_err_buf);
    cr_assert_not_null(fx->auth, "%s", s_err_buf);
    fx->server = zmq_socket(fx->ctx, type);
    int linger = 0;
    zmq_setsockopt(fx->server, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(curve_server_setup(fx->server, fx->srv.sec, s_err_buf, sizeof s_err_buf), 0,
                 "%s", s_err_buf);
    cr_assert_eq(zmq_bind(fx->server, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof fx->ep;
    cr_assert_eq(zmq_getsockopt(fx->server, ZMQ_LAST_ENDPOINT, fx->ep, &len), 0);
}

static void s_server_close(fx_t *fx) {
    zmq_close(fx->server);
    curve_auth_destroy(&fx->auth); /* after the server sockets: see curve.h */
    zmq_ctx_term(fx->ctx);
}

/* A client socket; with key NULL it speaks plain ZeroMQ (mechanism NULL). */
static void *s_client(fx_t *fx, int type, const keypair_t *key) {
    void *s = zmq_socket(fx->ctx, type);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (key)
        cr_assert_eq(curve_client_setup(s, fx->srv.pub, key->sec, key->pub, s_err_buf,
                                        sizeof s_err_buf), 0, "%s", s_err_buf);
    if (type == ZMQ_SUB) zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    cr_assert_eq(zmq_connect(s, fx->ep), 0);
    return s;
}

/* Receives one frame into msg within ms; 0, or -1 on timeout. */
static int s_recv_msg(void *sock, zmq_msg_t *msg, int ms) {
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, ms) <= 0) return -1;
    return zmq_msg_recv(msg, sock, ZMQ_DONTWAIT) >= 0 ? 0 : -1;
}

/* dealer sends "ping"; the ROUTER must get it within 3 s with this User-Id, answer "pong", and
 * the dealer must get that. */
static void s_assert_exchange(fx_t *fx, void *dealer, const char *user_id) {
    cr_assert_eq(zmq_send(dealer, "ping", 4, 0), 4);
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    cr_assert_eq(s_recv_msg(fx->server, &id, 3000), 0, "the allowed client got nothing through");
    cr_assert(zmq_msg_more(&id));
    cr_assert_eq(zmq_msg_recv(&body, fx->server, 0), 4);
    cr_assert_eq(memcmp(zmq_msg_data(&body), "ping", 4), 0);
    const char *uid = zmq_msg_gets(&body, "User-Id");
    cr_assert_not_null(uid);
    cr_assert_str_eq(uid, user_id);
    int idlen = (int)zmq_msg_size(&id);
    cr_assert_eq(zmq_msg_send(&id, fx->server, ZMQ_SNDMORE), idlen);
    cr_assert_eq(zmq_send(fx->server, "pong", 4, 0), 4);
    zmq_msg_close(&body);
    zmq_msg_t reply;
    zmq_msg_init(&reply);
    cr_assert_eq(s_recv_msg(dealer, &reply, 3000), 0, "the reply did not come back");
    cr_assert_eq(zmq_msg_size(&reply), 4);
    cr_assert_eq(memcmp(zmq_msg_data(&reply), "pong", 4), 0);
    zmq_msg_close(&reply);
}

/* The ROUTER must receive nothing for ms. */
static void s_assert_silence(fx_t *fx, int ms, const char *why) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    cr_assert_eq(s_recv_msg(fx->server, &m, ms), -1, "%s", why);
    zmq_msg_close(&m);
}

/* Waits up to ms for the refused counter to reach n. */
static void s_wait_refused(fx_t *fx, uint64_t n, int ms) {
    double end = s_ms() + ms;
    while (curve_auth_refused(fx->auth) < n && s_ms() < end) s_sleep_ms(10);
    cr_assert_geq(curve_auth_refused(fx->auth), n, "refused %llu",
                  (unsigned long long)curve_auth_refused(fx->auth));
}

Test(curve, allowed_dealer_exchanges_messages_both_ways, .init = s_setup, .fini = s_teardown,
     .timeout = 10) {
    keypair_t a = s_keypair();
    char t[128];
    snprintf(t, sizeof t, "%s node1-actor\n", a.pub);
    s_write(s_path("authorized_keys"), t, 0644);
    fx_t fx;
    s_server(&fx, ZMQ_ROUTER);
    void *d = s_client(&fx, ZMQ_DEALER, &a);
    s_assert_exchange(&fx, d, "node1-actor");
    cr_assert_eq(curve_auth_allowed(fx.auth), 1);
    cr_assert_eq(curve_auth_refused(fx.auth), 0);
    zmq_close(d);
    s_server_close(&fx);
}

Test(curve, unknown_dealer_never_gets_through_and_is_logged, .init = s_setup, .fini = s_teardown,
     .timeout = 10) {
    keypair_t a = s_keypair(), u = s_keypair();
    char t[128];
    snprintf(t, sizeof t, "%s node1-actor\n", a.pub);
    s_write(s_path("authorized_keys"), t, 0644);
    cr_assert_eq(log_set_file(s_path("log")), 0);
    fx_t fx;
    s_server(&fx, ZMQ_ROUTER);
    void *d = s_client(&fx, ZMQ_DEALER, &u);
    cr_assert_eq(zmq_send(d, "evil", 4, 0), 4);
    s_wait_refused(&fx, 1, 3000);
    s_assert_silence(&fx, 700, "a message from an unknown key got through");
    cr_assert_eq(curve_auth_allowed(fx.auth), 0);
    /* the allowed one still works next to it */
    void *ok = s_client(&fx, ZMQ_DEALER, &a);
    s_assert_exchange(&fx, ok, "node1-actor");
    zmq_close(d);
    zmq_close(ok);
    s_server_close(&fx);
    cr_assert_eq(log_set_file(NULL), 0);
    const char *log = s_read(s_path("log"));
    const char *line = strstr(log, "CURVE: refused");
    cr_assert_not_null(line, "%s", log);
    cr_assert_not_null(strstr(line, u.pub), "the line names the key:\n%s", log);
    cr_assert_not_null(strstr(line, "127.0.0.1"), "the line names the address:\n%s", log);
    cr_assert_not_null(strstr(log, " WARN "), "%s", log);
}

Test(curve, plain_dealer_is_refused, .init = s_setup, .fini = s_teardown, .timeout = 10) {
    keypair_t a = s_keypair();
    char t[128];
    snprintf(t, sizeof t, "%s node1-actor\n", a.pub);
    s_write(s_path("authorized_keys"), t, 0644);
    fx_t fx;
    s_server(&fx, ZMQ_ROUTER);
    void *d = s_client(&fx, ZMQ_DEALER, NULL);
    cr_assert_eq(zmq_send(d, "plain", 5, 0), 5);
    s_assert_silence(&fx, 1500, "a plain-text client got through a CURVE server");
    cr_assert_eq(curve_auth_allowed(fx.auth), 0);
    zmq_close(d);
    s_server_close(&fx);
}

Test(curve, null_mechanism_is_refused_by_the_handler, .init = s_setup, .fini = s_teardown,
     .timeout = 10) {
    /* a plain server socket that asks ZAP (it has a domain): the handler must say no */
    keypair_t a = s_keypair();
    char t[128];
    snprintf(t, sizeof t, "%s node1-actor\n", a.pub);
    s_write(s_path("authorized_keys"), t, 0644);
    fx_t fx;
    fx.ctx = zmq_ctx_new();
    fx.auth = curve_auth_new(fx.ctx, s_path("authorized_keys"), s_err_buf, sizeof s_err_buf);
    cr_assert_not_null(fx.auth, "%s", s_err_buf);
    fx.server = zmq_socket(fx.ctx, ZMQ_ROUTER);
    cr_assert_eq(zmq_setsockopt(fx.server, ZMQ_ZAP_DOMAIN, "metasac", 7), 0);
    cr_assert_eq(zmq_bind(fx.server, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof fx.ep;
    zmq_getsockopt(fx.server, ZMQ_LAST_ENDPOINT, fx.ep, &len);
    void *d = s_client(&fx, ZMQ_DEALER, NULL);
    cr_assert_eq(zmq_send(d, "plain", 5, 0), 5);
    s_wait_refused(&fx, 1, 3000);
    s_assert_silence(&fx, 500, "the handler let mechanism NULL in");
    zmq_close(d);
    s_server_close(&fx);
}

Test(curve, key_added_to_the_allow_list_during_the_run_is_accepted, .init = s_setup,
     .fini = s_teardown, .timeout = 15) {
    keypair_t a = s_keypair(), b = s_keypair();
    char t[128];
    snprintf(t, sizeof t, "%s node1-actor\n", a.pub);
    const char *path = s_path("authorized_keys");
    s_write(path, t, 0644);
    cr_assert_eq(log_set_file(s_path("log")), 0);
    fx_t fx;
    s_server(&fx, ZMQ_ROUTER);
    void *d = s_client(&fx, ZMQ_DEALER, &b);
    cr_assert_eq(zmq_send(d, "early", 5, 0), 5);
    s_wait_refused(&fx, 1, 3000);
    zmq_close(d);
    s_assert_silence(&fx, 300, "b got in before it was allowed");
    cr_assert_eq(curve_auth_loads(fx.auth), 1);

    snprintf(t, sizeof t, "%s node2-actor\n", b.pub);
    s_append(path, t);
    double end = s_ms() + 4000;
    while (curve_auth_loads(fx.auth) < 2 && s_ms() < end) s_sleep_ms(20);
    cr_assert_eq(curve_auth_loads(fx.auth), 2, "the appended file was not re-read");
    d = s_client(&fx, ZMQ_DEALER, &b);
    s_assert_exchange(&fx, d, "node2-actor");
    zmq_close(d);

    /* the file turns bad: the previous list stays, the error is logged */
    s_write(path, "this is not a key\n", 0644);
    end = s_ms() + 4000;
    const char *log = "";
    while (s_ms() < end && !strstr(log = s_read(s_path("log")), "keeping the previous"))
        s_sleep_ms(50);
    cr_assert_not_null(strstr(log, "keeping the previous"), "%s", log);
    cr_assert_not_null(strstr(log, "authorized_keys:1: "), "%s", log);
    cr_assert_eq(curve_auth_loads(fx.auth), 2);
    void *d2 = s_client(&fx, ZMQ_DEALER, &b);
    s_assert_exchange(&fx, d2, "node2-actor");
    zmq_close(d2);
    s_server_close(&fx);
}

Test(curve, pub_sub_reaches_the_allowed_subscriber_only, .init = s_setup, .fini = s_teardown,
     .timeout = 10) {
    keypair_t a = s_keypair(), u = s_keypair();
    char t[128];
    snprintf(t, sizeof t, "%s node1-actor\n", a.pub);
    s_write(s_path("authorized_keys"), t, 0644);
    fx_t fx;
    s_server(&fx, ZMQ_PUB);
    void *good = s_client(&fx, ZMQ_SUB, &a);
    void *bad = s_client(&fx, ZMQ_SUB, &u);
    int got_good = 0, got_bad = 0;
    double end = s_ms() + 3000, stop = 0;
    while (s_ms() < end && (!stop || s_ms() < stop)) {
        cr_assert_eq(zmq_send(fx.server, "weights", 7, 0), 7);
        zmq_pollitem_t it[2] = {{good, 0, ZMQ_POLLIN, 0}, {bad, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(it, 2, 20) > 0) {
            char buf[16];
            if (it[0].revents && zmq_recv(good, buf, sizeof buf, ZMQ_DONTWAIT) == 7) got_good++;
            if (it[1].revents && zmq_recv(bad, buf, sizeof buf, ZMQ_DONTWAIT) >= 0) got_bad++;
        }
        if (got_good && !stop) stop = s_ms() + 500;  /* give the other one time to fail */
    }
    cr_assert_gt(got_good, 0, "the allowed subscriber got nothing");
    cr_assert_eq(got_bad, 0, "the unknown subscriber got %d messages", got_bad);
    cr_assert_geq(curve_auth_refused(fx.auth), 1);
    cr_assert_eq(curve_auth_allowed(fx.auth), 1);
    zmq_close(good);
    zmq_close(bad);
    s_server_close(&fx);
}

/* ---- metasac-keygen ---------------------------------------------------------------------- */

/* Runs metasac-keygen with up to two arguments; returns the exit status, stdout in out. */
static int s_keygen(const char *a1, const char *a2, char *out, size_t cap) {
    const char *bin = getenv("METASAC_BIN_DIR");
    cr_assert(bin, "METASAC_BIN_DIR names build/bin (make test sets it)");
    char exe[512];
    snprintf(exe, sizeof exe, "%s/metasac-keygen", bin);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        freopen("/dev/null", "w", stderr);
        execl(exe, exe, a1, a2, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fds[0], out + n, cap - 1 - n)) > 0) n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

Test(curve, keygen_program_exit_codes_and_output, .init = s_setup, .fini = s_teardown,
     .timeout = 10) {
    char out[512], pub[41];
    cr_assert_eq(s_keygen(s_path("learner"), NULL, out, sizeof out), 0);
    cr_assert_eq(curve_load_public(s_path("learner.pub"), pub, s_err_buf, sizeof s_err_buf), 0);
    char expect[64];
    snprintf(expect, sizeof expect, "%s\n", pub);
    cr_assert_str_eq(out, expect);
    cr_assert_eq(s_keygen("--public", s_path("learner.key"), out, sizeof out), 0);
    cr_assert_str_eq(out, expect);
    cr_assert_eq(s_keygen(s_path("learner"), NULL, out, sizeof out), 1, "overwrote a key");
    chmod(s_path("learner.key"), 0644);
    cr_assert_eq(s_keygen("--public", s_path("learner.key"), out, sizeof out), 1);
    cr_assert_eq(s_keygen("--help", NULL, out, sizeof out), 0);
    cr_assert_not_null(strstr(out, "usage"));
    cr_assert_eq(s_keygen(NULL, NULL, out, sizeof out), 2);
    cr_assert_eq(s_keygen("--bogus", NULL, out, sizeof out), 2);
    cr_assert_eq(s_keygen("a", "b", out, sizeof out), 2);
}
