/* Content decoders in prefix mode (lim.prefix): the first bytes of a body,
 * and nothing past them decoded or checked. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "codec_helpers.h"
#include "base/result.h"
#include "decode/content.h"

struct col {
	uint8_t buf[1 << 16];
	size_t len;
};

static int col_sink(void *arg, const uint8_t *p, size_t n)
{
	struct col *c = arg;
	cr_assert_leq(n, sizeof(c->buf) - c->len, "sink got more than the prefix");
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	return 0;
}

/* Decodes enc under header h in `step`-byte writes; *cut is the stack's. */
static int decode(const char *h, size_t prefix, const uint8_t *enc, size_t n, size_t step,
                  struct col *out, bool *cut)
{
	struct sm_content_limits lim = {
	        .max_input = 1 << 20, .max_output = 1 << 20, .prefix = prefix};
	struct sm_content c;
	out->len = 0;
	int r = sm_content_init(&c, h, strlen(h), &lim, col_sink, out);
	if (r)
		return r;
	for (size_t i = 0; i < n && r == SM_OK; i += step)
		r = sm_content_write(&c, enc + i, n - i < step ? n - i : step);
	if (r == SM_OK)
		r = sm_content_finish(&c);
	*cut = c.cut;
	if (c.cut)
		cr_assert_eq(c.n, 0, "a cut stack keeps no decoder");
	sm_content_free(&c);
	return r;
}

Test(content_prefix, every_coding_delivers_exactly_the_prefix_at_every_step)
{
	static const struct {
		const char *enc, *header;
	} cases[] = {{"gzip", "gzip"}, {"zlib", "deflate"}, {"rawdeflate", "deflate"},
	             {"br", "br"},     {"zstd", "zstd"},    {"gzip", "identity, gzip"}};
	size_t plain_n = 300000;
	uint8_t *plain = tc_sample(plain_n, 11);
	static const size_t steps[] = {1, 13, 1024, 4096, SIZE_MAX / 2};
	static struct col out;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n;
		uint8_t *enc = tc_encode(cases[i].enc, plain, plain_n, &n);
		for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
			bool cut = false;
			int r = decode(cases[i].header, 1000, enc, n, steps[s], &out, &cut);
			cr_assert_eq(r, SM_OK, "%s step %zu: %s", cases[i].header, steps[s],
			             sm_result_str(r));
			cr_assert(cut, "%s step %zu: cut", cases[i].header, steps[s]);
			cr_assert_eq(out.len, 1000, "%s step %zu: %zu", cases[i].header, steps[s],
			             out.len);
			cr_assert(!memcmp(out.buf, plain, 1000), "%s step %zu", cases[i].header,
			          steps[s]);
		}
		free(enc);
	}
	free(plain);
}

Test(content_prefix, a_body_shorter_than_the_prefix_is_decoded_and_checked_whole)
{
	uint8_t *plain = tc_sample(700, 3);
	static struct col out;
	static const char *const codings[] = {"gzip", "zlib", "rawdeflate"};
	static const char *const headers[] = {"gzip", "deflate", "deflate"};
	for (int i = 0; i < 3; i++) {
		size_t n;
		uint8_t *enc = tc_encode(codings[i], plain, 700, &n);
		bool cut = true;
		cr_assert_eq(decode(headers[i], 1000, enc, n, 7, &out, &cut), SM_OK, "%s",
		             codings[i]);
		cr_assert(!cut && out.len == 700 && !memcmp(out.buf, plain, 700), "%s", codings[i]);
		/* the same body cut short: the stream never ended */
		cr_assert_eq(decode(headers[i], 1000, enc, n - 20, 7, &out, &cut), SM_ERR_TRUNCATED,
		             "%s", codings[i]);
		free(enc);
	}
	free(plain);
}

Test(content_prefix, corruption_inside_the_prefix_is_reported_past_it_unseen)
{
	size_t plain_n = 100000;
	uint8_t *plain = tc_sample(plain_n, 5);
	size_t n;
	uint8_t *enc = tc_encode("gzip", plain, plain_n, &n);
	static struct col out;
	bool cut;
	/* the tail (CRC, length) and the second half overwritten */
	memset(enc + n / 2, 0xff, n - n / 2);
	cr_assert_eq(decode("gzip", 1000, enc, n, 4096, &out, &cut), SM_OK);
	cr_assert(cut && out.len == 1000 && !memcmp(out.buf, plain, 1000));
	/* the whole body decoded: the damage is found */
	cr_assert_eq(decode("gzip", 0, enc, n, 4096, &out, &cut), SM_ERR_INVALID);
	/* damage in the first bytes: found in prefix mode too */
	static const uint8_t junk[] = "\x1f\x8b\x08\x00garbage-not-deflate-garbage";
	cr_assert_eq(decode("gzip", 1000, junk, sizeof(junk) - 1, 3, &out, &cut), SM_ERR_INVALID);
	cr_assert_eq(decode("deflate", 1000, junk + 4, sizeof(junk) - 5, 3, &out, &cut),
	             SM_ERR_INVALID);
	free(enc);
	free(plain);
}

Test(content_prefix, concatenated_gzip_members_continue_into_the_prefix)
{
	uint8_t *plain = tc_sample(1200, 9);
	size_t n1, n2;
	uint8_t *a = tc_encode("gzip", plain, 300, &n1);
	uint8_t *b = tc_encode("gzip", plain + 300, 900, &n2);
	uint8_t *both = malloc(n1 + n2 + 5);
	memcpy(both, a, n1);
	memcpy(both + n1, b, n2);
	static struct col out;
	bool cut;
	for (size_t step = 1; step <= n1 + n2; step += 37) {
		cr_assert_eq(decode("gzip", 1000, both, n1 + n2, step, &out, &cut), SM_OK);
		cr_assert(cut && out.len == 1000 && !memcmp(out.buf, plain, 1000), "step %zu",
		          step);
	}
	/* bytes after the last member that are not a member are ignored */
	memcpy(both + n1, "junk!", 5);
	cr_assert_eq(decode("gzip", 1000, both, n1 + 5, 2, &out, &cut), SM_OK);
	cr_assert(!cut && out.len == 300 && !memcmp(out.buf, plain, 300));
	free(both);
	free(a);
	free(b);
	free(plain);
}

Test(content_prefix, identity_passes_the_whole_body)
{
	uint8_t *plain = tc_sample(5000, 1);
	static struct col out;
	bool cut = true;
	cr_assert_eq(decode("identity", 1000, plain, 5000, 999, &out, &cut), SM_OK);
	cr_assert(!cut && out.len == 5000 && !memcmp(out.buf, plain, 5000));
	cr_assert_eq(decode("", 1000, plain, 5000, 999, &out, &cut), SM_OK);
	cr_assert(!cut && out.len == 5000);
	free(plain);
}

/* A bomb never gets past the prefix: the work is bounded by it. */
Test(content_prefix, a_bomb_stops_at_the_prefix)
{
	size_t plain_n = 8 << 20;
	uint8_t *zeros = calloc(1, plain_n);
	size_t n;
	uint8_t *enc = tc_encode("gzip", zeros, plain_n, &n);
	static struct col out;
	bool cut;
	cr_assert_eq(decode("gzip", 1000, enc, n, 1 << 16, &out, &cut), SM_OK);
	cr_assert(cut && out.len == 1000);
	free(enc);
	free(zeros);
}
