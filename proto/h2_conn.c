/* proto/h2: the connection side of the relay — the object's life (limits,
 * budgeted memory, sessions), feeding bytes, writing frames, EOF and the
 * loss of a side. The nghttp2 callbacks that map streams are proto/h2.c. */
#include <string.h>

#include "base/result.h"
#include "proto/h2_int.h"

#define OTHER(side) (1 - (side))

/* ---- nghttp2 memory through the budget ---- */

static void *mem_malloc(size_t n, void *ud)
{
	return h2_alloc(ud, n);
}
static void mem_free(void *p, void *ud)
{
	h2_free(ud, p);
}
static void *mem_calloc(size_t n, size_t sz, void *ud)
{
	if (sz && n > SIZE_MAX / sz)
		return NULL;
	void *p = h2_alloc(ud, n * sz);
	if (p)
		memset(p, 0, n * sz);
	return p;
}
static void *mem_realloc(void *p, size_t n, void *ud)
{
	return h2_realloc(ud, p, n);
}

/* ---- API ---- */

int h2_session_open(struct sm_h2 *h, int side, nghttp2_session_callbacks *cb, void *ud)
{
	nghttp2_option *opt;
	if (nghttp2_option_new(&opt) != 0)
		return -1;
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_send_header_block_length(opt, h->lim.max_header_list + 16384);
	int rv;
	if (side == SM_H2_CLIENT)
		rv = nghttp2_session_server_new3(&h->side[side].s, cb, ud, opt, &h->mem);
	else
		rv = nghttp2_session_client_new3(&h->side[side].s, cb, ud, opt, &h->mem);
	nghttp2_option_del(opt);
	if (rv != 0)
		return -1;
	nghttp2_settings_entry iv[4] = {
	        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h->lim.max_streams},
	        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h->lim.stream_window},
	        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, h->lim.max_header_list},
	        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	};
	if (nghttp2_submit_settings(h->side[side].s, NGHTTP2_FLAG_NONE, iv,
	                            side == SM_H2_CLIENT ? 3 : 4) != 0)
		return -1;
	if (nghttp2_session_set_local_window_size(h->side[side].s, NGHTTP2_FLAG_NONE, 0,
	                                          (int32_t)h->lim.conn_window) != 0)
		return -1;
	return 0;
}

struct sm_h2 *h2_core_new(const struct sm_h2_limits *lim, int with_streams,
                          const struct sm_h2_ops *ops)
{
	struct sm_h2_limits l = {0};
	if (lim)
		l = *lim;
	if (!l.max_streams)
		l.max_streams = 100;
	if (!l.max_header_list)
		l.max_header_list = 65536;
	if (!l.max_header_fields)
		l.max_header_fields = 128;
	if (!l.stream_window)
		l.stream_window = 65535;
	if (!l.conn_window)
		l.conn_window = 1u << 20;
	if (!l.max_mem)
		l.max_mem = 32u << 20;
	if (!l.max_out_queue)
		l.max_out_queue = 512;
	if (!l.max_resets)
		l.max_resets = 5 * l.max_streams;
	if (l.stream_window > 0x7fffffffu || l.conn_window > 0x7fffffffu || l.max_streams > 10000 ||
	    l.max_header_list > (16u << 20) || l.max_header_fields > 65536)
		return NULL;
	struct sm_h2 *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->lim = l;
	h->ops = ops;
	h->mem = (nghttp2_mem){.mem_user_data = h,
	                       .malloc = mem_malloc,
	                       .free = mem_free,
	                       .calloc = mem_calloc,
	                       .realloc = mem_realloc};
	/* slots: a reset stream may wait for its twin's close while the
	 * client already opens the next ones */
	h->nslots = 2 * l.max_streams;
	h->ev_soft = 64;
	h->st = with_streams ? h2_alloc(h, h->nslots * sizeof(*h->st)) : NULL;
	h->nvscratch = h2_alloc(h, l.max_header_fields * sizeof(nghttp2_nv));
	if ((with_streams && !h->st) || !h->nvscratch) {
		sm_h2_free(h);
		return NULL;
	}
	if (h->st)
		memset(h->st, 0, h->nslots * sizeof(*h->st));
	return h;
}

void sm_h2_free(struct sm_h2 *h)
{
	if (!h)
		return;
	for (int s = 0; s < 2; s++)
		if (h->side[s].s)
			nghttp2_session_del(h->side[s].s);
	if (h->ops && h->ops->release)
		h->ops->release(h);
	for (uint32_t i = 0; h->st && i < h->nslots; i++)
		for (int d = 0; d < 2; d++) {
			h2_free(h, h->st[i].buf[d].p);
			h2_free(h, h->st[i].tr[d]);
		}
	for (int s = 0; s < 2; s++) {
		h2_free(h, h->side[s].arena);
		h2_free(h, h->side[s].fields);
	}
	h2_free(h, h->evq);
	h2_free(h, h->st);
	h2_free(h, h->nvscratch);
	free(h);
}

static void fail(struct sm_h2 *h, int side, long err)
{
	h->side[side].failed = 1;
	struct h2_ev e = {.type = SM_H2_EV_ERROR,
	                  .dir = (uint8_t)side,
	                  .who = (uint8_t)side,
	                  .reason = err == NGHTTP2_ERR_NOMEM ? SM_H2_R_MEMORY : SM_H2_R_NGHTTP2,
	                  .detail = (int32_t)err};
	h2_push(h, &e);
	h2_side_lost(h, side);
}

/* END_STREAM that nghttp2 refused (Content-Length disagreeing with the
 * DATA, for padded frames our early check cannot judge): it shut the
 * stream's receiving half without telling us. */
static void check_silent_rejects(struct sm_h2 *h, int side)
{
	for (uint32_t i = 0; i < h->nslots; i++) {
		struct h2_stream *st = &h->st[i];
		if (!st->used || st->dead || !st->end_pending[side] || st->ended[side])
			continue;
		if (nghttp2_session_get_stream_remote_close(h->side[side].s, st->sid[side]) == 1)
			h2_reject(h, st, side, SM_H2_R_LENGTH, 0);
	}
}

static long feed(struct sm_h2 *h, int side, const uint8_t *in, size_t len)
{
	struct h2_side *sd = &h->side[side];
	if (sd->failed || sd->eof || h->failed)
		return SM_ERR_STATE;
	if (h->evlen == 0) {
		h2_arena_reset(h, 0);
		h2_arena_reset(h, 1);
		h->paused[side] = 0;
	} else if (!h2_ev_room(h) || h->paused[side]) {
		h->paused[side] = 1;
		h->stats.events_paused++;
		return 0;
	}
	const struct h2_side *od = &h->side[OTHER(side)];
	if (!od->eof && !od->failed &&
	    nghttp2_session_get_outbound_queue_size(od->s) >= h->lim.max_out_queue) {
		h->stats.out_full++;
		return 0;
	}
	ssize_t n = nghttp2_session_mem_recv(sd->s, in, len);
	if (n < 0) {
		fail(h, side, (long)n);
		return n == NGHTTP2_ERR_NOMEM ? SM_ERR_NOMEM : SM_ERR_PROTOCOL;
	}
	if ((size_t)n < len) { /* a callback paused: events to pop, or the other side is full */
		if (h->evlen > 0) {
			h->paused[side] = 1;
			h->stats.events_paused++;
		} else {
			h->stats.out_full++;
		}
	}
	check_silent_rejects(h, side);
	if (h->failed) {
		fail(h, side, NGHTTP2_ERR_NOMEM);
		return SM_ERR_NOMEM;
	}
	return (long)n;
}

long sm_h2_feed_client(struct sm_h2 *h, const uint8_t *in, size_t len)
{
	return h->ops->feed(h, SM_H2_CLIENT, in, len);
}

long sm_h2_feed_upstream(struct sm_h2 *h, const uint8_t *in, size_t len)
{
	return h->ops->feed(h, SM_H2_UPSTREAM, in, len);
}

static long out(struct sm_h2 *h, int side, uint8_t *buf, size_t cap)
{
	struct h2_side *sd = &h->side[side];
	if (sd->eof || (sd->failed && !nghttp2_session_want_write(sd->s)))
		return 0;
	h->out = buf;
	h->out_cap = cap;
	h->out_len = 0;
	int rv = nghttp2_session_send(sd->s);
	size_t n = h->out_len;
	h->out = NULL;
	h->out_cap = h->out_len = 0;
	if (rv < 0 && !sd->failed) {
		fail(h, side, rv);
		return rv == NGHTTP2_ERR_NOMEM ? SM_ERR_NOMEM : SM_ERR_PROTOCOL;
	}
	return (long)n;
}

long sm_h2_out_client(struct sm_h2 *h, uint8_t *buf, size_t cap)
{
	return h->ops->out(h, SM_H2_CLIENT, buf, cap);
}

long sm_h2_out_upstream(struct sm_h2 *h, uint8_t *buf, size_t cap)
{
	return h->ops->out(h, SM_H2_UPSTREAM, buf, cap);
}

static int want_out(const struct sm_h2 *h, int side)
{
	const struct h2_side *sd = &h->side[side];
	return !sd->eof && nghttp2_session_want_write(sd->s);
}

int sm_h2_want_out(const struct sm_h2 *h, enum sm_h2_side side)
{
	return h->ops->want_out(h, side);
}

/* Side X's connection is gone (EOF, fatal error, or nghttp2 ended it):
 * its streams are over. The peers of messages that did not arrive whole
 * are reset; the other side gets a GOAWAY. */
void h2_side_lost(struct sm_h2 *h, int side)
{
	struct h2_side *sd = &h->side[side];
	if (sd->lost)
		return;
	sd->lost = 1;
	for (uint32_t i = 0; i < h->nslots; i++) {
		struct h2_stream *st = &h->st[i];
		if (!st->used)
			continue;
		/* nothing can reach a lost client; a response that arrived whole
		 * from a lost upstream is still delivered */
		int keep = side == SM_H2_UPSTREAM && st->ended[SM_H2_UPSTREAM];
		if (!st->dead && !keep)
			h2_kill_stream(h, st, side, (uint8_t)side, NGHTTP2_CANCEL,
			               SM_H2_R_SIDE_CLOSED, 0);
		st->open[side] = 0;
		h2_maybe_free(h, st);
	}
	int to = OTHER(side);
	struct h2_side *od = &h->side[to];
	if (!od->goaway_sent && !od->lost) {
		od->goaway_sent = 1;
		int32_t last =
		        to == SM_H2_CLIENT ? nghttp2_session_get_last_proc_stream_id(od->s) : 0;
		nghttp2_submit_goaway(od->s, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0);
	}
}

static int eof(struct sm_h2 *h, int side)
{
	if (side != SM_H2_CLIENT && side != SM_H2_UPSTREAM)
		return SM_ERR_STATE;
	h2_side_lost(h, side);
	h->side[side].eof = 1;
	return SM_OK;
}

int sm_h2_eof(struct sm_h2 *h, enum sm_h2_side side)
{
	return h->ops->eof(h, side);
}

static int done(const struct sm_h2 *h, int side)
{
	const struct h2_side *sd = &h->side[side];
	if (sd->eof)
		return 1;
	return !nghttp2_session_want_read(sd->s) && !nghttp2_session_want_write(sd->s);
}

int sm_h2_done(const struct sm_h2 *h, enum sm_h2_side side)
{
	return h->ops->done(h, side);
}

static enum sm_h2_wait wait(const struct sm_h2 *h, int side)
{
	const struct h2_side *sd = &h->side[side];
	if (sd->eof || sd->failed || h->failed || sd->lost || !nghttp2_session_want_read(sd->s))
		return SM_H2_WAIT_CLOSED;
	if ((h->paused[side] && h->evlen > 0) || !h2_ev_room(h))
		return SM_H2_WAIT_EVENTS;
	const struct h2_side *od = &h->side[OTHER(side)];
	if (!od->eof && !od->failed &&
	    nghttp2_session_get_outbound_queue_size(od->s) >= h->lim.max_out_queue)
		return SM_H2_WAIT_OUT_FULL;
	return SM_H2_WAIT_NONE;
}

enum sm_h2_wait sm_h2_wait(const struct sm_h2 *h, enum sm_h2_side side)
{
	return h->ops->wait(h, side);
}

const struct sm_h2_ops h2_relay_ops = {
        .name = "h2",
        .feed = feed,
        .out = out,
        .want_out = want_out,
        .eof = eof,
        .done = done,
        .wait = wait,
};

/* ---- client abuse: rapid reset (CVE-2023-44487) and stream floods ---- */

/* The window is counted in streams opened, not time (sans-I/O): two
 * buckets of 10 x max_streams, the current and the previous one, so a
 * burst cannot hide across a bucket's edge. */
void h2_abuse_opened(struct sm_h2 *h)
{
	if (++h->abuse_opened >= 10 * h->lim.max_streams) {
		h->abuse_prev = h->abuse_cur;
		h->abuse_cur = 0;
		h->abuse_opened = 0;
	}
}

void h2_abuse(struct sm_h2 *h, int reason)
{
	if (reason == SM_H2_R_RAPID_RESET)
		h->stats.client_resets_early++;
	h->abuse_cur++;
	if (h->client_end || h->abuse_prev + h->abuse_cur <= h->lim.max_resets)
		return;
	/* our GOAWAY names the abuse; on_frame_send reports it */
	h->client_end = (uint8_t)reason;
	h->client_end_code = NGHTTP2_ENHANCE_YOUR_CALM;
	nghttp2_session_terminate_session(h->side[SM_H2_CLIENT].s, NGHTTP2_ENHANCE_YOUR_CALM);
}

int h2_client_goaway_sent(struct sm_h2 *h, uint32_t code)
{
	if (h->client_end)
		return h->client_end;
	if (code != NGHTTP2_NO_ERROR) {
		h->client_end = SM_H2_R_NGHTTP2;
		h->client_end_code = code;
	}
	return SM_H2_R_NGHTTP2;
}

int sm_h2_client_ended(const struct sm_h2 *h, uint32_t *code)
{
	if (code)
		*code = h->client_end_code;
	return h->client_end;
}

const char *sm_h2_code_str(uint32_t code)
{
	return nghttp2_http2_strerror(code);
}
