/* `soth-mitm ca ...` subcommands.
 *
 *   soth-mitm [--ca-dir DIR] ca export [--der] [--ca-dir DIR]
 *       print the CA certificate (PEM, or DER bytes)
 *   soth-mitm [--ca-dir DIR] ca path [--ca-dir DIR]
 *       print the CA certificate's file path
 *
 * Both create the CA on first use, so the printed path/certificate is the
 * one the proxy will sign with. Options: --der, --ca-dir DIR (or
 * --ca-dir=DIR). Exit codes: 0 ok, 1 CA error (message on err), 2 usage. */
#ifndef SM_TLS_CA_CLI_H
#define SM_TLS_CA_CLI_H

#include <stdint.h>
#include <stdio.h>

/* argv[0] is "ca"; argv[1] the subcommand; --ca-dir may appear anywhere
 * after it and overrides ca_dir (main's --ca-dir given before "ca"; NULL:
 * the default directory). */
int sm_ca_cli(const char *ca_dir, int argc, char **argv, FILE *out, FILE *err);

/* Same, with the CA directory already parsed (NULL: the default) and the
 * current time given. */
int sm_ca_cli_run(const char *ca_dir, int64_t now, int argc, char **argv, FILE *out, FILE *err);

#endif
