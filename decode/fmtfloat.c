#include "decode/fmtfloat.h"

#include <stdbool.h>
#include <string.h>

#include "decode/fmtfloat_table.h"

/* The method, for a finite positive value v = c x 2^q (c an integer):
 * rounding to nearest-even maps to v every real in the interval R between the
 * midpoints to v's neighbours, (c - 1/2) 2^q .. (c + 1/2) 2^q (the lower one is
 * (c - 1/4) 2^q when c is the smallest normal significand, whose lower
 * neighbour is closer); the end points belong to R when c is even. With
 * k = floor(log10(width of R)), R holds at least one multiple of 10^k and at
 * most one of 10^(k+1). So: if exactly one multiple of 10^(k+1) lies in R, it
 * is the shortest; else the shortest are the multiples s 10^k and (s+1) 10^k
 * around v that lie in R, and the closer one wins (ties: even s).
 * The comparisons need v 10^-k and the bounds to two fractional bits only:
 * vb = 4 v 10^-k is computed as c' 2^q x g(k) with g a 126-bit upper
 * approximation of 10^-k, rounded to odd (floor, low bit set if any bit was
 * dropped), which keeps every comparison against a multiple of 4 exact. */

/* floor(q log10 2) for |q| <= 5456721 (checked against exact values for the
 * range used here when the table was generated). */
static int flog10pow2(int q)
{
	return (int)(((int64_t)q * 661971961083LL) >> 41);
}

/* floor(log10(3/4 2^q)), same range. */
static int flog10threequarterspow2(int q)
{
	return (int)(((int64_t)q * 661971961083LL - 274743187321LL) >> 41);
}

/* floor(e log2 10), |e| <= 1000. */
static int flog2pow10(int e)
{
	return (int)(((int64_t)e * 913124641741LL) >> 38);
}

/* floor(g cp / 2^127) with the low bit set when bits 64..126 of g cp are not
 * all zero (round to odd). g = g[0] 2^63 + g[1]. The bits below 2^64 are left
 * out on purpose: g exceeds 10^-k 2^r by less than 1, so the excess of g cp
 * stays below 2^63 and an exact product (an integer vb) is still seen as
 * exact; the method's error analysis is for this computation. */
static uint64_t round_to_odd(const uint64_t g[2], uint64_t cp)
{
	const uint64_t mask63 = ((uint64_t)1 << 63) - 1;
	uint64_t x1 = (uint64_t)(((unsigned __int128)g[1] * cp) >> 64);
	unsigned __int128 y = (unsigned __int128)g[0] * cp;
	uint64_t z = ((uint64_t)y >> 1) + x1;
	uint64_t vb = (uint64_t)(y >> 64) + (z >> 63);
	return vb | (uint64_t)((z & mask63) != 0);
}

/* Shortest decimal f 10^e of c 2^q. c_min and q_min: the smallest normal
 * significand and the smallest exponent of the format. dk = -1 when the
 * caller passed 10 c for a tiny subnormal c (too few bits for the method's
 * precision): R is then 10 times as wide in those units, and the exponent
 * is corrected by dk. */
static void to_decimal(int q, uint64_t c, int dk, uint64_t c_min, int q_min, uint64_t *f, int *e)
{
	uint64_t out = (dk ? c / 10 : c) & 1; /* odd c: the bounds are not in R */
	uint64_t cb = c << 2, cbr = cb + (dk ? 20 : 2), cbl;
	int k;
	if (dk) {
		cbl = cb - 20;
		k = flog10pow2(q);
	} else if (c != c_min || q == q_min) {
		cbl = cb - 2;
		k = flog10pow2(q);
	} else {
		cbl = cb - 1;
		k = flog10threequarterspow2(q);
	}
	/* h in 2..5: cb << h stays below 2^61 */
	int h = q + flog2pow10(-k) + 2;
	const uint64_t *g = sm_fmtfloat_g[k - SM_FMTFLOAT_KMIN];
	uint64_t vb = round_to_odd(g, cb << h);
	uint64_t vbl = round_to_odd(g, cbl << h);
	uint64_t vbr = round_to_odd(g, cbr << h);
	uint64_t s = vb >> 2;
	if (s >= 10) {
		/* one digit shorter: the multiples of 10 around s. Only a tiny
		 * subnormal scaled by 10 (dk = -1) can have both in R: then the
		 * closer one (ties: even). */
		uint64_t sp10 = s / 10 * 10, tp10 = sp10 + 10;
		bool u_in = vbl + out <= sp10 << 2;
		bool w_in = (tp10 << 2) + out <= vbr;
		if (u_in || w_in) {
			uint64_t mid = (sp10 + tp10) << 1;
			if (u_in && w_in)
				u_in = vb < mid || (vb == mid && (sp10 / 10 & 1) == 0);
			*f = u_in ? sp10 : tp10;
			*e = k + dk;
			return;
		}
	}
	uint64_t t = s + 1;
	bool u_in = vbl + out <= s << 2;
	bool w_in = (t << 2) + out <= vbr;
	*e = k + dk;
	if (u_in != w_in) {
		*f = u_in ? s : t;
		return;
	}
	/* both in R: the closer to v, ties to even */
	uint64_t mid = (s + t) << 1;
	*f = (vb < mid || (vb == mid && (s & 1) == 0)) ? s : t;
}

/* Short decimals come out of to_decimal() as 16-17 digits with many
 * trailing zeros: strip 8 (twice at most: f < 10^17), then 4, 2, 1. */
static void strip_zeros(uint64_t *f, int *e)
{
	uint64_t v = *f;
	int k = *e;
	while (v % 100000000 == 0) {
		v /= 100000000;
		k += 8;
	}
	if (v % 10000 == 0) {
		v /= 10000;
		k += 4;
	}
	if (v % 100 == 0) {
		v /= 100;
		k += 2;
	}
	if (v % 10 == 0) {
		v /= 10;
		k += 1;
	}
	*f = v;
	*e = k;
}

/* The short decimals JSON-shaped data is made of (prices, coordinates,
 * scores): when d = m / 10^k for an integer m < 10^15 and k <= 8, that
 * division rounds to d (m and 10^k are exact doubles, so it is exactly
 * what strtod reads from "m e-k": Clinger's fast path), and since two
 * decimals of at most 15 digits never read back to the same double
 * (DBL_DIG), m x 10^-k is then the shortest and closest decimal: the same
 * digits the method gives, for a few multiplications and one division.
 * Returns false when d is not such a value (the method then runs). */
static bool short_decimal(double a, uint64_t *f, int *e)
{
	static const double p10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
	if (!(a >= 1e-8 && a < 1e15))
		return false;
	for (int k = 0; k <= 8; k++) {
		double t = a * p10[k];
		if (t >= 1e15)
			return false;
		uint64_t m = (uint64_t)t;
		if ((double)m == t && m != 0 && (double)m / p10[k] == a) {
			*f = m;
			*e = -k;
			if (m % 10 == 0) /* 2.55 x 100 rounds to 254.99..., x 1000 to 2550 */
				strip_zeros(f, e);
			return true;
		}
	}
	return false;
}

int sm_fmtfloat_shortest_f64(double d, uint64_t *digits, int *exp)
{
	uint64_t bits;
	memcpy(&bits, &d, 8);
	uint64_t t = bits & ((UINT64_C(1) << 52) - 1);
	int bq = (int)((bits >> 52) & 0x7ff);
	if (bq == 0x7ff || (bq == 0 && t == 0))
		return -1;
	uint64_t f;
	int e;
	double a = d < 0 ? -d : d;
	if (short_decimal(a, digits, exp))
		return 0;
	if (bq != 0)
		to_decimal(bq - 1075, t | (UINT64_C(1) << 52), 0, UINT64_C(1) << 52, -1074, &f, &e);
	else if (t < 3) /* too few bits for the method's precision: scale by 10 */
		to_decimal(-1074, 10 * t, -1, UINT64_C(1) << 52, -1074, &f, &e);
	else
		to_decimal(-1074, t, 0, UINT64_C(1) << 52, -1074, &f, &e);
	strip_zeros(&f, &e);
	*digits = f;
	*exp = e;
	return 0;
}

int sm_fmtfloat_shortest_f32(float fv, uint64_t *digits, int *exp)
{
	uint32_t bits;
	memcpy(&bits, &fv, 4);
	uint64_t t = bits & ((UINT32_C(1) << 23) - 1);
	int bq = (int)((bits >> 23) & 0xff);
	if (bq == 0xff || (bq == 0 && t == 0))
		return -1;
	uint64_t f;
	int e;
	if (bq != 0)
		to_decimal(bq - 150, t | (UINT64_C(1) << 23), 0, UINT64_C(1) << 23, -149, &f, &e);
	else if (t < 8)
		to_decimal(-149, 10 * t, -1, UINT64_C(1) << 23, -149, &f, &e);
	else
		to_decimal(-149, t, 0, UINT64_C(1) << 23, -149, &f, &e);
	strip_zeros(&f, &e);
	*digits = f;
	*exp = e;
	return 0;
}

static const char pairs[201] = "00010203040506070809"
                               "10111213141516171819"
                               "20212223242526272829"
                               "30313233343536373839"
                               "40414243444546474849"
                               "50515253545556575859"
                               "60616263646566676869"
                               "70717273747576777879"
                               "80818283848586878889"
                               "90919293949596979899";

/* The 8 decimal digits of v < 10^8, zero-padded: two independent halves. */
static inline void write8(char *o, uint32_t v)
{
	uint32_t hi = v / 10000, lo = v % 10000;
	memcpy(o, pairs + 2 * (hi / 100), 2);
	memcpy(o + 2, pairs + 2 * (hi % 100), 2);
	memcpy(o + 4, pairs + 2 * (lo / 100), 2);
	memcpy(o + 6, pairs + 2 * (lo % 100), 2);
}

/* Digits of 1 <= v < 10^8. */
static int ndigits8(uint32_t v)
{
	return v < 10000 ? (v < 100 ? (v < 10 ? 1 : 2) : (v < 1000 ? 3 : 4))
	                 : (v < 1000000 ? (v < 100000 ? 5 : 6) : (v < 10000000 ? 7 : 8));
}

/* Decimal digits of v < 10^17 into b; returns how many (1..17). */
static int utoa(uint64_t v, char b[20])
{
	char t[24];
	int n;
	if (v < 100000000) {
		write8(t + 16, (uint32_t)v);
		n = v ? ndigits8((uint32_t)v) : 1;
	} else if (v < 10000000000000000ull) {
		uint32_t hi = (uint32_t)(v / 100000000);
		write8(t + 8, hi);
		write8(t + 16, (uint32_t)(v % 100000000));
		n = 8 + ndigits8(hi);
	} else {
		uint64_t hi = v / 100000000;
		t[7] = (char)('0' + hi / 100000000);
		write8(t + 8, (uint32_t)(hi % 100000000));
		write8(t + 16, (uint32_t)(v % 100000000));
		n = 17;
	}
	memcpy(b, t + 24 - n, (size_t)n);
	return n;
}

/* ECMAScript layout of digits f (no trailing zeros) x 10^e, see the header. */
static size_t layout(char *out, bool neg, uint64_t f, int e)
{
	char d[20];
	int n = utoa(f, d);
	int x = n + e; /* value = 0.d1..dn x 10^x */
	char *p = out;
	if (neg)
		*p++ = '-';
	if (n <= x && x <= 21) {
		memcpy(p, d, (size_t)n);
		p += n;
		memset(p, '0', (size_t)(x - n));
		p += x - n;
	} else if (0 < x && x <= 21) {
		memcpy(p, d, (size_t)x);
		p += x;
		*p++ = '.';
		memcpy(p, d + x, (size_t)(n - x));
		p += n - x;
	} else if (-6 < x && x <= 0) {
		*p++ = '0';
		*p++ = '.';
		memset(p, '0', (size_t)-x);
		p += -x;
		memcpy(p, d, (size_t)n);
		p += n;
	} else {
		*p++ = d[0];
		if (n > 1) {
			*p++ = '.';
			memcpy(p, d + 1, (size_t)(n - 1));
			p += n - 1;
		}
		*p++ = 'e';
		int xe = x - 1;
		*p++ = xe < 0 ? '-' : '+';
		char xd[20];
		int xn = utoa((uint64_t)(xe < 0 ? -xe : xe), xd);
		memcpy(p, xd, (size_t)xn);
		p += xn;
	}
	return (size_t)(p - out);
}

/* Digits of 1 <= v < 10^17. */
static int ndigits17(uint64_t v)
{
	if (v < 100000000)
		return ndigits8((uint32_t)v);
	if (v < 10000000000000000ull)
		return 8 + ndigits8((uint32_t)(v / 100000000));
	return 17;
}

/* The length layout() gives for f x 10^e, without writing it. */
static size_t layout_len(bool neg, uint64_t f, int e)
{
	int n = ndigits17(f);
	int x = n + e;
	size_t len = neg;
	if (n <= x && x <= 21)
		return len + (size_t)x;
	if (0 < x && x <= 21)
		return len + (size_t)n + 1;
	if (-6 < x && x <= 0)
		return len + 2 + (size_t)-x + (size_t)n;
	int xe = x - 1 < 0 ? 1 - x : x - 1;
	return len + (size_t)n + (n > 1) + 2 + (size_t)ndigits8((uint32_t)xe);
}

/* Zero, NaN and the infinities; returns 0 for other values. */
static size_t special(char *out, bool neg, bool nan, bool inf)
{
	if (nan) {
		memcpy(out, "NaN", 3);
		return 3;
	}
	if (inf) {
		memcpy(out, neg ? "-Infinity" : "Infinity", neg ? 9 : 8);
		return neg ? 9 : 8;
	}
	if (neg) {
		memcpy(out, "-0", 2);
		return 2;
	}
	out[0] = '0';
	return 1;
}

size_t sm_fmtfloat_f64(double d, char out[SM_FMTFLOAT_MAX])
{
	uint64_t bits;
	memcpy(&bits, &d, 8);
	bool neg = bits >> 63;
	double a = neg ? -d : d;
	/* Integers below 2^53 are their own shortest text (neighbours are at
	 * most 1 apart), and common in JSON-shaped data. */
	if (a < 9007199254740992.0 && a >= 1.0 && a == (double)(uint64_t)a)
		return layout(out, neg, (uint64_t)a, 0);
	uint64_t f;
	int e;
	if (sm_fmtfloat_shortest_f64(a, &f, &e) != 0) {
		bool nan = a != a;
		return special(out, neg, nan, !nan && a != 0);
	}
	return layout(out, neg, f, e);
}

size_t sm_fmtfloat_f32(float fv, char out[SM_FMTFLOAT_MAX])
{
	uint32_t bits;
	memcpy(&bits, &fv, 4);
	bool neg = bits >> 31;
	float a = neg ? -fv : fv;
	if (a < 16777216.0f && a >= 1.0f && a == (float)(uint32_t)a)
		return layout(out, neg, (uint32_t)a, 0);
	uint64_t f;
	int e;
	if (sm_fmtfloat_shortest_f32(a, &f, &e) != 0) {
		bool nan = a != a;
		return special(out, neg, nan, !nan && a != 0);
	}
	return layout(out, neg, f, e);
}

size_t sm_fmtfloat_len_f64(double d)
{
	uint64_t bits;
	memcpy(&bits, &d, 8);
	bool neg = bits >> 63;
	double a = neg ? -d : d;
	if (a < 9007199254740992.0 && a >= 1.0 && a == (double)(uint64_t)a)
		return layout_len(neg, (uint64_t)a, 0);
	uint64_t f;
	int e;
	if (sm_fmtfloat_shortest_f64(a, &f, &e) != 0) {
		char b[SM_FMTFLOAT_MAX];
		bool nan = a != a;
		return special(b, neg, nan, !nan && a != 0);
	}
	return layout_len(neg, f, e);
}

size_t sm_fmtfloat_len_f32(float fv)
{
	uint32_t bits;
	memcpy(&bits, &fv, 4);
	bool neg = bits >> 31;
	float a = neg ? -fv : fv;
	if (a < 16777216.0f && a >= 1.0f && a == (float)(uint32_t)a)
		return layout_len(neg, (uint32_t)a, 0);
	uint64_t f;
	int e;
	if (sm_fmtfloat_shortest_f32(a, &f, &e) != 0) {
		char b[SM_FMTFLOAT_MAX];
		bool nan = a != a;
		return special(b, neg, nan, !nan && a != 0);
	}
	return layout_len(neg, f, e);
}
