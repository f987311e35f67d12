/* The one JSON string writer, for flow events, payload excerpts and
 * msgpack rendered as JSON.
 *
 * Bytes become JSON string content this way, whatever their source:
 *  - valid UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF)
 *    passes through as UTF-8, so `café ✓` reaches jq as `café ✓`;
 *  - each byte of an invalid or truncated sequence becomes \ufffd (U+FFFD),
 *    so every line is valid JSON and a reader sees where bytes were bad;
 *  - '"' and '\\' are escaped, control characters become \b \f \n \r \t or
 *    \u00XX; DEL (0x7f) passes through.
 * Text cut at a limit should be cut with sm_utf8_cut(), so a character that
 * did not fit is dropped whole instead of turning into U+FFFD. */
#ifndef SM_BASE_JSON_H
#define SM_BASE_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Room sm_json_str() needs for n input bytes at most (quotes included). */
#define SM_JSON_STR_MAX(n) (2 + 6 * (size_t)(n))

/* Length (1..4) of the valid UTF-8 sequence p[0..n) starts with, or 0 when
 * p[0] does not start one (n > 0). */
size_t sm_utf8_seq(const uint8_t *p, size_t n);

/* The longest prefix of p[0..n), at most max bytes, that does not end
 * inside a valid UTF-8 sequence (invalid bytes count as one byte each). */
size_t sm_utf8_cut(const uint8_t *p, size_t n, size_t max);

/* Length of the leading run of p[0..n) that goes out unchanged. */
size_t sm_json_run(const uint8_t *p, size_t n);

/* The escape for p[0] when it does not start a run (n > 0): written to
 * esc (room for 6 bytes), its length returned. Consumes one input byte. */
size_t sm_json_escape1(uint8_t c, char esc[6]);

/* Appends p[0..n) as a JSON string literal (quotes included) at o, which
 * has room for SM_JSON_STR_MAX(n) bytes. Returns the end. */
char *sm_json_str(char *o, const uint8_t *p, size_t n);

#endif
