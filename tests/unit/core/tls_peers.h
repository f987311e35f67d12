/* TLS peers for the engine tests (header-only, test code only): a client
 * that trusts the proxy's CA and an origin with a leaf of the same CA, both
 * sans-I/O endpoints (tls/session.h) whose ciphertext the test carries to
 * and from the engine's fake ring (engine.h) in pieces of a chosen size. */
#ifndef SM_TEST_TLS_PEERS_H
#define SM_TEST_TLS_PEERS_H

#include <time.h>

#include "engine.h"
#include "tls/ca.h"
#include "tls/forge.h"
#include "tls/session.h"

/* The CA the proxy forges with, and the origin's leaf from it. */
struct lab {
	char dir[64];
	struct sm_ca ca;
	struct sm_forge forge;
	WC_RNG rng;
	char pem[4096];
	size_t pem_len;
	int64_t now;
};

static inline void lab_init(struct lab *l)
{
	char err[512];
	snprintf(l->dir, sizeof(l->dir), "/tmp/sm-test-engine-XXXXXX");
	cr_assert_not_null(mkdtemp(l->dir));
	l->now = (int64_t)time(NULL);
	cr_assert_eq(sm_ca_open(&l->ca, l->dir, l->now, err, sizeof(err)), SM_OK, "%s", err);
	cr_assert_eq(wc_InitRng(&l->rng), 0);
	cr_assert_eq(sm_forge_init(&l->forge, &l->ca, &l->rng), SM_OK);
	cr_assert_eq(sm_ca_pem(&l->ca, l->pem, sizeof(l->pem), &l->pem_len), SM_OK);
}

static inline void lab_free(struct lab *l)
{
	sm_forge_free(&l->forge);
	wc_FreeRng(&l->rng);
	sm_ca_close(&l->ca);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", l->dir);
	cr_assert_eq(system(cmd), 0);
}

/* One TLS peer of the proxy: its session, the proxy's fd it talks to, and
 * the ciphertext and plaintext in flight. */
struct peer_tls {
	WOLFSSL_CTX *ctx;
	struct sm_tls t;
	uint8_t out[32768];
	int fd;            /* the proxy's socket this peer is connected to */
	int hs;            /* SM_AGAIN until its handshake ended */
	uint8_t *to_proxy; /* ciphertext not yet delivered to the proxy */
	size_t to_len;
	uint8_t *from_proxy; /* ciphertext the proxy wrote, not yet fed */
	size_t from_len;
	uint8_t *plain; /* plaintext read */
	size_t plain_len;
	bool eof; /* close_notify or EOF read */
};

static inline void tls_buf_add(uint8_t **b, size_t *len, const void *p, size_t n)
{
	*b = realloc(*b, *len + n + 1);
	cr_assert(*b);
	memcpy(*b + *len, p, n);
	*len += n;
}

static inline void tls_buf_consume(uint8_t **b, size_t *len, size_t n)
{
	memmove(*b, *b + n, *len - n);
	*len -= n;
}

/* The client: trusts the lab's CA, sends SNI name, offers alpn ("" none). */
static inline void tls_client(struct peer_tls *p, struct lab *l, const char *name, const char *alpn)
{
	memset(p, 0, sizeof(*p));
	p->ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
	cr_assert(p->ctx);
	cr_assert_eq(wolfSSL_CTX_load_verify_buffer(p->ctx, l->ca.cert_der, (long)l->ca.cert_len,
	                                            WOLFSSL_FILETYPE_ASN1),
	             WOLFSSL_SUCCESS);
	wolfSSL_CTX_set_verify(p->ctx, WOLFSSL_VERIFY_PEER, NULL);
	cr_assert_eq(sm_tls_init(&p->t, p->ctx, false, p->out, sizeof(p->out)), SM_OK);
	cr_assert_eq(
	        wolfSSL_UseSNI(p->t.ssl, WOLFSSL_SNI_HOST_NAME, name, (unsigned short)strlen(name)),
	        WOLFSSL_SUCCESS);
	cr_assert_eq(wolfSSL_check_domain_name(p->t.ssl, name), WOLFSSL_SUCCESS);
	if (*alpn)
		wolfSSL_UseALPN(p->t.ssl, (char *)alpn, (unsigned)strlen(alpn),
		                WOLFSSL_ALPN_FAILED_ON_MISMATCH);
	p->hs = SM_AGAIN;
}

/* The origin: a leaf for name from the lab's CA, accepts alpn ("" none). */
static inline void tls_origin(struct peer_tls *p, struct lab *l, const char *name, const char *alpn)
{
	memset(p, 0, sizeof(*p));
	uint8_t leaf[SM_FORGE_DER_MAX], key[256];
	size_t leaf_len, key_len;
	int64_t na;
	cr_assert_eq(sm_forge_leaf(&l->forge, name, strlen(name), l->now, leaf, sizeof(leaf),
	                           &leaf_len, &na),
	             SM_OK);
	cr_assert_eq(sm_forge_key_der(&l->forge, key, sizeof(key), &key_len), SM_OK);
	p->ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
	cr_assert(p->ctx);
	cr_assert_eq(wolfSSL_CTX_use_certificate_buffer(p->ctx, leaf, (long)leaf_len,
	                                                WOLFSSL_FILETYPE_ASN1),
	             WOLFSSL_SUCCESS);
	cr_assert_eq(wolfSSL_CTX_use_PrivateKey_buffer(p->ctx, key, (long)key_len,
	                                               WOLFSSL_FILETYPE_ASN1),
	             WOLFSSL_SUCCESS);
	cr_assert_eq(sm_tls_init(&p->t, p->ctx, true, p->out, sizeof(p->out)), SM_OK);
	if (*alpn)
		wolfSSL_UseALPN(p->t.ssl, (char *)alpn, (unsigned)strlen(alpn),
		                WOLFSSL_ALPN_FAILED_ON_MISMATCH);
	p->hs = SM_AGAIN;
}

static inline void tls_peer_free(struct peer_tls *p)
{
	sm_tls_free(&p->t);
	wolfSSL_CTX_free(p->ctx);
	free(p->to_proxy);
	free(p->from_proxy);
	free(p->plain);
}

/* Plaintext for the proxy, encrypted as records. */
static inline void tls_peer_send(struct peer_tls *p, const void *data, size_t n)
{
	const uint8_t *d = data;
	while (n) {
		size_t took;
		cr_assert_eq(sm_tls_write(&p->t, d, n, 0, &took), SM_OK);
		d += took;
		n -= took;
		const uint8_t *q;
		size_t k = sm_tls_out(&p->t, &q);
		tls_buf_add(&p->to_proxy, &p->to_len, q, k);
		sm_tls_out_done(&p->t, k);
	}
}

/* One step of a peer: drive its handshake, collect what it wrote, deliver
 * to the proxy's pending recv in pieces of step, take what the proxy wrote
 * and feed it, read plaintext. true when anything moved. */
static inline bool tls_peer_step(struct engine *e, struct peer_tls *p, size_t step)
{
	bool moved = false;
	if (p->fd < 0)
		return false;
	if (p->hs == SM_AGAIN)
		p->hs = sm_tls_handshake(&p->t);
	const uint8_t *q;
	size_t k = sm_tls_out(&p->t, &q);
	if (k) {
		tls_buf_add(&p->to_proxy, &p->to_len, q, k);
		sm_tls_out_done(&p->t, k);
		moved = true;
	}
	if (p->to_len && eng_find(e, EK_RECV, p->fd)) {
		size_t n = p->to_len < step ? p->to_len : step;
		eng_recv(e, p->fd, p->to_proxy, n);
		tls_buf_consume(&p->to_proxy, &p->to_len, n);
		moved = true;
	}
	struct eng_op *w;
	while ((w = eng_find(e, EK_WRITE, p->fd))) {
		tls_buf_add(&p->from_proxy, &p->from_len, w->p, w->n);
		eng_complete(e, w, (int)w->n, 0);
		moved = true;
	}
	if (p->from_len) {
		size_t n = sm_tls_feed(&p->t, p->from_proxy, p->from_len);
		tls_buf_consume(&p->from_proxy, &p->from_len, n);
		moved |= n > 0;
	}
	if (p->hs == SM_AGAIN)
		p->hs = sm_tls_handshake(&p->t);
	if (p->hs == SM_OK) {
		uint8_t buf[16384];
		size_t got;
		int rc;
		while ((rc = sm_tls_read(&p->t, buf, sizeof(buf), &got)) == SM_OK && got) {
			tls_buf_add(&p->plain, &p->plain_len, buf, got);
			moved = true;
		}
		if (rc == SM_OK && !got && !p->eof) {
			p->eof = true;
			moved = true;
		}
	}
	return moved;
}

/* Runs both peers until nothing moves. */
static inline void tls_peers_run(struct engine *e, struct peer_tls *c, struct peer_tls *o,
                                 size_t step)
{
	for (int round = 0; round < 100000; round++) {
		bool moved = tls_peer_step(e, c, step);
		moved |= tls_peer_step(e, o, step);
		if (!moved)
			return;
	}
	cr_assert_fail("the peers never settled");
}

#endif
