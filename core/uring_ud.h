/* io_uring user_data layout, defined once.
 *
 *   bits 63..56  operation (enum sm_op)
 *   bits 55..32  generation of the flow slot (24 bits, wraps)
 *   bits 31..0   flow slot index, or a reactor-level id for reactor ops
 *
 * A completion whose generation differs from its slot's current generation
 * belongs to a flow that already closed: it is counted and dropped. */
#ifndef SM_CORE_URING_UD_H
#define SM_CORE_URING_UD_H

#include <stdint.h>

enum sm_op {
	SM_OP_NONE = 0,
	SM_OP_ACCEPT,          /* multishot accept; slot = listener index */
	SM_OP_WAKE,            /* read on the reactor's control eventfd */
	SM_OP_TICK,            /* the one ring timeout driving the timer wheel */
	SM_OP_DNS_POLL,        /* poll on a c-ares socket; slot = socket fd */
	SM_OP_CLIENT_RECV,     /* multishot recv on the client socket (front phase) */
	SM_OP_UP_RECV,         /* multishot recv on the upstream socket (HTTP relay) */
	SM_OP_CLIENT_SEND,     /* write_fixed to the client */
	SM_OP_UP_SEND,         /* write_fixed to the upstream */
	SM_OP_CONNECT,         /* connect to the upstream */
	SM_OP_CONNECT_TIMEOUT, /* link timeout attached to SM_OP_CONNECT */
	SM_OP_POLL_IN0,        /* tunnel dir 0 (client->upstream): wait for client readable */
	SM_OP_POLL_IN1,        /* tunnel dir 1 (upstream->client): wait for upstream readable */
	SM_OP_SPLICE_IN0,      /* socket -> pipe, dir 0 */
	SM_OP_SPLICE_IN1,
	SM_OP_SPLICE_OUT0, /* pipe -> socket, dir 0 */
	SM_OP_SPLICE_OUT1,
	SM_OP_POLL_OUT0, /* wait for the destination of dir 0 to be writable */
	SM_OP_POLL_OUT1,
	SM_OP_SHUTDOWN0, /* shutdown(SHUT_WR) of dir 0's destination */
	SM_OP_SHUTDOWN1,
	SM_OP_TRECV0, /* tunnel dir 0 in copy mode: recv from the client */
	SM_OP_TRECV1, /* tunnel dir 1 in copy mode: recv from the upstream */
	SM_OP_TSEND0, /* tunnel dir 0 in copy mode: send to the upstream */
	SM_OP_TSEND1, /* tunnel dir 1 in copy mode: send to the client */
	SM_OP_CANCEL, /* cancellation of a flow's ops */
	SM_OP_COUNT
};

static inline uint64_t sm_ud_make(enum sm_op op, uint32_t gen, uint32_t slot)
{
	return ((uint64_t)op << 56) | ((uint64_t)(gen & 0xffffffu) << 32) | slot;
}

static inline enum sm_op sm_ud_op(uint64_t ud)
{
	return (enum sm_op)(ud >> 56);
}

static inline uint32_t sm_ud_gen(uint64_t ud)
{
	return (uint32_t)(ud >> 32) & 0xffffffu;
}

static inline uint32_t sm_ud_slot(uint64_t ud)
{
	return (uint32_t)ud;
}

#endif
