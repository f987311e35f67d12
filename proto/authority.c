/* Strict authority and absolute-URL parsing; see authority.h for the rules. */
#include "proto/authority.h"

#include <arpa/inet.h>
#include <string.h>

#include "base/result.h"

static int fail(enum sm_authority_reason r, enum sm_authority_reason *why)
{
	if (why)
		*why = r;
	return r == SM_AUTHORITY_SCHEME_UNSUPPORTED ? SM_ERR_UNSUPPORTED : SM_ERR_INVALID;
}

static int is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_hex(uint8_t c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* Strict dotted quad: 4 parts, 1..3 digits, no leading zero, <= 255. */
static int parse_ipv4(const uint8_t *s, size_t len)
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
		size_t start = i;
		unsigned v = 0;
		while (i < len && is_digit(s[i]) && i - start < 3) {
			v = v * 10 + (unsigned)(s[i] - '0');
			i++;
		}
		size_t n = i - start;
		if (n == 0 || v > 255 || (n > 1 && s[start] == '0'))
			return 0;
	}
	return i == len;
}

/* LDH name with the rules in authority.h; writes the normalised host. */
static int parse_name(const uint8_t *s, size_t len, struct sm_authority *out,
                      enum sm_authority_reason *why)
{
	if (len > 0 && s[len - 1] == '.')
		len--; /* one trailing dot: absolute name, same host */
	if (len == 0)
		return fail(SM_AUTHORITY_EMPTY, why);
	if (len > SM_AUTHORITY_NAME_MAX)
		return fail(SM_AUTHORITY_TOO_LONG, why);

	size_t label_start = 0;
	int last_all_digits = 1;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			size_t n = i - label_start;
			if (n == 0)
				return fail(SM_AUTHORITY_LABEL_EMPTY, why);
			if (n > 63)
				return fail(SM_AUTHORITY_LABEL_TOO_LONG, why);
			if (s[label_start] == '-' || s[i - 1] == '-')
				return fail(SM_AUTHORITY_LABEL_HYPHEN, why);
			if (i < len) {
				label_start = i + 1;
				last_all_digits = 1;
			}
			continue;
		}
		uint8_t c = s[i];
		if (!is_alpha(c) && !is_digit(c) && c != '-')
			return fail(SM_AUTHORITY_BAD_CHAR, why);
		if (!is_digit(c))
			last_all_digits = 0;
	}
	/* A numeric or hex-looking last label means an IPv4 literal attempt. */
	size_t ll = len - label_start;
	const uint8_t *l = s + label_start;
	int hexish = ll >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X');
	for (size_t i = 2; hexish && i < ll; i++)
		hexish = is_hex(l[i]);
	if (last_all_digits || hexish) {
		if (!parse_ipv4(s, len))
			return fail(SM_AUTHORITY_BAD_IPV4, why);
		out->kind = SM_AUTHORITY_IPV4;
	} else {
		out->kind = SM_AUTHORITY_NAME;
	}
	for (size_t i = 0; i < len; i++)
		out->host[i] = (char)lower(s[i]);
	out->host[len] = '\0';
	out->host_len = (uint16_t)len;
	return SM_OK;
}

static int parse_ipv6(const uint8_t *s, size_t len, struct sm_authority *out,
                      enum sm_authority_reason *why)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%')
			return fail(SM_AUTHORITY_ZONE_ID, why);
		if (!is_hex(s[i]) && s[i] != ':' && s[i] != '.')
			return fail(SM_AUTHORITY_BAD_IPV6, why);
	}
	if (len == 0 || len >= sizeof(buf))
		return fail(SM_AUTHORITY_BAD_IPV6, why);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET6, buf, &a) != 1)
		return fail(SM_AUTHORITY_BAD_IPV6, why);
	if (!inet_ntop(AF_INET6, &a, out->host, sizeof(out->host)))
		return fail(SM_AUTHORITY_BAD_IPV6, why);
	out->host_len = (uint16_t)strlen(out->host);
	out->kind = SM_AUTHORITY_IPV6;
	return SM_OK;
}

static int parse_port(const uint8_t *s, size_t len, uint16_t *port, enum sm_authority_reason *why)
{
	if (len == 0)
		return fail(SM_AUTHORITY_PORT_EMPTY, why);
	if (len > 5 || (len > 1 && s[0] == '0'))
		return fail(SM_AUTHORITY_PORT_INVALID, why);
	unsigned v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return fail(SM_AUTHORITY_PORT_INVALID, why);
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return fail(SM_AUTHORITY_PORT_RANGE, why);
	*port = (uint16_t)v;
	return SM_OK;
}

int sm_authority_parse(const uint8_t *s, size_t len, unsigned flags, uint16_t default_port,
                       struct sm_authority *out, enum sm_authority_reason *why)
{
	struct sm_authority a;
	size_t host_end;
	const uint8_t *port_s = NULL;
	size_t port_len = 0;
	int r;

	if (len == 0)
		return fail(SM_AUTHORITY_EMPTY, why);
	if (len > SM_AUTHORITY_INPUT_MAX)
		return fail(SM_AUTHORITY_TOO_LONG, why);
	memset(&a, 0, sizeof(a));
	if (memchr(s, '@', len))
		return fail(SM_AUTHORITY_USERINFO, why);

	if (s[0] == '[') {
		const uint8_t *close = memchr(s, ']', len);
		if (!close)
			return fail(SM_AUTHORITY_BAD_IPV6, why);
		host_end = (size_t)(close - s) + 1;
		r = parse_ipv6(s + 1, host_end - 2, &a, why);
		if (r != SM_OK)
			return r;
		if (host_end < len) {
			if (s[host_end] != ':')
				return fail(SM_AUTHORITY_BAD_IPV6, why);
			port_s = s + host_end + 1;
			port_len = len - host_end - 1;
		}
	} else {
		const uint8_t *colon = memchr(s, ':', len);
		host_end = colon ? (size_t)(colon - s) : len;
		if (colon) {
			port_s = colon + 1;
			port_len = len - host_end - 1;
		}
		r = parse_name(s, host_end, &a, why);
		if (r != SM_OK)
			return r;
	}

	if (port_s) {
		r = parse_port(port_s, port_len, &a.port, why);
		if (r != SM_OK)
			return r;
		a.port_explicit = 1;
	} else if (flags & SM_AUTHORITY_PORT_REQUIRED) {
		return fail(SM_AUTHORITY_PORT_MISSING, why);
	} else {
		if (default_port == 0)
			return fail(SM_AUTHORITY_PORT_MISSING, why);
		a.port = default_port;
	}
	*out = a;
	if (why)
		*why = SM_AUTHORITY_OK;
	return SM_OK;
}

int sm_authority_parse_url(const uint8_t *s, size_t len, struct sm_url *out,
                           enum sm_authority_reason *why)
{
	size_t i = 0;

	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	if (len == 0 || !is_alpha(s[0]))
		return fail(SM_AUTHORITY_NOT_ABSOLUTE, why);
	while (i < len &&
	       (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
		i++;
	if (i + 3 > len || s[i] != ':' || s[i + 1] != '/' || s[i + 2] != '/')
		return fail(SM_AUTHORITY_NOT_ABSOLUTE, why);
	if (i != 4 || lower(s[0]) != 'h' || lower(s[1]) != 't' || lower(s[2]) != 't' ||
	    lower(s[3]) != 'p')
		return fail(SM_AUTHORITY_SCHEME_UNSUPPORTED, why);
	i += 3;

	size_t a_start = i;
	while (i < len && s[i] != '/' && s[i] != '?' && s[i] != '#')
		i++;
	size_t a_end = i;
	for (; i < len; i++) {
		if (s[i] == '#')
			return fail(SM_AUTHORITY_FRAGMENT, why);
		if (s[i] < 0x21 || s[i] > 0x7e)
			return fail(SM_AUTHORITY_BAD_PATH, why);
	}
	if (len > UINT32_MAX)
		return fail(SM_AUTHORITY_TOO_LONG, why);

	struct sm_url u;
	memset(&u, 0, sizeof(u));
	int r = sm_authority_parse(s + a_start, a_end - a_start, 0, 80, &u.auth, why);
	if (r != SM_OK)
		return r;
	u.authority_off = (uint32_t)a_start;
	u.authority_len = (uint32_t)(a_end - a_start);
	u.origin_off = (uint32_t)a_end;
	u.origin_len = (uint32_t)(len - a_end);
	u.origin_needs_slash = (a_end == len || s[a_end] != '/');
	*out = u;
	return SM_OK;
}

int sm_authority_equal(const struct sm_authority *a, const struct sm_authority *b)
{
	return a->port == b->port && a->host_len == b->host_len &&
	       memcmp(a->host, b->host, a->host_len) == 0;
}

const char *sm_authority_reason_str(enum sm_authority_reason r)
{
	switch (r) {
	case SM_AUTHORITY_OK: return "ok";
	case SM_AUTHORITY_EMPTY: return "empty";
	case SM_AUTHORITY_TOO_LONG: return "too_long";
	case SM_AUTHORITY_LABEL_EMPTY: return "label_empty";
	case SM_AUTHORITY_LABEL_TOO_LONG: return "label_too_long";
	case SM_AUTHORITY_LABEL_HYPHEN: return "label_hyphen";
	case SM_AUTHORITY_BAD_CHAR: return "bad_char";
	case SM_AUTHORITY_BAD_IPV4: return "bad_ipv4";
	case SM_AUTHORITY_BAD_IPV6: return "bad_ipv6";
	case SM_AUTHORITY_ZONE_ID: return "zone_id";
	case SM_AUTHORITY_PORT_MISSING: return "port_missing";
	case SM_AUTHORITY_PORT_EMPTY: return "port_empty";
	case SM_AUTHORITY_PORT_INVALID: return "port_invalid";
	case SM_AUTHORITY_PORT_RANGE: return "port_range";
	case SM_AUTHORITY_USERINFO: return "userinfo";
	case SM_AUTHORITY_NOT_ABSOLUTE: return "not_absolute";
	case SM_AUTHORITY_SCHEME_UNSUPPORTED: return "scheme_unsupported";
	case SM_AUTHORITY_FRAGMENT: return "fragment";
	case SM_AUTHORITY_BAD_PATH: return "bad_path";
	}
	return "unknown";
}
