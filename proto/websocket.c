/* RFC 6455 frame parser for one direction (see websocket.h). */
#include "proto/websocket.h"

#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "decode/inflate.h"

enum ws_state {
	ST_HEADER,   /* collecting a frame header (hdr_have bytes so far) */
	ST_PAYLOAD,  /* inside a frame payload: fgot of flen bytes seen */
	ST_SKIP,     /* inside the payload of a frame skipped unread: fgot of flen */
	ST_CLOSED,   /* a close frame was seen; a further byte is an error */
	ST_FAILED,   /* a fatal error was reported */
	ST_FINISHED, /* sm_ws_finish was called */
};

/* Incremental UTF-8 validator: bytes still expected in the current sequence
 * and the allowed range of the next one (tightened after E0, ED, F0, F4 so
 * overlongs, surrogates and code points above U+10FFFF are rejected). */
struct utf8 {
	uint8_t need;
	uint8_t lo;
	uint8_t hi;
};

#define WS_HDR_MAX 14

/* Pending errors of an inflated message, in reporting order. */
#define ZP_UTF8    0x1u
#define ZP_TOO_BIG 0x2u
#define ZP_INFLATE 0x4u

struct sm_ws {
	sm_ws_cb cb;
	void *ctx;
	uint8_t dir; /* enum sm_ws_dir */
	bool deflate;
	bool inflate_on; /* decode compressed messages */
	struct sm_inflate_config zcfg;
	struct sm_inflate *zi; /* created on the first compressed message */
	bool zlost;            /* a cut compressed message lost the window for good */
	uint32_t max_message;
	uint32_t excerpt_max;
	uint8_t state;
	uint8_t hdr_have;
	uint8_t hdr[WS_HDR_MAX];
	/* current frame */
	uint8_t opcode;
	bool fin;
	bool masked;
	uint8_t phase; /* mask key byte for the next payload byte */
	uint8_t key[4];
	uint64_t flen;
	uint64_t fgot;
	/* current data message */
	bool lost; /* the rest of a cut message: its continuations are skipped */
	bool in_msg;
	uint8_t msg_op;
	bool msg_compressed;
	bool msg_oversized;
	bool msg_bad_utf8;
	bool msg_inflate; /* compressed and going through zi */
	bool msg_zfail;   /* zi failed on this message: the rest is skipped */
	uint8_t zpend;    /* errors found in decoded bytes, reported at the message's
	                     end (ZP_*) so their offsets do not depend on chunking */
	uint8_t zreason;  /* enum sm_ws_reason of the inflate failure */
	uint32_t msg_frames;
	uint64_t msg_len; /* declared bytes of all its frames so far */
	size_t buf_len;   /* unmasked bytes kept in buf */
	struct utf8 u8;
	/* current control frame */
	size_t ctrl_len;
	uint8_t ctrl[SM_WS_CONTROL_MAX];
	uint64_t off;
	struct sm_ws_stats st;
	uint8_t *buf; /* max_message bytes */
};

struct sm_ws *sm_ws_new(const struct sm_ws_config *cfg, sm_ws_cb cb, void *ctx)
{
	uint32_t max = cfg && cfg->max_message ? cfg->max_message : SM_WS_DEFAULT_MAX_MESSAGE;
	uint32_t ex = cfg && cfg->excerpt ? cfg->excerpt : SM_WS_DEFAULT_EXCERPT;
	if (!cb || max > SM_WS_MAX_MESSAGE_LIMIT)
		return NULL;
	if (ex > max)
		ex = max;
	struct sm_ws *p = calloc(1, sizeof(*p) + max);
	if (!p)
		return NULL;
	p->cb = cb;
	p->ctx = ctx;
	p->dir = cfg ? (uint8_t)cfg->dir : SM_WS_CLIENT_TO_SERVER;
	p->deflate = cfg && cfg->permessage_deflate;
	p->max_message = max;
	p->inflate_on = p->deflate && cfg->inflate;
	if (p->inflate_on)
		p->zcfg = (struct sm_inflate_config){
		        .format = SM_INFLATE_RAW,
		        .no_context_takeover = cfg->no_context_takeover,
		        .max_output = cfg->max_inflate ? cfg->max_inflate : max,
		};
	p->excerpt_max = ex;
	p->buf = (uint8_t *)(p + 1);
	return p;
}

void sm_ws_free(struct sm_ws *p)
{
	if (p)
		sm_inflate_free(p->zi);
	free(p);
}

const struct sm_ws_stats *sm_ws_stats(const struct sm_ws *p)
{
	return &p->st;
}

unsigned sm_ws_unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                      unsigned phase)
{
	uint8_t kb[8];
	uint64_t k;
	size_t i = 0;
	for (unsigned j = 0; j < 8; j++)
		kb[j] = key[(phase + j) & 3];
	memcpy(&k, kb, sizeof(k)); /* byte order of kb matches memory order of the data */
	for (; i + 32 <= n; i += 32) {
		uint64_t w[4];
		memcpy(w, src + i, sizeof(w));
		w[0] ^= k;
		w[1] ^= k;
		w[2] ^= k;
		w[3] ^= k;
		memcpy(dst + i, w, sizeof(w));
	}
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, src + i, sizeof(w));
		w ^= k;
		memcpy(dst + i, &w, sizeof(w));
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ kb[i & 7];
	return (unsigned)((phase + n) & 3);
}

/* Returns the index of the first invalid byte, or n when all are valid so far. */
static size_t utf8_scan(struct utf8 *u, const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (u->need == 0) {
			/* ASCII fast path, 8 bytes at a time */
			while (i + 8 <= n) {
				uint64_t w;
				memcpy(&w, s + i, sizeof(w));
				if (w & 0x8080808080808080ull)
					break;
				i += 8;
			}
			if (i == n)
				break;
			uint8_t c = s[i];
			if (c < 0x80) {
				i++;
				continue;
			}
			u->lo = 0x80;
			u->hi = 0xBF;
			if (c >= 0xC2 && c <= 0xDF) {
				u->need = 1;
			} else if (c >= 0xE0 && c <= 0xEF) {
				u->need = 2;
				if (c == 0xE0)
					u->lo = 0xA0;
				else if (c == 0xED)
					u->hi = 0x9F;
			} else if (c >= 0xF0 && c <= 0xF4) {
				u->need = 3;
				if (c == 0xF0)
					u->lo = 0x90;
				else if (c == 0xF4)
					u->hi = 0x8F;
			} else {
				return i;
			}
			i++;
			continue;
		}
		uint8_t c = s[i];
		if (c < u->lo || c > u->hi)
			return i;
		u->need--;
		u->lo = 0x80;
		u->hi = 0xBF;
		i++;
	}
	return n;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
	struct utf8 u = {0, 0x80, 0xBF};
	return utf8_scan(&u, s, n) == n && u.need == 0;
}

bool sm_ws_close_code_valid(uint16_t code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

static uint16_t reason_close_code(enum sm_ws_reason r)
{
	switch (r) {
	case SM_WS_R_NONE:
	case SM_WS_R_TRUNCATED: return 0;
	case SM_WS_R_BAD_CLOSE_UTF8:
	case SM_WS_R_BAD_UTF8: return 1007;
	case SM_WS_R_TOO_BIG:
	case SM_WS_R_INFLATE_BOMB: return 1009;
	case SM_WS_R_INFLATE_CORRUPT: return 1007;
	case SM_WS_R_INFLATE_NOMEM: return 1011;
	default: return 1002;
	}
}

/* Reports an error at stream offset at. Fatal errors stop the parser. */
static void error_at(struct sm_ws *p, enum sm_ws_reason r, uint64_t at)
{
	/* every other frame header still gives the frame's length, so the
	 * framing goes on past the error */
	bool fatal = r == SM_WS_R_BAD_LENGTH;
	struct sm_ws_event ev = {
	        .type = SM_WS_EV_ERROR,
	        .dir = p->dir,
	        .opcode = p->opcode,
	        .error = r,
	        .suggested_close = reason_close_code(r),
	        .fatal = fatal,
	        .offset = at,
	};
	p->st.errors++;
	if (r == SM_WS_R_TOO_BIG)
		p->st.oversized++;
	if (r >= SM_WS_R_INFLATE_CORRUPT)
		p->st.inflate_errors++;
	if (r == SM_WS_R_INFLATE_BOMB)
		p->st.inflate_bombs++;
	if (fatal)
		p->state = ST_FAILED;
	p->cb(p->ctx, &ev);
}

static void message_reset(struct sm_ws *p)
{
	p->in_msg = false;
	p->msg_compressed = false;
	p->msg_oversized = false;
	p->msg_bad_utf8 = false;
	p->msg_inflate = false;
	p->msg_zfail = false;
	p->zpend = 0;
	p->msg_frames = 0;
	p->msg_len = 0;
	p->buf_len = 0;
	p->u8 = (struct utf8){0, 0x80, 0xBF};
}

/* Bytes buf[before..buf_len) just came out of the inflater: validate text,
 * apply the size limit to the decoded length. */
static void decoded(struct sm_ws *p, size_t before)
{
	size_t got = p->buf_len - before;
	if (got && p->msg_op == SM_WS_OP_TEXT && !p->msg_bad_utf8 && !p->msg_oversized) {
		size_t bad = utf8_scan(&p->u8, p->buf + before, got);
		if (bad < got) {
			p->msg_bad_utf8 = true;
			p->zpend |= ZP_UTF8;
		}
	}
	if (!p->msg_oversized && sm_inflate_produced(p->zi) > p->max_message) {
		p->msg_oversized = true;
		p->zpend |= ZP_TOO_BIG;
	}
	if (p->buf_len > p->st.reassembly_hwm)
		p->st.reassembly_hwm = p->buf_len;
}

static void inflate_failed(struct sm_ws *p)
{
	enum sm_inflate_reason zr = sm_inflate_reason(p->zi);
	p->msg_zfail = true;
	p->zpend |= ZP_INFLATE;
	p->zreason = zr == SM_INFLATE_BOMB    ? SM_WS_R_INFLATE_BOMB
	             : zr == SM_INFLATE_NOMEM ? SM_WS_R_INFLATE_NOMEM
	                                      : SM_WS_R_INFLATE_CORRUPT;
}

/* The message ends: at its FIN frame, or cut before it (a framing error, a
 * close frame, the end of the stream) with what was seen of it. */
static void message_end(struct sm_ws *p, bool cut)
{
	if (p->msg_inflate) {
		if (!cut) { /* always ended: a failure may lose the window */
			size_t before = p->buf_len;
			bool failed = p->msg_zfail;
			int r = sm_inflate_end(p->zi, p->buf, p->max_message, &p->buf_len);
			if (!failed) {
				decoded(p, before);
				if (r)
					inflate_failed(p);
			}
		}
		if (p->zpend & ZP_UTF8)
			error_at(p, SM_WS_R_BAD_UTF8, p->off);
		if (p->zpend & ZP_TOO_BIG)
			error_at(p, SM_WS_R_TOO_BIG, p->off);
		if (p->zpend & ZP_INFLATE)
			error_at(p, (enum sm_ws_reason)p->zreason, p->off);
	}
	bool text_checked = p->msg_op == SM_WS_OP_TEXT && (!p->msg_compressed || p->msg_inflate);
	if (!cut && text_checked && !p->msg_oversized && !p->msg_bad_utf8 && p->u8.need != 0) {
		p->msg_bad_utf8 = true; /* message ends inside a sequence */
		error_at(p, SM_WS_R_BAD_UTF8, p->off);
	}
	if (cut) {
		p->st.truncated++;
		error_at(p, SM_WS_R_TRUNCATED, p->off);
	}
	bool whole = !cut && !p->msg_oversized && !p->msg_bad_utf8 && !p->msg_zfail;
	struct sm_ws_event ev = {
	        .type = SM_WS_EV_MESSAGE,
	        .dir = p->dir,
	        .opcode = p->msg_op,
	        .compressed = p->msg_compressed,
	        .decoded = p->msg_inflate,
	        .oversized = p->msg_oversized,
	        .invalid_utf8 = p->msg_bad_utf8,
	        .truncated = cut,
	        .frames = p->msg_frames,
	        .length = p->msg_len,
	        .decoded_length = p->msg_inflate ? sm_inflate_produced(p->zi) : p->msg_len,
	        .excerpt = p->buf,
	        .excerpt_len = p->buf_len < p->excerpt_max ? p->buf_len : p->excerpt_max,
	        .payload = whole ? p->buf : NULL,
	        .payload_len = whole ? p->buf_len : 0,
	        .offset = p->off,
	};
	p->st.messages++;
	p->st.inflated += p->msg_inflate && !p->msg_zfail && !cut;
	if (cut && p->msg_inflate) {
		/* its deflate stream never ends: with context takeover the
		 * window is lost for good (later compressed messages are not
		 * decoded); without, the next one gets a fresh inflater */
		sm_inflate_free(p->zi);
		p->zi = NULL;
		p->zlost = !p->zcfg.no_context_takeover;
	}
	p->cb(p->ctx, &ev);
	message_reset(p);
}

/* What header_done() decided for the frame. */
enum { HD_READ, HD_SKIP, HD_FATAL };

/* Header complete: validate it. A frame with an error is skipped unread
 * (its length is known, so the framing goes on); a data frame among them
 * cuts the open message and, without FIN, the continuations that follow
 * it. Only a length with the high bit set is fatal. */
static int header_done(struct sm_ws *p)
{
	uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
	uint8_t len7 = b1 & 0x7f;
	const uint8_t *h = p->hdr + 2;
	bool rsv1 = b0 & 0x40;
	p->fin = b0 & 0x80;
	p->opcode = b0 & 0x0f;
	p->masked = b1 & 0x80;
	if (len7 == 126) {
		p->flen = (uint64_t)h[0] << 8 | h[1];
		h += 2;
	} else if (len7 == 127) {
		p->flen = 0;
		for (int i = 0; i < 8; i++)
			p->flen = p->flen << 8 | h[i];
		h += 8;
	} else {
		p->flen = len7;
	}
	if (p->masked)
		memcpy(p->key, h, 4);
	p->fgot = 0;
	p->phase = 0;
	p->st.frames++;

	bool control = p->opcode & 0x08;
	bool bad_length = len7 == 127 && (p->flen >> 63);
	if (p->lost && p->opcode == SM_WS_OP_CONT && !bad_length) {
		p->lost = !p->fin; /* the rest of a message already reported cut */
		p->st.skipped++;
		return HD_SKIP;
	}
	if (!control)
		p->lost = false;
	enum sm_ws_reason r = SM_WS_R_NONE;
	if (bad_length)
		r = SM_WS_R_BAD_LENGTH;
	else if (b0 & 0x30)
		r = SM_WS_R_RSV_BITS;
	else if ((p->opcode > SM_WS_OP_BINARY && p->opcode < SM_WS_OP_CLOSE) ||
	         p->opcode > SM_WS_OP_PONG)
		r = SM_WS_R_RESERVED_OPCODE;
	else if (p->dir == SM_WS_CLIENT_TO_SERVER && !p->masked)
		r = SM_WS_R_MASK_REQUIRED;
	else if (p->dir == SM_WS_SERVER_TO_CLIENT && p->masked)
		r = SM_WS_R_MASK_FORBIDDEN;
	else if ((len7 == 126 && p->flen < 126) || (len7 == 127 && p->flen <= 0xffff))
		r = SM_WS_R_NON_MINIMAL_LENGTH;
	else if (control && !p->fin)
		r = SM_WS_R_CONTROL_FRAGMENTED;
	else if (control && p->flen > SM_WS_CONTROL_MAX)
		r = SM_WS_R_CONTROL_TOO_LONG;
	else if (rsv1 && (control || p->opcode == SM_WS_OP_CONT || !p->deflate))
		r = SM_WS_R_RSV_BITS;
	else if (p->opcode == SM_WS_OP_CONT && !p->in_msg)
		r = SM_WS_R_UNEXPECTED_CONT;
	else if (!control && p->opcode != SM_WS_OP_CONT && p->in_msg)
		r = SM_WS_R_EXPECTED_CONT;
	if (r != SM_WS_R_NONE)
		error_at(p, r, p->off);
	if (r == SM_WS_R_BAD_LENGTH) { /* where the next frame starts is unknown */
		if (p->in_msg)
			message_end(p, true);
		return HD_FATAL;
	}
	if (r == SM_WS_R_EXPECTED_CONT) {
		message_end(p, true); /* a valid frame: it starts the next message */
	} else if (r != SM_WS_R_NONE) {
		if (!control) {
			if (p->in_msg)
				message_end(p, true);
			p->lost = !p->fin;
		}
		p->st.skipped++;
		return HD_SKIP;
	}
	if (control) {
		p->ctrl_len = 0;
		return HD_READ;
	}
	if (p->opcode != SM_WS_OP_CONT) {
		p->in_msg = true;
		p->msg_op = p->opcode;
		p->msg_compressed = rsv1;
		if (rsv1 && p->inflate_on && !p->zlost) {
			if (!p->zi)
				p->zi = sm_inflate_new(&p->zcfg);
			p->msg_inflate = p->zi && sm_inflate_usable(p->zi);
			if (!p->zi)
				error_at(p, SM_WS_R_INFLATE_NOMEM, p->off);
		}
	}
	p->msg_frames++;
	bool was_over = p->msg_oversized;
	/* an inflated message is measured by its decoded bytes (decoded()) */
	if (!p->msg_inflate &&
	    (p->flen > p->max_message - p->msg_len || p->msg_len > p->max_message))
		p->msg_oversized = true;
	p->msg_len += p->flen; /* flen < 2^63 and msg_len stays far below 2^64 in practice */
	if (p->msg_oversized && !was_over)
		error_at(p, SM_WS_R_TOO_BIG, p->off);
	return HD_READ;
}

static void control_done(struct sm_ws *p)
{
	struct sm_ws_event ev = {
	        .dir = p->dir,
	        .opcode = p->opcode,
	        .length = p->ctrl_len,
	        .payload = p->ctrl,
	        .payload_len = p->ctrl_len,
	        .offset = p->off,
	};
	p->st.control++;
	if (p->opcode == SM_WS_OP_PING) {
		ev.type = SM_WS_EV_PING;
	} else if (p->opcode == SM_WS_OP_PONG) {
		ev.type = SM_WS_EV_PONG;
	} else {
		/* a close with a bad payload is reported and otherwise ignored */
		ev.type = SM_WS_EV_CLOSE;
		ev.close_code = 1005; /* no status code present */
		if (p->ctrl_len == 1) {
			error_at(p, SM_WS_R_BAD_CLOSE_PAYLOAD, p->off);
			return;
		}
		if (p->ctrl_len >= 2) {
			ev.close_code = (uint16_t)(p->ctrl[0] << 8 | p->ctrl[1]);
			ev.reason = (const char *)p->ctrl + 2;
			ev.reason_len = p->ctrl_len - 2;
			if (!sm_ws_close_code_valid(ev.close_code)) {
				error_at(p, SM_WS_R_BAD_CLOSE_CODE, p->off);
				return;
			}
			if (!utf8_valid(p->ctrl + 2, p->ctrl_len - 2)) {
				error_at(p, SM_WS_R_BAD_CLOSE_UTF8, p->off);
				return;
			}
		}
		if (p->in_msg) /* the sender ends here: the open message never will */
			message_end(p, true);
		p->lost = false;
		p->state = ST_CLOSED;
	}
	p->cb(p->ctx, &ev);
}

/* Payload of a compressed message: unmasked in pieces and inflated; the
 * decoded bytes land in buf like plain payload. */
static void inflate_run(struct sm_ws *p, const uint8_t *src, size_t n)
{
	uint8_t tmp[2048];
	unsigned phase = p->phase;
	while (n > 0 && !p->msg_zfail) {
		size_t k = n;
		const uint8_t *in = src;
		if (p->masked) {
			k = n < sizeof(tmp) ? n : sizeof(tmp);
			phase = sm_ws_unmask(tmp, src, k, p->key, phase);
			in = tmp;
		}
		size_t before = p->buf_len;
		int r = sm_inflate_feed(p->zi, in, k, p->buf, p->max_message, &p->buf_len);
		decoded(p, before);
		if (r)
			inflate_failed(p);
		src += k;
		n -= k;
	}
}

static void frame_done(struct sm_ws *p)
{
	p->state = ST_HEADER;
	p->hdr_have = 0;
	if (p->opcode & 0x08)
		control_done(p);
	else if (p->fin)
		message_end(p, false);
}

/* Copy (and unmask) n payload bytes to dst, advancing the mask phase. */
static void take_bytes(struct sm_ws *p, uint8_t *dst, const uint8_t *src, size_t n)
{
	if (p->masked)
		sm_ws_unmask(dst, src, n, p->key, p->phase);
	else
		memcpy(dst, src, n);
}

static void payload_run(struct sm_ws *p, const uint8_t *src, size_t n)
{
	if (p->opcode & 0x08) {
		take_bytes(p, p->ctrl + p->ctrl_len, src, n); /* flen <= 125 was checked */
		p->ctrl_len += n;
	} else if (p->msg_inflate) {
		inflate_run(p, src, n);
	} else {
		bool skip = p->msg_oversized || p->msg_bad_utf8;
		size_t keep = n;
		if (skip) /* only the excerpt is still filled */
			keep = p->buf_len < p->excerpt_max ? p->excerpt_max - p->buf_len : 0;
		if (keep > n)
			keep = n;
		if (keep) {
			uint8_t *dst = p->buf + p->buf_len;
			take_bytes(p, dst, src, keep);
			if (!skip && p->msg_op == SM_WS_OP_TEXT && !p->msg_compressed) {
				size_t bad = utf8_scan(&p->u8, dst, keep);
				if (bad < keep) {
					p->msg_bad_utf8 = true;
					error_at(p, SM_WS_R_BAD_UTF8, p->off + bad + 1);
				}
			}
			p->buf_len += keep;
			if (p->buf_len > p->st.reassembly_hwm)
				p->st.reassembly_hwm = p->buf_len;
		}
	}
	p->phase = (uint8_t)((p->phase + n) & 3);
	p->fgot += n;
	p->off += n;
}

/* Header bytes needed: 2 until they are in, then the full header size. */
static size_t header_need(const struct sm_ws *p)
{
	if (p->hdr_have < 2)
		return 2;
	uint8_t len7 = p->hdr[1] & 0x7f;
	size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
	return need + ((p->hdr[1] & 0x80) ? 4 : 0);
}

long sm_ws_feed(struct sm_ws *p, const void *data, size_t len)
{
	const uint8_t *b = data;
	size_t i = 0;
	if (p->state == ST_FINISHED)
		return SM_ERR_STATE;
	if (p->state == ST_FAILED)
		return SM_ERR_PROTOCOL;
	if (len == 0)
		return 0; /* also keeps NULL + 0 out of pointer arithmetic */
	p->st.bytes += len;
	while (i < len) {
		switch (p->state) {
		case ST_HEADER: {
			size_t need = header_need(p);
			size_t take = need - p->hdr_have;
			if (take > len - i)
				take = len - i;
			memcpy(p->hdr + p->hdr_have, b + i, take);
			p->hdr_have += (uint8_t)take;
			i += take;
			p->off += take;
			if (p->hdr_have < header_need(p))
				break; /* input used up, or the first 2 bytes made it longer */
			int hd = header_done(p);
			if (hd == HD_FATAL)
				return SM_ERR_PROTOCOL;
			if (hd == HD_SKIP) {
				p->state = p->flen ? ST_SKIP : ST_HEADER;
				p->hdr_have = 0;
				break;
			}
			p->state = ST_PAYLOAD;
			if (p->flen == 0)
				frame_done(p);
			break;
		}
		case ST_PAYLOAD: {
			uint64_t left = p->flen - p->fgot;
			size_t n = left < (uint64_t)(len - i) ? (size_t)left : len - i;
			payload_run(p, b + i, n);
			i += n;
			if (p->fgot == p->flen)
				frame_done(p);
			break;
		}
		case ST_SKIP: {
			uint64_t left = p->flen - p->fgot;
			size_t n = left < (uint64_t)(len - i) ? (size_t)left : len - i;
			p->fgot += n;
			p->off += n;
			i += n;
			if (p->fgot == p->flen) {
				p->state = ST_HEADER;
				p->hdr_have = 0;
			}
			break;
		}
		case ST_CLOSED:
			/* the sender should have stopped; the frame boundary is
			 * known, so say so once and go on framing */
			error_at(p, SM_WS_R_AFTER_CLOSE, p->off + 1);
			p->state = ST_HEADER;
			p->hdr_have = 0;
			break;
		default: return SM_ERR_PROTOCOL;
		}
	}
	return (long)len;
}

int sm_ws_finish(struct sm_ws *p)
{
	if (p->state == ST_FINISHED)
		return SM_ERR_STATE;
	if (p->state == ST_FAILED)
		return SM_ERR_PROTOCOL;
	bool inside = p->state == ST_PAYLOAD || p->state == ST_SKIP ||
	              (p->state == ST_HEADER && p->hdr_have);
	int r = inside || p->in_msg ? SM_ERR_TRUNCATED : SM_OK;
	if (p->in_msg) {
		if (p->state == ST_PAYLOAD && !(p->opcode & 0x08))
			p->msg_len -= p->flen - p->fgot; /* the bytes of it never seen */
		message_end(p, true);
	} else if (inside && p->state != ST_SKIP) {
		p->st.truncated++;
		error_at(p, SM_WS_R_TRUNCATED, p->off); /* a frame cut, no message open */
	}
	p->state = ST_FINISHED;
	return r;
}

const char *sm_ws_ev_type_str(enum sm_ws_ev_type t)
{
	switch (t) {
	case SM_WS_EV_MESSAGE: return "message";
	case SM_WS_EV_PING: return "ping";
	case SM_WS_EV_PONG: return "pong";
	case SM_WS_EV_CLOSE: return "close";
	case SM_WS_EV_ERROR: return "error";
	}
	return "unknown";
}

const char *sm_ws_reason_str(enum sm_ws_reason r)
{
	switch (r) {
	case SM_WS_R_NONE: return "none";
	case SM_WS_R_MASK_REQUIRED: return "mask_required";
	case SM_WS_R_MASK_FORBIDDEN: return "mask_forbidden";
	case SM_WS_R_BAD_LENGTH: return "bad_length";
	case SM_WS_R_NON_MINIMAL_LENGTH: return "non_minimal_length";
	case SM_WS_R_RSV_BITS: return "rsv_bits";
	case SM_WS_R_RESERVED_OPCODE: return "reserved_opcode";
	case SM_WS_R_CONTROL_TOO_LONG: return "control_too_long";
	case SM_WS_R_CONTROL_FRAGMENTED: return "control_fragmented";
	case SM_WS_R_UNEXPECTED_CONT: return "unexpected_continuation";
	case SM_WS_R_EXPECTED_CONT: return "expected_continuation";
	case SM_WS_R_BAD_CLOSE_PAYLOAD: return "bad_close_payload";
	case SM_WS_R_BAD_CLOSE_CODE: return "bad_close_code";
	case SM_WS_R_BAD_CLOSE_UTF8: return "bad_close_utf8";
	case SM_WS_R_BAD_UTF8: return "bad_utf8";
	case SM_WS_R_TOO_BIG: return "too_big";
	case SM_WS_R_AFTER_CLOSE: return "after_close";
	case SM_WS_R_INFLATE_CORRUPT: return "inflate_corrupt";
	case SM_WS_R_INFLATE_BOMB: return "inflate_bomb";
	case SM_WS_R_INFLATE_NOMEM: return "inflate_nomem";
	case SM_WS_R_TRUNCATED: return "truncated";
	}
	return "unknown";
}
