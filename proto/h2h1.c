/* proto/h2h1: the h2 side of the translation (nghttp2 server session
 * toward the client, streams, the FIFO of waiting streams) and the API
 * behind proto/h2.h. Contract in proto/h2h1.h. */
#include <string.h>

#include "base/result.h"
#include "proto/h2h1_int.h"

nghttp2_session *h2h1_srv(const struct sm_h2h1 *x)
{
	return x->h->side[SM_H2_CLIENT].s;
}

static int client_gone(const struct sm_h2h1 *x)
{
	return x->cl_eof || x->failed;
}

static struct h2h1_st *get_st(struct sm_h2h1 *x, int32_t sid)
{
	if (sid <= 0)
		return NULL;
	struct h2h1_st *st = nghttp2_session_get_stream_user_data(h2h1_srv(x), sid);
	if (st && st->sid == sid)
		return st;
	for (uint32_t i = 0; i < x->h->lim.max_streams; i++)
		if (x->st[i].sid == sid)
			return &x->st[i];
	return NULL;
}

/* ---- events ---- */

static void push_ev(struct sm_h2h1 *x, struct h2_ev *e)
{
	if (h2_ev_push(x->h, e) < 0)
		x->h->failed = 1; /* hard bound passed: the feeds pause well before */
}

void h2h1_push(struct sm_h2h1 *x, uint8_t type, int dir, const struct h2h1_st *st)
{
	struct h2_ev e = {.type = type, .dir = (uint8_t)dir};
	if (st) {
		e.sid = st->sid;
		e.usid = (int32_t)st->ordinal;
	}
	push_ev(x, &e);
}

void h2h1_push_headers(struct sm_h2h1 *x, uint8_t type, int dir, const struct h2h1_st *st,
                       uint16_t flags, uint16_t status)
{
	struct h2_ev e = {.type = type, .flags = flags, .status = status};
	h2_ev_fill_headers(x->h, &e, dir, st->sid, (int32_t)st->ordinal);
	push_ev(x, &e);
}

/* ---- buffers, streams ---- */

void h2h1_buf_drop(struct sm_h2h1 *x, struct h2_buf *b)
{
	x->h->buffered -= b->len;
	h2_free(x->h, b->p);
	memset(b, 0, sizeof(*b));
}

void h2h1_resume(struct sm_h2h1 *x, struct h2h1_st *st)
{
	if (st->deferred && st->open && !client_gone(x)) {
		st->deferred = 0;
		nghttp2_session_resume_data(h2h1_srv(x), st->sid);
	}
}

static int respond(struct sm_h2h1 *x, struct h2h1_st *st, const char *status)
{
	nghttp2_nv nv[2] = {
	        {(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE},
	        {(uint8_t *)"content-length", (uint8_t *)"0", 14, 1, NGHTTP2_NV_FLAG_NONE},
	};
	if (nghttp2_submit_response(h2h1_srv(x), st->sid, nv, 2, NULL) != 0)
		return 0;
	st->final = 1;
	return 1;
}

void h2h1_kill(struct sm_h2h1 *x, struct h2h1_st *st, int who, uint32_t code, int reason,
               int detail, int upstream)
{
	if (!st->reported) {
		st->reported = 1;
		struct h2_ev e = {.type = SM_H2_EV_STREAM_RESET,
		                  .dir = (uint8_t)(upstream ? SM_H2_UPSTREAM : SM_H2_CLIENT),
		                  .who = (uint8_t)who,
		                  .reason = (uint8_t)reason,
		                  .detail = detail,
		                  .code = code,
		                  .sid = st->sid,
		                  .usid = (int32_t)st->ordinal};
		push_ev(x, &e);
		if (who == SM_H2_PROXY)
			x->h->stats.resets_proxy++;
	}
	int was_dead = st->dead;
	st->dead = 1;
	if (x->act >= 0 && &x->st[x->act] == st)
		h2h1_up_abort(x, who);
	if (!was_dead && who != SM_H2_CLIENT && st->open && !client_gone(x)) {
		if (!(upstream && !st->final && respond(x, st, "502")))
			nghttp2_submit_rst_stream(h2h1_srv(x), NGHTTP2_FLAG_NONE, st->sid, code);
	}
	h2h1_buf_drop(x, &st->req);
	h2h1_buf_drop(x, &st->resp);
}

static void free_slot(struct sm_h2h1 *x, struct h2h1_st *st)
{
	uint32_t slot = (uint32_t)(st - x->st), n = x->h->lim.max_streams, k = 0;
	for (uint32_t i = 0; i < x->qlen; i++) { /* drop it from the FIFO */
		uint32_t v = x->q[(x->qhead + i) % n];
		if (v != slot)
			x->q[(x->qhead + k++) % n] = v;
	}
	x->qlen = k;
	h2h1_buf_drop(x, &st->req);
	h2h1_buf_drop(x, &st->resp);
	h2_free(x->h, st->head);
	h2_free(x->h, st->req_tr);
	h2_free(x->h, st->resp_tr);
	memset(st, 0, sizeof(*st));
	x->h->nopen--;
}

void h2h1_next(struct sm_h2h1 *x)
{
	uint32_t n = x->h->lim.max_streams;
	while (x->act < 0 && !x->up_dead && !x->up_eof && !client_gone(x) && x->qlen) {
		uint32_t slot = x->q[x->qhead];
		x->qhead = (x->qhead + 1) % n;
		x->qlen--;
		if (x->st[slot].sid && !x->st[slot].dead) {
			x->act = (int32_t)slot;
			x->last_sid = x->st[slot].sid;
			h2h1_up_start(x);
		}
	}
}

void h2h1_up_dead(struct sm_h2h1 *x, int who, int reason)
{
	if (x->up_dead)
		return;
	x->up_dead = 1;
	x->stats.upstream_closed++;
	int32_t last = x->act >= 0 ? x->st[x->act].sid : x->last_sid;
	struct h2_ev e = {.type = SM_H2_EV_GOAWAY,
	                  .dir = SM_H2_UPSTREAM,
	                  .who = (uint8_t)who,
	                  .reason = (uint8_t)reason,
	                  .last_id = last};
	push_ev(x, &e);
	uint32_t n = x->h->lim.max_streams;
	while (x->qlen) { /* never sent: clients may retry them elsewhere */
		struct h2h1_st *st = &x->st[x->q[x->qhead]];
		x->qhead = (x->qhead + 1) % n;
		x->qlen--;
		if (st->sid && !st->dead) {
			x->stats.refused_waiting++;
			h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_REFUSED_STREAM, SM_H2_R_REFUSED, 0,
			          0);
		}
	}
	if (!x->goaway && !client_gone(x)) {
		/* after the stream being served is over: some clients (python
		 * h2) take no frame at all after a GOAWAY; the waiting streams
		 * and new ones are refused meanwhile */
		struct h2h1_st *ls = get_st(x, last);
		x->goaway = 1;
		if (ls && ls->open)
			x->goaway_after = last;
		else
			nghttp2_submit_goaway(h2h1_srv(x), NGHTTP2_FLAG_NONE, last,
			                      NGHTTP2_NO_ERROR, NULL, 0);
	}
}

/* ---- request side ---- */

/* END_STREAM from the client: the body must match its Content-Length. */
static void end_of(struct sm_h2h1 *x, struct h2h1_st *st)
{
	st->end_pending = 0;
	if (st->cl >= 0 && st->rx != (uint64_t)st->cl) {
		h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_PROTOCOL_ERROR, SM_H2_R_LENGTH, 0, 0);
		return;
	}
	st->req_end = 1;
	h2h1_push(x, SM_H2_EV_STREAM_END, SM_H2_CLIENT, st);
}

static void got_request(struct sm_h2h1 *x, struct h2h1_st *st, int end)
{
	struct sm_h2 *h = x->h;
	const struct h2_block *b = &h->side[SM_H2_CLIENT].blk;
	uint16_t status = 0;
	int64_t cl = -1;
	int detail = 0;
	int reason = h2_block_finish(h, SM_H2_CLIENT, end, &status, &cl);
	if (reason) {
		h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_PROTOCOL_ERROR, reason, b->detail, 0);
		return;
	}
	if (!(b->pseudo & (1u << PS_PATH))) { /* CONNECT: no tunnel over HTTP/1.1 here */
		x->stats.connect_refused++;
		st->reported = 1;
		struct h2_ev e = {.type = SM_H2_EV_STREAM_RESET,
		                  .who = SM_H2_PROXY,
		                  .reason = SM_H2_R_CONNECT,
		                  .sid = st->sid};
		push_ev(x, &e);
		h->stats.resets_proxy++;
		if (!respond(x, st, "501"))
			nghttp2_submit_rst_stream(h2h1_srv(x), NGHTTP2_FLAG_NONE, st->sid,
			                          NGHTTP2_REFUSED_STREAM);
		st->dead = 1;
		return;
	}
	if (x->up_dead || x->up_eof) {
		h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_REFUSED_STREAM, SM_H2_R_REFUSED, 0, 0);
		return;
	}
	reason = h2h1_build_head(x, st, &detail);
	if (reason) {
		h2h1_kill(x, st, SM_H2_PROXY,
		          reason == SM_H2_R_MEMORY ? NGHTTP2_INTERNAL_ERROR
		                                   : NGHTTP2_PROTOCOL_ERROR,
		          reason, detail, 0);
		return;
	}
	st->cl = cl;
	st->head_req = b->ps_len[PS_METHOD] == 4 &&
	               memcmp(h->side[SM_H2_CLIENT].arena + b->ps_off[PS_METHOD], "HEAD", 4) == 0;
	uint32_t n = h->lim.max_streams;
	x->q[(x->qhead + x->qlen) % n] = (uint32_t)(st - x->st);
	x->qlen++;
	if (x->qlen > x->stats.queue_peak)
		x->stats.queue_peak = x->qlen;
	h->stats.requests++;
	h2h1_push_headers(x, SM_H2_EV_REQUEST, SM_H2_CLIENT, st, end ? SM_H2_F_END_STREAM : 0, 0);
	if (end)
		end_of(x, st);
	h2h1_next(x);
}

static void got_trailers(struct sm_h2h1 *x, struct h2h1_st *st, int end)
{
	struct sm_h2 *h = x->h;
	uint16_t status;
	int64_t cl;
	int reason = h2_block_finish(h, SM_H2_CLIENT, end, &status, &cl);
	if (reason) {
		h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_PROTOCOL_ERROR, reason,
		          h->side[SM_H2_CLIENT].blk.detail, 0);
		return;
	}
	st->req_tr = h2_trailers_copy(h, SM_H2_CLIENT);
	if (!st->req_tr) {
		h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_INTERNAL_ERROR, SM_H2_R_MEMORY, 0, 0);
		return;
	}
	h2h1_push_headers(x, SM_H2_EV_TRAILERS, SM_H2_CLIENT, st, SM_H2_F_END_STREAM, 0);
	end_of(x, st);
}

/* ---- nghttp2 callbacks (server session toward the client) ---- */

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct sm_h2h1 *x = ud;
	return h2_send_into(x->out, &x->out_len, x->out_cap, data, len);
}

ssize_t h2h1_read_cb(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *dflags,
                     nghttp2_data_source *src, void *ud)
{
	struct sm_h2h1 *x = ud;
	struct h2h1_st *st = src->ptr;
	if (!st || st->sid != sid || st->dead)
		return NGHTTP2_ERR_DEFERRED; /* a reset is on its way */
	size_t n = h2_buf_take(x->h, &st->resp, buf, len);
	if (st->resp.len == 0 && st->resp_end) {
		*dflags |= NGHTTP2_DATA_FLAG_EOF;
		st->provider = 0;
		if (st->resp_tr) {
			*dflags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_submit_trailer(s, sid, st->resp_tr->nv, st->resp_tr->n);
			h2_free(x->h, st->resp_tr);
			st->resp_tr = NULL;
		}
		h2h1_buf_drop(x, &st->resp);
		return (ssize_t)n;
	}
	if (n == 0) {
		st->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sm_h2h1 *x = ud;
	int32_t sid = f->hd.stream_id;
	x->h->side[SM_H2_CLIENT].blk.active = 0;
	if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		h2_abuse_opened(x->h);
		struct h2h1_st *st = NULL;
		for (uint32_t i = 0; i < x->h->lim.max_streams && !st; i++)
			if (!x->st[i].sid)
				st = &x->st[i];
		if (!st) { /* the FIFO is full */
			x->h->stats.refused_no_slot++;
			nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, sid,
			                          NGHTTP2_REFUSED_STREAM);
			return 0;
		}
		memset(st, 0, sizeof(*st));
		st->sid = sid;
		st->open = 1;
		st->cl = -1;
		x->h->nopen++;
		x->h->stats.streams++;
		nghttp2_session_set_stream_user_data(s, sid, st);
		h2_block_begin(x->h, SM_H2_CLIENT, sid, H2_K_REQ);
		return 0;
	}
	struct h2h1_st *st = get_st(x, sid);
	if (st && !st->dead)
		h2_block_begin(x->h, SM_H2_CLIENT, sid, H2_K_TRAIL);
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct sm_h2h1 *x = ud;
	return h2_block_header(x->h, SM_H2_CLIENT, f->hd.stream_id, name, nlen, value, vlen, flags);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sm_h2h1 *x = ud;
	struct h2h1_st *st = get_st(x, f->hd.stream_id);
	struct h2_block *b = &x->h->side[SM_H2_CLIENT].blk;
	int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if (!b->active || b->sid != f->hd.stream_id)
			break;
		b->active = 0;
		if (!st || st->dead)
			break;
		if (b->cat == H2_K_REQ)
			got_request(x, st, end);
		else
			got_trailers(x, st, end);
		break;
	case NGHTTP2_DATA:
		if (st && !st->dead && end)
			end_of(x, st);
		break;
	case NGHTTP2_RST_STREAM:
		if (st && !st->dead) {
			x->h->stats.resets_peer++;
			h2h1_kill(x, st, SM_H2_CLIENT, f->rst_stream.error_code, SM_H2_R_NONE, 0,
			          0);
			h2_abuse(x->h, SM_H2_R_RAPID_RESET); /* still being answered */
		}
		break;
	case NGHTTP2_GOAWAY: {
		struct h2_ev e = h2_goaway_ev(SM_H2_CLIENT, SM_H2_CLIENT, SM_H2_R_NONE, f);
		push_ev(x, &e);
		break;
	}
	default: break;
	}
	return 0;
}

static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *ud)
{
	struct sm_h2h1 *x = ud;
	if (hd->type != NGHTTP2_DATA)
		return 0;
	struct h2h1_st *st = get_st(x, hd->stream_id);
	if (!st || st->dead)
		return 0;
	/* refused before a byte of the frame can reach the upstream */
	if (h2_data_len_bad(st->cl, st->rx, hd)) {
		h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_PROTOCOL_ERROR, SM_H2_R_LENGTH, 0, 0);
		return 0;
	}
	if (hd->flags & NGHTTP2_FLAG_END_STREAM)
		st->end_pending = 1;
	return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data,
                         size_t len, void *ud)
{
	struct sm_h2h1 *x = ud;
	struct sm_h2 *h = x->h;
	/* the connection window opens at once: a waiting stream's body must
	 * not stall the one being served; stream windows bound the buffers */
	nghttp2_session_consume_connection(s, len);
	struct h2h1_st *st = get_st(x, sid);
	if (!st || st->dead)
		return 0;
	h->stats.bytes[SM_H2_CLIENT] += len;
	if (st->cl >= 0 && st->rx + len > (uint64_t)st->cl) {
		h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_PROTOCOL_ERROR, SM_H2_R_LENGTH, 0, 0);
		return 0;
	}
	st->rx += len;
	int rc = h2_buf_put(h, &st->req, data, len, h->lim.stream_window);
	if (rc < 0) {
		h2h1_kill(x, st, SM_H2_PROXY,
		          rc == -1 ? NGHTTP2_FLOW_CONTROL_ERROR : NGHTTP2_INTERNAL_ERROR,
		          rc == -1 ? SM_H2_R_BUFFER : SM_H2_R_MEMORY, 0, 0);
		return 0;
	}
	struct h2_ev e = {.type = SM_H2_EV_DATA,
	                  .dir = SM_H2_CLIENT,
	                  .sid = st->sid,
	                  .usid = (int32_t)st->ordinal,
	                  .data = data,
	                  .len = (uint32_t)len};
	push_ev(x, &e);
	return h2_ev_room(h) ? 0 : NGHTTP2_ERR_PAUSE;
}

static int on_stream_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
	struct sm_h2h1 *x = ud;
	struct h2h1_st *st = get_st(x, sid);
	if (!st)
		return 0;
	st->open = 0;
	if (!st->dead && (code != NGHTTP2_NO_ERROR || !st->up_done)) {
		/* closed by nghttp2 (a protocol error, our GOAWAY) before its
		 * upstream part ended */
		uint32_t c = code == NGHTTP2_NO_ERROR ? NGHTTP2_CANCEL : code;
		h2h1_kill(x, st, SM_H2_PROXY, c,
		          c == NGHTTP2_REFUSED_STREAM ? SM_H2_R_REFUSED : SM_H2_R_NGHTTP2, 0, 0);
	}
	if (x->act >= 0 && &x->st[x->act] == st)
		h2h1_up_abort(x, SM_H2_PROXY);
	nghttp2_session_set_stream_user_data(s, sid, NULL);
	free_slot(x, st);
	if (x->goaway_after == sid) {
		x->goaway_after = 0;
		nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, sid, NGHTTP2_NO_ERROR, NULL, 0);
	}
	return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sm_h2h1 *x = ud;
	if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		/* the response is complete while the request is not: RFC 9113
		 * §8.1, stop the client's half */
		struct h2h1_st *st = get_st(x, f->hd.stream_id);
		if (st && !st->req_end)
			nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->sid, NGHTTP2_NO_ERROR);
		return 0;
	}
	if (f->hd.type == NGHTTP2_RST_STREAM &&
	    f->rst_stream.error_code == NGHTTP2_REFUSED_STREAM) {
		x->h->stats.refused_streams++;
		h2_abuse(x->h, SM_H2_R_STREAM_FLOOD);
		return 0;
	}
	if (f->hd.type == NGHTTP2_GOAWAY && !x->goaway) {
		/* nghttp2 ended the connection (the client broke the protocol,
		 * or abused it: max_resets) */
		x->goaway = 1;
		struct h2_ev e = h2_goaway_ev(SM_H2_CLIENT, SM_H2_PROXY,
		                              h2_client_goaway_sent(x->h, f->goaway.error_code), f);
		push_ev(x, &e);
	}
	return 0;
}

static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f, int err, void *ud)
{
	struct sm_h2h1 *x = ud;
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct h2h1_st *st = get_st(x, f->hd.stream_id);
	if (st && !st->dead)
		h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_INTERNAL_ERROR, SM_H2_R_NGHTTP2, err, 0);
	return 0;
}

/* ---- API ---- */

static const struct sm_h2_ops ops;

struct sm_h2 *sm_h2h1_new(const struct sm_h2h1_limits *lim)
{
	struct sm_h2h1_limits l = {0};
	if (lim)
		l = *lim;
	if (!l.max_head)
		l.max_head = 16384;
	if (!l.max_trailer)
		l.max_trailer = 4096;
	if (!l.max_buffer)
		l.max_buffer = 65536;
	if (l.max_head > (1u << 20) || l.max_trailer > (1u << 20) || l.max_buffer > (16u << 20))
		return NULL;
	struct sm_h2 *h = h2_core_new(&l.h2, 0, &ops);
	if (!h)
		return NULL;
	struct sm_h2h1 *x = h2_alloc(h, sizeof(*x));
	if (!x) {
		sm_h2_free(h);
		return NULL;
	}
	memset(x, 0, sizeof(*x));
	h->h2h1 = x;
	x->h = h;
	x->lim = l;
	x->lim.h2 = h->lim;
	x->act = -1;
	uint32_t n = h->lim.max_streams;
	x->st = h2_alloc(h, n * sizeof(*x->st));
	x->q = h2_alloc(h, n * sizeof(*x->q));
	nghttp2_session_callbacks *cb = NULL;
	if (!x->st || !x->q || h2h1_up_init(x) < 0 || nghttp2_session_callbacks_new(&cb) != 0) {
		sm_h2_free(h);
		return NULL;
	}
	memset(x->st, 0, n * sizeof(*x->st));
	nghttp2_session_callbacks_set_send_callback(cb, send_cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
	int rv = h2_session_open(h, SM_H2_CLIENT, cb, x);
	nghttp2_session_callbacks_del(cb);
	if (rv < 0) {
		sm_h2_free(h);
		return NULL;
	}
	return h;
}

static void release(struct sm_h2 *h)
{
	struct sm_h2h1 *x = h->h2h1;
	for (uint32_t i = 0; x->st && i < h->lim.max_streams; i++) {
		struct h2h1_st *st = &x->st[i];
		h2_free(h, st->req.p);
		h2_free(h, st->resp.p);
		h2_free(h, st->head);
		h2_free(h, st->req_tr);
		h2_free(h, st->resp_tr);
	}
	h2_free(h, x->st);
	h2_free(h, x->q);
	h2_free(h, x->raw);
	h2_free(h, x->trl);
	h2_free(h, x->tail);
	h2_free(h, x);
	h->h2h1 = NULL;
}

static void client_lost(struct sm_h2h1 *x)
{
	for (uint32_t i = 0; i < x->h->lim.max_streams; i++) {
		struct h2h1_st *st = &x->st[i];
		if (!st->sid)
			continue;
		if (!st->dead)
			h2h1_kill(x, st, SM_H2_CLIENT, NGHTTP2_CANCEL, SM_H2_R_SIDE_CLOSED, 0, 0);
		free_slot(x, st); /* nothing can reach a lost client */
	}
	if (x->act >= 0)
		h2h1_up_abort(x, SM_H2_CLIENT);
}

static void check_silent_rejects(struct sm_h2h1 *x)
{
	/* END_STREAM refused by nghttp2 itself (padded DATA disagreeing with
	 * Content-Length): it shut the stream's receiving half silently */
	for (uint32_t i = 0; i < x->h->lim.max_streams; i++) {
		struct h2h1_st *st = &x->st[i];
		if (st->sid && !st->dead && st->end_pending && !st->req_end &&
		    nghttp2_session_get_stream_remote_close(h2h1_srv(x), st->sid) == 1)
			h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_PROTOCOL_ERROR, SM_H2_R_LENGTH, 0, 0);
	}
}

static long client_fail(struct sm_h2h1 *x, long err)
{
	x->failed = 1;
	struct h2_ev e = {.type = SM_H2_EV_ERROR,
	                  .dir = SM_H2_CLIENT,
	                  .who = SM_H2_CLIENT,
	                  .reason = err == NGHTTP2_ERR_NOMEM ? SM_H2_R_MEMORY : SM_H2_R_NGHTTP2,
	                  .detail = (int32_t)err};
	push_ev(x, &e);
	client_lost(x);
	return err == NGHTTP2_ERR_NOMEM ? SM_ERR_NOMEM : SM_ERR_PROTOCOL;
}

static long feed_client(struct sm_h2 *h, const uint8_t *in, size_t len)
{
	struct sm_h2h1 *x = X(h);
	if (client_gone(x) || h->failed)
		return SM_ERR_STATE;
	if (h->evlen == 0) {
		h2_arena_reset(h, SM_H2_CLIENT);
		h2_arena_reset(h, SM_H2_UPSTREAM);
		x->paused = 0;
	} else if (!h2_ev_room(h) || x->paused) {
		x->paused = 1;
		h->stats.events_paused++;
		return 0;
	}
	ssize_t n = nghttp2_session_mem_recv(h2h1_srv(x), in, len);
	if (n < 0)
		return client_fail(x, (long)n);
	if ((size_t)n < len && h->evlen > 0) {
		x->paused = 1;
		h->stats.events_paused++;
	}
	check_silent_rejects(x);
	if (h->failed)
		return client_fail(x, NGHTTP2_ERR_NOMEM);
	return (long)n;
}

static long out_client(struct sm_h2 *h, uint8_t *buf, size_t cap)
{
	struct sm_h2h1 *x = X(h);
	if (x->cl_eof || (x->failed && !nghttp2_session_want_write(h2h1_srv(x))))
		return 0;
	x->out = buf;
	x->out_cap = cap;
	x->out_len = 0;
	int rv = nghttp2_session_send(h2h1_srv(x));
	size_t n = x->out_len;
	x->out = NULL;
	x->out_cap = x->out_len = 0;
	if (rv < 0 && !x->failed)
		return client_fail(x, rv);
	return (long)n;
}

static int want_out(const struct sm_h2 *h, int side)
{
	const struct sm_h2h1 *x = X(h);
	if (side == SM_H2_UPSTREAM)
		return h2h1_want_upstream(x);
	return !x->cl_eof && nghttp2_session_want_write(h2h1_srv(x));
}

static int eof(struct sm_h2 *h, int side)
{
	struct sm_h2h1 *x = X(h);
	if (side == SM_H2_UPSTREAM) {
		h2h1_upstream_eof(x);
		return SM_OK;
	}
	if (side != SM_H2_CLIENT)
		return SM_ERR_STATE;
	if (!x->cl_eof) {
		x->cl_eof = 1;
		client_lost(x);
	}
	return SM_OK;
}

static int done(const struct sm_h2 *h, int side)
{
	const struct sm_h2h1 *x = X(h);
	nghttp2_session *s = h2h1_srv(x);
	int cdone = x->cl_eof || (x->failed && !nghttp2_session_want_write(s)) ||
	            (!nghttp2_session_want_read(s) && !nghttp2_session_want_write(s));
	if (side == SM_H2_CLIENT)
		return cdone;
	if (x->up_eof)
		return 1;
	return x->act < 0 && (x->up_dead || cdone) && !h2h1_want_upstream(x);
}

static enum sm_h2_wait wait(const struct sm_h2 *h, int side)
{
	const struct sm_h2h1 *x = X(h);
	if (side == SM_H2_CLIENT) {
		if (client_gone(x) || h->failed || !nghttp2_session_want_read(h2h1_srv(x)))
			return SM_H2_WAIT_CLOSED;
		if ((x->paused && h->evlen > 0) || !h2_ev_room(h))
			return SM_H2_WAIT_EVENTS;
		return SM_H2_WAIT_NONE;
	}
	if (x->up_eof || (x->up_dead && x->act < 0) || h->failed)
		return SM_H2_WAIT_CLOSED;
	if (h->evlen > 0)
		return SM_H2_WAIT_EVENTS;
	if (x->act >= 0 && x->r == R_BODY && x->st[x->act].resp.len >= x->lim.max_buffer)
		return SM_H2_WAIT_OUT_FULL;
	if (!client_gone(x) &&
	    nghttp2_session_get_outbound_queue_size(h2h1_srv(x)) >= h->lim.max_out_queue)
		return SM_H2_WAIT_OUT_FULL;
	return SM_H2_WAIT_NONE;
}

static long feed(struct sm_h2 *h, int side, const uint8_t *in, size_t len)
{
	return side == SM_H2_CLIENT ? feed_client(h, in, len) : h2h1_feed_upstream(X(h), in, len);
}

static long out(struct sm_h2 *h, int side, uint8_t *buf, size_t cap)
{
	return side == SM_H2_CLIENT ? out_client(h, buf, cap) : h2h1_out_upstream(X(h), buf, cap);
}

static const struct sm_h2_ops ops = {
        .name = "h2h1",
        .feed = feed,
        .out = out,
        .want_out = want_out,
        .eof = eof,
        .done = done,
        .wait = wait,
        .release = release,
};

const struct sm_h2h1_stats *sm_h2h1_stats(const struct sm_h2 *h)
{
	return h && h->h2h1 ? &h->h2h1->stats : NULL;
}

const char *sm_h2h1_fault_str(enum sm_h2h1_fault f)
{
	switch (f) {
	case SM_H2H1_OK: return "ok";
	case SM_H2H1_PARSE: return "parse";
	case SM_H2H1_HEAD_TOO_LARGE: return "head_too_large";
	case SM_H2H1_VERSION: return "version";
	case SM_H2H1_HEADER: return "header";
	case SM_H2H1_FIELDS: return "fields";
	case SM_H2H1_SWITCHING: return "switching";
	case SM_H2H1_BODY: return "body";
	case SM_H2H1_TRAILERS: return "trailers";
	case SM_H2H1_UNSOLICITED: return "unsolicited";
	case SM_H2H1_TRUNCATED: return "truncated";
	}
	return "unknown";
}
