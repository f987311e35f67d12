/* decode/fmtfloat against strtod/strtof: the input is read as float64 values
 * (8 bytes each, little-endian) then, for the remainder and for a second
 * pass over everything, float32 values (4 bytes each). Every finite value's
 * text must read back to the same bits, match the JSON number grammar, be
 * no longer than 25 bytes, have the length sm_fmtfloat_len_* measures, and
 * use the fewest digits (no decimal with one digit fewer reads back). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/fmtfloat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? over the whole text. */
static bool json_number(const char *s, size_t n)
{
	size_t i = 0;
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else {
		if (i >= n || s[i] < '1' || s[i] > '9')
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && s[i] == '.') {
		size_t d = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	if (i < n && s[i] == 'e') {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	return i == n;
}

/* Whether a decimal of p significant digits (p >= 1) reads back to x: the
 * correctly rounded one or its p-digit neighbours. */
static bool p_digits_read_back(double x, bool f32, int p)
{
	char b[64];
	snprintf(b, sizeof(b), "%.*e", p - 1, x);
	uint64_t d = 0;
	char *q = b;
	for (; *q != 'e'; q++)
		if (*q >= '0' && *q <= '9')
			d = d * 10 + (uint64_t)(*q - '0');
	int e = atoi(q + 1) - (p - 1);
	for (int delta = -1; delta <= 1; delta++) {
		uint64_t c = d + (uint64_t)(int64_t)delta;
		char t[64];
		int k = snprintf(t, sizeof(t), "%llu", (unsigned long long)c);
		if (c == 0 || k != p)
			continue;
		snprintf(t, sizeof(t), "%llue%d", (unsigned long long)c, e);
		if (f32 ? strtof(t, NULL) == (float)x : strtod(t, NULL) == x)
			return true;
	}
	return false;
}

static void check(double x, bool f32)
{
	char b[SM_FMTFLOAT_MAX + 1];
	size_t n = f32 ? sm_fmtfloat_f32((float)x, b) : sm_fmtfloat_f64(x, b);
	if (n < 1 || n > 25)
		abort();
	if ((f32 ? sm_fmtfloat_len_f32((float)x) : sm_fmtfloat_len_f64(x)) != n)
		abort();
	b[n] = 0;
	if (isnan(x)) {
		if (strcmp(b, "NaN") != 0)
			abort();
		return;
	}
	if (isinf(x)) {
		if (strcmp(b, x > 0 ? "Infinity" : "-Infinity") != 0)
			abort();
		return;
	}
	if (!json_number(b, n))
		abort();
	if (f32) {
		float r = strtof(b, NULL), fx = (float)x;
		if (memcmp(&r, &fx, 4) != 0)
			abort();
	} else {
		double r = strtod(b, NULL);
		if (memcmp(&r, &x, 8) != 0)
			abort();
	}
	if (x == 0)
		return;
	uint64_t f;
	int e;
	int rc = f32 ? sm_fmtfloat_shortest_f32((float)x, &f, &e)
	             : sm_fmtfloat_shortest_f64(x, &f, &e);
	if (rc != 0 || f == 0 || f % 10 == 0)
		abort();
	int nd = snprintf(b, sizeof(b), "%llu", (unsigned long long)f);
	if (nd > 1 && p_digits_read_back(fabs(x), f32, nd - 1))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 0;
	for (; i + 8 <= size && i < 8 * 64; i += 8) {
		double d;
		memcpy(&d, data + i, 8);
		check(d, false);
	}
	for (size_t j = 0; j + 4 <= size && j < 4 * 64; j += 4) {
		float f;
		memcpy(&f, data + j, 4);
		check(f, true);
	}
	return 0;
}
