/* Incremental text/event-stream (SSE) parser, sans-I/O.
 *
 * Feed the response body (after transfer and content decoding) in chunks of
 * any size; events are delivered through a callback while feeding. The event
 * sequence does not depend on how the body is split into chunks.
 *
 * Follows the HTML "event stream interpretation" rules: fields event, data,
 * id, retry; comments (lines starting with ':'); CRLF, LF and CR line endings
 * (a CR at the end of one chunk and an LF at the start of the next are one
 * line ending); a UTF-8 BOM at stream start is skipped.
 *
 * Bounds (set at creation, never exceeded):
 *   max_event  bytes of dispatched data (multi-line data joined with '\n').
 *              Over it: one SM_SSE_EV_ERROR (SM_SSE_R_EVENT_TOO_LARGE), the
 *              event is dropped and the parser skips to the next blank line.
 *   max_line   bytes of the value of an event, id or retry line. Over it: one
 *              SM_SSE_EV_ERROR (SM_SSE_R_LINE_TOO_LONG), then like above.
 *              Comments longer than max_line are truncated, not an error;
 *              data lines are bounded by max_event only.
 * Memory: one allocation at creation of about max_event + 3 * max_line.
 *
 * At end of stream (sm_sse_finish) a pending event that was never ended by a
 * blank line is delivered with truncated = true (the HTML spec discards it;
 * an observer wants to see it). */
#ifndef SM_PROTO_SSE_H
#define SM_PROTO_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_SSE_DEFAULT_MAX_EVENT (64u * 1024u)
#define SM_SSE_DEFAULT_MAX_LINE  (4u * 1024u)
#define SM_SSE_LIMIT_MAX         (64u * 1024u * 1024u) /* cap for either bound */

/* Event kinds. Append-only (they leave the process). */
enum sm_sse_ev_type {
	SM_SSE_EV_MESSAGE = 0, /* a dispatched event: event, data, id */
	SM_SSE_EV_COMMENT = 1, /* a comment line (text after ':'), maybe truncated */
	SM_SSE_EV_RETRY = 2,   /* a valid retry field (digits only) */
	SM_SSE_EV_ERROR = 3,   /* a bound was hit; see reason */
};

/* Error reasons. Append-only. */
enum sm_sse_reason {
	SM_SSE_R_NONE = 0,
	SM_SSE_R_EVENT_TOO_LARGE = 1, /* data would exceed max_event */
	SM_SSE_R_LINE_TOO_LONG = 2,   /* event/id/retry value would exceed max_line */
};

/* One event. Pointers refer to parser memory valid only during the callback. */
struct sm_sse_event {
	enum sm_sse_ev_type type;
	const char *event; /* MESSAGE: event type, "message" when none was given */
	size_t event_len;
	const char *data; /* MESSAGE: data; COMMENT: comment text (leading space kept) */
	size_t data_len;
	const char *id; /* MESSAGE: last event ID (persists across events), may be empty */
	size_t id_len;
	uint64_t retry_ms;         /* RETRY: reconnection time */
	bool truncated;            /* MESSAGE: flushed at finish without a blank line;
	                              COMMENT: text cut at max_line */
	enum sm_sse_reason reason; /* ERROR */
	uint64_t offset;           /* stream offset just after the byte that completed it */
};

typedef void (*sm_sse_cb)(void *ctx, const struct sm_sse_event *ev);

struct sm_sse_config {
	uint32_t max_event; /* 0 = SM_SSE_DEFAULT_MAX_EVENT */
	uint32_t max_line;  /* 0 = SM_SSE_DEFAULT_MAX_LINE */
};

/* Counters; the *_hwm fields are high-water marks of buffer use in bytes. */
struct sm_sse_stats {
	uint64_t bytes;
	uint64_t messages;
	uint64_t comments;
	uint64_t errors;
	uint64_t oversized_events; /* SM_SSE_R_EVENT_TOO_LARGE */
	uint64_t long_lines;       /* SM_SSE_R_LINE_TOO_LONG */
	size_t data_hwm;           /* <= max_event + 1 */
	size_t line_hwm;           /* <= max_line */
};

struct sm_sse;

/* Create a parser. cfg may be NULL (defaults). Returns NULL on allocation
 * failure or a bound above SM_SSE_LIMIT_MAX. cb is called for every event. */
struct sm_sse *sm_sse_new(const struct sm_sse_config *cfg, sm_sse_cb cb, void *ctx);
void sm_sse_free(struct sm_sse *p);

/* Feed len bytes. Returns len (all bytes are always consumed), or
 * SM_ERR_STATE after sm_sse_finish. */
long sm_sse_feed(struct sm_sse *p, const void *buf, size_t len);

/* End of stream: completes a partial last line and flushes a pending event
 * with truncated = true. Returns SM_OK, or SM_ERR_TRUNCATED when an event was
 * flushed that way. Further feeds return SM_ERR_STATE. */
int sm_sse_finish(struct sm_sse *p);

const struct sm_sse_stats *sm_sse_stats(const struct sm_sse *p);

/* Stable names: "message", "comment", "retry", "error"; "none",
 * "event_too_large", "line_too_long". */
const char *sm_sse_ev_type_str(enum sm_sse_ev_type t);
const char *sm_sse_reason_str(enum sm_sse_reason r);

#endif
