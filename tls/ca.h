/* The local certificate authority that signs forged leaf certificates.
 *
 * On first use, sm_ca_open() creates in the CA directory:
 *   ca.key  ECDSA P-256 private key, PEM (SEC1 "EC PRIVATE KEY"), mode 0600
 *   ca.pem  self-signed CA certificate, PEM, mode 0644:
 *           CN "soth-mitm CA <host> <6 hex>", O "soth-mitm",
 *           basicConstraints critical CA:TRUE pathlen:0,
 *           keyUsage critical keyCertSign+cRLSign, subjectKeyIdentifier,
 *           valid from now - 1 h for 10 years
 * Files are written to a temporary file of our own (final mode), fsync'ed
 * and hard-linked into place, never replacing an existing file: a crash
 * never leaves half a key, and concurrent first runs on one directory end
 * with one CA (the first to publish wins, the others load its files; the
 * key is published before the certificate). Later runs load them and
 * refuse a key file that group or others can access (the error names the
 * file, its mode, and the chmod to run), a certificate that does not match
 * the key, one that is not a CA, or one that has expired.
 * If ca.key exists without ca.pem (a crash during first run), the
 * certificate is re-created from the key; ca.pem without ca.key is an error.
 *
 * A CA brought by the user (a corporate root, put in the directory as
 * ca.key and ca.pem) may also be RSA, 2048..4096 bits, PKCS #1 or PKCS #8;
 * its leaves are then signed sha256WithRSAEncryption (their own keys stay
 * ECDSA P-256). Other key types are refused with the reason.
 *
 * Start-up only, main thread: blocking file I/O is fine here. The loaded
 * CA is immutable afterwards and may be shared read-only by reactors; each
 * reactor signs with its own copy of the key (sm_ca_signer) because
 * wolfSSL's keys are not safe to use from two threads at once. */
#ifndef SM_TLS_CA_H
#define SM_TLS_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls/x509.h"

#define SM_CA_PATH_MAX         1024u
#define SM_CA_PEM_MAX          8192u /* key or certificate file, PEM */
#define SM_CA_VALIDITY_SECONDS (10LL * 365 * 24 * 3600 + 2 * 24 * 3600) /* 10 y */
#define SM_CA_KEY_FILE         "ca.key"
#define SM_CA_CERT_FILE        "ca.pem"

struct sm_ca {
	char dir[SM_CA_PATH_MAX];
	char key_path[SM_CA_PATH_MAX];
	char cert_path[SM_CA_PATH_MAX];
	uint8_t cert_der[SM_X509_CERT_MAX];
	size_t cert_len;
	uint8_t key_der[SM_X509_KEY_DER_MAX]; /* private key DER; wiped by sm_ca_close */
	size_t key_len;
	enum sm_x509_sig_alg alg; /* what the key signs with */
	struct sm_x509_info info; /* points into cert_der: never copy a struct sm_ca */
	bool created;             /* this sm_ca_open created the CA */
};

/* Default CA directory: $XDG_DATA_HOME/soth-mitm, else
 * $HOME/.local/share/soth-mitm. SM_OK, or SM_ERR_LIMIT / SM_ERR_INVALID
 * (no usable environment). */
int sm_ca_default_dir(char *out, size_t cap);

/* Loads the CA from dir (NULL: the default), creating it (and dir, mode
 * 0700) on first use. now is Unix seconds (validity of a new CA, expiry
 * check). On failure returns a negative sm_result and writes a one-line,
 * human-readable reason to err. */
int sm_ca_open(struct sm_ca *ca, const char *dir, int64_t now, char *err, size_t err_cap);

/* Wipes the private key bytes. */
void sm_ca_close(struct sm_ca *ca);

/* The certificate as PEM (NUL-terminated). SM_OK or SM_ERR_LIMIT. */
int sm_ca_pem(const struct sm_ca *ca, char *out, size_t cap, size_t *len);

/* Decodes the CA private key into a signer of the caller's (free it with
 * sm_x509_signer_free). SM_OK or negative. */
int sm_ca_signer(const struct sm_ca *ca, struct sm_x509_signer *key);

#endif
