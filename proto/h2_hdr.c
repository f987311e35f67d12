/* proto/h2: budgeted memory, per-side header storage and
 * header-block validation (rules in proto/h2.h). */
#include <string.h>

#include "base/result.h"
#include "proto/h2_int.h"

/* ---- budgeted allocation: a size header in front of every block ---- */

#define HDR_SZ 16u

void *h2_alloc(struct sm_h2 *h, size_t n)
{
	if (n > h->lim.max_mem || h->mem_used + n + HDR_SZ > h->lim.max_mem) {
		h->stats.mem_limit++;
		return NULL;
	}
	uint8_t *p = malloc(n + HDR_SZ);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	h->mem_used += n + HDR_SZ;
	if (h->mem_used > h->stats.mem_peak)
		h->stats.mem_peak = h->mem_used;
	return p + HDR_SZ;
}

void h2_free(struct sm_h2 *h, void *p)
{
	if (!p)
		return;
	uint8_t *b = (uint8_t *)p - HDR_SZ;
	size_t n;
	memcpy(&n, b, sizeof(n));
	h->mem_used -= n + HDR_SZ;
	free(b);
}

void *h2_realloc(struct sm_h2 *h, void *p, size_t n)
{
	if (!p)
		return h2_alloc(h, n);
	if (n == 0) {
		h2_free(h, p);
		return NULL;
	}
	uint8_t *b = (uint8_t *)p - HDR_SZ;
	size_t old;
	memcpy(&old, b, sizeof(old));
	if (n > old && (n > h->lim.max_mem || h->mem_used + (n - old) > h->lim.max_mem)) {
		h->stats.mem_limit++;
		return NULL;
	}
	uint8_t *nb = realloc(b, n + HDR_SZ);
	if (!nb)
		return NULL;
	memcpy(nb, &n, sizeof(n));
	h->mem_used = h->mem_used - old + n;
	if (h->mem_used > h->stats.mem_peak)
		h->stats.mem_peak = h->mem_used;
	return nb + HDR_SZ;
}

/* ---- stream buffers ---- */

int h2_buf_put(struct sm_h2 *h, struct h2_buf *b, const uint8_t *p, size_t n, uint32_t max)
{
	if ((uint64_t)b->len + n > max)
		return -1;
	if (b->off + b->len + n > b->cap) {
		if (b->off) {
			memmove(b->p, b->p + b->off, b->len);
			b->off = 0;
		}
		if (b->len + n > b->cap) {
			size_t ncap = b->cap ? b->cap : 4096;
			while (ncap < b->len + n)
				ncap *= 2;
			if (ncap > max)
				ncap = max;
			uint8_t *q = h2_realloc(h, b->p, ncap);
			if (!q)
				return -2;
			b->p = q;
			b->cap = (uint32_t)ncap;
		}
	}
	memcpy(b->p + b->off + b->len, p, n);
	b->len += (uint32_t)n;
	h->buffered += n;
	if (h->buffered > h->stats.buffered_peak)
		h->stats.buffered_peak = h->buffered;
	return 0;
}

size_t h2_buf_take(struct sm_h2 *h, struct h2_buf *b, uint8_t *out, size_t max)
{
	size_t n = b->len < max ? b->len : max;
	if (!n)
		return 0;
	memcpy(out, b->p + b->off, n);
	b->off += (uint32_t)n;
	b->len -= (uint32_t)n;
	h->buffered -= n;
	if (b->len == 0)
		b->off = 0;
	return n;
}

/* ---- per-side header storage ---- */

/* Drops every stored block except the one being received, which moves to
 * the front. Only when no queued event points into the storage. */
void h2_arena_reset(struct sm_h2 *h, int side)
{
	struct h2_side *sd = &h->side[side];
	struct h2_block *b = &sd->blk;
	if (!b->active) {
		sd->alen = 0;
		sd->flen = 0;
		return;
	}
	uint32_t aoff = b->nfields ? sd->fields[b->first].noff : sd->alen;
	if (aoff < sd->alen && aoff > 0)
		memmove(sd->arena, sd->arena + aoff, sd->alen - aoff);
	sd->alen -= aoff;
	if (b->first > 0 && b->nfields)
		memmove(sd->fields, sd->fields + b->first, b->nfields * sizeof(*sd->fields));
	for (uint32_t i = 0; i < b->nfields; i++) {
		sd->fields[i].noff -= aoff;
		sd->fields[i].voff -= aoff;
	}
	for (int i = 0; i < PS_N; i++)
		if (b->ps_len[i])
			b->ps_off[i] -= aoff;
	b->first = 0;
	sd->flen = b->nfields;
}

void h2_block_begin(struct sm_h2 *h, int side, int32_t sid, uint8_t cat)
{
	struct h2_block *b = &h->side[side].blk;
	memset(b, 0, sizeof(*b));
	b->sid = sid;
	b->cat = cat;
	b->active = 1;
	b->first = h->side[side].flen;
	sm_hdrcheck_msg_init(&b->msg,
	                     SM_HDRCHECK_HTTP2 | (cat == H2_K_REQ ? SM_HDRCHECK_REQUEST : 0u));
}

static void fault(struct h2_block *b, int reason, int detail)
{
	if (!b->reason) {
		b->reason = (uint8_t)reason;
		b->detail = detail;
	}
}

static int pseudo_kind(const uint8_t *n, size_t len)
{
	static const char *const names[] = {":method", ":scheme", ":authority",
	                                    ":path",   ":status", ":protocol"};
	for (int i = 0; i < PS_N; i++)
		if (sm_hdrcheck_name_is(n, len, names[i]))
			return i;
	return -1;
}

static int is_connection_field(const uint8_t *n, size_t len)
{
	static const char *const names[] = {"connection", "keep-alive", "proxy-connection",
	                                    "transfer-encoding", "upgrade"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (sm_hdrcheck_name_is(n, len, names[i]))
			return 1;
	return 0;
}

static int grow(struct sm_h2 *h, struct h2_side *sd, size_t bytes)
{
	if (sd->alen + bytes > sd->acap) {
		size_t ncap = sd->acap ? sd->acap : 4096;
		while (ncap < sd->alen + bytes)
			ncap *= 2;
		uint8_t *a = h2_realloc(h, sd->arena, ncap);
		if (!a)
			return -1;
		sd->arena = a;
		sd->acap = (uint32_t)ncap;
	}
	if (sd->flen + 1 > sd->fcap) {
		uint32_t ncap = sd->fcap ? sd->fcap * 2 : 32;
		struct h2_field *f = h2_realloc(h, sd->fields, ncap * sizeof(*f));
		if (!f)
			return -1;
		sd->fields = f;
		sd->fcap = ncap;
	}
	return 0;
}

/* Storage high-water marks: one whole block always fits after a reset, so
 * receiving pauses (the caller pops events) before that could fail. */
static int storage_low(const struct sm_h2 *h, const struct h2_side *sd)
{
	return sd->alen + h->lim.max_header_list > 2 * h->lim.max_header_list ||
	       sd->flen + h->lim.max_header_fields > 2 * h->lim.max_header_fields;
}

int h2_block_field(struct sm_h2 *h, int side, const uint8_t *name, size_t nlen,
                   const uint8_t *value, size_t vlen, uint8_t flags)
{
	struct h2_side *sd = &h->side[side];
	struct h2_block *b = &sd->blk;
	b->size += nlen + vlen + 32;
	if (b->size > h->lim.max_header_list)
		fault(b, SM_H2_R_HEADER_LIST, 0);
	else if (b->nfields + 1 > h->lim.max_header_fields)
		fault(b, SM_H2_R_FIELDS, 0);
	if (b->reason)
		return 0; /* the block is refused: nothing more is stored */

	int pk = -1;
	if (nlen > 0 && name[0] == ':') {
		pk = pseudo_kind(name, nlen);
		int ok = pk >= 0 && !b->regular && !(b->pseudo & (1u << pk));
		if (b->cat == H2_K_REQ)
			ok = ok && pk != PS_STATUS && (pk != PS_PROTOCOL || h->xconnect);
		else if (b->cat == H2_K_RESP)
			ok = ok && pk == PS_STATUS;
		else
			ok = 0; /* trailers carry no pseudo-header */
		if (!ok) {
			fault(b, b->cat == H2_K_TRAIL ? SM_H2_R_TRAILERS : SM_H2_R_PSEUDO, 0);
			return 0;
		}
		b->pseudo |= (uint8_t)(1u << pk);
		if (sm_hdrcheck_value(value, vlen) != SM_HDRCHECK_OK) {
			fault(b, SM_H2_R_HEADER, sm_hdrcheck_value(value, vlen));
			return 0;
		}
	} else {
		b->regular = 1;
		for (size_t i = 0; i < nlen; i++)
			if (name[i] >= 'A' && name[i] <= 'Z') {
				fault(b, SM_H2_R_NAME_UPPERCASE, 0);
				return 0;
			}
		if (is_connection_field(name, nlen)) {
			fault(b, SM_H2_R_CONNECTION_FIELD, 0);
			return 0;
		}
		if (sm_hdrcheck_name_is(name, nlen, "te") &&
		    !sm_hdrcheck_name_is(value, vlen, "trailers")) {
			fault(b, SM_H2_R_TE, 0);
			return 0;
		}
		if (b->cat == H2_K_TRAIL && sm_hdrcheck_trailer_forbidden(name, nlen)) {
			h->stats.trailer_fields_dropped++; /* never forwarded */
			return 0;
		}
		enum sm_hdrcheck_reason r = sm_hdrcheck_msg_add(&b->msg, name, nlen, value, vlen);
		if (r != SM_HDRCHECK_OK) {
			fault(b, SM_H2_R_HEADER, (int)r);
			return 0;
		}
	}

	if (grow(h, sd, nlen + vlen) < 0) {
		fault(b, SM_H2_R_MEMORY, 0);
		return 0;
	}
	struct h2_field *f = &sd->fields[sd->flen++];
	f->noff = sd->alen;
	f->nlen = (uint32_t)nlen;
	memcpy(sd->arena + sd->alen, name, nlen);
	sd->alen += (uint32_t)nlen;
	f->voff = sd->alen;
	f->vlen = (uint32_t)vlen;
	memcpy(sd->arena + sd->alen, value, vlen);
	sd->alen += (uint32_t)vlen;
	f->flags = flags & NGHTTP2_NV_FLAG_NO_INDEX;
	b->nfields++;
	if (pk >= 0) {
		b->ps_off[pk] = f->voff;
		b->ps_len[pk] = f->vlen;
	} else if (sm_hdrcheck_name_is(name, nlen, "host")) {
		b->host_seen = 1; /* hdrcheck refuses a second one */
		b->host_off = f->voff;
		b->host_len = f->vlen;
	}
	if (storage_low(h, sd)) {
		if (h->evlen == 0)
			h2_arena_reset(h, side);
		else
			return NGHTTP2_ERR_PAUSE;
	}
	return 0;
}

static int same_ci(const uint8_t *x, const uint8_t *y, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t a = x[i] >= 'A' && x[i] <= 'Z' ? (uint8_t)(x[i] + 32) : x[i];
		uint8_t b = y[i] >= 'A' && y[i] <= 'Z' ? (uint8_t)(y[i] + 32) : y[i];
		if (a != b)
			return 0;
	}
	return 1;
}

static int status_ok(const uint8_t *v, uint32_t n, uint16_t *st)
{
	if (n != 3)
		return 0;
	unsigned x = 0;
	for (int i = 0; i < 3; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		x = x * 10 + (unsigned)(v[i] - '0');
	}
	*st = (uint16_t)x;
	return x >= 100 && x <= 599 && x != 101;
}

int h2_block_finish(struct sm_h2 *h, int side, int end_stream, uint16_t *status, int64_t *cl)
{
	struct h2_side *sd = &h->side[side];
	struct h2_block *b = &sd->blk;
	*cl = -1;
	if (b->reason)
		return b->reason;
	const uint8_t *a = sd->arena;
	if (b->cat == H2_K_REQ) {
		if (!(b->pseudo & (1u << PS_METHOD)))
			return SM_H2_R_PSEUDO;
		int connect = b->ps_len[PS_METHOD] == 7 &&
		              memcmp(a + b->ps_off[PS_METHOD], "CONNECT", 7) == 0;
		if (b->pseudo & (1u << PS_PROTOCOL)) {
			/* RFC 8441 extended CONNECT: all four plus :protocol */
			unsigned all = (1u << PS_SCHEME) | (1u << PS_PATH) | (1u << PS_AUTHORITY);
			if (!connect || (b->pseudo & all) != all || b->ps_len[PS_PATH] == 0 ||
			    b->ps_len[PS_PROTOCOL] == 0)
				return SM_H2_R_PSEUDO;
		} else if (connect) {
			if (b->pseudo != ((1u << PS_METHOD) | (1u << PS_AUTHORITY)))
				return SM_H2_R_PSEUDO;
		} else {
			unsigned need = (1u << PS_SCHEME) | (1u << PS_PATH);
			if ((b->pseudo & need) != need || b->ps_len[PS_PATH] == 0)
				return SM_H2_R_PSEUDO;
		}
		if (b->ps_len[PS_METHOD] == 0)
			return SM_H2_R_PSEUDO;
		/* RFC 9113 §8.3.1: an authority is required, and Host must not
		 * name another one (the h2->h1 routing confusion) */
		int has_auth = (b->pseudo & (1u << PS_AUTHORITY)) != 0;
		if (!has_auth && !b->host_seen)
			return SM_H2_R_HOST;
		if (has_auth && b->host_seen &&
		    (b->host_len != b->ps_len[PS_AUTHORITY] ||
		     !same_ci(a + b->host_off, a + b->ps_off[PS_AUTHORITY], b->host_len)))
			return SM_H2_R_HOST;
	} else if (b->cat == H2_K_RESP) {
		if (!(b->pseudo & (1u << PS_STATUS)))
			return SM_H2_R_PSEUDO;
		if (!status_ok(a + b->ps_off[PS_STATUS], b->ps_len[PS_STATUS], status))
			return SM_H2_R_STATUS;
		if (*status < 200 && end_stream)
			return SM_H2_R_STATUS; /* an interim response cannot end the stream */
	} else if (!end_stream) {
		return SM_H2_R_TRAILERS;
	}
	enum sm_hdrcheck_reason r = sm_hdrcheck_msg_finish(&b->msg);
	if (r != SM_HDRCHECK_OK) {
		b->detail = (int)r;
		return SM_H2_R_HEADER;
	}
	if (b->msg.framing == SM_HDRCHECK_FRAMING_LENGTH)
		*cl = (int64_t)b->msg.content_length;
	return 0;
}

size_t h2_block_nv(struct sm_h2 *h, int side)
{
	struct h2_side *sd = &h->side[side];
	struct h2_block *b = &sd->blk;
	for (uint32_t i = 0; i < b->nfields; i++) {
		const struct h2_field *f = &sd->fields[b->first + i];
		nghttp2_nv *nv = &h->nvscratch[i];
		nv->name = sd->arena + f->noff;
		nv->namelen = f->nlen;
		nv->value = sd->arena + f->voff;
		nv->valuelen = f->vlen;
		nv->flags = f->flags;
	}
	return b->nfields;
}

struct h2_trailers *h2_trailers_copy(struct sm_h2 *h, int side)
{
	struct h2_side *sd = &h->side[side];
	struct h2_block *b = &sd->blk;
	size_t bytes = 0;
	for (uint32_t i = 0; i < b->nfields; i++)
		bytes += sd->fields[b->first + i].nlen + sd->fields[b->first + i].vlen;
	struct h2_trailers *t = h2_alloc(h, sizeof(*t) + b->nfields * sizeof(nghttp2_nv) + bytes);
	if (!t)
		return NULL;
	t->n = b->nfields;
	uint8_t *p = (uint8_t *)(t->nv + b->nfields);
	for (uint32_t i = 0; i < b->nfields; i++) {
		const struct h2_field *f = &sd->fields[b->first + i];
		memcpy(p, sd->arena + f->noff, f->nlen);
		t->nv[i].name = p;
		t->nv[i].namelen = f->nlen;
		p += f->nlen;
		memcpy(p, sd->arena + f->voff, f->vlen);
		t->nv[i].value = p;
		t->nv[i].valuelen = f->vlen;
		p += f->vlen;
		t->nv[i].flags = f->flags;
	}
	return t;
}

int h2_block_header(struct sm_h2 *h, int side, int32_t sid, const uint8_t *name, size_t nlen,
                    const uint8_t *value, size_t vlen, uint8_t flags)
{
	const struct h2_block *b = &h->side[side].blk;
	if (!b->active || b->sid != sid)
		return 0;
	int rv = h2_block_field(h, side, name, nlen, value, vlen, flags);
	if (rv == 0 && !h2_ev_room(h))
		rv = NGHTTP2_ERR_PAUSE;
	return rv;
}
