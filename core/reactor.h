/* One reactor: a thread pinned to a core that owns an io_uring, its
 * listeners, a flow table, a provided-buffer ring for receives, a registered
 * slab for sends, a pipe pool for tunnels, a DNS channel and an event ring.
 * Internal to core/: only the owning thread touches any of it, except the
 * atomics marked "read by others". */
#ifndef SM_CORE_REACTOR_H
#define SM_CORE_REACTOR_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/proxy.h"
#include "core/timer_wheel.h"
#include "core/uring_ud.h"
#include "telemetry/event_ring.h"
#include "telemetry/metrics.h"

#define SM_MAX_LISTEN 64
#define SM_BR_BGID    1
#define SM_CHUNK_SIZE (16 * 1024)   /* one registered send chunk */
#define SM_MAX_ADDRS  8             /* resolved addresses tried per upstream */
#define SM_PIPE_SIZE  (1024 * 1024) /* pipe capacity, bytes moved per splice at most */
/* A tunnel direction relays with recv + send (completed inline on the
 * reactor) while messages are small, and with splice while it streams:
 * io_uring runs every splice on an io-wq worker, a thread handoff that costs
 * more than copying a small message but less than copying a large stream.
 * SM_MODE_STREAK reads in a row decide a switch (full 16 KiB buffers: to
 * splice; less: back to copy). */
#define SM_SPLICE_AFTER (256 * 1024) /* saturation point of the moved counter */
#define SM_MODE_STREAK  4
#define SM_HEAD_MAX     65536         /* hard cap on max_header_bytes */
#define SM_LINGER_NS    1000000000ull /* drain time after an error reply */

struct sm_dns;
struct sm_front;
struct sm_tls_rt;

#define SM_BR_SIZE (16 * 1024) /* one provided receive buffer */

/* Flow states (docs/flows.md). */
enum sm_flow_state {
	SM_FLOW_FREE = 0,
	SM_FLOW_FRONT,      /* reading the proxy request */
	SM_FLOW_RESOLVING,  /* waiting for DNS */
	SM_FLOW_CONNECTING, /* connect in flight */
	SM_FLOW_REPLYING,   /* sending a final answer (403/502/...) then closing */
	SM_FLOW_ESTABLISH,  /* sending "200 Connection established" (+ leftovers) */
	SM_FLOW_HTTP,       /* relaying requests through proto/http1 (plain, or TLS-intercepted) */
	SM_FLOW_MITM,       /* intercepting: ClientHello peek and the two TLS handshakes */
	SM_FLOW_RELAY,      /* splice tunnel */
	SM_FLOW_CLOSING,    /* waiting for in-flight ops before freeing */
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

/* A flow: a client connection and its upstream. Kept small: an idle tunnel
 * costs only this struct; the front-phase state lives in *front. */
struct sm_flow {
	uint32_t gen;      /* bumped when the slot is freed */
	uint16_t inflight; /* io_uring ops not yet completed */
	uint8_t state;     /* enum sm_flow_state */
	uint8_t close_reason;
	bool reset; /* closing because a side reset: propagate RST */
	bool client_recv_armed;
	int cfd, ufd;
	uint32_t seq; /* next event seq */
	uint64_t id;
	uint64_t t_open_ns, t_last_ns;
	uint64_t bytes_up, bytes_down;
	struct sm_front *front; /* NULL once relaying */
	struct sm_timer timer;  /* idle / linger deadline (lazily re-armed) */
	struct sm_tunnel_dir dir[2];
};

struct sm_reactor {
	struct sm_proxy *proxy;
	const struct sm_config *cfg;
	int index;
	struct io_uring ring;
	pthread_t thread;
	bool thread_started;

	int listen_fds[SM_MAX_LISTEN];
	int n_listen;
	bool accepting;
	int wake_fd;
	uint64_t wake_val;

	/* provided buffer ring for recv */
	struct io_uring_buf_ring *br;
	uint8_t *br_mem;
	size_t br_mem_len;
	uint32_t br_entries, br_size;

	/* registered send slab: n_chunks chunks of SM_CHUNK_SIZE; the last one
	 * is never handed out: it holds the constant answers below, so a
	 * CONNECT can be answered (or refused) when every chunk is in use */
	const uint8_t *const_200, *const_503;
	uint32_t const_200_len, const_503_len;
	uint8_t *slab;
	size_t slab_len;
	uint32_t *free_chunks;
	uint32_t n_free_chunks, n_chunks;

	/* flow table */
	struct sm_flow *flows;
	uint32_t cap;
	uint32_t *free_slots;
	uint32_t n_free_slots;
	uint32_t n_open;
	uint64_t next_flow_id;

	/* pipe pool: empty pipes ready for reuse */
	int (*pipes)[2];
	uint32_t n_pipes, pipes_cap;

	/* front-state pool */
	struct sm_front **fronts;
	uint32_t n_fronts, fronts_cap;

	struct sm_dns *dns;
	struct sm_tls_rt *tls; /* NULL when the configuration never intercepts */
	uint64_t rng;          /* fault rolls: sm_rng_seed(seed, index) */
	bool req_rules;        /* some rule acts per request (method, path or fault) */

	/* event ring (drained by the collector) */
	struct sm_event_ring events;
	bool events_pushed;
	int collector_wake_fd;
	bool events_on; /* a JSONL sink exists: without one, no event is built */
	bool keylog_on; /* tls.keylog is set: TLS 1.3 secrets go to the collector */

	bool tick_armed;
	uint64_t tick_deadline_ns;           /* absolute CLOCK_MONOTONIC of the armed tick */
	struct sm_tw tw;                     /* per-flow deadlines */
	struct __kernel_timespec connect_ts; /* upstream connect deadline (link timeout) */
	struct __kernel_timespec tick_ts;

	_Atomic bool stop_requested; /* written by the controller */
	_Atomic bool ready;          /* read by others: accept armed */
	_Atomic bool failed;         /* read by others: ring set-up failed */
	bool draining;
	uint64_t drain_deadline_ns;

	struct sm_metrics
	        *m; /* counters and histograms (telemetry/metrics.h), owned by the proxy */
};

/* Counter helpers: single writer (the reactor), relaxed. */
#define SM_CTR_ADD(r, field, n) sm_metrics_add(&(r)->m->field, (n))
#define SM_CTR_INC(r, field)    SM_CTR_ADD(r, field, 1)

uint64_t sm_now_ns(void);  /* CLOCK_MONOTONIC */
uint64_t sm_wall_ns(void); /* CLOCK_REALTIME */

int sm_reactor_init(struct sm_reactor *r, struct sm_proxy *p, const struct sm_config *cfg,
                    int index, int collector_wake_fd, char *err, size_t errcap);
void sm_reactor_free(struct sm_reactor *r);
void *sm_reactor_main(void *arg);

/* Returns an SQE, submitting pending ones first if the SQ is full. */
struct io_uring_sqe *sm_sqe(struct sm_reactor *r);

/* Flow helpers shared by reactor.c, tunnel.c and upstream.c. */
static inline uint32_t sm_flow_slot(const struct sm_reactor *r, const struct sm_flow *f)
{
	return (uint32_t)(f - r->flows);
}
void sm_flow_prep(struct sm_reactor *r, struct sm_flow *f, struct io_uring_sqe *sqe, enum sm_op op);
/* Starts an event for f; returns NULL if the ring is full (counted). */
struct sm_event *sm_flow_event(struct sm_reactor *r, struct sm_flow *f, int type);
void sm_flow_event_commit(struct sm_reactor *r);
void sm_flow_close(struct sm_reactor *r, struct sm_flow *f, int reason);
void sm_flow_touch(struct sm_reactor *r, struct sm_flow *f);
/* Moves the flow's deadline (linger): the timer fires at ns at the latest. */
void sm_flow_deadline(struct sm_reactor *r, struct sm_flow *f, uint64_t ns);

/* Registered send chunks (SM_CHUNK_SIZE bytes each); -1 when exhausted. */
int32_t sm_chunk_get(struct sm_reactor *r);
void sm_chunk_put(struct sm_reactor *r, int32_t c);
uint8_t *sm_chunk_ptr(struct sm_reactor *r, int32_t c);

/* Tunnel (core/tunnel.c). */
void sm_tunnel_start(struct sm_reactor *r, struct sm_flow *f);
void sm_tunnel_cqe(struct sm_reactor *r, struct sm_flow *f, enum sm_op op, int res, unsigned flags);

/* Provided receive buffers (reactor.c). */
uint8_t *sm_br_buf(struct sm_reactor *r, unsigned bid);
void sm_br_recycle(struct sm_reactor *r, unsigned bid);
void sm_tunnel_release(struct sm_reactor *r, struct sm_flow *f);

#endif
