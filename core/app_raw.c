/* The raw relay: after a 101, bytes go across as they are, through each
 * side's transport (decrypted and re-encrypted when intercepting), with the
 * WebSocket observer fed a copy when it is on. The splice tunnel takes
 * over instead when both sides are plain and nothing observes. Either
 * side's end ends the flow once what it sent went through. */
#include <stdlib.h>

#include "core/reactor.h"
#include "core/stack.h"
#include "observe/observe.h"
#include "telemetry/event.h"

struct raw_app {
	struct sm_flow_ref ref;   /* the observer's sink */
	struct sm_observe_ws *ws; /* NULL: relayed unobserved */
};

/* One direction: what `from` received goes to the other side. */
static void relay(struct sm_reactor *r, struct sm_flow *f, int from)
{
	struct raw_app *a = f->st->top.ctx;
	struct sm_conn *in = &f->st->conn[from], *to = &f->st->conn[1 - from];
	if (to->out.inflight || sm_flow_closing(f))
		return;
	if (!in->xprt->pull(r, f, in))
		return;
	if (in->in.len) {
		sm_conn_forward(r, f, in, to, a->ws);
		return;
	}
	if (in->eof) {
		sm_flow_close(r, f, SM_CLOSE_DONE);
		return;
	}
	in->xprt->arm(r, f, in);
}

/* arg: a struct sm_raw_start. */
static void start(struct sm_reactor *r, struct sm_flow *f, void *arg)
{
	const struct sm_raw_start *rs = arg;
	struct raw_app *a = calloc(1, sizeof(*a));
	if (!a) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	a->ref = (struct sm_flow_ref){r, f};
	struct sm_observe_sink sink;
	sm_flow_sink(&a->ref, &sink);
	a->ws = sm_observe_ws_new(&sm_flow_cfg(f)->observe, &sink, 0, rs->ext, rs->ext_len);
	f->st->top.ctx = a;
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
	struct raw_app *a = ctx;
	(void)r, (void)f;
	if (!a)
		return;
	sm_observe_ws_free(a->ws); /* flushes the open turn */
	free(a);
}

const struct sm_app_ops sm_app_raw = {
        .name = "raw",
        .start = start,
        .pump = pump,
        .free = free_,
};
