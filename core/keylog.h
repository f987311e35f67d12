/* TLS key log: the secrets of intercepted TLS 1.3 sessions (both the
 * client-facing and the upstream session) as SSLKEYLOGFILE lines, so a
 * capture of either side can be decrypted in Wireshark. The reactor only
 * formats the line into its event ring; the collector thread writes it to
 * tls.keylog (telemetry/collector.h), never to the JSONL event stream. A
 * full ring drops the line and counts it like any event. */
#ifndef SM_CORE_KEYLOG_H
#define SM_CORE_KEYLOG_H

#include "core/reactor.h"
#include "tls/session.h"

/* Where a session's secrets are reported: lives as long as the session. */
struct sm_keylog_ctx {
	struct sm_reactor *r;
	struct sm_flow *f;
};

/* Asks t for its secrets when tls.keylog is set (r->keylog_on); no-op else. */
void sm_keylog_attach(struct sm_reactor *r, struct sm_flow *f, struct sm_tls *t,
                      struct sm_keylog_ctx *c);

#endif
