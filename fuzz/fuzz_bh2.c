/* libFuzzer target for bench/bh2 (soth-bench's HTTP/2 client session).
 * Byte 0 picks how many GET streams are submitted (1..4) and the piece
 * seed; the rest is fed as the server's bytes in pieces chosen by the
 * input with the client's output drained after every piece (as soth-bench
 * does), then whole and in pieces with the output drained at the end.
 * Invariants: every stream is reported at most once, results plus active
 * streams equal the streams submitted, header and DATA byte counts agree;
 * the last two runs must give the same outcome per stream and for the connection
 * (unless nghttp2 refused the input outright, where the split may decide
 * how far it got). The module belongs to the soth-bench executable, so it
 * is compiled in here. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bh2.c"

struct outcome {
	int feed_err;
	enum sm_bh2_reason why;
	int goaway;
	unsigned nres;
	int seen[4];
	struct sm_bh2_result r[4];
};

static void drain(struct sm_bh2 *h)
{
	const uint8_t *p;
	size_t n;
	while ((n = sm_bh2_out(h, &p)) > 0)
		sm_bh2_out_done(h, n);
}

static void pop(struct sm_bh2 *h, struct outcome *o)
{
	struct sm_bh2_result r;
	while (sm_bh2_next_result(h, &r)) {
		if (r.tag >= 4 || o->seen[r.tag])
			abort(); /* unknown or repeated */
		if (r.bytes < r.data_bytes || (r.outcome == SM_BH2_DONE && r.status < 200))
			abort();
		o->seen[r.tag] = 1;
		o->r[r.tag] = r;
		o->nres++;
	}
}

static struct outcome run(unsigned nstreams, const uint8_t *d, size_t n, uint8_t step,
                          int drain_each)
{
	struct outcome o = {0};
	struct sm_bh2 *h = sm_bh2_new(4);
	struct sm_bh2_req req = {"https", "fuzz.test", "/", "soth-bench/fuzz"};
	if (!h || sm_bh2_open(h, &req) != SM_OK)
		abort();
	for (unsigned i = 0; i < nstreams; i++)
		if (sm_bh2_submit(h, i) <= 0)
			abort();
	drain(h);
	size_t pos = 0;
	uint8_t s = step;
	while (pos < n) {
		size_t piece = step ? (size_t)(s % 23) + 1 : n - pos;
		s = (uint8_t)(s * 31 + 7);
		if (piece > n - pos)
			piece = n - pos;
		long k = sm_bh2_feed(h, d + pos, piece);
		if (k < 0) {
			o.feed_err = 1;
			break;
		}
		if ((size_t)k != piece)
			abort();
		pos += piece;
		if (drain_each)
			drain(h);
		pop(h, &o);
	}
	drain(h);
	pop(h, &o);
	o.why = sm_bh2_failed(h);
	o.goaway = sm_bh2_goaway(h, NULL, NULL);
	if (sm_bh2_active(h) + o.nres != nstreams)
		abort();
	if (sm_bh2_can_submit(h) && (o.why != SM_BH2_R_OK || o.goaway))
		abort();
	sm_bh2_free(h);
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned nstreams = (unsigned)(data[0] & 3) + 1;
	uint8_t step = (uint8_t)(data[0] | 1);
	/* as soth-bench drives it: output drained after every piece (nghttp2
	 * closes a stream it resets when the RST_STREAM leaves, so the outcome
	 * may depend on when that is): invariants only */
	run(nstreams, data + 1, size - 1, step, 1);
	/* output drained only at the end: the split alone must not matter */
	struct outcome a = run(nstreams, data + 1, size - 1, 0, 0);
	struct outcome b = run(nstreams, data + 1, size - 1, step, 0);
	if (a.feed_err || b.feed_err)
		return 0;
	if (a.why != b.why || a.goaway != b.goaway || a.nres != b.nres) {
		fprintf(stderr, "a=%d/%d/%u b=%d/%d/%u\n", a.why, a.goaway, a.nres, b.why, b.goaway,
		        b.nres);
		abort();
	}
	for (unsigned i = 0; i < 4; i++) {
		if (a.seen[i] != b.seen[i])
			abort();
		if (!a.seen[i])
			continue;
		const struct sm_bh2_result *x = &a.r[i], *y = &b.r[i];
		if (x->outcome != y->outcome || x->status != y->status || x->interim != y->interim)
			abort();
		/* a BROKEN stream's code (its own RST or the connection's GOAWAY)
		 * and bytes (how much DATA nghttp2 took before it found the
		 * fault) depend on where the input was cut */
		if (x->outcome != SM_BH2_BROKEN &&
		    (x->error_code != y->error_code || x->bytes != y->bytes ||
		     x->data_bytes != y->data_bytes))
			abort();
	}
	return 0;
}
