/* HTTP/2 client to HTTP/1.1 upstream and its reverse: the ALPN choice and
 * the translators (see core/h2xlate.h). */
#include "core/h2xlate.h"

#include <string.h>

#include "proto/h1h2.h"
#include "proto/h2h1.h"

const char *sm_h2xlate_upstream_alpn(const struct sm_clienthello *ch, bool http2, bool h1_to_h2)
{
	if (http2 && h1_to_h2) /* an h2-only upstream is then reachable (proto/h1h2) */
		return "h2,http/1.1";
	if (!ch->alpn_count)
		return NULL;
	bool h2 = http2 && sm_clienthello_offers_alpn(ch, "h2", 2);
	/* http/1.1 always: with h2 only, an HTTP/1.1 origin would have to
	 * refuse the handshake (some send no_application_protocol) */
	return h2 ? "h2,http/1.1" : "http/1.1";
}

bool sm_h2xlate_wanted(const struct sm_clienthello *ch, bool http2, bool up_failed,
                       const char *up_alpn, size_t up_len)
{
	if (!http2 || up_failed || (up_len == 2 && memcmp(up_alpn, "h2", 2) == 0))
		return false;
	return sm_clienthello_offers_alpn(ch, "h2", 2) &&
	       !sm_clienthello_offers_alpn(ch, "http/1.1", 8);
}

struct sm_h2 *sm_h2xlate_new(void)
{
	return sm_h2h1_new(NULL);
}

bool sm_h2xlate_reverse(const struct sm_clienthello *ch, bool up_failed, const char *up_alpn,
                        size_t up_len)
{
	return !up_failed && up_len == 2 && memcmp(up_alpn, "h2", 2) == 0 &&
	       !sm_clienthello_offers_alpn(ch, "h2", 2);
}

struct sm_h2 *sm_h2xlate_new_h1h2(const struct sm_authority *origin)
{
	return sm_h1h2_new(NULL, origin);
}

bool sm_h2xlate_looks_h2(const uint8_t *p, size_t n)
{
	if (n < 9)
		return false;
	size_t len = ((size_t)p[0] << 16) | ((size_t)p[1] << 8) | p[2];
	return p[3] == 0x04 && (p[4] & ~1u) == 0 && len % 6 == 0 && p[5] == 0 && p[6] == 0 &&
	       p[7] == 0 && p[8] == 0;
}
