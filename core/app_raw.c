/* The raw relay: after a 101, bytes go across as they are, through each
 * side's transport (decrypted and re-encrypted when intercepting), with the
 * WebSocket observer fed a copy when it is on. The splice tunnel takes
 * over instead when both sides are plain and nothing observes. Either
 * side's end ends the flow once what it sent went through. */
#include "core/reactor.h"
#include "core/stack.h"
#include "observe/observe.h"
#include "telemetry/event.h"

/* One direction: what `from` received goes to the other side. */
static void relay(struct sm_reactor *r, struct sm_flow *f, int from)
{
	struct sm_conn *in = &f->st->conn[from], *to = &f->st->conn[1 - from];
	if (to->out.inflight || sm_flow_closing(f))
		return;
	if (!in->xprt->pull(r, f, in))
		return;
	if (in->in.len) {
		sm_conn_forward(r, f, in, to, f->st->top.ctx);
		return;
	}
	if (in->eof) {
		sm_flow_close(r, f, SM_CLOSE_DONE);
		return;
	}
	in->xprt->arm(r, f, in);
}

/* arg: the WebSocket observer, or NULL. */
static void start(struct sm_reactor *r, struct sm_flow *f, void *arg)
{
	f->st->top.ctx = arg;
	relay(r, f, SM_SIDE_UPSTREAM);
	relay(r, f, SM_SIDE_CLIENT);
}

/* Bytes in on side: relay them; side's output drained: relay toward it. */
static void pump(struct sm_reactor *r, struct sm_flow *f, int side, int why)
{
	relay(r, f, why == SM_PUMP_IN ? side : 1 - side);
}

static void free_(struct sm_reactor *r, struct sm_flow *f, void *ctx)
{
	(void)r, (void)f;
	sm_observe_ws_free(ctx); /* flushes the open turn */
}

const struct sm_app_ops sm_app_raw = {
        .name = "raw",
        .start = start,
        .pump = pump,
        .free = free_,
};
