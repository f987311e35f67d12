/* HTTP/1.1 chunked transfer decoding (RFC 9112 7.1), sans-I/O.
 *
 * Feed the bytes after the header section in chunks of any size; chunk data
 * is delivered to a sink as it arrives (never buffered). Strict framing: the
 * chunk-size line and every trailer line end in CRLF; a bare LF or CR is an
 * error (observers must not be laxer than the front's smuggling checks
 * assume). Chunk extensions (after ';' or BWS) are skipped but count toward
 * the line bound. Trailer fields are skipped, bounded in total size.
 *
 * Bounds, fixed at init:
 *   max_line      bytes of one chunk-size line, extensions included, CRLF
 *                 excluded (over: line_too_long)
 *   max_trailers  bytes of the whole trailer section (over: trailers_too_large)
 *   chunk sizes   at most 16 hex digits and below 2^63 (over: size_overflow)
 */
#ifndef SM_DECODE_CHUNKED_H
#define SM_DECODE_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sm_chunked_limits {
	uint32_t max_line;     /* 0 = 4096 */
	uint32_t max_trailers; /* 0 = 8192 */
};

/* Append-only. */
enum sm_chunked_reason {
	SM_CHUNKED_OK = 0,
	SM_CHUNKED_BAD_SIZE,           /* chunk-size missing or not hex ("bad_size") */
	SM_CHUNKED_SIZE_OVERFLOW,      /* over 16 hex digits or >= 2^63 ("size_overflow") */
	SM_CHUNKED_LINE_TOO_LONG,      /* chunk-size line over max_line ("line_too_long") */
	SM_CHUNKED_BAD_CRLF,           /* line or chunk data not ended by CRLF ("bad_crlf") */
	SM_CHUNKED_TRAILERS_TOO_LARGE, /* trailer section over max_trailers */
	SM_CHUNKED_TRUNCATED,          /* finish before the last chunk ("truncated") */
	SM_CHUNKED_SINK,               /* the sink refused the data ("sink") */
};

/* Parser states; each resumable at any byte. */
enum sm_chunked_state {
	SM_CHUNKED_S_SIZE = 0,     /* reading hex digits of chunk-size */
	SM_CHUNKED_S_EXT,          /* after the size: BWS and extensions until CR */
	SM_CHUNKED_S_SIZE_LF,      /* CR seen on the size line, expecting LF */
	SM_CHUNKED_S_DATA,         /* chunk data, `remaining` bytes left */
	SM_CHUNKED_S_DATA_CR,      /* expecting CR after chunk data */
	SM_CHUNKED_S_DATA_LF,      /* expecting LF after chunk data */
	SM_CHUNKED_S_TRAILER,      /* start of a trailer line (or the final CRLF) */
	SM_CHUNKED_S_TRAILER_LINE, /* inside a trailer field line */
	SM_CHUNKED_S_TRAILER_LF,   /* CR seen in a trailer line, expecting LF */
	SM_CHUNKED_S_END_LF,       /* CR of the final empty line seen, expecting LF */
	SM_CHUNKED_S_DONE,         /* message complete */
	SM_CHUNKED_S_ERROR,        /* failed; reason says why */
};

struct sm_chunked {
	struct sm_chunked_limits lim;
	enum sm_chunked_state state;
	enum sm_chunked_reason reason;
	uint64_t remaining;   /* DATA: bytes left in this chunk; SIZE: value so far */
	uint32_t digits;      /* hex digits read */
	uint32_t line_len;    /* bytes of the current size line */
	uint32_t trailer_len; /* bytes of the trailer section so far */
	uint64_t offset;      /* input bytes consumed in total */
	uint64_t data_bytes;  /* chunk data delivered */
	uint64_t chunks;      /* chunks seen (the last, empty one excluded) */
};

/* Receives chunk data; non-zero return stops the feed (SM_ERR_STATE, sink). */
typedef int (*sm_chunked_sink_fn)(void *arg, const uint8_t *p, size_t n);

void sm_chunked_init(struct sm_chunked *c, const struct sm_chunked_limits *lim);

/* Decodes in[0..n). Returns the bytes consumed: n, or fewer when the message
 * ended inside the input (the rest belongs to the next message); a negative
 * result on error (SM_ERR_INVALID, SM_ERR_LIMIT, SM_ERR_STATE), sticky, with
 * c->reason and c->offset at the offending byte. Feeding a finished decoder
 * returns 0. */
long sm_chunked_feed(struct sm_chunked *c, const uint8_t *in, size_t n, sm_chunked_sink_fn sink,
                     void *arg);

/* True once the final CRLF was consumed. */
bool sm_chunked_done(const struct sm_chunked *c);

/* End of input: SM_OK when done, SM_ERR_TRUNCATED otherwise (or the error). */
int sm_chunked_finish(struct sm_chunked *c);

const char *sm_chunked_reason_str(enum sm_chunked_reason r);

#endif
