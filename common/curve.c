/* curve: key files, the authorized_keys allow-list, a ZAP (RFC 27) handler thread, and the
 * CURVE socket options. See curve.h for the contracts. */
#include "curve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "alloc.h"
#include "log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_MAX_FRAMES 8        /* CURVE requests have 7; more is malformed */
#define RELOAD_EVERY_S 1.0      /* the allow-list file is stat()ed at most this often */
#define REPORT_EVERY_S 1.0      /* at most one refusal line per second */

__attribute__((format(printf, 3, 4)))
static void s_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static double s_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int curve_available(char *err, size_t errlen) {
    if (zmq_has("curve")) return 0;
    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    s_err(err, errlen,
          "this libzmq (%d.%d.%d) was built without CURVE security (zmq_has(\"curve\") is 0); "
          "install a libzmq built with libsodium, or run with --insecure on local endpoints only",
          major, minor, patch);
    return -1;
}

int curve_key_valid(const char *z85) {
    if (!z85 || strlen(z85) != CURVE_Z85_LEN) return 0;
    uint8_t bin[32];
    return zmq_z85_decode(bin, z85) != NULL;
}

/* ---- line syntax shared by every key file -------------------------------------------- */

static int s_name_valid(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= CURVE_NAME_MAX || s[0] == '#') return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e) return 0;
    return 1;
}

/* Splits one line "KEY [NAME] [# comment]" (or a blank / comment line). Returns 0 for no key,
 * 1 with *key (and *name, NULL when absent) pointing into line, -1 with why filled. */
static int s_parse_line(char *line, size_t len, int allow_name, char **key, char **name,
                        char *why, size_t whylen) {
    *key = *name = NULL;
    if (strlen(line) != len) {
        snprintf(why, whylen, "contains a NUL byte");
        return -1;
    }
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    char *tok[3] = {NULL, NULL, NULL};
    int ntok = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        /* the rest of the line is a comment; no key starts with '#': the first Z85 digit of
           32 random bytes encodes floor(v / 85^4) with v < 2^32, so it is at most index 82,
           and '#' is index 84 */
        if (t[0] == '#') break;
        if (ntok == 3) break;
        tok[ntok++] = t;
    }
    if (ntok == 0) return 0;
    if (!curve_key_valid(tok[0])) {
        size_t n = strlen(tok[0]);
        snprintf(why, whylen,
                 "'%.48s%s' is not a Z85 key (expected %d characters of the Z85 alphabet, got %zu)",
                 tok[0], n > 48 ? "..." : "", CURVE_Z85_LEN, n);
        return -1;
    }
    if (ntok >= 2) {
        if (!allow_name) {
            snprintf(why, whylen, "unexpected text after the key");
            return -1;
        }
        if (!s_name_valid(tok[1])) {
            snprintf(why, whylen, "bad key name (1 to %d printable characters, no spaces)",
                     CURVE_NAME_MAX - 1);
            return -1;
        }
        *name = tok[1];
    }
    if (ntok == 3) {
        snprintf(why, whylen, "unexpected text after the name (comments start with #)");
        return -1;
    }
    *key = tok[0];
    return 1;
}

typedef int (*s_key_fn)(void *arg, const char *key, const char *name, int lineno,
                        const char *path, char *err, size_t errlen);

/* Calls fn for every key line of f; stops at the first bad line with "path:line: why".
 * Clears the line buffer before freeing it (it may hold a secret). 0 or -1. */
static int s_parse_file(FILE *f, const char *path, int allow_name, s_key_fn fn, void *arg,
                        char *err, size_t errlen) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char why[160], *key, *name;
        int k = s_parse_line(line, (size_t)len, allow_name, &key, &name, why, sizeof why);
        if (k < 0) {
            s_err(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
            break;
        }
        if (k == 1 && fn(arg, key, name, lineno, path, err, errlen) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        s_err(err, errlen, "%s: read error: %s", path, strerror(errno));
        rc = -1;
    }
    if (line) explicit_bzero(line, cap);
    free(line);
    return rc;
}

/* A file that must hold exactly one key. */
typedef struct {
    char key[CURVE_Z85_LEN + 1];
    int lineno;  /* of the key; 0 while none was seen */
} s_one_key_t;

static int s_one_key(void *arg, const char *key, const char *name, int lineno, const char *path,
                     char *err, size_t errlen) {
    (void)name;
    s_one_key_t *one = arg;
    if (one->lineno) {
        s_err(err, errlen, "%s:%d: a second key (the file holds one key, on line %d)", path,
              lineno, one->lineno);
        return -1;
    }
    memcpy(one->key, key, CURVE_Z85_LEN + 1);
    one->lineno = lineno;
    return 0;
}

static int s_load_one(FILE *f, const char *path, int allow_name, char out[41], char *err,
                      size_t errlen) {
    s_one_key_t one = {.lineno = 0};
    int rc = s_parse_file(f, path, allow_name, s_one_key, &one, err, errlen);
    if (rc == 0 && !one.lineno) {
        s_err(err, errlen, "%s: no key in the file", path);
        rc = -1;
    }
    if (rc == 0) memcpy(out, one.key, CURVE_Z85_LEN + 1);
    explicit_bzero(&one, sizeof one);
    return rc;
}

int curve_load_secret(const char *path, char secret_z85[41], char public_z85[41], char *err,
                      size_t errlen) {
    memset(secret_z85, 0, 41);
    memset(public_z85, 0, 41);
    if (curve_available(err, errlen) < 0) return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        s_err(err, errlen, "cannot open secret key file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        s_err(err, errlen, "secret key file %s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        s_err(err, errlen,
              "secret key file %s is accessible by group/others (mode %04o); a secret key must "
              "be private: run `chmod 600 %s`", path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return -1;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        s_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    int rc = s_load_one(f, path, 0, secret_z85, err, errlen);
    fclose(f);
    if (rc == 0 && zmq_curve_public(public_z85, secret_z85) != 0) {
        s_err(err, errlen, "%s: cannot derive the public key: %s", path, zmq_strerror(errno));
        rc = -1;
    }
    if (rc < 0) {
        explicit_bzero(secret_z85, 41);
        memset(public_z85, 0, 41);
    }
    return rc;
}

int curve_load_public(const char *path, char public_z85[41], char *err, size_t errlen) {
    memset(public_z85, 0, 41);
    FILE *f = fopen(path, "re");
    if (!f) {
        s_err(err, errlen, "cannot open public key file %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = s_load_one(f, path, 1, public_z85, err, errlen);
    fclose(f);
    return rc;
}

/* ---- key generation ------------------------------------------------------------------- */

/* Creates path exclusively with this mode and writes text. 0, or -1 (nothing left behind
 * unless the file existed before, which is EEXIST and untouched). */
static int s_write_new(const char *path, mode_t mode, const char *text, char *err,
                       size_t errlen) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            s_err(err, errlen, "%s exists: refusing to overwrite a key (remove it or choose "
                  "another prefix)", path);
        else
            s_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(text), off = 0;
    int rc = fchmod(fd, mode);  /* the umask may have removed bits; never added */
    while (rc == 0 && off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) rc = -1;
        else off += (size_t)w;
    }
    if (rc == 0) rc = fsync(fd);
    if (close(fd) != 0) rc = -1;
    if (rc != 0) {
        s_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

int curve_keygen(const char *prefix, char *err, size_t errlen) {
    if (curve_available(err, errlen) < 0) return -1;
    if (!prefix || !prefix[0]) {
        s_err(err, errlen, "empty key prefix");
        return -1;
    }
    char key_path[PATH_MAX], pub_path[PATH_MAX];
    if ((size_t)snprintf(key_path, sizeof key_path, "%s.key", prefix) >= sizeof key_path ||
        (size_t)snprintf(pub_path, sizeof pub_path, "%s.pub", prefix) >= sizeof pub_path) {
        s_err(err, errlen, "key prefix too long: %s", prefix);
        return -1;
    }
    /* checked first so that an existing .pub does not leave a fresh .key behind */
    if (access(pub_path, F_OK) == 0) {
        s_err(err, errlen, "%s exists: refusing to overwrite a key (remove it or choose another "
              "prefix)", pub_path);
        return -1;
    }
    char pub[41], sec[41], line[CURVE_Z85_LEN + CURVE_NAME_MAX + 4];
    if (zmq_curve_keypair(pub, sec) != 0) {
        s_err(err, errlen, "zmq_curve_keypair: %s", zmq_strerror(errno));
        return -1;
    }
    snprintf(line, sizeof line, "%s\n", sec);
    int rc = s_write_new(key_path, 0600, line, err, errlen);
    explicit_bzero(sec, sizeof sec);
    explicit_bzero(line, sizeof line);
    if (rc < 0) return -1;
    const char *base = strrchr(prefix, '/');
    base = base ? base + 1 : prefix;
    if (s_name_valid(base))
        snprintf(line, sizeof line, "%s %s\n", pub, base);
    else
        snprintf(line, sizeof line, "%s\n", pub);
    if (s_write_new(pub_path, 0644, line, err, errlen) < 0) {
        unlink(key_path);
        return -1;
    }
    return 0;
}

/* ---- the allow-list ------------------------------------------------------------------- */

typedef struct {
    uint8_t bin[32];                /* the decoded public key */
    char z85[CURVE_Z85_LEN + 1];    /* as written */
    char name[CURVE_NAME_MAX];      /* "" when the line had none */
    int lineno;
} s_entry_t;

struct curve_keylist_t {
    s_entry_t *e;  /* [n] */
    size_t n, cap;
};

static const s_entry_t *s_find_bin(const curve_keylist_t *self, const uint8_t bin[32]) {
    for (size_t i = 0; i < self->n; i++)
        if (memcmp(self->e[i].bin, bin, 32) == 0) return &self->e[i];
    return NULL;
}

static int s_list_add(void *arg, const char *key, const char *name, int lineno,
                      const char *path, char *err, size_t errlen) {
    curve_keylist_t *self = arg;
    uint8_t bin[32];
    RL_ASSERT(zmq_z85_decode(bin, key), "key was validated");
    const s_entry_t *dup = s_find_bin(self, bin);
    if (dup) {
        if (strcmp(dup->name, name ? name : "") == 0 || !name) return 0;
        if (!dup->name[0]) {
            s_err(err, errlen, "%s:%d: key listed again with name '%s' (line %d has it without "
                  "a name)", path, lineno, name, dup->lineno);
            return -1;
        }
        s_err(err, errlen, "%s:%d: key listed again with another name '%s' (line %d names it "
              "'%s')", path, lineno, name, dup->lineno, dup->name);
        return -1;
    }
    if (self->n == self->cap) {
        self->cap = self->cap ? 2 * self->cap : 16;
        self->e = rl_realloc(self->e, self->cap * sizeof *self->e);
    }
    s_entry_t *e = &self->e[self->n++];
    memcpy(e->bin, bin, 32);
    memcpy(e->z85, key, CURVE_Z85_LEN + 1);
    snprintf(e->name, sizeof e->name, "%s", name ? name : "");
    e->lineno = lineno;
    return 0;
}

curve_keylist_t *curve_keylist_load(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "re");
    if (!f) {
        s_err(err, errlen, "cannot open authorized keys file %s: %s", path, strerror(errno));
        return NULL;
    }
    curve_keylist_t *self = rl_calloc(1, sizeof *self);
    int rc = s_parse_file(f, path, 1, s_list_add, self, err, errlen);
    fclose(f);
    if (rc < 0) curve_keylist_destroy(&self);
    return self;
}

void curve_keylist_destroy(curve_keylist_t **self_p) {
    curve_keylist_t *self = *self_p;
    if (!self) return;
    free(self->e);
    free(self);
    *self_p = NULL;
}

size_t curve_keylist_size(const curve_keylist_t *self) {
    return self->n;
}

static const char *s_user_id(const s_entry_t *e) {
    return e->name[0] ? e->name : e->z85;
}

const char *curve_keylist_find(const curve_keylist_t *self, const char *public_z85) {
    uint8_t bin[32];
    if (!curve_key_valid(public_z85) || !zmq_z85_decode(bin, public_z85)) return NULL;
    const s_entry_t *e = s_find_bin(self, bin);
    return e ? s_user_id(e) : NULL;
}

/* ---- the ZAP handler ------------------------------------------------------------------ */

struct curve_auth_t {
    pthread_t thread;
    int ctl[2];                 /* pipe: curve_auth_destroy writes ctl[1], the thread polls ctl[0] */
    void *rep;                  /* bound to ZAP_ENDPOINT; used and closed by the thread only */
    char *path;                 /* authorized_keys */
    curve_keylist_t *keys;      /* the thread's (after start) */
    struct stat seen;           /* the file as of the last load attempt */
    int stat_failed;            /* the last stat() failed (logged once) */
    double next_check;          /* s_now() of the next stat() */
    double last_report;         /* s_now() of the last refusal line */
    uint64_t suppressed;        /* refusals not logged since then */
    char last_who[160];         /* the last suppressed refusal, for the summary line */
    _Atomic uint64_t allowed, refused, loads;
};

static int s_same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Re-reads the allow-list when the file changed; a bad or unreadable file keeps the old one. */
static void s_maybe_reload(curve_auth_t *a) {
    double now = s_now();
    if (now < a->next_check) return;
    a->next_check = now + RELOAD_EVERY_S;
    struct stat st;
    if (stat(a->path, &st) != 0) {
        if (!a->stat_failed)
            LOG_E("CURVE: cannot stat authorized keys file %s: %s; keeping the %zu keys loaded",
                  a->path, strerror(errno), curve_keylist_size(a->keys));
        a->stat_failed = 1;
        return;
    }
    if (!a->stat_failed && s_same_file(&st, &a->seen)) return;
    a->stat_failed = 0;
    a->seen = st;  /* a bad file is reported once, and retried when it changes again */
    char err[512];
    curve_keylist_t *k = curve_keylist_load(a->path, err, sizeof err);
    if (!k) {
        LOG_E("CURVE: %s; keeping the previous allow-list (%zu keys)", err,
              curve_keylist_size(a->keys));
        return;
    }
    LOG_I("CURVE: reloaded %s: %zu authorized keys (was %zu)", a->path, curve_keylist_size(k),
          curve_keylist_size(a->keys));
    curve_keylist_destroy(&a->keys);
    a->keys = k;
    atomic_fetch_add(&a->loads, 1);
}

/* Logs a summary of suppressed refusals once the rate limit allows it. */
static void s_flush_reports(curve_auth_t *a, double now) {
    if (a->suppressed == 0 || now - a->last_report < REPORT_EVERY_S) return;
    LOG_W("CURVE: %llu more handshakes refused in the last %.0f s (the last: %s)",
          (unsigned long long)a->suppressed, now - a->last_report, a->last_who);
    a->suppressed = 0;
    a->last_report = now;
}

static void s_report_refusal(curve_auth_t *a, const char *who) {
    double now = s_now();
    if (now - a->last_report >= REPORT_EVERY_S) {
        if (a->suppressed)
            LOG_W("CURVE: refused %s (and %llu more refused handshakes not logged)", who,
                  (unsigned long long)a->suppressed);
        else
            LOG_W("CURVE: refused %s", who);
        a->suppressed = 0;
        a->last_report = now;
    } else {
        a->suppressed++;
        snprintf(a->last_who, sizeof a->last_who, "%s", who);
    }
}

/* Copies a frame as printable text (other bytes become '?'). */
static void s_frame_text(zmq_msg_t *m, char *out, size_t cap) {
    size_t n = zmq_msg_size(m);
    const unsigned char *d = zmq_msg_data(m);
    if (n > cap - 1) n = cap - 1;
    for (size_t i = 0; i < n; i++) out[i] = (d[i] >= 0x20 && d[i] < 0x7f) ? (char)d[i] : '?';
    out[n] = '\0';
}

static int s_frame_is(zmq_msg_t *m, const char *s) {
    return zmq_msg_size(m) == strlen(s) && memcmp(zmq_msg_data(m), s, strlen(s)) == 0;
}

/* Sends one reply frame; -1 when the context is terminating. */
static int s_send(void *sock, const void *data, size_t n, int more) {
    for (;;) {
        if (zmq_send(sock, data, n, more ? ZMQ_SNDMORE : 0) >= 0) return 0;
        if (errno == EINTR) continue;
        RL_ASSERT(errno == ETERM, "ZAP reply send: %s", zmq_strerror(errno));
        return -1;
    }
}

/* Receives one request and answers it. -1 when the context is terminating. */
static int s_serve(curve_auth_t *a) {
    zmq_msg_t f[ZAP_MAX_FRAMES];
    int n = 0, total = 0, more = 1, rc = 0;
    zmq_msg_t extra;  /* frames beyond ZAP_MAX_FRAMES are received here and dropped */
    zmq_msg_init(&extra);
    while (more) {
        zmq_msg_t *m = n < ZAP_MAX_FRAMES ? &f[n] : &extra;
        if (m != &extra) zmq_msg_init(m);
        if (zmq_msg_recv(m, a->rep, 0) < 0) {
            if (m != &extra) zmq_msg_close(m);
            if (errno == EINTR) continue;
            RL_ASSERT(errno == ETERM, "ZAP request recv: %s", zmq_strerror(errno));
            rc = -1;
            goto done;
        }
        more = zmq_msg_more(m);
        total++;
        if (m != &extra) n++;
    }
    char domain[64] = "", address[64] = "", mech[16] = "", key[CURVE_Z85_LEN + 1] = "";
    if (n > 2) s_frame_text(&f[2], domain, sizeof domain);
    if (n > 3) s_frame_text(&f[3], address, sizeof address);
    if (n > 5) s_frame_text(&f[5], mech, sizeof mech);
    const char *status = "400", *text, *user = "";
    const s_entry_t *e = NULL;
    if (total < 6 || !s_frame_is(&f[0], "1.0")) {
        status = "500";
        text = "malformed ZAP request";
    } else if (!s_frame_is(&f[5], "CURVE")) {
        text = "mechanism not allowed: CURVE only";
    } else if (total != 7 || zmq_msg_size(&f[6]) != 32) {
        status = "500";
        text = "malformed CURVE credentials";
    } else {
        zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
        e = s_find_bin(a->keys, zmq_msg_data(&f[6]));
        if (e) {
            status = "200";
            text = "OK";
            user = s_user_id(e);
        } else {
            text = "key not authorized";
        }
    }
    if (e) {
        atomic_fetch_add(&a->allowed, 1);
        LOG_I("CURVE: allowed %s (key %s) from %s", user, key, address);
    } else {
        atomic_fetch_add(&a->refused, 1);
        char who[160];
        snprintf(who, sizeof who, "%s client key %s from %s (domain '%s'): %s",
                 mech[0] ? mech : "?", key[0] ? key : "-", address[0] ? address : "?", domain,
                 text);
        s_report_refusal(a, who);
    }
    const void *id = n > 1 ? zmq_msg_data(&f[1]) : "";
    size_t idlen = n > 1 ? zmq_msg_size(&f[1]) : 0;
    if (s_send(a->rep, "1.0", 3, 1) < 0 || s_send(a->rep, id, idlen, 1) < 0 ||
        s_send(a->rep, status, 3, 1) < 0 || s_send(a->rep, text, strlen(text), 1) < 0 ||
        s_send(a->rep, user, strlen(user), 1) < 0 || s_send(a->rep, "", 0, 0) < 0)
        rc = -1;
done:
    for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
    zmq_msg_close(&extra);
    return rc;
}

static void *s_thread(void *arg) {
    curve_auth_t *a = arg;
    for (;;) {
        zmq_pollitem_t items[2] = {{a->rep, 0, ZMQ_POLLIN, 0}, {NULL, a->ctl[0], ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, 2, 500);
        if (rc < 0) {
            if (errno == EINTR) continue;
            RL_ASSERT(errno == ETERM, "ZAP poll: %s", zmq_strerror(errno));
            break;
        }
        if (items[1].revents) break;
        s_maybe_reload(a);
        if ((items[0].revents & ZMQ_POLLIN) && s_serve(a) < 0) break;
        s_flush_reports(a, s_now());
    }
    zmq_close(a->rep);
    a->rep = NULL;
    return NULL;
}

curve_auth_t *curve_auth_new(void *zctx, const char *authorized_keys_path, char *err,
                             size_t errlen) {
    RL_ASSERT(zctx && authorized_keys_path, "curve_auth_new needs a context and a path");
    if (curve_available(err, errlen) < 0) return NULL;
    curve_auth_t *a = rl_calloc(1, sizeof *a);
    a->ctl[0] = a->ctl[1] = -1;
    a->path = rl_strdup(authorized_keys_path);
    if (stat(a->path, &a->seen) != 0) {
        s_err(err, errlen, "cannot open authorized keys file %s: %s", a->path, strerror(errno));
        goto fail;
    }
    a->keys = curve_keylist_load(a->path, err, errlen);
    if (!a->keys) goto fail;
    a->rep = zmq_socket(zctx, ZMQ_REP);
    if (!a->rep) {
        s_err(err, errlen, "cannot create the ZAP socket: %s", zmq_strerror(errno));
        goto fail;
    }
    int linger = 0;
    zmq_setsockopt(a->rep, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(a->rep, ZAP_ENDPOINT) != 0) {
        s_err(err, errlen, "cannot bind the ZAP handler at %s: %s%s", ZAP_ENDPOINT,
              zmq_strerror(errno),
              errno == EADDRINUSE ? " (this ZeroMQ context already has a ZAP handler)" : "");
        goto fail;
    }
    if (pipe2(a->ctl, O_CLOEXEC) != 0) {
        s_err(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    a->next_check = s_now() + RELOAD_EVERY_S;
    a->last_report = s_now() - 2 * REPORT_EVERY_S;
    atomic_store(&a->loads, 1);
    int prc = pthread_create(&a->thread, NULL, s_thread, a);
    if (prc != 0) {
        s_err(err, errlen, "cannot start the ZAP thread: %s", strerror(prc));
        goto fail;
    }
    if (curve_keylist_size(a->keys) == 0)
        LOG_W("CURVE: %s lists no keys: every client is refused until keys are added",
              a->path);
    else
        LOG_I("CURVE: %zu authorized keys from %s", curve_keylist_size(a->keys), a->path);
    return a;
fail:
    if (a->rep) zmq_close(a->rep);
    for (int i = 0; i < 2; i++)
        if (a->ctl[i] >= 0) close(a->ctl[i]);
    curve_keylist_destroy(&a->keys);
    free(a->path);
    free(a);
    return NULL;
}

void curve_auth_destroy(curve_auth_t **self_p) {
    curve_auth_t *a = *self_p;
    if (!a) return;
    ssize_t w;
    do w = write(a->ctl[1], "x", 1);
    while (w < 0 && errno == EINTR);
    RL_ASSERT(w == 1, "ZAP control pipe write: %s", strerror(errno));
    pthread_join(a->thread, NULL);
    close(a->ctl[0]);
    close(a->ctl[1]);
    curve_keylist_destroy(&a->keys);
    free(a->path);
    free(a);
    *self_p = NULL;
}

uint64_t curve_auth_allowed(const curve_auth_t *self) {
    return atomic_load(&self->allowed);
}

uint64_t curve_auth_refused(const curve_auth_t *self) {
    return atomic_load(&self->refused);
}

uint64_t curve_auth_loads(const curve_auth_t *self) {
    return atomic_load(&self->loads);
}

/* ---- socket set-up -------------------------------------------------------------------- */

static int s_setopt(void *sock, int opt, const void *val, size_t len, const char *what,
                    char *err, size_t errlen) {
    if (zmq_setsockopt(sock, opt, val, len) == 0) return 0;
    s_err(err, errlen, "cannot set %s: %s", what, zmq_strerror(errno));
    return -1;
}

int curve_server_setup(void *sock, const char *secret_z85, char *err, size_t errlen) {
    if (curve_available(err, errlen) < 0) return -1;
    if (!curve_key_valid(secret_z85)) {
        s_err(err, errlen, "the server secret key is not a %d-character Z85 key", CURVE_Z85_LEN);
        return -1;
    }
    int one = 1;
    if (s_setopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one, "ZMQ_CURVE_SERVER", err, errlen) ||
        s_setopt(sock, ZMQ_CURVE_SECRETKEY, secret_z85, CURVE_Z85_LEN, "ZMQ_CURVE_SECRETKEY",
                 err, errlen) ||
        s_setopt(sock, ZMQ_ZAP_DOMAIN, CURVE_ZAP_DOMAIN, strlen(CURVE_ZAP_DOMAIN),
                 "ZMQ_ZAP_DOMAIN", err, errlen))
        return -1;
    return 0;
}

int curve_client_setup(void *sock, const char *server_public_z85, const char *client_secret_z85,
                       const char *client_public_z85, char *err, size_t errlen) {
    if (curve_available(err, errlen) < 0) return -1;
    if (!curve_key_valid(server_public_z85)) {
        s_err(err, errlen, "the server public key is not a %d-character Z85 key", CURVE_Z85_LEN);
        return -1;
    }
    if (!curve_key_valid(client_secret_z85) || !curve_key_valid(client_public_z85)) {
        s_err(err, errlen, "the client key pair is not two %d-character Z85 keys", CURVE_Z85_LEN);
        return -1;
    }
    char derived[41];
    if (zmq_curve_public(derived, client_secret_z85) != 0 ||
        strcmp(derived, client_public_z85) != 0) {
        s_err(err, errlen, "the client public key does not belong to the client secret key");
        return -1;
    }
    if (s_setopt(sock, ZMQ_CURVE_SERVERKEY, server_public_z85, CURVE_Z85_LEN,
                 "ZMQ_CURVE_SERVERKEY", err, errlen) ||
        s_setopt(sock, ZMQ_CURVE_PUBLICKEY, client_public_z85, CURVE_Z85_LEN,
                 "ZMQ_CURVE_PUBLICKEY", err, errlen) ||
        s_setopt(sock, ZMQ_CURVE_SECRETKEY, client_secret_z85, CURVE_Z85_LEN,
                 "ZMQ_CURVE_SECRETKEY", err, errlen))
        return -1;
    return 0;
}

/* ---- endpoints ------------------------------------------------------------------------ */

int curve_endpoint_is_local(const char *endpoint) {
    if (!endpoint) return 0;
    if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0) return 1;
    if (strncmp(endpoint, "tcp://", 6) != 0) return 0;
    const char *addr = endpoint + 6;
    if (strchr(addr, ';')) return 0;  /* "tcp://source;destination": judge conservatively */
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || colon[1] == '\0') return 0;
    for (const char *p = colon + 1; *p; p++)
        if (!(*p >= '0' && *p <= '9') && !(*p == '*' && p == colon + 1 && p[1] == '\0')) return 0;
    char host[256];
    size_t n = (size_t)(colon - addr);
    if (n >= sizeof host) return 0;
    memcpy(host, addr, n);
    host[n] = '\0';
    if (strcmp(host, "[::1]") == 0 || strcasecmp(host, "localhost") == 0) return 1;
    struct in_addr in;
    if (inet_pton(AF_INET, host, &in) != 1) return 0;
    return (ntohl(in.s_addr) >> 24) == 127;
}
