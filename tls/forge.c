#include "tls/forge.h"

#include <arpa/inet.h>
#include <string.h>

#include <wolfssl/wolfcrypt/asn_public.h>

#include "base/result.h"

int sm_forge_init(struct sm_forge *f, const struct sm_ca *ca, WC_RNG *rng)
{
	memset(f, 0, sizeof(*f));
	f->ca = ca;
	f->rng = rng;
	if (wc_ecc_init(&f->leaf_key) != 0)
		return SM_ERR_NOMEM;
	f->ready = true; /* from here sm_forge_free frees what was made */
	if (sm_ca_signer(ca, &f->ca_key) != SM_OK)
		return SM_ERR_INVALID;
	/* SM_FORGE_DER_MAX holds our CA's name (< 128 bytes) and a P-256
	 * signature; another CA adds what its name and signature take more */
	size_t name = ca->info.subject.left, sig = sm_x509_signer_sig_max(&f->ca_key);
	f->der_max =
	        SM_FORGE_DER_MAX + (name > 128 ? name - 128 : 0) + (sig > 72 ? sig - 72 + 8 : 0);
	if (f->der_max > SM_FORGE_DER_LIMIT)
		return SM_ERR_LIMIT;
	if (wc_ecc_make_key_ex(rng, 32, &f->leaf_key, ECC_SECP256R1) != 0)
		return SM_ERR_INVALID;
	int rc = sm_x509_spki(&f->leaf_key, f->spki, sizeof(f->spki), &f->spki_len);
	if (rc == SM_OK)
		rc = sm_x509_key_id(f->spki, f->spki_len, f->leaf_ski);
	return rc;
}

void sm_forge_free(struct sm_forge *f)
{
	if (f->ready) {
		sm_x509_signer_free(&f->ca_key);
		wc_ecc_free(&f->leaf_key);
	}
	f->ready = false;
}

bool sm_forge_parse_ip(const char *name, size_t len, uint8_t ip[16], size_t *ip_len)
{
	char buf[64];
	if (len >= 2 && name[0] == '[' && name[len - 1] == ']') {
		name++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, name, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, ip) == 1) {
		*ip_len = 4;
		return true;
	}
	if (inet_pton(AF_INET6, buf, ip) == 1) {
		*ip_len = 16;
		return true;
	}
	return false;
}

static bool dns_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > SM_FORGE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

static int forge(struct sm_forge *f, const char *name, size_t len, int64_t now, uint8_t *der,
                 size_t cap, size_t *der_len, int64_t *not_after)
{
	uint8_t ip[16], serial[SM_X509_SERIAL_LEN];
	size_t ip_len = 0;
	bool is_ip = sm_forge_parse_ip(name, len, ip, &ip_len);
	if (!is_ip && !dns_name_ok(name, len))
		return SM_ERR_INVALID;

	const struct sm_x509_info *ca = &f->ca->info;
	int64_t nb = now - SM_FORGE_BACKDATE_SECONDS;
	int64_t na = now + SM_FORGE_VALIDITY_SECONDS;
	if (na > ca->not_after)
		na = ca->not_after;
	if (na <= now)
		return SM_ERR_STATE;
	if (nb < ca->not_before)
		nb = ca->not_before;

	int rc = sm_x509_serial(f->rng, serial);
	if (rc != SM_OK)
		return rc;

	/* The CN carries the name as written (an IP literal in its text
	 * form); the SAN is what clients actually match. */
	bool with_cn = len <= SM_FORGE_CN_MAX;
	uint8_t subject[SM_FORGE_CN_MAX + 32];
	size_t subject_len;
	struct sm_der_w w;
	sm_der_w_init(&w, subject, sizeof(subject));
	sm_x509_name(&w, NULL, name, with_cn ? len : 0);
	if ((rc = sm_der_finish(&w, &subject_len)) != SM_OK)
		return rc;

	uint8_t san[SM_FORGE_NAME_MAX + 16];
	size_t san_len;
	sm_der_w_init(&w, san, sizeof(san));
	sm_der_begin(&w, SM_DER_SEQUENCE);
	if (is_ip)
		sm_der_tlv(&w, 0x87, ip, ip_len); /* [7] iPAddress */
	else
		sm_der_tlv(&w, 0x82, name, len); /* [2] dNSName */
	sm_der_end(&w);
	if ((rc = sm_der_finish(&w, &san_len)) != SM_OK)
		return rc;

	static const uint8_t bc[] = {0x30, 0x00};             /* CA:FALSE */
	static const uint8_t ku[] = {0x03, 0x02, 0x07, 0x80}; /* digitalSignature */
	static const uint8_t eku[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
	                              0x01, 0x05, 0x05, 0x07, 0x03, 0x01}; /* serverAuth */
	/* AKI { [0] keyIdentifier = the CA's SKI, whatever its length } */
	uint8_t aki[4 + sizeof(ca->ski)] = {0x30, (uint8_t)(2 + ca->ski_len), 0x80,
	                                    (uint8_t)ca->ski_len};
	uint8_t ski[2 + SM_X509_KEYID_LEN] = {SM_DER_OCTET_STRING, SM_X509_KEYID_LEN};
	memcpy(aki + 4, ca->ski, ca->ski_len);
	memcpy(ski + 2, f->leaf_ski, SM_X509_KEYID_LEN);

	uint8_t exts[512];
	size_t exts_len;
	sm_der_w_init(&w, exts, sizeof(exts));
	sm_x509_ext(&w, sm_x509_oid_bc, 3, true, bc, sizeof(bc));
	sm_x509_ext(&w, sm_x509_oid_ku, 3, true, ku, sizeof(ku));
	sm_x509_ext(&w, sm_x509_oid_eku, 3, false, eku, sizeof(eku));
	sm_x509_ext(&w, sm_x509_oid_san, 3, !with_cn, san, san_len);
	if (ca->has_ski) /* a CA without one (some corporate roots): no AKI either */
		sm_x509_ext(&w, sm_x509_oid_aki, 3, false, aki, 4 + ca->ski_len);
	sm_x509_ext(&w, sm_x509_oid_ski, 3, false, ski, sizeof(ski));
	if ((rc = sm_der_finish(&w, &exts_len)) != SM_OK)
		return rc;

	struct sm_x509_tbs t = {
	        .sig = f->ca_key.alg,
	        .serial = serial,
	        .issuer = ca->subject.p,
	        .issuer_len = ca->subject.left,
	        .subject = subject,
	        .subject_len = subject_len,
	        .not_before = nb,
	        .not_after = na,
	        .spki = f->spki,
	        .spki_len = f->spki_len,
	        .exts = exts,
	        .exts_len = exts_len,
	};
	uint8_t tbs[SM_FORGE_DER_LIMIT];
	size_t tbs_len;
	if ((rc = sm_x509_tbs(&t, tbs, sizeof(tbs), &tbs_len)) != SM_OK)
		return rc;
	if ((rc = sm_x509_sign(tbs, tbs_len, &f->ca_key, f->rng, der, cap, der_len)) != SM_OK)
		return rc;
	*not_after = na;
	return SM_OK;
}

int sm_forge_leaf(struct sm_forge *f, const char *name, size_t len, int64_t now, uint8_t *der,
                  size_t cap, size_t *der_len, int64_t *not_after)
{
	int rc = f->ready ? forge(f, name, len, now, der, cap, der_len, not_after) : SM_ERR_STATE;
	if (rc == SM_OK)
		f->forged++;
	else
		f->failed++;
	return rc;
}

int sm_forge_key_der(struct sm_forge *f, uint8_t *out, size_t cap, size_t *len)
{
	int n = wc_EccKeyToDer(&f->leaf_key, out, (word32)cap);
	if (n <= 0)
		return SM_ERR_LIMIT;
	*len = (size_t)n;
	return SM_OK;
}
