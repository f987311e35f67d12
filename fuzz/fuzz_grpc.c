/* libFuzzer target for proto/grpc: framing fed whole and in input-chosen
 * chunks must give the same events; the status reader is run on fields cut
 * from the input and the grpc-message decoder on the whole input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/grpc.h"

struct hash {
	uint64_t h;
	uint64_t n;
};

static void mix(struct hash *s, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		s->h = (s->h ^ b[i]) * 0x100000001b3ull;
}

static void on_event(void *ctx, const struct sm_grpc_event *ev)
{
	struct hash *s = ctx;
	uint64_t hdr[9] = {ev->type,     ev->index,  ev->length, ev->compressed, ev->excerpt_len,
	                   ev->received, ev->reason, ev->offset, ev->too_large};
	mix(s, hdr, sizeof(hdr));
	if (ev->too_large && ev->excerpt_len) /* skipped unread */
		abort();
	mix(s, ev->excerpt, ev->excerpt_len);
	s->n++;
}

static struct hash run(const struct sm_grpc_config *cfg, const uint8_t *d, size_t n, uint8_t step)
{
	struct hash s = {0xcbf29ce484222325ull, 0};
	struct sm_grpc *p = sm_grpc_new(cfg, on_event, &s);
	if (!p)
		abort();
	size_t at = 0, k = 0;
	while (at < n) {
		size_t len = step ? 1 + (d[k++ % n] % step) : n - at;
		if (len > n - at)
			len = n - at;
		long r = sm_grpc_feed(p, d + at, len);
		if (r >= 0 && r != (long)len)
			abort();
		at += len;
	}
	int fr = sm_grpc_finish(p);
	mix(&s, &fr, sizeof(fr));
	if (sm_grpc_stats(p)->excerpt_hwm > cfg->excerpt)
		abort();
	sm_grpc_free(p);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct sm_grpc_config cfg = {.max_message = 1u + data[0] % 200u,
	                             .excerpt = 1u + data[1] % 16u};
	uint8_t step = (uint8_t)(1 + (data[1] >> 4));
	data += 2;
	size -= 2;
	struct hash a = run(&cfg, data, size, 0);
	struct hash b = run(&cfg, data, size, step);
	if (a.h != b.h || a.n != b.n)
		abort();

	/* Status reader: split the input into up to 4 name/value pairs at '\n'. */
	struct sm_grpc_header h[4];
	size_t nh = 0, at = 0;
	static const char *names[] = {"grpc-status", "grpc-message", "grpc-encoding", "x"};
	while (nh < 4 && at <= size) {
		const uint8_t *e = memchr(data + at, '\n', size - at);
		size_t len = e ? (size_t)(e - (data + at)) : size - at;
		h[nh].name = names[nh % 4];
		h[nh].name_len = strlen(names[nh % 4]);
		h[nh].value = (const char *)data + at;
		h[nh].value_len = len;
		nh++;
		at += len + 1;
	}
	struct sm_grpc_status st;
	int rc = sm_grpc_read_status(h, nh, &st);
	if (st.message_len > SM_GRPC_MESSAGE_MAX || st.encoding_len > SM_GRPC_ENCODING_MAX)
		abort();
	if (rc == 0 && (st.status < 0 || st.status > 16))
		abort();

	/* Percent-decoding into a small buffer: bounded, and an input decoded
	 * whole gives at least one byte per escape. */
	char out[24];
	bool cut;
	size_t k = sm_grpc_message_decode((const char *)data, size, out, sizeof(out), &cut);
	if (k > sizeof(out) || k > size || (!cut && k < (size + 2) / 3) ||
	    (cut && k != sizeof(out)))
		abort();
	return 0;
}
