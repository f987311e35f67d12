/* proto/h1h2: scripted HTTP/1.1 client bytes feed the translator; a real
 * nghttp2 server session (h2_testutil.h's origin) in memory is the
 * upstream. The client's output is collected raw (t.toc). */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "h2_testutil.h"
#include "proto/h1h2.h"

#define LOGSTR(b) ((int)(b).len), ((const char *)(b).p)

static void yt_init(struct tc *t, unsigned chunk)
{
	memset(t, 0, sizeof(*t));
	struct sm_authority o = {
	        .host = "example.com", .host_len = 11, .port = 443, .kind = SM_AUTHORITY_NAME};
	t->h = sm_h1h2_new(NULL, &o);
	cr_assert(t->h);
	cr_assert(sm_h1h2_stats(t->h));
	peer_init(&t->o, 1, 65535);
	t->raw = 1;
	t->chunk = chunk ? chunk : 1 << 16;
}

static void client(struct tc *t, const char *s)
{
	bytes_add(&t->c2p, s, strlen(s));
}

static void toc_is(const struct tc *t, const char *want)
{
	cr_assert(t->toc.len == strlen(want) && memcmp(t->toc.p, want, t->toc.len) == 0,
	          "client got:\n%.*s\nwant:\n%s", LOGSTR(t->toc), want);
}

static void hdr_is(const struct pstream *ps, const char *want)
{
	cr_assert(ps->hdr.len == strlen(want) && memcmp(ps->hdr.p, want, ps->hdr.len) == 0,
	          "origin got:\n%.*s\nwant:\n%s", LOGSTR(ps->hdr), want);
}

static void log_has(const struct bytes *b, const char *line)
{
	size_t n = strlen(line);
	for (size_t i = 0; i + n <= b->len; i++)
		if (memcmp(b->p + i, line, n) == 0)
			return;
	cr_assert_fail("log lacks \"%s\":\n%.*s", line, LOGSTR(*b));
}

Test(h1h2, get_translated_both_ways)
{
	struct tc t;
	yt_init(&t, 0);
	client(&t, "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\n"
	           "Connection: keep-alive, x-hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n"
	           "TE: trailers, deflate\r\nX-Resp-Size: 10\r\n\r\n");
	tc_pump(&t, 100);
	cr_assert_eq(t.o.n, 1);
	hdr_is(&t.o.st[0], ":method: GET\n:scheme: https\n:authority: example.com\n:path: /a?b=1\n"
	                   "user-agent: t/1\nte: trailers\nx-resp-size: 10\n");
	cr_assert(t.o.st[0].ended);
	uint8_t body[10];
	for (int i = 0; i < 10; i++)
		body[i] = (uint8_t)((i * 31 + 1) & 0xff);
	const char *head = "HTTP/1.1 200 OK\r\nserver: origin\r\ncontent-length: 10\r\n\r\n";
	cr_assert_eq(t.toc.len, strlen(head) + 10);
	cr_assert(memcmp(t.toc.p, head, strlen(head)) == 0, "%.*s", LOGSTR(t.toc));
	cr_assert(memcmp(t.toc.p + strlen(head), body, 10) == 0);
	log_has(&t.log[0], "REQUEST 1 GET https example.com /a?b=1 n=7 f=1\n");
	log_has(&t.log[1], "RESPONSE 1 200 n=3 f=0\nDATA 1 10\nEND 1\n");
	cr_assert_eq(sm_h2_open_streams(t.h), 0);
	cr_assert(!sm_h2_done(t.h, SM_H2_CLIENT)); /* keep-alive */
	tc_free(&t);
}

Test(h1h2, post_content_length_echoed)
{
	struct tc t;
	yt_init(&t, 0);
	client(&t,
	       "POST /p HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\nhello world");
	tc_pump(&t, 100);
	cr_assert_eq(t.o.n, 1);
	hdr_is(&t.o.st[0], ":method: POST\n:scheme: https\n:authority: example.com\n:path: /p\n"
	                   "content-length: 11\n");
	cr_assert_eq(t.o.st[0].body.len, 11);
	toc_is(&t, "HTTP/1.1 200 OK\r\nserver: origin\r\ncontent-length: 11\r\n\r\nhello world");
	log_has(&t.log[0], "DATA 1 11\nEND 1\n");
	tc_free(&t);
}

Test(h1h2, chunked_request_and_trailers_both_ways)
{
	struct tc t;
	yt_init(&t, 0);
	client(&t, "POST /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n"
	           "X-Resp-Trailers: 1\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n"
	           "X-Trl: one\r\n\r\n");
	tc_pump(&t, 100);
	cr_assert_eq(t.o.n, 1);
	hdr_is(&t.o.st[0], ":method: POST\n:scheme: https\n:authority: example.com\n:path: /c\n"
	                   "x-resp-trailers: 1\n--\n");
	cr_assert_eq(t.o.st[0].body.len, 11);
	cr_assert(memcmp(t.o.st[0].body.p, "hello world", 11) == 0);
	cr_assert(t.o.st[0].trl.len == 11 && memcmp(t.o.st[0].trl.p, "x-trl: one\n", 11) == 0,
	          "%.*s", LOGSTR(t.o.st[0].trl));
	/* the origin's trailers make its response chunked toward the client */
	toc_is(&t, "HTTP/1.1 200 OK\r\nserver: origin\r\ntransfer-encoding: chunked\r\n\r\n"
	           "b\r\nhello world\r\n0\r\nx-t: done\r\n\r\n");
	log_has(&t.log[0], "TRAILERS 1 n=1\nEND 1\n");
	log_has(&t.log[1], "TRAILERS 1 n=1\nEND 1\n");
	tc_free(&t);
}

Test(h1h2, http10_client_gets_an_until_close_body)
{
	struct tc t;
	yt_init(&t, 0);
	client(&t, "POST /c HTTP/1.0\r\nContent-Length: 2\r\nX-Resp-Trailers: 1\r\n\r\nhi");
	tc_pump(&t, 100);
	cr_assert_eq(t.o.n, 1);
	hdr_is(&t.o.st[0], ":method: POST\n:scheme: https\n:authority: example.com\n:path: /c\n"
	                   "content-length: 2\nx-resp-trailers: 1\n");
	toc_is(&t, "HTTP/1.1 200 OK\r\nserver: origin\r\nConnection: close\r\n\r\nhi");
	cr_assert_eq(sm_h1h2_stats(t.h)->trailers_dropped, 1);
	cr_assert(sm_h2_done(t.h, SM_H2_CLIENT));
	tc_free(&t);
}

Test(h1h2, streaming_response_is_bounded)
{
	struct tc t;
	yt_init(&t, 4096);
	client(&t, "GET /big HTTP/1.1\r\nHost: example.com\r\nX-Resp-Size: 300000\r\n\r\n");
	size_t peak = 0;
	for (int i = 0; i < 2000 && t.toc.len < 300000; i++) {
		tc_pump(&t, 1);
		if (sm_h2_buffered(t.h) > peak)
			peak = sm_h2_buffered(t.h);
	}
	tc_pump(&t, 100);
	const char *head = "HTTP/1.1 200 OK\r\nserver: origin\r\ncontent-length: 300000\r\n\r\n";
	cr_assert_eq(t.toc.len, strlen(head) + 300000);
	for (size_t i = 0; i < 300000; i++)
		cr_assert_eq(t.toc.p[strlen(head) + i], (uint8_t)((i * 31 + 1) & 0xff));
	cr_assert(peak <= 65535 + 1024, "peak %zu", peak);
	tc_free(&t);
}

Test(h1h2, interim_then_final)
{
	struct tc t;
	yt_init(&t, 0);
	t.o.no_answer = 1;
	client(&t, "GET /i HTTP/1.1\r\nHost: example.com\r\n\r\n");
	tc_pump(&t, 100);
	cr_assert_eq(t.o.n, 1);
	nghttp2_nv h103[2] = {NV(":status", "103"), NV("link", "</s.css>; rel=preload")};
	cr_assert_eq(nghttp2_submit_headers(t.o.s, 0, t.o.st[0].id, NULL, h103, 2, NULL), 0);
	nghttp2_nv h204[1] = {NV(":status", "204")};
	cr_assert_eq(nghttp2_submit_response(t.o.s, t.o.st[0].id, h204, 1, NULL), 0);
	tc_pump(&t, 100);
	toc_is(&t, "HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\n"
	           "HTTP/1.1 204 No Content\r\n\r\n");
	log_has(&t.log[1], "RESPONSE 1 103 n=2 f=2\nRESPONSE 1 204 n=1 f=1\nEND 1\n");
	tc_free(&t);
}

Test(h1h2, pipelined_requests_answered_in_order)
{
	struct tc t;
	yt_init(&t, 0);
	client(&t, "GET /1 HTTP/1.1\r\nHost: example.com\r\nX-Resp-Size: 3\r\n\r\n"
	           "POST /2 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n\r\nabcd"
	           "GET /3 HTTP/1.1\r\nHost: example.com\r\nX-Resp-Size: 0\r\nConnection: "
	           "close\r\n\r\n");
	tc_pump(&t, 200);
	cr_assert_eq(t.o.n, 3);
	cr_assert_eq(t.o.st[0].id, 1);
	cr_assert_eq(t.o.st[1].id, 3);
	cr_assert_eq(t.o.st[2].id, 5);
	const char *h1 = "HTTP/1.1 200 OK\r\nserver: origin\r\ncontent-length: 3\r\n\r\n";
	size_t l1 = strlen(h1);
	cr_assert(t.toc.len > l1 + 3 && memcmp(t.toc.p, h1, l1) == 0, "%.*s", LOGSTR(t.toc));
	const char *rest = "HTTP/1.1 200 OK\r\nserver: origin\r\ncontent-length: 4\r\n\r\nabcd"
	                   "HTTP/1.1 200 OK\r\nserver: origin\r\ncontent-length: 0\r\n"
	                   "Connection: close\r\n\r\n";
	cr_assert(t.toc.len == l1 + 3 + strlen(rest) &&
	                  memcmp(t.toc.p + l1 + 3, rest, strlen(rest)) == 0,
	          "%.*s", LOGSTR(t.toc));
	log_has(&t.log[0], "REQUEST 1 GET");
	log_has(&t.log[0], "REQUEST 2 POST");
	log_has(&t.log[0], "REQUEST 3 GET");
	cr_assert(sm_h2_done(t.h, SM_H2_CLIENT));
	cr_assert(t.o.goaway, "the upstream gets a GOAWAY once the client is done");
	cr_assert(sm_h2_done(t.h, SM_H2_UPSTREAM));
	tc_free(&t);
}

struct bad {
	const char *req;
	unsigned status;
};

static const struct bad bads[] = {
        {"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nContent-Length: "
         "4\r\n\r\nabcd",
         400},
        {"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1, 1\r\n\r\na", 400},
        {"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"GET / HTTP/1.1\r\nHost: example.com\r\nX: a\r\n b\r\n\r\n", 400},
        {"GET / HTTP/1.1\nHost: example.com\n\n", 400},
        {"GET / HTTP/1.1\r\nHost: example.com\r\nX: a\rb\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},
        {"GET http://evil.example/ HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\nHost: example.com\r\n\r\n", 505},
        {"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
};

Test(h1h2, smuggling_shapes_never_reach_upstream)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct tc t;
		yt_init(&t, 0);
		client(&t, bads[i].req);
		tc_pump(&t, 100);
		cr_assert_eq(t.o.n, 0, "case %zu reached the upstream", i);
		char want[32];
		snprintf(want, sizeof(want), "HTTP/1.1 %u ", bads[i].status);
		cr_assert(t.toc.len > strlen(want) && memcmp(t.toc.p, want, strlen(want)) == 0,
		          "case %zu: %.*s", i, LOGSTR(t.toc));
		cr_assert(sm_h2_done(t.h, SM_H2_CLIENT), "case %zu", i);
		cr_assert(sm_h2_done(t.h, SM_H2_UPSTREAM), "case %zu", i);
		cr_assert_eq(sm_h2_open_streams(t.h), 0);
		tc_free(&t);
	}
}

Test(h1h2, bad_chunk_after_head_resets_the_stream)
{
	struct tc t;
	yt_init(&t, 0);
	t.o.no_answer = 1;
	client(&t, "POST /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
	           "3\r\nabc\r\n");
	tc_pump(&t, 100);
	client(&t, "zz\r\n");
	tc_pump(&t, 100);
	cr_assert_eq(t.o.n, 1);
	cr_assert(t.o.st[0].rst && t.o.st[0].rst_code == NGHTTP2_CANCEL);
	cr_assert(!t.o.st[0].ended, "the upstream never saw a complete message");
	cr_assert(t.toc.len > 13 && memcmp(t.toc.p, "HTTP/1.1 400 ", 13) == 0, "%.*s",
	          LOGSTR(t.toc));
	log_has(&t.log[0], "RESET 1 who=2 code=8 reason=client_http1\n");
	tc_free(&t);
}

/* RFC 9110 §6.5.1: a framing field in the request's trailers refuses the
 * request (HTTP/1.1's rule, proto/h1frame): the stream is reset before
 * it ends, the client gets a 400. */
Test(h1h2, forbidden_trailer_field_resets_the_stream)
{
	struct tc t;
	yt_init(&t, 0);
	t.o.no_answer = 1;
	client(&t, "POST /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
	           "3\r\nabc\r\n0\r\nX-Trl: one\r\nContent-Length: 3\r\n\r\n");
	tc_pump(&t, 100);
	cr_assert_eq(t.o.n, 1);
	cr_assert(t.o.st[0].rst && t.o.st[0].rst_code == NGHTTP2_CANCEL);
	cr_assert(!t.o.st[0].ended, "the upstream never saw a complete message");
	cr_assert_eq(t.o.st[0].trl.len, 0);
	cr_assert(t.toc.len > 13 && memcmp(t.toc.p, "HTTP/1.1 400 ", 13) == 0, "%.*s",
	          LOGSTR(t.toc));
	tc_free(&t);
}

Test(h1h2, upstream_reset_before_head_gives_502)
{
	struct tc t;
	yt_init(&t, 0);
	t.o.no_answer = 1;
	client(&t, "GET /r HTTP/1.1\r\nHost: example.com\r\n\r\n");
	tc_pump(&t, 100);
	cr_assert_eq(t.o.n, 1);
	cr_assert_eq(nghttp2_submit_rst_stream(t.o.s, 0, t.o.st[0].id, NGHTTP2_INTERNAL_ERROR), 0);
	tc_pump(&t, 100);
	toc_is(&t, "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 16\r\n"
	           "\r\n502 Bad Gateway\n");
	log_has(&t.log[1], "RESET 1 who=1 code=2");
	cr_assert(!sm_h2_done(t.h, SM_H2_CLIENT), "a stream reset keeps the connection");
	/* the next request is served */
	t.o.no_answer = 0;
	client(&t, "GET /n HTTP/1.1\r\nHost: example.com\r\nX-Resp-Size: 1\r\n\r\n");
	tc_pump(&t, 100);
	cr_assert_eq(t.o.n, 2);
	cr_assert_eq(sm_h1h2_stats(t.h)->bad_gateway, 1);
	cr_assert_eq(sm_h2_open_streams(t.h), 0);
	tc_free(&t);
}

static uint8_t slow_src[100];

Test(h1h2, upstream_reset_after_head_closes_the_client)
{
	struct tc t;
	yt_init(&t, 0);
	t.o.no_answer = 1;
	client(&t, "GET /r HTTP/1.1\r\nHost: example.com\r\n\r\n");
	tc_pump(&t, 100);
	int32_t id = t.o.st[0].id;
	struct pstream *ps = &t.o.st[0];
	memset(slow_src, 'x', sizeof(slow_src));
	ps->src = slow_src;
	ps->srclen = sizeof(slow_src);
	ps->chunked_src = 1;
	ps->src_avail = 40;
	nghttp2_nv nv[1] = {NV(":status", "200")};
	nghttp2_data_provider prd = {.read_callback = peer_read};
	cr_assert_eq(nghttp2_submit_response(t.o.s, id, nv, 1, &prd), 0);
	tc_pump(&t, 100);
	const char *head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n28\r\n";
	cr_assert(t.toc.len >= strlen(head) + 40 && memcmp(t.toc.p, head, strlen(head)) == 0,
	          "%.*s", LOGSTR(t.toc));
	cr_assert(!sm_h2_done(t.h, SM_H2_CLIENT));
	cr_assert_eq(nghttp2_submit_rst_stream(t.o.s, 0, id, NGHTTP2_INTERNAL_ERROR), 0);
	size_t before = t.toc.len;
	tc_pump(&t, 100);
	cr_assert_eq(t.toc.len, before, "no terminating chunk: the message stays incomplete");
	cr_assert(sm_h2_done(t.h, SM_H2_CLIENT));
	cr_assert_eq(sm_h1h2_stats(t.h)->client_aborted, 1);
	tc_free(&t);
}

Test(h1h2, upstream_length_lie_never_completes)
{
	struct tc t;
	yt_init(&t, 0);
	client(&t, "GET /l HTTP/1.1\r\nHost: example.com\r\nX-Resp-Size: 5\r\nX-Lie-Cl: 3\r\n\r\n");
	tc_pump(&t, 100);
	const char *head = "HTTP/1.1 200 OK\r\nserver: origin\r\ncontent-length: 8\r\n\r\n";
	cr_assert(t.toc.len <= strlen(head) + 5 && memcmp(t.toc.p, head, strlen(head)) == 0, "%.*s",
	          LOGSTR(t.toc));
	cr_assert(sm_h2_done(t.h, SM_H2_CLIENT), "cut: the client sees 8 announced, fewer sent");
	tc_free(&t);
}

Test(h1h2, upstream_goaway_refuses_then_closes)
{
	struct tc t;
	yt_init(&t, 0);
	client(&t, "GET /1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
	tc_pump(&t, 100);
	cr_assert_eq(nghttp2_submit_goaway(t.o.s, 0, 1, NGHTTP2_NO_ERROR, NULL, 0), 0);
	tc_pump(&t, 100);
	cr_assert(sm_h2_done(t.h, SM_H2_CLIENT), "no stream can be opened any more");
	log_has(&t.log[1], "GOAWAY who=1 code=0 last=1\n");
	tc_free(&t);
}

Test(h1h2, upstream_eof_before_head_gives_502_and_close)
{
	struct tc t;
	yt_init(&t, 0);
	t.o.no_answer = 1;
	client(&t, "GET /r HTTP/1.1\r\nHost: example.com\r\n\r\n");
	tc_pump(&t, 100);
	sm_h2_eof(t.h, SM_H2_UPSTREAM);
	tc_pump(&t, 100);
	toc_is(&t, "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 16\r\n"
	           "Connection: close\r\n\r\n502 Bad Gateway\n");
	cr_assert(sm_h2_done(t.h, SM_H2_CLIENT));
	tc_free(&t);
}

Test(h1h2, client_eof_mid_upload_cancels)
{
	struct tc t;
	yt_init(&t, 0);
	t.o.no_answer = 1;
	client(&t, "POST /u HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\nabc");
	tc_pump(&t, 100);
	sm_h2_eof(t.h, SM_H2_CLIENT);
	tc_pump(&t, 100);
	cr_assert(t.o.st[0].rst && t.o.st[0].rst_code == NGHTTP2_CANCEL);
	cr_assert(!t.o.st[0].ended);
	cr_assert(t.o.goaway);
	cr_assert_eq(sm_h2_open_streams(t.h), 0);
	cr_assert(sm_h2_done(t.h, SM_H2_CLIENT) && sm_h2_done(t.h, SM_H2_UPSTREAM));
	tc_free(&t);
}

/* Every split of the client bytes: the same events, the same bytes at both
 * ends. */
static const char split_req[] =
        "GET /1 HTTP/1.1\r\nHost: example.com\r\nX-Resp-Size: 5\r\n\r\n"
        "POST /2 HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n"
        "X-Resp-Trailers: 1\r\n\r\n3;a=b\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n"
        "PUT /3 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\nxy";

static void run_split(size_t k, struct bytes *toc, struct bytes *origin, struct bytes *log)
{
	struct tc t;
	yt_init(&t, (unsigned)k);
	client(&t, split_req);
	tc_pump(&t, 5000);
	bytes_add(toc, t.toc.p, t.toc.len);
	for (int i = 0; i < t.o.n; i++) {
		bytes_add(origin, t.o.st[i].hdr.p, t.o.st[i].hdr.len);
		bytes_add(origin, t.o.st[i].body.p, t.o.st[i].body.len);
		bytes_add(origin, t.o.st[i].trl.p, t.o.st[i].trl.len);
	}
	bytes_add(log, t.log[0].p, t.log[0].len);
	bytes_add(log, t.log[1].p, t.log[1].len);
	cr_assert_eq(sm_h2_open_streams(t.h), 0, "k=%zu", k);
	tc_free(&t);
}

Test(h1h2, every_split_same_events_and_bytes)
{
	struct bytes t0 = {0}, o0 = {0}, l0 = {0};
	run_split(1 << 16, &t0, &o0, &l0);
	cr_assert(t0.len > 0 && o0.len > 0);
	for (size_t k = 1; k <= sizeof(split_req); k++) {
		struct bytes t1 = {0}, o1 = {0}, l1 = {0};
		run_split(k, &t1, &o1, &l1);
		cr_assert(t1.len == t0.len && memcmp(t1.p, t0.p, t0.len) == 0,
		          "k=%zu client bytes differ:\n%.*s", k, LOGSTR(t1));
		cr_assert(o1.len == o0.len && memcmp(o1.p, o0.p, o0.len) == 0, "k=%zu origin", k);
		free(t1.p);
		free(o1.p);
		free(l1.p);
	}
	free(t0.p);
	free(o0.p);
	free(l0.p);
}

/* The client bytes cut in two at every byte boundary, the proxy driven to
 * rest between the pieces: the same bytes at both ends. */
static void run_cut(size_t cut, struct bytes *toc, struct bytes *origin)
{
	struct tc t;
	yt_init(&t, 0);
	bytes_add(&t.c2p, split_req, cut);
	tc_pump(&t, 500);
	bytes_add(&t.c2p, split_req + cut, sizeof(split_req) - 1 - cut);
	tc_pump(&t, 500);
	bytes_add(toc, t.toc.p, t.toc.len);
	for (int i = 0; i < t.o.n; i++) {
		bytes_add(origin, t.o.st[i].hdr.p, t.o.st[i].hdr.len);
		bytes_add(origin, t.o.st[i].body.p, t.o.st[i].body.len);
		bytes_add(origin, t.o.st[i].trl.p, t.o.st[i].trl.len);
	}
	cr_assert_eq(sm_h2_open_streams(t.h), 0, "cut=%zu", cut);
	tc_free(&t);
}

Test(h1h2, every_cut_same_bytes)
{
	struct bytes t0 = {0}, o0 = {0}, l0 = {0};
	run_split(1 << 16, &t0, &o0, &l0);
	for (size_t cut = 0; cut < sizeof(split_req); cut++) {
		struct bytes t1 = {0}, o1 = {0};
		run_cut(cut, &t1, &o1);
		cr_assert(t1.len == t0.len && memcmp(t1.p, t0.p, t0.len) == 0,
		          "cut=%zu client bytes differ:\n%.*s", cut, LOGSTR(t1));
		cr_assert(o1.len == o0.len && memcmp(o1.p, o0.p, o0.len) == 0, "cut=%zu origin",
		          cut);
		free(t1.p);
		free(o1.p);
	}
	free(t0.p);
	free(o0.p);
	free(l0.p);
}

/* Keep-alive with big responses, both framings, in seeded random pieces:
 * each response arrives whole and in order. */
Test(h1h2, random_pieces_keep_alive)
{
	for (unsigned seed = 1; seed <= 40; seed++) {
		struct tc t;
		yt_init(&t, 3000);
		t.rng = seed;
		client(&t, "GET /1 HTTP/1.1\r\nHost: example.com\r\nX-Resp-Size: 100000\r\n\r\n");
		tc_pump(&t, 5000);
		const char *h1 =
		        "HTTP/1.1 200 OK\r\nserver: origin\r\ncontent-length: 100000\r\n\r\n";
		size_t l1 = strlen(h1);
		cr_assert(t.toc.len == l1 + 100000 && memcmp(t.toc.p, h1, l1) == 0, "seed %u: %zu",
		          seed, t.toc.len);
		client(&t, "GET /2 HTTP/1.1\r\nHost: example.com\r\nX-Resp-Size: 70000\r\n"
		           "X-Resp-Trailers: 1\r\n\r\n");
		tc_pump(&t, 5000);
		const char *h2 =
		        "HTTP/1.1 200 OK\r\nserver: origin\r\ntransfer-encoding: chunked\r\n\r\n";
		cr_assert(t.toc.len > l1 + 100000 + strlen(h2) &&
		                  memcmp(t.toc.p + l1 + 100000, h2, strlen(h2)) == 0,
		          "seed %u: %.*s", seed,
		          (int)(t.toc.len - l1 - 100000 > 200 ? 200 : t.toc.len - l1 - 100000),
		          (const char *)t.toc.p + l1 + 100000);
		const char *end = "0\r\nx-t: done\r\n\r\n";
		cr_assert(memcmp(t.toc.p + t.toc.len - strlen(end), end, strlen(end)) == 0,
		          "seed %u", seed);
		cr_assert_eq(sm_h2_open_streams(t.h), 0);
		tc_free(&t);
	}
}

Test(h1h2, memory_released)
{
	struct tc t;
	yt_init(&t, 0);
	client(&t, "POST /p HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello");
	tc_pump(&t, 100);
	cr_assert_eq(sm_h2_buffered(t.h), 0);
	cr_assert(sm_h2_mem_used(t.h) > 0);
	cr_assert_eq(sm_h2_stats(t.h)->requests, 1);
	cr_assert_eq(sm_h2_stats(t.h)->responses, 1);
	tc_free(&t);
}
