/* libFuzzer target for bench/bresp (soth-bench's response framing parser).
 * Byte 0 picks the method (GET, HEAD, CONNECT) and the chunking seed; the
 * rest is fed whole and again in pieces chosen by the input. Both runs must
 * agree on the error reason and, when the response is accepted, on every
 * outcome field; the parser must consume no more than given and stop short
 * only at the end of a response. The module belongs to the soth-bench executable,
 * so it is compiled in here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bresp.c"

struct outcome {
	long err;
	int done;
	unsigned status, interim;
	int keep_alive;
	uint64_t body, total;
	size_t consumed;
	int eof_ok;
};

static struct sm_bresp g_r;

static struct outcome run(enum sm_bresp_method m, const uint8_t *d, size_t n, uint8_t step)
{
	struct outcome o = {0};
	struct sm_bresp *r = &g_r;
	sm_bresp_init(r, m);
	size_t pos = 0;
	uint8_t s = step;
	while (pos < n && !r->done) {
		size_t piece = step ? (size_t)(s % 17) + 1 : n - pos;
		s = (uint8_t)(s * 31 + 7);
		if (piece > n - pos)
			piece = n - pos;
		long k = sm_bresp_feed(r, d + pos, piece);
		if (k < 0) {
			o.err = r->why;
			break;
		}
		if ((size_t)k > piece || ((size_t)k < piece && !r->done))
			abort();
		pos += (size_t)k;
	}
	if (!o.err)
		o.eof_ok = sm_bresp_eof(r) + 1;
	o.done = r->done;
	o.status = r->status;
	o.interim = r->interim;
	o.keep_alive = r->keep_alive;
	o.body = r->body_bytes;
	o.total = r->total_bytes;
	o.consumed = pos;
	if (o.body > o.total || (!o.err && o.total != pos))
		abort(); /* on success every consumed byte is accounted for */
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum sm_bresp_method m = (enum sm_bresp_method)(data[0] % 3);
	uint8_t step = (uint8_t)(data[0] | 1);
	struct outcome a = run(m, data + 1, size - 1, 0);
	struct outcome b = run(m, data + 1, size - 1, step);
	if (a.err != b.err)
		abort();
	if (a.err)
		return 0; /* bytes taken before an error depend on the split */
	if (a.done != b.done || a.status != b.status || a.interim != b.interim ||
	    a.keep_alive != b.keep_alive || a.body != b.body || a.total != b.total ||
	    a.consumed != b.consumed || a.eof_ok != b.eof_ok)
		abort();
	return 0;
}
