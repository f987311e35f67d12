/* bench/bresp: the response framing parser of soth-bench. Table-driven;
 * every case is also fed split at every byte boundary and in random pieces
 * (fixed seed), and must give the same outcome. The module belongs to the
 * soth-bench executable, not the soth library: compile it in. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <criterion/criterion.h>
#include <string.h>

#include "bench/bresp.c"

struct rcase {
	const char *what;
	const char *in;
	enum sm_bresp_method method;
	int eof;                  /* call sm_bresp_eof() after feeding everything */
	enum sm_bresp_reason why; /* OK: must complete */
	unsigned status;
	int keep_alive;
	uint64_t body; /* body bytes (framing included) */
	long trailing; /* bytes left unconsumed after the response */
	unsigned interim;
};

#define CL5     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
#define CHUNKED "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"

static const struct rcase cases[] = {
        {"content-length", CL5, SM_BRESP_GET, 0, SM_BRESP_OK, 200, 1, 5},
        {"cl zero", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", SM_BRESP_GET, 0, SM_BRESP_OK,
         200, 1, 0},
        {"empty reason", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", SM_BRESP_GET, 0, SM_BRESP_OK,
         200, 1, 1},
        {"repeated equal cl", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab",
         SM_BRESP_GET, 0, SM_BRESP_OK, 200, 1, 2},
        {"chunked", CHUNKED, SM_BRESP_GET, 0, SM_BRESP_OK, 200, 1, 15},
        {"chunked trailer ext",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n3;x=y\r\nabc\r\nA\r\n0123456789\r\n"
         "0\r\nX-T: 1\r\n\r\n",
         SM_BRESP_GET, 0, SM_BRESP_OK, 200, 1, 40},
        {"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nz",
         SM_BRESP_GET, 0, SM_BRESP_OK, 200, 0, 1},
        {"close in list", "HTTP/1.1 200 OK\r\nConnection: foo, Close\r\nContent-Length: 0\r\n\r\n",
         SM_BRESP_GET, 0, SM_BRESP_OK, 200, 0, 0},
        {"http/1.0 default close", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nz", SM_BRESP_GET, 0,
         SM_BRESP_OK, 200, 0, 1},
        {"http/1.0 keep-alive",
         "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nz", SM_BRESP_GET, 0,
         SM_BRESP_OK, 200, 1, 1},
        {"204 no body", "HTTP/1.1 204 No Content\r\n\r\n", SM_BRESP_GET, 0, SM_BRESP_OK, 204, 1, 0},
        {"304 ignores cl", "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", SM_BRESP_GET,
         0, SM_BRESP_OK, 304, 1, 0},
        {"head ignores cl", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", SM_BRESP_HEAD, 0,
         SM_BRESP_OK, 200, 1, 0},
        {"connect 200", "HTTP/1.1 200 Connection established\r\n\r\n", SM_BRESP_CONNECT, 0,
         SM_BRESP_OK, 200, 1, 0},
        {"connect 200 then tunnel bytes", "HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01", SM_BRESP_CONNECT,
         0, SM_BRESP_OK, 200, 1, 0, 3},
        {"connect 403 body", "HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno!",
         SM_BRESP_CONNECT, 0, SM_BRESP_OK, 403, 0, 3},
        {"404 is framed not refused", "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nnf",
         SM_BRESP_GET, 0, SM_BRESP_OK, 404, 1, 2},
        {"100 continue skipped", "HTTP/1.1 100 Continue\r\n\r\n" CL5, SM_BRESP_GET, 0, SM_BRESP_OK,
         200, 1, 5, 0, 1},
        {"two interim", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\n" CL5,
         SM_BRESP_GET, 0, SM_BRESP_OK, 200, 1, 5, 0, 2},
        {"until close", "HTTP/1.1 200 OK\r\n\r\nabcdef", SM_BRESP_GET, 1, SM_BRESP_OK, 200, 0, 6},
        {"pipelined rest left", CL5 CL5, SM_BRESP_GET, 0, SM_BRESP_OK, 200, 1, 5,
         (long)sizeof(CL5) - 1},
        {"ows around values", "HTTP/1.1 200 OK\r\nContent-Length:\t 3 \r\n\r\nabc", SM_BRESP_GET, 0,
         SM_BRESP_OK, 200, 1, 3},
        /* refused */
        {"http/2 version", "HTTP/2 200 OK\r\n\r\n", SM_BRESP_GET, 0, SM_BRESP_STATUS_LINE},
        {"http/1.2", "HTTP/1.2 200 OK\r\n\r\n", SM_BRESP_GET, 0, SM_BRESP_STATUS_LINE},
        {"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", SM_BRESP_GET, 0, SM_BRESP_STATUS_LINE},
        {"status 600", "HTTP/1.1 600 X\r\n\r\n", SM_BRESP_GET, 0, SM_BRESP_STATUS_LINE},
        {"no sp after status", "HTTP/1.1 200OK\r\n\r\n", SM_BRESP_GET, 0, SM_BRESP_STATUS_LINE},
        {"lower-case http", "http/1.1 200 OK\r\n\r\n", SM_BRESP_GET, 0, SM_BRESP_STATUS_LINE},
        {"control in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", SM_BRESP_GET, 0, SM_BRESP_STATUS_LINE},
        {"bare lf", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", SM_BRESP_GET, 0,
         SM_BRESP_HEAD_BYTES},
        {"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", SM_BRESP_GET, 0,
         SM_BRESP_HEAD_BYTES},
        {"no colon", "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", SM_BRESP_GET, 0, SM_BRESP_FIELD_LINE},
        {"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", SM_BRESP_GET, 0,
         SM_BRESP_FIELD_LINE},
        {"empty name", "HTTP/1.1 200 OK\r\n: v\r\n\r\n", SM_BRESP_GET, 0, SM_BRESP_FIELD_LINE},
        {"cl letters", "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n", SM_BRESP_GET, 0,
         SM_BRESP_CONTENT_LENGTH},
        {"cl sign", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", SM_BRESP_GET, 0,
         SM_BRESP_CONTENT_LENGTH},
        {"cl empty", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", SM_BRESP_GET, 0,
         SM_BRESP_CONTENT_LENGTH},
        {"cl list", "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx", SM_BRESP_GET, 0,
         SM_BRESP_CONTENT_LENGTH},
        {"cl differ", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
         SM_BRESP_GET, 0, SM_BRESP_CONTENT_LENGTH},
        {"cl 20 digits", "HTTP/1.1 200 OK\r\nContent-Length: 10000000000000000000\r\n\r\n",
         SM_BRESP_GET, 0, SM_BRESP_CONTENT_LENGTH},
        {"te gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", SM_BRESP_GET, 0,
         SM_BRESP_TE_UNSUPPORTED},
        {"te gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
         SM_BRESP_GET, 0, SM_BRESP_TE_UNSUPPORTED},
        {"te twice",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
         SM_BRESP_GET, 0, SM_BRESP_TE_UNSUPPORTED},
        {"cl and te", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
         SM_BRESP_GET, 0, SM_BRESP_CL_AND_TE},
        {"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
         SM_BRESP_GET, 0, SM_BRESP_BODY_FRAMING},
        {"chunk without crlf",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n", SM_BRESP_GET,
         0, SM_BRESP_BODY_FRAMING},
        {"truncated cl", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", SM_BRESP_GET, 1,
         SM_BRESP_TRUNCATED},
        {"truncated chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
         SM_BRESP_GET, 1, SM_BRESP_TRUNCATED},
        {"truncated head", "HTTP/1.1 200 OK\r\nContent-Le", SM_BRESP_GET, 1, SM_BRESP_TRUNCATED},
        {"closed before anything", "", SM_BRESP_GET, 1, SM_BRESP_TRUNCATED},
};

struct outcome {
	int done;
	enum sm_bresp_reason why;
	unsigned status;
	int keep_alive;
	uint64_t body;
	long consumed;
	unsigned interim;
};

static struct sm_bresp g_r;

/* Feeds `in` in pieces ending at cuts[0..ncuts) (then the rest). */
static struct outcome run(const struct rcase *c, const size_t *cuts, size_t ncuts)
{
	struct sm_bresp *r = &g_r;
	size_t len = strlen(c->in), pos = 0;
	struct outcome o = {0};
	sm_bresp_init(r, c->method);
	for (size_t k = 0; k <= ncuts && !o.why; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		if (end < pos)
			continue;
		while (pos < end && !r->done) {
			size_t avail = end - pos;
			long n = sm_bresp_feed(r, (const uint8_t *)c->in + pos, avail);
			if (n < 0) {
				cr_assert_neq(r->why, SM_BRESP_OK, "%s: error without reason",
				              c->what);
				o.why = r->why;
				break;
			}
			pos += (size_t)n;
			/* the parser only stops short at the end of the response */
			cr_assert((size_t)n == avail || r->done, "%s: stopped early", c->what);
		}
		if (r->done)
			break;
	}
	if (!o.why && c->eof && !r->done) {
		if (!sm_bresp_eof(r))
			o.why = r->why;
	}
	o.done = r->done;
	o.status = r->status;
	o.keep_alive = r->keep_alive;
	o.body = r->body_bytes;
	o.consumed = (long)pos;
	o.interim = r->interim;
	return o;
}

static void check(const struct rcase *c, struct outcome o, const char *how)
{
	cr_assert_eq(o.why, c->why, "%s (%s): reason %s want %s", c->what, how,
	             sm_bresp_reason_str(o.why), sm_bresp_reason_str(c->why));
	if (c->why != SM_BRESP_OK)
		return;
	cr_assert(o.done, "%s (%s): not done", c->what, how);
	cr_assert_eq(o.status, c->status, "%s (%s): status %u", c->what, how, o.status);
	cr_assert_eq(o.keep_alive, c->keep_alive, "%s (%s): keep_alive", c->what, how);
	cr_assert_eq(o.body, c->body, "%s (%s): body %llu", c->what, how,
	             (unsigned long long)o.body);
	cr_assert_eq(o.consumed, (long)strlen(c->in) - c->trailing, "%s (%s): consumed %ld",
	             c->what, how, o.consumed);
	cr_assert_eq(o.interim, c->interim, "%s (%s): interim", c->what, how);
}

Test(bresp, table_whole)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(&cases[i], run(&cases[i], NULL, 0), "whole");
}

Test(bresp, table_split_at_every_byte)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);
		for (size_t cut = 0; cut <= len; cut++)
			check(&cases[i], run(&cases[i], &cut, 1), "one split");
	}
}

Test(bresp, table_byte_by_byte_and_random_pieces)
{
	uint64_t x = 0x2545F4914F6CDD1Dull;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);
		size_t cuts[512], n = 0;
		for (size_t k = 1; k < len && n < 512; k++)
			cuts[n++] = k;
		check(&cases[i], run(&cases[i], cuts, n), "byte by byte");
		for (int rep = 0; rep < 50; rep++) {
			n = 0;
			size_t at = 0;
			while (n < 16) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				at += 1 + x % 9;
				if (at >= len)
					break;
				cuts[n++] = at;
			}
			check(&cases[i], run(&cases[i], cuts, n), "random pieces");
		}
	}
}

Test(bresp, head_too_large)
{
	static char big[SM_BRESP_MAX_HEAD + 64];
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'a', sizeof(big) - 21);
	struct sm_bresp *r = &g_r;
	sm_bresp_init(r, SM_BRESP_GET);
	long n = sm_bresp_feed(r, (const uint8_t *)big, sizeof(big) - 1);
	cr_expect_eq(n, SM_ERR_LIMIT);
	cr_expect_eq(r->why, SM_BRESP_HEAD_TOO_LARGE);
}

Test(bresp, large_body_counts_without_copying)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n";
	static uint8_t zeros[65536];
	struct sm_bresp *r = &g_r;
	sm_bresp_init(r, SM_BRESP_GET);
	cr_assert_eq(sm_bresp_feed(r, (const uint8_t *)head, sizeof(head) - 1),
	             (long)sizeof(head) - 1);
	for (int i = 0; i < 16384; i++)
		cr_assert_eq(sm_bresp_feed(r, zeros, sizeof(zeros)), (long)sizeof(zeros));
	cr_expect(r->done);
	cr_expect_eq(r->body_bytes, 1ull << 30);
	cr_expect_eq(r->total_bytes, (1ull << 30) + sizeof(head) - 1);
	cr_expect_eq(sm_bresp_feed(r, zeros, 10), 0); /* after done: nothing taken */
}

Test(bresp, reason_names)
{
	for (int w = SM_BRESP_OK; w <= SM_BRESP_TRUNCATED; w++)
		cr_expect_str_neq(sm_bresp_reason_str((enum sm_bresp_reason)w), "unknown");
	cr_expect_str_eq(sm_bresp_reason_str((enum sm_bresp_reason)999), "unknown");
}
