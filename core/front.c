/* Front phase: the per-flow state pool, send queues, error replies, the
 * CONNECT path (answered, then handed to the splice tunnel or to TLS
 * interception) and upstream switches. The HTTP/1.1 relay itself (client
 * bytes through the HTTP/1.1 layer, responses back) is core/h1relay.c. */
#include "core/front.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mitm.h"
#include "base/addr.h"
#include "core/observe.h"
#include "proto/h2.h"
#include "observe/pipeline.h"
#include "core/policy.h"
#include "base/result.h"
#include "base/rng.h"
#include "telemetry/event.h"

bool sm_upstream_connect_result(struct sm_reactor *r, struct sm_flow *f, int res);

#define INQ_CAP (16 * 1024) /* one provided buffer's worth */

/* ---- pool ---------------------------------------------------------------- */

static void outq_reset(struct sm_outq *q)
{
	q->chunk = -1;
	q->out.buf = NULL;
	q->out.cap = q->out.len = 0;
	q->sent = 0;
	q->inflight = false;
}

static struct sm_h1_limits h1_limits(const struct sm_reactor *r)
{
	/* with request-level rules every request waits for its decision */
	return (struct sm_h1_limits){.max_head = r->cfg->limits.max_header_bytes,
	                             .hold_every_request = r->req_rules,
	                             .keep_websocket = 1,
	                             .strip_alt_svc_h3 = r->cfg->strip_alt_svc_h3};
}

struct sm_front *sm_front_get(struct sm_reactor *r)
{
	struct sm_front *fr;
	struct sm_h1_limits lim = h1_limits(r);
	size_t h1len = sm_h1_footprint(&lim);
	if (r->n_fronts > 0) {
		fr = r->fronts[--r->n_fronts];
	} else {
		fr = calloc(1, sizeof(*fr));
		if (!fr)
			return NULL;
		fr->h1mem = aligned_alloc(64, (h1len + 63) & ~(size_t)63);
		if (!fr->h1mem) {
			free(fr);
			return NULL;
		}
	}
	void *h1mem = fr->h1mem;
	uint8_t *cbuf = fr->cin.buf, *ubuf = fr->uin.buf;
	memset(fr, 0, sizeof(*fr));
	fr->h1mem = h1mem;
	fr->h1 = sm_h1_init(h1mem, h1len, &lim);
	fr->cin = (struct sm_inq){.buf = cbuf, .cap = INQ_CAP};
	fr->uin = (struct sm_inq){.buf = ubuf, .cap = INQ_CAP};
	outq_reset(&fr->up);
	outq_reset(&fr->down);
	return fr;
}

void sm_front_reset_h1(struct sm_reactor *r, struct sm_front *fr)
{
	struct sm_h1_limits lim = h1_limits(r);
	fr->h1 = sm_h1_init(fr->h1mem, sm_h1_footprint(&lim), &lim);
}

void sm_front_put(struct sm_reactor *r, struct sm_front *fr)
{
	sm_h2relay_free_obs(fr);
	if (fr->h2) {
		sm_h2relay_uncount(r, fr);
		sm_h2_free(fr->h2);
	}
	fr->h2 = NULL;
	for (int d = 0; d < 2; d++) { /* finished (or not) before flow_closed */
		if (fr->obs_pipe[d])
			sm_pipe_free(fr->obs_pipe[d]);
		fr->obs_pipe[d] = NULL;
	}
	sm_mitm_free(r, fr->mitm);
	fr->mitm = NULL;
	sm_chunk_put(r, fr->up.chunk);
	sm_chunk_put(r, fr->down.chunk);
	outq_reset(&fr->up);
	outq_reset(&fr->down);
	if (r->n_fronts < r->fronts_cap) {
		r->fronts[r->n_fronts++] = fr;
	} else {
		sm_front_free(fr);
	}
}

void sm_front_free(struct sm_front *fr)
{
	free(fr->h1mem);
	free(fr->cin.buf);
	free(fr->uin.buf);
	free(fr);
}

/* ---- sends ----------------------------------------------------------------- */

static bool outq_ready(struct sm_reactor *r, struct sm_outq *q)
{
	if (q->chunk >= 0)
		return true;
	q->chunk = sm_chunk_get(r);
	if (q->chunk < 0)
		return false;
	q->out.buf = sm_chunk_ptr(r, q->chunk);
	q->out.cap = SM_CHUNK_SIZE;
	q->out.len = 0;
	return true;
}

/* Points q at constant bytes of the reserved chunk (owned by nobody). */
static void outq_const(struct sm_reactor *r, struct sm_outq *q, const uint8_t *p, uint32_t len)
{
	(void)r;
	sm_chunk_put(r, q->chunk);
	q->chunk = -1;
	q->out.buf = (uint8_t *)p;
	q->out.cap = q->out.len = len;
	q->sent = 0;
}

/* An empty queue gives its chunk back: idle keep-alive connections hold none. */
void sm_front_outq_trim(struct sm_reactor *r, struct sm_outq *q)
{
	if (q->inflight || q->out.len || q->chunk < 0)
		return;
	sm_chunk_put(r, q->chunk);
	q->chunk = -1;
	q->out.buf = NULL;
	q->out.cap = 0;
}

static void outq_send(struct sm_reactor *r, struct sm_flow *f, bool to_client);

bool sm_front_outq_ready(struct sm_reactor *r, struct sm_outq *q)
{
	return outq_ready(r, q);
}

void sm_front_outq_send(struct sm_reactor *r, struct sm_flow *f, bool to_client)
{
	outq_send(r, f, to_client);
}

static void outq_send(struct sm_reactor *r, struct sm_flow *f, bool to_client)
{
	struct sm_outq *q = to_client ? &f->front->down : &f->front->up;
	if (f->front->mitm) { /* plaintext: encrypted and sent by core/mitm.c */
		q->inflight = true;
		sm_mitm_flush(r, f, to_client);
		return;
	}
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_write_fixed(sqe, to_client ? f->cfd : f->ufd, q->out.buf + q->sent,
	                          (unsigned)(q->out.len - q->sent), 0, 0);
	sm_flow_prep(r, f, sqe, to_client ? SM_OP_CLIENT_SEND : SM_OP_UP_SEND);
	q->inflight = true;
}

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

void sm_front_arm_recv(struct sm_reactor *r, struct sm_flow *f, bool client)
{
	/* waiting for bytes: the empty queue goes back until they come */
	sm_inq_release(client ? &f->front->cin : &f->front->uin);
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_recv(sqe, client ? f->cfd : f->ufd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = SM_BR_BGID;
	sm_flow_prep(r, f, sqe, client ? SM_OP_CLIENT_RECV : SM_OP_UP_RECV);
	if (client)
		f->client_recv_armed = true;
	else
		f->front->up_recv_armed = true;
}

/* ---- error replies ----------------------------------------------------------- */

void sm_front_reply_error(struct sm_reactor *r, struct sm_flow *f, int status, const char *text,
                          const char *detail, int reason)
{
	struct sm_front *fr = f->front;
	if (fr && !fr->down.inflight && !fr->mitm && !outq_ready(r, &fr->down)) {
		/* every chunk is in use: the constant answer still goes out */
		SM_CTR_INC(r, send_chunks_exhausted);
		outq_const(r, &fr->down, r->const_503, r->const_503_len);
		fr->pending_reason = SM_CLOSE_RESOURCE_LIMIT;
		f->state = SM_FLOW_REPLYING;
		outq_send(r, f, true);
		return;
	}
	if (!fr || fr->down.inflight || !outq_ready(r, &fr->down)) {
		sm_flow_close(r, f, reason);
		return;
	}
	char body[600];
	int blen = snprintf(body, sizeof(body), "%s%s%s", text, detail ? ": " : "",
	                    detail ? detail : "");
	if (blen < 0 || (size_t)blen >= sizeof(body))
		body[sizeof(body) - 1] = 0;
	long n = sm_h1_error_response((unsigned)status, body, fr->down.out.buf, fr->down.out.cap);
	if (n < 0) {
		sm_flow_close(r, f, reason);
		return;
	}
	fr->down.out.len = (size_t)n;
	fr->down.sent = 0;
	fr->pending_reason = (uint8_t)reason;
	f->state = SM_FLOW_REPLYING;
	outq_send(r, f, true);
}

void sm_front_reply_raw(struct sm_reactor *r, struct sm_flow *f, const uint8_t *src, size_t len,
                        int reason)
{
	struct sm_front *fr = f->front;
	if (!fr || fr->down.inflight || !outq_ready(r, &fr->down)) {
		sm_flow_close(r, f, reason);
		return;
	}
	size_t n = len < fr->down.out.cap ? len : fr->down.out.cap;
	memcpy(fr->down.out.buf, src, n);
	fr->down.out.len = n;
	fr->down.sent = 0;
	fr->reply_src = src;
	fr->reply_len = len;
	fr->reply_off = n;
	fr->pending_reason = (uint8_t)reason;
	f->state = SM_FLOW_REPLYING;
	outq_send(r, f, true);
}

/* The reply went out: shut our side and drain what the client still sends,
 * so the answer is not lost to a reset caused by unread bytes. */
static void reply_sent(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	if (fr->mitm) {
		sm_mitm_reply_sent(r, f);
		return;
	}
	shutdown(f->cfd, SHUT_WR);
	if (fr->client_eof) {
		sm_flow_close(r, f, fr->pending_reason);
		return;
	}
	fr->lingering = true;
	fr->linger_until_ns = sm_now_ns() + SM_LINGER_NS;
	sm_flow_deadline(r, f, fr->linger_until_ns);
	fr->cin.len = fr->cin.off = 0;
	if (!f->client_recv_armed)
		sm_front_arm_recv(r, f, true);
}

bool sm_front_idle(const struct sm_flow *f)
{
	const struct sm_front *fr = f->front;
	if (!fr)
		return false;
	if (f->state == SM_FLOW_FRONT)
		return fr->cin.len == 0 && fr->requests == 0;
	if (f->state == SM_FLOW_HTTP)
		return fr->cin.len == 0 && sm_h1_outstanding(fr->h1) == 0 && !fr->up.inflight &&
		       !fr->down.inflight && !fr->switch_pending;
	return false;
}

/* ---- start ----------------------------------------------------------------- */

void sm_front_start(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = sm_front_get(r);
	if (!fr || !fr->h1) {
		if (fr)
			sm_front_put(r, fr);
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	f->front = fr;
	f->state = SM_FLOW_FRONT;
	socklen_t len = sizeof(fr->peer);
	if (getpeername(f->cfd, (struct sockaddr *)&fr->peer, &len) != 0)
		memset(&fr->peer, 0, sizeof(fr->peer));
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_FLOW_OPEN);
	if (ev) {
		char buf[80];
		size_t n = sm_addr_format((struct sockaddr *)&fr->peer, buf, sizeof(buf));
		sm_event_set_str(ev, 0, buf, n);
		struct sockaddr_storage local;
		len = sizeof(local);
		if (getsockname(f->cfd, (struct sockaddr *)&local, &len) == 0) {
			n = sm_addr_format((struct sockaddr *)&local, buf, sizeof(buf));
			sm_event_set_str(ev, 1, buf, n);
		}
		sm_flow_event_commit(r);
	}
	fr->roll = sm_rng_next(&r->rng);
	sm_observe_attach(r, f);
	fr->denied = !sm_policy_client_allowed(r->cfg, (struct sockaddr *)&fr->peer);
	if (fr->denied)
		SM_CTR_INC(r, denied_clients);
	sm_front_arm_recv(r, f, true);
}

/* ---- the CONNECT path ----------------------------------------------------------- */

static void start_tunnel(struct sm_reactor *r, struct sm_flow *f)
{
	sm_front_put(r, f->front);
	f->front = NULL;
	sm_tunnel_start(r, f);
}

/* Moves what one side sent, unparsed, into the other side's queue and
 * sends it (the WebSocket observer sees a copy). */
void sm_front_forward_raw(struct sm_reactor *r, struct sm_flow *f, bool from_client)
{
	struct sm_front *fr = f->front;
	struct sm_inq *in = from_client ? &fr->cin : &fr->uin;
	struct sm_outq *q = from_client ? &fr->up : &fr->down;
	if (!outq_ready(r, q)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	size_t n = in->len < q->out.cap ? in->len : q->out.cap;
	sm_observe_ws_feed(f, from_client ? 0 : 1, in->buf + in->off, n);
	memcpy(q->out.buf, in->buf + in->off, n);
	in->off += (uint32_t)n;
	in->len -= (uint32_t)n;
	if (!in->len)
		in->off = 0;
	q->out.len = n;
	q->sent = 0;
	outq_send(r, f, !from_client);
}

/* After "200 Connection established": bytes the client sent after the
 * CONNECT head go upstream first, then the splice tunnel takes over. */
void sm_front_establish_continue(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	if (fr->up.inflight || fr->down.inflight || f->client_recv_armed || fr->up_recv_armed)
		return;
	if (fr->intercept) {
		fr->down.out.len = 0; /* the 200 went out */
		sm_mitm_start(r, f);
		return;
	}
	if (fr->cin.len) {
		sm_front_forward_raw(r, f, true);
		return;
	}
	if (fr->uin.len) { /* upgrade: upstream bytes after the 101 */
		sm_front_forward_raw(r, f, false);
		return;
	}
	start_tunnel(r, f);
}

/* The pending upstream switch can start once every response is complete
 * and nothing is in flight on the old upstream. */
static void begin_switch(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	fr->switch_pending = false;
	if (f->ufd >= 0) {
		close(f->ufd);
		f->ufd = -1;
	}
	fr->uin.len = fr->uin.off = 0;
	fr->upstream_eof = false;
	fr->eof_pending = false;
	fr->live_host[0] = 0;
	sm_upstream_resolve(r, f);
}

void sm_front_check_switch(struct sm_reactor *r, struct sm_flow *f)
{
	sm_front_fault_check(r, f);
	struct sm_front *fr = f->front;
	if (!fr || !fr->switch_pending || sm_h1_outstanding(fr->h1) > 0 || fr->down.inflight ||
	    fr->up.inflight)
		return;
	if (fr->up_recv_armed) {
		/* the old upstream's recv must land before its socket closes */
		if (fr->up_cancel_sent)
			return;
		fr->up_cancel_sent = true;
		struct io_uring_sqe *sqe = sm_sqe(r);
		io_uring_prep_cancel64(sqe, sm_ud_make(SM_OP_UP_RECV, f->gen, sm_flow_slot(r, f)),
		                       0);
		sm_flow_prep(r, f, sqe, SM_OP_CANCEL);
		return;
	}
	begin_switch(r, f);
}

void sm_front_connect_cqe(struct sm_reactor *r, struct sm_flow *f, int res)
{
	struct sm_front *fr = f->front;
	if (!sm_upstream_connect_result(r, f, res))
		return;
	sm_upstream_connected_event(r, f);
	if (fr->purpose == SM_PURPOSE_CONNECT) {
		outq_const(r, &fr->down, r->const_200, r->const_200_len);
		f->state = SM_FLOW_ESTABLISH;
		outq_send(r, f, true);
		return;
	}
	memcpy(fr->live_host, fr->host, sizeof(fr->host));
	fr->live_port = fr->port;
	f->state = SM_FLOW_HTTP;
	sm_h1_release(fr->h1);
	sm_front_pump_client(r, f);
	sm_front_pump_upstream(r, f);
}

/* ---- send completions ---------------------------------------------------------------- */

void sm_front_send_cqe(struct sm_reactor *r, struct sm_flow *f, bool to_client, int res)
{
	struct sm_front *fr = f->front;
	struct sm_outq *q = to_client ? &fr->down : &fr->up;
	if (fr->mitm) {
		if (!sm_mitm_send_cqe(r, f, to_client, res))
			return;
		res = (int)(q->out.len - q->sent); /* the plaintext is through */
	}
	q->inflight = false;
	if (res < 0) {
		f->reset = res == -ECONNRESET || res == -EPIPE;
		sm_flow_close(r, f, to_client ? SM_CLOSE_CLIENT_RESET : SM_CLOSE_UPSTREAM_RESET);
		return;
	}
	q->sent += (uint32_t)res;
	if (q->sent < q->out.len) {
		outq_send(r, f, to_client);
		return;
	}
	q->out.len = 0;
	q->sent = 0;
	switch (f->state) {
	case SM_FLOW_REPLYING:
		if (fr->reply_off < fr->reply_len) { /* a reply larger than a chunk */
			size_t n = fr->reply_len - fr->reply_off;
			n = n < fr->down.out.cap ? n : fr->down.out.cap;
			memcpy(fr->down.out.buf, fr->reply_src + fr->reply_off, n);
			fr->down.out.len = n;
			fr->reply_off += n;
			outq_send(r, f, true);
			return;
		}
		reply_sent(r, f);
		return;
	case SM_FLOW_ESTABLISH: sm_front_establish_continue(r, f); return;
	case SM_FLOW_HTTP:
	case SM_FLOW_FRONT:
		if (to_client) {
			sm_front_pump_upstream(r, f);
			if (sm_front_relaying(f))
				sm_front_pump_client(r, f);
		} else {
			sm_front_pump_client(r, f);
		}
		if (sm_front_relaying(f))
			sm_front_check_switch(r, f);
		return;
	default: return;
	}
}
