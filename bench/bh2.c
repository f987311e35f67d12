/* HTTP/2 client session for soth-bench; see bh2.h. */
#include "bench/bh2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "base/result.h"

struct slot {
	uint64_t tag;
	uint64_t bytes, data_bytes, hdr_bytes;
	int32_t id;
	uint16_t status;
	uint32_t interim;
	uint32_t rst_code;
	uint8_t used;       /* submitted, result not popped */
	uint8_t ended;      /* final response ended with END_STREAM */
	uint8_t peer_reset; /* RST_STREAM received */
	uint8_t closed;     /* result queued */
};

struct sm_bh2 {
	nghttp2_session *s;
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	struct slot *slots;
	unsigned n;
	unsigned active;
	unsigned *freel; /* free slot stack */
	unsigned nfree;
	unsigned *q; /* closed slots awaiting pop, FIFO */
	unsigned qhead, qlen;
	const uint8_t *out;
	size_t out_len;
	uint8_t goaway;
	uint32_t goaway_code;
	int32_t goaway_last;
	enum sm_bh2_reason why;
	uint8_t over;        /* the connection ended: later input is ignored */
	uint8_t hdr[3];      /* length bytes of the frame header being read */
	uint8_t hdr_have;    /* frame header bytes seen (0..9) */
	uint32_t frame_left; /* payload bytes left in the current frame */
	char scheme[8];
	char authority[300];
	char path[1024];
	char ua[96];
};

const char *sm_bh2_outcome_str(enum sm_bh2_outcome o)
{
	static const char *const names[] = {"done", "reset", "refused", "broken"};
	return (unsigned)o < 4 ? names[o] : "unknown";
}

const char *sm_bh2_reason_str(enum sm_bh2_reason r)
{
	static const char *const names[] = {
	        "ok", "protocol", "local_goaway", "peer_goaway", "nomem", "closed",
	};
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "unknown";
}

/* The open slot of stream id, or NULL. A slot finished early (stream
 * error, connection failure) may be popped and reused while nghttp2 still
 * holds the old stream: the id check keeps late callbacks off the new one. */
static struct slot *slot_of(struct sm_bh2 *h, int32_t id)
{
	struct slot *sl = nghttp2_session_get_stream_user_data(h->s, id);
	if (sl)
		return sl->used && !sl->closed && sl->id == id ? sl : NULL;
	for (unsigned i = 0; i < h->n; i++) /* a stream nghttp2 never opened */
		if (h->slots[i].used && !h->slots[i].closed && h->slots[i].id == id)
			return &h->slots[i];
	return NULL;
}

/* Queues the slot's result once. */
static void finish(struct sm_bh2 *h, struct slot *sl, uint32_t code)
{
	if (sl->closed)
		return;
	sl->closed = 1;
	sl->rst_code = sl->peer_reset ? sl->rst_code : code;
	h->q[(h->qhead + h->qlen) % h->n] = (unsigned)(sl - h->slots);
	h->qlen++;
	h->active--;
}

/* The connection failed: every stream still open ends BROKEN with `code`
 * (the GOAWAY's), whichever frames nghttp2 would still have sent. */
static void set_failed(struct sm_bh2 *h, enum sm_bh2_reason why, uint32_t code)
{
	if (h->why != SM_BH2_R_OK)
		return;
	h->why = why;
	for (unsigned i = 0; i < h->n; i++) {
		struct slot *sl = &h->slots[i];
		if (sl->used && !sl->closed) {
			sl->ended = 0;
			sl->peer_reset = 0;
			finish(h, sl, code);
		}
	}
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct sm_bh2 *h = ud;
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct slot *sl = slot_of(h, f->hd.stream_id);
	if (!sl)
		return 0;
	sl->hdr_bytes += namelen + valuelen + 32; /* RFC 9113 field size */
	if (sl->hdr_bytes > SM_BH2_MAX_HDR) {
		sl->ended = 0;
		finish(h, sl, NGHTTP2_INTERNAL_ERROR);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
	}
	sl->bytes += namelen + valuelen;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0 && valuelen == 3) {
		unsigned st = (unsigned)(value[0] - '0') * 100 + (unsigned)(value[1] - '0') * 10 +
		              (unsigned)(value[2] - '0'); /* nghttp2 checked the digits */
		if (st < 200) {
			sl->interim++;
		} else {
			sl->status = (uint16_t)st;
		}
	}
	return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sm_bh2 *h = ud;
	if (f->hd.type == NGHTTP2_GOAWAY) {
		h->goaway = 1;
		h->goaway_code = f->goaway.error_code;
		h->goaway_last = f->goaway.last_stream_id;
		if (f->goaway.error_code != NGHTTP2_NO_ERROR)
			set_failed(h, SM_BH2_R_PEER_GOAWAY, f->goaway.error_code);
		return 0;
	}
	if (f->hd.stream_id == 0)
		return 0;
	struct slot *sl = slot_of(h, f->hd.stream_id);
	if (!sl)
		return 0;
	if (f->hd.type == NGHTTP2_DATA) {
		/* counted once the frame is whole and valid: nghttp2 hands chunks
		 * over as they arrive, and how many it hands over before it finds a
		 * bad frame (a Content-Length overrun) depends on where the input
		 * was cut */
		size_t len = f->hd.length - f->data.padlen;
		sl->bytes += len;
		sl->data_bytes += len;
	}
	if (f->hd.type == NGHTTP2_RST_STREAM) {
		sl->peer_reset = 1;
		sl->rst_code = f->rst_stream.error_code;
	} else if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	           (f->hd.flags & NGHTTP2_FLAG_END_STREAM) && sl->status >= 200) {
		sl->ended = 1;
	}
	return 0;
}

/* A stream error found on receipt (malformed response, flow control):
 * nghttp2 resets the stream when it next sends; the stream is over now,
 * whenever that RST_STREAM leaves. */
static int on_invalid_frame(nghttp2_session *s, const nghttp2_frame *f, int err, void *ud)
{
	struct sm_bh2 *h = ud;
	if (f->hd.stream_id == 0)
		return 0;
	struct slot *sl = slot_of(h, f->hd.stream_id);
	if (sl) {
		sl->ended = 0;
		finish(h, sl, NGHTTP2_PROTOCOL_ERROR);
	}
	return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct sm_bh2 *h = ud;
	if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR)
		set_failed(h, SM_BH2_R_LOCAL_GOAWAY, f->goaway.error_code);
	return 0;
}

static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f, int err, void *ud)
{
	struct sm_bh2 *h = ud;
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct slot *sl = slot_of(h, f->hd.stream_id);
	if (sl) /* e.g. not allowed to open streams after a GOAWAY */
		finish(h, sl, NGHTTP2_REFUSED_STREAM);
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	struct sm_bh2 *h = ud;
	struct slot *sl = slot_of(h, id);
	if (sl)
		finish(h, sl, code);
	return 0;
}

struct sm_bh2 *sm_bh2_new(unsigned max_streams)
{
	if (max_streams == 0 || max_streams > SM_BH2_MAX_STREAMS)
		return NULL;
	struct sm_bh2 *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->n = max_streams;
	h->slots = calloc(max_streams, sizeof(*h->slots));
	h->freel = calloc(max_streams, sizeof(*h->freel));
	h->q = calloc(max_streams, sizeof(*h->q));
	if (!h->slots || !h->freel || !h->q || nghttp2_session_callbacks_new(&h->cb) != 0 ||
	    nghttp2_option_new(&h->opt) != 0) {
		sm_bh2_free(h);
		return NULL;
	}
	nghttp2_session_callbacks_set_on_header_callback(h->cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(h->cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(h->cb, on_frame_send);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(h->cb, on_invalid_frame);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(h->cb, on_frame_not_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(h->cb, on_stream_close);
	nghttp2_option_set_max_send_header_block_length(h->opt, SM_BH2_MAX_HDR);
	return h;
}

void sm_bh2_close(struct sm_bh2 *h)
{
	if (h->s) {
		nghttp2_session_del(h->s); /* no callbacks from here */
		h->s = NULL;
	}
	memset(h->slots, 0, h->n * sizeof(*h->slots));
	for (unsigned i = 0; i < h->n; i++)
		h->freel[i] = h->n - 1 - i;
	h->nfree = h->n;
	h->active = h->qhead = h->qlen = 0;
	h->out = NULL;
	h->out_len = 0;
	h->goaway = 0;
	h->goaway_code = 0;
	h->goaway_last = 0;
	h->why = SM_BH2_R_OK;
	h->over = 0;
	h->hdr_have = 0;
	h->frame_left = 0;
}

void sm_bh2_free(struct sm_bh2 *h)
{
	if (!h)
		return;
	if (h->s)
		nghttp2_session_del(h->s);
	if (h->cb)
		nghttp2_session_callbacks_del(h->cb);
	if (h->opt)
		nghttp2_option_del(h->opt);
	free(h->slots);
	free(h->freel);
	free(h->q);
	free(h);
}

static int copy_str(char *dst, size_t cap, const char *src)
{
	int n = snprintf(dst, cap, "%s", src ? src : "");
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int sm_bh2_open(struct sm_bh2 *h, const struct sm_bh2_req *req)
{
	sm_bh2_close(h);
	if (copy_str(h->scheme, sizeof(h->scheme), req->scheme) < 0 ||
	    copy_str(h->authority, sizeof(h->authority), req->authority) < 0 ||
	    copy_str(h->path, sizeof(h->path), req->path) < 0 ||
	    copy_str(h->ua, sizeof(h->ua), req->user_agent) < 0)
		return SM_ERR_LIMIT;
	if (nghttp2_session_client_new2(&h->s, h->cb, h, h->opt) != 0) {
		h->s = NULL;
		return SM_ERR_NOMEM;
	}
	nghttp2_settings_entry iv[] = {
	        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, SM_BH2_STREAM_WIN},
	        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, SM_BH2_MAX_HDR},
	};
	if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
	    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, SM_BH2_CONN_WIN) !=
	            0) {
		sm_bh2_close(h);
		return SM_ERR_NOMEM;
	}
	return SM_OK;
}

int sm_bh2_can_submit(const struct sm_bh2 *h)
{
	return h->s && h->nfree > 0 && !h->goaway && h->why == SM_BH2_R_OK &&
	       nghttp2_session_want_read(h->s);
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE     \
	}

int sm_bh2_submit(struct sm_bh2 *h, uint64_t tag)
{
	if (!sm_bh2_can_submit(h))
		return SM_ERR_LIMIT;
	nghttp2_nv nv[] = {
	        NV(":method", "GET"), NV(":scheme", h->scheme), NV(":authority", h->authority),
	        NV(":path", h->path), NV("accept", "*/*"),      NV("user-agent", h->ua),
	};
	size_t nnv = h->ua[0] ? 6 : 5;
	unsigned i = h->freel[h->nfree - 1];
	struct slot *sl = &h->slots[i];
	memset(sl, 0, sizeof(*sl));
	int32_t id = nghttp2_submit_request(h->s, NULL, nv, nnv, NULL, sl);
	if (id < 0)
		return id == NGHTTP2_ERR_NOMEM ? SM_ERR_NOMEM : SM_ERR_LIMIT;
	h->nfree--;
	sl->used = 1;
	sl->tag = tag;
	sl->id = id;
	h->active++;
	return id;
}

/* Bytes up to the end of the current frame (header included), tracking
 * frame boundaries so that the input can stop exactly after the frame that
 * ended the connection, wherever the caller's pieces are cut. */
static size_t to_frame_end(struct sm_bh2 *h, const uint8_t *in, size_t len)
{
	size_t k = 0;
	while (k < len && h->hdr_have < 9) {
		if (h->hdr_have < 3)
			h->hdr[h->hdr_have] = in[k];
		h->hdr_have++;
		k++;
		if (h->hdr_have == 9)
			h->frame_left = ((uint32_t)h->hdr[0] << 16) | ((uint32_t)h->hdr[1] << 8) |
			                h->hdr[2];
	}
	if (h->hdr_have < 9)
		return k;
	size_t body = len - k < h->frame_left ? len - k : h->frame_left;
	h->frame_left -= (uint32_t)body;
	if (h->frame_left == 0)
		h->hdr_have = 0;
	return k + body;
}

static int is_over(struct sm_bh2 *h)
{
	return h->why != SM_BH2_R_OK || (h->goaway && h->active == 0) ||
	       !nghttp2_session_want_read(h->s);
}

long sm_bh2_feed(struct sm_bh2 *h, const uint8_t *in, size_t len)
{
	if (!h->s)
		return SM_ERR_PROTOCOL;
	size_t off = 0;
	while (off < len && !h->over) {
		size_t k = to_frame_end(h, in + off, len - off);
		ssize_t rv = nghttp2_session_mem_recv(h->s, in + off, k);
		if (rv < 0) {
			set_failed(h, rv == NGHTTP2_ERR_NOMEM ? SM_BH2_R_NOMEM : SM_BH2_R_PROTOCOL,
			           NGHTTP2_INTERNAL_ERROR);
			h->over = 1;
			return SM_ERR_PROTOCOL;
		}
		off += k;
		if (h->hdr_have == 0 && is_over(h))
			h->over = 1;
	}
	return (long)len; /* after the end, bytes are dropped */
}

size_t sm_bh2_out(struct sm_bh2 *h, const uint8_t **p)
{
	if (!h->s)
		return 0;
	if (h->out_len == 0) {
		const uint8_t *d = NULL;
		ssize_t n = nghttp2_session_mem_send(h->s, &d);
		if (n < 0) {
			set_failed(h, n == NGHTTP2_ERR_NOMEM ? SM_BH2_R_NOMEM : SM_BH2_R_PROTOCOL,
			           NGHTTP2_INTERNAL_ERROR);
			return 0;
		}
		h->out = d;
		h->out_len = (size_t)n;
	}
	*p = h->out;
	return h->out_len;
}

void sm_bh2_out_done(struct sm_bh2 *h, size_t k)
{
	if (k > h->out_len)
		k = h->out_len;
	h->out += k;
	h->out_len -= k;
}

int sm_bh2_next_result(struct sm_bh2 *h, struct sm_bh2_result *r)
{
	if (h->qlen == 0)
		return 0;
	unsigned i = h->q[h->qhead];
	h->qhead = (h->qhead + 1) % h->n;
	h->qlen--;
	struct slot *sl = &h->slots[i];
	*r = (struct sm_bh2_result){.tag = sl->tag,
	                            .status = sl->status,
	                            .interim = sl->interim,
	                            .bytes = sl->bytes,
	                            .data_bytes = sl->data_bytes};
	if (sl->ended) {
		r->outcome = SM_BH2_DONE;
	} else if (sl->peer_reset) {
		r->outcome = sl->rst_code == NGHTTP2_REFUSED_STREAM ? SM_BH2_REFUSED : SM_BH2_RESET;
		r->error_code = sl->rst_code;
	} else if (sl->rst_code == NGHTTP2_REFUSED_STREAM) {
		r->outcome = SM_BH2_REFUSED;
		r->error_code = sl->rst_code;
	} else {
		r->outcome = SM_BH2_BROKEN;
		r->error_code = sl->rst_code;
	}
	sl->used = 0;
	h->freel[h->nfree++] = i;
	return 1;
}

unsigned sm_bh2_active(const struct sm_bh2 *h)
{
	return h->active;
}

enum sm_bh2_reason sm_bh2_failed(const struct sm_bh2 *h)
{
	if (h->why != SM_BH2_R_OK)
		return h->why;
	if (h->s && !h->goaway && !nghttp2_session_want_read(h->s) &&
	    !nghttp2_session_want_write(h->s))
		return SM_BH2_R_CLOSED;
	return SM_BH2_R_OK;
}

int sm_bh2_goaway(const struct sm_bh2 *h, uint32_t *code, int32_t *last_id)
{
	if (code)
		*code = h->goaway_code;
	if (last_id)
		*last_id = h->goaway_last;
	return h->goaway;
}
