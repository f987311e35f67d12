/* The plain TCP transport: received bytes are the stream's bytes, and the
 * output queue is written as it is from its registered chunk. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/conn.h"
#include "core/reactor.h"
#include "telemetry/event.h"

static bool recv_(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c, const uint8_t *data,
                  int res)
{
	if (c->lingering) { /* closing: what the peer still sends is dropped */
		if (res == 0) {
			sm_flow_close(r, f, c->linger_reason);
			return false;
		}
		return true;
	}
	if (res == 0) {
		c->fin = c->eof = true;
		return true;
	}
	if (c->side == SM_SIDE_CLIENT) {
		f->bytes_up += (uint64_t)res;
		SM_CTR_ADD(r, bytes[SM_LANE_HTTP][SM_BYTES_UP], (uint64_t)res);
	} else {
		f->bytes_down += (uint64_t)res;
		SM_CTR_ADD(r, bytes[SM_LANE_HTTP][SM_BYTES_DOWN], (uint64_t)res);
	}
	if (!sm_inq_hold(&c->in)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return false;
	}
	memcpy(c->in.buf + c->in.off + c->in.len, data, (size_t)res);
	c->in.len += (uint32_t)res;
	return true;
}

static bool pull(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c)
{
	(void)r, (void)f, (void)c; /* received bytes are readable as they came */
	return true;
}

static void flush(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c)
{
	struct sm_outq *q = &c->out;
	sm_conn_write(r, f, c, q->out.buf + q->sent, (unsigned)(q->out.len - q->sent));
}

static bool sent(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c, int res)
{
	struct sm_outq *q = &c->out;
	if (res < 0) { /* the caller hands the error to the layer on top */
		q->inflight = false;
		return false;
	}
	q->sent += (uint32_t)res;
	if (q->sent < q->out.len) { /* a short write: the rest */
		flush(r, f, c);
		return false;
	}
	q->inflight = false;
	q->out.len = 0;
	q->sent = 0;
	return true;
}

static void arm(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c)
{
	if (c->recv_armed || c->fin || f->fd[c->side] < 0)
		return;
	sm_conn_recv(r, f, c);
}

/* The write side is shut; what the client still sends is read and dropped
 * until its EOF or the linger deadline (the reply layer's), so the answer
 * is not lost to a reset caused by unread bytes. */
static void shutdown_(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c, int reason)
{
	shutdown(f->fd[c->side], SHUT_WR);
	if (c->fin) {
		sm_flow_close(r, f, reason);
		return;
	}
	c->lingering = true;
	c->linger_reason = (uint8_t)reason;
	c->linger_until_ns = sm_now_ns() + SM_LINGER_NS;
	sm_flow_deadline(r, f, c->linger_until_ns);
	c->in.len = c->in.off = 0;
	arm(r, f, c);
}

const struct sm_xprt_ops sm_xprt_plain = {
        .name = "plain",
        .spliceable = true,
        .recv = recv_,
        .pull = pull,
        .flush = flush,
        .sent = sent,
        .arm = arm,
        .shutdown = shutdown_,
};
