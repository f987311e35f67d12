/* The TLS state of one reactor, built on its thread at start-up when the
 * configuration intercepts: wolfSSL contexts for each side, the leaf
 * forger and the cache of forged leaves. */
#ifndef SM_CORE_TLS_RT_H
#define SM_CORE_TLS_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/random.h>

#include "tls/certcache.h"
#include "tls/forge.h"

struct sm_reactor;

struct sm_tls_rt {
	WOLFSSL_CTX *srv;          /* client-facing: certificates set per session */
	WOLFSSL_CTX *cli;          /* upstream-facing, verifying */
	WOLFSSL_CTX *cli_insecure; /* upstream-facing, for tls.insecure_hosts */
	WC_RNG rng;
	bool rng_ok;
	struct sm_forge forge;
	struct sm_certcache cache;
	uint8_t key_der[256]; /* the reactor's leaf key (one for every leaf) */
	size_t key_len;
	uint64_t forged, cache_hits;
};

/* r->tls for a configuration with a CA (r->rt->ca); none otherwise. SM_OK
 * or an error with a message in err. */
int sm_tls_rt_init(struct sm_reactor *r, char *err, size_t errcap);
void sm_tls_rt_free(struct sm_reactor *r);

/* Sets the leaf for name (from the cache, else forged now, ~20 us) and the
 * reactor's key on ssl; *hit, *forge_us say which. false on failure. */
bool sm_tls_rt_leaf(struct sm_reactor *r, WOLFSSL *ssl, const char *name, bool *hit,
                    uint64_t *forge_us);

#endif
