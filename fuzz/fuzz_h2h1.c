/* Fuzz the HTTP/2 to HTTP/1.1 translator from one input:
 *   byte 0..1: length of the client part (little endian), byte 2: chunk seed,
 *   then client h2 bytes (a preface first to get anywhere), then the
 *   upstream's HTTP/1.1 bytes.
 * Both sides are fed in seed-sized pieces, interleaved, both outputs
 * drained into small buffers; events are popped and checked (DATA inside
 * the fed input, header accessors in range). Everything written upstream
 * goes through our own strict HTTP/1.1 request parser (proto/http1, origin
 * mode): a header or framing fault there would be a smuggling bug. Closing
 * both sides must leave no stream and no buffered byte behind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "proto/h2h1.h"
#include "proto/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void drain(struct sm_h2 *h, const uint8_t *in, size_t len)
{
	struct sm_h2_event ev;
	while (sm_h2_next_event(h, &ev)) {
		if (ev.type == SM_H2_EV_DATA &&
		    (ev.len == 0 || !in || ev.data < in || ev.data + ev.len > in + len))
			abort();
		for (unsigned i = 0; i < ev.nheaders; i++) {
			const uint8_t *n, *v;
			size_t nl, vl;
			if (!sm_h2_header(h, &ev, i, &n, &nl, &v, &vl))
				abort();
			volatile uint8_t x = 0;
			for (size_t k = 0; k < nl; k++)
				x ^= n[k];
			for (size_t k = 0; k < vl; k++)
				x ^= v[k];
			(void)x;
		}
		if (ev.type == SM_H2_EV_REQUEST && (ev.method == NULL || ev.path == NULL))
			abort();
	}
}

/* The checker: what went upstream, parsed as requests. */
struct check {
	struct sm_h1 *p;
	void *mem;
	uint8_t pend[1 << 16];
	size_t len;
	int off; /* stopped checking (a limit, the pipeline bound) */
};

static void check_feed(struct check *c, const uint8_t *b, size_t n)
{
	static uint8_t sink[1 << 17];
	if (c->off)
		return;
	if (n > sizeof(c->pend) - c->len) {
		c->off = 1;
		return;
	}
	memcpy(c->pend + c->len, b, n);
	c->len += n;
	for (int k = 0; k < 64 && c->len; k++) {
		struct sm_h1_out up = {sink, sizeof(sink), 0};
		long r = sm_h1_client_feed(c->p, c->pend, c->len, &up);
		struct sm_h1_event ev;
		while (sm_h1_next_event(c->p, &ev))
			if (ev.type == SM_H1_EV_ERROR) {
				/* extension methods and limits are not faults of ours */
				if (ev.reason == SM_H1_R_HEADER || ev.reason == SM_H1_R_BODY)
					abort();
				c->off = 1;
			}
		if (r < 0 || c->off) {
			c->off = 1;
			return;
		}
		memmove(c->pend, c->pend + r, c->len - (size_t)r);
		c->len -= (size_t)r;
		if (r == 0) {
			if (sm_h1_client_wait(c->p) != SM_H1_WAIT_EVENTS)
				break;
		}
	}
	if (sm_h1_client_wait(c->p) == SM_H1_WAIT_PIPELINE)
		c->off = 1; /* nobody answers the checker's requests */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	size_t clen = (size_t)data[0] | ((size_t)data[1] << 8);
	unsigned seed = data[2];
	data += 3;
	size -= 3;
	if (clen > size)
		clen = size;
	const uint8_t *c = data, *u = data + clen;
	size_t ulen = size - clen;
	struct sm_h2h1_limits lim = {
	        .h2 = {.max_streams = 8, .max_mem = 8u << 20, .max_header_list = 16384},
	        .max_buffer = 16384};
	struct sm_h2 *h = sm_h2h1_new(&lim);
	if (!h)
		abort();
	static struct check chk;
	chk.len = 0;
	chk.off = 0;
	size_t fp = sm_h1_footprint(NULL);
	chk.mem = malloc(fp);
	chk.p = sm_h1_init(chk.mem, fp, NULL);
	struct sm_authority auth = {.host = "example.com", .host_len = 11, .port = 443};
	sm_h1_set_origin(chk.p, &auth);
	static uint8_t out[1 << 16];
	size_t co = 0, uo = 0, up_total = 0;
	int cdead = 0, udead = 0;
	for (int iter = 0; iter < 20000; iter++) {
		int progress = 0;
		if (!cdead && co < clen) {
			size_t n = 1 + rnd(&seed) % 64;
			if (n > clen - co)
				n = clen - co;
			long r = sm_h2_feed_client(h, c + co, n);
			drain(h, c, clen);
			if (r < 0)
				cdead = 1;
			else
				co += (size_t)r;
			progress |= r != 0;
		}
		/* an upstream answers once it was asked (earlier bytes are
		 * refused as unsolicited: covered by the first iterations of
		 * inputs whose client part is empty) */
		if (!udead && uo < ulen && (up_total > 0 || clen == 0)) {
			size_t n = 1 + rnd(&seed) % 64;
			if (n > ulen - uo)
				n = ulen - uo;
			long r = sm_h2_feed_upstream(h, u + uo, n);
			drain(h, u, ulen);
			if (r < 0)
				udead = 1;
			else
				uo += (size_t)r;
			progress |= r != 0;
		}
		size_t cap = 1 + rnd(&seed) % 4096;
		long a = sm_h2_out_client(h, out, cap);
		drain(h, NULL, 0);
		if (a > (long)cap)
			abort();
		long b = sm_h2_out_upstream(h, out, cap);
		drain(h, NULL, 0);
		if (b > (long)cap)
			abort();
		if (b > 0) {
			up_total += (size_t)b;
			check_feed(&chk, out, (size_t)b);
		}
		progress |= a > 0 || b > 0;
		if (sm_h2_open_streams(h) > lim.h2.max_streams)
			abort();
		if (sm_h2_buffered(h) > (size_t)sm_h2_open_streams(h) * (65535 + 16384))
			abort();
		if (!progress)
			break;
	}
	sm_h2_eof(h, SM_H2_UPSTREAM);
	drain(h, NULL, 0);
	sm_h2_eof(h, SM_H2_CLIENT);
	drain(h, NULL, 0);
	if (sm_h2_open_streams(h) != 0 || sm_h2_buffered(h) != 0 || !sm_h2_done(h, SM_H2_CLIENT) ||
	    !sm_h2_done(h, SM_H2_UPSTREAM))
		abort();
	sm_h2_free(h);
	free(chk.mem);
	return 0;
}
