/* proto/h2: the event queue and the read-only API (events, header
 * accessors, counters). */
#include <string.h>

#include "base/result.h"
#include "proto/h2_int.h"

/* ---- event queue: a compacting array, grown up to evmax ---- */

int h2_ev_room(const struct sm_h2 *h)
{
	return h->evlen < h->ev_soft;
}

int h2_ev_push(struct sm_h2 *h, const struct h2_ev *e)
{
	if (h->evhead + h->evlen == h->evcap) {
		if (h->evhead > 0) {
			memmove(h->evq, h->evq + h->evhead, h->evlen * sizeof(*h->evq));
			h->evhead = 0;
		} else {
			uint32_t ncap = h->evcap ? h->evcap * 2 : 32;
			uint32_t evmax = 64 + 8 * h->nslots;
			if (ncap > evmax)
				ncap = evmax;
			if (ncap <= h->evcap)
				return -1;
			struct h2_ev *q = h2_realloc(h, h->evq, ncap * sizeof(*q));
			if (!q)
				return -1;
			h->evq = q;
			h->evcap = ncap;
		}
	}
	h->evq[h->evhead + h->evlen++] = *e;
	return 0;
}

unsigned sm_h2_open_streams(const struct sm_h2 *h)
{
	return h->nopen; /* the translators keep it too */
}

int sm_h2_next_event(struct sm_h2 *h, struct sm_h2_event *ev)
{
	if (h->evlen == 0)
		return 0;
	const struct h2_ev *e = &h->evq[h->evhead];
	memset(ev, 0, sizeof(*ev));
	ev->type = e->type;
	ev->dir = e->dir;
	ev->who = e->who;
	ev->reason = e->reason;
	ev->flags = e->flags;
	ev->status = e->status;
	ev->stream_id = e->sid;
	ev->upstream_id = e->usid;
	ev->code = e->code;
	ev->last_id = e->last_id;
	ev->detail = e->detail;
	ev->data = e->data;
	ev->len = e->len;
	ev->nheaders = e->nheaders;
	ev->hfirst_ = e->hfirst;
	if (e->type == SM_H2_EV_REQUEST) {
		const uint8_t *a = h->side[SM_H2_CLIENT].arena;
		const uint8_t **p[PS_N] = {&ev->method, &ev->scheme, &ev->authority,
		                           &ev->path,   NULL,        &ev->protocol};
		uint32_t *l[PS_N] = {
		        &ev->method_len,  &ev->scheme_len, &ev->authority_len, &ev->path_len, NULL,
		        &ev->protocol_len};
		for (int i = 0; i < PS_N; i++)
			if (e->ps_has[i] && p[i]) {
				*p[i] = a + e->ps_off[i];
				*l[i] = e->ps_len[i];
			}
	}
	h->evhead++;
	if (--h->evlen == 0)
		h->evhead = 0;
	return 1;
}

int sm_h2_header(const struct sm_h2 *h, const struct sm_h2_event *ev, unsigned i,
                 const uint8_t **name, size_t *nlen, const uint8_t **value, size_t *vlen)
{
	if (ev->type != SM_H2_EV_REQUEST && ev->type != SM_H2_EV_RESPONSE &&
	    ev->type != SM_H2_EV_TRAILERS)
		return 0;
	if (i >= ev->nheaders || ev->dir > 1)
		return 0;
	const struct h2_side *sd = &h->side[ev->dir];
	const struct h2_field *f = &sd->fields[ev->hfirst_ + i];
	*name = sd->arena + f->noff;
	*nlen = f->nlen;
	*value = sd->arena + f->voff;
	*vlen = f->vlen;
	return 1;
}

int sm_h2_header_find(const struct sm_h2 *h, const struct sm_h2_event *ev, const char *name,
                      const uint8_t **value, size_t *vlen)
{
	const uint8_t *n, *v;
	size_t nl, vl;
	for (unsigned i = 0; sm_h2_header(h, ev, i, &n, &nl, &v, &vl); i++) {
		if (sm_hdrcheck_name_is(n, nl, name)) {
			*value = v; /* untouched when not found */
			*vlen = vl;
			return 1;
		}
	}
	return 0;
}

const struct sm_h2_stats *sm_h2_stats(const struct sm_h2 *h)
{
	return &h->stats;
}

size_t sm_h2_mem_used(const struct sm_h2 *h)
{
	return h->mem_used;
}

size_t sm_h2_buffered(const struct sm_h2 *h)
{
	return h->buffered;
}

const char *sm_h2_reason_str(enum sm_h2_reason r)
{
	switch (r) {
	case SM_H2_R_NONE: return "none";
	case SM_H2_R_HEADER: return "header";
	case SM_H2_R_NAME_UPPERCASE: return "name_uppercase";
	case SM_H2_R_CONNECTION_FIELD: return "connection_field";
	case SM_H2_R_TE: return "te";
	case SM_H2_R_PSEUDO: return "pseudo";
	case SM_H2_R_STATUS: return "status";
	case SM_H2_R_HEADER_LIST: return "header_list";
	case SM_H2_R_FIELDS: return "fields";
	case SM_H2_R_LENGTH: return "length";
	case SM_H2_R_NO_SLOT: return "no_slot";
	case SM_H2_R_NGHTTP2: return "nghttp2";
	case SM_H2_R_PEER: return "peer";
	case SM_H2_R_REFUSED: return "refused";
	case SM_H2_R_MEMORY: return "memory";
	case SM_H2_R_SIDE_CLOSED: return "side_closed";
	case SM_H2_R_TRAILERS: return "trailers";
	case SM_H2_R_BUFFER: return "buffer";
	case SM_H2_R_HOST: return "host";
	case SM_H2_R_CONNECT: return "connect";
	case SM_H2_R_TARGET: return "target";
	case SM_H2_R_UPSTREAM_HTTP1: return "upstream_http1";
	case SM_H2_R_CLIENT_HTTP1: return "client_http1";
	case SM_H2_R_RAPID_RESET: return "rapid_reset";
	case SM_H2_R_STREAM_FLOOD: return "stream_flood";
	}
	return "unknown";
}
