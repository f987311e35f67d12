#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/result.h"
#include "proto/authority.h"

struct acase {
	const char *in;
	unsigned flags;
	int rc;
	enum sm_authority_reason why;
	const char *host; /* expected normalised host on success */
	unsigned port;
	int kind;
};

#define REQ SM_AUTHORITY_PORT_REQUIRED
#define OKC(in, fl, host, port, kind)                                                              \
	{                                                                                          \
		in, fl, SM_OK, SM_AUTHORITY_OK, host, port, kind                                   \
	}
#define BAD(in, fl, why)                                                                           \
	{                                                                                          \
		in, fl, SM_ERR_INVALID, why, NULL, 0, 0                                            \
	}

static const struct acase acases[] = {
        OKC("example.com:443", REQ, "example.com", 443, SM_AUTHORITY_NAME),
        OKC("Example.COM:443", REQ, "example.com", 443, SM_AUTHORITY_NAME),
        OKC("example.com.:443", REQ, "example.com", 443, SM_AUTHORITY_NAME),
        OKC("a:1", REQ, "a", 1, SM_AUTHORITY_NAME),
        OKC("a-b.c-d:65535", REQ, "a-b.c-d", 65535, SM_AUTHORITY_NAME),
        OKC("1a.example", 0, "1a.example", 80, SM_AUTHORITY_NAME),
        OKC("x.0xyz", 0, "x.0xyz", 80, SM_AUTHORITY_NAME),
        OKC("localhost", 0, "localhost", 80, SM_AUTHORITY_NAME),
        OKC("10.0.0.1:8080", REQ, "10.0.0.1", 8080, SM_AUTHORITY_IPV4),
        OKC("0.0.0.0:1", REQ, "0.0.0.0", 1, SM_AUTHORITY_IPV4),
        OKC("255.255.255.255:80", REQ, "255.255.255.255", 80, SM_AUTHORITY_IPV4),
        OKC("[::1]:443", REQ, "::1", 443, SM_AUTHORITY_IPV6),
        OKC("[2001:DB8:0:0:0:0:0:1]:443", REQ, "2001:db8::1", 443, SM_AUTHORITY_IPV6),
        OKC("[::ffff:1.2.3.4]:443", REQ, "::ffff:1.2.3.4", 443, SM_AUTHORITY_IPV6),
        OKC("[fe80::1]", 0, "fe80::1", 80, SM_AUTHORITY_IPV6),
        /* ports */
        BAD("example.com", REQ, SM_AUTHORITY_PORT_MISSING),
        BAD("example.com:", REQ, SM_AUTHORITY_PORT_EMPTY),
        BAD("example.com:", 0, SM_AUTHORITY_PORT_EMPTY),
        BAD("example.com:0", REQ, SM_AUTHORITY_PORT_RANGE),
        BAD("example.com:65536", REQ, SM_AUTHORITY_PORT_RANGE),
        BAD("example.com:99999", REQ, SM_AUTHORITY_PORT_RANGE),
        BAD("example.com:100000", REQ, SM_AUTHORITY_PORT_INVALID),
        BAD("example.com:0443", REQ, SM_AUTHORITY_PORT_INVALID),
        BAD("example.com:44a", REQ, SM_AUTHORITY_PORT_INVALID),
        BAD("example.com:-1", REQ, SM_AUTHORITY_PORT_INVALID),
        BAD("example.com:+1", REQ, SM_AUTHORITY_PORT_INVALID),
        BAD("example.com: 443", REQ, SM_AUTHORITY_PORT_INVALID),
        BAD("example.com:443:1", REQ, SM_AUTHORITY_PORT_INVALID),
        BAD("[::1]", REQ, SM_AUTHORITY_PORT_MISSING),
        BAD("[::1]:", REQ, SM_AUTHORITY_PORT_EMPTY),
        /* names */
        BAD("", REQ, SM_AUTHORITY_EMPTY),
        BAD(":443", REQ, SM_AUTHORITY_EMPTY),
        BAD(".:443", REQ, SM_AUTHORITY_EMPTY),
        BAD("a..b:443", REQ, SM_AUTHORITY_LABEL_EMPTY),
        BAD(".a:443", REQ, SM_AUTHORITY_LABEL_EMPTY),
        BAD("a.b..:443", REQ, SM_AUTHORITY_LABEL_EMPTY),
        BAD("-a.b:443", REQ, SM_AUTHORITY_LABEL_HYPHEN),
        BAD("a-.b:443", REQ, SM_AUTHORITY_LABEL_HYPHEN),
        BAD("a_b.c:443", REQ, SM_AUTHORITY_BAD_CHAR),
        BAD("a b:443", REQ, SM_AUTHORITY_BAD_CHAR),
        BAD("a\x01"
            "b:443",
            REQ, SM_AUTHORITY_BAD_CHAR),
        BAD("\xc3\xa9.fr:443", REQ, SM_AUTHORITY_BAD_CHAR),
        BAD("a/b:443", REQ, SM_AUTHORITY_BAD_CHAR),
        BAD("user@host:443", REQ, SM_AUTHORITY_USERINFO),
        BAD("user:pw@host:443", REQ, SM_AUTHORITY_USERINFO),
        /* numeric look-alikes */
        BAD("1.2.3:443", REQ, SM_AUTHORITY_BAD_IPV4),
        BAD("1.2.3.4.5:443", REQ, SM_AUTHORITY_BAD_IPV4),
        BAD("01.2.3.4:443", REQ, SM_AUTHORITY_BAD_IPV4),
        BAD("1.2.3.256:443", REQ, SM_AUTHORITY_BAD_IPV4),
        BAD("1.2.3.0400:443", REQ, SM_AUTHORITY_BAD_IPV4),
        BAD("127.1:443", REQ, SM_AUTHORITY_BAD_IPV4),
        BAD("2130706433:443", REQ, SM_AUTHORITY_BAD_IPV4),
        BAD("0x7f.1:443", REQ, SM_AUTHORITY_BAD_IPV4),
        BAD("a.0x7f:443", REQ, SM_AUTHORITY_BAD_IPV4),
        BAD("example.123:443", REQ, SM_AUTHORITY_BAD_IPV4),
        /* IPv6 */
        BAD("[fe80::1%25eth0]:443", REQ, SM_AUTHORITY_ZONE_ID),
        BAD("[fe80::1%eth0]:443", REQ, SM_AUTHORITY_ZONE_ID),
        BAD("[::1:443", REQ, SM_AUTHORITY_BAD_IPV6),
        BAD("[]:443", REQ, SM_AUTHORITY_BAD_IPV6),
        BAD("[1::2::3]:443", REQ, SM_AUTHORITY_BAD_IPV6),
        BAD("[::g]:443", REQ, SM_AUTHORITY_BAD_IPV6),
        BAD("[::1]x:443", REQ, SM_AUTHORITY_BAD_IPV6),
        BAD("[1.2.3.4]:443", REQ, SM_AUTHORITY_BAD_IPV6),
        BAD("[0000:0000:0000:0000:0000:0000:0000:0000:0]:443", REQ, SM_AUTHORITY_BAD_IPV6),
        BAD("::1:443", REQ, SM_AUTHORITY_EMPTY),
};

Test(authority, corpus)
{
	for (size_t i = 0; i < sizeof(acases) / sizeof(acases[0]); i++) {
		const struct acase *c = &acases[i];
		struct sm_authority a;
		enum sm_authority_reason why = (enum sm_authority_reason)99;
		memset(&a, 0x5a, sizeof(a));
		int rc = sm_authority_parse((const uint8_t *)c->in, strlen(c->in), c->flags, 80, &a,
		                            &why);
		cr_expect_eq(rc, c->rc, "case %zu '%s': rc %d want %d", i, c->in, rc, c->rc);
		cr_expect_eq(why, c->why, "case %zu '%s': reason %s want %s", i, c->in,
		             sm_authority_reason_str(why), sm_authority_reason_str(c->why));
		if (c->rc == SM_OK && rc == SM_OK) {
			cr_expect_str_eq(a.host, c->host, "case %zu", i);
			cr_expect_eq(a.host_len, strlen(c->host), "case %zu", i);
			cr_expect_eq(a.port, c->port, "case %zu", i);
			cr_expect_eq(a.kind, c->kind, "case %zu", i);
		}
	}
}

static void fill_label(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = 'a';
}

Test(authority, length_limits)
{
	char buf[400];
	struct sm_authority a;
	enum sm_authority_reason why;

	/* 63-byte label ok, 64 refused */
	fill_label(buf, 63);
	memcpy(buf + 63, ".x:1", 4);
	cr_expect_eq(sm_authority_parse((uint8_t *)buf, 67, REQ, 0, &a, &why), SM_OK);
	fill_label(buf, 64);
	memcpy(buf + 64, ".x:1", 4);
	cr_expect_eq(sm_authority_parse((uint8_t *)buf, 68, REQ, 0, &a, &why), SM_ERR_INVALID);
	cr_expect_eq(why, SM_AUTHORITY_LABEL_TOO_LONG);

	/* 253-byte name ok (also with its trailing dot), 254 refused */
	size_t n = 0;
	while (n < 253) {
		size_t l = 253 - n >= 64 ? 63 : 253 - n;
		fill_label(buf + n, l);
		n += l;
		if (n < 253)
			buf[n++] = '.';
	}
	cr_assert_eq(n, 253);
	cr_expect_eq(sm_authority_parse((uint8_t *)buf, 253, 0, 80, &a, &why), SM_OK);
	cr_expect_eq(a.host_len, 253);
	buf[253] = '.';
	cr_expect_eq(sm_authority_parse((uint8_t *)buf, 254, 0, 80, &a, &why), SM_OK);
	cr_expect_eq(a.host_len, 253);
	buf[253] = 'a';
	cr_expect_eq(sm_authority_parse((uint8_t *)buf, 254, 0, 80, &a, &why), SM_ERR_INVALID);
	cr_expect_eq(why, SM_AUTHORITY_TOO_LONG);
	memset(buf, 'a', sizeof(buf));
	cr_expect_eq(sm_authority_parse((uint8_t *)buf, sizeof(buf), 0, 80, &a, &why),
	             SM_ERR_INVALID);
	cr_expect_eq(why, SM_AUTHORITY_TOO_LONG);
}

struct ucase {
	const char *in;
	int rc;
	enum sm_authority_reason why;
	const char *host;
	unsigned port;
	const char *authority; /* raw */
	const char *origin;    /* as it will be sent (slash added when needed) */
};

static const struct ucase ucases[] = {
        {"http://example.com/", SM_OK, 0, "example.com", 80, "example.com", "/"},
        {"http://example.com", SM_OK, 0, "example.com", 80, "example.com", "/"},
        {"HTTP://Example.com:8080/a/b?c=d&e", SM_OK, 0, "example.com", 8080, "Example.com:8080",
         "/a/b?c=d&e"},
        {"http://example.com?q=1", SM_OK, 0, "example.com", 80, "example.com", "/?q=1"},
        {"http://[::1]:81/x", SM_OK, 0, "::1", 81, "[::1]:81", "/x"},
        {"http://10.1.2.3/x%20y", SM_OK, 0, "10.1.2.3", 80, "10.1.2.3", "/x%20y"},
        {"https://example.com/", SM_ERR_UNSUPPORTED, SM_AUTHORITY_SCHEME_UNSUPPORTED, NULL, 0, NULL,
         NULL},
        {"ftp://example.com/", SM_ERR_UNSUPPORTED, SM_AUTHORITY_SCHEME_UNSUPPORTED, NULL, 0, NULL,
         NULL},
        {"ws://example.com/", SM_ERR_UNSUPPORTED, SM_AUTHORITY_SCHEME_UNSUPPORTED, NULL, 0, NULL,
         NULL},
        {"httpx://example.com/", SM_ERR_UNSUPPORTED, SM_AUTHORITY_SCHEME_UNSUPPORTED, NULL, 0, NULL,
         NULL},
        {"/index.html", SM_ERR_INVALID, SM_AUTHORITY_NOT_ABSOLUTE, NULL, 0, NULL, NULL},
        {"*", SM_ERR_INVALID, SM_AUTHORITY_NOT_ABSOLUTE, NULL, 0, NULL, NULL},
        {"", SM_ERR_INVALID, SM_AUTHORITY_NOT_ABSOLUTE, NULL, 0, NULL, NULL},
        {"http:/example.com/", SM_ERR_INVALID, SM_AUTHORITY_NOT_ABSOLUTE, NULL, 0, NULL, NULL},
        {"http:example.com", SM_ERR_INVALID, SM_AUTHORITY_NOT_ABSOLUTE, NULL, 0, NULL, NULL},
        {"example.com:80", SM_ERR_INVALID, SM_AUTHORITY_NOT_ABSOLUTE, NULL, 0, NULL, NULL},
        {"http://user@example.com/", SM_ERR_INVALID, SM_AUTHORITY_USERINFO, NULL, 0, NULL, NULL},
        {"http://u:p@example.com/", SM_ERR_INVALID, SM_AUTHORITY_USERINFO, NULL, 0, NULL, NULL},
        {"http://example.com/#frag", SM_ERR_INVALID, SM_AUTHORITY_FRAGMENT, NULL, 0, NULL, NULL},
        {"http://example.com#frag", SM_ERR_INVALID, SM_AUTHORITY_FRAGMENT, NULL, 0, NULL, NULL},
        {"http://example.com/a b", SM_ERR_INVALID, SM_AUTHORITY_BAD_PATH, NULL, 0, NULL, NULL},
        {"http://example.com/\x7f", SM_ERR_INVALID, SM_AUTHORITY_BAD_PATH, NULL, 0, NULL, NULL},
        {"http://example.com/\xc3\xa9", SM_ERR_INVALID, SM_AUTHORITY_BAD_PATH, NULL, 0, NULL, NULL},
        {"http:///x", SM_ERR_INVALID, SM_AUTHORITY_EMPTY, NULL, 0, NULL, NULL},
        {"http://example.com:/", SM_ERR_INVALID, SM_AUTHORITY_PORT_EMPTY, NULL, 0, NULL, NULL},
        {"http://example.com:0/", SM_ERR_INVALID, SM_AUTHORITY_PORT_RANGE, NULL, 0, NULL, NULL},
        {"http://[fe80::1%25en0]/", SM_ERR_INVALID, SM_AUTHORITY_ZONE_ID, NULL, 0, NULL, NULL},
        {"http://1.2.3/", SM_ERR_INVALID, SM_AUTHORITY_BAD_IPV4, NULL, 0, NULL, NULL},
};

Test(authority, url_corpus)
{
	for (size_t i = 0; i < sizeof(ucases) / sizeof(ucases[0]); i++) {
		const struct ucase *c = &ucases[i];
		struct sm_url u;
		enum sm_authority_reason why = (enum sm_authority_reason)99;
		int rc = sm_authority_parse_url((const uint8_t *)c->in, strlen(c->in), &u, &why);
		cr_expect_eq(rc, c->rc, "case %zu '%s': rc %d", i, c->in, rc);
		cr_expect_eq(why, c->why, "case %zu '%s': reason %s", i, c->in,
		             sm_authority_reason_str(why));
		if (rc != SM_OK || c->rc != SM_OK)
			continue;
		cr_expect_str_eq(u.auth.host, c->host, "case %zu", i);
		cr_expect_eq(u.auth.port, c->port, "case %zu", i);
		char raw[128], origin[128];
		snprintf(raw, sizeof(raw), "%.*s", (int)u.authority_len, c->in + u.authority_off);
		snprintf(origin, sizeof(origin), "%s%.*s", u.origin_needs_slash ? "/" : "",
		         (int)u.origin_len, c->in + u.origin_off);
		cr_expect_str_eq(raw, c->authority, "case %zu", i);
		cr_expect_str_eq(origin, c->origin, "case %zu", i);
	}
}

Test(authority, equal_and_reason_names)
{
	struct sm_authority a, b;
	cr_assert_eq(sm_authority_parse((const uint8_t *)"A.example:80", 12, 0, 80, &a, NULL),
	             SM_OK);
	cr_assert_eq(sm_authority_parse((const uint8_t *)"a.example.", 10, 0, 80, &b, NULL), SM_OK);
	cr_expect(sm_authority_equal(&a, &b));
	b.port = 81;
	cr_expect(!sm_authority_equal(&a, &b));
	for (int r = SM_AUTHORITY_OK; r <= SM_AUTHORITY_BAD_PATH; r++)
		cr_expect_str_neq(sm_authority_reason_str((enum sm_authority_reason)r), "unknown");
}
