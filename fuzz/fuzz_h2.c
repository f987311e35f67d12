/* Fuzz the HTTP/2 interception layer from one input:
 *   byte 0..1: length of the client part (little endian), byte 2: chunk seed,
 *   then client bytes (a preface first to get anywhere), then upstream bytes.
 * Both sides are fed in seed-sized pieces, interleaved, with both outputs
 * drained into small buffers; events are popped after every call and
 * checked: DATA payloads lie inside the fed input, header accessors stay in
 * range, open streams stay within the table, buffered bytes within the
 * windows. Closing both sides must leave no stream behind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "proto/h2.h"

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
		if (ev.type == SM_H2_EV_DATA) {
			if (ev.len == 0 || ev.data < in || ev.data + ev.len > in + len)
				abort();
		}
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
		if (ev.type == SM_H2_EV_REQUEST && ev.method == NULL)
			abort();
	}
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
	struct sm_h2_limits lim = {.max_streams = 8, .max_mem = 8u << 20, .max_header_list = 16384};
	struct sm_h2 *h = sm_h2_new(&lim);
	if (!h)
		abort();
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
			drain(h, c, clen);
			if (r < 0)
				cdead = 1;
			else
				co += (size_t)r;
			progress |= r != 0;
		}
		if (!udead && uo < ulen) {
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
		long b = sm_h2_out_upstream(h, out, cap);
		drain(h, NULL, 0);
		if (a > (long)cap || b > (long)cap)
			abort();
		progress |= a > 0 || b > 0;
		if (sm_h2_open_streams(h) > 2 * lim.max_streams)
			abort();
		if (sm_h2_buffered(h) > (size_t)sm_h2_open_streams(h) * 2 * 65535)
			abort();
		if (!progress)
			break;
	}
	sm_h2_eof(h, SM_H2_CLIENT);
	sm_h2_eof(h, SM_H2_UPSTREAM);
	drain(h, NULL, 0);
	if (sm_h2_open_streams(h) != 0 || sm_h2_buffered(h) != 0)
		abort();
	sm_h2_free(h);
	return 0;
}
