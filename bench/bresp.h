/* HTTP/1.1 response framing for soth-bench: a resumable, sans-I/O parser
 * that validates every response the load generator reads.
 *
 * Checks: status line "HTTP/1.<0|1> <3 digits> <reason>" (reason may be
 * empty), head lines CRLF-terminated with no bare CR/LF, NUL or obs-fold
 * (proto/h1frame's scan), every field line "token: value", Content-Length
 * all digits with repeated values equal, Transfer-Encoding only "chunked"
 * (anything else is refused: the generator cannot delimit it), not both
 * Content-Length and Transfer-Encoding. The body is delimited with
 * proto/h1frame (exact chunked framing, trailers bounded); without either
 * field the body runs until the server closes. Responses to HEAD, 1xx
 * (skipped: the parser continues with the next head), 204, 304 and a 2xx
 * to CONNECT have no body.
 *
 * Head bytes are copied into the object (at most SM_BRESP_MAX_HEAD); body
 * bytes are only counted. No allocation, no syscall. */
#ifndef SM_BENCH_BRESP_H
#define SM_BENCH_BRESP_H

#include <stddef.h>
#include <stdint.h>

#include "proto/h1frame.h"

#define SM_BRESP_MAX_HEAD    8192
#define SM_BRESP_MAX_TRAILER 4096

/* What the response answers; decides which responses carry a body. */
enum sm_bresp_method {
	SM_BRESP_GET = 0, /* any method whose response may have a body */
	SM_BRESP_HEAD,    /* response never has a body */
	SM_BRESP_CONNECT, /* a 2xx has no body (the tunnel follows) */
};

/* Why a response was refused. Append-only (printed in error reports). */
enum sm_bresp_reason {
	SM_BRESP_OK = 0,
	SM_BRESP_HEAD_TOO_LARGE, /* no blank line within SM_BRESP_MAX_HEAD bytes */
	SM_BRESP_STATUS_LINE,    /* malformed status line */
	SM_BRESP_HEAD_BYTES,     /* bare CR/LF, NUL or obs-fold in the head */
	SM_BRESP_FIELD_LINE,     /* field line without a token name and ':' */
	SM_BRESP_CONTENT_LENGTH, /* non-digit, overflow, or differing values */
	SM_BRESP_TE_UNSUPPORTED, /* Transfer-Encoding other than chunked */
	SM_BRESP_CL_AND_TE,      /* both Content-Length and Transfer-Encoding */
	SM_BRESP_BODY_FRAMING,   /* chunked framing error (see body_why) */
	SM_BRESP_TRUNCATED,      /* the peer closed before the end */
};

struct sm_bresp {
	uint8_t head[SM_BRESP_MAX_HEAD];
	uint32_t head_len;       /* bytes of the current head copied so far */
	uint8_t state;           /* internal: head or body */
	uint8_t method;          /* enum sm_bresp_method */
	uint8_t done;            /* 1 once a final response is complete */
	uint8_t keep_alive;      /* valid once the head is parsed: connection reusable */
	uint8_t version;         /* 0 or 1 (HTTP/1.x) */
	uint16_t status;         /* final status code once the head is parsed */
	uint32_t interim;        /* 1xx responses skipped */
	uint64_t content_length; /* valid when has_length */
	uint8_t has_length;
	uint8_t chunked;
	uint64_t body_bytes;      /* body bytes consumed (framing included) */
	uint64_t total_bytes;     /* every byte consumed: heads + body */
	enum sm_bresp_reason why; /* set on error */
	enum sm_h1frame_reason body_why;
	struct sm_h1frame_body body;
};

void sm_bresp_init(struct sm_bresp *r, enum sm_bresp_method method);

/* Consumes response bytes from in[0..len) and stops exactly at the end of
 * the final response (r->done). Returns bytes consumed (>= 0), or
 * SM_ERR_PROTOCOL / SM_ERR_LIMIT with r->why set. Feeding after done
 * returns 0. */
long sm_bresp_feed(struct sm_bresp *r, const uint8_t *in, size_t len);

/* The peer closed. Returns 1 if that completes the response (an until-close
 * body, or already done), otherwise 0 and sets r->why = TRUNCATED. */
int sm_bresp_eof(struct sm_bresp *r);

const char *sm_bresp_reason_str(enum sm_bresp_reason why);

#endif
