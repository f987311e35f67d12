/* HTTP/2 client to HTTP/1.1 upstream translation (sans-I/O), for an
 * intercepted connection where the client speaks h2 and the upstream only
 * HTTP/1.1. sm_h2h1_new() returns a struct sm_h2 driven through the
 * proto/h2.h API: sm_h2_feed_client() takes h2 bytes, sm_h2_out_upstream()
 * gives HTTP/1.1 request bytes, sm_h2_feed_upstream() takes HTTP/1.1
 * response bytes, sm_h2_out_client() gives h2 frames; events, header
 * accessors, eof/done/wait and the memory budget behave as there, so a
 * relay written for proto/h2 runs a translated connection unchanged.
 *
 * One upstream connection, one request at a time
 *  - Client streams are served in the order their HEADERS arrived, one at
 *    a time, on the single upstream connection; the others wait in a FIFO
 *    bounded by limits.h2.max_streams (SETTINGS_MAX_CONCURRENT_STREAMS);
 *    beyond it a stream gets RST_STREAM(REFUSED_STREAM). A long response
 *    (SSE, a slow download) holds the upstream and the streams behind it
 *    wait: head-of-line blocking is the limit of this version.
 *  - A waiting stream's request body is buffered up to its stream window
 *    (the client's window is opened only as bytes go upstream; the
 *    connection window is opened at once so waiting streams cannot starve
 *    the one being served).
 *
 * Request (h2 -> HTTP/1.1)
 *  - Validated like proto/h2 (h2_hdr.c: hdrcheck on every field, no
 *    connection-specific fields, te only "trailers", pseudo-headers,
 *    :authority/Host agreement, sizes), and the request line on top:
 *    :method a token, :path 0x21..0x7e only and starting with '/' (or "*"),
 *    :authority a valid host[:port]. A refused stream gets RST_STREAM
 *    (PROTOCOL_ERROR) before any byte of it reaches the upstream.
 *  - "METHOD path HTTP/1.1", "host: <:authority or host>", the regular
 *    fields in order (host and te dropped; cookie crumbs joined with "; "
 *    into one field where the first was), then the framing:
 *    content-length as the client sent it; else, if the request had ended
 *    with its whole body buffered when it reached the upstream, a
 *    content-length of that body (none when empty); else
 *    "transfer-encoding: chunked" with the DATA as chunks and the request
 *    trailers as chunked trailers (dropped, and counted, with a
 *    content-length). DATA beyond the content-length resets the stream
 *    before it is forwarded; fewer bytes at END_STREAM reset it and close
 *    the upstream, which never sees a complete message of the wrong size.
 *  - CONNECT gets a 501 (event STREAM_RESET, reason SM_H2_R_CONNECT);
 *    extended CONNECT is never offered (its :protocol is refused).
 *
 * Response (HTTP/1.1 -> h2)
 *  - llhttp for the head plus proto/h1frame (CRLF only, no obs-fold, no
 *    NUL) and proto/hdrcheck (CL+TE, repeated or bad Content-Length,
 *    codings other than chunked); bodies delimited by proto/h1frame.
 *    The status line becomes :status; connection, keep-alive,
 *    proxy-connection, transfer-encoding, upgrade, te and every field named
 *    in Connection are dropped, names are lower-cased, and the result goes
 *    through proto/h2's response validation. 1xx (not 101) is forwarded as
 *    interim HEADERS; 101 is refused.
 *  - The body is relayed as DATA with flow control: a response buffer of
 *    limits.max_buffer bytes per stream, and upstream bytes are consumed
 *    only while it has room (sm_h2_wait() says OUT_FULL), so the upstream
 *    is read no faster than the client's window opens. Chunked trailers
 *    become h2 trailers (grpc-status ...).
 *  - A refused response (any llhttp or framing error, a smuggling shape,
 *    101, bytes with no request outstanding, EOF inside it): the client
 *    gets a 502 if no final head went out yet, else RST_STREAM
 *    (INTERNAL_ERROR); never the raw bytes.
 *
 * When the upstream connection cannot serve another request
 *  ("Connection: close", HTTP/1.0 without keep-alive, an EOF-delimited
 *  body, a response that came before the request was fully sent, an
 *  upstream fault or EOF, a client reset in the middle of a message): the
 *  client gets GOAWAY(NO_ERROR, last-stream-id = the stream being served),
 *  that stream finishes when it can, the waiting ones get RST_STREAM
 *  (REFUSED_STREAM) so clients retry them on a new connection, and
 *  sm_h2_done(h, SM_H2_UPSTREAM) turns 1 once the upstream has nothing
 *  more to do. No new upstream connection is opened.
 *
 * Events: REQUEST when a request is accepted (queued), DATA both ways
 * (response DATA = the payload after de-chunking, pointing into the feed's
 * input), TRAILERS, STREAM_END, RESPONSE, STREAM_RESET, GOAWAY (dir
 * UPSTREAM, who UPSTREAM or PROXY, when the upstream connection ends),
 * ERROR. upstream_id is the request's ordinal on the upstream connection
 * (0 until it is sent). */
#ifndef SM_PROTO_H2H1_H
#define SM_PROTO_H2H1_H

#include <stdint.h>

#include "proto/h2.h"

/* Limits, fixed at creation. Zero fields take the default in brackets. */
struct sm_h2h1_limits {
	struct sm_h2_limits h2; /* client session, as for sm_h2_new() (max_streams also
	                           bounds the waiting FIFO) */
	uint32_t max_head;      /* bytes of one response head [16384] */
	uint32_t max_trailer;   /* bytes of a chunked trailer section, both ways [4096] */
	uint32_t max_buffer;    /* response payload held per stream for the client [65536] */
};

/* A translator behind the proto/h2 API (free with sm_h2_free()). NULL:
 * limits out of range (as sm_h2_new(), max_head > 1 MiB) or no memory. */
struct sm_h2 *sm_h2h1_new(const struct sm_h2h1_limits *lim);

/* Why an upstream response was refused (detail of SM_H2_R_UPSTREAM_HTTP1).
 * Append-only (logged). */
enum sm_h2h1_fault {
	SM_H2H1_OK = 0,
	SM_H2H1_PARSE,          /* llhttp refused the head (bad status line, field syntax) */
	SM_H2H1_HEAD_TOO_LARGE, /* head over max_head */
	SM_H2H1_VERSION,        /* not HTTP/1.0 or HTTP/1.1 */
	SM_H2H1_HEADER,         /* proto/hdrcheck or the head scan refused it */
	SM_H2H1_FIELDS,         /* the translated fields failed proto/h2's checks */
	SM_H2H1_SWITCHING,      /* 101 Switching Protocols */
	SM_H2H1_BODY,           /* chunked framing error */
	SM_H2H1_TRAILERS,       /* trailer section refused */
	SM_H2H1_UNSOLICITED,    /* bytes with no request outstanding */
	SM_H2H1_TRUNCATED,      /* the upstream closed inside the response */
};

/* Counters of the translation (the proto/h2 ones are in sm_h2_stats()). */
struct sm_h2h1_stats {
	uint64_t upstream_requests; /* requests written to the upstream */
	uint64_t upstream_closed;   /* times the upstream connection stopped being usable */
	uint64_t refused_waiting;   /* waiting streams refused when it did */
	uint64_t bad_responses;     /* responses refused (enum sm_h2h1_fault) */
	uint64_t buffer_full;       /* upstream feeds stopped by a full response buffer */
	uint64_t trailers_dropped;  /* request trailers not sendable (content-length framing) */
	uint64_t connect_refused;   /* CONNECT answered 501 */
	uint64_t queue_peak;        /* most streams waiting at once */
};

/* NULL when h is not a translator. */
const struct sm_h2h1_stats *sm_h2h1_stats(const struct sm_h2 *h);

const char *sm_h2h1_fault_str(enum sm_h2h1_fault f);

#endif
