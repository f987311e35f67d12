/* proto/http1 in origin mode (intercepted connections): one fixed server,
 * requests forwarded as received, never held. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "proto/http1.h"

struct t {
	struct sm_h1 *h;
	void *mem;
	uint8_t up[8192];
	struct sm_h1_out out;
};

static void setup_t(struct t *t)
{
	size_t n = sm_h1_footprint(NULL);
	t->mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	t->h = sm_h1_init(t->mem, n, NULL);
	cr_assert_not_null(t->h);
	struct sm_authority a = {
	        .host = "origin.test", .host_len = 11, .port = 443, .kind = SM_AUTHORITY_NAME};
	sm_h1_set_origin(t->h, &a);
	t->out = (struct sm_h1_out){t->up, sizeof(t->up), 0};
}

/* Feeds a whole request; returns the REQUEST event flags, or -1 with the
 * ERROR event's status in *status. */
static long feed(struct t *t, const char *req, unsigned *status)
{
	size_t len = strlen(req), off = 0;
	long flags = -2;
	for (int i = 0; i < 10 && off < len; i++) {
		long n = sm_h1_client_feed(t->h, (const uint8_t *)req + off, len - off, &t->out);
		struct sm_h1_event ev;
		while (sm_h1_next_event(t->h, &ev)) {
			if (ev.type == SM_H1_EV_REQUEST)
				flags = ev.flags;
			if (ev.type == SM_H1_EV_ERROR) {
				*status = ev.status;
				return -1;
			}
		}
		if (n < 0)
			return -1;
		off += (size_t)n;
	}
	return flags;
}

Test(http1_origin, origin_form_is_forwarded_as_received_with_host_first)
{
	struct t t;
	setup_t(&t);
	unsigned st = 0;
	long fl = feed(&t,
	               "GET /a/b?c=d HTTP/1.1\r\nUser-Agent: x\r\nHost: origin.test\r\n"
	               "Connection: keep-alive, X-Drop\r\nX-Drop: 1\r\nAccept: */*\r\n\r\n",
	               &st);
	cr_assert_geq(fl, 0, "status %u", st);
	cr_expect_eq(fl & (SM_H1_F_HELD | SM_H1_F_SWITCH), 0, "never held in origin mode");
	const char *want = "GET /a/b?c=d HTTP/1.1\r\nHost: origin.test\r\nUser-Agent: x\r\n"
	                   "Accept: */*\r\n\r\n";
	cr_expect_eq(t.out.len, strlen(want));
	cr_expect_eq(memcmp(t.up, want, t.out.len), 0, "%.*s", (int)t.out.len, t.up);
	free(t.mem);
}

Test(http1_origin, https_absolute_form_is_refused)
{
	struct t t;
	setup_t(&t);
	unsigned st = 0;
	long fl = feed(&t, "GET https://origin.test/x HTTP/1.1\r\nHost: origin.test\r\n\r\n", &st);
	/* only http:// absolute-form is understood: https:// is refused */
	cr_expect_eq(fl, -1);
	cr_expect_eq(st, 400);
	cr_expect_eq(t.out.len, 0);
	free(t.mem);
}

Test(http1_origin, foreign_targets_missing_host_and_connect_are_400)
{
	const char *bad[] = {
	        "GET http://elsewhere.test/x HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n",
	        "GET /x HTTP/1.1\r\nAccept: */*\r\n\r\n",
	        "CONNECT other.test:443 HTTP/1.1\r\nHost: other.test\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct t t;
		setup_t(&t);
		unsigned st = 0;
		cr_expect_eq(feed(&t, bad[i], &st), -1, "case %zu accepted", i);
		cr_expect_eq(st, 400, "case %zu: status %u", i, st);
		cr_expect_eq(t.out.len, 0, "case %zu: nothing forwarded", i);
		free(t.mem);
	}
}

Test(http1_origin, http_absolute_form_for_the_same_server_is_rewritten)
{
	struct t t;
	setup_t(&t);
	unsigned st = 0;
	/* the configured authority is origin.test:443; http:// defaults to 80 */
	long fl =
	        feed(&t, "GET http://origin.test:443/x HTTP/1.1\r\nHost: origin.test\r\n\r\n", &st);
	cr_assert_geq(fl, 0, "status %u", st);
	cr_expect_eq(fl & SM_H1_F_HELD, 0);
	const char *want = "GET /x HTTP/1.1\r\nHost: origin.test:443\r\n\r\n";
	cr_expect_eq(t.out.len, strlen(want));
	cr_expect_eq(memcmp(t.up, want, t.out.len), 0, "%.*s", (int)t.out.len, t.up);
	free(t.mem);
}

Test(http1_origin, http10_without_host_gets_the_server_authority)
{
	struct t t;
	setup_t(&t);
	unsigned st = 0;
	cr_assert_geq(feed(&t, "GET / HTTP/1.0\r\n\r\n", &st), 0);
	const char *want = "GET / HTTP/1.0\r\nHost: origin.test\r\n\r\n";
	cr_expect_eq(t.out.len, strlen(want));
	cr_expect_eq(memcmp(t.up, want, t.out.len), 0, "%.*s", (int)t.out.len, t.up);
	free(t.mem);
}

/* Feeds a whole response; returns the RESPONSE event flags (-1 on error). */
static long respond(struct t *t, const char *resp, uint8_t *down, size_t cap, size_t *dlen)
{
	struct sm_h1_out out = {down, cap, 0};
	size_t len = strlen(resp), off = 0;
	long flags = -1;
	for (int i = 0; i < 10 && off < len; i++) {
		long n = sm_h1_server_feed(t->h, (const uint8_t *)resp + off, len - off, &out);
		struct sm_h1_event ev;
		while (sm_h1_next_event(t->h, &ev))
			if (ev.type == SM_H1_EV_RESPONSE)
				flags = ev.flags;
		if (n < 0)
			return -1;
		off += (size_t)n;
	}
	*dlen = out.len;
	return flags;
}

Test(http1_origin, upstream_close_closes_the_client_connection_too)
{
	/* the only server connection is going away: the client must be told,
	 * or its next request waits on a connection nobody serves */
	const char *resp[] = {
	        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	        "3\r\nabc\r\n0\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
	        "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc",
	};
	for (size_t i = 0; i < sizeof(resp) / sizeof(resp[0]); i++) {
		struct t t;
		setup_t(&t);
		unsigned st = 0;
		cr_assert_geq(feed(&t, "GET /a HTTP/1.1\r\nHost: origin.test\r\n\r\n", &st), 0);
		uint8_t down[1024];
		size_t dl = 0;
		long fl = respond(&t, resp[i], down, sizeof(down), &dl);
		cr_assert_geq(fl, 0, "case %zu", i);
		cr_expect(fl & SM_H1_F_CLOSE_CLIENT, "case %zu: client not closed", i);
		cr_expect_not_null(memmem(down, dl, "Connection: close\r\n", 19), "case %zu: %.*s",
		                   i, (int)dl, down);
		free(t.mem);
	}
	/* keep-alive stays keep-alive */
	struct t t;
	setup_t(&t);
	unsigned st = 0;
	cr_assert_geq(feed(&t, "GET /a HTTP/1.1\r\nHost: origin.test\r\n\r\n", &st), 0);
	uint8_t down[1024];
	size_t dl = 0;
	long fl = respond(&t, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", down, sizeof(down),
	                  &dl);
	cr_expect_eq(fl & SM_H1_F_CLOSE_CLIENT, 0);
	cr_expect_null(memmem(down, dl, "Connection: close", 17));
	free(t.mem);
}
