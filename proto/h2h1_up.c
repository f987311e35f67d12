/* proto/h2h1: the HTTP/1.1 side of the translation: request heads built
 * from validated h2 blocks, the request writer (framing, chunks,
 * trailers) and the response reader (llhttp head, proto/h1frame body).
 * Contract in proto/h2h1.h. */
#include <stdio.h>
#include <string.h>

#include "base/result.h"
#include "proto/authority.h"
#include "proto/h2h1_int.h"

static int on_headers_complete(llhttp_t *p)
{
	return HPE_PAUSED; /* bodies are delimited by proto/h1frame */
}

static const llhttp_settings_t rsettings = {.on_headers_complete = on_headers_complete};

int h2h1_up_init(struct sm_h2h1 *x)
{
	x->raw = h2_alloc(x->h, x->lim.max_head);
	x->trl = h2_alloc(x->h, x->lim.max_trailer);
	return x->raw && x->trl ? 0 : -1;
}

/* ---- request head ---- */

static int path_ok(const uint8_t *p, uint32_t n)
{
	if (n == 1 && p[0] == '*')
		return 1;
	if (n == 0 || p[0] != '/')
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return 0; /* no SP, CTL, DEL or obs-text in a request line */
	return 1;
}

static void put(uint8_t *dst, size_t *w, const void *src, size_t n)
{
	memcpy(dst + *w, src, n);
	*w += n;
}

int h2h1_build_head(struct sm_h2h1 *x, struct h2h1_st *st, int *detail)
{
	struct sm_h2 *h = x->h;
	const struct h2_side *sd = &h->side[SM_H2_CLIENT];
	const struct h2_block *b = &sd->blk;
	const uint8_t *a = sd->arena;
	const uint8_t *m = a + b->ps_off[PS_METHOD], *path = a + b->ps_off[PS_PATH];
	uint32_t mlen = b->ps_len[PS_METHOD], plen = b->ps_len[PS_PATH];
	const uint8_t *auth = a + b->host_off;
	uint32_t alen = b->host_len;
	if (b->pseudo & (1u << PS_AUTHORITY)) {
		auth = a + b->ps_off[PS_AUTHORITY];
		alen = b->ps_len[PS_AUTHORITY];
	}
	struct sm_authority tmp;
	*detail = 0;
	if (sm_hdrcheck_name(m, mlen) != SM_HDRCHECK_OK)
		*detail = 1;
	else if (!path_ok(path, plen))
		*detail = 2;
	else if (alen == 0 || sm_authority_parse(auth, alen, 0, 443, &tmp, NULL) != SM_OK)
		*detail = 3;
	if (*detail)
		return SM_H2_R_TARGET;

	/* "M path HTTP/1.1\r\nhost: a\r\n" + fields; cookies joined */
	size_t need = mlen + 1 + plen + 11 + 6 + alen + 2, cookies = 0;
	for (uint32_t i = 0; i < b->nfields; i++) {
		const struct h2_field *f = &sd->fields[b->first + i];
		const uint8_t *n = a + f->noff;
		if ((f->nlen && n[0] == ':') || sm_hdrcheck_name_is(n, f->nlen, "host") ||
		    sm_hdrcheck_name_is(n, f->nlen, "te"))
			continue;
		if (sm_hdrcheck_name_is(n, f->nlen, "cookie"))
			need += (cookies++ ? 2 : 10) + f->vlen;
		else
			need += f->nlen + 2 + f->vlen + 2;
	}
	uint8_t *p = h2_alloc(h, need);
	if (!p)
		return SM_H2_R_MEMORY;
	size_t w = 0;
	put(p, &w, m, mlen);
	put(p, &w, " ", 1);
	put(p, &w, path, plen);
	put(p, &w, " HTTP/1.1\r\nhost: ", 17);
	put(p, &w, auth, alen);
	put(p, &w, "\r\n", 2);
	int cookie_done = 0;
	for (uint32_t i = 0; i < b->nfields; i++) {
		const struct h2_field *f = &sd->fields[b->first + i];
		const uint8_t *n = a + f->noff;
		if ((f->nlen && n[0] == ':') || sm_hdrcheck_name_is(n, f->nlen, "host") ||
		    sm_hdrcheck_name_is(n, f->nlen, "te"))
			continue;
		if (!sm_hdrcheck_name_is(n, f->nlen, "cookie")) {
			put(p, &w, n, f->nlen);
			put(p, &w, ": ", 2);
			put(p, &w, a + f->voff, f->vlen);
			put(p, &w, "\r\n", 2);
			continue;
		}
		if (cookie_done)
			continue;
		cookie_done = 1; /* RFC 9113 §8.2.3: crumbs joined where the first was */
		put(p, &w, "cookie: ", 8);
		int k = 0;
		for (uint32_t j = i; j < b->nfields; j++) {
			const struct h2_field *g = &sd->fields[b->first + j];
			if (!sm_hdrcheck_name_is(a + g->noff, g->nlen, "cookie"))
				continue;
			if (k++)
				put(p, &w, "; ", 2);
			put(p, &w, a + g->voff, g->vlen);
		}
		put(p, &w, "\r\n", 2);
	}
	st->head = p;
	st->head_len = (uint32_t)w;
	return 0;
}

/* ---- request writer ---- */

void h2h1_up_start(struct sm_h2h1 *x)
{
	x->w = W_HEAD;
	x->woff = 0;
	x->chunked = 0;
	x->framing_len = 0;
	h2_free(x->h, x->tail);
	x->tail = NULL;
	x->tail_len = 0;
	x->r = R_HEAD;
	x->raw_fill = 0;
	x->trl_len = 0;
	x->close_after = 0;
	llhttp_init(&x->p, HTTP_RESPONSE, &rsettings);
	x->p.data = x;
}

static size_t piece(struct sm_h2h1 *x, const uint8_t *src, uint32_t len, uint8_t *out, size_t room)
{
	size_t n = len - x->woff;
	if (n > room)
		n = room;
	memcpy(out, src + x->woff, n);
	x->woff += (uint32_t)n;
	return n;
}

static void decide_framing(struct sm_h2h1 *x, struct h2h1_st *st)
{
	int k = 0;
	if (st->cl >= 0) {
		k = 0; /* the client's content-length is among the fields */
	} else if (st->req_end && st->req.len == st->rx && !st->req_tr) {
		if (st->rx > 0) /* the whole body is here: a length beats chunks */
			k = snprintf(x->framing, sizeof(x->framing), "content-length: %llu\r\n",
			             (unsigned long long)st->rx);
	} else {
		k = snprintf(x->framing, sizeof(x->framing), "transfer-encoding: chunked\r\n");
		x->chunked = 1;
	}
	if (k < 0 || (size_t)k + 2 > sizeof(x->framing))
		k = 0; /* cannot happen: 20 digits fit */
	memcpy(x->framing + k, "\r\n", 2);
	x->framing_len = (uint32_t)k + 2;
}

/* "0\r\n", the request trailers, "\r\n". -1: no memory. */
static int build_tail(struct sm_h2h1 *x, struct h2h1_st *st)
{
	const struct h2_trailers *t = st->req_tr;
	size_t need = 5;
	for (uint32_t i = 0; t && i < t->n; i++)
		need += t->nv[i].namelen + 2 + t->nv[i].valuelen + 2;
	uint8_t *p = h2_alloc(x->h, need);
	if (!p)
		return -1;
	size_t w = 0;
	put(p, &w, "0\r\n", 3);
	for (uint32_t i = 0; t && i < t->n; i++) {
		if (sm_hdrcheck_trailer_forbidden(t->nv[i].name, t->nv[i].namelen))
			continue;
		put(p, &w, t->nv[i].name, t->nv[i].namelen);
		put(p, &w, ": ", 2);
		put(p, &w, t->nv[i].value, t->nv[i].valuelen);
		put(p, &w, "\r\n", 2);
	}
	put(p, &w, "\r\n", 2);
	x->tail = p;
	x->tail_len = (uint32_t)w;
	return 0;
}

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

long h2h1_out_upstream(struct sm_h2h1 *x, uint8_t *out, size_t cap)
{
	if (x->act < 0 || x->up_eof)
		return 0;
	struct sm_h2 *h = x->h;
	struct h2h1_st *st = &x->st[x->act];
	size_t n = 0;
	for (;;) {
		size_t room = cap - n;
		if (x->w == W_HEAD) {
			n += piece(x, st->head, st->head_len, out + n, room);
			if (x->woff < st->head_len)
				break;
			decide_framing(x, st);
			x->w = W_FRAMING;
			x->woff = 0;
			st->ordinal = ++x->ordinal;
			x->stats.upstream_requests++;
		} else if (x->w == W_FRAMING) {
			n += piece(x, (const uint8_t *)x->framing, x->framing_len, out + n, room);
			if (x->woff < x->framing_len)
				break;
			x->woff = 0;
			x->w = W_BODY;
		} else if (x->w == W_BODY && st->req.len) {
			size_t k;
			if (x->chunked) {
				if (room <= 12) /* size line (8 hex digits at most) and CRLFs */
					break;
				k = st->req.len < room - 12 ? st->req.len : room - 12;
				n += put_hex(out + n, k);
				put(out, &n, "\r\n", 2);
				n += h2_buf_take(h, &st->req, out + n, k);
				put(out, &n, "\r\n", 2);
			} else {
				if (!room)
					break;
				k = h2_buf_take(h, &st->req, out + n, room);
				n += k;
			}
			/* the bytes left: only now may the client send more */
			if (st->open && !x->cl_eof && !x->failed)
				nghttp2_session_consume_stream(h2h1_srv(x), st->sid, k);
		} else if (x->w == W_BODY && st->req_end) {
			if (!x->chunked) {
				if (st->req_tr)
					x->stats.trailers_dropped++;
				x->w = W_DONE;
				break;
			}
			if (build_tail(x, st) < 0) {
				st->sent_any = st->sent_any || n > 0;
				h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_INTERNAL_ERROR,
				          SM_H2_R_MEMORY, 0, 0);
				return (long)n;
			}
			x->w = W_TAIL;
			x->woff = 0;
		} else if (x->w == W_TAIL) {
			n += piece(x, x->tail, x->tail_len, out + n, room);
			if (x->woff < x->tail_len)
				break;
			x->w = W_DONE;
		} else {
			break;
		}
	}
	if (n)
		st->sent_any = 1;
	if (x->w == W_DONE && st->head) {
		h2_free(h, st->head);
		st->head = NULL;
	}
	return (long)n;
}

int h2h1_want_upstream(const struct sm_h2h1 *x)
{
	if (x->act < 0 || x->up_eof)
		return 0;
	const struct h2h1_st *st = &x->st[x->act];
	switch (x->w) {
	case W_HEAD:
	case W_FRAMING:
	case W_TAIL: return 1;
	case W_BODY: return st->req.len > 0 || st->req_end;
	default: return 0;
	}
}

/* ---- response reader ---- */

static void bad(struct sm_h2h1 *x, enum sm_h2h1_fault f)
{
	x->stats.bad_responses++;
	h2h1_up_dead(x, SM_H2_PROXY, SM_H2_R_UPSTREAM_HTTP1);
	if (x->act < 0)
		return;
	struct h2h1_st *st = &x->st[x->act];
	if (st->sent_any)
		h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_INTERNAL_ERROR, SM_H2_R_UPSTREAM_HTTP1,
		          (int)f, 1);
	else /* it never reached the upstream: the client may retry it */
		h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_REFUSED_STREAM, SM_H2_R_REFUSED, 0, 0);
}

void h2h1_up_abort(struct sm_h2h1 *x, int who)
{
	if (x->act < 0)
		return;
	struct h2h1_st *st = &x->st[x->act];
	x->act = -1;
	st->up_done = 1;
	x->w = W_IDLE;
	x->r = R_HEAD;
	if (st->sent_any) /* cut in the middle of a message: not reusable */
		h2h1_up_dead(x, who == SM_H2_UPSTREAM ? SM_H2_UPSTREAM : SM_H2_PROXY, SM_H2_R_PEER);
	else
		h2h1_next(x);
}

static int is_hop(const uint8_t *n, size_t len)
{
	static const char *const names[] = {"connection",        "keep-alive", "proxy-connection",
	                                    "transfer-encoding", "upgrade",    "te"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (sm_hdrcheck_name_is(n, len, names[i]))
			return 1;
	return 0;
}

/* The name is listed in a Connection field of the head raw[start..end). */
static int in_connection(uint8_t *raw, uint32_t start, uint32_t end, const uint8_t *n, uint32_t len)
{
	uint8_t *fn, *fv;
	uint32_t fnl, fvl, pos = start;
	while (sm_h1frame_next_field(raw, end, &pos, &fn, &fnl, &fv, &fvl) > 0)
		if (sm_hdrcheck_name_is(fn, fnl, "connection") &&
		    sm_hdrcheck_list_has(fv, fvl, n, len))
			return 1;
	return 0;
}

static void lower(uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (p[i] >= 'A' && p[i] <= 'Z')
			p[i] = (uint8_t)(p[i] + 32);
}

/* Adds the kept fields of raw[start..end) to the upstream side's block. */
static void add_fields(struct sm_h2h1 *x, uint8_t *raw, uint32_t start, uint32_t end, int trailers)
{
	uint8_t *n, *v;
	uint32_t nl, vl, pos = start;
	while (sm_h1frame_next_field(raw, end, &pos, &n, &nl, &v, &vl) > 0) {
		if (is_hop(n, nl) || in_connection(raw, start, end, n, nl) ||
		    (trailers && sm_hdrcheck_trailer_forbidden(n, nl)))
			continue;
		lower(n, nl);
		h2_block_field(x->h, SM_H2_UPSTREAM, n, nl, v, vl, 0);
	}
}

static void resp_done(struct sm_h2h1 *x);

static void resp_head(struct sm_h2h1 *x)
{
	struct sm_h2 *h = x->h;
	struct h2h1_st *st = &x->st[x->act];
	const llhttp_t *p = &x->p;
	unsigned code = p->status_code;
	if (p->http_major != 1 || p->http_minor > 1) {
		bad(x, SM_H2H1_VERSION);
		return;
	}
	if (sm_h1frame_scan_head(x->raw, x->raw_fill, 0) != SM_HDRCHECK_OK) {
		bad(x, SM_H2H1_HEADER);
		return;
	}
	if (code == 101) {
		bad(x, SM_H2H1_SWITCHING);
		return;
	}
	if (code < 100 || code > 599) {
		bad(x, SM_H2H1_PARSE);
		return;
	}
	uint32_t start = 0, end = x->raw_fill;
	while (start + 1 < end && x->raw[start] == '\r' && x->raw[start + 1] == '\n')
		start += 2;
	while (start + 1 < end && !(x->raw[start] == '\r' && x->raw[start + 1] == '\n'))
		start++;
	start += 2; /* after the status line */

	struct sm_hdrcheck_msg m;
	sm_hdrcheck_msg_init(&m, p->http_minor == 0 ? SM_HDRCHECK_HTTP10 : 0);
	int close = 0, keep = 0, rc;
	uint8_t *n, *v;
	uint32_t nl, vl, pos = start;
	while ((rc = sm_h1frame_next_field(x->raw, end, &pos, &n, &nl, &v, &vl)) > 0) {
		if (sm_hdrcheck_msg_add(&m, n, nl, v, vl) != SM_HDRCHECK_OK) {
			bad(x, SM_H2H1_HEADER);
			return;
		}
		if (sm_hdrcheck_name_is(n, nl, "connection")) {
			close |= sm_hdrcheck_list_has(v, vl, (const uint8_t *)"close", 5);
			keep |= sm_hdrcheck_list_has(v, vl, (const uint8_t *)"keep-alive", 10);
		}
	}
	if (rc < 0 || sm_hdrcheck_msg_finish(&m) != SM_HDRCHECK_OK) {
		bad(x, SM_H2H1_HEADER);
		return;
	}

	int interim = code < 200;
	enum sm_h1frame_kind kind = SM_H1FRAME_NONE;
	if (interim || st->head_req || code == 204 || code == 304)
		kind = SM_H1FRAME_NONE;
	else if (m.framing == SM_HDRCHECK_FRAMING_CHUNKED)
		kind = SM_H1FRAME_CHUNKED;
	else if (m.framing == SM_HDRCHECK_FRAMING_LENGTH)
		kind = SM_H1FRAME_LENGTH;
	else
		kind = SM_H1FRAME_EOF;
	int body = kind != SM_H1FRAME_NONE && !(kind == SM_H1FRAME_LENGTH && m.content_length == 0);

	h2_block_begin(h, SM_H2_UPSTREAM, st->sid, H2_K_RESP);
	uint8_t sc[3] = {(uint8_t)('0' + code / 100), (uint8_t)('0' + code / 10 % 10),
	                 (uint8_t)('0' + code % 10)};
	h2_block_field(h, SM_H2_UPSTREAM, (const uint8_t *)":status", 7, sc, 3, 0);
	add_fields(x, x->raw, start, end, 0);
	h->side[SM_H2_UPSTREAM].blk.active = 0;
	uint16_t status = 0;
	int64_t cl;
	if (h2_block_finish(h, SM_H2_UPSTREAM, !interim && !body, &status, &cl) != 0) {
		bad(x, SM_H2H1_FIELDS);
		return;
	}
	size_t nv = h2_block_nv(h, SM_H2_UPSTREAM);
	nghttp2_data_provider prd = {.source = {.ptr = st}, .read_callback = h2h1_read_cb};
	int rv;
	if (interim)
		rv = nghttp2_submit_headers(h2h1_srv(x), NGHTTP2_FLAG_NONE, st->sid, NULL,
		                            h->nvscratch, nv, NULL);
	else
		rv = nghttp2_submit_response(h2h1_srv(x), st->sid, h->nvscratch, nv,
		                             body ? &prd : NULL);
	if (rv != 0) {
		h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_INTERNAL_ERROR, SM_H2_R_NGHTTP2, rv, 0);
		return;
	}
	h->stats.responses++;
	h2h1_push_headers(x, SM_H2_EV_RESPONSE, SM_H2_UPSTREAM, st,
	                  interim ? SM_H2_F_INTERIM
	                  : body  ? 0
	                          : SM_H2_F_END_STREAM,
	                  (uint16_t)code);
	if (interim) { /* the final response follows */
		x->raw_fill = 0;
		llhttp_init(&x->p, HTTP_RESPONSE, &rsettings);
		x->p.data = x;
		return;
	}
	st->final = 1;
	st->provider = (uint8_t)body;
	x->close_after = close || (p->http_minor == 0 && !keep) || kind == SM_H1FRAME_EOF;
	sm_h1frame_body_init(&x->body, body ? kind : SM_H1FRAME_NONE, m.content_length,
	                     x->lim.max_trailer);
	x->r = R_BODY;
	x->trl_len = 0;
	if (x->close_after) /* announced now: the waiting streams go elsewhere */
		h2h1_up_dead(x, SM_H2_UPSTREAM, SM_H2_R_NONE);
	if (x->body.done)
		resp_done(x);
}

static void resp_done(struct sm_h2h1 *x)
{
	struct sm_h2 *h = x->h;
	struct h2h1_st *st = &x->st[x->act];
	int tfault = 0;
	if (x->trl_len) {
		h2_block_begin(h, SM_H2_UPSTREAM, st->sid, H2_K_TRAIL);
		add_fields(x, x->trl, 0, x->trl_len, 1);
		h->side[SM_H2_UPSTREAM].blk.active = 0;
		uint16_t status;
		int64_t cl;
		if (h2_block_finish(h, SM_H2_UPSTREAM, 1, &status, &cl) != 0)
			tfault = SM_H2H1_TRAILERS;
		else if (h->side[SM_H2_UPSTREAM].blk.nfields &&
		         !(st->resp_tr = h2_trailers_copy(h, SM_H2_UPSTREAM)))
			tfault = SM_H2H1_TRAILERS;
		else if (st->resp_tr)
			h2h1_push_headers(x, SM_H2_EV_TRAILERS, SM_H2_UPSTREAM, st,
			                  SM_H2_F_END_STREAM, 0);
	}
	if (!tfault) {
		st->resp_end = 1;
		h2h1_push(x, SM_H2_EV_STREAM_END, SM_H2_UPSTREAM, st);
		h2h1_resume(x, st);
	}
	/* the upstream part is over: the message ended cleanly on the wire */
	x->act = -1;
	st->up_done = 1;
	x->r = R_HEAD;
	int cut = x->w != W_DONE; /* answered before the request was all sent */
	x->w = W_IDLE;
	if (cut || x->close_after)
		h2h1_up_dead(x, cut ? SM_H2_PROXY : SM_H2_UPSTREAM, SM_H2_R_NONE);
	else
		h2h1_next(x);
	if (tfault) {
		x->stats.bad_responses++;
		h2h1_kill(x, st, SM_H2_PROXY, NGHTTP2_INTERNAL_ERROR, SM_H2_R_UPSTREAM_HTTP1,
		          tfault, 1);
	}
}

static void on_body(void *ctx, const uint8_t *p, size_t n)
{
	struct sm_h2h1 *x = ctx;
	struct h2h1_st *st = &x->st[x->act];
	if (h2_buf_put(x->h, &st->resp, p, n, x->lim.max_buffer) < 0) {
		x->h->failed = 1; /* no memory: the room was checked before */
		return;
	}
	x->h->stats.bytes[SM_H2_UPSTREAM] += n;
	struct h2_ev e = {.type = SM_H2_EV_DATA,
	                  .dir = SM_H2_UPSTREAM,
	                  .sid = st->sid,
	                  .usid = (int32_t)st->ordinal,
	                  .data = p,
	                  .len = (uint32_t)n};
	if (h2_ev_push(x->h, &e) < 0)
		x->h->failed = 1;
	h2h1_resume(x, st);
}

static void on_trailer(void *ctx, const uint8_t *p, size_t n)
{
	struct sm_h2h1 *x = ctx;
	if (x->trl_len + n <= x->lim.max_trailer) { /* h1frame enforces the same bound */
		memcpy(x->trl + x->trl_len, p, n);
		x->trl_len += (uint32_t)n;
	}
}

/* Head bytes into x->raw through llhttp. Bytes consumed, or -1 (bad()
 * called); *done once the head is complete (raw_fill is then the head). */
static long head_step(struct sm_h2h1 *x, const uint8_t *in, size_t len, int *done)
{
	*done = 0;
	size_t room = x->lim.max_head - x->raw_fill;
	size_t n = len < room ? len : room;
	uint8_t *start = x->raw + x->raw_fill;
	memcpy(start, in, n);
	x->raw_fill += (uint32_t)n;
	llhttp_errno_t e = llhttp_execute(&x->p, (const char *)start, n);
	if (e == HPE_PAUSED) {
		size_t used = (size_t)((const uint8_t *)llhttp_get_error_pos(&x->p) - start);
		x->raw_fill = (uint32_t)(start - x->raw) + (uint32_t)used;
		*done = 1;
		return (long)used;
	}
	if (e != HPE_OK) {
		const uint8_t *ep = (const uint8_t *)llhttp_get_error_pos(&x->p);
		size_t end = ep && ep >= x->raw && ep <= x->raw + x->raw_fill
		                     ? (size_t)(ep - x->raw)
		                     : 0;
		if (end && x->raw[end - 1] == '\r')
			end--;
		bad(x, sm_h1frame_scan_head(x->raw, end, 0) != SM_HDRCHECK_OK ? SM_H2H1_HEADER
		                                                              : SM_H2H1_PARSE);
		return -1;
	}
	if (x->raw_fill >= x->lim.max_head) {
		bad(x, SM_H2H1_HEAD_TOO_LARGE);
		return -1;
	}
	return (long)n;
}

long h2h1_feed_upstream(struct sm_h2h1 *x, const uint8_t *in, size_t len)
{
	struct sm_h2 *h = x->h;
	if (x->up_eof || h->failed)
		return SM_ERR_STATE;
	if (len == 0)
		return 0;
	if (h->evlen > 0) { /* response fields go to the upstream arena: reset first */
		h->stats.events_paused++;
		return 0;
	}
	h2_arena_reset(h, SM_H2_UPSTREAM);
	if (x->act < 0 || !x->st[x->act].sent_any) {
		if (!x->up_dead)
			bad(x, SM_H2H1_UNSOLICITED);
		return (long)len; /* nobody's answer: dropped */
	}
	size_t used = 0;
	uint32_t evmax = 64 + 8 * h->nslots; /* h2_ev_push()'s hard bound */
	while (used < len && x->act >= 0 && h2_ev_room(h) && !h->failed) {
		struct h2h1_st *st = &x->st[x->act];
		if (x->r == R_HEAD) {
			if (h->evlen > 0)
				break;       /* one head per feed: its fields live in the arena */
			if (!st->sent_any) { /* a response before its request: no pipelining */
				bad(x, SM_H2H1_UNSOLICITED);
				return (long)len;
			}
			int done;
			long k = head_step(x, in + used, len - used, &done);
			if (k < 0)
				return (long)len;
			used += (size_t)k;
			if (done)
				resp_head(x);
			continue;
		}
		size_t room = x->lim.max_buffer - st->resp.len;
		if (room == 0) { /* the client has not taken the last bytes yet */
			x->stats.buffer_full++;
			break;
		}
		/* every DATA event costs at least 6 input bytes ("1\r\nx\r\n") */
		size_t k = len - used, evcap = 6 * (size_t)(evmax - h->evlen - 8);
		if (k > room)
			k = room;
		if (k > evcap)
			k = evcap;
		enum sm_h1frame_reason why;
		long c =
		        sm_h1frame_body_parts(&x->body, in + used, k, &why, on_body, on_trailer, x);
		used += (size_t)c;
		if (why != SM_H1FRAME_OK) {
			bad(x, SM_H2H1_BODY);
			return (long)len;
		}
		if (x->body.done)
			resp_done(x);
	}
	return (long)used;
}

void h2h1_upstream_eof(struct sm_h2h1 *x)
{
	if (x->up_eof)
		return;
	if (x->act >= 0) {
		if (x->r == R_BODY && sm_h1frame_body_eof(&x->body))
			resp_done(x); /* an EOF-delimited body: complete */
		else
			bad(x, SM_H2H1_TRUNCATED);
	}
	x->up_eof = 1;
	h2h1_up_dead(x, SM_H2_UPSTREAM, SM_H2_R_SIDE_CLOSED);
}
