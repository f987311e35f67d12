/* HTTP/2 relay on an intercepted connection where both sides settled on
 * h2: decrypted client bytes go through proto/h2 (two nghttp2 sessions with
 * streams mapped 1:1), whose frames for each side are encrypted and sent by
 * core/mitm.c. Flow control is end to end: proto/h2 opens windows only as
 * bytes are handed to the other side. */
#include <string.h>

#include "core/front.h"
#include "core/mitm.h"
#include "core/observe.h"
#include "base/result.h"
#include "proto/h2.h"
#include "proto/grpc.h"
#include "observe/pipeline.h"
#include <stdlib.h>
#include <strings.h>
#include "telemetry/event.h"

/* ---- observers on HTTP/2 streams -------------------------------------------- */

#define H2_OBSERVED 16 /* streams x directions observed at once; more are relayed only */
#define OBS_WS      2  /* `dir` of a slot observing an RFC 8441 WebSocket stream */

/* A slot observes one body (sid, dir 0/1, pipe p) or one WebSocket stream
 * (sid, OBS_WS): from its extended CONNECT until the 2xx it waits with ws
 * NULL, then both directions' DATA go to ws until both ended or a reset. */
struct sm_h2_obs {
	struct sm_reactor *r;
	struct sm_flow *f;
	int32_t sid; /* 0 = free slot */
	uint8_t dir;
	uint8_t framing;
	uint8_t ended; /* OBS_WS: bit per direction that sent END_STREAM */
	struct sm_pipe *p;
	struct sm_ws_obs *ws;
};

static void obs_cb(void *ctx, const struct sm_pipe_event *pe)
{
	struct sm_h2_obs *o = ctx;
	sm_observe_emit(o->r, o->f, o->dir, o->framing, o->sid, NULL, pe);
}

static struct sm_h2_obs *obs_find(struct sm_front *fr, int32_t sid, int dir)
{
	struct sm_h2_obs *t = fr->h2obs;
	for (int k = 0; t && k < H2_OBSERVED; k++)
		if (t[k].sid == sid && t[k].dir == dir)
			return &t[k];
	return NULL;
}

/* A free slot, the table allocated on first use; NULL when all are taken. */
static struct sm_h2_obs *obs_claim(struct sm_front *fr)
{
	if (!fr->h2obs && !(fr->h2obs = calloc(H2_OBSERVED, sizeof(struct sm_h2_obs))))
		return NULL;
	return obs_find(fr, 0, 0);
}

static void ws_slot_end(struct sm_h2_obs *o)
{
	if (!o)
		return;
	sm_observe_ws_free(o->ws); /* flushes the open turn */
	*o = (struct sm_h2_obs){0};
}

static void obs_end(struct sm_h2_obs *o)
{
	if (!o || !o->p)
		return;
	sm_pipe_finish(o->p);
	sm_pipe_free(o->p);
	o->p = NULL;
	o->sid = 0; /* free slots are (0, 0): obs_find(fr, 0, 0) finds them */
	o->dir = 0;
}

void sm_h2relay_free_obs(struct sm_front *fr)
{
	struct sm_h2_obs *t = fr->h2obs;
	for (int k = 0; t && k < H2_OBSERVED; k++)
		if (t[k].p)
			sm_pipe_free(t[k].p);
		else if (t[k].ws)
			sm_observe_ws_free(t[k].ws);
	free(t);
	fr->h2obs = NULL;
}

/* A request or final response head: observe its body if the type asks. */
static void obs_start(struct sm_reactor *r, struct sm_flow *f, const struct sm_h2_event *ev)
{
	struct sm_front *fr = f->front;
	const uint8_t *ct = (const uint8_t *)"", *ce = NULL, *ge = NULL;
	size_t ctl = 0, cel = 0, gel = 0;
	sm_h2_header_find(fr->h2, ev, "content-type", &ct, &ctl);
	sm_h2_header_find(fr->h2, ev, "content-encoding", &ce, &cel);
	sm_h2_header_find(fr->h2, ev, "grpc-encoding", &ge, &gel);
	struct sm_h2_obs *o = obs_claim(fr);
	if (!o)
		return; /* bounded: this stream is relayed without observation */
	*o = (struct sm_h2_obs){.r = r, .f = f, .sid = ev->stream_id, .dir = ev->dir};
	o->p = sm_observe_pipe(r->cfg, ct, ctl, ce, cel, ge, gel, obs_cb, o);
	if (!o->p) {
		o->sid = 0;
		o->dir = 0;
		return;
	}
	o->framing = (uint8_t)sm_pipe_framing(o->p);
}

/* RFC 8441: an extended CONNECT for :protocol websocket waits in a slot for
 * its response. Returns true when the request is such a one. */
static bool ws_request(struct sm_reactor *r, struct sm_flow *f, const struct sm_h2_event *ev)
{
	if (!(ev->flags & SM_H2_F_EXTCONNECT) || ev->protocol_len != 9 ||
	    strncasecmp((const char *)ev->protocol, "websocket", 9) != 0)
		return false;
	struct sm_h2_obs *o = r->cfg->observe.websocket ? obs_claim(f->front) : NULL;
	if (o) /* else bounded: relayed without observation */
		*o = (struct sm_h2_obs){.r = r, .f = f, .sid = ev->stream_id, .dir = OBS_WS};
	return true;
}

/* The response to a waiting WebSocket stream: a 2xx opens the observer
 * (permessage-deflate from its sec-websocket-extensions); anything else
 * frees the slot and the response body is observed like any other.
 * Returns true when the stream is now a WebSocket. */
static bool ws_response(struct sm_reactor *r, struct sm_flow *f, const struct sm_h2_event *ev)
{
	struct sm_h2_obs *o = obs_find(f->front, ev->stream_id, OBS_WS);
	if (!o || o->ws)
		return false;
	if (ev->status < 200 || ev->status > 299) {
		ws_slot_end(o);
		return false;
	}
	const uint8_t *ext = NULL;
	size_t el = 0;
	sm_h2_header_find(f->front->h2, ev, "sec-websocket-extensions", &ext, &el);
	o->ws = sm_observe_ws_new(r, f, ev->stream_id, ext, el);
	if (!o->ws)
		ws_slot_end(o);
	return true;
}

static void grpc_status_event(struct sm_reactor *r, struct sm_flow *f, const struct sm_h2_event *ev)
{
	const uint8_t *v, *m = (const uint8_t *)"";
	size_t vl, ml = 0;
	if (!sm_h2_header_find(f->front->h2, ev, "grpc-status", &v, &vl))
		return;
	sm_h2_header_find(f->front->h2, ev, "grpc-message", &m, &ml);
	int status = 0;
	for (size_t k = 0; k < vl && k < 3 && v[k] >= '0' && v[k] <= '9'; k++)
		status = status * 10 + (v[k] - '0');
	struct sm_event *e = sm_flow_event(r, f, SM_EV_GRPC_STATUS);
	if (!e)
		return;
	e->i[0] = ev->stream_id;
	e->i[1] = status;
	sm_event_set_str(e, 0, (const char *)m, ml);
	sm_flow_event_commit(r);
}

void sm_h2relay_counted(struct sm_reactor *r, struct sm_front *fr)
{
	sm_metrics_add(&r->m->h2_conns, 1);
	sm_metrics_add(&r->m->h2_conns_open, 1);
	fr->h2_open_counted = 0;
	fr->h2_total_counted = 0;
}

/* The gauges follow proto/h2's own stream table, so a stream counts until
 * it has ended or been reset on both sides, whichever way it went. */
static void h2_count(struct sm_reactor *r, struct sm_front *fr)
{
	unsigned open = sm_h2_open_streams(fr->h2);
	uint64_t total = sm_h2_stats(fr->h2)->streams;
	if (open != fr->h2_open_counted) {
		sm_metrics_add(&r->m->h2_streams_open, (uint64_t)open - fr->h2_open_counted);
		fr->h2_open_counted = open;
	}
	if (total != fr->h2_total_counted) {
		sm_metrics_add(&r->m->h2_streams, total - fr->h2_total_counted);
		fr->h2_total_counted = total;
	}
}

void sm_h2relay_uncount(struct sm_reactor *r, struct sm_front *fr)
{
	h2_count(r, fr);
	sm_metrics_add(&r->m->h2_streams_open, (uint64_t)0 - fr->h2_open_counted);
	sm_metrics_add(&r->m->h2_conns_open, (uint64_t)0 - 1);
	fr->h2_open_counted = 0;
}

static void h2_events(struct sm_reactor *r, struct sm_flow *f, bool *progress)
{
	struct sm_front *fr = f->front;
	struct sm_h2_event ev;
	while (sm_h2_next_event(fr->h2, &ev)) {
		*progress = true;
		struct sm_event *e;
		switch (ev.type) {
		case SM_H2_EV_DATA:
			if (fr->h2obs) {
				struct sm_h2_obs *o = obs_find(fr, ev.stream_id, ev.dir);
				struct sm_h2_obs *w = o ? NULL : obs_find(fr, ev.stream_id, OBS_WS);
				if (o && sm_pipe_feed(o->p, ev.data, ev.len) < 0)
					obs_end(o);
				if (w)
					sm_observe_ws_data(w->ws, ev.dir, ev.data, ev.len);
			}
			break;
		case SM_H2_EV_STREAM_END: {
			obs_end(obs_find(fr, ev.stream_id, ev.dir));
			struct sm_h2_obs *w = obs_find(fr, ev.stream_id, OBS_WS);
			if (w && (w->ended |= (uint8_t)(1u << ev.dir)) == 3)
				ws_slot_end(w);
			break;
		}
		case SM_H2_EV_STREAM_RESET:
			obs_end(obs_find(fr, ev.stream_id, 0));
			obs_end(obs_find(fr, ev.stream_id, 1));
			ws_slot_end(obs_find(fr, ev.stream_id, OBS_WS));
			break;
		case SM_H2_EV_TRAILERS: grpc_status_event(r, f, &ev); break;
		case SM_H2_EV_REQUEST:
			if (!ws_request(r, f, &ev))
				obs_start(r, f, &ev);
			fr->requests++;
			e = sm_flow_event(r, f, SM_EV_PROXY_REQUEST);
			if (!e)
				break;
			e->i[0] = fr->h2_client_h1; /* http_minor: 0 for HTTP/2 */
			e->i[1] = ev.stream_id;
			sm_event_set_str(e, 0, (const char *)ev.method, ev.method_len);
			sm_event_set_str(e, 1, (const char *)ev.path, ev.path_len);
			sm_flow_event_commit(r);
			break;
		case SM_H2_EV_RESPONSE:
			if (ev.flags & SM_H2_F_INTERIM)
				break;
			if (!ws_response(r, f, &ev))
				obs_start(r, f, &ev);
			if (ev.flags & SM_H2_F_END_STREAM) /* trailers-only: gRPC errors */
				grpc_status_event(r, f, &ev);
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
	h2_count(r, f->front);
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
