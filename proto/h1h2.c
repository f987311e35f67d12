/* proto/h1h2: the HTTP/1.1 side of the reverse translation (proto/http1
 * in origin mode toward the client: requests in, responses out) and the
 * API behind proto/h2.h. Contract in proto/h1h2.h. */
#include <stdio.h>
#include <string.h>

#include "base/result.h"
#include "proto/h1h2_int.h"

/* ---- events, exchange ---- */

void h1h2_push(struct sm_h1h2 *y, struct h2_ev *e)
{
	if (h2_ev_push(y->h, e) < 0)
		y->h->failed = 1; /* hard bound: the feeds stop well before */
}

static void ex_free(struct sm_h1h2 *y, struct h1h2_ex *ex)
{
	struct sm_h2 *h = y->h;
	h->buffered -= ex->req.len + ex->rb.len + ex->hq.len + ex->tq.len;
	h2_free(h, ex->req.p);
	h2_free(h, ex->rb.p);
	h2_free(h, ex->hq.p);
	h2_free(h, ex->tq.p);
	h2_free(h, ex->req_tr);
	memset(ex, 0, sizeof(*ex));
}

void h1h2_settle(struct sm_h1h2 *y)
{
	struct h1h2_ex *ex = &y->ex;
	if (ex->open && ex->c_done && (ex->s_closed || !ex->sid) &&
	    (!ex->in_body || ex->req_drop)) {
		ex->open = 0;
		y->h->nopen--;
	}
	/* no upstream stream can be opened any more: nothing more can be
	 * served to this client once the exchange is over */
	if (y->up_gone && !ex->open && !ex->in_body)
		y->cl_close = 1;
	/* the client side is over: nothing more for the upstream */
	int cl_over = y->cl_eof || y->cl_close || y->h1_dead;
	if (cl_over && !ex->open && !y->goaway_sent && !y->up_fail && !y->up_eof) {
		y->goaway_sent = 1;
		nghttp2_session_terminate_session(h1h2_up(y), NGHTTP2_NO_ERROR);
	}
}

void h1h2_abort(struct sm_h1h2 *y)
{
	if (!y->abort)
		y->stats.client_aborted++;
	y->abort = 1;
	y->cl_close = 1;
	y->rs_off = y->rs_len = 0;
	y->ex.c_done = 1;
}

void h1h2_synth(struct sm_h1h2 *y, unsigned status, int close)
{
	struct h1h2_ex *ex = &y->ex;
	if (ex->final || y->h1_dead)
		return;
	char body[64], head[256];
	int bl = snprintf(body, sizeof(body), "%u %s\n", status, sm_h1_status_phrase(status));
	int n = snprintf(
	        head, sizeof(head),
	        "HTTP/1.1 %u %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n%s\r\n"
	        "%s",
	        status, sm_h1_status_phrase(status), bl, close ? "connection: close\r\n" : "",
	        body);
	if (bl < 0 || n < 0 || (size_t)n >= sizeof(head) ||
	    h2_buf_put(y->h, &ex->hq, (const uint8_t *)head, (size_t)n, 1u << 20) < 0) {
		h1h2_abort(y);
		return;
	}
	if (status == 502)
		y->stats.bad_gateway++;
	ex->final = 1;
	ex->chunked = ex->until_close = 0;
	ex->resp_end = 1;
	ex->tail_done = 1;
	y->h->buffered -= ex->rb.len + ex->tq.len;
	h2_free(y->h, ex->rb.p);
	h2_free(y->h, ex->tq.p);
	memset(&ex->rb, 0, sizeof(ex->rb));
	memset(&ex->tq, 0, sizeof(ex->tq));
}

/* ---- requests (proto/http1 -> h2 block) ---- */

static int dropped_field(const uint8_t *n, size_t nl)
{
	static const char *const names[] = {"connection",
	                                    "keep-alive",
	                                    "proxy-connection",
	                                    "proxy-authorization",
	                                    "transfer-encoding",
	                                    "upgrade",
	                                    "host",
	                                    "te",
	                                    "http2-settings"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (sm_hdrcheck_name_is(n, nl, names[i]))
			return 1;
	return 0;
}

/* Named in a Connection field of the request head. */
static int in_connection(const struct sm_h1 *h1, const uint8_t *n, size_t nl)
{
	const uint8_t *fn, *fv;
	size_t fnl, fvl;
	for (unsigned i = 0; sm_h1_header(h1, 0, i, &fn, &fnl, &fv, &fvl) == SM_OK; i++)
		if (sm_hdrcheck_name_is(fn, fnl, "connection") &&
		    sm_hdrcheck_list_has(fv, fvl, n, nl))
			return 1;
	return 0;
}

/* Adds a field with its name lower-cased to side's block. */
static void add_field(struct sm_h1h2 *y, int side, const uint8_t *n, size_t nl, const uint8_t *v,
                      size_t vl)
{
	if (nl > y->lim.max_head)
		nl = y->lim.max_head; /* cannot happen: heads are bounded by it */
	for (size_t i = 0; i < nl; i++)
		y->lname[i] = n[i] >= 'A' && n[i] <= 'Z' ? (uint8_t)(n[i] + 32) : n[i];
	/* feeds run with no event queued, so storage never needs a pause */
	h2_block_field(y->h, side, y->lname, nl, v, vl, 0);
}

static void add_str(struct sm_h1h2 *y, const char *n, const uint8_t *v, size_t vl)
{
	add_field(y, SM_H2_CLIENT, (const uint8_t *)n, strlen(n), v, vl);
}

/* The request head as an h2 block on side CLIENT; reason or 0. */
static int build_request(struct sm_h1h2 *y, const struct sm_h1_event *ev)
{
	struct sm_h2 *h = y->h;
	const struct sm_h1 *h1 = y->h1;
	const char *m = sm_h1_method_name(ev->method);
	char auth[SM_AUTHORITY_HOST_CAP + 16];
	const uint8_t *a = NULL, *v;
	size_t al = 0, vl;
	int absolute = ev->target_len && ev->target[0] != '/' && ev->target[0] != '*';
	if (!absolute && sm_h1_header_find(h1, 0, "host", &a, &al) && al) {
		/* the client's Host (proto/http1 allows one only) */
	} else {
		const struct sm_authority *o = ev->authority ? ev->authority : &y->origin;
		int v6 = o->kind == SM_AUTHORITY_IPV6, n;
		if (o->port == 443)
			n = snprintf(auth, sizeof(auth), v6 ? "[%s]" : "%s", o->host);
		else
			n = snprintf(auth, sizeof(auth), v6 ? "[%s]:%u" : "%s:%u", o->host,
			             o->port);
		a = (const uint8_t *)auth;
		al = n > 0 && (size_t)n < sizeof(auth) ? (size_t)n : 0;
	}
	const uint8_t *path = ev->path;
	size_t pl = ev->path_len;
	if (ev->target_len == 1 && ev->target[0] == '*') {
		path = ev->target;
		pl = 1;
	}
	h2_block_begin(h, SM_H2_CLIENT, y->ex.ord, H2_K_REQ);
	add_str(y, ":method", (const uint8_t *)m, strlen(m));
	add_str(y, ":scheme", (const uint8_t *)"https", 5);
	add_str(y, ":authority", a, al);
	add_str(y, ":path", path, pl);
	const uint8_t *n;
	size_t nl;
	for (unsigned i = 0; sm_h1_header(h1, 0, i, &n, &nl, &v, &vl) == SM_OK; i++) {
		if (sm_hdrcheck_name_is(n, nl, "te")) {
			if (sm_hdrcheck_list_has(v, vl, (const uint8_t *)"trailers", 8))
				add_str(y, "te", (const uint8_t *)"trailers", 8);
			continue;
		}
		if (dropped_field(n, nl) || in_connection(h1, n, nl))
			continue;
		add_field(y, SM_H2_CLIENT, n, nl, v, vl);
	}
	h->side[SM_H2_CLIENT].blk.active = 0;
	uint16_t status;
	int64_t cl;
	return h2_block_finish(h, SM_H2_CLIENT, y->ex.rbody.done, &status, &cl);
}

static void ex_event(struct sm_h1h2 *y, uint8_t type, int dir, uint16_t flags)
{
	struct h2_ev e = {.type = type, .dir = (uint8_t)dir, .flags = flags};
	e.sid = y->ex.ord;
	e.usid = y->ex.sid;
	h1h2_push(y, &e);
}

static void reset_event(struct sm_h1h2 *y, int dir, int who, uint32_t code, int reason, int detail)
{
	struct h1h2_ex *ex = &y->ex;
	if (ex->reset_seen)
		return;
	ex->reset_seen = 1;
	struct h2_ev e = {.type = SM_H2_EV_STREAM_RESET,
	                  .dir = (uint8_t)dir,
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

static void on_req_data(void *ctx, const uint8_t *p, size_t n)
{
	struct sm_h1h2 *y = ctx;
	struct sm_h2 *h = y->h;
	if (h2_buf_put(h, &y->ex.req, p, n, h->lim.stream_window) < 0) {
		h->failed = 1; /* cannot happen: proto/http1 wrote no more than the room */
		return;
	}
	h->stats.bytes[SM_H2_CLIENT] += n;
	struct h2_ev e = {.type = SM_H2_EV_DATA,
	                  .dir = SM_H2_CLIENT,
	                  .sid = y->ex.ord,
	                  .usid = y->ex.sid,
	                  .data = p,
	                  .len = (uint32_t)n};
	h1h2_push(y, &e);
}

static void on_req_trailer(void *ctx, const uint8_t *p, size_t n)
{
	struct sm_h1h2 *y = ctx;
	if (y->ex.rtrl_len + n <= y->lim.max_trailer) { /* h1frame enforces the same bound */
		memcpy(y->rtrl + y->ex.rtrl_len, p, n);
		y->ex.rtrl_len += (uint32_t)n;
	}
}

/* The request body ended: its trailers, END_STREAM. */
static void request_end(struct sm_h1h2 *y)
{
	struct sm_h2 *h = y->h;
	struct h1h2_ex *ex = &y->ex;
	ex->in_body = 0;
	if (ex->req_drop)
		return;
	if (ex->rtrl_len) {
		h2_block_begin(h, SM_H2_CLIENT, ex->ord, H2_K_TRAIL);
		uint8_t *n, *v;
		uint32_t nl, vl, pos = 0;
		while (sm_h1frame_next_field(y->rtrl, ex->rtrl_len, &pos, &n, &nl, &v, &vl) > 0)
			if (!dropped_field(n, nl) && !sm_hdrcheck_trailer_forbidden(n, nl))
				add_field(y, SM_H2_CLIENT, n, nl, v, vl);
		h->side[SM_H2_CLIENT].blk.active = 0;
		uint16_t status;
		int64_t cl;
		if (h->side[SM_H2_CLIENT].blk.nfields &&
		    h2_block_finish(h, SM_H2_CLIENT, 1, &status, &cl) == 0 &&
		    (ex->req_tr = h2_trailers_copy(h, SM_H2_CLIENT)) != NULL) {
			struct h2_ev e = {.type = SM_H2_EV_TRAILERS};
			h2_ev_fill_headers(h, &e, SM_H2_CLIENT, ex->ord, ex->sid);
			e.flags = SM_H2_F_END_STREAM;
			h1h2_push(y, &e);
		} else if (h->side[SM_H2_CLIENT].blk.nfields)
			y->stats.trailers_dropped++;
	}
	ex->req_end = 1;
	ex_event(y, SM_H2_EV_STREAM_END, SM_H2_CLIENT, 0);
	h1h2_up_resume(y);
}

/* Raw body bytes proto/http1 forwarded (it validated their framing). */
static void req_body(struct sm_h1h2 *y, const uint8_t *p, size_t n)
{
	struct h1h2_ex *ex = &y->ex;
	if (!ex->in_body)
		return;
	enum sm_h1frame_reason why;
	if (ex->req_drop)
		sm_h1frame_body_feed(&ex->rbody, p, n, &why);
	else
		sm_h1frame_body_parts(&ex->rbody, p, n, &why, on_req_data, on_req_trailer, y);
	if (ex->rbody.done)
		request_end(y);
	else if (!ex->req_drop && ex->req.len)
		h1h2_up_resume(y);
}

static void new_request(struct sm_h1h2 *y, const struct sm_h1_event *ev)
{
	struct sm_h2 *h = y->h;
	struct h1h2_ex *ex = &y->ex;
	if (ex->sid && !ex->s_closed) /* answered early, still uploading: stop it */
		h1h2_up_reset(y, NGHTTP2_CANCEL);
	if (ex->open)
		h->nopen--;
	ex_free(y, ex);
	ex->ord = ++y->ord;
	ex->open = 1;
	ex->in_body = 1;
	h->nopen++;
	h->stats.streams++;
	ex->version = ev->version;
	ex->head_req = (ev->flags & SM_H1_F_HEAD) != 0;
	const uint8_t *v;
	size_t vl;
	enum sm_h1frame_kind kind = SM_H1FRAME_NONE;
	uint64_t cl = 0;
	if (sm_h1_header_find(y->h1, 0, "transfer-encoding", &v, &vl)) {
		kind = SM_H1FRAME_CHUNKED;
	} else if (sm_h1_header_find(y->h1, 0, "content-length", &v, &vl)) {
		kind = SM_H1FRAME_LENGTH; /* 1*DIGIT, checked by proto/http1 */
		for (size_t i = 0; i < vl; i++)
			if (v[i] >= '0' && v[i] <= '9')
				cl = cl * 10 + (uint64_t)(v[i] - '0');
	}
	sm_h1frame_body_init(&ex->rbody, kind, cl, y->lim.max_trailer);

	/* proto/http1 expects the response from here on */
	if (sm_h1_release(y->h1) == SM_OK) {
		struct sm_h1_out d;
		do { /* the head it staged is not sent anywhere */
			d = (struct sm_h1_out){y->discard, sizeof(y->discard), 0};
			if (sm_h1_client_feed(y->h1, y->discard, 0, &d) < 0)
				break;
		} while (d.len == d.cap);
	}
	int reason = build_request(y, ev);
	int32_t sid = -1;
	if (reason) {
		y->stats.requests_refused++;
		reset_event(y, SM_H2_CLIENT, SM_H2_PROXY, NGHTTP2_REFUSED_STREAM, reason,
		            h->side[SM_H2_CLIENT].blk.detail);
		h1h2_synth(y, reason == SM_H2_R_HEADER_LIST || reason == SM_H2_R_FIELDS ? 431 : 400,
		           1);
	} else if (y->up_gone || (sid = h1h2_up_submit(y, !ex->rbody.done)) <= 0) {
		y->up_gone = 1;
		reset_event(y, SM_H2_CLIENT, SM_H2_PROXY, NGHTTP2_REFUSED_STREAM, SM_H2_R_REFUSED,
		            0);
		h1h2_synth(y, 502, 1);
	} else {
		ex->sid = sid;
		h->stats.requests++;
		struct h2_ev e = {.type = SM_H2_EV_REQUEST, .flags = 0};
		h2_ev_fill_headers(h, &e, SM_H2_CLIENT, ex->ord, sid);
		e.flags = ex->rbody.done ? SM_H2_F_END_STREAM : 0;
		h1h2_push(y, &e);
	}
	if (!ex->sid) {
		ex->s_closed = 1;
		ex->req_drop = 1;
	}
	if (ex->rbody.done)
		request_end(y);
}

/* proto/http1 refused the client's bytes: a 400 (414, 431, 501, 505) if
 * nothing of a response went out for this exchange, else the connection
 * is cut; the upstream stream, if any, is reset. */
static void client_error(struct sm_h1h2 *y, const struct sm_h1_event *ev)
{
	struct h1h2_ex *ex = &y->ex;
	y->h1_dead = 1;
	y->cl_close = 1;
	if (ev->flags & SM_H1_F_UPSTREAM_SIDE) { /* our own response bytes: cannot happen */
		h1h2_abort(y);
		return;
	}
	y->stats.requests_refused++;
	int mid = ex->open && ex->in_body; /* inside a request body */
	if (mid) {
		if (!ex->req_end)
			h1h2_up_reset(y, NGHTTP2_CANCEL);
		reset_event(y, SM_H2_CLIENT, SM_H2_PROXY, NGHTTP2_CANCEL, SM_H2_R_CLIENT_HTTP1,
		            ev->reason);
		ex->req_drop = 1;
		ex->in_body = 0;
	}
	if (mid && ex->fed_any) {
		h1h2_abort(y);
		return;
	}
	long n = sm_h1_error_response(ev->status, sm_h1_reason_str(ev->reason), y->direct,
	                              sizeof(y->direct));
	y->direct_len = n > 0 ? (uint32_t)n : 0;
	y->direct_off = 0;
	ex->c_done = 1;
}

/* Pops proto/http1's events; returns how many. */
static int h1_events(struct sm_h1h2 *y)
{
	struct sm_h1_event ev;
	int k = 0;
	while (sm_h1_next_event(y->h1, &ev)) {
		k++;
		switch (ev.type) {
		case SM_H1_EV_REQUEST: new_request(y, &ev); break;
		case SM_H1_EV_RESPONSE_END:
			y->ex.c_done = 1;
			if (ev.flags & SM_H1_F_CLOSE_CLIENT)
				y->cl_close = 1;
			break;
		case SM_H1_EV_ERROR: client_error(y, &ev); break;
		default: break; /* REQUEST_END: the delimiter saw it; RESPONSE: from upstream */
		}
	}
	return k;
}

/* ---- responses toward the client (through proto/http1) ---- */

static size_t put_hex(uint8_t *out, size_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)tmp[n - 1 - i];
	return n;
}

/* Next HTTP/1.1 response bytes into the staging buffer: heads, body
 * (chunk-framed when chunked), tail. 1 if some were staged. */
static int refill(struct sm_h1h2 *y)
{
	struct sm_h2 *h = y->h;
	struct h1h2_ex *ex = &y->ex;
	y->rs_off = y->rs_len = 0;
	if (ex->hq.len) {
		y->rs_len = (uint32_t)h2_buf_take(h, &ex->hq, y->rs, H1H2_STAGE);
		return 1;
	}
	if (!ex->final)
		return 0;
	if (ex->rb.len) {
		size_t k, w = 0;
		if (ex->chunked) {
			k = ex->rb.len < H1H2_STAGE - 16 ? ex->rb.len : H1H2_STAGE - 16;
			w = put_hex(y->rs, k);
			memcpy(y->rs + w, "\r\n", 2);
			w += 2;
			w += h2_buf_take(h, &ex->rb, y->rs + w, k);
			memcpy(y->rs + w, "\r\n", 2);
			w += 2;
		} else {
			k = w = h2_buf_take(h, &ex->rb, y->rs, H1H2_STAGE);
		}
		y->rs_len = (uint32_t)w;
		/* the bytes are on their way to the client: only now may the
		 * upstream send more */
		if (!y->up_fail && !y->up_eof)
			nghttp2_session_consume(h1h2_up(y), ex->sid, k);
		return 1;
	}
	if (ex->resp_end && !ex->tail_done) {
		ex->tail_done = 1;
		if (!ex->chunked)
			return 0;
		size_t w = 0;
		memcpy(y->rs, "0\r\n", 3);
		w = 3;
		w += h2_buf_take(h, &ex->tq, y->rs + w, H1H2_STAGE - 5);
		memcpy(y->rs + w, "\r\n", 2);
		y->rs_len = (uint32_t)(w + 2);
		return 1;
	}
	return 0;
}

static int resp_pending(const struct sm_h1h2 *y)
{
	const struct h1h2_ex *ex = &y->ex;
	if (y->h1_dead || y->abort)
		return 0;
	if (y->rs_off < y->rs_len || ex->hq.len)
		return 1;
	if (!ex->final)
		return 0;
	return ex->rb.len ||
	       (ex->resp_end && (!ex->tail_done || (ex->until_close && !ex->eof_fed)));
}

static long out_client(struct sm_h2 *h, uint8_t *buf, size_t cap)
{
	struct sm_h1h2 *y = Y(h);
	if (y->cl_eof)
		return 0;
	struct sm_h1_out down = {buf, cap, 0};
	struct h1h2_ex *ex = &y->ex;
	for (int iter = 0; iter < 64 && !y->h1_dead && !y->abort; iter++) {
		if (y->rs_off == y->rs_len && !refill(y)) {
			if (ex->until_close && ex->resp_end && ex->tail_done && !ex->eof_fed &&
			    sm_h1_server_eof(y->h1, &down) == SM_OK) {
				ex->eof_fed = 1;
				h1_events(y);
			}
			break;
		}
		size_t before = down.len;
		long r = sm_h1_server_feed(y->h1, y->rs + y->rs_off, y->rs_len - y->rs_off, &down);
		if (r < 0) {
			h1_events(y);
			break;
		}
		y->rs_off += (uint32_t)r;
		if (r > 0)
			ex->fed_any = 1;
		int evs = h1_events(y);
		if (r == 0 && down.len == before && !evs)
			break;
	}
	size_t n = y->direct_len - y->direct_off, room = cap - down.len;
	if (n > room)
		n = room;
	memcpy(buf + down.len, y->direct + y->direct_off, n);
	y->direct_off += (uint32_t)n;
	h1h2_settle(y);
	return (long)(down.len + n);
}

/* ---- API ---- */

static long feed_client(struct sm_h2 *h, const uint8_t *in, size_t len)
{
	struct sm_h1h2 *y = Y(h);
	if (y->cl_eof || h->failed)
		return SM_ERR_STATE;
	if (y->cl_close || y->h1_dead)
		return (long)len; /* nothing more is read from this client */
	if (h->evlen > 0) {       /* request DATA events point into the scratch */
		h->stats.events_paused++;
		return 0;
	}
	h2_arena_reset(h, SM_H2_CLIENT);
	h2_arena_reset(h, SM_H2_UPSTREAM);
	size_t pos = 0;
	for (int iter = 0; iter < 64; iter++) {
		struct h1h2_ex *ex = &y->ex;
		size_t cap = H1H2_SCRATCH;
		if (ex->in_body && !ex->req_drop && h->lim.stream_window - ex->req.len < cap)
			cap = h->lim.stream_window - ex->req.len;
		if (cap == 0) {
			y->stats.req_full++;
			break;
		}
		struct sm_h1_out up = {y->scratch, cap, 0};
		long r = sm_h1_client_feed(y->h1, in + pos, len - pos, &up);
		if (up.len)
			req_body(y, y->scratch, up.len);
		if (r < 0) {
			h1_events(y);
			pos = len;
			break;
		}
		pos += (size_t)r;
		int evs = h1_events(y);
		if (h->evlen > 0 || y->cl_close || y->h1_dead || (r == 0 && !up.len && !evs))
			break;
	}
	h1h2_settle(y);
	if (h->failed)
		return SM_ERR_NOMEM;
	return (long)pos;
}

static int want_out(const struct sm_h2 *h, int side)
{
	const struct sm_h1h2 *y = Y(h);
	if (side == SM_H2_UPSTREAM)
		return !y->up_eof && !y->up_fail && nghttp2_session_want_write(h1h2_up(y));
	if (y->cl_eof)
		return 0;
	return y->direct_off < y->direct_len || resp_pending(y);
}

static int eof(struct sm_h2 *h, int side)
{
	struct sm_h1h2 *y = Y(h);
	if (side == SM_H2_UPSTREAM) {
		h1h2_upstream_lost(y, 1);
		return SM_OK;
	}
	if (side != SM_H2_CLIENT)
		return SM_ERR_STATE;
	if (y->cl_eof)
		return SM_OK;
	y->cl_eof = 1;
	struct h1h2_ex *ex = &y->ex;
	if (ex->open && !ex->c_done) {
		if (!ex->s_closed)
			h1h2_up_reset(y, NGHTTP2_CANCEL);
		reset_event(y, SM_H2_CLIENT, SM_H2_CLIENT, NGHTTP2_CANCEL, SM_H2_R_SIDE_CLOSED, 0);
	}
	ex->c_done = 1;
	ex->req_drop = 1;
	ex->in_body = 0;
	h1h2_settle(y);
	return SM_OK;
}

static int done(const struct sm_h2 *h, int side)
{
	const struct sm_h1h2 *y = Y(h);
	if (side == SM_H2_UPSTREAM) {
		nghttp2_session *s = h1h2_up(y);
		return y->up_eof || y->up_fail ||
		       (!nghttp2_session_want_read(s) && !nghttp2_session_want_write(s));
	}
	if (y->cl_eof)
		return 1;
	return (y->cl_close || y->h1_dead) && !want_out(h, SM_H2_CLIENT);
}

static enum sm_h2_wait wait(const struct sm_h2 *h, int side)
{
	const struct sm_h1h2 *y = Y(h);
	if (side == SM_H2_UPSTREAM) {
		if (y->up_eof || y->up_fail || h->failed || !nghttp2_session_want_read(h1h2_up(y)))
			return SM_H2_WAIT_CLOSED;
		return h2_ev_room(h) ? SM_H2_WAIT_NONE : SM_H2_WAIT_EVENTS;
	}
	if (y->cl_eof || y->cl_close || y->h1_dead || h->failed)
		return SM_H2_WAIT_CLOSED;
	if (h->evlen > 0)
		return SM_H2_WAIT_EVENTS;
	const struct h1h2_ex *ex = &y->ex;
	if (ex->in_body && !ex->req_drop && ex->req.len >= h->lim.stream_window)
		return SM_H2_WAIT_OUT_FULL;
	return SM_H2_WAIT_NONE;
}

static const struct sm_h2_ops ops;

struct sm_h2 *sm_h1h2_new(const struct sm_h1h2_limits *lim, const struct sm_authority *origin)
{
	struct sm_h1h2_limits l = {0};
	if (lim)
		l = *lim;
	if (!l.max_head)
		l.max_head = 32768;
	if (!l.max_trailer)
		l.max_trailer = 4096;
	if (!origin || l.max_head < 1024 || l.max_head > (1u << 20) || l.max_trailer > (1u << 16))
		return NULL;
	struct sm_h2 *h = h2_core_new(&l.h2, 0, &ops);
	if (!h)
		return NULL;
	struct sm_h1h2 *y = h2_alloc(h, sizeof(*y));
	if (!y) {
		sm_h2_free(h);
		return NULL;
	}
	memset(y, 0, sizeof(*y));
	h->h1h2 = y;
	y->h = h;
	y->lim = l;
	y->lim.h2 = h->lim;
	y->origin = *origin;
	uint32_t fields = h->lim.max_header_fields + 8;
	struct sm_h1_limits hl = {.max_head = l.max_head,
	                          .max_headers = (uint16_t)(fields > 65535 ? 65535 : fields),
	                          .max_pipeline = 1,
	                          .max_trailer = l.max_trailer,
	                          .hold_every_request = 1};
	size_t fp = sm_h1_footprint(&hl);
	void *mem = h2_alloc(h, fp);
	y->h1 = mem ? sm_h1_init(mem, fp, &hl) : NULL;
	y->scratch = h2_alloc(h, H1H2_SCRATCH);
	y->rs = h2_alloc(h, H1H2_STAGE);
	y->lname = h2_alloc(h, l.max_head);
	y->rtrl = h2_alloc(h, l.max_trailer);
	if (!y->h1 || !y->scratch || !y->rs || !y->lname || !y->rtrl || h1h2_up_open(y) < 0) {
		if (!y->h1)
			h2_free(h, mem);
		sm_h2_free(h);
		return NULL;
	}
	sm_h1_set_origin(y->h1, origin);
	return h;
}

static void release(struct sm_h2 *h)
{
	struct sm_h1h2 *y = h->h1h2;
	ex_free(y, &y->ex);
	h2_free(h, y->h1);
	h2_free(h, y->scratch);
	h2_free(h, y->rs);
	h2_free(h, y->lname);
	h2_free(h, y->rtrl);
	h2_free(h, y);
	h->h1h2 = NULL;
}

static long feed(struct sm_h2 *h, int side, const uint8_t *in, size_t len)
{
	return side == SM_H2_CLIENT ? feed_client(h, in, len) : h1h2_feed_upstream(Y(h), in, len);
}

static long out(struct sm_h2 *h, int side, uint8_t *buf, size_t cap)
{
	return side == SM_H2_CLIENT ? out_client(h, buf, cap) : h1h2_out_upstream(Y(h), buf, cap);
}

static const struct sm_h2_ops ops = {
        .name = "h1h2",
        .feed = feed,
        .out = out,
        .want_out = want_out,
        .eof = eof,
        .done = done,
        .wait = wait,
        .release = release,
};

const struct sm_h1h2_stats *sm_h1h2_stats(const struct sm_h2 *h)
{
	return h && h->h1h2 ? &h->h1h2->stats : NULL;
}
