/* HTTP/2 client session for soth-bench (--http2): a sans-I/O wrapper around
 * an nghttp2 client session that issues GET requests on up to `max_streams`
 * concurrent streams and reports, per stream, one outcome.
 *
 *   struct sm_bh2 *h = sm_bh2_new(16);          once per connection slot
 *   sm_bh2_open(h, &req);                       per TLS connection (ALPN h2)
 *   sm_bh2_submit(h, tag);                      while sm_bh2_can_submit(h)
 *   n = sm_bh2_out(h, &p); write p[0..k); sm_bh2_out_done(h, k);
 *   sm_bh2_feed(h, in, len);                    decrypted server bytes
 *   while (sm_bh2_next_result(h, &r)) ...       one result per stream
 *   sm_bh2_close(h);  ...  sm_bh2_free(h);
 *
 * Validation is nghttp2's HTTP messaging (pseudo-headers, :status, field
 * characters, content-length against the DATA received) plus ours: a stream
 * counts as DONE only when its final response ended with END_STREAM. The
 * `tag` of a stream is the caller's (soth-bench passes the send time) and
 * comes back in its result: no clock here, no syscall.
 *
 * Outcomes: DONE (status and bytes valid; any status, the caller judges
 * non-2xx), RESET (the server sent RST_STREAM before the end), REFUSED (the
 * server did not process it: RST_STREAM REFUSED_STREAM, or above the
 * last-stream-id of a GOAWAY; the request may be retried), BROKEN (closed
 * without a complete response for any other reason, e.g. nghttp2 reset it
 * for a malformed response, or the connection failed while it was open:
 * then every open stream ends BROKEN with the GOAWAY's error code).
 *
 * Bounds: the slot table (max_streams entries) is allocated by sm_bh2_new;
 * a slot stays taken from submit until its result is popped, so at most
 * max_streams streams plus unpopped results exist. Request and response
 * header lists are bounded by SETTINGS_MAX_HEADER_LIST_SIZE (SM_BH2_MAX_HDR);
 * nghttp2's own buffers by the streams and its frame queue. */
#ifndef SM_BENCH_BH2_H
#define SM_BENCH_BH2_H

#include <stddef.h>
#include <stdint.h>

#define SM_BH2_MAX_STREAMS 1024
#define SM_BH2_MAX_HDR     65536
#define SM_BH2_STREAM_WIN  (1u << 20) /* our SETTINGS_INITIAL_WINDOW_SIZE */
#define SM_BH2_CONN_WIN    (1u << 24) /* our connection receive window */

enum sm_bh2_outcome {
	SM_BH2_DONE = 0,
	SM_BH2_RESET,   /* RST_STREAM from the server before the end */
	SM_BH2_REFUSED, /* not processed by the server: retryable */
	SM_BH2_BROKEN,  /* closed without a complete response */
};
const char *sm_bh2_outcome_str(enum sm_bh2_outcome o);

/* Why the connection failed (sm_bh2_failed). Append-only. */
enum sm_bh2_reason {
	SM_BH2_R_OK = 0,
	SM_BH2_R_PROTOCOL,     /* nghttp2 refused the server's bytes */
	SM_BH2_R_LOCAL_GOAWAY, /* we sent GOAWAY with an error (server broke the protocol) */
	SM_BH2_R_PEER_GOAWAY,  /* the server sent GOAWAY with an error code */
	SM_BH2_R_NOMEM,        /* nghttp2 out of memory */
	SM_BH2_R_CLOSED,       /* the session ended (neither side wants to read or write) */
};
const char *sm_bh2_reason_str(enum sm_bh2_reason r);

struct sm_bh2_req {
	const char *scheme;    /* "https" */
	const char *authority; /* host[:port] */
	const char *path;
	const char *user_agent; /* may be NULL */
};

struct sm_bh2_result {
	uint64_t tag;
	enum sm_bh2_outcome outcome;
	uint16_t status;     /* final :status, 0 if none arrived */
	uint32_t interim;    /* 1xx responses seen */
	uint32_t error_code; /* RST_STREAM / close code for RESET, REFUSED, BROKEN */
	uint64_t bytes;      /* response field name+value bytes plus DATA payload */
	uint64_t data_bytes; /* DATA payload only (of the frames received whole) */
};

struct sm_bh2;

/* NULL when out of memory or max_streams is 0 or above SM_BH2_MAX_STREAMS. */
struct sm_bh2 *sm_bh2_new(unsigned max_streams);
void sm_bh2_free(struct sm_bh2 *h);

/* Starts a client session: preface and SETTINGS are queued for sm_bh2_out.
 * The request strings are copied. Returns SM_OK or SM_ERR_NOMEM (a previous
 * session is closed first). */
int sm_bh2_open(struct sm_bh2 *h, const struct sm_bh2_req *req);
/* Ends the session (no frame is sent) and drops pending results. */
void sm_bh2_close(struct sm_bh2 *h);

/* 1 when a request may be submitted now: session open and healthy, no
 * GOAWAY received, a free slot. */
int sm_bh2_can_submit(const struct sm_bh2 *h);
/* Queues one GET request; returns the stream id (> 0) or a negative SM_ERR_*. */
int sm_bh2_submit(struct sm_bh2 *h, uint64_t tag);

/* Feeds server bytes. Returns len, or SM_ERR_PROTOCOL with sm_bh2_failed()
 * set. Results and queued frames may follow. Input is passed to nghttp2
 * frame by frame; once the connection is over (failed, or a GOAWAY was
 * received and no stream is left, or nghttp2 reads no more) the bytes after
 * that frame are dropped, so the outcome does not depend on how the input
 * was cut into pieces. */
long sm_bh2_feed(struct sm_bh2 *h, const uint8_t *in, size_t len);

/* Bytes to send next (0 = nothing queued); valid until sm_bh2_out_done or
 * any other call. sm_bh2_out_done(h, k) marks the first k as written. */
size_t sm_bh2_out(struct sm_bh2 *h, const uint8_t **p);
void sm_bh2_out_done(struct sm_bh2 *h, size_t k);

/* Pops one stream result; returns 1, or 0 when none is pending. */
int sm_bh2_next_result(struct sm_bh2 *h, struct sm_bh2_result *r);

unsigned sm_bh2_active(const struct sm_bh2 *h); /* submitted, no result yet */
/* SM_BH2_R_OK while the connection is usable, otherwise why it failed. A
 * graceful GOAWAY (NO_ERROR) is not a failure: see sm_bh2_goaway. */
enum sm_bh2_reason sm_bh2_failed(const struct sm_bh2 *h);
/* 1 once the server sent GOAWAY (any code); *code and *last_id if non-NULL. */
int sm_bh2_goaway(const struct sm_bh2 *h, uint32_t *code, int32_t *last_id);

#endif
