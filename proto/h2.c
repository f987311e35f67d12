/* proto/h2: two nghttp2 sessions, streams mapped 1:1, forwarding with
 * end-to-end flow control (contract in proto/h2.h). */
#include <string.h>

#include "base/result.h"
#include "proto/h2_int.h"

#define OTHER(side) (1 - (side))

static struct sm_h2 *H(void *ud)
{
	return ud;
}

static int side_of(const struct sm_h2 *h, const nghttp2_session *s)
{
	return s == h->side[SM_H2_UPSTREAM].s ? SM_H2_UPSTREAM : SM_H2_CLIENT;
}

/* The stream slot of `sid` in session `side`, or NULL. User data first; a
 * scan covers upstream streams whose HEADERS are not sent yet. */
static struct h2_stream *get_st(struct sm_h2 *h, int side, int32_t sid)
{
	if (sid <= 0)
		return NULL;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(h->side[side].s, sid);
	if (st && st->used && st->sid[side] == sid)
		return st;
	for (uint32_t i = 0; i < h->nslots; i++)
		if (h->st[i].used && h->st[i].sid[side] == sid)
			return &h->st[i];
	return NULL;
}

void h2_push(struct sm_h2 *h, struct h2_ev *e)
{
	if (h2_ev_push(h, e) < 0)
		h->failed = 1; /* hard bound passed: cannot happen with the pause rules */
}

static void push_simple(struct sm_h2 *h, uint8_t type, int dir, const struct h2_stream *st)
{
	struct h2_ev e = {.type = type, .dir = (uint8_t)dir};
	if (st) {
		e.sid = st->sid[0];
		e.usid = st->sid[1];
	}
	h2_push(h, &e);
}

/* ---- stream teardown ---- */

/* Hands the window of buffered-but-dropped bytes back to their sender. */
static void drop_buf(struct sm_h2 *h, struct h2_stream *st, int dir)
{
	struct h2_buf *b = &st->buf[dir];
	if (b->len && !h->side[dir].eof && !h->side[dir].failed && st->sid[dir] > 0)
		nghttp2_session_consume(h->side[dir].s, st->sid[dir], b->len);
	h->buffered -= b->len;
	h2_free(h, b->p);
	memset(b, 0, sizeof(*b));
}

void h2_maybe_free(struct sm_h2 *h, struct h2_stream *st)
{
	if (!st->used || st->open[0] || st->open[1])
		return;
	for (int d = 0; d < 2; d++) {
		drop_buf(h, st, d);
		h2_free(h, st->tr[d]);
		if (st->sid[d] > 0 && !h->side[d].eof)
			nghttp2_session_set_stream_user_data(h->side[d].s, st->sid[d], NULL);
	}
	memset(st, 0, sizeof(*st));
	h->nopen--;
}

/* Resets the stream in session `side` (if it is still there). */
static void rst(struct sm_h2 *h, struct h2_stream *st, int side, uint32_t code)
{
	const struct h2_side *sd = &h->side[side];
	if (!st->open[side] || st->sid[side] <= 0 || sd->eof || sd->failed || sd->lost)
		return;
	nghttp2_submit_rst_stream(h->side[side].s, NGHTTP2_FLAG_NONE, st->sid[side], code);
}

/* Code toward `side` when its peer stream failed. */
static uint32_t peer_code(int side, uint32_t code)
{
	if (code == NGHTTP2_REFUSED_STREAM || code == NGHTTP2_NO_ERROR)
		return code;
	return side == SM_H2_UPSTREAM ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR;
}

/* The upstream's answer was refused before any final response head went to
 * the client: answer 502 (empty body) instead of resetting. If the client
 * is still sending, RST_STREAM(NO_ERROR) follows the 502 (on_frame_send).
 * 1 if the 502 was queued. */
static int bad_gateway(struct sm_h2 *h, struct h2_stream *st)
{
	const struct h2_side *cs = &h->side[SM_H2_CLIENT];
	if (st->final || !st->open[SM_H2_CLIENT] || cs->eof || cs->failed || cs->lost)
		return 0;
	nghttp2_nv nv[2] = {
	        {(uint8_t *)":status", (uint8_t *)"502", 7, 3, NGHTTP2_NV_FLAG_NONE},
	        {(uint8_t *)"content-length", (uint8_t *)"0", 14, 1, NGHTTP2_NV_FLAG_NONE},
	};
	if (nghttp2_submit_response(cs->s, st->sid[SM_H2_CLIENT], nv, 2, NULL) != 0)
		return 0;
	st->final = 1;
	st->stop_other = 1;
	return 1;
}

/* The stream is over: reset both sides (the faulting side `side` with
 * `code`, the other with its peer code), drop buffers, report once. */
void h2_kill_stream(struct sm_h2 *h, struct h2_stream *st, int side, uint8_t who, uint32_t code,
                    int reason, int detail)
{
	if (!st->reported) {
		st->reported = 1;
		struct h2_ev e = {.type = SM_H2_EV_STREAM_RESET,
		                  .dir = (uint8_t)side,
		                  .who = who,
		                  .reason = (uint8_t)reason,
		                  .detail = detail,
		                  .code = code,
		                  .sid = st->sid[0],
		                  .usid = st->sid[1]};
		h2_push(h, &e);
		if (who == SM_H2_PROXY)
			h->stats.resets_proxy++;
	}
	st->dead = 1;
	if (who != side)
		rst(h, st, side, code);
	if (who == SM_H2_PROXY && side == SM_H2_UPSTREAM && bad_gateway(h, st))
		; /* the client gets a 502 instead of a reset */
	else      /* a peer's RST_STREAM goes on with its code; our own decisions map it */
		rst(h, st, OTHER(side),
		    reason == SM_H2_R_NONE ? code : peer_code(OTHER(side), code));
	drop_buf(h, st, 0);
	drop_buf(h, st, 1);
}

void h2_reject(struct sm_h2 *h, struct h2_stream *st, int side, int reason, int detail)
{
	h2_kill_stream(h, st, side, SM_H2_PROXY, NGHTTP2_PROTOCOL_ERROR, reason, detail);
}

/* Data for dir is waiting: wake the provider on the receiving session. */
static void resume(struct sm_h2 *h, struct h2_stream *st, int dir)
{
	int to = OTHER(dir);
	if (st->deferred[dir] && st->sid[to] > 0 && !h->side[to].eof) {
		st->deferred[dir] = 0;
		nghttp2_session_resume_data(h->side[to].s, st->sid[to]);
	}
}

/* Receiving on `side` stops (NGHTTP2_ERR_PAUSE from a pausable callback)
 * when the caller must pop events first or the other side's output queue
 * is full: what we receive from one side turns into frames for the other. */
static int must_pause(struct sm_h2 *h, int side)
{
	if (!h2_ev_room(h))
		return 1;
	const struct h2_side *od = &h->side[OTHER(side)];
	return !od->eof && !od->lost &&
	       nghttp2_session_get_outbound_queue_size(od->s) >= h->lim.max_out_queue;
}

/* ---- nghttp2 callbacks ---- */

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct sm_h2 *h = H(ud);
	return h2_send_into(h->out, &h->out_len, h->out_cap, data, len);
}

static ssize_t read_cb(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *dflags,
                       nghttp2_data_source *src, void *ud)
{
	struct sm_h2 *h = H(ud);
	struct h2_stream *st = src->ptr;
	int to = side_of(h, s), dir = OTHER(to);
	if (!st || !st->used || st->sid[to] != sid || st->dead)
		return NGHTTP2_ERR_DEFERRED; /* a reset is on its way */
	struct h2_buf *b = &st->buf[dir];
	size_t n = h2_buf_take(h, b, buf, len);
	/* the bytes are handed on: only now may their sender send more */
	if (n && !h->side[dir].eof && !h->side[dir].failed)
		nghttp2_session_consume(h->side[dir].s, st->sid[dir], n);
	if (b->len == 0 && st->ended[dir]) {
		*dflags |= NGHTTP2_DATA_FLAG_EOF;
		st->provider[dir] = 0;
		if (st->tr[dir]) {
			*dflags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_submit_trailer(s, sid, st->tr[dir]->nv, st->tr[dir]->n);
			h2_free(h, st->tr[dir]);
			st->tr[dir] = NULL;
		}
		h2_free(h, b->p);
		memset(b, 0, sizeof(*b));
		return (ssize_t)n;
	}
	if (n == 0) {
		st->deferred[dir] = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sm_h2 *h = H(ud);
	int side = side_of(h, s);
	int32_t sid = f->hd.stream_id;
	h->side[side].blk.active = 0;
	if (side == SM_H2_CLIENT && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		h2_abuse_opened(h);
		struct h2_stream *st = NULL;
		for (uint32_t i = 0; i < h->nslots && !st; i++)
			if (!h->st[i].used)
				st = &h->st[i];
		if (!st) {
			h->stats.refused_no_slot++;
			nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, sid,
			                          NGHTTP2_REFUSED_STREAM);
			return 0;
		}
		memset(st, 0, sizeof(*st));
		st->used = 1;
		st->sid[0] = sid;
		st->open[0] = 1;
		st->cl[0] = st->cl[1] = -1;
		h->nopen++;
		h->stats.streams++;
		nghttp2_session_set_stream_user_data(s, sid, st);
		h2_block_begin(h, side, sid, H2_K_REQ);
		return 0;
	}
	struct h2_stream *st = get_st(h, side, sid);
	if (!st || st->dead)
		return 0;
	uint8_t kind = H2_K_TRAIL;
	if (side == SM_H2_UPSTREAM && !st->final)
		kind = H2_K_RESP;
	h2_block_begin(h, side, sid, kind);
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct sm_h2 *h = H(ud);
	int side = side_of(h, s);
	struct h2_block *b = &h->side[side].blk;
	if (!b->active || b->sid != f->hd.stream_id)
		return 0;
	int rv = h2_block_field(h, side, name, nlen, value, vlen, flags);
	if (rv == 0 && must_pause(h, side))
		rv = NGHTTP2_ERR_PAUSE;
	return rv;
}

void h2_ev_fill_headers(struct sm_h2 *h, struct h2_ev *e, int side, int32_t sid, int32_t usid)
{
	const struct h2_block *b = &h->side[side].blk;
	e->dir = (uint8_t)side;
	e->sid = sid;
	e->usid = usid;
	e->hfirst = b->first;
	e->nheaders = b->nfields;
	for (int i = 0; i < PS_N; i++) {
		e->ps_has[i] = (uint8_t)((b->pseudo >> i) & 1u);
		e->ps_off[i] = b->ps_off[i];
		e->ps_len[i] = b->ps_len[i];
	}
}

static void ev_headers(struct sm_h2 *h, struct h2_ev *e, int side, const struct h2_stream *st)
{
	h2_ev_fill_headers(h, e, side, st->sid[0], st->sid[1]);
}

/* END_STREAM arrived for dir: check the length, then let it be forwarded. */
static void end_of(struct sm_h2 *h, struct h2_stream *st, int dir)
{
	st->end_pending[dir] = 0;
	int bodyless = dir == 1 && st->head;
	if (st->cl[dir] >= 0 && !bodyless && st->rx[dir] != (uint64_t)st->cl[dir]) {
		h2_reject(h, st, dir, SM_H2_R_LENGTH, 0);
		return;
	}
	st->ended[dir] = 1;
	push_simple(h, SM_H2_EV_STREAM_END, dir, st);
	if (st->provider[dir])
		resume(h, st, dir);
}

static void got_headers(struct sm_h2 *h, int side, const nghttp2_frame *f)
{
	struct h2_block *b = &h->side[side].blk;
	if (!b->active || b->sid != f->hd.stream_id)
		return;
	b->active = 0;
	struct h2_stream *st = get_st(h, side, f->hd.stream_id);
	if (!st || st->dead)
		return;
	int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
	uint16_t status = 0;
	int64_t cl = -1;
	int reason = h2_block_finish(h, side, end, &status, &cl);
	if (reason) {
		h2_reject(h, st, side, reason, b->detail);
		return;
	}
	nghttp2_data_provider prd = {.source = {.ptr = st}, .read_callback = read_cb};
	struct h2_ev e = {.flags = end ? SM_H2_F_END_STREAM : 0};
	if (b->cat == H2_K_TRAIL) {
		st->tr[side] = h2_trailers_copy(h, side);
		if (!st->tr[side]) {
			h2_kill_stream(h, st, side, SM_H2_PROXY, NGHTTP2_INTERNAL_ERROR,
			               SM_H2_R_MEMORY, 0);
			return;
		}
		e.type = SM_H2_EV_TRAILERS;
		ev_headers(h, &e, side, st);
		h2_push(h, &e);
		end_of(h, st, side);
		return;
	}
	size_t n = h2_block_nv(h, side);
	if (b->cat == H2_K_REQ) {
		nghttp2_session *up = h->side[SM_H2_UPSTREAM].s;
		int32_t usid = -1;
		if (!h->side[SM_H2_UPSTREAM].eof && !h->side[SM_H2_UPSTREAM].failed &&
		    nghttp2_session_check_request_allowed(up))
			usid = nghttp2_submit_request(up, NULL, h->nvscratch, n, end ? NULL : &prd,
			                              st);
		if (usid < 0) {
			h2_kill_stream(h, st, SM_H2_UPSTREAM, SM_H2_UPSTREAM,
			               NGHTTP2_REFUSED_STREAM, SM_H2_R_REFUSED, usid);
			return;
		}
		st->sid[1] = usid;
		st->open[1] = 1;
		st->provider[0] = (uint8_t)!end;
		st->cl[0] = cl;
		st->head = b->ps_len[PS_METHOD] == 4 &&
		           memcmp(h->side[side].arena + b->ps_off[PS_METHOD], "HEAD", 4) == 0;
		h->stats.requests++;
		e.type = SM_H2_EV_REQUEST;
		if (!(b->pseudo & (1u << PS_PATH)))
			e.flags |= SM_H2_F_CONNECT;
		if (b->pseudo & (1u << PS_PROTOCOL))
			e.flags |= SM_H2_F_EXTCONNECT;
	} else {
		nghttp2_session *srv = h->side[SM_H2_CLIENT].s;
		int rv;
		if (status < 200) {
			e.flags |= SM_H2_F_INTERIM;
			rv = nghttp2_submit_headers(srv, NGHTTP2_FLAG_NONE, st->sid[0], NULL,
			                            h->nvscratch, n, NULL);
		} else {
			st->final = 1;
			st->cl[1] = (status == 204 || status == 304) ? -1 : cl;
			st->provider[1] = (uint8_t)!end;
			rv = nghttp2_submit_response(srv, st->sid[0], h->nvscratch, n,
			                             end ? NULL : &prd);
		}
		if (rv != 0) {
			h2_kill_stream(h, st, SM_H2_CLIENT, SM_H2_PROXY, NGHTTP2_INTERNAL_ERROR,
			               SM_H2_R_NGHTTP2, rv);
			return;
		}
		h->stats.responses++;
		e.type = SM_H2_EV_RESPONSE;
		e.status = status;
	}
	ev_headers(h, &e, side, st);
	h2_push(h, &e);
	if (end)
		end_of(h, st, side);
}

static void got_goaway(struct sm_h2 *h, int side, const nghttp2_frame *f)
{
	struct h2_side *sd = &h->side[side];
	if (!sd->goaway_seen) {
		sd->goaway_seen = 1;
		struct h2_ev e = h2_goaway_ev(side, side, SM_H2_R_NONE, f);
		h2_push(h, &e);
	}
	int to = OTHER(side);
	struct h2_side *od = &h->side[to];
	if (!od->goaway_sent && !od->eof && !od->failed) {
		od->goaway_sent = 1;
		uint32_t code = f->goaway.error_code == NGHTTP2_NO_ERROR ? NGHTTP2_NO_ERROR
		                                                         : NGHTTP2_INTERNAL_ERROR;
		int32_t last =
		        to == SM_H2_CLIENT ? nghttp2_session_get_last_proc_stream_id(od->s) : 0;
		nghttp2_submit_goaway(od->s, NGHTTP2_FLAG_NONE, last, code, NULL, 0);
	}
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sm_h2 *h = H(ud);
	int side = side_of(h, s);
	struct h2_stream *st;
	switch (f->hd.type) {
	case NGHTTP2_HEADERS: got_headers(h, side, f); break;
	case NGHTTP2_DATA:
		st = get_st(h, side, f->hd.stream_id);
		if (st && !st->dead && (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
			end_of(h, st, side);
		break;
	case NGHTTP2_RST_STREAM:
		st = get_st(h, side, f->hd.stream_id);
		if (st && f->rst_stream.error_code == NGHTTP2_NO_ERROR && st->ended[side] &&
		    !st->dead) {
			/* RFC 9113 §8.1: the message from `side` is complete and it
			 * only stops the other direction. Deliver the message, then
			 * stop the other peer with RST_STREAM(NO_ERROR). */
			h->stats.resets_peer++;
			st->reported = 1;
			struct h2_ev e = {.type = SM_H2_EV_STREAM_RESET,
			                  .dir = (uint8_t)side,
			                  .who = (uint8_t)side,
			                  .sid = st->sid[0],
			                  .usid = st->sid[1]};
			h2_push(h, &e);
			drop_buf(h, st, OTHER(side));
			st->stop_other = 1;
			if (!st->provider[side] && !st->buf[side].len)
				rst(h, st, OTHER(side), NGHTTP2_NO_ERROR);
			break;
		}
		if (st) {
			h->stats.resets_peer++;
			/* a client cancelling what is still being answered: fine
			 * now and then, an attack by the hundred */
			int early = side == SM_H2_CLIENT && !st->ended[SM_H2_UPSTREAM];
			st->open[side] = 0; /* closed for us; on_stream_close follows */
			h2_kill_stream(h, st, side, (uint8_t)side, f->rst_stream.error_code,
			               SM_H2_R_NONE, 0);
			st->open[side] = 1;
			if (early)
				h2_abuse(h, SM_H2_R_RAPID_RESET);
		}
		break;
	case NGHTTP2_GOAWAY: got_goaway(h, side, f); break;
	case NGHTTP2_SETTINGS:
		/* RFC 8441: offer extended CONNECT to the client only once the
		 * upstream offered it (a second SETTINGS frame) */
		if (side == SM_H2_UPSTREAM && !(f->hd.flags & NGHTTP2_FLAG_ACK) && !h->xconnect &&
		    !h->lim.no_extended_connect &&
		    nghttp2_session_get_remote_settings(
		            s, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1 &&
		    !h->side[SM_H2_CLIENT].lost) {
			nghttp2_settings_entry iv = {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1};
			if (nghttp2_submit_settings(h->side[SM_H2_CLIENT].s, NGHTTP2_FLAG_NONE, &iv,
			                            1) == 0)
				h->xconnect = 1;
		}
		break;
	default: break;
	}
	return 0;
}

int h2_data_len_bad(int64_t cl, uint64_t rx, const nghttp2_frame_hd *hd)
{
	if (cl < 0)
		return 0;
	size_t least = hd->length;
	if (hd->flags & NGHTTP2_FLAG_PADDED)
		least = hd->length > 256 ? hd->length - 256 : 0;
	return rx + least > (uint64_t)cl ||
	       ((hd->flags & NGHTTP2_FLAG_END_STREAM) && !(hd->flags & NGHTTP2_FLAG_PADDED) &&
	        rx + hd->length != (uint64_t)cl);
}

static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *ud)
{
	struct sm_h2 *h = H(ud);
	if (hd->type != NGHTTP2_DATA)
		return 0;
	int side = side_of(h, s);
	struct h2_stream *st = get_st(h, side, hd->stream_id);
	if (!st || st->dead)
		return 0;
	/* Early length check, before a byte of this frame is forwarded: nghttp2
	 * would refuse it too, but silently, when its RST goes out. */
	int bodyless = side == 1 && st->head;
	if (!bodyless && h2_data_len_bad(st->cl[side], st->rx[side], hd)) {
		h2_reject(h, st, side, SM_H2_R_LENGTH, 0);
		return 0;
	}
	if (hd->flags & NGHTTP2_FLAG_END_STREAM)
		st->end_pending[side] = 1;
	return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data,
                         size_t len, void *ud)
{
	struct sm_h2 *h = H(ud);
	int side = side_of(h, s);
	struct h2_stream *st = get_st(h, side, sid);
	if (!st || st->dead || (side == SM_H2_UPSTREAM && !st->final)) {
		if (st && !st->dead)
			h2_reject(h, st, side, SM_H2_R_PSEUDO,
			          0); /* DATA before the response head */
		nghttp2_session_consume(s, sid, len);
		return 0;
	}
	h->stats.bytes[side] += len;
	if (st->stop_other || !st->open[OTHER(side)]) {
		nghttp2_session_consume(s, sid, len); /* nobody reads it any more */
		return 0;
	}
	if (st->cl[side] >= 0 && st->rx[side] + len > (uint64_t)st->cl[side]) {
		h2_reject(h, st, side, SM_H2_R_LENGTH, 0);
		nghttp2_session_consume(s, sid, len);
		return 0;
	}
	st->rx[side] += len;
	int rc = h2_buf_put(h, &st->buf[side], data, len, h->lim.stream_window);
	if (rc < 0) {
		if (rc == -1)
			h2_reject(h, st, side, SM_H2_R_BUFFER, 0);
		else
			h2_kill_stream(h, st, side, SM_H2_PROXY, NGHTTP2_INTERNAL_ERROR,
			               SM_H2_R_MEMORY, 0);
		nghttp2_session_consume(s, sid, len);
		return 0;
	}
	struct h2_ev e = {.type = SM_H2_EV_DATA,
	                  .dir = (uint8_t)side,
	                  .sid = st->sid[0],
	                  .usid = st->sid[1],
	                  .data = data,
	                  .len = (uint32_t)len};
	h2_push(h, &e);
	resume(h, st, side);
	return must_pause(h, side) ? NGHTTP2_ERR_PAUSE : 0;
}

static int on_stream_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
	struct sm_h2 *h = H(ud);
	int side = side_of(h, s);
	struct h2_stream *st = get_st(h, side, sid);
	if (!st)
		return 0;
	st->open[side] = 0;
	if (code != NGHTTP2_NO_ERROR && !st->dead) {
		/* a reset nobody announced: nghttp2 refused something, or the
		 * upstream's GOAWAY refused the stream */
		if (side == SM_H2_UPSTREAM && code == NGHTTP2_REFUSED_STREAM)
			h2_kill_stream(h, st, side, SM_H2_UPSTREAM, code, SM_H2_R_REFUSED, 0);
		else
			h2_kill_stream(h, st, side, SM_H2_PROXY, code, SM_H2_R_NGHTTP2, 0);
	} else if (!st->dead) {
		drop_buf(h, st, OTHER(side)); /* nobody left to read it */
	}
	h2_maybe_free(h, st);
	return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sm_h2 *h = H(ud);
	int side = side_of(h, s);
	if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		/* the twin ended its message with RST_STREAM(NO_ERROR): now that
		 * the message is through, stop this peer's half too */
		struct h2_stream *st = get_st(h, side, f->hd.stream_id);
		if (st && st->stop_other && !st->ended[side])
			rst(h, st, side, NGHTTP2_NO_ERROR);
		return 0;
	}
	if (side == SM_H2_CLIENT && f->hd.type == NGHTTP2_RST_STREAM &&
	    f->rst_stream.error_code == NGHTTP2_REFUSED_STREAM) {
		h->stats.refused_streams++;
		h2_abuse(h, SM_H2_R_STREAM_FLOOD);
		return 0;
	}
	if (f->hd.type == NGHTTP2_GOAWAY && !h->side[side].goaway_sent) {
		/* nghttp2 ended this connection (protocol error, or our abuse
		 * limit): the other side loses its peer */
		h->side[side].goaway_sent = 1;
		int why = side == SM_H2_CLIENT ? h2_client_goaway_sent(h, f->goaway.error_code)
		                               : SM_H2_R_NGHTTP2;
		struct h2_ev e = h2_goaway_ev(side, SM_H2_PROXY, why, f);
		h2_push(h, &e);
		if (f->goaway.error_code != NGHTTP2_NO_ERROR)
			h2_side_lost(h, side);
	}
	return 0;
}

static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f, int err, void *ud)
{
	struct sm_h2 *h = H(ud);
	int side = side_of(h, s);
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct h2_stream *st = get_st(h, side, f->hd.stream_id);
	if (!st)
		return 0;
	if (!st->dead)
		h2_kill_stream(h, st, side, SM_H2_PROXY,
		               side == SM_H2_UPSTREAM ? NGHTTP2_REFUSED_STREAM
		                                      : NGHTTP2_INTERNAL_ERROR,
		               SM_H2_R_REFUSED, err);
	if (side == SM_H2_UPSTREAM && !nghttp2_session_find_stream(s, f->hd.stream_id))
		st->open[side] = 0; /* never opened: no close callback will come */
	h2_maybe_free(h, st);
	return 0;
}

static int setup_session(struct sm_h2 *h, int side)
{
	nghttp2_session_callbacks *cb;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -1;
	nghttp2_session_callbacks_set_send_callback(cb, send_cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
	int rv = h2_session_open(h, side, cb, h);
	nghttp2_session_callbacks_del(cb);
	return rv;
}

struct sm_h2 *sm_h2_new(const struct sm_h2_limits *lim)
{
	struct sm_h2 *h = h2_core_new(lim, 1, &h2_relay_ops);
	if (h && (setup_session(h, SM_H2_CLIENT) < 0 || setup_session(h, SM_H2_UPSTREAM) < 0)) {
		sm_h2_free(h);
		return NULL;
	}
	return h;
}
