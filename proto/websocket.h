/* WebSocket (RFC 6455) frame parser for one direction, sans-I/O.
 *
 * An observer: it reads copies of the bytes of one direction after the
 * HTTP/1.1 upgrade and reports messages, control frames and errors. It never
 * writes to the input (unmasking goes into its own buffers). Events do not
 * depend on how the input is chunked.
 *
 * Checks (violations are SM_WS_EV_ERROR with a suggested close code):
 *   masking      client->server frames must be masked, server->client not (1002)
 *   length       64-bit length with the high bit set, or a length not in the
 *                shortest form (1002)
 *   RSV bits     RSV1 only with permessage-deflate and only on the first frame
 *                of a data message (it marks the message compressed); RSV2/3
 *                never (1002)
 *   opcodes      reserved opcodes 3-7, 0xB-0xF (1002)
 *   control      payload <= 125 and FIN set (1002)
 *   sequencing   continuation without a message, data frame inside a
 *                fragmented message (1002), any frame after close (1002)
 *   close        1-byte payload, invalid code (1002), reason not UTF-8 (1007)
 *   text         invalid UTF-8, validated incrementally across fragments (1007);
 *                compressed messages are validated once inflated, else not
 *   size         message longer than max_message (1009); for an inflated
 *                message its decoded length counts, not its wire length
 *   inflate      (config `inflate`) a compressed message that does not
 *                inflate (1007), inflates past max_inflate (1009), or no
 *                memory for the inflater (1011)
 *
 * permessage-deflate (RFC 7692): with `inflate` set, the payload of every
 * compressed message (RSV1) goes through a decode/inflate stream as it
 * arrives, so the window stays right across messages (context takeover)
 * however large they are; decoded bytes are kept like plain payload (up to
 * max_message, the excerpt beyond) and the rest is inflated and dropped.
 * The event then carries the decoded bytes (decoded = true, decoded_length).
 * After an inflate error with context takeover the window is lost: later
 * compressed messages are reported as before, compressed bytes, decoded =
 * false.
 *
 * Outcome: size (1009), text UTF-8 (1007) and inflate errors concern one message: the
 * parser skips the rest of it (frame headers are still read) and continues;
 * the message event still comes at its end with the total length, the
 * excerpt and no payload. A frame header always gives the frame's length,
 * so the other errors found in a header do not stop the framing: the frame
 * is skipped unread, and when it is a data frame (opcode 0-7) the message
 * open at that point is cut and, without FIN, so are the continuations that
 * follow it (skipped without more errors). expected_continuation cuts the
 * open message and the frame starts the next one. A close frame with a bad
 * payload is reported and ignored; bytes after a close are reported once
 * (after_close) and framed on. A cut message is reported with what was seen
 * of it: a TRUNCATED error, then its MESSAGE event with `truncated` set
 * (also when a close frame or the end of the stream cuts it). Only a 64-bit
 * length with the high bit set is fatal (bad_length): where the next frame
 * starts is unknown, the parser stops and every later feed returns
 * SM_ERR_PROTOCOL.
 *
 * Memory: one allocation of sizeof(struct) + max_message + 125 at creation;
 * with `inflate`, the inflater (~40 KiB with its window) on the first
 * compressed message, freed with the parser. */
#ifndef SM_PROTO_WEBSOCKET_H
#define SM_PROTO_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_WS_DEFAULT_MAX_MESSAGE (1u << 20)
#define SM_WS_DEFAULT_EXCERPT     256u
#define SM_WS_MAX_MESSAGE_LIMIT   (256u << 20)
#define SM_WS_CONTROL_MAX         125u

/* Direction of the bytes one parser sees. */
enum sm_ws_dir {
	SM_WS_CLIENT_TO_SERVER = 0, /* frames must be masked */
	SM_WS_SERVER_TO_CLIENT = 1, /* frames must not be masked */
};

/* Opcodes (RFC 6455 5.2). */
enum sm_ws_opcode {
	SM_WS_OP_CONT = 0x0,
	SM_WS_OP_TEXT = 0x1,
	SM_WS_OP_BINARY = 0x2,
	SM_WS_OP_CLOSE = 0x8,
	SM_WS_OP_PING = 0x9,
	SM_WS_OP_PONG = 0xA,
};

/* Event kinds. Append-only. */
enum sm_ws_ev_type {
	SM_WS_EV_MESSAGE = 0, /* a complete (possibly reassembled) data message */
	SM_WS_EV_PING = 1,
	SM_WS_EV_PONG = 2,
	SM_WS_EV_CLOSE = 3,
	SM_WS_EV_ERROR = 4,
};

/* Error reasons. Append-only. */
enum sm_ws_reason {
	SM_WS_R_NONE = 0,
	SM_WS_R_MASK_REQUIRED = 1,      /* client frame without mask (1002) */
	SM_WS_R_MASK_FORBIDDEN = 2,     /* server frame with mask (1002) */
	SM_WS_R_BAD_LENGTH = 3,         /* 64-bit length with high bit set (1002) */
	SM_WS_R_NON_MINIMAL_LENGTH = 4, /* length not in shortest form (1002) */
	SM_WS_R_RSV_BITS = 5,           /* RSV bit not allowed here (1002) */
	SM_WS_R_RESERVED_OPCODE = 6,    /* opcode 3-7 or 0xB-0xF (1002) */
	SM_WS_R_CONTROL_TOO_LONG = 7,   /* control payload > 125 (1002) */
	SM_WS_R_CONTROL_FRAGMENTED = 8, /* control frame without FIN (1002) */
	SM_WS_R_UNEXPECTED_CONT = 9,    /* continuation with no message open (1002) */
	SM_WS_R_EXPECTED_CONT = 10,     /* text/binary while a message is open (1002) */
	SM_WS_R_BAD_CLOSE_PAYLOAD = 11, /* close payload of 1 byte (1002) */
	SM_WS_R_BAD_CLOSE_CODE = 12,    /* close code not allowed on the wire (1002) */
	SM_WS_R_BAD_CLOSE_UTF8 = 13,    /* close reason not UTF-8 (1007) */
	SM_WS_R_BAD_UTF8 = 14,          /* text message not UTF-8 (1007) */
	SM_WS_R_TOO_BIG = 15,           /* message > max_message (1009) */
	SM_WS_R_AFTER_CLOSE = 16,       /* bytes after a close frame (1002) */
	SM_WS_R_INFLATE_CORRUPT = 17,   /* compressed message does not inflate (1007) */
	SM_WS_R_INFLATE_BOMB = 18,      /* message inflates past max_inflate (1009) */
	SM_WS_R_INFLATE_NOMEM = 19,     /* no memory for the inflater (1011) */
	SM_WS_R_TRUNCATED = 20,         /* a message or frame cut before its end (0) */
};

struct sm_ws_event {
	enum sm_ws_ev_type type;
	enum sm_ws_dir dir;
	uint8_t opcode;    /* MESSAGE: TEXT or BINARY; control: its opcode */
	bool compressed;   /* MESSAGE: RSV1 on the first frame (permessage-deflate) */
	bool decoded;      /* MESSAGE: compressed and inflated: excerpt and payload
	                      are decoded bytes */
	bool oversized;    /* MESSAGE: longer than max_message, no payload */
	bool invalid_utf8; /* MESSAGE: text that failed validation, no payload */
	bool truncated;    /* MESSAGE: cut before its end (framing error, close frame,
	                      end of stream): length counts the bytes seen, no payload */
	uint32_t frames;   /* MESSAGE: number of frames */
	uint64_t length;   /* MESSAGE: total payload bytes on the wire; control: payload bytes */
	uint64_t decoded_length; /* MESSAGE: bytes after inflation (decoded), else = length;
	                            after an inflate error: the bytes decoded before it */
	const uint8_t *excerpt;  /* MESSAGE: first min(length, excerpt) unmasked bytes */
	size_t excerpt_len;
	const uint8_t *payload; /* MESSAGE: whole unmasked (decoded) payload, NULL when
	                           oversized, invalid or not inflated; PING/PONG/CLOSE:
	                           the control payload */
	size_t payload_len;
	uint16_t close_code; /* CLOSE: code, 1005 when the payload is empty */
	const char *reason;  /* CLOSE: UTF-8 reason (not NUL-terminated) */
	size_t reason_len;
	enum sm_ws_reason error;  /* ERROR */
	uint16_t suggested_close; /* ERROR: close code an endpoint would send */
	bool fatal;               /* ERROR: the parser stopped */
	uint64_t offset;          /* stream offset just after the completing byte */
};

typedef void (*sm_ws_cb)(void *ctx, const struct sm_ws_event *ev);

struct sm_ws_config {
	enum sm_ws_dir dir;
	bool permessage_deflate; /* negotiated: RSV1 allowed on first data frames */
	uint32_t max_message;    /* reassembly limit; 0 = SM_WS_DEFAULT_MAX_MESSAGE */
	uint32_t excerpt;        /* 0 = SM_WS_DEFAULT_EXCERPT; capped at max_message */
	/* permessage-deflate decoding of this direction's sender (decode/inflate) */
	bool inflate;             /* inflate compressed messages (with permessage_deflate) */
	bool no_context_takeover; /* the sender resets its window after each message */
	uint32_t max_inflate;     /* decoded bytes per message before inflate_bomb;
	                             0 = max_message */
};

struct sm_ws_stats {
	uint64_t bytes;
	uint64_t frames;
	uint64_t messages;
	uint64_t control;
	uint64_t errors;
	uint64_t oversized;      /* SM_WS_R_TOO_BIG */
	size_t reassembly_hwm;   /* <= max_message */
	uint64_t inflated;       /* compressed messages decoded */
	uint64_t inflate_errors; /* SM_WS_R_INFLATE_* */
	uint64_t inflate_bombs;  /* SM_WS_R_INFLATE_BOMB */
	uint64_t skipped;        /* frames skipped unread after an error */
	uint64_t truncated;      /* SM_WS_R_TRUNCATED: messages (or frames) cut */
};

struct sm_ws;

/* Returns NULL on allocation failure, NULL cb, or max_message too large. */
struct sm_ws *sm_ws_new(const struct sm_ws_config *cfg, sm_ws_cb cb, void *ctx);
void sm_ws_free(struct sm_ws *p);

/* Returns len, or SM_ERR_PROTOCOL once a fatal error (bad_length) was
 * reported (by the feed that hit it and every later one), SM_ERR_STATE after
 * finish. */
long sm_ws_feed(struct sm_ws *p, const void *buf, size_t len);

/* End of stream: SM_OK on a frame boundary with no open message (or after a
 * close), SM_ERR_TRUNCATED otherwise, or the earlier fatal error (no event).
 * An open message is reported cut (TRUNCATED error, then its MESSAGE with
 * truncated set and the bytes seen); a frame cut with no message open gives
 * the TRUNCATED error alone; the rest of a frame being skipped, nothing. */
int sm_ws_finish(struct sm_ws *p);

const struct sm_ws_stats *sm_ws_stats(const struct sm_ws *p);

/* Stable names: "message", "ping", "pong", "close", "error";
 * reasons: "none", "mask_required", ... (see docs/parsers.md). */
const char *sm_ws_ev_type_str(enum sm_ws_ev_type t);
const char *sm_ws_reason_str(enum sm_ws_reason r);

/* Close codes valid on the wire: 1000-1003, 1007-1014, 3000-4999. */
bool sm_ws_close_code_valid(uint16_t code);

/* XOR n bytes of src with the 4-byte key starting at key byte `phase` (0..3)
 * into dst (dst may equal src). Word-at-a-time. Returns the next phase. */
unsigned sm_ws_unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                      unsigned phase);

#endif
