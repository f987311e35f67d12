/* base/json: the one JSON string writer. Table cases, then every input of
 * random bytes (fixed seed) against a reference written independently here
 * (code points decoded and range-checked, not byte patterns). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"

static const char *js(const char *in, size_t n)
{
	static char out[4096];
	char *e = sm_json_str(out, (const uint8_t *)in, n);
	*e = 0;
	return out;
}

#define J(lit) js((lit), sizeof(lit) - 1)

Test(json, table)
{
	cr_expect_str_eq(J("plain"), "\"plain\"");
	cr_expect_str_eq(J("caf\xc3\xa9 \xe2\x9c\x93"), "\"caf\xc3\xa9 \xe2\x9c\x93\"");
	cr_expect_str_eq(J("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");
	cr_expect_str_eq(J("q\"b\\"), "\"q\\\"b\\\\\"");
	cr_expect_str_eq(J("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
	cr_expect_str_eq(J("\x01\x1f\x7f"), "\"\\u0001\\u001f\x7f\"");
	cr_expect_str_eq(J("\x00"), "\"\\u0000\"");
	/* invalid: lone continuation, bad lead, overlong, surrogate, > U+10FFFF, truncated */
	cr_expect_str_eq(J("\x80"), "\"\\ufffd\"");
	cr_expect_str_eq(J("\xff"), "\"\\ufffd\"");
	cr_expect_str_eq(J("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
	cr_expect_str_eq(J("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
	cr_expect_str_eq(J("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	cr_expect_str_eq(J("a\xe2\x9c"), "\"a\\ufffd\\ufffd\"");
	cr_expect_str_eq(J(""), "\"\"");
}

/* Reference: decode one code point the long way; 0 when invalid. */
static size_t ref_seq(const uint8_t *p, size_t n)
{
	size_t len;
	uint32_t cp;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static size_t ref_json(const uint8_t *p, size_t n, char *out)
{
	char *o = out;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t k = ref_seq(p + i, n - i);
		if (c == '"' || c == '\\') {
			o += sprintf(o, "\\%c", c);
			i++;
		} else if (c < 0x20) {
			const char *s = c == '\n'   ? "\\n"
			                : c == '\r' ? "\\r"
			                : c == '\t' ? "\\t"
			                : c == '\b' ? "\\b"
			                : c == '\f' ? "\\f"
			                            : NULL;
			o += s ? sprintf(o, "%s", s) : sprintf(o, "\\u%04x", c);
			i++;
		} else if (k == 0) {
			o += sprintf(o, "\\ufffd");
			i++;
		} else {
			memcpy(o, p + i, k);
			o += k;
			i += k;
		}
	}
	*o++ = '"';
	return (size_t)(o - out);
}

Test(json, random_bytes_match_the_reference)
{
	uint64_t s = 0x5eed;
	static uint8_t in[64];
	static char got[SM_JSON_STR_MAX(64)], want[SM_JSON_STR_MAX(64)];
	for (int round = 0; round < 200000; round++) {
		size_t n = 1 + round % 64;
		for (size_t i = 0; i < n; i++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			uint8_t b = (uint8_t)(s >> 56);
			/* bias toward the interesting bytes: leads, continuations, ASCII */
			in[i] = (s >> 40) & 1 ? (uint8_t)(0x80 | (b & 0x7f)) : b;
		}
		size_t gn = (size_t)(sm_json_str(got, in, n) - got);
		size_t wn = ref_json(in, n, want);
		cr_assert(gn == wn && !memcmp(got, want, gn), "round %d differs", round);
		cr_assert(gn <= SM_JSON_STR_MAX(n));
	}
}

Test(json, utf8_cut_keeps_characters_whole)
{
	const uint8_t *s = (const uint8_t *)"ab\xc3\xa9\xe2\x9c\x93";
	cr_expect_eq(sm_utf8_cut(s, 7, 7), 7);
	cr_expect_eq(sm_utf8_cut(s, 7, 6), 4); /* ✓ does not fit: cut before it */
	cr_expect_eq(sm_utf8_cut(s, 7, 3), 2); /* é does not fit */
	cr_expect_eq(sm_utf8_cut((const uint8_t *)"\xff\xff\xff", 3, 2), 2);
	cr_expect_eq(sm_utf8_cut(s, 7, 0), 0);
}
