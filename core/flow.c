/* The flow table and its services: events, deadlines, submissions through
 * the ring ops, and the deferred close (THE CLOSE RULE, core/flow.h). */
#include "core/flow.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/reactor.h"
#include "core/stack.h"
#include "observe/observe.h"
#include "telemetry/event.h"

static uint64_t idle_ns(const struct sm_reactor *r)
{
	return (uint64_t)r->cfg->timeouts.idle_timeout_ms * 1000000ull;
}

struct sm_flow *sm_flow_open(struct sm_reactor *r, int fd)
{
	if (r->n_free_slots == 0)
		return NULL;
	uint32_t slot = r->free_slots[--r->n_free_slots];
	struct sm_flow *f = &r->flows[slot];
	uint32_t gen = f->gen;
	memset(f, 0, sizeof(*f));
	f->gen = gen;
	f->state = SM_FLOW_OPEN;
	f->fd[SM_SIDE_CLIENT] = fd;
	f->fd[SM_SIDE_UPSTREAM] = -1;
	f->dir[0].pipe_r = f->dir[0].pipe_w = f->dir[1].pipe_r = f->dir[1].pipe_w = -1;
	f->id = r->next_flow_id++ * (uint64_t)r->n_reactors + (uint64_t)r->index + 1;
	f->t_open_ns = f->t_last_ns = sm_now_ns();
	sm_tw_timer_init(&f->timer);
	sm_tw_add(&r->tw, &f->timer, f->t_open_ns + idle_ns(r));
	r->n_open++;
	SM_CTR_INC(r, open_flows);
	return f;
}

uint64_t sm_flow_op(struct sm_reactor *r, struct sm_flow *f, enum sm_op op)
{
	f->inflight++;
	return sm_ud_make(op, f->gen, sm_flow_slot(r, f));
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

static struct sm_event *sink_event(void *ctx, int type)
{
	struct sm_flow_ref *ref = ctx;
	return sm_flow_event(ref->r, ref->f, type);
}

static void sink_commit(void *ctx)
{
	sm_flow_event_commit(((struct sm_flow_ref *)ctx)->r);
}

static void sink_count(void *ctx, int stage)
{
	struct sm_flow_ref *ref = ctx;
	if (stage >= 0 && stage < SM_PARSE_STAGE_COUNT)
		SM_CTR_INC(ref->r, parse_errors[stage]);
}

void sm_flow_sink(struct sm_flow_ref *ref, struct sm_observe_sink *out)
{
	*out = (struct sm_observe_sink){
	        .event = sink_event, .commit = sink_commit, .count = sink_count, .ctx = ref};
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

/* The flow's timer fired: the layer on top's own deadline (a handshake, a
 * fault delay, a linger), else the idle timeout, else a stale deadline to
 * push forward. */
void sm_flow_timer(void *reactor, struct sm_timer *t)
{
	struct sm_reactor *r = reactor;
	struct sm_flow *f = (struct sm_flow *)((char *)t - offsetof(struct sm_flow, timer));
	uint64_t now = sm_now_ns();
	if (f->state == SM_FLOW_FREE || f->state == SM_FLOW_CLOSING)
		return;
	if (f->st && f->st->top.ops->deadline && f->st->top.ops->deadline(r, f, now))
		return;
	uint64_t due = f->t_last_ns + idle_ns(r);
	if (now >= due) {
		sm_flow_close(r, f, SM_CLOSE_IDLE_TIMEOUT);
		return;
	}
	sm_tw_add(&r->tw, t, due);
}

void sm_flow_queue(struct sm_reactor *r, struct sm_flow *f)
{
	if (f->queued)
		return;
	f->queued = true;
	f->next = 0;
	uint32_t link = sm_flow_slot(r, f) + 1;
	if (r->settle_tail)
		r->flows[r->settle_tail - 1].next = link;
	else
		r->settle_head = link;
	r->settle_tail = link;
}

void sm_flow_close(struct sm_reactor *r, struct sm_flow *f, int reason)
{
	if (f->state == SM_FLOW_CLOSING || f->state == SM_FLOW_FREE)
		return;
	f->state = SM_FLOW_CLOSING;
	f->close_reason = (uint8_t)reason;
	sm_flow_queue(r, f);
}

static bool is_reset(int err)
{
	return err == ECONNRESET || err == EPIPE || err == ETIMEDOUT || err == EHOSTUNREACH ||
	       err == ENETUNREACH || err == ECONNABORTED;
}

void sm_flow_failed(struct sm_reactor *r, struct sm_flow *f, int side, int err)
{
	f->reset = is_reset(err);
	if (f->st && f->st->top.ops->failed) {
		f->st->top.ops->failed(r, f, side, err);
		return;
	}
	sm_flow_close(r, f,
	              side == SM_SIDE_CLIENT ? SM_CLOSE_CLIENT_RESET : SM_CLOSE_UPSTREAM_RESET);
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

void sm_flow_release(struct sm_reactor *r, struct sm_flow *f)
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
	SM_CTR_ADD(r, open_flows, (uint64_t)-1);
	SM_CTR_INC(r, flows_closed);
}

void sm_reactor_settle(struct sm_reactor *r)
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
			sm_flow_release(r, f);
	}
}
