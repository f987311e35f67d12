/* Test-only encoders and bomb generators for the decode tests. */
#ifndef SM_TEST_CODEC_HELPERS_H
#define SM_TEST_CODEC_HELPERS_H

#include <brotli/encode.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zstd.h>

/* Encodes in[0..n) with one coding ("gzip", "zlib", "rawdeflate", "br",
 * "zstd"); returns a malloc'd buffer and its length in *len. */
static inline uint8_t *tc_encode(const char *coding, const uint8_t *in, size_t n, size_t *len)
{
	size_t cap = n + n / 2 + 1024;
	uint8_t *out = malloc(cap);
	*len = 0;
	if (!strcmp(coding, "br")) {
		size_t l = cap;
		if (!BrotliEncoderCompress(5, 22, BROTLI_MODE_GENERIC, n, in, &l, out))
			abort();
		*len = l;
		return out;
	}
	if (!strcmp(coding, "zstd")) {
		size_t l = ZSTD_compress(out, cap, in, n, 3);
		if (ZSTD_isError(l))
			abort();
		*len = l;
		return out;
	}
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
	if (!strcmp(coding, "gzip"))
		*len = libdeflate_gzip_compress(c, in, n, out, cap);
	else if (!strcmp(coding, "zlib"))
		*len = libdeflate_zlib_compress(c, in, n, out, cap);
	else
		*len = libdeflate_deflate_compress(c, in, n, out, cap);
	libdeflate_free_compressor(c);
	if (*len == 0)
		abort();
	return out;
}

/* Deterministic text-like sample data. */
static inline uint8_t *tc_sample(size_t n, unsigned seed)
{
	static const char *words[] = {"alpha ",    "beta ", "gamma\n",      "{\"k\":1}",
	                              "data: x\n", "zeta ", "\x00\x01\x02", "omega\r\n"};
	uint8_t *b = malloc(n ? n : 1);
	size_t i = 0;
	unsigned x = seed * 2654435761u + 1;
	while (i < n) {
		x = x * 1103515245u + 12345u;
		const char *w = words[(x >> 16) % 8];
		size_t wl = (x >> 16) % 8 == 6 ? 3 : strlen(w);
		for (size_t k = 0; k < wl && i < n; k++)
			b[i++] = (uint8_t)w[k];
	}
	return b;
}

/* LSB-first bit writer for hand-built deflate streams. */
struct tc_bits {
	uint8_t *p;
	size_t n;
	uint32_t acc;
	unsigned nb;
};

static inline void tc_put(struct tc_bits *w, uint32_t v, unsigned nbits)
{
	for (unsigned i = 0; i < nbits; i++) {
		w->acc |= ((v >> i) & 1u) << w->nb;
		if (++w->nb == 8) {
			w->p[w->n++] = (uint8_t)w->acc;
			w->acc = 0;
			w->nb = 0;
		}
	}
}

/* Huffman codes go most significant bit first. */
static inline void tc_huff(struct tc_bits *w, uint32_t code, unsigned len)
{
	for (unsigned i = len; i-- > 0;)
		tc_put(w, (code >> i) & 1u, 1);
}

/* Writes a raw deflate stream decoding to 1 + 258 * matches zero bytes: one
 * dynamic-Huffman block where literal 0 and the length-258 code have 1–2 bit
 * codes, so each 258-byte match costs 2 bits (the format's ~1032:1 maximum).
 * Returns a malloc'd buffer. */
static inline uint8_t *tc_deflate_bomb(size_t matches, size_t *len)
{
	struct tc_bits w = {malloc(matches / 4 + 64), 0, 0, 0};
	tc_put(&w, 1, 1);  /* BFINAL */
	tc_put(&w, 2, 2);  /* dynamic Huffman */
	tc_put(&w, 29, 5); /* HLIT: 286 lit/len codes */
	tc_put(&w, 1, 5);  /* HDIST: 2 distance codes */
	tc_put(&w, 14, 4); /* HCLEN: 18 code length codes */
	static const unsigned order[18] = {16, 17, 18, 0,  8, 7,  9, 6,  10,
	                                   5,  11, 4,  12, 3, 13, 2, 14, 1};
	for (int i = 0; i < 18; i++)
		tc_put(&w, order[i] == 18 ? 1 : (order[i] == 2 || order[i] == 1) ? 2 : 0, 3);
	/* Code-length codes: 18 -> "0", 1 -> "10", 2 -> "11". */
	tc_huff(&w, 3, 2); /* lit 0: length 2 */
	tc_huff(&w, 0, 1); /* lit 1..138: zero */
	tc_put(&w, 138 - 11, 7);
	tc_huff(&w, 0, 1); /* lit 139..255: zero */
	tc_put(&w, 117 - 11, 7);
	tc_huff(&w, 3, 2); /* lit 256 (end of block): length 2 */
	tc_huff(&w, 0, 1); /* lit 257..284: zero */
	tc_put(&w, 28 - 11, 7);
	tc_huff(&w, 2, 2); /* lit 285 (length 258): length 1 */
	tc_huff(&w, 2, 2); /* dist 0: length 1 */
	tc_huff(&w, 2, 2); /* dist 1: length 1 */
	/* Lit/len codes: 285 -> "0", 0 -> "10", 256 -> "11"; dist 0 -> "0". */
	tc_huff(&w, 2, 2); /* literal 0 */
	for (size_t i = 0; i < matches; i++)
		tc_put(&w, 0, 2); /* length 258, distance 1 */
	tc_huff(&w, 3, 2);        /* end of block */
	if (w.nb)
		w.p[w.n++] = (uint8_t)w.acc;
	*len = w.n;
	return w.p;
}

/* Wraps the bomb as "gzip" (RFC 1952) or "zlib" (RFC 1950); "rawdeflate"
 * returns it bare. Check values are computed for outputs under 1 MiB and
 * left zero for the real bombs (they never get that far). */
static inline uint8_t *tc_wrapped_bomb(const char *wrap, size_t matches, size_t *len)
{
	size_t dl;
	uint8_t *d = tc_deflate_bomb(matches, &dl);
	uint8_t *out = malloc(dl + 18);
	size_t n = 0;
	size_t plain = 1 + 258 * matches;
	uint32_t crc = 0, adler = 1;
	if (plain <= (1u << 20)) {
		uint8_t *z = calloc(1, plain);
		crc = libdeflate_crc32(0, z, plain);
		adler = libdeflate_adler32(1, z, plain);
		free(z);
	}
	if (!strcmp(wrap, "gzip")) {
		static const uint8_t h[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
		memcpy(out, h, 10);
		n = 10;
	} else if (!strcmp(wrap, "zlib")) {
		out[n++] = 0x78;
		out[n++] = 0x01;
	}
	memcpy(out + n, d, dl);
	n += dl;
	free(d);
	if (!strcmp(wrap, "gzip")) {
		for (int i = 0; i < 4; i++)
			out[n++] = (uint8_t)(crc >> (8 * i));
		for (int i = 0; i < 4; i++)
			out[n++] = (uint8_t)(plain >> (8 * i));
	} else if (!strcmp(wrap, "zlib")) {
		for (int i = 3; i >= 0; i--)
			out[n++] = (uint8_t)(adler >> (8 * i));
	}
	*len = n;
	return out;
}

#endif
