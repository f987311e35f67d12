/* HTTP/1.1 client to HTTP/2 upstream translation (sans-I/O), the mirror of
 * proto/h2h1: an intercepted connection whose client speaks HTTP/1.1 and
 * whose upstream selected h2. sm_h1h2_new() returns a struct sm_h2 driven
 * through the proto/h2.h API: sm_h2_feed_client() takes HTTP/1.1 request
 * bytes, sm_h2_out_upstream() gives h2 frames, sm_h2_feed_upstream() takes
 * h2 frames, sm_h2_out_client() gives HTTP/1.1 response bytes; events,
 * header accessors, eof/done/wait and the memory budget behave as there,
 * so the h2 layer (core/app_h2.c) runs a translated connection unchanged.
 *
 * The HTTP/1.1 side is proto/http1 itself in origin mode (llhttp strict,
 * proto/hdrcheck, proto/h1frame): every request head and body is judged by
 * it before anything of it is translated, and every response goes back to
 * the client through it (status line, Connection: close rules, HEAD,
 * HTTP/1.0 clients), exactly as on an HTTP/1.1 relay.
 *
 * One request at a time: proto/http1 runs with max_pipeline 1, so a
 * pipelined request is not parsed before the previous response ended; each
 * request becomes one h2 stream (client stream ids 1, 2, 3... in the
 * events = the request's ordinal; upstream_id = the h2 stream id).
 *
 * Request (HTTP/1.1 -> h2)
 *  - :method, :scheme "https", :authority = Host (HTTP/1.0 without Host:
 *    the origin's authority), :path = the origin-form target ("*" for
 *    OPTIONS *); fields in order, names lower-cased; connection,
 *    keep-alive, proxy-connection, proxy-authorization, transfer-encoding,
 *    upgrade, host and every field named in Connection dropped; te kept
 *    only as "te: trailers" when it lists trailers. The block then goes
 *    through proto/h2's request validation (a refusal answers 400, or 431
 *    for size and field-count limits, with Connection: close; no byte
 *    reaches the upstream).
 *  - Content-Length is kept (proto/http1 delimits the body by it, so the
 *    DATA add up to it); a chunked body is de-chunked into DATA and its
 *    trailer section becomes h2 trailers (te, host, content-length and
 *    connection fields left out).
 *  - A request body framing error after the HEADERS went out resets the
 *    stream (RST_STREAM(CANCEL)): the upstream never sees a complete
 *    message; the client gets 400 if no response head went back, else the
 *    connection is closed.
 *
 * Response (h2 -> HTTP/1.1)
 *  - "HTTP/1.1 <status> <standard reason phrase>", fields copied (already
 *    validated by proto/h2's response rules), then the framing:
 *    content-length when the upstream gave one; else chunked (HTTP/1.1
 *    client) with h2 trailers as the chunked trailer section; else (an
 *    HTTP/1.0 client) the body runs until the connection closes. Trailers
 *    with a content-length framing are dropped and counted. 1xx interim
 *    heads are forwarded (not to HTTP/1.0 clients).
 *  - RST_STREAM or GOAWAY refusal from the upstream before the final head:
 *    the client gets a 502 (the connection stays usable after a stream
 *    reset; after a GOAWAY or an upstream EOF it is closed). After the
 *    head: the client connection is closed without completing the message.
 *  - Flow control: the upstream session never opens a window automatically;
 *    response bytes are consumed (WINDOW_UPDATE) only when they move into
 *    the bounded staging buffer that feeds the client output; request
 *    bytes are read from the client only while the request buffer
 *    (stream_window bytes) has room.
 *
 * Events: REQUEST (dir 0, pseudo-headers and fields as sent upstream),
 * DATA both ways (request DATA points into the translator's scratch: valid
 * until the next sm_h2_feed_client(), which refuses to run while events are
 * queued; response DATA into the feed's input), TRAILERS, STREAM_END,
 * RESPONSE, STREAM_RESET, GOAWAY, ERROR. */
#ifndef SM_PROTO_H1H2_H
#define SM_PROTO_H1H2_H

#include <stdint.h>

#include "proto/authority.h"
#include "proto/h2.h"

/* Limits, fixed at creation. Zero fields take the default in brackets. */
struct sm_h1h2_limits {
	struct sm_h2_limits h2; /* upstream session, as for sm_h2_new() */
	uint32_t max_head;      /* bytes of one HTTP/1.1 head, both ways [32768] */
	uint32_t max_trailer;   /* bytes of a chunked trailer section, both ways [4096] */
};

/* A translator behind the proto/h2 API (free with sm_h2_free()); origin is
 * the server of the intercepted connection (origin-form requests are for
 * it; absolute-form naming another one is refused). NULL: limits out of
 * range or no memory. */
struct sm_h2 *sm_h1h2_new(const struct sm_h1h2_limits *lim, const struct sm_authority *origin);

/* Counters of the translation (the proto/h2 ones are in sm_h2_stats()). */
struct sm_h1h2_stats {
	uint64_t requests_refused; /* refused by proto/http1 or the h2 request rules */
	uint64_t bad_gateway;      /* 502 answered (upstream reset or refused before the head) */
	uint64_t client_aborted;   /* client connection closed mid-response */
	uint64_t trailers_dropped; /* response trailers not sendable (content-length framing) */
	uint64_t req_full;         /* client feeds stopped by a full request buffer */
};

/* NULL when h is not this translator. */
const struct sm_h1h2_stats *sm_h1h2_stats(const struct sm_h2 *h);

#endif
