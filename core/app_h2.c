/* The HTTP/2 layer of an intercepted connection: proto/h2 between the two
 * sides' plaintext queues, as a relay of two h2 sessions (streams mapped
 * 1:1) or as one of its translators (h2 client to HTTP/1.1 upstream, or
 * the reverse): the three install different proto/h2 ops and share
 * everything here. Flow control is end to end: proto/h2 opens windows only
 * as bytes are handed to the other side. Observers follow the streams
 * through observe/observe.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/h2xlate.h"
#include "core/reactor.h"
#include "core/stack.h"
#include "observe/observe.h"
#include "observe/pipeline.h"
#include "proto/h2.h"
#include "telemetry/event.h"

/* A request waiting for its final response: what http_response names. */
#define H2_APP_PENDING 256 /* > proto/h2's stream table (2 x max_streams) */
struct h2_pending {
	int32_t sid; /* client stream id; 0: free */
	uint32_t index;
	uint8_t method_len;
	char method[23];
};

struct h2_app {
	struct sm_h2 *h2;
	struct sm_flow_ref ref;
	struct sm_observe_h2 *obs; /* NULL when out of memory: relayed unobserved */
	bool eof_given[2];         /* [side] was told about the EOF of its transport */
	bool client_h1;            /* translated for an HTTP/1.1 client (proto/h1h2) */
	uint32_t requests;         /* requests seen on this connection */
	uint32_t open_counted;     /* open streams last added to the gauge */
	uint64_t total_counted;    /* streams last added to the total */
	struct h2_pending pending[H2_APP_PENDING]; /* requests not answered yet */
};

static struct h2_pending *pending_find(struct h2_app *a, int32_t sid)
{
	for (unsigned k = 0; k < H2_APP_PENDING; k++)
		if (a->pending[k].sid == sid)
			return &a->pending[k];
	return NULL;
}

/* A request: its number on the connection and method, until answered (a
 * full table only loses those two fields in the events). */
static void pending_add(struct h2_app *a, const struct sm_h2_event *ev)
{
	struct h2_pending *p = pending_find(a, 0);
	if (!p)
		return;
	p->sid = ev->stream_id;
	p->index = a->requests;
	size_t n = ev->method_len < sizeof(p->method) ? ev->method_len : sizeof(p->method);
	memcpy(p->method, ev->method, n);
	p->method_len = (uint8_t)n;
}

static void pending_drop(struct h2_app *a, int32_t sid)
{
	struct h2_pending *p = sid ? pending_find(a, sid) : NULL;
	if (p)
		p->sid = 0;
}

static struct h2_app *A(const struct sm_flow *f)
{
	return f->st->top.ctx;
}

static bool mine(const struct sm_flow *f, const struct h2_app *a)
{
	return !sm_flow_closing(f) && f->st->top.ctx == a;
}

/* The gauges follow proto/h2's own stream table, so a stream counts until
 * it has ended or been reset on both sides, whichever way it went. */
static void count(struct sm_reactor *r, struct h2_app *a)
{
	unsigned open = sm_h2_open_streams(a->h2);
	uint64_t total = sm_h2_stats(a->h2)->streams;
	if (open != a->open_counted) {
		sm_metrics_add(&r->m->h2_streams_open, (uint64_t)open - a->open_counted);
		a->open_counted = open;
	}
	if (total != a->total_counted) {
		sm_metrics_add(&r->m->h2_streams, total - a->total_counted);
		a->total_counted = total;
	}
}

/* How the flow ends once both sessions are done: as proto/h2 ended the
 * client's connection, if it did. */
static int end_reason(const struct h2_app *a, int otherwise)
{
	switch (sm_h2_client_ended(a->h2, NULL)) {
	case SM_H2_R_RAPID_RESET: return SM_CLOSE_H2_RAPID_RESET;
	case SM_H2_R_STREAM_FLOOD: return SM_CLOSE_H2_STREAM_FLOOD;
	case SM_H2_R_NGHTTP2: return SM_CLOSE_H2_CLIENT_ERROR;
	default: return otherwise;
	}
}

/* proto/h2 ended the client's connection with an error (our GOAWAY): a
 * fatal parse_error names why, counted by stage h2_client. */
static void client_goaway(struct sm_reactor *r, struct sm_flow *f, const struct sm_h2_event *ev)
{
	SM_CTR_INC(r, parse_errors[SM_PARSE_H2_CLIENT]);
	struct sm_event *e = sm_flow_event(r, f, SM_EV_PARSE_ERROR);
	if (!e)
		return;
	char why[64];
	if (ev->reason == SM_H2_R_NGHTTP2)
		snprintf(why, sizeof(why), "goaway_%s", sm_h2_code_str(ev->code));
	else
		snprintf(why, sizeof(why), "%s", sm_h2_reason_str((enum sm_h2_reason)ev->reason));
	for (char *p = why; *p; p++)
		*p = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
	e->i[0] = SM_H2_CLIENT;
	e->i[1] = SM_PIPE_FRAMING;
	e->i[2] = 1;
	e->i[3] = 0;
	sm_event_set_str(e, 0, "h2", 2);
	sm_event_set_str(e, 1, why, strlen(why));
	sm_flow_event_commit(r);
}

static void events(struct sm_reactor *r, struct sm_flow *f, struct h2_app *a, bool *progress)
{
	struct sm_h2_event ev;
	while (sm_h2_next_event(a->h2, &ev)) {
		*progress = true;
		sm_observe_h2_event(a->obs, a->h2, &ev);
		struct sm_event *e;
		switch (ev.type) {
		case SM_H2_EV_REQUEST:
			a->requests++;
			if (r->events_on)
				pending_add(a, &ev);
			e = sm_flow_event(r, f, SM_EV_PROXY_REQUEST);
			if (!e)
				break;
			e->i[0] = a->client_h1; /* http_minor: 0 for HTTP/2 */
			e->i[1] = ev.stream_id;
			sm_event_set_str(e, 0, (const char *)ev.method, ev.method_len);
			sm_event_set_str(e, 1, (const char *)ev.path, ev.path_len);
			sm_flow_event_commit(r);
			break;
		case SM_H2_EV_RESPONSE: {
			if (ev.flags & SM_H2_F_INTERIM)
				break;
			struct h2_pending p = {0};
			struct h2_pending *q = pending_find(a, ev.stream_id);
			if (q) {
				p = *q;
				q->sid = 0;
			}
			e = sm_flow_event(r, f, SM_EV_HTTP_RESPONSE);
			if (!e)
				break;
			const char *host = f->st->fe.live_host;
			e->i[0] = ev.status;
			e->i[1] = p.index;
			e->i[2] = ev.stream_id;
			sm_event_set_str(e, 0, p.method, p.method_len);
			sm_event_set_str(e, 1, host, strlen(host));
			sm_flow_event_commit(r);
			break;
		}
		case SM_H2_EV_STREAM_RESET: /* never answered */
			pending_drop(a, ev.stream_id);
			break;
		case SM_H2_EV_GOAWAY:
			if (ev.who == SM_H2_PROXY && ev.dir == SM_H2_CLIENT && ev.code != 0)
				client_goaway(r, f, &ev);
			break;
		default: break;
		}
	}
	count(r, a);
}

/* Frames for side into its output queue, then sent. true when some were. */
static bool out(struct sm_reactor *r, struct sm_flow *f, struct h2_app *a, int side)
{
	struct sm_conn *c = &f->st->conn[side];
	if (c->out.inflight || !sm_h2_want_out(a->h2, (enum sm_h2_side)side))
		return false;
	if (!sm_conn_out_ready(r, c)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return false;
	}
	long n = side == SM_SIDE_CLIENT ? sm_h2_out_client(a->h2, c->out.out.buf, c->out.out.cap)
	                                : sm_h2_out_upstream(a->h2, c->out.out.buf, c->out.out.cap);
	if (n <= 0)
		return false;
	c->out.out.len = (size_t)n;
	sm_conn_flush(r, f, c);
	return true;
}

static long feed(struct h2_app *a, struct sm_conn *c)
{
	if (!c->in.len)
		return 0;
	long n = c->side == SM_SIDE_CLIENT
	                 ? sm_h2_feed_client(a->h2, c->in.buf + c->in.off, c->in.len)
	                 : sm_h2_feed_upstream(a->h2, c->in.buf + c->in.off, c->in.len);
	if (n > 0)
		sm_inq_consume(&c->in, (uint32_t)n);
	return n;
}

static void pump(struct sm_reactor *r, struct sm_flow *f, int side, int why)
{
	struct h2_app *a = A(f);
	struct sm_conn *c = f->st->conn;
	(void)side, (void)why;
	for (int iter = 0; iter < 256 && mine(f, a); iter++) {
		bool progress = false;
		if (!c[SM_SIDE_CLIENT].xprt->pull(r, f, &c[SM_SIDE_CLIENT]) ||
		    !c[SM_SIDE_UPSTREAM].xprt->pull(r, f, &c[SM_SIDE_UPSTREAM]))
			return;
		long na = feed(a, &c[SM_SIDE_CLIENT]), nb = feed(a, &c[SM_SIDE_UPSTREAM]);
		if (na < 0 || nb < 0) {
			events(r, f, a, &progress);
			sm_flow_close(r, f,
			              na < 0 ? end_reason(a, SM_CLOSE_BAD_REQUEST)
			                     : SM_CLOSE_UPSTREAM_PROTOCOL);
			return;
		}
		progress = na > 0 || nb > 0;
		events(r, f, a, &progress);
		progress |= out(r, f, a, SM_SIDE_UPSTREAM);
		if (!mine(f, a))
			return;
		progress |= out(r, f, a, SM_SIDE_CLIENT);
		if (!progress)
			break;
	}
	if (!mine(f, a))
		return;
	for (int s = 0; s < 2; s++) {
		if (c[s].eof && !c[s].in.len && !a->eof_given[s]) {
			a->eof_given[s] = true;
			sm_h2_eof(a->h2, (enum sm_h2_side)s);
		}
	}
	if (a->eof_given[0] || a->eof_given[1]) {
		bool oc = out(r, f, a, SM_SIDE_CLIENT);
		bool ou = mine(f, a) && out(r, f, a, SM_SIDE_UPSTREAM);
		if (oc || ou || !mine(f, a))
			return; /* GOAWAY / final frames first */
	}
	bool quiet = !c[SM_SIDE_CLIENT].out.inflight && !c[SM_SIDE_UPSTREAM].out.inflight;
	if (quiet && sm_h2_done(a->h2, SM_H2_CLIENT) && sm_h2_done(a->h2, SM_H2_UPSTREAM)) {
		sm_flow_close(r, f, end_reason(a, SM_CLOSE_DONE));
		return;
	}
	if (quiet && a->eof_given[SM_SIDE_CLIENT] && sm_h2_open_streams(a->h2) == 0) {
		sm_flow_close(r, f, end_reason(a, SM_CLOSE_DONE));
		return;
	}
	for (int s = 0; s < 2; s++)
		if (!c[s].in.len && sm_h2_wait(a->h2, (enum sm_h2_side)s) == SM_H2_WAIT_NONE)
			c[s].xprt->arm(r, f, &c[s]);
}

/* No stream open and nothing in flight: a drain may close it. */
static bool idle(const struct sm_flow *f)
{
	const struct h2_app *a = A(f);
	const struct sm_conn *c = f->st->conn;
	return sm_h2_open_streams(a->h2) == 0 && !c[0].in.len && !c[0].out.inflight &&
	       !c[1].out.inflight;
}

static void start_with(struct sm_reactor *r, struct sm_flow *f, struct sm_h2 *h2, bool client_h1)
{
	struct h2_app *a = h2 ? calloc(1, sizeof(*a)) : NULL;
	if (!a) {
		sm_h2_free(h2);
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	a->h2 = h2;
	a->client_h1 = client_h1;
	a->ref = (struct sm_flow_ref){r, f};
	struct sm_observe_sink sink;
	sm_flow_sink(&a->ref, &sink);
	a->obs = sm_observe_h2_new(&sm_flow_cfg(f)->observe, &sink);
	f->st->top.ctx = a;
	sm_metrics_add(&r->m->h2_conns, 1);
	sm_metrics_add(&r->m->h2_conns_open, 1);
	pump(r, f, SM_SIDE_CLIENT, SM_PUMP_IN);
}

static void start_h2(struct sm_reactor *r, struct sm_flow *f, void *arg)
{
	(void)arg;
	start_with(r, f, sm_h2_new(NULL), false);
}

static void start_h2h1(struct sm_reactor *r, struct sm_flow *f, void *arg)
{
	(void)arg;
	start_with(r, f, sm_h2xlate_new(), false);
}

/* arg: the origin's authority (for the requests' :authority). */
static void start_h1h2(struct sm_reactor *r, struct sm_flow *f, void *arg)
{
	start_with(r, f, sm_h2xlate_new_h1h2(arg), true);
}

/* Observers report what they hold; the gauges give back what this
 * connection added. */
static void free_(struct sm_reactor *r, struct sm_flow *f, void *ctx)
{
	struct h2_app *a = ctx;
	(void)f;
	if (!a)
		return;
	sm_observe_h2_free(a->obs);
	count(r, a);
	sm_metrics_add(&r->m->h2_streams_open, (uint64_t)0 - a->open_counted);
	sm_metrics_add(&r->m->h2_conns_open, (uint64_t)0 - 1);
	sm_h2_free(a->h2);
	free(a);
}

const struct sm_app_ops sm_app_h2 = {
        .name = "h2",
        .start = start_h2,
        .pump = pump,
        .idle = idle,
        .free = free_,
};

const struct sm_app_ops sm_app_h2h1 = {
        .name = "h2h1",
        .start = start_h2h1,
        .pump = pump,
        .idle = idle,
        .free = free_,
};

const struct sm_app_ops sm_app_h1h2 = {
        .name = "h1h2",
        .start = start_h1h2,
        .pump = pump,
        .idle = idle,
        .free = free_,
};
