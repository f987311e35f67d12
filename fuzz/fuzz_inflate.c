/* libFuzzer target for decode/inflate: a sequence of messages decoded with
 * each message fed whole and in input-chosen chunks must give the same
 * output, results and counts; the kept output never passes the buffer and
 * the decoded count never passes the budget.
 *
 * Input: byte 0 = format (bits 0-1), no_context_takeover (bit 2); byte 1 = budget in 256-byte units
 * (+1); byte 2 = kept-buffer size; byte 3 = chunking step; then messages, each one length byte
 * followed by that many bytes (the last takes what is left). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "decode/inflate.h"

static void mix(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 0x100000001b3ull;
}

static uint64_t run(const struct sm_inflate_config *cfg, const uint8_t *d, size_t n, size_t cap,
                    uint8_t step)
{
	static uint8_t out[256];
	uint64_t h = 0xcbf29ce484222325ull;
	struct sm_inflate *z = sm_inflate_new(cfg);
	if (!z)
		abort();
	size_t at = 0, k = 0;
	while (at < n) {
		size_t len = d[at++];
		if (len > n - at)
			len = n - at;
		size_t got = 0, m = 0;
		int first = SM_OK;
		while (m < len) {
			size_t c = step ? 1 + (d[(at + k++) % n] % step) : len - m;
			if (c > len - m)
				c = len - m;
			int r = sm_inflate_feed(z, d + at + m, c, out, cap, &got);
			if (!first)
				first = r;
			else if (r != first)
				abort(); /* failures are sticky for the message */
			m += c;
		}
		int r = sm_inflate_end(z, out, cap, &got);
		if (first && r != first)
			abort();
		if (got > cap || sm_inflate_produced(z) > cfg->max_output)
			abort();
		if (got < cap && got != sm_inflate_produced(z) && r != SM_ERR_STATE)
			abort(); /* room left: everything decoded was kept */
		uint64_t rec[3] = {(uint64_t)(int64_t)r, sm_inflate_produced(z),
		                   (uint64_t)sm_inflate_reason(z)};
		mix(&h, rec, sizeof(rec));
		mix(&h, out, got);
		at += len;
	}
	const struct sm_inflate_stats *st = sm_inflate_stats(z);
	mix(&h, st, sizeof(*st));
	sm_inflate_free(z);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n < 4)
		return 0;
	struct sm_inflate_config cfg = {
	        .format = (enum sm_inflate_format)((d[0] & 3) % 3),
	        .no_context_takeover = d[0] & 4,
	        .max_output = 256u * (d[1] + 1u),
	};
	size_t cap = d[2];
	uint8_t step = d[3] ? d[3] : 1;
	uint64_t whole = run(&cfg, d + 4, n - 4, cap, 0);
	if (run(&cfg, d + 4, n - 4, cap, step) != whole)
		abort();
	return 0;
}
