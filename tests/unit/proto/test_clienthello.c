#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "proto/clienthello.h"

/* ---- helpers ---------------------------------------------------------- */

static uint8_t scratch[SM_CLIENTHELLO_MAX_DEFAULT];

static size_t load_fixture(const char *name, uint8_t *out, size_t cap)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/fixtures/clienthello/%s.bin", SM_SOURCE_DIR, name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "fixture %s", path);
	size_t n = fread(out, 1, cap, f);
	fclose(f);
	cr_assert_gt(n, 0);
	return n;
}

/* Everything the parser reports, as one comparable string. */
static void summary(const struct sm_clienthello *p, char *out, size_t cap)
{
	int o = snprintf(out, cap, "r=%s sni=%s rv=%04x lv=%04x mv=%04x cs=%u ext=%u g=%u alpn=",
	                 sm_clienthello_reason_str(p->reason), p->has_sni ? p->sni : "-",
	                 p->record_version, p->legacy_version, p->max_version, p->cipher_suites,
	                 p->extensions, p->grease);
	for (unsigned i = 0; i < p->alpn_count; i++) {
		size_t n;
		const uint8_t *a = sm_clienthello_alpn(p, i, &n);
		o += snprintf(out + o, cap - (size_t)o, "%.*s,", (int)n, (const char *)a);
	}
	o += snprintf(out + o, cap - (size_t)o, " v=");
	for (unsigned i = 0; i < p->version_count; i++)
		o += snprintf(out + o, cap - (size_t)o, "%04x,", p->versions[i]);
	snprintf(out + o, cap - (size_t)o, " ech=%d psk=%d st=%d", p->has_ech, p->has_psk,
	         p->has_session_ticket);
}

static int parse_whole(struct sm_clienthello *p, const uint8_t *b, size_t n)
{
	sm_clienthello_init(p, scratch, sizeof(scratch));
	return sm_clienthello_feed(p, b, n);
}

/* Builds a ClientHello handshake message (4-byte header included). */
struct msg {
	uint8_t b[70000];
	size_t n;
};

static void put(struct msg *m, const void *d, size_t n)
{
	cr_assert_leq(m->n + n, sizeof(m->b));
	if (n == 0)
		return;
	memcpy(m->b + m->n, d, n);
	m->n += n;
}

static void put8(struct msg *m, unsigned v)
{
	uint8_t b = (uint8_t)v;
	put(m, &b, 1);
}

static void put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

static void build_hello(struct msg *m, const uint16_t *suites, size_t nsuites,
                        const struct msg *exts)
{
	static const uint8_t random[32] = {1, 2, 3};
	m->n = 0;
	put8(m, 1);
	put8(m, 0), put16(m, 0); /* length patched below */
	put16(m, 0x0303);
	put(m, random, 32);
	put8(m, 32);
	put(m, random, 32);
	put16(m, (unsigned)nsuites * 2);
	for (size_t i = 0; i < nsuites; i++)
		put16(m, suites[i]);
	put8(m, 1), put8(m, 0);
	if (exts) {
		put16(m, (unsigned)exts->n);
		put(m, exts->b, exts->n);
	}
	size_t len = m->n - 4;
	m->b[1] = (uint8_t)(len >> 16);
	m->b[2] = (uint8_t)(len >> 8);
	m->b[3] = (uint8_t)len;
}

static void ext_add(struct msg *e, unsigned type, const void *d, size_t n)
{
	put16(e, type);
	put16(e, (unsigned)n);
	put(e, d, n);
}

static void ext_sni(struct msg *e, const char *name)
{
	struct msg d = {.n = 0};
	size_t n = strlen(name);
	put16(&d, (unsigned)n + 3);
	put8(&d, 0);
	put16(&d, (unsigned)n);
	put(&d, name, n);
	ext_add(e, 0, d.b, d.n);
}

/* Wraps a handshake message in records of at most rec bytes of payload. */
static size_t records(const struct msg *m, size_t rec, uint8_t *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < m->n; i += rec) {
		size_t n = m->n - i < rec ? m->n - i : rec;
		cr_assert_leq(o + 5 + n, cap);
		out[o++] = 0x16, out[o++] = 3, out[o++] = 1;
		out[o++] = (uint8_t)(n >> 8), out[o++] = (uint8_t)n;
		memcpy(out + o, m->b + i, n);
		o += n;
	}
	return o;
}

/* Re-fragments the handshake bytes of a recorded stream. */
static size_t refragment(const uint8_t *in, size_t n, size_t rec, uint8_t *out, size_t cap)
{
	static struct msg m;
	m.n = 0;
	for (size_t off = 0; off + 5 <= n;) {
		size_t ln = ((size_t)in[off + 3] << 8) | in[off + 4];
		put(&m, in + off + 5, ln);
		off += 5 + ln;
	}
	return records(&m, rec, out, cap);
}

/* ---- the recorded corpus --------------------------------------------- */

struct fixture {
	const char *name;
	const char *sni; /* NULL: none */
	const char *alpn[3];
	unsigned suites;
	unsigned exts;
	uint16_t max_version;
	unsigned nversions;
};

static const struct fixture corpus[] = {
        {"openssl_sni_alpn", "x.example.test", {"h2", "http/1.1"}, 31, 11, 0x0304, 4},
        {"openssl_tls12_nosni", NULL, {NULL}, 28, 6, 0x0303, 0},
        {"curl_sni", "api.example.test", {"h2", "http/1.1"}, 31, 12, 0x0304, 4},
        {"curl_ip_http11", NULL, {"http/1.1"}, 31, 11, 0x0304, 4},
        {"python_ssl", "py.example.test", {"http/1.1"}, 18, 12, 0x0304, 2},
};

Test(clienthello, recorded_corpus)
{
	static uint8_t b[4096];
	for (size_t c = 0; c < sizeof(corpus) / sizeof(corpus[0]); c++) {
		const struct fixture *f = &corpus[c];
		size_t n = load_fixture(f->name, b, sizeof(b));
		struct sm_clienthello p;
		cr_assert_eq(parse_whole(&p, b, n), SM_OK, "%s: %s", f->name,
		             sm_clienthello_reason_str(p.reason));
		cr_assert_eq(p.has_sni, f->sni != NULL, "%s", f->name);
		if (f->sni) {
			cr_assert_str_eq(p.sni, f->sni);
			cr_assert_eq(p.sni_len, strlen(f->sni));
		}
		unsigned na = 0;
		while (na < 3 && f->alpn[na])
			na++;
		cr_assert_eq(p.alpn_count, na, "%s", f->name);
		cr_assert_eq(p.has_alpn, na > 0);
		for (unsigned i = 0; i < na; i++)
			cr_assert(sm_clienthello_offers_alpn(&p, f->alpn[i], strlen(f->alpn[i])));
		cr_assert_not(sm_clienthello_offers_alpn(&p, "spdy/3", 6));
		cr_assert_eq(p.cipher_suites, f->suites, "%s: %u", f->name, p.cipher_suites);
		cr_assert_eq(p.extensions, f->exts, "%s: %u", f->name, p.extensions);
		cr_assert_eq(p.max_version, f->max_version, "%s", f->name);
		cr_assert_eq(p.version_count, f->nversions, "%s", f->name);
		cr_assert_eq(p.legacy_version, 0x0303);
		cr_assert_eq(p.record_version, 0x0301);
		cr_assert_eq(p.grease, 0);
		cr_assert_eq(p.bytes_seen, n, "%s: whole stream observed", f->name);
		cr_assert_eq(p.records, 1);
		/* sticky */
		cr_assert_eq(sm_clienthello_feed(&p, (const uint8_t *)"x", 1), SM_OK);
		cr_assert_eq(sm_clienthello_finish(&p), SM_OK);
	}
}

/* Every split point, every single byte, seeded random splits, and
 * re-fragmentation into several records: always the same observations. */
Test(clienthello, splits_and_records_give_identical_results)
{
	static uint8_t b[4096], frag[8192];
	char want[1024], got[1024];
	srand(12345);
	for (size_t c = 0; c < sizeof(corpus) / sizeof(corpus[0]); c++) {
		size_t n = load_fixture(corpus[c].name, b, sizeof(b));
		struct sm_clienthello p;
		cr_assert_eq(parse_whole(&p, b, n), SM_OK);
		summary(&p, want, sizeof(want));

		for (size_t k = 0; k <= n; k++) {
			sm_clienthello_init(&p, scratch, sizeof(scratch));
			int r1 = sm_clienthello_feed(&p, b, k);
			cr_assert_eq(r1, k == n ? SM_OK : SM_AGAIN, "%s split %zu", corpus[c].name,
			             k);
			cr_assert_eq(sm_clienthello_feed(&p, b + k, n - k), SM_OK);
			summary(&p, got, sizeof(got));
			cr_assert_str_eq(got, want, "%s split %zu", corpus[c].name, k);
		}

		sm_clienthello_init(&p, scratch, sizeof(scratch));
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(sm_clienthello_feed(&p, b + i, 1),
			             i + 1 == n ? SM_OK : SM_AGAIN);
		summary(&p, got, sizeof(got));
		cr_assert_str_eq(got, want);

		for (int round = 0; round < 50; round++) {
			sm_clienthello_init(&p, scratch, sizeof(scratch));
			int r = SM_AGAIN;
			for (size_t i = 0; i < n;) {
				size_t step = 1 + (size_t)rand() % 64;
				if (step > n - i)
					step = n - i;
				r = sm_clienthello_feed(&p, b + i, step);
				i += step;
			}
			cr_assert_eq(r, SM_OK);
			summary(&p, got, sizeof(got));
			cr_assert_str_eq(got, want);
		}

		static const size_t recs[] = {1, 2, 3, 4, 5, 7, 64, 100, 333};
		for (size_t ri = 0; ri < sizeof(recs) / sizeof(recs[0]); ri++) {
			size_t fn = refragment(b, n, recs[ri], frag, sizeof(frag));
			size_t nrec = (n - 5 + recs[ri] - 1) / recs[ri];
			/* whole, and byte by byte */
			cr_assert_eq(parse_whole(&p, frag, fn), SM_OK, "rec %zu: %s", recs[ri],
			             sm_clienthello_reason_str(p.reason));
			cr_assert_eq(p.records, nrec);
			summary(&p, got, sizeof(got));
			cr_assert_str_eq(got, want);
			sm_clienthello_init(&p, scratch, sizeof(scratch));
			int r = SM_AGAIN;
			for (size_t i = 0; i < fn; i++)
				r = sm_clienthello_feed(&p, frag + i, 1);
			cr_assert_eq(r, SM_OK);
			summary(&p, got, sizeof(got));
			cr_assert_str_eq(got, want);
		}
	}
}

/* ---- not TLS ------------------------------------------------------------ */

Test(clienthello, non_tls_is_reported_at_once)
{
	struct sm_clienthello p;
	sm_clienthello_init(&p, scratch, sizeof(scratch));
	cr_assert_eq(sm_clienthello_feed(&p, (const uint8_t *)"G", 1), SM_ERR_PROTOCOL);
	cr_assert_eq(p.reason, SM_CH_NOT_TLS);
	cr_assert_str_eq(sm_clienthello_reason_str(p.reason), "not_tls");
	/* sticky, even if TLS-looking bytes follow */
	cr_assert_eq(sm_clienthello_feed(&p, (const uint8_t *)"\x16\x03", 2), SM_ERR_PROTOCOL);
	cr_assert_eq(sm_clienthello_finish(&p), SM_ERR_PROTOCOL);

	static const struct {
		const char *b;
		size_t n;
		size_t at; /* byte count at which not_tls is known */
	} cases[] = {
	        {"GET / HTTP/1.1\r\n\r\n", 18, 1},
	        {"SSH-2.0-OpenSSH_9.2\r\n", 21, 1},
	        {"\x80\x2e\x01\x00\x02", 5, 1}, /* SSLv2-compatible hello */
	        {"\x16\x02\x00\x00\x10", 5, 2}, /* bad major version */
	        {"\x16\x03\x07\x00\x10", 5, 5}, /* minor beyond TLS 1.3 */
	        {"\x17\x03\x03\x00\x10", 5, 1}, /* application data */
	        {"\x00", 1, 1},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		sm_clienthello_init(&p, scratch, sizeof(scratch));
		int r = SM_AGAIN;
		size_t i = 0;
		while (r == SM_AGAIN && i < cases[c].n) {
			r = sm_clienthello_feed(&p, (const uint8_t *)cases[c].b + i, 1);
			i++;
		}
		cr_assert_eq(r, SM_ERR_PROTOCOL, "case %zu", c);
		cr_assert_eq(p.reason, SM_CH_NOT_TLS, "case %zu", c);
		cr_assert_eq(i, cases[c].at, "case %zu known at byte %zu", c, i);
	}
}

/* ---- truncation --------------------------------------------------------- */

Test(clienthello, every_prefix_is_again_then_truncated)
{
	static uint8_t b[4096];
	size_t n = load_fixture("curl_sni", b, sizeof(b));
	for (size_t k = 1; k < n; k++) {
		struct sm_clienthello p;
		cr_assert_eq(parse_whole(&p, b, k), SM_AGAIN, "prefix %zu", k);
		cr_assert_eq(sm_clienthello_finish(&p), SM_ERR_TRUNCATED);
		cr_assert_eq(p.reason, SM_CH_TRUNCATED);
		cr_assert_str_eq(sm_clienthello_reason_str(p.reason), "truncated");
	}
	struct sm_clienthello p;
	sm_clienthello_init(&p, scratch, sizeof(scratch));
	cr_assert_eq(sm_clienthello_finish(&p), SM_ERR_TRUNCATED, "EOF before any byte");
}

/* ---- size limit --------------------------------------------------------- */

Test(clienthello, oversized_hello_is_too_large)
{
	static uint8_t b[4096];
	static uint8_t small[256];
	size_t n = load_fixture("curl_sni", b, sizeof(b));
	cr_assert_gt(n, sizeof(small));
	struct sm_clienthello p;
	sm_clienthello_init(&p, small, sizeof(small));
	/* known as soon as the 4-byte handshake header is in: byte 9 */
	cr_assert_eq(sm_clienthello_feed(&p, b, 8), SM_AGAIN);
	cr_assert_eq(sm_clienthello_feed(&p, b + 8, 1), SM_ERR_LIMIT);
	cr_assert_eq(p.reason, SM_CH_TOO_LARGE);
	cr_assert_str_eq(sm_clienthello_reason_str(p.reason), "too_large");

	/* 20 KiB ClientHello (a big padding extension) over two records
	 * against the default limit; and one that just fits. */
	static struct msg e, m;
	static uint8_t stream[40000];
	static const uint16_t suites[] = {0x1301};
	static uint8_t pad[20000];
	e.n = 0;
	ext_sni(&e, "big.example.test");
	ext_add(&e, 0x0015, pad, sizeof(pad));
	build_hello(&m, suites, 1, &e);
	size_t sn = records(&m, 16384, stream, sizeof(stream));
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_LIMIT);
	cr_assert_eq(p.reason, SM_CH_TOO_LARGE);

	e.n = 0;
	ext_sni(&e, "fits.example.test");
	size_t fill = SM_CLIENTHELLO_MAX_DEFAULT - 4 - 2 - 32 - 33 - 4 - 2 - 2 - e.n - 4;
	ext_add(&e, 0x0015, pad, fill);
	build_hello(&m, suites, 1, &e);
	cr_assert_eq(m.n, SM_CLIENTHELLO_MAX_DEFAULT);
	sn = records(&m, 16384, stream, sizeof(stream));
	cr_assert_eq(parse_whole(&p, stream, sn), SM_OK, "%s", sm_clienthello_reason_str(p.reason));
	cr_assert_str_eq(p.sni, "fits.example.test");
	cr_assert_eq(p.records, 1);
}

/* ---- GREASE ------------------------------------------------------------- */

Test(clienthello, grease_is_ignored_everywhere)
{
	cr_assert(sm_clienthello_is_grease(0x0a0a));
	cr_assert(sm_clienthello_is_grease(0xfafa));
	cr_assert_not(sm_clienthello_is_grease(0x0a1a));
	cr_assert_not(sm_clienthello_is_grease(0x1301));

	static struct msg e, m;
	static const uint16_t suites[] = {0x2a2a, 0x1301, 0x1302, 0xc02f};
	e.n = 0;
	ext_add(&e, 0x3a3a, NULL, 0); /* GREASE extension, empty */
	ext_sni(&e, "grease.example.test");
	static const uint8_t alpn[] = {0, 12,  2,   0x4a, 0x4a, 2,   'h', '2',
	                               6, 'h', 't', 't',  'p',  '/', '1'};
	uint8_t alpn_fixed[sizeof(alpn)];
	memcpy(alpn_fixed, alpn, sizeof(alpn));
	alpn_fixed[1] = (uint8_t)(sizeof(alpn) - 2);
	ext_add(&e, 0x0010, alpn_fixed, sizeof(alpn));
	static const uint8_t vers[] = {6, 0x5a, 0x5a, 0x03, 0x04, 0x03, 0x03};
	ext_add(&e, 0x002b, vers, sizeof(vers));
	ext_add(&e, 0xdada, "\0", 1); /* GREASE extension with a byte */
	build_hello(&m, suites, 4, &e);
	static uint8_t stream[1024];
	size_t sn = records(&m, 16384, stream, sizeof(stream));

	struct sm_clienthello p;
	cr_assert_eq(parse_whole(&p, stream, sn), SM_OK, "%s", sm_clienthello_reason_str(p.reason));
	cr_assert_eq(p.cipher_suites, 3);
	cr_assert_eq(p.extensions, 3);
	cr_assert_eq(p.grease, 5); /* suite, 2 extensions, version, ALPN */
	cr_assert_eq(p.alpn_count, 2);
	cr_assert(sm_clienthello_offers_alpn(&p, "h2", 2));
	cr_assert(sm_clienthello_offers_alpn(&p, "http/1", 6));
	cr_assert_eq(p.version_count, 2);
	cr_assert_eq(p.versions[0], 0x0304);
	cr_assert_eq(p.max_version, 0x0304);
	cr_assert_str_eq(sm_clienthello_version_str(p.max_version), "tls1.3");
	cr_assert_str_eq(p.sni, "grease.example.test");
}

/* ---- malformed ---------------------------------------------------------- */

Test(clienthello, malformed_hellos_name_their_reason)
{
	static struct msg e, m;
	static uint8_t stream[2048];
	static const uint16_t one[] = {0x1301};
	struct sm_clienthello p;
	size_t sn;

	/* duplicate SNI extension */
	e.n = 0;
	ext_sni(&e, "a.test");
	ext_sni(&e, "b.test");
	build_hello(&m, one, 1, &e);
	sn = records(&m, 16384, stream, sizeof(stream));
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID);
	cr_assert_eq(p.reason, SM_CH_DUPLICATE_EXTENSION);

	/* SNI with a NUL byte, with a space, empty */
	static const char *bad_names[] = {"a\0b.test", "a b.test", ""};
	static const size_t bad_lens[] = {8, 8, 0};
	for (int i = 0; i < 3; i++) {
		struct msg d = {.n = 0};
		put16(&d, (unsigned)bad_lens[i] + 3);
		put8(&d, 0);
		put16(&d, (unsigned)bad_lens[i]);
		put(&d, bad_names[i], bad_lens[i]);
		e.n = 0;
		ext_add(&e, 0, d.b, d.n);
		build_hello(&m, one, 1, &e);
		sn = records(&m, 16384, stream, sizeof(stream));
		cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID, "name %d", i);
		cr_assert_eq(p.reason, SM_CH_BAD_SNI, "name %d", i);
	}

	/* ALPN with an empty protocol; ALPN list length lying */
	e.n = 0;
	ext_add(&e, 0x0010, "\x00\x03\x02h2\x00", 6);
	build_hello(&m, one, 1, &e);
	sn = records(&m, 16384, stream, sizeof(stream));
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID);
	cr_assert_eq(p.reason, SM_CH_BAD_ALPN);
	e.n = 0;
	ext_add(&e, 0x0010, "\x00\x09\x02h2", 5);
	build_hello(&m, one, 1, &e);
	sn = records(&m, 16384, stream, sizeof(stream));
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID);
	cr_assert_eq(p.reason, SM_CH_BAD_ALPN);

	/* supported_versions odd length */
	e.n = 0;
	ext_add(&e, 0x002b, "\x03\x03\x04\x03", 4);
	build_hello(&m, one, 1, &e);
	sn = records(&m, 16384, stream, sizeof(stream));
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID);
	cr_assert_eq(p.reason, SM_CH_BAD_SUPPORTED_VERSIONS);

	/* extension length running past the block */
	e.n = 0;
	put16(&e, 0x0017), put16(&e, 10), put8(&e, 0);
	build_hello(&m, one, 1, &e);
	sn = records(&m, 16384, stream, sizeof(stream));
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID);
	cr_assert_eq(p.reason, SM_CH_BAD_EXTENSIONS);

	/* odd cipher-suite length: patch the vector length */
	build_hello(&m, one, 1, NULL);
	m.b[4 + 2 + 32 + 33 + 1] = 3; /* suites length 2 -> 3 */
	sn = records(&m, 16384, stream, sizeof(stream));
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID);
	cr_assert_eq(p.reason, SM_CH_BAD_CIPHER_SUITES);

	/* session id longer than 32 */
	build_hello(&m, one, 1, NULL);
	m.b[4 + 2 + 32] = 33;
	sn = records(&m, 16384, stream, sizeof(stream));
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID);
	cr_assert_eq(p.reason, SM_CH_BAD_SESSION_ID);

	/* a ServerHello where a ClientHello should be */
	build_hello(&m, one, 1, NULL);
	m.b[0] = 2;
	sn = records(&m, 16384, stream, sizeof(stream));
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID);
	cr_assert_eq(p.reason, SM_CH_NOT_CLIENT_HELLO);

	/* no extensions at all is legal (old clients) */
	build_hello(&m, one, 1, NULL);
	sn = records(&m, 16384, stream, sizeof(stream));
	cr_assert_eq(parse_whole(&p, stream, sn), SM_OK);
	cr_assert_eq(p.max_version, 0x0303);
	cr_assert_not(p.has_sni);

	/* a zero-length record; an alert record in the middle */
	build_hello(&m, one, 1, NULL);
	sn = records(&m, 10, stream, sizeof(stream));
	stream[15 + 3] = 0, stream[15 + 4] = 0;
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID);
	cr_assert_eq(p.reason, SM_CH_RECORD_LENGTH);
	sn = records(&m, 10, stream, sizeof(stream));
	stream[15] = 0x15;
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID);
	cr_assert_eq(p.reason, SM_CH_RECORD_TYPE);
	sn = records(&m, 10, stream, sizeof(stream));
	stream[3] = 0x40, stream[4] = 0x01; /* 16385 */
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID);
	cr_assert_eq(p.reason, SM_CH_RECORD_LENGTH);

	/* message length shorter than its fields */
	build_hello(&m, one, 1, NULL);
	m.b[3] = 20;
	m.n = 24;
	sn = records(&m, 16384, stream, sizeof(stream));
	cr_assert_eq(parse_whole(&p, stream, sn), SM_ERR_INVALID);
	cr_assert_eq(p.reason, SM_CH_BAD_LENGTH);
}

Test(clienthello, names_are_stable)
{
	cr_assert_str_eq(sm_clienthello_reason_str(SM_CH_NONE), "none");
	cr_assert_str_eq(sm_clienthello_reason_str(SM_CH_BAD_SUPPORTED_VERSIONS),
	                 "bad_supported_versions");
	cr_assert_str_eq(sm_clienthello_reason_str((enum sm_clienthello_reason)999), "unknown");
	cr_assert_str_eq(sm_clienthello_version_str(0x0303), "tls1.2");
	cr_assert_str_eq(sm_clienthello_version_str(0x7f1c), "unknown");
}
