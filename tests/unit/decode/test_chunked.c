#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "decode/chunked.h"

struct out {
	char buf[4096];
	size_t len;
};

static int sink(void *arg, const uint8_t *p, size_t n)
{
	struct out *o = arg;
	cr_assert_leq(n, sizeof(o->buf) - o->len);
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	return 0;
}

struct row {
	const char *in;
	const char *data; /* NULL: error expected */
	size_t consumed;  /* for valid rows: bytes up to the end of the message */
	enum sm_chunked_reason reason;
};

#define OK(in, data, consumed)                                                                     \
	{                                                                                          \
		in, data, consumed, SM_CHUNKED_OK                                                  \
	}
#define BAD(in, reason)                                                                            \
	{                                                                                          \
		in, NULL, 0, reason                                                                \
	}

static const struct row rows[] = {
        OK("0\r\n\r\n", "", 5),
        OK("5\r\nhello\r\n0\r\n\r\n", "hello", 15),
        OK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 26),
        OK("A\r\n0123456789\r\n0\r\n\r\n", "0123456789", 20),
        OK("a;ext=1\r\n0123456789\r\n0\r\n\r\n", "0123456789", 26),
        OK("3 ; x=\"y\"\r\nabc\r\n0\r\n\r\n", "abc", 21),
        OK("0003\r\nabc\r\n0\r\n\r\n", "abc", 16),
        OK("3\r\nabc\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n", "abc", 27),
        OK("3\r\nabc\r\n0\r\n\r\nNEXT", "abc", 13),
        BAD("\r\n", SM_CHUNKED_BAD_SIZE),
        BAD("x\r\n", SM_CHUNKED_BAD_SIZE),
        BAD("5x\r\n", SM_CHUNKED_BAD_SIZE),
        BAD("5\nhello", SM_CHUNKED_BAD_CRLF),
        BAD("5\rhello", SM_CHUNKED_BAD_CRLF),
        BAD("5\r\nhelloX", SM_CHUNKED_BAD_CRLF),
        BAD("5\r\nhello\rX", SM_CHUNKED_BAD_CRLF),
        BAD("5\r\nhello\n", SM_CHUNKED_BAD_CRLF),
        BAD("0\r\nX: 1\n", SM_CHUNKED_BAD_CRLF),
        BAD("0\r\n\n", SM_CHUNKED_BAD_CRLF),
        BAD("0\r\n\rX", SM_CHUNKED_BAD_CRLF),
        BAD("3;a\x01\r\n", SM_CHUNKED_BAD_SIZE),
        BAD("10000000000000000\r\n", SM_CHUNKED_SIZE_OVERFLOW),
        BAD("8000000000000000\r\n", SM_CHUNKED_SIZE_OVERFLOW),
        BAD("-1\r\n", SM_CHUNKED_BAD_SIZE),
};

static void run_split(const struct row *r, size_t split)
{
	struct sm_chunked c;
	struct sm_chunked_limits lim = {64, 64};
	sm_chunked_init(&c, &lim);
	struct out o = {.len = 0};
	size_t n = strlen(r->in);
	long a = sm_chunked_feed(&c, (const uint8_t *)r->in, split, sink, &o);
	long b = 0;
	if (a >= 0 && (size_t)a == split)
		b = sm_chunked_feed(&c, (const uint8_t *)r->in + split, n - split, sink, &o);
	if (r->data) {
		cr_assert_geq(a, 0, "%s split %zu", r->in, split);
		cr_assert_geq(b, 0, "%s split %zu: %s", r->in, split,
		              sm_chunked_reason_str(c.reason));
		cr_assert_eq((size_t)(a + b), r->consumed, "%s split %zu", r->in, split);
		cr_assert(sm_chunked_done(&c));
		cr_assert_eq(sm_chunked_finish(&c), SM_OK);
		cr_assert_eq(o.len, strlen(r->data));
		cr_assert(memcmp(o.buf, r->data, o.len) == 0);
	} else {
		cr_assert(a < 0 || b < 0, "%s split %zu accepted", r->in, split);
		cr_assert_eq(c.reason, r->reason, "%s split %zu: %s", r->in, split,
		             sm_chunked_reason_str(c.reason));
		cr_assert_neq(sm_chunked_finish(&c), SM_OK);
	}
}

Test(chunked, table_at_every_split)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		for (size_t k = 0; k <= strlen(rows[i].in); k++)
			run_split(&rows[i], k);
}

Test(chunked, truncation_and_limits)
{
	struct sm_chunked c;
	struct out o = {.len = 0};
	struct sm_chunked_limits lim = {8, 16};
	static const char *partial[] = {"",           "5",
	                                "5\r",        "5\r\nhel",
	                                "5\r\nhello", "5\r\nhello\r\n",
	                                "0\r\n",      "0\r\nX: 1\r\n"};
	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
		sm_chunked_init(&c, &lim);
		o.len = 0;
		cr_assert_eq(sm_chunked_feed(&c, (const uint8_t *)partial[i], strlen(partial[i]),
		                             sink, &o),
		             (long)strlen(partial[i]));
		cr_assert_eq(sm_chunked_finish(&c), SM_ERR_TRUNCATED, "%s", partial[i]);
		cr_assert_eq(c.reason, SM_CHUNKED_TRUNCATED);
	}
	/* Size line: 8 bytes allowed, the 9th is over. */
	sm_chunked_init(&c, &lim);
	cr_assert_eq(
	        sm_chunked_feed(&c, (const uint8_t *)"1;abcdef\r\nx\r\n0\r\n\r\n", 18, sink, &o),
	        18);
	sm_chunked_init(&c, &lim);
	cr_assert_eq(sm_chunked_feed(&c, (const uint8_t *)"1;abcdefg\r\n", 11, sink, &o),
	             SM_ERR_LIMIT);
	cr_assert_eq(c.reason, SM_CHUNKED_LINE_TOO_LONG);
	cr_assert_eq(c.offset, 8);
	/* Trailers: 16 bytes with CRLFs allowed. */
	sm_chunked_init(&c, &lim);
	cr_assert_eq(
	        sm_chunked_feed(&c, (const uint8_t *)"0\r\nA: 12345678901\r\n\r\n", 21, sink, &o),
	        21);
	sm_chunked_init(&c, &lim);
	cr_assert_eq(
	        sm_chunked_feed(&c, (const uint8_t *)"0\r\nA: 123456789012\r\n\r\n", 22, sink, &o),
	        SM_ERR_LIMIT);
	cr_assert_eq(c.reason, SM_CHUNKED_TRAILERS_TOO_LARGE);
	/* Errors are sticky; a finished decoder consumes nothing. */
	cr_assert_eq(sm_chunked_feed(&c, (const uint8_t *)"0\r\n\r\n", 5, sink, &o), SM_ERR_LIMIT);
	sm_chunked_init(&c, NULL);
	cr_assert_eq(sm_chunked_feed(&c, (const uint8_t *)"0\r\n\r\n", 5, sink, &o), 5);
	cr_assert_eq(sm_chunked_feed(&c, (const uint8_t *)"0\r\n\r\n", 5, sink, &o), 0);
	cr_assert_str_eq(sm_chunked_reason_str(SM_CHUNKED_BAD_CRLF), "bad_crlf");
}

Test(chunked, large_chunk_streams_without_buffering)
{
	/* 1 MiB chunk fed in 1000-byte pieces: the sink sees every byte once. */
	size_t n = 1 << 20;
	char head[32];
	int hl = snprintf(head, sizeof(head), "%zx\r\n", n);
	uint8_t *body = malloc(hl + n + 7);
	memcpy(body, head, hl);
	for (size_t i = 0; i < n; i++)
		body[hl + i] = (uint8_t)i;
	memcpy(body + hl + n, "\r\n0\r\n\r\n", 7);
	struct sm_chunked c;
	sm_chunked_init(&c, NULL);
	size_t total = hl + n + 7;
	for (size_t i = 0; i < total; i += 1000) {
		size_t k = total - i < 1000 ? total - i : 1000;
		struct out o = {.len = 0};
		cr_assert_eq(sm_chunked_feed(&c, body + i, k, sink, &o), (long)k);
	}
	cr_assert(sm_chunked_done(&c));
	cr_assert_eq(c.data_bytes, n);
	cr_assert_eq(c.chunks, 1);
	free(body);
}
