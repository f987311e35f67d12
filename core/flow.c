/* The flow table and its services: events, deadlines, submissions through
 * the ring ops, and the deferred close (THE CLOSE RULE, core/flow.h). */
#include "core/flow.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/reactor.h"
#include "observe/observe.h"
#include "telemetry/event.h"

static uint64_t idle_ns(const struct sm_flow *f)
{
	return (uint64_t)sm_flow_cfg(f)->timeouts.idle_timeout_ms * 1000000ull;
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
	f->snap = r->held[r->snap_cur].s;
	f->snap_slot = r->snap_cur;
	r->held[r->snap_cur].flows++;
	f->t_open_ns = f->t_last_ns = sm_now_ns();
	sm_tw_timer_init(&f->timer);
	sm_tw_add(&r->tw, &f->timer, f->t_open_ns + idle_ns(f));
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

bool sm_flow_is_reset(int err)
{
	return err == ECONNRESET || err == EPIPE || err == ETIMEDOUT || err == EHOSTUNREACH ||
	       err == ENETUNREACH || err == ECONNABORTED;
}
