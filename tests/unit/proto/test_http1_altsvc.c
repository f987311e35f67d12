/* strip_alt_svc_h3: HTTP/3 advertisements are dropped from relayed
 * responses so clients stay on the proxied path; other Alt-Svc pass. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "proto/http1.h"

static size_t relay(int strip, const char *alt, char *down, size_t cap)
{
	struct sm_h1_limits lim = {.strip_alt_svc_h3 = (uint8_t)strip};
	size_t n = sm_h1_footprint(&lim);
	void *mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	struct sm_h1 *h = sm_h1_init(mem, n, &lim);
	cr_assert_not_null(h);
	struct sm_authority a = {.host = "o.test", .host_len = 6, .port = 443};
	sm_h1_set_origin(h, &a);
	uint8_t up[1024];
	struct sm_h1_out uo = {up, sizeof(up), 0};
	const char *req = "GET / HTTP/1.1\r\nHost: o.test\r\n\r\n";
	cr_assert_eq(sm_h1_client_feed(h, (const uint8_t *)req, strlen(req), &uo),
	             (long)strlen(req));
	char resp[512];
	int rl = snprintf(resp, sizeof(resp),
	                  "HTTP/1.1 200 OK\r\nAlt-Svc: %s\r\nContent-Length: 2\r\n\r\nok", alt);
	struct sm_h1_out d = {(uint8_t *)down, cap, 0};
	long got = 0;
	for (int i = 0; i < 4 && got < rl; i++) {
		long k = sm_h1_server_feed(h, (const uint8_t *)resp + got, (size_t)rl - (size_t)got,
		                           &d);
		cr_assert_geq(k, 0);
		got += k;
		struct sm_h1_event ev;
		while (sm_h1_next_event(h, &ev))
			;
	}
	free(mem);
	return d.len;
}

Test(http1_altsvc, h3_advertisements_are_dropped_when_asked)
{
	const char *h3[] = {"h3=\":443\"; ma=86400", "h2=\":443\", h3=\":443\"", "h3-29=\":443\""};
	for (size_t i = 0; i < 3; i++) {
		char down[1024];
		size_t n = relay(1, h3[i], down, sizeof(down));
		cr_expect_null(memmem(down, n, "Alt-Svc", 7), "case %zu kept: %.*s", i, (int)n,
		               down);
		cr_expect_not_null(memmem(down, n, "\r\n\r\nok", 6));
		n = relay(0, h3[i], down, sizeof(down));
		cr_expect_not_null(memmem(down, n, "Alt-Svc", 7), "switch off: kept (case %zu)", i);
	}
	char down[1024];
	size_t n = relay(1, "h2=\"alt.test:443\"", down, sizeof(down));
	cr_expect_not_null(memmem(down, n, "Alt-Svc: h2=\"alt.test:443\"", 26), "h2 kept");
	n = relay(1, "myh3=\":1\"", down, sizeof(down));
	cr_expect_not_null(memmem(down, n, "Alt-Svc", 7), "a protocol merely ending in h3 is kept");
}
