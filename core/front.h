/* Front phase and HTTP relay of a flow: reading proxy requests through the
 * HTTP/1.1 layer (proto/http1.h), deciding, resolving, connecting, relaying
 * absolute-form requests and answering errors. Lives in a pooled struct
 * sm_front that a flow gives back once it becomes a splice tunnel, so an
 * established tunnel carries none of it.
 *
 * Receives here are single-shot recvs that select a buffer from the
 * reactor's provided-buffer ring: an idle connection owns no receive buffer,
 * and a recv is armed only when the layer can take the bytes, which is the
 * backpressure point (a multishot recv would keep filling ring buffers for a
 * flow that cannot consume them, starving every other flow of the reactor). */
#ifndef SM_CORE_FRONT_H
#define SM_CORE_FRONT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/reactor.h"
#include "proto/http1.h"

/* Bytes received but not yet consumed by the HTTP layer. */
struct sm_inq {
	uint8_t *buf; /* NULL while empty and idle: sm_inq_hold() before writing */
	uint32_t off, len, cap;
};

/* Input queues are allocated when bytes arrive and given back when a recv
 * is armed on an empty one, so idle connections hold none. hold: false
 * when out of memory. */
bool sm_inq_hold(struct sm_inq *q);
void sm_inq_release(struct sm_inq *q);

/* Output toward one peer: a registered chunk the layer writes into. */
struct sm_outq {
	int32_t chunk; /* -1 = none yet */
	struct sm_h1_out out;
	uint32_t sent;
	bool inflight;
};

/* What the pending upstream connection is for. */
enum sm_front_purpose {
	SM_PURPOSE_NONE = 0,
	SM_PURPOSE_CONNECT, /* CONNECT: answer 200 then splice */
	SM_PURPOSE_HTTP,    /* absolute-form: release the held request */
};

struct sm_mitm;
struct sm_pipe;
struct sm_h2;
struct sm_h2_obs;
struct sm_ws_obs;

/* Observer callback context, one per direction (core/observe.c). */
struct sm_observe_ctx {
	struct sm_reactor *r;
	struct sm_flow *f;
	int dir;
};

struct sm_front {
	struct sm_h1 *h1;
	struct sm_mitm *mitm;              /* TLS interception state, NULL when not intercepting */
	bool intercept;                    /* the decision was intercept (CONNECT) */
	bool need_sni;                     /* an sni rule decides once the ClientHello is seen */
	const struct sm_fault *conn_fault; /* decided at the SNI step: every request gets it */
	int conn_fault_rule;
	bool client_eof_done; /* the HTTP layer was told about the client's EOF */
	void *h1mem;
	struct sm_inq cin, uin;  /* client and upstream input */
	struct sm_outq up, down; /* to upstream, to client */

	char host[256]; /* upstream being resolved or connected */
	uint16_t port;
	char live_host[256]; /* upstream currently connected (HTTP relay) */
	uint16_t live_port;
	struct sockaddr_in6 peer; /* client address (sockaddr_in for IPv4) */
	struct sockaddr_storage addrs[SM_MAX_ADDRS];
	uint8_t n_addrs, addr_idx;
	uint8_t purpose;     /* enum sm_front_purpose of the pending switch */
	bool switch_pending; /* a held request waits for responses / old upstream */
	bool up_recv_armed;  /* recv in flight on the upstream socket */
	bool up_cancel_sent; /* that recv is being cancelled for a switch */
	bool upstream_eof;
	bool eof_pending; /* upstream EOF not yet given to the HTTP layer */
	bool client_eof;
	bool close_after_flush;      /* last response: close once `down` drained */
	bool upgrade;                /* 101 forwarded: splice once both outputs drained */
	bool raw;                    /* intercepted and upgraded: bytes relayed unparsed */
	bool denied;                 /* client outside allow_clients: 403 once its head is read */
	bool lingering;              /* error reply sent and write side shut: draining */
	uint8_t pending_reason;      /* close reason once the reply is sent */
	uint64_t roll;               /* per-connection random bits for fault rules */
	struct sm_pipe *obs_pipe[2]; /* decode pipeline of the message in each direction */
	uint8_t obs_framing[2];
	char obs_type[2][48]; /* its content type, for events */
	struct sm_observe_ctx obs_ctx[2];
	struct sm_ws_obs *ws;         /* WebSocket observer after a 101 */
	struct sm_h2 *h2;             /* HTTP/2 relay (both sides negotiated h2) */
	struct sm_h2_obs *h2obs;      /* observed streams (core/h2relay.c) */
	bool h2_eof[2];               /* its sides were told about EOF */
	bool h2_client_h1;            /* ... translated for an HTTP/1.1 client (proto/h1h2) */
	uint32_t h2_open_counted;     /* open streams last added to the gauge */
	uint64_t h2_total_counted;    /* streams last added to the total */
	const struct sm_fault *fault; /* a fault to answer once due and idle */
	bool fault_head;              /* ... to a HEAD request: head only */
	uint64_t fault_due_ns;
	const uint8_t *reply_src; /* reply bytes beyond what fits one chunk */
	size_t reply_len, reply_off;
	uint32_t requests; /* requests seen on this connection */
	uint64_t t_dns_ns, t_connect_ns, dns_us, linger_until_ns;
	struct sm_metrics_reqclock rclock; /* request start times for latency metrics */
};

struct sm_front *sm_front_get(struct sm_reactor *r);
void sm_front_put(struct sm_reactor *r, struct sm_front *fr);

/* Entry points from the reactor's completion dispatch. */
void sm_front_start(struct sm_reactor *r, struct sm_flow *f);
void sm_front_client_recv(struct sm_reactor *r, struct sm_flow *f, const uint8_t *data, int res);
void sm_front_upstream_recv(struct sm_reactor *r, struct sm_flow *f, const uint8_t *data, int res);
void sm_front_connect_cqe(struct sm_reactor *r, struct sm_flow *f, int res);
void sm_front_send_cqe(struct sm_reactor *r, struct sm_flow *f, bool to_client, int res);
/* True when the flow waits for a new request with nothing in flight. */
bool sm_front_idle(const struct sm_flow *f);
/* Frees a pooled front for good (reactor teardown). */
void sm_front_free(struct sm_front *fr);

/* Shared with core/mitm.c and core/h2relay.c. */
struct sm_outq;
bool sm_front_outq_ready(struct sm_reactor *r, struct sm_outq *q);
void sm_front_outq_send(struct sm_reactor *r, struct sm_flow *f, bool to_client);
/* Gives an empty queue's chunk back (idle flows hold none). */
void sm_front_outq_trim(struct sm_reactor *r, struct sm_outq *q);
/* Moves what one side sent, unparsed, to the other side (raw relay). */
void sm_front_forward_raw(struct sm_reactor *r, struct sm_flow *f, bool from_client);
/* Starts a pending upstream switch once nothing is in flight. */
void sm_front_check_switch(struct sm_reactor *r, struct sm_flow *f);
static inline bool sm_front_relaying(const struct sm_flow *f)
{
	return f->state == SM_FLOW_FRONT || f->state == SM_FLOW_HTTP;
}
void sm_h2relay_pump(struct sm_reactor *r, struct sm_flow *f);
void sm_h2relay_free_obs(struct sm_front *fr);
/* The HTTP/2 relay of fr starts / ends: connection and stream gauges. */
void sm_h2relay_counted(struct sm_reactor *r, struct sm_front *fr);
void sm_h2relay_uncount(struct sm_reactor *r, struct sm_front *fr);
void sm_front_arm_recv(struct sm_reactor *r, struct sm_flow *f, bool client);
void sm_front_pump_client(struct sm_reactor *r, struct sm_flow *f);
void sm_front_pump_upstream(struct sm_reactor *r, struct sm_flow *f);
void sm_front_establish_continue(struct sm_reactor *r, struct sm_flow *f);
/* A fresh HTTP layer in the same memory (after a CONNECT was parsed). */
void sm_front_reset_h1(struct sm_reactor *r, struct sm_front *fr);

/* Request-level policy (core/front_fault.c): false when the request was
 * answered by a fault or a block instead of going upstream. */
struct sm_policy_decision;
struct sm_h1_event;
bool sm_front_request_policy(struct sm_reactor *r, struct sm_flow *f, const struct sm_h1_event *ev);
void sm_front_fault(struct sm_reactor *r, struct sm_flow *f, const struct sm_policy_decision *d,
                    const char *method, const uint8_t *target, size_t tlen, bool head);
void sm_front_fault_check(struct sm_reactor *r, struct sm_flow *f);

/* Sends len bytes (which live as long as the config) to the client as the
 * final answer, then closes with reason. */
void sm_front_reply_raw(struct sm_reactor *r, struct sm_flow *f, const uint8_t *src, size_t len,
                        int reason);

/* Sends a complete error response to the client, then closes with reason. */
void sm_front_reply_error(struct sm_reactor *r, struct sm_flow *f, int status, const char *text,
                          const char *detail, int reason);

/* Feeds request latency and HTTP counters from an event of the HTTP layer,
 * whichever side popped it (core/front_metrics.c). */
void sm_front_observe(struct sm_reactor *r, struct sm_flow *f, const struct sm_h1_event *ev);

/* Upstream selection (core/upstream.c): resolve fr->host:fr->port, apply
 * dest rules, connect; ends in sm_front_connect_cqe() or an error reply. */
void sm_upstream_resolve(struct sm_reactor *r, struct sm_flow *f);
void sm_upstream_connected_event(struct sm_reactor *r, struct sm_flow *f);
void sm_upstream_decision_event(struct sm_reactor *r, struct sm_flow *f,
                                const struct sm_policy_decision *d);

#endif
