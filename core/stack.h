/* The layers of a flow that is not a splice tunnel, pooled per reactor:
 * a transport per side (core/conn.h) and one layer on top, which reads
 * and writes their plaintext queues. The layer on top is chosen once for
 * each phase of the flow, by installing its ops:
 *
 *   http1 (proxy)  the explicit proxy's requests: CONNECT, absolute-form
 *                  http:// relayed to per-request upstreams (core/app_h1.c)
 *   establish      "200 Connection established" and early bytes, then the
 *                  splice tunnel or interception (core/front.c)
 *   handshake      TLS interception: ClientHello, upstream then client
 *                  handshake, then sm_app_select() (core/intercept.c)
 *   http1 (origin) HTTP/1.1 inside intercepted TLS (core/app_h1.c)
 *   h2, h2h1, h1h2 HTTP/2 relayed, or translated either way (core/app_h2.c)
 *   raw            bytes relayed unparsed after a 101 (core/app_raw.c)
 *   reply          an error or fault answer, then a graceful close
 *                  (core/reply.c)
 *
 * The reactor routes a side's completions to its transport and then to
 * the layer on top (sm_app_ops.pump); nothing in between asks which
 * transport or layer it talks to. docs/flows.md has each layer's states. */
#ifndef SM_CORE_STACK_H
#define SM_CORE_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/conn.h"
#include "core/front.h"
#include "core/reply.h"

struct sm_reactor;
struct sm_flow;

/* Why a layer is pumped. */
enum sm_pump {
	SM_PUMP_IN = 0, /* bytes or the end of the stream arrived on side (or a recv must
	                   be re-armed: -ENOBUFS) */
	SM_PUMP_OUT,    /* side's output went out whole */
	SM_PUMP_OPEN,   /* side's connection is up: a new upstream, for a request held
	                   until it was connected */
};

/* A layer on top of the transports. Every entry can close the flow (THE
 * CLOSE RULE, core/flow.h) except idle. */
struct sm_app_ops {
	const char *name; /* "http1", "h2", "raw", "handshake", ... (docs/flows.md) */
	/* Installed on f: creates its context (f->st->top.ctx) and moves. arg
	 * is what the installer hands over (see each layer; NULL for most). */
	void (*start)(struct sm_reactor *r, struct sm_flow *f, void *arg);
	/* Something happened on side (enum sm_side), why (enum sm_pump). */
	void (*pump)(struct sm_reactor *r, struct sm_flow *f, int side, int why);
	/* The flow's timer fired at now: true when this layer's own deadline
	 * (handshake, fault delay, linger) handled it; false lets the idle
	 * timeout apply. NULL: none. */
	bool (*deadline)(struct sm_reactor *r, struct sm_flow *f, uint64_t now);
	/* Between requests with nothing in flight: a drain may close it.
	 * NULL: never. */
	bool (*idle)(const struct sm_flow *f);
	/* A socket error err on side. NULL: close with that side's reset
	 * reason. */
	void (*failed)(struct sm_reactor *r, struct sm_flow *f, int side, int err);
	/* The layer leaves (replaced, or the flow closes): reports what its
	 * observers still hold and frees its context ctx. No events may
	 * follow for it. */
	void (*free)(struct sm_reactor *r, struct sm_flow *f, void *ctx);
};

/* A layer and its context. */
struct sm_layer {
	const struct sm_app_ops *ops;
	void *ctx;
};

/* Memory a layer keeps with the pooled stack for the next flow that uses
 * it (the HTTP/1.1 layer's parser: a keep-alive proxy does not allocate per
 * connection); freed with free() when the stack itself is. */
struct sm_stack_cache {
	void *p;
	void (*free)(void *p);
};

#define SM_RETIRED_MAX 4 /* layers replaced within one dispatch (handshake, http1, reply) */

struct sm_stack {
	struct sm_conn conn[2]; /* [enum sm_side] */
	struct sm_layer top;    /* the layer on top of the transports */
	/* Layers replaced during this dispatch: freed at its end, so a layer
	 * that installs another from inside its own pump never runs on freed
	 * memory. */
	struct sm_layer retired[SM_RETIRED_MAX];
	uint8_t n_retired;
	struct sm_front fe;          /* the request phase: target, addresses, policy */
	struct sm_reply reply;       /* an answer being sent (core/reply.c) */
	struct sm_stack_cache cache; /* a layer's memory kept with the pooled stack */
};

/* A stack from the reactor's pool (zeroed, both sides closed); NULL when
 * out of memory. put gives it back: the layers must have been freed. */
struct sm_stack *sm_stack_get(struct sm_reactor *r);
void sm_stack_put(struct sm_reactor *r, struct sm_stack *st);
/* Frees a pooled stack for good (reactor teardown). */
void sm_stack_free(struct sm_stack *st);

/* Puts ops on top of f's stack and starts it with arg; the layer it
 * replaces leaves at the end of dispatch. Can close. */
void sm_stack_install(struct sm_reactor *r, struct sm_flow *f, const struct sm_app_ops *ops,
                      void *arg);
/* Frees the layers replaced during this dispatch (sm_loop_settle). */
void sm_stack_settle(struct sm_reactor *r, struct sm_flow *f);
/* Frees every layer and both sides (teardown), in the order they left,
 * the top one last: their observers report before flow_closed. */
void sm_stack_teardown(struct sm_reactor *r, struct sm_flow *f);

/* The pump of the layer on top. Can close. */
void sm_stack_pump(struct sm_reactor *r, struct sm_flow *f, int side, int why);

/* A socket error err (errno) on side: the layer on top decides what it
 * means (a failed handshake, an idle upstream gone), by default a close
 * with that side's reset reason (a reset passed on when err is one).
 * f->st may be NULL (a splice tunnel). Can close. */
void sm_stack_failed(struct sm_reactor *r, struct sm_flow *f, int side, int err);

/* The layers (each in its own file). */
/* What the raw relay starts with: the server's Sec-WebSocket-Extensions
 * of the 101 (NULL: none), for the WebSocket observer when it is on. */
struct sm_raw_start {
	const uint8_t *ext;
	size_t ext_len;
};

/* The layers (each in its own file), with the arg their start takes. */
extern const struct sm_app_ops sm_app_http1_proxy;  /* core/app_h1.c */
extern const struct sm_app_ops sm_app_http1_origin; /* core/app_h1.c: the origin's
                                                       const struct sm_authority * */
extern const struct sm_app_ops sm_app_h2;           /* core/app_h2.c: h2 both sides */
extern const struct sm_app_ops sm_app_h2h1;         /* core/app_h2.c: h2 client, HTTP/1.1 up */
extern const struct sm_app_ops sm_app_h1h2;         /* core/app_h2.c: HTTP/1.1 client, h2 up;
                                                       the origin's authority */
extern const struct sm_app_ops sm_app_raw;          /* core/app_raw.c: a
                                                       struct sm_raw_start * */
extern const struct sm_app_ops sm_app_establish;    /* core/front.c */
extern const struct sm_app_ops sm_app_handshake;    /* core/intercept.c */
extern const struct sm_app_ops sm_app_reply;        /* core/reply.c */

#endif
