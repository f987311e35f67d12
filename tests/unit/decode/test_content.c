#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "codec_helpers.h"
#include "base/result.h"
#include "decode/content.h"

/* Collects decoded output up to a cap, counting everything delivered. */
struct col {
	uint8_t *buf;
	size_t len, cap;
	size_t total;
	size_t calls;
	size_t max_call;  /* largest single delivery */
	int refuse_after; /* refuse the nth call (0: never) */
};

static int col_sink(void *arg, const uint8_t *p, size_t n)
{
	struct col *c = arg;
	c->calls++;
	if (n > c->max_call)
		c->max_call = n;
	if (c->refuse_after && (int)c->calls >= c->refuse_after)
		return 1;
	if (n <= c->cap - c->len) {
		memcpy(c->buf + c->len, p, n);
		c->len += n;
	}
	c->total += n;
	return 0;
}

static const struct sm_content_limits big = {.max_input = 8 << 20, .max_output = 8 << 20};

/* Decodes enc under header h feeding `step`-byte writes. */
static int decode(const char *h, const struct sm_content_limits *lim, const uint8_t *enc, size_t n,
                  size_t step, struct col *out, struct sm_content *cst)
{
	struct sm_content c;
	int r = sm_content_init(&c, h, strlen(h), lim, col_sink, out);
	if (r)
		return r;
	for (size_t i = 0; i < n && r == SM_OK; i += step)
		r = sm_content_write(&c, enc + i, n - i < step ? n - i : step);
	if (r == SM_OK)
		r = sm_content_finish(&c);
	if (cst)
		*cst = c;
	sm_content_free(&c);
	return r;
}

Test(content, round_trip_every_coding_and_chunking)
{
	static const struct {
		const char *enc, *header;
	} cases[] = {{"gzip", "gzip"},          {"gzip", "x-gzip"}, {"zlib", "deflate"},
	             {"rawdeflate", "deflate"}, {"br", "br"},       {"zstd", "zstd"},
	             {"zstd", " ZSTD "},        {"gzip", "GZip"}};
	size_t plain_n = 200000;
	uint8_t *plain = tc_sample(plain_n, 7);
	struct col out = {.buf = malloc(plain_n), .cap = plain_n};
	static const size_t steps[] = {1, 7, 4096, 65536, SIZE_MAX / 2};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n;
		uint8_t *enc = tc_encode(cases[i].enc, plain, plain_n, &n);
		for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
			if (steps[s] == 1 && n > 70000)
				continue;
			out.len = out.total = out.calls = 0;
			int r = decode(cases[i].header, &big, enc, n, steps[s], &out, NULL);
			cr_assert_eq(r, SM_OK, "%s step %zu: %s", cases[i].header, steps[s],
			             sm_result_str(r));
			cr_assert_eq(out.len, plain_n, "%s: %zu", cases[i].header, out.len);
			cr_assert(memcmp(out.buf, plain, plain_n) == 0, "%s", cases[i].header);
		}
		free(enc);
	}
	free(out.buf);
	free(plain);
}

Test(content, stacked_codings_apply_in_reverse)
{
	size_t plain_n = 50000, n1, n2, n3;
	uint8_t *plain = tc_sample(plain_n, 3);
	/* "gzip, br, zstd": gzip was applied first, so zstd is undone first. */
	uint8_t *e1 = tc_encode("gzip", plain, plain_n, &n1);
	uint8_t *e2 = tc_encode("br", e1, n1, &n2);
	uint8_t *e3 = tc_encode("zstd", e2, n2, &n3);
	struct col out = {.buf = malloc(plain_n), .cap = plain_n};
	cr_assert_eq(decode("gzip, br,zstd", &big, e3, n3, 1000, &out, NULL), SM_OK);
	cr_assert_eq(out.len, plain_n);
	cr_assert(memcmp(out.buf, plain, plain_n) == 0);
	/* identity anywhere is a pass-through; empty elements are skipped. */
	out.len = 0;
	cr_assert_eq(decode("gzip,,identity , br, zstd", &big, e3, n3, 333, &out, NULL), SM_OK);
	cr_assert_eq(out.len, plain_n);
	/* Wrong order fails in the first decoder (zstd reading a gzip? no: br
	 * reading zstd bytes) and names it. */
	struct sm_content cst;
	out.len = 0;
	int r = decode("gzip, zstd, br", &big, e3, n3, 1000, &out, &cst);
	cr_assert_eq(r, SM_ERR_INVALID);
	cr_assert_eq(cst.reason, SM_CONTENT_CORRUPT);
	cr_assert_str_eq(sm_content_failed_name(&cst), "br");
	free(e1), free(e2), free(e3), free(plain), free(out.buf);
}

Test(content, header_parsing)
{
	struct sm_content c;
	struct col out = {0};
	cr_assert_eq(sm_content_init(&c, "gzip, compress", 14, &big, col_sink, &out),
	             SM_ERR_UNSUPPORTED);
	cr_assert_eq(c.reason, SM_CONTENT_UNKNOWN);
	cr_assert_str_eq(sm_content_reason_str(c.reason), "unknown");
	const char *five = "gzip, br, zstd, deflate, identity";
	cr_assert_eq(sm_content_init(&c, five, strlen(five), &big, col_sink, &out), SM_ERR_LIMIT);
	cr_assert_eq(c.reason, SM_CONTENT_TOO_DEEP);
	const char *four = "gzip, br, zstd, deflate";
	cr_assert_eq(sm_content_init(&c, four, strlen(four), &big, col_sink, &out), SM_OK);
	cr_assert_eq(c.n, 4);
	cr_assert_str_eq(c.vt[0]->name, "deflate");
	cr_assert_str_eq(c.vt[3]->name, "gzip");
	sm_content_free(&c);
	/* Empty list: pass-through. */
	uint8_t buf[8];
	out = (struct col){.buf = buf, .cap = sizeof(buf)};
	cr_assert_eq(sm_content_init(&c, " , ", 3, &big, col_sink, &out), SM_OK);
	cr_assert_eq(c.n, 0);
	cr_assert_eq(sm_content_write(&c, (const uint8_t *)"abc", 3), SM_OK);
	cr_assert_eq(sm_content_finish(&c), SM_OK);
	cr_assert_eq(sm_content_write(&c, (const uint8_t *)"abc", 3), SM_ERR_STATE);
	sm_content_free(&c);
	cr_assert_eq(out.len, 3);
	cr_assert_null(sm_content_find("gzip2", 5));
	cr_assert_not_null(sm_content_find("BR", 2));
}

Test(content, empty_body_and_errors)
{
	struct col out = {.buf = malloc(1 << 16), .cap = 1 << 16};
	static const char *names[] = {"gzip", "deflate", "br", "zstd", "identity"};
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(decode(names[i], &big, NULL, 0, 1, &out, NULL), SM_OK, "%s", names[i]);
		cr_assert_eq(out.total, 0);
	}
	/* Garbage is corrupt for every compressing decoder. */
	static const uint8_t junk[] = "this is not compressed at all, honestly \xff\xfe";
	struct sm_content cst;
	for (int i = 0; i < 4; i++) {
		int r = decode(names[i], &big, junk, sizeof(junk), 5, &out, &cst);
		cr_assert_eq(r, SM_ERR_INVALID, "%s: %d", names[i], r);
		cr_assert_eq(cst.reason, SM_CONTENT_CORRUPT, "%s", names[i]);
		cr_assert_str_eq(sm_content_failed_name(&cst), names[i]);
	}
	/* Truncated streams: br and zstd know; libdeflate reports corrupt. */
	size_t plain_n = 30000, n;
	uint8_t *plain = tc_sample(plain_n, 1);
	static const char *enc[] = {"br", "zstd", "gzip"};
	static const int want[] = {SM_CONTENT_TRUNCATED, SM_CONTENT_TRUNCATED, SM_CONTENT_CORRUPT};
	for (int i = 0; i < 3; i++) {
		uint8_t *e = tc_encode(enc[i], plain, plain_n, &n);
		out.len = 0;
		decode(enc[i], &big, e, n - 3, 100, &out, &cst);
		cr_assert_eq(cst.reason, want[i], "%s: %s", enc[i],
		             sm_content_reason_str(cst.reason));
		free(e);
	}
	/* Bytes after a complete br stream. */
	uint8_t *e = tc_encode("br", plain, 100, &n);
	uint8_t *e2 = malloc(n + 1);
	memcpy(e2, e, n);
	e2[n] = 'x';
	decode("br", &big, e2, n + 1, 4096, &out, &cst);
	cr_assert_eq(cst.reason, SM_CONTENT_TRAILING);
	free(e2), free(e);
	/* Consumer refusal stops decoding with reason sink. */
	e = tc_encode("zstd", plain, plain_n, &n);
	out.len = out.calls = 0;
	out.refuse_after = 1;
	cr_assert_eq(decode("zstd", &big, e, n, n, &out, &cst), SM_ERR_STATE);
	cr_assert_eq(cst.reason, SM_CONTENT_SINK);
	free(e), free(plain), free(out.buf);
}

Test(content, concatenated_gzip_members)
{
	size_t n1, n2;
	uint8_t *a = tc_encode("gzip", (const uint8_t *)"hello ", 6, &n1);
	uint8_t *b = tc_encode("gzip", (const uint8_t *)"world", 5, &n2);
	uint8_t *ab = malloc(n1 + n2 + 4);
	memcpy(ab, a, n1);
	memcpy(ab + n1, b, n2);
	memcpy(ab + n1 + n2, "\0\0\0\0", 4); /* trailing padding is ignored */
	uint8_t buf[64];
	struct col out = {.buf = buf, .cap = sizeof(buf)};
	cr_assert_eq(decode("gzip", &big, ab, n1 + n2 + 4, 3, &out, NULL), SM_OK);
	cr_assert_eq(out.len, 11);
	cr_assert(memcmp(buf, "hello world", 11) == 0);
	free(a), free(b), free(ab);
}

Test(content, one_shot_input_bound_is_too_large)
{
	size_t plain_n = 100000, n;
	uint8_t *plain = tc_sample(plain_n, 9);
	uint8_t *e = tc_encode("gzip", plain, plain_n, &n);
	struct sm_content_limits lim = {.max_input = n - 1, .max_output = 1 << 20};
	struct col out = {.buf = malloc(plain_n), .cap = plain_n};
	struct sm_content cst;
	cr_assert_eq(decode("gzip", &lim, e, n, 1000, &out, &cst), SM_ERR_LIMIT);
	cr_assert_eq(cst.reason, SM_CONTENT_TOO_LARGE);
	cr_assert_str_eq(sm_content_reason_str(cst.reason), "too_large");
	cr_assert_eq(out.total, 0);
	lim.max_input = n;
	cr_assert_eq(decode("gzip", &lim, e, n, 1000, &out, NULL), SM_OK);
	cr_assert_eq(out.len, plain_n);
	free(e), free(plain), free(out.buf);
}

Test(content, hand_built_deflate_stream_is_valid)
{
	/* The bomb generator itself, at a size we can check: 1 + 258*100 zeros. */
	static const char *wraps[][2] = {
	        {"gzip", "gzip"}, {"zlib", "deflate"}, {"rawdeflate", "deflate"}};
	uint8_t *buf = malloc(1 << 16);
	for (int i = 0; i < 3; i++) {
		size_t n;
		uint8_t *b = tc_wrapped_bomb(wraps[i][0], 100, &n);
		struct col out = {.buf = buf, .cap = 1 << 16};
		cr_assert_eq(decode(wraps[i][1], &big, b, n, 7, &out, NULL), SM_OK, "%s",
		             wraps[i][0]);
		cr_assert_eq(out.len, 1 + 258 * 100);
		for (size_t k = 0; k < out.len; k++)
			cr_assert_eq(buf[k], 0);
		free(b);
	}
	free(buf);
}

#define GIB    ((size_t)1 << 30)
#define BUDGET ((size_t)1 << 20)

/* gzip, zlib-wrapped deflate and raw deflate streams that would expand to
 * 1 GiB (about 1 MiB each, built bit by bit): the decoder stops at the 1 MiB
 * budget. libdeflate never writes past a buffer of `budget` bytes. */
Test(content, deflate_family_bombs_stop_at_budget)
{
	static const char *wraps[][2] = {
	        {"gzip", "gzip"}, {"zlib", "deflate"}, {"rawdeflate", "deflate"}};
	struct sm_content_limits lim = {.max_input = 2 << 20, .max_output = BUDGET};
	for (int i = 0; i < 3; i++) {
		size_t n;
		uint8_t *b = tc_wrapped_bomb(wraps[i][0], GIB / 258 + 1, &n);
		cr_assert_lt(n, 2 << 20);
		struct col out = {.buf = NULL, .cap = 0};
		struct sm_content cst;
		int r = decode(wraps[i][1], &lim, b, n, 65536, &out, &cst);
		cr_assert_eq(r, SM_ERR_BOMB, "%s: %s", wraps[i][0], sm_result_str(r));
		cr_assert_eq(cst.reason, SM_CONTENT_BOMB);
		cr_assert_str_eq(sm_content_reason_str(cst.reason), "bomb");
		cr_assert_leq(out.total, BUDGET);
		free(b);
	}
}

/* Feeds a 1 GiB zero stream through a streaming encoder and its output into
 * the decoder as it appears, so neither side ever holds more than a chunk:
 * the decoder must report bomb having delivered exactly the budget, long
 * before the encoder has consumed 1 GiB. */
static void streaming_bomb(const char *coding)
{
	static uint8_t zeros[1 << 16];
	static uint8_t enc[1 << 17];
	struct sm_content_limits lim = {.max_input = 1 << 20, .max_output = BUDGET};
	struct col out = {0};
	struct sm_content c;
	cr_assert_eq(sm_content_init(&c, coding, strlen(coding), &lim, col_sink, &out), SM_OK);
	int r = SM_OK;
	size_t fed = 0;
	bool is_br = !strcmp(coding, "br");
	BrotliEncoderState *bs = NULL;
	ZSTD_CCtx *zc = NULL;
	if (is_br) {
		bs = BrotliEncoderCreateInstance(NULL, NULL, NULL);
		BrotliEncoderSetParameter(bs, BROTLI_PARAM_QUALITY, 1);
	} else {
		zc = ZSTD_createCCtx();
		/* The frame header declares the full 1 GiB. */
		ZSTD_CCtx_setPledgedSrcSize(zc, GIB);
	}
	while (fed < GIB && r == SM_OK) {
		size_t produced;
		if (is_br) {
			/* Flush each 64 KiB so output appears as input goes in. */
			size_t avail_in = sizeof(zeros);
			const uint8_t *ni = zeros;
			do {
				size_t avail_out = sizeof(enc);
				uint8_t *no = enc;
				BrotliEncoderCompressStream(bs, BROTLI_OPERATION_FLUSH, &avail_in,
				                            &ni, &avail_out, &no, NULL);
				produced = sizeof(enc) - avail_out;
				r = sm_content_write(&c, enc, produced);
			} while (r == SM_OK && (avail_in > 0 || BrotliEncoderHasMoreOutput(bs)));
			produced = 0;
		} else {
			ZSTD_inBuffer ib = {zeros, sizeof(zeros), 0};
			ZSTD_outBuffer ob = {enc, sizeof(enc), 0};
			size_t z = ZSTD_compressStream2(zc, &ob, &ib, ZSTD_e_flush);
			cr_assert(!ZSTD_isError(z));
			cr_assert_eq(ib.pos, ib.size);
			produced = ob.pos;
		}
		fed += sizeof(zeros);
		r = sm_content_write(&c, enc, produced);
	}
	cr_assert_eq(r, SM_ERR_BOMB, "%s: %s after %zu", coding, sm_result_str(r), fed);
	cr_assert_eq(c.reason, SM_CONTENT_BOMB);
	cr_assert_eq(out.total, BUDGET, "%s delivered %zu", coding, out.total);
	/* Output only ever passes through the fixed chunk buffer. */
	cr_assert_leq(out.max_call, SM_CONTENT_CHUNK);
	/* It stopped long before the encoder got through the 1 GiB. (The
	 * decoder takes input in SM_CONTENT_PIECE pieces, and a flushed 64 KiB
	 * of zeros is only ~20 encoded bytes, so a few MiB go in first.) */
	cr_assert_lt(fed, GIB / 16, "%s fed %zu", coding, fed);
	cr_assert_eq(sm_content_write(&c, enc, 1), SM_ERR_BOMB); /* sticky */
	sm_content_free(&c);
	if (bs)
		BrotliEncoderDestroyInstance(bs);
	if (zc)
		ZSTD_freeCCtx(zc);
}

Test(content, brotli_bomb_stops_at_budget)
{
	streaming_bomb("br");
}

Test(content, zstd_bomb_stops_at_budget)
{
	streaming_bomb("zstd");
}

/* A whole 1 GiB zstd frame in one write (compressed once, ~32 KiB). */
Test(content, zstd_whole_bomb_in_one_write)
{
	static uint8_t zeros[1 << 16];
	size_t cap = 1 << 20;
	uint8_t *enc = malloc(cap);
	ZSTD_CCtx *zc = ZSTD_createCCtx();
	ZSTD_CCtx_setPledgedSrcSize(zc, GIB);
	ZSTD_outBuffer ob = {enc, cap, 0};
	for (size_t fed = 0; fed < GIB; fed += sizeof(zeros)) {
		ZSTD_inBuffer ib = {zeros, sizeof(zeros), 0};
		ZSTD_EndDirective d = fed + sizeof(zeros) == GIB ? ZSTD_e_end : ZSTD_e_continue;
		size_t z;
		do {
			z = ZSTD_compressStream2(zc, &ob, &ib, d);
			cr_assert(!ZSTD_isError(z));
		} while (ib.pos < ib.size || (d == ZSTD_e_end && z != 0));
	}
	ZSTD_freeCCtx(zc);
	cr_assert_lt(ob.pos, cap);
	struct sm_content_limits lim = {.max_input = 1 << 20, .max_output = BUDGET};
	struct col out = {0};
	struct sm_content cst;
	cr_assert_eq(decode("zstd", &lim, enc, ob.pos, ob.pos, &out, &cst), SM_ERR_BOMB);
	cr_assert_eq(out.total, BUDGET);
	free(enc);
}
