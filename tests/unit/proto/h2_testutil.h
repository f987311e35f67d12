/* Test harness for proto/h2 (header-only, test code only): a real nghttp2
 * client session plays the browser, a real nghttp2 server session plays the
 * origin, and the proxy layer sits between them; bytes move in memory, in
 * chunks of configurable (or seeded random) size, no sockets.
 *
 * The origin answers every request when its END_STREAM arrives: status from
 * "x-status" (default 200), a body of "x-resp-size" bytes (pattern
 * byte(i) = (i * 31 + stream) & 0xff) or, without it, the request body
 * echoed; trailers "x-t: done" when the request has "x-resp-trailers". */
#ifndef SM_TEST_H2_TESTUTIL_H
#define SM_TEST_H2_TESTUTIL_H

#include <criterion/criterion.h>
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "proto/h2.h"

#define MAXS 512

struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static inline void bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t c = b->cap ? b->cap : 256;
		while (c < b->len + n)
			c *= 2;
		b->p = realloc(b->p, c);
		cr_assert(b->p);
		b->cap = c;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static inline void bytes_printf(struct bytes *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static inline void bytes_printf(struct bytes *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(tmp));
	bytes_add(b, tmp, (size_t)n);
}

static inline void bytes_consume(struct bytes *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

struct pstream {
	int32_t id;
	struct bytes hdr;  /* "name: value\n" of every header block, blocks separated by "--\n" */
	struct bytes body; /* DATA received */
	struct bytes trl;  /* trailers received */
	uint32_t rst_code; /* RST_STREAM received */
	int rst;
	int closed;
	uint32_t close_code;
	int ended;   /* END_STREAM received */
	int hblocks; /* header blocks received */
	/* what this peer sends on the stream */
	const uint8_t *src;
	size_t srclen, srcoff;
	int send_trailers;
	int chunked_src; /* browser: body released by the test (src_avail) */
	size_t src_avail;
	/* origin: request properties */
	long resp_size;
	int resp_trailers;
	int status;
	int lie_cl; /* origin: announce content-length + lie_cl */
	uint8_t *gen;
};

struct peer {
	nghttp2_session *s;
	int server;
	struct pstream st[MAXS];
	int n;
	int goaway;
	uint32_t goaway_code;
	int32_t goaway_last;
	int manual; /* do not consume received DATA (slow reader) */
	size_t unconsumed;
	int no_answer; /* origin: do not answer requests */
};

static inline struct pstream *pst(struct peer *p, int32_t id, int create)
{
	for (int i = 0; i < p->n; i++)
		if (p->st[i].id == id)
			return &p->st[i];
	if (!create)
		return NULL;
	cr_assert(p->n < MAXS);
	struct pstream *s = &p->st[p->n++];
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->resp_size = -1;
	return s;
}

static ssize_t peer_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *fl,
                         nghttp2_data_source *src, void *ud)
{
	struct peer *p = ud;
	struct pstream *ps = pst(p, id, 0);
	cr_assert(ps);
	size_t limit = ps->chunked_src ? ps->src_avail : ps->srclen;
	size_t n = limit - ps->srcoff;
	if (n > len)
		n = len;
	memcpy(buf, ps->src + ps->srcoff, n);
	ps->srcoff += n;
	if (ps->srcoff == ps->srclen) {
		*fl |= NGHTTP2_DATA_FLAG_EOF;
		if (ps->send_trailers) {
			nghttp2_nv t = {(uint8_t *)"x-t", (uint8_t *)"done", 3, 4, 0};
			*fl |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			cr_assert_eq(nghttp2_submit_trailer(s, id, &t, 1), 0);
		}
	} else if (n == 0) {
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static void origin_answer(struct peer *p, struct pstream *ps)
{
	char st[8];
	snprintf(st, sizeof(st), "%d", ps->status ? ps->status : 200);
	if (ps->resp_size >= 0) {
		ps->gen = malloc((size_t)ps->resp_size + 1);
		for (long i = 0; i < ps->resp_size; i++)
			ps->gen[i] = (uint8_t)((i * 31 + ps->id) & 0xff);
		ps->src = ps->gen;
		ps->srclen = (size_t)ps->resp_size;
	} else {
		ps->src = ps->body.p;
		ps->srclen = ps->body.len;
	}
	ps->send_trailers = ps->resp_trailers;
	char cl[32];
	snprintf(cl, sizeof(cl), "%ld", (long)ps->srclen + ps->lie_cl);
	nghttp2_nv nv[3] = {
	        {(uint8_t *)":status", (uint8_t *)st, 7, strlen(st), 0},
	        {(uint8_t *)"server", (uint8_t *)"origin", 6, 6, 0},
	        {(uint8_t *)"content-length", (uint8_t *)cl, 14, strlen(cl), 0},
	};
	nghttp2_data_provider prd = {.source = {.ptr = NULL}, .read_callback = peer_read};
	int has_body = ps->srclen > 0 || ps->send_trailers;
	cr_assert_eq(nghttp2_submit_response(p->s, ps->id, nv, ps->send_trailers ? 2 : 3,
	                                     has_body ? &prd : NULL),
	             0);
}

static int peer_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct peer *p = ud;
	struct pstream *ps = pst(p, f->hd.stream_id, 1);
	if (ps->hblocks++)
		bytes_add(&ps->hdr, "--\n", 3);
	return 0;
}

static int peer_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
                       const uint8_t *v, size_t vl, uint8_t flags, void *ud)
{
	struct peer *p = ud;
	struct pstream *ps = pst(p, f->hd.stream_id, 1);
	int trailer =
	        f->headers.cat == NGHTTP2_HCAT_HEADERS && (f->hd.flags & NGHTTP2_FLAG_END_STREAM);
	struct bytes *b = trailer ? &ps->trl : &ps->hdr;
	bytes_add(b, n, nl);
	bytes_add(b, ": ", 2);
	bytes_add(b, v, vl);
	bytes_add(b, "\n", 1);
	if (p->server && nl == 11 && memcmp(n, "x-resp-size", 11) == 0)
		ps->resp_size = strtol((const char *)v, NULL, 10);
	if (p->server && nl == 15 && memcmp(n, "x-resp-trailers", 15) == 0)
		ps->resp_trailers = 1;
	if (p->server && nl == 8 && memcmp(n, "x-lie-cl", 8) == 0)
		ps->lie_cl = (int)strtol((const char *)v, NULL, 10);
	if (p->server && nl == 8 && memcmp(n, "x-status", 8) == 0)
		ps->status = (int)strtol((const char *)v, NULL, 10);
	return 0;
}

static int peer_chunk(nghttp2_session *s, uint8_t fl, int32_t id, const uint8_t *d, size_t len,
                      void *ud)
{
	struct peer *p = ud;
	bytes_add(&pst(p, id, 1)->body, d, len);
	if (p->manual)
		p->unconsumed += len;
	else
		nghttp2_session_consume(s, id, len);
	return 0;
}

static int peer_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct peer *p = ud;
	if (f->hd.type == NGHTTP2_GOAWAY) {
		p->goaway = 1;
		p->goaway_code = f->goaway.error_code;
		p->goaway_last = f->goaway.last_stream_id;
	}
	if (f->hd.type == NGHTTP2_RST_STREAM) {
		struct pstream *ps = pst(p, f->hd.stream_id, 1);
		ps->rst = 1;
		ps->rst_code = f->rst_stream.error_code;
	}
	if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		struct pstream *ps = pst(p, f->hd.stream_id, 1);
		ps->ended = 1;
		if (p->server && !p->no_answer)
			origin_answer(p, ps);
	}
	return 0;
}

static int peer_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	struct pstream *ps = pst(ud, id, 1);
	ps->closed = 1;
	ps->close_code = code;
	return 0;
}

static void peer_init(struct peer *p, int server, uint32_t window)
{
	memset(p, 0, sizeof(*p));
	p->server = server;
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	cr_assert_eq(nghttp2_session_callbacks_new(&cb), 0);
	cr_assert_eq(nghttp2_option_new(&opt), 0);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, peer_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, peer_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, peer_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, peer_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, peer_close);
	if (server)
		cr_assert_eq(nghttp2_session_server_new2(&p->s, cb, p, opt), 0);
	else
		cr_assert_eq(nghttp2_session_client_new2(&p->s, cb, p, opt), 0);
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	nghttp2_settings_entry iv[2] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window},
	                                {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}};
	cr_assert_eq(nghttp2_submit_settings(p->s, NGHTTP2_FLAG_NONE, iv, 2), 0);
}

static void peer_free(struct peer *p)
{
	for (int i = 0; i < p->n; i++) {
		free(p->st[i].hdr.p);
		free(p->st[i].body.p);
		free(p->st[i].trl.p);
		free(p->st[i].gen);
	}
	nghttp2_session_del(p->s);
}

/* The proxy under test between a browser and an origin. */
struct tc {
	struct sm_h2 *h;
	struct peer b, o;      /* browser, origin */
	struct bytes c2p, u2p; /* bytes waiting to be fed to the proxy */
	struct bytes log[2];   /* events per dir (DATA merged per stream) */
	struct bytes all;      /* every event in order */
	struct bytes data[2];  /* DATA payload observed per dir */
	int32_t last_data_sid[2];
	size_t last_data_len[2];
	unsigned rng; /* 0: fixed chunks */
	size_t chunk; /* feed/out chunk size when rng == 0 */
	int resets, goaways, errors;
	long last_err;
	/* per (dir, stream) logs: non-DATA events in order, DATA summed */
	struct bytes slog[2][128];
	size_t spend[2][128];
	/* raw client mode: no browser session; proxy output collected here */
	int raw;
	struct bytes toc;
	nghttp2_hd_deflater *defl;
};

static inline size_t tc_chunk(struct tc *t)
{
	if (!t->rng)
		return t->chunk;
	t->rng = t->rng * 1103515245u + 12345u;
	return 1 + ((t->rng >> 8) % (t->chunk ? t->chunk : 97));
}

static void tc_flush_data(struct tc *t, int dir)
{
	if (t->last_data_sid[dir]) {
		bytes_printf(&t->log[dir], "DATA %d %zu\n", t->last_data_sid[dir],
		             t->last_data_len[dir]);
		t->last_data_sid[dir] = 0;
		t->last_data_len[dir] = 0;
	}
}

static void tc_slog(struct tc *t, const struct sm_h2_event *ev)
{
	int d = ev->dir & 1;
	if (ev->stream_id <= 0 || ev->stream_id >= 256)
		return;
	int k = ev->stream_id / 2;
	struct bytes *l = &t->slog[d][k];
	if (t->spend[d][k]) {
		bytes_printf(l, "DATA %zu\n", t->spend[d][k]);
		t->spend[d][k] = 0;
	}
	bytes_printf(l, "EV %u who=%u code=%u st=%u f=%u n=%u\n", ev->type, ev->who, ev->code,
	             ev->status, ev->flags, ev->nheaders);
	for (unsigned i = 0; i < ev->nheaders; i++) {
		const uint8_t *n, *v;
		size_t nl, vl;
		cr_assert(sm_h2_header(t->h, ev, i, &n, &nl, &v, &vl));
		bytes_printf(l, " %.*s=%.*s\n", (int)nl, (const char *)n, (int)vl, (const char *)v);
	}
}

static void tc_events(struct tc *t)
{
	struct sm_h2_event ev;
	while (sm_h2_next_event(t->h, &ev)) {
		int d = ev.dir & 1;
		if (ev.type == SM_H2_EV_DATA) {
			cr_assert(ev.len > 0);
			bytes_add(&t->data[d], ev.data, ev.len);
			bytes_printf(&t->all, "DATA %d %d %zu\n", d, ev.stream_id, ev.len);
			if (t->last_data_sid[d] != ev.stream_id)
				tc_flush_data(t, d);
			t->last_data_sid[d] = ev.stream_id;
			t->last_data_len[d] += ev.len;
			if (ev.stream_id > 0 && ev.stream_id < 256)
				t->spend[d][ev.stream_id / 2] += ev.len;
			continue;
		}
		tc_flush_data(t, d);
		struct bytes *l = &t->log[d];
		tc_slog(t, &ev);
		switch (ev.type) {
		case SM_H2_EV_REQUEST:
			cr_assert(!(ev.flags & SM_H2_F_EXTCONNECT) ||
			          (ev.protocol && ev.protocol_len > 0));
			bytes_printf(l, "REQUEST %d %.*s %.*s %.*s %.*s n=%u f=%u\n", ev.stream_id,
			             (int)ev.method_len, ev.method ? (const char *)ev.method : "",
			             (int)ev.scheme_len, ev.scheme ? (const char *)ev.scheme : "",
			             (int)ev.authority_len,
			             ev.authority ? (const char *)ev.authority : "",
			             (int)ev.path_len, ev.path ? (const char *)ev.path : "",
			             ev.nheaders, ev.flags);
			break;
		case SM_H2_EV_RESPONSE:
			bytes_printf(l, "RESPONSE %d %u n=%u f=%u\n", ev.stream_id, ev.status,
			             ev.nheaders, ev.flags);
			break;
		case SM_H2_EV_TRAILERS:
			bytes_printf(l, "TRAILERS %d n=%u\n", ev.stream_id, ev.nheaders);
			break;
		case SM_H2_EV_STREAM_END: bytes_printf(l, "END %d\n", ev.stream_id); break;
		case SM_H2_EV_STREAM_RESET:
			t->resets++;
			bytes_printf(l, "RESET %d who=%u code=%u reason=%s\n", ev.stream_id, ev.who,
			             ev.code, sm_h2_reason_str((enum sm_h2_reason)ev.reason));
			break;
		case SM_H2_EV_GOAWAY:
			t->goaways++;
			bytes_printf(l, "GOAWAY who=%u code=%u last=%d\n", ev.who, ev.code,
			             ev.last_id);
			break;
		case SM_H2_EV_ERROR:
			t->errors++;
			bytes_printf(l, "ERROR %s %d\n",
			             sm_h2_reason_str((enum sm_h2_reason)ev.reason), ev.detail);
			break;
		default: cr_assert_fail("unknown event %u", ev.type);
		}
	}
}

static void tc_init(struct tc *t, const struct sm_h2_limits *lim, uint32_t peer_window)
{
	memset(t, 0, sizeof(*t));
	t->h = sm_h2_new(lim);
	cr_assert(t->h);
	peer_init(&t->b, 0, peer_window);
	peer_init(&t->o, 1, peer_window);
	t->chunk = 1 << 16;
}

static void tc_free(struct tc *t)
{
	sm_h2_free(t->h);
	peer_free(&t->b);
	peer_free(&t->o);
	free(t->c2p.p);
	free(t->u2p.p);
	for (int i = 0; i < 2; i++) {
		free(t->log[i].p);
		free(t->data[i].p);
	}
	free(t->all.p);
	free(t->toc.p);
	for (int d = 0; d < 2; d++)
		for (int k = 0; k < 128; k++)
			free(t->slog[d][k].p);
	if (t->defl)
		nghttp2_hd_deflate_del(t->defl);
}

/* Moves bytes until nothing moves (or max rounds). Returns rounds used. */
static int tc_pump(struct tc *t, int max_rounds)
{
	static uint8_t buf[1 << 17];
	int round;
	for (round = 0; round < max_rounds; round++) {
		int moved = 0;
		const uint8_t *d;
		ssize_t n;
		while (!t->raw && (n = nghttp2_session_mem_send(t->b.s, &d)) > 0)
			bytes_add(&t->c2p, d, (size_t)n);
		while ((n = nghttp2_session_mem_send(t->o.s, &d)) > 0)
			bytes_add(&t->u2p, d, (size_t)n);
		for (int side = 0; side < 2; side++) {
			struct bytes *in = side ? &t->u2p : &t->c2p;
			while (in->len) {
				size_t c = tc_chunk(t);
				if (c > in->len)
					c = in->len;
				long r = side ? sm_h2_feed_upstream(t->h, in->p, c)
				              : sm_h2_feed_client(t->h, in->p, c);
				tc_events(t);
				if (r < 0) {
					t->last_err = r;
					in->len = 0;
					break;
				}
				bytes_consume(in, (size_t)r);
				if (r > 0)
					moved = 1;
				if ((size_t)r < c &&
				    sm_h2_wait(t->h, (enum sm_h2_side)side) != SM_H2_WAIT_EVENTS)
					break;
			}
		}
		for (int side = 0; side < 2; side++) {
			for (;;) {
				size_t c = tc_chunk(t);
				if (c > sizeof(buf))
					c = sizeof(buf);
				long r = side ? sm_h2_out_upstream(t->h, buf, c)
				              : sm_h2_out_client(t->h, buf, c);
				tc_events(t);
				cr_assert(r >= 0, "out %d: %ld", side, r);
				if (r == 0)
					break;
				moved = 1;
				if (!side && t->raw) {
					bytes_add(&t->toc, buf, (size_t)r);
					continue;
				}
				nghttp2_session *peer = side ? t->o.s : t->b.s;
				ssize_t m = nghttp2_session_mem_recv(peer, buf, (size_t)r);
				cr_assert_eq(m, r, "peer %d recv: %zd", side, m);
			}
		}
		if (!moved && (t->raw || !nghttp2_session_want_write(t->b.s)) &&
		    !nghttp2_session_want_write(t->o.s))
			break;
	}
	tc_flush_data(t, 0);
	tc_flush_data(t, 1);
	return round;
}

/* Browser request: returns the stream id. body may be NULL. */
static int32_t tc_request(struct tc *t, const char *method, const char *path,
                          const nghttp2_nv *extra, size_t nextra, const uint8_t *body, size_t blen,
                          int trailers)
{
	nghttp2_nv nv[32];
	size_t n = 0;
	nv[n++] = (nghttp2_nv){(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0};
	nv[n++] = (nghttp2_nv){(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0};
	nv[n++] = (nghttp2_nv){(uint8_t *)":authority", (uint8_t *)"example.com", 10, 11, 0};
	nv[n++] = (nghttp2_nv){(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0};
	cr_assert(nextra + n <= 32);
	for (size_t i = 0; i < nextra; i++)
		nv[n++] = extra[i];
	nghttp2_data_provider prd = {.source = {.ptr = NULL}, .read_callback = peer_read};
	int has_body = body != NULL;
	int32_t id = nghttp2_submit_request(t->b.s, NULL, nv, n, has_body ? &prd : NULL, NULL);
	cr_assert(id > 0);
	struct pstream *ps = pst(&t->b, id, 1);
	ps->src = body;
	ps->srclen = blen;
	ps->send_trailers = trailers;
	return id;
}

/* ---- raw client: hand-made frames, for what nghttp2 would not send ---- */

static void raw_frame(struct tc *t, uint8_t type, uint8_t flags, int32_t sid, const void *p,
                      size_t n)
{
	uint8_t hd[9] = {
	        (uint8_t)(n >> 16),   (uint8_t)(n >> 8),    (uint8_t)n,          type,        flags,
	        (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};
	bytes_add(&t->c2p, hd, 9);
	bytes_add(&t->c2p, p, n);
}

static void raw_start(struct tc *t)
{
	t->raw = 1;
	bytes_add(&t->c2p, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
	raw_frame(t, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	cr_assert_eq(nghttp2_hd_deflate_new(&t->defl, 4096), 0);
}

static void raw_headers(struct tc *t, int32_t sid, const nghttp2_nv *nv, size_t n, uint8_t flags)
{
	static uint8_t blk[1 << 18];
	ssize_t len = nghttp2_hd_deflate_hd(t->defl, blk, sizeof(blk), nv, n);
	cr_assert(len >= 0, "deflate %zd", len);
	size_t off = 0;
	int first = 1;
	do { /* HEADERS then CONTINUATION in 16 KiB pieces */
		size_t c = (size_t)len - off > 16384 ? 16384 : (size_t)len - off;
		int last = off + c == (size_t)len;
		uint8_t fl = (uint8_t)((first ? flags : 0) | (last ? NGHTTP2_FLAG_END_HEADERS : 0));
		raw_frame(t, first ? NGHTTP2_HEADERS : NGHTTP2_CONTINUATION, fl, sid, blk + off, c);
		off += c;
		first = 0;
	} while (off < (size_t)len);
}

static void raw_data(struct tc *t, int32_t sid, const char *p, size_t n, int end, int pad)
{
	uint8_t buf[1024];
	size_t len = 0;
	uint8_t fl = end ? NGHTTP2_FLAG_END_STREAM : 0;
	if (pad) {
		fl |= NGHTTP2_FLAG_PADDED;
		buf[len++] = (uint8_t)pad;
	}
	memcpy(buf + len, p, n);
	len += n;
	memset(buf + len, 0, (size_t)pad);
	len += (size_t)pad;
	raw_frame(t, NGHTTP2_DATA, fl, sid, buf, len);
}

/* RST_STREAM code the proxy sent the raw client for sid, or -1. */
static long raw_rst_code(const struct tc *t, int32_t sid)
{
	size_t off = 0;
	while (off + 9 <= t->toc.len) {
		const uint8_t *f = t->toc.p + off;
		size_t len = ((size_t)f[0] << 16) | ((size_t)f[1] << 8) | f[2];
		int32_t id = (int32_t)(((uint32_t)(f[5] & 0x7f) << 24) | ((uint32_t)f[6] << 16) |
		                       ((uint32_t)f[7] << 8) | f[8]);
		if (f[3] == NGHTTP2_RST_STREAM && id == sid && len == 4)
			return (long)(((uint32_t)f[9] << 24) | ((uint32_t)f[10] << 16) |
			              ((uint32_t)f[11] << 8) | f[12]);
		off += 9 + len;
	}
	return -1;
}

#define NV(n, v) ((nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, 0})

#endif
