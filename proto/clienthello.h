/* ClientHello peek: a bounded, incremental, sans-I/O observer of the first
 * bytes a client sends after CONNECT.
 *
 * The caller feeds the bytes in arrival order, in any split (TCP segments,
 * several TLS records, one byte at a time). The parser never consumes them:
 * the caller keeps every byte to replay into the TLS library once policy has
 * decided. It reassembles only the handshake message (record headers are
 * stripped) into caller-provided scratch memory whose size is the limit.
 *
 * Outcomes (sm_clienthello_feed):
 *   SM_AGAIN          need more bytes
 *   SM_OK             complete: the fields below are valid
 *   SM_ERR_PROTOCOL   reason NOT_TLS: the first byte is not a TLS handshake
 *                     record (0x16) with a sane version; known from byte 1
 *                     (or 3) so policy can tunnel or refuse at once
 *   SM_ERR_LIMIT      reason TOO_LARGE: the ClientHello is larger than the
 *                     scratch memory
 *   SM_ERR_INVALID    malformed; reason says where
 *   SM_ERR_TRUNCATED  only from sm_clienthello_finish(): the stream ended
 *                     before the ClientHello did
 * The outcome is sticky: once done or failed, further feeds return it again
 * and look at nothing.
 *
 * GREASE values (RFC 8701) in cipher suites, extensions, versions and ALPN
 * are skipped and counted, never reported as data. */
#ifndef SM_PROTO_CLIENTHELLO_H
#define SM_PROTO_CLIENTHELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Scratch size that admits any ClientHello seen in practice (post-quantum
 * key shares are ~1.9 KB) with room to spare: one full TLS record. */
#define SM_CLIENTHELLO_MAX_DEFAULT  16384u
#define SM_CLIENTHELLO_SNI_MAX      255u /* RFC 6066 HostName is <= 255 bytes */
#define SM_CLIENTHELLO_ALPN_MAX     16u  /* protocols kept; more are counted */
#define SM_CLIENTHELLO_ALPN_BYTES   256u /* bytes of protocol names kept */
#define SM_CLIENTHELLO_VERSIONS_MAX 16u  /* supported_versions entries kept */

/* Why a ClientHello was refused. Append-only: names appear in events. */
enum sm_clienthello_reason {
	SM_CH_NONE = 0,               /* no error (yet) */
	SM_CH_NOT_TLS,                /* first record is not TLS handshake 0x16 + version 3.x */
	SM_CH_TOO_LARGE,              /* handshake message larger than the scratch limit */
	SM_CH_TRUNCATED,              /* stream ended inside the ClientHello */
	SM_CH_RECORD_LENGTH,          /* record length 0 or above 2^14 */
	SM_CH_RECORD_TYPE,            /* non-handshake record before the ClientHello ended */
	SM_CH_RECORD_VERSION,         /* later record with a version other than 3.x */
	SM_CH_NOT_CLIENT_HELLO,       /* first handshake message is not client_hello (1) */
	SM_CH_BAD_LENGTH,             /* a length field runs past its container */
	SM_CH_BAD_VERSION,            /* legacy_version is not 3.x */
	SM_CH_BAD_SESSION_ID,         /* session id longer than 32 */
	SM_CH_BAD_CIPHER_SUITES,      /* empty or odd-length cipher suite list */
	SM_CH_BAD_COMPRESSION,        /* empty compression method list */
	SM_CH_BAD_EXTENSIONS,         /* extension block framing is wrong */
	SM_CH_DUPLICATE_EXTENSION,    /* one extension type twice */
	SM_CH_BAD_SNI,                /* server_name malformed, two host_names, or bad bytes */
	SM_CH_BAD_ALPN,               /* ALPN list malformed or an empty protocol */
	SM_CH_BAD_SUPPORTED_VERSIONS, /* supported_versions malformed */
};

enum sm_clienthello_state {
	SM_CH_S_RECORD_HEADER = 0, /* collecting a 5-byte record header */
	SM_CH_S_RECORD_BODY,       /* copying record payload into scratch */
	SM_CH_S_DONE,              /* complete; results valid */
	SM_CH_S_FAILED,            /* reason set */
};

struct sm_clienthello {
	/* --- parser state (private) --- */
	enum sm_clienthello_state state;
	uint8_t hdr[5];
	uint8_t hdr_have;
	uint16_t record_left; /* payload bytes left in the current record */
	uint8_t *scratch;     /* caller's memory; holds the handshake message */
	size_t cap;           /* scratch size = size limit of the message */
	size_t have;          /* bytes of handshake message in scratch */
	size_t need;          /* 4 + message length once known, else 0 */
	int result;           /* sticky outcome once DONE or FAILED */

	/* --- observations --- */
	enum sm_clienthello_reason reason;
	uint64_t bytes_seen;     /* stream bytes fed so far (until done) */
	uint32_t records;        /* records that carried the ClientHello */
	uint16_t record_version; /* version in the first record header */
	uint16_t legacy_version; /* ClientHello.legacy_version */
	uint16_t max_version;    /* highest offered (supported_versions, else legacy) */
	uint32_t message_len;    /* ClientHello body length (without the 4-byte header) */
	uint16_t cipher_suites;  /* non-GREASE cipher suites offered */
	uint16_t extensions;     /* non-GREASE extensions present */
	uint16_t grease;         /* GREASE values skipped, all fields */
	bool has_sni;
	bool has_alpn;
	bool has_supported_versions;
	bool has_ech;            /* encrypted_client_hello (0xfe0d) present */
	bool has_session_ticket; /* session_ticket extension present */
	bool has_psk;            /* pre_shared_key present (resumption) */

	/* server_name host_name, NUL-terminated, as sent (no case folding) */
	char sni[SM_CLIENTHELLO_SNI_MAX + 1];
	uint16_t sni_len;

	/* ALPN: protocols in offer order; names packed in alpn_buf */
	uint8_t alpn_count;
	uint8_t alpn_dropped; /* protocols beyond the limits above */
	uint16_t alpn_off[SM_CLIENTHELLO_ALPN_MAX];
	uint8_t alpn_len[SM_CLIENTHELLO_ALPN_MAX];
	uint8_t alpn_buf[SM_CLIENTHELLO_ALPN_BYTES];

	/* supported_versions in offer order, GREASE removed */
	uint8_t version_count;
	uint16_t versions[SM_CLIENTHELLO_VERSIONS_MAX];
};

/* Prepares p to observe one stream. scratch (cap bytes, cap >= 64) must
 * outlive p; cap bounds the ClientHello message size (4-byte header
 * included). */
void sm_clienthello_init(struct sm_clienthello *p, uint8_t *scratch, size_t cap);

/* Observes the next len bytes of the client stream. Returns SM_AGAIN, SM_OK
 * or a negative sm_result (see above); never consumes. */
int sm_clienthello_feed(struct sm_clienthello *p, const uint8_t *data, size_t len);

/* The stream ended (EOF): returns the final outcome; SM_ERR_TRUNCATED with
 * reason SM_CH_TRUNCATED when the ClientHello was still incomplete. */
int sm_clienthello_finish(struct sm_clienthello *p);

/* The i-th offered ALPN protocol (0 <= i < alpn_count): bytes + length. */
const uint8_t *sm_clienthello_alpn(const struct sm_clienthello *p, unsigned i, size_t *len);

/* True when proto (len bytes) is among the offered ALPN protocols. */
bool sm_clienthello_offers_alpn(const struct sm_clienthello *p, const char *proto, size_t len);

/* True for RFC 8701 GREASE values (0x0a0a, 0x1a1a, ... 0xfafa). */
bool sm_clienthello_is_grease(uint16_t v);

/* Stable lower-case name of a reason ("none", "not_tls", "too_large"...). */
const char *sm_clienthello_reason_str(enum sm_clienthello_reason r);

/* "tls1.3", "tls1.2", "tls1.1", "tls1.0", "ssl3.0" or "unknown". */
const char *sm_clienthello_version_str(uint16_t v);

#endif
