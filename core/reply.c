/* The reply layer: an answer of the proxy's own, then a graceful close
 * (core/reply.h). */
#include "core/reply.h"

#include <stdio.h>
#include <string.h>

#include "core/reactor.h"
#include "core/stack.h"
#include "proto/http1.h"
#include "telemetry/event.h"

/* The client's output is free and has a chunk: false when the flow was
 * closed instead (busy output, or no chunk and no constant answer). */
static bool out_free(struct sm_reactor *r, struct sm_flow *f, int reason)
{
	struct sm_conn *c = &f->st->conn[SM_SIDE_CLIENT];
	if (c->out.inflight || !c->xprt) {
		sm_flow_close(r, f, reason);
		return false;
	}
	return true;
}

static void begin(struct sm_reactor *r, struct sm_flow *f, const uint8_t *src, size_t len,
                  size_t off, int reason)
{
	f->st->reply =
	        (struct sm_reply){.src = src, .len = len, .off = off, .reason = (uint8_t)reason};
	sm_stack_install(r, f, &sm_app_reply, NULL);
}

void sm_reply_error(struct sm_reactor *r, struct sm_flow *f, int status, const char *text,
                    const char *detail, int reason)
{
	if (!out_free(r, f, reason))
		return;
	struct sm_conn *c = &f->st->conn[SM_SIDE_CLIENT];
	if (!sm_conn_out_ready(r, c)) {
		/* every chunk is in use: the constant answer still goes out */
		sm_conn_out_const(r, c, r->const_503, r->const_503_len);
		begin(r, f, NULL, 0, 0, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	char body[600];
	int blen = snprintf(body, sizeof(body), "%s%s%s", text, detail ? ": " : "",
	                    detail ? detail : "");
	if (blen < 0 || (size_t)blen >= sizeof(body))
		body[sizeof(body) - 1] = 0;
	long n = sm_h1_error_response((unsigned)status, body, c->out.out.buf, c->out.out.cap);
	if (n < 0) {
		sm_flow_close(r, f, reason);
		return;
	}
	c->out.out.len = (size_t)n;
	begin(r, f, NULL, 0, 0, reason);
}

void sm_reply_raw(struct sm_reactor *r, struct sm_flow *f, const uint8_t *src, size_t len,
                  int reason)
{
	if (!out_free(r, f, reason))
		return;
	struct sm_conn *c = &f->st->conn[SM_SIDE_CLIENT];
	if (!sm_conn_out_ready(r, c)) {
		sm_flow_close(r, f, reason);
		return;
	}
	size_t n = len < c->out.out.cap ? len : c->out.out.cap;
	memcpy(c->out.out.buf, src, n);
	c->out.out.len = n;
	begin(r, f, src, len, n, reason);
}

void sm_reply_close(struct sm_reactor *r, struct sm_flow *f, int reason)
{
	if (!out_free(r, f, reason))
		return;
	f->st->conn[SM_SIDE_CLIENT].out.out.len = 0;
	begin(r, f, NULL, 0, 0, reason);
}

static void start(struct sm_reactor *r, struct sm_flow *f, void *arg)
{
	struct sm_conn *c = &f->st->conn[SM_SIDE_CLIENT];
	(void)arg;
	f->st->top.ctx = &f->st->reply;
	if (!c->out.out.len) { /* nothing to say: the end only */
		c->xprt->shutdown(r, f, c, f->st->reply.reason);
		return;
	}
	sm_conn_flush(r, f, c);
}

/* The answer's next piece when it is larger than a chunk, else the end. */
static void pump(struct sm_reactor *r, struct sm_flow *f, int side, int why)
{
	struct sm_reply *rp = &f->st->reply;
	struct sm_conn *c = &f->st->conn[SM_SIDE_CLIENT];
	if (side != SM_SIDE_CLIENT)
		return; /* the upstream is no longer listened to */
	if (why == SM_PUMP_IN) {
		if (c->lingering) /* drained and dropped by the transport */
			c->xprt->arm(r, f, c);
		return;
	}
	if (rp->off < rp->len) {
		size_t n = rp->len - rp->off;
		n = n < c->out.out.cap ? n : c->out.out.cap;
		memcpy(c->out.out.buf, rp->src + rp->off, n);
		c->out.out.len = n;
		rp->off += n;
		sm_conn_flush(r, f, c);
		return;
	}
	c->xprt->shutdown(r, f, c, rp->reason);
}

/* The end of a linger. */
static bool deadline(struct sm_reactor *r, struct sm_flow *f, uint64_t now)
{
	struct sm_conn *c = &f->st->conn[SM_SIDE_CLIENT];
	if (!c->lingering)
		return false;
	if (now >= c->linger_until_ns)
		sm_flow_close(r, f, c->linger_reason);
	else
		sm_flow_deadline(r, f, c->linger_until_ns);
	return true;
}

/* A client that errs while lingering is simply done (the answer went
 * out); before that, it is a reset. The upstream no longer matters. */
static void failed(struct sm_reactor *r, struct sm_flow *f, int side, int err)
{
	struct sm_conn *c = &f->st->conn[SM_SIDE_CLIENT];
	(void)err;
	if (side != SM_SIDE_CLIENT)
		return;
	if (c->lingering) {
		f->reset = false;
		sm_flow_close(r, f, c->linger_reason);
		return;
	}
	sm_flow_close(r, f, SM_CLOSE_CLIENT_RESET);
}

const struct sm_app_ops sm_app_reply = {
        .name = "reply",
        .start = start,
        .pump = pump,
        .deadline = deadline,
        .failed = failed,
};
