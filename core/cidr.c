#include "core/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool clear_host_bits(uint8_t *addr, unsigned nbytes, unsigned prefix)
{
	bool had = false;
	for (unsigned i = 0; i < nbytes; i++) {
		unsigned bit0 = i * 8;
		uint8_t keep;
		if (bit0 + 8 <= prefix)
			keep = 0xff;
		else if (bit0 >= prefix)
			keep = 0;
		else
			keep = (uint8_t)(0xff << (8 - (prefix - bit0)));
		if (addr[i] & ~keep)
			had = true;
		addr[i] &= keep;
	}
	return had;
}

enum sm_cidr_reason sm_cidr_parse(const char *s, size_t len, struct sm_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	memset(out, 0, sizeof(*out));
	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
		return SM_CIDR_BAD_ADDRESS;
	memcpy(buf, s, len);
	buf[len] = '\0';

	char *slash = strchr(buf, '/');
	long prefix = -1;
	if (slash) {
		*slash = '\0';
		const char *p = slash + 1;
		size_t n = strlen(p);
		if (n == 0 || n > 3)
			return SM_CIDR_BAD_PREFIX;
		prefix = 0;
		for (size_t i = 0; i < n; i++) {
			if (p[i] < '0' || p[i] > '9')
				return SM_CIDR_BAD_PREFIX;
			prefix = prefix * 10 + (p[i] - '0');
		}
	}

	unsigned maxbits;
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		maxbits = 128;
	} else {
		return SM_CIDR_BAD_ADDRESS;
	}
	if (prefix < 0)
		prefix = maxbits;
	if ((unsigned long)prefix > maxbits)
		return SM_CIDR_BAD_PREFIX;

	/* Fold ::ffff:a.b.c.d/96+ into IPv4 so one canonical form exists. */
	if (out->family == AF_INET6 && prefix >= 96 &&
	    memcmp(out->addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->family = AF_INET;
		prefix -= 96;
		maxbits = 32;
	}
	out->prefix = (uint8_t)prefix;
	if (clear_host_bits(out->addr, maxbits / 8, (unsigned)prefix))
		return SM_CIDR_HOST_BITS_SET;
	return SM_CIDR_OK;
}

const char *sm_cidr_reason_str(enum sm_cidr_reason r)
{
	switch (r) {
	case SM_CIDR_OK: return "ok";
	case SM_CIDR_BAD_ADDRESS: return "bad address";
	case SM_CIDR_BAD_PREFIX: return "bad prefix length";
	case SM_CIDR_HOST_BITS_SET: return "host bits set";
	}
	return "unknown";
}

int sm_cidr_format(const struct sm_cidr *c, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];
	if (!inet_ntop(c->family == AF_INET ? AF_INET : AF_INET6, c->addr, a, sizeof(a)))
		return -1;
	int n = snprintf(buf, cap, "%s/%u", a, (unsigned)c->prefix);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return n;
}

bool sm_cidr_addr_from_sockaddr(const struct sockaddr *sa, uint8_t *family, uint8_t addr[16])
{
	if (!sa)
		return false;
	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(addr, &in->sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *b = in6->sin6_addr.s6_addr;
		if (memcmp(b, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
			memcpy(addr, b + 12, 4);
			*family = AF_INET;
		} else {
			memcpy(addr, b, 16);
			*family = AF_INET6;
		}
		return true;
	}
	return false;
}

bool sm_cidr_contains(const struct sm_cidr *c, uint8_t family, const uint8_t addr[16])
{
	if (c->family != family)
		return false;
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	if (memcmp(c->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (addr[full] & mask) == c->addr[full];
}

bool sm_cidr_match_sockaddr(const struct sm_cidr *c, const struct sockaddr *sa)
{
	uint8_t fam, addr[16];
	if (!sm_cidr_addr_from_sockaddr(sa, &fam, addr))
		return false;
	return sm_cidr_contains(c, fam, addr);
}
