/* The admin request parser on arbitrary bytes: the result is a head length
 * within the input, 0 or an error; a parsed path lies inside the head; the
 * same answer comes back when the input is fed as a prefix first (the
 * server re-parses its growing buffer); then routing. Also the address
 * parser on the input as a string. */
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "telemetry/admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct sm_admin_request req;
	long r = sm_admin_parse(in, size, &req);
	if (r > 0) {
		if ((size_t)r > size || (size_t)r > SM_ADMIN_REQ_MAX)
			abort();
		if (req.path < in || req.path + req.path_len > in + r)
			abort();
		if (sm_admin_parse(in, (size_t)r, &req) != r)
			abort(); /* the head alone parses the same */
		if (r > 1 && sm_admin_parse(in, (size_t)r - 1, &req) != 0)
			abort(); /* one byte less: incomplete, never an error */
		sm_admin_parse(in, size, &req);
		struct sm_admin_route rt = sm_admin_route(&req, size & 1);
		if (rt.status != 0 && !rt.body)
			abort();
	} else if (r != 0 && r != SM_ERR_INVALID && r != SM_ERR_LIMIT) {
		abort();
	}
	if (size < 128) {
		char s[128];
		memcpy(s, data, size);
		s[size] = 0;
		struct sockaddr_storage ss;
		socklen_t len;
		sm_admin_parse_addr(s, &ss, &len);
	}
	return 0;
}
