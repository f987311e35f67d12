/* proto/h1h2: the h2 side of the reverse translation: the nghttp2 client
 * session toward the upstream (requests submitted, request bodies read
 * from the exchange's buffer, responses validated and serialised as
 * HTTP/1.1 for proto/http1). Contract in proto/h1h2.h. */
#include <stdio.h>
#include <string.h>

#include "base/result.h"
#include "proto/h1h2_int.h"

static void event(struct sm_h1h2 *y, uint8_t type, int dir, uint16_t flags)
{
	struct h2_ev e = {.type = type, .dir = (uint8_t)dir, .flags = flags};
	e.sid = y->ex.ord;
	e.usid = y->ex.sid;
	h1h2_push(y, &e);
}

static void reset_ev(struct sm_h1h2 *y, int who, uint32_t code, int reason, int detail)
{
	struct h1h2_ex *ex = &y->ex;
	if (ex->reset_seen)
		return;
	ex->reset_seen = 1;
	struct h2_ev e = {.type = SM_H2_EV_STREAM_RESET,
	                  .dir = SM_H2_UPSTREAM,
	                  .who = (uint8_t)who,
	                  .reason = (uint8_t)reason,
	                  .detail = detail,
	                  .code = code,
	                  .sid = ex->ord,
	                  .usid = ex->sid};
	h1h2_push(y, &e);
	if (who == SM_H2_PROXY)
		y->h->stats.resets_proxy++;
}

static void drop_req(struct sm_h1h2 *y)
{
	struct h1h2_ex *ex = &y->ex;
	ex->req_drop = 1;
	y->h->buffered -= ex->req.len;
	h2_free(y->h, ex->req.p);
	memset(&ex->req, 0, sizeof(ex->req));
}

void h1h2_up_reset(struct sm_h1h2 *y, uint32_t code)
{
	struct h1h2_ex *ex = &y->ex;
	if (!ex->sid || ex->s_closed || ex->local_rst)
		return;
	ex->local_rst = 1;
	if (!y->up_fail && !y->up_eof)
		nghttp2_submit_rst_stream(h1h2_up(y), NGHTTP2_FLAG_NONE, ex->sid, code);
}

void h1h2_up_resume(struct sm_h1h2 *y)
{
	struct h1h2_ex *ex = &y->ex;
	if (ex->deferred && ex->sid && !ex->s_closed && !y->up_fail && !y->up_eof) {
		ex->deferred = 0;
		nghttp2_session_resume_data(h1h2_up(y), ex->sid);
	}
}

/* The upstream's answer cannot reach the client whole: a 502 in its place
 * while no final head was queued, else the client connection is cut. */
static void resp_failed(struct sm_h1h2 *y, int close)
{
	struct h1h2_ex *ex = &y->ex;
	if (!ex->final)
		h1h2_synth(y, 502, close);
	else
		h1h2_abort(y);
	ex->resp_end = 1;
	drop_req(y);
}

/* ---- request body: the data provider ---- */

static ssize_t read_cb(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *dflags,
                       nghttp2_data_source *src, void *ud)
{
	struct sm_h1h2 *y = ud;
	struct h1h2_ex *ex = &y->ex;
	if (sid != ex->sid || ex->req_drop)
		return NGHTTP2_ERR_DEFERRED; /* a reset is on its way */
	size_t n = h2_buf_take(y->h, &ex->req, buf, len);
	if (ex->req.len == 0 && ex->req_end) {
		*dflags |= NGHTTP2_DATA_FLAG_EOF;
		if (ex->req_tr) {
			*dflags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_submit_trailer(s, sid, ex->req_tr->nv, ex->req_tr->n);
			h2_free(y->h, ex->req_tr);
			ex->req_tr = NULL;
		}
		return (ssize_t)n;
	}
	if (n == 0) {
		ex->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

int32_t h1h2_up_submit(struct sm_h1h2 *y, int body)
{
	struct sm_h2 *h = y->h;
	size_t nv = h2_block_nv(h, SM_H2_CLIENT);
	nghttp2_data_provider prd = {.source = {.ptr = y}, .read_callback = read_cb};
	if (y->up_fail || y->up_eof)
		return -1;
	return nghttp2_submit_request(h1h2_up(y), NULL, h->nvscratch, nv, body ? &prd : NULL, NULL);
}

/* ---- response serialisation ---- */

static int hq_put(struct sm_h1h2 *y, struct h2_buf *b, const void *p, size_t n)
{
	return h2_buf_put(y->h, b, p, n, 1u << 20);
}

/* Regular fields of the block just finished on the upstream side as
 * "name: value" lines into b. */
static int put_fields(struct sm_h1h2 *y, struct h2_buf *b)
{
	const struct h2_side *sd = &y->h->side[SM_H2_UPSTREAM];
	const struct h2_block *blk = &sd->blk;
	int rc = 0;
	for (uint32_t i = 0; i < blk->nfields; i++) {
		const struct h2_field *f = &sd->fields[blk->first + i];
		if (f->nlen && sd->arena[f->noff] == ':')
			continue;
		rc |= hq_put(y, b, sd->arena + f->noff, f->nlen);
		rc |= hq_put(y, b, ": ", 2);
		rc |= hq_put(y, b, sd->arena + f->voff, f->vlen);
		rc |= hq_put(y, b, "\r\n", 2);
	}
	return rc;
}

static void resp_done(struct sm_h1h2 *y)
{
	y->ex.resp_end = 1;
	event(y, SM_H2_EV_STREAM_END, SM_H2_UPSTREAM, 0);
}

static void got_head(struct sm_h1h2 *y, int end)
{
	struct sm_h2 *h = y->h;
	struct h1h2_ex *ex = &y->ex;
	uint16_t status = 0;
	int64_t cl;
	int reason = h2_block_finish(h, SM_H2_UPSTREAM, end, &status, &cl);
	int interim = status < 200;
	struct h2_buf b = {0};
	if (!reason) {
		char line[64];
		int n = snprintf(line, sizeof(line), "HTTP/1.1 %u %s\r\n", status,
		                 sm_h1_status_phrase(status));
		int rc = hq_put(y, &b, line, (size_t)n) | put_fields(y, &b);
		int bodyless = ex->head_req || status == 204 || status == 304;
		if (!interim && !bodyless && cl < 0) {
			if (end) /* no DATA will come: say so, else it reads as until-close */
				rc |= hq_put(y, &b, "content-length: 0\r\n", 19);
			else if (ex->version == 11)
				rc |= hq_put(y, &b, "transfer-encoding: chunked\r\n", 28);
		}
		rc |= hq_put(y, &b, "\r\n", 2);
		if (rc || b.len + 64 > y->lim.max_head) /* proto/http1 would refuse it */
			reason = SM_H2_R_HEADER_LIST;
	}
	if (reason) {
		h->buffered -= b.len;
		h2_free(h, b.p);
		h1h2_up_reset(y, NGHTTP2_PROTOCOL_ERROR);
		reset_ev(y, SM_H2_PROXY, NGHTTP2_PROTOCOL_ERROR, reason,
		         h->side[SM_H2_UPSTREAM].blk.detail);
		resp_failed(y, 0);
		return;
	}
	int rc = hq_put(y, &ex->hq, b.p + b.off, b.len);
	h->buffered -= b.len;
	h2_free(h, b.p);
	if (rc) {
		h1h2_up_reset(y, NGHTTP2_INTERNAL_ERROR);
		reset_ev(y, SM_H2_PROXY, NGHTTP2_INTERNAL_ERROR, SM_H2_R_MEMORY, 0);
		resp_failed(y, 0);
		return;
	}
	struct h2_ev e = {.type = SM_H2_EV_RESPONSE, .status = status};
	h2_ev_fill_headers(h, &e, SM_H2_UPSTREAM, ex->ord, ex->sid);
	e.flags = interim ? SM_H2_F_INTERIM : end ? SM_H2_F_END_STREAM : 0;
	h1h2_push(y, &e);
	if (interim)
		return;
	h->stats.responses++;
	ex->final = 1;
	int bodyless = ex->head_req || status == 204 || status == 304;
	ex->chunked = !bodyless && !end && cl < 0 && ex->version == 11;
	ex->until_close = !bodyless && !end && cl < 0 && ex->version != 11;
	if (end)
		resp_done(y);
}

static void got_trailers(struct sm_h1h2 *y, int end)
{
	struct sm_h2 *h = y->h;
	struct h1h2_ex *ex = &y->ex;
	uint16_t status;
	int64_t cl;
	int reason = h2_block_finish(h, SM_H2_UPSTREAM, end, &status, &cl);
	if (reason) {
		h1h2_up_reset(y, NGHTTP2_PROTOCOL_ERROR);
		reset_ev(y, SM_H2_PROXY, NGHTTP2_PROTOCOL_ERROR, reason,
		         h->side[SM_H2_UPSTREAM].blk.detail);
		resp_failed(y, 0);
		return;
	}
	struct h2_ev e = {.type = SM_H2_EV_TRAILERS, .flags = SM_H2_F_END_STREAM};
	h2_ev_fill_headers(h, &e, SM_H2_UPSTREAM, ex->ord, ex->sid);
	h1h2_push(y, &e);
	if (!ex->chunked || put_fields(y, &ex->tq) || ex->tq.len + 8 > H1H2_STAGE) {
		/* content-length framing (or too big for one section): dropped */
		y->stats.trailers_dropped++;
		h->buffered -= ex->tq.len;
		h2_free(h, ex->tq.p);
		memset(&ex->tq, 0, sizeof(ex->tq));
	}
	resp_done(y);
}

/* ---- nghttp2 callbacks (client session toward the upstream) ---- */

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct sm_h1h2 *y = ud;
	return h2_send_into(y->out, &y->out_len, y->out_cap, data, len);
}

static int ours(const struct sm_h1h2 *y, int32_t sid)
{
	const struct h1h2_ex *ex = &y->ex;
	return sid == ex->sid && sid > 0 && !ex->s_closed && !ex->resp_end && !ex->local_rst;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sm_h1h2 *y = ud;
	y->h->side[SM_H2_UPSTREAM].blk.active = 0;
	if (ours(y, f->hd.stream_id))
		h2_block_begin(y->h, SM_H2_UPSTREAM, f->hd.stream_id,
		               y->ex.final ? H2_K_TRAIL : H2_K_RESP);
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct sm_h1h2 *y = ud;
	return h2_block_header(y->h, SM_H2_UPSTREAM, f->hd.stream_id, name, nlen, value, vlen,
	                       flags);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sm_h1h2 *y = ud;
	struct h2_block *b = &y->h->side[SM_H2_UPSTREAM].blk;
	int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if (!b->active || b->sid != f->hd.stream_id)
			break;
		b->active = 0;
		if (!ours(y, f->hd.stream_id))
			break;
		if (b->cat == H2_K_RESP)
			got_head(y, end);
		else
			got_trailers(y, end);
		break;
	case NGHTTP2_DATA:
		if (end && ours(y, f->hd.stream_id) && y->ex.final)
			resp_done(y);
		break;
	case NGHTTP2_RST_STREAM:
		if (f->hd.stream_id == y->ex.sid) {
			y->ex.peer_rst = 1;
			y->h->stats.resets_peer++;
		}
		break;
	case NGHTTP2_GOAWAY: {
		y->up_gone = 1;
		struct h2_ev e = h2_goaway_ev(SM_H2_UPSTREAM, SM_H2_UPSTREAM, SM_H2_R_NONE, f);
		h1h2_push(y, &e);
		break;
	}
	default: break;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data,
                         size_t len, void *ud)
{
	struct sm_h1h2 *y = ud;
	struct sm_h2 *h = y->h;
	struct h1h2_ex *ex = &y->ex;
	if (!ours(y, sid) || !ex->final || y->abort) {
		nghttp2_session_consume(s, sid, len); /* nobody's: the window goes back */
		return 0;
	}
	if (h2_buf_put(h, &ex->rb, data, len, h->lim.stream_window) < 0) {
		nghttp2_session_consume(s, sid, len);
		h1h2_up_reset(y, NGHTTP2_FLOW_CONTROL_ERROR);
		reset_ev(y, SM_H2_PROXY, NGHTTP2_FLOW_CONTROL_ERROR, SM_H2_R_BUFFER, 0);
		resp_failed(y, 0);
		return 0;
	}
	h->stats.bytes[SM_H2_UPSTREAM] += len;
	struct h2_ev e = {.type = SM_H2_EV_DATA,
	                  .dir = SM_H2_UPSTREAM,
	                  .sid = ex->ord,
	                  .usid = ex->sid,
	                  .data = data,
	                  .len = (uint32_t)len};
	h1h2_push(y, &e);
	return h2_ev_room(h) ? 0 : NGHTTP2_ERR_PAUSE;
}

static int on_stream_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
	struct sm_h1h2 *y = ud;
	struct h1h2_ex *ex = &y->ex;
	if (sid != ex->sid || sid <= 0 || ex->s_closed)
		return 0;
	ex->s_closed = 1;
	if (!ex->resp_end && !ex->local_rst) {
		/* reset (or refused by a GOAWAY) before the response was whole */
		int peer = ex->peer_rst || code == NGHTTP2_REFUSED_STREAM;
		reset_ev(y, peer ? SM_H2_UPSTREAM : SM_H2_PROXY,
		         code == NGHTTP2_NO_ERROR ? NGHTTP2_CANCEL : code,
		         peer ? SM_H2_R_NONE : SM_H2_R_NGHTTP2, 0);
		resp_failed(y, y->up_gone);
	}
	if (!ex->req_end || ex->in_body)
		drop_req(y);
	h1h2_settle(y);
	return 0;
}

static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f, int err, void *ud)
{
	struct sm_h1h2 *y = ud;
	if (f->hd.type != NGHTTP2_HEADERS || !ours(y, f->hd.stream_id))
		return 0;
	/* the request never left (the session is going away) */
	y->up_gone = 1;
	reset_ev(y, SM_H2_PROXY, NGHTTP2_REFUSED_STREAM, SM_H2_R_REFUSED, err);
	y->ex.s_closed = 1;
	resp_failed(y, 1);
	h1h2_settle(y);
	return 0;
}

int h1h2_up_open(struct sm_h1h2 *y)
{
	nghttp2_session_callbacks *cb = NULL;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -1;
	nghttp2_session_callbacks_set_send_callback(cb, send_cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
	int rv = h2_session_open(y->h, SM_H2_UPSTREAM, cb, y);
	nghttp2_session_callbacks_del(cb);
	return rv;
}

/* ---- feeding, writing, losing the upstream ---- */

static long up_fail(struct sm_h1h2 *y, long err)
{
	y->up_fail = 1;
	struct h2_ev e = {.type = SM_H2_EV_ERROR,
	                  .dir = SM_H2_UPSTREAM,
	                  .who = SM_H2_UPSTREAM,
	                  .reason = err == NGHTTP2_ERR_NOMEM ? SM_H2_R_MEMORY : SM_H2_R_NGHTTP2,
	                  .detail = (int32_t)err};
	h1h2_push(y, &e);
	h1h2_upstream_lost(y, 0);
	return err == NGHTTP2_ERR_NOMEM ? SM_ERR_NOMEM : SM_ERR_PROTOCOL;
}

long h1h2_feed_upstream(struct sm_h1h2 *y, const uint8_t *in, size_t len)
{
	struct sm_h2 *h = y->h;
	if (y->up_eof || y->up_fail || h->failed)
		return SM_ERR_STATE;
	if (h->evlen == 0) {
		h2_arena_reset(h, SM_H2_CLIENT);
		h2_arena_reset(h, SM_H2_UPSTREAM);
	} else if (!h2_ev_room(h)) {
		h->stats.events_paused++;
		return 0;
	}
	ssize_t n = nghttp2_session_mem_recv(h1h2_up(y), in, len);
	if (n < 0)
		return up_fail(y, (long)n);
	h1h2_settle(y);
	if (h->failed)
		return up_fail(y, NGHTTP2_ERR_NOMEM);
	return (long)n;
}

long h1h2_out_upstream(struct sm_h1h2 *y, uint8_t *out, size_t cap)
{
	if (y->up_eof || y->up_fail)
		return 0;
	y->out = out;
	y->out_cap = cap;
	y->out_len = 0;
	int rv = nghttp2_session_send(h1h2_up(y));
	size_t n = y->out_len;
	y->out = NULL;
	y->out_cap = y->out_len = 0;
	if (rv < 0)
		return up_fail(y, rv);
	h1h2_settle(y);
	return (long)n;
}

void h1h2_upstream_lost(struct sm_h1h2 *y, int eof)
{
	struct h1h2_ex *ex = &y->ex;
	if (eof) {
		if (y->up_eof)
			return;
		y->up_eof = 1;
	}
	y->up_gone = 1;
	if (ex->open && ex->sid && !ex->s_closed && !ex->resp_end) {
		reset_ev(y, SM_H2_UPSTREAM, NGHTTP2_CANCEL, SM_H2_R_SIDE_CLOSED, 0);
		resp_failed(y, 1);
	}
	if (ex->sid)
		ex->s_closed = 1;
	h1h2_settle(y);
}
