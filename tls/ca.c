#include "tls/ca.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "base/result.h"

#define PEM_MAX SM_CA_PEM_MAX

static int errf(char *err, size_t cap, int code, const char *fmt, ...)
{
	if (err && cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return code;
}

int sm_ca_default_dir(char *out, size_t cap)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	int n;
	if (xdg && xdg[0] == '/') {
		n = snprintf(out, cap, "%s/soth-mitm", xdg);
	} else {
		const char *home = getenv("HOME");
		if (!home || home[0] != '/')
			return SM_ERR_INVALID;
		n = snprintf(out, cap, "%s/.local/share/soth-mitm", home);
	}
	if (n < 0 || (size_t)n >= cap)
		return SM_ERR_LIMIT;
	return SM_OK;
}

/* mkdir -p; the last component gets mode 0700 (it holds a private key). */
static int mkdirs(const char *dir, char *err, size_t err_cap)
{
	char p[SM_CA_PATH_MAX];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof(p))
		return errf(err, err_cap, SM_ERR_LIMIT, "CA directory path is empty or too long");
	memcpy(p, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char c = p[i];
		p[i] = '\0';
		if (mkdir(p, c == '\0' ? 0700 : 0755) != 0 && errno != EEXIST)
			return errf(err, err_cap, SM_ERR_IO, "cannot create directory %s: %s", p,
			            strerror(errno));
		p[i] = c;
	}
	return SM_OK;
}

/* Reads a whole small file; *mode gets st_mode. -ENOENT style: returns
 * SM_ERR_IO with errno preserved. */
static int read_small(const char *path, uint8_t *buf, size_t cap, size_t *len, mode_t *mode)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return SM_ERR_IO;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return SM_ERR_IO;
	}
	*mode = st.st_mode;
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size >= cap) {
		close(fd);
		errno = EFBIG;
		return SM_ERR_LIMIT;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*len = got;
	return SM_OK;
}

/* Publishes data as path, never replacing it: written to a temporary file
 * of our own in the same directory (mkostemp, the final mode), fsync'ed,
 * then hard-linked to path, which fails with EEXIST when another process
 * published first (link has O_EXCL semantics; renameat2 RENAME_NOREPLACE
 * where the file system has no hard links). *won says which happened; the
 * loser reads the winner's file, so concurrent first runs share one CA. */
static int publish(const char *dir, const char *path, const void *data, size_t len, mode_t mode,
                   bool *won, char *err, size_t err_cap)
{
	char tmp[SM_CA_PATH_MAX + 16];
	int n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return errf(err, err_cap, SM_ERR_LIMIT, "path too long: %s", path);
	int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 until fchmod */
	if (fd < 0)
		return errf(err, err_cap, SM_ERR_IO, "cannot create a temporary file for %s: %s",
		            path, strerror(errno));
	int rc = SM_OK;
	if (fchmod(fd, mode) != 0)
		rc = SM_ERR_IO;
	size_t off = 0;
	while (rc == SM_OK && off < len) {
		ssize_t w = write(fd, (const uint8_t *)data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = SM_ERR_IO;
		else
			off += (size_t)w;
	}
	if (rc == SM_OK && fsync(fd) != 0)
		rc = SM_ERR_IO;
	int e = errno;
	close(fd);
	*won = false;
	bool renamed = false;
	if (rc == SM_OK) {
		int l = link(tmp, path);
		if (l != 0 && (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS)) {
			l = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
			renamed = l == 0;
		}
		if (l == 0)
			*won = true;
		else if (errno != EEXIST)
			rc = SM_ERR_IO, e = errno;
	}
	if (!renamed)
		unlink(tmp); /* a linked path keeps the data */
	if (rc != SM_OK)
		return errf(err, err_cap, rc, "cannot write %s: %s", path, strerror(e));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return SM_OK;
}

/* CN suffix: the host name (printable part, trimmed) and 6 random hex
 * digits, so two CAs made on one host never share a subject name. */
static void ca_common_name(WC_RNG *rng, char *out, size_t cap)
{
	char host[64] = "";
	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	for (char *c = host; *c; c++) {
		if (*c <= 0x20 || *c >= 0x7f)
			*c = '-';
	}
	uint8_t r[3] = {0};
	wc_RNG_GenerateBlock(rng, r, sizeof(r));
	/* "soth-mitm CA " + host (<= 32) + " " + 6 hex: within the 64 of CN */
	if (host[0])
		snprintf(out, cap, "soth-mitm CA %.32s %02x%02x%02x", host, r[0], r[1], r[2]);
	else
		snprintf(out, cap, "soth-mitm CA %02x%02x%02x", r[0], r[1], r[2]);
}

/* Self-signed CA certificate for key, written to ca->cert_der. */
static int make_ca_cert(struct sm_ca *ca, struct sm_x509_signer *key, WC_RNG *rng, int64_t now)
{
	uint8_t spki[SM_X509_SPKI_MAX], ski[SM_X509_KEYID_LEN], serial[SM_X509_SERIAL_LEN];
	uint8_t name[256], exts[256], tbs[SM_X509_CERT_MAX];
	size_t spki_len, name_len, exts_len, tbs_len;
	char cn[64];
	int rc;

	if ((rc = sm_x509_signer_spki(key, spki, sizeof(spki), &spki_len)) != SM_OK)
		return rc;
	if ((rc = sm_x509_key_id(spki, spki_len, ski)) != SM_OK)
		return rc;
	if ((rc = sm_x509_serial(rng, serial)) != SM_OK)
		return rc;
	ca_common_name(rng, cn, sizeof(cn));

	struct sm_der_w w;
	sm_der_w_init(&w, name, sizeof(name));
	sm_x509_name(&w, "soth-mitm", cn, strlen(cn));
	if ((rc = sm_der_finish(&w, &name_len)) != SM_OK)
		return rc;

	/* basicConstraints { cA TRUE, pathLenConstraint 0 }: it signs leaves
	 * only. keyUsage: keyCertSign (bit 5) + cRLSign (bit 6). */
	static const uint8_t bc[] = {0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00};
	static const uint8_t ku[] = {0x03, 0x02, 0x01, 0x06};
	uint8_t ski_v[2 + SM_X509_KEYID_LEN] = {SM_DER_OCTET_STRING, SM_X509_KEYID_LEN};
	memcpy(ski_v + 2, ski, SM_X509_KEYID_LEN);
	sm_der_w_init(&w, exts, sizeof(exts));
	sm_x509_ext(&w, sm_x509_oid_bc, 3, true, bc, sizeof(bc));
	sm_x509_ext(&w, sm_x509_oid_ku, 3, true, ku, sizeof(ku));
	sm_x509_ext(&w, sm_x509_oid_ski, 3, false, ski_v, sizeof(ski_v));
	if ((rc = sm_der_finish(&w, &exts_len)) != SM_OK)
		return rc;

	struct sm_x509_tbs t = {
	        .sig = key->alg,
	        .serial = serial,
	        .issuer = name,
	        .issuer_len = name_len,
	        .subject = name,
	        .subject_len = name_len,
	        .not_before = now - 3600,
	        .not_after = now + SM_CA_VALIDITY_SECONDS,
	        .spki = spki,
	        .spki_len = spki_len,
	        .exts = exts,
	        .exts_len = exts_len,
	};
	if ((rc = sm_x509_tbs(&t, tbs, sizeof(tbs), &tbs_len)) != SM_OK)
		return rc;
	return sm_x509_sign(tbs, tbs_len, key, rng, ca->cert_der, sizeof(ca->cert_der),
	                    &ca->cert_len);
}

/* Publishes the certificate in ca->cert_der; *won false: another process
 * published one first (load_cert reads that one). */
static int write_cert(struct sm_ca *ca, bool *won, char *err, size_t err_cap)
{
	char pem[PEM_MAX];
	size_t len;
	if (sm_ca_pem(ca, pem, sizeof(pem), &len) != SM_OK)
		return errf(err, err_cap, SM_ERR_LIMIT, "cannot encode the CA certificate");
	return publish(ca->dir, ca->cert_path, pem, len, 0644, won, err, err_cap);
}

/* Makes and publishes a new key; *won false: another process published
 * one first, and key is left for the caller to load that one into. */
static int create_key(struct sm_ca *ca, struct sm_x509_signer *key, WC_RNG *rng, bool *won,
                      char *err, size_t err_cap)
{
	char pem[PEM_MAX];
	if (wc_ecc_init(&key->k.ec) != 0)
		return errf(err, err_cap, SM_ERR_NOMEM, "cannot initialise an ECC key");
	key->alg = SM_X509_ECDSA_SHA256;
	key->ready = true;
	ca->alg = key->alg;
	if (wc_ecc_make_key_ex(rng, 32, &key->k.ec, ECC_SECP256R1) != 0)
		return errf(err, err_cap, SM_ERR_INVALID, "P-256 key generation failed");
	int n = wc_EccKeyToDer(&key->k.ec, ca->key_der, sizeof(ca->key_der));
	if (n <= 0)
		return errf(err, err_cap, SM_ERR_INVALID, "cannot encode the CA key");
	ca->key_len = (size_t)n;
	int p = wc_DerToPem(ca->key_der, (word32)ca->key_len, (byte *)pem, sizeof(pem),
	                    ECC_PRIVATEKEY_TYPE);
	if (p <= 0)
		return errf(err, err_cap, SM_ERR_INVALID, "cannot encode the CA key as PEM");
	int rc = publish(ca->dir, ca->key_path, pem, (size_t)p, 0600, won, err, err_cap);
	explicit_bzero(pem, sizeof(pem));
	return rc;
}

static int load_key(struct sm_ca *ca, struct sm_x509_signer *key, char *err, size_t err_cap)
{
	uint8_t pem[PEM_MAX];
	size_t len = 0;
	mode_t mode = 0;
	int rc = read_small(ca->key_path, pem, sizeof(pem), &len, &mode);
	if (rc != SM_OK)
		return errf(err, err_cap, rc, "cannot read CA key %s: %s", ca->key_path,
		            strerror(errno));
	if (mode & 077) {
		explicit_bzero(pem, sizeof(pem));
		return errf(err, err_cap, SM_ERR_STATE,
		            "CA key %s has mode %04o: group or others can access it; "
		            "run: chmod 600 %s",
		            ca->key_path, (unsigned)(mode & 07777), ca->key_path);
	}
	/* PKCS #8 "ENCRYPTED PRIVATE KEY" or a PKCS #1 "Proc-Type: 4,ENCRYPTED" */
	bool encrypted = memmem(pem, len, "ENCRYPTED", 9) != NULL;
	int n = encrypted ? 0
	                  : wc_KeyPemToDer(pem, (int)len, ca->key_der, sizeof(ca->key_der), NULL);
	explicit_bzero(pem, sizeof(pem));
	if (encrypted)
		return errf(err, err_cap, SM_ERR_INVALID,
		            "CA key %s is encrypted: store it without a passphrase "
		            "(openssl pkey -in KEY -out %s, then chmod 600)",
		            ca->key_path, ca->key_path);
	if (n <= 0)
		return errf(err, err_cap, SM_ERR_INVALID, "CA key %s is not a PEM private key",
		            ca->key_path);
	ca->key_len = (size_t)n;
	enum sm_x509_key_error why;
	int detail;
	rc = sm_x509_signer_open(key, ca->key_der, ca->key_len, &why, &detail);
	if (rc == SM_OK) {
		ca->alg = key->alg;
		return SM_OK;
	}
	if (why == SM_X509_KEY_EC_CURVE) {
		const char *curve = wc_ecc_get_name(detail);
		return errf(err, err_cap, SM_ERR_INVALID,
		            "CA key %s is an ECDSA key on curve %s: CA keys must be ECDSA P-256 or "
		            "RSA 2048..4096 bits",
		            ca->key_path, curve ? curve : "?");
	}
	if (why == SM_X509_KEY_RSA_BITS)
		return errf(err, err_cap, SM_ERR_INVALID,
		            "CA key %s is an RSA key of %d bits: RSA CA keys must have 2048..4096 "
		            "bits",
		            ca->key_path, detail);
	return errf(err, err_cap, rc,
	            "CA key %s is neither an ECDSA P-256 nor an RSA private key (the key types "
	            "a CA may have)",
	            ca->key_path);
}

static int load_cert(struct sm_ca *ca, struct sm_x509_signer *key, int64_t now, char *err,
                     size_t err_cap)
{
	uint8_t pem[PEM_MAX];
	size_t len = 0;
	mode_t mode = 0;
	int rc = read_small(ca->cert_path, pem, sizeof(pem), &len, &mode);
	if (rc != SM_OK)
		return errf(err, err_cap, rc, "cannot read CA certificate %s: %s", ca->cert_path,
		            strerror(errno));
	int n = wc_CertPemToDer(pem, (int)len, ca->cert_der, sizeof(ca->cert_der), CERT_TYPE);
	if (n <= 0)
		return errf(err, err_cap, SM_ERR_INVALID, "%s is not a PEM certificate",
		            ca->cert_path);
	ca->cert_len = (size_t)n;
	if (sm_x509_parse(ca->cert_der, ca->cert_len, &ca->info) != SM_OK)
		return errf(err, err_cap, SM_ERR_INVALID, "%s: cannot parse the certificate",
		            ca->cert_path);
	if (!ca->info.is_ca)
		return errf(err, err_cap, SM_ERR_INVALID, "%s is not a CA certificate",
		            ca->cert_path);
	uint8_t spki[SM_X509_CA_SPKI_MAX];
	size_t spki_len;
	if (sm_x509_signer_spki(key, spki, sizeof(spki), &spki_len) != SM_OK ||
	    spki_len != ca->info.spki.left || memcmp(spki, ca->info.spki.p, spki_len) != 0)
		return errf(err, err_cap, SM_ERR_INVALID, "%s does not belong to the key in %s",
		            ca->cert_path, ca->key_path);
	if (now >= ca->info.not_after)
		return errf(err, err_cap, SM_ERR_STATE,
		            "CA certificate %s has expired; move %s away to create a new CA",
		            ca->cert_path, ca->dir);
	return SM_OK;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int sm_ca_open(struct sm_ca *ca, const char *dir, int64_t now, char *err, size_t err_cap)
{
	memset(ca, 0, sizeof(*ca));
	if (err && err_cap)
		err[0] = '\0';
	int rc;
	if (dir) {
		int n = snprintf(ca->dir, sizeof(ca->dir), "%s", dir);
		if (n < 0 || (size_t)n >= sizeof(ca->dir))
			return errf(err, err_cap, SM_ERR_LIMIT, "CA directory path too long");
	} else if (sm_ca_default_dir(ca->dir, sizeof(ca->dir)) != SM_OK) {
		return errf(err, err_cap, SM_ERR_INVALID,
		            "no CA directory: set --ca-dir, XDG_DATA_HOME or HOME");
	}
	int a = snprintf(ca->key_path, sizeof(ca->key_path), "%s/" SM_CA_KEY_FILE, ca->dir);
	int b = snprintf(ca->cert_path, sizeof(ca->cert_path), "%s/" SM_CA_CERT_FILE, ca->dir);
	if (a < 0 || b < 0 || (size_t)a >= sizeof(ca->key_path) ||
	    (size_t)b >= sizeof(ca->cert_path))
		return errf(err, err_cap, SM_ERR_LIMIT, "CA directory path too long");
	if ((rc = mkdirs(ca->dir, err, err_cap)) != SM_OK)
		return rc;

	/* The key is published before the certificate, so checking the
	 * certificate first never sees a certificate "without" a key that a
	 * concurrent first run is about to publish. */
	bool have_cert = exists(ca->cert_path);
	bool have_key = exists(ca->key_path);
	if (have_cert && !have_key)
		return errf(err, err_cap, SM_ERR_STATE,
		            "%s exists but its key %s is missing; restore the key or move %s "
		            "away to create a new CA",
		            ca->cert_path, ca->key_path, ca->dir);

	WC_RNG rng;
	struct sm_x509_signer key = {0};
	if (wc_InitRng(&rng) != 0)
		return errf(err, err_cap, SM_ERR_INVALID, "cannot seed the random generator");
	bool won = false;
	if (!have_key) {
		rc = create_key(ca, &key, &rng, &won, err, err_cap);
		if (rc == SM_OK && !won) { /* lost the race: use the winner's key */
			sm_x509_signer_free(&key);
			have_key = true;
		}
	}
	if (rc == SM_OK && have_key)
		rc = load_key(ca, &key, err, err_cap);
	if (rc == SM_OK && !have_cert) {
		rc = make_ca_cert(ca, &key, &rng, now);
		if (rc != SM_OK)
			errf(err, err_cap, rc, "cannot create the CA certificate");
		else
			rc = write_cert(ca, &won, err, err_cap);
		ca->created = rc == SM_OK && won;
	}
	if (rc == SM_OK)
		rc = load_cert(ca, &key, now, err, err_cap);
	sm_x509_signer_free(&key);
	wc_FreeRng(&rng);
	if (rc != SM_OK)
		sm_ca_close(ca);
	return rc;
}

void sm_ca_close(struct sm_ca *ca)
{
	explicit_bzero(ca->key_der, sizeof(ca->key_der));
	ca->key_len = 0;
}

int sm_ca_pem(const struct sm_ca *ca, char *out, size_t cap, size_t *len)
{
	if (cap < 2)
		return SM_ERR_LIMIT;
	int n = wc_DerToPem(ca->cert_der, (word32)ca->cert_len, (byte *)out, (word32)(cap - 1),
	                    CERT_TYPE);
	if (n <= 0)
		return SM_ERR_LIMIT;
	out[n] = '\0';
	*len = (size_t)n;
	return SM_OK;
}

int sm_ca_signer(const struct sm_ca *ca, struct sm_x509_signer *key)
{
	if (ca->key_len == 0)
		return SM_ERR_INVALID;
	return sm_x509_signer_open(key, ca->key_der, ca->key_len, NULL, NULL);
}
