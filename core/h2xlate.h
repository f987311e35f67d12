/* Where HTTP/2-to-HTTP/1.1 translation (and its reverse, HTTP/1.1 to
 * HTTP/2, behind the config switch http2_upstream_for_h1_clients) is chosen
 * on an intercepted connection (the ALPN offers of core/intercept.c) and the
 * translator created. The h2 layer (core/app_h2.c) runs it unchanged:
 * proto/h2h1 sits behind the proto/h2 API, so events, observers (SSE,
 * payload, gRPC) and flow control are the same as for an h2 upstream.
 * Semantics in docs/h2.md ("HTTP/2 to HTTP/1.1"). */
#ifndef SM_CORE_H2XLATE_H
#define SM_CORE_H2XLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/clienthello.h"

struct sm_h2;

/* ALPN list (comma-separated) offered to the upstream for this
 * ClientHello: h2 (when http2 is on and the client offers it) and
 * http/1.1, so an upstream without h2 can still pick http/1.1 for a
 * client that offered h2 only. With h1_to_h2 (config
 * http2_upstream_for_h1_clients) and http2 on, "h2,http/1.1" is offered
 * whatever the client offered, so an h2-only upstream can be reached by an
 * HTTP/1.1 client (translated by proto/h1h2). NULL: offer no ALPN (the
 * client offered none and h1_to_h2 is off). */
const char *sm_h2xlate_upstream_alpn(const struct sm_clienthello *ch, bool http2, bool h1_to_h2);

/* True when the upstream selected h2 but the client did not offer it: the
 * client gets http/1.1 (or no ALPN) and the connection is translated by
 * proto/h1h2 (sm_h2xlate_new_h1h2()). */
bool sm_h2xlate_reverse(const struct sm_clienthello *ch, bool up_failed, const char *up_alpn,
                        size_t up_len);

/* True when the client must be offered h2 although the upstream did not
 * select it (selected http/1.1 or nothing): the client offered h2 and not
 * http/1.1, http2 is on, and the upstream handshake succeeded. */
bool sm_h2xlate_wanted(const struct sm_clienthello *ch, bool http2, bool up_failed,
                       const char *up_alpn, size_t up_len);

/* The translator for a connection whose client speaks h2 and upstream
 * HTTP/1.1 (free with sm_h2_free()). NULL: no memory. */
struct sm_h2 *sm_h2xlate_new(void);

/* True when p[0..n) starts like an HTTP/2 server's first bytes (a SETTINGS
 * frame on stream 0): an upstream that agreed on no ALPN and speaks h2
 * anyway, which HTTP/1.1 cannot parse (the 502 then says so). */
bool sm_h2xlate_looks_h2(const uint8_t *p, size_t n);

/* The reverse translator (HTTP/1.1 client, h2 upstream) for a connection
 * to origin (free with sm_h2_free()). NULL: no memory. */
struct sm_authority;
struct sm_h2 *sm_h2xlate_new_h1h2(const struct sm_authority *origin);

#endif
