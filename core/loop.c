/* The loop that runs a reactor: accept, completion dispatch, the settle
 * queue (THE CLOSE RULE, core/flow.h), ticks and the drain. It is the top
 * of the engine: it routes a side's completions to its transport and then
 * to the layer on top, a tunnel's to the tunnel, a connect's to the front
 * end (core/reactor.h has the resources it runs on). */
#include "core/loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/result.h"
#include "core/conn.h"
#include "core/dns.h"
#include "core/front.h"
#include "core/reactor.h"
#include "core/stack.h"
#include "core/tls_rt.h"
#include "telemetry/event.h"

#define TICK_MS 50

static void resume_accept(struct sm_reactor *r);

/* ---- configuration snapshots (core/snap.h) ----------------------------------- */

/* A flow of held[k] was freed: a snapshot no longer current and without
 * flows is let go. */
static void unsnap(struct sm_reactor *r, uint8_t k)
{
	if (--r->held[k].flows || k == r->snap_cur)
		return;
	sm_snap_put(r->held[k].s);
	r->held[k].s = NULL;
}

void sm_loop_adopt(struct sm_reactor *r)
{
	if (!r->snap_src)
		return;
	struct sm_snap *s = atomic_load_explicit(r->snap_src, memory_order_acquire);
	uint8_t old = r->snap_cur;
	if (s && s != r->held[old].s) {
		int k = -1;
		for (int i = 0; i < SM_SNAP_HELD && k < 0; i++)
			if (!r->held[i].s)
				k = i;
		if (k < 0) { /* every slot has flows: new flows keep the old one a while */
			SM_CTR_INC(r, config_adopt_deferred);
			return; /* not acknowledged: the instance keeps what we may still load */
		}
		sm_snap_get(s);
		r->held[k].s = s;
		r->held[k].flows = 0;
		r->snap_cur = (uint8_t)k;
		r->cfg = s->cfg;
		r->connect_ts.tv_sec = s->cfg->timeouts.connect_timeout_ms / 1000;
		r->connect_ts.tv_nsec =
		        (long long)(s->cfg->timeouts.connect_timeout_ms % 1000) * 1000000;
		if (!r->held[old].flows) {
			sm_snap_put(r->held[old].s);
			r->held[old].s = NULL;
		}
	}
	if (s)
		atomic_store_explicit(&r->snap_epoch, s->epoch, memory_order_release);
}

/* ---- flows: deadlines, teardown, release --------------------------------------- */

static uint64_t idle_ns(const struct sm_flow *f)
{
	return (uint64_t)sm_flow_cfg(f)->timeouts.idle_timeout_ms * 1000000ull;
}

/* The flow's timer fired: the layer on top's own deadline (a handshake, a
 * fault delay, a linger), else the idle timeout, else a stale deadline to
 * push forward. */
static void on_timer(void *reactor, struct sm_timer *t)
{
	struct sm_reactor *r = reactor;
	struct sm_flow *f = (struct sm_flow *)((char *)t - offsetof(struct sm_flow, timer));
	uint64_t now = r->tick_ns;
	if (f->state == SM_FLOW_FREE || f->state == SM_FLOW_CLOSING)
		return;
	/* the layer's own deadlines first; one it keeps for later re-arms the
	 * timer earlier than the idle deadline below, which never moves it later */
	if (f->st && f->st->top.ops->deadline && f->st->top.ops->deadline(r, f, now))
		return;
	if (sm_flow_closing(f))
		return;
	uint64_t due = f->t_last_ns + idle_ns(f);
	if (now >= due) {
		sm_flow_close(r, f, SM_CLOSE_IDLE_TIMEOUT);
		return;
	}
	sm_flow_deadline(r, f, due);
}

/* Once: the layers report and leave, flow_closed, every operation still on
 * the sockets cancelled. */
static void teardown(struct sm_reactor *r, struct sm_flow *f)
{
	f->torn_down = true;
	if (f->st) /* what observers still hold is reported before flow_closed */
		sm_stack_teardown(r, f);
	sm_metrics_flow_closed(r->m, f->close_reason, sm_now_ns() - f->t_open_ns);
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_FLOW_CLOSED);
	if (ev) {
		ev->i[0] = f->close_reason;
		ev->i[1] = (int64_t)f->bytes_up;
		ev->i[2] = (int64_t)f->bytes_down;
		ev->i[3] = (int64_t)((sm_now_ns() - f->t_open_ns) / 1000);
		sm_flow_event_commit(r);
	}
	for (int k = 0; k < 2; k++)
		if (f->fd[k] >= 0)
			r->io->cancel_fd(r, f->fd[k], sm_flow_op(r, f, SM_OP_CANCEL));
}

static void set_linger0(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static void release(struct sm_reactor *r, struct sm_flow *f)
{
	for (int k = 0; k < 2; k++) {
		if (f->fd[k] < 0)
			continue;
		if (f->reset)
			set_linger0(f->fd[k]);
		close(f->fd[k]);
		f->fd[k] = -1;
	}
	sm_tunnel_release(r, f);
	sm_tw_cancel(&r->tw, &f->timer);
	if (f->st)
		sm_stack_put(r, f->st);
	f->st = NULL;
	f->state = SM_FLOW_FREE;
	f->gen = (f->gen + 1) & 0xffffffu;
	r->free_slots[r->n_free_slots++] = sm_flow_slot(r, f);
	r->n_open--;
	unsnap(r, f->snap_slot);
	f->snap = NULL;
	SM_CTR_ADD(r, open_flows, (uint64_t)-1);
	SM_CTR_INC(r, flows_closed);
	if (r->accept_paused) /* descriptors were freed: try again now */
		resume_accept(r);
}

void sm_loop_settle(struct sm_reactor *r)
{
	while (r->settle_head) {
		struct sm_flow *f = &r->flows[r->settle_head - 1];
		r->settle_head = f->next;
		if (!r->settle_head)
			r->settle_tail = 0;
		f->queued = false;
		if (f->state == SM_FLOW_FREE)
			continue;
		if (f->st)
			sm_stack_settle(r, f);
		if (f->state == SM_FLOW_TUNNEL && f->st) { /* the tunnel needs no layers */
			sm_stack_teardown(r, f);
			sm_stack_put(r, f->st);
			f->st = NULL;
		}
		if (f->state != SM_FLOW_CLOSING)
			continue;
		if (!f->torn_down)
			teardown(r, f);
		if (f->inflight == 0)
			release(r, f);
	}
}

/* ---- completions ------------------------------------------------------------ */

/* A recv completed on side (data: the bytes received, or NULL): the side's
 * transport takes them, then the layer on top. */
static void recv_done(struct sm_reactor *r, struct sm_flow *f, int side, const uint8_t *data,
                      int res)
{
	struct sm_conn *c = &f->st->conn[side];
	bool cancelled = c->recv_cancelled;
	c->recv_armed = c->recv_cancelled = false;
	if (res == -ENOBUFS || (res == -ECANCELED && cancelled)) {
		/* no receive buffer free (the layer re-arms), or a recv the layer
		 * asked to cancel */
		if (res == -ENOBUFS)
			SM_CTR_INC(r, enobufs);
		sm_stack_pump(r, f, side, SM_PUMP_IN);
		return;
	}
	if (res < 0) {
		sm_stack_failed(r, f, side, -res);
		return;
	}
	if (!c->lingering)
		sm_flow_touch(r, f);
	if (!c->xprt->recv(r, f, c, data, res))
		return;
	sm_stack_pump(r, f, side, SM_PUMP_IN);
}

/* A write completed on side: the transport accounts for it; once the
 * output went out whole the layer on top goes on; an error is its to
 * judge. */
static void write_done(struct sm_reactor *r, struct sm_flow *f, int side, int res)
{
	struct sm_conn *c = &f->st->conn[side];
	if (c->xprt->sent(r, f, c, res))
		sm_stack_pump(r, f, side, SM_PUMP_OUT);
	else if (res < 0)
		sm_stack_failed(r, f, side, -res);
}

/* ---- accept ------------------------------------------------------------------- */

#define ACCEPT_BACKOFF_MIN_MS 10
#define ACCEPT_BACKOFF_MAX_MS 1000

static void arm_accept(struct sm_reactor *r, int k)
{
	r->io->accept(r, r->listen_fds[k], sm_ud_make(SM_OP_ACCEPT, 0, (uint32_t)k));
}

void sm_loop_listen(struct sm_reactor *r)
{
	r->accepting = true;
	r->accept_backoff_ms = ACCEPT_BACKOFF_MIN_MS;
	for (int k = 0; k < r->n_listen; k++)
		arm_accept(r, k);
}

/* The paused listeners get their accept back (a descriptor was freed, or
 * the backoff is over). */
static void resume_accept(struct sm_reactor *r)
{
	uint64_t paused = r->accept_paused;
	r->accept_paused = 0;
	r->accept_resume_ns = 0;
	if (!r->accepting || r->draining)
		return;
	for (int k = 0; k < r->n_listen; k++)
		if (paused & (1ull << k))
			arm_accept(r, k);
}

static int accept_error_index(int err)
{
	switch (err) {
	case EMFILE: return SM_ACCEPT_EMFILE;
	case ENFILE: return SM_ACCEPT_ENFILE;
	case ENOBUFS: return SM_ACCEPT_ENOBUFS;
	case ENOMEM: return SM_ACCEPT_ENOMEM;
	default: return SM_ACCEPT_OTHER;
	}
}

/* A failed accept. Out of descriptors or memory, re-arming at once would
 * fail again at once (the connection stays in the backlog) and spin the
 * core: that listener pauses until a flow frees its descriptors or the
 * backoff ends, whichever comes first. Other errors concern one
 * connection (ECONNABORTED...): the accept goes on. */
static void accept_failed(struct sm_reactor *r, int k, int err, bool more)
{
	if (err == ECANCELED) /* a drain, or a pause below, cancelled it */
		return;
	int idx = accept_error_index(err);
	SM_CTR_INC(r, accept_errors[idx]);
	if (idx == SM_ACCEPT_OTHER) {
		if (!more && r->accepting && !r->draining)
			arm_accept(r, k);
		return;
	}
	if (more) /* still armed: stopped, its cancel lands as ECANCELED */
		r->io->cancel(r, sm_ud_make(SM_OP_ACCEPT, 0, (uint32_t)k),
		              sm_ud_make(SM_OP_NONE, 0, 0));
	if (!r->accept_paused) {
		SM_CTR_INC(r, accept_pauses);
		r->accept_resume_ns = sm_now_ns() + (uint64_t)r->accept_backoff_ms * 1000000ull;
		r->accept_backoff_ms = r->accept_backoff_ms * 2 > ACCEPT_BACKOFF_MAX_MS
		                               ? ACCEPT_BACKOFF_MAX_MS
		                               : r->accept_backoff_ms * 2;
	}
	r->accept_paused |= 1ull << k;
}

void sm_loop_accept_cqe(struct sm_reactor *r, int k, int res, unsigned flags)
{
	bool more = (flags & IORING_CQE_F_MORE) != 0;
	if (res < 0) {
		accept_failed(r, k, -res, more);
		return;
	}
	if (!more && r->accepting && !r->draining)
		arm_accept(r, k);
	r->accept_backoff_ms = ACCEPT_BACKOFF_MIN_MS;
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

void sm_loop_cqe(struct sm_reactor *r, uint64_t ud, int res, unsigned flags)
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
			recv_done(r, f, op == SM_OP_CLIENT_RECV ? SM_SIDE_CLIENT : SM_SIDE_UPSTREAM,
			          buffer ? sm_br_buf(r, bid) : NULL, res);
			break;
		case SM_OP_CLIENT_SEND:
		case SM_OP_UP_SEND:
			write_done(r, f,
			           op == SM_OP_CLIENT_SEND ? SM_SIDE_CLIENT : SM_SIDE_UPSTREAM,
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
		release(r, f);
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
	if (r->accept_paused && r->accept_resume_ns < want)
		want = r->accept_resume_ns;
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

void sm_loop_tick(struct sm_reactor *r, uint64_t now)
{
	r->tick_ns = now;
	if (r->accept_paused && now >= r->accept_resume_ns)
		resume_accept(r);
	if (r->dns)
		sm_dns_tick(r->dns);
	sm_tw_advance(&r->tw, now, on_timer, r);
}

static void on_tick(struct sm_reactor *r)
{
	uint64_t now = sm_now_ns();
	sm_loop_tick(r, now);
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
		r->io->cancel(r, sm_ud_make(SM_OP_ACCEPT, 0, (uint32_t)k),
		              sm_ud_make(SM_OP_NONE, 0, 0));
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

void *sm_loop_main(void *arg)
{
	struct sm_reactor *r = arg;
	char err[256];
	pin_to_cpu(r->index);
	if (sm_loop_open(r, err, sizeof(err)) != SM_OK) {
		fprintf(stderr, "soth-mitm: %s\n", err);
		sm_loop_close(r);
		atomic_store(&r->failed, true);
		atomic_store(&r->exited, true);
		return (void *)1;
	}
	sm_loop_adopt(r);
	arm_wake(r);
	sm_loop_listen(r);
	io_uring_submit(&r->ring);
	atomic_store(&r->ready, true);

	for (;;) {
		if (atomic_load_explicit(&r->stop_requested, memory_order_relaxed) && !r->draining)
			begin_drain(r);
		if (r->draining && r->drain_deadline_ns &&
		    atomic_load_explicit(&r->stop_now, memory_order_relaxed))
			r->drain_deadline_ns = 0; /* the next tick closes what is left */
		if (r->settle_head)               /* closes asked for by the drain */
			sm_loop_settle(r);
		if (r->draining && r->n_open == 0)
			break;
		sm_loop_adopt(r); /* a reload published a new configuration */
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
				sm_loop_accept_cqe(r, (int)sm_ud_slot(ud), cqe->res, cqe->flags);
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
			default: sm_loop_cqe(r, ud, cqe->res, cqe->flags); break;
			}
		}
		io_uring_cq_advance(&r->ring, seen);
		if (r->settle_head)
			sm_loop_settle(r);
		if (r->events_pushed) {
			r->events_pushed = false;
			uint64_t one = 1;
			ssize_t n = write(r->collector_wake_fd, &one, sizeof(one));
			(void)n; /* a full eventfd already means "wake up" */
		}
	}
	sm_loop_close(r);
	atomic_store(&r->exited, true);
	return NULL;
}

int sm_loop_open(struct sm_reactor *r, char *err, size_t errcap)
{
	int rc = sm_reactor_open(r, err, errcap);
	if (rc == SM_OK)
		rc = sm_tls_rt_init(r, err, errcap);
	return rc;
}

void sm_loop_close(struct sm_reactor *r)
{
	for (uint32_t k = 0; r->flows && k < r->cap; k++) { /* what a stop left open */
		struct sm_flow *f = &r->flows[k];
		if (f->state == SM_FLOW_FREE)
			continue;
		if (f->st && !f->torn_down)
			sm_stack_teardown(r, f);
		release(r, f);
	}
	for (uint32_t k = 0; k < r->n_stacks; k++)
		sm_stack_free(r->stacks[k]);
	r->n_stacks = 0;
	sm_tls_rt_free(r);
	sm_reactor_close(r);
	for (int k = 0; k < SM_SNAP_HELD; k++) /* the flows are gone: so are their snapshots */
		if (r->held[k].s && r->held[k].s != &r->boot) {
			sm_snap_put(r->held[k].s);
			r->held[k].s = NULL;
		}
	r->cfg = r->boot.cfg;
}
