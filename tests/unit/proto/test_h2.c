/* proto/h2 driven by real nghttp2 peers in memory (see h2_testutil.h). */
#include "h2_testutil.h"

static void assert_pattern(const struct bytes *b, size_t n, int32_t id)
{
	cr_assert_eq(b->len, n, "body %zu != %zu", b->len, n);
	for (size_t i = 0; i < n; i++)
		if (b->p[i] != (uint8_t)((i * 31 + (size_t)id) & 0xff))
			cr_assert_fail("body byte %zu differs", i);
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

#define LOGSTR(b) ((int)(b).len), ((const char *)(b).p)

Test(h2, get_byte_exact)
{
	struct tc t;
	tc_init(&t, NULL, 65535);
	nghttp2_nv ex[2] = {NV("x-resp-size", "5000"), NV("accept", "*/*")};
	int32_t id = tc_request(&t, "GET", "/index.html", ex, 2, NULL, 0, 0);
	tc_pump(&t, 100);
	struct pstream *o = pst(&t.o, 1, 0);
	cr_assert(o);
	cr_assert(has_line(&o->hdr, ":method: GET"));
	cr_assert(has_line(&o->hdr, ":path: /index.html"));
	cr_assert(has_line(&o->hdr, ":authority: example.com"));
	cr_assert(has_line(&o->hdr, "accept: */*"));
	struct pstream *b = pst(&t.b, id, 0);
	cr_assert(b && b->ended && b->closed && b->close_code == 0);
	cr_assert(has_line(&b->hdr, ":status: 200"));
	cr_assert(has_line(&b->hdr, "server: origin"));
	cr_assert(has_line(&b->hdr, "content-length: 5000"));
	assert_pattern(&b->body, 5000, 1);
	cr_assert(has_line(&t.log[0], "REQUEST 1 GET https example.com /index.html n=6 f=1"),
	          "%.*s", LOGSTR(t.log[0]));
	cr_assert(has_line(&t.log[0], "END 1"));
	cr_assert(has_line(&t.log[1], "RESPONSE 1 200 n=3 f=0"), "%.*s", LOGSTR(t.log[1]));
	cr_assert(has_line(&t.log[1], "DATA 1 5000"));
	cr_assert(has_line(&t.log[1], "END 1"));
	assert_pattern(&t.data[1], 5000, 1);
	cr_assert_eq(sm_h2_open_streams(t.h), 0);
	cr_assert_eq(sm_h2_buffered(t.h), 0);
	cr_assert_eq(t.resets + t.errors, 0);
	tc_free(&t);
}
