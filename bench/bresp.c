/* Response framing parser for the load generator; rules in bresp.h. */
#include "bench/bresp.h"

#include <string.h>

#include "base/result.h"

enum {
	ST_HEAD = 0, /* copying head bytes until the blank line */
	ST_BODY,     /* delimiting the body with h1frame */
	ST_DONE,     /* final response complete */
	ST_ERROR,    /* refused; r->why says why */
};

void sm_bresp_init(struct sm_bresp *r, enum sm_bresp_method method)
{
	r->head_len = 0;
	r->state = ST_HEAD;
	r->method = (uint8_t)method;
	r->done = 0;
	r->keep_alive = 0;
	r->version = 1;
	r->status = 0;
	r->interim = 0;
	r->content_length = 0;
	r->has_length = 0;
	r->chunked = 0;
	r->body_bytes = 0;
	r->total_bytes = 0;
	r->why = SM_BRESP_OK;
	r->body_why = SM_H1FRAME_OK;
	memset(&r->body, 0, sizeof(r->body));
}

static long fail(struct sm_bresp *r, enum sm_bresp_reason why, long code)
{
	r->why = why;
	r->state = ST_ERROR;
	return code;
}

static int is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int ieq(const uint8_t *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++) {
		uint8_t x = a[i], y = (uint8_t)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x + 32);
		if (x != y)
			return 0;
	}
	return 1;
}

/* Does a comma-separated list value contain `tok` (case-insensitive)? */
static int list_has(const uint8_t *v, size_t len, const char *tok)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < len && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && ieq(v + s, e - s, tok))
			return 1;
	}
	return 0;
}

/* Parses the complete head in r->head[0..head_len). Returns SM_OK, or a
 * negative code with r->why set. Sets status, framing and keep_alive. */
static long parse_head(struct sm_bresp *r)
{
	const uint8_t *h = r->head;
	size_t len = r->head_len;

	if (sm_h1frame_scan_head(h, len, 0) != SM_HDRCHECK_OK)
		return fail(r, SM_BRESP_HEAD_BYTES, SM_ERR_PROTOCOL);
	/* status line: "HTTP/1.x SSS reason" */
	const uint8_t *eol = memchr(h, '\r', len);
	size_t sl = (size_t)(eol - h);
	if (sl < 12 || memcmp(h, "HTTP/1.", 7) != 0 || (h[7] != '0' && h[7] != '1') ||
	    h[8] != ' ' || h[9] < '1' || h[9] > '5' || h[10] < '0' || h[10] > '9' || h[11] < '0' ||
	    h[11] > '9' || (sl > 12 && h[12] != ' '))
		return fail(r, SM_BRESP_STATUS_LINE, SM_ERR_PROTOCOL);
	for (size_t i = 13; i < sl; i++)
		if (h[i] < 0x20 && h[i] != '\t')
			return fail(r, SM_BRESP_STATUS_LINE, SM_ERR_PROTOCOL);
	r->version = (uint8_t)(h[7] - '0');
	r->status = (uint16_t)((h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0'));
	r->has_length = 0;
	r->chunked = 0;
	r->content_length = 0;

	int te_seen = 0, conn_close = 0, conn_keep = 0;
	size_t p = sl + 2;
	while (p + 2 <= len) {
		const uint8_t *line = h + p;
		const uint8_t *cr = memchr(line, '\r', len - p);
		size_t ll = (size_t)(cr - line);
		p += ll + 2;
		if (ll == 0)
			break; /* the blank line */
		size_t n = 0;
		while (n < ll && is_tchar(line[n]))
			n++;
		if (n == 0 || n >= ll || line[n] != ':')
			return fail(r, SM_BRESP_FIELD_LINE, SM_ERR_PROTOCOL);
		const uint8_t *v = line + n + 1;
		size_t vl = ll - n - 1;
		while (vl > 0 && (v[0] == ' ' || v[0] == '\t')) {
			v++;
			vl--;
		}
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (ieq(line, n, "content-length")) {
			if (vl == 0 || vl > 19)
				return fail(r, SM_BRESP_CONTENT_LENGTH, SM_ERR_PROTOCOL);
			uint64_t cl = 0;
			for (size_t i = 0; i < vl; i++) {
				if (v[i] < '0' || v[i] > '9')
					return fail(r, SM_BRESP_CONTENT_LENGTH, SM_ERR_PROTOCOL);
				cl = cl * 10 + (uint64_t)(v[i] - '0');
			}
			if (r->has_length && cl != r->content_length)
				return fail(r, SM_BRESP_CONTENT_LENGTH, SM_ERR_PROTOCOL);
			r->has_length = 1;
			r->content_length = cl;
		} else if (ieq(line, n, "transfer-encoding")) {
			if (te_seen || !ieq(v, vl, "chunked"))
				return fail(r, SM_BRESP_TE_UNSUPPORTED, SM_ERR_PROTOCOL);
			te_seen = 1;
			r->chunked = 1;
		} else if (ieq(line, n, "connection")) {
			conn_close |= list_has(v, vl, "close");
			conn_keep |= list_has(v, vl, "keep-alive");
		}
	}
	if (r->has_length && r->chunked)
		return fail(r, SM_BRESP_CL_AND_TE, SM_ERR_PROTOCOL);

	if (r->version == 1)
		r->keep_alive = !conn_close;
	else
		r->keep_alive = conn_keep && !conn_close;

	enum sm_h1frame_kind kind;
	int no_body = r->method == SM_BRESP_HEAD || r->status < 200 || r->status == 204 ||
	              r->status == 304 || (r->method == SM_BRESP_CONNECT && r->status < 300);
	if (no_body)
		kind = SM_H1FRAME_NONE;
	else if (r->chunked)
		kind = SM_H1FRAME_CHUNKED;
	else if (r->has_length)
		kind = SM_H1FRAME_LENGTH;
	else
		kind = SM_H1FRAME_EOF;
	if (kind == SM_H1FRAME_EOF)
		r->keep_alive = 0;
	if (r->method == SM_BRESP_CONNECT && r->status >= 300)
		r->keep_alive = 0;
	sm_h1frame_body_init(&r->body, kind, r->content_length, SM_BRESP_MAX_TRAILER);
	return SM_OK;
}

/* Copies head bytes until CRLFCRLF; returns bytes taken from in, with
 * *complete set when the blank line was reached. */
static long take_head(struct sm_bresp *r, const uint8_t *in, size_t len, int *complete)
{
	size_t i = 0;
	*complete = 0;
	while (i < len) {
		if (r->head_len >= SM_BRESP_MAX_HEAD)
			return fail(r, SM_BRESP_HEAD_TOO_LARGE, SM_ERR_LIMIT);
		uint8_t c = in[i++];
		r->head[r->head_len++] = c;
		if (c == '\n' && r->head_len >= 4 &&
		    memcmp(r->head + r->head_len - 4, "\r\n\r\n", 4) == 0) {
			*complete = 1;
			break;
		}
	}
	return (long)i;
}

long sm_bresp_feed(struct sm_bresp *r, const uint8_t *in, size_t len)
{
	size_t used = 0;
	for (;;) {
		switch (r->state) {
		case ST_HEAD: {
			int complete;
			long n = take_head(r, in + used, len - used, &complete);
			if (n < 0)
				return n;
			used += (size_t)n;
			r->total_bytes += (uint64_t)n;
			if (!complete)
				return (long)used;
			long rc = parse_head(r);
			if (rc < 0)
				return rc;
			r->head_len = 0;
			if (r->status >= 100 && r->status < 200 && r->status != 101) {
				r->interim++;
				continue; /* interim: the final head follows */
			}
			r->state = ST_BODY;
			continue;
		}
		case ST_BODY: {
			if (r->body.kind == SM_H1FRAME_NONE) {
				r->state = ST_DONE;
				r->done = 1;
				return (long)used;
			}
			enum sm_h1frame_reason why = SM_H1FRAME_OK;
			long n = sm_h1frame_body_feed(&r->body, in + used, len - used, &why);
			if (n < 0 || why != SM_H1FRAME_OK) { /* n: the valid prefix */
				r->body_why = why;
				return fail(r, SM_BRESP_BODY_FRAMING, SM_ERR_PROTOCOL);
			}
			used += (size_t)n;
			r->body_bytes += (uint64_t)n;
			r->total_bytes += (uint64_t)n;
			if (r->body.done) {
				r->state = ST_DONE;
				r->done = 1;
			}
			return (long)used;
		}
		case ST_DONE: return (long)used;
		default: return SM_ERR_STATE;
		}
	}
}

int sm_bresp_eof(struct sm_bresp *r)
{
	if (r->state == ST_DONE)
		return 1;
	if (r->state == ST_BODY && sm_h1frame_body_eof(&r->body)) {
		r->state = ST_DONE;
		r->done = 1;
		return 1;
	}
	if (r->state != ST_ERROR)
		fail(r, SM_BRESP_TRUNCATED, SM_ERR_TRUNCATED);
	return 0;
}

const char *sm_bresp_reason_str(enum sm_bresp_reason why)
{
	switch (why) {
	case SM_BRESP_OK: return "ok";
	case SM_BRESP_HEAD_TOO_LARGE: return "head_too_large";
	case SM_BRESP_STATUS_LINE: return "status_line";
	case SM_BRESP_HEAD_BYTES: return "head_bytes";
	case SM_BRESP_FIELD_LINE: return "field_line";
	case SM_BRESP_CONTENT_LENGTH: return "content_length";
	case SM_BRESP_TE_UNSUPPORTED: return "te_unsupported";
	case SM_BRESP_CL_AND_TE: return "cl_and_te";
	case SM_BRESP_BODY_FRAMING: return "body_framing";
	case SM_BRESP_TRUNCATED: return "truncated";
	}
	return "unknown";
}
