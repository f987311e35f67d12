/* The HTTP/1.1 layer: client bytes through proto/http1 toward the upstream,
 * responses back, with keep-alive, pipelining and bodies passed through.
 *
 *   proxy mode   the explicit proxy's requests: absolute-form http://
 *                relayed to the upstream each request names (a request for
 *                another one starts a switch, core/front.c), a CONNECT
 *                handed to the front end;
 *   origin mode  HTTP/1.1 inside intercepted TLS, every request to the
 *                origin of the CONNECT.
 *
 * The layer reads and writes its sides' plaintext queues only: whether a
 * side is TLS is its transport's business. After a 101 the bytes go to the
 * raw relay (core/app_raw.c), or to the splice tunnel when both sides are
 * plain and nothing observes them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "base/result.h"
#include "core/h2xlate.h"
#include "core/reactor.h"
#include "core/reply.h"
#include "core/stack.h"
#include "observe/observe.h"
#include "proto/authority.h"
#include "proto/h1frame.h"
#include "proto/http1.h"
#include "telemetry/event.h"

/* The layer's context; its memory stays with the pooled stack
 * (st->cache) so a keep-alive flow does not allocate per connection. */
struct h1_app {
	struct sm_h1 *h1;
	void *h1mem; /* sm_h1_footprint() of the reactor's limits, 64-byte aligned */
	struct sm_flow_ref ref;
	struct sm_observe_h1 *obs; /* bodies observed; NULL when no observer is on */
	bool client_eof_done;      /* the HTTP layer was told about the client's EOF */
	bool up_eof_done;          /* ... about the upstream's */
	bool close_after_flush;    /* last response: close once the client's output drained */
	bool upgrade;              /* 101 forwarded: raw or tunnel once both outputs drained */
	uint32_t requests;         /* requests seen on this connection */
	uint32_t answered;         /* final responses (101 included) relayed: HTTP/1.1
	                              answers in order, so the next one answers
	                              request number answered + 1 */
	uint64_t head_since_ns;    /* a request head is awaited (the first) or being read since;
	                              0: none (between requests the idle timeout rules) */
	uint64_t resp_since_ns;    /* a response head is awaited since (0: none) */
	struct sm_metrics_reqclock rclock; /* request start times for latency metrics */
};

static struct sm_h1_limits h1_limits(const struct sm_flow *f)
{
	/* with request-level rules every request waits for its decision */
	return (struct sm_h1_limits){.max_head = sm_flow_cfg(f)->limits.max_header_bytes,
	                             .hold_every_request = f->snap->req_rules,
	                             .keep_websocket = 1,
	                             .strip_alt_svc_h3 = sm_flow_cfg(f)->strip_alt_svc_h3};
}

static void app_free(void *cache)
{
	struct h1_app *a = cache;
	if (!a)
		return;
	free(a->h1mem);
	free(a);
}

static struct h1_app *A(const struct sm_flow *f)
{
	return f->st->top.ctx;
}

/* The layer is still on top and the flow open: after a call that can
 * close or replace the layer, the caller checks this. */
static bool mine(const struct sm_flow *f, const struct h1_app *a)
{
	return !sm_flow_closing(f) && f->st->top.ctx == a;
}

static bool connected(const struct sm_flow *f)
{
	return f->st->fe.phase == SM_FE_CONNECTED;
}

/* ---- events and metrics --------------------------------------------------- */

static void metrics(struct sm_reactor *r, struct h1_app *a, const struct sm_h1_event *ev)
{
	switch (ev->type) {
	case SM_H1_EV_REQUEST:
		if (ev->flags & SM_H1_F_CONNECT) {
			SM_CTR_INC(r, connect_requests);
		} else {
			SM_CTR_INC(r, http_requests);
			sm_metrics_req_start(&a->rclock, sm_now_ns());
		}
		break;
	case SM_H1_EV_RESPONSE:
		if (ev->flags & SM_H1_F_INTERIM)
			break; /* 1xx: the final response follows */
		sm_metrics_response(r->m, ev->status);
		sm_metrics_req_head(r->m, &a->rclock, sm_now_ns());
		break;
	case SM_H1_EV_RESPONSE_END: sm_metrics_req_end(r->m, &a->rclock, sm_now_ns()); break;
	case SM_H1_EV_ERROR:
		SM_CTR_INC(
		        r,
		        parse_errors[(ev->flags & SM_H1_F_UPSTREAM_SIDE) ? SM_PARSE_HTTP1_RESPONSE
		                                                         : SM_PARSE_HTTP1_REQUEST]);
		break;
	default: break;
	}
}

static void request_event(struct sm_reactor *r, struct sm_flow *f, const struct sm_h1_event *ev)
{
	struct sm_event *e = sm_flow_event(r, f, SM_EV_PROXY_REQUEST);
	if (!e)
		return;
	const char *m = sm_h1_method_name(ev->method);
	e->i[0] = ev->version % 10;
	sm_event_set_str(e, 0, m, strlen(m));
	sm_event_set_str(e, 1, (const char *)ev->target, ev->target_len);
	sm_flow_event_commit(r);
}

static void response_event(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a,
                           const struct sm_h1_event *ev)
{
	struct sm_event *e = sm_flow_event(r, f, SM_EV_HTTP_RESPONSE);
	if (!e)
		return;
	const char *m = sm_h1_method_name(ev->method);
	const char *host = f->st->fe.live_host;
	e->i[0] = ev->status;
	e->i[1] = a->answered;
	sm_event_set_str(e, 0, m, strlen(m));
	sm_event_set_str(e, 1, host, strlen(host));
	sm_flow_event_commit(r);
}

static const char *client_error_text(int status)
{
	switch (status) {
	case 414: return "request target too long";
	case 431: return "request head too large";
	case 501: return "not implemented";
	case 505: return "HTTP version not supported";
	default: return "bad request";
	}
}

/* A pending fault fires once due and no earlier response is outstanding. */
static void fault_check(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a, uint64_t now)
{
	bool earlier = sm_h1_outstanding(a->h1) > 0 || f->st->conn[SM_SIDE_CLIENT].out.inflight;
	sm_front_fault_check(r, f, earlier, now);
}

static uint64_t ms_ns(uint32_t ms)
{
	return (uint64_t)ms * 1000000ull;
}

/* The heads in progress start their clocks (timeouts.request_head_ms from
 * a request head's first byte, timeouts.upstream_response_ms from a
 * request sent until its response head): a head that arrives byte by byte
 * is still bounded by when it began. */
static void head_clocks(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a)
{
	uint64_t now = 0;
	if (!a->head_since_ns && sm_h1_request_started(a->h1)) {
		a->head_since_ns = now = sm_now_ns();
		sm_flow_deadline(r, f, now + ms_ns(sm_flow_cfg(f)->timeouts.request_head_ms));
	}
	bool awaited = sm_h1_response_awaited(a->h1);
	if (!awaited) {
		a->resp_since_ns = 0;
	} else if (!a->resp_since_ns) {
		a->resp_since_ns = now ? now : sm_now_ns();
		sm_flow_deadline(r, f,
		                 a->resp_since_ns +
		                         ms_ns(sm_flow_cfg(f)->timeouts.upstream_response_ms));
	}
}

/* A switch goes on once nothing is outstanding on the old upstream. */
static void switch_check(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a)
{
	const struct sm_conn *c = f->st->conn;
	if (!sm_front_switching(f) || sm_h1_outstanding(a->h1) > 0 ||
	    c[SM_SIDE_CLIENT].out.inflight || c[SM_SIDE_UPSTREAM].out.inflight)
		return;
	sm_front_switch(r, f);
}

/* ---- client side ----------------------------------------------------------- */

/* Returns false when the layer must stop (closed, replaced, switching). */
static bool client_events(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a, bool *popped)
{
	struct sm_h1_event ev;
	while (sm_h1_next_event(a->h1, &ev)) {
		*popped = true;
		metrics(r, a, &ev);
		switch (ev.type) {
		case SM_H1_EV_REQUEST:
			a->requests++;
			a->head_since_ns = 0; /* the head is complete */
			request_event(r, f, &ev);
			if (f->st->fe.denied) {
				sm_reply_error(r, f, 403, "client not allowed",
				               "this address is not in allow_clients",
				               SM_CLOSE_CLIENT_NOT_ALLOWED);
				return false;
			}
			if (!sm_front_request_policy(r, f, &ev)) {
				fault_check(r, f, a,
				            sm_now_ns()); /* answered by a fault or a block */
				return false;
			}
			if (!(ev.flags & (SM_H1_F_CONNECT | SM_H1_F_SWITCH))) {
				/* same upstream: held only for the decision, it goes on */
				if (ev.flags & SM_H1_F_HELD)
					sm_h1_release(a->h1);
				break;
			}
			sm_front_target(r, f, ev.authority->host, ev.authority->port,
			                (ev.flags & SM_H1_F_CONNECT) != 0);
			switch_check(r, f, a);
			if (!mine(f, a))
				return false;
			break; /* what the layer wrote for earlier requests still goes out */
		case SM_H1_EV_ERROR: {
			char detail[160];
			if (ev.reason == SM_H1_R_BODY)
				snprintf(detail, sizeof(detail), "body: %s",
				         sm_h1frame_reason_str((enum sm_h1frame_reason)ev.detail));
			else
				snprintf(detail, sizeof(detail), "%s (%u)",
				         sm_h1_reason_str((enum sm_h1_reason)ev.reason), ev.detail);
			/* a request refused in its body (its head went out) is still
			 * answered when it is the only one and nothing of its
			 * response reached the client */
			bool sole = (ev.flags & SM_H1_F_FORWARDED) &&
			            sm_h1_outstanding(a->h1) == 1 &&
			            sm_h1_response_awaited(a->h1) &&
			            !f->st->conn[SM_SIDE_CLIENT].out.inflight;
			if (!sole &&
			    ((ev.flags & SM_H1_F_FORWARDED) || sm_h1_outstanding(a->h1) > 0))
				sm_flow_close(r, f, SM_CLOSE_BAD_REQUEST);
			else
				sm_reply_error(r, f, ev.status, client_error_text(ev.status),
				               detail, SM_CLOSE_BAD_REQUEST);
			return false;
		}
		default: break;
		}
	}
	return true;
}

static void maybe_arm_client(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a)
{
	struct sm_conn *c = &f->st->conn[SM_SIDE_CLIENT];
	if (!mine(f, a) || sm_front_switching(f) || c->recv_armed || c->in.len || c->fin || c->eof)
		return;
	enum sm_h1_wait w = sm_h1_client_wait(a->h1);
	if (w != SM_H1_WAIT_NONE && w != SM_H1_WAIT_OUT_FULL && w != SM_H1_WAIT_EVENTS)
		return;
	c->xprt->arm(r, f, c);
}

/* Ends the flow once its last response went out, or when the client ended
 * with nothing outstanding. */
static void maybe_finish(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a)
{
	const struct sm_conn *cc = &f->st->conn[SM_SIDE_CLIENT];
	const struct sm_conn *uc = &f->st->conn[SM_SIDE_UPSTREAM];
	if (!mine(f, a) || sm_front_switching(f) || cc->out.inflight || uc->out.inflight ||
	    f->st->fe.fault.fault)
		return; /* a request waits for its upstream, or a fault answer is to come */
	bool idle = sm_h1_outstanding(a->h1) == 0;
	if (a->close_after_flush) { /* the end delimits the last response: said cleanly */
		sm_reply_close(r, f,
		               uc->eof_unclean ? SM_CLOSE_UPSTREAM_NO_CLOSE_NOTIFY : SM_CLOSE_DONE);
		return;
	}
	if (cc->eof && !cc->in.len && idle)
		sm_flow_close(r, f, SM_CLOSE_DONE);
}

/* The client's stream ended (its EOF, or close_notify under TLS). */
static void client_eof(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a)
{
	if (a->client_eof_done)
		return;
	a->client_eof_done = true;
	if (sm_h1_client_eof(a->h1) != SM_OK) {
		sm_flow_close(r, f, SM_CLOSE_CLIENT_EOF_EARLY);
		return;
	}
	if (a->requests == 0) {
		sm_flow_close(r, f, SM_CLOSE_DONE);
		return;
	}
	maybe_finish(r, f, a);
}

static void pump_client(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a)
{
	struct sm_conn *cc = &f->st->conn[SM_SIDE_CLIENT];
	struct sm_conn *uc = &f->st->conn[SM_SIDE_UPSTREAM];
	for (;;) {
		if (!mine(f, a) || sm_front_switching(f) || uc->out.inflight)
			break;
		if (!cc->xprt->pull(r, f, cc))
			return;
		if (!sm_conn_out_ready(r, uc)) {
			sm_reply_error(r, f, 503, "proxy out of send buffers", NULL,
			               SM_CLOSE_RESOURCE_LIMIT);
			return;
		}
		long n =
		        sm_h1_client_feed(a->h1, cc->in.buf + cc->in.off, cc->in.len, &uc->out.out);
		if (n > 0)
			sm_inq_consume(&cc->in, (uint32_t)n);
		bool popped = false;
		if (!client_events(r, f, a, &popped) || n < 0)
			return;
		if (uc->out.out.len > 0 && connected(f)) {
			sm_conn_flush(r, f, uc);
			if (sm_flow_closing(f))
				return;
			break;
		}
		if (n <= 0 && !popped)
			break;
	}
	if (!mine(f, a))
		return;
	if (cc->eof && !cc->in.len && !sm_front_switching(f)) {
		client_eof(r, f, a);
		return;
	}
	head_clocks(r, f, a);
	sm_conn_out_trim(r, uc);
	maybe_arm_client(r, f, a);
	maybe_finish(r, f, a);
}

/* ---- upstream side ------------------------------------------------------------ */

/* The upstream ended (closed, or reset) with a response still due: the
 * client gets a 502 naming it when nothing of that response reached it yet
 * (owed: its head was still awaited), else the connection ends (a reset
 * passed on). */
static void upstream_gone(struct sm_reactor *r, struct sm_flow *f, bool owed, bool reset)
{
	int reason = reset ? SM_CLOSE_UPSTREAM_RESET : SM_CLOSE_UPSTREAM_CLOSED;
	if (!owed || f->st->conn[SM_SIDE_CLIENT].out.inflight) {
		sm_flow_close(r, f, reason);
		return;
	}
	f->reset = false; /* the client is answered */
	char hp[SM_ADDR_MAX], detail[400];
	sm_addr_format_host(f->st->fe.live_host, f->st->fe.live_port, hp, sizeof(hp));
	snprintf(detail, sizeof(detail), "%s %s the connection before its response", hp,
	         reset ? "reset" : "closed");
	sm_reply_error(r, f, 502, "upstream failed", detail, reason);
}

/* A 101 went out and both outputs drained: the bytes are relayed raw from
 * now on, observed when the WebSocket observer is on, by the splice tunnel
 * when both transports let it and nothing observes them. */
static void upgraded(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a)
{
	struct sm_raw_start rs = {0};
	sm_h1_header_find(a->h1, 1, "sec-websocket-extensions", &rs.ext, &rs.ext_len);
	const struct sm_conn *c = f->st->conn;
	if (sm_flow_cfg(f)->observe.websocket || !c[SM_SIDE_CLIENT].xprt->spliceable ||
	    !c[SM_SIDE_UPSTREAM].xprt->spliceable)
		sm_stack_install(r, f, &sm_app_raw, &rs);
	else
		sm_stack_install(r, f, &sm_app_establish, NULL);
}

/* Returns false when the layer must stop. */
static bool upstream_events(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a, bool *popped)
{
	const struct sm_conn *uc = &f->st->conn[SM_SIDE_UPSTREAM];
	struct sm_h1_event ev;
	while (sm_h1_next_event(a->h1, &ev)) {
		*popped = true;
		metrics(r, a, &ev);
		if (ev.type == SM_H1_EV_RESPONSE && !(ev.flags & SM_H1_F_INTERIM)) {
			a->answered++; /* interim 1xx answer nothing yet */
			response_event(r, f, a, &ev);
		} else if (ev.type == SM_H1_EV_RESPONSE_END) {
			if (ev.flags & SM_H1_F_CLOSE_CLIENT)
				a->close_after_flush = true;
		} else if (ev.type == SM_H1_EV_UPGRADE) {
			a->upgrade = true;
			a->answered++;
			response_event(r, f, a, &ev); /* the 101 answers its request too */
		} else if (ev.type == SM_H1_EV_ERROR) {
			if (ev.flags & SM_H1_F_FORWARDED)
				sm_flow_close(r, f, SM_CLOSE_UPSTREAM_PROTOCOL);
			else if (sm_h2xlate_looks_h2(uc->in.buf + uc->in.off, uc->in.len))
				sm_reply_error(r, f, 502, "bad upstream response",
				               "the upstream speaks HTTP/2 only: no ALPN agreed on "
				               "http/1.1 (see http2_upstream_for_h1_clients)",
				               SM_CLOSE_UPSTREAM_PROTOCOL);
			else
				sm_reply_error(r, f, 502, "bad upstream response",
				               sm_h1_reason_str((enum sm_h1_reason)ev.reason),
				               SM_CLOSE_UPSTREAM_PROTOCOL);
			return false;
		}
	}
	return true;
}

static void pump_upstream(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a)
{
	struct sm_conn *cc = &f->st->conn[SM_SIDE_CLIENT];
	struct sm_conn *uc = &f->st->conn[SM_SIDE_UPSTREAM];
	for (;;) {
		if (!mine(f, a) || !connected(f) || cc->out.inflight || a->upgrade)
			break;
		if (!uc->xprt->pull(r, f, uc))
			return;
		if (!sm_conn_out_ready(r, cc)) {
			sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
			return;
		}
		long n = 0;
		if (uc->in.len || !uc->eof) {
			n = sm_h1_server_feed(a->h1, uc->in.buf + uc->in.off, uc->in.len,
			                      &cc->out.out);
		} else if (!a->up_eof_done) {
			/* SM_AGAIN: output or events full; drained below, retried */
			bool owed = sm_h1_response_awaited(a->h1);
			int rc = sm_h1_server_eof(a->h1, &cc->out.out);
			if (rc == SM_OK) {
				a->up_eof_done = true;
				n = 1; /* progress: look at the events it produced */
			} else if (rc != SM_AGAIN) {
				upstream_gone(r, f, owed, false);
				return;
			}
		}
		if (n > 0 && uc->in.len)
			sm_inq_consume(&uc->in, (uint32_t)n);
		bool popped = false;
		if (!upstream_events(r, f, a, &popped))
			return;
		if (cc->out.out.len > 0) {
			sm_conn_flush(r, f, cc);
			if (sm_flow_closing(f))
				return;
			break;
		}
		if (n <= 0 && !popped)
			break;
	}
	if (!mine(f, a) || !connected(f))
		return;
	if (a->upgrade) {
		if (!cc->out.inflight && !uc->out.inflight)
			upgraded(r, f, a);
		return;
	}
	head_clocks(r, f, a);
	sm_conn_out_trim(r, cc);
	/* responses still to come are read, even while a switch waits for them */
	if (!uc->in.len && (!sm_front_switching(f) || sm_h1_outstanding(a->h1) > 0))
		uc->xprt->arm(r, f, uc);
	switch_check(r, f, a);
	if (mine(f, a))
		maybe_finish(r, f, a);
}

/* ---- the layer ------------------------------------------------------------------ */

static struct h1_app *app_new(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_h1_limits lim = h1_limits(f);
	size_t len = sm_h1_footprint(&lim);
	struct h1_app *a = f->st->cache.free == app_free ? f->st->cache.p : NULL;
	if (a)
		f->st->cache = (struct sm_stack_cache){0};
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (a)
			a->h1mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
		if (a && !a->h1mem) {
			free(a);
			a = NULL;
		}
		if (!a)
			return NULL;
	}
	void *mem = a->h1mem;
	memset(a, 0, sizeof(*a));
	a->h1mem = mem;
	a->h1 = sm_h1_init(mem, len, &lim);
	a->ref = (struct sm_flow_ref){r, f};
	/* the first request's head is due from now (the connection, or the
	 * end of the TLS handshakes) */
	a->head_since_ns = sm_now_ns();
	sm_flow_deadline(r, f, a->head_since_ns + ms_ns(sm_flow_cfg(f)->timeouts.request_head_ms));
	if (!a->h1) {
		app_free(a);
		return NULL;
	}
	struct sm_observe_sink sink;
	sm_flow_sink(&a->ref, &sink);
	a->obs = sm_observe_h1_new(&sm_flow_cfg(f)->observe, &sink, a->h1);
	return a;
}

static void start_proxy(struct sm_reactor *r, struct sm_flow *f, void *arg)
{
	(void)arg;
	struct h1_app *a = app_new(r, f);
	if (!a) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	f->st->top.ctx = a;
	pump_client(r, f, a);
}

static void start_origin(struct sm_reactor *r, struct sm_flow *f, void *arg)
{
	struct h1_app *a = app_new(r, f);
	if (!a) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	f->st->top.ctx = a;
	sm_h1_set_origin(a->h1, arg);
	pump_client(r, f, a);
	if (mine(f, a))
		pump_upstream(r, f, a);
}

static void pump(struct sm_reactor *r, struct sm_flow *f, int side, int why)
{
	struct h1_app *a = A(f);
	struct sm_conn *uc = &f->st->conn[SM_SIDE_UPSTREAM];
	if (side == SM_SIDE_UPSTREAM && why == SM_PUMP_OPEN) {
		/* the upstream the held request waited for is connected */
		a->up_eof_done = false;
		sm_h1_release(a->h1);
		pump_client(r, f, a);
		if (mine(f, a))
			pump_upstream(r, f, a);
		return;
	}
	if (side == SM_SIDE_UPSTREAM && why == SM_PUMP_IN) {
		if (sm_front_switching(f) && sm_h1_outstanding(a->h1) == 0) {
			/* late bytes of an upstream being left: nobody asked for them */
			uc->in.len = uc->in.off = 0;
			switch_check(r, f, a);
			return;
		}
		pump_upstream(r, f, a);
		if (uc->eof && mine(f, a))
			pump_client(r, f, a);
		return;
	}
	if (side == SM_SIDE_CLIENT && why == SM_PUMP_OUT) {
		pump_upstream(r, f, a);
		if (!mine(f, a))
			return;
	}
	pump_client(r, f, a);
	if (why == SM_PUMP_OUT && mine(f, a)) {
		fault_check(r, f, a, sm_now_ns());
		if (mine(f, a))
			switch_check(r, f, a);
	}
}

/* A head that did not arrive in time: the client's request (408), or the
 * upstream's response (504), answered when nothing of a response is on its
 * way to the client, else the connection closes. */
static void head_late(struct sm_reactor *r, struct sm_flow *f, struct h1_app *a, bool request)
{
	const struct sm_conn *cc = &f->st->conn[SM_SIDE_CLIENT];
	int reason = request ? SM_CLOSE_REQUEST_TIMEOUT : SM_CLOSE_UPSTREAM_TIMEOUT;
	uint32_t ms = request ? sm_flow_cfg(f)->timeouts.request_head_ms
	                      : sm_flow_cfg(f)->timeouts.upstream_response_ms;
	bool answerable = request ? sm_h1_outstanding(a->h1) == 0 : !sm_h1_request_started(a->h1);
	if (!answerable || cc->out.inflight || sm_front_switching(f)) {
		sm_flow_close(r, f, reason);
		return;
	}
	char detail[400];
	if (request) {
		snprintf(detail, sizeof(detail), "the request head was not complete within %u ms",
		         ms);
		sm_reply_error(r, f, 408, "request timeout", detail, reason);
		return;
	}
	char hp[SM_ADDR_MAX];
	sm_addr_format_host(f->st->fe.live_host, f->st->fe.live_port, hp, sizeof(hp));
	snprintf(detail, sizeof(detail), "%s sent no response head within %u ms", hp, ms);
	sm_reply_error(r, f, 504, "upstream timed out", detail, reason);
}

/* Its own deadlines: a fault's delay, a head that is late; while an
 * upstream is resolved or connected, theirs (DNS, connect) rather than the
 * idle timeout. Deadlines not yet due re-arm the timer. */
static bool deadline(struct sm_reactor *r, struct sm_flow *f, uint64_t now)
{
	struct h1_app *a = A(f);
	const struct sm_front *fe = &f->st->fe;
	if (fe->fault.fault) {
		fault_check(r, f, a, now);
		if (!sm_flow_closing(f) && fe->fault.fault)
			sm_flow_deadline(r, f, fe->fault.due_ns);
		return true;
	}
	if (a->head_since_ns) {
		uint64_t due = a->head_since_ns + ms_ns(sm_flow_cfg(f)->timeouts.request_head_ms);
		if (now >= due) {
			head_late(r, f, a, true);
			return true;
		}
		sm_flow_deadline(r, f, due);
	}
	if (a->resp_since_ns) {
		uint64_t due =
		        a->resp_since_ns + ms_ns(sm_flow_cfg(f)->timeouts.upstream_response_ms);
		if (now >= due) {
			head_late(r, f, a, false);
			return true;
		}
		sm_flow_deadline(r, f, due);
	}
	if (fe->phase == SM_FE_RESOLVING || fe->phase == SM_FE_CONNECTING) {
		uint64_t idle = ms_ns(sm_flow_cfg(f)->timeouts.idle_timeout_ms);
		uint64_t due = f->t_last_ns + idle;
		sm_flow_deadline(r, f, now >= due ? now + idle : due);
		return true;
	}
	return false;
}

/* Waiting for a request: no request yet, or every response went out. */
static bool idle(const struct sm_flow *f)
{
	const struct h1_app *a = A(f);
	const struct sm_conn *c = f->st->conn;
	if (c[SM_SIDE_CLIENT].in.len || f->st->fe.fault.fault || sm_front_switching(f))
		return false; /* a request is being read, answered or waits for its upstream */
	if (!connected(f))
		return a->requests == 0;
	return sm_h1_outstanding(a->h1) == 0 && !c[SM_SIDE_CLIENT].out.inflight &&
	       !c[SM_SIDE_UPSTREAM].out.inflight;
}

/* An upstream that errs with no response outstanding lost nothing: it is
 * an end like any other (the next request may need a new one). */
static void failed(struct sm_reactor *r, struct sm_flow *f, int side, int err)
{
	struct h1_app *a = A(f);
	struct sm_conn *uc = &f->st->conn[SM_SIDE_UPSTREAM];
	(void)err;
	if (side == SM_SIDE_UPSTREAM && !uc->out.inflight && sm_h1_outstanding(a->h1) == 0) {
		f->reset = false;
		uc->fin = uc->eof = true;
		pump(r, f, SM_SIDE_UPSTREAM, SM_PUMP_IN);
		return;
	}
	if (side == SM_SIDE_UPSTREAM) {
		upstream_gone(r, f, sm_h1_response_awaited(a->h1), true);
		return;
	}
	sm_flow_close(r, f, SM_CLOSE_CLIENT_RESET);
}

/* Observers report what they hold; the memory goes back to the stack. */
static void free_(struct sm_reactor *r, struct sm_flow *f, void *ctx)
{
	struct h1_app *a = ctx;
	(void)r;
	if (!a)
		return;
	sm_observe_h1_free(a->obs);
	a->obs = NULL;
	if (!f->st->cache.p)
		f->st->cache = (struct sm_stack_cache){.p = a, .free = app_free};
	else
		app_free(a);
}

const struct sm_app_ops sm_app_http1_proxy = {
        .name = "http1",
        .start = start_proxy,
        .pump = pump,
        .deadline = deadline,
        .idle = idle,
        .failed = failed,
        .free = free_,
};

const struct sm_app_ops sm_app_http1_origin = {
        .name = "http1",
        .start = start_origin,
        .pump = pump,
        .deadline = deadline,
        .idle = idle,
        .failed = failed,
        .free = free_,
};
