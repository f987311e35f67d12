/* HTTP/1.1 wire framing checks that llhttp (built without
 * LLHTTP_STRICT_MODE) leaves loose, used by proto/http1:
 *
 *  - sm_h1frame_scan_head(): a complete request or response head, as raw
 *    bytes, must use CRLF line endings only (no bare CR or LF), contain no
 *    NUL, no obs-fold (a field line starting with SP/HTAB), and, for a
 *    request, a start line with single SP separators and no HTAB.
 *  - struct sm_h1frame_body: a resumable body delimiter for Content-Length,
 *    chunked and read-until-close bodies. It only finds where the body ends
 *    and validates chunked framing exactly (hex size without sign or
 *    whitespace, chunk extensions of visible bytes, CRLF after every size
 *    line and chunk, trailer fields "tchar+ : field-value" with a bounded
 *    section); the caller forwards the bytes it consumed unchanged.
 *
 * Pure functions over caller memory; no allocation. */
#ifndef SM_PROTO_H1FRAME_H
#define SM_PROTO_H1FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "proto/hdrcheck.h"

/* Scans head[0..len), which ends with the blank line. Returns
 * SM_HDRCHECK_OK, BARE_CR, BARE_LF, OBS_FOLD, VALUE_NUL, or (requests only)
 * NAME_CHAR for a malformed start line (HTAB, doubled SP). */
enum sm_hdrcheck_reason sm_h1frame_scan_head(const uint8_t *head, size_t len, int is_request);

enum sm_h1frame_kind {
	SM_H1FRAME_NONE = 0, /* no body: done at once */
	SM_H1FRAME_LENGTH,   /* exactly `remaining` bytes */
	SM_H1FRAME_CHUNKED,  /* chunked coding, trailers included */
	SM_H1FRAME_EOF,      /* everything until the peer closes */
};

/* Why a chunked body was refused. Append-only (logged). */
enum sm_h1frame_reason {
	SM_H1FRAME_OK = 0,
	SM_H1FRAME_CHUNK_SIZE,        /* no hex digit, bad char, or size over 2^60 */
	SM_H1FRAME_CHUNK_EXT,         /* control byte in a chunk extension */
	SM_H1FRAME_CHUNK_CRLF,        /* CRLF missing after a size line or chunk data */
	SM_H1FRAME_TRAILER,           /* malformed trailer field line */
	SM_H1FRAME_TRAILER_TOO_LARGE, /* trailer section over its limit */
	SM_H1FRAME_TRAILER_FORBIDDEN, /* a field forbidden in trailers (Content-Length, ...;
	                                 sm_hdrcheck_trailer_forbidden), refused at its colon */
};

struct sm_h1frame_body {
	uint64_t remaining;   /* LENGTH / chunk data bytes still to come */
	uint32_t trailer_len; /* bytes of trailer section so far */
	uint32_t trailer_max; /* limit for trailer_len */
	uint8_t kind;         /* enum sm_h1frame_kind */
	uint8_t state;        /* internal chunked state */
	uint8_t done;         /* 1 once the body is complete */
	uint8_t size_digits;  /* hex digits in the current size line */
	uint8_t tname_len;    /* bytes of the current trailer field name (saturates) */
	uint8_t tname[SM_HDRCHECK_TRAILER_NAME_MAX]; /* its start: enough to judge it */
};

void sm_h1frame_body_init(struct sm_h1frame_body *b, enum sm_h1frame_kind kind, uint64_t length,
                          uint32_t trailer_max);

/* Consumes body bytes from in[0..len) and stops exactly at the end of the
 * body (b->done set). Returns the count consumed (>= 0). On a framing error
 * *why is set (else SM_H1FRAME_OK) and in[returned count] is the faulty
 * byte: the bytes before it are valid, so what is forwarded does not depend
 * on how the input was split. An EOF body never completes here; see
 * sm_h1frame_body_eof(). */
long sm_h1frame_body_feed(struct sm_h1frame_body *b, const uint8_t *in, size_t len,
                          enum sm_h1frame_reason *why);

/* Receives the payload of a body as sm_h1frame_body_data() delimits it. */
typedef void (*sm_h1frame_data_fn)(void *ctx, const uint8_t *p, size_t n);

/* sm_h1frame_body_feed() that also hands the payload of the consumed bytes
 * to fn (never with n == 0): all of them for LENGTH and EOF bodies, only the
 * chunk data for CHUNKED (sizes, extensions, CRLFs and trailers removed).
 * The pieces point into `in`, in order; on a framing error only payload
 * before the faulty byte was handed over. */
long sm_h1frame_body_data(struct sm_h1frame_body *b, const uint8_t *in, size_t len,
                          enum sm_h1frame_reason *why, sm_h1frame_data_fn fn, void *ctx);

/* sm_h1frame_body_data() that also hands the bytes of a chunked body's
 * trailer section (field lines and the final CRLF, as received) to tfn (may
 * be NULL). A section is complete and valid once b->done is set; on a
 * framing error the bytes handed so far must be dropped. */
long sm_h1frame_body_parts(struct sm_h1frame_body *b, const uint8_t *in, size_t len,
                           enum sm_h1frame_reason *why, sm_h1frame_data_fn fn,
                           sm_h1frame_data_fn tfn, void *ctx);

/* The peer closed: returns 1 if that completes the body (EOF kind, or
 * already done), 0 if the body is truncated. */
int sm_h1frame_body_eof(struct sm_h1frame_body *b);

/* Next field line of a head or trailer section s[0..end) (CRLF line ends,
 * already checked, e.g. by sm_h1frame_scan_head() or a body delimiter) at
 * *pos: 1 with the name and the OWS-trimmed value (pointers into s), 0 at
 * the blank line or the end, -1 for a line without a colon. */
int sm_h1frame_next_field(uint8_t *s, uint32_t end, uint32_t *pos, uint8_t **name, uint32_t *nlen,
                          uint8_t **val, uint32_t *vlen);

const char *sm_h1frame_reason_str(enum sm_h1frame_reason r);

#endif
