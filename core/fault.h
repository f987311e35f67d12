/* Fault injection: what a `fault` rule answers, and the pure helpers the
 * dataplane uses to apply it (docs/config.md, "Fault injection").
 *
 * A struct sm_fault lives in a config snapshot (built by the loader, which
 * also renders the response bytes once, so applying a fault costs a copy).
 * Everything here is a pure function: no allocation, no clock, no globals. */
#ifndef SM_CORE_FAULT_H
#define SM_CORE_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard bounds on a fault (the loader refuses more). */
#define SM_FAULT_MAX_BODY         65536u  /* body bytes */
#define SM_FAULT_MAX_HEADERS      32u     /* extra header fields */
#define SM_FAULT_MAX_HEADER_NAME  128u    /* bytes per name */
#define SM_FAULT_MAX_HEADER_VALUE 4096u   /* bytes per value (also content_type) */
#define SM_FAULT_MAX_DELAY_MS     600000u /* delay_ms */

/* An upper bound of sm_fault_response_size() for any fault the loader accepts. */
#define SM_FAULT_MAX_RESPONSE                                                                      \
	(64u + (14u + SM_FAULT_MAX_HEADER_VALUE + 2u) + 40u +                                      \
	 SM_FAULT_MAX_HEADERS * (SM_FAULT_MAX_HEADER_NAME + SM_FAULT_MAX_HEADER_VALUE + 4u) +      \
	 26u + 2u + SM_FAULT_MAX_BODY)

struct sm_fault_header {
	const char *name;  /* 1*tchar, as written in the file */
	const char *value; /* SP/HTAB/VCHAR/obs-text only (no CR, LF, NUL) */
};

/* One fault. Invariants (enforced by the loader):
 *  - reset: status == 0, no body, no headers, content_type NULL;
 *  - otherwise status is 200..599 (1xx is not a final response); 204, 205
 *    and 304 carry no body and no content_type (204 and 304 no
 *    Content-Length either);
 *  - body_len <= SM_FAULT_MAX_BODY, n_headers <= SM_FAULT_MAX_HEADERS, no header
 *    is one the proxy owns (Content-Length, Transfer-Encoding, Connection,
 *    Keep-Alive, Proxy-Connection, Upgrade, Trailer, TE, Content-Type). */
struct sm_fault {
	uint16_t status;    /* 200..599; 0 with reset */
	bool reset;         /* close with a TCP reset instead of answering */
	double probability; /* 0.0..1.0: chance that the rule fires per decision */
	uint32_t delay_ms;  /* wait this long before answering/resetting (a timer) */
	const char *body;   /* body_len bytes, need not be text; "" if none */
	size_t body_len;
	const char *content_type; /* NULL = no Content-Type (empty body, 204, 304, reset) */
	const struct sm_fault_header *headers; /* n_headers extra fields, in file order */
	size_t n_headers;
	/* The whole HTTP/1.1 response, rendered at load (sm_fault_response):
	 * response[0..head_len) is the head (for HEAD requests: send only that),
	 * response[head_len..response_len) the body. NULL/0 with reset. */
	const uint8_t *response;
	size_t response_len, head_len;
};

/* True if the fault fires for 64 random bits: probability 1 always, 0 never,
 * otherwise when sm_rng_unit(bits) < probability. */
bool sm_fault_fires(const struct sm_fault *f, uint64_t bits);

/* One roll from the caller-owned PRNG state (base/rng.h): draws one value
 * from *rng_state and returns sm_fault_fires() on it. */
bool sm_fault_roll(const struct sm_fault *f, uint64_t *rng_state);

/* Bytes of the complete HTTP/1.1 response for f:
 *   HTTP/1.1 <status> <reason>\r\n
 *   Content-Type: <content_type>\r\n      (if content_type)
 *   Content-Length: <body_len>\r\n        (not for 204 and 304)
 *   <name>: <value>\r\n                   (each extra header, in order)
 *   Connection: close\r\n
 *   \r\n
 *   <body>
 * The reason is the standard phrase (RFC 9110, 429 from RFC 6585), empty for
 * codes without one ("HTTP/1.1 599 \r\n"). The dataplane closes the
 * connection after a fault response (the faulted request's body is never
 * read), so the response says so.
 * Returns the length written, 0 for a reset fault (nothing to send), or
 * SM_ERR_LIMIT if cap < sm_fault_response_size(f) (out then unspecified). */
int sm_fault_response(const struct sm_fault *f, uint8_t *out, size_t cap);

/* The exact length sm_fault_response() writes for f (0 for reset); sets
 * *head_len (may be NULL) to the length of the head including the blank line. */
size_t sm_fault_response_size(const struct sm_fault *f, size_t *head_len);

/* Standard reason phrase for a status code ("Too Many Requests"), or "" if
 * the code has none. */
const char *sm_fault_reason_phrase(unsigned status);

/* Header names the proxy owns and a fault may not set, compared
 * case-insensitively. Returns true if name (nlen bytes) is one of them. */
bool sm_fault_header_reserved(const char *name, size_t nlen);

#endif
