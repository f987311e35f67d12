/* Front phase of a flow: reading the proxy request, deciding, resolving,
 * connecting and answering. Lives in a pooled struct sm_front that the flow
 * gives back once it relays, so an established tunnel carries none of it. */
#ifndef SM_CORE_FRONT_H
#define SM_CORE_FRONT_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/reactor.h"

struct sm_front {
	/* request head bytes received so far (bounded by max_header_bytes) */
	uint8_t *head;
	uint32_t head_len, head_cap;
	/* bytes the client sent after the CONNECT head, forwarded first */
	uint32_t leftover_off, leftover_len;

	char host[256];
	uint16_t port;
	struct sockaddr_in6 peer; /* client address (sockaddr_in for IPv4) */
	struct sockaddr_storage addrs[SM_MAX_ADDRS];
	uint8_t n_addrs, addr_idx;
	int last_errno;
	uint64_t t_dns_ns, t_connect_ns, dns_us;

	/* one send at a time: chunk of the registered slab */
	int32_t chunk; /* -1 = none */
	uint32_t send_len, send_off;
	uint8_t send_to_client;
	uint8_t after_send; /* what to do when the send finishes (enum in front.c) */
	uint8_t pending_reason;
	bool denied;    /* client outside allow_clients: 403 once its head is read */
	bool lingering; /* reply sent and write side shut: draining until EOF */
	uint64_t linger_until_ns;
};

/* Allocates pooled front state for a new flow. NULL if out of memory. */
struct sm_front *sm_front_get(struct sm_reactor *r);
void sm_front_put(struct sm_reactor *r, struct sm_front *fr);

/* Entry points from the reactor's completion dispatch. */
void sm_front_start(struct sm_reactor *r, struct sm_flow *f);
void sm_front_recv(struct sm_reactor *r, struct sm_flow *f, const uint8_t *data, size_t len);
void sm_front_recv_end(struct sm_reactor *r, struct sm_flow *f, int res);
void sm_front_connect_cqe(struct sm_reactor *r, struct sm_flow *f, int res);
void sm_front_send_cqe(struct sm_reactor *r, struct sm_flow *f, int res);

/* Sends a complete error response to the client, then closes with reason. */
void sm_front_reply_error(struct sm_reactor *r, struct sm_flow *f, int status, const char *text,
                          const char *detail, int reason);

#endif
