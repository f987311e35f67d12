#include "tls/x509.h"

#include <string.h>

#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "base/result.h"

const uint8_t sm_x509_oid_bc[3] = {0x55, 0x1d, 0x13};
const uint8_t sm_x509_oid_ku[3] = {0x55, 0x1d, 0x0f};
const uint8_t sm_x509_oid_ski[3] = {0x55, 0x1d, 0x0e};
const uint8_t sm_x509_oid_aki[3] = {0x55, 0x1d, 0x23};
const uint8_t sm_x509_oid_san[3] = {0x55, 0x1d, 0x11};
const uint8_t sm_x509_oid_eku[3] = {0x55, 0x1d, 0x25};

static const uint8_t oid_ecdsa_sha256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t oid_rsa_sha256[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b};
static const uint8_t oid_cn[] = {0x55, 0x04, 0x03};
static const uint8_t oid_org[] = {0x55, 0x04, 0x0a};

static void sig_alg(struct sm_der_w *w, enum sm_x509_sig_alg alg)
{
	sm_der_begin(w, SM_DER_SEQUENCE);
	if (alg == SM_X509_RSA_SHA256) {
		/* sha256WithRSAEncryption: parameters NULL (RFC 4055 5) */
		sm_der_tlv(w, SM_DER_OID, oid_rsa_sha256, sizeof(oid_rsa_sha256));
		sm_der_tlv(w, SM_DER_NULL, "", 0);
	} else {
		/* ecdsa-with-SHA256: parameters absent (RFC 5758 3.2) */
		sm_der_tlv(w, SM_DER_OID, oid_ecdsa_sha256, sizeof(oid_ecdsa_sha256));
	}
	sm_der_end(w);
}

int sm_x509_signer_open(struct sm_x509_signer *s, const uint8_t *der, size_t len,
                        enum sm_x509_key_error *why, int *detail)
{
	enum sm_x509_key_error dummy_why;
	int dummy_detail;
	why = why ? why : &dummy_why;
	detail = detail ? detail : &dummy_detail;
	*why = SM_X509_KEY_UNKNOWN;
	*detail = 0;
	memset(s, 0, sizeof(*s));
	uint8_t buf[SM_X509_KEY_DER_MAX];
	if (len > sizeof(buf))
		return SM_ERR_INVALID;
	memcpy(buf, der, len); /* the PKCS #8 reader takes a writable buffer */
	word32 off = 0;
	if (wc_GetPkcs8TraditionalOffset(buf, &off, (word32)len) < 0)
		off = 0; /* not PKCS #8: SEC1 or PKCS #1 */
	int rc = SM_ERR_INVALID;
	word32 idx = off;
	if (wc_ecc_init(&s->k.ec) != 0) {
		rc = SM_ERR_NOMEM;
	} else if (wc_EccPrivateKeyDecode(buf, &idx, &s->k.ec, (word32)len) == 0) {
		int curve = wc_ecc_get_curve_id(s->k.ec.idx);
		if (curve == ECC_SECP256R1) {
			s->alg = SM_X509_ECDSA_SHA256;
			s->ready = true;
			*why = SM_X509_KEY_OK;
			rc = SM_OK;
		} else {
			*why = SM_X509_KEY_EC_CURVE;
			*detail = curve;
			wc_ecc_free(&s->k.ec);
		}
	} else {
		wc_ecc_free(&s->k.ec);
		idx = off;
		if (wc_InitRsaKey(&s->k.rsa, NULL) != 0) {
			rc = SM_ERR_NOMEM;
		} else if (wc_RsaPrivateKeyDecode(buf, &idx, &s->k.rsa, (word32)len) == 0) {
			int bits = wc_RsaEncryptSize(&s->k.rsa) * 8;
			if (bits >= SM_X509_RSA_MIN_BITS && bits <= SM_X509_RSA_MAX_BITS) {
				s->alg = SM_X509_RSA_SHA256;
				s->ready = true;
				*why = SM_X509_KEY_OK;
				rc = SM_OK;
			} else {
				*why = SM_X509_KEY_RSA_BITS;
				*detail = bits;
				wc_FreeRsaKey(&s->k.rsa);
			}
		} else {
			wc_FreeRsaKey(&s->k.rsa);
		}
	}
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

void sm_x509_signer_free(struct sm_x509_signer *s)
{
	if (!s->ready)
		return;
	if (s->alg == SM_X509_RSA_SHA256)
		wc_FreeRsaKey(&s->k.rsa);
	else
		wc_ecc_free(&s->k.ec);
	s->ready = false;
}

int sm_x509_signer_spki(struct sm_x509_signer *s, uint8_t *out, size_t cap, size_t *len)
{
	if (s->alg == SM_X509_ECDSA_SHA256)
		return sm_x509_spki(&s->k.ec, out, cap, len);
	int n = wc_RsaKeyToPublicDer(&s->k.rsa, out, (word32)cap);
	if (n <= 0)
		return SM_ERR_INVALID;
	*len = (size_t)n;
	return SM_OK;
}

size_t sm_x509_signer_sig_max(const struct sm_x509_signer *s)
{
	if (s->alg == SM_X509_RSA_SHA256)
		return (size_t)wc_RsaEncryptSize(&s->k.rsa);
	return 72; /* DER ECDSA P-256: two INTEGERs of up to 33 bytes */
}

int sm_x509_tbs(const struct sm_x509_tbs *t, uint8_t *out, size_t cap, size_t *len)
{
	struct sm_der_w w;
	sm_der_w_init(&w, out, cap);
	sm_der_begin(&w, SM_DER_SEQUENCE);
	sm_der_begin(&w, 0xa0); /* [0] EXPLICIT version */
	sm_der_tlv(&w, SM_DER_INTEGER, "\x02", 1);
	sm_der_end(&w);
	sm_der_tlv(&w, SM_DER_INTEGER, t->serial, SM_X509_SERIAL_LEN);
	sig_alg(&w, t->sig);
	sm_der_raw(&w, t->issuer, t->issuer_len);
	sm_der_begin(&w, SM_DER_SEQUENCE);
	sm_der_time(&w, t->not_before);
	sm_der_time(&w, t->not_after);
	sm_der_end(&w);
	sm_der_raw(&w, t->subject, t->subject_len);
	sm_der_raw(&w, t->spki, t->spki_len);
	if (t->exts_len) {
		sm_der_begin(&w, 0xa3); /* [3] EXPLICIT extensions */
		sm_der_begin(&w, SM_DER_SEQUENCE);
		sm_der_raw(&w, t->exts, t->exts_len);
		sm_der_end(&w);
		sm_der_end(&w);
	}
	sm_der_end(&w);
	return sm_der_finish(&w, len);
}

int sm_x509_sign(const uint8_t *tbs, size_t tbs_len, struct sm_x509_signer *s, WC_RNG *rng,
                 uint8_t *out, size_t cap, size_t *len)
{
	uint8_t hash[WC_SHA256_DIGEST_SIZE];
	/* leading 0: BIT STRING unused bits */
	uint8_t sig[1 + (SM_X509_RSA_MAX_BITS / 8 > ECC_MAX_SIG_SIZE ? SM_X509_RSA_MAX_BITS / 8
	                                                             : ECC_MAX_SIG_SIZE)];
	word32 sig_len = sizeof(sig) - 1;

	if (!s->ready || wc_Sha256Hash(tbs, (word32)tbs_len, hash) != 0)
		return SM_ERR_INVALID;
	if (s->alg == SM_X509_RSA_SHA256) {
		uint8_t info[MAX_ENCODED_SIG_SZ]; /* DigestInfo { sha256, hash } */
		word32 info_len = wc_EncodeSignature(info, hash, sizeof(hash), SHA256h);
		int n = info_len ? wc_RsaSSL_Sign(info, info_len, sig + 1, sig_len, &s->k.rsa, rng)
		                 : -1;
		if (n <= 0)
			return SM_ERR_INVALID;
		sig_len = (word32)n;
	} else if (wc_ecc_sign_hash(hash, sizeof(hash), sig + 1, &sig_len, rng, &s->k.ec) != 0) {
		return SM_ERR_INVALID;
	}
	sig[0] = 0;

	struct sm_der_w w;
	sm_der_w_init(&w, out, cap);
	sm_der_begin(&w, SM_DER_SEQUENCE);
	sm_der_raw(&w, tbs, tbs_len);
	sig_alg(&w, s->alg);
	sm_der_tlv(&w, SM_DER_BIT_STRING, sig, 1 + (size_t)sig_len);
	sm_der_end(&w);
	return sm_der_finish(&w, len);
}

void sm_x509_ext(struct sm_der_w *w, const uint8_t *oid, size_t oid_len, bool critical,
                 const uint8_t *value, size_t value_len)
{
	sm_der_begin(w, SM_DER_SEQUENCE);
	sm_der_tlv(w, SM_DER_OID, oid, oid_len);
	if (critical)
		sm_der_tlv(w, SM_DER_BOOLEAN, "\xff", 1);
	sm_der_tlv(w, SM_DER_OCTET_STRING, value, value_len);
	sm_der_end(w);
}

static void rdn(struct sm_der_w *w, const uint8_t *oid, size_t oid_len, const char *v, size_t n)
{
	sm_der_begin(w, SM_DER_SET);
	sm_der_begin(w, SM_DER_SEQUENCE);
	sm_der_tlv(w, SM_DER_OID, oid, oid_len);
	sm_der_tlv(w, SM_DER_UTF8, v, n);
	sm_der_end(w);
	sm_der_end(w);
}

void sm_x509_name(struct sm_der_w *w, const char *org, const char *cn, size_t cn_len)
{
	sm_der_begin(w, SM_DER_SEQUENCE);
	if (org)
		rdn(w, oid_org, sizeof(oid_org), org, strlen(org));
	if (cn_len)
		rdn(w, oid_cn, sizeof(oid_cn), cn, cn_len);
	sm_der_end(w);
}

int sm_x509_serial(WC_RNG *rng, uint8_t serial[SM_X509_SERIAL_LEN])
{
	if (wc_RNG_GenerateBlock(rng, serial, SM_X509_SERIAL_LEN) != 0)
		return SM_ERR_INVALID;
	serial[0] = (uint8_t)((serial[0] & 0x3f) | 0x40);
	return SM_OK;
}

int sm_x509_spki(ecc_key *key, uint8_t *out, size_t cap, size_t *len)
{
	int n = wc_EccPublicKeyToDer(key, out, (word32)cap, 1);
	if (n <= 0)
		return SM_ERR_INVALID;
	*len = (size_t)n;
	return SM_OK;
}

int sm_x509_key_id(const uint8_t *spki, size_t spki_len, uint8_t id[SM_X509_KEYID_LEN])
{
	struct sm_der_r r = {spki, spki_len}, seq, alg, bits;
	uint8_t tag;
	if (sm_der_next(&r, &tag, &seq, NULL) || tag != SM_DER_SEQUENCE)
		return SM_ERR_INVALID;
	if (sm_der_next(&seq, &tag, &alg, NULL) || tag != SM_DER_SEQUENCE)
		return SM_ERR_INVALID;
	if (sm_der_next(&seq, &tag, &bits, NULL) || tag != SM_DER_BIT_STRING || bits.left < 2)
		return SM_ERR_INVALID;
	/* the key bits, without the unused-bits octet */
	if (wc_ShaHash(bits.p + 1, (word32)(bits.left - 1), id) != 0)
		return SM_ERR_INVALID;
	return SM_OK;
}

static int parse_extensions(struct sm_der_r exts, struct sm_x509_info *out)
{
	struct sm_der_r seq, ext;
	uint8_t tag;
	if (sm_der_next(&exts, &tag, &seq, NULL) || tag != SM_DER_SEQUENCE)
		return SM_ERR_INVALID;
	while (seq.left > 0) {
		if (sm_der_next(&seq, &tag, &ext, NULL) || tag != SM_DER_SEQUENCE)
			return SM_ERR_INVALID;
		struct sm_der_r oid, v;
		bool critical = false;
		if (sm_der_next(&ext, &tag, &oid, NULL) || tag != SM_DER_OID)
			return SM_ERR_INVALID;
		if (sm_der_next(&ext, &tag, &v, NULL))
			return SM_ERR_INVALID;
		if (tag == SM_DER_BOOLEAN) {
			critical = v.left == 1 && v.p[0] != 0;
			if (sm_der_next(&ext, &tag, &v, NULL))
				return SM_ERR_INVALID;
		}
		if (tag != SM_DER_OCTET_STRING)
			return SM_ERR_INVALID;
		if (oid.left == 3 && memcmp(oid.p, sm_x509_oid_bc, 3) == 0) {
			struct sm_der_r bc, ca;
			out->bc_critical = critical;
			if (sm_der_next(&v, &tag, &bc, NULL) || tag != SM_DER_SEQUENCE)
				return SM_ERR_INVALID;
			if (bc.left > 0 && sm_der_next(&bc, &tag, &ca, NULL) == SM_OK &&
			    tag == SM_DER_BOOLEAN && ca.left == 1)
				out->is_ca = ca.p[0] != 0;
		} else if (oid.left == 3 && memcmp(oid.p, sm_x509_oid_ski, 3) == 0) {
			struct sm_der_r id;
			if (sm_der_next(&v, &tag, &id, NULL) || tag != SM_DER_OCTET_STRING)
				return SM_ERR_INVALID;
			if (id.left == 0 || id.left > sizeof(out->ski))
				continue; /* unusable as an AKI: leaves then carry none */
			memcpy(out->ski, id.p, id.left);
			out->ski_len = id.left;
			out->has_ski = true;
		} else if (oid.left == 3 && memcmp(oid.p, sm_x509_oid_san, 3) == 0) {
			if (out->has_san || sm_der_next(&v, &tag, &out->san, NULL) ||
			    tag != SM_DER_SEQUENCE)
				return SM_ERR_INVALID;
			out->has_san = true;
		}
	}
	return SM_OK;
}

bool sm_x509_san_has_ip(const struct sm_x509_info *info, const uint8_t *ip, size_t len)
{
	struct sm_der_r names = info->san, name;
	uint8_t tag;
	if (!info->has_san || (len != 4 && len != 16))
		return false;
	while (names.left > 0) {
		if (sm_der_next(&names, &tag, &name, NULL))
			return false;
		if (tag == 0x87 && name.left == len && memcmp(name.p, ip, len) == 0)
			return true; /* [7] iPAddress */
	}
	return false;
}

int sm_x509_parse(const uint8_t *der, size_t len, struct sm_x509_info *out)
{
	struct sm_der_r r = {der, len}, cert, tbs, f, validity, t;
	uint8_t tag;
	memset(out, 0, sizeof(*out));
	if (sm_der_next(&r, &tag, &cert, NULL) || tag != SM_DER_SEQUENCE || r.left != 0)
		return SM_ERR_INVALID;
	if (sm_der_next(&cert, &tag, &tbs, &out->tbs) || tag != SM_DER_SEQUENCE)
		return SM_ERR_INVALID;
	if (sm_der_next(&tbs, &tag, &f, NULL))
		return SM_ERR_INVALID;
	if (tag == 0xa0 && sm_der_next(&tbs, &tag, &f, NULL)) /* version, then serial */
		return SM_ERR_INVALID;
	if (tag != SM_DER_INTEGER)
		return SM_ERR_INVALID;
	if (sm_der_next(&tbs, &tag, &f, NULL) || tag != SM_DER_SEQUENCE) /* signature alg */
		return SM_ERR_INVALID;
	if (sm_der_next(&tbs, &tag, &f, &out->issuer) || tag != SM_DER_SEQUENCE)
		return SM_ERR_INVALID;
	if (sm_der_next(&tbs, &tag, &validity, NULL) || tag != SM_DER_SEQUENCE)
		return SM_ERR_INVALID;
	if (sm_der_next(&validity, &tag, &t, NULL) || sm_der_parse_time(tag, &t, &out->not_before))
		return SM_ERR_INVALID;
	if (sm_der_next(&validity, &tag, &t, NULL) || sm_der_parse_time(tag, &t, &out->not_after))
		return SM_ERR_INVALID;
	if (sm_der_next(&tbs, &tag, &f, &out->subject) || tag != SM_DER_SEQUENCE)
		return SM_ERR_INVALID;
	if (sm_der_next(&tbs, &tag, &f, &out->spki) || tag != SM_DER_SEQUENCE)
		return SM_ERR_INVALID;
	while (tbs.left > 0) { /* issuer/subject unique IDs, extensions */
		if (sm_der_next(&tbs, &tag, &f, NULL))
			return SM_ERR_INVALID;
		if (tag == 0xa3 && parse_extensions(f, out))
			return SM_ERR_INVALID;
	}
	return SM_OK;
}
