/* HTTP/2 interception layer: a sans-I/O proxy between one client connection
 * and one upstream connection that both negotiated "h2" (ALPN). One object
 * per intercepted connection holds two nghttp2 sessions:
 *
 *   client bytes   --sm_h2_feed_client()-->   [server session]
 *                                                  | streams mapped 1:1
 *   upstream bytes --sm_h2_feed_upstream()--> [client session]
 *   sm_h2_out_client() / sm_h2_out_upstream(): frames to write to each side
 *
 * Every client stream (odd id) opens exactly one upstream stream (its own odd
 * id, in the order requests are forwarded); events carry both ids. Pushes are
 * refused (SETTINGS_ENABLE_PUSH = 0 upstream). RFC 8441 extended CONNECT
 * (WebSocket over h2) is offered to the client, in a second SETTINGS frame,
 * only after the upstream offered it; such a stream then relays DATA.
 *
 * What is forwarded
 *  - Header blocks (request, interim 1xx, final response, trailers) with the
 *    same fields in the same order, names and values byte-exact, HPACK
 *    never-index flags kept. Each block is checked before anything of it is
 *    forwarded: nghttp2's HTTP messaging rules, then ours (RFC 9113 §8.2-8.3):
 *    proto/hdrcheck on every regular field (no NUL/CR/LF/CTL in values,
 *    tchar names, one Content-Length of 1*DIGIT, no Transfer-Encoding),
 *    lower-case names, no connection-specific fields (connection,
 *    keep-alive, proxy-connection, transfer-encoding, upgrade), "te" only
 *    "trailers", pseudo-header fields known for the block kind, once each,
 *    before regular fields, the required ones present (:method, :scheme,
 *    :path; :authority or host, equal when both; CONNECT: :authority only), :status three
 *    digits 100..599 but not 101, no pseudo-header in trailers, block size
 *    (RFC 9113 accounting: name + value + 32 per field) and field count.
 *    A refused block resets the stream (PROTOCOL_ERROR to its sender) and is
 *    never forwarded.
 *  - DATA: copied into a per-stream buffer and handed to the other session
 *    as its flow-control window allows. The proxy never opens a window for
 *    bytes it has not handed on: the windows of a stream and of the
 *    connection are opened (WINDOW_UPDATE) only as its bytes leave the
 *    buffer toward the other side, so a slow reader on one side stalls the
 *    writer on the other (end-to-end backpressure). A buffer therefore never
 *    holds more than limits.stream_window bytes.
 *  - Content-Length: the DATA bytes of a message must add up to it. More
 *    than announced is refused at the DATA frame that exceeds it (its bytes
 *    are not forwarded); less at END_STREAM. Either way the stream is reset
 *    (PROTOCOL_ERROR to the sender, CANCEL upstream / INTERNAL_ERROR to the
 *    client on the other side) and END_STREAM is never forwarded, so the
 *    other side never sees a complete message of the wrong length.
 *  - END_STREAM is forwarded after the last byte of the buffer; trailers
 *    follow the body (HEADERS with END_STREAM).
 *  - RST_STREAM received on one side resets the mapped stream on the other
 *    with the same code, except RST_STREAM(NO_ERROR) after a complete
 *    message (RFC 9113 §8.1, e.g. an early 413): the message is delivered
 *    first, then the other peer gets RST_STREAM(NO_ERROR). A stream reset by
 *    nghttp2 (flow-control or protocol error) or refused by an upstream
 *    GOAWAY is reset on the other side too (REFUSED_STREAM is kept so
 *    clients may retry). When the upstream's answer is refused before any
 *    final response head went to the client, the client gets a 502 with an
 *    empty body instead of a reset.
 *  - GOAWAY received on one side: a GOAWAY goes to the other side (code
 *    NO_ERROR kept, any other code becomes INTERNAL_ERROR), last-stream-id
 *    toward the client = the last client stream the proxy processed.
 *    Streams already open finish.
 *
 * Memory and ownership
 *  - sm_h2_new() allocates the object, its stream table and both nghttp2
 *    sessions through one budgeted allocator: every allocation of this
 *    connection (nghttp2's included) counts against limits.max_mem; when an
 *    allocation would pass it the connection fails (ERROR event,
 *    SM_ERR_NOMEM) and stats.mem_limit counts it. sm_h2_free() releases all.
 *  - Feed functions never retain input pointers. A feed consumes less than
 *    given when the event queue needs popping or the other side's output
 *    queue is full (sm_h2_wait()); the caller feeds the rest later.
 *  - Pointers of a popped event (pseudo-header values, sm_h2_header()) are
 *    valid until the next feed or out call; events still queued survive
 *    further calls (header storage is recycled only when the queue is
 *    empty), so feeding both sides and then popping is fine. DATA payloads
 *    point into the caller's `in` buffer of their feed call: valid while the
 *    caller keeps those bytes in place.
 *  - Events come from feed calls and also from out calls (resets that
 *    nghttp2 itself sends, streams refused when their HEADERS could not be
 *    sent). Event order is deterministic for a given byte sequence.
 *
 * The caller (reactor) loop: read side X -> sm_h2_feed_X() -> pop events ->
 * sm_h2_out_client()/sm_h2_out_upstream() into the socket buffers -> write.
 * When sm_h2_done(h, side) is 1 and that side's output has been flushed,
 * close that side. */
#ifndef SM_PROTO_H2_H
#define SM_PROTO_H2_H

#include <stddef.h>
#include <stdint.h>

struct sm_h2;

/* Limits, fixed at creation. Zero fields take the default in brackets. */
struct sm_h2_limits {
	uint32_t max_streams;        /* SETTINGS_MAX_CONCURRENT_STREAMS to the client [100] */
	uint32_t max_header_list;    /* SETTINGS_MAX_HEADER_LIST_SIZE, both sides [65536] */
	uint32_t max_header_fields;  /* fields in one header block [128] */
	uint32_t stream_window;      /* SETTINGS_INITIAL_WINDOW_SIZE, both sides [65535] */
	uint32_t conn_window;        /* connection receive window, both sides [1048576] */
	uint32_t max_mem;            /* bytes this connection may allocate [33554432] */
	uint32_t max_out_queue;      /* frames queued toward one side before the
	                                other side is no longer read [512] */
	uint32_t max_resets;         /* client abuse: streams it reset before their response
	                                ended, or opened past max_streams (refused), within
	                                the last 10 x max_streams it opened; past it the
	                                client gets GOAWAY ENHANCE_YOUR_CALM (rapid reset,
	                                CVE-2023-44487; stream floods) [5 x max_streams] */
	uint8_t no_extended_connect; /* 1: never offer RFC 8441 extended CONNECT
	                                (else offered once the upstream offers it) */
};

/* Sides of the proxy. */
enum sm_h2_side {
	SM_H2_CLIENT = 0,   /* the browser / client connection */
	SM_H2_UPSTREAM = 1, /* the origin connection */
	SM_H2_PROXY = 2,    /* only as `who`: the proxy decided (validation, limits) */
};

enum sm_h2_event_type {
	SM_H2_EV_REQUEST = 1,  /* a request head was received, validated and forwarded */
	SM_H2_EV_RESPONSE,     /* a response head (interim or final) was forwarded */
	SM_H2_EV_DATA,         /* DATA payload received on `dir` (data, len), buffered for
	                          the other side; never empty */
	SM_H2_EV_TRAILERS,     /* trailers received on `dir`, validated, queued after the body */
	SM_H2_EV_STREAM_END,   /* END_STREAM received on `dir` and validated (length agreed) */
	SM_H2_EV_STREAM_RESET, /* the stream was reset by `who` with `code`; it is over */
	SM_H2_EV_GOAWAY,       /* GOAWAY by `who` (side `dir`): code, last_id */
	SM_H2_EV_ERROR,        /* connection failure on side `dir`: reason, detail */
};

/* Event flags. */
#define SM_H2_F_END_STREAM 0x1u /* REQUEST/RESPONSE/TRAILERS: the block ended the message */
#define SM_H2_F_INTERIM    0x2u /* RESPONSE: 1xx, a final response follows */
#define SM_H2_F_CONNECT    0x4u /* REQUEST: CONNECT (no :scheme/:path) */
#define SM_H2_F_EXTCONNECT 0x8u /* REQUEST: RFC 8441 extended CONNECT (:protocol) */

/* Why the proxy reset a stream or failed. Append-only (logged). */
enum sm_h2_reason {
	SM_H2_R_NONE = 0,
	SM_H2_R_HEADER,           /* proto/hdrcheck refused a field (detail = sm_hdrcheck_reason) */
	SM_H2_R_NAME_UPPERCASE,   /* field name with an upper-case letter */
	SM_H2_R_CONNECTION_FIELD, /* connection-specific field (connection, upgrade, ...) */
	SM_H2_R_TE,               /* "te" other than "trailers" */
	SM_H2_R_PSEUDO,           /* unknown, repeated, misplaced or missing pseudo-header */
	SM_H2_R_STATUS,           /* :status not 3 digits in 100..599, or 101 */
	SM_H2_R_HEADER_LIST,      /* header block over max_header_list */
	SM_H2_R_FIELDS,           /* header block over max_header_fields */
	SM_H2_R_LENGTH,           /* DATA bytes disagree with Content-Length */
	SM_H2_R_NO_SLOT,          /* stream table full: REFUSED_STREAM */
	SM_H2_R_NGHTTP2,          /* nghttp2 reset the stream / failed (detail = its error) */
	SM_H2_R_PEER,             /* mapped stream failed on the other side */
	SM_H2_R_REFUSED,          /* upstream could not take the stream (GOAWAY) */
	SM_H2_R_MEMORY,           /* max_mem reached */
	SM_H2_R_SIDE_CLOSED,      /* the other side's connection closed (EOF) */
	SM_H2_R_TRAILERS,         /* trailers without END_STREAM or with pseudo fields */
	SM_H2_R_BUFFER,           /* more DATA than the advertised window (cannot happen
	                             with a compliant peer) */
	SM_H2_R_HOST,             /* no :authority nor Host, or Host differing from :authority */
	SM_H2_R_CONNECT,          /* translated to HTTP/1.1 (proto/h2h1.h): CONNECT refused (501) */
	SM_H2_R_TARGET,           /* translated: :method, :path or :authority not fit for an
	                             HTTP/1.1 request line / Host (detail: 1 method, 2 path,
	                             3 authority) */
	SM_H2_R_UPSTREAM_HTTP1,   /* translated: the HTTP/1.1 response was refused
	                             (detail = enum sm_h2h1_fault) */
	SM_H2_R_CLIENT_HTTP1,     /* translated (proto/h1h2.h): the client's HTTP/1.1 request
	                             was refused (detail = enum sm_h1_reason) */
	SM_H2_R_RAPID_RESET,      /* GOAWAY: the client reset too many streams (max_resets) */
	SM_H2_R_STREAM_FLOOD,     /* GOAWAY: the client opened too many streams past
	                             max_streams (max_resets) */
};

struct sm_h2_event {
	uint8_t type;        /* enum sm_h2_event_type */
	uint8_t dir;         /* side the frame came from (0 client/request, 1 upstream/response) */
	uint8_t who;         /* STREAM_RESET/GOAWAY: enum sm_h2_side */
	uint8_t reason;      /* STREAM_RESET by the proxy, ERROR: enum sm_h2_reason */
	uint16_t flags;      /* SM_H2_F_* */
	uint16_t status;     /* RESPONSE: :status */
	int32_t stream_id;   /* client-side stream id; 0 for connection events */
	int32_t upstream_id; /* mapped upstream stream id (0: not opened upstream) */
	uint32_t code;       /* STREAM_RESET/GOAWAY: HTTP/2 error code */
	int32_t last_id;     /* GOAWAY: last-stream-id */
	int32_t detail;      /* sub-reason (see enum sm_h2_reason) */
	const uint8_t *data; /* DATA: payload */
	size_t len;
	/* REQUEST: pseudo-header values (NULL/0 when absent) */
	const uint8_t *method, *scheme, *authority, *path, *protocol;
	uint32_t method_len, scheme_len, authority_len, path_len, protocol_len;
	/* REQUEST/RESPONSE/TRAILERS: fields of the block, via sm_h2_header() */
	uint32_t nheaders;
	uint32_t hfirst_; /* internal */
};

/* Creates the object and queues both sessions' SETTINGS (and the client
 * connection preface toward the upstream). NULL: limits out of range
 * (stream_window or conn_window > 2^31-1, max_streams > 10000) or no memory. */
struct sm_h2 *sm_h2_new(const struct sm_h2_limits *lim);
void sm_h2_free(struct sm_h2 *h);

/* Bytes from the client (starting with the connection preface) or from the
 * upstream. Returns bytes consumed (>= 0) or SM_ERR_PROTOCOL / SM_ERR_NOMEM
 * with an ERROR event: the connection is beyond repair (a GOAWAY may still
 * be pending in the outputs; flush and close both sides). */
long sm_h2_feed_client(struct sm_h2 *h, const uint8_t *in, size_t len);
long sm_h2_feed_upstream(struct sm_h2 *h, const uint8_t *in, size_t len);

/* Writes frames for the client / upstream into out[0..cap): returns bytes
 * written (0: nothing to send now) or a negative SM_ERR_* (ERROR event).
 * A frame that does not fit is continued by the next call. */
long sm_h2_out_client(struct sm_h2 *h, uint8_t *out, size_t cap);
long sm_h2_out_upstream(struct sm_h2 *h, uint8_t *out, size_t cap);

/* 1 if frames are waiting for that side. */
int sm_h2_want_out(const struct sm_h2 *h, enum sm_h2_side side);

/* The transport of that side closed (EOF or error). Its streams are gone:
 * their peers on the other side are reset unless their message already
 * arrived complete (it is still delivered), and the other side gets a
 * GOAWAY. Returns SM_OK. */
int sm_h2_eof(struct sm_h2 *h, enum sm_h2_side side);

/* 1 when that side's session has nothing more to read or write (GOAWAY
 * exchanged and no stream left, or failed): close it once flushed. */
int sm_h2_done(const struct sm_h2 *h, enum sm_h2_side side);

/* Pops the oldest event into *ev: 1 if one was popped, 0 if none. */
int sm_h2_next_event(struct sm_h2 *h, struct sm_h2_event *ev);

/* Why feeding that side consumed less than it was given. */
enum sm_h2_wait {
	SM_H2_WAIT_NONE = 0,
	SM_H2_WAIT_EVENTS,   /* event queue or header storage needs popping: pop, feed */
	SM_H2_WAIT_OUT_FULL, /* the other side has max_out_queue frames queued: drain its
	                        output (sm_h2_out_*), then feed again */
	SM_H2_WAIT_CLOSED,   /* that side is done or failed: read no more */
};
enum sm_h2_wait sm_h2_wait(const struct sm_h2 *h, enum sm_h2_side side);

/* Streams in the table (opened by the client and not yet closed on both
 * sides). Returns to 0 when every stream has ended or been reset. */
unsigned sm_h2_open_streams(const struct sm_h2 *h);

/* Field i (0..ev->nheaders-1) of a REQUEST/RESPONSE/TRAILERS event, as
 * received (pseudo-header fields included, in order). 1, or 0 if out of
 * range. Valid like the event's pointers. */
int sm_h2_header(const struct sm_h2 *h, const struct sm_h2_event *ev, unsigned i,
                 const uint8_t **name, size_t *nlen, const uint8_t **value, size_t *vlen);

/* First field named `name` (lower-case C string) of the event's block: 1
 * with *value and *vlen set, or 0 with them untouched. */
int sm_h2_header_find(const struct sm_h2 *h, const struct sm_h2_event *ev, const char *name,
                      const uint8_t **value, size_t *vlen);

/* Counters, for telemetry. */
struct sm_h2_stats {
	uint64_t streams;                /* client streams opened */
	uint64_t requests, responses;    /* heads forwarded */
	uint64_t resets_proxy;           /* streams the proxy reset (validation, limits) */
	uint64_t resets_peer;            /* RST_STREAM received from either side */
	uint64_t refused_no_slot;        /* stream table full */
	uint64_t trailer_fields_dropped; /* fields forbidden in trailers (Content-Length...) */
	uint64_t client_resets_early;    /* client resets of streams still being answered */
	uint64_t refused_streams;        /* client streams refused (REFUSED_STREAM) */
	uint64_t bytes[2];               /* DATA payload received per side */
	uint64_t mem_limit;              /* allocations refused by max_mem */
	uint64_t out_full;               /* feeds stopped by the other side's output queue */
	uint64_t events_paused;          /* feeds stopped to let the caller pop events */
	uint64_t mem_peak;               /* highest allocated bytes */
	uint64_t buffered_peak;          /* highest bytes held in stream buffers */
};
const struct sm_h2_stats *sm_h2_stats(const struct sm_h2 *h);

/* Why the client's connection was ended by this side: SM_H2_R_RAPID_RESET
 * or SM_H2_R_STREAM_FLOOD (GOAWAY ENHANCE_YOUR_CALM, see max_resets),
 * SM_H2_R_NGHTTP2 (a GOAWAY with an error: a protocol error, or one of
 * nghttp2's own limits; *code = its error code), or SM_H2_R_NONE. */
int sm_h2_client_ended(const struct sm_h2 *h, uint32_t *code);

/* The name of an HTTP/2 error code ("PROTOCOL_ERROR", ...). */
const char *sm_h2_code_str(uint32_t code);

/* Bytes currently allocated (nghttp2 included) / held in stream buffers. */
size_t sm_h2_mem_used(const struct sm_h2 *h);
size_t sm_h2_buffered(const struct sm_h2 *h);

const char *sm_h2_reason_str(enum sm_h2_reason r);

#endif
