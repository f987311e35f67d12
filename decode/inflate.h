/* Streaming inflater (zlib) for compressed messages, sans-I/O.
 *
 * One object decodes a sequence of messages of one stream:
 *
 *   SM_INFLATE_RAW   permessage-deflate (RFC 7692): the messages of one
 *                    WebSocket direction, raw DEFLATE, 00 00 ff ff appended
 *                    at the end of each message (§7.2.2). The window is
 *                    always 32 KiB, whatever max_window_bits the sender
 *                    declared: zlib accepts a distance past a smaller window
 *                    when it points into the current output buffer, so a
 *                    sender overstepping its window would decode or fail
 *                    depending on how its bytes were split. With context
 *                    takeover the LZ77 window carries over from one message
 *                    to the next, so every byte of every message is inflated
 *                    (output past what the caller keeps is discarded, not
 *                    skipped); with no_context_takeover the window is reset
 *                    after each message.
 *   SM_INFLATE_GZIP  one gzip member per message (gRPC grpc-encoding gzip)
 *   SM_INFLATE_ZLIB  one zlib stream per message (gRPC grpc-encoding deflate)
 *
 * Per message: sm_inflate_feed() any number of times with the message's
 * compressed bytes, split anywhere, then sm_inflate_end(). Decoded bytes go
 * to the caller's buffer up to its capacity; the rest is inflated into a
 * scratch buffer and dropped but counted (sm_inflate_produced()). The output
 * and the outcome do not depend on how the input was split.
 *
 * Bounds: max_output decoded bytes per message. The moment a message would
 * produce more, the bytes up to the budget are delivered and the message
 * fails with reason bomb; the rest of it is not inflated, so the work per
 * message is bounded by the budget. Input after the end of a stream
 * (BFINAL block, gzip trailer) is ignored.
 *
 * Failure outcome: a failed message (corrupt, bomb, nomem, truncated)
 * returns its error from every later feed and from end. After end the next
 * message starts clean, except for RAW with context takeover: the window is
 * then unknown, so the stream is lost and every later feed and end returns
 * SM_ERR_STATE (reason no_context) without output (sm_inflate_usable()
 * tells the caller to stop feeding).
 *
 * Memory: the object (~200 bytes) at creation; zlib's state (~7 KiB) on the
 * first byte fed and its 32 KiB window on the first byte produced. A 4 KiB scratch buffer lives on
 * the stack of feed/end. Everything is released by sm_inflate_free(). */
#ifndef SM_DECODE_INFLATE_H
#define SM_DECODE_INFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_INFLATE_DEFAULT_MAX_OUTPUT (1u << 20)

enum sm_inflate_format {
	SM_INFLATE_RAW = 0,  /* raw DEFLATE (RFC 1951), permessage-deflate framing */
	SM_INFLATE_GZIP = 1, /* gzip (RFC 1952), one member per message */
	SM_INFLATE_ZLIB = 2, /* zlib (RFC 1950), one stream per message */
};

/* Why a message failed. Append-only: names appear in events. */
enum sm_inflate_reason {
	SM_INFLATE_OK = 0,
	SM_INFLATE_CORRUPT,    /* zlib rejected the data ("corrupt") */
	SM_INFLATE_BOMB,       /* more than max_output decoded bytes ("bomb") */
	SM_INFLATE_NOMEM,      /* zlib could not allocate ("nomem") */
	SM_INFLATE_TRUNCATED,  /* GZIP/ZLIB: message ended inside the stream ("truncated") */
	SM_INFLATE_NO_CONTEXT, /* RAW with context takeover after a failed message:
	                          the window is lost ("no_context") */
};

struct sm_inflate_config {
	enum sm_inflate_format format;
	bool no_context_takeover; /* RAW: the sender resets its window per message */
	uint64_t max_output;      /* decoded bytes per message; 0 = SM_INFLATE_DEFAULT_MAX_OUTPUT */
};

struct sm_inflate_stats {
	uint64_t messages;  /* messages ended */
	uint64_t in_bytes;  /* compressed bytes fed (tails not counted) */
	uint64_t out_bytes; /* decoded bytes, kept or dropped */
	uint64_t corrupt;   /* messages failed: corrupt */
	uint64_t bombs;     /* messages failed: bomb */
	uint64_t truncated; /* messages failed: truncated */
	uint64_t lost;      /* 1 once the context was lost (RAW, takeover) */
};

struct sm_inflate;

/* NULL on a bad config (unknown format) or no memory. */
struct sm_inflate *sm_inflate_new(const struct sm_inflate_config *cfg);
void sm_inflate_free(struct sm_inflate *z);

/* Inflates n compressed bytes of the current message. Decoded bytes are
 * written to out[*out_len .. out_cap) and *out_len advanced; bytes beyond
 * out_cap are dropped (still counted). Returns SM_OK, or the message's
 * failure: SM_ERR_INVALID (corrupt), SM_ERR_BOMB, SM_ERR_NOMEM, SM_ERR_STATE
 * (no_context). */
int sm_inflate_feed(struct sm_inflate *z, const uint8_t *in, size_t n, uint8_t *out, size_t out_cap,
                    size_t *out_len);

/* Ends the current message (RAW: inflates the 00 00 ff ff tail, which may
 * release more output into out as above). Returns SM_OK or the message's
 * failure (also SM_ERR_TRUNCATED for GZIP/ZLIB); the object is then ready
 * for the next message (unless lost). */
int sm_inflate_end(struct sm_inflate *z, uint8_t *out, size_t out_cap, size_t *out_len);

/* Decoded bytes of the current message so far (after end: of the message
 * just ended), kept or dropped. */
uint64_t sm_inflate_produced(const struct sm_inflate *z);

/* Reason of the current (or just ended) message's failure; SM_INFLATE_OK. */
enum sm_inflate_reason sm_inflate_reason(const struct sm_inflate *z);

/* false once the context is lost: later messages cannot be decoded. */
bool sm_inflate_usable(const struct sm_inflate *z);

const struct sm_inflate_stats *sm_inflate_stats(const struct sm_inflate *z);

/* "ok", "corrupt", "bomb", "nomem", "truncated", "no_context". */
const char *sm_inflate_reason_str(enum sm_inflate_reason r);

#endif
