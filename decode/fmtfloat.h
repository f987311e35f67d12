/* Shortest round-trip decimal text of a float64 or float32, without printf.
 *
 * The digits are the shortest decimal that reads back (strtod / strtof,
 * round-to-nearest-even) to exactly the same value; among decimals of that
 * length, the one closest to the value (ties to an even last digit). They are
 * found with the Schubfach method (R. Giulietti, "The Schubfach way to render
 * doubles", 2020): one 126-bit multiplication by a table value of 10^-k per
 * bound, no loop, no big integers. Our own implementation; the table
 * (decode/fmtfloat_table.h, 617 x 128 bits) is generated with exact integers.
 *
 * Layout of the text (ECMAScript Number::toString, which JSON.stringify uses),
 * with n digits d1..dn and the value 0.d1..dn x 10^x:
 *   - n <= x <= 21:   the digits then x-n zeros        1e20  -> "100000000000000000000"
 *   - 0 < x <= 21:    a point after x digits           1.5   -> "1.5"
 *   - -6 < x <= 0:    "0." then -x zeros, the digits   1e-6  -> "0.000001"
 *   - otherwise:      d1[.d2..dn]e+X or e-X, X = x-1   1e21  -> "1e+21", 1e-7 -> "1e-7"
 * with a leading '-' for negative values. Differences from JavaScript:
 * negative zero is "-0" (JSON reads it back as -0.0; JavaScript prints "0"),
 * and the float32 variant prints the float's own shortest text (0.1f -> "0.1").
 * NaN and the infinities are written "NaN", "Infinity", "-Infinity" (not JSON
 * numbers: callers that emit JSON quote them or choose otherwise).
 *
 * Pure functions: no state, no locale, no allocation. */
#ifndef SM_DECODE_FMTFLOAT_H
#define SM_DECODE_FMTFLOAT_H

#include <stddef.h>
#include <stdint.h>

/* Bytes a buffer needs for any output (the longest is 25, e.g.
 * "-0.0000012345678901234567"); the text is not NUL-terminated. */
#define SM_FMTFLOAT_MAX 32

/* Writes the text of d into out; returns its length (1..25). */
size_t sm_fmtfloat_f64(double d, char out[SM_FMTFLOAT_MAX]);

/* The same for a float32 value (shortest text that strtof reads back). */
size_t sm_fmtfloat_f32(float f, char out[SM_FMTFLOAT_MAX]);

/* The length sm_fmtfloat_f64 / _f32 would return, without writing the text
 * (for measuring JSON that is not stored). */
size_t sm_fmtfloat_len_f64(double d);
size_t sm_fmtfloat_len_f32(float f);

/* The shortest digits alone, for finite nonzero |d|: d = *digits x 10^*exp,
 * *digits without trailing zeros (1..17 digits). Returns 0, or -1 when d is
 * zero, NaN or infinite (outputs untouched). */
int sm_fmtfloat_shortest_f64(double d, uint64_t *digits, int *exp);

/* The same for float32 (1..9 digits). */
int sm_fmtfloat_shortest_f32(float f, uint64_t *digits, int *exp);

#endif
