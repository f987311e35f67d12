#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "decode/msgpack.h"

struct vec {
	const char *name;
	const char *in; /* bytes as a C string literal with explicit length */
	size_t len;
	const char *json;
};

#define V(name, bytes, json)                                                                       \
	{                                                                                          \
		name, bytes, sizeof(bytes) - 1, json                                               \
	}

static const struct vec vectors[] = {
        V("nil", "\xc0", "null"),
        V("false", "\xc2", "false"),
        V("true", "\xc3", "true"),
        V("posfixint 0", "\x00", "0"),
        V("posfixint 127", "\x7f", "127"),
        V("negfixint -1", "\xff", "-1"),
        V("negfixint -32", "\xe0", "-32"),
        V("uint8", "\xcc\xff", "255"),
        V("uint16", "\xcd\xff\xfe", "65534"),
        V("uint32", "\xce\xff\xff\xff\xff", "4294967295"),
        V("uint64 max", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", "18446744073709551615"),
        V("int8 -128", "\xd0\x80", "-128"),
        V("int8 5", "\xd0\x05", "5"),
        V("int16 -32768", "\xd1\x80\x00", "-32768"),
        V("int16 300", "\xd1\x01\x2c", "300"),
        V("int32 min", "\xd2\x80\x00\x00\x00", "-2147483648"),
        V("int64 min", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", "-9223372036854775808"),
        V("int64 -2", "\xd3\xff\xff\xff\xff\xff\xff\xff\xfe", "-2"),
        V("float32 1.5", "\xca\x3f\xc0\x00\x00", "1.5"),
        V("float32 0.1", "\xca\x3d\xcc\xcc\xcd", "0.1"),
        V("float64 0.1", "\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a", "0.1"),
        V("float64 -0", "\xcb\x80\x00\x00\x00\x00\x00\x00\x00", "-0"),
        V("float64 1e300", "\xcb\x7e\x37\xe4\x3c\x88\x00\x75\x9c", "1e+300"),
        V("float64 NaN", "\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", "\"NaN\""),
        V("float64 +Inf", "\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00", "\"Infinity\""),
        V("float32 -Inf", "\xca\xff\x80\x00\x00", "\"-Infinity\""),
        V("fixstr empty", "\xa0", "\"\""),
        V("fixstr",
          "\xa3"
          "abc",
          "\"abc\""),
        V("str escapes",
          "\xa6"
          "\"\\\n\t\x01/",
          "\"\\\"\\\\\\n\\t\\u0001/\""),
        V("str utf8",
          "\xa5"
          "h\xc3\xa9"
          "\xe2\x82",
          "\"h\xc3\xa9\\ufffd\\ufffd\""),
        V("str utf8 4-byte", "\xa4\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""),
        V("str overlong", "\xa2\xc0\xaf", "\"\\ufffd\\ufffd\""),
        V("str surrogate", "\xa3\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""),
        V("str8",
          "\xd9\x02"
          "hi",
          "\"hi\""),
        V("str16",
          "\xda\x00\x02"
          "hi",
          "\"hi\""),
        V("str32",
          "\xdb\x00\x00\x00\x02"
          "hi",
          "\"hi\""),
        V("bin8",
          "\xc4\x03"
          "abc",
          "\"YWJj\""),
        V("bin16 pad2",
          "\xc5\x00\x01"
          "a",
          "\"YQ==\""),
        V("bin32 pad1",
          "\xc6\x00\x00\x00\x02"
          "ab",
          "\"YWI=\""),
        V("bin8 empty", "\xc4\x00", "\"\""),
        V("fixarray", "\x93\x01\xc0\xa1x", "[1,null,\"x\"]"),
        V("empty array", "\x90", "[]"),
        V("array16", "\xdc\x00\x02\xc2\xc3", "[false,true]"),
        V("array32", "\xdd\x00\x00\x00\x01\x90", "[[]]"),
        V("fixmap",
          "\x82\xa1"
          "a\x01\xa1"
          "b\x92\x02\x03",
          "{\"a\":1,\"b\":[2,3]}"),
        V("empty map", "\x80", "{}"),
        V("map16", "\xde\x00\x01\xa1k\x80", "{\"k\":{}}"),
        V("map32", "\xdf\x00\x00\x00\x01\xa0\xc0", "{\"\":null}"),
        V("int key", "\x81\x01\xa1v", "{\"1\":\"v\"}"),
        V("nil and bool keys", "\x82\xc0\x01\xc3\x02", "{\"null\":1,\"true\":2}"),
        V("array key", "\x81\x92\x01\xa1q\x00", "{\"[1,\\\"q\\\"]\":0}"),
        V("map key in map key", "\x81\x81\x01\xa1q\x00", "{\"{\\\"1\\\":\\\"q\\\"}\":0}"),
        V("nested wrapped quote", "\x81\x91\x91\xa2\"\\\x00",
          "{\"[[\\\"\\\\\\\"\\\\\\\\\\\"]]\":0}"),
        V("bin key",
          "\x81\xc4\x01"
          "a\x00",
          "{\"\\\"YQ==\\\"\":0}"),
        V("fixext1", "\xd4\x05\x01", "{\"ext\":5,\"data\":\"AQ==\"}"),
        V("fixext2", "\xd5\x7f\x01\x02", "{\"ext\":127,\"data\":\"AQI=\"}"),
        V("fixext16",
          "\xd8\x01"
          "0123456789abcdef",
          "{\"ext\":1,\"data\":\"MDEyMzQ1Njc4OWFiY2RlZg==\"}"),
        V("ext8",
          "\xc7\x03\x80"
          "abc",
          "{\"ext\":-128,\"data\":\"YWJj\"}"),
        V("ext16 empty", "\xc8\x00\x00\x02", "{\"ext\":2,\"data\":\"\"}"),
        V("ext32", "\xc9\x00\x00\x00\x01\x02z", "{\"ext\":2,\"data\":\"eg==\"}"),
        V("timestamp32 epoch", "\xd6\xff\x00\x00\x00\x00", "\"1970-01-01T00:00:00Z\""),
        V("timestamp32 max", "\xd6\xff\xff\xff\xff\xff", "\"2106-02-07T06:28:15Z\""),
        /* 64-bit: nsec=500000000 (<<34), sec=1700000000 */
        V("timestamp64", "\xd7\xff\x77\x35\x94\x00\x65\x53\xf1\x00", "\"2023-11-14T22:13:20.5Z\""),
        /* 96-bit: nsec=1, sec=-1 */
        V("timestamp96 negative", "\xc7\x0c\xff\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff",
          "\"1969-12-31T23:59:59.000000001Z\""),
        V("timestamp96 year 10000", "\xc7\x0c\xff\x00\x00\x00\x00\x00\x00\x00\x3a\xff\xf4\x41\x80",
          "{\"ext\":-1,\"sec\":253402300800,\"nsec\":0}"),
        V("timestamp96 int64 min", "\xc7\x0c\xff\x00\x00\x00\x00\x80\x00\x00\x00\x00\x00\x00\x00",
          "{\"ext\":-1,\"sec\":-9223372036854775808,\"nsec\":0}"),
};

static struct sm_msgpack mk(uint32_t depth, uint32_t elems, size_t out)
{
	struct sm_msgpack m;
	struct sm_msgpack_limits lim = {depth, elems, out};
	cr_assert_eq(sm_msgpack_init(&m, &lim), SM_OK);
	return m;
}

Test(msgpack, every_type_vector)
{
	struct sm_msgpack m = mk(64, 1000, 4096);
	char out[4096];
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vec *v = &vectors[i];
		struct sm_msgpack_status st;
		int r = sm_msgpack_to_json(&m, (const uint8_t *)v->in, v->len, out, sizeof(out),
		                           &st);
		cr_assert_eq(r, SM_OK, "%s: r=%d reason=%s", v->name, r,
		             sm_msgpack_reason_str(st.reason));
		cr_assert_eq(st.out_len, strlen(v->json), "%s: got %.*s", v->name, (int)st.out_len,
		             out);
		cr_assert(memcmp(out, v->json, st.out_len) == 0, "%s: got %.*s want %s", v->name,
		          (int)st.out_len, out, v->json);
		/* Every strict prefix is truncated, never a crash or success. */
		for (size_t k = 0; k < v->len; k++) {
			r = sm_msgpack_to_json(&m, (const uint8_t *)v->in, k, out, sizeof(out),
			                       &st);
			cr_assert_eq(r, SM_ERR_TRUNCATED, "%s prefix %zu: %d", v->name, k, r);
			cr_assert_eq(st.reason, SM_MSGPACK_TRUNCATED);
		}
	}
	sm_msgpack_free(&m);
}

struct bad {
	const char *name;
	const char *in;
	size_t len;
	int r;
	enum sm_msgpack_reason reason;
};
#define B(name, bytes, r, reason)                                                                  \
	{                                                                                          \
		name, bytes, sizeof(bytes) - 1, r, reason                                          \
	}

static const struct bad bads[] = {
        B("c1", "\xc1", SM_ERR_INVALID, SM_MSGPACK_BAD_TYPE),
        B("c1 in array", "\x92\x01\xc1", SM_ERR_INVALID, SM_MSGPACK_BAD_TYPE),
        B("trailing", "\x01\x02", SM_ERR_INVALID, SM_MSGPACK_TRAILING),
        B("timestamp bad len", "\xd5\xff\x00\x00", SM_ERR_INVALID, SM_MSGPACK_BAD_TIMESTAMP),
        B("timestamp64 nsec", "\xd7\xff\xff\xff\xff\xff\x00\x00\x00\x00", SM_ERR_INVALID,
          SM_MSGPACK_BAD_TIMESTAMP),
        B("timestamp96 nsec", "\xc7\x0c\xff\x3b\x9a\xca\x00\x00\x00\x00\x00\x00\x00\x00\x00",
          SM_ERR_INVALID, SM_MSGPACK_BAD_TIMESTAMP),
        B("array32 huge", "\xdd\xff\xff\xff\xff\x01", SM_ERR_LIMIT, SM_MSGPACK_TOO_MANY),
        B("map32 huge", "\xdf\xff\xff\xff\xff", SM_ERR_LIMIT, SM_MSGPACK_TOO_MANY),
        B("array16 declared > input", "\xdc\x03\xe8\x01", SM_ERR_TRUNCATED, SM_MSGPACK_TRUNCATED),
        B("str32 huge",
          "\xdb\xff\xff\xff\xff"
          "ab",
          SM_ERR_TRUNCATED, SM_MSGPACK_TRUNCATED),
        B("bin32 huge", "\xc6\xff\xff\xff\xff", SM_ERR_TRUNCATED, SM_MSGPACK_TRUNCATED),
        B("ext32 huge", "\xc9\xff\xff\xff\xff\x01", SM_ERR_TRUNCATED, SM_MSGPACK_TRUNCATED),
        B("empty", "", SM_ERR_TRUNCATED, SM_MSGPACK_TRUNCATED),
};

Test(msgpack, malformed_and_limits_table)
{
	struct sm_msgpack m = mk(8, 2000, 4096);
	char out[4096];
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct sm_msgpack_status st;
		int r = sm_msgpack_to_json(&m, (const uint8_t *)bads[i].in, bads[i].len, out,
		                           sizeof(out), &st);
		cr_assert_eq(r, bads[i].r, "%s: %d", bads[i].name, r);
		cr_assert_eq(st.reason, bads[i].reason, "%s: %s", bads[i].name,
		             sm_msgpack_reason_str(st.reason));
	}
	sm_msgpack_free(&m);
}

/* 10,000 nested fixarrays around a nil. */
static uint8_t *deep(size_t levels, size_t *len)
{
	uint8_t *b = malloc(levels + 1);
	memset(b, 0x91, levels);
	b[levels] = 0xc0;
	*len = levels + 1;
	return b;
}

Test(msgpack, deep_nesting_hits_depth_limit)
{
	size_t len;
	uint8_t *b = deep(10000, &len);
	struct sm_msgpack m = mk(64, 16, 1 << 20);
	char *out = malloc(1 << 20);
	struct sm_msgpack_status st;
	cr_assert_eq(sm_msgpack_to_json(&m, b, len, out, 1 << 20, &st), SM_ERR_LIMIT);
	cr_assert_eq(st.reason, SM_MSGPACK_TOO_DEEP);
	cr_assert_eq(st.in_offset, 64); /* the 65th array header */
	cr_assert_str_eq(sm_msgpack_reason_str(st.reason), "too_deep");
	sm_msgpack_free(&m);

	/* With a depth limit above it, the same input converts without recursion. */
	m = mk(10000, 16, 1 << 20);
	cr_assert_eq(sm_msgpack_to_json(&m, b, len, out, 1 << 20, &st), SM_OK);
	cr_assert_eq(st.out_len, 10000 * 2 + 4);
	cr_assert(memcmp(out + 9998, "[[null]]", 8) == 0);
	sm_msgpack_free(&m);
	free(out);
	free(b);
}

Test(msgpack, deep_wrapped_keys_stay_bounded)
{
	/* 40 nested maps each used as the key of its parent: 2^40 backslashes
	 * would be needed; the writer must refuse quickly. */
	uint8_t b[200];
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		b[n++] = 0x81;
	b[n++] = 0x01;
	for (int i = 0; i < 40; i++)
		b[n++] = 0xa1, b[n++] = '"';
	struct sm_msgpack m = mk(64, 16, 1 << 16);
	char *out = malloc(1 << 16);
	struct sm_msgpack_status st;
	cr_assert_eq(sm_msgpack_to_json(&m, b, n, out, 1 << 16, &st), SM_ERR_LIMIT);
	cr_assert_eq(st.reason, SM_MSGPACK_OUTPUT_FULL);
	cr_assert_leq(st.out_len, 1 << 16);
	sm_msgpack_free(&m);
	free(out);
}

Test(msgpack, output_budget_and_buffer)
{
	/* ["aaaa...100"] */
	uint8_t b[104] = {0x91, 0xd9, 100};
	memset(b + 3, 'a', 100);
	char out[256];
	struct sm_msgpack_status st;
	struct sm_msgpack m = mk(4, 4, 50);
	cr_assert_eq(sm_msgpack_to_json(&m, b, 103, out, sizeof(out), &st), SM_ERR_LIMIT);
	cr_assert_eq(st.reason, SM_MSGPACK_OUTPUT_FULL);
	cr_assert_leq(st.out_len, 50);
	sm_msgpack_free(&m);

	m = mk(4, 4, 1000);
	/* Buffer smaller than the budget: the buffer wins. */
	cr_assert_eq(sm_msgpack_to_json(&m, b, 103, out, 103, &st), SM_ERR_LIMIT);
	cr_assert_eq(sm_msgpack_to_json(&m, b, 103, out, 104, &st), SM_OK);
	cr_assert_eq(st.out_len, 104);
	sm_msgpack_free(&m);
}

Test(msgpack, element_limit_is_per_container)
{
	uint8_t b[] = {0x93, 0x01, 0x02, 0x92, 0x03, 0x04};
	char out[64];
	struct sm_msgpack_status st;
	struct sm_msgpack m = mk(4, 3, 64);
	cr_assert_eq(sm_msgpack_to_json(&m, b, sizeof(b), out, sizeof(out), &st), SM_OK);
	cr_assert(memcmp(out, "[1,2,[3,4]]", st.out_len) == 0);
	sm_msgpack_free(&m);
	m = mk(4, 2, 64);
	cr_assert_eq(sm_msgpack_to_json(&m, b, sizeof(b), out, sizeof(out), &st), SM_ERR_LIMIT);
	cr_assert_eq(st.reason, SM_MSGPACK_TOO_MANY);
	sm_msgpack_free(&m);
}

Test(msgpack, init_rejects_bad_limits)
{
	struct sm_msgpack m;
	struct sm_msgpack_limits lim = {0, 1, 1};
	cr_assert_eq(sm_msgpack_init(&m, &lim), SM_ERR_INVALID);
	lim.max_depth = SM_MSGPACK_DEPTH_CAP + 1;
	cr_assert_eq(sm_msgpack_init(&m, &lim), SM_ERR_INVALID);
}

/* Reference JSON escaping, byte by byte, as the header documents it. */
static size_t ref_escape(const uint8_t *p, size_t n, char *o)
{
	size_t k = 0;
	o[k++] = '"';
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		if (c == '"' || c == '\\') {
			o[k++] = '\\';
			o[k++] = (char)c;
			i++;
		} else if (c < 0x20) {
			const char *e = c == '\b'   ? "\\b"
			                : c == '\f' ? "\\f"
			                : c == '\n' ? "\\n"
			                : c == '\r' ? "\\r"
			                : c == '\t' ? "\\t"
			                            : NULL;
			if (e) {
				memcpy(o + k, e, 2);
				k += 2;
			} else {
				k += (size_t)snprintf(o + k, 8, "\\u%04x", c);
			}
			i++;
		} else if (c < 0x80) {
			o[k++] = (char)c;
			i++;
		} else if (c >= 0xc2 && c <= 0xdf && i + 1 < n && (p[i + 1] & 0xc0) == 0x80) {
			memcpy(o + k, p + i, 2); /* the generator only makes 2-byte sequences */
			k += 2;
			i += 2;
		} else {
			memcpy(o + k, "\\ufffd", 6);
			k += 6;
			i++;
		}
	}
	o[k++] = '"';
	return k;
}

/* Random strings (fixed seed) mixing plain ASCII runs with quotes,
 * backslashes, control bytes, 2-byte UTF-8 and stray continuation bytes at
 * every position relative to 8-byte words: output equals the reference
 * escaper's; with every smaller buffer the conversion reports output_full
 * and what it wrote is a prefix of the full output. */
Test(msgpack, strings_match_reference_and_budget_prefix)
{
	static const uint8_t alphabet[] = {'a',  'b',  ' ',  '~',  '"',  '\\', '\n', 0x01,
	                                   0x1f, 0x7f, 0xc3, 0xa9, 0x80, 'z',  'q',  '0'};
	uint64_t seed = 0x5eed0004;
	uint8_t in[64];
	char want[600], out[600];
	for (int iter = 0; iter < 20000; iter++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		size_t n = (size_t)(seed >> 58) % 40;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			/* mostly plain letters so that whole words take the fast path */
			in[2 + i] = (seed >> 60) < 12 ? (uint8_t)('a' + (seed >> 40) % 26)
			                              : alphabet[(seed >> 33) % sizeof(alphabet)];
		}
		in[0] = 0xd9;
		in[1] = (uint8_t)n;
		size_t wl = ref_escape(in + 2, n, want);
		struct sm_msgpack m = mk(4, 4, 1000);
		struct sm_msgpack_status st;
		cr_assert_eq(sm_msgpack_to_json(&m, in, n + 2, out, sizeof(out), &st), SM_OK);
		cr_assert_eq(st.out_len, wl, "iteration %d", iter);
		cr_assert(memcmp(out, want, wl) == 0, "iteration %d: %.*s vs %.*s", iter, (int)wl,
		          out, (int)wl, want);
		for (size_t cap = 0; cap < wl; cap++) {
			cr_assert_eq(sm_msgpack_to_json(&m, in, n + 2, out, cap, &st),
			             SM_ERR_LIMIT);
			cr_assert_eq(st.reason, SM_MSGPACK_OUTPUT_FULL);
			cr_assert_leq(st.out_len, cap);
			cr_assert(memcmp(out, want, st.out_len) == 0);
		}
		sm_msgpack_free(&m);
	}
}

/* Floats go through decode/fmtfloat: shortest text in the ECMAScript layout,
 * also when the buffer is nearly full (the in-place path needs room for the
 * longest text). */
Test(msgpack, floats_layout_and_tight_buffer)
{
	static const struct {
		const char *in;
		size_t n;
		const char *json;
	} v[] = {
	        {"\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xcb\x40\x28\xb0\xa3\xd7\x0a\x3d\x71", 19,
	         "[0.1,12.345]"},
	        {"\x91\xcb\x3e\xb0\xc6\xf7\xa0\xb5\xed\x8d", 10, "[0.000001]"},
	        {"\x91\xcb\x3e\x7a\xd7\xf2\x9a\xbc\xaf\x48", 10, "[1e-7]"},
	        {"\x91\xcb\x44\x50\xbb\x08\x42\x55\xac\xee", 10, "[1.2345e+21]"},
	        {"\x91\xca\x3f\x8c\xcc\xcd", 6, "[1.1]"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = v[i].n;
		size_t wl = strlen(v[i].json);
		char out[64];
		struct sm_msgpack_status st;
		struct sm_msgpack m = mk(4, 4, 1000);
		for (size_t cap = wl; cap < wl + 40; cap++) {
			cr_assert_eq(
			        sm_msgpack_to_json(&m, (const uint8_t *)v[i].in, n, out, cap, &st),
			        SM_OK, "vector %zu cap %zu", i, cap);
			cr_assert_eq(st.out_len, wl, "vector %zu", i);
			cr_assert(memcmp(out, v[i].json, wl) == 0, "vector %zu: %.*s", i, (int)wl,
			          out);
		}
		cr_assert_eq(sm_msgpack_to_json(&m, (const uint8_t *)v[i].in, n, out, wl - 1, &st),
		             SM_ERR_LIMIT);
		sm_msgpack_free(&m);
	}
}

/* ---- prefix mode ------------------------------------------------------- */

static uint64_t gseed;

static uint32_t grand(uint32_t n)
{
	gseed = gseed * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(gseed >> 33) % n;
}

/* Appends one random value (maps with non-str keys, so wrapped keys occur). */
static void gen(uint8_t *b, size_t *k, size_t cap, int depth)
{
	if (*k + 16 > cap)
		return;
	switch (grand(depth > 3 ? 8 : 11)) {
	case 0: b[(*k)++] = (uint8_t)grand(128); break;
	case 1: b[(*k)++] = 0xc0 + (uint8_t)(grand(2) * 2); break; /* nil, false */
	case 2: {                                                  /* float64 */
		b[(*k)++] = 0xcb;
		for (int i = 0; i < 8; i++)
			b[(*k)++] = (uint8_t)grand(256);
		break;
	}
	case 3: { /* float32 */
		b[(*k)++] = 0xca;
		for (int i = 0; i < 4; i++)
			b[(*k)++] = (uint8_t)grand(256);
		break;
	}
	case 4:
	case 5: { /* str with specials */
		static const char al[] = "abcdefgh \"\\\n\x01\xc3\xa9\x80~";
		uint32_t n = grand(14);
		b[(*k)++] = (uint8_t)(0xa0 | n);
		for (uint32_t i = 0; i < n; i++)
			b[(*k)++] = (uint8_t)al[grand(sizeof(al) - 1)];
		break;
	}
	case 6: { /* bin */
		uint32_t n = grand(6);
		b[(*k)++] = 0xc4;
		b[(*k)++] = (uint8_t)n;
		for (uint32_t i = 0; i < n; i++)
			b[(*k)++] = (uint8_t)grand(256);
		break;
	}
	case 7: b[(*k)++] = 0xd3, memset(b + *k, 0xff, 8), *k += 8; break; /* int64 -1 */
	case 8:
	case 9: { /* array */
		uint32_t n = grand(5);
		b[(*k)++] = (uint8_t)(0x90 | n);
		for (uint32_t i = 0; i < n; i++)
			gen(b, k, cap, depth + 1);
		break;
	}
	default: { /* map */
		uint32_t n = grand(4);
		b[(*k)++] = (uint8_t)(0x80 | n);
		for (uint32_t i = 0; i < 2 * n; i++)
			gen(b, k, cap, depth + 1);
		break;
	}
	}
}

/* The prefix mode reports exactly what the full conversion does (result,
 * reason, offsets, full length) and stores the first keep bytes of the same
 * JSON; on random documents, their truncations and corruptions, with budgets
 * that pass and fail. */
Test(msgpack, prefix_mode_matches_full_conversion)
{
	static const size_t keeps[] = {0, 1, 5, 64, 300};
	static const size_t budgets[] = {4096, 200, 40};
	gseed = 0x5eed0005;
	uint8_t in[4096];
	char full[4096], pre[512];
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = 0;
		gen(in, &n, sizeof(in), 0);
		if (iter % 3 == 1 && n > 1)
			n -= 1 + grand((uint32_t)n - 1); /* truncated */
		else if (iter % 3 == 2 && n > 0)
			in[grand((uint32_t)n)] = (uint8_t)grand(256); /* corrupted */
		for (size_t bi = 0; bi < 3; bi++) {
			struct sm_msgpack m = mk(4, 8, budgets[bi]);
			struct sm_msgpack_status a, b;
			int ra = sm_msgpack_to_json(&m, in, n, full, sizeof(full), &a);
			for (size_t ki = 0; ki < 5; ki++) {
				memset(pre, 0x55, sizeof(pre));
				int rb = sm_msgpack_to_json_prefix(&m, in, n, pre, keeps[ki], &b);
				cr_assert_eq(rb, ra, "iteration %d", iter);
				cr_assert_eq(b.reason, a.reason, "iteration %d", iter);
				cr_assert_eq(b.in_offset, a.in_offset, "iteration %d", iter);
				cr_assert_eq(b.out_len, a.out_len, "iteration %d", iter);
				size_t s = a.out_len < keeps[ki] ? a.out_len : keeps[ki];
				cr_assert(memcmp(pre, full, s) == 0, "iteration %d keep %zu", iter,
				          keeps[ki]);
				cr_assert_eq((unsigned char)pre[keeps[ki]], 0x55,
				             "wrote past keep");
			}
			sm_msgpack_free(&m);
		}
	}
}
