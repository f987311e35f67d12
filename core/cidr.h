/* IPv4 and IPv6 address prefixes (CIDR blocks) and matching.
 *
 * One canonical form: IPv4-mapped IPv6 is folded into IPv4 on both sides.
 * An address ::ffff:a.b.c.d (what a dual-stack socket reports for an IPv4
 * peer) is matched as a.b.c.d, and a prefix written inside ::ffff:0:0/96 with
 * a length >= 96 is stored as the IPv4 prefix it denotes. So 10.0.0.0/8
 * matches both 10.1.2.3 and ::ffff:10.1.2.3, while an IPv6 prefix (even
 * ::/0) never matches an IPv4 or IPv4-mapped peer: write 0.0.0.0/0 for those.
 *
 * Host bits set after the prefix length (10.1.2.3/8) are an error, not
 * silently cleared: such a string is almost always a mistake for /32.
 * sm_cidr_parse still fills *out with the normalised block so the caller can
 * suggest it. A bare address is a full-length prefix (/32 or /128).
 * Pure functions, no allocation, no global state. */
#ifndef SM_CORE_CIDR_H
#define SM_CORE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text sm_cidr_format writes, with NUL ("ffff:...:ffff/128"). */
#define SM_CIDR_STRLEN 50

struct sm_cidr {
	uint8_t family;   /* AF_INET or AF_INET6 (never a mapped IPv6 prefix) */
	uint8_t prefix;   /* 0..32 for AF_INET, 0..128 for AF_INET6 */
	uint8_t addr[16]; /* network address, host bits zero; IPv4 in addr[0..3] */
};

/* Why a CIDR string was rejected. */
enum sm_cidr_reason {
	SM_CIDR_OK = 0,
	SM_CIDR_BAD_ADDRESS,   /* not an IPv4 or IPv6 address */
	SM_CIDR_BAD_PREFIX,    /* prefix length missing, not a number or too long */
	SM_CIDR_HOST_BITS_SET, /* bits set after the prefix; *out holds the normalised block */
};

/* Parse "ADDR", "ADDR/LEN" (IPv4 dotted quad or IPv6 text, no brackets).
 * s need not be NUL-terminated. Returns SM_CIDR_OK and fills *out, or a
 * reason (for SM_CIDR_HOST_BITS_SET, *out is the normalised block). */
enum sm_cidr_reason sm_cidr_parse(const char *s, size_t len, struct sm_cidr *out);

/* Stable text for a reason ("bad address", ...). */
const char *sm_cidr_reason_str(enum sm_cidr_reason r);

/* Canonical text of a block into buf (at least SM_CIDR_STRLEN bytes are
 * always enough). Returns the length written, or -1 if cap is too small. */
int sm_cidr_format(const struct sm_cidr *c, char *buf, size_t cap);

/* Address of a socket as (family, 16 bytes), with IPv4-mapped IPv6 folded to
 * AF_INET. Returns false if sa is NULL or not AF_INET/AF_INET6. */
bool sm_cidr_addr_from_sockaddr(const struct sockaddr *sa, uint8_t *family, uint8_t addr[16]);

/* True if the folded address (family, addr) lies inside c. */
bool sm_cidr_contains(const struct sm_cidr *c, uint8_t family, const uint8_t addr[16]);

/* True if the socket address lies inside c (mapped IPv6 folded first). */
bool sm_cidr_match_sockaddr(const struct sm_cidr *c, const struct sockaddr *sa);

#endif
