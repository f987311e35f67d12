/* gRPC length-prefixed framing and status reader (see grpc.h). */
#include "proto/grpc.h"

#include <stdlib.h>
#include <string.h>

#include "base/result.h"

enum grpc_state {
	ST_ENVELOPE, /* collecting the 5-byte prefix (hdr_have bytes so far) */
	ST_PAYLOAD,  /* inside a message: got of len bytes seen */
	ST_SKIP,     /* inside a message over max_message: got of len bytes counted, not kept */
	ST_FAILED,   /* an error was reported; err holds the result code */
	ST_FINISHED, /* sm_grpc_finish was called */
};

struct sm_grpc {
	sm_grpc_cb cb;
	void *ctx;
	uint32_t max_message;
	uint32_t excerpt_max;
	uint8_t state;
	uint8_t hdr_have;
	uint8_t hdr[SM_GRPC_ENVELOPE];
	bool compressed;
	int err; /* result code returned once failed */
	uint32_t len;
	uint32_t got;
	size_t ex_len;
	uint64_t index;
	uint64_t off;
	struct sm_grpc_stats st;
	uint8_t *ex; /* excerpt_max bytes */
};

struct sm_grpc *sm_grpc_new(const struct sm_grpc_config *cfg, sm_grpc_cb cb, void *ctx)
{
	uint32_t max = cfg && cfg->max_message ? cfg->max_message : SM_GRPC_DEFAULT_MAX_MESSAGE;
	uint32_t ex = cfg && cfg->excerpt ? cfg->excerpt : SM_GRPC_DEFAULT_EXCERPT;
	if (!cb || ex > SM_GRPC_EXCERPT_MAX)
		return NULL;
	if (ex > max)
		ex = max;
	struct sm_grpc *p = calloc(1, sizeof(*p) + ex);
	if (!p)
		return NULL;
	p->cb = cb;
	p->ctx = ctx;
	p->max_message = max;
	p->excerpt_max = ex;
	p->ex = (uint8_t *)(p + 1);
	return p;
}

void sm_grpc_free(struct sm_grpc *p)
{
	free(p);
}

const struct sm_grpc_stats *sm_grpc_stats(const struct sm_grpc *p)
{
	return &p->st;
}

static void fail(struct sm_grpc *p, enum sm_grpc_reason r, int err)
{
	struct sm_grpc_event ev = {
	        .type = SM_GRPC_EV_ERROR,
	        .index = p->index,
	        .length = p->len,
	        .compressed = p->compressed,
	        .excerpt = p->ex,
	        .excerpt_len = r == SM_GRPC_R_TRUNCATED ? p->ex_len : 0,
	        .received = p->got,
	        .reason = r,
	        .offset = p->off,
	};
	p->st.errors++;
	p->state = ST_FAILED;
	p->err = err;
	p->cb(p->ctx, &ev);
}

/* A declared length over max_message: reported now, then its bytes are
 * counted without being kept (the length prefix still frames the stream, so
 * the next message is found) and the message is reported at its end. */
static void too_large(struct sm_grpc *p)
{
	struct sm_grpc_event ev = {
	        .type = SM_GRPC_EV_ERROR,
	        .index = p->index,
	        .length = p->len,
	        .compressed = p->compressed,
	        .excerpt = p->ex,
	        .reason = SM_GRPC_R_TOO_LARGE,
	        .offset = p->off,
	};
	p->st.errors++;
	p->st.too_large++;
	p->state = ST_SKIP;
	p->cb(p->ctx, &ev);
}

static void message_done(struct sm_grpc *p)
{
	struct sm_grpc_event ev = {
	        .type = SM_GRPC_EV_MESSAGE,
	        .index = p->index,
	        .length = p->len,
	        .compressed = p->compressed,
	        .excerpt = p->ex,
	        .excerpt_len = p->ex_len,
	        .too_large = p->state == ST_SKIP,
	        .offset = p->off,
	};
	p->st.messages++;
	if (p->compressed)
		p->st.compressed++;
	p->cb(p->ctx, &ev);
	p->index++;
	p->state = ST_ENVELOPE;
	p->hdr_have = 0;
	p->len = 0;
	p->got = 0;
	p->ex_len = 0;
	p->compressed = false;
}

long sm_grpc_feed(struct sm_grpc *p, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	size_t i = 0;
	if (p->state == ST_FINISHED)
		return SM_ERR_STATE;
	if (p->state == ST_FAILED)
		return p->err;
	if (len == 0)
		return 0; /* also keeps NULL + 0 out of pointer arithmetic */
	p->st.bytes += len;
	while (i < len) {
		if (p->state == ST_ENVELOPE) {
			size_t take = SM_GRPC_ENVELOPE - p->hdr_have;
			if (take > len - i)
				take = len - i;
			memcpy(p->hdr + p->hdr_have, b + i, take);
			p->hdr_have += (uint8_t)take;
			i += take;
			p->off += take;
			if (p->hdr_have < SM_GRPC_ENVELOPE)
				break;
			p->len = (uint32_t)p->hdr[1] << 24 | (uint32_t)p->hdr[2] << 16 |
			         (uint32_t)p->hdr[3] << 8 | (uint32_t)p->hdr[4];
			p->compressed = p->hdr[0] == 1;
			if (p->hdr[0] > 1) {
				fail(p, SM_GRPC_R_BAD_FLAG, SM_ERR_PROTOCOL);
				return p->err;
			}
			if (p->len > p->max_message) {
				too_large(p); /* len > 0 */
				continue;
			}
			p->state = ST_PAYLOAD;
			if (p->len == 0)
				message_done(p);
			continue;
		}
		/* ST_PAYLOAD, ST_SKIP */
		size_t take = p->len - p->got;
		if (take > len - i)
			take = len - i;
		if (p->state == ST_PAYLOAD && p->ex_len < p->excerpt_max) {
			size_t room = p->excerpt_max - p->ex_len;
			size_t k = take < room ? take : room;
			memcpy(p->ex + p->ex_len, b + i, k);
			p->ex_len += k;
			if (p->ex_len > p->st.excerpt_hwm)
				p->st.excerpt_hwm = p->ex_len;
		}
		p->got += (uint32_t)take;
		i += take;
		p->off += take;
		if (p->got == p->len)
			message_done(p);
	}
	return (long)len;
}

int sm_grpc_finish(struct sm_grpc *p)
{
	if (p->state == ST_FINISHED)
		return SM_ERR_STATE;
	if (p->state == ST_FAILED)
		return p->err;
	if (p->state == ST_PAYLOAD || p->state == ST_SKIP || p->hdr_have > 0) {
		fail(p, SM_GRPC_R_TRUNCATED, SM_ERR_TRUNCATED);
		p->state = ST_FINISHED;
		return SM_ERR_TRUNCATED;
	}
	p->state = ST_FINISHED;
	return SM_OK;
}

const char *sm_grpc_ev_type_str(enum sm_grpc_ev_type t)
{
	switch (t) {
	case SM_GRPC_EV_MESSAGE: return "message";
	case SM_GRPC_EV_ERROR: return "error";
	}
	return "unknown";
}

const char *sm_grpc_reason_str(enum sm_grpc_reason r)
{
	switch (r) {
	case SM_GRPC_R_NONE: return "none";
	case SM_GRPC_R_TOO_LARGE: return "too_large";
	case SM_GRPC_R_BAD_FLAG: return "bad_flag";
	case SM_GRPC_R_TRUNCATED: return "truncated";
	}
	return "unknown";
}

/* ---- status reader ---- */

static bool name_is(const struct sm_grpc_header *h, const char *want)
{
	size_t n = strlen(want);
	if (h->name_len != n || !h->name)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h->name[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + ('a' - 'A'));
		if (c != (unsigned char)want[i])
			return false;
	}
	return true;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t sm_grpc_message_decode(const char *v, size_t n, char *out, size_t cap, bool *cut)
{
	size_t o = 0;
	*cut = false;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)v[i];
		size_t used = 1;
		if (c == '%' && i + 2 < n) {
			int hi = hexval((unsigned char)v[i + 1]),
			    lo = hexval((unsigned char)v[i + 2]);
			if (hi >= 0 && lo >= 0) {
				c = (unsigned char)(hi << 4 | lo);
				used = 3;
			}
		}
		if (o == cap) {
			*cut = true;
			break;
		}
		out[o++] = (char)c;
		i += used;
	}
	return o;
}

static void decode_message(struct sm_grpc_status *out, const char *v, size_t n)
{
	out->message_len =
	        sm_grpc_message_decode(v, n, out->message, SM_GRPC_MESSAGE_MAX, &out->message_cut);
	out->message[out->message_len] = 0;
}

int sm_grpc_read_status(const struct sm_grpc_header *h, size_t n, struct sm_grpc_status *out)
{
	memset(out, 0, sizeof(*out));
	out->status = -1;
	bool valid = false;
	for (size_t i = 0; i < n; i++) {
		const struct sm_grpc_header *f = &h[i];
		const char *v = f->value ? f->value : "";
		size_t vn = f->value ? f->value_len : 0;
		if (name_is(f, "grpc-status")) {
			out->status_present = true;
			out->status = -1;
			valid = false;
			if (vn == 0 || vn > 2)
				continue;
			int s = 0;
			bool digits = true;
			for (size_t k = 0; k < vn; k++) {
				if (v[k] < '0' || v[k] > '9')
					digits = false;
				else
					s = s * 10 + (v[k] - '0');
			}
			if (digits && s <= 16) {
				out->status = s;
				valid = true;
			}
		} else if (name_is(f, "grpc-message")) {
			out->message_present = true;
			decode_message(out, v, vn);
		} else if (name_is(f, "grpc-encoding")) {
			size_t k = vn > SM_GRPC_ENCODING_MAX ? SM_GRPC_ENCODING_MAX : vn;
			out->encoding_present = true;
			out->encoding_cut = vn > SM_GRPC_ENCODING_MAX;
			memcpy(out->encoding, v, k);
			out->encoding[k] = 0;
			out->encoding_len = k;
		}
	}
	if (!out->status_present)
		return SM_AGAIN;
	return valid ? SM_OK : SM_ERR_INVALID;
}
