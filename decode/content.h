/* Content decoders (Content-Encoding), curl style: a small table of const
 * vtables and a capped stack built from the header's coding list.
 *
 *   gzip, x-gzip  libdeflate, one-shot: compressed input is buffered up to
 *                 max_input (more -> too_large), decoded at finish;
 *                 concatenated members are decoded, trailing non-gzip bytes
 *                 after a member are ignored
 *   deflate       libdeflate, zlib-wrapped (RFC 1950) when the first two
 *                 bytes form a valid zlib header and decode as such, raw
 *                 deflate (RFC 1951) otherwise, as browsers do
 *   br            libbrotlidec, streaming
 *   zstd          libzstd, streaming, window capped by max_window_log
 *   identity      pass-through
 *
 * Prefix mode (lim.prefix > 0): a stack of decoders stops as soon as it has
 * delivered lim.prefix bytes; the rest of the input is taken and ignored,
 * and nothing past the prefix is checked (sm_content.cut says it happened).
 * For observers that quote the first bytes of a body: the work per body is
 * bounded by the prefix, not by the body. gzip and deflate then stream with
 * zlib (SM_CONTENT_PIECE pieces, as below) instead of buffering the body
 * for libdeflate; a zlib header whose stream fails before its first output
 * byte is retried as raw deflate (the one-shot decoder retries on any
 * failure). A stack without decoders (identity) passes everything: the
 * consumer counts the body's length itself.
 *
 * Every decoder (but identity) has an output budget, max_output: the moment
 * a decoder would produce more, it delivers the bytes up to the budget and
 * fails with reason `bomb` (SM_ERR_BOMB) without producing the rest. The
 * one-shot decoders decode into a buffer of at most max_output bytes, so
 * their memory is bounded by max_input + max_output; the streaming ones use
 * a fixed SM_CONTENT_CHUNK output buffer plus the library's window.
 *
 * The streaming decoders are handed their input in SM_CONTENT_PIECE pieces
 * cut at fixed offsets of the encoded stream; a partial piece waits for more
 * input or finish. Their output timing, and so everything downstream, is
 * then the same however the body was split, corrupt streams included. Cost:
 * up to SM_CONTENT_PIECE - 1 encoded bytes are held back until more arrive.
 *
 * A decoder that saw no input at all finishes successfully with no output
 * (bodies of HEAD/304 responses still carry Content-Encoding).
 */
#ifndef SM_DECODE_CONTENT_H
#define SM_DECODE_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_CONTENT_MAX_STACK 4     /* codings in one Content-Encoding list */
#define SM_CONTENT_CHUNK     16384 /* output buffer of the streaming decoders */
#define SM_CONTENT_PIECE     1024  /* streaming decoders consume input in pieces of this size */

struct sm_content_limits {
	size_t max_input;        /* one-shot decoders: compressed bytes buffered */
	size_t max_output;       /* decoded bytes per decoder (bomb budget) */
	unsigned max_window_log; /* zstd window log cap (10..31); 0 = 23 (8 MiB) */
	size_t prefix;           /* > 0: prefix mode (above), at most max_output */
};

/* Why decoding failed. Append-only: names appear in events. */
enum sm_content_reason {
	SM_CONTENT_OK = 0,
	SM_CONTENT_UNKNOWN,   /* coding name not supported ("unknown") */
	SM_CONTENT_TOO_DEEP,  /* more than SM_CONTENT_MAX_STACK codings ("too_deep") */
	SM_CONTENT_TOO_LARGE, /* input over max_input, or zstd window over cap ("too_large") */
	SM_CONTENT_BOMB,      /* output over max_output ("bomb") */
	SM_CONTENT_CORRUPT,   /* the library rejected the data ("corrupt") */
	SM_CONTENT_TRUNCATED, /* input ended inside a stream ("truncated") */
	SM_CONTENT_TRAILING,  /* bytes after the end of a br stream ("trailing") */
	SM_CONTENT_NOMEM,     /* allocation failed ("nomem") */
	SM_CONTENT_SINK,      /* the consumer refused the output ("sink") */
};

/* Consumer of decoded bytes. Returns 0 to continue, non-zero to stop (the
 * decoder then fails with SM_CONTENT_SINK). */
typedef int (*sm_content_sink_fn)(void *arg, const uint8_t *p, size_t n);

/* One decoder. Functions return an sm_content_reason (0 = ok). write may be
 * called any number of times, finish once; free is always called. */
struct sm_content_vtable {
	const char *name;
	size_t ctx_size;
	int (*init)(void *ctx, const struct sm_content_limits *lim);
	int (*write)(void *ctx, const uint8_t *in, size_t n, sm_content_sink_fn sink, void *arg);
	int (*finish)(void *ctx, sm_content_sink_fn sink, void *arg);
	void (*free)(void *ctx);
};

/* Looks a coding name up, case-insensitively (NULL when unknown). */
const struct sm_content_vtable *sm_content_find(const char *name, size_t len);

struct sm_content;

/* Where a stage hands its output: the next decoder or the user sink. */
struct sm_content_link {
	struct sm_content *owner;
	unsigned idx;
};

/* A stack of decoders for one message body. stage[0] decodes first: it is
 * the LAST coding listed in the header (codings apply in listed order). */
struct sm_content {
	struct sm_content_limits lim;
	unsigned n;
	const struct sm_content_vtable *vt[SM_CONTENT_MAX_STACK];
	void *ctx[SM_CONTENT_MAX_STACK];
	struct sm_content_link link[SM_CONTENT_MAX_STACK];
	sm_content_sink_fn sink;
	void *sink_arg;
	int result;                    /* sticky: first failure */
	enum sm_content_reason reason; /* reason of that failure */
	int failed_stage;              /* index into vt[] of the failing decoder, or -1 */
	bool finished;
	bool cut;   /* prefix mode: lim.prefix bytes delivered, decoding stopped
	               and the decoders freed (n = 0) */
	size_t out; /* bytes delivered to the sink (counted in prefix mode) */
};

/* Parses a Content-Encoding value ("gzip, br"; OWS and empty elements
 * allowed; case-insensitive) and allocates one context per coding. An empty
 * list builds an empty stack that passes bytes through. Returns SM_OK,
 * SM_ERR_UNSUPPORTED (unknown coding), SM_ERR_LIMIT (too many codings),
 * SM_ERR_NOMEM; on failure c->reason is set and nothing stays allocated. */
int sm_content_init(struct sm_content *c, const char *header, size_t len,
                    const struct sm_content_limits *lim, sm_content_sink_fn sink, void *arg);

/* Feeds encoded bytes. Returns SM_OK, or a negative result (sticky):
 * SM_ERR_BOMB, SM_ERR_LIMIT (too_large), SM_ERR_INVALID (corrupt, trailing),
 * SM_ERR_NOMEM, SM_ERR_STATE (sink refused, or called after finish). */
int sm_content_write(struct sm_content *c, const uint8_t *p, size_t n);

/* Ends the body: flushes the one-shot decoders. Also SM_ERR_TRUNCATED. */
int sm_content_finish(struct sm_content *c);

void sm_content_free(struct sm_content *c);

/* Stable lower-case reason name. */
const char *sm_content_reason_str(enum sm_content_reason r);

/* Name of the failing decoder ("" when none failed). */
const char *sm_content_failed_name(const struct sm_content *c);

#endif
