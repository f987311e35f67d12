/* Admin HTTP endpoint (--admin ADDR:PORT): /metrics, /healthz, /readyz.
 *
 * A deliberately tiny HTTP/1.1 server run by the collector thread, never by
 * a reactor: the collector polls the listening socket and the client
 * sockets next to its eventfd (telemetry/collector.c) and calls
 * sm_admin_handle() with the results. Every answer ends the connection
 * (Connection: close), so a client is: read one request head, write one
 * response, close.
 *
 * Bounds: at most SM_ADMIN_MAX_CLIENTS connections at once (more are
 * accepted and closed at once), a request head of at most SM_ADMIN_REQ_MAX
 * bytes (else 431), SM_ADMIN_TIMEOUT_MS for the whole exchange (else the
 * connection is closed). `rejected` counts connections closed unanswered
 * (too many, EOF before a whole head, timeout); `requests` counts answers. The /metrics body is
 * rendered into one buffer of fixed size allocated at open; while one client
 * is still being sent it, another /metrics request waits its turn. A body
 * that does not fit is answered 500 and counted in `overflows`.
 *
 * Routes: GET /metrics (200, text/plain; version=0.0.4), GET /healthz (200
 * "ok"), GET /readyz (200 "ready" once ready() is true, else 503 "not
 * ready"), other paths 404, other methods 405 (Allow: GET), malformed
 * requests 400. A query string is ignored. */
#ifndef SM_TELEMETRY_ADMIN_H
#define SM_TELEMETRY_ADMIN_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "telemetry/prom.h"

#define SM_ADMIN_MAX_CLIENTS 8
#define SM_ADMIN_REQ_MAX     4096
#define SM_ADMIN_TIMEOUT_MS  5000

/* ---- request parser (sans-I/O) ---- */

enum sm_admin_method {
	SM_ADMIN_GET = 0,
	SM_ADMIN_OTHER, /* any other valid method token */
};

struct sm_admin_request {
	uint8_t method;   /* enum sm_admin_method */
	const char *path; /* points into the input; up to '?' or the end of the target */
	size_t path_len;
};

/* Parses a request head in buf[0..len). Returns the head's length (through
 * the blank line) when complete, 0 when more bytes are needed,
 * SM_ERR_LIMIT when no complete head fits in SM_ADMIN_REQ_MAX bytes, or
 * SM_ERR_INVALID for a malformed request line (method token, one space,
 * target starting with '/' or "*", one space, "HTTP/1.0" or "HTTP/1.1")
 * or a bare LF/CR in the head. Header fields are skipped. */
long sm_admin_parse(const char *buf, size_t len, struct sm_admin_request *out);

/* The status and body to answer a request with (static strings). */
struct sm_admin_route {
	int status;       /* 200, 404, 405, 503; 0 = /metrics (render it) */
	const char *body; /* NULL for /metrics */
};
struct sm_admin_route sm_admin_route(const struct sm_admin_request *req, bool ready);

/* Parses "ADDR:PORT" (IPv4, or [IPv6]:PORT; port 0..65535). Returns SM_OK
 * or SM_ERR_INVALID. */
int sm_admin_parse_addr(const char *s, struct sockaddr_storage *out, socklen_t *len);

/* ---- server ---- */

struct sm_admin_client {
	int fd; /* -1 = free slot */
	uint8_t state;
	uint64_t deadline_ms;
	size_t in_len;
	char in[SM_ADMIN_REQ_MAX];
	char head[256]; /* response head, or a whole small response */
	size_t head_len, head_off;
	const char *body; /* small static body, or the shared metrics buffer */
	size_t body_len, body_off;
};

/* Renders the metric set into w; returns SM_OK or SM_ERR_LIMIT. */
typedef int (*sm_admin_render_fn)(void *ctx, struct sm_prom *w);
typedef bool (*sm_admin_ready_fn)(void *ctx);

struct sm_admin {
	int listen_fd;
	struct sockaddr_storage addr; /* bound address (port 0 resolved) */
	socklen_t addr_len;
	sm_admin_render_fn render;
	sm_admin_ready_fn ready;
	void *ctx;
	char *mbuf; /* /metrics body, mbuf_cap bytes */
	size_t mbuf_cap;
	int mbuf_owner; /* client index being sent mbuf, -1 = free */
	struct sm_admin_client clients[SM_ADMIN_MAX_CLIENTS];
	/* written by the collector thread, read by the render callback */
	uint64_t requests, rejected, overflows;
};

/* Binds and listens on addr; allocates the metrics buffer (body_cap bytes).
 * Returns SM_OK, SM_ERR_IO (message in err) or SM_ERR_NOMEM. */
int sm_admin_open(struct sm_admin *a, const struct sockaddr_storage *addr, socklen_t len,
                  size_t body_cap, sm_admin_render_fn render, sm_admin_ready_fn ready, void *ctx,
                  char *err, size_t errcap);
void sm_admin_close(struct sm_admin *a);

/* Fills pfd with the sockets to poll (listener first); returns how many
 * (at most 1 + SM_ADMIN_MAX_CLIENTS). */
int sm_admin_pollfds(const struct sm_admin *a, struct pollfd *pfd);

/* Processes what poll() reported in pfd[0..n) (as filled by
 * sm_admin_pollfds) and expires clients past their deadline. now_ms is a
 * monotonic clock. Never blocks: every socket is non-blocking. */
void sm_admin_handle(struct sm_admin *a, const struct pollfd *pfd, int n, uint64_t now_ms);

#endif
