/* The bounded JSON writer of decode/msgpack (internal): msgpack.c renders
 * values through these inline helpers, msgpack_json.c holds the slow and
 * rare paths (escaped output inside wrapped keys, base64, timestamps and
 * other ext types). */
#ifndef SM_DECODE_MSGPACK_JSON_H
#define SM_DECODE_MSGPACK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bounded JSON writer. `level` counts enclosing wrapped keys: a '"' or '\\'
 * emitted at level L becomes 2^L - 1 backslashes followed by the byte, so a
 * container used as a map key turns into a correctly escaped JSON string.
 * len counts every byte of the JSON against the budget cap; only bytes at
 * positions below keep (<= cap) are stored: the prefix mode validates and
 * measures the rest without writing it. Once full, cap and keep are lowered
 * to len so that every later write fails the room check. */
struct sm_jsonw {
	char *out;
	size_t cap;
	size_t keep;
	size_t len;
	unsigned level;
	bool full;
};

/* Stores s[0..n) the slow way: wrapped-key escaping, the keep and cap
 * bounds (sets full when it does not fit). */
void sm_jsonw_put_slow(struct sm_jsonw *w, const char *s, size_t n);

static inline void set_full(struct sm_jsonw *w)
{
	w->full = true;
	w->cap = w->len;
	if (w->keep > w->len)
		w->keep = w->len;
}

/* Where n bytes can be stored as they are (level 0, inside keep), else
 * NULL: the caller then goes through put(). */
static inline char *room(struct sm_jsonw *w, size_t n)
{
	if (w->level == 0 && w->len <= w->keep && n <= w->keep - w->len)
		return w->out + w->len;
	return NULL;
}

/* Stores c at position len if that is inside keep; counts it either way. */
static inline void store(struct sm_jsonw *w, char c)
{
	if (w->len < w->keep)
		w->out[w->len] = c;
	w->len++;
}

static inline void put(struct sm_jsonw *w, const char *s, size_t n)
{
	char *o = room(w, n);
	if (o) {
		memcpy(o, s, n);
		w->len += n;
		return;
	}
	if (w->level == 0 && w->len >= w->keep && n <= w->cap - w->len) {
		w->len += n; /* past keep: counted only */
		return;
	}
	sm_jsonw_put_slow(w, s, n);
}

static inline void putc1(struct sm_jsonw *w, char c)
{
	if (w->level == 0 && w->len < w->cap) {
		if (w->len < w->keep)
			w->out[w->len] = c;
		w->len++;
		return;
	}
	sm_jsonw_put_slow(w, &c, 1);
}

static inline void put_str(struct sm_jsonw *w, const char *s)
{
	put(w, s, strlen(s));
}
/* Big-endian unsigned of n = 1, 2, 4 or 8 bytes (one load, not a byte loop:
 * every float64 goes through here). */
static inline uint64_t be(const uint8_t *p, unsigned n)
{
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	switch (n) {
	case 1: return p[0];
	case 2: {
		uint16_t v;
		memcpy(&v, p, 2);
		return __builtin_bswap16(v);
	}
	case 4: {
		uint32_t v;
		memcpy(&v, p, 4);
		return __builtin_bswap32(v);
	}
	case 8: {
		uint64_t v;
		memcpy(&v, p, 8);
		return __builtin_bswap64(v);
	}
	default: break;
	}
#endif
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* n bytes as a JSON string of base64 (msgpack bin). */
void sm_jsonw_put_base64(struct sm_jsonw *w, const uint8_t *p, size_t n);

/* Renders an ext value (type -1: a timestamp as RFC 3339 text, else
 * {"ext":type,"data":"base64"}); false for a malformed timestamp. */
bool sm_jsonw_put_ext(struct sm_jsonw *w, int8_t type, const uint8_t *p, size_t n);

#endif
