/* HTTP/1.1 explicit-proxy front; the contract is in http1.h.
 *
 * Each direction is a `side`: an llhttp parser used for heads only, a raw
 * head buffer the parser always reads from (so every callback span points
 * into stable memory), the field table of the last head, a staging buffer
 * for the rewritten head, and an h1frame body delimiter. llhttp pauses at
 * on_headers_complete; bodies never go through llhttp (see h1frame.h). */
#include "proto/http1.h"

#include <stdalign.h>
#include <string.h>

#include "base/result.h"
#include "proto/http1_int.h"

/* ---- layout ---- */

static void limits_fill(struct sm_h1_limits *l, const struct sm_h1_limits *in)
{
	if (in)
		*l = *in;
	else
		memset(l, 0, sizeof(*l));
	if (!l->max_head)
		l->max_head = 16384;
	if (!l->max_target)
		l->max_target = l->max_head < 8192 ? l->max_head : 8192;
	if (!l->max_headers)
		l->max_headers = 100;
	if (!l->max_pipeline)
		l->max_pipeline = 8;
	if (!l->max_trailer)
		l->max_trailer = 4096;
}

size_t sm_h1_footprint(const struct sm_h1_limits *in)
{
	struct sm_h1_limits l;
	limits_fill(&l, in);
	return align16(sizeof(struct sm_h1)) +
	       2 * (align16(l.max_head) + align16(stage_cap(&l)) +
	            align16((size_t)l.max_headers * sizeof(struct sm_h1_field))) +
	       align16((size_t)l.max_pipeline * sizeof(struct sm_h1_pending));
}

/* ---- events ---- */

int sm_h1_next_event(struct sm_h1 *h, struct sm_h1_event *ev)
{
	if (h->ev_len == 0)
		return 0;
	*ev = h->evq[h->ev_head];
	h->ev_head = (uint8_t)((h->ev_head + 1) % EVQ_CAP);
	h->ev_len--;
	return 1;
}

/* ---- init ---- */

struct sm_h1 *sm_h1_init(void *mem, size_t len, const struct sm_h1_limits *lim)
{
	struct sm_h1_limits l;
	limits_fill(&l, lim);
	if (!mem || len < sm_h1_footprint(&l) || ((uintptr_t)mem % alignof(max_align_t)) != 0)
		return NULL;
	if (l.max_target > l.max_head || l.max_head > (1u << 20) || l.max_head < 64)
		return NULL;
	memset(mem, 0, sizeof(struct sm_h1));
	struct sm_h1 *h = mem;
	h->lim = l;
	uint8_t *cur = (uint8_t *)mem + align16(sizeof(struct sm_h1));
	sm_h1_side_init(h, &h->cli, 1, &cur);
	sm_h1_side_init(h, &h->srv, 0, &cur);
	h->fifo = (struct sm_h1_pending *)(void *)carve(&cur, l.max_pipeline *
	                                                              sizeof(struct sm_h1_pending));
	return h;
}

/* ---- sending ---- */

/* Moves staged head bytes to out; 1 when the stage is empty. */
static int flush_stage(struct sm_h1_side *s, struct sm_h1_out *o)
{
	size_t n = s->stage_len - s->stage_off;
	size_t room = o->cap - o->len;
	if (n > room)
		n = room;
	if (n) {
		memcpy(o->buf + o->len, s->stage + s->stage_off, n);
		o->len += n;
		s->stage_off += (uint32_t)n;
		s->forwarded = 1;
	}
	return s->stage_off == s->stage_len;
}

/* ---- observer ---- */

void sm_h1_set_observer(struct sm_h1 *h, const struct sm_h1_observer *obs, void *ctx)
{
	h->obs = obs;
	h->obs_ctx = ctx;
}

void sm_h1_obs_head(struct sm_h1 *h, struct sm_h1_side *s)
{
	if (!h->obs || s->obs_state != OBS_NONE)
		return;
	s->obs_state = OBS_OPEN;
	struct sm_h1_event ev = s->obs_ev;
	if (s->body.done)
		ev.flags |= SM_H1_F_NO_BODY;
	else if (s->body.kind == SM_H1FRAME_CHUNKED)
		ev.flags |= SM_H1_F_DECHUNKED;
	else if (s->body.kind == SM_H1FRAME_EOF)
		ev.flags |= SM_H1_F_UNTIL_CLOSE;
	ev.body_bytes = s->body.kind == SM_H1FRAME_LENGTH ? s->chk.content_length : 0;
	if (h->obs->head)
		h->obs->head(h->obs_ctx, !s->is_request, &ev);
}

void sm_h1_obs_end(struct sm_h1 *h, struct sm_h1_side *s, int complete)
{
	if (!h->obs || s->obs_state != OBS_OPEN)
		return;
	s->obs_state = OBS_ENDED;
	if (h->obs->end)
		h->obs->end(h->obs_ctx, !s->is_request, complete);
}

static void obs_body(void *ctx, const uint8_t *p, size_t n)
{
	struct sm_h1_side *s = ctx;
	s->h->obs->body(s->h->obs_ctx, !s->is_request, p, n);
}

/* ---- bodies and message ends ---- */

/* Forwards body bytes unchanged. Returns bytes consumed or an error. */
static long body_step(struct sm_h1 *h, struct sm_h1_side *s, const uint8_t *in, size_t len,
                      struct sm_h1_out *o)
{
	enum sm_h1frame_reason why;
	size_t room = o->cap - o->len;
	if (len > room)
		len = room;
	long n;
	if (h->obs && h->obs->body && s->obs_state == OBS_OPEN)
		n = sm_h1frame_body_data(&s->body, in, len, &why, obs_body, s);
	else
		n = sm_h1frame_body_feed(&s->body, in, len, &why);
	memcpy(o->buf + o->len, in, (size_t)n);
	o->len += (size_t)n;
	s->body_bytes += (uint64_t)n;
	if (why != SM_H1FRAME_OK)
		return sm_h1_fail(h, s, SM_H1_R_BODY, why); /* valid prefix already out */
	return n;
}

/* Response complete: pop the request and settle both connections. */
static void response_end(struct sm_h1 *h, struct sm_h1_side *s)
{
	sm_h1_obs_head(h, s); /* an EOF at once after a head flushed by server_eof */
	sm_h1_obs_end(h, s, 1);
	struct sm_h1_event *ev = ev_push(h, SM_H1_EV_RESPONSE_END);
	ev->status = s->code;
	ev->method = fifo_front(h)->method;
	ev->body_bytes = s->body_bytes;
	ev->flags = (s->close ? SM_H1_F_CLOSE_UPSTREAM : 0) |
	            (s->client_close ? SM_H1_F_CLOSE_CLIENT : 0);
	fifo_pop(h);
	if (s->client_close) {
		h->client_done = 1;
		if (h->cli.state == S_HEAD)
			h->cli.state = S_CLOSED;
	}
	s->fresh = 1;
	if (s->close) {
		h->up_live = 0;
		s->state = S_CLOSED;
	} else {
		s->state = S_HEAD;
	}
}

/* ---- feeds ---- */

long sm_h1_client_feed(struct sm_h1 *h, const uint8_t *in, size_t len, struct sm_h1_out *up)
{
	struct sm_h1_side *s = &h->cli;
	size_t pos = 0;
	long n;
	int done;

	s->just_parsed = 0;
	h->wait = SM_H1_WAIT_NONE;
	for (;;) {
		switch (s->state) {
		case S_HEAD:
			if (h->client_done) {
				s->state = S_CLOSED;
				continue;
			}
			if (s->just_parsed || ev_free(h) < 2) {
				h->wait = SM_H1_WAIT_EVENTS;
				return (long)pos;
			}
			if (pos == len)
				return (long)pos;
			if (s->fresh && h->fifo_len >= h->lim.max_pipeline) {
				h->stats.pipeline_full++;
				h->wait = SM_H1_WAIT_PIPELINE;
				return (long)pos;
			}
			n = sm_h1_head_step(h, s, in + pos, len - pos, &done);
			if (n < 0)
				return n;
			pos += (size_t)n;
			if (done) {
				n = sm_h1_request_head(h, s);
				if (n < 0)
					return n;
				s->just_parsed = 1;
			}
			continue;
		case S_HELD: h->wait = SM_H1_WAIT_HELD; return (long)pos;
		case S_SEND:
			if (!flush_stage(s, up)) {
				h->stats.out_full++;
				h->wait = SM_H1_WAIT_OUT_FULL;
				return (long)pos;
			}
			if (h->obs)
				sm_h1_obs_head(h, s);
			if (!s->body.done) {
				if (pos == len)
					return (long)pos;
				if (up->len == up->cap) {
					h->stats.out_full++;
					h->wait = SM_H1_WAIT_OUT_FULL;
					return (long)pos;
				}
				n = body_step(h, s, in + pos, len - pos, up);
				if (n < 0)
					return n;
				pos += (size_t)n;
				continue;
			}
			if (ev_free(h) < 2) {
				h->wait = SM_H1_WAIT_EVENTS;
				return (long)pos;
			}
			sm_h1_obs_end(h, s, 1);
			struct sm_h1_event *ev = ev_push(h, SM_H1_EV_REQUEST_END);
			ev->method = h->req_pending.method;
			ev->version = s->version;
			ev->body_bytes = s->body_bytes;
			ev->flags = s->close ? SM_H1_F_CLOSE_CLIENT : 0;
			s->fresh = 1;
			s->state = s->close ? S_CLOSED : S_HEAD;
			continue;
		case S_TUNNEL: h->wait = SM_H1_WAIT_TUNNEL; return (long)pos;
		case S_CLOSED:
			h->stats.dropped_after_close += len - pos;
			h->wait = SM_H1_WAIT_CLOSED;
			return (long)len;
		default: h->wait = SM_H1_WAIT_CLOSED; return SM_ERR_STATE;
		}
	}
}

long sm_h1_server_feed(struct sm_h1 *h, const uint8_t *in, size_t len, struct sm_h1_out *down)
{
	struct sm_h1_side *s = &h->srv;
	size_t pos = 0;
	long n;
	int done;

	s->just_parsed = 0;
	for (;;) {
		switch (s->state) {
		case S_HEAD:
			if (s->just_parsed || ev_free(h) < 2 || pos == len)
				return (long)pos;
			if (h->fifo_len == 0)
				return sm_h1_fail(h, s, SM_H1_R_UNSOLICITED, 0);
			n = sm_h1_head_step(h, s, in + pos, len - pos, &done);
			if (n < 0)
				return n;
			pos += (size_t)n;
			if (done) {
				n = sm_h1_response_head(h, s);
				if (n < 0)
					return n;
				s->just_parsed = 1;
			}
			continue;
		case S_SEND:
			if (!flush_stage(s, down))
				return (long)pos;
			if (h->obs && !s->interim)
				sm_h1_obs_head(h, s);
			if (s->upgrade) {
				sm_h1_obs_end(h, s, 1);
				s->state = S_TUNNEL;
				continue;
			}
			if (!s->body.done) {
				if (pos == len || down->len == down->cap)
					return (long)pos;
				n = body_step(h, s, in + pos, len - pos, down);
				if (n < 0)
					return n;
				pos += (size_t)n;
				continue;
			}
			if (s->interim) {
				s->fresh = 1;
				s->state = S_HEAD;
				continue;
			}
			if (ev_free(h) < 2)
				return (long)pos;
			response_end(h, s);
			continue;
		case S_TUNNEL: return (long)pos;
		case S_CLOSED: return (long)len; /* after "close" nothing more is a response */
		default: return SM_ERR_STATE;
		}
	}
}

int sm_h1_server_eof(struct sm_h1 *h, struct sm_h1_out *down)
{
	struct sm_h1_side *s = &h->srv;
	h->up_live = 0;
	switch (s->state) {
	case S_SEND:
		if (s->body.kind == SM_H1FRAME_EOF && sm_h1frame_body_eof(&s->body)) {
			if (!flush_stage(s, down) || ev_free(h) < 2)
				return SM_AGAIN;
			response_end(h, s);
			return SM_OK;
		}
		break;
	case S_HEAD:
		if (s->fresh && h->fifo_len == 0) {
			s->state = S_CLOSED;
			return SM_OK;
		}
		break;
	case S_TUNNEL:
	case S_CLOSED: return SM_OK;
	default: return SM_ERR_STATE;
	}
	/* cut inside a head or body, or requests left unanswered */
	if (s->state == S_HEAD)
		s->forwarded = 0; /* at most interim responses went out: 502 is still valid */
	return (int)sm_h1_fail(h, s, SM_H1_R_TRUNCATED, 0);
}

int sm_h1_client_eof(struct sm_h1 *h)
{
	struct sm_h1_side *s = &h->cli;
	switch (s->state) {
	case S_HEAD:
		if (s->fresh)
			break;
		return (int)sm_h1_fail(h, s, SM_H1_R_TRUNCATED, 0);
	case S_HELD:
	case S_SEND:
		if (!s->body.done)
			return (int)sm_h1_fail(h, s, SM_H1_R_TRUNCATED, 0);
		break;
	case S_DEAD: return SM_ERR_STATE;
	default: break;
	}
	h->client_done = 1;
	return SM_OK;
}

int sm_h1_release(struct sm_h1 *h)
{
	/* the upstream may have gone since the event: then it is a switch too */
	int sw = h->held_switch || !h->up_live;
	if (h->cli.state != S_HELD || (sw && h->fifo_len > 0))
		return SM_ERR_STATE;
	if (sw) {
		h->up_auth = h->req_auth;
		h->up_live = 1;
		h->srv.state = S_HEAD; /* a new connection: fresh parser */
		h->srv.fresh = 1;
	}
	fifo_push(h, h->req_pending);
	h->cli.state = S_SEND;
	return SM_OK;
}

enum sm_h1_wait sm_h1_client_wait(const struct sm_h1 *h)
{
	/* states changed by the server side or by release win over the last feed */
	switch (h->cli.state) {
	case S_HELD: return SM_H1_WAIT_HELD;
	case S_TUNNEL: return SM_H1_WAIT_TUNNEL;
	case S_CLOSED:
	case S_DEAD: return SM_H1_WAIT_CLOSED;
	default: break;
	}
	if (h->client_done)
		return SM_H1_WAIT_CLOSED;
	return (enum sm_h1_wait)h->wait;
}

unsigned sm_h1_outstanding(const struct sm_h1 *h)
{
	return h->fifo_len;
}

unsigned sm_h1_header_count(const struct sm_h1 *h, int response)
{
	return response ? h->srv.nfields : h->cli.nfields;
}

static int name_eq(const uint8_t *a, size_t n, const char *b)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t x = a[i], y = (uint8_t)b[i];
		if (y == 0)
			return 0;
		x = (x >= 'A' && x <= 'Z') ? (uint8_t)(x + 32) : x;
		y = (y >= 'A' && y <= 'Z') ? (uint8_t)(y + 32) : y;
		if (x != y)
			return 0;
	}
	return b[n] == 0;
}

int sm_h1_header_find(const struct sm_h1 *h, int response, const char *name, const uint8_t **value,
                      size_t *vlen)
{
	const struct sm_h1_side *s = response ? &h->srv : &h->cli;
	for (unsigned i = 0; i < s->nfields; i++) {
		const struct sm_h1_field *f = &s->fields[i];
		if (name_eq(s->raw + f->name.off, f->name.len, name)) {
			*value = s->raw + f->value.off;
			*vlen = f->value.len;
			return 1;
		}
	}
	return 0;
}

int sm_h1_header(const struct sm_h1 *h, int response, unsigned i, const uint8_t **name,
                 size_t *nlen, const uint8_t **value, size_t *vlen)
{
	const struct sm_h1_side *s = response ? &h->srv : &h->cli;
	if (i >= s->nfields)
		return SM_ERR_INVALID;
	*name = s->raw + s->fields[i].name.off;
	*nlen = s->fields[i].name.len;
	*value = s->raw + s->fields[i].value.off;
	*vlen = s->fields[i].value.len;
	return SM_OK;
}

const struct sm_h1_stats *sm_h1_stats(const struct sm_h1 *h)
{
	return &h->stats;
}

void sm_h1_set_origin(struct sm_h1 *h, const struct sm_authority *auth)
{
	h->origin_mode = 1;
	h->up_auth = *auth;
	h->up_live = 1;
}

int sm_h1_request_started(const struct sm_h1 *h)
{
	return h->cli.state == S_HEAD && !h->cli.fresh;
}

int sm_h1_response_awaited(const struct sm_h1 *h)
{
	return h->fifo_len > 0 && h->srv.state == S_HEAD;
}
