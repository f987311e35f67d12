#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/result.h"
#include "decode/inflate.h"

/* ---- a permessage-deflate sender (zlib), as browsers and servers do it ---- */

struct sender {
	z_stream zs;
	bool reset_each; /* no_context_takeover */
};

static void sender_init(struct sender *s, int wbits, bool reset_each)
{
	memset(s, 0, sizeof(*s));
	s->reset_each = reset_each;
	cr_assert_eq(deflateInit2(&s->zs, 6, Z_DEFLATED, -wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
}

/* One message: sync flush, the trailing 00 00 ff ff removed (RFC 7692 7.2.1). */
static uint8_t *sender_msg(struct sender *s, const void *msg, size_t n, size_t *len)
{
	size_t cap = n + n / 2 + 1024;
	uint8_t *out = malloc(cap);
	s->zs.next_in = (Bytef *)msg;
	s->zs.avail_in = (uInt)n;
	s->zs.next_out = out;
	s->zs.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&s->zs, Z_SYNC_FLUSH), Z_OK);
	*len = cap - s->zs.avail_out;
	cr_assert(*len >= 4 && !memcmp(out + *len - 4, "\0\0\xff\xff", 4));
	*len -= 4;
	if (s->reset_each)
		deflateReset(&s->zs);
	return out;
}

static void sender_end(struct sender *s)
{
	deflateEnd(&s->zs);
}

/* gzip (wbits 31) or zlib (15) of one buffer */
static uint8_t *zcompress(int wbits, const void *msg, size_t n, size_t *len)
{
	z_stream zs = {0};
	size_t cap = n + n / 2 + 1024;
	uint8_t *out = malloc(cap);
	cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)msg;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*len = cap - zs.avail_out;
	deflateEnd(&zs);
	return out;
}

static char *sample(size_t n, unsigned seed)
{
	static const char *w[] = {"hello ", "world ", "{\"a\":1} ", "squeeze ",
	                          "\xc3\xa9t\xc3\xa9 "};
	char *s = malloc(n + 1);
	size_t i = 0;
	while (i < n) {
		seed = seed * 1103515245u + 12345u;
		const char *x = w[(seed >> 16) % 5];
		for (size_t k = 0; x[k] && i < n; k++)
			s[i++] = x[k];
	}
	s[n] = 0;
	return s;
}

/* Decodes one message fed in the given cut points; returns the result. */
struct out {
	uint8_t buf[1 << 16];
	size_t len;
	uint64_t produced;
	int reason;
};

static int message(struct sm_inflate *z, const uint8_t *in, size_t n, const size_t *cuts,
                   size_t ncuts, size_t cap, struct out *o)
{
	size_t at = 0;
	int r = SM_OK;
	o->len = 0;
	for (size_t c = 0; c <= ncuts; c++) {
		size_t end = c < ncuts ? cuts[c] : n;
		int rr = sm_inflate_feed(z, in + at, end - at, o->buf, cap, &o->len);
		if (!r)
			r = rr;
		at = end;
	}
	int re = sm_inflate_end(z, o->buf, cap, &o->len);
	if (!r)
		r = re;
	cr_assert_eq(r, re, "end repeats the message's failure");
	o->produced = sm_inflate_produced(z);
	o->reason = sm_inflate_reason(z);
	return r;
}

static const struct sm_inflate_config raw = {.format = SM_INFLATE_RAW};

Test(inflate, every_split_gives_the_same_output)
{
	char *msg = sample(3000, 7);
	struct sender s;
	sender_init(&s, 15, false);
	size_t n;
	uint8_t *enc = sender_msg(&s, msg, 3000, &n);
	static struct out o;
	for (size_t cut = 0; cut <= n; cut++) {
		struct sm_inflate *z = sm_inflate_new(&raw);
		cr_assert_eq(message(z, enc, n, &cut, 1, sizeof(o.buf), &o), SM_OK, "cut %zu", cut);
		cr_assert_eq(o.len, 3000);
		cr_assert_eq(o.produced, 3000);
		cr_assert(!memcmp(o.buf, msg, 3000), "cut %zu", cut);
		sm_inflate_free(z);
	}
	/* random splits, fixed seed, and byte-at-a-time */
	unsigned seed = 42;
	for (int round = 0; round < 50; round++) {
		size_t cuts[16], k = 0, at = 0;
		while (k < 16) {
			seed = seed * 1103515245u + 12345u;
			at += (seed >> 16) % (n / 8 + 1);
			if (at > n)
				break;
			cuts[k++] = at;
		}
		struct sm_inflate *z = sm_inflate_new(&raw);
		cr_assert_eq(message(z, enc, n, cuts, k, sizeof(o.buf), &o), SM_OK);
		cr_assert(o.len == 3000 && !memcmp(o.buf, msg, 3000));
		sm_inflate_free(z);
	}
	size_t *all = malloc(n * sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		all[i] = i;
	struct sm_inflate *z = sm_inflate_new(&raw);
	cr_assert_eq(message(z, enc, n, all, n, sizeof(o.buf), &o), SM_OK);
	cr_assert(o.len == 3000 && !memcmp(o.buf, msg, 3000));
	sm_inflate_free(z);
	free(all);
	free(enc);
	free(msg);
	sender_end(&s);
}

Test(inflate, context_takeover_across_messages)
{
	const char *m = "the same sentence, said again and again, compresses to a back-reference";
	size_t ml = strlen(m);
	struct sender s;
	sender_init(&s, 15, false);
	size_t n1, n2, n3;
	uint8_t *e1 = sender_msg(&s, m, ml, &n1);
	uint8_t *e2 = sender_msg(&s, m, ml, &n2);
	uint8_t *e3 = sender_msg(&s, "x", 1, &n3);
	cr_assert_lt(n2, n1 / 3, "message 2 refers to message 1's window (%zu vs %zu)", n2, n1);
	static struct out o;
	struct sm_inflate *z = sm_inflate_new(&raw);
	cr_assert_eq(message(z, e1, n1, NULL, 0, sizeof(o.buf), &o), SM_OK);
	cr_assert(o.len == ml && !memcmp(o.buf, m, ml));
	cr_assert_eq(message(z, e2, n2, NULL, 0, sizeof(o.buf), &o), SM_OK);
	cr_assert(o.len == ml && !memcmp(o.buf, m, ml));
	cr_assert_eq(message(z, e3, n3, NULL, 0, sizeof(o.buf), &o), SM_OK);
	cr_assert(o.len == 1 && o.buf[0] == 'x');
	cr_assert_eq(sm_inflate_stats(z)->messages, 3);
	sm_inflate_free(z);
	/* the same second message on a fresh window cannot decode */
	z = sm_inflate_new(&raw);
	cr_assert_eq(message(z, e2, n2, NULL, 0, sizeof(o.buf), &o), SM_ERR_INVALID);
	cr_assert_eq(o.reason, SM_INFLATE_CORRUPT);
	/* takeover: the stream is lost after a failed message */
	cr_assert(!sm_inflate_usable(z));
	cr_assert_eq(message(z, e1, n1, NULL, 0, sizeof(o.buf), &o), SM_ERR_STATE);
	cr_assert_eq(o.reason, SM_INFLATE_NO_CONTEXT);
	cr_assert_eq(o.len, 0);
	cr_assert_eq(sm_inflate_stats(z)->lost, 1);
	sm_inflate_free(z);
	free(e1);
	free(e2);
	free(e3);
	sender_end(&s);
}

Test(inflate, no_context_takeover_resets_each_message)
{
	const char *m = "no context takeover: each message stands alone, alone, alone";
	size_t ml = strlen(m);
	struct sender s;
	sender_init(&s, 15, true);
	size_t n1, n2;
	uint8_t *e1 = sender_msg(&s, m, ml, &n1);
	uint8_t *e2 = sender_msg(&s, m, ml, &n2);
	cr_assert_eq(n1, n2);
	cr_assert(!memcmp(e1, e2, n1), "no window carried: identical encodings");
	struct sm_inflate_config c = raw;
	c.no_context_takeover = true;
	static struct out o;
	struct sm_inflate *z = sm_inflate_new(&c);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(message(z, e1, n1, NULL, 0, sizeof(o.buf), &o), SM_OK);
		cr_assert(o.len == ml && !memcmp(o.buf, m, ml));
	}
	/* a corrupt message fails alone: the next one decodes */
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
	cr_assert_eq(message(z, junk, sizeof(junk), NULL, 0, sizeof(o.buf), &o), SM_ERR_INVALID);
	cr_assert(sm_inflate_usable(z));
	cr_assert_eq(message(z, e2, n2, NULL, 0, sizeof(o.buf), &o), SM_OK);
	cr_assert(o.len == ml && !memcmp(o.buf, m, ml));
	cr_assert_eq(sm_inflate_stats(z)->corrupt, 1);
	sm_inflate_free(z);
	free(e1);
	free(e2);
	sender_end(&s);
}

Test(inflate, small_windows)
{
	char *msg = sample(5000, 3);
	for (int wb = 9; wb <= 15; wb++) {
		struct sender s;
		sender_init(&s, wb, false);
		size_t n;
		uint8_t *enc = sender_msg(&s, msg, 5000, &n);
		static struct out o;
		struct sm_inflate *z = sm_inflate_new(&raw);
		cr_assert_eq(message(z, enc, n, NULL, 0, sizeof(o.buf), &o), SM_OK, "wbits %d", wb);
		cr_assert(o.len == 5000 && !memcmp(o.buf, msg, 5000));
		sm_inflate_free(z);
		free(enc);
		sender_end(&s);
	}
	struct sm_inflate_config bad = raw;
	bad.format = (enum sm_inflate_format)3;
	cr_assert_null(sm_inflate_new(&bad));
	free(msg);
}

/* A sender that declared a 512-byte window but refers 4,000 bytes back
 * (fuzz_inflate found it): zlib would accept the distance only when the
 * referenced bytes sat in its current output buffer, so the answer
 * depended on the split. With the full window every split decodes it. */
Test(inflate, window_overstep_does_not_depend_on_split)
{
	char *msg = sample(5000, 5);
	memcpy(msg + 4500, msg + 100, 400);
	struct sender s;
	sender_init(&s, 15, false);
	size_t n;
	uint8_t *enc = sender_msg(&s, msg, 5000, &n);
	size_t *cuts = calloc(n, sizeof(*cuts));
	for (size_t step = 1; step <= n; step += step < 16 ? 1 : 97) {
		size_t nc = 0;
		for (size_t at = step; at < n; at += step)
			cuts[nc++] = at;
		static struct out o;
		struct sm_inflate *z = sm_inflate_new(&raw);
		cr_assert_eq(message(z, enc, n, cuts, nc, sizeof(o.buf), &o), SM_OK, "step %zu",
		             step);
		cr_assert(o.len == 5000 && !memcmp(o.buf, msg, 5000), "step %zu", step);
		sm_inflate_free(z);
	}
	free(cuts);
	free(enc);
	sender_end(&s);
	free(msg);
}

Test(inflate, output_past_the_buffer_is_counted_not_kept)
{
	char *msg = sample(20000, 9);
	struct sender s;
	sender_init(&s, 15, false);
	size_t n1, n2;
	uint8_t *e1 = sender_msg(&s, msg, 20000, &n1);
	uint8_t *e2 = sender_msg(&s, msg + 100, 50, &n2);
	static struct out o;
	struct sm_inflate *z = sm_inflate_new(&raw);
	cr_assert_eq(message(z, e1, n1, NULL, 0, 16, &o), SM_OK);
	cr_assert_eq(o.len, 16);
	cr_assert_eq(o.produced, 20000);
	cr_assert(!memcmp(o.buf, msg, 16));
	/* the window stayed right although only 16 bytes were kept */
	cr_assert_eq(message(z, e2, n2, NULL, 0, sizeof(o.buf), &o), SM_OK);
	cr_assert(o.len == 50 && !memcmp(o.buf, msg + 100, 50));
	sm_inflate_free(z);
	free(e1);
	free(e2);
	free(msg);
	sender_end(&s);
}

Test(inflate, bomb_limit)
{
	size_t big = 4 << 20;
	uint8_t *zeros = calloc(1, big);
	struct sender s;
	sender_init(&s, 15, false);
	size_t n;
	uint8_t *enc = sender_msg(&s, zeros, big, &n);
	cr_assert_lt(n, 8192);
	struct sm_inflate_config c = raw;
	c.max_output = 65536;
	static struct out o;
	memset(o.buf, 0xaa, sizeof(o.buf));
	/* every split: the same outcome, exactly the budget delivered */
	for (size_t cut = 0; cut <= n; cut += (cut < 64 ? 1 : 97)) {
		struct sm_inflate *z = sm_inflate_new(&c);
		cr_assert_eq(message(z, enc, n, &cut, 1, 100, &o), SM_ERR_BOMB, "cut %zu", cut);
		cr_assert_eq(o.reason, SM_INFLATE_BOMB);
		cr_assert_eq(o.produced, 65536);
		cr_assert_eq(o.len, 100);
		cr_assert_eq(sm_inflate_stats(z)->bombs, 1);
		cr_assert_eq(sm_inflate_stats(z)->out_bytes, 65536);
		cr_assert(!sm_inflate_usable(z), "takeover: the window is lost");
		sm_inflate_free(z);
	}
	/* no_context_takeover: the next message is fine */
	c.no_context_takeover = true;
	struct sender s2;
	sender_init(&s2, 15, true);
	size_t n2, n3;
	uint8_t *e2 = sender_msg(&s2, zeros, big, &n2);
	uint8_t *e3 = sender_msg(&s2, "ok", 2, &n3);
	struct sm_inflate *z = sm_inflate_new(&c);
	cr_assert_eq(message(z, e2, n2, NULL, 0, sizeof(o.buf), &o), SM_ERR_BOMB);
	cr_assert_eq(o.len, 65536);
	cr_assert_eq(message(z, e3, n3, NULL, 0, sizeof(o.buf), &o), SM_OK);
	cr_assert(o.len == 2 && !memcmp(o.buf, "ok", 2));
	sm_inflate_free(z);
	free(e2);
	free(e3);
	sender_end(&s2);
	free(enc);
	free(zeros);
	sender_end(&s);
}

Test(inflate, corrupt_input_same_outcome_at_every_split)
{
	char *msg = sample(4000, 5);
	struct sender s;
	sender_init(&s, 15, false);
	size_t n;
	uint8_t *enc = sender_msg(&s, msg, 4000, &n);
	enc[n / 2] ^= 0x5a; /* damage the middle */
	static struct out o, first;
	int r0 = 0;
	for (size_t cut = 0; cut <= n; cut++) {
		struct sm_inflate *z = sm_inflate_new(&raw);
		int r = message(z, enc, n, &cut, 1, sizeof(o.buf), &o);
		if (cut == 0) {
			r0 = r;
			first = o;
			cr_assert_neq(r, SM_OK, "damaged stream rejected");
		}
		cr_assert_eq(r, r0, "cut %zu", cut);
		cr_assert_eq(o.len, first.len, "cut %zu", cut);
		cr_assert_eq(o.produced, first.produced, "cut %zu", cut);
		cr_assert(!memcmp(o.buf, first.buf, o.len));
		sm_inflate_free(z);
	}
	/* garbage from the first byte */
	static const uint8_t junk[] = "\xff\xfe\xfd not deflate at all";
	struct sm_inflate *z = sm_inflate_new(&raw);
	cr_assert_eq(message(z, junk, sizeof(junk) - 1, NULL, 0, sizeof(o.buf), &o),
	             SM_ERR_INVALID);
	cr_assert_eq(o.reason, SM_INFLATE_CORRUPT);
	cr_assert_str_eq(sm_inflate_reason_str(SM_INFLATE_CORRUPT), "corrupt");
	sm_inflate_free(z);
	free(enc);
	free(msg);
	sender_end(&s);
}

Test(inflate, bfinal_message_then_more)
{
	/* a sender that ends each message with a BFINAL block (RFC 7692 7.2.3.3) */
	size_t n1, n2;
	uint8_t *e1 = zcompress(-15, "first", 5, &n1);
	uint8_t *e2 = zcompress(-15, "second", 6, &n2);
	static struct out o;
	struct sm_inflate *z = sm_inflate_new(&raw);
	cr_assert_eq(message(z, e1, n1, NULL, 0, sizeof(o.buf), &o), SM_OK);
	cr_assert(o.len == 5 && !memcmp(o.buf, "first", 5));
	cr_assert_eq(message(z, e2, n2, NULL, 0, sizeof(o.buf), &o), SM_OK);
	cr_assert(o.len == 6 && !memcmp(o.buf, "second", 6));
	sm_inflate_free(z);
	free(e1);
	free(e2);
}

Test(inflate, gzip_and_zlib_messages)
{
	char *msg = sample(10000, 11);
	size_t ng, nz;
	uint8_t *g = zcompress(31, msg, 10000, &ng);
	uint8_t *zl = zcompress(15, msg, 10000, &nz);
	static struct out o;
	struct sm_inflate_config gc = {.format = SM_INFLATE_GZIP, .max_output = 1 << 20};
	struct sm_inflate_config zc = {.format = SM_INFLATE_ZLIB};
	struct sm_inflate *z = sm_inflate_new(&gc);
	for (size_t cut = 0; cut <= ng; cut += 7) {
		cr_assert_eq(message(z, g, ng, &cut, 1, sizeof(o.buf), &o), SM_OK, "cut %zu", cut);
		cr_assert(o.len == 10000 && !memcmp(o.buf, msg, 10000));
	}
	/* truncated member, then a good one again */
	cr_assert_eq(message(z, g, ng - 3, NULL, 0, sizeof(o.buf), &o), SM_ERR_TRUNCATED);
	cr_assert_eq(o.reason, SM_INFLATE_TRUNCATED);
	cr_assert_eq(message(z, g, ng, NULL, 0, sizeof(o.buf), &o), SM_OK);
	/* zlib data is not gzip */
	cr_assert_eq(message(z, zl, nz, NULL, 0, sizeof(o.buf), &o), SM_ERR_INVALID);
	cr_assert_eq(message(z, NULL, 0, NULL, 0, sizeof(o.buf), &o), SM_ERR_TRUNCATED);
	sm_inflate_free(z);
	z = sm_inflate_new(&zc);
	cr_assert_eq(message(z, zl, nz, NULL, 0, sizeof(o.buf), &o), SM_OK);
	cr_assert(o.len == 10000 && !memcmp(o.buf, msg, 10000));
	cr_assert_eq(message(z, zl, nz, NULL, 0, 10, &o), SM_OK);
	cr_assert(o.len == 10 && o.produced == 10000);
	sm_inflate_free(z);
	free(g);
	free(zl);
	free(msg);
}
