/* The sans-I/O TLS endpoint and the failure taxonomy: two endpoints talk
 * through memory, and every failure is classified on both sides. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "base/result.h"
#include "tls/ca.h"
#include "tls/forge.h"
#include "tls/session.h"

static char dir[256];
static struct sm_ca ca;
static struct sm_forge forge;
static WC_RNG rng;
static int64_t now;

static void setup(void)
{
	char err[512];
	snprintf(dir, sizeof(dir), "/tmp/sm-test-session-XXXXXX");
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

TestSuite(session, .init = setup, .fini = teardown);

struct pair {
	WOLFSSL_CTX *sctx, *cctx;
	struct sm_tls s, c;
	uint8_t sout[32768], cout[32768];
};

enum { TRUST_CA = 1, CLIENT_TLS12 = 2, SERVER_TLS13 = 4 };

static void pair_init(struct pair *p, const char *name, int flags)
{
	uint8_t leaf[SM_FORGE_DER_MAX], key[256];
	size_t leaf_len, key_len;
	int64_t na;
	cr_assert_eq(
	        sm_forge_leaf(&forge, name, strlen(name), now, leaf, sizeof(leaf), &leaf_len, &na),
	        SM_OK);
	cr_assert_eq(sm_forge_key_der(&forge, key, sizeof(key), &key_len), SM_OK);
	p->sctx = wolfSSL_CTX_new((flags & SERVER_TLS13) ? wolfTLSv1_3_server_method()
	                                                 : wolfSSLv23_server_method());
	p->cctx = wolfSSL_CTX_new((flags & CLIENT_TLS12) ? wolfTLSv1_2_client_method()
	                                                 : wolfSSLv23_client_method());
	cr_assert(p->sctx && p->cctx);
	cr_assert_eq(wolfSSL_CTX_use_certificate_buffer(p->sctx, leaf, (long)leaf_len,
	                                                WOLFSSL_FILETYPE_ASN1),
	             WOLFSSL_SUCCESS);
	cr_assert_eq(wolfSSL_CTX_use_PrivateKey_buffer(p->sctx, key, (long)key_len,
	                                               WOLFSSL_FILETYPE_ASN1),
	             WOLFSSL_SUCCESS);
	if (flags & TRUST_CA)
		cr_assert_eq(wolfSSL_CTX_load_verify_buffer(p->cctx, ca.cert_der, (long)ca.cert_len,
		                                            WOLFSSL_FILETYPE_ASN1),
		             WOLFSSL_SUCCESS);
	wolfSSL_CTX_set_verify(p->cctx, WOLFSSL_VERIFY_PEER, NULL);
	cr_assert_eq(sm_tls_init(&p->s, p->sctx, true, p->sout, sizeof(p->sout)), SM_OK);
	cr_assert_eq(sm_tls_init(&p->c, p->cctx, false, p->cout, sizeof(p->cout)), SM_OK);
}

static void pair_free(struct pair *p)
{
	sm_tls_free(&p->s);
	sm_tls_free(&p->c);
	wolfSSL_CTX_free(p->sctx);
	wolfSSL_CTX_free(p->cctx);
}

/* Moves ciphertext from a's out queue into b, in chunks of at most step. */
static bool pump(struct sm_tls *a, struct sm_tls *b, size_t step)
{
	const uint8_t *q;
	size_t n = sm_tls_out(a, &q);
	if (n > step)
		n = step;
	if (n > sm_tls_in_space(b))
		n = sm_tls_in_space(b);
	if (!n)
		return false;
	cr_assert_eq(sm_tls_feed(b, q, n), n);
	sm_tls_out_done(a, n);
	return true;
}

/* Runs both handshakes to completion or failure. */
static void run(struct pair *p, int *cres, int *sres, size_t step)
{
	*cres = *sres = SM_AGAIN;
	for (int i = 0; i < 10000; i++) {
		if (*cres == SM_AGAIN)
			*cres = sm_tls_handshake(&p->c);
		if (*sres == SM_AGAIN)
			*sres = sm_tls_handshake(&p->s);
		bool moved = pump(&p->c, &p->s, step) | pump(&p->s, &p->c, step);
		if (!moved && *cres != SM_AGAIN && *sres != SM_AGAIN)
			return;
		if (!moved && (*cres == SM_ERR_PROTOCOL || *sres == SM_ERR_PROTOCOL)) {
			/* the failed side's peer waits forever: the transport closes */
			sm_tls_feed_eof(*cres == SM_ERR_PROTOCOL ? &p->s : &p->c);
			if (*cres == SM_AGAIN)
				*cres = sm_tls_handshake(&p->c);
			if (*sres == SM_AGAIN)
				*sres = sm_tls_handshake(&p->s);
			return;
		}
	}
	cr_assert_fail("handshake did not settle");
}

Test(session, handshake_alpn_data_both_ways_and_close_notify)
{
	static struct pair p;
	pair_init(&p, "origin.test", TRUST_CA);
	static char calpn[] = "h2,http/1.1", salpn[] = "http/1.1";
	cr_assert_eq(wolfSSL_UseSNI(p.c.ssl, WOLFSSL_SNI_HOST_NAME, "origin.test", 11),
	             WOLFSSL_SUCCESS);
	cr_assert_eq(wolfSSL_check_domain_name(p.c.ssl, "origin.test"), WOLFSSL_SUCCESS);
	wolfSSL_UseALPN(p.c.ssl, calpn, sizeof(calpn) - 1, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH);
	wolfSSL_UseALPN(p.s.ssl, salpn, sizeof(salpn) - 1, WOLFSSL_ALPN_FAILED_ON_MISMATCH);
	int cres, sres;
	run(&p, &cres, &sres, 7); /* odd chunking across records */
	cr_assert_eq(cres, SM_OK);
	cr_assert_eq(sres, SM_OK);
	cr_expect_str_eq(sm_tls_version(&p.c), "TLSv1.3");
	const char *a;
	size_t alen;
	sm_tls_alpn(&p.c, &a, &alen);
	cr_expect_eq(alen, 8);
	cr_expect_eq(memcmp(a, "http/1.1", 8), 0);

	static uint8_t big[100000], got[100000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + 7);
	size_t sent = 0, recvd = 0;
	while (recvd < sizeof(big)) {
		if (sent < sizeof(big)) {
			size_t w;
			int rc = sm_tls_write(&p.c, big + sent, sizeof(big) - sent, 1369, &w);
			cr_assert((rc == SM_OK && w > 0) || rc == SM_AGAIN, "write %d", rc);
			cr_assert_leq(w, 1369, "record size cap");
			sent += w;
		}
		pump(&p.c, &p.s, 5000);
		size_t r;
		int rc = sm_tls_read(&p.s, got + recvd, sizeof(got) - recvd, &r);
		cr_assert((rc == SM_OK && r > 0) || rc == SM_AGAIN, "read %d", rc);
		recvd += r;
	}
	cr_assert_eq(memcmp(big, got, sizeof(big)), 0);
	/* one-byte records both ways: a count of 1 is data, never "again" */
	for (int k = 0; k < 3; k++) {
		uint8_t one = (uint8_t)('x' + k), back = 0;
		size_t w = 0, r = 0;
		cr_assert_eq(sm_tls_write(&p.c, &one, 1, 0, &w), SM_OK);
		cr_assert_eq(w, 1);
		pump(&p.c, &p.s, 5000);
		cr_assert_eq(sm_tls_read(&p.s, &back, 1, &r), SM_OK);
		cr_expect_eq(r, 1);
		cr_expect_eq(back, one);
		cr_expect_eq(sm_tls_read(&p.s, &back, 1, &r), SM_AGAIN, "nothing more");
	}
	sm_tls_shutdown(&p.s);
	pump(&p.s, &p.c, 1 << 20);
	uint8_t b[16];
	size_t r;
	cr_expect_eq(sm_tls_read(&p.c, b, sizeof(b), &r), SM_OK);
	cr_expect_eq(r, 0, "close_notify reads as end");
	pair_free(&p);
}

struct fail_case {
	const char *name;
	int flags;
	const char *check_name; /* client's hostname check, NULL = none */
	const char *calpn, *salpn;
	enum sm_tls_reason client_side; /* as seen by the client endpoint */
	enum sm_tls_reason server_side; /* as seen by the server endpoint */
};

static const struct fail_case fails[] = {
        {"unknown CA", 0, NULL, NULL, NULL, SM_TLS_UNKNOWN_CA, SM_TLS_UNKNOWN_CA},
        /* the server endpoint only learns that its certificate was refused */
        {"hostname mismatch", TRUST_CA, "other.test", NULL, NULL, SM_TLS_HOSTNAME_MISMATCH,
         SM_TLS_UNKNOWN_CA},
        {"alpn mismatch", TRUST_CA, NULL, "h2", "http/1.1", SM_TLS_ALPN_MISMATCH,
         SM_TLS_ALPN_MISMATCH},
        {"protocol version", TRUST_CA | CLIENT_TLS12 | SERVER_TLS13, NULL, NULL, NULL,
         SM_TLS_PROTOCOL_VERSION, SM_TLS_PROTOCOL_VERSION},
};

Test(session, failures_are_classified_on_both_sides)
{
	for (size_t i = 0; i < sizeof(fails) / sizeof(fails[0]); i++) {
		const struct fail_case *fc = &fails[i];
		static struct pair p;
		pair_init(&p, "origin.test", fc->flags);
		if (fc->check_name)
			wolfSSL_check_domain_name(p.c.ssl, fc->check_name);
		if (fc->calpn)
			wolfSSL_UseALPN(p.c.ssl, (char *)fc->calpn, (unsigned)strlen(fc->calpn),
			                WOLFSSL_ALPN_FAILED_ON_MISMATCH);
		if (fc->salpn)
			wolfSSL_UseALPN(p.s.ssl, (char *)fc->salpn, (unsigned)strlen(fc->salpn),
			                WOLFSSL_ALPN_FAILED_ON_MISMATCH);
		int cres, sres;
		run(&p, &cres, &sres, 1 << 20);
		cr_expect_eq(cres, SM_ERR_PROTOCOL, "%s: client %d", fc->name, cres);
		cr_expect_eq(sres, SM_ERR_PROTOCOL, "%s: server %d", fc->name, sres);
		int alert;
		enum sm_tls_reason rc = sm_tls_reason(&p.c, &alert);
		enum sm_tls_reason rs = sm_tls_reason(&p.s, &alert);
		cr_expect_eq(rc, fc->client_side, "%s: client side %s (err %d)", fc->name,
		             sm_tls_reason_name(rc), p.c.err);
		cr_expect_eq(rs, fc->server_side, "%s: server side %s (err %d)", fc->name,
		             sm_tls_reason_name(rs), p.s.err);
		pair_free(&p);
	}
}

/* An upstream reached by its address: the certificate must carry that
 * address as an iPAddress SAN. On a mismatch the client fails in the call
 * that saw the certificate, and what that call wrote (TLS 1.3 Finished,
 * TLS 1.2 key exchange) never leaves: the server never completes. */
Test(session, ip_literal_is_verified_against_ip_sans)
{
	static const struct {
		const char *leaf;   /* name the leaf is forged for */
		const char *target; /* the address the client reaches */
		int flags;
		bool ok;
	} cases[] = {
	        {"::1", "::1", 0, true},
	        {"127.0.0.1", "127.0.0.1", 0, true},
	        {"127.0.0.1", "127.0.0.1", CLIENT_TLS12, true},
	        {"::2", "::1", 0, false},
	        {"127.0.0.2", "127.0.0.1", CLIENT_TLS12, false},
	        {"localhost", "127.0.0.1", 0, false},        /* a dNSName is no address */
	        {"127.0.0.1", "::ffff:127.0.0.1", 0, false}, /* byte for byte */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static struct pair p;
		uint8_t ip[16];
		size_t ip_len;
		const char *target = cases[i].target;
		cr_assert(sm_forge_parse_ip(target, strlen(target), ip, &ip_len));
		pair_init(&p, cases[i].leaf, TRUST_CA | cases[i].flags);
		sm_tls_verify_ip(&p.c, ip, ip_len);
		int cres = SM_AGAIN, sres = SM_AGAIN;
		for (int k = 0; k < 100 && (cres == SM_AGAIN || sres == SM_AGAIN); k++) {
			if (cres == SM_AGAIN) {
				cres = sm_tls_handshake(&p.c);
				const uint8_t *q;
				if (cres == SM_ERR_PROTOCOL)
					cr_assert_eq(sm_tls_out(&p.c, &q), 0,
					             "%s: the failing call's output is dropped",
					             target);
			}
			if (sres == SM_AGAIN)
				sres = sm_tls_handshake(&p.s);
			bool moved = pump(&p.c, &p.s, 1 << 20) | pump(&p.s, &p.c, 1 << 20);
			if (!moved && cres != SM_AGAIN)
				break;
		}
		int alert;
		if (cases[i].ok) {
			cr_expect_eq(cres, SM_OK, "%s for %s: %d (err %d)", cases[i].leaf, target,
			             cres, p.c.err);
			cr_expect_eq(sres, SM_OK, "%s for %s", cases[i].leaf, target);
		} else {
			cr_expect_eq(cres, SM_ERR_PROTOCOL, "%s for %s", cases[i].leaf, target);
			cr_expect_eq(sm_tls_reason(&p.c, &alert), SM_TLS_HOSTNAME_MISMATCH,
			             "%s for %s: err %d", cases[i].leaf, target, p.c.err);
			cr_expect_eq(sres, SM_AGAIN, "%s for %s: the server never completes",
			             cases[i].leaf, target);
		}
		pair_free(&p);
	}
}

Test(session, peer_closing_mid_handshake_is_eof)
{
	static struct pair p;
	pair_init(&p, "origin.test", TRUST_CA);
	cr_assert_eq(sm_tls_handshake(&p.c), SM_AGAIN);
	pump(&p.c, &p.s, 100); /* part of the ClientHello, then the client goes away */
	sm_tls_feed_eof(&p.s);
	cr_assert_eq(sm_tls_handshake(&p.s), SM_ERR_PROTOCOL);
	int alert;
	cr_expect_eq(sm_tls_reason(&p.s, &alert), SM_TLS_EOF);
	pair_free(&p);
}

/* Runs the client until the server's flight is waiting in the server's out
 * queue (nothing of it handed out yet). */
static void to_server_flight(struct pair *p)
{
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(sm_tls_handshake(&p->c), SM_AGAIN);
		pump(&p->c, &p->s, 1 << 20);
		cr_assert_eq(sm_tls_handshake(&p->s), SM_AGAIN);
		if (p->s.cert_end)
			return;
		pump(&p->s, &p->c, 1 << 20);
	}
	cr_assert_fail("no certificate flight");
}

/* The closed_after_certificate inference rests on this: the flight with our
 * certificate was written whole and handed out. Not a HelloRetryRequest,
 * not a resumption, and not a flight still (partly) in the out queue. */
Test(session, certificate_delivered_counts_only_the_whole_certificate_flight)
{
	static const int flags[] = {0, CLIENT_TLS12};
	for (size_t i = 0; i < 2; i++) {
		static struct pair p;
		pair_init(&p, "origin.test", TRUST_CA | flags[i]);
		to_server_flight(&p);
		const uint8_t *q;
		size_t n = sm_tls_out(&p.s, &q);
		cr_assert_gt(n, 100);
		cr_expect_not(sm_tls_certificate_delivered(&p.s), "written, not handed out");
		cr_assert_eq(sm_tls_feed(&p.c, q, n - 1), n - 1);
		sm_tls_out_done(&p.s, n - 1);
		cr_expect_not(sm_tls_certificate_delivered(&p.s), "one byte still waits");
		pump(&p.s, &p.c, 1 << 20);
		cr_expect(sm_tls_certificate_delivered(&p.s), "flags %d", flags[i]);
		cr_expect_not(sm_tls_certificate_delivered(&p.c), "a client sends none");
		pair_free(&p);
	}
	/* a HelloRetryRequest (the client sent no key share) is no certificate */
	static struct pair p;
	pair_init(&p, "origin.test", TRUST_CA);
	cr_assert_eq(wolfSSL_NoKeyShares(p.c.ssl), WOLFSSL_SUCCESS);
	cr_assert_eq(sm_tls_handshake(&p.c), SM_AGAIN);
	pump(&p.c, &p.s, 1 << 20);
	cr_assert_eq(sm_tls_handshake(&p.s), SM_AGAIN);
	const uint8_t *q;
	cr_assert_gt(sm_tls_out(&p.s, &q), 0);
	pump(&p.s, &p.c, 1 << 20);
	cr_expect_not(sm_tls_certificate_delivered(&p.s), "the HelloRetryRequest went out");
	int cres, sres;
	run(&p, &cres, &sres, 1 << 20);
	cr_assert_eq(cres, SM_OK);
	cr_assert_eq(sres, SM_OK);
	cr_expect(sm_tls_certificate_delivered(&p.s), "then the certificate");
	/* a resumed session's flight carries no certificate */
	uint8_t b[64];
	size_t got;
	cr_assert_eq(sm_tls_read(&p.c, b, sizeof(b), &got), SM_AGAIN); /* takes the ticket */
	WOLFSSL_SESSION *sess = wolfSSL_get1_session(p.c.ssl);
	cr_assert_not_null(sess);
	static struct sm_tls s2, c2;
	static uint8_t s2out[32768], c2out[32768];
	cr_assert_eq(sm_tls_init(&s2, p.sctx, true, s2out, sizeof(s2out)), SM_OK);
	cr_assert_eq(sm_tls_init(&c2, p.cctx, false, c2out, sizeof(c2out)), SM_OK);
	cr_assert_eq(wolfSSL_set_session(c2.ssl, sess), WOLFSSL_SUCCESS);
	for (int i = 0; i < 20 && !(s2.handshake_done && c2.handshake_done); i++) {
		sm_tls_handshake(&c2);
		pump(&c2, &s2, 1 << 20);
		sm_tls_handshake(&s2);
		pump(&s2, &c2, 1 << 20);
	}
	cr_assert(s2.handshake_done && c2.handshake_done);
	cr_assert(wolfSSL_session_reused(s2.ssl), "resumed");
	cr_expect_not(sm_tls_certificate_delivered(&s2), "no certificate in a resumption");
	wolfSSL_SESSION_free(sess);
	sm_tls_free(&s2);
	sm_tls_free(&c2);
	pair_free(&p);
}

/* A fatal alert the peer sends unencrypted after the keys changed (what
 * OpenSSL clients do in TLS 1.3 when they refuse our certificate): wolfSSL
 * fails the record with PARSE_ERROR and keeps no history of it; the alert
 * is still what is reported, whatever the cuts of the record. */
Test(session, an_unencrypted_alert_after_the_flight_is_the_reason)
{
	static const struct {
		uint8_t code;
		enum sm_tls_reason want;
	} alerts[] = {
	        {48, SM_TLS_UNKNOWN_CA}, {42, SM_TLS_UNKNOWN_CA}, {40, SM_TLS_HANDSHAKE_ALERT}};
	for (size_t i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++) {
		for (size_t cut = 1; cut <= 7; cut++) {
			static struct pair p;
			pair_init(&p, "origin.test", TRUST_CA);
			to_server_flight(&p);
			pump(&p.s, &p.c, 1 << 20);
			const uint8_t rec[7] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, alerts[i].code};
			for (size_t k = 0; k < sizeof(rec); k += cut) {
				size_t n = sizeof(rec) - k < cut ? sizeof(rec) - k : cut;
				cr_assert_eq(sm_tls_feed(&p.s, rec + k, n), n);
			}
			cr_assert_eq(sm_tls_handshake(&p.s), SM_ERR_PROTOCOL);
			int alert;
			cr_expect_eq(sm_tls_reason(&p.s, &alert), alerts[i].want,
			             "alert %u cut %zu: %s", alerts[i].code, cut,
			             sm_tls_reason_name(sm_tls_reason(&p.s, &alert)));
			cr_expect_eq(alert, alerts[i].code);
			pair_free(&p);
		}
	}
	/* a warning is no failure's reason: a close after it is an eof */
	static struct pair p;
	pair_init(&p, "origin.test", TRUST_CA);
	to_server_flight(&p);
	pump(&p.s, &p.c, 1 << 20);
	const uint8_t warn[7] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 90};
	cr_assert_eq(sm_tls_feed(&p.s, warn, sizeof(warn)), sizeof(warn));
	sm_tls_feed_eof(&p.s);
	cr_assert_eq(sm_tls_handshake(&p.s), SM_ERR_PROTOCOL);
	int alert;
	enum sm_tls_reason r = sm_tls_reason(&p.s, &alert);
	cr_expect(r != SM_TLS_UNKNOWN_CA, "%s", sm_tls_reason_name(r));
	pair_free(&p);
}

/* How a reason was known: only an eof or reset of a client that had our
 * certificate is a guess, and the reason stays what was seen. */
Test(session, attribution_names_the_one_inference)
{
	enum sm_tls_inference inf;
	for (int r = 0; r < SM_TLS_REASON_COUNT; r++) {
		cr_expect_eq(sm_tls_attribute(r, false, &inf), SM_TLS_SRC_NATIVE_AUTHORITATIVE);
		cr_expect_eq(inf, SM_TLS_INF_NONE);
		bool guess = r == SM_TLS_EOF || r == SM_TLS_RESET;
		cr_expect_eq(sm_tls_attribute(r, true, &inf),
		             guess ? SM_TLS_SRC_NATIVE_INFERRED : SM_TLS_SRC_NATIVE_AUTHORITATIVE,
		             "%s", sm_tls_reason_name(r));
		cr_expect_eq(inf, guess ? SM_TLS_INF_CLOSED_AFTER_CERTIFICATE : SM_TLS_INF_NONE);
	}
}

Test(session, names)
{
	for (int r = 0; r < SM_TLS_REASON_COUNT; r++)
		cr_expect_str_neq(sm_tls_reason_name(r), "unknown");
	cr_expect_str_eq(sm_tls_reason_name(SM_TLS_UNKNOWN_CA), "unknown_ca");
	cr_expect_str_eq(sm_tls_side_name(SM_TLS_SIDE_SERVER), "server");
}
