/* Observers on relayed HTTP/1.1, HTTP/2 and WebSocket traffic, reporting
 * through a sink (observe/observe.h). */
#include "observe/observe.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/result.h"
#include "observe/pipeline.h"
#include "proto/grpc.h"
#include "proto/h2.h"
#include "proto/http1.h"
#include "proto/websocket.h"
#include "proto/ws_deflate.h"
#include "proto/ws_turn.h"

static bool has_prefix(const uint8_t *v, size_t n, const char *p)
{
	size_t k = strlen(p);
	return n >= k && strncasecmp((const char *)v, p, k) == 0;
}

static bool contains(const uint8_t *v, size_t n, const char *p)
{
	size_t k = strlen(p);
	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp((const char *)v + i, p, k) == 0)
			return true;
	return false;
}

bool sm_observe_bodies(const struct sm_observe_config *cfg)
{
	return cfg->sse || cfg->decoders || cfg->grpc;
}

/* ---- one body: a pipeline and the events it stands for ------------------ */

/* A body being observed: its pipeline, and what its events say. */
struct body {
	const struct sm_observe_sink *sink;
	struct sm_pipe *p;
	int32_t stream; /* HTTP/2 stream id, 0 on HTTP/1.1 */
	uint8_t dir;
	uint8_t framing;
	char type[48]; /* its content type, for payload events (HTTP/1.1) */
};

/* One pipeline event as the flow event it stands for: parse_error,
 * grpc_message (framing gRPC), sse_event (framing SSE) or payload. */
static void emit(void *ctx, const struct sm_pipe_event *pe)
{
	const struct body *b = ctx;
	const struct sm_observe_sink *s = b->sink;
	bool unit = pe->stage == SM_PIPE_PAYLOAD && pe->type == SM_PIPE_EV_PAYLOAD;
	int type = pe->type == SM_PIPE_EV_ERROR               ? SM_EV_PARSE_ERROR
	           : unit && b->framing == SM_PIPE_FRAME_GRPC ? SM_EV_GRPC_MESSAGE
	           : unit && b->framing == SM_PIPE_FRAME_SSE  ? SM_EV_SSE_EVENT
	                                                      : SM_EV_PAYLOAD;
	if (type == SM_EV_PARSE_ERROR && pe->result == SM_ERR_BOMB)
		s->count(s->ctx, SM_PARSE_DECODE_BOMB);
	struct sm_event *ev = s->event(s->ctx, type);
	if (!ev)
		return;
	ev->i[0] = b->dir;
	const char *kind = sm_pipe_kind_str(pe->kind);
	switch (type) {
	case SM_EV_PARSE_ERROR:
		ev->i[1] = pe->stage;
		ev->i[2] = pe->fatal;
		ev->i[3] = b->stream;
		sm_event_set_str(ev, 0, pe->who, strlen(pe->who));
		sm_event_set_str(ev, 1, pe->reason, strlen(pe->reason));
		break;
	case SM_EV_GRPC_MESSAGE:
		ev->i[1] = b->stream;
		ev->i[2] = (int64_t)pe->wire_length;
		ev->i[3] = pe->compressed;
		ev->i[4] = pe->compressed && !pe->decoded ? -1 : (int64_t)pe->length;
		ev->i[5] = pe->too_large;
		sm_event_set_str(ev, 0, (const char *)pe->excerpt, pe->excerpt_len);
		break;
	case SM_EV_SSE_EVENT:
		ev->i[1] = (int64_t)pe->unit;
		ev->i[2] = (int64_t)pe->length;
		ev->i[3] = b->stream;
		sm_event_set_str(ev, 0, pe->label, pe->label_len);
		sm_event_set_str(ev, 1, (const char *)pe->excerpt, pe->excerpt_len);
		sm_event_set_str(ev, 2, kind, strlen(kind));
		break;
	default:
		ev->i[1] = pe->kind;
		ev->i[2] = pe->partial ? -1 : (int64_t)pe->length;
		ev->i[3] = pe->sanitized;
		ev->i[4] = b->stream;
		sm_event_set_str(ev, 0, (const char *)pe->excerpt, pe->excerpt_len);
		sm_event_set_str(ev, 1, pe->guard, strlen(pe->guard));
		sm_event_set_str(ev, 2, b->type, strlen(b->type));
		break;
	}
	s->commit(s->ctx);
}

/* Starts observing a body of content type ct (content-encoding ce,
 * grpc-encoding ge, each NULL/0 when absent) when the switches ask for it:
 * false when they do not (or out of memory), b untouched but for p. */
static bool body_open(struct body *b, const struct sm_observe_config *cfg, const uint8_t *ct,
                      size_t ctl, const uint8_t *ce, size_t cel, const uint8_t *ge, size_t gel)
{
	b->p = NULL;
	bool sse = has_prefix(ct, ctl, "text/event-stream");
	bool grpc = has_prefix(ct, ctl, "application/grpc");
	bool decodable = contains(ct, ctl, "json") || contains(ct, ctl, "msgpack") ||
	                 has_prefix(ct, ctl, "text/");
	if ((sse && !cfg->sse) || (grpc && !cfg->grpc) ||
	    (!sse && !grpc && (!cfg->decoders || !decodable)))
		return false;
	struct sm_pipe_config pc = {
	        .content = {.max_input = cfg->max_message_bytes,
	                    .max_output = cfg->max_message_bytes},
	        .msgpack = {.max_depth = 64,
	                    .max_elements = 1u << 16,
	                    .max_output = cfg->max_message_bytes},
	        .max_unit = cfg->max_message_bytes,
	        .excerpt = cfg->excerpt_bytes,
	        .max_event = cfg->max_message_bytes,
	        .prefix = cfg->whole_bodies ? 0 : SM_OBSERVE_PREFIX,
	};
	struct sm_pipe_headers ph = {
	        .content_type = (const char *)ct,
	        .content_type_len = ctl,
	        .content_encoding = cel ? (const char *)ce : NULL,
	        .content_encoding_len = cel,
	        .transfer_removed = true, /* both HTTP layers hand over de-chunked payload */
	        .grpc_encoding = (const char *)ge,
	        .grpc_encoding_len = ge ? gel : 0,
	};
	b->p = sm_pipe_new(&pc, &ph, emit, b);
	if (!b->p)
		return false;
	b->framing = (uint8_t)sm_pipe_framing(b->p);
	return true;
}

/* The body ended (or its connection did): what the pipeline holds is
 * reported, then it is freed. */
static void body_close(struct body *b)
{
	if (!b->p)
		return;
	sm_pipe_finish(b->p);
	sm_pipe_free(b->p);
	b->p = NULL;
}

static void body_feed(struct body *b, const uint8_t *p, size_t n)
{
	if (b->p && sm_pipe_feed(b->p, p, n) < 0)
		body_close(b); /* the pipeline reported it; traffic goes on */
}

/* ---- HTTP/1.1 ----------------------------------------------------------- */

struct sm_observe_h1 {
	const struct sm_observe_config *cfg;
	struct sm_observe_sink sink;
	struct sm_h1 *h1;
	struct body body[2]; /* [dir] */
};

static void h1_head(void *ctx, int dir, const struct sm_h1_event *hev)
{
	struct sm_observe_h1 *o = ctx;
	struct body *b = &o->body[dir];
	body_close(b);
	if (hev->flags & SM_H1_F_NO_BODY)
		return;
	const uint8_t *ct = (const uint8_t *)"", *ce = (const uint8_t *)"", *ge = NULL;
	size_t ctl = 0, cel = 0, gel = 0;
	sm_h1_header_find(o->h1, dir, "content-type", &ct, &ctl);
	sm_h1_header_find(o->h1, dir, "content-encoding", &ce, &cel);
	sm_h1_header_find(o->h1, dir, "grpc-encoding", &ge, &gel);
	size_t tl = ctl < sizeof(b->type) - 1 ? ctl : sizeof(b->type) - 1;
	memcpy(b->type, ct, tl);
	b->type[tl] = 0;
	body_open(b, o->cfg, ct, ctl, ce, cel, ge, gel);
}

static void h1_body(void *ctx, int dir, const uint8_t *p, size_t n)
{
	struct sm_observe_h1 *o = ctx;
	body_feed(&o->body[dir], p, n);
}

static void h1_end(void *ctx, int dir, int complete)
{
	struct sm_observe_h1 *o = ctx;
	(void)complete;
	body_close(&o->body[dir]);
}

static const struct sm_h1_observer h1_observer = {h1_head, h1_body, h1_end};

struct sm_observe_h1 *sm_observe_h1_new(const struct sm_observe_config *cfg,
                                        const struct sm_observe_sink *sink, struct sm_h1 *h)
{
	if (!sm_observe_bodies(cfg))
		return NULL;
	struct sm_observe_h1 *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->cfg = cfg;
	o->sink = *sink;
	o->h1 = h;
	for (int d = 0; d < 2; d++)
		o->body[d] = (struct body){.sink = &o->sink, .dir = (uint8_t)d};
	sm_h1_set_observer(h, &h1_observer, o);
	return o;
}

void sm_observe_h1_free(struct sm_observe_h1 *o)
{
	if (!o)
		return;
	body_close(&o->body[0]);
	body_close(&o->body[1]);
	sm_h1_set_observer(o->h1, NULL, NULL);
	free(o);
}

/* ---- WebSocket ------------------------------------------------------------ */

struct sm_observe_ws {
	struct sm_observe_sink sink;
	int32_t stream; /* HTTP/2 stream id; 0 after an HTTP/1.1 101 */
	struct sm_ws *p[2];
	struct sm_ws_turn turn;
	bool closed_seen;
};

static void on_turn(void *ctx, const struct sm_ws_turn_event *te)
{
	struct sm_observe_ws *o = ctx;
	struct sm_event *ev = o->sink.event(o->sink.ctx, SM_EV_WS_TURN);
	if (!ev)
		return;
	ev->i[0] = te->dir;
	ev->i[1] = te->messages;
	ev->i[2] = (int64_t)te->bytes;
	ev->i[3] = (int64_t)((te->last_ns - te->first_ns) / 1000);
	ev->i[4] = te->why;
	ev->i[5] = o->stream;
	o->sink.commit(o->sink.ctx);
}

/* An inflate failure is a content-stage error of "permessage-deflate",
 * named like the content decoders' reasons; the rest are framing errors. */
static void ws_error(struct sm_observe_ws *o, const struct sm_ws_event *we)
{
	const char *who = "", *why = sm_ws_reason_str(we->error);
	int stage = SM_PIPE_FRAMING;
	switch (we->error) {
	case SM_WS_R_INFLATE_CORRUPT: why = "corrupt"; break;
	case SM_WS_R_INFLATE_BOMB:
		why = "bomb";
		o->sink.count(o->sink.ctx, SM_PARSE_DECODE_BOMB);
		break;
	case SM_WS_R_INFLATE_NOMEM: why = "nomem"; break;
	default: who = NULL; break;
	}
	if (who) {
		stage = SM_PIPE_CONTENT;
		who = "permessage-deflate";
	} else {
		who = "websocket";
	}
	struct sm_event *ev = o->sink.event(o->sink.ctx, SM_EV_PARSE_ERROR);
	if (!ev)
		return;
	ev->i[0] = we->dir;
	ev->i[1] = stage;
	ev->i[2] = we->fatal;
	ev->i[3] = o->stream;
	sm_event_set_str(ev, 0, who, strlen(who));
	sm_event_set_str(ev, 1, why, strlen(why));
	o->sink.commit(o->sink.ctx);
}

static void on_ws(void *ctx, const struct sm_ws_event *we)
{
	struct sm_observe_ws *o = ctx;
	const struct sm_observe_sink *s = &o->sink;
	sm_ws_turn_on_event(&o->turn, we, sm_now_ns());
	struct sm_event *ev;
	switch (we->type) {
	case SM_WS_EV_MESSAGE:
		ev = s->event(s->ctx, SM_EV_WS_MESSAGE);
		if (!ev)
			return;
		ev->i[0] = we->dir;
		ev->i[1] = we->opcode;
		ev->i[2] = (int64_t)we->length;
		ev->i[3] = we->compressed;
		ev->i[4] = we->compressed && !we->decoded ? -1 : (int64_t)we->decoded_length;
		ev->i[5] = o->stream;
		sm_event_set_str(ev, 0, (const char *)we->excerpt, we->excerpt_len);
		s->commit(s->ctx);
		return;
	case SM_WS_EV_CLOSE:
		if (o->closed_seen)
			return; /* the answer to a close: the first one names who closed */
		o->closed_seen = true;
		ev = s->event(s->ctx, SM_EV_WS_CLOSE);
		if (!ev)
			return;
		ev->i[0] = we->dir;
		ev->i[1] = we->close_code;
		ev->i[2] = o->stream;
		sm_event_set_str(ev, 0, we->reason, we->reason_len);
		s->commit(s->ctx);
		return;
	case SM_WS_EV_ERROR: ws_error(o, we); return;
	default: return;
	}
}

struct sm_observe_ws *sm_observe_ws_new(const struct sm_observe_config *cfg,
                                        const struct sm_observe_sink *sink, int32_t stream,
                                        const uint8_t *ext, size_t el)
{
	if (!cfg->websocket)
		return NULL;
	struct sm_observe_ws *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->sink = *sink;
	o->stream = stream;
	struct sm_ws_deflate_params dp;
	sm_ws_deflate_parse((const char *)ext, ext ? el : 0, &dp);
	uint32_t max = cfg->max_message_bytes;
	for (int d = 0; d < 2; d++) {
		struct sm_ws_config wc = {
		        .dir = (enum sm_ws_dir)d,
		        .permessage_deflate = dp.on,
		        .max_message = max,
		        .excerpt = cfg->excerpt_bytes ? cfg->excerpt_bytes : 1,
		        .inflate = dp.inflate,
		        .no_context_takeover = dp.no_context_takeover[d],
		        .max_inflate = max, /* the content decoders' bomb budget */
		};
		o->p[d] = sm_ws_new(&wc, on_ws, o);
	}
	sm_ws_turn_init(&o->turn, 0, on_turn, o);
	if (!o->p[0] || !o->p[1]) {
		sm_ws_free(o->p[0]);
		sm_ws_free(o->p[1]);
		free(o);
		return NULL;
	}
	return o;
}

void sm_observe_ws_data(struct sm_observe_ws *o, int dir, const uint8_t *p, size_t n)
{
	if (o && o->p[dir])
		sm_ws_feed(o->p[dir], p, n); /* errors arrive as events; traffic goes on */
}

void sm_observe_ws_free(struct sm_observe_ws *o)
{
	if (!o)
		return;
	/* the connection (or stream) ended: a message cut by it is reported
	 * with what was seen (parse_error truncated, then its ws_message) */
	sm_ws_finish(o->p[0]);
	sm_ws_finish(o->p[1]);
	sm_ws_turn_close(&o->turn);
	sm_ws_free(o->p[0]);
	sm_ws_free(o->p[1]);
	free(o);
}

/* ---- HTTP/2 ------------------------------------------------------------- */

#define H2_OBSERVED 16 /* streams x directions observed at once; more are relayed only */
#define OBS_WS      2  /* `dir` of a slot observing an RFC 8441 WebSocket stream */

/* A slot observes one body (sid, dir 0/1) or one WebSocket stream (sid,
 * OBS_WS): from its extended CONNECT until the 2xx it waits with ws NULL,
 * then both directions' DATA go to ws until both ended or a reset. */
struct h2_slot {
	int32_t sid; /* 0 = free slot */
	uint8_t dir;
	uint8_t ended; /* OBS_WS: bit per direction that sent END_STREAM */
	struct body body;
	struct sm_observe_ws *ws;
};

struct sm_observe_h2 {
	const struct sm_observe_config *cfg;
	struct sm_observe_sink sink;
	struct h2_slot slot[H2_OBSERVED];
};

/* grpc_status is reported whatever the switches say (it is a response
 * fact, like http_response); the rest follows observe.*. */
struct sm_observe_h2 *sm_observe_h2_new(const struct sm_observe_config *cfg,
                                        const struct sm_observe_sink *sink)
{
	struct sm_observe_h2 *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->cfg = cfg;
	o->sink = *sink;
	return o;
}

static struct h2_slot *slot_find(struct sm_observe_h2 *o, int32_t sid, int dir)
{
	for (int k = 0; k < H2_OBSERVED; k++)
		if (o->slot[k].sid == sid && o->slot[k].dir == dir)
			return &o->slot[k];
	return NULL;
}

/* A free slot (free slots are (0, 0)); NULL when all are taken. */
static struct h2_slot *slot_claim(struct sm_observe_h2 *o)
{
	return slot_find(o, 0, 0);
}

static void slot_end(struct h2_slot *s)
{
	if (!s)
		return;
	body_close(&s->body);
	sm_observe_ws_free(s->ws); /* flushes the open turn */
	*s = (struct h2_slot){0};
}

void sm_observe_h2_free(struct sm_observe_h2 *o)
{
	if (!o)
		return;
	for (int k = 0; k < H2_OBSERVED; k++)
		slot_end(&o->slot[k]);
	free(o);
}

/* A request or final response head: observe its body if the type asks. */
static void h2_body_start(struct sm_observe_h2 *o, const struct sm_h2 *h,
                          const struct sm_h2_event *ev)
{
	const uint8_t *ct = (const uint8_t *)"", *ce = NULL, *ge = NULL;
	size_t ctl = 0, cel = 0, gel = 0;
	sm_h2_header_find(h, ev, "content-type", &ct, &ctl);
	sm_h2_header_find(h, ev, "content-encoding", &ce, &cel);
	sm_h2_header_find(h, ev, "grpc-encoding", &ge, &gel);
	struct h2_slot *s = slot_claim(o);
	if (!s)
		return; /* bounded: this stream is relayed without observation */
	*s = (struct h2_slot){.sid = ev->stream_id, .dir = ev->dir};
	s->body = (struct body){.sink = &o->sink, .stream = ev->stream_id, .dir = ev->dir};
	size_t tl = ctl < sizeof(s->body.type) - 1 ? ctl : sizeof(s->body.type) - 1;
	memcpy(s->body.type, ct, tl); /* payload.content_type */
	s->body.type[tl] = 0;
	if (!body_open(&s->body, o->cfg, ct, ctl, ce, cel, ge, gel))
		*s = (struct h2_slot){0};
}

/* RFC 8441: an extended CONNECT for :protocol websocket waits in a slot for
 * its response. Returns true when the request is such a one. */
static bool h2_ws_request(struct sm_observe_h2 *o, const struct sm_h2_event *ev)
{
	if (!(ev->flags & SM_H2_F_EXTCONNECT) || ev->protocol_len != 9 ||
	    strncasecmp((const char *)ev->protocol, "websocket", 9) != 0)
		return false;
	struct h2_slot *s = o->cfg->websocket ? slot_claim(o) : NULL;
	if (s) /* else bounded: relayed without observation */
		*s = (struct h2_slot){.sid = ev->stream_id, .dir = OBS_WS};
	return true;
}

/* The response to a waiting WebSocket stream: a 2xx opens the observer
 * (permessage-deflate from its sec-websocket-extensions); anything else
 * frees the slot and the response body is observed like any other.
 * Returns true when the stream is now a WebSocket. */
static bool h2_ws_response(struct sm_observe_h2 *o, const struct sm_h2 *h,
                           const struct sm_h2_event *ev)
{
	struct h2_slot *s = slot_find(o, ev->stream_id, OBS_WS);
	if (!s || s->ws)
		return false;
	if (ev->status < 200 || ev->status > 299) {
		slot_end(s);
		return false;
	}
	const uint8_t *ext = NULL;
	size_t el = 0;
	sm_h2_header_find(h, ev, "sec-websocket-extensions", &ext, &el);
	s->ws = sm_observe_ws_new(o->cfg, &o->sink, ev->stream_id, ext, el);
	if (!s->ws)
		slot_end(s);
	return true;
}

static void grpc_status(struct sm_observe_h2 *o, const struct sm_h2 *h,
                        const struct sm_h2_event *ev)
{
	const uint8_t *v, *m = (const uint8_t *)"";
	size_t vl, ml = 0;
	if (!sm_h2_header_find(h, ev, "grpc-status", &v, &vl))
		return;
	sm_h2_header_find(h, ev, "grpc-message", &m, &ml);
	int status = 0;
	for (size_t k = 0; k < vl && k < 3 && v[k] >= '0' && v[k] <= '9'; k++)
		status = status * 10 + (v[k] - '0');
	struct sm_event *e = o->sink.event(o->sink.ctx, SM_EV_GRPC_STATUS);
	if (!e)
		return;
	e->i[0] = ev->stream_id;
	e->i[1] = status;
	/* the text the server meant, not its percent-encoded wire form; more
	 * than the event holds is decoded so the cut is flagged */
	char text[SM_EVENT_STR_MAX + 4];
	bool cut;
	size_t tl = sm_grpc_message_decode((const char *)m, ml, text, sizeof(text), &cut);
	sm_event_set_str(e, 0, text, tl);
	o->sink.commit(o->sink.ctx);
}

void sm_observe_h2_event(struct sm_observe_h2 *o, const struct sm_h2 *h,
                         const struct sm_h2_event *ev)
{
	if (!o)
		return;
	switch (ev->type) {
	case SM_H2_EV_DATA: {
		struct h2_slot *s = slot_find(o, ev->stream_id, ev->dir);
		if (s)
			body_feed(&s->body, ev->data, ev->len);
		else if ((s = slot_find(o, ev->stream_id, OBS_WS)))
			sm_observe_ws_data(s->ws, ev->dir, ev->data, ev->len);
		return;
	}
	case SM_H2_EV_STREAM_END: {
		slot_end(slot_find(o, ev->stream_id, ev->dir));
		struct h2_slot *w = slot_find(o, ev->stream_id, OBS_WS);
		if (w && (w->ended |= (uint8_t)(1u << ev->dir)) == 3)
			slot_end(w);
		return;
	}
	case SM_H2_EV_STREAM_RESET:
		slot_end(slot_find(o, ev->stream_id, 0));
		slot_end(slot_find(o, ev->stream_id, 1));
		slot_end(slot_find(o, ev->stream_id, OBS_WS));
		return;
	case SM_H2_EV_TRAILERS: grpc_status(o, h, ev); return;
	case SM_H2_EV_REQUEST:
		if (!h2_ws_request(o, ev))
			h2_body_start(o, h, ev);
		return;
	case SM_H2_EV_RESPONSE:
		if (ev->flags & SM_H2_F_INTERIM)
			return;
		if (!h2_ws_response(o, h, ev))
			h2_body_start(o, h, ev);
		if (ev->flags & SM_H2_F_END_STREAM) /* trailers-only: gRPC errors */
			grpc_status(o, h, ev);
		return;
	default: return;
	}
}
