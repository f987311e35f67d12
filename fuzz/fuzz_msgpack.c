/* msgpack -> JSON and the anti-hijack scan on arbitrary bytes. Successful
 * conversions must be valid JSON within the budget; failures must carry a
 * reason; the prefix mode must report the same outcome and bytes; a head
 * (the first bytes of a valid value) converts to the start of its JSON. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "decode/antihijack.h"
#include "decode/msgpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Minimal JSON checker (fuzz-only; recursion bounded by the msgpack depth
 * limit below plus one level per wrapped key... keys are strings). */
struct jp {
	const char *p, *e;
};

static bool j_value(struct jp *j, int depth);

static bool j_string(struct jp *j)
{
	if (j->p >= j->e || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->e && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p;
		if (c < 0x20)
			return false;
		if (c == '\\') {
			j->p++;
			if (j->p >= j->e || !strchr("\"\\/bfnrtu", *j->p))
				return false;
			if (*j->p == 'u') {
				for (int i = 0; i < 4; i++) {
					j->p++;
					if (j->p >= j->e ||
					    !strchr("0123456789abcdefABCDEF", *j->p))
						return false;
				}
			}
		}
		j->p++;
	}
	if (j->p >= j->e)
		return false;
	j->p++;
	return true;
}

static bool j_number(struct jp *j)
{
	const char *s = j->p;
	if (j->p < j->e && *j->p == '-')
		j->p++;
	while (j->p < j->e && strchr("0123456789.eE+-", *j->p) && *j->p)
		j->p++;
	return j->p > s;
}

static bool j_lit(struct jp *j, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(j->e - j->p) < n || memcmp(j->p, w, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool j_value(struct jp *j, int depth)
{
	if (depth > 200 || j->p >= j->e)
		return false;
	char c = *j->p;
	if (c == '"')
		return j_string(j);
	if (c == 'n')
		return j_lit(j, "null");
	if (c == 't')
		return j_lit(j, "true");
	if (c == 'f')
		return j_lit(j, "false");
	if (c == '[' || c == '{') {
		char close = c == '[' ? ']' : '}';
		j->p++;
		if (j->p < j->e && *j->p == close) {
			j->p++;
			return true;
		}
		for (;;) {
			if (c == '{') {
				if (!j_string(j) || j->p >= j->e || *j->p != ':')
					return false;
				j->p++;
			}
			if (!j_value(j, depth + 1) || j->p >= j->e)
				return false;
			if (*j->p == close) {
				j->p++;
				return true;
			}
			if (*j->p != ',')
				return false;
			j->p++;
		}
	}
	return j_number(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[1 << 16];
	struct sm_msgpack m;
	struct sm_msgpack_limits lim = {64, 4096, sizeof(out)};
	if (sm_msgpack_init(&m, &lim) != SM_OK)
		abort();
	struct sm_msgpack_status st;
	int r = sm_msgpack_to_json(&m, data, size, out, sizeof(out), &st);
	if (r == SM_OK) {
		struct jp j = {out, out + st.out_len};
		if (st.reason != SM_MSGPACK_OK || !j_value(&j, 0) || j.p != j.e)
			abort();
	} else if (r >= 0 || st.reason == SM_MSGPACK_OK || st.out_len > sizeof(out) ||
	           st.in_offset > size) {
		abort();
	}
	/* The prefix mode (what the observers use) agrees with the full
	 * conversion and stores only the first keep bytes. */
	static char pre[97];
	size_t keep = size ? data[0] % 97 : 0;
	memset(pre, 0x55, sizeof(pre));
	struct sm_msgpack_status ps;
	int pr = sm_msgpack_to_json_prefix(&m, data, size, pre, keep, &ps);
	if (pr != r || ps.reason != st.reason || ps.in_offset != st.in_offset ||
	    ps.out_len != st.out_len)
		abort();
	if (memcmp(pre, out, ps.out_len < keep ? ps.out_len : keep) != 0)
		abort();
	for (size_t i = keep; i < sizeof(pre); i++)
		if (pre[i] != 0x55)
			abort();
	if (r == SM_OK) {
		size_t h = size ? (size_t)data[size - 1] * 131 % (size + 1) : 0;
		memset(pre, 0x55, sizeof(pre));
		int hr = sm_msgpack_head_to_json(&m, data, h, pre, keep, &ps);
		if (hr != SM_OK || ps.out_len > st.out_len ||
		    (h == size && (ps.reason != SM_MSGPACK_OK || ps.out_len != st.out_len)) ||
		    (h < size && ps.reason != SM_MSGPACK_TRUNCATED))
			abort();
		if (memcmp(pre, out, ps.out_len < keep ? ps.out_len : keep) != 0)
			abort();
	}
	sm_msgpack_free(&m);

	struct sm_antihijack a;
	const char *extra[] = {"GUARD;"};
	sm_antihijack_init(&a, extra, 1);
	struct sm_antihijack_match hm;
	if (sm_antihijack_scan(&a, data, size, true, &hm) != SM_OK || hm.strip > size)
		abort();
	return 0;
}
