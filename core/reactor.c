/* The reactor loop: ring set-up, accept, completion dispatch, flow table. */
#include "core/reactor.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/dns.h"
#include "core/front.h"
#include "core/mitm.h"
#include "core/observe.h"
#include "core/policy.h"
#include "base/result.h"
#include "proto/http1.h"
#include "base/rng.h"
#include "telemetry/event.h"

#define BR_ENTRIES  512
#define SLAB_CHUNKS 2048
#define TICK_MS     50

uint64_t sm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t sm_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct io_uring_sqe *sm_sqe(struct sm_reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	while (!sqe) {
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

void sm_flow_prep(struct sm_reactor *r, struct sm_flow *f, struct io_uring_sqe *sqe, enum sm_op op)
{
	io_uring_sqe_set_data64(sqe, sm_ud_make(op, f->gen, sm_flow_slot(r, f)));
	f->inflight++;
}

struct sm_event *sm_flow_event(struct sm_reactor *r, struct sm_flow *f, int type)
{
	if (!r->events_on) { /* nobody reads events: build none */
		f->seq++;
		return NULL;
	}
	struct sm_event *ev = sm_event_ring_reserve(&r->events);
	uint32_t seq = f->seq++; /* a dropped event still uses its seq: gaps show drops */
	if (!ev)
		return NULL;
	memset(ev, 0, offsetof(struct sm_event, s));
	ev->ts_ns = sm_wall_ns();
	ev->flow = f->id;
	ev->seq = seq;
	ev->core = (uint16_t)r->index;
	ev->type = (uint16_t)type;
	return ev;
}

void sm_flow_event_commit(struct sm_reactor *r)
{
	sm_event_ring_commit(&r->events);
	r->events_pushed = true;
}

/* Activity only moves t_last: the idle timer re-arms itself lazily when it
 * fires early, so the hot path never touches the wheel. */
void sm_flow_touch(struct sm_reactor *r, struct sm_flow *f)
{
	(void)r;
	f->t_last_ns = sm_now_ns();
}

void sm_flow_deadline(struct sm_reactor *r, struct sm_flow *f, uint64_t ns)
{
	if (!sm_tw_pending(&f->timer) || f->timer.deadline_ns > ns)
		sm_tw_add(&r->tw, &f->timer, ns);
}

static uint64_t idle_ns(const struct sm_reactor *r)
{
	return (uint64_t)r->cfg->timeouts.idle_timeout_ms * 1000000ull;
}

/* The flow's timer fired: idle timeout, end of a lingering reply, or just
 * a stale deadline to push forward. */
static void on_flow_timer(void *ctx, struct sm_timer *t)
{
	struct sm_reactor *r = ctx;
	struct sm_flow *f = (struct sm_flow *)((char *)t - offsetof(struct sm_flow, timer));
	uint64_t now = sm_now_ns();
	if (f->state == SM_FLOW_FREE || f->state == SM_FLOW_CLOSING)
		return;
	if (f->front && f->state == SM_FLOW_REPLYING && f->front->lingering) {
		if (now >= f->front->linger_until_ns) {
			sm_flow_close(r, f, f->front->pending_reason);
			return;
		}
		sm_tw_add(&r->tw, t, f->front->linger_until_ns);
		return;
	}
	if (f->front && f->front->fault) {
		sm_front_fault_check(r, f);
		if (f->state != SM_FLOW_CLOSING && f->front && f->front->fault)
			sm_tw_add(&r->tw, t, f->front->fault_due_ns);
		return;
	}
	if (f->front && f->front->mitm && f->state == SM_FLOW_MITM) {
		const struct sm_mitm *m = f->front->mitm;
		if (now >= m->hs_deadline_ns) {
			sm_mitm_timeout(r, f);
			return;
		}
		sm_tw_add(&r->tw, t, m->hs_deadline_ns);
		return;
	}
	uint64_t due = f->t_last_ns + idle_ns(r);
	bool waits_on_own_deadline =
	        f->state == SM_FLOW_RESOLVING || f->state == SM_FLOW_CONNECTING;
	if (now >= due && !waits_on_own_deadline) {
		sm_flow_close(r, f, SM_CLOSE_IDLE_TIMEOUT);
		return;
	}
	sm_tw_add(&r->tw, t, now >= due ? now + idle_ns(r) : due);
}

/* ---- ring resources -------------------------------------------------- */

static int setup_buf_ring(struct sm_reactor *r, char *err, size_t errcap)
{
	r->br_entries = BR_ENTRIES;
	r->br_size = SM_BR_SIZE;
	size_t ring_bytes = r->br_entries * sizeof(struct io_uring_buf);
	r->br_mem_len = ring_bytes + (size_t)r->br_entries * r->br_size;
	r->br_mem = mmap(NULL, r->br_mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	                 -1, 0);
	if (r->br_mem == MAP_FAILED) {
		r->br_mem = NULL;
		snprintf(err, errcap, "reactor %d: buffer ring mmap: %s", r->index,
		         strerror(errno));
		return SM_ERR_NOMEM;
	}
	r->br = (struct io_uring_buf_ring *)r->br_mem;
	struct io_uring_buf_reg reg = {
	        .ring_addr = (uint64_t)(uintptr_t)r->br,
	        .ring_entries = r->br_entries,
	        .bgid = SM_BR_BGID,
	};
	int rc = io_uring_register_buf_ring(&r->ring, &reg, 0);
	if (rc) {
		snprintf(err, errcap, "reactor %d: register buffer ring: %s", r->index,
		         strerror(-rc));
		return SM_ERR_IO;
	}
	io_uring_buf_ring_init(r->br);
	uint8_t *bufs = r->br_mem + ring_bytes;
	int mask = io_uring_buf_ring_mask(r->br_entries);
	for (uint32_t k = 0; k < r->br_entries; k++)
		io_uring_buf_ring_add(r->br, bufs + (size_t)k * r->br_size, r->br_size,
		                      (unsigned short)k, mask, (int)k);
	io_uring_buf_ring_advance(r->br, (int)r->br_entries);
	return SM_OK;
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

static int setup_slab(struct sm_reactor *r, char *err, size_t errcap)
{
	r->n_chunks = SLAB_CHUNKS;
	r->slab_len = (size_t)r->n_chunks * SM_CHUNK_SIZE;
	r->slab =
	        mmap(NULL, r->slab_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->slab == MAP_FAILED) {
		r->slab = NULL;
		snprintf(err, errcap, "reactor %d: send slab mmap: %s", r->index, strerror(errno));
		return SM_ERR_NOMEM;
	}
	struct iovec iov = {.iov_base = r->slab, .iov_len = r->slab_len};
	int rc = io_uring_register_buffers(&r->ring, &iov, 1);
	if (rc) {
		snprintf(err, errcap, "reactor %d: register buffers: %s", r->index, strerror(-rc));
		return SM_ERR_IO;
	}
	r->free_chunks = malloc(r->n_chunks * sizeof(*r->free_chunks));
	if (!r->free_chunks)
		return SM_ERR_NOMEM;
	/* the last chunk holds the constant answers and is never handed out */
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

int sm_reactor_init(struct sm_reactor *r, struct sm_proxy *p, const struct sm_config *cfg,
                    int index, int collector_wake_fd, char *err, size_t errcap)
{
	r->proxy = p;
	r->cfg = cfg;
	r->index = index;
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
	r->fronts_cap = 4096;
	r->fronts = malloc(r->fronts_cap * sizeof(*r->fronts));
	if (!r->flows || !r->free_slots || !r->pipes || !r->fronts) {
		snprintf(err, errcap, "reactor %d: flow table of %u: out of memory", index, r->cap);
		return SM_ERR_NOMEM;
	}
	for (uint32_t k = 0; k < r->cap; k++) {
		r->free_slots[k] = r->cap - 1 - k;
		r->flows[k].cfd = r->flows[k].ufd = -1;
	}
	r->n_free_slots = r->cap;
	return SM_OK;
}

/* Ring set-up happens on the reactor thread: SINGLE_ISSUER binds the ring to
 * the thread that creates it. */
static int ring_setup(struct sm_reactor *r, char *err, size_t errcap)
{
	struct io_uring_params params = {0};
	params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
	               IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE;
	params.cq_entries = 8192;
	int rc = io_uring_queue_init_params(2048, &r->ring, &params);
	if (rc) {
		snprintf(err, errcap, "reactor %d: io_uring_queue_init: %s", r->index,
		         strerror(-rc));
		return SM_ERR_IO;
	}
	rc = setup_buf_ring(r, err, errcap);
	if (rc == SM_OK)
		rc = setup_slab(r, err, errcap);
	if (rc == SM_OK) {
		r->dns = sm_dns_create(r, r->cfg->dns_servers, r->cfg->timeouts.dns_timeout_ms, err,
		                       errcap);
		if (!r->dns)
			rc = SM_ERR_IO;
	}
	if (rc == SM_OK)
		rc = sm_mitm_rt_init(r, err, errcap);
	return rc;
}

void sm_reactor_free(struct sm_reactor *r)
{
	for (uint32_t k = 0; k < r->n_pipes; k++) {
		close(r->pipes[k][0]);
		close(r->pipes[k][1]);
	}
	for (uint32_t k = 0; k < r->n_fronts; k++)
		sm_front_free(r->fronts[k]);
	for (int k = 0; k < r->n_listen; k++)
		if (r->listen_fds[k] >= 0)
			close(r->listen_fds[k]);
	free(r->pipes);
	free(r->fronts);
	free(r->flows);
	free(r->free_slots);
	free(r->free_chunks);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	sm_event_ring_free(&r->events);
}

static void ring_teardown(struct sm_reactor *r)
{
	sm_dns_destroy(r->dns);
	r->dns = NULL;
	sm_mitm_rt_free(r);
	io_uring_queue_exit(&r->ring);
	if (r->br_mem)
		munmap(r->br_mem, r->br_mem_len);
	if (r->slab)
		munmap(r->slab, r->slab_len);
	r->br_mem = NULL;
	r->slab = NULL;
}

/* ---- send chunks ------------------------------------------------------ */

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

/* ---- flows ------------------------------------------------------------ */

static struct sm_flow *flow_alloc(struct sm_reactor *r, int cfd)
{
	if (r->n_free_slots == 0)
		return NULL;
	uint32_t slot = r->free_slots[--r->n_free_slots];
	struct sm_flow *f = &r->flows[slot];
	uint32_t gen = f->gen;
	memset(f, 0, sizeof(*f));
	f->gen = gen;
	f->cfd = cfd;
	f->ufd = -1;
	f->dir[0].pipe_r = f->dir[0].pipe_w = f->dir[1].pipe_r = f->dir[1].pipe_w = -1;
	f->id = r->next_flow_id++ * (uint64_t)sm_proxy_n_reactors(r->proxy) + (uint64_t)r->index +
	        1;
	f->t_open_ns = f->t_last_ns = sm_now_ns();
	sm_tw_timer_init(&f->timer);
	sm_tw_add(&r->tw, &f->timer, f->t_open_ns + idle_ns(r));
	r->n_open++;
	SM_CTR_INC(r, open_flows);
	return f;
}

static void set_linger0(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static void flow_free(struct sm_reactor *r, struct sm_flow *f)
{
	if (f->reset) {
		if (f->cfd >= 0)
			set_linger0(f->cfd);
		if (f->ufd >= 0)
			set_linger0(f->ufd);
	}
	if (f->cfd >= 0)
		close(f->cfd);
	if (f->ufd >= 0)
		close(f->ufd);
	sm_tunnel_release(r, f);
	sm_tw_cancel(&r->tw, &f->timer);
	if (f->front)
		sm_front_put(r, f->front);
	f->front = NULL;
	f->cfd = f->ufd = -1;
	f->state = SM_FLOW_FREE;
	f->gen = (f->gen + 1) & 0xffffffu;
	r->free_slots[r->n_free_slots++] = sm_flow_slot(r, f);
	r->n_open--;
	SM_CTR_ADD(r, open_flows, (uint64_t)-1);
	SM_CTR_INC(r, flows_closed);
}

void sm_flow_close(struct sm_reactor *r, struct sm_flow *f, int reason)
{
	if (f->state == SM_FLOW_CLOSING || f->state == SM_FLOW_FREE)
		return;
	if (f->front) /* what observers still hold is reported before flow_closed */
		sm_observe_detach(f);
	f->state = SM_FLOW_CLOSING;
	f->close_reason = (uint8_t)reason;
	sm_metrics_flow_closed(r->m, reason, sm_now_ns() - f->t_open_ns);
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_FLOW_CLOSED);
	if (ev) {
		ev->i[0] = reason;
		ev->i[1] = (int64_t)f->bytes_up;
		ev->i[2] = (int64_t)f->bytes_down;
		ev->i[3] = (int64_t)((sm_now_ns() - f->t_open_ns) / 1000);
		sm_flow_event_commit(r);
	}
	int fds[2] = {f->cfd, f->ufd};
	for (int k = 0; k < 2; k++) {
		if (fds[k] < 0)
			continue;
		struct io_uring_sqe *sqe = sm_sqe(r);
		io_uring_prep_cancel_fd(sqe, fds[k], IORING_ASYNC_CANCEL_ALL);
		sm_flow_prep(r, f, sqe, SM_OP_CANCEL);
	}
	if (f->inflight == 0)
		flow_free(r, f);
}

/* ---- accept ------------------------------------------------------------ */

static void arm_accept(struct sm_reactor *r, int k)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_multishot_accept(sqe, r->listen_fds[k], NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, sm_ud_make(SM_OP_ACCEPT, 0, (uint32_t)k));
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
	struct sm_flow *f = flow_alloc(r, fd);
	if (!f) {
		/* flow table full: refuse with a reset rather than hold the socket */
		SM_CTR_INC(r, refused_full);
		set_linger0(fd);
		close(fd);
		return;
	}
	sm_front_start(r, f);
}

/* ---- receives (front phase and HTTP relay) -------------------------------- */

static void on_recv(struct sm_reactor *r, struct sm_flow *f, bool client, int res, unsigned flags)
{
	const uint8_t *data = NULL;
	unsigned bid = 0;
	if (flags & IORING_CQE_F_BUFFER) {
		bid = flags >> IORING_CQE_BUFFER_SHIFT;
		data = sm_br_buf(r, bid);
	}
	if (f->front && f->state != SM_FLOW_CLOSING) {
		if (client)
			sm_front_client_recv(r, f, data, res);
		else
			sm_front_upstream_recv(r, f, data, res);
	}
	if (flags & IORING_CQE_F_BUFFER)
		sm_br_recycle(r, bid);
}

/* ---- dispatch ----------------------------------------------------------- */

static void on_flow_cqe(struct sm_reactor *r, struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	uint32_t slot = sm_ud_slot(ud);
	enum sm_op op = sm_ud_op(ud);
	if (slot >= r->cap) {
		SM_CTR_INC(r, stale_cqes);
		return;
	}
	struct sm_flow *f = &r->flows[slot];
	if (f->state == SM_FLOW_FREE || f->gen != sm_ud_gen(ud)) {
		SM_CTR_INC(r, stale_cqes);
		if ((cqe->flags & IORING_CQE_F_BUFFER))
			sm_br_recycle(r, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		f->inflight--;
	switch (op) {
	case SM_OP_CLIENT_RECV:
	case SM_OP_UP_RECV: on_recv(r, f, op == SM_OP_CLIENT_RECV, cqe->res, cqe->flags); break;
	case SM_OP_CONNECT:
		if (f->state == SM_FLOW_CONNECTING)
			sm_front_connect_cqe(r, f, cqe->res);
		break;
	case SM_OP_CLIENT_SEND:
	case SM_OP_UP_SEND:
		if (f->state != SM_FLOW_CLOSING && f->front)
			sm_front_send_cqe(r, f, op == SM_OP_CLIENT_SEND, cqe->res);
		break;
	case SM_OP_CONNECT_TIMEOUT:
	case SM_OP_CANCEL: break;
	default:
		if (op >= SM_OP_POLL_IN0 && op <= SM_OP_TSEND1)
			sm_tunnel_cqe(r, f, op, cqe->res, cqe->flags);
		break;
	}
	if (f->state == SM_FLOW_CLOSING && f->inflight == 0)
		flow_free(r, f);
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

static void close_idle_requests(struct sm_reactor *r);

static void on_tick(struct sm_reactor *r)
{
	uint64_t now = sm_now_ns();
	sm_dns_tick(r->dns);
	sm_tw_advance(&r->tw, now, on_flow_timer, r);
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

/* While draining, connections idle between requests are closed: nothing
 * is lost, and keep-alive clients would otherwise hold the drain open. */
static void close_idle_requests(struct sm_reactor *r)
{
	for (uint32_t k = 0; k < r->cap; k++) {
		struct sm_flow *f = &r->flows[k];
		if (f->front && sm_front_idle(f))
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
	if (ring_setup(r, err, sizeof(err)) != SM_OK) {
		fprintf(stderr, "soth-mitm: %s\n", err);
		ring_teardown(r);
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
			default: on_flow_cqe(r, cqe); break;
			}
		}
		io_uring_cq_advance(&r->ring, seen);
		if (r->events_pushed) {
			r->events_pushed = false;
			uint64_t one = 1;
			ssize_t n = write(r->collector_wake_fd, &one, sizeof(one));
			(void)n; /* a full eventfd already means "wake up" */
		}
	}
	ring_teardown(r);
	return NULL;
}
