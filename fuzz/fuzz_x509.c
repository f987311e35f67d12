/* X.509 reader used on the CA certificate file (tls/x509 over tls/der):
 * arbitrary bytes must never read out of bounds, and windows it returns
 * must lie inside the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/result.h"
#include "tls/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const struct sm_der_r *w, const uint8_t *data, size_t size)
{
	if (w->p == NULL)
		return;
	if (w->p < data || w->p + w->left > data + size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_x509_info info;
	if (sm_x509_parse(data, size, &info) == SM_OK) {
		inside(&info.tbs, data, size);
		inside(&info.issuer, data, size);
		inside(&info.subject, data, size);
		inside(&info.spki, data, size);
		if (info.has_ski && (info.ski_len == 0 || info.ski_len > sizeof(info.ski)))
			abort();
		uint8_t id[SM_X509_KEYID_LEN];
		(void)sm_x509_key_id(info.spki.p, info.spki.left, id);
	}
	return 0;
}
