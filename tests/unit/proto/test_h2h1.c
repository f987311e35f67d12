/* proto/h2h1: a real nghttp2 client (h2_testutil.h's browser) in memory
 * feeds the translator; the HTTP/1.1 upstream is scripted: the test reads
 * what the proxy wrote upstream and feeds response bytes back. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "h2_testutil.h"
#include "proto/h2h1.h"

#define LOGSTR(b) ((int)(b).len), ((const char *)(b).p)

struct xt {
	struct tc t;
	struct bytes up;   /* HTTP/1.1 bytes the proxy wrote upstream */
	struct bytes resp; /* scripted upstream bytes not yet fed */
	size_t upchunk;    /* feed/out size toward the upstream (0: 64 KiB) */
	unsigned uprng;    /* 0: fixed chunks; else seeded random sizes */
	int noflush;       /* DATA merged across pumps in the logs */
};

static void xt_init(struct xt *x, const struct sm_h2h1_limits *lim)
{
	memset(x, 0, sizeof(*x));
	tc_init(&x->t, NULL, 65535);
	sm_h2_free(x->t.h);
	x->t.h = sm_h2h1_new(lim);
	cr_assert(x->t.h);
	cr_assert(sm_h2h1_stats(x->t.h));
}

static void xt_free(struct xt *x)
{
	tc_free(&x->t);
	free(x->up.p);
	free(x->resp.p);
}

static size_t up_chunk(struct xt *x)
{
	if (!x->uprng)
		return x->upchunk ? x->upchunk : 65536;
	x->uprng = x->uprng * 1103515245u + 12345u;
	return 1 + ((x->uprng >> 8) % 61);
}

static void xt_pump(struct xt *x)
{
	static uint8_t buf[1 << 17];
	struct tc *t = &x->t;
	for (int round = 0; round < 2000; round++) {
		int moved = 0;
		const uint8_t *d;
		ssize_t n;
		while (!t->raw && (n = nghttp2_session_mem_send(t->b.s, &d)) > 0)
			bytes_add(&t->c2p, d, (size_t)n);
		for (int k = 0; k < 64 && t->c2p.len; k++) {
			long r = sm_h2_feed_client(t->h, t->c2p.p, t->c2p.len);
			tc_events(t);
			if (r < 0) {
				t->last_err = r;
				t->c2p.len = 0;
				break;
			}
			bytes_consume(&t->c2p, (size_t)r);
			moved |= r > 0;
		}
		for (int k = 0; k < 256 && x->resp.len; k++) {
			size_t c = up_chunk(x);
			if (c > x->resp.len)
				c = x->resp.len;
			long r = sm_h2_feed_upstream(t->h, x->resp.p, c);
			tc_events(t);
			if (r <= 0)
				break;
			bytes_consume(&x->resp, (size_t)r);
			moved = 1;
		}
		for (;;) {
			size_t c = up_chunk(x);
			long r = sm_h2_out_upstream(t->h, buf, c < sizeof(buf) ? c : sizeof(buf));
			tc_events(t);
			cr_assert(r >= 0);
			if (r == 0)
				break;
			bytes_add(&x->up, buf, (size_t)r);
			moved = 1;
		}
		for (;;) {
			long r = sm_h2_out_client(t->h, buf, sizeof(buf));
			tc_events(t);
			cr_assert(r >= 0);
			if (r == 0)
				break;
			moved = 1;
			if (t->raw) {
				bytes_add(&t->toc, buf, (size_t)r);
				continue;
			}
			ssize_t m = nghttp2_session_mem_recv(t->b.s, buf, (size_t)r);
			cr_assert_eq(m, r, "browser recv %zd", m);
		}
		if (!moved && (t->raw || !nghttp2_session_want_write(t->b.s)))
			break;
	}
	if (!x->noflush) {
		tc_flush_data(t, 0);
		tc_flush_data(t, 1);
	}
}

/* The upstream answers: its bytes are fed, the up log is cleared. */
static void answer(struct xt *x, const char *s)
{
	bytes_add(&x->resp, s, strlen(s));
	x->up.len = 0;
	xt_pump(x);
}

static int has_line(const struct bytes *b, const char *line)
{
	size_t n = strlen(line);
	for (size_t i = 0; i + n <= b->len; i++)
		if ((i == 0 || b->p[i - 1] == '\n') && memcmp(b->p + i, line, n) == 0 &&
		    (i + n == b->len || b->p[i + n] == '\n'))
			return 1;
	return 0;
}

static void up_is(struct xt *x, const char *want)
{
	cr_assert(x->up.len == strlen(want) && memcmp(x->up.p, want, x->up.len) == 0,
	          "upstream got [%.*s]\nwant [%s]", LOGSTR(x->up), want);
}

static void hdr_is(struct pstream *b, const char *want)
{
	cr_assert(b->hdr.len == strlen(want) && memcmp(b->hdr.p, want, b->hdr.len) == 0,
	          "hdr [%.*s] want [%s]", LOGSTR(b->hdr), want);
}

static void body_is(struct pstream *b, const char *want)
{
	cr_assert(b->body.len == strlen(want) && memcmp(b->body.p, want, b->body.len) == 0,
	          "body [%.*s] want [%s]", LOGSTR(b->body), want);
}

Test(h2h1, get_translated_both_ways)
{
	struct xt x;
	xt_init(&x, NULL);
	nghttp2_nv ex[4] = {NV("accept", "*/*"), NV("cookie", "a=1"), NV("x-q", "v"),
	                    NV("cookie", "b=2")};
	int32_t id = tc_request(&x.t, "GET", "/index?q=1", ex, 4, NULL, 0, 0);
	xt_pump(&x);
	up_is(&x, "GET /index?q=1 HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\n"
	          "cookie: a=1; b=2\r\nx-q: v\r\n\r\n");
	answer(&x, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, X-Drop\r\n"
	           "X-Drop: 1\r\nKeep-Alive: timeout=5\r\nX-A: 1\r\n\r\nhello");
	struct pstream *b = pst(&x.t.b, id, 0);
	cr_assert(b && b->ended && b->closed && b->close_code == 0);
	hdr_is(b, ":status: 200\ncontent-length: 5\nx-a: 1\n");
	body_is(b, "hello");
	cr_assert(has_line(&x.t.log[0], "REQUEST 1 GET https example.com /index?q=1 n=8 f=1"),
	          "%.*s", LOGSTR(x.t.log[0]));
	cr_assert(has_line(&x.t.log[1], "RESPONSE 1 200 n=3 f=0"), "%.*s", LOGSTR(x.t.log[1]));
	cr_assert(has_line(&x.t.log[1], "DATA 1 5"));
	cr_assert(has_line(&x.t.log[1], "END 1"));
	cr_assert_eq(sm_h2_open_streams(x.t.h), 0);
	cr_assert_eq(sm_h2_buffered(x.t.h), 0);
	cr_assert_eq(sm_h2h1_stats(x.t.h)->upstream_requests, 1);
	cr_assert_eq(x.t.resets + x.t.errors + x.t.goaways, 0);
	cr_assert(!sm_h2_done(x.t.h, SM_H2_UPSTREAM)); /* still usable */
	xt_free(&x);
}

Test(h2h1, post_with_content_length)
{
	struct xt x;
	xt_init(&x, NULL);
	static uint8_t body[10000];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7);
	nghttp2_nv ex[1] = {NV("content-length", "10000")};
	int32_t id = tc_request(&x.t, "POST", "/up", ex, 1, body, sizeof(body), 0);
	xt_pump(&x);
	const char *head =
	        "POST /up HTTP/1.1\r\nhost: example.com\r\ncontent-length: 10000\r\n\r\n";
	size_t hl = strlen(head);
	cr_assert_eq(x.up.len, hl + sizeof(body));
	cr_assert(memcmp(x.up.p, head, hl) == 0, "%.*s", LOGSTR(x.up));
	cr_assert(memcmp(x.up.p + hl, body, sizeof(body)) == 0);
	answer(&x, "HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n");
	struct pstream *b = pst(&x.t.b, id, 0);
	cr_assert(b->ended && b->closed && has_line(&b->hdr, ":status: 201"));
	xt_free(&x);
}

Test(h2h1, post_without_length_whole_body_gets_length)
{
	struct xt x;
	xt_init(&x, NULL);
	int32_t id = tc_request(&x.t, "POST", "/p", NULL, 0, (const uint8_t *)"abcdef", 6, 0);
	xt_pump(&x);
	up_is(&x, "POST /p HTTP/1.1\r\nhost: example.com\r\ncontent-length: 6\r\n\r\nabcdef");
	answer(&x, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
	body_is(pst(&x.t.b, id, 0), "ok");
	xt_free(&x);
}

Test(h2h1, streamed_body_goes_chunked)
{
	struct xt x;
	xt_init(&x, NULL);
	static const char src[] = "first-second";
	int32_t id = tc_request(&x.t, "POST", "/s", NULL, 0, (const uint8_t *)src, 12, 0);
	struct pstream *ps = pst(&x.t.b, id, 0);
	ps->chunked_src = 1;
	ps->src_avail = 6;
	xt_pump(&x);
	up_is(&x, "POST /s HTTP/1.1\r\nhost: example.com\r\ntransfer-encoding: chunked\r\n\r\n"
	          "6\r\nfirst-\r\n");
	x.up.len = 0;
	ps->src_avail = 12;
	nghttp2_session_resume_data(x.t.b.s, id);
	xt_pump(&x);
	up_is(&x, "6\r\nsecond\r\n0\r\n\r\n");
	answer(&x, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
	struct pstream *b = pst(&x.t.b, id, 0);
	body_is(b, "ok");
	cr_assert(b->ended && b->closed && b->close_code == 0);
	cr_assert(!has_line(&b->hdr, "transfer-encoding: chunked"));
	xt_free(&x);
}

Test(h2h1, trailers_both_ways)
{
	struct xt x;
	xt_init(&x, NULL);
	nghttp2_nv ex[2] = {NV("content-type", "application/grpc"), NV("te", "trailers")};
	int32_t id =
	        tc_request(&x.t, "POST", "/svc/M", ex, 2, (const uint8_t *)"\0\0\0\0\1x", 6, 1);
	xt_pump(&x);
	static const char want[] = "POST /svc/M HTTP/1.1\r\nhost: example.com\r\ncontent-type: "
	                           "application/grpc\r\ntransfer-encoding: chunked\r\n\r\n"
	                           "6\r\n\0\0\0\0\1x\r\n0\r\nx-t: done\r\n\r\n";
	size_t wl = sizeof(want) - 1;
	cr_assert_eq(x.up.len, wl, "%zu: %.*s", x.up.len, LOGSTR(x.up));
	cr_assert(memcmp(x.up.p, want, wl) == 0, "%.*s", LOGSTR(x.up));
	cr_assert(has_line(&x.t.log[0], "TRAILERS 1 n=1"), "%.*s", LOGSTR(x.t.log[0]));
	answer(&x, "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\n"
	           "transfer-encoding: chunked\r\ntrailer: grpc-status\r\n\r\n"
	           "3\r\nabc\r\n0\r\nGrpc-Status: 0\r\ngrpc-message: fine\r\n\r\n");
	struct pstream *b = pst(&x.t.b, id, 0);
	body_is(b, "abc");
	cr_assert(b->ended && b->closed && b->close_code == 0);
	cr_assert(has_line(&b->trl, "grpc-status: 0"), "%.*s", LOGSTR(b->trl));
	cr_assert(has_line(&b->trl, "grpc-message: fine"));
	cr_assert(has_line(&x.t.log[1], "TRAILERS 1 n=2"), "%.*s", LOGSTR(x.t.log[1]));
	xt_free(&x);
}

Test(h2h1, streaming_response_arrives_as_it_comes)
{
	struct xt x;
	xt_init(&x, NULL);
	int32_t id = tc_request(&x.t, "GET", "/events", NULL, 0, NULL, 0, 0);
	xt_pump(&x);
	answer(&x, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
	           "transfer-encoding: chunked\r\n\r\n8\r\ndata: 1\n\r\n");
	struct pstream *b = pst(&x.t.b, id, 0);
	body_is(b, "data: 1\n");
	cr_assert(!b->ended);
	answer(&x, "8\r\ndata: 2\n\r\n");
	body_is(b, "data: 1\ndata: 2\n");
	answer(&x, "0\r\n\r\n");
	cr_assert(b->ended && b->closed);
	xt_free(&x);
}

Test(h2h1, interim_forwarded_and_101_refused)
{
	struct xt x;
	xt_init(&x, NULL);
	nghttp2_nv ex[1] = {NV("expect", "100-continue")};
	int32_t id = tc_request(&x.t, "GET", "/a", ex, 1, NULL, 0, 0);
	xt_pump(&x);
	answer(&x, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
	           "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
	struct pstream *b = pst(&x.t.b, id, 0);
	hdr_is(b, ":status: 100\n--\n:status: 103\nlink: </s>\n--\n:status: 200\n"
	          "content-length: 2\n");
	body_is(b, "ok");
	cr_assert(has_line(&x.t.log[1], "RESPONSE 1 100 n=1 f=2"), "%.*s", LOGSTR(x.t.log[1]));
	int32_t id2 = tc_request(&x.t, "GET", "/ws", NULL, 0, NULL, 0, 0);
	xt_pump(&x);
	answer(&x, "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n");
	struct pstream *b2 = pst(&x.t.b, id2, 0);
	cr_assert(has_line(&b2->hdr, ":status: 502"), "%.*s", LOGSTR(b2->hdr));
	cr_assert(has_line(&x.t.log[1], "RESET 3 who=2 code=2 reason=upstream_http1"), "%.*s",
	          LOGSTR(x.t.log[1]));
	cr_assert(sm_h2_done(x.t.h, SM_H2_UPSTREAM));
	xt_free(&x);
}

Test(h2h1, streams_wait_in_arrival_order)
{
	struct xt x;
	xt_init(&x, NULL);
	int32_t ids[5];
	static const char *paths[5] = {"/r0", "/r1", "/r2", "/r3", "/r4"};
	for (int i = 0; i < 5; i++)
		ids[i] = tc_request(&x.t, "GET", paths[i], NULL, 0, NULL, 0, 0);
	xt_pump(&x);
	for (int i = 0; i < 5; i++) {
		char want[128], resp[128];
		snprintf(want, sizeof(want), "GET /r%d HTTP/1.1\r\nhost: example.com\r\n\r\n", i);
		up_is(&x, want); /* one request at a time */
		snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n#%d", i);
		answer(&x, resp);
		char b[3] = {'#', (char)('0' + i), 0};
		body_is(pst(&x.t.b, ids[i], 0), b);
	}
	cr_assert_eq(sm_h2h1_stats(x.t.h)->queue_peak, 4);
	cr_assert_eq(sm_h2_open_streams(x.t.h), 0);
	xt_free(&x);
}

struct bad_req {
	const char *what;
	nghttp2_nv nv[6];
	size_t n;
};

static const struct bad_req bad_reqs[] = {
        {"transfer-encoding",
         {NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", "example.com"),
          NV(":path", "/"), NV("transfer-encoding", "chunked")},
         5},
        {"connection",
         {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "example.com"),
          NV(":path", "/"), NV("connection", "close")},
         5},
        {"te gzip",
         {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "example.com"),
          NV(":path", "/"), NV("te", "gzip")},
         5},
        {"host differs",
         {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "example.com"),
          NV(":path", "/"), NV("host", "evil.com")},
         5},
        {"space in path",
         {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "example.com"),
          NV(":path", "/a HTTP/1.1")},
         4},
        {"crlf in value",
         {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "example.com"),
          NV(":path", "/"), NV("x-a", "1\r\nx-b: 2")},
         5},
        {"bad authority",
         {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a b@c"),
          NV(":path", "/")},
         4},
        {"uppercase name",
         {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "example.com"),
          NV(":path", "/"), NV("X-Up", "1")},
         5},
        {"method with space",
         {NV(":method", "GET /x"), NV(":scheme", "https"), NV(":authority", "example.com"),
          NV(":path", "/")},
         4},
        {"path not origin-form",
         {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "example.com"),
          NV(":path", "http://other/")},
         4},
};

Test(h2h1, smuggling_shapes_never_reach_upstream)
{
	for (size_t i = 0; i < sizeof(bad_reqs) / sizeof(bad_reqs[0]); i++) {
		struct xt x;
		xt_init(&x, NULL);
		raw_start(&x.t);
		raw_headers(&x.t, 1, bad_reqs[i].nv, bad_reqs[i].n, NGHTTP2_FLAG_END_STREAM);
		xt_pump(&x);
		cr_assert_eq(x.up.len, 0, "%s: upstream got %.*s", bad_reqs[i].what, LOGSTR(x.up));
		cr_assert(raw_rst_code(&x.t, 1) > 0, "%s: no reset", bad_reqs[i].what);
		xt_free(&x);
	}
	/* content-length disagreeing with DATA: more, then fewer */
	for (int k = 0; k < 2; k++) {
		struct xt x;
		xt_init(&x, NULL);
		raw_start(&x.t);
		nghttp2_nv nv[5] = {NV(":method", "POST"), NV(":scheme", "https"),
		                    NV(":authority", "example.com"), NV(":path", "/"),
		                    NV("content-length", "4")};
		raw_headers(&x.t, 1, nv, 5, 0);
		raw_data(&x.t, 1, "abcdef", k ? 3 : 6, 1, 0);
		xt_pump(&x);
		cr_assert_eq(raw_rst_code(&x.t, 1), NGHTTP2_PROTOCOL_ERROR);
		/* the head may have gone, never a complete message of the wrong size */
		const char *head =
		        "POST / HTTP/1.1\r\nhost: example.com\r\ncontent-length: 4\r\n\r\n";
		cr_assert(x.up.len <= strlen(head) + 3, "%.*s", LOGSTR(x.up));
		if (x.up.len)
			cr_assert(sm_h2_done(x.t.h, SM_H2_UPSTREAM));
		xt_free(&x);
	}
}

Test(h2h1, connection_close_refuses_waiting_streams)
{
	struct xt x;
	xt_init(&x, NULL);
	int32_t a = tc_request(&x.t, "GET", "/1", NULL, 0, NULL, 0, 0);
	int32_t b = tc_request(&x.t, "GET", "/2", NULL, 0, NULL, 0, 0);
	int32_t c = tc_request(&x.t, "GET", "/3", NULL, 0, NULL, 0, 0);
	xt_pump(&x);
	answer(&x, "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 3\r\n\r\none");
	body_is(pst(&x.t.b, a, 0), "one");
	cr_assert(pst(&x.t.b, a, 0)->ended);
	cr_assert(x.t.b.goaway && x.t.b.goaway_last == a && x.t.b.goaway_code == 0);
	cr_assert_eq(pst(&x.t.b, b, 0)->close_code, NGHTTP2_REFUSED_STREAM);
	cr_assert_eq(pst(&x.t.b, c, 0)->close_code, NGHTTP2_REFUSED_STREAM);
	cr_assert_eq(x.up.len, 0); /* nothing more went upstream */
	cr_assert(sm_h2_done(x.t.h, SM_H2_UPSTREAM));
	cr_assert(has_line(&x.t.log[1], "GOAWAY who=1 code=0 last=1"), "%.*s", LOGSTR(x.t.log[1]));
	cr_assert_eq(sm_h2h1_stats(x.t.h)->refused_waiting, 2);
	xt_free(&x);
}

Test(h2h1, eof_delimited_body_then_goaway)
{
	struct xt x;
	xt_init(&x, NULL);
	int32_t a = tc_request(&x.t, "GET", "/1", NULL, 0, NULL, 0, 0);
	xt_pump(&x);
	answer(&x, "HTTP/1.1 200 OK\r\n\r\nuntil the end");
	cr_assert(!pst(&x.t.b, a, 0)->ended);
	cr_assert(!x.t.b.goaway); /* due once stream 1 is over */
	sm_h2_eof(x.t.h, SM_H2_UPSTREAM);
	xt_pump(&x);
	cr_assert(x.t.b.goaway && x.t.b.goaway_last == a);
	body_is(pst(&x.t.b, a, 0), "until the end");
	cr_assert(pst(&x.t.b, a, 0)->ended && pst(&x.t.b, a, 0)->close_code == 0);
	cr_assert(sm_h2_done(x.t.h, SM_H2_UPSTREAM));
	cr_assert(sm_h2_done(x.t.h, SM_H2_CLIENT));
	xt_free(&x);
}

Test(h2h1, truncated_or_bad_responses)
{
	static const char *cases[] = {
	        "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", /* eof */
	        "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: "
	        "chunked\r\n\r\n", /* CL+TE
	                            */
	        "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabc",
	        "HTTP/1.1 200 OK\r\nx: a\nb\r\n\r\n",
	        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
	        "HTTP/2.0 200 OK\r\n\r\n",
	        "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xt x;
		xt_init(&x, NULL);
		int32_t a = tc_request(&x.t, "GET", "/1", NULL, 0, NULL, 0, 0);
		int32_t b = tc_request(&x.t, "GET", "/2", NULL, 0, NULL, 0, 0);
		xt_pump(&x);
		answer(&x, cases[i]);
		if (i == 0) {
			sm_h2_eof(x.t.h, SM_H2_UPSTREAM);
			xt_pump(&x);
		}
		struct pstream *pa = pst(&x.t.b, a, 0);
		if (i == 0 || i == 4) /* final head already out: reset */
			cr_assert_eq(pa->close_code, NGHTTP2_INTERNAL_ERROR, "case %zu", i);
		else
			cr_assert(has_line(&pa->hdr, ":status: 502"), "case %zu: %.*s", i,
			          LOGSTR(pa->hdr));
		cr_assert_eq(pst(&x.t.b, b, 0)->close_code, NGHTTP2_REFUSED_STREAM, "case %zu", i);
		cr_assert(sm_h2_done(x.t.h, SM_H2_UPSTREAM), "case %zu", i);
		cr_assert(x.t.b.goaway);
		xt_free(&x);
	}
}

Test(h2h1, client_reset_mid_response_closes_upstream)
{
	struct xt x;
	xt_init(&x, NULL);
	int32_t a = tc_request(&x.t, "GET", "/big", NULL, 0, NULL, 0, 0);
	int32_t b = tc_request(&x.t, "GET", "/next", NULL, 0, NULL, 0, 0);
	xt_pump(&x);
	answer(&x, "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789");
	body_is(pst(&x.t.b, a, 0), "0123456789");
	nghttp2_submit_rst_stream(x.t.b.s, NGHTTP2_FLAG_NONE, a, NGHTTP2_CANCEL);
	xt_pump(&x);
	cr_assert(has_line(&x.t.log[0], "RESET 1 who=0 code=8 reason=none"), "%.*s",
	          LOGSTR(x.t.log[0]));
	cr_assert(x.t.b.goaway && x.t.b.goaway_last == a);
	cr_assert_eq(pst(&x.t.b, b, 0)->close_code, NGHTTP2_REFUSED_STREAM);
	cr_assert(sm_h2_done(x.t.h, SM_H2_UPSTREAM));
	answer(&x, "0123456789"); /* the rest of the cut response is dropped */
	cr_assert_eq(pst(&x.t.b, a, 0)->body.len, 10);
	cr_assert_eq(x.up.len, 0);
	xt_free(&x);
}

Test(h2h1, reset_of_waiting_stream_keeps_upstream)
{
	struct xt x;
	xt_init(&x, NULL);
	int32_t a = tc_request(&x.t, "GET", "/1", NULL, 0, NULL, 0, 0);
	int32_t b = tc_request(&x.t, "GET", "/2", NULL, 0, NULL, 0, 0);
	int32_t c = tc_request(&x.t, "GET", "/3", NULL, 0, NULL, 0, 0);
	xt_pump(&x);
	nghttp2_submit_rst_stream(x.t.b.s, NGHTTP2_FLAG_NONE, b, NGHTTP2_CANCEL);
	xt_pump(&x);
	answer(&x, "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n1");
	up_is(&x, "GET /3 HTTP/1.1\r\nhost: example.com\r\n\r\n");
	answer(&x, "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n3");
	body_is(pst(&x.t.b, a, 0), "1");
	body_is(pst(&x.t.b, c, 0), "3");
	cr_assert(!x.t.b.goaway);
	xt_free(&x);
}

Test(h2h1, connect_refused_with_501)
{
	struct xt x;
	xt_init(&x, NULL);
	nghttp2_nv nv[2] = {NV(":method", "CONNECT"), NV(":authority", "example.com:443")};
	int32_t id = nghttp2_submit_request(x.t.b.s, NULL, nv, 2, NULL, NULL);
	cr_assert(id > 0);
	xt_pump(&x);
	struct pstream *b = pst(&x.t.b, id, 0);
	cr_assert(b);
	cr_assert(has_line(&b->hdr, ":status: 501"), "%.*s", LOGSTR(b->hdr));
	cr_assert_eq(x.up.len, 0);
	cr_assert(has_line(&x.t.log[0], "RESET 1 who=2 code=0 reason=connect"), "%.*s",
	          LOGSTR(x.t.log[0]));
	xt_free(&x);
}

Test(h2h1, head_response_has_no_body)
{
	struct xt x;
	xt_init(&x, NULL);
	int32_t a = tc_request(&x.t, "HEAD", "/h", NULL, 0, NULL, 0, 0);
	xt_pump(&x);
	answer(&x, "HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n");
	struct pstream *b = pst(&x.t.b, a, 0);
	cr_assert(b->ended && b->closed && b->body.len == 0);
	cr_assert(has_line(&b->hdr, "content-length: 1234"));
	int32_t c = tc_request(&x.t, "GET", "/after", NULL, 0, NULL, 0, 0);
	xt_pump(&x);
	up_is(&x, "GET /after HTTP/1.1\r\nhost: example.com\r\n\r\n");
	answer(&x, "HTTP/1.1 204 No Content\r\n\r\n");
	cr_assert(pst(&x.t.b, c, 0)->ended);
	xt_free(&x);
}

Test(h2h1, slow_client_stops_upstream_reads)
{
	struct sm_h2h1_limits lim = {.max_buffer = 16384};
	struct xt x;
	xt_init(&x, &lim);
	x.t.b.manual = 1; /* the browser does not open its window */
	int32_t a = tc_request(&x.t, "GET", "/big", NULL, 0, NULL, 0, 0);
	xt_pump(&x);
	size_t total = 300000;
	char head[96];
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\ncontent-length: %zu\r\n\r\n", total);
	bytes_add(&x.resp, head, strlen(head));
	uint8_t *body = malloc(total);
	for (size_t i = 0; i < total; i++)
		body[i] = (uint8_t)(i * 13 + 1);
	bytes_add(&x.resp, body, total);
	xt_pump(&x);
	struct pstream *b = pst(&x.t.b, a, 0);
	cr_assert_eq(b->body.len, 65535); /* the client's stream window */
	cr_assert(x.resp.len > 0 && x.resp.len >= total - 65535 - 16384, "fed %zu",
	          total - x.resp.len);
	cr_assert(sm_h2_buffered(x.t.h) <= 16384);
	cr_assert_eq(sm_h2_wait(x.t.h, SM_H2_UPSTREAM), SM_H2_WAIT_OUT_FULL);
	cr_assert(sm_h2h1_stats(x.t.h)->buffer_full > 0);
	for (int i = 0; i < 200 && !b->ended; i++) {
		nghttp2_session_consume(x.t.b.s, a, x.t.b.unconsumed);
		x.t.b.unconsumed = 0;
		xt_pump(&x);
	}
	cr_assert(b->ended);
	cr_assert_eq(b->body.len, total);
	cr_assert(memcmp(b->body.p, body, total) == 0);
	free(body);
	xt_free(&x);
}

Test(h2h1, fifo_bound_refuses_extra_streams)
{
	struct sm_h2h1_limits lim = {.h2 = {.max_streams = 2}};
	struct xt x;
	xt_init(&x, &lim);
	raw_start(&x.t);
	for (int32_t id = 1; id <= 5; id += 2) {
		nghttp2_nv nv[4] = {NV(":method", "GET"), NV(":scheme", "https"),
		                    NV(":authority", "example.com"), NV(":path", "/")};
		raw_headers(&x.t, id, nv, 4, NGHTTP2_FLAG_END_STREAM);
	}
	xt_pump(&x);
	cr_assert_eq(raw_rst_code(&x.t, 5), NGHTTP2_REFUSED_STREAM);
	cr_assert_eq(raw_rst_code(&x.t, 1), -1);
	up_is(&x, "GET / HTTP/1.1\r\nhost: example.com\r\n\r\n");
	xt_free(&x);
}

Test(h2h1, early_response_cuts_the_upload)
{
	struct xt x;
	xt_init(&x, NULL);
	static const char src[] = "0123456789";
	int32_t a = tc_request(&x.t, "PUT", "/big", NULL, 0, (const uint8_t *)src, 10, 0);
	int32_t b = tc_request(&x.t, "GET", "/next", NULL, 0, NULL, 0, 0);
	struct pstream *ps = pst(&x.t.b, a, 0);
	ps->chunked_src = 1;
	ps->src_avail = 4;
	xt_pump(&x);
	up_is(&x, "PUT /big HTTP/1.1\r\nhost: example.com\r\ntransfer-encoding: chunked\r\n\r\n"
	          "4\r\n0123\r\n");
	answer(&x, "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 3\r\n\r\nbig");
	struct pstream *pa = pst(&x.t.b, a, 0);
	body_is(pa, "big");
	cr_assert(pa->ended && has_line(&pa->hdr, ":status: 413"));
	cr_assert(pa->rst && pa->rst_code == NGHTTP2_NO_ERROR); /* RFC 9113 8.1 */
	cr_assert_eq(pst(&x.t.b, b, 0)->close_code, NGHTTP2_REFUSED_STREAM);
	cr_assert(x.t.b.goaway && x.t.b.goaway_last == a);
	ps->src_avail = 10;
	nghttp2_session_resume_data(x.t.b.s, a);
	xt_pump(&x);
	cr_assert_eq(x.up.len, 0); /* the rest of the upload never goes out */
	cr_assert(sm_h2_done(x.t.h, SM_H2_UPSTREAM));
	xt_free(&x);
}

Test(h2h1, request_trailers_with_content_length_are_dropped)
{
	struct xt x;
	xt_init(&x, NULL);
	nghttp2_nv ex[1] = {NV("content-length", "3")};
	int32_t a = tc_request(&x.t, "POST", "/t", ex, 1, (const uint8_t *)"abc", 3, 1);
	xt_pump(&x);
	up_is(&x, "POST /t HTTP/1.1\r\nhost: example.com\r\ncontent-length: 3\r\n\r\nabc");
	cr_assert_eq(sm_h2h1_stats(x.t.h)->trailers_dropped, 1);
	answer(&x, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
	cr_assert(pst(&x.t.b, a, 0)->ended);
	xt_free(&x);
}

Test(h2h1, unsolicited_upstream_bytes_end_the_upstream)
{
	struct xt x;
	xt_init(&x, NULL);
	xt_pump(&x);
	answer(&x, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
	cr_assert(has_line(&x.t.log[1], "GOAWAY who=2 code=0 last=0"), "%.*s", LOGSTR(x.t.log[1]));
	cr_assert(x.t.b.goaway);
	int32_t a = tc_request(&x.t, "GET", "/late", NULL, 0, NULL, 0, 0);
	xt_pump(&x);
	cr_assert_eq(x.up.len, 0);
	struct pstream *pa = pst(&x.t.b, a, 0);
	cr_assert(!pa || pa->close_code == NGHTTP2_REFUSED_STREAM || pa->hblocks == 0);
	cr_assert(sm_h2_done(x.t.h, SM_H2_UPSTREAM));
	xt_free(&x);
}

/* ---- every split of the upstream bytes gives the same result ---- */

static const char split_resp[] =
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
        "Connection: keep-alive\r\n\r\n"
        "5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nX-Sum: 11\r\n\r\n"
        "HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope";

struct outcome {
	struct bytes log, body1, body2, hdr1, hdr2, trl1;
};

static void run_split(size_t k, unsigned seed, struct outcome *o)
{
	struct xt x;
	xt_init(&x, NULL);
	x.uprng = seed;
	x.noflush = 1;
	int32_t a = tc_request(&x.t, "GET", "/a", NULL, 0, NULL, 0, 0);
	int32_t b = tc_request(&x.t, "GET", "/b", NULL, 0, NULL, 0, 0);
	xt_pump(&x);
	size_t n = sizeof(split_resp) - 1; /* the 404 goes after its request */
	size_t first_len = (size_t)(strstr(split_resp, "HTTP/1.1 404") - split_resp);
	const char *r = split_resp;
	size_t cut = k < first_len ? k : first_len;
	bytes_add(&x.resp, r, cut);
	xt_pump(&x);
	bytes_add(&x.resp, r + cut, first_len - cut);
	xt_pump(&x);
	bytes_add(&x.resp, r + first_len, n - first_len);
	xt_pump(&x);
	tc_flush_data(&x.t, 1);
	struct pstream *pa = pst(&x.t.b, a, 0), *pb = pst(&x.t.b, b, 0);
	cr_assert(pa->ended && pb->ended, "k=%zu seed=%u", k, seed);
	bytes_add(&o->log, x.t.log[1].p, x.t.log[1].len);
	bytes_add(&o->body1, pa->body.p, pa->body.len);
	bytes_add(&o->body2, pb->body.p, pb->body.len);
	bytes_add(&o->hdr1, pa->hdr.p, pa->hdr.len);
	bytes_add(&o->hdr2, pb->hdr.p, pb->hdr.len);
	bytes_add(&o->trl1, pa->trl.p, pa->trl.len);
	xt_free(&x);
}

static void outcome_free(struct outcome *o)
{
	free(o->log.p);
	free(o->body1.p);
	free(o->body2.p);
	free(o->hdr1.p);
	free(o->hdr2.p);
	free(o->trl1.p);
}

static void same(const struct bytes *a, const struct bytes *b, const char *what, size_t k)
{
	cr_assert(a->len == b->len && memcmp(a->p, b->p, a->len) == 0,
	          "%s differs at split %zu: [%.*s] vs [%.*s]", what, k, LOGSTR(*a), LOGSTR(*b));
}

Test(h2h1, every_split_of_upstream_bytes)
{
	size_t first_len = (size_t)(strstr(split_resp, "HTTP/1.1 404") - split_resp);
	struct outcome ref = {0};
	run_split(0, 0, &ref);
	body_is(&(struct pstream){.body = ref.body1}, "hello world!");
	body_is(&(struct pstream){.body = ref.body2}, "nope");
	cr_assert(has_line(&ref.trl1, "x-sum: 11"), "%.*s", LOGSTR(ref.trl1));
	cr_assert(has_line(&ref.hdr1, ":status: 100") && has_line(&ref.hdr1, ":status: 200"));
	cr_assert(!has_line(&ref.hdr1, "connection: keep-alive"));
	for (size_t k = 1; k < first_len; k++) {
		struct outcome o = {0};
		run_split(k, 0, &o);
		same(&ref.log, &o.log, "events", k);
		same(&ref.body1, &o.body1, "body1", k);
		same(&ref.body2, &o.body2, "body2", k);
		same(&ref.hdr1, &o.hdr1, "hdr1", k);
		same(&ref.hdr2, &o.hdr2, "hdr2", k);
		same(&ref.trl1, &o.trl1, "trl1", k);
		outcome_free(&o);
	}
	for (unsigned seed = 1; seed <= 20; seed++) {
		struct outcome o = {0};
		run_split(0, seed * 7919u, &o);
		same(&ref.log, &o.log, "events (random)", seed);
		same(&ref.body1, &o.body1, "body1 (random)", seed);
		same(&ref.trl1, &o.trl1, "trl1 (random)", seed);
		outcome_free(&o);
	}
	outcome_free(&ref);
}

Test(h2h1, memory_released_and_counted)
{
	struct xt x;
	xt_init(&x, NULL);
	for (int i = 0; i < 3; i++)
		tc_request(&x.t, "POST", "/m", NULL, 0, (const uint8_t *)"xyz", 3, 1);
	xt_pump(&x);
	cr_assert(sm_h2_mem_used(x.t.h) > 0);
	sm_h2_eof(x.t.h, SM_H2_CLIENT);
	cr_assert_eq(sm_h2_open_streams(x.t.h), 0);
	cr_assert(sm_h2_done(x.t.h, SM_H2_CLIENT));
	cr_assert(sm_h2_done(x.t.h, SM_H2_UPSTREAM));
	cr_assert_eq(sm_h2_buffered(x.t.h), 0);
	xt_free(&x);
}
