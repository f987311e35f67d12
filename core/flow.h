/* Flows and the services the reactor gives them: the flow table, events,
 * deadlines, the ring (through its ops) and closing.
 *
 * A flow is one client connection, its upstream once there is one, and the
 * layers between them (core/stack.h): a transport per side and one layer
 * on top (HTTP/1.1, HTTP/2, raw relay, or a phase such as the TLS
 * handshake or an error reply). A splice tunnel gives its stack back: an
 * established tunnel costs only struct sm_flow.
 *
 * THE CLOSE RULE. sm_flow_close() only records the reason and queues the
 * flow: its teardown (the layers' observers flushed, flow_closed, the
 * cancels, the stack back to its pool) runs once, at the end of completion
 * dispatch (sm_loop_settle(), core/loop.h). Until then everything the flow holds
 * stays valid, so a caller is never left with freed memory; but once a
 * call may have closed the flow, the caller does no more work on it and
 * returns. Functions that can close say so. */
#ifndef SM_CORE_FLOW_H
#define SM_CORE_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/snap.h"
#include "core/timer_wheel.h"
#include "core/uring_ud.h"

struct sm_reactor;
struct sm_stack;
struct sm_event;

/* The two sides of a flow; conn[] and fd[] are indexed by them. */
enum sm_side {
	SM_SIDE_CLIENT = 0,   /* the client's connection to the proxy */
	SM_SIDE_UPSTREAM = 1, /* the proxy's connection to the origin */
};

/* Lifecycle of a flow slot (docs/flows.md). What a live flow is doing is
 * the layer on top of its stack (f->st->app->name). */
enum sm_flow_state {
	SM_FLOW_FREE = 0, /* slot unused */
	SM_FLOW_OPEN,     /* its stack of layers runs */
	SM_FLOW_TUNNEL,   /* a splice tunnel (core/tunnel.c): no stack */
	SM_FLOW_CLOSING,  /* close requested: torn down at the end of dispatch, then the
	                     slot waits for its operations to complete */
};

/* Per-direction tunnel state; dir 0 = client->upstream, 1 = upstream->client. */
enum sm_dir_state {
	SM_DIR_IDLE = 0,   /* nothing in flight (between steps) */
	SM_DIR_POLL_IN,    /* waiting for the source to be readable */
	SM_DIR_SPLICE_IN,  /* source -> pipe */
	SM_DIR_SPLICE_OUT, /* pipe -> destination */
	SM_DIR_POLL_OUT,   /* waiting for the destination to be writable */
	SM_DIR_SHUT,       /* source ended: shutdown(SHUT_WR) of the destination */
	SM_DIR_RECV,       /* copy mode: recv from the source in flight */
	SM_DIR_SEND,       /* copy mode: send of a received buffer in flight */
	SM_DIR_DONE,       /* source ended and the destination was shut */
};

struct sm_tunnel_dir {
	int pipe_r, pipe_w;        /* -1 when no pipe held (idle tunnels hold none) */
	uint32_t in_pipe;          /* bytes sitting in the pipe */
	uint32_t moved;            /* bytes relayed, saturating at SM_SPLICE_AFTER */
	uint32_t buf_off, buf_len; /* copy mode: the received buffer being sent */
	uint16_t bid;              /* copy mode: its provided-buffer id */
	bool splicing;             /* splice mode (bulk) rather than copy mode */
	uint8_t streak;            /* reads in a row that argue for the other mode */
	uint8_t state;             /* enum sm_dir_state */
};

/* A flow. Kept small: an idle tunnel costs only this struct. */
struct sm_flow {
	uint32_t gen;      /* bumped when the slot is freed */
	uint16_t inflight; /* ring operations not yet completed */
	uint8_t state;     /* enum sm_flow_state */
	uint8_t close_reason;
	bool reset;     /* closing because a side reset: propagate RST */
	bool queued;    /* on the reactor's settle queue */
	bool torn_down; /* teardown ran; waiting for inflight to reach 0 */
	uint32_t next;  /* settle queue link: slot + 1, 0 = end */
	int fd[2];      /* [enum sm_side], -1 = none */
	uint32_t seq;   /* next event seq */
	uint64_t id;
	uint64_t t_open_ns, t_last_ns;
	uint64_t bytes_up, bytes_down;
	const struct sm_snap *snap; /* the configuration it was opened under (core/snap.h) */
	uint8_t snap_slot;          /* its index in the reactor's held[] */
	struct sm_stack *st;        /* layers; NULL for a splice tunnel */
	struct sm_timer timer;      /* idle / phase deadline (lazily re-armed) */
	struct sm_tunnel_dir dir[2];
};

/* The configuration the flow runs under: the snapshot it was opened with,
 * whatever a reload published since. Flow code reads this, never r->cfg. */
static inline const struct sm_config *sm_flow_cfg(const struct sm_flow *f)
{
	return f->snap->cfg;
}

/* A flow as the context of an observer sink (observe/observe.h): its
 * events go to the flow's stream, its counts to the reactor's metrics. */
struct sm_flow_ref {
	struct sm_reactor *r;
	struct sm_flow *f;
};
struct sm_observe_sink;
void sm_flow_sink(struct sm_flow_ref *ref, struct sm_observe_sink *out);

/* A new flow for an accepted socket (idle deadline armed, counted open);
 * NULL when the table is full. */
struct sm_flow *sm_flow_open(struct sm_reactor *r, int fd);

/* The user_data of a ring operation op of f, counted in flight. Every
 * submission of a flow goes through here. */
uint64_t sm_flow_op(struct sm_reactor *r, struct sm_flow *f, enum sm_op op);

/* Starts an event for f; NULL when it is dropped (ring full, counted; or
 * no sink: none is built). Its seq is used either way, so gaps show drops. */
struct sm_event *sm_flow_event(struct sm_reactor *r, struct sm_flow *f, int type);
void sm_flow_event_commit(struct sm_reactor *r);

/* Activity: moves the idle deadline (lazily: the timer re-arms itself). */
void sm_flow_touch(struct sm_reactor *r, struct sm_flow *f);
/* The flow's timer fires at ns at the latest. */
void sm_flow_deadline(struct sm_reactor *r, struct sm_flow *f, uint64_t ns);

/* Requests the close of f with reason (enum sm_close_reason); the first
 * reason wins. See THE CLOSE RULE above: the caller returns after it. */
void sm_flow_close(struct sm_reactor *r, struct sm_flow *f, int reason);
/* A socket error err (errno) that is the peer resetting (or vanishing):
 * the flow passes a reset on to the other side when it closes for it. */
bool sm_flow_is_reset(int err);

static inline bool sm_flow_closing(const struct sm_flow *f)
{
	return f->state == SM_FLOW_CLOSING;
}

/* Puts f on the reactor's settle queue (its replaced layers are freed, or
 * its teardown runs, at the end of dispatch: core/loop.h). */
void sm_flow_queue(struct sm_reactor *r, struct sm_flow *f);

#endif
