/* curve: ZeroMQ CURVE authentication and encryption for the learner's sockets.
 *
 * Keys are Z85 text (40 characters for 32 bytes). Files:
 *   PREFIX.key       the secret key, one line, mode 0600 (group/others access is refused)
 *   PREFIX.pub       the public key, one line: "KEY" or "KEY NAME"
 *   authorized_keys  the allow-list: one "KEY [NAME] [# comment]" per line, so that
 *                    `cat actor.pub >> authorized_keys` adds a named key
 * Every file may hold '#' comment lines and blank lines; anything else is refused with
 * path:line. A ZAP handler (RFC 27) thread answers libzmq's authentication requests from the
 * allow-list. Environmental failures return -1 (or NULL) with a message in err. */
#ifndef METASAC_CURVE_H
#define METASAC_CURVE_H

#include <stddef.h>
#include <stdint.h>

#define CURVE_Z85_LEN 40   /* characters of a Z85 key, without the terminating NUL */
#define CURVE_NAME_MAX 64  /* bytes of a key name in a .pub or authorized_keys line, with NUL */
#define CURVE_ZAP_DOMAIN "metasac"

/* 0 when libzmq was built with CURVE; -1 with a message saying so otherwise. */
int curve_available(char *err, size_t errlen);

/* Reads a secret key file into secret_z85 and derives public_z85 (both NUL-terminated).
 * Refuses a file that is not a regular file or that group/others may access (the message
 * names the path and the fix `chmod 600`). 0 or -1; on -1 the outputs are zeroed. */
int curve_load_secret(const char *path, char secret_z85[41], char public_z85[41], char *err,
                      size_t errlen);

/* Reads a public key file ("KEY" or "KEY NAME" on one line) into public_z85. 0 or -1. */
int curve_load_public(const char *path, char public_z85[41], char *err, size_t errlen);

/* Writes a fresh key pair: PREFIX.key (mode 0600) and PREFIX.pub ("KEY NAME", NAME the last
 * path component of PREFIX when it is a valid name). Never overwrites: refuses when either
 * file exists (and leaves no half pair behind on failure). 0 or -1. */
int curve_keygen(const char *prefix, char *err, size_t errlen);

/* 1 when the text is exactly CURVE_Z85_LEN characters that decode as Z85, else 0. */
int curve_key_valid(const char *z85);

/* ---- the allow-list ------------------------------------------------------------------- */

typedef struct curve_keylist_t curve_keylist_t;

/* Parses an authorized_keys file. Any bad line fails the whole load with "path:line: why".
 * An identical key listed twice with the same (or no) name is accepted once; with
 * different names it is refused. An empty list is valid (it refuses everyone). */
curve_keylist_t *curve_keylist_load(const char *path, char *err, size_t errlen);
void curve_keylist_destroy(curve_keylist_t **self_p);
/* Number of distinct keys. */
size_t curve_keylist_size(const curve_keylist_t *self);
/* The user id of an allowed key: its name, or its Z85 text when it has none. NULL when the
 * key is not listed. Accepts the key as Z85 (40 chars) text. The result lives as long as
 * the list. */
const char *curve_keylist_find(const curve_keylist_t *self, const char *public_z85);

/* ---- the ZAP handler ------------------------------------------------------------------- */

typedef struct curve_auth_t curve_auth_t;

/* Loads the allow-list and starts a thread that binds inproc://zeromq.zap.01 in zctx (one
 * handler per context) and answers every ZAP request: 200 with user id = the key's name (or
 * its Z85) for mechanism CURVE with a listed key, 400 for anything else (NULL and PLAIN
 * included), each refusal logged at WARN with key and address, at most one line a second
 * (with a count of suppressed ones). The list is re-read when the file changes (checked at
 * most once a second); a file that turns bad or unreadable keeps the old list, logged.
 * Create it before the server sockets bind. NULL with a message on failure. */
curve_auth_t *curve_auth_new(void *zctx, const char *authorized_keys_path, char *err,
                             size_t errlen);

/* Stops and joins the thread (it closes its own socket) and frees. Never hangs, also when the
 * context was shut down or terminated first. Destroy it only AFTER closing the server sockets:
 * with no handler bound, libzmq 4.3 lets every CURVE client in. NULL-safe; NULLs *self_p. */
void curve_auth_destroy(curve_auth_t **self_p);

/* Handshakes allowed and refused so far (readable from any thread). */
uint64_t curve_auth_allowed(const curve_auth_t *self);
uint64_t curve_auth_refused(const curve_auth_t *self);
/* Successful loads of the allow-list (1 after curve_auth_new, +1 per reload). */
uint64_t curve_auth_loads(const curve_auth_t *self);

/* ---- socket set-up (call before bind/connect) ------------------------------------------ */

/* Makes sock a CURVE server with this secret key and ZAP domain CURVE_ZAP_DOMAIN. 0 or -1. */
int curve_server_setup(void *sock, const char *secret_z85, char *err, size_t errlen);

/* Makes sock a CURVE client of the server with this public key, using the client's key pair
 * (refused when client_public_z85 is not the public key of client_secret_z85). 0 or -1. */
int curve_client_setup(void *sock, const char *server_public_z85, const char *client_secret_z85,
                       const char *client_public_z85, char *err, size_t errlen);

/* 1 when only this host can reach the endpoint: ipc, inproc, tcp on 127.x.x.x,
 * localhost or [::1]; 0 for anything else (tcp on "*", 0.0.0.0, other hosts, interface names,
 * source-address forms "SRC;DST", other transports). */
int curve_endpoint_is_local(const char *endpoint);

#endif
