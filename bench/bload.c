/* Load engine: connection state machine over io_uring; see bload.h. */
#include <errno.h>
#include <liburing.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bload_int.h"

uint64_t sm_bload_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *sm_bload_err_str(enum sm_bload_err e)
{
	static const char *const names[SM_BLOAD_E_COUNT] = {
	        "connect", "proxy",         "tls",     "read",       "write",
	        "framing", "status_non2xx", "timeout", "rst_stream", "goaway",
	};
	return (unsigned)e < SM_BLOAD_E_COUNT ? names[e] : "unknown";
}

struct io_uring_sqe *sm_bload_get_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe; /* never NULL after a submit with an empty SQ */
}

static uint64_t ud(struct worker *w, struct conn *c, unsigned op)
{
	return ((uint64_t)(c - w->c) << 4) | op;
}

int sm_bload_stopping(struct worker *w)
{
	return w->stopping || atomic_load_explicit(&w->cfg->stop, memory_order_relaxed);
}

void sm_bload_count_err(struct worker *w, struct conn *c, enum sm_bload_err e, const char *msg)
{
	if (w->stopping)
		return; /* aborts at the end of the run are not errors */
	if (c->timed_out)
		e = SM_BLOAD_E_TIMEOUT;
	if (w->st->err[e]++ == 0)
		snprintf(w->st->first_err[e], sizeof(w->st->first_err[e]), "%s", msg);
	atomic_fetch_add_explicit(&w->st->errors, 1, memory_order_relaxed);
	uint64_t tot =
	        atomic_fetch_add_explicit(&w->cfg->errors_total, 1, memory_order_relaxed) + 1;
	if (w->cfg->max_errors && tot >= w->cfg->max_errors)
		atomic_store(&w->cfg->stop, 1);
}

/* ---- submission helpers ---- */

void sm_bload_post_recv(struct worker *w, struct conn *c)
{
	if (c->recv_busy || c->fd < 0)
		return;
	if (c->rx_off == c->rx_len)
		c->rx_off = c->rx_len = 0;
	if (c->rx_len == SM_BLOAD_RX) {
		if (c->rx_off == 0)
			return; /* full: the parser must consume first (cannot happen) */
		memmove(c->rx, c->rx + c->rx_off, c->rx_len - c->rx_off);
		c->rx_len -= c->rx_off;
		c->rx_off = 0;
	}
	struct io_uring_sqe *sqe = sm_bload_get_sqe(w);
	io_uring_prep_recv(sqe, c->fd, c->rx + c->rx_len, SM_BLOAD_RX - c->rx_len, 0);
	io_uring_sqe_set_data64(sqe, ud(w, c, OP_RECV));
	c->recv_busy = 1;
}

void sm_bload_flush_tx(struct worker *w, struct conn *c)
{
	if (c->send_busy || c->fd < 0 || c->tx_off == c->tx_len)
		return;
	struct io_uring_sqe *sqe = sm_bload_get_sqe(w);
	c->tx_inflight = c->tx_len - c->tx_off;
	io_uring_prep_send(sqe, c->fd, c->tx + c->tx_off, c->tx_inflight, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud(w, c, OP_SEND));
	c->send_busy = 1;
}

static void arm_timer(struct worker *w, struct conn *c, uint64_t at_ns)
{
	if (at_ns > w->cfg->end_ns)
		at_ns = w->cfg->end_ns;
	c->ts.tv_sec = (long long)(at_ns / 1000000000ull);
	c->ts.tv_nsec = (long long)(at_ns % 1000000000ull);
	struct io_uring_sqe *sqe = sm_bload_get_sqe(w);
	io_uring_prep_timeout(sqe, &c->ts, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, ud(w, c, OP_TIMER));
	c->timer_busy = 1;
}

int sm_bload_tx_append(struct conn *c, const void *p, size_t n)
{
	if (c->tx_off == c->tx_len && !c->send_busy)
		c->tx_off = c->tx_len = 0;
	if (SM_BLOAD_TX - c->tx_len < n)
		return -1;
	memcpy(c->tx + c->tx_len, p, n);
	c->tx_len += (uint32_t)n;
	return 0;
}

/* ---- connection lifecycle ---- */

static void start_conn(struct worker *w, struct conn *c);
static void send_request(struct worker *w, struct conn *c);

int sm_bload_claim_request(struct worker *w)
{
	if (w->stopping)
		return 0;
	if (!w->cfg->max_requests)
		return 1;
	uint64_t k = atomic_fetch_add_explicit(&w->cfg->issued, 1, memory_order_relaxed);
	return k < w->cfg->max_requests; /* in-flight requests still finish */
}

void sm_bload_unclaim_request(struct worker *w)
{
	if (w->cfg->max_requests)
		atomic_fetch_sub_explicit(&w->cfg->issued, 1, memory_order_relaxed);
}

static int budget_spent(struct worker *w)
{
	return w->cfg->max_requests &&
	       atomic_load_explicit(&w->cfg->issued, memory_order_relaxed) >= w->cfg->max_requests;
}

static void finish_close(struct worker *w, struct conn *c)
{
	if (c->recv_busy || c->send_busy || c->connect_busy || c->timer_busy)
		return;
	if (c->ssl) {
		wolfSSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->h2)
		sm_bh2_close(c->h2); /* streams still open are abandoned */
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->started) {
		c->started = 0;
		w->starting--;
	}
	c->st = C_IDLE;
	if (sm_bload_stopping(w))
		return;
	if (c->need_restart) {
		c->need_restart = 0;
		arm_timer(w, c, sm_bload_now_ns() + 10 * 1000000ull); /* backoff after an error */
		c->st = C_WAIT;
		return;
	}
	start_conn(w, c);
}

/* Ends the connection: `error` closes after an error (restart after a
 * backoff), otherwise it is a normal close (restart at once). */
void sm_bload_conn_close(struct worker *w, struct conn *c, int error)
{
	c->need_restart = (uint8_t)error;
	c->st = C_CLOSING;
	if (c->fd >= 0 && (c->recv_busy || c->send_busy || c->connect_busy))
		shutdown(c->fd, SHUT_RDWR);
	/* shutdown does not end a connect still in SYN retries, nor a timer */
	if (c->connect_busy) {
		struct io_uring_sqe *sqe = sm_bload_get_sqe(w);
		io_uring_prep_cancel64(sqe, ud(w, c, OP_CONNECT), 0);
		io_uring_sqe_set_data64(sqe, OP_NONE);
	}
	if (c->timer_busy) {
		struct io_uring_sqe *sqe = sm_bload_get_sqe(w);
		io_uring_prep_timeout_remove(sqe, ud(w, c, OP_TIMER), 0);
		io_uring_sqe_set_data64(sqe, OP_NONE);
	}
	finish_close(w, c);
}

void sm_bload_fail(struct worker *w, struct conn *c, enum sm_bload_err e, const char *msg)
{
	sm_bload_count_err(w, c, e, msg);
	sm_bload_conn_close(w, c, 1);
}

static void start_conn(struct worker *w, struct conn *c)
{
	struct sm_bload_cfg *cfg = w->cfg;
	uint64_t now = sm_bload_now_ns();

	if (sm_bload_stopping(w) || c->st != C_IDLE || budget_spent(w))
		return;
	if (cfg->rate > 0 && cfg->new_conn && c->next_ns > now) {
		arm_timer(w, c, c->next_ns);
		c->st = C_WAIT;
		return;
	}
	if (w->starting >= w->cfg->connect_window)
		return; /* picked up when a slot frees (see started) */
	if (cfg->new_conn && !cfg->hold && !sm_bload_claim_request(w))
		return;
	int fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		sm_bload_count_err(w, c, SM_BLOAD_E_CONNECT, strerror(errno));
		c->need_restart = 1;
		sm_bload_conn_close(w, c, 1);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->eof = c->timed_out = 0;
	c->rx_len = c->rx_off = c->tx_len = c->tx_off = 0;
	c->st = C_CONNECTING;
	c->started = 1;
	w->starting++;
	c->op_start = now;
	if (cfg->new_conn)
		c->t0 = (cfg->rate > 0) ? c->next_ns : now;
	struct io_uring_sqe *sqe = sm_bload_get_sqe(w);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&cfg->addr, cfg->addrlen);
	io_uring_sqe_set_data64(sqe, ud(w, c, OP_CONNECT));
	c->connect_busy = 1;
	w->st->connects++;
}

/* Starts as many idle connections as the starting window allows. */
static void start_more(struct worker *w)
{
	while (!sm_bload_stopping(w) && w->starting < w->cfg->connect_window &&
	       w->next_unstarted < w->n)
		start_conn(w, &w->c[w->next_unstarted++]);
	if (sm_bload_stopping(w) || w->starting >= w->cfg->connect_window)
		return;
	/* connections parked by the window after a close */
	for (unsigned i = 0; i < w->next_unstarted && w->starting < w->cfg->connect_window; i++)
		if (w->c[i].st == C_IDLE)
			start_conn(w, &w->c[i]);
}

/* The connection is ready for requests (tunnel and TLS done). */
void sm_bload_established(struct worker *w, struct conn *c)
{
	if (c->started) {
		c->started = 0;
		w->starting--;
	}
	atomic_fetch_add_explicit(&w->st->established, 1, memory_order_relaxed);
	if (w->cfg->hold) {
		c->st = C_HOLD;
		sm_bload_post_recv(w, c);
		return;
	}
	if (w->cfg->http2) {
		sm_bload_h2_start(w, c);
		return;
	}
	c->st = C_READY;
	if (w->cfg->new_conn) {
		send_request(w, c);
		return;
	}
	if (!sm_bload_claim_request(w)) {
		sm_bload_conn_close(w, c, 0);
		return;
	}
	uint64_t now = sm_bload_now_ns();
	if (w->cfg->rate > 0 && c->next_ns > now) {
		arm_timer(w, c, c->next_ns);
		return;
	}
	send_request(w, c);
}

static void send_request(struct worker *w, struct conn *c)
{
	struct sm_bload_cfg *cfg = w->cfg;
	uint64_t now = sm_bload_now_ns();
	if (!cfg->new_conn)
		c->t0 = (cfg->rate > 0) ? c->next_ns : now;
	if (cfg->rate > 0) {
		c->sched++;
		c->next_ns += (uint64_t)w->interval_ns;
	}
	sm_bresp_init(c->resp, SM_BRESP_GET);
	c->st = C_REQ;
	c->op_start = now;
	if (c->ssl) {
		int rc = wolfSSL_write(c->ssl, cfg->req, (int)cfg->req_len);
		if (rc != (int)cfg->req_len) {
			sm_bload_fail(w, c, SM_BLOAD_E_TLS, "wolfSSL_write failed");
			return;
		}
	} else if (sm_bload_tx_append(c, cfg->req, cfg->req_len) < 0) {
		sm_bload_fail(w, c, SM_BLOAD_E_WRITE, "send buffer full");
		return;
	}
	sm_bload_flush_tx(w, c);
	sm_bload_post_recv(w, c);
}

void sm_bload_record(struct worker *w, struct conn *c, uint64_t t0, uint64_t now, unsigned status,
                     uint64_t bytes)
{
	uint64_t us = now > t0 ? (now - t0) / 1000 : 0;
	sm_bhist_record(&w->st->lat, us);
	atomic_fetch_add_explicit(&w->st->requests, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st->bytes, bytes, memory_order_relaxed);
	if (status >= 100 && status < 600)
		w->st->status_class[status / 100]++;
	if (status < 200 || status > 299) {
		char msg[64];
		snprintf(msg, sizeof(msg), "status %u", status);
		sm_bload_count_err(w, c, SM_BLOAD_E_STATUS, msg);
	}
}

/* A response is complete: account for it and go on. */
static void response_done(struct worker *w, struct conn *c)
{
	struct sm_bresp *r = c->resp;
	uint64_t now = sm_bload_now_ns();
	sm_bload_record(w, c, c->t0, now, r->status, r->total_bytes);
	if (w->cfg->new_conn || !r->keep_alive || c->eof) {
		sm_bload_conn_close(w, c, 0);
		return;
	}
	c->st = C_READY;
	if (!sm_bload_claim_request(w)) {
		sm_bload_conn_close(w, c, 0);
		return;
	}
	if (w->cfg->rate > 0 && c->next_ns > now) {
		arm_timer(w, c, c->next_ns);
		return;
	}
	send_request(w, c);
}

/* Feeds plaintext response bytes; returns 0, or -1 after closing c. */
static int feed_response(struct worker *w, struct conn *c, const uint8_t *p, size_t n)
{
	struct sm_bresp *r = c->resp;
	if (r->done) {
		if (n == 0)
			return 0;
		sm_bload_fail(w, c, SM_BLOAD_E_FRAMING, "bytes after the end of a response");
		return -1;
	}
	long k = sm_bresp_feed(r, p, n);
	if (k < 0) {
		char msg[96];
		snprintf(msg, sizeof(msg), "response refused: %s", sm_bresp_reason_str(r->why));
		sm_bload_fail(w, c, SM_BLOAD_E_FRAMING, msg);
		return -1;
	}
	if (!r->done)
		return 0;
	if ((size_t)k != n) {
		sm_bload_fail(w, c, SM_BLOAD_E_FRAMING, "bytes after the end of a response");
		return -1;
	}
	return 1;
}

static void on_proxy_bytes(struct worker *w, struct conn *c)
{
	struct sm_bresp *r = c->resp;
	long k = sm_bresp_feed(r, c->rx + c->rx_off, c->rx_len - c->rx_off);
	if (k < 0) {
		sm_bload_fail(w, c, SM_BLOAD_E_PROXY, sm_bresp_reason_str(r->why));
		return;
	}
	c->rx_off += (uint32_t)k;
	if (!r->done) {
		sm_bload_post_recv(w, c);
		return;
	}
	if (r->status < 200 || r->status > 299) {
		char msg[64];
		snprintf(msg, sizeof(msg), "CONNECT answered %u", r->status);
		sm_bload_fail(w, c, SM_BLOAD_E_PROXY, msg);
		return;
	}
	if (w->cfg->tls)
		sm_bload_tls_start(w, c);
	else
		sm_bload_established(w, c);
}

static void on_recv(struct worker *w, struct conn *c, int res)
{
	c->recv_busy = 0;
	if (c->st == C_CLOSING) {
		finish_close(w, c);
		return;
	}
	if (res < 0) {
		char msg[64];
		snprintf(msg, sizeof(msg), "recv: %s", strerror(-res));
		sm_bload_fail(w, c, SM_BLOAD_E_READ, msg);
		return;
	}
	if (res == 0)
		c->eof = 1;
	c->rx_len += (uint32_t)res;

	switch (c->st) {
	case C_PROXY:
		if (c->eof) {
			sm_bload_fail(w, c, SM_BLOAD_E_PROXY,
			              "proxy closed before answering CONNECT");
			return;
		}
		on_proxy_bytes(w, c);
		return;
	case C_TLS: sm_bload_tls_handshake(w, c); return;
	case C_HOLD:
		sm_bload_fail(w, c, SM_BLOAD_E_READ,
		              c->eof ? "idle tunnel closed by peer" : "data on idle tunnel");
		return;
	case C_READY:
		if (c->eof) { /* the server closed an idle keep-alive connection: reconnect */
			sm_bload_conn_close(w, c, 0);
			return;
		}
		if (c->ssl) { /* post-handshake messages (session tickets) */
			int n = wolfSSL_read(c->ssl, w->plain, sizeof(w->plain));
			if (n > 0) {
				sm_bload_fail(w, c, SM_BLOAD_E_FRAMING,
				              "unsolicited bytes between responses");
				return;
			}
			sm_bload_post_recv(w, c);
			return;
		}
		sm_bload_fail(w, c, SM_BLOAD_E_FRAMING, "unsolicited bytes between responses");
		return;
	case C_REQ: break;
	case C_H2: sm_bload_h2_on_recv(w, c); return;
	default: sm_bload_fail(w, c, SM_BLOAD_E_READ, "recv in unexpected state"); return;
	}

	if (!c->ssl) {
		int d = feed_response(w, c, c->rx + c->rx_off, c->rx_len - c->rx_off);
		if (d < 0)
			return;
		c->rx_off = c->rx_len;
		if (d == 0 && c->eof) {
			if (sm_bresp_eof(c->resp))
				d = 1;
			else {
				sm_bload_fail(w, c, SM_BLOAD_E_READ, "peer closed mid-response");
				return;
			}
		}
		if (d == 1) {
			response_done(w, c);
			return;
		}
		sm_bload_post_recv(w, c);
		return;
	}

	for (;;) {
		int n = wolfSSL_read(c->ssl, w->plain, sizeof(w->plain));
		if (n > 0) {
			int d = feed_response(w, c, w->plain, (size_t)n);
			if (d < 0)
				return;
			if (d == 1) {
				response_done(w, c);
				return;
			}
			continue;
		}
		int err = wolfSSL_get_error(c->ssl, n);
		if (err == WOLFSSL_ERROR_WANT_READ) {
			if (c->eof) {
				if (sm_bresp_eof(c->resp)) {
					response_done(w, c);
					return;
				}
				sm_bload_fail(w, c, SM_BLOAD_E_READ, "peer closed mid-response");
				return;
			}
			sm_bload_flush_tx(w, c);
			sm_bload_post_recv(w, c);
			return;
		}
		if (err == WOLFSSL_ERROR_ZERO_RETURN || c->eof) {
			if (sm_bresp_eof(c->resp)) {
				response_done(w, c);
				return;
			}
			sm_bload_fail(w, c, SM_BLOAD_E_READ, "TLS closed mid-response");
			return;
		}
		char msg[96];
		snprintf(msg, sizeof(msg), "read: %s (%d)", wolfSSL_ERR_reason_error_string(err),
		         err);
		sm_bload_fail(w, c, SM_BLOAD_E_TLS, msg);
		return;
	}
}

static void on_send(struct worker *w, struct conn *c, int res)
{
	c->send_busy = 0;
	if (c->st == C_CLOSING) {
		finish_close(w, c);
		return;
	}
	if (res <= 0) {
		char msg[64];
		snprintf(msg, sizeof(msg), "send: %s", res ? strerror(-res) : "0 bytes");
		sm_bload_fail(w, c, SM_BLOAD_E_WRITE, msg);
		return;
	}
	c->tx_off += (uint32_t)res;
	if (c->tx_off == c->tx_len)
		c->tx_off = c->tx_len = 0;
	if (c->st == C_H2) {
		sm_bload_h2_on_send(w, c); /* frames waiting for room in tx, then a flush */
		return;
	}
	sm_bload_flush_tx(w, c);
}

static void on_connect(struct worker *w, struct conn *c, int res)
{
	c->connect_busy = 0;
	if (c->st == C_CLOSING) {
		finish_close(w, c);
		return;
	}
	if (res < 0) {
		char msg[64];
		snprintf(msg, sizeof(msg), "connect: %s", strerror(-res));
		sm_bload_fail(w, c, SM_BLOAD_E_CONNECT, msg);
		return;
	}
	c->op_start = sm_bload_now_ns();
	if (w->cfg->tunnel) {
		c->st = C_PROXY;
		sm_bresp_init(c->resp, SM_BRESP_CONNECT);
		sm_bload_tx_append(c, w->cfg->connect_req, w->cfg->connect_len);
		sm_bload_flush_tx(w, c);
		sm_bload_post_recv(w, c);
		return;
	}
	if (w->cfg->tls)
		sm_bload_tls_start(w, c);
	else
		sm_bload_established(w, c);
}

static void on_timer(struct worker *w, struct conn *c)
{
	c->timer_busy = 0;
	if (c->st == C_CLOSING) {
		finish_close(w, c);
		return;
	}
	if (w->stopping) {
		if (c->st == C_WAIT)
			c->st = C_IDLE;
		else
			sm_bload_conn_close(w, c, 0);
		return;
	}
	if (c->st == C_WAIT) {
		c->st = C_IDLE;
		start_conn(w, c);
	} else if (c->st == C_READY) {
		send_request(w, c);
	}
}

static void begin_stop(struct worker *w)
{
	w->stopping = 1;
	for (unsigned i = 0; i < w->n; i++) {
		struct conn *c = &w->c[i];
		if (c->fd >= 0 || c->timer_busy)
			sm_bload_conn_close(w, c, 0);
	}
}

/* Shuts down connections stuck in one phase for longer than the timeout. */
static void scan_timeouts(struct worker *w, uint64_t now)
{
	if (!w->cfg->timeout_ns)
		return;
	for (unsigned i = 0; i < w->n; i++) {
		struct conn *c = &w->c[i];
		int active = c->st == C_CONNECTING || c->st == C_PROXY || c->st == C_TLS ||
		             c->st == C_REQ || (c->st == C_H2 && sm_bh2_active(c->h2) > 0);
		if (active && now - c->op_start > w->cfg->timeout_ns) {
			c->timed_out = 1;
			sm_bload_fail(w, c, SM_BLOAD_E_TIMEOUT,
			              "no complete answer within the timeout");
		}
	}
}

static int all_idle(struct worker *w)
{
	for (unsigned i = 0; i < w->n; i++)
		if (w->c[i].st != C_IDLE)
			return 0;
	return 1;
}

static int worker_init(struct worker *w, struct sm_bload_worker_args *a)
{
	memset(w, 0, offsetof(struct worker, plain));
	w->cfg = a->cfg;
	w->st = a->stats;
	w->n = a->connections;
	w->first_conn = a->first_conn;
	unsigned entries = 4096;
	int rc = io_uring_queue_init(entries, &w->ring, 0);
	if (rc < 0)
		return rc;
	w->ring_ok = 1;
	w->c = calloc(w->n ? w->n : 1, sizeof(*w->c));
	if (!w->c)
		return -ENOMEM;
	if (w->cfg->rate > 0)
		w->interval_ns = 1e9 * (double)w->cfg->total_connections / w->cfg->rate;
	for (unsigned i = 0; i < w->n; i++) {
		struct conn *c = &w->c[i];
		c->fd = -1;
		/* untouched pages of these stay virtual: idle connections cost little */
		c->rx = malloc(SM_BLOAD_RX);
		c->tx = malloc(SM_BLOAD_TX);
		c->resp = malloc(sizeof(*c->resp));
		if (!c->rx || !c->tx || !c->resp)
			return -ENOMEM;
		if (w->cfg->http2 && !(c->h2 = sm_bh2_new(w->cfg->streams)))
			return -ENOMEM;
		/* spread the connections' first sends over one interval */
		unsigned g = w->first_conn + i;
		c->next_ns = w->cfg->start_ns + (uint64_t)(w->interval_ns * (double)g /
		                                           (double)w->cfg->total_connections);
	}
	return 0;
}

static void worker_free(struct worker *w)
{
	if (w->ring_ok)
		io_uring_queue_exit(&w->ring); /* first: no op may still target a buffer */
	if (w->c) {
		for (unsigned i = 0; i < w->n; i++) {
			if (w->c[i].ssl)
				wolfSSL_free(w->c[i].ssl);
			if (w->c[i].fd >= 0)
				close(w->c[i].fd);
			free(w->c[i].rx);
			free(w->c[i].tx);
			free(w->c[i].resp);
			sm_bh2_free(w->c[i].h2);
		}
		free(w->c);
	}
}

void *sm_bload_worker(void *arg)
{
	struct sm_bload_worker_args *a = arg;
	struct worker *w = calloc(1, sizeof(*w));
	if (!w) {
		a->rc = -ENOMEM;
		atomic_store(&a->cfg->stop, 1);
		return NULL;
	}
	if (a->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(a->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	int rc = worker_init(w, a);
	if (rc < 0) {
		a->rc = rc;
		atomic_store(&a->cfg->stop, 1);
		worker_free(w);
		free(w);
		return NULL;
	}
	start_more(w);
	uint64_t last_scan = 0, stop_at = 0;
	for (;;) {
		uint64_t now = sm_bload_now_ns();
		if (!w->stopping && (now >= w->cfg->end_ns || atomic_load(&w->cfg->stop))) {
			begin_stop(w);
			stop_at = now;
		}
		if ((w->stopping || budget_spent(w)) && all_idle(w)) {
			w->st->end_ns = now;
			break;
		}
		if (w->stopping && now - stop_at > 3000000000ull) {
			fprintf(stderr,
			        "soth-bench: worker %u: operations still in flight 3 s after "
			        "the stop; abandoning them\n",
			        a->index);
			w->st->end_ns = stop_at;
			break;
		}
		if (now - last_scan > 50 * 1000000ull) {
			last_scan = now;
			scan_timeouts(w, now);
			start_more(w);
		}
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000000};
		rc = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		if (rc < 0 && rc != -ETIME && rc != -EINTR)
			break;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe)
		{
			seen++;
			uint64_t u = io_uring_cqe_get_data64(cqe);
			struct conn *c = &w->c[u >> 4];
			if ((u & 15) == OP_NONE)
				continue;
			switch (u & 15) {
			case OP_CONNECT: on_connect(w, c, cqe->res); break;
			case OP_SEND: on_send(w, c, cqe->res); break;
			case OP_RECV: on_recv(w, c, cqe->res); break;
			case OP_TIMER: on_timer(w, c); break;
			}
		}
		io_uring_cq_advance(&w->ring, seen);
		if (w->starting < w->cfg->connect_window && w->next_unstarted < w->n)
			start_more(w);
	}
	worker_free(w);
	free(w);
	return NULL;
}
