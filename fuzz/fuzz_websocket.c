/* libFuzzer target for proto/websocket, both directions. The first byte picks
 * direction, permessage-deflate and limits; the input is fed whole and in
 * input-chosen chunks, and both runs must report the same events (compared
 * by hash) within the configured bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/websocket.h"

struct hash {
	uint64_t h;
	uint64_t n;
	uint32_t max;
};

static void mix(struct hash *s, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		s->h = (s->h ^ b[i]) * 0x100000001b3ull;
}

static void on_event(void *ctx, const struct sm_ws_event *ev)
{
	struct hash *s = ctx;
	uint64_t hdr[16] = {ev->type,         ev->opcode,         ev->compressed, ev->oversized,
	                    ev->invalid_utf8, ev->frames,         ev->length,     ev->excerpt_len,
	                    ev->payload_len,  ev->close_code,     ev->error,      ev->offset,
	                    ev->decoded,      ev->decoded_length, ev->truncated,  ev->fatal};
	mix(s, hdr, sizeof(hdr));
	/* a cut message has no payload; only bad_length stops the parser */
	if ((ev->truncated && ev->payload) || (ev->fatal && ev->error != SM_WS_R_BAD_LENGTH))
		abort();
	mix(s, ev->excerpt, ev->excerpt_len);
	mix(s, ev->payload, ev->payload_len);
	mix(s, ev->reason, ev->reason_len);
	if (ev->type == SM_WS_EV_MESSAGE ? ev->payload_len > s->max : ev->payload_len > 125)
		abort();
	s->n++;
}

static struct hash run(const struct sm_ws_config *cfg, const uint8_t *d, size_t n, uint8_t step)
{
	struct hash s = {0xcbf29ce484222325ull, 0, cfg->max_message};
	struct sm_ws *p = sm_ws_new(cfg, on_event, &s);
	if (!p)
		abort();
	size_t at = 0, k = 0;
	while (at < n) {
		size_t len = step ? 1 + (d[k++ % n] % step) : n - at;
		if (len > n - at)
			len = n - at;
		long r = sm_ws_feed(p, d + at, len);
		if (r >= 0 && r != (long)len)
			abort();
		at += len;
	}
	int fr = sm_ws_finish(p);
	mix(&s, &fr, sizeof(fr));
	if (sm_ws_stats(p)->reassembly_hwm > cfg->max_message)
		abort();
	sm_ws_free(p);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct sm_ws_config cfg = {
	        .dir = (data[0] & 1) ? SM_WS_SERVER_TO_CLIENT : SM_WS_CLIENT_TO_SERVER,
	        .permessage_deflate = data[0] & 2,
	        .max_message = 1u + ((data[0] >> 2) & 7u) * 40u,
	        .excerpt = 1u + (data[0] >> 5) * 3u,
	        /* overlapping bits: the fuzzer finds every combination anyway */
	        .inflate = data[0] & 0x40,
	        .no_context_takeover = data[0] & 0x10,
	        .max_inflate = 1u + ((data[0] >> 2) & 7u) * 60u,
	};
	uint8_t step = (uint8_t)(1 + (data[0] >> 3));
	data++;
	size--;
	struct hash a = run(&cfg, data, size, 0);
	struct hash b = run(&cfg, data, size, step);
	if (a.h != b.h || a.n != b.n)
		abort();
	return 0;
}
