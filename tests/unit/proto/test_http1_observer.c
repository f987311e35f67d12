/* proto/http1 observer: what the decode pipeline will see. Each case is a
 * client byte stream, an upstream byte stream (optionally closed), and the
 * expected observer log; every case is replayed whole, split at every byte
 * boundary of either stream, in 200 seeded random splits, and through tiny
 * outputs, and must give the same forwarded bytes, events and observer log;
 * the forwarded bytes and events must equal a run without observer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "proto/http1.h"

#define BIG (1 << 15)

struct run {
	struct sm_h1 *h;
	void *mem;
	size_t cap;
	uint8_t up[BIG], down[BIG];
	size_t up_len, down_len;
	char ev[BIG], obs[BIG];
	size_t ev_len, obs_len;
	uint8_t pay[2][BIG]; /* payload of the open message per direction */
	size_t pay_len[2];
	int open[2];
	long cerr, serr;
};

static void put(char *buf, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *buf, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *len, BIG - *len, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < BIG - *len);
	*len += (size_t)n;
}

/* ---- observer: checks order, logs heads, whole payloads, ends ---- */

static void o_head(void *ctx, int dir, const struct sm_h1_event *ev)
{
	struct run *r = ctx;
	cr_assert(dir == 0 || dir == 1);
	cr_assert(!r->open[dir], "head while a message is open");
	cr_assert_eq(ev->type == SM_H1_EV_REQUEST, dir == 0);
	r->open[dir] = 1;
	r->pay_len[dir] = 0;
	const uint8_t *v = NULL;
	size_t vl = 0;
	/* mixed case on purpose: the lookup is case-insensitive */
	if (!sm_h1_header_find(r->h, dir, "Content-TYPE", &v, &vl))
		vl = 0;
	put(r->obs, &r->obs_len, "H%d t=%u s=%u f=%x cl=%llu ct=%.*s\n", dir, ev->type, ev->status,
	    ev->flags, (unsigned long long)ev->body_bytes, (int)vl, (const char *)v);
}

static void o_body(void *ctx, int dir, const uint8_t *p, size_t n)
{
	struct run *r = ctx;
	cr_assert(r->open[dir], "body outside a message");
	cr_assert(n > 0);
	cr_assert(r->pay_len[dir] + n <= BIG);
	memcpy(r->pay[dir] + r->pay_len[dir], p, n);
	r->pay_len[dir] += n;
}

static void o_end(void *ctx, int dir, int complete)
{
	struct run *r = ctx;
	cr_assert(r->open[dir], "end outside a message");
	r->open[dir] = 0;
	put(r->obs, &r->obs_len, "B%d %zu [%.*s]\nE%d %d\n", dir, r->pay_len[dir],
	    (int)r->pay_len[dir], (const char *)r->pay[dir], dir, complete);
}

static const struct sm_h1_observer observer = {o_head, o_body, o_end};

/* ---- driving ---- */

static void pop(struct run *r)
{
	struct sm_h1_event ev;
	while (sm_h1_next_event(r->h, &ev))
		put(r->ev, &r->ev_len, "%u s=%u r=%u f=%x b=%llu\n", ev.type, ev.status, ev.reason,
		    ev.flags, (unsigned long long)ev.body_bytes);
}

/* Feeds in[0..len) revealed up to each cut in turn (cuts ascending). */
static void feed(struct run *r, int server, const uint8_t *in, size_t len, const size_t *cuts,
                 size_t ncuts)
{
	size_t pos = 0, have = 0, ci = 0;
	for (int guard = 0; guard < 200000; guard++) {
		while (have == pos && have < len) { /* reveal up to the next cut past pos */
			have = ci < ncuts ? cuts[ci++] : len;
			if (have > len)
				have = len;
			if (have < pos)
				have = pos;
		}
		uint8_t ob[BIG];
		struct sm_h1_out o = {ob, r->cap, 0};
		long n = server ? sm_h1_server_feed(r->h, in + pos, have - pos, &o)
		                : sm_h1_client_feed(r->h, in + pos, have - pos, &o);
		cr_assert(o.len <= r->cap);
		uint8_t *acc = server ? r->down : r->up;
		size_t *al = server ? &r->down_len : &r->up_len;
		cr_assert(*al + o.len <= BIG);
		memcpy(acc + *al, ob, o.len);
		*al += o.len;
		pop(r);
		if (n < 0) {
			*(server ? &r->serr : &r->cerr) = n;
			return;
		}
		pos += (size_t)n;
		if (!server && sm_h1_client_wait(r->h) == SM_H1_WAIT_HELD) {
			if (sm_h1_release(r->h) != SM_OK)
				return;
			continue;
		}
		if (n == 0 && o.len == 0) {
			if (have == len)
				return;
			have = pos; /* stuck on this piece: reveal the next */
		}
	}
	cr_assert_fail("no progress");
}

struct kase {
	const char *name;
	const char *client, *server;
	int server_eof;
	const char *want; /* observer log */
};

static void run_case(struct run *r, const struct kase *k, int observe, size_t cap,
                     const size_t *ccuts, size_t nc, const size_t *scuts, size_t ns)
{
	size_t fp = sm_h1_footprint(NULL);
	void *mem = r->mem;
	memset(r, 0, sizeof(*r));
	r->mem = mem;
	r->h = sm_h1_init(r->mem, fp, NULL);
	cr_assert(r->h);
	r->cap = cap;
	if (observe)
		sm_h1_set_observer(r->h, &observer, r);
	feed(r, 0, (const uint8_t *)k->client, strlen(k->client), ccuts, nc);
	feed(r, 1, (const uint8_t *)k->server, strlen(k->server), scuts, ns);
	if (k->server_eof && r->serr == 0) {
		uint8_t ob[BIG];
		struct sm_h1_out o = {ob, r->cap, 0};
		int e;
		for (int i = 0; i < 100000; i++) {
			e = sm_h1_server_eof(r->h, &o);
			memcpy(r->down + r->down_len, ob, o.len);
			r->down_len += o.len;
			o.len = 0;
			pop(r);
			if (e != SM_AGAIN)
				break;
		}
	}
	/* a response may have let more requests go */
	feed(r, 0, (const uint8_t *)"", 0, NULL, 0);
	sm_h1_client_eof(r->h);
	pop(r);
}

static struct run *ref, *cur;

static void same(const struct kase *k, const char *how)
{
	cr_assert_eq(cur->up_len, ref->up_len, "%s %s: up", k->name, how);
	cr_assert(memcmp(cur->up, ref->up, ref->up_len) == 0, "%s %s: up", k->name, how);
	cr_assert_eq(cur->down_len, ref->down_len, "%s %s: down", k->name, how);
	cr_assert(memcmp(cur->down, ref->down, ref->down_len) == 0, "%s %s: down", k->name, how);
	cur->ev[cur->ev_len] = ref->ev[ref->ev_len] = 0;
	cr_assert_str_eq(cur->ev, ref->ev, "%s %s: events", k->name, how);
}

static uint32_t rng;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

static void random_cuts(size_t len, size_t *cuts, size_t *n)
{
	*n = len ? rnd() % 6 : 0;
	for (size_t i = 0; i < *n; i++)
		cuts[i] = rnd() % (len + 1);
	qsort(cuts, *n, sizeof(cuts[0]), cmp_size);
}

static void check_case(const struct kase *k)
{
	size_t fp = sm_h1_footprint(NULL);
	ref = calloc(1, sizeof(*ref));
	cur = calloc(1, sizeof(*cur));
	cr_assert(ref && cur);
	ref->mem = aligned_alloc(64, (fp + 63) & ~(size_t)63);
	cur->mem = aligned_alloc(64, (fp + 63) & ~(size_t)63);
	cr_assert(ref->mem && cur->mem);

	run_case(ref, k, 1, BIG, NULL, 0, NULL, 0);
	ref->obs[ref->obs_len] = 0;
	cr_expect_str_eq(ref->obs, k->want, "%s: observer log\ngot:\n%s\nwant:\n%s", k->name,
	                 ref->obs, k->want);
	cr_assert(!ref->open[0] && !ref->open[1], "%s: a message left open", k->name);

	/* no observer: the same bytes and events */
	run_case(cur, k, 0, BIG, NULL, 0, NULL, 0);
	same(k, "unobserved");
	cr_assert_eq(cur->obs_len, 0);

	size_t clen = strlen(k->client), slen = strlen(k->server);
	for (size_t i = 0; i <= clen + slen; i++) {
		size_t c = i <= clen ? i : 0, s = i > clen ? i - clen : 0;
		run_case(cur, k, 1, BIG, &c, i <= clen, &s, i > clen);
		same(k, "byte split");
		cur->obs[cur->obs_len] = 0;
		cr_assert_str_eq(cur->obs, ref->obs, "%s: split at %zu", k->name, i);
	}
	rng = 0x9e3779b9u;
	for (int i = 0; i < 200; i++) {
		size_t cc[8], sc[8], nc, ns;
		random_cuts(clen, cc, &nc);
		random_cuts(slen, sc, &ns);
		size_t cap = i % 3 == 0 ? 1 + rnd() % 7 : BIG;
		run_case(cur, k, 1, cap, cc, nc, sc, ns);
		same(k, "random split");
		cur->obs[cur->obs_len] = 0;
		cr_assert_str_eq(cur->obs, ref->obs, "%s: random split %d", k->name, i);
	}
	for (size_t cap = 1; cap <= 4; cap++) {
		run_case(cur, k, 1, cap, NULL, 0, NULL, 0);
		same(k, "tiny output");
		cur->obs[cur->obs_len] = 0;
		cr_assert_str_eq(cur->obs, ref->obs, "%s: output cap %zu", k->name, cap);
	}
	free(ref->mem);
	free(cur->mem);
	free(ref);
	free(cur);
}

/* Flags in the log: 6 = HELD|SWITCH (first request), 400 DECHUNKED,
 * 800 UNTIL_CLOSE, 1000 NO_BODY, 200 HEAD, 8 CLOSE_CLIENT, 10
 * CLOSE_UPSTREAM, 1 CONNECT. Types: 1 REQUEST, 3 RESPONSE, 5 UPGRADE. */
static const struct kase cases[] = {
        {"content_length",
         "POST http://a.test/x HTTP/1.1\r\nHost: a.test\r\ncontent-type: text/plain\r\n"
         "Content-Length: 5\r\n\r\nhello",
         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
         "{\"a\":1}",
         0,
         "H0 t=1 s=0 f=6 cl=5 ct=text/plain\nB0 5 [hello]\nE0 1\n"
         "H1 t=3 s=200 f=0 cl=7 ct=application/json\nB1 7 [{\"a\":1}]\nE1 1\n"},
        {"chunked_ext_trailers",
         "POST http://a.test/up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5;ext=1\r\nhello\r\n6;a;b=\"c\"\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n"
         "\r\n3\r\nabc\r\nA;x\r\n0123456789\r\n1\r\n\n\r\n0\r\nT: v\r\nU: w\r\n\r\n",
         0,
         "H0 t=1 s=0 f=406 cl=0 ct=\nB0 11 [hello world]\nE0 1\n"
         "H1 t=3 s=200 f=400 cl=0 ct=text/event-stream\nB1 14 [abc0123456789\n]\nE1 1\n"},
        {"close_delimited", "GET http://a.test/sse HTTP/1.1\r\nHost: a.test\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\ndata: 2\n\n", 1,
         "H0 t=1 s=0 f=1006 cl=0 ct=\nB0 0 []\nE0 1\n"
         "H1 t=3 s=200 f=818 cl=0 ct=text/event-stream\nB1 18 [data: 1\n\ndata: 2\n\n]\nE1 1\n"},
        {"no_body_responses",
         "HEAD http://a.test/1 HTTP/1.1\r\nHost: a.test\r\n\r\n"
         "GET http://a.test/2 HTTP/1.1\r\nHost: a.test\r\n\r\n"
         "GET http://a.test/3 HTTP/1.1\r\nHost: a.test\r\n\r\n"
         "GET http://a.test/4 HTTP/1.1\r\nHost: a.test\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Type: text/html\r\n\r\n"
         "HTTP/1.1 204 No Content\r\n\r\n"
         "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
         0,
         "H0 t=1 s=0 f=1206 cl=0 ct=\nB0 0 []\nE0 1\n"
         "H0 t=1 s=0 f=1000 cl=0 ct=\nB0 0 []\nE0 1\n"
         "H0 t=1 s=0 f=1000 cl=0 ct=\nB0 0 []\nE0 1\n"
         "H0 t=1 s=0 f=1000 cl=0 ct=\nB0 0 []\nE0 1\n"
         "H1 t=3 s=200 f=1000 cl=0 ct=text/html\nB1 0 []\nE1 1\n"
         "H1 t=3 s=204 f=1000 cl=0 ct=\nB1 0 []\nE1 1\n"
         "H1 t=3 s=304 f=1000 cl=0 ct=\nB1 0 []\nE1 1\n"
         "H1 t=3 s=200 f=0 cl=2 ct=\nB1 2 [ok]\nE1 1\n"},
        {"pipelined_mixed",
         "GET http://a.test/a HTTP/1.1\r\nHost: a.test\r\n\r\n"
         "POST http://a.test/b HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nxyz"
         "POST http://a.test/c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
         "2\r\nqq\r\n0\r\n\r\n"
         "PUT http://a.test/d HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n1234"
         "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
         "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"
         "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         0,
         "H0 t=1 s=0 f=1006 cl=0 ct=\nB0 0 []\nE0 1\n"
         "H0 t=1 s=0 f=0 cl=3 ct=\nB0 3 [xyz]\nE0 1\n"
         "H0 t=1 s=0 f=400 cl=0 ct=\nB0 2 [qq]\nE0 1\n"
         "H0 t=1 s=0 f=1000 cl=0 ct=\nB0 0 []\nE0 1\n"
         "H1 t=3 s=200 f=0 cl=4 ct=\nB1 4 [1234]\nE1 1\n"
         "H1 t=3 s=201 f=400 cl=0 ct=\nB1 7 [abcdefg]\nE1 1\n"
         "H1 t=3 s=200 f=1000 cl=0 ct=\nB1 0 []\nE1 1\n"
         "H1 t=3 s=200 f=400 cl=0 ct=\nB1 0 []\nE1 1\n"},
        {"interim_not_reported",
         "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2\r\n\r\nhi",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
         "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes",
         0,
         "H0 t=1 s=0 f=6 cl=2 ct=\nB0 2 [hi]\nE0 1\n"
         "H1 t=3 s=200 f=0 cl=3 ct=\nB1 3 [yes]\nE1 1\n"},
        {"response_cut", "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", 1,
         "H0 t=1 s=0 f=1006 cl=0 ct=\nB0 0 []\nE0 1\n"
         "H1 t=3 s=200 f=0 cl=10 ct=\nB1 4 [abcd]\nE1 0\n"},
        {"chunked_response_cut", "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n8\r\nwor", 1,
         "H0 t=1 s=0 f=1006 cl=0 ct=\nB0 0 []\nE0 1\n"
         "H1 t=3 s=200 f=400 cl=0 ct=\nB1 8 [hellowor]\nE1 0\n"},
        {"request_framing_error",
         "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\n2\r\nxyZZ\r\n",
         "", 0, "H0 t=1 s=0 f=406 cl=0 ct=\nB0 5 [abcxy]\nE0 0\n"},
        {"request_body_cut_by_upstream",
         "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 10\r\n\r\n12345",
         "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", 1,
         "H0 t=1 s=0 f=6 cl=10 ct=\nH1 t=3 s=200 f=0 cl=10 ct=\nB1 2 [ab]\nE1 0\n"
         "B0 5 [12345]\nE0 0\n"},
        {"bad_second_request",
         "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\nGET http://a.test/ HTTP/1.1\r\n"
         "Host: a.test\r\nBad Name: x\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!", 0,
         "H0 t=1 s=0 f=1006 cl=0 ct=\nB0 0 []\nE0 1\n"
         "H1 t=3 s=200 f=0 cl=1 ct=\nB1 1 [!]\nE1 1\n"},
        {"http10_length", "POST http://a.test/ HTTP/1.0\r\nContent-Length: 4\r\n\r\nbody",
         "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", 1,
         "H0 t=1 s=0 f=e cl=4 ct=\nB0 4 [body]\nE0 1\n"
         "H1 t=3 s=200 f=818 cl=0 ct=text/plain\nB1 9 [all of it]\nE1 1\n"},
        {"request_cut_by_client_eof",
         "PUT http://a.test/f HTTP/1.1\r\nHost: a.test\r\nContent-Type: image/png\r\n"
         "Content-Length: 10\r\n\r\n\x89PNG\r",
         "", 0, "H0 t=1 s=0 f=6 cl=10 ct=image/png\nB0 5 [\x89PNG\r]\nE0 0\n"},
        {"connect", "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n\x16\x03\x01tunnel", "",
         0, "H0 t=1 s=0 f=1001 cl=0 ct=\nB0 0 []\nE0 1\n"},
        {"upgrade_101", "GET http://a.test/ws HTTP/1.1\r\nHost: a.test\r\n\r\n",
         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
         "\x81\x02hi",
         0,
         "H0 t=1 s=0 f=1006 cl=0 ct=\nB0 0 []\nE0 1\n"
         "H1 t=5 s=101 f=1000 cl=0 ct=\nB1 0 []\nE1 1\n"},
};

static void check_named(const char *name)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(cases[i].name, name) == 0) {
			check_case(&cases[i]);
			return;
		}
	cr_assert_fail("no case %s", name);
}

#define CASE(n)                                                                                    \
	Test(h1obs, n)                                                                             \
	{                                                                                          \
		check_named(#n);                                                                   \
	}
CASE(content_length)
CASE(chunked_ext_trailers)
CASE(close_delimited)
CASE(no_body_responses)
CASE(pipelined_mixed)
CASE(interim_not_reported)
CASE(response_cut)
CASE(chunked_response_cut)
CASE(request_framing_error)
CASE(request_body_cut_by_upstream)
CASE(bad_second_request)
CASE(http10_length)
CASE(request_cut_by_client_eof)
CASE(connect)
CASE(upgrade_101)

/* header_find: first match, case-insensitive both ways, exact name length. */
Test(h1obs, header_find)
{
	size_t fp = sm_h1_footprint(NULL);
	void *mem = aligned_alloc(64, (fp + 63) & ~(size_t)63);
	struct sm_h1 *h = sm_h1_init(mem, fp, NULL);
	cr_assert(h);
	const char *req = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX-A: one\r\n"
	                  "x-a:   two  \r\nX-AB: three\r\nEmpty:\r\n\r\n";
	uint8_t ob[512];
	struct sm_h1_out o = {ob, sizeof(ob), 0};
	cr_assert_eq(sm_h1_client_feed(h, (const uint8_t *)req, strlen(req), &o),
	             (long)strlen(req));
	const uint8_t *v;
	size_t vl;
	cr_assert_eq(sm_h1_header_find(h, 0, "x-a", &v, &vl), 1);
	cr_expect(vl == 3 && memcmp(v, "one", 3) == 0);
	cr_assert_eq(sm_h1_header_find(h, 0, "X-Ab", &v, &vl), 1);
	cr_expect(vl == 5 && memcmp(v, "three", 5) == 0);
	cr_assert_eq(sm_h1_header_find(h, 0, "empty", &v, &vl), 1);
	cr_expect_eq(vl, 0);
	cr_expect_eq(sm_h1_header_find(h, 0, "x-", &v, &vl), 0);
	cr_expect_eq(sm_h1_header_find(h, 0, "x-abc", &v, &vl), 0);
	cr_expect_eq(sm_h1_header_find(h, 0, "", &v, &vl), 0);
	cr_expect_eq(sm_h1_header_find(h, 1, "x-a", &v, &vl), 0); /* no response yet */
	free(mem);
}

/* The observer may be set with NULL callbacks: nothing is called, nothing
 * changes; and setting NULL removes it. */
Test(h1obs, null_callbacks)
{
	static const struct sm_h1_observer none = {NULL, NULL, NULL};
	size_t fp = sm_h1_footprint(NULL);
	void *mem = aligned_alloc(64, (fp + 63) & ~(size_t)63);
	struct sm_h1 *h = sm_h1_init(mem, fp, NULL);
	cr_assert(h);
	sm_h1_set_observer(h, &none, NULL);
	const char *req = "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2\r\n"
	                  "\r\nhi";
	const char *want = "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2\r\n\r\nhi";
	uint8_t ob[512];
	struct sm_h1_out o = {ob, sizeof(ob), 0};
	long n = sm_h1_client_feed(h, (const uint8_t *)req, strlen(req), &o);
	cr_assert_eq(sm_h1_client_wait(h), SM_H1_WAIT_HELD);
	cr_assert_eq(sm_h1_release(h), SM_OK);
	n += sm_h1_client_feed(h, (const uint8_t *)req + n, strlen(req) - (size_t)n, &o);
	cr_assert_eq(n, (long)strlen(req));
	cr_assert_eq(o.len, strlen(want));
	cr_assert(memcmp(ob, want, o.len) == 0);
	free(mem);
}

static int heads;
static void count_head(void *ctx, int dir, const struct sm_h1_event *ev)
{
	heads++;
	cr_assert_eq(dir, 0);
	cr_assert(ev->flags & SM_H1_F_HELD); /* the event as queued */
}

/* A HELD request is reported only once released and its head written. */
Test(h1obs, head_after_release)
{
	static const struct sm_h1_observer o = {count_head, NULL, NULL};
	struct sm_h1_limits lim = {.hold_every_request = 1};
	size_t fp = sm_h1_footprint(&lim);
	void *mem = aligned_alloc(64, (fp + 63) & ~(size_t)63);
	struct sm_h1 *h = sm_h1_init(mem, fp, &lim);
	cr_assert(h);
	sm_h1_set_observer(h, &o, NULL);
	const char *req = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n";
	uint8_t ob[512];
	struct sm_h1_out out = {ob, sizeof(ob), 0};
	heads = 0;
	cr_assert_eq(sm_h1_client_feed(h, (const uint8_t *)req, strlen(req), &out),
	             (long)strlen(req));
	cr_assert_eq(sm_h1_client_wait(h), SM_H1_WAIT_HELD);
	cr_assert_eq(sm_h1_client_feed(h, NULL, 0, &out), 0);
	cr_expect_eq(heads, 0);
	cr_expect_eq(out.len, 0);
	cr_assert_eq(sm_h1_release(h), SM_OK);
	out.cap = 10; /* the head does not fit: not reported yet */
	cr_assert_eq(sm_h1_client_feed(h, NULL, 0, &out), 0);
	cr_expect_eq(heads, 0);
	out.cap = sizeof(ob);
	cr_assert_eq(sm_h1_client_feed(h, NULL, 0, &out), 0);
	cr_expect_eq(heads, 1);
	cr_expect_gt(out.len, 10);
	free(mem);
}

/* ---- the consumer: an observer feeding observe/pipeline ---- */

#include "observe/pipeline.h"

struct wiring {
	struct sm_h1 *h;
	struct sm_pipe *pipe[2];
	char log[4096];
	size_t log_len;
};

static void pipe_ev(void *ctx, const struct sm_pipe_event *ev)
{
	struct wiring *w = ctx;
	if (ev->type != SM_PIPE_EV_PAYLOAD) {
		put(w->log, &w->log_len, "error %s\n", ev->reason);
		return;
	}
	put(w->log, &w->log_len, "%s unit=%llu label=%.*s [%.*s]\n", sm_pipe_kind_str(ev->kind),
	    (unsigned long long)ev->unit, (int)ev->label_len, ev->label, (int)ev->excerpt_len,
	    (const char *)ev->excerpt);
}

static void w_head(void *ctx, int dir, const struct sm_h1_event *ev)
{
	struct wiring *w = ctx;
	struct sm_pipe_config cfg = {
	        .content = {.max_input = 1 << 16, .max_output = 1 << 16},
	        .msgpack = {.max_depth = 32, .max_elements = 1000, .max_output = 4096},
	        .max_unit = 4096,
	        .excerpt = 64,
	        .max_event = 4096,
	};
	struct sm_pipe_headers ph = {.transfer_removed = true}; /* bodies come de-chunked */
	const uint8_t *v;
	size_t vl;
	if (sm_h1_header_find(w->h, dir, "content-type", &v, &vl)) {
		ph.content_type = (const char *)v;
		ph.content_type_len = vl;
	}
	if (sm_h1_header_find(w->h, dir, "content-encoding", &v, &vl)) {
		ph.content_encoding = (const char *)v;
		ph.content_encoding_len = vl;
	}
	put(w->log, &w->log_len, "head %d %s\n", dir,
	    (ev->flags & SM_H1_F_DECHUNKED) ? "dechunked" : "plain");
	w->pipe[dir] = sm_pipe_new(&cfg, &ph, pipe_ev, w);
	cr_assert(w->pipe[dir]);
}

static void w_body(void *ctx, int dir, const uint8_t *p, size_t n)
{
	struct wiring *w = ctx;
	cr_assert_eq(sm_pipe_feed(w->pipe[dir], p, n), (long)n);
}

static void w_end(void *ctx, int dir, int complete)
{
	struct wiring *w = ctx;
	put(w->log, &w->log_len, "finish %d %d\n", dir, sm_pipe_finish(w->pipe[dir]));
	sm_pipe_free(w->pipe[dir]);
	w->pipe[dir] = NULL;
}

/* A JSON request and a chunked SSE response through the pipeline, with the
 * response fed one byte at a time: the pipeline never sees chunk framing. */
Test(h1obs, feeds_decode_pipeline)
{
	static const struct sm_h1_observer o = {w_head, w_body, w_end};
	const char *req = "POST http://a.test/v1/chat HTTP/1.1\r\nHost: a.test\r\n"
	                  "Content-Type: application/json\r\nContent-Length: 13\r\n\r\n"
	                  "{\"q\":\"hello\"}";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	                   "Transfer-Encoding: chunked\r\n\r\n"
	                   "7;x=y\r\ndata: {\r\n9\r\n\"t\":\"hi\"}\r\n"
	                   "14\r\n\n\nevent: done\ndata: \r\n3\r\n1\n\n\r\n0\r\nT: 1\r\n\r\n";
	size_t fp = sm_h1_footprint(NULL);
	void *mem = aligned_alloc(64, (fp + 63) & ~(size_t)63);
	struct wiring *w = calloc(1, sizeof(*w));
	cr_assert(mem && w);
	w->h = sm_h1_init(mem, fp, NULL);
	cr_assert(w->h);
	sm_h1_set_observer(w->h, &o, w);
	uint8_t ob[1024];
	struct sm_h1_out out = {ob, sizeof(ob), 0};
	struct sm_h1_event ev;
	long n = sm_h1_client_feed(w->h, (const uint8_t *)req, strlen(req), &out);
	cr_assert_eq(sm_h1_release(w->h), SM_OK);
	n += sm_h1_client_feed(w->h, (const uint8_t *)req + n, strlen(req) - (size_t)n, &out);
	cr_assert_eq(n, (long)strlen(req));
	while (sm_h1_next_event(w->h, &ev))
		;
	size_t pos = 0; /* revealed one byte more each round */
	for (size_t have = 1; have <= strlen(resp); have++) {
		out.len = 0;
		long r = sm_h1_server_feed(w->h, (const uint8_t *)resp + pos, have - pos, &out);
		cr_assert_geq(r, 0);
		pos += (size_t)r;
		while (sm_h1_next_event(w->h, &ev))
			;
	}
	out.len = 0;
	cr_assert_eq(sm_h1_server_feed(w->h, (const uint8_t *)resp + pos, strlen(resp) - pos, &out),
	             (long)(strlen(resp) - pos));
	w->log[w->log_len] = 0;
	cr_expect_str_eq(w->log,
	                 "head 0 plain\n"
	                 "json unit=0 label= [{\"q\":\"hello\"}]\n"
	                 "finish 0 0\n"
	                 "head 1 dechunked\n"
	                 "json unit=0 label=message [{\"t\":\"hi\"}]\n"
	                 "text unit=1 label=done [1]\n"
	                 "finish 1 0\n",
	                 "got:\n%s", w->log);
	free(w);
	free(mem);
}
