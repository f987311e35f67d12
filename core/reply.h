/* Answers the proxy itself sends a client instead of the upstream's: an
 * error page (403, 502, 504, 400, ...), a fault rule's response, the
 * constant 503 when every send buffer is in use. The reply layer goes on
 * top of the flow's stack, writes the answer through the client side's
 * transport (plain, or TLS when intercepting), then ends the connection
 * gracefully (sm_xprt_ops.shutdown) and closes the flow with the reason
 * given. */
#ifndef SM_CORE_REPLY_H
#define SM_CORE_REPLY_H

#include <stddef.h>
#include <stdint.h>

struct sm_reactor;
struct sm_flow;

/* The answer in progress (the reply layer's context). */
struct sm_reply {
	const uint8_t *src; /* bytes beyond what fits one send chunk (live as long as the config) */
	size_t len, off;
	uint8_t reason; /* enum sm_close_reason once it is sent */
};

/* A complete error response (status, "text: detail" as its body), then a
 * close with reason. When the client's output is busy, only the close.
 * Can close. */
void sm_reply_error(struct sm_reactor *r, struct sm_flow *f, int status, const char *text,
                    const char *detail, int reason);

/* Nothing more to say: the client's connection ends gracefully (its
 * transport's shutdown: close_notify, or shutdown and linger), then a close
 * with reason. The answer to a client whose last response went out with
 * "Connection: close". Can close. */
void sm_reply_close(struct sm_reactor *r, struct sm_flow *f, int reason);

/* len bytes (which live as long as the config) sent as they are, then a
 * close with reason. Can close. */
void sm_reply_raw(struct sm_reactor *r, struct sm_flow *f, const uint8_t *src, size_t len,
                  int reason);

#endif
