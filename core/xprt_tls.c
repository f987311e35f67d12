/* The TLS transport of one side (core/xprt_tls.h). */
#include "core/xprt_tls.h"

#include <errno.h>
#include <stdlib.h>

#include "base/result.h"
#include "core/keylog.h"
#include "core/reactor.h"

/* The transport's state (c->x). */
struct tls_side {
	struct sm_tls tls;
	int32_t chunk;        /* registered chunk holding the ciphertext out, -1 = none */
	bool sending;         /* a send of that ciphertext is in flight */
	bool relaying;        /* handshake done: the chunk is held only while bytes wait */
	bool closing;         /* close the flow once the ciphertext queued is sent */
	bool sized;           /* dynamic record sizing (toward the client) */
	uint8_t close_reason; /* ... with this reason */
	uint64_t burst_bytes; /* plaintext sent since the last idle second */
	uint64_t last_write_ns;
	struct sm_keylog_ctx klog;
};

static struct tls_side *X(struct sm_conn *c)
{
	return c->x;
}

struct sm_tls *sm_xprt_tls_session(struct sm_conn *c)
{
	return &X(c)->tls;
}

static int reset_reason(const struct sm_conn *c)
{
	return c->side == SM_SIDE_CLIENT ? SM_CLOSE_CLIENT_RESET : SM_CLOSE_UPSTREAM_RESET;
}

bool sm_xprt_tls_open(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c, WOLFSSL_CTX *ctx,
                      bool server)
{
	struct tls_side *x = calloc(1, sizeof(*x));
	if (!x)
		return false;
	x->chunk = sm_chunk_get(r);
	if (x->chunk < 0 ||
	    sm_tls_init(&x->tls, ctx, server, sm_chunk_ptr(r, x->chunk), SM_CHUNK_SIZE) != SM_OK) {
		sm_chunk_put(r, x->chunk);
		free(x);
		return false;
	}
	x->sized = c->side == SM_SIDE_CLIENT;
	sm_keylog_attach(r, f, &x->tls, &x->klog);
	if (c->xprt && c->xprt->free) /* the transport it replaces */
		c->xprt->free(r, c);
	c->xprt = &sm_xprt_tls;
	c->x = x;
	return true;
}

/* While relaying, a session holds its ciphertext chunk only while it has
 * something to send: idle intercepted connections hold no registered send
 * memory, so their number is bounded by memory, not by the chunk count. */
static bool out_hold(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c)
{
	struct tls_side *x = X(c);
	if (x->chunk >= 0)
		return true;
	if ((x->chunk = sm_chunk_get(r)) < 0) {
		SM_CTR_INC(r, send_chunks_exhausted);
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return false;
	}
	sm_tls_set_out(&x->tls, sm_chunk_ptr(r, x->chunk), SM_CHUNK_SIZE);
	return true;
}

static void release_chunk(struct sm_reactor *r, struct tls_side *x)
{
	const uint8_t *p;
	if (x->chunk < 0 || !x->relaying || x->closing || x->sending || sm_tls_out(&x->tls, &p) > 0)
		return;
	sm_tls_set_out(&x->tls, NULL, 0);
	sm_chunk_put(r, x->chunk);
	x->chunk = -1;
}

void sm_xprt_tls_send(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c)
{
	struct tls_side *x = X(c);
	const uint8_t *p;
	size_t n = sm_tls_out(&x->tls, &p);
	if (x->sending || n == 0)
		return;
	sm_conn_write(r, f, c, p, (unsigned)n);
	x->sending = true;
}

void sm_xprt_tls_relay(struct sm_reactor *r, struct sm_conn *c)
{
	X(c)->relaying = true;
	release_chunk(r, X(c));
}

void sm_xprt_tls_close_after_send(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c,
                                  int reason)
{
	struct tls_side *x = X(c);
	const uint8_t *p;
	x->closing = true;
	x->close_reason = (uint8_t)reason;
	if (x->sending)
		return; /* the completion sends the rest, then closes */
	if (sm_tls_out(&x->tls, &p) == 0) {
		sm_flow_close(r, f, reason);
		return;
	}
	sm_xprt_tls_send(r, f, c);
}

static bool recv_(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c, const uint8_t *data,
                  int res)
{
	struct tls_side *x = X(c);
	if (res == 0) {
		sm_tls_feed_eof(&x->tls);
		c->fin = true;
		return true;
	}
	if (c->side == SM_SIDE_CLIENT) {
		f->bytes_up += (uint64_t)res;
		SM_CTR_ADD(r, bytes[SM_LANE_MITM][SM_BYTES_UP], (uint64_t)res);
	} else {
		f->bytes_down += (uint64_t)res;
		SM_CTR_ADD(r, bytes[SM_LANE_MITM][SM_BYTES_DOWN], (uint64_t)res);
	}
	sm_tls_feed(&x->tls, data, (size_t)res); /* armed only with room for a whole buffer */
	return true;
}

static bool pull(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c)
{
	struct tls_side *x = X(c);
	struct sm_inq *q = &c->in;
	if (!x->relaying || !sm_tls_readable(&x->tls))
		return true;    /* nothing to decrypt: take no buffers */
	if (!out_hold(r, f, c)) /* reading may answer key updates or alerts */
		return false;
	if (!sm_inq_hold(q)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return false;
	}
	while (q->off + q->len < q->cap) {
		size_t n;
		int rc = sm_tls_read(&x->tls, q->buf + q->off + q->len, q->cap - q->off - q->len,
		                     &n);
		if (rc == SM_AGAIN)
			break;
		if (rc == SM_OK && n == 0) { /* close_notify, or EOF without one */
			c->eof = true;
			c->eof_unclean = !x->tls.close_notify;
			break;
		}
		if (rc < 0) {
			sm_flow_close(r, f, reset_reason(c));
			return false;
		}
		q->len += (uint32_t)n;
	}
	/* wolfSSL may answer key updates or alerts while reading */
	sm_xprt_tls_send(r, f, c);
	release_chunk(r, x);
	return true;
}

/* Dynamic record sizing toward the client: after an idle second, records
 * fit one TCP segment (1369 bytes of payload, so a browser can start on the
 * first bytes without waiting for a 16 KiB record to arrive whole), then
 * 16 KiB records once the burst is past 16 KiB. */
static size_t record_size(struct tls_side *x)
{
	if (!x->sized)
		return 0;
	uint64_t now = sm_now_ns();
	if (now - x->last_write_ns > SM_RECORD_IDLE_NS)
		x->burst_bytes = 0;
	x->last_write_ns = now;
	return x->burst_bytes < SM_RECORD_RAMP_BYTES ? SM_RECORD_SMALL : SM_TLS_RECORD;
}

static void flush(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c)
{
	struct tls_side *x = X(c);
	struct sm_outq *q = &c->out;
	if (q->sent < q->out.len && !out_hold(r, f, c))
		return;
	while (q->sent < q->out.len) {
		size_t n;
		int rc = sm_tls_write(&x->tls, q->out.buf + q->sent, q->out.len - q->sent,
		                      record_size(x), &n);
		if (rc == SM_AGAIN)
			break;
		if (rc < 0) {
			sm_flow_close(r, f, reset_reason(c));
			return;
		}
		q->sent += (uint32_t)n;
		x->burst_bytes += (uint64_t)n;
	}
	sm_xprt_tls_send(r, f, c);
	release_chunk(r, x);
}

static bool sent(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c, int res)
{
	struct tls_side *x = X(c);
	struct sm_outq *q = &c->out;
	const uint8_t *p;
	x->sending = false;
	if (res < 0) { /* the caller hands the error to the layer on top */
		q->inflight = false;
		return false;
	}
	sm_tls_out_done(&x->tls, (size_t)res);
	if (x->closing) {
		if (sm_tls_out(&x->tls, &p) > 0)
			sm_xprt_tls_send(r, f, c);
		else
			sm_flow_close(r, f, x->close_reason);
		return false;
	}
	if (!x->relaying)
		return true; /* a handshake flight went out: the handshake layer goes on */
	if (!q->inflight) {  /* the handshake's tail, a key update or a close_notify */
		sm_xprt_tls_send(r, f, c);
		release_chunk(r, x);
		return false;
	}
	flush(r, f, c);
	if (sm_flow_closing(f) || q->sent < q->out.len || sm_tls_out(&x->tls, &p) > 0)
		return false;
	q->inflight = false;
	q->out.len = 0;
	q->sent = 0;
	return true;
}

static void arm(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c)
{
	struct tls_side *x = X(c);
	if (c->recv_armed || c->fin || c->eof || f->fd[c->side] < 0 ||
	    sm_tls_in_space(&x->tls) < SM_BR_SIZE)
		return;
	if (x->relaying)
		sm_tls_in_release(&x->tls); /* waiting: an idle session holds no input buffer */
	sm_conn_recv(r, f, c);
}

/* close_notify, and the flow closes once it went out. */
static void shutdown_(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c, int reason)
{
	if (!out_hold(r, f, c))
		return;
	sm_tls_shutdown(&X(c)->tls);
	sm_xprt_tls_close_after_send(r, f, c, reason);
}

static void free_(struct sm_reactor *r, struct sm_conn *c)
{
	struct tls_side *x = X(c);
	sm_tls_free(&x->tls);
	sm_chunk_put(r, x->chunk);
	free(x);
}

const struct sm_xprt_ops sm_xprt_tls = {
        .name = "tls",
        .spliceable = false,
        .recv = recv_,
        .pull = pull,
        .flush = flush,
        .sent = sent,
        .arm = arm,
        .shutdown = shutdown_,
        .free = free_,
};
