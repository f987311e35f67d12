/* Strict authority parsing for proxy request targets.
 *
 * Two entry points, both pure functions over a caller's byte span:
 *  - sm_authority_parse(): authority-form, as in "CONNECT host:port" and the
 *    host[:port] part of an absolute URL;
 *  - sm_authority_parse_url(): absolute-form "http://host[:port]/path?query"
 *    as sent to a forward proxy, giving the authority and the origin-form
 *    target to send upstream.
 *
 * Decisions (RFC 3986 / 9112, narrowed on purpose):
 *  - host is a DNS name (LDH labels: letters, digits, hyphen, not starting or
 *    ending with a hyphen; 1..63 bytes each; no empty label; at most 253 bytes),
 *    a strict dotted-quad IPv4 address (exactly 4 decimal parts, 0..255, no
 *    leading zeros), or a bracketed IPv6 address. Underscores are rejected.
 *  - one trailing dot on a name is accepted and stripped ("a.example." and
 *    "a.example" are the same host for policy and DNS).
 *  - a name whose last label is all digits, or looks like hex ("0x1f"), is an
 *    IPv4 literal attempt and must be a strict dotted quad: "1.2.3", "01.2.3.4"
 *    and "0x7f.1" are rejected rather than given to a resolver that would read
 *    them as numbers.
 *  - IPv6 zone ids ("%25eth0") are rejected; IPv4-mapped forms are accepted.
 *  - the port is 1..5 decimal digits, no leading zero, value 1..65535; an empty
 *    port ("host:") is rejected everywhere.
 *  - URLs: scheme "http" (any case) only; another well-formed scheme is
 *    reported as unsupported; userinfo ("user@host") and fragments ("#x") are
 *    rejected; the path and query must be visible ASCII (0x21..0x7e).
 *
 * The host is normalised: names lower case without the trailing dot, IPv6 in
 * the canonical inet_ntop() form without brackets. */
#ifndef SM_PROTO_AUTHORITY_H
#define SM_PROTO_AUTHORITY_H

#include <stddef.h>
#include <stdint.h>

#define SM_AUTHORITY_NAME_MAX  253 /* longest DNS name, without trailing dot */
#define SM_AUTHORITY_HOST_CAP  256 /* sm_authority.host buffer, NUL included */
#define SM_AUTHORITY_INPUT_MAX 300 /* longest authority span accepted */

enum sm_authority_kind {
	SM_AUTHORITY_NONE = 0,
	SM_AUTHORITY_NAME = 1, /* DNS name */
	SM_AUTHORITY_IPV4 = 2, /* dotted quad */
	SM_AUTHORITY_IPV6 = 3, /* bracketed in the input, bare in host */
};

/* Why an authority or URL was refused. Append-only (logged). */
enum sm_authority_reason {
	SM_AUTHORITY_OK = 0,
	SM_AUTHORITY_EMPTY,              /* no host at all */
	SM_AUTHORITY_TOO_LONG,           /* input span or name over its limit */
	SM_AUTHORITY_LABEL_EMPTY,        /* "a..b", ".a" */
	SM_AUTHORITY_LABEL_TOO_LONG,     /* label over 63 bytes */
	SM_AUTHORITY_LABEL_HYPHEN,       /* label starts or ends with '-' */
	SM_AUTHORITY_BAD_CHAR,           /* byte not allowed in a host name */
	SM_AUTHORITY_BAD_IPV4,           /* numeric host that is no strict dotted quad */
	SM_AUTHORITY_BAD_IPV6,           /* bracketed text inet_pton refuses */
	SM_AUTHORITY_ZONE_ID,            /* IPv6 zone id present */
	SM_AUTHORITY_PORT_MISSING,       /* no ":port" where one is required */
	SM_AUTHORITY_PORT_EMPTY,         /* "host:" */
	SM_AUTHORITY_PORT_INVALID,       /* non-digit, leading zero, too many digits */
	SM_AUTHORITY_PORT_RANGE,         /* 0 or above 65535 */
	SM_AUTHORITY_USERINFO,           /* "user@host" */
	SM_AUTHORITY_NOT_ABSOLUTE,       /* URL without "scheme://" */
	SM_AUTHORITY_SCHEME_UNSUPPORTED, /* well-formed scheme other than http */
	SM_AUTHORITY_FRAGMENT,           /* '#' in a request target */
	SM_AUTHORITY_BAD_PATH,           /* control, space or non-ASCII byte in path/query */
};

struct sm_authority {
	char host[SM_AUTHORITY_HOST_CAP]; /* NUL-terminated, normalised */
	uint16_t host_len;                /* strlen(host) */
	uint16_t port;                    /* 1..65535 */
	uint8_t kind;                     /* enum sm_authority_kind */
	uint8_t port_explicit;            /* 1 if the input carried ":port" */
};

/* Flags for sm_authority_parse(). */
#define SM_AUTHORITY_PORT_REQUIRED 0x1u /* CONNECT: ":port" must be present */

/* Parses an authority-form span "host[:port]". default_port is used when no
 * port is given and SM_AUTHORITY_PORT_REQUIRED is not set. Returns SM_OK or
 * SM_ERR_INVALID; *why (optional) gets the reason either way. *out is
 * written only on success. */
int sm_authority_parse(const uint8_t *s, size_t len, unsigned flags, uint16_t default_port,
                       struct sm_authority *out, enum sm_authority_reason *why);

/* An absolute-form target split for forwarding. Offsets index the input. */
struct sm_url {
	struct sm_authority auth;
	uint32_t authority_off, authority_len; /* raw "host[:port]" as sent */
	uint32_t origin_off, origin_len;       /* "/path?query" (may be empty) */
	uint8_t origin_needs_slash;            /* 1: path was empty; send "/" before origin */
};

/* Parses "http://authority[/path][?query]" (port 80 by default). Returns
 * SM_OK, SM_ERR_UNSUPPORTED (another scheme) or SM_ERR_INVALID; *why gets
 * the reason. Only the span is read; no NUL terminator is needed. */
int sm_authority_parse_url(const uint8_t *s, size_t len, struct sm_url *out,
                           enum sm_authority_reason *why);

/* True when a and b name the same host and port (host compared exactly:
 * both are normalised). */
int sm_authority_equal(const struct sm_authority *a, const struct sm_authority *b);

/* Stable snake_case name of a reason. */
const char *sm_authority_reason_str(enum sm_authority_reason r);

#endif
