/* Tables below leave trailing fields zero on purpose. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "proto/http1.h"

#define BIG (1 << 16)

/* A fake reactor: keeps the bytes the layer did not consume, drains the
 * outputs into accumulators, pops events into a text log, and releases held
 * requests when allowed. */
struct harness {
	struct sm_h1 *h;
	void *mem;
	size_t out_cap;
	uint8_t up[BIG], down[BIG];
	size_t up_len, down_len;
	char log[BIG];
	size_t log_len;
	uint8_t cpend[BIG], spend[BIG];
	size_t cpend_len, spend_len;
	long cerr, serr;
	int auto_release;
	char last_path[128];
};

static struct harness *harness_new(const struct sm_h1_limits *lim, size_t out_cap)
{
	struct harness *t = calloc(1, sizeof(*t));
	cr_assert(t);
	size_t n = sm_h1_footprint(lim);
	t->mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	cr_assert(t->mem);
	t->h = sm_h1_init(t->mem, n, lim);
	cr_assert(t->h);
	t->out_cap = out_cap;
	t->auto_release = 1;
	return t;
}

static void harness_free(struct harness *t)
{
	free(t->mem);
	free(t);
}

static void logf_(struct harness *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct harness *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->log + t->log_len, sizeof(t->log) - t->log_len, fmt, ap);
	va_end(ap);
	cr_assert(n > 0 && (size_t)n < sizeof(t->log) - t->log_len);
	t->log_len += (size_t)n;
}

static void pop_events(struct harness *t)
{
	struct sm_h1_event ev;
	while (sm_h1_next_event(t->h, &ev)) {
		switch (ev.type) {
		case SM_H1_EV_REQUEST:
			logf_(t, "REQ m=%u v=%u t=%.*s a=%s:%u f=%x\n", ev.method, ev.version,
			      (int)ev.target_len, (const char *)ev.target, ev.authority->host,
			      ev.authority->port, ev.flags);
			if (!(ev.flags & SM_H1_F_CONNECT)) {
				/* path as sent upstream: starts with '/', is in the URL */
				cr_assert(ev.path_len >= 1 && ev.path[0] == '/');
				cr_assert(ev.path_len == 1 ||
				          memmem(ev.target, ev.target_len, ev.path + 1,
				                 ev.path_len - 1) != NULL);
				snprintf(t->last_path, sizeof(t->last_path), "%s %.*s",
				         sm_h1_method_name(ev.method), (int)ev.path_len,
				         (const char *)ev.path);
			}
			break;
		case SM_H1_EV_REQUEST_END:
			logf_(t, "REQEND b=%llu f=%x\n", (unsigned long long)ev.body_bytes,
			      ev.flags);
			break;
		case SM_H1_EV_RESPONSE:
			logf_(t, "RESP s=%u m=%u f=%x\n", ev.status, ev.method, ev.flags);
			break;
		case SM_H1_EV_RESPONSE_END:
			logf_(t, "RESPEND s=%u b=%llu f=%x\n", ev.status,
			      (unsigned long long)ev.body_bytes, ev.flags);
			break;
		case SM_H1_EV_UPGRADE: logf_(t, "UPGRADE s=%u\n", ev.status); break;
		case SM_H1_EV_ERROR:
			logf_(t, "ERR s=%u r=%s d=%u f=%x\n", ev.status,
			      sm_h1_reason_str((enum sm_h1_reason)ev.reason), ev.detail, ev.flags);
			break;
		default: cr_assert_fail("bad event type %u", ev.type);
		}
	}
}

static void client_in(struct harness *t, const void *d, size_t n)
{
	cr_assert(t->cpend_len + n <= sizeof(t->cpend));
	memcpy(t->cpend + t->cpend_len, d, n);
	t->cpend_len += n;
	for (int guard = 0; guard < 100000 && t->cerr == 0; guard++) {
		uint8_t ob[BIG];
		struct sm_h1_out o = {ob, t->out_cap, 0};
		long r = sm_h1_client_feed(t->h, t->cpend, t->cpend_len, &o);
		cr_assert(o.len <= t->out_cap);
		memcpy(t->up + t->up_len, ob, o.len);
		t->up_len += o.len;
		pop_events(t);
		if (r < 0) {
			t->cerr = r;
			return;
		}
		cr_assert((size_t)r <= t->cpend_len);
		memmove(t->cpend, t->cpend + r, t->cpend_len - (size_t)r);
		t->cpend_len -= (size_t)r;
		enum sm_h1_wait w = sm_h1_client_wait(t->h);
		if (w == SM_H1_WAIT_HELD) {
			if (!t->auto_release || sm_h1_release(t->h) != SM_OK)
				return;
			continue;
		}
		if (w == SM_H1_WAIT_EVENTS || w == SM_H1_WAIT_OUT_FULL)
			continue;
		return;
	}
}

static void server_in(struct harness *t, const void *d, size_t n)
{
	cr_assert(t->spend_len + n <= sizeof(t->spend));
	memcpy(t->spend + t->spend_len, d, n);
	t->spend_len += n;
	for (int guard = 0; guard < 100000 && t->serr == 0; guard++) {
		uint8_t ob[BIG];
		struct sm_h1_out o = {ob, t->out_cap, 0};
		long r = sm_h1_server_feed(t->h, t->spend, t->spend_len, &o);
		memcpy(t->down + t->down_len, ob, o.len);
		t->down_len += o.len;
		pop_events(t);
		if (r < 0) {
			t->serr = r;
			return;
		}
		memmove(t->spend, t->spend + r, t->spend_len - (size_t)r);
		t->spend_len -= (size_t)r;
		if (r == 0 && o.len == 0)
			break;
	}
	/* a freed pipeline slot or released upstream lets the client go on */
	if (t->cpend_len || sm_h1_client_wait(t->h) == SM_H1_WAIT_HELD)
		client_in(t, "", 0);
}

static void server_eof(struct harness *t)
{
	uint8_t ob[BIG];
	struct sm_h1_out o = {ob, t->out_cap, 0};
	int r;
	while ((r = sm_h1_server_eof(t->h, &o)) == SM_AGAIN) {
		memcpy(t->down + t->down_len, ob, o.len);
		t->down_len += o.len;
		o.len = 0;
		pop_events(t);
	}
	memcpy(t->down + t->down_len, ob, o.len);
	t->down_len += o.len;
	pop_events(t);
	if (r < 0)
		t->serr = r;
}

#define S(x) x, sizeof(x) - 1

static void expect_bytes(const uint8_t *got, size_t got_len, const char *want)
{
	cr_expect_eq(got_len, strlen(want), "length %zu want %zu\ngot:\n%.*s\nwant:\n%s", got_len,
	             strlen(want), (int)got_len, (const char *)got, want);
	if (got_len == strlen(want))
		cr_expect(memcmp(got, want, got_len) == 0, "got:\n%.*s\nwant:\n%s", (int)got_len,
		          (const char *)got, want);
}

static void expect_log(struct harness *t, const char *want)
{
	t->log[t->log_len] = 0;
	cr_expect_str_eq(t->log, want);
}

/* flags as printed */
#define HELD_SWITCH "6"

Test(http1, get_absolute_form_rewrite)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, S("GET http://Example.com:8080/a/b?x=1 HTTP/1.1\r\n"
	               "Host: wrong.example\r\n"
	               "User-Agent: t/1\r\n"
	               "Proxy-Connection: keep-alive\r\n"
	               "Connection: keep-alive, X-Foo\r\n"
	               "X-Foo: bar\r\n"
	               "Keep-Alive: 5\r\n"
	               "TE: trailers\r\n"
	               "Proxy-Authorization: Basic eA==\r\n"
	               "Upgrade: websocket\r\n"
	               "Accept:   */*  \r\n"
	               "X-Empty:\r\n"
	               "\r\n"));
	expect_bytes(t->up, t->up_len,
	             "GET /a/b?x=1 HTTP/1.1\r\n"
	             "Host: Example.com:8080\r\n"
	             "User-Agent: t/1\r\n"
	             "Accept: */*\r\n"
	             "X-Empty: \r\n"
	             "\r\n");
	expect_log(t, "REQ m=1 v=11 t=http://Example.com:8080/a/b?x=1 a=example.com:8080 f=6\n"
	              "REQEND b=0 f=0\n");
	cr_expect_eq(sm_h1_outstanding(t->h), 1);
	cr_expect_eq(sm_h1_header_count(t->h, 0), 11);
	cr_expect_str_eq(t->last_path, "GET /a/b?x=1");
	harness_free(t);
}

Test(http1, get_without_path_and_http10)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, S("GET http://a.example?q HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
	expect_bytes(t->up, t->up_len, "GET /?q HTTP/1.0\r\nHost: a.example\r\n\r\n");
	cr_expect_str_eq(t->last_path, "GET /?q");
	/* HTTP/1.0 client: close after the response, which gets Connection: close */
	server_in(t, S("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi"));
	expect_bytes(t->down, t->down_len,
	             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
	expect_log(t, "REQ m=1 v=10 t=http://a.example?q a=a.example:80 f=e\n"
	              "REQEND b=0 f=8\n"
	              "RESP s=200 m=1 f=8\n"
	              "RESPEND s=200 b=2 f=8\n");
	cr_expect_eq(sm_h1_client_wait(t->h), SM_H1_WAIT_CLOSED);
	harness_free(t);
}

static const char post_cl[] = "POST http://h.example/up HTTP/1.1\r\nHost: h.example\r\n"
                              "Content-Length: 11\r\n\r\nhello world";
static const char post_chunked[] =
        "POST http://h.example/c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
        "Trailer: X-Sum\r\n\r\n"
        "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n";

Test(http1, post_bodies_forwarded_byte_exact)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, S(post_cl));
	client_in(t, S(post_chunked));
	expect_bytes(t->up, t->up_len,
	             "POST /up HTTP/1.1\r\nHost: h.example\r\nContent-Length: 11\r\n\r\nhello world"
	             "POST /c HTTP/1.1\r\nHost: h.example\r\nTransfer-Encoding: chunked\r\n"
	             "Trailer: X-Sum\r\n\r\n"
	             "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n");
	expect_log(t, "REQ m=3 v=11 t=http://h.example/up a=h.example:80 f=6\n"
	              "REQEND b=11 f=0\n"
	              "REQ m=3 v=11 t=http://h.example/c a=h.example:80 f=0\n"
	              "REQEND b=42 f=0\n");
	cr_expect_eq(sm_h1_outstanding(t->h), 2);
	harness_free(t);
}

/* Pipelined requests and responses of every delimiting kind. */
static const char pipe_client[] =
        "GET http://p.example/1 HTTP/1.1\r\n\r\n"
        "HEAD http://p.example/2 HTTP/1.1\r\n\r\n"
        "POST http://p.example/3 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
        "GET http://p.example/4 HTTP/1.1\r\n\r\n"
        "GET http://p.example/5 HTTP/1.1\r\n\r\n"
        "DELETE http://p.example/6 HTTP/1.1\r\nConnection: close\r\n\r\n";
static const char pipe_server[] =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nKeep-Alive: timeout=5\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
        "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"x\"\r\n\r\n"
        "HTTP/1.1 200 OK\r\n\r\nuntil close";
static const char pipe_up[] = "GET /1 HTTP/1.1\r\nHost: p.example\r\n\r\n"
                              "HEAD /2 HTTP/1.1\r\nHost: p.example\r\n\r\n"
                              "POST /3 HTTP/1.1\r\nHost: p.example\r\nExpect: 100-continue\r\n"
                              "Content-Length: 3\r\n\r\nabc"
                              "GET /4 HTTP/1.1\r\nHost: p.example\r\n\r\n"
                              "GET /5 HTTP/1.1\r\nHost: p.example\r\n\r\n"
                              "DELETE /6 HTTP/1.1\r\nHost: p.example\r\n\r\n";
static const char pipe_down[] =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
        "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"x\"\r\n\r\n"
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close";
static const char pipe_log[] = "REQ m=1 v=11 t=http://p.example/1 a=p.example:80 f=6\n"
                               "REQEND b=0 f=0\n"
                               "REQ m=2 v=11 t=http://p.example/2 a=p.example:80 f=200\n"
                               "REQEND b=0 f=0\n"
                               "REQ m=3 v=11 t=http://p.example/3 a=p.example:80 f=0\n"
                               "REQEND b=3 f=0\n"
                               "REQ m=1 v=11 t=http://p.example/4 a=p.example:80 f=0\n"
                               "REQEND b=0 f=0\n"
                               "REQ m=1 v=11 t=http://p.example/5 a=p.example:80 f=0\n"
                               "REQEND b=0 f=0\n"
                               "REQ m=0 v=11 t=http://p.example/6 a=p.example:80 f=8\n"
                               "REQEND b=0 f=8\n"
                               "RESP s=200 m=1 f=0\n"
                               "RESPEND s=200 b=13 f=0\n"
                               "RESP s=200 m=2 f=0\n"
                               "RESPEND s=200 b=0 f=0\n"
                               "RESP s=100 m=3 f=20\n"
                               "RESP s=103 m=3 f=20\n"
                               "RESP s=201 m=3 f=0\n"
                               "RESPEND s=201 b=2 f=0\n"
                               "RESP s=204 m=1 f=0\n"
                               "RESPEND s=204 b=0 f=0\n"
                               "RESP s=304 m=1 f=0\n"
                               "RESPEND s=304 b=0 f=0\n"
                               "RESP s=200 m=0 f=18\n"
                               "RESPEND s=200 b=11 f=18\n";

static struct harness *run_pipe(size_t csplit, size_t ssplit, size_t out_cap)
{
	struct harness *t = harness_new(NULL, out_cap);
	client_in(t, pipe_client, csplit);
	client_in(t, pipe_client + csplit, sizeof(pipe_client) - 1 - csplit);
	server_in(t, pipe_server, ssplit);
	server_in(t, pipe_server + ssplit, sizeof(pipe_server) - 1 - ssplit);
	server_eof(t);
	return t;
}

Test(http1, pipelined_all_response_kinds)
{
	struct harness *t = run_pipe(0, 0, BIG);
	expect_bytes(t->up, t->up_len, pipe_up);
	expect_bytes(t->down, t->down_len, pipe_down);
	expect_log(t, pipe_log);
	cr_expect_eq(t->cerr, 0);
	cr_expect_eq(t->serr, 0);
	cr_expect_eq(sm_h1_outstanding(t->h), 0);
	cr_expect_eq(sm_h1_stats(t->h)->requests, 6);
	cr_expect_eq(sm_h1_stats(t->h)->responses, 6);
	harness_free(t);
}

Test(http1, split_at_every_byte_gives_identical_output)
{
	for (size_t k = 0; k < sizeof(pipe_client); k++) {
		struct harness *t = run_pipe(k, 0, BIG);
		t->log[t->log_len] = 0;
		cr_assert_eq(t->up_len, sizeof(pipe_up) - 1, "client split %zu", k);
		cr_assert(memcmp(t->up, pipe_up, t->up_len) == 0, "client split %zu", k);
		cr_assert_str_eq(t->log, pipe_log, "client split %zu", k);
		harness_free(t);
	}
	for (size_t k = 0; k < sizeof(pipe_server); k++) {
		struct harness *t = run_pipe(sizeof(pipe_client) - 1, k, BIG);
		t->log[t->log_len] = 0;
		cr_assert_eq(t->down_len, sizeof(pipe_down) - 1, "server split %zu", k);
		cr_assert(memcmp(t->down, pipe_down, t->down_len) == 0, "server split %zu", k);
		cr_assert_str_eq(t->log, pipe_log, "server split %zu", k);
		harness_free(t);
	}
}

Test(http1, tiny_output_buffers_and_random_splits)
{
	unsigned seed = 12345;
	for (int round = 0; round < 200; round++) {
		seed = seed * 1103515245u + 12345u;
		size_t cs = (seed >> 8) % sizeof(pipe_client);
		seed = seed * 1103515245u + 12345u;
		size_t ss = (seed >> 8) % sizeof(pipe_server);
		size_t cap = 1 + round % 9;
		struct harness *t = run_pipe(cs, ss, cap);
		t->log[t->log_len] = 0;
		cr_assert_eq(t->up_len, sizeof(pipe_up) - 1, "round %d", round);
		cr_assert(memcmp(t->up, pipe_up, t->up_len) == 0, "round %d", round);
		cr_assert_eq(t->down_len, sizeof(pipe_down) - 1, "round %d", round);
		cr_assert(memcmp(t->down, pipe_down, t->down_len) == 0, "round %d", round);
		cr_assert_str_eq(t->log, pipe_log, "round %d", round);
		harness_free(t);
	}
}

Test(http1, byte_at_a_time_both_directions)
{
	struct harness *t = harness_new(NULL, 3);
	for (size_t i = 0; i < sizeof(pipe_client) - 1; i++)
		client_in(t, pipe_client + i, 1);
	for (size_t i = 0; i < sizeof(pipe_server) - 1; i++)
		server_in(t, pipe_server + i, 1);
	server_eof(t);
	expect_bytes(t->up, t->up_len, pipe_up);
	expect_bytes(t->down, t->down_len, pipe_down);
	expect_log(t, pipe_log);
	harness_free(t);
}

Test(http1, connect_leaves_tunnel_bytes)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, S("CONNECT Example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
	               "\x16\x03\x01\x00\x05hello"));
	expect_log(t, "REQ m=5 v=11 t=Example.com:443 a=example.com:443 f=1\n");
	cr_expect_eq(t->up_len, 0);
	cr_expect_eq(sm_h1_client_wait(t->h), SM_H1_WAIT_TUNNEL);
	cr_expect_eq(t->cpend_len, 10);
	cr_expect(memcmp(t->cpend, "\x16\x03\x01\x00\x05hello", 10) == 0);
	harness_free(t);
}

Test(http1, connect_errors)
{
	static const char *bad[] = {
	        "CONNECT example.com HTTP/1.1\r\n\r\n",
	        "CONNECT example.com:0 HTTP/1.1\r\n\r\n",
	        "CONNECT [fe80::1%25eth0]:443 HTTP/1.1\r\n\r\n",
	        "CONNECT http://example.com:443/ HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct harness *t = harness_new(NULL, BIG);
		client_in(t, bad[i], strlen(bad[i]));
		cr_expect_eq(t->cerr, SM_ERR_INVALID, "case %zu", i);
		cr_expect(strstr(t->log, "ERR s=400 r=target") != NULL, "case %zu: %s", i, t->log);
		harness_free(t);
	}
}

struct ecase {
	const char *in;
	long rc;
	const char *err; /* prefix of the ERR line */
};

static const struct ecase ecases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", SM_ERR_INVALID, "ERR s=400 r=target d=15 "},
        {"OPTIONS * HTTP/1.1\r\n\r\n", SM_ERR_INVALID, "ERR s=400 r=target d=15 "},
        {"GET https://a/ HTTP/1.1\r\n\r\n", SM_ERR_INVALID, "ERR s=400 r=target d=16 "},
        {"GET http://u@a/ HTTP/1.1\r\n\r\n", SM_ERR_INVALID, "ERR s=400 r=target d=14 "},
        {"GET http://a/#f HTTP/1.1\r\n\r\n", SM_ERR_INVALID, "ERR s=400 r=target d=17 "},
        {"GET http://a/ HTTP/2.0\r\n\r\n", SM_ERR_UNSUPPORTED, "ERR s=505 r=version"},
        {"GET http://a/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n", SM_ERR_INVALID, "ERR s=400 r=header d=7 "},
        {"GET http://a/ HTTP/1.1\nX: a\r\n\r\n", SM_ERR_INVALID, "ERR s=400 r=header d=6 "},
        {"GET http://a/ HTTP/1.1\r\nX: a\rb\r\n\r\n", SM_ERR_INVALID, "ERR s=400 r=header"},
        {"GET http://a/ HTTP/1.1\r\nX: \x01\r\n\r\n", SM_ERR_INVALID, "ERR s=400 r=header d=4 "},
        {"GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n", SM_ERR_INVALID, "ERR s=400 r=header d=2 "},
        {"GET  http://a/ HTTP/1.1\r\n\r\n", SM_ERR_INVALID, "ERR s=400 r=header d=2 "},
        {"GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", SM_ERR_INVALID,
         "ERR s=400 r=header d=16 "},
        {"POST http://a/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
         SM_ERR_INVALID, "ERR s=400 r=header d=11 "},
        {"POST http://a/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
         SM_ERR_INVALID, "ERR s=400 r=header d=10 "},
        {"POST http://a/ HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n", SM_ERR_INVALID,
         "ERR s=400 r=header"},
        {"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", SM_ERR_UNSUPPORTED,
         "ERR s=501 r=header d=13 "},
        {"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", SM_ERR_INVALID,
         "ERR s=400 r=header"},
        {"POST http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", SM_ERR_INVALID,
         "ERR s=400 r=header d=14 "},
        {"BREW http://a/ HTTP/1.1\r\n\r\n", SM_ERR_INVALID, "ERR s=400 r=parse"},
        {"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
         SM_ERR_INVALID, "ERR s=400 r=body d=3 f=80"},
        {"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
         SM_ERR_INVALID, "ERR s=400 r=body d=1 f=80"},
        {"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n",
         SM_ERR_INVALID, "ERR s=400 r=body d=1 f=80"},
        /* RFC 9110 §6.5.1: framing and routing fields in a trailer section */
        {"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
         "Content-Length: 5\r\n\r\nhello",
         SM_ERR_INVALID, "ERR s=400 r=body d=6 f=80"},
        {"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n"
         "X-Ok: 1\r\nTRANSFER-encoding: chunked\r\n\r\n",
         SM_ERR_INVALID, "ERR s=400 r=body d=6 f=80"},
        {"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nHost: evil\r\n\r\n",
         SM_ERR_INVALID, "ERR s=400 r=body d=6 f=80"},
};

Test(http1, malformed_requests_get_the_right_status)
{
	for (size_t i = 0; i < sizeof(ecases) / sizeof(ecases[0]); i++) {
		struct harness *t = harness_new(NULL, BIG);
		client_in(t, ecases[i].in, strlen(ecases[i].in));
		t->log[t->log_len] = 0;
		cr_expect_eq(t->cerr, ecases[i].rc, "case %zu: rc %ld", i, t->cerr);
		const char *e = strstr(t->log, "ERR ");
		cr_expect(e && strncmp(e, ecases[i].err, strlen(ecases[i].err)) == 0,
		          "case %zu: want '%s' in log:\n%s", i, ecases[i].err, t->log);
		harness_free(t);
	}
}

Test(http1, size_limits)
{
	struct sm_h1_limits lim = {.max_head = 256, .max_target = 64, .max_headers = 4};
	char buf[1024];
	struct harness *t;

	/* target of 65 bytes: 414 */
	t = harness_new(&lim, BIG);
	snprintf(buf, sizeof(buf), "GET http://a.example/%s HTTP/1.1\r\n\r\n",
	         "0123456789012345678901234567890123456789012345678901234567890");
	client_in(t, buf, strlen(buf));
	cr_expect_eq(t->cerr, SM_ERR_LIMIT);
	cr_expect(strstr(t->log, "ERR s=414 r=target_too_long") != NULL, "%s", t->log);
	cr_expect_eq(sm_h1_stats(t->h)->target_too_long, 1);
	harness_free(t);

	/* 5 header fields: 431 */
	t = harness_new(&lim, BIG);
	client_in(t, S("GET http://a/ HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"));
	cr_expect_eq(t->cerr, SM_ERR_LIMIT);
	cr_expect(strstr(t->log, "ERR s=431 r=too_many_headers") != NULL, "%s", t->log);
	harness_free(t);

	/* head over 256 bytes, fed in pieces: 431 */
	t = harness_new(&lim, BIG);
	client_in(t, S("GET http://a/ HTTP/1.1\r\nX: "));
	memset(buf, 'v', 300);
	for (int i = 0; i < 300 && t->cerr == 0; i += 10)
		client_in(t, buf, 10);
	cr_expect_eq(t->cerr, SM_ERR_LIMIT);
	cr_expect(strstr(t->log, "ERR s=431 r=head_too_large") != NULL, "%s", t->log);
	harness_free(t);

	/* exactly at the limit still works */
	t = harness_new(&lim, BIG);
	size_t fixed = strlen("GET http://a/ HTTP/1.1\r\nX: \r\n\r\n");
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "GET http://a/ HTTP/1.1\r\nX: ", 27);
	memset(buf + 27, 'v', 256 - fixed);
	memcpy(buf + 27 + 256 - fixed, "\r\n\r\n", 4);
	client_in(t, buf, 256);
	cr_expect_eq(t->cerr, 0, "%s", t->log);
	cr_expect(strstr(t->log, "REQEND") != NULL, "%s", t->log);
	harness_free(t);
}

Test(http1, another_authority_is_held_until_responses_end)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, S("GET http://a.example/ HTTP/1.1\r\n\r\n"
	               "GET http://b.example:81/ HTTP/1.1\r\n\r\n"));
	/* the second request stays held: switching needs outstanding == 0 */
	cr_expect_eq(sm_h1_client_wait(t->h), SM_H1_WAIT_HELD);
	cr_expect_eq(sm_h1_release(t->h), SM_ERR_STATE);
	expect_bytes(t->up, t->up_len, "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n");
	server_in(t, S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
	/* server_in resumed the client: released onto the new upstream */
	expect_bytes(t->up, t->up_len,
	             "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"
	             "GET / HTTP/1.1\r\nHost: b.example:81\r\n\r\n");
	expect_log(t, "REQ m=1 v=11 t=http://a.example/ a=a.example:80 f=6\n"
	              "REQEND b=0 f=0\n"
	              "REQ m=1 v=11 t=http://b.example:81/ a=b.example:81 f=6\n"
	              "RESP s=200 m=1 f=0\n"
	              "RESPEND s=200 b=0 f=0\n"
	              "REQEND b=0 f=0\n");
	harness_free(t);
}

Test(http1, upstream_close_forces_reconnect_and_client_close_when_pipelined)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, S("GET http://a.example/1 HTTP/1.1\r\n\r\n"));
	server_in(t, S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"));
	/* nothing else outstanding: the client stays, the next request reconnects */
	expect_bytes(t->down, t->down_len, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
	client_in(t, S("GET http://a.example/2 HTTP/1.1\r\n\r\n"));
	t->log[t->log_len] = 0;
	cr_expect(strstr(t->log, "RESPEND s=200 b=1 f=10\n"
	                         "REQ m=1 v=11 t=http://a.example/2 a=a.example:80 f=6\n") != NULL,
	          "%s", t->log);
	harness_free(t);

	t = harness_new(NULL, BIG);
	client_in(t, S("GET http://a.example/1 HTTP/1.1\r\n\r\nGET http://a.example/2 "
	               "HTTP/1.1\r\n\r\n"));
	server_in(t, S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"));
	/* request 2 was already sent to a closing upstream: close the client too */
	expect_bytes(t->down, t->down_len,
	             "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
	cr_expect(strstr(t->log, "RESPEND s=200 b=1 f=18\n") != NULL, "%s", t->log);
	cr_expect_eq(sm_h1_client_wait(t->h), SM_H1_WAIT_CLOSED);
	harness_free(t);
}

Test(http1, pipeline_cap_is_backpressure)
{
	struct sm_h1_limits lim = {.max_pipeline = 2};
	struct harness *t = harness_new(&lim, BIG);
	client_in(t, S("GET http://a/1 HTTP/1.1\r\n\r\nGET http://a/2 HTTP/1.1\r\n\r\n"
	               "GET http://a/3 HTTP/1.1\r\n\r\n"));
	cr_expect_eq(sm_h1_client_wait(t->h), SM_H1_WAIT_PIPELINE);
	cr_expect_eq(sm_h1_outstanding(t->h), 2);
	cr_expect_eq(t->cpend_len, strlen("GET http://a/3 HTTP/1.1\r\n\r\n"));
	server_in(t, S("HTTP/1.1 204 No Content\r\n\r\n"));
	cr_expect_eq(t->cpend_len, 0);
	cr_expect_eq(sm_h1_outstanding(t->h), 2);
	cr_expect_geq(sm_h1_stats(t->h)->pipeline_full, 1);
	harness_free(t);
}

Test(http1, upstream_faults_are_502)
{
	struct harness *t = harness_new(NULL, BIG);
	server_in(t, S("HTTP/1.1 200 OK\r\n\r\n"));
	cr_expect_eq(t->serr, SM_ERR_PROTOCOL);
	cr_expect(strstr(t->log, "ERR s=502 r=unsolicited d=0 f=100") != NULL, "%s", t->log);
	harness_free(t);

	t = harness_new(NULL, BIG);
	client_in(t, S("GET http://a/ HTTP/1.1\r\n\r\n"));
	server_in(t, S("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"));
	cr_expect(strstr(t->log, "ERR s=502 r=header d=10 f=100") != NULL, "%s", t->log);
	harness_free(t);

	t = harness_new(NULL, BIG);
	client_in(t, S("GET http://a/ HTTP/1.1\r\n\r\n"));
	server_in(t, S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"));
	server_eof(t);
	cr_expect_eq(t->serr, SM_ERR_TRUNCATED);
	cr_expect(strstr(t->log, "ERR s=502 r=truncated d=0 f=180") != NULL, "%s", t->log);
	harness_free(t);

	t = harness_new(NULL, BIG);
	client_in(t, S("GET http://a/ HTTP/1.1\r\n\r\n"));
	server_eof(t);
	cr_expect(strstr(t->log, "ERR s=502 r=truncated d=0 f=100") != NULL, "%s", t->log);
	harness_free(t);
}

Test(http1, upgrade_101_switches_to_raw)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(
	        t,
	        S("GET http://a/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
	expect_bytes(t->up, t->up_len, "GET /ws HTTP/1.1\r\nHost: a\r\n\r\n");
	server_in(t, S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	               "Connection: Upgrade\r\nKeep-Alive: 1\r\n\r\n\x81\x00"));
	expect_bytes(t->down, t->down_len,
	             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	             "Connection: Upgrade\r\n\r\n");
	cr_expect_eq(t->spend_len, 2);
	cr_expect(memcmp(t->spend, "\x81\x00", 2) == 0);
	cr_expect(strstr(t->log, "UPGRADE s=101\n") != NULL, "%s", t->log);
	harness_free(t);
}

Test(http1, client_eof)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, S("POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"));
	cr_expect_eq(sm_h1_client_eof(t->h), SM_ERR_TRUNCATED);
	harness_free(t);
	t = harness_new(NULL, BIG);
	client_in(t, S("GET http://a/ HTTP/1.1\r\n\r\n"));
	cr_expect_eq(sm_h1_client_eof(t->h), SM_OK);
	harness_free(t);
}

Test(http1, hold_every_request)
{
	struct sm_h1_limits lim = {.hold_every_request = 1};
	struct harness *t = harness_new(&lim, BIG);
	t->auto_release = 0;
	client_in(t, S("GET http://a/ HTTP/1.1\r\n\r\n"));
	cr_expect_eq(sm_h1_client_wait(t->h), SM_H1_WAIT_HELD);
	cr_expect_eq(t->up_len, 0);
	cr_expect_eq(sm_h1_release(t->h), SM_OK);
	client_in(t, "", 0);
	expect_bytes(t->up, t->up_len, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	client_in(t, S("GET http://a/2 HTTP/1.1\r\n\r\n"));
	cr_expect_eq(sm_h1_client_wait(t->h), SM_H1_WAIT_HELD);
	cr_expect(strstr(t->log, "a=a:80 f=2\n") != NULL, "%s", t->log); /* held, no switch */
	harness_free(t);
}

Test(http1, error_response_is_exact)
{
	uint8_t buf[512];
	long n = sm_h1_error_response(431, "head_too_large", buf, sizeof(buf));
	const char *want = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
	                   "Content-Type: text/plain\r\nContent-Length: 51\r\n"
	                   "Connection: close\r\n\r\n"
	                   "431 Request Header Fields Too Large\nhead_too_large\n";
	cr_assert_gt(n, 0);
	expect_bytes(buf, (size_t)n, want);
	cr_expect_eq(strlen("431 Request Header Fields Too Large\nhead_too_large\n"), 51);
	cr_expect_eq(sm_h1_error_response(400, "x", buf, 20), SM_ERR_LIMIT);
	for (int r = SM_H1_R_NONE; r <= SM_H1_R_TRUNCATED; r++)
		cr_expect_str_neq(sm_h1_reason_str((enum sm_h1_reason)r), "unknown");
}

Test(http1, init_rejects_bad_memory)
{
	static _Alignas(16) uint8_t small[64];
	cr_expect_null(sm_h1_init(small, sizeof(small), NULL));
	struct sm_h1_limits lim = {.max_head = 100, .max_target = 200};
	void *m = aligned_alloc(16, 1 << 20);
	cr_expect_null(sm_h1_init(m, 1 << 20, &lim));
	free(m);
}

Test(http1, interim_dropped_for_http10_client)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, S("POST http://a/ HTTP/1.0\r\nContent-Length: 1\r\n\r\nz"));
	server_in(t,
	          S("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\ny"));
	expect_bytes(t->down, t->down_len,
	             "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\ny");
	cr_expect(strstr(t->log, "RESP s=100 m=3 f=60\n") != NULL, "%s", t->log);
	harness_free(t);
}

Test(http1, header_accessors_and_counters)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, S("GET http://a/ HTTP/1.1\r\nX-A:  one \r\nConnection: close\r\n\r\n"
	               "GET http://a/ignored HTTP/1.1\r\n\r\n"));
	const uint8_t *n, *v;
	size_t nl, vl;
	cr_assert_eq(sm_h1_header_count(t->h, 0), 2);
	cr_assert_eq(sm_h1_header(t->h, 0, 0, &n, &nl, &v, &vl), SM_OK);
	cr_expect(nl == 3 && memcmp(n, "X-A", 3) == 0);
	cr_expect(vl == 3 && memcmp(v, "one", 3) == 0);
	cr_expect_eq(sm_h1_header(t->h, 0, 2, &n, &nl, &v, &vl), SM_ERR_INVALID);
	/* bytes after a closing request are dropped and counted */
	cr_expect_eq(sm_h1_stats(t->h)->dropped_after_close, 33);
	cr_expect_eq(sm_h1_client_wait(t->h), SM_H1_WAIT_CLOSED);
	server_in(t, S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nSet-Cookie: a=b\r\n\r\n"));
	cr_assert_eq(sm_h1_header_count(t->h, 1), 2);
	cr_assert_eq(sm_h1_header(t->h, 1, 1, &n, &nl, &v, &vl), SM_OK);
	cr_expect(vl == 3 && memcmp(v, "a=b", 3) == 0);
	harness_free(t);
}

Test(http1, head_response_ignores_framing_headers)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, S("HEAD http://a/ HTTP/1.1\r\n\r\nGET http://a/ HTTP/1.1\r\n\r\n"));
	server_in(t, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	               "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nq"));
	expect_bytes(t->down, t->down_len,
	             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	             "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nq");
	cr_expect_eq(sm_h1_outstanding(t->h), 0);
	harness_free(t);
}

Test(http1, trailer_limit)
{
	struct sm_h1_limits lim = {.max_trailer = 16};
	struct harness *t = harness_new(&lim, BIG);
	client_in(t, S("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	               "0\r\nX-Long-Trailer: 0123456789\r\n\r\n"));
	cr_expect_eq(t->cerr, SM_ERR_INVALID);
	cr_expect(strstr(t->log, "ERR s=400 r=body d=5 f=80") != NULL, "%s", t->log);
	harness_free(t);
}

/* A forbidden trailer field is refused at its colon: the upstream never
 * gets a line it could merge into the head, and the message never ends
 * there. Names that only start like one, or are longer, pass. */
Test(http1, trailer_framing_fields_never_reach_the_upstream)
{
	static const char *const bad[] = {
	        "Content-Length",   "transfer-encoding", "Host",
	        "Connection",       "Keep-Alive",        "TE",
	        "Trailer",          "Content-Type",      "Content-Encoding",
	        "Proxy-Connection", "Upgrade",           "Content-Range"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct harness *t = harness_new(NULL, BIG);
		char in[256];
		int n = snprintf(in, sizeof(in),
		                 "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		                 "0\r\n%s: 5\r\n\r\n",
		                 bad[i]);
		client_in(t, in, (size_t)n);
		cr_expect_eq(t->cerr, SM_ERR_INVALID, "%s", bad[i]);
		t->log[t->log_len] = 0;
		cr_expect(strstr(t->log, "ERR s=400 r=body d=6 f=80") != NULL, "%s: %s", bad[i],
		          t->log);
		const uint8_t *tr = memmem(t->up, t->up_len, "\r\n\r\n0\r\n", 7);
		cr_assert_not_null(tr, "%s: the head and last chunk went out", bad[i]);
		tr += 7;
		cr_expect(memchr(tr, ':', t->up_len - (size_t)(tr - t->up)) == NULL,
		          "%s: its colon went out", bad[i]);
		harness_free(t);
	}
	static const char ok[] = "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	                         "0\r\nContent-Lengths: 5\r\nX-Transfer-Encoding: 1\r\n"
	                         "Content-Length-And-Then-Some: 1\r\n\r\n";
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, ok, strlen(ok));
	cr_expect_eq(t->cerr, 0, "%s", t->log);
	harness_free(t);
}

Test(http1, upstream_eof_while_idle_then_new_upstream)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, S("GET http://a/1 HTTP/1.1\r\n\r\n"));
	server_in(t, S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
	server_eof(t);
	cr_expect_eq(t->serr, 0);
	client_in(t, S("GET http://a/2 HTTP/1.1\r\n\r\n"));
	/* same authority, but the upstream is gone: SWITCH */
	cr_expect(strstr(t->log, "t=http://a/2 a=a:80 f=6\n") != NULL, "%s", t->log);
	server_in(t, S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
	cr_expect_eq(t->serr, 0, "%s", t->log);
	harness_free(t);
}

Test(http1, early_close_response_during_upload_closes_client)
{
	struct harness *t = harness_new(NULL, BIG);
	client_in(t, S("POST http://a/ HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial"));
	server_in(t, S("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n"
	               "Connection: close\r\n\r\n"));
	expect_bytes(t->down, t->down_len,
	             "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n"
	             "Connection: close\r\n\r\n");
	cr_expect(strstr(t->log, "RESPEND s=413 b=0 f=18\n") != NULL, "%s", t->log);
	cr_expect_eq(sm_h1_client_wait(t->h), SM_H1_WAIT_CLOSED);
	harness_free(t);
}

/* Every error case and the CONNECT case give the same events, forwarded
 * bytes and leftover at every split point. */
Test(http1, errors_identical_at_every_split)
{
	static const char connect_case[] = "CONNECT a.example:443 HTTP/1.1\r\n\r\n\x16\x03";
	for (size_t i = 0; i <= sizeof(ecases) / sizeof(ecases[0]); i++) {
		const char *in =
		        i < sizeof(ecases) / sizeof(ecases[0]) ? ecases[i].in : connect_case;
		size_t len = strlen(in);
		struct harness *ref = harness_new(NULL, BIG);
		client_in(ref, in, len);
		ref->log[ref->log_len] = 0;
		for (size_t k = 0; k <= len; k++) {
			struct harness *t = harness_new(NULL, 2);
			client_in(t, in, k);
			if (t->cerr == 0)
				client_in(t, in + k, len - k);
			t->log[t->log_len] = 0;
			cr_assert_str_eq(t->log, ref->log, "case %zu split %zu", i, k);
			cr_assert_eq(t->cerr, ref->cerr, "case %zu split %zu", i, k);
			cr_assert_eq(t->up_len, ref->up_len, "case %zu split %zu", i, k);
			cr_assert(memcmp(t->up, ref->up, t->up_len) == 0);
			if (t->cerr == 0) {
				cr_assert_eq(t->cpend_len, ref->cpend_len, "case %zu split %zu", i,
				             k);
				cr_assert(memcmp(t->cpend, ref->cpend, t->cpend_len) == 0);
			}
			harness_free(t);
		}
		harness_free(ref);
	}
}
