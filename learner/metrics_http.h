/* The learner's OpenMetrics/Prometheus endpoint: GET /metrics over HTTP, served by
 * libmicrohttpd in its own thread. The learner renders the text (Prometheus text exposition
 * format 0.0.4) in its loop and hands it over with metrics_http_set; a request copies the last
 * text under a lock, so the learner's loop never waits for a scraper. */
#ifndef METASAC_METRICS_HTTP_H
#define METASAC_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics_http metrics_http_t;

/* Listens on port (0 = a free one) on every interface. NULL with a message in err when the port
 * is taken or the daemon cannot start. */
metrics_http_t *metrics_http_new(int port, char *err, size_t errlen);
/* Stops the daemon (waits for its thread) and NULLs *self_p; NULL or *NULL is a no-op. */
void metrics_http_destroy(metrics_http_t **self_p);
/* The port actually listened on. */
int metrics_http_port(const metrics_http_t *self);
/* Replaces the text served (copied; len bytes, no NUL needed). */
void metrics_http_set(metrics_http_t *self, const char *text, size_t len);
/* Requests served with 200 so far (any thread). */
uint64_t metrics_http_requests(const metrics_http_t *self);

#endif
