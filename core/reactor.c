/* The reactor loop: set-up, accept, completion dispatch, ticks and the
 * drain. Flows and their services are core/flow.c; the ring's ops are
 * core/ring_uring.c. */
#include "core/reactor.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/result.h"
#include "base/rng.h"
#include "core/conn.h"
#include "core/dns.h"
#include "core/front.h"
#include "core/stack.h"
#include "core/tls_rt.h"
#include "proto/http1.h"
#include "telemetry/event.h"

#define TICK_MS 50

struct io_uring_sqe *sm_sqe(struct sm_reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	while (!sqe) {
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

/* ---- set-up ----------------------------------------------------------------- */

int sm_reactor_init(struct sm_reactor *r, const struct sm_proxy_rt *rt, const struct sm_config *cfg,
                    int index, int n_reactors, const struct sm_ring_ops *io, int collector_wake_fd,
                    char *err, size_t errcap)
{
	r->rt = rt;
	r->cfg = cfg;
	r->io = io;
	r->index = index;
	r->n_reactors = n_reactors;
	r->collector_wake_fd = collector_wake_fd;
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wake_fd < 0) {
		snprintf(err, errcap, "eventfd: %s", strerror(errno));
		return SM_ERR_IO;
	}
	if (sm_event_ring_init(&r->events, cfg->limits.event_ring_size) != SM_OK) {
		snprintf(err, errcap, "event ring of %u records: out of memory",
		         cfg->limits.event_ring_size);
		return SM_ERR_NOMEM;
	}
	sm_tw_init(&r->tw, SM_TW_TICK_NS, sm_now_ns());
	r->rng = sm_rng_seed(cfg->seed ? cfg->seed : sm_wall_ns(), (uint32_t)index);
	for (size_t k = 0; k < cfg->n_rules; k++)
		r->req_rules |= cfg->rules[k].n_methods || cfg->rules[k].path ||
		                cfg->rules[k].action == SM_ACTION_FAULT;
	r->connect_ts.tv_sec = cfg->timeouts.connect_timeout_ms / 1000;
	r->connect_ts.tv_nsec = (long long)(cfg->timeouts.connect_timeout_ms % 1000) * 1000000;
	r->cap = cfg->limits.max_flows_per_thread;
	r->flows = calloc(r->cap, sizeof(*r->flows));
	r->free_slots = malloc(r->cap * sizeof(*r->free_slots));
	r->pipes_cap = 1024;
	r->pipes = malloc(r->pipes_cap * sizeof(*r->pipes));
	r->stacks_cap = 4096;
	r->stacks = malloc(r->stacks_cap * sizeof(*r->stacks));
	if (!r->flows || !r->free_slots || !r->pipes || !r->stacks) {
		snprintf(err, errcap, "reactor %d: flow table of %u: out of memory", index, r->cap);
		return SM_ERR_NOMEM;
	}
	for (uint32_t k = 0; k < r->cap; k++) {
		r->free_slots[k] = r->cap - 1 - k;
		r->flows[k].fd[0] = r->flows[k].fd[1] = -1;
	}
	r->n_free_slots = r->cap;
	return SM_OK;
}

/* The send slab's chunk list; its last chunk holds the constant answers and
 * is never handed out. */
static int setup_chunks(struct sm_reactor *r, char *err, size_t errcap)
{
	r->free_chunks = malloc(r->n_chunks * sizeof(*r->free_chunks));
	if (!r->free_chunks) {
		snprintf(err, errcap, "reactor %d: send chunks: out of memory", r->index);
		return SM_ERR_NOMEM;
	}
	uint8_t *c = r->slab + (size_t)(r->n_chunks - 1) * SM_CHUNK_SIZE;
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	memcpy(c, ok, sizeof(ok) - 1);
	r->const_200 = c;
	r->const_200_len = sizeof(ok) - 1;
	long n = sm_h1_error_response(503, "proxy is busy: every send buffer is in use", c + 64,
	                              SM_CHUNK_SIZE - 64);
	r->const_503 = c + 64;
	r->const_503_len = n > 0 ? (uint32_t)n : 0;
	for (uint32_t k = 0; k + 1 < r->n_chunks; k++)
		r->free_chunks[k] = r->n_chunks - 2 - k;
	r->n_free_chunks = r->n_chunks - 1;
	return SM_OK;
}

int sm_reactor_open(struct sm_reactor *r, char *err, size_t errcap)
{
	int rc = r->io->setup(r, err, errcap);
	if (rc == SM_OK)
		rc = setup_chunks(r, err, errcap);
	if (rc == SM_OK)
		rc = sm_tls_rt_init(r, err, errcap);
	return rc;
}

void sm_reactor_close(struct sm_reactor *r)
{
	for (uint32_t k = 0; r->flows && k < r->cap; k++) { /* what a stop left open */
		struct sm_flow *f = &r->flows[k];
		if (f->state == SM_FLOW_FREE)
			continue;
		if (f->st && !f->torn_down)
			sm_stack_teardown(r, f);
		sm_flow_release(r, f);
	}
	sm_tls_rt_free(r);
	r->io->teardown(r);
	free(r->free_chunks);
	r->free_chunks = NULL;
}

void sm_reactor_free(struct sm_reactor *r)
{
	for (uint32_t k = 0; k < r->n_pipes; k++) {
		close(r->pipes[k][0]);
		close(r->pipes[k][1]);
	}
	for (uint32_t k = 0; k < r->n_stacks; k++)
		sm_stack_free(r->stacks[k]);
	for (int k = 0; k < r->n_listen; k++)
		if (r->listen_fds[k] >= 0)
			close(r->listen_fds[k]);
	free(r->pipes);
	free(r->stacks);
	free(r->flows);
	free(r->free_slots);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	sm_event_ring_free(&r->events);
}

/* ---- send chunks and receive buffers ----------------------------------------- */

int32_t sm_chunk_get(struct sm_reactor *r)
{
	if (r->n_free_chunks == 0)
		return -1;
	SM_CTR_INC(r, send_chunks_in_use);
	return (int32_t)r->free_chunks[--r->n_free_chunks];
}

void sm_chunk_put(struct sm_reactor *r, int32_t c)
{
	if (c < 0)
		return;
	r->free_chunks[r->n_free_chunks++] = (uint32_t)c;
	SM_CTR_ADD(r, send_chunks_in_use, (uint64_t)0 - 1);
}

uint8_t *sm_chunk_ptr(struct sm_reactor *r, int32_t c)
{
	return r->slab + (size_t)c * SM_CHUNK_SIZE;
}

uint8_t *sm_br_buf(struct sm_reactor *r, unsigned bid)
{
	return r->br_mem + r->br_entries * sizeof(struct io_uring_buf) + (size_t)bid * r->br_size;
}

void sm_br_recycle(struct sm_reactor *r, unsigned bid)
{
	io_uring_buf_ring_add(r->br, sm_br_buf(r, bid), r->br_size, (unsigned short)bid,
	                      io_uring_buf_ring_mask(r->br_entries), 0);
	io_uring_buf_ring_advance(r->br, 1);
}

/* ---- accept ------------------------------------------------------------------- */

static void arm_accept(struct sm_reactor *r, int k)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_multishot_accept(sqe, r->listen_fds[k], NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, sm_ud_make(SM_OP_ACCEPT, 0, (uint32_t)k));
}

static void set_linger0(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static void on_accept(struct sm_reactor *r, int k, int res, unsigned flags)
{
	if (!(flags & IORING_CQE_F_MORE) && r->accepting && !r->draining)
		arm_accept(r, k);
	if (res < 0)
		return; /* EMFILE etc.: counted by the kernel; accept re-armed above */
	int fd = res;
	SM_CTR_INC(r, accepted);
	if (r->draining) {
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sm_flow *f = sm_flow_open(r, fd);
	if (!f) {
		/* flow table full: refuse with a reset rather than hold the socket */
		SM_CTR_INC(r, refused_full);
		set_linger0(fd);
		close(fd);
		return;
	}
	sm_front_start(r, f);
}

/* ---- dispatch ------------------------------------------------------------------- */

void sm_reactor_cqe(struct sm_reactor *r, uint64_t ud, int res, unsigned flags)
{
	uint32_t slot = sm_ud_slot(ud);
	enum sm_op op = sm_ud_op(ud);
	bool buffer = (flags & IORING_CQE_F_BUFFER) != 0;
	unsigned bid = buffer ? flags >> IORING_CQE_BUFFER_SHIFT : 0;
	struct sm_flow *f = slot < r->cap ? &r->flows[slot] : NULL;
	if (!f || f->state == SM_FLOW_FREE || f->gen != sm_ud_gen(ud)) {
		SM_CTR_INC(r, stale_cqes);
		if (buffer)
			sm_br_recycle(r, bid);
		return;
	}
	if (!(flags & IORING_CQE_F_MORE))
		f->inflight--;
	if (op >= SM_OP_POLL_IN0 && op <= SM_OP_TSEND1) {
		sm_tunnel_cqe(r, f, op, res, flags); /* keeps or recycles its buffer */
	} else if (f->state == SM_FLOW_OPEN) {
		switch (op) {
		case SM_OP_CLIENT_RECV:
		case SM_OP_UP_RECV:
			sm_conn_recv_cqe(
			        r, f, op == SM_OP_CLIENT_RECV ? SM_SIDE_CLIENT : SM_SIDE_UPSTREAM,
			        buffer ? sm_br_buf(r, bid) : NULL, res);
			break;
		case SM_OP_CLIENT_SEND:
		case SM_OP_UP_SEND:
			sm_conn_write_cqe(
			        r, f, op == SM_OP_CLIENT_SEND ? SM_SIDE_CLIENT : SM_SIDE_UPSTREAM,
			        res);
			break;
		case SM_OP_CONNECT:
			if (f->st->fe.phase == SM_FE_CONNECTING)
				sm_front_connect_cqe(r, f, res);
			break;
		default: break; /* connect timeouts, cancels: settled above */
		}
		if (buffer)
			sm_br_recycle(r, bid);
	} else if (buffer) {
		sm_br_recycle(r, bid); /* closing: the completion only settles inflight */
	}
	if (f->state == SM_FLOW_CLOSING && f->torn_down && f->inflight == 0)
		sm_flow_release(r, f);
}

static void arm_wake(struct sm_reactor *r)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_read(sqe, r->wake_fd, &r->wake_val, sizeof(r->wake_val), 0);
	io_uring_sqe_set_data64(sqe, sm_ud_make(SM_OP_WAKE, 0, 0));
}

/* One ring timeout drives the wheel, c-ares and the drain: it is armed at
 * the earliest of those deadlines and moved earlier when needed. */
static void arm_tick(struct sm_reactor *r)
{
	uint64_t want = sm_tw_next_deadline(&r->tw);
	uint64_t now = sm_now_ns();
	if (sm_dns_busy(r->dns) || r->draining) {
		uint64_t soon = now + TICK_MS * 1000000ull;
		if (soon < want)
			want = soon;
	}
	if (want == UINT64_MAX || (r->tick_armed && want >= r->tick_deadline_ns))
		return;
	r->tick_ts.tv_sec = (long long)(want / 1000000000ull);
	r->tick_ts.tv_nsec = (long long)(want % 1000000000ull);
	struct io_uring_sqe *sqe = sm_sqe(r);
	if (r->tick_armed) {
		io_uring_prep_timeout_update(sqe, &r->tick_ts, sm_ud_make(SM_OP_TICK, 0, 0),
		                             IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, sm_ud_make(SM_OP_NONE, 0, 0));
	} else {
		io_uring_prep_timeout(sqe, &r->tick_ts, 0, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, sm_ud_make(SM_OP_TICK, 0, 0));
	}
	r->tick_armed = true;
	r->tick_deadline_ns = want;
}

/* While draining, connections idle between requests are closed: nothing
 * is lost, and keep-alive clients would otherwise hold the drain open. */
static void close_idle_requests(struct sm_reactor *r)
{
	for (uint32_t k = 0; k < r->cap; k++) {
		struct sm_flow *f = &r->flows[k];
		if (f->state == SM_FLOW_OPEN && f->st && f->st->top.ops->idle &&
		    f->st->top.ops->idle(f))
			sm_flow_close(r, f, SM_CLOSE_SHUTDOWN);
	}
}

static void on_tick(struct sm_reactor *r)
{
	uint64_t now = sm_now_ns();
	sm_dns_tick(r->dns);
	sm_tw_advance(&r->tw, now, sm_flow_timer, r);
	if (!r->draining)
		return;
	if (now < r->drain_deadline_ns) {
		close_idle_requests(r);
		return;
	}
	for (uint32_t k = 0; k < r->cap; k++) {
		struct sm_flow *f = &r->flows[k];
		if (f->state != SM_FLOW_FREE && f->state != SM_FLOW_CLOSING)
			sm_flow_close(r, f, SM_CLOSE_SHUTDOWN);
	}
}

static void begin_drain(struct sm_reactor *r)
{
	r->draining = true;
	r->accepting = false;
	r->drain_deadline_ns =
	        sm_now_ns() + (uint64_t)r->cfg->timeouts.shutdown_grace_ms * 1000000ull;
	for (int k = 0; k < r->n_listen; k++) {
		struct io_uring_sqe *sqe = sm_sqe(r);
		io_uring_prep_cancel64(sqe, sm_ud_make(SM_OP_ACCEPT, 0, (uint32_t)k), 0);
		io_uring_sqe_set_data64(sqe, sm_ud_make(SM_OP_NONE, 0, 0));
		/* the pending accept holds its own reference until the cancel
		 * lands; after that new clients are refused by the kernel */
		close(r->listen_fds[k]);
		r->listen_fds[k] = -1;
	}
	close_idle_requests(r);
}

static void pin_to_cpu(int index)
{
	cpu_set_t online;
	if (sched_getaffinity(0, sizeof(online), &online) != 0)
		return;
	int n = CPU_COUNT(&online), seen = 0;
	for (int cpu = 0; cpu < CPU_SETSIZE && n > 0; cpu++) {
		if (!CPU_ISSET(cpu, &online))
			continue;
		if (seen++ == index % n) {
			cpu_set_t one;
			CPU_ZERO(&one);
			CPU_SET(cpu, &one);
			sched_setaffinity(0, sizeof(one), &one);
			return;
		}
	}
}

void *sm_reactor_main(void *arg)
{
	struct sm_reactor *r = arg;
	char err[256];
	pin_to_cpu(r->index);
	if (sm_reactor_open(r, err, sizeof(err)) != SM_OK) {
		fprintf(stderr, "soth-mitm: %s\n", err);
		sm_reactor_close(r);
		atomic_store(&r->failed, true);
		return (void *)1;
	}
	arm_wake(r);
	r->accepting = true;
	for (int k = 0; k < r->n_listen; k++)
		arm_accept(r, k);
	io_uring_submit(&r->ring);
	atomic_store(&r->ready, true);

	for (;;) {
		if (atomic_load_explicit(&r->stop_requested, memory_order_relaxed) && !r->draining)
			begin_drain(r);
		sm_reactor_settle(r);
		if (r->draining && r->n_open == 0)
			break;
		arm_tick(r);
		io_uring_submit_and_wait(&r->ring, 1);
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&r->ring, head, cqe)
		{
			seen++;
			uint64_t ud = cqe->user_data;
			switch (sm_ud_op(ud)) {
			case SM_OP_NONE: break;
			case SM_OP_ACCEPT:
				on_accept(r, (int)sm_ud_slot(ud), cqe->res, cqe->flags);
				break;
			case SM_OP_WAKE: arm_wake(r); break;
			case SM_OP_TICK:
				/* -ETIME: fired; a timeout update re-arms the same op */
				if (cqe->res != -ECANCELED) {
					r->tick_armed = false;
					on_tick(r);
				}
				break;
			case SM_OP_DNS_POLL:
				sm_dns_poll_cqe(r->dns, sm_ud_slot(ud), sm_ud_gen(ud), cqe->res);
				break;
			default: sm_reactor_cqe(r, ud, cqe->res, cqe->flags); break;
			}
		}
		io_uring_cq_advance(&r->ring, seen);
		sm_reactor_settle(r);
		if (r->events_pushed) {
			r->events_pushed = false;
			uint64_t one = 1;
			ssize_t n = write(r->collector_wake_fd, &one, sizeof(one));
			(void)n; /* a full eventfd already means "wake up" */
		}
	}
	sm_reactor_close(r);
	return NULL;
}
