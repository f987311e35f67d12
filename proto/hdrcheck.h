/* The one header-field validator, shared by HTTP/1.1 (llhttp) and HTTP/2
 * (nghttp2) callers. It works on name/value byte spans and never copies.
 *
 * Per field (sm_hdrcheck_field):
 *  - name: 1*tchar (RFC 9110 §5.6.2); a space before the colon therefore
 *    shows up as a bad name char.
 *  - value: SP, HTAB, VCHAR and obs-text (0x80..0xff, allowed by RFC 9110
 *    §5.5 and seen in real traffic) only. NUL, CR, LF, DEL and the other
 *    controls are refused; "CRLF SP" inside a value is reported as obs-fold.
 *    The caller passes the value with leading and trailing OWS removed or not:
 *    SP/HTAB are legal anywhere in the span.
 *
 * Per message (sm_hdrcheck_msg, fed every field in order):
 *  - Content-Length must be 1*DIGIT (OWS around allowed), at most 18 digits.
 *    A list ("1, 2" and also "5, 5") and a repeated Content-Length field (even
 *    with the same value) are refused: strictness beats RFC 9110 §8.6's
 *    "MAY accept identical values", since every lenient rule is a smuggling
 *    surface between us and the peer.
 *  - Transfer-Encoding: the coding list over all TE fields must be exactly
 *    "chunked" (case-insensitive, OWS allowed). "chunked" not last, twice, or
 *    an empty list is a framing fault; any other coding (gzip, ...) is
 *    unsupported (HTTP/1.1 answers 501). Transfer-Encoding in an HTTP/1.0
 *    message, and any Transfer-Encoding in HTTP/2, is refused.
 *  - Content-Length together with Transfer-Encoding is refused.
 *  - Requests: more than one Host field is refused.
 * Any refusal is final: the message must not be forwarded.
 *
 * HTTP/2 callers pass regular fields only: pseudo-header fields (":path",
 * ...) and the lower-case rule for names are theirs (nghttp2 checks both). */
#ifndef SM_PROTO_HDRCHECK_H
#define SM_PROTO_HDRCHECK_H

#include <stddef.h>
#include <stdint.h>

/* Why a field or message was refused. Append-only (logged). */
enum sm_hdrcheck_reason {
	SM_HDRCHECK_OK = 0,
	SM_HDRCHECK_NAME_EMPTY,     /* zero-length field name */
	SM_HDRCHECK_NAME_CHAR,      /* non-tchar in name (space before colon, '@', ...) */
	SM_HDRCHECK_VALUE_NUL,      /* NUL byte in value */
	SM_HDRCHECK_VALUE_CTL,      /* other control byte or DEL in value */
	SM_HDRCHECK_BARE_CR,        /* CR not followed by LF */
	SM_HDRCHECK_BARE_LF,        /* LF not preceded by CR */
	SM_HDRCHECK_OBS_FOLD,       /* line folding (CRLF followed by SP/HTAB) */
	SM_HDRCHECK_CL_INVALID,     /* Content-Length not 1*DIGIT or too large */
	SM_HDRCHECK_CL_LIST,        /* "Content-Length: 1, 2" (any list) */
	SM_HDRCHECK_CL_REPEATED,    /* more than one Content-Length field */
	SM_HDRCHECK_CL_AND_TE,      /* Content-Length and Transfer-Encoding */
	SM_HDRCHECK_TE_NOT_CHUNKED, /* chunked absent, not last, twice, or empty list */
	SM_HDRCHECK_TE_UNSUPPORTED, /* a transfer coding other than chunked */
	SM_HDRCHECK_TE_HTTP10,      /* Transfer-Encoding in an HTTP/1.0 message */
	SM_HDRCHECK_TE_HTTP2,       /* Transfer-Encoding in HTTP/2 */
	SM_HDRCHECK_HOST_REPEATED,  /* more than one Host field in a request */
};

/* Validates one field; returns SM_HDRCHECK_OK or the first fault. */
enum sm_hdrcheck_reason sm_hdrcheck_field(const uint8_t *name, size_t nlen, const uint8_t *value,
                                          size_t vlen);

/* Only the name or only the value (same rules as above). */
enum sm_hdrcheck_reason sm_hdrcheck_name(const uint8_t *name, size_t nlen);
enum sm_hdrcheck_reason sm_hdrcheck_value(const uint8_t *value, size_t vlen);

/* Case-insensitive compare of a span with a lower-case C string. */
int sm_hdrcheck_name_is(const uint8_t *name, size_t nlen, const char *lower);

/* 1 if a field of this name must not be in a trailer section (RFC 9110
 * §6.5.1): framing (Content-Length, Transfer-Encoding), routing (Host),
 * connection control (Connection, Keep-Alive, Proxy-Connection, TE,
 * Upgrade), Trailer and content handling (Content-Encoding, Content-Type,
 * Content-Range). A recipient that merges trailers into the head would act
 * on them: HTTP/1.1 refuses such a section (sm_h1frame), HTTP/2 drops the
 * field. The longest such name is SM_HDRCHECK_TRAILER_NAME_MAX bytes. */
int sm_hdrcheck_trailer_forbidden(const uint8_t *name, size_t nlen);
#define SM_HDRCHECK_TRAILER_NAME_MAX 17

/* 1 if the comma-separated list (a Connection value: "close, Foo") holds
 * the token tok (case-insensitive, OWS and empty elements skipped). */
int sm_hdrcheck_list_has(const uint8_t *list, size_t len, const uint8_t *tok, size_t tlen);

/* Message flags for sm_hdrcheck_msg_init(). */
#define SM_HDRCHECK_REQUEST 0x1u /* Host rule applies */
#define SM_HDRCHECK_HTTP10  0x2u /* Transfer-Encoding forbidden */
#define SM_HDRCHECK_HTTP2   0x4u /* Transfer-Encoding forbidden */

/* Framing the message declared, valid once sm_hdrcheck_msg_finish() is OK. */
enum sm_hdrcheck_framing {
	SM_HDRCHECK_FRAMING_NONE = 0, /* neither Content-Length nor Transfer-Encoding */
	SM_HDRCHECK_FRAMING_LENGTH,   /* Content-Length: content_length */
	SM_HDRCHECK_FRAMING_CHUNKED,  /* Transfer-Encoding: chunked */
};

/* Cross-field state of one message. Plain value; no resources. */
struct sm_hdrcheck_msg {
	uint64_t content_length;        /* valid when framing == LENGTH */
	uint32_t fields;                /* fields added so far */
	uint8_t flags;                  /* SM_HDRCHECK_REQUEST | _HTTP10 | _HTTP2 */
	uint8_t framing;                /* enum sm_hdrcheck_framing */
	uint8_t seen;                   /* internal: which singleton fields were seen */
	uint8_t te_state;               /* internal: TE list progress */
	enum sm_hdrcheck_reason reason; /* first fault, sticky */
};

void sm_hdrcheck_msg_init(struct sm_hdrcheck_msg *m, unsigned flags);

/* Validates a field and applies the cross-field rules. Returns the sticky
 * reason: once a fault is recorded every later call returns it. */
enum sm_hdrcheck_reason sm_hdrcheck_msg_add(struct sm_hdrcheck_msg *m, const uint8_t *name,
                                            size_t nlen, const uint8_t *value, size_t vlen);

/* Rules that need the whole field section (CL+TE, TE ending in chunked). */
enum sm_hdrcheck_reason sm_hdrcheck_msg_finish(struct sm_hdrcheck_msg *m);

/* Stable snake_case name of a reason. */
const char *sm_hdrcheck_reason_str(enum sm_hdrcheck_reason r);

#endif
