/* TLS interception of a CONNECT flow, as the handshake layer: the
 * ClientHello is peeked (our own bounded parser, before any TLS object
 * decides) so SNI rules can still tunnel or block; the upstream handshake
 * comes first (SNI, verification, ALPN offered from the client's offer),
 * so its outcome and ALPN are known when the client's handshake is made
 * with a leaf forged for the name. Then sm_app_select() puts the
 * application layer the two ALPN outcomes call for on top of the two TLS
 * transports (core/xprt_tls.h), or a 502 over TLS when the upstream failed.
 *
 * Stages (the layer's own, docs/flows.md):
 *   PEEK   collecting the ClientHello (non-TLS bytes: tunnel or close)
 *   UP_HS  handshake with the upstream
 *   CL_HS  handshake with the client
 * Every stage is bounded by tls.handshake_timeout_ms from the first. */
#ifndef SM_CORE_INTERCEPT_H
#define SM_CORE_INTERCEPT_H

struct sm_reactor;
struct sm_flow;

/* After "200 Connection established": the handshake layer takes the flow
 * (the bytes the client sent early are its ClientHello's first). Can
 * close. */
void sm_intercept_start(struct sm_reactor *r, struct sm_flow *f);

#endif
