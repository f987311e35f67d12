/* HTTP/1.1 relay: client bytes through the HTTP/1.1 layer (proto/http1)
 * toward the upstream, responses back, for plain absolute-form requests and
 * for intercepted HTTP/1.1 (where core/mitm.c decrypts into the input queues
 * and encrypts what the output queues hold); after a 101 the bytes are
 * relayed raw. Requests that name another upstream start a switch
 * (core/front.c). */
#include "core/front.h"
#include "core/h2xlate.h"

#include <errno.h>
#include <llhttp.h>
#include <stdio.h>
#include <string.h>

#include "core/mitm.h"
#include "core/observe.h"
#include "base/result.h"
#include "telemetry/event.h"

/* ---- client side ---------------------------------------------------------------- */

static void request_event(struct sm_reactor *r, struct sm_flow *f, const struct sm_h1_event *ev)
{
	struct sm_event *e = sm_flow_event(r, f, SM_EV_PROXY_REQUEST);
	if (!e)
		return;
	const char *m = llhttp_method_name((llhttp_method_t)ev->method);
	e->i[0] = ev->version % 10;
	sm_event_set_str(e, 0, m, strlen(m));
	sm_event_set_str(e, 1, (const char *)ev->target, ev->target_len);
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

/* Returns false when the flow left the front/relay states. */
static bool client_events(struct sm_reactor *r, struct sm_flow *f, bool *popped)
{
	struct sm_front *fr = f->front;
	struct sm_h1_event ev;
	while (sm_h1_next_event(fr->h1, &ev)) {
		*popped = true;
		sm_front_observe(r, f, &ev);
		switch (ev.type) {
		case SM_H1_EV_REQUEST:
			fr->requests++;
			request_event(r, f, &ev);
			if (fr->denied) {
				sm_front_reply_error(r, f, 403, "client not allowed",
				                     "this address is not in allow_clients",
				                     SM_CLOSE_CLIENT_NOT_ALLOWED);
				return false;
			}
			if (!sm_front_request_policy(r, f, &ev))
				return false; /* answered by a fault or a block */
			if (!(ev.flags & (SM_H1_F_CONNECT | SM_H1_F_SWITCH)))
				break; /* same upstream: the layer forwards it */
			memcpy(fr->host, ev.authority->host, (size_t)ev.authority->host_len + 1);
			fr->port = ev.authority->port;
			fr->purpose =
			        (ev.flags & SM_H1_F_CONNECT) ? SM_PURPOSE_CONNECT : SM_PURPOSE_HTTP;
			fr->switch_pending = true;
			sm_front_check_switch(r, f);
			if (f->state != SM_FLOW_FRONT && f->state != SM_FLOW_HTTP)
				return false;
			break;
		case SM_H1_EV_ERROR: {
			char detail[160];
			snprintf(detail, sizeof(detail), "%s (%u)",
			         sm_h1_reason_str((enum sm_h1_reason)ev.reason), ev.detail);
			if ((ev.flags & SM_H1_F_FORWARDED) || sm_h1_outstanding(fr->h1) > 0)
				sm_flow_close(r, f, SM_CLOSE_BAD_REQUEST);
			else
				sm_front_reply_error(r, f, ev.status, client_error_text(ev.status),
				                     detail, SM_CLOSE_BAD_REQUEST);
			return false;
		}
		default: break;
		}
	}
	return true;
}

static void maybe_arm_client(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	if (!sm_front_relaying(f) || f->client_recv_armed || fr->cin.len || fr->client_eof ||
	    fr->switch_pending)
		return;
	enum sm_h1_wait w = sm_h1_client_wait(fr->h1);
	if (w != SM_H1_WAIT_NONE && w != SM_H1_WAIT_OUT_FULL && w != SM_H1_WAIT_EVENTS)
		return;
	if (fr->mitm)
		sm_mitm_arm(r, f, true);
	else
		sm_front_arm_recv(r, f, true);
}

static void client_eof(struct sm_reactor *r, struct sm_flow *f);

static void maybe_finish(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	if (!sm_front_relaying(f) || fr->down.inflight || fr->up.inflight)
		return;
	bool idle = sm_h1_outstanding(fr->h1) == 0;
	if (fr->fault)
		return; /* a fault answer is still to come */
	if (fr->close_after_flush || (fr->client_eof && idle && !fr->switch_pending))
		sm_flow_close(r, f, SM_CLOSE_DONE);
}

/* After a 101 on an intercepted connection: bytes are relayed as they are,
 * decrypted and re-encrypted, with no HTTP parsing (the splice tunnel
 * cannot be used: TLS ends here). Either side's EOF ends the flow once
 * what it sent is through. */
static void raw_pump(struct sm_reactor *r, struct sm_flow *f, bool from_client)
{
	struct sm_front *fr = f->front;
	struct sm_inq *in = from_client ? &fr->cin : &fr->uin;
	struct sm_outq *q = from_client ? &fr->up : &fr->down;
	if (q->inflight || f->state != SM_FLOW_HTTP)
		return;
	if (fr->mitm && !sm_mitm_pull(r, f, from_client))
		return;
	if (in->len) {
		sm_front_forward_raw(r, f, from_client);
		return;
	}
	if (from_client ? fr->client_eof : fr->upstream_eof) {
		sm_flow_close(r, f, SM_CLOSE_DONE);
		return;
	}
	if (fr->mitm)
		sm_mitm_arm(r, f, from_client);
	else if (!(from_client ? f->client_recv_armed : fr->up_recv_armed))
		sm_front_arm_recv(r, f, from_client);
}

void sm_front_pump_client(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	if (fr->h2) {
		sm_h2relay_pump(r, f);
		return;
	}
	if (fr->raw) {
		raw_pump(r, f, true);
		return;
	}
	for (;;) {
		if (!sm_front_relaying(f) || fr->up.inflight || fr->switch_pending)
			break;
		if (fr->mitm && !sm_mitm_pull(r, f, true))
			return;
		if (!sm_front_outq_ready(r, &fr->up)) {
			sm_front_reply_error(r, f, 503, "proxy out of send buffers", NULL,
			                     SM_CLOSE_RESOURCE_LIMIT);
			return;
		}
		long n = sm_h1_client_feed(fr->h1, fr->cin.buf + fr->cin.off, fr->cin.len,
		                           &fr->up.out);
		if (n > 0) {
			fr->cin.off += (uint32_t)n;
			fr->cin.len -= (uint32_t)n;
			if (!fr->cin.len)
				fr->cin.off = 0;
		}
		bool popped = false;
		if (!client_events(r, f, &popped) || n < 0)
			return;
		if (fr->up.out.len > 0 && f->ufd >= 0 && f->state == SM_FLOW_HTTP) {
			fr->up.sent = 0;
			sm_front_outq_send(r, f, false);
			break;
		}
		if (n <= 0 && !popped)
			break;
	}
	if (fr->mitm && fr->client_eof && !fr->cin.len && sm_front_relaying(f)) {
		client_eof(r, f);
		return;
	}
	sm_front_outq_trim(r, &fr->up);
	maybe_arm_client(r, f);
	maybe_finish(r, f);
}

/* The client's stream ended (plain EOF, or close_notify under TLS). */
static void client_eof(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	if (fr->client_eof_done)
		return;
	fr->client_eof_done = true;
	if (sm_h1_client_eof(fr->h1) != SM_OK) {
		sm_flow_close(r, f, SM_CLOSE_CLIENT_EOF_EARLY);
		return;
	}
	if (fr->requests == 0) {
		sm_flow_close(r, f, SM_CLOSE_DONE);
		return;
	}
	maybe_finish(r, f);
}

void sm_front_client_recv(struct sm_reactor *r, struct sm_flow *f, const uint8_t *data, int res)
{
	struct sm_front *fr = f->front;
	f->client_recv_armed = false;
	if (fr->mitm && f->state != SM_FLOW_REPLYING) {
		sm_mitm_client_recv(r, f, data, res);
		return;
	}
	if (res == -ENOBUFS) {
		SM_CTR_INC(r, enobufs);
		if (f->state == SM_FLOW_REPLYING || sm_front_relaying(f))
			sm_front_arm_recv(r, f, true);
		return;
	}
	if (f->state == SM_FLOW_REPLYING) {
		if (res > 0 && fr->lingering)
			sm_front_arm_recv(r, f, true); /* drain and drop */
		else if (res <= 0 && fr->lingering)
			sm_flow_close(r, f, fr->pending_reason);
		else if (res <= 0)
			fr->client_eof = true;
		return;
	}
	if (res < 0) {
		f->reset = res == -ECONNRESET;
		sm_flow_close(r, f, SM_CLOSE_CLIENT_RESET);
		return;
	}
	sm_flow_touch(r, f);
	if (res == 0) {
		fr->client_eof = true;
		if (fr->raw) {
			sm_front_pump_client(r, f);
			return;
		}
		if (f->state == SM_FLOW_ESTABLISH) {
			sm_front_establish_continue(r, f);
			return;
		}
		if (!sm_front_relaying(f))
			return; /* resolving or connecting: the tunnel sees the EOF */
		client_eof(r, f);
		return;
	}
	f->bytes_up += (uint64_t)res;
	SM_CTR_ADD(r, bytes[SM_LANE_HTTP][SM_BYTES_UP], (uint64_t)res);
	if (!sm_inq_hold(&fr->cin)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	memcpy(fr->cin.buf + fr->cin.off + fr->cin.len, data, (size_t)res);
	fr->cin.len += (uint32_t)res;
	sm_front_pump_client(r, f);
}

/* ---- upstream side ---------------------------------------------------------------- */

static void response_event(struct sm_reactor *r, struct sm_flow *f, const struct sm_h1_event *ev)
{
	struct sm_event *e = sm_flow_event(r, f, SM_EV_HTTP_RESPONSE);
	if (!e)
		return;
	const char *m = llhttp_method_name((llhttp_method_t)ev->method);
	e->i[0] = ev->status;
	e->i[1] = f->front->requests;
	sm_event_set_str(e, 0, m, strlen(m));
	sm_event_set_str(e, 1, f->front->live_host, strlen(f->front->live_host));
	sm_flow_event_commit(r);
}

void sm_front_pump_upstream(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	if (fr->h2) {
		sm_h2relay_pump(r, f);
		return;
	}
	if (fr->raw) {
		raw_pump(r, f, false);
		return;
	}
	for (;;) {
		if (f->state != SM_FLOW_HTTP || fr->down.inflight || fr->upgrade)
			break;
		if (fr->mitm && !sm_mitm_pull(r, f, false))
			return;
		if (!sm_front_outq_ready(r, &fr->down)) {
			sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
			return;
		}
		long n = 0;
		if (fr->uin.len || !fr->upstream_eof) {
			n = sm_h1_server_feed(fr->h1, fr->uin.buf + fr->uin.off, fr->uin.len,
			                      &fr->down.out);
		} else if (fr->eof_pending) {
			/* SM_AGAIN: output or events full; drained below, retried */
			int rc = sm_h1_server_eof(fr->h1, &fr->down.out);
			if (rc == SM_OK) {
				fr->eof_pending = false;
				n = 1; /* progress: look at the events it produced */
			} else if (rc != SM_AGAIN) {
				sm_flow_close(r, f, SM_CLOSE_UPSTREAM_RESET);
				return;
			}
		}
		if (n > 0 && fr->uin.len) {
			fr->uin.off += (uint32_t)n;
			fr->uin.len -= (uint32_t)n;
			if (!fr->uin.len)
				fr->uin.off = 0;
		}
		bool popped = false;
		struct sm_h1_event ev;
		while (sm_h1_next_event(fr->h1, &ev)) {
			popped = true;
			sm_front_observe(r, f, &ev);
			if (ev.type == SM_H1_EV_RESPONSE && !(ev.flags & SM_H1_F_DROPPED)) {
				response_event(r, f, &ev);
			} else if (ev.type == SM_H1_EV_RESPONSE_END) {
				if (ev.flags & SM_H1_F_CLOSE_CLIENT)
					fr->close_after_flush = true;
			} else if (ev.type == SM_H1_EV_UPGRADE) {
				fr->upgrade = true;
			} else if (ev.type == SM_H1_EV_ERROR) {
				if (ev.flags & SM_H1_F_FORWARDED)
					sm_flow_close(r, f, SM_CLOSE_UPSTREAM_PROTOCOL);
				else if (sm_h2xlate_looks_h2(fr->uin.buf + fr->uin.off,
				                             fr->uin.len))
					sm_front_reply_error(
					        r, f, 502, "bad upstream response",
					        "the upstream speaks HTTP/2 only: no ALPN agreed "
					        "on "
					        "http/1.1 (see http2_upstream_for_h1_clients)",
					        SM_CLOSE_UPSTREAM_PROTOCOL);
				else
					sm_front_reply_error(
					        r, f, 502, "bad upstream response",
					        sm_h1_reason_str((enum sm_h1_reason)ev.reason),
					        SM_CLOSE_UPSTREAM_PROTOCOL);
				return;
			}
		}
		if (fr->down.out.len > 0) {
			fr->down.sent = 0;
			sm_front_outq_send(r, f, true);
			break;
		}
		if (n <= 0 && !popped)
			break;
	}
	if (f->state != SM_FLOW_HTTP)
		return;
	if (fr->upgrade && !fr->down.inflight && !fr->up.inflight) {
		/* TLS ends here, or the stream is observed: relay through user
		 * space; otherwise the splice tunnel takes it */
		if (sm_observe_ws_start(r, f) || fr->mitm) {
			fr->raw = true;
			raw_pump(r, f, false);
			raw_pump(r, f, true);
			return;
		}
		f->state = SM_FLOW_ESTABLISH;
		sm_front_establish_continue(r, f);
		return;
	}
	sm_front_outq_trim(r, &fr->down);
	if (fr->mitm && !fr->uin.len && !fr->switch_pending)
		sm_mitm_arm(r, f, false);
	else if (!fr->mitm && !fr->up_recv_armed && !fr->uin.len && !fr->upstream_eof &&
	         f->ufd >= 0 && !fr->switch_pending)
		sm_front_arm_recv(r, f, false);
	sm_front_check_switch(r, f);
	maybe_finish(r, f);
}

void sm_front_upstream_recv(struct sm_reactor *r, struct sm_flow *f, const uint8_t *data, int res)
{
	struct sm_front *fr = f->front;
	fr->up_recv_armed = false;
	fr->up_cancel_sent = false;
	if (fr->mitm && f->state != SM_FLOW_REPLYING) {
		sm_mitm_upstream_recv(r, f, data, res);
		return;
	}
	if (fr->switch_pending) { /* cancelled (or late bytes) on the old upstream */
		sm_front_check_switch(r, f);
		return;
	}
	if (f->state != SM_FLOW_HTTP)
		return;
	if (res == -ENOBUFS) {
		SM_CTR_INC(r, enobufs);
		sm_front_arm_recv(r, f, false);
		return;
	}
	if (res < 0 && sm_h1_outstanding(fr->h1) > 0) {
		f->reset = res == -ECONNRESET;
		sm_flow_close(r, f, SM_CLOSE_UPSTREAM_RESET);
		return;
	}
	sm_flow_touch(r, f);
	if (res <= 0) {
		/* delivered to the layer by pump_upstream once `down` is free */
		fr->upstream_eof = true;
		fr->eof_pending = true;
		sm_front_pump_upstream(r, f);
		if (sm_front_relaying(f))
			sm_front_pump_client(r, f);
		return;
	}
	f->bytes_down += (uint64_t)res;
	SM_CTR_ADD(r, bytes[SM_LANE_HTTP][SM_BYTES_DOWN], (uint64_t)res);
	if (!sm_inq_hold(&fr->uin)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	memcpy(fr->uin.buf + fr->uin.off + fr->uin.len, data, (size_t)res);
	fr->uin.len += (uint32_t)res;
	sm_front_pump_upstream(r, f);
}
