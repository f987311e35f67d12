/* The explicit proxy front end and the request phase of a flow: who the
 * client is, which upstream a request names, the policy decision,
 * resolution and connect (core/upstream.c), and what follows a CONNECT:
 * the establish layer answers "200 Connection established", forwards the
 * bytes the client sent early, then hands the sockets to the splice
 * tunnel or to TLS interception.
 *
 * The HTTP/1.1 layer in proxy mode (core/app_h1.c) reads the requests and
 * calls sm_front_target() when one names an upstream that is not the one
 * connected (a CONNECT, or absolute-form to another host): the switch
 * waits until every earlier response went out, then the old upstream is
 * closed, the new one resolved and connected. */
#ifndef SM_CORE_FRONT_H
#define SM_CORE_FRONT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sm_reactor;
struct sm_flow;
struct sm_fault;
struct sm_h1_event;
struct sm_policy_decision;

#define SM_MAX_ADDRS 8 /* resolved addresses tried per upstream */

/* What the pending upstream connection is for. */
enum sm_front_purpose {
	SM_PURPOSE_NONE = 0,
	SM_PURPOSE_CONNECT, /* CONNECT: answer 200, then tunnel or intercept */
	SM_PURPOSE_HTTP,    /* absolute-form: release the held request */
};

/* Where the upstream connection stands. */
enum sm_front_phase {
	SM_FE_NONE = 0,   /* none: no request yet, or the old one closed for a switch */
	SM_FE_RESOLVING,  /* DNS lookup in flight (c-ares) */
	SM_FE_CONNECTING, /* connect in flight with its deadline */
	SM_FE_CONNECTED,  /* f->fd[SM_SIDE_UPSTREAM] is live */
};

/* A fault answer waiting for its delay and for the earlier responses. */
struct sm_fault_due {
	const struct sm_fault *fault; /* NULL: none */
	bool head;                    /* to a HEAD request: its head only */
	uint64_t due_ns;
};

struct sm_front {
	struct sockaddr_in6 peer; /* client address (sockaddr_in for IPv4) */
	char host[256];           /* upstream being selected or connected */
	uint16_t port;
	char live_host[256]; /* upstream the relay talks to (events); SNI when intercepted */
	uint16_t live_port;
	char sni[256]; /* the ClientHello's SNI once intercepting, "" if none */
	uint16_t sni_len;
	bool has_sni;
	struct sockaddr_storage addrs[SM_MAX_ADDRS];
	uint8_t n_addrs, addr_idx;
	uint8_t purpose; /* enum sm_front_purpose of the pending upstream */
	uint8_t phase;   /* enum sm_front_phase */
	bool switching;  /* a request waits for the upstream it names (host, port):
	                    the old one's responses finish, it closes, the new one
	                    is resolved and connected */
	bool intercept;  /* the decision was intercept (CONNECT) */
	bool need_sni;   /* an sni rule decides once the ClientHello is seen */
	bool denied;     /* client outside allow_clients: 403 once its head is read */
	const struct sm_fault *conn_fault; /* decided at the SNI step: every request gets it */
	int conn_fault_rule;
	struct sm_fault_due fault; /* a fault to answer once due (and idle) */
	uint64_t roll;             /* per-connection random bits for fault rules */
	uint64_t t_dns_ns, t_connect_ns, dns_us;
};

/* An accepted connection: flow_open, allow_clients, the client side plain
 * and the HTTP/1.1 layer in proxy mode reading its first request. Can
 * close. */
void sm_front_start(struct sm_reactor *r, struct sm_flow *f);

/* A request names host:port (a CONNECT, or absolute-form to an upstream
 * other than the connected one): the flow is switching from now on. */
void sm_front_target(struct sm_reactor *r, struct sm_flow *f, const char *host, uint16_t port,
                     bool connect);
/* The layer above has nothing outstanding on the old upstream: the switch
 * goes on (the old upstream's recv is cancelled and landed first, then it
 * is closed and the new one resolved). Can close. */
void sm_front_switch(struct sm_reactor *r, struct sm_flow *f);
bool sm_front_switching(const struct sm_flow *f);

/* The connect of the upstream completed (res 0 or -errno): a CONNECT gets
 * the establish layer; a request the layer on top (SM_PUMP_OPEN of the
 * upstream side). Can close. */
void sm_front_connect_cqe(struct sm_reactor *r, struct sm_flow *f, int res);

/* Request-level policy and faults (core/front_fault.c). request_policy:
 * false when a block (403: can close) or a fault answers the request
 * instead of the upstream. A fault is recorded in fe.fault (with its event
 * and deadline) by sm_front_fault(); sm_front_fault_check() answers it once
 * due at now, unless earlier responses are still pending. Both can close. */
bool sm_front_request_policy(struct sm_reactor *r, struct sm_flow *f, const struct sm_h1_event *ev);
void sm_front_fault(struct sm_reactor *r, struct sm_flow *f, const struct sm_policy_decision *d,
                    const char *method, const uint8_t *target, size_t tlen, bool head);
void sm_front_fault_check(struct sm_reactor *r, struct sm_flow *f, bool earlier_pending,
                          uint64_t now);

/* Upstream selection (core/upstream.c): resolve fe.host:fe.port, apply
 * dest rules, connect; ends in sm_front_connect_cqe() or an error reply. */
void sm_upstream_resolve(struct sm_reactor *r, struct sm_flow *f);
void sm_upstream_connected_event(struct sm_reactor *r, struct sm_flow *f);
void sm_upstream_decision_event(struct sm_reactor *r, struct sm_flow *f,
                                const struct sm_policy_decision *d);
/* The result of a connect: true when connected; else the next address is
 * tried or the client answered. */
bool sm_upstream_connect_result(struct sm_reactor *r, struct sm_flow *f, int res);

#endif
