/* HTTP/1.1 explicit-proxy front: a sans-I/O layer, one object per client
 * connection, driven by the reactor in two directions.
 *
 *   client bytes --sm_h1_client_feed()--> rewritten request bytes -> `up`
 *   upstream bytes --sm_h1_server_feed()--> rewritten response bytes -> `down`
 *
 * Requests are parsed with llhttp (lenient flags off) plus our own strict
 * checks (proto/hdrcheck, proto/h1frame). For every request the layer emits
 * an event; absolute-form requests are forwarded with:
 *   - the request line "METHOD origin-form HTTP/1.x" (client's version kept,
 *     so an HTTP/1.0 client never gets a chunked response it cannot read);
 *   - "Host: <authority of the URL>" first, replacing any Host field;
 *   - hop-by-hop fields removed: Connection, Keep-Alive, Proxy-Connection,
 *     Proxy-Authorization, Proxy-Authenticate, TE, Upgrade, and every field
 *     named in Connection (so WebSocket over plain HTTP is not offered
 *     upstream for now); Transfer-Encoding and Trailer are kept because the
 *     body passes through byte for byte (chunked stays chunked);
 *   - other fields in their original order, names and values byte-exact
 *     (value OWS trimmed), one "name: value\r\n" line each.
 * Responses are forwarded with the status line "HTTP/1.1 <code> <reason>",
 * the same hop-by-hop fields removed (kept on a 101), and
 * "Connection: close" appended when the client connection ends after it.
 * Bodies are never buffered: they are delimited (Content-Length, chunked,
 * until-close) and copied from the input to the output as space allows.
 *
 * Ownership and lifetime
 *  - The caller owns the memory of the object (sm_h1_footprint() bytes,
 *    any alignment of max_align_t) and the input and output buffers. The
 *    object holds no other resource: dropping the memory is the teardown.
 *  - Feed functions never retain input pointers. Pointers in an event
 *    (target, authority, header accessors) point into the object and stay
 *    valid until the next sm_h1_client_feed() call for request data or the
 *    next sm_h1_server_feed() call for response data.
 *  - Each feed returns the count of input bytes consumed; the caller keeps
 *    the rest and feeds it again later. A feed consumes less than given when
 *    (see sm_h1_client_wait()): the output is full, the event queue is full,
 *    a request event was just produced (one head per call), the request is
 *    held, the pipeline is full, or the connection changed mode (CONNECT,
 *    101) or ended.
 *
 * Per-request upstream selection
 *  - A request event carries the target authority and SM_H1_F_HELD when its
 *    head has not been sent: either its authority differs from the live
 *    upstream (SM_H1_F_SWITCH: also set when there is no live upstream yet),
 *    or limits.hold_every_request is set. While held nothing more is read
 *    from the client. The caller (a) lets outstanding responses finish
 *    (sm_h1_outstanding() == 0) when SWITCH is set, (b) connects the new
 *    upstream, (c) calls sm_h1_release(); the next sm_h1_client_feed() (len
 *    may be 0) writes the head to `up`. To refuse a held request, write
 *    sm_h1_error_response() to the client once outstanding is 0 and close.
 *  - CONNECT: the event has SM_H1_F_CONNECT; the client parser stops at the
 *    end of the CONNECT head, every byte after it (the rest of the caller's
 *    input) is tunnel payload. The caller answers the CONNECT itself after
 *    the outstanding responses (if any) are complete.
 *
 * Errors: a negative return (SM_ERR_*) comes with an SM_H1_EV_ERROR event
 * giving the status to answer (400, 414, 431, 501, 505; 502 for upstream
 * faults) unless SM_H1_F_FORWARDED says part of that message already went
 * out, in which case the caller closes both connections without a response.
 * The object is dead after an error. */
#ifndef SM_PROTO_HTTP1_H
#define SM_PROTO_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#include "proto/authority.h"

struct sm_h1;

/* Limits, fixed at init. Zero fields take the default in brackets. */
struct sm_h1_limits {
	uint32_t max_head;          /* bytes of one head, start line included [16384]; 431 */
	uint32_t max_target;        /* bytes of the request-target [8192]; 414 */
	uint16_t max_headers;       /* field lines in one head [100]; 431 */
	uint16_t max_pipeline;      /* requests forwarded and not yet answered [8] */
	uint32_t max_trailer;       /* bytes of a chunked trailer section [4096] */
	uint8_t hold_every_request; /* 1: every request is HELD for the caller */
	uint8_t strip_alt_svc_h3;   /* 1: Alt-Svc response fields advertising h3 are dropped */
	uint8_t keep_websocket;     /* 1: a WebSocket upgrade request keeps its Upgrade
	                               and Connection fields, so a 101 can follow */
};

/* Caller-provided output: bytes are appended at buf[len], never past cap. */
struct sm_h1_out {
	uint8_t *buf;
	size_t cap;
	size_t len;
};

enum sm_h1_event_type {
	SM_H1_EV_REQUEST = 1,  /* a request head was parsed */
	SM_H1_EV_REQUEST_END,  /* its body was forwarded completely */
	SM_H1_EV_RESPONSE,     /* a response head was forwarded (interim or final) */
	SM_H1_EV_RESPONSE_END, /* the final response was forwarded completely */
	SM_H1_EV_UPGRADE,      /* 101 forwarded: relay raw bytes from now on */
	SM_H1_EV_ERROR,        /* see status and reason; the object is dead */
};

/* Event flags. */
#define SM_H1_F_CONNECT        0x001u /* REQUEST: CONNECT; parser stopped, tunnel follows */
#define SM_H1_F_HELD           0x002u /* REQUEST: head not sent; call sm_h1_release() */
#define SM_H1_F_SWITCH         0x004u /* REQUEST: needs a new upstream connection */
#define SM_H1_F_CLOSE_CLIENT   0x008u /* REQUEST/RESPONSE(_END): client closes after it */
#define SM_H1_F_CLOSE_UPSTREAM 0x010u /* RESPONSE(_END): upstream closes after it */
#define SM_H1_F_INTERIM        0x020u /* RESPONSE: 1xx, the final one follows */
#define SM_H1_F_DROPPED        0x040u /* RESPONSE: interim not sent (HTTP/1.0 client) */
#define SM_H1_F_FORWARDED      0x080u /* ERROR: part of the message already went out */
#define SM_H1_F_UPSTREAM_SIDE  0x100u /* ERROR: raised by upstream bytes */
#define SM_H1_F_HEAD           0x200u /* REQUEST: method HEAD (response has no body) */
/* Set only in the event given to sm_h1_observer.head (never queued): */
#define SM_H1_F_DECHUNKED   0x400u  /* chunked on the wire; body() gets chunk data only */
#define SM_H1_F_UNTIL_CLOSE 0x800u  /* response body ends when the upstream closes */
#define SM_H1_F_NO_BODY     0x1000u /* no body bytes follow: end() comes next */

/* Why the layer failed. Append-only (logged). */
enum sm_h1_reason {
	SM_H1_R_NONE = 0,
	SM_H1_R_PARSE,              /* llhttp refused the bytes (detail = llhttp errno) */
	SM_H1_R_HEAD_TOO_LARGE,     /* head over max_head (431 / 502) */
	SM_H1_R_TOO_MANY_HEADERS,   /* over max_headers (431 / 502) */
	SM_H1_R_TARGET_TOO_LONG,    /* request-target over max_target (414) */
	SM_H1_R_HEADER,             /* header rule (detail = enum sm_hdrcheck_reason) */
	SM_H1_R_TARGET,             /* bad target (detail = enum sm_authority_reason) */
	SM_H1_R_VERSION,            /* not HTTP/1.0 or 1.1 (505) */
	SM_H1_R_BODY,               /* chunked framing (detail = enum sm_h1frame_reason) */
	SM_H1_R_CONNECTION_OPTIONS, /* too many Connection tokens (400) */
	SM_H1_R_UNSOLICITED,        /* response bytes with no request outstanding (502) */
	SM_H1_R_TRUNCATED,          /* EOF inside a message (502 / none) */
};

struct sm_h1_event {
	uint8_t type;        /* enum sm_h1_event_type */
	uint8_t version;     /* REQUEST/RESPONSE: 10 or 11 */
	uint8_t method;      /* REQUEST/RESPONSE*: llhttp_method_t of the request */
	uint8_t reason;      /* ERROR: enum sm_h1_reason */
	uint16_t status;     /* RESPONSE*: upstream status; ERROR: status to answer */
	uint16_t detail;     /* ERROR: sub-reason, see enum sm_h1_reason */
	uint32_t flags;      /* SM_H1_F_* */
	uint64_t body_bytes; /* *_END: body bytes forwarded, chunk framing included */
	/* REQUEST only (valid as described in the header comment): */
	const uint8_t *target; /* raw request-target */
	uint32_t target_len;
	const struct sm_authority *authority; /* parsed target authority */
	const uint8_t *path; /* not CONNECT: origin-form "/path?query" as sent upstream */
	uint32_t path_len;
};

/* Bytes of memory sm_h1_init() needs for these limits (NULL: defaults). */
size_t sm_h1_footprint(const struct sm_h1_limits *lim);

/* Lays the object out in mem[0..len) (len >= sm_h1_footprint(lim)).
 * Returns the object, or NULL if len is too small or a limit is out of
 * range (max_target > max_head, max_head > 1 MiB). */
struct sm_h1 *sm_h1_init(void *mem, size_t len, const struct sm_h1_limits *lim);

/* Client to proxy. Returns bytes consumed (>= 0) or SM_ERR_INVALID (400),
 * SM_ERR_LIMIT (414/431), SM_ERR_UNSUPPORTED (501/505), with an ERROR
 * event. `up` receives the rewritten request bytes. */
long sm_h1_client_feed(struct sm_h1 *h, const uint8_t *in, size_t len, struct sm_h1_out *up);

/* The client closed its sending side. Returns SM_OK if no request was in
 * progress, else SM_ERR_TRUNCATED (ERROR event, no response possible). */
int sm_h1_client_eof(struct sm_h1 *h);

/* Upstream to proxy. Returns bytes consumed or a negative SM_ERR_* with an
 * ERROR event (status 502). `down` receives the bytes for the client. */
long sm_h1_server_feed(struct sm_h1 *h, const uint8_t *in, size_t len, struct sm_h1_out *down);

/* The upstream closed. Completes a close-delimited response (RESPONSE_END)
 * and returns SM_OK; returns SM_ERR_TRUNCATED (ERROR event) if a response
 * was cut or requests were left unanswered. The upstream is no longer live:
 * the next request is HELD with SWITCH. */
int sm_h1_server_eof(struct sm_h1 *h, struct sm_h1_out *down);

/* Releases the HELD request: the authority of its event becomes the live
 * upstream. SM_OK, or SM_ERR_STATE if nothing is held or a switch is
 * needed (SWITCH set, or the upstream closed since) while responses are
 * outstanding. */
int sm_h1_release(struct sm_h1 *h);

/* Intercepted connections (TLS terminated by the proxy): requests come in
 * origin-form for one fixed server `auth`, which is live from the start, so
 * no request needs a SWITCH (it is HELD only with limits.hold_every_request,
 * for a per-request policy decision). A request is forwarded with its request line
 * unchanged, its Host field first (a HTTP/1.1 request without Host is 400;
 * HTTP/1.0 gets the server's authority) and hop-by-hop fields removed;
 * absolute-form is accepted for the same authority (rewritten to
 * origin-form) and refused for any other; CONNECT is refused (400). The
 * server's connection is the only one: a response that ends it (Connection:
 * close, HTTP/1.0, EOF-delimited body) is sent with "Connection: close" and
 * carries SM_H1_F_CLOSE_CLIENT, so the client reconnects instead of waiting
 * on a dead connection. Call right after sm_h1_init(). */
void sm_h1_set_origin(struct sm_h1 *h, const struct sm_authority *auth);

/* Pops the oldest event into *ev: 1 if one was popped, 0 if none. */
int sm_h1_next_event(struct sm_h1 *h, struct sm_h1_event *ev);

/* Why the client side consumed less than it was given. */
enum sm_h1_wait {
	SM_H1_WAIT_NONE = 0,
	SM_H1_WAIT_OUT_FULL, /* output full: drain it, feed again */
	SM_H1_WAIT_EVENTS,   /* event queue full or a request just parsed: pop, feed */
	SM_H1_WAIT_HELD,     /* a request is held: sm_h1_release() */
	SM_H1_WAIT_PIPELINE, /* max_pipeline requests outstanding: backpressure */
	SM_H1_WAIT_TUNNEL,   /* CONNECT: bytes belong to the tunnel */
	SM_H1_WAIT_CLOSED,   /* last request done (close) or error: read no more */
};
enum sm_h1_wait sm_h1_client_wait(const struct sm_h1 *h);

/* Requests forwarded (released) whose final response has not ended. */
unsigned sm_h1_outstanding(const struct sm_h1 *h);

/* Heads in progress, for the caller's deadlines: a request head whose first
 * bytes were taken and whose end was not yet (1), and a response head
 * awaited for a request sent (its first byte may have come or not). */
int sm_h1_request_started(const struct sm_h1 *h);
int sm_h1_response_awaited(const struct sm_h1 *h);

/* Field lines of the last head parsed on one side (0: request, 1:
 * response), as received (value OWS trimmed). Valid like event pointers.
 * sm_h1_header(): SM_OK (0) with the field set, SM_ERR_INVALID when i is out
 * of range (unlike sm_h2_header(), which returns 1 / 0). */
unsigned sm_h1_header_count(const struct sm_h1 *h, int response);
int sm_h1_header(const struct sm_h1 *h, int response, unsigned i, const uint8_t **name,
                 size_t *nlen, const uint8_t **value, size_t *vlen);

/* First field named `name` (ASCII, compared case-insensitively) in the last
 * head parsed on one side (0: request, 1: response): 1 with *value and *vlen
 * set (OWS trimmed, not NUL-terminated, valid like sm_h1_header()), or 0. */
int sm_h1_header_find(const struct sm_h1 *h, int response, const char *name, const uint8_t **value,
                      size_t *vlen);

/* Observation of messages as they are forwarded, for the decode pipeline
 * and protocol observers. Observing never changes a forwarded byte, an
 * event or a return value. dir: 0 = request (client to upstream), 1 =
 * response (upstream to client). Per direction the calls come strictly as
 * head, body*, end for each message, in wire order, from inside the feed
 * (or eof) call that forwards the bytes; any callback may be NULL.
 *
 *  head  once per message when its head has been written completely to the
 *        output: a request after release (never while HELD), a final
 *        response, a 101 (type SM_H1_EV_UPGRADE). A CONNECT request is
 *        reported when parsed (its head is for the caller to answer, not
 *        forwarded). Interim 1xx responses are not reported. `ev` is the
 *        REQUEST/RESPONSE/UPGRADE event as queued (flags of the queued event
 *        kept, HELD included), plus SM_H1_F_DECHUNKED, UNTIL_CLOSE or
 *        NO_BODY, and body_bytes = the Content-Length when the body is
 *        delimited by one (else 0). `ev` and the header accessors
 *        (sm_h1_header(h, dir, ...), sm_h1_header_find()) are valid
 *        during the call.
 *  body  the payload of the body as forwarded, never empty: Content-Length
 *        and close-delimited bodies byte for byte; chunked bodies
 *        de-chunked (chunk data only; sizes, extensions, trailers removed),
 *        so a decode pipeline runs with transfer_removed. p is valid during
 *        the call only. On a framing error only the payload of the valid
 *        prefix (the forwarded part) is reported.
 *  end   complete = 1: the message was forwarded whole (for NO_BODY right
 *        after head); 0: it was cut (EOF inside it, an error on either
 *        side). After the end of a CONNECT request or a 101 response the
 *        raw bytes that follow are tunnel payload the caller relays: the
 *        HTTP layer does not see or report them.
 * The callbacks must not call back into the layer except the read-only
 * sm_h1_header accessors. Set the observer before feeding (or between messages: a
 * message whose head went out unobserved is not reported). obs and ctx must
 * outlive the object; NULL obs removes the observer. */
struct sm_h1_observer {
	void (*head)(void *ctx, int dir, const struct sm_h1_event *ev);
	void (*body)(void *ctx, int dir, const uint8_t *p, size_t n);
	void (*end)(void *ctx, int dir, int complete);
};
void sm_h1_set_observer(struct sm_h1 *h, const struct sm_h1_observer *obs, void *ctx);

/* Limit and wait counters, for telemetry. */
struct sm_h1_stats {
	uint64_t requests, responses;
	uint64_t head_too_large, too_many_headers, target_too_long; /* limit hits */
	uint64_t pipeline_full, out_full;                           /* backpressure */
	uint64_t dropped_after_close; /* client bytes ignored after a closing request */
};
const struct sm_h1_stats *sm_h1_stats(const struct sm_h1 *h);

/* Writes a complete error response into out[0..cap): status line, Content-Type:
 * text/plain, exact Content-Length, Connection: close, and a body
 * "<status> <phrase>\n<reason>\n". Returns bytes written or SM_ERR_LIMIT. */
long sm_h1_error_response(unsigned status, const char *reason, uint8_t *out, size_t cap);

/* Standard reason phrase ("Bad Request"), "Unknown" for others. */
const char *sm_h1_status_phrase(unsigned status);

const char *sm_h1_reason_str(enum sm_h1_reason r);

/* Method name of sm_h1_event.method ("GET"), without including llhttp.h. */
const char *sm_h1_method_name(uint8_t method);

#endif
