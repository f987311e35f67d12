/* X.509 reader used on the CA certificate file and on an upstream's leaf
 * when the target is an IP literal (tls/x509 over tls/der): arbitrary bytes
 * must never read out of bounds, windows it returns must lie inside the
 * input, and an address found in the subjectAltName is in the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
		if (info.has_san)
			inside(&info.san, data, size);
		static const uint8_t v4[4] = {127, 0, 0, 1}, v6[16] = {[15] = 1};
		if (sm_x509_san_has_ip(&info, v4, 4) && !memmem(data, size, v4, 4))
			abort();
		if (sm_x509_san_has_ip(&info, v6, 16) && !memmem(data, size, v6, 16))
			abort();
		if (size >= 16 && sm_x509_san_has_ip(&info, data + size - 16, 3))
			abort(); /* neither 4 nor 16 bytes: never an address */
	}
	return 0;
}
