/* Fuzz sm_authority_parse / sm_authority_parse_url and check invariants:
 * an accepted host is normalised (re-parsing it gives the same host). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "proto/authority.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct sm_authority *a)
{
	if (a->host_len != strlen(a->host) || a->port == 0 || a->kind == SM_AUTHORITY_NONE)
		abort();
	struct sm_authority b;
	char buf[SM_AUTHORITY_HOST_CAP + 2];
	size_t n = a->host_len;
	if (a->kind == SM_AUTHORITY_IPV6) {
		buf[0] = '[';
		memcpy(buf + 1, a->host, n);
		buf[n + 1] = ']';
		n += 2;
	} else {
		memcpy(buf, a->host, n);
	}
	if (sm_authority_parse((const uint8_t *)buf, n, 0, a->port, &b, NULL) != SM_OK)
		abort();
	if (!sm_authority_equal(a, &b) || a->kind != b.kind)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_authority a;
	struct sm_url u;
	enum sm_authority_reason why;

	if (sm_authority_parse(data, size, SM_AUTHORITY_PORT_REQUIRED, 0, &a, &why) == SM_OK)
		check(&a);
	if (sm_authority_parse(data, size, 0, 80, &a, &why) == SM_OK)
		check(&a);
	if (sm_authority_parse_url(data, size, &u, &why) == SM_OK) {
		check(&u.auth);
		if ((size_t)u.authority_off + u.authority_len > size ||
		    (size_t)u.origin_off + u.origin_len != size)
			abort();
	}
	return 0;
}
