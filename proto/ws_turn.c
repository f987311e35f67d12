/* WebSocket turn aggregator (see ws_turn.h). */
#include "proto/ws_turn.h"

#include <string.h>

void sm_ws_turn_init(struct sm_ws_turn *t, uint64_t idle_ns, sm_ws_turn_cb cb, void *ctx)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->ctx = ctx;
	t->idle_ns = idle_ns;
}

static void flush(struct sm_ws_turn *t, enum sm_ws_turn_why why)
{
	if (!t->open)
		return;
	t->cur.why = why;
	t->cur.index = t->turns++;
	t->open = false;
	if (t->cb)
		t->cb(t->ctx, &t->cur);
}

/* Time can only be compared forward; a clock going back counts as no time. */
static bool idle_exceeded(const struct sm_ws_turn *t, uint64_t now_ns)
{
	return t->idle_ns && now_ns > t->cur.last_ns && now_ns - t->cur.last_ns > t->idle_ns;
}

void sm_ws_turn_message(struct sm_ws_turn *t, enum sm_ws_dir dir, uint64_t bytes, uint64_t now_ns)
{
	if (t->open && t->cur.dir != dir)
		flush(t, SM_WS_TURN_DIRECTION);
	else if (t->open && idle_exceeded(t, now_ns))
		flush(t, SM_WS_TURN_IDLE);
	if (!t->open) {
		t->open = true;
		t->cur = (struct sm_ws_turn_event){.dir = dir, .first_ns = now_ns};
	}
	t->cur.messages++;
	t->cur.bytes += bytes;
	if (now_ns > t->cur.last_ns)
		t->cur.last_ns = now_ns;
}

void sm_ws_turn_tick(struct sm_ws_turn *t, uint64_t now_ns)
{
	if (t->open && idle_exceeded(t, now_ns))
		flush(t, SM_WS_TURN_IDLE);
}

void sm_ws_turn_close(struct sm_ws_turn *t)
{
	flush(t, SM_WS_TURN_CLOSE);
}

void sm_ws_turn_error(struct sm_ws_turn *t)
{
	flush(t, SM_WS_TURN_ERROR);
}

void sm_ws_turn_on_event(struct sm_ws_turn *t, const struct sm_ws_event *ev, uint64_t now_ns)
{
	switch (ev->type) {
	case SM_WS_EV_MESSAGE: sm_ws_turn_message(t, ev->dir, ev->length, now_ns); break;
	case SM_WS_EV_CLOSE: sm_ws_turn_close(t); break;
	case SM_WS_EV_ERROR:
		if (ev->fatal)
			sm_ws_turn_error(t);
		break;
	default: break;
	}
}

const char *sm_ws_turn_why_str(enum sm_ws_turn_why w)
{
	switch (w) {
	case SM_WS_TURN_DIRECTION: return "direction";
	case SM_WS_TURN_IDLE: return "idle";
	case SM_WS_TURN_CLOSE: return "close";
	case SM_WS_TURN_ERROR: return "error";
	}
	return "unknown";
}
