/* Forging leaf certificates for intercepted hosts, one sm_forge per reactor.
 *
 * A leaf is: ECDSA P-256; subject CN = the name (omitted when longer than
 * 64 characters, the X.520 upper bound, and then the SAN is critical);
 * subjectAltName = dNSName for a host name, iPAddress for an IPv4/IPv6
 * literal; random positive 16-byte serial; notBefore = now - 1 h (clients
 * with slow clocks), notAfter = min(now + SM_FORGE_VALIDITY_SECONDS, CA
 * notAfter); basicConstraints CA:FALSE and keyUsage digitalSignature
 * (critical), extendedKeyUsage serverAuth, authorityKeyIdentifier = the CA's
 * subjectKeyIdentifier (left out when the CA has none); signed by the CA
 * with its algorithm: ecdsa-with-SHA256, or sha256WithRSAEncryption for an
 * RSA CA.
 *
 * Validity is one week: long enough that a cached leaf outlives any flow,
 * short enough that a leaked leaf key is of little use, and well under every
 * client's maximum (398 days).
 *
 * One leaf key per reactor, made at init and reused for every leaf: a
 * forge then costs one ECDSA signature (no key generation on the hot path),
 * and all TLS contexts of the reactor can share the key. Reuse exposes
 * nothing new: the key never leaves the process, which also holds the CA
 * key that could sign anything.
 *
 * Not thread-safe: a reactor owns its sm_forge; the CA is shared read-only
 * (each forge decodes its own copy of the CA key). */
#ifndef SM_TLS_FORGE_H
#define SM_TLS_FORGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls/ca.h"
#include "tls/x509.h"

#define SM_FORGE_VALIDITY_SECONDS (7LL * 24 * 3600)
#define SM_FORGE_BACKDATE_SECONDS 3600LL
#define SM_FORGE_CN_MAX           64u
#define SM_FORGE_NAME_MAX         253u  /* longest DNS name in text form */
#define SM_FORGE_DER_MAX          1280u /* a 253-byte name, the built-in CA (P-256) */
#define SM_FORGE_DER_LIMIT        4096u /* any CA: sm_forge_init refuses bigger leaves */

struct sm_forge {
	const struct sm_ca *ca;
	WC_RNG *rng;
	struct sm_x509_signer ca_key; /* this reactor's copy of the CA private key */
	ecc_key leaf_key;             /* shared by every leaf this reactor forges */
	uint8_t spki[SM_X509_SPKI_MAX];
	size_t spki_len;
	uint8_t leaf_ski[SM_X509_KEYID_LEN];
	bool ready;
	size_t der_max;  /* largest leaf this CA gives: SM_FORGE_DER_MAX for ours */
	uint64_t forged; /* leaves signed */
	uint64_t failed; /* forge calls that returned an error */
};

/* Copies the CA key and generates this reactor's leaf key using rng (the
 * reactor's RNG, which must outlive f). Sets f->der_max, the leaf size
 * bound for this CA (its signature and issuer name): SM_ERR_LIMIT when it
 * would pass SM_FORGE_DER_LIMIT. SM_OK or negative. */
int sm_forge_init(struct sm_forge *f, const struct sm_ca *ca, WC_RNG *rng);
void sm_forge_free(struct sm_forge *f);

/* Parses an IP literal ("192.0.2.1", "2001:db8::1", "[2001:db8::1]") into
 * network-order bytes (4 or 16). False for anything else. */
bool sm_forge_parse_ip(const char *name, size_t len, uint8_t ip[16], size_t *ip_len);

/* Forges a leaf for name (a DNS name from SNI/CONNECT, or an IP literal;
 * printable ASCII, at most SM_FORGE_NAME_MAX bytes) at time now (Unix
 * seconds). Writes DER into der (cap >= f->der_max is always enough)
 * and the leaf's notAfter into *not_after. SM_OK, SM_ERR_INVALID (bad
 * name, crypto failure), SM_ERR_LIMIT (cap), SM_ERR_STATE (CA expired). */
int sm_forge_leaf(struct sm_forge *f, const char *name, size_t len, int64_t now, uint8_t *der,
                  size_t cap, size_t *der_len, int64_t *not_after);

/* The shared leaf private key as SEC1 DER, for the TLS context. */
int sm_forge_key_der(struct sm_forge *f, uint8_t *out, size_t cap, size_t *len);

#endif
