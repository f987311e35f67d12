#include "tls/ca_cli.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tls/ca.h"

/* The same forms as main's --help: --ca-dir before or after the command. */
static const char usage[] = "usage: soth-mitm [--ca-dir DIR] ca export [--der] [--ca-dir DIR]\n"
                            "       soth-mitm [--ca-dir DIR] ca path [--ca-dir DIR]\n";

int sm_ca_cli_run(const char *ca_dir, int64_t now, int argc, char **argv, FILE *out, FILE *err)
{
	const char *sub = NULL;
	bool der = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--der") == 0) {
			der = true;
		} else if (strcmp(a, "--ca-dir") == 0 && i + 1 < argc) {
			ca_dir = argv[++i];
		} else if (strncmp(a, "--ca-dir=", 9) == 0) {
			ca_dir = a + 9;
		} else if (!sub && a[0] != '-') {
			sub = a;
		} else {
			fprintf(err, "soth-mitm ca: unexpected argument '%s'\n%s", a, usage);
			return 2;
		}
	}
	if (!sub || (strcmp(sub, "export") != 0 && strcmp(sub, "path") != 0) ||
	    (der && strcmp(sub, "export") != 0)) {
		fputs(usage, err);
		return 2;
	}

	/* struct sm_ca holds the certificate and key buffers: keep it off
	 * the stack of whatever thread calls us. */
	struct sm_ca *ca = malloc(sizeof(*ca));
	if (!ca) {
		fputs("soth-mitm ca: out of memory\n", err);
		return 1;
	}
	char msg[2 * SM_CA_PATH_MAX + 256];
	int rc = sm_ca_open(ca, ca_dir, now, msg, sizeof(msg));
	if (rc != 0) {
		fprintf(err, "soth-mitm: %s\n", msg);
		free(ca);
		return 1;
	}
	if (ca->created)
		fprintf(err, "soth-mitm: created a new CA in %s\n", ca->dir);

	int status = 0;
	if (strcmp(sub, "path") == 0) {
		fprintf(out, "%s\n", ca->cert_path);
	} else if (der) {
		if (fwrite(ca->cert_der, 1, ca->cert_len, out) != ca->cert_len)
			status = 1;
	} else {
		char pem[SM_CA_PEM_MAX];
		size_t len;
		if (sm_ca_pem(ca, pem, sizeof(pem), &len) != 0 || fwrite(pem, 1, len, out) != len)
			status = 1;
	}
	if (fflush(out) != 0)
		status = 1;
	if (status)
		fputs("soth-mitm ca: write failed\n", err);
	sm_ca_close(ca);
	free(ca);
	return status;
}

int sm_ca_cli(const char *ca_dir, int argc, char **argv, FILE *out, FILE *err)
{
	return sm_ca_cli_run(ca_dir, (int64_t)time(NULL), argc, argv, out, err);
}
