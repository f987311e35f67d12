#include "core/observe.h"

#include <string.h>
#include <strings.h>

#include "core/front.h"
#include "base/result.h"
#include <stdlib.h>

#include "observe/pipeline.h"
#include "proto/websocket.h"
#include "proto/ws_deflate.h"
#include "proto/ws_turn.h"
#include "telemetry/event.h"

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

void sm_observe_emit(struct sm_reactor *r, struct sm_flow *f, int dir, int framing, int32_t stream,
                     const char *ctype, const struct sm_pipe_event *pe)
{
	bool unit = pe->stage == SM_PIPE_PAYLOAD && pe->type == SM_PIPE_EV_PAYLOAD;
	int type = pe->type == SM_PIPE_EV_ERROR            ? SM_EV_PARSE_ERROR
	           : unit && framing == SM_PIPE_FRAME_GRPC ? SM_EV_GRPC_MESSAGE
	           : unit && framing == SM_PIPE_FRAME_SSE  ? SM_EV_SSE_EVENT
	                                                   : SM_EV_PAYLOAD;
	struct sm_event *ev = sm_flow_event(r, f, type);
	if (!ev)
		return;
	ev->i[0] = dir;
	const char *kind = sm_pipe_kind_str(pe->kind);
	switch (type) {
	case SM_EV_PARSE_ERROR:
		if (pe->result == SM_ERR_BOMB)
			SM_CTR_INC(r, parse_errors[SM_PARSE_DECODE_BOMB]);
		ev->i[1] = pe->stage;
		ev->i[2] = pe->fatal;
		ev->i[3] = stream;
		sm_event_set_str(ev, 0, pe->who, strlen(pe->who));
		sm_event_set_str(ev, 1, pe->reason, strlen(pe->reason));
		break;
	case SM_EV_GRPC_MESSAGE:
		ev->i[1] = stream;
		ev->i[2] = (int64_t)pe->wire_length;
		ev->i[3] = pe->compressed;
		ev->i[4] = pe->compressed && !pe->decoded ? -1 : (int64_t)pe->length;
		sm_event_set_str(ev, 0, (const char *)pe->excerpt, pe->excerpt_len);
		break;
	case SM_EV_SSE_EVENT:
		ev->i[1] = (int64_t)pe->unit;
		ev->i[2] = (int64_t)pe->length;
		ev->i[3] = stream;
		sm_event_set_str(ev, 0, pe->label, pe->label_len);
		sm_event_set_str(ev, 1, (const char *)pe->excerpt, pe->excerpt_len);
		sm_event_set_str(ev, 2, kind, strlen(kind));
		break;
	default:
		ev->i[1] = pe->kind;
		ev->i[2] = pe->partial ? -1 : (int64_t)pe->length;
		ev->i[3] = pe->sanitized;
		ev->i[4] = stream;
		sm_event_set_str(ev, 0, (const char *)pe->excerpt, pe->excerpt_len);
		sm_event_set_str(ev, 1, pe->guard, strlen(pe->guard));
		sm_event_set_str(ev, 2, ctype ? ctype : "", ctype ? strlen(ctype) : 0);
		break;
	}
	sm_flow_event_commit(r);
}

struct sm_pipe *sm_observe_pipe(const struct sm_config *cfg, const uint8_t *ct, size_t ctl,
                                const uint8_t *ce, size_t cel, const uint8_t *ge, size_t gel,
                                sm_pipe_cb cb, void *ctx)
{
	bool sse = has_prefix(ct, ctl, "text/event-stream");
	bool grpc = has_prefix(ct, ctl, "application/grpc");
	bool decodable = contains(ct, ctl, "json") || contains(ct, ctl, "msgpack") ||
	                 has_prefix(ct, ctl, "text/");
	if ((sse && !cfg->observe.sse) || (grpc && !cfg->observe.grpc) ||
	    (!sse && !grpc && (!cfg->observe.decoders || !decodable)))
		return NULL;
	struct sm_pipe_config pc = {
	        .content = {.max_input = cfg->observe.max_message_bytes,
	                    .max_output = cfg->observe.max_message_bytes},
	        .msgpack = {.max_depth = 64,
	                    .max_elements = 1u << 16,
	                    .max_output = cfg->observe.max_message_bytes},
	        .max_unit = cfg->observe.max_message_bytes,
	        .excerpt = cfg->observe.excerpt_bytes,
	        .max_event = cfg->observe.max_message_bytes,
	        .prefix = cfg->observe.whole_bodies ? 0 : SM_OBSERVE_PREFIX,
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
	return sm_pipe_new(&pc, &ph, cb, ctx);
}

static void on_pipe(void *ctx, const struct sm_pipe_event *pe)
{
	struct sm_observe_ctx *c = ctx;
	struct sm_front *fr = c->f->front;
	sm_observe_emit(c->r, c->f, c->dir, fr->obs_framing[c->dir], 0, fr->obs_type[c->dir], pe);
}

static void close_pipe(struct sm_front *fr, int dir)
{
	if (fr->obs_pipe[dir]) {
		sm_pipe_finish(fr->obs_pipe[dir]);
		sm_pipe_free(fr->obs_pipe[dir]);
		fr->obs_pipe[dir] = NULL;
	}
}

static void on_head(void *ctx, int dir, const struct sm_h1_event *hev)
{
	struct sm_observe_ctx *c = &((struct sm_observe_ctx *)ctx)[dir];
	struct sm_reactor *r = c->r;
	struct sm_front *fr = c->f->front;
	close_pipe(fr, dir);
	if (hev->flags & SM_H1_F_NO_BODY)
		return;
	const uint8_t *ct = (const uint8_t *)"", *ce = (const uint8_t *)"", *ge = NULL;
	size_t ctl = 0, cel = 0, gel = 0;
	sm_h1_header_find(fr->h1, dir, "content-type", &ct, &ctl);
	sm_h1_header_find(fr->h1, dir, "content-encoding", &ce, &cel);
	sm_h1_header_find(fr->h1, dir, "grpc-encoding", &ge, &gel);
	size_t tl = ctl < sizeof(fr->obs_type[dir]) - 1 ? ctl : sizeof(fr->obs_type[dir]) - 1;
	memcpy(fr->obs_type[dir], ct, tl);
	fr->obs_type[dir][tl] = 0;
	fr->obs_pipe[dir] = sm_observe_pipe(r->cfg, ct, ctl, ce, cel, ge, gel, on_pipe, c);
	fr->obs_framing[dir] = fr->obs_pipe[dir] ? (uint8_t)sm_pipe_framing(fr->obs_pipe[dir]) : 0;
}

static void on_body(void *ctx, int dir, const uint8_t *p, size_t n)
{
	struct sm_observe_ctx *c = &((struct sm_observe_ctx *)ctx)[dir];
	struct sm_front *fr = c->f->front;
	if (fr->obs_pipe[dir] && sm_pipe_feed(fr->obs_pipe[dir], p, n) < 0)
		close_pipe(fr, dir); /* the pipeline reported it; traffic goes on */
}

static void on_end(void *ctx, int dir, int complete)
{
	struct sm_observe_ctx *c = &((struct sm_observe_ctx *)ctx)[dir];
	(void)complete;
	close_pipe(c->f->front, dir);
}

static const struct sm_h1_observer observer = {on_head, on_body, on_end};

void sm_observe_attach(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	const struct sm_config *cfg = r->cfg;
	if (!cfg->observe.sse && !cfg->observe.decoders && !cfg->observe.grpc)
		return;
	for (int d = 0; d < 2; d++)
		fr->obs_ctx[d] = (struct sm_observe_ctx){r, f, d};
	sm_h1_set_observer(fr->h1, &observer, fr->obs_ctx);
}

void sm_observe_ws_end(struct sm_flow *f);

void sm_observe_detach(struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	if (!fr)
		return;
	close_pipe(fr, 0);
	close_pipe(fr, 1);
	sm_observe_ws_end(f);
}

/* ---- WebSocket (after a 101, or on an RFC 8441 stream) ---------------------- */

struct sm_ws_obs {
	struct sm_reactor *r;
	struct sm_flow *f;
	int32_t stream; /* HTTP/2 stream id; 0 after an HTTP/1.1 101 */
	struct sm_ws *p[2];
	struct sm_ws_turn turn;
	bool closed_seen;
};

static void on_turn(void *ctx, const struct sm_ws_turn_event *te)
{
	struct sm_ws_obs *o = ctx;
	struct sm_event *ev = sm_flow_event(o->r, o->f, SM_EV_WS_TURN);
	if (!ev)
		return;
	ev->i[0] = te->dir;
	ev->i[1] = te->messages;
	ev->i[2] = (int64_t)te->bytes;
	ev->i[3] = (int64_t)((te->last_ns - te->first_ns) / 1000);
	ev->i[4] = te->why;
	ev->i[5] = o->stream;
	sm_flow_event_commit(o->r);
}

/* An inflate failure is a content-stage error of "permessage-deflate",
 * named like the content decoders' reasons; the rest are framing errors. */
static void ws_error(struct sm_ws_obs *o, const struct sm_ws_event *we)
{
	struct sm_event *ev = sm_flow_event(o->r, o->f, SM_EV_PARSE_ERROR);
	if (!ev)
		return;
	const char *who = "", *why = sm_ws_reason_str(we->error);
	ev->i[1] = SM_PIPE_FRAMING;
	switch (we->error) {
	case SM_WS_R_INFLATE_CORRUPT: why = "corrupt"; break;
	case SM_WS_R_INFLATE_BOMB:
		why = "bomb";
		SM_CTR_INC(o->r, parse_errors[SM_PARSE_DECODE_BOMB]);
		break;
	case SM_WS_R_INFLATE_NOMEM: why = "nomem"; break;
	default: who = NULL; break;
	}
	if (who) {
		ev->i[1] = SM_PIPE_CONTENT;
		who = "permessage-deflate";
	} else {
		who = "websocket";
	}
	ev->i[0] = we->dir;
	ev->i[2] = we->fatal;
	ev->i[3] = o->stream;
	sm_event_set_str(ev, 0, who, strlen(who));
	sm_event_set_str(ev, 1, why, strlen(why));
	sm_flow_event_commit(o->r);
}

static void on_ws(void *ctx, const struct sm_ws_event *we)
{
	struct sm_ws_obs *o = ctx;
	struct sm_reactor *r = o->r;
	struct sm_flow *f = o->f;
	sm_ws_turn_on_event(&o->turn, we, sm_now_ns());
	struct sm_event *ev;
	switch (we->type) {
	case SM_WS_EV_MESSAGE:
		ev = sm_flow_event(r, f, SM_EV_WS_MESSAGE);
		if (!ev)
			return;
		ev->i[0] = we->dir;
		ev->i[1] = we->opcode;
		ev->i[2] = (int64_t)we->length;
		ev->i[3] = we->compressed;
		ev->i[4] = we->compressed && !we->decoded ? -1 : (int64_t)we->decoded_length;
		ev->i[5] = o->stream;
		sm_event_set_str(ev, 0, (const char *)we->excerpt, we->excerpt_len);
		sm_flow_event_commit(r);
		return;
	case SM_WS_EV_CLOSE:
		if (o->closed_seen)
			return; /* the answer to a close: the first one names who closed */
		o->closed_seen = true;
		ev = sm_flow_event(r, f, SM_EV_WS_CLOSE);
		if (!ev)
			return;
		ev->i[0] = we->dir;
		ev->i[1] = we->close_code;
		ev->i[2] = o->stream;
		sm_event_set_str(ev, 0, we->reason, we->reason_len);
		sm_flow_event_commit(r);
		return;
	case SM_WS_EV_ERROR: ws_error(o, we); return;
	default: return;
	}
}

struct sm_ws_obs *sm_observe_ws_new(struct sm_reactor *r, struct sm_flow *f, int32_t stream,
                                    const uint8_t *ext, size_t el)
{
	if (!r->cfg->observe.websocket)
		return NULL;
	struct sm_ws_obs *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->r = r;
	o->f = f;
	o->stream = stream;
	struct sm_ws_deflate_params dp;
	sm_ws_deflate_parse((const char *)ext, ext ? el : 0, &dp);
	uint32_t max = r->cfg->observe.max_message_bytes;
	for (int d = 0; d < 2; d++) {
		struct sm_ws_config wc = {
		        .dir = (enum sm_ws_dir)d,
		        .permessage_deflate = dp.on,
		        .max_message = max,
		        .excerpt =
		                r->cfg->observe.excerpt_bytes ? r->cfg->observe.excerpt_bytes : 1,
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

void sm_observe_ws_data(struct sm_ws_obs *o, int dir, const uint8_t *p, size_t n)
{
	if (o && o->p[dir])
		sm_ws_feed(o->p[dir], p, n); /* errors arrive as events; traffic goes on */
}

void sm_observe_ws_free(struct sm_ws_obs *o)
{
	if (!o)
		return;
	sm_ws_turn_close(&o->turn);
	sm_ws_free(o->p[0]);
	sm_ws_free(o->p[1]);
	free(o);
}

bool sm_observe_ws_start(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	if (fr->ws)
		return false;
	const uint8_t *ext = NULL;
	size_t el = 0;
	sm_h1_header_find(fr->h1, 1, "sec-websocket-extensions", &ext, &el);
	fr->ws = sm_observe_ws_new(r, f, 0, ext, el);
	return fr->ws != NULL;
}

void sm_observe_ws_feed(struct sm_flow *f, int dir, const uint8_t *p, size_t n)
{
	sm_observe_ws_data(f->front ? f->front->ws : NULL, dir, p, n);
}

void sm_observe_ws_end(struct sm_flow *f)
{
	if (!f->front)
		return;
	sm_observe_ws_free(f->front->ws);
	f->front->ws = NULL;
}
