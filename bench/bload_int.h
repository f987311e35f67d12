/* Internals of the soth-bench load engine shared by bload.c (connection
 * state machine, HTTP/1.1), bload_tls.c (wolfSSL over the ring buffers) and
 * bload_h2.c (--http2). Not a public interface: see bload.h. */
#ifndef SM_BENCH_BLOAD_INT_H
#define SM_BENCH_BLOAD_INT_H

#include <liburing.h>
#include <stdint.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "bench/bh2.h"
#include "bench/bload.h"
#include "bench/bresp.h"

/* Connection states. */
enum {
	C_IDLE = 0,   /* no socket; may be started */
	C_CONNECTING, /* TCP connect in flight */
	C_PROXY,      /* CONNECT sent, reading the proxy's answer */
	C_TLS,        /* TLS handshake */
	C_READY,      /* established, between requests (timer may be armed) */
	C_REQ,        /* request sent, reading the response */
	C_HOLD,       /* --hold: established and idle until the end */
	C_CLOSING,    /* socket shut down, waiting for in-flight ops */
	C_WAIT,       /* no socket, timer armed (backoff or rate schedule) */
	C_H2,         /* --http2: session open, streams in flight or being refilled */
};

/* Operation kinds in user_data bits 0..3; the connection index above. */
enum { OP_NONE = 0, OP_CONNECT, OP_SEND, OP_RECV, OP_TIMER }; /* OP_NONE: cancels, ignored */

struct conn {
	int fd;
	uint8_t st;
	uint8_t recv_busy, send_busy, connect_busy, timer_busy;
	uint8_t eof;       /* the peer closed (TLS callbacks report it) */
	uint8_t timed_out; /* shut down by the timeout scan */
	uint8_t started;   /* counted in the starting window */
	uint8_t need_restart;
	uint32_t tx_len, tx_off, tx_inflight;
	uint32_t rx_len, rx_off;
	uint64_t t0;       /* latency origin of the current request */
	uint64_t op_start; /* start of the current connect/handshake/response */
	uint64_t next_ns;  /* rate mode: intended send time of the next request */
	uint64_t sched;    /* rate mode: requests scheduled on this connection */
	struct __kernel_timespec ts;
	WOLFSSL *ssl;
	struct sm_bresp *resp;
	struct sm_bh2 *h2;     /* --http2: allocated once, one session per connection */
	uint32_t h2_submitted; /* streams submitted on this connection */
	uint8_t *rx, *tx;
};

struct worker {
	struct io_uring ring;
	struct sm_bload_cfg *cfg;
	struct sm_bload_stats *st;
	struct conn *c;
	unsigned n;
	unsigned first_conn;
	unsigned starting; /* connections being established */
	unsigned next_unstarted;
	int stopping;
	int ring_ok;
	double interval_ns;   /* rate mode: per-connection interval */
	uint8_t plain[16384]; /* TLS plaintext scratch */
};

/* bload.c */
struct io_uring_sqe *sm_bload_get_sqe(struct worker *w);
int sm_bload_stopping(struct worker *w);
void sm_bload_count_err(struct worker *w, struct conn *c, enum sm_bload_err e, const char *msg);
void sm_bload_fail(struct worker *w, struct conn *c, enum sm_bload_err e, const char *msg);
/* Normal close (error 0: restart at once) or after an error (restart after a backoff). */
void sm_bload_conn_close(struct worker *w, struct conn *c, int error);
void sm_bload_post_recv(struct worker *w, struct conn *c);
void sm_bload_flush_tx(struct worker *w, struct conn *c);
int sm_bload_tx_append(struct conn *c, const void *p, size_t n);
/* 1 if one more request may be sent (budget), 0 otherwise; unclaim gives one back. */
int sm_bload_claim_request(struct worker *w);
void sm_bload_unclaim_request(struct worker *w);
/* Tunnel and TLS done: start requests. */
void sm_bload_established(struct worker *w, struct conn *c);
/* One complete response: latency from t0, counters, non-2xx counted as an error. */
void sm_bload_record(struct worker *w, struct conn *c, uint64_t t0, uint64_t now, unsigned status,
                     uint64_t bytes);

/* bload_tls.c */
void sm_bload_tls_start(struct worker *w, struct conn *c);
void sm_bload_tls_handshake(struct worker *w, struct conn *c);

/* bload_h2.c */
void sm_bload_h2_start(struct worker *w, struct conn *c);
void sm_bload_h2_on_recv(struct worker *w, struct conn *c);
void sm_bload_h2_on_send(struct worker *w, struct conn *c);

#endif
