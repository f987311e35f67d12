/* X.509 pieces shared by the CA (tls/ca) and the leaf forge (tls/forge):
 * a TBSCertificate builder, signing with the CA's key (ECDSA P-256 or RSA,
 * SHA-256), key identifiers and a small parser for the fields we need back
 * from a certificate.
 *
 * We encode certificates ourselves (tls/der) and use wolfSSL only for the
 * cryptography: wolfSSL 5.5.4's certificate generator cannot mark
 * basicConstraints critical, takes its validity from the wall clock, and
 * costs a large Cert struct per call; our encoder is a few hundred bytes of
 * straight-line writes, deterministic given (time, serial, key). */
#ifndef SM_TLS_X509_H
#define SM_TLS_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include "tls/der.h"

#define SM_X509_SERIAL_LEN   16u
#define SM_X509_KEYID_LEN    20u   /* SHA-1 of the public key (RFC 5280 4.2.1.2 (1)) */
#define SM_X509_SPKI_MAX     128u  /* P-256 SubjectPublicKeyInfo is 91 bytes */
#define SM_X509_CA_SPKI_MAX  640u  /* RSA-4096 SubjectPublicKeyInfo is 550 bytes */
#define SM_X509_CERT_MAX     4096u /* ours are ~500-700 bytes; a corporate RSA root ~1-2 KiB */
#define SM_X509_KEY_DER_MAX  3072u /* a PKCS #8 RSA-4096 private key is ~2.4 KiB */
#define SM_X509_RSA_MIN_BITS 2048
#define SM_X509_RSA_MAX_BITS 4096

/* DER of the OIDs we write (content bytes only). */
extern const uint8_t sm_x509_oid_bc[3], sm_x509_oid_ku[3], sm_x509_oid_ski[3], sm_x509_oid_aki[3],
        sm_x509_oid_san[3], sm_x509_oid_eku[3];

/* The signature algorithms a CA key gives. */
enum sm_x509_sig_alg {
	SM_X509_ECDSA_SHA256 = 0, /* ecdsa-with-SHA256 (a P-256 key) */
	SM_X509_RSA_SHA256,       /* sha256WithRSAEncryption, PKCS #1 v1.5 */
};

/* A private key that signs certificates (the CA's). Not for two threads:
 * each reactor opens its own from the CA's DER. */
struct sm_x509_signer {
	enum sm_x509_sig_alg alg;
	bool ready; /* the key below is initialised: sm_x509_signer_free frees it */
	union {
		ecc_key ec;
		RsaKey rsa;
	} k;
};

/* Why a private key cannot sign certificates (sm_x509_signer_open). */
enum sm_x509_key_error {
	SM_X509_KEY_OK = 0,
	SM_X509_KEY_UNKNOWN,  /* neither an EC nor an RSA private key */
	SM_X509_KEY_EC_CURVE, /* EC on a curve other than P-256 */
	SM_X509_KEY_RSA_BITS, /* RSA outside SM_X509_RSA_MIN_BITS..MAX_BITS */
};

/* Decodes a private key: SEC1 or PKCS #8 P-256, PKCS #1 or PKCS #8 RSA of
 * 2048..4096 bits. SM_OK, SM_ERR_INVALID (then *why, and *detail: the
 * curve id or the RSA bits, may be NULL) or SM_ERR_NOMEM. */
int sm_x509_signer_open(struct sm_x509_signer *s, const uint8_t *der, size_t len,
                        enum sm_x509_key_error *why, int *detail);
void sm_x509_signer_free(struct sm_x509_signer *s);

/* The signer's SubjectPublicKeyInfo DER (cap >= SM_X509_CA_SPKI_MAX). */
int sm_x509_signer_spki(struct sm_x509_signer *s, uint8_t *out, size_t cap, size_t *len);

/* Largest signature the signer makes, in bytes (DER ECDSA or the RSA
 * modulus). */
size_t sm_x509_signer_sig_max(const struct sm_x509_signer *s);

struct sm_x509_tbs {
	enum sm_x509_sig_alg sig; /* the issuer key's algorithm (0: ECDSA) */
	const uint8_t *serial;    /* SM_X509_SERIAL_LEN bytes, positive */
	const uint8_t *issuer;    /* Name DER */
	size_t issuer_len;
	const uint8_t *subject; /* Name DER */
	size_t subject_len;
	int64_t not_before, not_after; /* Unix seconds */
	const uint8_t *spki;           /* SubjectPublicKeyInfo DER */
	size_t spki_len;
	const uint8_t *exts; /* concatenated Extension DERs (sm_x509_ext) */
	size_t exts_len;
};

/* Writes a v3 TBSCertificate naming t->sig as its signature algorithm. */
int sm_x509_tbs(const struct sm_x509_tbs *t, uint8_t *out, size_t cap, size_t *len);

/* Signs tbs (made for s->alg) with SHA-256 and s's key; writes the
 * Certificate DER. */
int sm_x509_sign(const uint8_t *tbs, size_t tbs_len, struct sm_x509_signer *s, WC_RNG *rng,
                 uint8_t *out, size_t cap, size_t *len);

/* Appends one Extension { oid, critical?, OCTET STRING { value } }. */
void sm_x509_ext(struct sm_der_w *w, const uint8_t *oid, size_t oid_len, bool critical,
                 const uint8_t *value, size_t value_len);

/* Writes a Name: [O=org,] CN=cn (UTF8String). cn_len 0: an empty Name. */
void sm_x509_name(struct sm_der_w *w, const char *org, const char *cn, size_t cn_len);

/* Random positive serial (top bit clear, second bit set: exactly 16 content
 * bytes, no DER padding, 126 random bits). */
int sm_x509_serial(WC_RNG *rng, uint8_t serial[SM_X509_SERIAL_LEN]);

/* SubjectPublicKeyInfo of key's public part. */
int sm_x509_spki(ecc_key *key, uint8_t *out, size_t cap, size_t *len);

/* Key identifier: SHA-1 over the subjectPublicKey BIT STRING value. */
int sm_x509_key_id(const uint8_t *spki, size_t spki_len, uint8_t id[SM_X509_KEYID_LEN]);

/* What we read back from a certificate. Windows point into the DER. */
struct sm_x509_info {
	struct sm_der_r tbs;     /* whole TBSCertificate TLV */
	struct sm_der_r issuer;  /* whole Name TLV */
	struct sm_der_r subject; /* whole Name TLV */
	struct sm_der_r spki;    /* whole SubjectPublicKeyInfo TLV */
	int64_t not_before, not_after;
	bool is_ca; /* basicConstraints cA TRUE */
	bool bc_critical;
	bool has_ski;
	uint8_t ski[64]; /* ours are 20 bytes; longer ones are ignored (has_ski false) */
	size_t ski_len;
	bool has_san;
	struct sm_der_r san; /* subjectAltName: the GeneralNames' content */
};

/* Parses the fields above; SM_OK or SM_ERR_INVALID (also for a second
 * subjectAltName extension, RFC 5280 4.2). */
int sm_x509_parse(const uint8_t *der, size_t len, struct sm_x509_info *out);

/* Whether the subjectAltName holds the address ip (4 or 16 bytes) as an
 * iPAddress, byte for byte. Only iPAddress entries name an address: a
 * dNSName spelling one, or the CN, never does (RFC 9525 6.2). A malformed
 * GeneralNames stops the walk: false. */
bool sm_x509_san_has_ip(const struct sm_x509_info *info, const uint8_t *ip, size_t len);

#endif
