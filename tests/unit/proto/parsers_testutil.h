/* Shared helpers for the framing parser tests (header-only, test code only).
 *
 * rec: an append-only text record of events, so two event sequences can be
 * compared as strings. split_check: feeds one input whole, split at every
 * byte boundary, one byte at a time, and at 1000 random multi-cut splits
 * (fixed seed), and asserts every run records the same events. */
#ifndef SM_TEST_PARSERS_TESTUTIL_H
#define SM_TEST_PARSERS_TESTUTIL_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rec {
	char *buf;
	size_t len;
	size_t cap;
};

static inline void rec_reserve(struct rec *r, size_t more)
{
	if (r->len + more + 1 <= r->cap)
		return;
	size_t cap = r->cap ? r->cap : 256;
	while (cap < r->len + more + 1)
		cap *= 2;
	r->buf = realloc(r->buf, cap);
	cr_assert_not_null(r->buf);
	r->cap = cap;
}

__attribute__((format(printf, 2, 3))) static inline void rec_printf(struct rec *r, const char *fmt,
                                                                    ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	cr_assert_geq(n, 0);
	rec_reserve(r, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(r->buf + r->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	r->len += (size_t)n;
}

/* Printable ASCII kept (except '\\' and '|'), everything else as \xNN. */
static inline void rec_bytes(struct rec *r, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '|')
			rec_printf(r, "%c", p[i]);
		else
			rec_printf(r, "\\x%02x", p[i]);
	}
}

static inline char *rec_take(struct rec *r)
{
	rec_reserve(r, 0);
	r->buf[r->len] = 0;
	char *s = r->buf;
	memset(r, 0, sizeof(*r));
	return s;
}

/* Runs a parser over in[0..n) fed as the chunks delimited by cuts (sorted
 * offsets, 0 < cut < n, may repeat) and returns the malloc'd record. */
typedef char *(*split_run_fn)(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts);

static inline uint64_t test_rng(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static inline int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

static inline void split_check(split_run_fn run, const uint8_t *in, size_t n, const char *what)
{
	char *whole = run(in, n, NULL, 0);
	for (size_t k = 1; k < n; k++) {
		char *s = run(in, n, &k, 1);
		cr_assert_str_eq(s, whole, "%s: split at %zu differs", what, k);
		free(s);
	}
	if (n > 1) {
		size_t *cuts = malloc((n - 1) * sizeof(*cuts));
		cr_assert_not_null(cuts);
		for (size_t k = 1; k < n; k++)
			cuts[k - 1] = k;
		char *s = run(in, n, cuts, n - 1);
		cr_assert_str_eq(s, whole, "%s: byte-at-a-time differs", what);
		free(s);
		free(cuts);
	}
	uint64_t seed = 0x5eedf00dcafe1234ull;
	for (int t = 0; t < 1000 && n > 1; t++) {
		size_t cuts[16];
		size_t nc = 1 + (size_t)(test_rng(&seed) % 16);
		for (size_t j = 0; j < nc; j++)
			cuts[j] = 1 + (size_t)(test_rng(&seed) % (n - 1));
		qsort(cuts, nc, sizeof(cuts[0]), cmp_size);
		char *s = run(in, n, cuts, nc);
		cr_assert_str_eq(s, whole, "%s: random split #%d differs", what, t);
		free(s);
	}
	free(whole);
}

/* Copies a chunk to a fresh heap buffer so ASan catches reads past it. */
static inline void *chunk_dup(const uint8_t *p, size_t n)
{
	void *c = malloc(n ? n : 1);
	cr_assert_not_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

#endif
