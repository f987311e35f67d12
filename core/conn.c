/* One side of a flow: its queues, and the completions the reactor routes
 * to its transport and then to the layer on top (core/conn.h). */
#include "core/conn.h"

#include <stdlib.h>
#include <string.h>

#include "core/reactor.h"
#include "observe/observe.h"

#define INQ_CAP (16 * 1024) /* one provided buffer's worth */

bool sm_inq_hold(struct sm_inq *q)
{
	return q->buf || (q->buf = malloc(INQ_CAP)) != NULL;
}

void sm_inq_release(struct sm_inq *q)
{
	if (q->len || !q->buf)
		return;
	free(q->buf);
	q->buf = NULL;
	q->off = 0;
}

void sm_inq_consume(struct sm_inq *q, uint32_t n)
{
	q->off += n;
	q->len -= n;
	if (!q->len)
		q->off = 0;
}

static void outq_reset(struct sm_outq *q)
{
	q->chunk = -1;
	q->out.buf = NULL;
	q->out.cap = q->out.len = 0;
	q->sent = 0;
	q->inflight = false;
}

void sm_conn_open(struct sm_conn *c, int side, const struct sm_xprt_ops *xprt, void *x)
{
	memset(c, 0, sizeof(*c));
	c->side = (uint8_t)side;
	c->xprt = xprt;
	c->x = x;
	c->in.cap = INQ_CAP;
	outq_reset(&c->out);
}

void sm_conn_close(struct sm_reactor *r, struct sm_conn *c)
{
	if (c->xprt && c->xprt->free)
		c->xprt->free(r, c);
	c->xprt = NULL;
	c->x = NULL;
	free(c->in.buf);
	c->in = (struct sm_inq){.cap = INQ_CAP};
	sm_chunk_put(r, c->out.chunk);
	outq_reset(&c->out);
}

bool sm_conn_out_ready(struct sm_reactor *r, struct sm_conn *c)
{
	struct sm_outq *q = &c->out;
	if (q->chunk >= 0)
		return true;
	q->chunk = sm_chunk_get(r);
	if (q->chunk < 0) {
		SM_CTR_INC(r, send_chunks_exhausted);
		return false;
	}
	q->out.buf = sm_chunk_ptr(r, q->chunk);
	q->out.cap = SM_CHUNK_SIZE;
	q->out.len = 0;
	return true;
}

void sm_conn_out_const(struct sm_reactor *r, struct sm_conn *c, const uint8_t *p, uint32_t len)
{
	struct sm_outq *q = &c->out;
	sm_chunk_put(r, q->chunk);
	q->chunk = -1;
	q->out.buf = (uint8_t *)p;
	q->out.cap = q->out.len = len;
	q->sent = 0;
}

void sm_conn_out_trim(struct sm_reactor *r, struct sm_conn *c)
{
	struct sm_outq *q = &c->out;
	if (q->inflight || q->out.len || q->chunk < 0)
		return;
	sm_chunk_put(r, q->chunk);
	q->chunk = -1;
	q->out.buf = NULL;
	q->out.cap = 0;
}

void sm_conn_flush(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c)
{
	c->out.sent = 0;
	c->out.inflight = true;
	c->xprt->flush(r, f, c);
}

void sm_conn_recv(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c)
{
	/* waiting for bytes: the empty queue goes back until they come */
	sm_inq_release(&c->in);
	enum sm_op op = c->side == SM_SIDE_CLIENT ? SM_OP_CLIENT_RECV : SM_OP_UP_RECV;
	r->io->recv(r, f->fd[c->side], sm_flow_op(r, f, op));
	c->recv_armed = true;
}

void sm_conn_cancel_recv(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c)
{
	if (!c->recv_armed || c->recv_cancelled)
		return;
	c->recv_cancelled = true;
	enum sm_op op = c->side == SM_SIDE_CLIENT ? SM_OP_CLIENT_RECV : SM_OP_UP_RECV;
	uint64_t target = sm_ud_make(op, f->gen, sm_flow_slot(r, f));
	r->io->cancel(r, target, sm_flow_op(r, f, SM_OP_CANCEL));
}

void sm_conn_write(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c, const uint8_t *p,
                   unsigned n)
{
	enum sm_op op = c->side == SM_SIDE_CLIENT ? SM_OP_CLIENT_SEND : SM_OP_UP_SEND;
	r->io->write(r, f->fd[c->side], p, n, sm_flow_op(r, f, op));
}

void sm_conn_forward(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *in,
                     struct sm_conn *to, struct sm_observe_ws *ws)
{
	if (!sm_conn_out_ready(r, to)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	struct sm_outq *q = &to->out;
	size_t n = in->in.len < q->out.cap ? in->in.len : q->out.cap;
	sm_observe_ws_data(ws, in->side, in->in.buf + in->in.off, n);
	memcpy(q->out.buf, in->in.buf + in->in.off, n);
	sm_inq_consume(&in->in, (uint32_t)n);
	q->out.len = n;
	sm_conn_flush(r, f, to);
}
