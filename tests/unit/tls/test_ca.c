#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "base/result.h"
#include "tls/ca.h"
#include "tls/ca_cli.h"

static char dir[256];
static struct sm_ca ca; /* large: keep off the stack */

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sm-test-ca-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	/* the CA lives one level down, to test directory creation too */
	strncat(dir, "/ca", sizeof(dir) - strlen(dir) - 1);
}

static void teardown(void)
{
	char cmd[3000];
	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(dir) - 3), dir);
	cr_assert_eq(system(cmd), 0);
}

static mode_t file_mode(const char *name)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	cr_assert_eq(stat(p, &st), 0, "%s", p);
	return st.st_mode & 07777;
}

/* Runs a shell command, returns its stdout (static buffer). */
static const char *run(const char *cmd)
{
	static char out[16384];
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	cr_assert_eq(st, 0, "command failed (%d): %s\n%s", st, cmd, out);
	return out;
}

TestSuite(ca, .init = setup, .fini = teardown);

Test(ca, first_run_creates_key_0600_and_ca_cert)
{
	char err[512];
	int64_t now = (int64_t)time(NULL);
	cr_assert_eq(sm_ca_open(&ca, dir, now, err, sizeof(err)), SM_OK, "%s", err);
	cr_assert(ca.created);
	cr_assert_eq(file_mode("ca.key"), 0600);
	cr_assert_eq(file_mode("ca.pem"), 0644);
	cr_assert_eq(file_mode("."), 0700);
	cr_assert(ca.info.is_ca);
	cr_assert(ca.info.bc_critical);
	cr_assert(ca.info.has_ski);
	cr_assert_eq(ca.info.ski_len, 20);
	cr_assert_eq(ca.info.not_before, now - 3600);
	cr_assert_eq(ca.info.not_after, now + SM_CA_VALIDITY_SECONDS);
	/* self-signed: issuer == subject */
	cr_assert_eq(ca.info.issuer.left, ca.info.subject.left);
	cr_assert_eq(memcmp(ca.info.issuer.p, ca.info.subject.p, ca.info.subject.left), 0);

	/* openssl agrees on every property we promise */
	char cmd[3000];
	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -text -subject", ca.cert_path);
	const char *t = run(cmd);
	cr_assert_not_null(strstr(t, "X509v3 Basic Constraints: critical"), "%s", t);
	cr_assert_not_null(strstr(t, "CA:TRUE, pathlen:0"), "%s", t);
	cr_assert_not_null(strstr(t, "X509v3 Key Usage: critical"), "%s", t);
	cr_assert_not_null(strstr(t, "Certificate Sign, CRL Sign"), "%s", t);
	cr_assert_not_null(strstr(t, "X509v3 Subject Key Identifier"), "%s", t);
	cr_assert_not_null(strstr(t, "prime256v1"), "%s", t);
	cr_assert_not_null(strstr(t, "ecdsa-with-SHA256"), "%s", t);
	cr_assert_not_null(strstr(t, "CN = soth-mitm CA "), "%s", t);
	cr_assert_not_null(strstr(t, "Version: 3"), "%s", t);
	/* self-signature verifies */
	snprintf(cmd, sizeof(cmd), "openssl verify -CAfile '%s' '%s'", ca.cert_path, ca.cert_path);
	cr_assert_not_null(strstr(run(cmd), ": OK"));
	/* the key file is a P-256 key that openssl reads */
	snprintf(cmd, sizeof(cmd), "openssl ec -in '%s' -noout -text 2>/dev/null", ca.key_path);
	cr_assert_not_null(strstr(run(cmd), "prime256v1"));

	/* wolfSSL's own parser accepts it as a trust anchor */
	WOLFSSL_CERT_MANAGER *cm = wolfSSL_CertManagerNew();
	cr_assert_not_null(cm);
	cr_assert_eq(wolfSSL_CertManagerLoadCABuffer(cm, ca.cert_der, (long)ca.cert_len,
	                                             WOLFSSL_FILETYPE_ASN1),
	             WOLFSSL_SUCCESS);
	wolfSSL_CertManagerFree(cm);
	sm_ca_close(&ca);
}

Test(ca, reload_gives_the_same_ca)
{
	char err[512];
	int64_t now = (int64_t)time(NULL);
	cr_assert_eq(sm_ca_open(&ca, dir, now, err, sizeof(err)), SM_OK, "%s", err);
	static uint8_t first[SM_X509_CERT_MAX];
	size_t first_len = ca.cert_len;
	memcpy(first, ca.cert_der, first_len);
	sm_ca_close(&ca);

	cr_assert_eq(sm_ca_open(&ca, dir, now + 100, err, sizeof(err)), SM_OK, "%s", err);
	cr_assert_not(ca.created);
	cr_assert_eq(ca.cert_len, first_len);
	cr_assert_eq(memcmp(ca.cert_der, first, first_len), 0);
	cr_assert_gt(ca.key_len, 0);
	struct sm_x509_signer k;
	cr_assert_eq(sm_ca_signer(&ca, &k), SM_OK);
	cr_assert_eq(k.alg, SM_X509_ECDSA_SHA256);
	sm_x509_signer_free(&k);
	sm_ca_close(&ca);
	cr_assert_eq(ca.key_len, 0);

	/* expired CA: refused with advice */
	cr_assert_eq(sm_ca_open(&ca, dir, now + SM_CA_VALIDITY_SECONDS + 1, err, sizeof(err)),
	             SM_ERR_STATE);
	cr_assert_not_null(strstr(err, "expired"), "%s", err);
}

Test(ca, key_readable_by_others_is_refused)
{
	char err[512];
	int64_t now = (int64_t)time(NULL);
	cr_assert_eq(sm_ca_open(&ca, dir, now, err, sizeof(err)), SM_OK, "%s", err);
	sm_ca_close(&ca);
	char key[512];
	snprintf(key, sizeof(key), "%s/ca.key", dir);
	static const mode_t bad[] = {0644, 0640, 0604, 0660};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(chmod(key, bad[i]), 0);
		cr_assert_eq(sm_ca_open(&ca, dir, now, err, sizeof(err)), SM_ERR_STATE);
		cr_assert_not_null(strstr(err, key), "%s", err);
		char m[16];
		snprintf(m, sizeof(m), "%04o", (unsigned)bad[i]);
		cr_assert_not_null(strstr(err, m), "%s", err);
		cr_assert_not_null(strstr(err, "chmod 600"), "%s", err);
	}
	cr_assert_eq(chmod(key, 0400), 0);
	cr_assert_eq(sm_ca_open(&ca, dir, now, err, sizeof(err)), SM_OK, "%s", err);
	sm_ca_close(&ca);
}

Test(ca, partial_state)
{
	char err[512], p[512];
	int64_t now = (int64_t)time(NULL);
	cr_assert_eq(sm_ca_open(&ca, dir, now, err, sizeof(err)), SM_OK, "%s", err);
	sm_ca_close(&ca);
	/* key without certificate (crash during first run): re-created */
	snprintf(p, sizeof(p), "%s/ca.pem", dir);
	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(sm_ca_open(&ca, dir, now, err, sizeof(err)), SM_OK, "%s", err);
	cr_assert(ca.created);
	sm_ca_close(&ca);
	/* certificate without key: refused, never replaced silently */
	snprintf(p, sizeof(p), "%s/ca.key", dir);
	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(sm_ca_open(&ca, dir, now, err, sizeof(err)), SM_ERR_STATE);
	cr_assert_not_null(strstr(err, "missing"), "%s", err);
	/* a certificate that does not belong to the key */
	char cmd[3000];
	snprintf(cmd, sizeof(cmd),
	         "openssl ecparam -name prime256v1 -genkey -noout -out '%s' 2>/dev/null && "
	         "chmod 600 '%s'",
	         p, p);
	run(cmd);
	cr_assert_eq(sm_ca_open(&ca, dir, now, err, sizeof(err)), SM_ERR_INVALID);
	cr_assert_not_null(strstr(err, "does not belong"), "%s", err);
}

Test(ca, default_dir_follows_xdg_and_home)
{
	char out[512];
	setenv("XDG_DATA_HOME", "/x/data", 1);
	cr_assert_eq(sm_ca_default_dir(out, sizeof(out)), SM_OK);
	cr_assert_str_eq(out, "/x/data/soth-mitm");
	unsetenv("XDG_DATA_HOME");
	setenv("HOME", "/home/u", 1);
	cr_assert_eq(sm_ca_default_dir(out, sizeof(out)), SM_OK);
	cr_assert_str_eq(out, "/home/u/.local/share/soth-mitm");
	setenv("XDG_DATA_HOME", "relative", 1); /* not absolute: ignored (XDG spec) */
	cr_assert_eq(sm_ca_default_dir(out, sizeof(out)), SM_OK);
	cr_assert_str_eq(out, "/home/u/.local/share/soth-mitm");
	unsetenv("XDG_DATA_HOME");
	unsetenv("HOME");
	cr_assert_eq(sm_ca_default_dir(out, sizeof(out)), SM_ERR_INVALID);
}

static size_t cli(const char *a1, const char *a2, const char *a3, int *status, char *buf,
                  size_t cap)
{
	char *argv[6];
	int argc = 0;
	argv[argc++] = (char *)"ca";
	if (a1)
		argv[argc++] = (char *)a1;
	if (a2)
		argv[argc++] = (char *)a2;
	if (a3)
		argv[argc++] = (char *)a3;
	argv[argc] = NULL;
	FILE *out = tmpfile(), *err = tmpfile();
	cr_assert(out && err);
	*status = sm_ca_cli_run(dir, (int64_t)time(NULL), argc, argv, out, err);
	rewind(out);
	size_t n = fread(buf, 1, cap - 1, out);
	buf[n] = '\0';
	fclose(out);
	fclose(err);
	return n;
}

Test(ca, cli_path_and_export)
{
	static char buf[8192];
	int st;
	char want[512];
	snprintf(want, sizeof(want), "%s/ca.pem\n", dir);
	cli("path", NULL, NULL, &st, buf, sizeof(buf));
	cr_assert_eq(st, 0);
	cr_assert_str_eq(buf, want);
	cr_assert_eq(file_mode("ca.key"), 0600, "path creates the CA");

	size_t n = cli("export", NULL, NULL, &st, buf, sizeof(buf));
	cr_assert_eq(st, 0);
	cr_assert(strncmp(buf, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
	char err[512];
	cr_assert_eq(sm_ca_open(&ca, dir, (int64_t)time(NULL), err, sizeof(err)), SM_OK);
	static char pem[4096];
	size_t pem_len;
	cr_assert_eq(sm_ca_pem(&ca, pem, sizeof(pem), &pem_len), SM_OK);
	cr_assert_eq(n, pem_len);
	cr_assert_str_eq(buf, pem);

	n = cli("export", "--der", NULL, &st, buf, sizeof(buf));
	cr_assert_eq(st, 0);
	cr_assert_eq(n, ca.cert_len);
	cr_assert_eq(memcmp(buf, ca.cert_der, n), 0);
	sm_ca_close(&ca);

	/* --ca-dir in argv overrides the given directory */
	char other[300];
	snprintf(other, sizeof(other), "--ca-dir=%s/../other", dir);
	cli("path", other, NULL, &st, buf, sizeof(buf));
	cr_assert_eq(st, 0);
	cr_assert_not_null(strstr(buf, "/../other/ca.pem"));

	cli("bogus", NULL, NULL, &st, buf, sizeof(buf));
	cr_assert_eq(st, 2);
	cli("path", "--der", NULL, &st, buf, sizeof(buf));
	cr_assert_eq(st, 2);
	cli(NULL, NULL, NULL, &st, buf, sizeof(buf));
	cr_assert_eq(st, 2);
}

/* Concurrent first runs on one fresh directory (proxies started together
 * with `ca export`): every opener succeeds and all end with the one CA that
 * was published; exactly one of them created it. */
#define RACERS 8

struct racer {
	pthread_barrier_t *go;
	struct sm_ca ca;
	int rc;
	char err[512];
};

static void *race_open(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(r->go);
	r->rc = sm_ca_open(&r->ca, dir, (int64_t)time(NULL), r->err, sizeof(r->err));
	return NULL;
}

Test(ca, concurrent_first_runs_share_one_ca)
{
	struct racer *rs = calloc(RACERS, sizeof(*rs));
	cr_assert_not_null(rs);
	for (int round = 0; round < 20; round++) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		cr_assert_eq(system(cmd), 0);
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, RACERS);
		pthread_t th[RACERS];
		for (int i = 0; i < RACERS; i++) {
			rs[i].go = &go;
			cr_assert_eq(pthread_create(&th[i], NULL, race_open, &rs[i]), 0);
		}
		int created = 0;
		for (int i = 0; i < RACERS; i++) {
			pthread_join(th[i], NULL);
			cr_assert_eq(rs[i].rc, SM_OK, "round %d, opener %d: %s", round, i,
			             rs[i].err);
			created += rs[i].ca.created;
		}
		pthread_barrier_destroy(&go);
		cr_assert_eq(created, 1, "round %d: %d openers say they created the CA", round,
		             created);
		for (int i = 1; i < RACERS; i++) {
			cr_assert_eq(rs[i].ca.cert_len, rs[0].ca.cert_len, "round %d", round);
			cr_assert_eq(
			        memcmp(rs[i].ca.cert_der, rs[0].ca.cert_der, rs[0].ca.cert_len), 0,
			        "round %d: opener %d has another CA", round, i);
			cr_assert_eq(rs[i].ca.key_len, rs[0].ca.key_len);
			cr_assert_eq(memcmp(rs[i].ca.key_der, rs[0].ca.key_der, rs[0].ca.key_len),
			             0);
		}
		for (int i = 0; i < RACERS; i++)
			sm_ca_close(&rs[i].ca);
		/* no temporary file is left behind */
		snprintf(cmd, sizeof(cmd), "ls -A '%s'", dir);
		cr_assert_str_eq(run(cmd), "ca.key\nca.pem\n", "round %d", round);
	}
	free(rs);
}

/* Key types of a CA brought by the operator: RSA 2048..4096 in PKCS #1 or
 * PKCS #8 loads; anything else is refused with what it is and what would
 * do. */
Test(ca, operator_ca_key_types)
{
	static const struct {
		const char *genkey; /* writes ca.key in the directory */
		const char *want;   /* NULL: loads; else in the error */
	} cases[] = {
	        {"openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ca.key", NULL},
	        {"openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 | openssl rsa "
	         "-traditional -out ca.key",
	         NULL},
	        {"openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out ca.key",
	         "RSA key of 1024 bits"},
	        {"openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ca.key",
	         "ECDSA key on curve SECP384R1"},
	        {"openssl genpkey -algorithm ED25519 -out ca.key",
	         "neither an ECDSA P-256 nor an RSA private key"},
	        {"openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes128 -pass "
	         "pass:x -out ca.key",
	         "is encrypted"},
	};
	char err[512], cmd[3000];
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(cmd, sizeof(cmd),
		         "rm -rf '%s' && mkdir -p '%s' && cd '%s' && (%s) 2>/dev/null && "
		         "chmod 600 ca.key && openssl req -x509 -key ca.key -passin pass:x -out "
		         "ca.pem "
		         "-days 30 -subj /CN=corp -addext basicConstraints=critical,CA:TRUE "
		         "2>/dev/null",
		         dir, dir, dir, cases[i].genkey);
		run(cmd);
		int rc = sm_ca_open(&ca, dir, now, err, sizeof(err));
		if (!cases[i].want) {
			cr_assert_eq(rc, SM_OK, "%s: %s", cases[i].genkey, err);
			cr_assert_eq(ca.alg, SM_X509_RSA_SHA256);
			cr_assert_not(ca.created);
			struct sm_x509_signer k;
			cr_assert_eq(sm_ca_signer(&ca, &k), SM_OK);
			sm_x509_signer_free(&k);
			sm_ca_close(&ca);
		} else {
			cr_assert_eq(rc, SM_ERR_INVALID, "%s", cases[i].genkey);
			cr_assert_not_null(strstr(err, cases[i].want), "%s: %s", cases[i].genkey,
			                   err);
			cr_assert_not_null(strstr(err, "/ca.key"), "%s", err);
		}
	}
}
