/* MessagePack -> JSON converter.
 *
 * Converts exactly one msgpack value into JSON text in a caller-supplied
 * bounded buffer. Iterative (an explicit stack of max_depth frames allocated
 * once at init): no recursion, no allocation per call. Malformed or over-limit
 * input yields a negative sm_result plus a reason; the caller then falls back
 * to the raw bytes. Output is not NUL-terminated.
 *
 * Rendering (see docs/decoders.md):
 *  - nil/bool/ints of every width: null/true/false/decimal integers;
 *  - float32/64: shortest text that round-trips; NaN, +Inf, -Inf become the
 *    JSON strings "NaN", "Infinity", "-Infinity";
 *  - str: JSON-escaped; each byte of an invalid UTF-8 sequence becomes \ufffd;
 *  - bin: base64 (RFC 4648, padded) JSON string;
 *  - ext type -1 (timestamp 32/64/96): RFC 3339 UTC string, fraction trimmed;
 *    years outside 0000..9999 render as {"ext":-1,"sec":S,"nsec":N};
 *  - other ext: {"ext":T,"data":"<base64>"};
 *  - map keys that are not str are rendered as a JSON string holding their
 *    JSON form (key 1 -> "1", key [1] -> "[1]", key bin -> "\"<base64>\"").
 */
#ifndef SM_DECODE_MSGPACK_H
#define SM_DECODE_MSGPACK_H

#include <stddef.h>
#include <stdint.h>

/* Limits, fixed at init. */
struct sm_msgpack_limits {
	uint32_t max_depth;    /* open arrays/maps at once, 1..SM_MSGPACK_DEPTH_CAP */
	uint32_t max_elements; /* declared items (array) or pairs (map) per container */
	size_t max_output;     /* JSON bytes; the call's buffer size also caps it */
};

#define SM_MSGPACK_DEPTH_CAP 100000u

/* Why a conversion failed. Append-only: names appear in events. */
enum sm_msgpack_reason {
	SM_MSGPACK_OK = 0,
	SM_MSGPACK_TRUNCATED,    /* input ended inside a value ("truncated") */
	SM_MSGPACK_BAD_TYPE,     /* type byte 0xc1, never used ("bad_type") */
	SM_MSGPACK_TOO_DEEP,     /* nesting over max_depth ("too_deep") */
	SM_MSGPACK_TOO_MANY,     /* container count over max_elements ("too_many") */
	SM_MSGPACK_OUTPUT_FULL,  /* JSON over max_output or buffer ("output_full") */
	SM_MSGPACK_TRAILING,     /* bytes after the value ("trailing") */
	SM_MSGPACK_BAD_TIMESTAMP /* ext -1 with bad length or nsec > 999999999 */
};

/* Outcome details of one conversion. */
struct sm_msgpack_status {
	enum sm_msgpack_reason reason;
	size_t in_offset; /* where the failure was detected (input bytes) */
	size_t out_len;   /* JSON bytes written (valid JSON only on success) */
};

/* Frame of the explicit stack: one per open container. */
struct sm_msgpack_frame {
	uint32_t left; /* items or pairs still to read */
	uint8_t is_map;
	uint8_t phase; /* maps: awaiting key, inside a wrapped key, awaiting value */
	uint8_t first; /* no separator before the next item */
};

struct sm_msgpack {
	struct sm_msgpack_limits lim;
	struct sm_msgpack_frame *stack; /* max_depth frames, owned */
};

/* Allocates the stack once. Returns SM_OK, SM_ERR_INVALID (bad limits) or
 * SM_ERR_NOMEM. */
int sm_msgpack_init(struct sm_msgpack *m, const struct sm_msgpack_limits *lim);
void sm_msgpack_free(struct sm_msgpack *m);

/* Converts the single value in in[0..n) into JSON in out[0..cap). Returns
 * SM_OK, or SM_ERR_TRUNCATED / SM_ERR_INVALID / SM_ERR_LIMIT with st->reason
 * set. st may not be NULL. Reentrant per object; no global state. */
int sm_msgpack_to_json(struct sm_msgpack *m, const uint8_t *in, size_t n, char *out, size_t cap,
                       struct sm_msgpack_status *st);

/* The same conversion with the budget lim.max_output, storing only the first
 * keep bytes of the JSON in out (which has room for keep bytes): the rest is
 * validated and measured, not written. Result, st->reason, st->in_offset and
 * st->out_len (the full JSON length) are exactly those sm_msgpack_to_json
 * gives with cap = lim.max_output, and out holds the first
 * min(keep, st->out_len) bytes of its JSON. For observers that quote an
 * excerpt: no buffer of max_output bytes, no copy of the rest. */
int sm_msgpack_to_json_prefix(struct sm_msgpack *m, const uint8_t *in, size_t n, char *out,
                              size_t keep, struct sm_msgpack_status *st);

/* sm_msgpack_to_json_prefix for the first n bytes of a longer value (a
 * body cut short on purpose): converts as far as they go and returns SM_OK
 * when they end inside the value (st->reason truncated, st->out_len the
 * JSON so far) or with it; any other failure as the whole value would. */
int sm_msgpack_head_to_json(struct sm_msgpack *m, const uint8_t *in, size_t n, char *out,
                            size_t keep, struct sm_msgpack_status *st);

/* Stable lower-case name of a reason. */
const char *sm_msgpack_reason_str(enum sm_msgpack_reason r);

#endif
