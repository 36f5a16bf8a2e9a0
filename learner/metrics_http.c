#include "metrics_http.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct metrics_http {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t lock;
    char *text;             /* the last rendering, len bytes */
    size_t len, cap;
    _Atomic uint64_t requests;
};

static enum MHD_Result s_answer(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls) {
    (void)version, (void)upload, (void)con_cls;
    metrics_http_t *m = cls;
    if (*upload_size != 0 || strcmp(method, "GET") != 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
        MHD_destroy_response(r);
        return rc;
    }
    if (strcmp(url, "/metrics") != 0) {
        static const char nf[] = "not found: the metrics are at /metrics\n";
        struct MHD_Response *r =
            MHD_create_response_from_buffer(sizeof nf - 1, (void *)nf, MHD_RESPMEM_PERSISTENT);
        enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_NOT_FOUND, r);
        MHD_destroy_response(r);
        return rc;
    }
    pthread_mutex_lock(&m->lock);
    struct MHD_Response *r = MHD_create_response_from_buffer(m->len, m->text, MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&m->lock);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    atomic_fetch_add(&m->requests, 1);
    return rc;
}

metrics_http_t *metrics_http_new(int port, char *err, size_t errlen) {
    metrics_http_t *m = rl_calloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    m->cap = 4096;
    m->text = rl_malloc(m->cap);
    /* a scraper gets 10 s and at most 16 connections at once: it cannot tie the daemon up */
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL,
                            &s_answer, m, MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!m->d) {
        snprintf(err, errlen, "cannot serve metrics on port %d (in use?)", port);
        metrics_http_destroy(&m);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : port;
    return m;
}

void metrics_http_destroy(metrics_http_t **self_p) {
    if (!self_p || !*self_p) return;
    metrics_http_t *m = *self_p;
    if (m->d) MHD_stop_daemon(m->d);
    pthread_mutex_destroy(&m->lock);
    free(m->text);
    free(m);
    *self_p = NULL;
}

int metrics_http_port(const metrics_http_t *m) { return m->port; }

uint64_t metrics_http_requests(const metrics_http_t *m) {
    return atomic_load(&((metrics_http_t *)m)->requests);
}

void metrics_http_set(metrics_http_t *m, const char *text, size_t len) {
    pthread_mutex_lock(&m->lock);
    if (len > m->cap) {
        free(m->text);
        m->cap = len + len / 2;
        m->text = rl_malloc(m->cap);
    }
    memcpy(m->text, text, len);
    m->len = len;
    pthread_mutex_unlock(&m->lock);
}
