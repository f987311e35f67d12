/* The TLS transport (wolfSSL, tls/session.h) of one side of an
 * intercepted flow: ciphertext received is fed to the session, the layer
 * above reads plaintext decrypted into the side's input queue, and its
 * output queue is encrypted (with dynamic record sizing toward the client)
 * into a registered chunk held only while ciphertext waits.
 *
 * The handshakes themselves are driven by the handshake layer
 * (core/intercept.c) through the session; once both are done it calls
 * sm_xprt_tls_relay() and the layers above see only sm_xprt_tls's ops. */
#ifndef SM_CORE_XPRT_TLS_H
#define SM_CORE_XPRT_TLS_H

#include <stdbool.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "core/conn.h"
#include "tls/session.h"

#define SM_RECORD_SMALL      1369          /* payload that fits one segment */
#define SM_RECORD_RAMP_BYTES (16 * 1024)   /* small records per burst */
#define SM_RECORD_IDLE_NS    1000000000ull /* idle time that restarts the ramp */

/* Gives side c of f a TLS transport over a new session of ctx (server: we
 * accept, for the client side, which also gets dynamic record sizing),
 * replacing its transport. false when out of chunks or memory (the caller
 * closes). */
bool sm_xprt_tls_open(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c, WOLFSSL_CTX *ctx,
                      bool server);
/* The session of a side with the TLS transport. */
struct sm_tls *sm_xprt_tls_session(struct sm_conn *c);
/* Sends the ciphertext the session wrote, unless a send is in flight. */
void sm_xprt_tls_send(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c);
/* The handshake is done: from now on the ciphertext chunk is held only
 * while bytes wait, and pull decrypts. */
void sm_xprt_tls_relay(struct sm_reactor *r, struct sm_conn *c);
/* Sends what the session queued (an alert), then closes the flow with
 * reason. Can close. */
void sm_xprt_tls_close_after_send(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c,
                                  int reason);

#endif
