/* One reactor: a thread pinned to a core that owns a ring (core/ring.h),
 * its listeners, a flow table (core/flow.h), a provided-buffer ring for
 * receives, a registered slab for sends, a pipe pool for tunnels, a pool
 * of layer stacks, a DNS channel and an event ring. Internal to core/:
 * only the owning thread touches any of it, except the atomics marked
 * "read by others". */
#ifndef SM_CORE_REACTOR_H
#define SM_CORE_REACTOR_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/clock.h"
#include "core/config.h"
#include "core/flow.h"
#include "core/snap.h"
#include "core/proxy.h"
#include "core/ring.h"
#include "core/timer_wheel.h"
#include "core/uring_ud.h"
#include "telemetry/event_ring.h"
#include "telemetry/metrics.h"

#define SM_MAX_LISTEN 64
#define SM_SNAP_HELD  16 /* configuration snapshots a reactor keeps alive at once */
#define SM_BR_BGID    1
#define SM_BR_SIZE    (16 * 1024)   /* one provided receive buffer */
#define SM_CHUNK_SIZE (16 * 1024)   /* one registered send chunk */
#define SM_RING_SQ    2048          /* io_uring submission queue entries */
#define SM_RING_CQ    8192          /* completion queue entries */
#define SM_PIPES_CAP  1024          /* pooled pipe pairs a reactor keeps at most */
#define SM_STACKS_CAP 4096          /* pooled layer stacks a reactor keeps at most */
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
struct sm_stack;
struct sm_tls_rt;
struct sm_proxy_rt;

struct sm_reactor {
	const struct sm_proxy_rt *rt; /* the instance's read-only runtime: CA, hosts, trust */
	const struct sm_config *cfg;
	const struct sm_ring_ops *io; /* the ring flows submit through */
	int index;
	int n_reactors; /* of the instance: flow ids are unique across them */
	struct io_uring ring;
	pthread_t thread;
	bool thread_started;

	int listen_fds[SM_MAX_LISTEN];
	int n_listen;
	bool accepting;
	/* accepting paused by a shortage (EMFILE...): listeners whose accept
	 * is not armed (bit k: listen_fds[k]), re-armed at accept_resume_ns or
	 * when a flow frees its descriptors; the backoff doubles up to 1 s
	 * while accepts keep failing */
	uint64_t accept_paused;
	uint64_t accept_resume_ns;
	uint32_t accept_backoff_ms;
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
	uint32_t settle_head, settle_tail; /* flows to settle: slot + 1, 0 = none */

	/* pipe pool: empty pipes ready for reuse */
	int (*pipes)[2];
	uint32_t n_pipes, pipes_cap;

	/* layer stacks ready for reuse */
	struct sm_stack **stacks;
	uint32_t n_stacks, stacks_cap;

	struct sm_dns *dns;    /* NULL on a ring without a resolver (the tests' fake) */
	struct sm_tls_rt *tls; /* NULL when the configuration never intercepts */
	uint64_t rng;          /* fault rolls: sm_rng_seed(seed, index) */

	/* configuration snapshots (core/snap.h): cfg above is held[snap_cur]'s,
	 * the one new flows get; the others still have flows open under them.
	 * A slot is free when s is NULL. Adopted at the top of the loop from
	 * *snap_src (the instance's current one; NULL: never reloaded, as in
	 * the engine's tests); snap_epoch says which was last seen. */
	struct {
		struct sm_snap *s;
		uint32_t flows;
	} held[SM_SNAP_HELD];
	uint8_t snap_cur;
	struct sm_snap boot;               /* the configuration given at init */
	struct sm_snap *_Atomic *snap_src; /* set by the instance */
	_Atomic uint64_t snap_epoch;       /* read by the instance: adoption acknowledged */

	/* event ring (drained by the collector) */
	struct sm_event_ring events;
	bool events_pushed;
	int collector_wake_fd;
	bool events_on; /* a JSONL sink exists: without one, no event is built */
	bool keylog_on; /* tls.keylog is set: TLS 1.3 secrets go to the collector */

	uint64_t tick_ns; /* the time of the tick running the flows' timers */
	bool tick_armed;
	uint64_t tick_deadline_ns;           /* absolute CLOCK_MONOTONIC of the armed tick */
	struct sm_tw tw;                     /* per-flow deadlines */
	struct __kernel_timespec connect_ts; /* upstream connect deadline (link timeout) */
	struct __kernel_timespec tick_ts;

	_Atomic bool stop_requested; /* written by the controller */
	_Atomic bool stop_now;       /* written by the controller: end the drain at once */
	_Atomic bool exited;         /* read by others: the loop returned */
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

/* Prepares a reactor of an instance (rt, cfg: read-only, outlive it) for
 * ring io; the ring itself is made by sm_reactor_open() on the thread that
 * runs it. Returns SM_OK or an error with a message in err. */
int sm_reactor_init(struct sm_reactor *r, const struct sm_proxy_rt *rt, const struct sm_config *cfg,
                    int index, int n_reactors, const struct sm_ring_ops *io, int collector_wake_fd,
                    char *err, size_t errcap);
/* What one reactor allocates for cfg, in bytes, from its limits (the table
 * in docs/architecture.md "Memory per reactor"); intercepting adds the
 * leaf cache. Buffers the kernel fills on demand are counted whole. */
size_t sm_reactor_mem_estimate(const struct sm_config *cfg, bool intercepting);

/* Sets up the ring (io->setup) and the send chunks (core/loop.h opens the
 * rest). */
int sm_reactor_open(struct sm_reactor *r, char *err, size_t errcap);
/* Undoes sm_reactor_open() (flows must be released: sm_loop_close()). */
void sm_reactor_close(struct sm_reactor *r);
void sm_reactor_free(struct sm_reactor *r);

/* Returns an SQE, submitting pending ones first if the SQ is full. */
struct io_uring_sqe *sm_sqe(struct sm_reactor *r);

static inline uint32_t sm_flow_slot(const struct sm_reactor *r, const struct sm_flow *f)
{
	return (uint32_t)(f - r->flows);
}

/* Registered send chunks (SM_CHUNK_SIZE bytes each); -1 when exhausted. */
int32_t sm_chunk_get(struct sm_reactor *r);
void sm_chunk_put(struct sm_reactor *r, int32_t c);
uint8_t *sm_chunk_ptr(struct sm_reactor *r, int32_t c);

/* Provided receive buffers. */
uint8_t *sm_br_buf(struct sm_reactor *r, unsigned bid);
void sm_br_recycle(struct sm_reactor *r, unsigned bid);

/* Tunnel (core/tunnel.c): the flow gives its stack back first. */
void sm_tunnel_start(struct sm_reactor *r, struct sm_flow *f);
void sm_tunnel_cqe(struct sm_reactor *r, struct sm_flow *f, enum sm_op op, int res, unsigned flags);
void sm_tunnel_release(struct sm_reactor *r, struct sm_flow *f);

#endif
