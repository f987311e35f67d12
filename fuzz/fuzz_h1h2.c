/* Fuzz the HTTP/1.1 to HTTP/2 translator (proto/h1h2) from one input:
 *   byte 0: flags/seed. Bit 7 clear: the upstream is a real nghttp2 server
 *   session answering every request (bit 0: with a content-length, bit 1:
 *   with trailers, bit 2: a 103 first, bit 3: RST_STREAM instead of an
 *   answer for even requests); every byte the translator writes upstream
 *   goes through it, and a session error (invalid h2 from us) aborts.
 *   Bit 7 set: bytes 1..2 give the client part's length (little endian)
 *   and the rest is raw upstream bytes, fed as they are.
 * Then the client's HTTP/1.1 bytes. Both sides are fed in seed-sized
 * pieces; events are popped and checked (DATA inside the scratch or the
 * input, header accessors in range). Closing both sides must leave no
 * stream and no buffered byte behind. */
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "proto/h1h2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void drain(struct sm_h2 *h)
{
	struct sm_h2_event ev;
	while (sm_h2_next_event(h, &ev)) {
		if (ev.type == SM_H2_EV_DATA && (ev.len == 0 || !ev.data))
			abort();
		volatile uint8_t x = 0;
		for (size_t k = 0; ev.type == SM_H2_EV_DATA && k < ev.len; k++)
			x ^= ev.data[k]; /* ASan: the payload must still be readable */
		for (unsigned i = 0; i < ev.nheaders; i++) {
			const uint8_t *n, *v;
			size_t nl, vl;
			if (!sm_h2_header(h, &ev, i, &n, &nl, &v, &vl))
				abort();
			for (size_t k = 0; k < nl; k++)
				x ^= n[k];
			for (size_t k = 0; k < vl; k++)
				x ^= v[k];
		}
		(void)x;
		if (ev.type == SM_H2_EV_REQUEST && (ev.method == NULL || ev.path == NULL))
			abort();
	}
}

/* ---- the origin: an nghttp2 server session ---- */

struct origin {
	nghttp2_session *s;
	unsigned flags;
	int reqs;
	uint8_t body[8][256];
	size_t blen[8];
};

static ssize_t o_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *fl,
                      nghttp2_data_source *src, void *ud)
{
	struct origin *o = ud;
	size_t k = (size_t)src->fd;
	size_t n = o->blen[k] < len ? o->blen[k] : len;
	memcpy(buf, o->body[k], n);
	memmove(o->body[k], o->body[k] + n, o->blen[k] - n);
	o->blen[k] -= n;
	if (o->blen[k] == 0) {
		*fl |= NGHTTP2_DATA_FLAG_EOF;
		if (o->flags & 2) {
			nghttp2_nv t = {(uint8_t *)"x-t", (uint8_t *)"done", 3, 4, 0};
			*fl |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_submit_trailer(s, id, &t, 1);
		}
	}
	return (ssize_t)n;
}

static int o_chunk(nghttp2_session *s, uint8_t fl, int32_t id, const uint8_t *d, size_t len,
                   void *ud)
{
	struct origin *o = ud;
	size_t k = (size_t)id % 8;
	size_t n = len < sizeof(o->body[k]) - o->blen[k] ? len : sizeof(o->body[k]) - o->blen[k];
	memcpy(o->body[k] + o->blen[k], d, n);
	o->blen[k] += n;
	return 0;
}

static int o_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct origin *o = ud;
	if (!((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	      (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) ||
	    f->hd.stream_id % 2 == 0)
		return 0;
	int32_t id = f->hd.stream_id;
	size_t k = (size_t)id % 8;
	if ((o->flags & 8) && o->reqs++ % 2 == 1) {
		nghttp2_submit_rst_stream(s, 0, id, NGHTTP2_INTERNAL_ERROR);
		return 0;
	}
	if (o->flags & 4) {
		nghttp2_nv e[1] = {{(uint8_t *)":status", (uint8_t *)"103", 7, 3, 0}};
		nghttp2_submit_headers(s, 0, id, NULL, e, 1, NULL);
	}
	char cl[24];
	int cn = 0;
	for (size_t v = o->blen[k], d = 1; d <= v || cn == 0; d *= 10)
		cn++;
	for (int i = 0, v = (int)o->blen[k]; i < cn; i++, v /= 10)
		cl[cn - 1 - i] = (char)('0' + v % 10);
	nghttp2_nv nv[2] = {{(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0},
	                    {(uint8_t *)"content-length", (uint8_t *)cl, 14, (size_t)cn, 0}};
	nghttp2_data_provider prd = {.source = {.fd = (int)k}, .read_callback = o_read};
	int with_cl = (o->flags & 1) && !(o->flags & 2);
	nghttp2_submit_response(s, id, nv, with_cl ? 2 : 1,
	                        o->blen[k] || (o->flags & 2) ? &prd : NULL);
	return 0;
}

static void origin_init(struct origin *o, unsigned flags)
{
	memset(o, 0, sizeof(*o));
	o->flags = flags;
	nghttp2_session_callbacks *cb;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		abort();
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, o_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, o_frame);
	if (nghttp2_session_server_new(&o->s, cb, o) != 0)
		abort();
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(o->s, 0, NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0], seed = data[0];
	const uint8_t *c = data + 1, *u = NULL;
	size_t clen = size - 1, ulen = 0;
	int raw = (flags & 0x80) != 0;
	if (raw) {
		if (size < 3)
			return 0;
		clen = (size_t)data[1] | ((size_t)data[2] << 8);
		c = data + 3;
		if (clen > size - 3)
			clen = size - 3;
		u = c + clen;
		ulen = size - 3 - clen;
	}
	struct sm_authority auth = {
	        .host = "example.com", .host_len = 11, .port = 443, .kind = SM_AUTHORITY_NAME};
	struct sm_h1h2_limits lim = {.h2 = {.max_mem = 8u << 20, .max_header_list = 16384}};
	struct sm_h2 *h = sm_h1h2_new(&lim, &auth);
	if (!h)
		abort();
	static struct origin o;
	if (!raw)
		origin_init(&o, flags);
	static uint8_t out[1 << 16];
	size_t co = 0, uo = 0;
	int cdead = 0, udead = 0;
	for (int iter = 0; iter < 20000; iter++) {
		int progress = 0;
		if (!cdead && co < clen) {
			size_t n = 1 + rnd(&seed) % 64;
			if (n > clen - co)
				n = clen - co;
			long r = sm_h2_feed_client(h, c + co, n);
			drain(h);
			if (r < 0)
				cdead = 1;
			else
				co += (size_t)r;
			progress |= r != 0;
		}
		if (raw && !udead && uo < ulen) {
			size_t n = 1 + rnd(&seed) % 64;
			if (n > ulen - uo)
				n = ulen - uo;
			long r = sm_h2_feed_upstream(h, u + uo, n);
			drain(h);
			if (r < 0)
				udead = 1;
			else
				uo += (size_t)r;
			progress |= r != 0;
		}
		if (!raw && !udead) {
			const uint8_t *d;
			ssize_t n;
			while ((n = nghttp2_session_mem_send(o.s, &d)) > 0) {
				size_t off = 0;
				while (off < (size_t)n && !udead) {
					long r = sm_h2_feed_upstream(h, d + off, (size_t)n - off);
					drain(h);
					if (r < 0)
						udead = 1;
					else if (r == 0)
						break; /* paused: the rest is lost, as on a cut link
						        */
					else
						off += (size_t)r;
				}
				progress = 1;
			}
		}
		long k = sm_h2_out_upstream(h, out, 1 + rnd(&seed) % sizeof(out));
		drain(h);
		if (k > 0) {
			progress = 1;
			if (!raw && nghttp2_session_mem_recv(o.s, out, (size_t)k) < 0)
				abort(); /* we wrote invalid HTTP/2 */
		}
		k = sm_h2_out_client(h, out, 1 + rnd(&seed) % 4096);
		drain(h);
		progress |= k > 0;
		if (!progress)
			break;
	}
	sm_h2_eof(h, SM_H2_CLIENT);
	sm_h2_eof(h, SM_H2_UPSTREAM);
	drain(h);
	if (sm_h2_open_streams(h) != 0)
		abort();
	sm_h2_free(h);
	if (!raw)
		nghttp2_session_del(o.s);
	return 0;
}
