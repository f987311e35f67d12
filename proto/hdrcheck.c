/* Header-field validation shared by HTTP/1.1 and HTTP/2; rules in hdrcheck.h. */
#include "proto/hdrcheck.h"

#include <string.h>

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static int is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

enum sm_hdrcheck_reason sm_hdrcheck_name(const uint8_t *name, size_t nlen)
{
	if (nlen == 0)
		return SM_HDRCHECK_NAME_EMPTY;
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar(name[i]))
			return SM_HDRCHECK_NAME_CHAR;
	return SM_HDRCHECK_OK;
}

enum sm_hdrcheck_reason sm_hdrcheck_value(const uint8_t *v, size_t vlen)
{
	for (size_t i = 0; i < vlen; i++) {
		uint8_t c = v[i];
		if (c >= 0x20 && c != 0x7f)
			continue; /* SP, VCHAR, obs-text */
		if (c == '\t')
			continue;
		if (c == 0)
			return SM_HDRCHECK_VALUE_NUL;
		if (c == '\r') {
			if (i + 1 < vlen && v[i + 1] == '\n') {
				if (i + 2 < vlen && is_ows(v[i + 2]))
					return SM_HDRCHECK_OBS_FOLD;
				return SM_HDRCHECK_BARE_LF; /* a line break inside a value */
			}
			return SM_HDRCHECK_BARE_CR;
		}
		if (c == '\n')
			return (i + 1 < vlen && is_ows(v[i + 1])) ? SM_HDRCHECK_OBS_FOLD
			                                          : SM_HDRCHECK_BARE_LF;
		return SM_HDRCHECK_VALUE_CTL;
	}
	return SM_HDRCHECK_OK;
}

enum sm_hdrcheck_reason sm_hdrcheck_field(const uint8_t *name, size_t nlen, const uint8_t *value,
                                          size_t vlen)
{
	enum sm_hdrcheck_reason r = sm_hdrcheck_name(name, nlen);
	if (r != SM_HDRCHECK_OK)
		return r;
	return sm_hdrcheck_value(value, vlen);
}

int sm_hdrcheck_name_is(const uint8_t *name, size_t nlen, const char *lc)
{
	size_t n = strlen(lc);
	if (n != nlen)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(name[i]) != (uint8_t)lc[i])
			return 0;
	return 1;
}

int sm_hdrcheck_trailer_forbidden(const uint8_t *name, size_t nlen)
{
	static const char *const names[] = {
	        "content-length", "transfer-encoding", "host",         "connection",
	        "keep-alive",     "proxy-connection",  "te",           "upgrade",
	        "trailer",        "content-encoding",  "content-type", "content-range"};
	if (nlen > SM_HDRCHECK_TRAILER_NAME_MAX)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (sm_hdrcheck_name_is(name, nlen, names[i]))
			return 1;
	return 0;
}

int sm_hdrcheck_list_has(const uint8_t *list, size_t len, const uint8_t *tok, size_t tlen)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (list[i] == ' ' || list[i] == '\t' || list[i] == ','))
			i++;
		size_t b = i;
		while (i < len && list[i] != ',')
			i++;
		size_t e = i;
		while (e > b && (list[e - 1] == ' ' || list[e - 1] == '\t'))
			e--;
		if (e - b != tlen || tlen == 0)
			continue;
		size_t k = 0;
		while (k < tlen && lower(list[b + k]) == lower(tok[k]))
			k++;
		if (k == tlen)
			return 1;
	}
	return 0;
}

#define SEEN_CL   0x1u
#define SEEN_TE   0x2u
#define SEEN_HOST 0x4u

/* te_state values */
#define TE_NONE    0 /* no coding seen yet */
#define TE_CHUNKED 1 /* last coding seen was chunked */

void sm_hdrcheck_msg_init(struct sm_hdrcheck_msg *m, unsigned flags)
{
	memset(m, 0, sizeof(*m));
	m->flags = (uint8_t)flags;
}

static enum sm_hdrcheck_reason set(struct sm_hdrcheck_msg *m, enum sm_hdrcheck_reason r)
{
	if (m->reason == SM_HDRCHECK_OK)
		m->reason = r;
	return m->reason;
}

static enum sm_hdrcheck_reason content_length(struct sm_hdrcheck_msg *m, const uint8_t *v, size_t n)
{
	size_t b = 0, e = n;
	while (b < e && is_ows(v[b]))
		b++;
	while (e > b && is_ows(v[e - 1]))
		e--;
	if (m->seen & SEEN_CL)
		return set(m, SM_HDRCHECK_CL_REPEATED);
	m->seen |= SEEN_CL;
	if (memchr(v + b, ',', e - b))
		return set(m, SM_HDRCHECK_CL_LIST);
	if (e == b || e - b > 18)
		return set(m, SM_HDRCHECK_CL_INVALID);
	uint64_t x = 0;
	for (size_t i = b; i < e; i++) {
		if (v[i] < '0' || v[i] > '9')
			return set(m, SM_HDRCHECK_CL_INVALID);
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	m->content_length = x;
	return SM_HDRCHECK_OK;
}

/* One Transfer-Encoding field: a comma list of codings continuing the list
 * of earlier fields. Only a single final "chunked" is accepted. */
static enum sm_hdrcheck_reason transfer_encoding(struct sm_hdrcheck_msg *m, const uint8_t *v,
                                                 size_t n)
{
	if (m->flags & SM_HDRCHECK_HTTP2)
		return set(m, SM_HDRCHECK_TE_HTTP2);
	if (m->flags & SM_HDRCHECK_HTTP10)
		return set(m, SM_HDRCHECK_TE_HTTP10);
	m->seen |= SEEN_TE;
	size_t i = 0;
	for (;;) {
		while (i < n && is_ows(v[i]))
			i++;
		size_t b = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (e > b && is_ows(v[e - 1]))
			e--;
		if (e == b)
			return set(m, SM_HDRCHECK_TE_NOT_CHUNKED); /* empty element */
		if (m->te_state == TE_CHUNKED)
			return set(m, SM_HDRCHECK_TE_NOT_CHUNKED); /* something after chunked */
		if (sm_hdrcheck_name_is(v + b, e - b, "chunked")) {
			m->te_state = TE_CHUNKED;
		} else {
			/* a parameter on chunked is malformed; any other coding unsupported */
			const uint8_t *semi = memchr(v + b, ';', e - b);
			size_t tl = semi ? (size_t)(semi - (v + b)) : e - b;
			while (tl > 0 && is_ows(v[b + tl - 1]))
				tl--;
			if (sm_hdrcheck_name_is(v + b, tl, "chunked"))
				return set(m, SM_HDRCHECK_TE_NOT_CHUNKED);
			if (sm_hdrcheck_name(v + b, tl) != SM_HDRCHECK_OK)
				return set(m, SM_HDRCHECK_TE_NOT_CHUNKED);
			return set(m, SM_HDRCHECK_TE_UNSUPPORTED);
		}
		if (i == n)
			return SM_HDRCHECK_OK;
		i++; /* skip ',' */
	}
}

enum sm_hdrcheck_reason sm_hdrcheck_msg_add(struct sm_hdrcheck_msg *m, const uint8_t *name,
                                            size_t nlen, const uint8_t *value, size_t vlen)
{
	if (m->reason != SM_HDRCHECK_OK)
		return m->reason;
	m->fields++;
	enum sm_hdrcheck_reason r = sm_hdrcheck_field(name, nlen, value, vlen);
	if (r != SM_HDRCHECK_OK)
		return set(m, r);
	if (sm_hdrcheck_name_is(name, nlen, "content-length"))
		return content_length(m, value, vlen);
	if (sm_hdrcheck_name_is(name, nlen, "transfer-encoding"))
		return transfer_encoding(m, value, vlen);
	if ((m->flags & SM_HDRCHECK_REQUEST) && sm_hdrcheck_name_is(name, nlen, "host")) {
		if (m->seen & SEEN_HOST)
			return set(m, SM_HDRCHECK_HOST_REPEATED);
		m->seen |= SEEN_HOST;
	}
	return SM_HDRCHECK_OK;
}

enum sm_hdrcheck_reason sm_hdrcheck_msg_finish(struct sm_hdrcheck_msg *m)
{
	if (m->reason != SM_HDRCHECK_OK)
		return m->reason;
	if ((m->seen & SEEN_CL) && (m->seen & SEEN_TE))
		return set(m, SM_HDRCHECK_CL_AND_TE);
	if (m->seen & SEEN_TE) {
		if (m->te_state != TE_CHUNKED)
			return set(m, SM_HDRCHECK_TE_NOT_CHUNKED);
		m->framing = SM_HDRCHECK_FRAMING_CHUNKED;
	} else if (m->seen & SEEN_CL) {
		m->framing = SM_HDRCHECK_FRAMING_LENGTH;
	} else {
		m->framing = SM_HDRCHECK_FRAMING_NONE;
	}
	return SM_HDRCHECK_OK;
}

const char *sm_hdrcheck_reason_str(enum sm_hdrcheck_reason r)
{
	switch (r) {
	case SM_HDRCHECK_OK: return "ok";
	case SM_HDRCHECK_NAME_EMPTY: return "name_empty";
	case SM_HDRCHECK_NAME_CHAR: return "name_char";
	case SM_HDRCHECK_VALUE_NUL: return "value_nul";
	case SM_HDRCHECK_VALUE_CTL: return "value_ctl";
	case SM_HDRCHECK_BARE_CR: return "bare_cr";
	case SM_HDRCHECK_BARE_LF: return "bare_lf";
	case SM_HDRCHECK_OBS_FOLD: return "obs_fold";
	case SM_HDRCHECK_CL_INVALID: return "cl_invalid";
	case SM_HDRCHECK_CL_LIST: return "cl_list";
	case SM_HDRCHECK_CL_REPEATED: return "cl_repeated";
	case SM_HDRCHECK_CL_AND_TE: return "cl_and_te";
	case SM_HDRCHECK_TE_NOT_CHUNKED: return "te_not_chunked";
	case SM_HDRCHECK_TE_UNSUPPORTED: return "te_unsupported";
	case SM_HDRCHECK_TE_HTTP10: return "te_http10";
	case SM_HDRCHECK_TE_HTTP2: return "te_http2";
	case SM_HDRCHECK_HOST_REPEATED: return "host_repeated";
	}
	return "unknown";
}
