#include "decode/msgpack.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "base/json.h"
#include "base/result.h"
#include "decode/fmtfloat.h"
#include "decode/msgpack_json.h"

/* Map frame phases. */
enum {
	PH_KEY = 0,     /* next value read is a key */
	PH_KEY_WRAPPED, /* inside a non-str key rendered as an escaped string */
	PH_VALUE,       /* next value read is the value of the pair */
};

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

static void put_u64(struct sm_jsonw *w, uint64_t v)
{
	char b[24];
	size_t i = sizeof(b);
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		i -= 2;
		memcpy(b + i, digit_pairs + 2 * r, 2);
	}
	if (v >= 10) {
		i -= 2;
		memcpy(b + i, digit_pairs + 2 * v, 2);
	} else {
		b[--i] = (char)('0' + v);
	}
	put(w, b + i, sizeof(b) - i);
}

static void put_i64(struct sm_jsonw *w, int64_t v)
{
	if (v >= 0) {
		put_u64(w, (uint64_t)v);
		return;
	}
	putc1(w, '-');
	put_u64(w, 0 - (uint64_t)v); /* INT64_MIN safe */
}

/* Shortest round-trip text (decode/fmtfloat.h), written in place when it
 * fits; NaN and the infinities have no JSON number, so they become strings. */
static void put_double(struct sm_jsonw *w, double d, bool is_float32)
{
	if (isnan(d) || isinf(d)) {
		put_str(w, isnan(d) ? "\"NaN\"" : d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		return;
	}
	if (w->level == 0 && w->len >= w->keep) { /* past keep: the length only */
		size_t k = is_float32 ? sm_fmtfloat_len_f32((float)d) : sm_fmtfloat_len_f64(d);
		if (k <= w->cap - w->len)
			w->len += k;
		else
			set_full(w);
		return;
	}
	char b[SM_FMTFLOAT_MAX];
	char *o = room(w, SM_FMTFLOAT_MAX);
	size_t k =
	        is_float32 ? sm_fmtfloat_f32((float)d, o ? o : b) : sm_fmtfloat_f64(d, o ? o : b);
	if (o)
		w->len += k;
	else
		put(w, b, k);
}

/* Whether any of the 8 bytes of x needs escaping or UTF-8 checking
 * (exact about presence: SWAR zero-byte tests, where a borrow only
 * propagates past a byte that matched). */
static inline bool word_special(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
	uint64_t lt20 = (x - ones * 0x20) & ~x;
	uint64_t zq = (q - ones) & ~q, zb = (b - ones) & ~b;
	return ((lt20 | x | zq | zb) & high) != 0;
}

/* Bytes that need escaping or UTF-8 checking: below 0x20, 0x80 and above,
 * '"' and '\\'. */
static const uint8_t special_byte[256] = {
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Whether p[0..n) is plain ASCII that goes out as it is (most strings of
 * JSON-shaped data): 16 bytes at a time with SSE2 (a signed compare below
 * 0x20 also catches 0x80 and above), the last partial block as an
 * overlapping load, short strings through the table. */
static inline bool all_plain(const uint8_t *p, size_t n)
{
#if defined(__SSE2__)
	if (n >= 16) {
		const __m128i sp = _mm_set1_epi8(0x20), q = _mm_set1_epi8('"'),
		              bs = _mm_set1_epi8('\\');
		for (size_t i = 0;; i += 16) {
			if (i + 16 > n)
				i = n - 16;
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
			__m128i m = _mm_or_si128(
			        _mm_cmplt_epi8(x, sp),
			        _mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)));
			if (_mm_movemask_epi8(m))
				return false;
			if (i + 16 >= n)
				return true;
		}
	}
#endif
	if (n >= 8) { /* two overlapping words */
		uint64_t x, y;
		memcpy(&x, p, 8);
		memcpy(&y, p + n - 8, 8);
		return !word_special(x) && !word_special(y);
	}
	uint8_t any = 0;
	for (size_t i = 0; i < n; i++)
		any |= special_byte[p[i]];
	return !any;
}

static void put_json_string_slow(struct sm_jsonw *w, const uint8_t *p, size_t n);

/* Plain ASCII strings (the common case) are copied in one go, or only
 * counted past keep. */
static inline __attribute__((always_inline)) void put_json_string(struct sm_jsonw *w,
                                                                  const uint8_t *p, size_t n)
{
	char *o = room(w, n + 2);
	if (o) {
		if (all_plain(p, n)) {
			o[0] = '"';
			memcpy(o + 1, p, n);
			o[n + 1] = '"';
			w->len += n + 2;
			return;
		}
	} else if (w->level == 0 && w->len >= w->keep && n + 2 <= w->cap - w->len &&
	           all_plain(p, n)) {
		w->len += n + 2; /* (when it does not fit, the slow path fails identically) */
		return;
	}
	put_json_string_slow(w, p, n);
}

/* Escapes through the one JSON writer (base/json.h), piece by piece so the
 * writer's bounds and wrapped-key escaping apply. */
static void put_json_string_slow(struct sm_jsonw *w, const uint8_t *p, size_t n)
{
	putc1(w, '"');
	size_t i = 0;
	while (i < n && !w->full) {
		size_t k = sm_json_run(p + i, n - i);
		if (k) {
			put(w, (const char *)p + i, k);
			i += k;
			continue;
		}
		char e[6];
		put(w, e, sm_json_escape1(p[i++], e));
	}
	putc1(w, '"');
}

int sm_msgpack_init(struct sm_msgpack *m, const struct sm_msgpack_limits *lim)
{
	memset(m, 0, sizeof(*m));
	if (!lim || lim->max_depth == 0 || lim->max_depth > SM_MSGPACK_DEPTH_CAP)
		return SM_ERR_INVALID;
	m->stack = calloc(lim->max_depth, sizeof(*m->stack));
	if (!m->stack)
		return SM_ERR_NOMEM;
	m->lim = *lim;
	return SM_OK;
}

void sm_msgpack_free(struct sm_msgpack *m)
{
	free(m->stack);
	m->stack = NULL;
}

static int fail(struct sm_msgpack_status *st, enum sm_msgpack_reason r, size_t off,
                const struct sm_jsonw *w)
{
	st->reason = r;
	st->in_offset = off;
	st->out_len = w->len;
	switch (r) {
	case SM_MSGPACK_TRUNCATED: return SM_ERR_TRUNCATED;
	case SM_MSGPACK_TOO_DEEP:
	case SM_MSGPACK_TOO_MANY:
	case SM_MSGPACK_OUTPUT_FULL: return SM_ERR_LIMIT;
	default: return SM_ERR_INVALID;
	}
}

/* Whether the value starting with type byte c is rendered as a JSON string
 * that can serve as an object key directly (only msgpack str). */
static bool is_str_type(uint8_t c)
{
	return (c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb);
}

/* head: in[0..n) is the start of a longer value (see sm_msgpack_head_to_json). */
static int convert(struct sm_msgpack *m, const uint8_t *in, size_t n, char *out, size_t cap,
                   size_t keep, bool head, struct sm_msgpack_status *st)
{
	struct sm_jsonw w = {.out = out, .cap = cap, .keep = keep < cap ? keep : cap};
	uint32_t depth = 0;
	size_t pos = 0;

#define NEED(k)                                                                                    \
	do {                                                                                       \
		if ((k) > n - pos)                                                                 \
			return fail(st, SM_MSGPACK_TRUNCATED, pos, &w);                            \
	} while (0)

	for (;;) {
		/* Separators and key wrapping before the next value. */
		if (depth > 0) {
			struct sm_msgpack_frame *f = &m->stack[depth - 1];
			if (f->phase != PH_VALUE && !f->first)
				putc1(&w, ',');
			if (f->is_map && f->phase == PH_KEY) {
				NEED(1);
				uint8_t k0 = in[pos];
				if ((k0 & 0xe0) == 0xa0 && (size_t)(k0 & 0x1f) < n - pos) {
					/* A complete fixstr key (most keys): written with
					 * its ':' here, on to the value in this same turn;
					 * the same output and failure offsets as the
					 * general path (key start, then after the key). */
					size_t kstart = pos, klen = k0 & 0x1f;
					put_json_string(&w, in + pos + 1, klen);
					pos += 1 + klen;
					if (w.full)
						return fail(st, SM_MSGPACK_OUTPUT_FULL, kstart, &w);
					putc1(&w, ':');
					f->phase = PH_VALUE;
					if (w.full)
						return fail(st, SM_MSGPACK_OUTPUT_FULL, pos, &w);
				} else if (!is_str_type(k0)) {
					putc1(&w, '"');
					w.level++;
					f->phase = PH_KEY_WRAPPED;
				}
			}
		}
		NEED(1);
		size_t start = pos;
		uint8_t c = in[pos++];
		uint64_t count = 0; /* container size, if c opens one */
		bool is_map = false, container = false;

		if (c <= 0x7f) {
			put_u64(&w, c);
		} else if (c >= 0xe0) {
			put_i64(&w, (int8_t)c);
		} else if (c <= 0x8f) {
			container = is_map = true;
			count = c & 0x0f;
		} else if (c <= 0x9f) {
			container = true;
			count = c & 0x0f;
		} else if (c <= 0xbf) {
			size_t len = c & 0x1f;
			NEED(len);
			put_json_string(&w, in + pos, len);
			pos += len;
		} else {
			switch (c) {
			case 0xc0: put_str(&w, "null"); break;
			case 0xc1: return fail(st, SM_MSGPACK_BAD_TYPE, start, &w);
			case 0xc2: put_str(&w, "false"); break;
			case 0xc3: put_str(&w, "true"); break;
			case 0xc4:
			case 0xc5:
			case 0xc6: {
				unsigned lb = 1u << (c - 0xc4);
				NEED(lb);
				uint64_t len = be(in + pos, lb);
				pos += lb;
				NEED(len);
				sm_jsonw_put_base64(&w, in + pos, (size_t)len);
				pos += (size_t)len;
				break;
			}
			case 0xc7:
			case 0xc8:
			case 0xc9:
			case 0xd4:
			case 0xd5:
			case 0xd6:
			case 0xd7:
			case 0xd8: {
				uint64_t len;
				if (c >= 0xd4) {
					len = 1u << (c - 0xd4);
				} else {
					unsigned lb = 1u << (c - 0xc7);
					NEED(lb);
					len = be(in + pos, lb);
					pos += lb;
				}
				NEED(1);
				int8_t type = (int8_t)in[pos++];
				NEED(len);
				if (!sm_jsonw_put_ext(&w, type, in + pos, (size_t)len))
					return fail(st, SM_MSGPACK_BAD_TIMESTAMP, start, &w);
				pos += (size_t)len;
				break;
			}
			case 0xca: {
				NEED(4);
				uint32_t u = (uint32_t)be(in + pos, 4);
				float fv;
				memcpy(&fv, &u, 4);
				pos += 4;
				put_double(&w, fv, true);
				break;
			}
			case 0xcb: {
				NEED(8);
				uint64_t u = be(in + pos, 8);
				double dv;
				memcpy(&dv, &u, 8);
				pos += 8;
				put_double(&w, dv, false);
				break;
			}
			case 0xcc:
			case 0xcd:
			case 0xce:
			case 0xcf: {
				unsigned k = 1u << (c - 0xcc);
				NEED(k);
				put_u64(&w, be(in + pos, k));
				pos += k;
				break;
			}
			case 0xd0:
			case 0xd1:
			case 0xd2:
			case 0xd3: {
				unsigned k = 1u << (c - 0xd0);
				NEED(k);
				uint64_t u = be(in + pos, k);
				int64_t v;
				/* Sign-extend from k bytes without shifting into the sign bit. */
				if (k < 8 && (u >> (8 * k - 1)))
					v = (int64_t)(u | ~((UINT64_C(1) << (8 * k)) - 1));
				else
					v = (int64_t)u;
				put_i64(&w, v);
				pos += k;
				break;
			}
			case 0xd9:
			case 0xda:
			case 0xdb: {
				unsigned lb = 1u << (c - 0xd9);
				NEED(lb);
				uint64_t len = be(in + pos, lb);
				pos += lb;
				NEED(len);
				put_json_string(&w, in + pos, (size_t)len);
				pos += (size_t)len;
				break;
			}
			case 0xdc:
			case 0xdd:
			case 0xde:
			case 0xdf: {
				unsigned lb = (c & 1) ? 4 : 2;
				NEED(lb);
				count = be(in + pos, lb);
				pos += lb;
				container = true;
				is_map = c >= 0xde;
				break;
			}
			}
		}

		if (container) {
			if (depth >= m->lim.max_depth)
				return fail(st, SM_MSGPACK_TOO_DEEP, start, &w);
			if (count > m->lim.max_elements)
				return fail(st, SM_MSGPACK_TOO_MANY, start, &w);
			/* Every item takes at least one byte: reject impossible
			 * declared sizes before looping over them (a head goes
			 * on as far as its bytes go; still one byte per item). */
			if (!head && (is_map ? 2 * count : count) > n - pos)
				return fail(st, SM_MSGPACK_TRUNCATED, start, &w);
			putc1(&w, is_map ? '{' : '[');
			if (count > 0) {
				m->stack[depth++] =
				        (struct sm_msgpack_frame){.left = (uint32_t)count,
				                                  .is_map = is_map,
				                                  .phase = PH_KEY,
				                                  .first = 1};
				if (w.full)
					return fail(st, SM_MSGPACK_OUTPUT_FULL, start, &w);
				continue;
			}
			putc1(&w, is_map ? '}' : ']');
		}
		if (w.full)
			return fail(st, SM_MSGPACK_OUTPUT_FULL, start, &w);

		/* A value completed: advance the enclosing frames. */
		for (;;) {
			if (depth == 0) {
				if (w.full)
					return fail(st, SM_MSGPACK_OUTPUT_FULL, pos, &w);
				if (pos != n)
					return fail(st, SM_MSGPACK_TRAILING, pos, &w);
				st->reason = SM_MSGPACK_OK;
				st->in_offset = pos;
				st->out_len = w.len;
				return SM_OK;
			}
			struct sm_msgpack_frame *f = &m->stack[depth - 1];
			if (f->is_map && f->phase != PH_VALUE) {
				if (f->phase == PH_KEY_WRAPPED) {
					w.level--;
					putc1(&w, '"');
				}
				putc1(&w, ':');
				f->phase = PH_VALUE;
				break;
			}
			f->phase = PH_KEY;
			f->first = 0;
			if (--f->left > 0)
				break;
			putc1(&w, f->is_map ? '}' : ']');
			depth--;
		}
		if (w.full)
			return fail(st, SM_MSGPACK_OUTPUT_FULL, pos, &w);
	}
#undef NEED
}

int sm_msgpack_to_json(struct sm_msgpack *m, const uint8_t *in, size_t n, char *out, size_t cap,
                       struct sm_msgpack_status *st)
{
	size_t budget = cap < m->lim.max_output ? cap : m->lim.max_output;
	return convert(m, in, n, out, budget, budget, false, st);
}

int sm_msgpack_to_json_prefix(struct sm_msgpack *m, const uint8_t *in, size_t n, char *out,
                              size_t keep, struct sm_msgpack_status *st)
{
	return convert(m, in, n, out, m->lim.max_output, keep, false, st);
}

int sm_msgpack_head_to_json(struct sm_msgpack *m, const uint8_t *in, size_t n, char *out,
                            size_t keep, struct sm_msgpack_status *st)
{
	int r = convert(m, in, n, out, m->lim.max_output, keep, true, st);
	return r == SM_ERR_TRUNCATED ? SM_OK : r;
}

const char *sm_msgpack_reason_str(enum sm_msgpack_reason r)
{
	switch (r) {
	case SM_MSGPACK_OK: return "ok";
	case SM_MSGPACK_TRUNCATED: return "truncated";
	case SM_MSGPACK_BAD_TYPE: return "bad_type";
	case SM_MSGPACK_TOO_DEEP: return "too_deep";
	case SM_MSGPACK_TOO_MANY: return "too_many";
	case SM_MSGPACK_OUTPUT_FULL: return "output_full";
	case SM_MSGPACK_TRAILING: return "trailing";
	case SM_MSGPACK_BAD_TIMESTAMP: return "bad_timestamp";
	}
	return "unknown";
}
