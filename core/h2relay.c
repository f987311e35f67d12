/* HTTP/2 relay on an intercepted connection where both sides settled on
 * h2: decrypted client bytes go through proto/h2 (two nghttp2 sessions with
 * streams mapped 1:1), whose frames for each side are encrypted and sent by
 * core/mitm.c. Flow control is end to end: proto/h2 opens windows only as
 * bytes are handed to the other side. */
#include <string.h>

#include "core/front.h"
#include "core/mitm.h"
#include "core/result.h"
#include "proto/h2.h"
#include "telemetry/event.h"

static void h2_events(struct sm_reactor *r, struct sm_flow *f, bool *progress)
{
	struct sm_front *fr = f->front;
	struct sm_h2_event ev;
	while (sm_h2_next_event(fr->h2, &ev)) {
		*progress = true;
		struct sm_event *e;
		switch (ev.type) {
		case SM_H2_EV_REQUEST:
			fr->requests++;
			e = sm_flow_event(r, f, SM_EV_PROXY_REQUEST);
			if (!e)
				break;
			e->i[0] = 0; /* HTTP/2 */
			e->i[1] = ev.stream_id;
			sm_event_set_str(e, 0, (const char *)ev.method, ev.method_len);
			sm_event_set_str(e, 1, (const char *)ev.path, ev.path_len);
			sm_flow_event_commit(r);
			break;
		case SM_H2_EV_RESPONSE:
			if (ev.flags & SM_H2_F_INTERIM)
				break;
			e = sm_flow_event(r, f, SM_EV_HTTP_RESPONSE);
			if (!e)
				break;
			e->i[0] = ev.status;
			e->i[1] = fr->requests;
			e->i[2] = ev.stream_id;
			sm_event_set_str(e, 0, "", 0);
			sm_event_set_str(e, 1, fr->live_host, strlen(fr->live_host));
			sm_flow_event_commit(r);
			break;
		default: break;
		}
	}
}

static bool h2_out(struct sm_reactor *r, struct sm_flow *f, bool to_client)
{
	struct sm_front *fr = f->front;
	struct sm_outq *q = to_client ? &fr->down : &fr->up;
	if (q->inflight || !sm_h2_want_out(fr->h2, to_client ? SM_H2_CLIENT : SM_H2_UPSTREAM))
		return false;
	if (!sm_front_outq_ready(r, q)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return false;
	}
	long n = to_client ? sm_h2_out_client(fr->h2, q->out.buf, q->out.cap)
	                   : sm_h2_out_upstream(fr->h2, q->out.buf, q->out.cap);
	if (n <= 0)
		return false;
	q->out.len = (size_t)n;
	q->sent = 0;
	sm_front_outq_send(r, f, to_client);
	return true;
}

static long h2_feed(struct sm_front *fr, bool client)
{
	struct sm_inq *in = client ? &fr->cin : &fr->uin;
	if (!in->len)
		return 0;
	long n = client ? sm_h2_feed_client(fr->h2, in->buf + in->off, in->len)
	                : sm_h2_feed_upstream(fr->h2, in->buf + in->off, in->len);
	if (n > 0) {
		in->off += (uint32_t)n;
		in->len -= (uint32_t)n;
		if (!in->len)
			in->off = 0;
	}
	return n;
}

void sm_h2relay_pump(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	for (int iter = 0; iter < 256 && f->state == SM_FLOW_HTTP; iter++) {
		bool progress = false;
		if (!sm_mitm_pull(r, f, true) || !sm_mitm_pull(r, f, false))
			return;
		long a = h2_feed(fr, true), b = h2_feed(fr, false);
		if (a < 0 || b < 0) {
			h2_events(r, f, &progress);
			sm_flow_close(r, f,
			              a < 0 ? SM_CLOSE_BAD_REQUEST : SM_CLOSE_UPSTREAM_PROTOCOL);
			return;
		}
		progress = a > 0 || b > 0;
		h2_events(r, f, &progress);
		progress |= h2_out(r, f, false);
		if (f->state != SM_FLOW_HTTP)
			return;
		progress |= h2_out(r, f, true);
		if (!progress)
			break;
	}
	if (f->state != SM_FLOW_HTTP)
		return;
	if (fr->client_eof && !fr->cin.len && !fr->h2_eof[0]) {
		fr->h2_eof[0] = true;
		sm_h2_eof(fr->h2, SM_H2_CLIENT);
	}
	if (fr->upstream_eof && !fr->uin.len && !fr->h2_eof[1]) {
		fr->h2_eof[1] = true;
		sm_h2_eof(fr->h2, SM_H2_UPSTREAM);
	}
	if (fr->h2_eof[0] || fr->h2_eof[1]) {
		bool c = h2_out(r, f, true);
		bool u = f->state == SM_FLOW_HTTP && h2_out(r, f, false);
		if (c || u || f->state != SM_FLOW_HTTP)
			return; /* GOAWAY / final frames first */
	}
	bool idle = !fr->up.inflight && !fr->down.inflight;
	if (idle && sm_h2_done(fr->h2, SM_H2_CLIENT) && sm_h2_done(fr->h2, SM_H2_UPSTREAM)) {
		sm_flow_close(r, f, SM_CLOSE_DONE);
		return;
	}
	if (idle && fr->h2_eof[0] && sm_h2_open_streams(fr->h2) == 0) {
		sm_flow_close(r, f, SM_CLOSE_DONE);
		return;
	}
	if (!fr->cin.len && sm_h2_wait(fr->h2, SM_H2_CLIENT) == SM_H2_WAIT_NONE)
		sm_mitm_arm(r, f, true);
	if (!fr->uin.len && sm_h2_wait(fr->h2, SM_H2_UPSTREAM) == SM_H2_WAIT_NONE)
		sm_mitm_arm(r, f, false);
}
