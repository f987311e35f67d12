/* The per-reactor TLS state (core/tls_rt.h). */
#include "core/tls_rt.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/result.h"
#include "core/proxy_internal.h"
#include "core/reactor.h"

static int64_t wall_s(void)
{
	return (int64_t)(sm_wall_ns() / 1000000000ull);
}

static bool name_is_ip(const char *s)
{
	struct in6_addr a;
	return inet_pton(AF_INET, s, &a) == 1 || inet_pton(AF_INET6, s, &a) == 1;
}

static void release_entry(void *user, void *arg)
{
	(void)user, (void)arg; /* entries hold only DER: nothing to free */
}

int sm_tls_rt_init(struct sm_reactor *r, char *err, size_t errcap)
{
	const struct sm_proxy_rt *rt = r->rt;
	if (!rt->ca)
		return SM_OK; /* this configuration never intercepts */
	struct sm_tls_rt *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errcap, "tls: out of memory");
		return SM_ERR_NOMEM;
	}
	r->tls = t;
	t->srv = wolfSSL_CTX_new(wolfSSLv23_server_method());
	t->cli = wolfSSL_CTX_new(wolfSSLv23_client_method());
	t->cli_insecure = wolfSSL_CTX_new(wolfSSLv23_client_method());
	if (!t->srv || !t->cli || !t->cli_insecure || wc_InitRng(&t->rng) != 0) {
		snprintf(err, errcap, "tls: cannot create wolfSSL contexts");
		return SM_ERR_NOMEM;
	}
	t->rng_ok = true;
	wolfSSL_CTX_set_verify(t->cli, WOLFSSL_VERIFY_PEER, NULL);
	wolfSSL_CTX_set_verify(t->cli_insecure, WOLFSSL_VERIFY_NONE, NULL);
	if (rt->trust_len &&
	    wolfSSL_CTX_load_verify_buffer(t->cli, rt->trust_pem, (long)rt->trust_len,
	                                   WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
		snprintf(err, errcap, "tls: no usable certificate in the trusted roots");
		return SM_ERR_INVALID;
	}
	if (sm_forge_init(&t->forge, rt->ca, &t->rng) != SM_OK ||
	    sm_forge_key_der(&t->forge, t->key_der, sizeof(t->key_der), &t->key_len) != SM_OK ||
	    sm_certcache_init(&t->cache, r->cfg->tls.cert_cache_size, t->forge.der_max,
	                      release_entry, NULL) != SM_OK) {
		snprintf(err, errcap, "tls: cannot prepare leaf forging");
		return SM_ERR_NOMEM;
	}
	/* wolfSSL_new() refuses a server context without a key pair: give it
	 * the reactor's leaf key and a placeholder leaf; every session then
	 * sets the leaf forged for its own name */
	uint8_t der[SM_FORGE_DER_LIMIT];
	size_t der_len;
	int64_t not_after;
	static const char placeholder[] = "soth-mitm.invalid";
	if (sm_forge_leaf(&t->forge, placeholder, sizeof(placeholder) - 1, wall_s(), der,
	                  sizeof(der), &der_len, &not_after) != SM_OK ||
	    wolfSSL_CTX_use_certificate_buffer(t->srv, der, (long)der_len, WOLFSSL_FILETYPE_ASN1) !=
	            WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_use_PrivateKey_buffer(t->srv, t->key_der, (long)t->key_len,
	                                      WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
		snprintf(err, errcap, "tls: cannot set up the client-facing context");
		return SM_ERR_INVALID;
	}
	return SM_OK;
}

void sm_tls_rt_free(struct sm_reactor *r)
{
	struct sm_tls_rt *t = r->tls;
	if (!t)
		return;
	sm_certcache_free(&t->cache);
	sm_forge_free(&t->forge);
	if (t->rng_ok)
		wc_FreeRng(&t->rng);
	if (t->srv)
		wolfSSL_CTX_free(t->srv);
	if (t->cli)
		wolfSSL_CTX_free(t->cli);
	if (t->cli_insecure)
		wolfSSL_CTX_free(t->cli_insecure);
	free(t);
	r->tls = NULL;
}

bool sm_tls_rt_leaf(struct sm_reactor *r, WOLFSSL *ssl, const char *name, bool *hit,
                    uint64_t *forge_us)
{
	struct sm_tls_rt *t = r->tls;
	size_t len = strlen(name);
	bool ip = name_is_ip(name);
	int64_t now = wall_s();
	uint64_t t0 = sm_now_ns();
	struct sm_certcache_entry *e = sm_certcache_get(&t->cache, name, len, ip, now);
	*hit = e != NULL;
	*forge_us = 0;
	if (!e) {
		uint8_t der[SM_FORGE_DER_LIMIT];
		size_t der_len;
		int64_t not_after;
		if (sm_forge_leaf(&t->forge, name, len, now, der, sizeof(der), &der_len,
		                  &not_after) != SM_OK ||
		    sm_certcache_put(&t->cache, name, len, ip, der, der_len, not_after, &e) !=
		            SM_OK)
			return false;
		t->forged++;
		SM_CTR_INC(r, certs_forged);
		*forge_us = (sm_now_ns() - t0) / 1000;
	} else {
		t->cache_hits++;
		SM_CTR_INC(r, cert_cache_hits);
	}
	return wolfSSL_use_certificate_buffer(ssl, e->der, (long)e->der_len,
	                                      WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS &&
	       wolfSSL_use_PrivateKey_buffer(ssl, t->key_der, (long)t->key_len,
	                                     WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS;
}
