/* libFuzzer target for proto/sse: the input is fed whole and again in
 * chunks chosen by the input itself; both runs must produce the same events
 * (compared by a running hash) and stay within the configured bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sse.h"

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

static void on_event(void *ctx, const struct sm_sse_event *ev)
{
	struct hash *s = ctx;
	uint64_t hdr[6] = {ev->type,   ev->event_len, ev->data_len,
	                   ev->id_len, ev->retry_ms,  ev->offset};
	mix(s, hdr, sizeof(hdr));
	mix(s, &ev->truncated, 1);
	mix(s, ev->event, ev->event_len);
	mix(s, ev->data, ev->data_len);
	mix(s, ev->id, ev->id_len);
	s->n++;
}

static struct hash run(const struct sm_sse_config *cfg, const uint8_t *d, size_t n, uint8_t step)
{
	struct hash s = {0xcbf29ce484222325ull, 0};
	struct sm_sse *p = sm_sse_new(cfg, on_event, &s);
	if (!p)
		abort();
	size_t at = 0, k = 0;
	while (at < n) {
		size_t len = step ? 1 + (d[k++ % n] % step) : n - at;
		if (len > n - at)
			len = n - at;
		if (sm_sse_feed(p, d + at, len) != (long)len)
			abort();
		at += len;
	}
	sm_sse_finish(p);
	const struct sm_sse_stats *st = sm_sse_stats(p);
	uint32_t me = cfg->max_event, ml = cfg->max_line;
	if (st->data_hwm > (size_t)me + 1 || st->line_hwm > ml || st->bytes != n)
		abort();
	sm_sse_free(p);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct sm_sse_config cfg = {.max_event = 1u + data[0] % 64u,
	                            .max_line = 1u + data[1] % 32u};
	uint8_t step = (uint8_t)(1 + (data[0] >> 6) * 5);
	data += 2;
	size -= 2;
	struct hash a = run(&cfg, data, size, 0);
	struct hash b = run(&cfg, data, size, step);
	if (a.h != b.h || a.n != b.n)
		abort();
	return 0;
}
