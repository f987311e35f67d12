#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#include "base/result.h"
#include "tls/ca.h"
#include "proto/clienthello.h"
#include "tls/forge.h"

static char dir[256];
static struct sm_ca ca;
static struct sm_forge forge;
static WC_RNG rng;
static int64_t now;

static void setup(void)
{
	char err[512];
	snprintf(dir, sizeof(dir), "/tmp/sm-test-forge-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	now = (int64_t)time(NULL);
	cr_assert_eq(sm_ca_open(&ca, dir, now, err, sizeof(err)), SM_OK, "%s", err);
	cr_assert_eq(wc_InitRng(&rng), 0);
	cr_assert_eq(sm_forge_init(&forge, &ca, &rng), SM_OK);
}

static void teardown(void)
{
	sm_forge_free(&forge);
	wc_FreeRng(&rng);
	sm_ca_close(&ca);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(forge, .init = setup, .fini = teardown);

static const char *run(const char *cmd, int want_status)
{
	static char out[16384];
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	if (want_status >= 0)
		cr_assert_eq(st != 0, want_status != 0, "status %d: %s\n%s", st, cmd, out);
	return out;
}

/* Writes der as PEM to dir/name. */
static void write_pem(const char *name, const uint8_t *der, size_t len, char *path, size_t cap)
{
	static uint8_t pem[4096];
	int n = wc_DerToPem(der, (word32)len, pem, sizeof(pem), CERT_TYPE);
	cr_assert_gt(n, 0);
	snprintf(path, cap, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(pem, 1, (size_t)n, f), (size_t)n);
	fclose(f);
}

static void wolf_verifies(const uint8_t *der, size_t len)
{
	WOLFSSL_CERT_MANAGER *cm = wolfSSL_CertManagerNew();
	cr_assert_not_null(cm);
	cr_assert_eq(wolfSSL_CertManagerLoadCABuffer(cm, ca.cert_der, (long)ca.cert_len,
	                                             WOLFSSL_FILETYPE_ASN1),
	             WOLFSSL_SUCCESS);
	cr_assert_eq(wolfSSL_CertManagerVerifyBuffer(cm, der, (long)len, WOLFSSL_FILETYPE_ASN1),
	             WOLFSSL_SUCCESS);
	wolfSSL_CertManagerFree(cm);
}

Test(forge, dns_leaf_verifies_with_san_and_cn)
{
	static uint8_t der[SM_FORGE_DER_MAX];
	size_t len;
	int64_t na;
	const char *name = "api.example.test";
	cr_assert_eq(sm_forge_leaf(&forge, name, strlen(name), now, der, sizeof(der), &len, &na),
	             SM_OK);
	cr_assert_eq(na, now + SM_FORGE_VALIDITY_SECONDS);
	cr_assert_eq(forge.forged, 1);

	struct sm_x509_info li;
	cr_assert_eq(sm_x509_parse(der, len, &li), SM_OK);
	cr_assert_not(li.is_ca);
	cr_assert_eq(li.not_before, now - 3600);
	cr_assert_eq(li.not_after, na);
	cr_assert_eq(li.issuer.left, ca.info.subject.left);
	cr_assert_eq(memcmp(li.issuer.p, ca.info.subject.p, li.issuer.left), 0);

	wolf_verifies(der, len);

	char leaf[512], cmd[4096];
	write_pem("leaf.pem", der, len, leaf, sizeof(leaf));
	snprintf(cmd, sizeof(cmd),
	         "openssl verify -CAfile '%s' -purpose sslserver -verify_hostname %s '%s'",
	         ca.cert_path, name, leaf);
	cr_assert_not_null(strstr(run(cmd, 0), ": OK"));
	snprintf(cmd, sizeof(cmd),
	         "openssl verify -CAfile '%s' -verify_hostname other.test '%s' 2>&1", ca.cert_path,
	         leaf);
	run(cmd, 1);
	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -text -subject", leaf);
	const char *t = run(cmd, 0);
	cr_assert_not_null(strstr(t, "DNS:api.example.test"), "%s", t);
	cr_assert_not_null(strstr(t, "subject=CN = api.example.test"), "%s", t);
	cr_assert_not_null(strstr(t, "TLS Web Server Authentication"), "%s", t);
	cr_assert_not_null(strstr(t, "X509v3 Authority Key Identifier"), "%s", t);
	cr_assert_not_null(strstr(t, "CA:FALSE"), "%s", t);
	cr_assert_not_null(strstr(t, "Digital Signature"), "%s", t);
}

Test(forge, ip_leaves_get_ip_sans)
{
	static uint8_t der[SM_FORGE_DER_MAX];
	static const struct {
		const char *name;
		const char *san;
		const char *verify_ip;
	} cases[] = {
	        {"192.0.2.7", "IP Address:192.0.2.7", "192.0.2.7"},
	        {"2001:db8::1", "IP Address:2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
	        {"[2001:db8::2]", "IP Address:2001:DB8:0:0:0:0:0:2", "2001:db8::2"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		int64_t na;
		const char *name = cases[i].name;
		cr_assert_eq(
		        sm_forge_leaf(&forge, name, strlen(name), now, der, sizeof(der), &len, &na),
		        SM_OK);
		wolf_verifies(der, len);
		char leaf[512], cmd[4096];
		write_pem("ip.pem", der, len, leaf, sizeof(leaf));
		snprintf(cmd, sizeof(cmd), "openssl verify -CAfile '%s' -verify_ip %s '%s'",
		         ca.cert_path, cases[i].verify_ip, leaf);
		cr_assert_not_null(strstr(run(cmd, 0), ": OK"));
		snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -text", leaf);
		const char *t = run(cmd, 0);
		cr_assert_not_null(strstr(t, cases[i].san), "%s: %s", name, t);
		cr_assert_null(strstr(t, "DNS:"), "%s", t);
		/* our reader (upstream IP verification) finds exactly that address */
		struct sm_x509_info li;
		uint8_t a[16];
		size_t alen;
		cr_assert_eq(sm_x509_parse(der, len, &li), SM_OK);
		cr_assert(li.has_san);
		cr_assert(sm_forge_parse_ip(name, strlen(name), a, &alen));
		cr_assert(sm_x509_san_has_ip(&li, a, alen), "%s", name);
		a[alen - 1] ^= 1;
		cr_assert_not(sm_x509_san_has_ip(&li, a, alen), "%s: another address", name);
		cr_assert_not(sm_x509_san_has_ip(&li, a, 3), "neither 4 nor 16 bytes");
	}
	/* a name spelling an address is no address: only iPAddress entries count */
	{
		size_t len;
		int64_t na;
		struct sm_x509_info li;
		static const uint8_t lo[4] = {127, 0, 0, 1};
		cr_assert_eq(
		        sm_forge_leaf(&forge, "localhost", 9, now, der, sizeof(der), &len, &na),
		        SM_OK);
		cr_assert_eq(sm_x509_parse(der, len, &li), SM_OK);
		cr_assert(li.has_san);
		cr_assert_not(sm_x509_san_has_ip(&li, lo, 4));
	}
	uint8_t ip[16];
	size_t n;
	cr_assert(sm_forge_parse_ip("10.1.2.3", 8, ip, &n));
	cr_assert_eq(n, 4);
	cr_assert_eq(ip[0], 10);
	cr_assert_not(sm_forge_parse_ip("10.1.2", 6, ip, &n));
	cr_assert_not(sm_forge_parse_ip("example.test", 12, ip, &n));
	cr_assert_not(sm_forge_parse_ip("[]", 2, ip, &n));
}

Test(forge, long_names_drop_cn_and_mark_san_critical)
{
	static uint8_t der[SM_FORGE_DER_MAX];
	char name[SM_FORGE_NAME_MAX + 2];
	/* 253 characters: labels of 63 */
	memset(name, 'a', SM_FORGE_NAME_MAX);
	for (int i = 63; i < (int)SM_FORGE_NAME_MAX; i += 64)
		name[i] = '.';
	name[SM_FORGE_NAME_MAX] = '\0';
	size_t len;
	int64_t na;
	cr_assert_eq(
	        sm_forge_leaf(&forge, name, SM_FORGE_NAME_MAX, now, der, sizeof(der), &len, &na),
	        SM_OK);
	cr_assert_leq(len, SM_FORGE_DER_MAX);
	wolf_verifies(der, len);
	char leaf[512], cmd[4096];
	write_pem("long.pem", der, len, leaf, sizeof(leaf));
	snprintf(cmd, sizeof(cmd), "openssl verify -CAfile '%s' -verify_hostname %s '%s'",
	         ca.cert_path, name, leaf);
	cr_assert_not_null(strstr(run(cmd, 0), ": OK"));
	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -text", leaf);
	const char *t = run(cmd, 0);
	cr_assert_not_null(strstr(t, "X509v3 Subject Alternative Name: critical"), "%s", t);
	cr_assert_null(strstr(t, "CN = aaa"), "%s", t);

	/* exactly 64: CN kept */
	name[64] = '\0';
	name[63] = 'b';
	cr_assert_eq(sm_forge_leaf(&forge, name, 64, now, der, sizeof(der), &len, &na), SM_OK);
	write_pem("cn64.pem", der, len, leaf, sizeof(leaf));
	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -subject", leaf);
	cr_assert_not_null(strstr(run(cmd, 0), "CN = aaaa"));
}

Test(forge, bad_input_and_limits)
{
	static uint8_t der[SM_FORGE_DER_MAX];
	size_t len;
	int64_t na;
	cr_assert_eq(sm_forge_leaf(&forge, "", 0, now, der, sizeof(der), &len, &na),
	             SM_ERR_INVALID);
	cr_assert_eq(sm_forge_leaf(&forge, "a b", 3, now, der, sizeof(der), &len, &na),
	             SM_ERR_INVALID);
	cr_assert_eq(sm_forge_leaf(&forge, "a\nb", 3, now, der, sizeof(der), &len, &na),
	             SM_ERR_INVALID);
	char big[300];
	memset(big, 'a', sizeof(big));
	cr_assert_eq(sm_forge_leaf(&forge, big, sizeof(big), now, der, sizeof(der), &len, &na),
	             SM_ERR_INVALID);
	cr_assert_eq(sm_forge_leaf(&forge, "x.test", 6, now, der, 100, &len, &na), SM_ERR_LIMIT);
	cr_assert_eq(forge.failed, 5);
	cr_assert_eq(forge.forged, 0);

	/* near the end of the CA's life the leaf ends with the CA */
	int64_t late = ca.info.not_after - 3 * 24 * 3600;
	cr_assert_eq(sm_forge_leaf(&forge, "x.test", 6, late, der, sizeof(der), &len, &na), SM_OK);
	cr_assert_eq(na, ca.info.not_after);
	/* after it: refused */
	cr_assert_eq(
	        sm_forge_leaf(&forge, "x.test", 6, ca.info.not_after, der, sizeof(der), &len, &na),
	        SM_ERR_STATE);
}

Test(forge, serials_are_random_and_positive)
{
	static uint8_t a[SM_FORGE_DER_MAX], b[SM_FORGE_DER_MAX];
	size_t la, lb;
	int64_t na;
	cr_assert_eq(sm_forge_leaf(&forge, "s.test", 6, now, a, sizeof(a), &la, &na), SM_OK);
	cr_assert_eq(sm_forge_leaf(&forge, "s.test", 6, now, b, sizeof(b), &lb, &na), SM_OK);
	/* serial: after SEQ, SEQ, [0]{INT 2} comes INTEGER (0x02 0x10 ...) */
	const uint8_t *sa = memmem(a, la, "\xa0\x03\x02\x01\x02\x02\x10", 7);
	const uint8_t *sb = memmem(b, lb, "\xa0\x03\x02\x01\x02\x02\x10", 7);
	cr_assert(sa && sb);
	cr_assert_eq(sa[7] & 0xc0, 0x40);
	cr_assert_neq(memcmp(sa + 7, sb + 7, 16), 0);
	/* the leaf key is shared: same SPKI in both */
	struct sm_x509_info ia, ib;
	cr_assert_eq(sm_x509_parse(a, la, &ia), SM_OK);
	cr_assert_eq(sm_x509_parse(b, lb, &ib), SM_OK);
	cr_assert_eq(ia.spki.left, ib.spki.left);
	cr_assert_eq(memcmp(ia.spki.p, ib.spki.p, ia.spki.left), 0);
	/* and the exported key matches it */
	uint8_t k[256];
	size_t kl;
	cr_assert_eq(sm_forge_key_der(&forge, k, sizeof(k), &kl), SM_OK);
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfTLS_server_method());
	cr_assert_not_null(ctx);
	cr_assert_eq(wolfSSL_CTX_use_certificate_buffer(ctx, a, (long)la, WOLFSSL_FILETYPE_ASN1),
	             WOLFSSL_SUCCESS);
	cr_assert_eq(wolfSSL_CTX_use_PrivateKey_buffer(ctx, k, (long)kl, WOLFSSL_FILETYPE_ASN1),
	             WOLFSSL_SUCCESS);
	cr_assert_eq(wolfSSL_CTX_check_private_key(ctx), WOLFSSL_SUCCESS);
	wolfSSL_CTX_free(ctx);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Measurement, not an assertion: the median cost of one forge (a cache
 * miss). Printed for the docs; the ASan build inflates it. */
Test(forge, median_forge_time_is_reported)
{
	enum { N = 201 };
	static uint64_t ns[N];
	static uint8_t der[SM_FORGE_DER_MAX];
	size_t len;
	int64_t na;
	for (int i = 0; i < N; i++) {
		char name[64];
		int n = snprintf(name, sizeof(name), "host%d.example.test", i);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc = sm_forge_leaf(&forge, name, (size_t)n, now, der, sizeof(der), &len, &na);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		cr_assert_eq(rc, SM_OK);
		ns[i] = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u +
		        (uint64_t)(t1.tv_nsec - t0.tv_nsec);
	}
	qsort(ns, N, sizeof(ns[0]), cmp_u64);
	fprintf(stderr, "forge: median %.1f us over %d leaves (this build)\n", ns[N / 2] / 1000.0,
	        N);
	cr_assert_eq(forge.forged, N);
}

/* ---- the forged leaf in a real wolfSSL handshake (memory I/O) ---------- */

struct pipe {
	uint8_t b[65536];
	size_t r, w;
};
struct duplex {
	struct pipe *in, *out;
};

static int mem_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	struct pipe *p = ((struct duplex *)ctx)->in;
	size_t n = p->w - p->r;
	if (n == 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	if (n > (size_t)sz)
		n = (size_t)sz;
	memcpy(buf, p->b + p->r, n);
	p->r += n;
	return (int)n;
}

static int mem_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	struct pipe *p = ((struct duplex *)ctx)->out;
	if ((size_t)sz > sizeof(p->b) - p->w)
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	memcpy(p->b + p->w, buf, (size_t)sz);
	p->w += (size_t)sz;
	return sz;
}

static int secrets_seen;

static int on_secret(WOLFSSL *ssl, int id, const unsigned char *secret, int len, void *ctx)
{
	(void)ssl, (void)id, (void)secret, (void)ctx;
	if (len > 0)
		secrets_seen++;
	return 0;
}

/* Runs a client/server handshake for sni, the client checking check_name.
 * Returns the client's final wolfSSL error (0 on success). */
static int handshake(const char *sni, const char *check_name, struct sm_clienthello *peek,
                     char *alpn_out, size_t alpn_cap)
{
	static struct pipe c2s, s2c;
	memset(&c2s, 0, sizeof(c2s));
	memset(&s2c, 0, sizeof(s2c));
	struct duplex cd = {&s2c, &c2s}, sd = {&c2s, &s2c};

	static uint8_t leaf[SM_FORGE_DER_MAX], key[256];
	size_t leaf_len, key_len;
	int64_t na;
	cr_assert_eq(
	        sm_forge_leaf(&forge, sni, strlen(sni), now, leaf, sizeof(leaf), &leaf_len, &na),
	        SM_OK);
	cr_assert_eq(sm_forge_key_der(&forge, key, sizeof(key), &key_len), SM_OK);

	WOLFSSL_CTX *sctx = wolfSSL_CTX_new(wolfTLS_server_method());
	WOLFSSL_CTX *cctx = wolfSSL_CTX_new(wolfTLS_client_method());
	cr_assert(sctx && cctx);
	cr_assert_eq(wolfSSL_CTX_use_certificate_buffer(sctx, leaf, (long)leaf_len,
	                                                WOLFSSL_FILETYPE_ASN1),
	             WOLFSSL_SUCCESS);
	cr_assert_eq(
	        wolfSSL_CTX_use_PrivateKey_buffer(sctx, key, (long)key_len, WOLFSSL_FILETYPE_ASN1),
	        WOLFSSL_SUCCESS);
	cr_assert_eq(wolfSSL_CTX_load_verify_buffer(cctx, ca.cert_der, (long)ca.cert_len,
	                                            WOLFSSL_FILETYPE_ASN1),
	             WOLFSSL_SUCCESS);
	wolfSSL_CTX_set_verify(cctx, WOLFSSL_VERIFY_PEER, NULL);
	wolfSSL_CTX_SetIORecv(sctx, mem_recv);
	wolfSSL_CTX_SetIOSend(sctx, mem_send);
	wolfSSL_CTX_SetIORecv(cctx, mem_recv);
	wolfSSL_CTX_SetIOSend(cctx, mem_send);

	WOLFSSL *s = wolfSSL_new(sctx), *c = wolfSSL_new(cctx);
	cr_assert(s && c);
	wolfSSL_SetIOReadCtx(s, &sd);
	wolfSSL_SetIOWriteCtx(s, &sd);
	wolfSSL_SetIOReadCtx(c, &cd);
	wolfSSL_SetIOWriteCtx(c, &cd);
	cr_assert_eq(wolfSSL_UseSNI(c, WOLFSSL_SNI_HOST_NAME, sni, (unsigned short)strlen(sni)),
	             WOLFSSL_SUCCESS);
	cr_assert_eq(wolfSSL_check_domain_name(c, check_name), WOLFSSL_SUCCESS);
	char calpn[] = "h2,http/1.1", salpn[] = "http/1.1";
	cr_assert_eq(wolfSSL_UseALPN(c, calpn, sizeof(calpn) - 1, WOLFSSL_ALPN_FAILED_ON_MISMATCH),
	             WOLFSSL_SUCCESS);
	cr_assert_eq(wolfSSL_UseALPN(s, salpn, sizeof(salpn) - 1, WOLFSSL_ALPN_FAILED_ON_MISMATCH),
	             WOLFSSL_SUCCESS);
	wolfSSL_set_tls13_secret_cb(c, on_secret, NULL);

	int cerr = 0, cdone = 0, sdone = 0;
	bool peeked = false;
	for (int round = 0; round < 50 && !(cdone && sdone); round++) {
		if (!cdone) {
			int r = wolfSSL_connect(c);
			cerr = wolfSSL_get_error(c, r);
			if (r == WOLFSSL_SUCCESS)
				cdone = 1, cerr = 0;
			else if (cerr != WOLFSSL_ERROR_WANT_READ)
				break;
		}
		if (!peeked && c2s.w > 0) { /* what the proxy would peek at */
			static uint8_t scratch[SM_CLIENTHELLO_MAX_DEFAULT];
			sm_clienthello_init(peek, scratch, sizeof(scratch));
			cr_assert_eq(sm_clienthello_feed(peek, c2s.b, c2s.w), SM_OK);
			peeked = true;
		}
		if (!sdone) {
			int r = wolfSSL_accept(s);
			if (r == WOLFSSL_SUCCESS)
				sdone = 1;
		}
	}
	if (cdone && alpn_out) {
		char *proto = NULL;
		unsigned short plen = 0;
		cr_assert_eq(wolfSSL_ALPN_GetProtocol(c, &proto, &plen), WOLFSSL_SUCCESS);
		snprintf(alpn_out, alpn_cap, "%.*s %s", (int)plen, proto, wolfSSL_get_version(c));
	}
	wolfSSL_free(c);
	wolfSSL_free(s);
	wolfSSL_CTX_free(cctx);
	wolfSSL_CTX_free(sctx);
	return cdone ? 0 : cerr;
}

Test(forge, forged_leaf_completes_a_wolfssl_tls13_handshake)
{
	struct sm_clienthello peek;
	char got[64] = "";
	secrets_seen = 0;
	cr_assert_eq(handshake("shop.example.test", "shop.example.test", &peek, got, sizeof(got)),
	             0);
	cr_assert_str_eq(got, "http/1.1 TLSv1.3");
	cr_assert_geq(secrets_seen, 4, "TLS 1.3 secrets reach the keylog hook");
	/* our peek saw what wolfSSL's client sent */
	cr_assert_str_eq(peek.sni, "shop.example.test");
	cr_assert(sm_clienthello_offers_alpn(&peek, "h2", 2));
	cr_assert(sm_clienthello_offers_alpn(&peek, "http/1.1", 8));
	cr_assert_eq(peek.max_version, 0x0304);

	/* IP literal: the client checks the IP against the iPAddress SAN */
	cr_assert_eq(handshake("192.0.2.9", "192.0.2.9", &peek, got, sizeof(got)), 0);

	/* a client expecting another name refuses our leaf */
	cr_assert_eq(handshake("shop.example.test", "bank.example.test", &peek, NULL, 0),
	             DOMAIN_NAME_MISMATCH);
}

/* A corporate RSA root brought by the operator: RSA-4096, a long subject
 * name, so its leaves are the largest this forge makes. */
static void setup_rsa(void)
{
	char err[512], cmd[2048];
	teardown(); /* the suite's own setup ran first: its CA is replaced */
	snprintf(dir, sizeof(dir), "/tmp/sm-test-forge-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	now = (int64_t)time(NULL);
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 "
	         "-out ca.key 2>/dev/null && chmod 600 ca.key && openssl req -x509 -key ca.key "
	         "-out ca.pem -days 30 -subj '/C=XX/ST=Some State/L=Some City/O=Example "
	         "Corporation International Holdings/OU=Information Security "
	         "Department/OU=Interception/OU=Proxies and Gateways/CN=Example Corporation "
	         "TLS Interception Root CA 2026' -addext basicConstraints=critical,CA:TRUE "
	         "-addext keyUsage=critical,keyCertSign 2>/dev/null",
	         dir);
	run(cmd, 0);
	cr_assert_eq(sm_ca_open(&ca, dir, now, err, sizeof(err)), SM_OK, "%s", err);
	cr_assert_eq(ca.alg, SM_X509_RSA_SHA256);
	cr_assert_eq(wc_InitRng(&rng), 0);
	cr_assert_eq(sm_forge_init(&forge, &ca, &rng), SM_OK);
}

Test(forge, rsa_ca_signs_leaves_that_verify, .init = setup_rsa) /* the suite's teardown frees it */
{
	cr_assert_gt(forge.der_max, SM_FORGE_DER_MAX);
	cr_assert_leq(forge.der_max, SM_FORGE_DER_LIMIT);
	static uint8_t der[SM_FORGE_DER_LIMIT];
	char name[SM_FORGE_NAME_MAX + 1];
	memset(name, 'a', SM_FORGE_NAME_MAX);
	for (int i = 63; i < (int)SM_FORGE_NAME_MAX; i += 64)
		name[i] = '.';
	name[SM_FORGE_NAME_MAX] = '\0';
	const char *names[] = {"api.example.test", name};
	for (size_t i = 0; i < 2; i++) {
		size_t len;
		int64_t na;
		uint64_t t0 = (uint64_t)clock();
		cr_assert_eq(sm_forge_leaf(&forge, names[i], strlen(names[i]), now, der,
		                           forge.der_max, &len, &na),
		             SM_OK);
		cr_log_info("RSA-4096 CA: leaf of %zu bytes (bound %zu) in %.2f ms", len,
		            forge.der_max,
		            (double)((uint64_t)clock() - t0) * 1000.0 / CLOCKS_PER_SEC);
		wolf_verifies(der, len);
		char leaf[512], cmd[4096];
		write_pem("rsa-leaf.pem", der, len, leaf, sizeof(leaf));
		snprintf(cmd, sizeof(cmd),
		         "openssl verify -CAfile '%s' -purpose sslserver -verify_hostname %s '%s'",
		         ca.cert_path, names[i], leaf);
		cr_assert_not_null(strstr(run(cmd, 0), ": OK"));
		snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -text", leaf);
		const char *t = run(cmd, 0);
		cr_assert_not_null(strstr(t, "Signature Algorithm: sha256WithRSAEncryption"), "%s",
		                   t);
		cr_assert_not_null(strstr(t, "prime256v1"), "the leaf key stays P-256: %s", t);
	}
}
