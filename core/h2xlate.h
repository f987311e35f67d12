/* Where HTTP/2-to-HTTP/1.1 translation is chosen on an intercepted
 * connection (ALPN, core/mitm.c) and the translator created. The relay is
 * core/h2relay.c's unchanged: proto/h2h1 sits behind the proto/h2 API, so
 * events, observers (SSE, payload, gRPC) and flow control are the same as
 * for an h2 upstream. Semantics in docs/h2.md ("HTTP/2 to HTTP/1.1"). */
#ifndef SM_CORE_H2XLATE_H
#define SM_CORE_H2XLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/clienthello.h"

struct sm_h2;

/* ALPN list (comma-separated) offered to the upstream for this
 * ClientHello: h2 (when http2 is on and the client offers it) and
 * http/1.1, so an upstream without h2 can still pick http/1.1 for a
 * client that offered h2 only. */
const char *sm_h2xlate_upstream_alpn(const struct sm_clienthello *ch, bool http2);

/* True when the client must be offered h2 although the upstream did not
 * select it (selected http/1.1 or nothing): the client offered h2 and not
 * http/1.1, http2 is on, and the upstream handshake succeeded. */
bool sm_h2xlate_wanted(const struct sm_clienthello *ch, bool http2, bool up_failed,
                       const char *up_alpn, size_t up_len);

/* The translator for a connection whose client speaks h2 and upstream
 * HTTP/1.1 (free with sm_h2_free()). NULL: no memory. */
struct sm_h2 *sm_h2xlate_new(void);

#endif
