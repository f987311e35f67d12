/* The hosts-file parser on arbitrary bytes, then a lookup of a name taken
 * from the input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/hosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_hosts h;
	if (sm_hosts_parse(&h, (const char *)data, size) != 0)
		return 0;
	char name[64] = "localhost";
	if (size > 8) {
		size_t n = size - 8 < sizeof(name) - 1 ? size - 8 : sizeof(name) - 1;
		memcpy(name, data + 8, n);
		name[n] = 0;
	}
	struct sockaddr_storage out[4];
	sm_hosts_lookup(&h, name, 80, out, 4);
	sm_hosts_free(&h);
	return 0;
}
