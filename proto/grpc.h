/* gRPC length-prefixed message framing (one parser per stream direction),
 * sans-I/O, plus a reader for grpc-status / grpc-message / grpc-encoding.
 *
 * Wire format: 1 byte compressed flag (0 or 1), 4 bytes big-endian length,
 * then that many bytes of message. Feed the HTTP/2 DATA (or HTTP/1.1 body)
 * bytes of one direction in chunks of any size; the envelope may be split at
 * any byte. Events do not depend on how the input is chunked.
 *
 * Bounds (set at creation):
 *   max_message  largest message kept. A longer one: SM_GRPC_EV_ERROR
 *                (SM_GRPC_R_TOO_LARGE) at its envelope, then its bytes are
 *                counted, not kept, and at its end an SM_GRPC_EV_MESSAGE with
 *                too_large set, its length and no excerpt; framing goes on
 *                with the next message (counter too_large).
 *   excerpt      the first bytes of each message kept for the event. Set it
 *                to max_message to receive whole messages.
 * Memory: one allocation of sizeof(struct) + excerpt at creation. */
#ifndef SM_PROTO_GRPC_H
#define SM_PROTO_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_GRPC_DEFAULT_MAX_MESSAGE (4u * 1024u * 1024u) /* gRPC's own default */
#define SM_GRPC_DEFAULT_EXCERPT     256u
#define SM_GRPC_EXCERPT_MAX         (64u * 1024u * 1024u)
#define SM_GRPC_ENVELOPE            5u

/* Event kinds. Append-only. */
enum sm_grpc_ev_type {
	SM_GRPC_EV_MESSAGE = 0, /* a complete message */
	SM_GRPC_EV_ERROR = 1,   /* the stream cannot be parsed further; see reason */
};

/* Error reasons. Append-only. */
enum sm_grpc_reason {
	SM_GRPC_R_NONE = 0,
	SM_GRPC_R_TOO_LARGE = 1, /* declared length > max_message (not fatal) */
	SM_GRPC_R_BAD_FLAG = 2,  /* compressed flag byte other than 0 or 1 */
	SM_GRPC_R_TRUNCATED = 3, /* stream ended inside an envelope or message */
};

struct sm_grpc_event {
	enum sm_grpc_ev_type type;
	uint64_t index;         /* message number in this stream, from 0 */
	uint32_t length;        /* MESSAGE: payload length; ERROR: declared length
	                           (TOO_LARGE, TRUNCATED), else 0 */
	bool compressed;        /* flag byte was 1 (payload uses grpc-encoding) */
	const uint8_t *excerpt; /* first min(length, excerpt) payload bytes; valid
	                           only during the callback */
	size_t excerpt_len;     /* TRUNCATED: bytes of the partial message kept */
	uint32_t received;      /* TRUNCATED: payload bytes received */
	bool too_large;         /* MESSAGE: longer than max_message: skipped, no excerpt */
	enum sm_grpc_reason reason;
	uint64_t offset; /* stream offset just after the completing byte */
};

typedef void (*sm_grpc_cb)(void *ctx, const struct sm_grpc_event *ev);

struct sm_grpc_config {
	uint32_t max_message; /* 0 = SM_GRPC_DEFAULT_MAX_MESSAGE */
	uint32_t excerpt;     /* 0 = SM_GRPC_DEFAULT_EXCERPT; capped at max_message */
};

struct sm_grpc_stats {
	uint64_t bytes;
	uint64_t messages;
	uint64_t compressed;
	uint64_t errors;
	uint64_t too_large;
	size_t excerpt_hwm; /* high-water mark of the excerpt buffer, <= excerpt */
};

struct sm_grpc;

/* Returns NULL on allocation failure, a NULL cb, or excerpt > SM_GRPC_EXCERPT_MAX. */
struct sm_grpc *sm_grpc_new(const struct sm_grpc_config *cfg, sm_grpc_cb cb, void *ctx);
void sm_grpc_free(struct sm_grpc *p);

/* Returns len, or after an error: SM_ERR_PROTOCOL (bad flag; also returned
 * by the feed that hit it), SM_ERR_STATE (after finish). A message over
 * max_message is not an error of the stream: feeds go on returning len. */
long sm_grpc_feed(struct sm_grpc *p, const void *buf, size_t len);

/* End of stream. SM_OK when it ended on a message boundary; otherwise emits
 * SM_GRPC_R_TRUNCATED and returns SM_ERR_TRUNCATED. After an earlier error it
 * returns that error again and emits nothing. */
int sm_grpc_finish(struct sm_grpc *p);

const struct sm_grpc_stats *sm_grpc_stats(const struct sm_grpc *p);

/* "message", "error"; "none", "too_large", "bad_flag", "truncated". */
const char *sm_grpc_ev_type_str(enum sm_grpc_ev_type t);
const char *sm_grpc_reason_str(enum sm_grpc_reason r);

/* ---- Status from headers or trailers ---- */

/* One header field; names compare ASCII case-insensitively. */
struct sm_grpc_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

#define SM_GRPC_MESSAGE_MAX  512u /* decoded grpc-message bytes kept */
#define SM_GRPC_ENCODING_MAX 32u

struct sm_grpc_status {
	int status;           /* 0..16, or -1 when absent or invalid */
	bool status_present;  /* a grpc-status field was seen */
	bool message_present; /* a grpc-message field was seen */
	bool message_cut;     /* decoded message longer than SM_GRPC_MESSAGE_MAX */
	bool encoding_present;
	bool encoding_cut;
	size_t message_len;
	size_t encoding_len;
	char message[SM_GRPC_MESSAGE_MAX + 1];   /* percent-decoded, NUL-terminated */
	char encoding[SM_GRPC_ENCODING_MAX + 1]; /* as sent, NUL-terminated */
};

/* Reads grpc-status (1 or 2 ASCII digits, value 0..16), grpc-message
 * (percent-decoded; a '%' not followed by two hex digits is kept as is) and
 * grpc-encoding from n fields. The last occurrence of a field wins.
 * Returns SM_OK when grpc-status is present and valid, SM_AGAIN when absent
 * (headers of a call still in progress), SM_ERR_INVALID when malformed. */
int sm_grpc_read_status(const struct sm_grpc_header *h, size_t n, struct sm_grpc_status *out);

/* Percent-decodes a grpc-message value v[0..n) into out (at most cap
 * bytes): each %XX (two hex digits, either case) becomes its byte, anything
 * else, a broken escape included, is kept as it is (the gRPC spec: never
 * fail on a bad value). Returns the bytes written; *cut when they did not
 * all fit. The bytes are not checked as UTF-8: writers of text do that. */
size_t sm_grpc_message_decode(const char *v, size_t n, char *out, size_t cap, bool *cut);

#endif
