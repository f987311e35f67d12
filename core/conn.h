/* One side of a flow as the layer above sees it: a byte stream with an
 * input queue and an output queue of plaintext, and the transport that
 * moves those bytes over the socket, chosen once per side through its ops.
 *
 * The layers above (HTTP/1.1, HTTP/2, the raw relay, replies) read
 * c->in, write c->out, and call only sm_conn_* and c->xprt: they never
 * know whether the side is plain TCP or TLS. A transport that needs a
 * handshake has it done before the layer above starts (core/intercept.c).
 *
 *   recv completion -> xprt->recv  (plain: into in; TLS: into the session)
 *   layer: xprt->pull (TLS: decrypt into in) -> consume in -> write out
 *   sm_conn_flush -> xprt->flush (TLS: encrypt) -> ring write
 *   write completion -> xprt->sent: true once out went out whole
 *
 * Memory: `in` is allocated while bytes wait and given back when a recv is
 * armed on it empty; `out` holds a registered send chunk only while it has
 * bytes to send. Idle connections hold neither. */
#ifndef SM_CORE_CONN_H
#define SM_CORE_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/http1.h"

struct sm_reactor;
struct sm_flow;
struct sm_conn;

/* Bytes received but not yet consumed by the layer above. */
struct sm_inq {
	uint8_t *buf; /* NULL while empty and idle: sm_inq_hold() before writing */
	uint32_t off, len, cap;
};

/* Output toward one peer: a registered chunk the layer above writes into. */
struct sm_outq {
	int32_t chunk; /* -1 = none (or constant bytes of the reserved chunk) */
	struct sm_h1_out out;
	uint32_t sent;
	bool inflight; /* handed to the transport and not yet through */
};

/* How one side's bytes cross its socket. Every entry can close the flow
 * (THE CLOSE RULE, core/flow.h). */
struct sm_xprt_ops {
	const char *name; /* "plain", "tls" */
	/* Socket bytes are the stream's bytes: a splice tunnel may take the
	 * socket over (a 101 with nothing to observe). */
	bool spliceable;
	/* A recv completed: res bytes at data (> 0), or 0 at EOF. Takes them
	 * (plain: into c->in; TLS: into the session). false: the flow closed. */
	bool (*recv)(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c,
	             const uint8_t *data, int res);
	/* Makes what was received readable in c->in (TLS: decrypts); sets
	 * c->eof when the stream ended. false: the flow closed. */
	bool (*pull)(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c);
	/* Sends c->out from c->out.sent on (TLS: encrypts first). */
	void (*flush)(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c);
	/* A write completed with res (bytes, or -errno). true once c->out went
	 * out whole (it is then empty and not in flight); false while more is
	 * in flight, when the flow closed, or on an error (which the caller
	 * hands to the layer on top: sm_stack_failed()). */
	bool (*sent)(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c, int res);
	/* Arms a recv when it can take bytes (not armed, not ended, room). */
	void (*arm)(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c);
	/* The layer above wrote its last bytes (in flight or sent): end the
	 * connection gracefully, then close the flow with reason (plain:
	 * shutdown of the write side, then drain what the peer still sends,
	 * up to SM_LINGER_NS, so the answer is not lost to a reset; TLS: a
	 * close_notify, then close once it is sent). */
	void (*shutdown)(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c, int reason);
	/* Frees the transport's state (c->x). */
	void (*free)(struct sm_reactor *r, struct sm_conn *c);
};

struct sm_conn {
	const struct sm_xprt_ops *xprt; /* NULL until the side exists */
	void *x;                        /* the transport's own state (TLS: the session) */
	struct sm_inq in;               /* plaintext received, not yet consumed */
	struct sm_outq out;             /* plaintext written, being sent */
	uint8_t side;                   /* enum sm_side */
	bool recv_armed;                /* a recv is in flight */
	bool recv_cancelled;            /* ... and its cancel was asked for (a switch, the
	                                   splice tunnel taking the socket) */
	bool fin;                       /* the socket reached EOF: no more recv */
	bool eof;                       /* the stream ended: `in` holds its last bytes */
	bool eof_unclean;               /* ... without the transport's own end (TLS: no
	                                   close_notify before the socket's EOF) */
	bool lingering;                 /* closing gracefully: input is drained and dropped */
	uint8_t linger_reason;          /* the close reason once the linger ends */
	uint64_t linger_until_ns;
};

extern const struct sm_xprt_ops sm_xprt_plain; /* core/xprt_plain.c */
extern const struct sm_xprt_ops sm_xprt_tls;   /* core/xprt_tls.c */

/* Input queues are allocated when bytes arrive and given back when a recv
 * is armed on an empty one, so idle connections hold none. hold: false
 * when out of memory. */
bool sm_inq_hold(struct sm_inq *q);
void sm_inq_release(struct sm_inq *q);
/* n bytes of q consumed. */
void sm_inq_consume(struct sm_inq *q, uint32_t n);

/* Gives the side transport xprt (state x) over socket f->fd[side]; its
 * queues start empty. */
void sm_conn_open(struct sm_conn *c, int side, const struct sm_xprt_ops *xprt, void *x);
/* Frees what the side holds: its transport's state, queues, chunk. */
void sm_conn_close(struct sm_reactor *r, struct sm_conn *c);

/* Gives c->out a send chunk if it has none: false when every chunk is in
 * use (counted). */
bool sm_conn_out_ready(struct sm_reactor *r, struct sm_conn *c);
/* Points c->out at constant bytes of the reserved chunk (owned by nobody). */
void sm_conn_out_const(struct sm_reactor *r, struct sm_conn *c, const uint8_t *p, uint32_t len);
/* Gives an empty, idle c->out its chunk back. */
void sm_conn_out_trim(struct sm_reactor *r, struct sm_conn *c);
/* Sends what c->out holds (from its start): marks it in flight. Can close. */
void sm_conn_flush(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c);

/* Arms a plain buffer-select recv on the side's socket (transports call it;
 * the empty input queue goes back until the bytes come). */
void sm_conn_recv(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c);
/* Cancels the recv in flight on side c, once: it completes with
 * -ECANCELED (or with what it got first), and the layer on top is pumped
 * as for any recv. Until then the socket must stay open. */
void sm_conn_cancel_recv(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c);
/* Submits a write of n bytes of registered memory on the side's socket. */
void sm_conn_write(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *c, const uint8_t *p,
                   unsigned n);

/* Moves what side `in` received, unparsed, to side `to`'s output and sends
 * it (the raw relay, early bytes after a CONNECT, bytes after a 101); ws,
 * when not NULL, sees a copy. Can close. */
struct sm_observe_ws;
void sm_conn_forward(struct sm_reactor *r, struct sm_flow *f, struct sm_conn *in,
                     struct sm_conn *to, struct sm_observe_ws *ws);

#endif
