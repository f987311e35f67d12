#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/fmtfloat.h"

/* Exact texts: layout, edge values, and known shortest digits. */
struct fvec {
	double d;
	const char *text;
};

static const struct fvec f64_vectors[] = {
        {0.0, "0"},
        {-0.0, "-0"},
        {1.0, "1"},
        {-1.0, "-1"},
        {1.5, "1.5"},
        {0.1, "0.1"},
        {0.2 + 0.1, "0.30000000000000004"},
        {-123.456, "-123.456"},
        {1e-6, "0.000001"},
        {1.5e-6, "0.0000015"},
        {1e-7, "1e-7"},
        {-1.25e-7, "-1.25e-7"},
        {1e15, "1000000000000000"},
        {1e20, "100000000000000000000"},
        {1e21, "1e+21"},
        {1.5e300, "1.5e+300"},
        {123456789012345680.0, "123456789012345680"},
        {9007199254740991.0, "9007199254740991"},
        {9007199254740992.0, "9007199254740992"},
        {9007199254740994.0, "9007199254740994"},
        {18446744073709551616.0, "18446744073709552000"},
        {DBL_MAX, "1.7976931348623157e+308"},
        {-DBL_MAX, "-1.7976931348623157e+308"},
        {DBL_MIN, "2.2250738585072014e-308"},
        {4.9406564584124654e-324, "5e-324"}, /* smallest subnormal */
        {9.8813129168249309e-324, "1e-323"},
        {1.4821969375237396e-323, "1.5e-323"},
        {2.2250738585072009e-308, "2.225073858507201e-308"}, /* largest subnormal */
        {0.000001234, "0.000001234"},
        {123.0e-20, "1.23e-18"},
        {2.0e23 / 2.0, "1e+23"},
        {9.5367431640625e-07, "9.5367431640625e-7"}, /* 2^-20, exact */
        {0.3, "0.3"},
        {2.5, "2.5"},
        {1.0 / 3.0, "0.3333333333333333"},
        {2.0 / 3.0, "0.6666666666666666"},
        {100.0 / 3.0, "33.333333333333336"},
};

Test(fmtfloat, f64_vectors)
{
	for (size_t i = 0; i < sizeof(f64_vectors) / sizeof(f64_vectors[0]); i++) {
		char b[SM_FMTFLOAT_MAX + 1];
		size_t n = sm_fmtfloat_f64(f64_vectors[i].d, b);
		b[n] = 0;
		cr_expect_str_eq(b, f64_vectors[i].text, "vector %zu (%.17g)", i, f64_vectors[i].d);
		cr_expect_eq(sm_fmtfloat_len_f64(f64_vectors[i].d), n, "vector %zu length", i);
	}
}

Test(fmtfloat, specials)
{
	char b[SM_FMTFLOAT_MAX + 1];
	size_t n = sm_fmtfloat_f64(NAN, b);
	cr_expect_eq(n, 3);
	cr_expect(memcmp(b, "NaN", 3) == 0);
	n = sm_fmtfloat_f64(INFINITY, b);
	b[n] = 0;
	cr_expect_str_eq(b, "Infinity");
	n = sm_fmtfloat_f64(-INFINITY, b);
	b[n] = 0;
	cr_expect_str_eq(b, "-Infinity");
	n = sm_fmtfloat_f32(-INFINITY, b);
	b[n] = 0;
	cr_expect_str_eq(b, "-Infinity");
	n = sm_fmtfloat_f32(-0.0f, b);
	b[n] = 0;
	cr_expect_str_eq(b, "-0");
	cr_expect_eq(sm_fmtfloat_len_f64(NAN), 3);
	cr_expect_eq(sm_fmtfloat_len_f64(-INFINITY), 9);
	cr_expect_eq(sm_fmtfloat_len_f64(-0.0), 2);
	cr_expect_eq(sm_fmtfloat_len_f32(0.0f), 1);
	uint64_t f = 7;
	int e = 7;
	cr_expect_eq(sm_fmtfloat_shortest_f64(0.0, &f, &e), -1);
	cr_expect_eq(sm_fmtfloat_shortest_f64(NAN, &f, &e), -1);
	cr_expect_eq(sm_fmtfloat_shortest_f32(INFINITY, &f, &e), -1);
	cr_expect_eq(f, 7);
	cr_expect_eq(e, 7);
}

static const struct {
	float f;
	const char *text;
} f32_vectors[] = {
        {0.1f, "0.1"},
        {1.5f, "1.5"},
        {16777216.0f, "16777216"},
        {3.4028235e38f, "3.4028235e+38"},
        {1.17549435e-38f, "1.1754944e-38"},
        {1e-45f, "1e-45"},
        {3e-45f, "3e-45"},
        {0.3f, "0.3"},
        {-2.5e-7f, "-2.5e-7"},
        {1e10f, "10000000000"},
        {33.333332f, "33.333332"},
};

Test(fmtfloat, f32_vectors)
{
	for (size_t i = 0; i < sizeof(f32_vectors) / sizeof(f32_vectors[0]); i++) {
		char b[SM_FMTFLOAT_MAX + 1];
		size_t n = sm_fmtfloat_f32(f32_vectors[i].f, b);
		b[n] = 0;
		cr_expect_str_eq(b, f32_vectors[i].text, "vector %zu", i);
	}
}

/* splitmix64, fixed seed: the same values every run. */
static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int ndigits(uint64_t f)
{
	int n = 0;
	do {
		n++;
		f /= 10;
	} while (f);
	return n;
}

/* Whether some p-digit decimal reads back to x (p >= 1). The candidates are
 * the correctly rounded p-digit decimal (printf %.*e) and its two p-digit
 * neighbours: if any p-digit decimal reads back, the one just below or just
 * above x does, and one of those is the correctly rounded one (the other
 * matters where the rounding interval is asymmetric, at powers of two).
 * *closest gets the correctly rounded one when it reads back (the closest
 * decimal of that length), else 0. Fewer than p digits never need checking:
 * a shorter decimal padded with zeros is a p-digit one. */
static bool reads_back_with(double x, bool f32, int p, uint64_t *closest, int *closest_exp)
{
	char b[64];
	snprintf(b, sizeof(b), "%.*e", p - 1, x);
	/* b = d[.ddd]e±X: as integer digits D and exponent E = X - (p-1) */
	uint64_t d = 0;
	char *q = b;
	for (; *q != 'e'; q++)
		if (*q >= '0' && *q <= '9')
			d = d * 10 + (uint64_t)(*q - '0');
	int e = atoi(q + 1) - (p - 1);
	bool found = false;
	*closest = 0;
	for (int delta = -1; delta <= 1; delta++) {
		uint64_t c = d + (uint64_t)(int64_t)delta;
		if (c == 0 || ndigits(c) != p)
			continue;
		char t[64];
		snprintf(t, sizeof(t), "%llue%d", (unsigned long long)c, e);
		if (f32 ? strtof(t, NULL) == (float)x : strtod(t, NULL) == x) {
			found = true;
			if (delta == 0) {
				*closest = c;
				*closest_exp = e;
			}
		}
	}
	return found;
}

/* The digits f x 10^e given for |x| (already known to read back) are the
 * shortest, and the closest of that length. */
static void check_shortest(double x, bool f32, uint64_t f, int e, const char *what)
{
	uint64_t best;
	int best_exp = 0, n = ndigits(f);
	cr_assert_neq(f % 10, 0, "%s: trailing zero in %llu", what, (unsigned long long)f);
	cr_assert(n == 1 || !reads_back_with(x, f32, n - 1, &best, &best_exp),
	          "%s: %llu has %d digits, %d are enough", what, (unsigned long long)f, n, n - 1);
	cr_assert(reads_back_with(x, f32, n, &best, &best_exp), "%s", what);
	if (best)
		cr_assert(f == best && e == best_exp, "%s: %llue%d, closest is %llue%d", what,
		          (unsigned long long)f, e, (unsigned long long)best, best_exp);
}

static void check_f64(uint64_t bits)
{
	double d;
	memcpy(&d, &bits, 8);
	if (isnan(d) || isinf(d))
		return;
	char b[SM_FMTFLOAT_MAX + 1];
	size_t n = sm_fmtfloat_f64(d, b);
	cr_assert(n >= 1 && n <= 25, "length %zu for %016llx", n, (unsigned long long)bits);
	cr_assert_eq(sm_fmtfloat_len_f64(d), n, "measured length of %016llx",
	             (unsigned long long)bits);
	b[n] = 0;
	double r = strtod(b, NULL);
	uint64_t rb;
	memcpy(&rb, &r, 8);
	cr_assert_eq(rb, bits, "%016llx -> \"%s\" reads back as %016llx", (unsigned long long)bits,
	             b, (unsigned long long)rb);
	if (d == 0)
		return;
	uint64_t f;
	int e;
	cr_assert_eq(sm_fmtfloat_shortest_f64(d, &f, &e), 0);
	char what[32];
	snprintf(what, sizeof(what), "%016llx", (unsigned long long)bits);
	check_shortest(fabs(d), false, f, e, what);
}

static void check_f32(uint32_t bits)
{
	float x;
	memcpy(&x, &bits, 4);
	if (isnan(x) || isinf(x))
		return;
	char b[SM_FMTFLOAT_MAX + 1];
	size_t n = sm_fmtfloat_f32(x, b);
	cr_assert_eq(sm_fmtfloat_len_f32(x), n, "measured length of %08x", bits);
	b[n] = 0;
	float r = strtof(b, NULL);
	uint32_t rb;
	memcpy(&rb, &r, 4);
	cr_assert_eq(rb, bits, "%08x -> \"%s\" reads back as %08x", bits, b, rb);
	if (x == 0)
		return;
	uint64_t f;
	int e;
	cr_assert_eq(sm_fmtfloat_shortest_f32(x, &f, &e), 0);
	char what[32];
	snprintf(what, sizeof(what), "%08x", bits);
	check_shortest(fabsf(x), true, f, e, what);
}

/* Edge values: every exponent with the smallest, largest and a few other
 * significands (powers of two have asymmetric intervals), all small
 * subnormals, integers around 2^53, and short decimals. */
Test(fmtfloat, f64_edges)
{
	for (uint64_t bq = 0; bq < 0x7ff; bq++) {
		check_f64(bq << 52);
		check_f64(bq << 52 | 1);
		check_f64(bq << 52 | ((UINT64_C(1) << 52) - 1));
		check_f64(bq << 52 | (UINT64_C(1) << 51));
		check_f64((bq << 52 | 12345) | UINT64_C(1) << 63);
	}
	for (uint64_t t = 0; t < 5000; t++)
		check_f64(t);
	for (int64_t i = -3000; i <= 3000; i++) {
		double d = 9007199254740992.0 + (double)i * 2;
		uint64_t bits;
		memcpy(&bits, &d, 8);
		check_f64(bits);
		d = (double)i / 1000.0;
		memcpy(&bits, &d, 8);
		check_f64(bits);
		d = (double)i * 1e-300;
		memcpy(&bits, &d, 8);
		check_f64(bits);
	}
}

/* 2,000,000 random bit patterns (fixed seed), a quarter of them subnormal
 * and a quarter with exponents near 1.0 where JSON data lives. */
Test(fmtfloat, f64_random_bits, .timeout = 300)
{
	rng = 0x5eed0001;
	for (long i = 0; i < 2000000; i++) {
		uint64_t u = rnd();
		if (i % 4 == 1)
			u &= 0x800fffffffffffffull;
		else if (i % 4 == 2)
			u = (u & 0x800fffffffffffffull) |
			    ((uint64_t)(1023 + rnd() % 120 - 60) << 52);
		check_f64(u);
	}
}

/* Short decimals like those in JSON-shaped data: m / 10^k, m < 10^9. */
Test(fmtfloat, f64_short_decimals)
{
	static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
	rng = 0x5eed0002;
	for (long i = 0; i < 300000; i++) {
		double d = (double)(int64_t)(rnd() % 2000000000 - 1000000000) / p10[rnd() % 9];
		uint64_t bits;
		memcpy(&bits, &d, 8);
		check_f64(bits);
		char b[SM_FMTFLOAT_MAX + 1];
		size_t n = sm_fmtfloat_f64(d, b);
		cr_assert(n <= 12, "%.17g printed with %zu bytes", d, n);
	}
}

Test(fmtfloat, f32_edges_and_random, .timeout = 300)
{
	for (uint32_t bq = 0; bq < 0xff; bq++) {
		check_f32(bq << 23);
		check_f32(bq << 23 | 1);
		check_f32(bq << 23 | ((1u << 23) - 1));
		check_f32(bq << 23 | 0x80000000u | 777);
	}
	for (uint32_t t = 0; t < 20000; t++)
		check_f32(t);
	rng = 0x5eed0003;
	for (long i = 0; i < 1000000; i++)
		check_f32((uint32_t)rnd());
}
