/* soth-bench load engine, --http2: one nghttp2 client session (bench/bh2)
 * per TLS connection, up to cfg->streams GET streams in flight, refilled as
 * responses complete. Latency runs from the submit of a stream (keep-alive)
 * or from the TCP connect (--new-conn: one stream per connection) to its
 * END_STREAM. See bload.h and docs/perf.md. */
#include <stdio.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "bench/bload_int.h"

/* TLS record overhead per 16 KiB of plaintext, rounded up (AES-GCM: 29 bytes
 * in TLS 1.2, 22 in TLS 1.3): room kept free so wolfSSL_write never meets a
 * full tx buffer. */
#define REC_OVERHEAD 64

static void conn_failed(struct worker *w, struct conn *c, enum sm_bh2_reason why)
{
	uint32_t code = 0;
	sm_bh2_goaway(c->h2, &code, NULL);
	char msg[96];
	if (why == SM_BH2_R_PEER_GOAWAY)
		snprintf(msg, sizeof(msg), "GOAWAY from the server: %s (%u)",
		         nghttp2_http2_strerror(code), code);
	else if (why == SM_BH2_R_LOCAL_GOAWAY)
		snprintf(msg, sizeof(msg), "GOAWAY sent: the server broke the HTTP/2 protocol");
	else
		snprintf(msg, sizeof(msg), "HTTP/2 connection: %s", sm_bh2_reason_str(why));
	sm_bload_fail(w, c,
	              why == SM_BH2_R_PEER_GOAWAY || why == SM_BH2_R_LOCAL_GOAWAY
	                      ? SM_BLOAD_E_GOAWAY
	                      : SM_BLOAD_E_FRAMING,
	              msg);
}

/* Moves queued frames through wolfSSL into tx while there is room, then
 * flushes. Returns 0, or -1 after closing c. */
static int pump(struct worker *w, struct conn *c)
{
	for (;;) {
		const uint8_t *p;
		size_t n = sm_bh2_out(c->h2, &p);
		if (n == 0)
			break;
		size_t room = (c->tx_off == c->tx_len && !c->send_busy) ? SM_BLOAD_TX
		                                                        : SM_BLOAD_TX - c->tx_len;
		size_t reserve = REC_OVERHEAD * (room / 16384 + 1);
		if (room <= reserve)
			break; /* on_send comes back here */
		size_t k = n < room - reserve ? n : room - reserve;
		if (wolfSSL_write(c->ssl, p, (int)k) != (int)k) {
			sm_bload_fail(w, c, SM_BLOAD_E_TLS, "wolfSSL_write failed");
			return -1;
		}
		sm_bh2_out_done(c->h2, k);
	}
	sm_bload_flush_tx(w, c);
	return 0;
}

/* Submits streams up to the limit and the request budget. */
static int fill(struct worker *w, struct conn *c)
{
	uint64_t now = sm_bload_now_ns();
	while (sm_bh2_can_submit(c->h2)) {
		uint64_t tag;
		if (w->cfg->new_conn) {
			if (c->h2_submitted)
				break;
			tag = c->t0; /* claimed when the connection started */
		} else {
			if (!sm_bload_claim_request(w))
				break;
			tag = now;
		}
		if (sm_bh2_submit(c->h2, tag) < 0) {
			if (!w->cfg->new_conn)
				sm_bload_unclaim_request(w);
			sm_bload_fail(w, c, SM_BLOAD_E_WRITE, "nghttp2_submit_request failed");
			return -1;
		}
		if (sm_bh2_active(c->h2) == 1)
			c->op_start = now; /* the timeout runs while streams are open */
		c->h2_submitted++;
	}
	return 0;
}

/* Accounts for every finished stream. */
static void results(struct worker *w, struct conn *c)
{
	struct sm_bh2_result r;
	uint64_t now = sm_bload_now_ns();
	while (sm_bh2_next_result(c->h2, &r)) {
		char msg[96];
		c->op_start = now;
		switch (r.outcome) {
		case SM_BH2_DONE: sm_bload_record(w, c, r.tag, now, r.status, r.bytes); break;
		case SM_BH2_REFUSED: /* not processed by the server: it goes back to the budget */
			w->st->h2_refused++;
			sm_bload_unclaim_request(w);
			break;
		case SM_BH2_RESET:
			snprintf(msg, sizeof(msg),
			         "RST_STREAM %s (%u) before the end of the response",
			         nghttp2_http2_strerror(r.error_code), r.error_code);
			sm_bload_count_err(w, c, SM_BLOAD_E_RST_STREAM, msg);
			break;
		case SM_BH2_BROKEN:
			snprintf(msg, sizeof(msg),
			         "HTTP/2 stream closed without a complete response: %s",
			         nghttp2_http2_strerror(r.error_code));
			sm_bload_count_err(w, c, SM_BLOAD_E_FRAMING, msg);
			break;
		}
	}
}

/* After input: results, refill, write; then goes on reading or closes. */
static void step(struct worker *w, struct conn *c)
{
	results(w, c);
	enum sm_bh2_reason why = sm_bh2_failed(c->h2);
	if (why != SM_BH2_R_OK) {
		conn_failed(w, c, why);
		return;
	}
	if (fill(w, c) < 0 || pump(w, c) < 0)
		return;
	why = sm_bh2_failed(c->h2); /* a GOAWAY of ours went out in pump */
	if (why != SM_BH2_R_OK) {
		conn_failed(w, c, why);
		return;
	}
	if (sm_bh2_active(c->h2) == 0) {
		/* nothing in flight and nothing more to send: budget spent, one
		 * request per connection, or the server said GOAWAY (graceful) */
		if (sm_bh2_goaway(c->h2, NULL, NULL))
			w->st->h2_goaway++;
		sm_bload_conn_close(w, c, 0);
		return;
	}
	sm_bload_post_recv(w, c);
}

void sm_bload_h2_start(struct worker *w, struct conn *c)
{
	c->st = C_H2;
	c->h2_submitted = 0;
	if (sm_bh2_open(c->h2, &w->cfg->h2req) < 0) {
		sm_bload_fail(w, c, SM_BLOAD_E_WRITE, "nghttp2 session failed");
		return;
	}
	step(w, c);
}

void sm_bload_h2_on_send(struct worker *w, struct conn *c)
{
	pump(w, c);
}

void sm_bload_h2_on_recv(struct worker *w, struct conn *c)
{
	for (;;) {
		int n = wolfSSL_read(c->ssl, w->plain, sizeof(w->plain));
		if (n > 0) {
			if (sm_bh2_feed(c->h2, w->plain, (size_t)n) < 0) {
				results(w, c);
				conn_failed(w, c, sm_bh2_failed(c->h2));
				return;
			}
			continue;
		}
		int err = wolfSSL_get_error(c->ssl, n);
		if (err == WOLFSSL_ERROR_WANT_READ && !c->eof)
			break;
		if (c->eof || err == WOLFSSL_ERROR_ZERO_RETURN) {
			results(w, c);
			unsigned open = sm_bh2_active(c->h2);
			if (open > 0) {
				char msg[96];
				snprintf(msg, sizeof(msg), "connection closed with %u streams open",
				         open);
				sm_bload_fail(w, c, SM_BLOAD_E_READ, msg);
				return;
			}
			if (sm_bh2_goaway(c->h2, NULL, NULL))
				w->st->h2_goaway++;
			sm_bload_conn_close(w, c, 0);
			return;
		}
		char msg[96];
		snprintf(msg, sizeof(msg), "read: %s (%d)", wolfSSL_ERR_reason_error_string(err),
		         err);
		sm_bload_fail(w, c, SM_BLOAD_E_TLS, msg);
		return;
	}
	step(w, c);
}
