/* Decode pipeline for one message body (or one WebSocket direction).
 *
 * Fixed stage order, chosen once from the headers:
 *
 *   transfer  chunked (decode/chunked.h) unless the caller already removed it
 *   content   Content-Encoding list, plus any transfer codings listed before
 *             "chunked" (decode/content.h)
 *   framing   text/event-stream -> SSE, application/grpc* -> gRPC,
 *             a WebSocket direction -> WebSocket, else none (the whole body
 *             is one unit)
 *   payload   per unit: msgpack -> JSON, anti-hijack guard stripping, JSON
 *             passthrough, text, or raw
 *
 * Events go to a callback while feeding: PAYLOAD events (one per unit, with a
 * bounded excerpt) and ERROR events (which stage, which reason). A failure of
 * the transfer, content or framing stage is reported once and degrades the
 * rest of the message to raw: later stages are dropped without being
 * finished, and at finish one PAYLOAD event of kind raw carries the excerpt
 * (first `excerpt` bytes) and total length of the failed stage's input. A
 * payload failure concerns one unit only: that unit is reported raw.
 *
 * Deterministic: events and their content depend only on the bytes, never on
 * how they are split across feeds (for valid streams, and for every failure
 * the stages detect at a chunking-independent point: all bounds, chunked
 * framing, bombs; see docs/decoders.md for the one caveat).
 *
 * Memory: one allocation at creation (unit buffer of max_unit bytes for
 * unframed bodies and gRPC, none for SSE and WebSocket; four
 * excerpt buffers: one per stage and the first bytes of a unit's msgpack
 * JSON, which is validated and measured whole but never stored beyond the
 * excerpt) plus the stage objects.
 */
#ifndef SM_OBSERVE_PIPELINE_H
#define SM_OBSERVE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode/chunked.h"
#include "decode/content.h"
#include "decode/msgpack.h"

/* Stages, in order. Append-only. */
enum sm_pipe_stage {
	SM_PIPE_TRANSFER = 0,
	SM_PIPE_CONTENT = 1,
	SM_PIPE_FRAMING = 2,
	SM_PIPE_PAYLOAD = 3,
};

/* Framing chosen for the message. Append-only. */
enum sm_pipe_framing {
	SM_PIPE_FRAME_NONE = 0, /* the whole body is one unit */
	SM_PIPE_FRAME_SSE = 1,
	SM_PIPE_FRAME_GRPC = 2,
	SM_PIPE_FRAME_WEBSOCKET = 3,
};

/* What a payload event holds. Append-only. */
enum sm_pipe_kind {
	SM_PIPE_KIND_RAW = 0,     /* opaque bytes (or a fallback after a failure) */
	SM_PIPE_KIND_TEXT = 1,    /* text that does not look like JSON */
	SM_PIPE_KIND_JSON = 2,    /* JSON passed through (guard stripped if any) */
	SM_PIPE_KIND_MSGPACK = 3, /* msgpack converted to JSON */
};

enum sm_pipe_ev_type {
	SM_PIPE_EV_PAYLOAD = 0,
	SM_PIPE_EV_ERROR = 1,
};

struct sm_pipe_event {
	enum sm_pipe_ev_type type;
	uint64_t seq;             /* events of this pipeline, from 0 */
	enum sm_pipe_stage stage; /* ERROR: failing stage; PAYLOAD: PAYLOAD, or the
	                             failed stage for a raw fallback */
	/* ERROR */
	int result;         /* sm_result of the failure */
	const char *reason; /* stage module reason name ("bomb", "bad_crlf", ...) */
	const char *who;    /* module or decoder ("chunked", "gzip", "sse", "msgpack") */
	bool fatal;         /* the rest of the message is degraded to raw */
	/* PAYLOAD */
	enum sm_pipe_kind kind;
	uint64_t unit;          /* unit number in the message, from 0 */
	uint64_t length;        /* bytes of the unit as reported (JSON after a guard,
	                           msgpack: JSON length; raw fallback: stage input) */
	const uint8_t *excerpt; /* first min(length, excerpt) bytes; valid during the callback */
	size_t excerpt_len;
	bool sanitized;       /* an anti-hijack guard was stripped */
	const char *guard;    /* the guard text, "" when none */
	bool compressed;      /* gRPC flag / WebSocket RSV1: compressed on the wire */
	bool decoded;         /* compressed and decoded: excerpt and length are the
	                         decoded bytes (else a compressed unit is left as is) */
	bool partial;         /* cfg.prefix cut the unit before its end: length is the
	                         bytes decoded, not the unit's length (unknown) */
	uint64_t wire_length; /* bytes of the unit as framed (compressed size) */
	bool too_large;       /* gRPC: a message longer than max_event, skipped
	                         unread: no excerpt, not decoded */
	const char *label;    /* SSE event type, "" otherwise (not NUL-terminated) */
	size_t label_len;
};

typedef void (*sm_pipe_cb)(void *ctx, const struct sm_pipe_event *ev);

struct sm_pipe_config {
	struct sm_chunked_limits chunked;
	struct sm_content_limits content;
	struct sm_msgpack_limits msgpack; /* max_output: the JSON budget (not stored) */
	uint32_t max_unit;                /* bytes of one unit kept for payload decoding */
	uint32_t excerpt;                 /* bytes of payload in events */
	uint32_t max_event;               /* SSE event / WebSocket message / gRPC message */
	/* > 0: an unframed body (no SSE, gRPC, WebSocket) is decoded only as far
	 * as its first `prefix` bytes (content stage in prefix mode, unit buffer
	 * of at most `prefix` bytes, msgpack converted as far as they go). Its
	 * PAYLOAD event is then `partial` when the decoded body was longer, or a
	 * msgpack body did not fit; corruption past the prefix goes unseen.
	 * The length of an unencoded JSON or text body stays exact. At least
	 * `excerpt`; 0 = decode every body to its end. */
	uint32_t prefix;
	const char *const *guards; /* extra anti-hijack prefixes */
	size_t n_guards;
};

/* What the headers say about the body. Strings need not be NUL-terminated. */
struct sm_pipe_headers {
	const char *content_type;
	size_t content_type_len;
	const char *content_encoding;
	size_t content_encoding_len;
	const char *transfer_encoding;
	size_t transfer_encoding_len;
	bool transfer_removed; /* bytes fed are already de-chunked */
	/* gRPC: grpc-encoding of the message's sender ("gzip", "deflate",
	 * "identity"); compressed messages are decoded when it is gzip or
	 * deflate, else reported as a content ERROR (who "grpc-encoding",
	 * reason "unknown") and left compressed. */
	const char *grpc_encoding;
	size_t grpc_encoding_len;
	/* WebSocket: the pipeline frames one direction of an upgraded stream;
	 * the other fields are ignored. */
	bool websocket;
	bool ws_client_to_server;
	bool ws_deflate;        /* permessage-deflate negotiated */
	bool ws_binary_msgpack; /* binary messages are msgpack (subprotocol) */
};

/* Counters of one pipeline (the caller sums them into its shard). */
struct sm_pipe_stats {
	uint64_t in_bytes[3]; /* input of the transfer, content, framing stages */
	uint64_t units;       /* PAYLOAD events, raw fallback included */
	uint64_t errors;      /* ERROR events */
	uint64_t fatal;       /* stages that failed (fatal ERROR events) */
	uint64_t bombs;       /* content failures with reason bomb */
	uint64_t units_cut;   /* units longer than max_unit (kept cut) */
	uint64_t sanitized;   /* units with an anti-hijack guard stripped */
	uint64_t msgpack_ok;
	uint64_t msgpack_failed;
	uint64_t decoded;       /* compressed gRPC messages decoded */
	uint64_t decode_failed; /* ... that could not be (unknown coding, corrupt, bomb) */
};

struct sm_pipe;

/* Creates a pipeline. Returns NULL on allocation failure or bad limits.
 * Unsupported codings are not a creation failure: the first feed reports
 * an ERROR (content stage) and the body degrades to raw. */
struct sm_pipe *sm_pipe_new(const struct sm_pipe_config *cfg, const struct sm_pipe_headers *h,
                            sm_pipe_cb cb, void *ctx);
void sm_pipe_free(struct sm_pipe *p);

/* Feeds body bytes. Returns the bytes consumed: n, or fewer when a chunked
 * body ended inside the input (the rest is the next message's). Stage
 * failures are events, not return values; SM_ERR_STATE after finish. */
long sm_pipe_feed(struct sm_pipe *p, const uint8_t *buf, size_t n);

/* End of the body: finishes the live stages, emits pending units and the raw
 * fallback. Returns SM_OK, or the result of the first failure seen. */
int sm_pipe_finish(struct sm_pipe *p);

/* What was chosen, for events and tests. */
enum sm_pipe_framing sm_pipe_framing(const struct sm_pipe *p);
bool sm_pipe_chunked(const struct sm_pipe *p);

const struct sm_pipe_stats *sm_pipe_stats(const struct sm_pipe *p);

const char *sm_pipe_stage_str(enum sm_pipe_stage s);
const char *sm_pipe_kind_str(enum sm_pipe_kind k);
const char *sm_pipe_framing_str(enum sm_pipe_framing f);

#endif
