/* proto/http1 heads: llhttp callbacks that record spans into side->raw,
 * head validation, the forwarding rewrite, and error events. */
#include <stdio.h>
#include <string.h>

#include "base/result.h"
#include "proto/http1_int.h"

/* ---- llhttp callbacks: record spans into side->raw ---- */

static struct sm_h1_side *side_of(llhttp_t *p)
{
	return p->data;
}

static uint32_t off_of(struct sm_h1_side *s, const char *at)
{
	return (uint32_t)((const uint8_t *)at - s->raw);
}

static int cb_fail(struct sm_h1_side *s, enum sm_h1_reason r, unsigned detail)
{
	s->cb_reason = (uint8_t)r;
	s->cb_detail = (uint16_t)detail;
	return HPE_USER;
}

static int on_message_begin(llhttp_t *p)
{
	struct sm_h1_side *s = side_of(p);
	s->nfields = 0;
	s->url = (struct sm_h1_span){0, 0};
	s->status = (struct sm_h1_span){0, 0};
	s->url_done = s->in_name = s->val_open = 0;
	sm_hdrcheck_msg_init(&s->chk, s->is_request ? SM_HDRCHECK_REQUEST : 0);
	return 0;
}

static void span_extend(struct sm_h1_side *s, struct sm_h1_span *sp, int *open, const char *at,
                        size_t len)
{
	/* pieces of one token are contiguous in raw except around obs-fold,
	 * which the span then covers so hdrcheck sees the CRLF */
	if (!*open) {
		sp->off = off_of(s, at);
		*open = 1;
	}
	sp->len = off_of(s, at) + (uint32_t)len - sp->off;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct sm_h1_side *s = side_of(p);
	int open = s->url.len > 0;
	span_extend(s, &s->url, &open, at, len);
	if (s->url.len > s->h->lim.max_target) {
		s->h->stats.target_too_long++;
		return cb_fail(s, SM_H1_R_TARGET_TOO_LONG, 0);
	}
	return 0;
}

static int on_url_complete(llhttp_t *p)
{
	side_of(p)->url_done = 1;
	return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t len)
{
	struct sm_h1_side *s = side_of(p);
	int open = s->status.len > 0;
	span_extend(s, &s->status, &open, at, len);
	return 0;
}

static int on_version_complete(llhttp_t *p)
{
	struct sm_h1_side *s = side_of(p);
	if (p->http_major == 1 && p->http_minor == 0)
		s->chk.flags |= SM_HDRCHECK_HTTP10;
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct sm_h1_side *s = side_of(p);
	int open = s->in_name;
	span_extend(s, &s->cur_name, &open, at, len);
	s->in_name = 1;
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct sm_h1_side *s = side_of(p);
	int open = s->val_open;
	span_extend(s, &s->cur_val, &open, at, len);
	s->val_open = 1;
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	struct sm_h1_side *s = side_of(p);
	struct sm_h1_span v = s->val_open ? s->cur_val : (struct sm_h1_span){0, 0};
	while (v.len > 0 && (s->raw[v.off + v.len - 1] == ' ' || s->raw[v.off + v.len - 1] == '\t'))
		v.len--;
	if (s->nfields >= s->h->lim.max_headers) {
		s->h->stats.too_many_headers++;
		return cb_fail(s, SM_H1_R_TOO_MANY_HEADERS, 0);
	}
	s->fields[s->nfields].name = s->in_name ? s->cur_name : (struct sm_h1_span){0, 0};
	s->fields[s->nfields].value = v;
	s->nfields++;
	s->in_name = s->val_open = 0;
	const struct sm_h1_field *f = &s->fields[s->nfields - 1];
	enum sm_hdrcheck_reason r = sm_hdrcheck_msg_add(&s->chk, s->raw + f->name.off, f->name.len,
	                                                s->raw + f->value.off, f->value.len);
	if (r != SM_HDRCHECK_OK)
		return cb_fail(s, SM_H1_R_HEADER, r);
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	return HPE_PAUSED; /* we delimit bodies ourselves; error_pos = end of head */
}

static const llhttp_settings_t settings = {
        .on_message_begin = on_message_begin,
        .on_url = on_url,
        .on_status = on_status,
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_headers_complete = on_headers_complete,
        .on_url_complete = on_url_complete,
        .on_version_complete = on_version_complete,
        .on_header_value_complete = on_header_value_complete,
};

void sm_h1_side_init(struct sm_h1 *h, struct sm_h1_side *s, int is_request, uint8_t **cur)
{
	s->h = h;
	s->is_request = (uint8_t)is_request;
	s->raw = carve(cur, h->lim.max_head);
	s->stage = carve(cur, stage_cap(&h->lim));
	s->fields = (struct sm_h1_field *)(void *)carve(cur, h->lim.max_headers *
	                                                             sizeof(struct sm_h1_field));
	llhttp_init(&s->p, is_request ? HTTP_REQUEST : HTTP_RESPONSE, &settings);
	s->p.data = s;
	s->fresh = 1;
	s->state = S_HEAD;
}

/* ---- errors ---- */

long sm_h1_fail(struct sm_h1 *h, struct sm_h1_side *s, enum sm_h1_reason r, unsigned detail)
{
	unsigned status = 400;
	long code = SM_ERR_INVALID;
	switch (r) {
	case SM_H1_R_HEAD_TOO_LARGE:
	case SM_H1_R_TOO_MANY_HEADERS:
		status = 431;
		code = SM_ERR_LIMIT;
		break;
	case SM_H1_R_TARGET_TOO_LONG:
		status = 414;
		code = SM_ERR_LIMIT;
		break;
	case SM_H1_R_VERSION:
		status = 505;
		code = SM_ERR_UNSUPPORTED;
		break;
	case SM_H1_R_HEADER:
		if (detail == SM_HDRCHECK_TE_UNSUPPORTED) {
			status = 501;
			code = SM_ERR_UNSUPPORTED;
		}
		break;
	case SM_H1_R_UNSOLICITED: code = SM_ERR_PROTOCOL; break;
	case SM_H1_R_TRUNCATED: code = SM_ERR_TRUNCATED; break;
	default: break;
	}
	if (!s->is_request)
		status = 502;
	if (h->ev_len == EVQ_CAP)
		h->ev_len--; /* unreachable: pushes keep one slot free for this */
	struct sm_h1_event *ev = ev_push(h, SM_H1_EV_ERROR);
	ev->status = (uint16_t)status;
	ev->reason = (uint8_t)r;
	ev->detail = (uint16_t)detail;
	ev->flags = (s->forwarded ? SM_H1_F_FORWARDED : 0) |
	            (s->is_request ? 0 : SM_H1_F_UPSTREAM_SIDE);
	/* a message being observed is cut: on this side, and on the client
	 * side too when the upstream fails (it ends everything) */
	sm_h1_obs_end(h, s, 0);
	if (!s->is_request)
		sm_h1_obs_end(h, &h->cli, 0);
	/* a client fault leaves outstanding responses flowing; an upstream
	 * fault ends everything */
	h->cli.state = S_DEAD;
	h->client_done = 1;
	if (!s->is_request)
		h->srv.state = S_DEAD;
	h->wait = SM_H1_WAIT_CLOSED;
	return code;
}

static long parse_fail(struct sm_h1 *h, struct sm_h1_side *s, llhttp_errno_t e)
{
	/* llhttp reports a failing *_complete callback as HPE_CB_*, not HPE_USER */
	if (s->cb_reason != SM_H1_R_NONE)
		return sm_h1_fail(h, s, (enum sm_h1_reason)s->cb_reason, s->cb_detail);
	/* refine with our own scan of the bytes before the error position,
	 * which llhttp reports the same however the input was split */
	const uint8_t *ep = (const uint8_t *)llhttp_get_error_pos(&s->p);
	size_t end = 0;
	if (ep && ep >= s->raw && ep <= s->raw + s->raw_fill)
		end = (size_t)(ep - s->raw);
	/* on_url only sees the target when its span ends or a feed ends; an
	 * error further on must not hide a target already over the limit */
	if (s->is_request && !s->url_done) {
		const uint8_t *sp = memchr(s->raw, ' ', end);
		if (sp && end > (size_t)(sp - s->raw) + 1 + s->h->lim.max_target) {
			s->h->stats.target_too_long++;
			return sm_h1_fail(h, s, SM_H1_R_TARGET_TOO_LONG, 0);
		}
	}
	if (end > 0 && s->raw[end - 1] == '\r')
		end--;
	enum sm_hdrcheck_reason hr = sm_h1frame_scan_head(s->raw, end, s->is_request);
	if (hr != SM_HDRCHECK_OK)
		return sm_h1_fail(h, s, SM_H1_R_HEADER, hr);
	const char *why = llhttp_get_error_reason(&s->p);
	switch (e) {
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		hr = (why && strstr(why, "Duplicate")) ? SM_HDRCHECK_CL_REPEATED
		                                       : SM_HDRCHECK_CL_AND_TE;
		return sm_h1_fail(h, s, SM_H1_R_HEADER, hr);
	case HPE_LF_EXPECTED: /* a CR followed by something else */
		return sm_h1_fail(h, s, SM_H1_R_HEADER, SM_HDRCHECK_BARE_CR);
	case HPE_CR_EXPECTED: return sm_h1_fail(h, s, SM_H1_R_HEADER, SM_HDRCHECK_BARE_LF);
	case HPE_INVALID_CONTENT_LENGTH:
		return sm_h1_fail(h, s, SM_H1_R_HEADER, SM_HDRCHECK_CL_INVALID);
	case HPE_INVALID_TRANSFER_ENCODING:
		return sm_h1_fail(h, s, SM_H1_R_HEADER, SM_HDRCHECK_TE_NOT_CHUNKED);
	case HPE_INVALID_HEADER_TOKEN:
		hr = (why && strstr(why, "value")) ? SM_HDRCHECK_VALUE_CTL : SM_HDRCHECK_NAME_CHAR;
		return sm_h1_fail(h, s, SM_H1_R_HEADER, hr);
	default: return sm_h1_fail(h, s, SM_H1_R_PARSE, (unsigned)e);
	}
}

/* ---- head parsing ---- */

/* Copies head bytes into s->raw and runs llhttp on them. Returns bytes of
 * `in` consumed; *done is set when the head is complete (raw_fill is then
 * exactly the head). */
long sm_h1_head_step(struct sm_h1 *h, struct sm_h1_side *s, const uint8_t *in, size_t len,
                     int *done)
{
	*done = 0;
	if (s->fresh) {
		llhttp_reset(&s->p);
		s->raw_fill = 0;
		s->fresh = 0;
		s->cb_reason = 0;
		s->body_bytes = 0;
		s->forwarded = 0;
		s->stage_len = s->stage_off = 0;
		s->obs_state = OBS_NONE;
	}
	size_t room = h->lim.max_head - s->raw_fill;
	size_t n = len < room ? len : room;
	uint8_t *start = s->raw + s->raw_fill;
	memcpy(start, in, n);
	s->raw_fill += (uint32_t)n;
	llhttp_errno_t e = llhttp_execute(&s->p, (const char *)start, n);
	if (e == HPE_PAUSED) {
		size_t used = (size_t)((const uint8_t *)llhttp_get_error_pos(&s->p) - start);
		s->raw_fill = (uint32_t)(start - s->raw) + (uint32_t)used;
		*done = 1;
		return (long)used;
	}
	if (e != HPE_OK)
		return parse_fail(h, s, e);
	if (s->raw_fill >= h->lim.max_head) {
		if (s->is_request && !s->url_done) {
			h->stats.target_too_long++;
			return sm_h1_fail(h, s, SM_H1_R_TARGET_TOO_LONG, 0);
		}
		h->stats.head_too_large++;
		return sm_h1_fail(h, s, SM_H1_R_HEAD_TOO_LARGE, 0);
	}
	return (long)n;
}

struct conn_info {
	struct sm_h1_span tok[CONN_TOKS];
	unsigned ntok;
	uint8_t close, keep_alive;
};

static int span_is(const struct sm_h1_side *s, struct sm_h1_span sp, const char *lc)
{
	return sm_hdrcheck_name_is(s->raw + sp.off, sp.len, lc);
}

/* A WebSocket handshake (RFC 6455 §4.1): Upgrade names websocket and
 * Connection lists upgrade. Only then are those fields kept, when allowed. */
static int keep_ws(const struct sm_h1 *h, const struct sm_h1_side *s, const struct conn_info *ci)
{
	if (!h->lim.keep_websocket)
		return 0;
	int up = 0, conn = 0;
	for (unsigned i = 0; i < s->nfields; i++) {
		const struct sm_h1_field *f = &s->fields[i];
		if (span_is(s, f->name, "upgrade") && f->value.len == 9 &&
		    sm_hdrcheck_name_is(s->raw + f->value.off, f->value.len, "websocket"))
			up = 1;
	}
	for (unsigned i = 0; i < ci->ntok; i++)
		if (span_is(s, ci->tok[i], "upgrade"))
			conn = 1;
	return up && conn;
}

/* Collects the Connection options of the head. -1 if there are too many. */
static int conn_tokens(const struct sm_h1_side *s, struct conn_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	for (unsigned i = 0; i < s->nfields; i++) {
		const struct sm_h1_field *f = &s->fields[i];
		if (!span_is(s, f->name, "connection"))
			continue;
		uint32_t j = f->value.off, end = f->value.off + f->value.len;
		while (j < end) {
			while (j < end &&
			       (s->raw[j] == ' ' || s->raw[j] == '\t' || s->raw[j] == ','))
				j++;
			uint32_t b = j;
			while (j < end && s->raw[j] != ',')
				j++;
			uint32_t e = j;
			while (e > b && (s->raw[e - 1] == ' ' || s->raw[e - 1] == '\t'))
				e--;
			if (e == b)
				continue;
			struct sm_h1_span t = {b, e - b};
			if (span_is(s, t, "close"))
				ci->close = 1;
			else if (span_is(s, t, "keep-alive"))
				ci->keep_alive = 1;
			if (ci->ntok == CONN_TOKS)
				return -1;
			ci->tok[ci->ntok++] = t;
		}
	}
	return 0;
}

static uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static const char *const hop_names[] = {
        "connection",         "keep-alive", "proxy-connection", "proxy-authorization",
        "proxy-authenticate", "te",         "upgrade",
};

/* Whether a field is dropped when forwarding. A 101 keeps Connection,
 * Upgrade and the fields they name. */
static int dropped(const struct sm_h1_side *s, struct sm_h1_span name, const struct conn_info *ci,
                   int keep_upgrade)
{
	if (s->is_request && span_is(s, name, "host"))
		return 1; /* replaced by the URL authority */
	for (size_t i = 0; i < sizeof(hop_names) / sizeof(hop_names[0]); i++) {
		if (span_is(s, name, hop_names[i]))
			return !(keep_upgrade && (i == 0 || span_is(s, name, "upgrade")));
	}
	if (keep_upgrade)
		return 0;
	for (unsigned i = 0; i < ci->ntok; i++) {
		if (ci->tok[i].len != name.len)
			continue;
		uint32_t k = 0;
		while (k < name.len &&
		       lower(s->raw[name.off + k]) == lower(s->raw[ci->tok[i].off + k]))
			k++;
		if (k == name.len)
			return 1; /* named in Connection */
	}
	return 0;
}

static int put(struct sm_h1_side *s, const void *p, size_t n)
{
	if (n > stage_cap(&s->h->lim) - s->stage_len)
		return -1;
	memcpy(s->stage + s->stage_len, p, n);
	s->stage_len += (uint32_t)n;
	return 0;
}

static int put_str(struct sm_h1_side *s, const char *str)
{
	return put(s, str, strlen(str));
}

/* An Alt-Svc response field advertising HTTP/3 (h3, h3-29, ...), dropped
 * when limits.strip_alt_svc_h3 is set so clients stay on the proxied path
 * (QUIC is never decrypted). Other Alt-Svc fields pass. */
static int h3_advert(const struct sm_h1_side *s, const struct sm_h1_field *f)
{
	if (s->is_request || !s->h->lim.strip_alt_svc_h3 || !span_is(s, f->name, "alt-svc"))
		return 0;
	const uint8_t *v = s->raw + f->value.off;
	for (uint32_t k = 0; k + 3 <= f->value.len; k++)
		if ((k == 0 || v[k - 1] == ' ' || v[k - 1] == ',') && lower(v[k]) == 'h' &&
		    v[k + 1] == '3' &&
		    (k + 2 == f->value.len || v[k + 2] == '=' || v[k + 2] == '-'))
			return 1;
	return 0;
}

static int put_fields(struct sm_h1_side *s, const struct conn_info *ci, int keep_upgrade)
{
	int r = 0;
	for (unsigned i = 0; i < s->nfields && r == 0; i++) {
		const struct sm_h1_field *f = &s->fields[i];
		if (dropped(s, f->name, ci, keep_upgrade) || h3_advert(s, f))
			continue;
		r |= put(s, s->raw + f->name.off, f->name.len);
		r |= put(s, ": ", 2);
		r |= put(s, s->raw + f->value.off, f->value.len);
		r |= put(s, "\r\n", 2);
	}
	return r;
}

/* Checks common to both directions once a head is complete. */
static long head_checks(struct sm_h1 *h, struct sm_h1_side *s, struct conn_info *ci)
{
	if (s->p.http_major != 1 || s->p.http_minor > 1)
		return sm_h1_fail(h, s, SM_H1_R_VERSION, s->p.http_major * 10u + s->p.http_minor);
	s->version = (uint8_t)(10 + s->p.http_minor);
	enum sm_hdrcheck_reason hr = sm_h1frame_scan_head(s->raw, s->raw_fill, s->is_request);
	if (hr == SM_HDRCHECK_OK)
		hr = sm_hdrcheck_msg_finish(&s->chk);
	if (hr != SM_HDRCHECK_OK)
		return sm_h1_fail(h, s, SM_H1_R_HEADER, hr);
	if (conn_tokens(s, ci) < 0)
		return sm_h1_fail(h, s, SM_H1_R_CONNECTION_OPTIONS, CONN_TOKS);
	return 0;
}

/* Sets up body framing and the request's bookkeeping once its head is in
 * the stage buffer; pushes the REQUEST event. */
static void request_ready(struct sm_h1 *h, struct sm_h1_side *s, uint8_t method,
                          const uint8_t *target, uint32_t path_off, uint32_t path_len, int held,
                          int sw);

/* Intercepted connection, origin-form target: the request line goes out as
 * received, Host first. */
static long origin_request(struct sm_h1 *h, struct sm_h1_side *s, const struct conn_info *ci,
                           uint8_t method, const uint8_t *target)
{
	const struct sm_h1_field *host = NULL;
	for (unsigned i = 0; i < s->nfields; i++)
		if (span_is(s, s->fields[i].name, "host"))
			host = &s->fields[i];
	if (!host && s->version == 11)
		return sm_h1_fail(h, s, SM_H1_R_HEADER, SM_HDRCHECK_OK);
	h->req_auth = h->up_auth;
	int w = put_str(s, llhttp_method_name((llhttp_method_t)method));
	w |= put(s, " ", 1);
	uint32_t path_off = s->stage_len;
	w |= put(s, target, s->url.len);
	w |= put_str(s, s->version == 10 ? " HTTP/1.0\r\nHost: " : " HTTP/1.1\r\nHost: ");
	if (host) {
		w |= put(s, s->raw + host->value.off, host->value.len);
	} else {
		w |= put(s, h->up_auth.host, h->up_auth.host_len);
	}
	w |= put(s, "\r\n", 2);
	w |= put_fields(s, ci, keep_ws(h, s, ci));
	w |= put(s, "\r\n", 2);
	if (w)
		return sm_h1_fail(h, s, SM_H1_R_HEAD_TOO_LARGE, 1);
	request_ready(h, s, method, target, path_off, s->url.len, h->lim.hold_every_request, 0);
	return 0;
}

long sm_h1_request_head(struct sm_h1 *h, struct sm_h1_side *s)
{
	struct conn_info ci;
	enum sm_authority_reason why;
	struct sm_url u;
	long r = head_checks(h, s, &ci);
	if (r < 0)
		return r;
	uint8_t method = s->p.method;
	const uint8_t *target = s->raw + s->url.off;
	h->stats.requests++;
	s->close = ci.close || s->version == 10;

	if (method == HTTP_CONNECT && h->origin_mode)
		return sm_h1_fail(h, s, SM_H1_R_TARGET, SM_AUTHORITY_NOT_ABSOLUTE);
	if (method == HTTP_CONNECT) {
		if (sm_authority_parse(target, s->url.len, SM_AUTHORITY_PORT_REQUIRED, 0,
		                       &h->req_auth, &why) != SM_OK)
			return sm_h1_fail(h, s, SM_H1_R_TARGET, why);
		struct sm_h1_event *ev = ev_push(h, SM_H1_EV_REQUEST);
		ev->flags = SM_H1_F_CONNECT;
		ev->method = method;
		ev->version = s->version;
		ev->target = target;
		ev->target_len = s->url.len;
		ev->authority = &h->req_auth;
		s->state = S_TUNNEL;
		if (h->obs) { /* the head is the caller's to answer: reported now */
			sm_h1frame_body_init(&s->body, SM_H1FRAME_NONE, 0, 0);
			s->obs_ev = *ev;
			sm_h1_obs_head(h, s);
			sm_h1_obs_end(h, s, 1);
		}
		return 0;
	}
	if (h->origin_mode && (s->url.len == 0 || target[0] == '/' || target[0] == '*'))
		return origin_request(h, s, &ci, method, target);
	if (sm_authority_parse_url(target, s->url.len, &u, &why) != SM_OK)
		return sm_h1_fail(h, s, SM_H1_R_TARGET, why);
	if (h->origin_mode && !sm_authority_equal(&h->up_auth, &u.auth))
		return sm_h1_fail(h, s, SM_H1_R_TARGET, SM_AUTHORITY_NOT_ABSOLUTE);
	h->req_auth = u.auth;

	/* METHOD origin-form HTTP/1.x, Host from the URL, end-to-end fields */
	int w = put_str(s, llhttp_method_name((llhttp_method_t)method));
	w |= put(s, " ", 1);
	uint32_t path_off = s->stage_len;
	if (u.origin_needs_slash)
		w |= put(s, "/", 1);
	w |= put(s, target + u.origin_off, u.origin_len);
	w |= put_str(s, s->version == 10 ? " HTTP/1.0\r\nHost: " : " HTTP/1.1\r\nHost: ");
	w |= put(s, target + u.authority_off, u.authority_len);
	w |= put(s, "\r\n", 2);
	w |= put_fields(s, &ci, keep_ws(h, s, &ci));
	w |= put(s, "\r\n", 2);
	if (w)
		return sm_h1_fail(h, s, SM_H1_R_HEAD_TOO_LARGE, 1);

	int sw = !h->up_live || !sm_authority_equal(&h->up_auth, &h->req_auth);
	int held = sw || h->lim.hold_every_request;
	request_ready(h, s, method, target, path_off, u.origin_len + u.origin_needs_slash, held,
	              sw);
	return 0;
}

long sm_h1_response_head(struct sm_h1 *h, struct sm_h1_side *s)
{
	struct conn_info ci;
	long r = head_checks(h, s, &ci);
	if (r < 0)
		return r;
	const struct sm_h1_pending *rq = fifo_front(h);
	unsigned code = s->p.status_code;
	char line[32];
	int upgrade = code == 101;
	s->code = (uint16_t)code;
	s->interim = code >= 100 && code < 200 && !upgrade;
	s->upgrade = (uint8_t)upgrade;
	struct sm_h1_event *ev = ev_push(h, upgrade ? SM_H1_EV_UPGRADE : SM_H1_EV_RESPONSE);
	ev->status = (uint16_t)code;
	ev->method = rq->method;
	ev->version = s->version;
	h->stats.responses += !s->interim;

	enum sm_h1frame_kind kind = SM_H1FRAME_NONE;
	s->client_close = 0;
	s->close = 0;
	if (s->interim) {
		ev->flags = SM_H1_F_INTERIM;
		if (rq->version == 10) { /* RFC 9110 §15.2: not to HTTP/1.0 clients */
			ev->flags |= SM_H1_F_DROPPED;
			s->fresh = 1;
			s->state = S_HEAD;
			return 0;
		}
	} else if (!upgrade) {
		if (rq->method == HTTP_HEAD || code == 204 || code == 304)
			kind = SM_H1FRAME_NONE;
		else if (s->chk.framing == SM_HDRCHECK_FRAMING_CHUNKED)
			kind = SM_H1FRAME_CHUNKED;
		else if (s->chk.framing == SM_HDRCHECK_FRAMING_LENGTH)
			kind = SM_H1FRAME_LENGTH;
		else
			kind = SM_H1FRAME_EOF;
		s->close =
		        ci.close || (s->version == 10 && !ci.keep_alive) || kind == SM_H1FRAME_EOF;
		/* requests pipelined behind this one, or a request body still
		 * being sent, die with the upstream; in origin mode the server's
		 * connection is the only one, so the client's ends with it */
		s->client_close = rq->client_close || kind == SM_H1FRAME_EOF ||
		                  (s->close && (h->fifo_len > 1 || h->origin_mode ||
		                                (h->cli.state == S_SEND && !h->cli.body.done)));
		ev->flags = (s->close ? SM_H1_F_CLOSE_UPSTREAM : 0) |
		            (s->client_close ? SM_H1_F_CLOSE_CLIENT : 0);
	}
	sm_h1frame_body_init(&s->body, kind, s->chk.content_length, h->lim.max_trailer);

	snprintf(line, sizeof(line), "HTTP/1.1 %03u ", code % 1000);
	int w = put_str(s, line);
	w |= put(s, s->raw + s->status.off, s->status.len);
	w |= put(s, "\r\n", 2);
	w |= put_fields(s, &ci, upgrade);
	if (s->client_close)
		w |= put_str(s, "Connection: close\r\n");
	w |= put(s, "\r\n", 2);
	if (w)
		return sm_h1_fail(h, s, SM_H1_R_HEAD_TOO_LARGE, 1);
	s->obs_ev = *ev;
	s->state = S_SEND;
	return 0;
}

static void request_ready(struct sm_h1 *h, struct sm_h1_side *s, uint8_t method,
                          const uint8_t *target, uint32_t path_off, uint32_t path_len, int held,
                          int sw)
{
	sm_h1frame_body_init(&s->body,
	                     s->chk.framing == SM_HDRCHECK_FRAMING_CHUNKED  ? SM_H1FRAME_CHUNKED
	                     : s->chk.framing == SM_HDRCHECK_FRAMING_LENGTH ? SM_H1FRAME_LENGTH
	                                                                    : SM_H1FRAME_NONE,
	                     s->chk.content_length, h->lim.max_trailer);
	h->req_pending = (struct sm_h1_pending){method, s->version, s->close};

	struct sm_h1_event *ev = ev_push(h, SM_H1_EV_REQUEST);
	ev->flags = (held ? SM_H1_F_HELD : 0) | (sw ? SM_H1_F_SWITCH : 0) |
	            (s->close ? SM_H1_F_CLOSE_CLIENT : 0) |
	            (method == HTTP_HEAD ? SM_H1_F_HEAD : 0);
	ev->method = method;
	ev->version = s->version;
	ev->target = target;
	ev->target_len = s->url.len;
	ev->authority = &h->req_auth;
	ev->path = s->stage + path_off;
	ev->path_len = path_len;
	s->obs_ev = *ev;
	if (held) {
		h->held_switch = (uint8_t)sw;
		s->state = S_HELD;
	} else {
		fifo_push(h, h->req_pending);
		s->state = S_SEND;
	}
}
