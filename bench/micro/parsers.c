/* Micro-benchmark of the framing parsers (standalone, not part of the build).
 *
 *   cc -O2 -I. bench/micro/parsers.c proto/websocket.c proto/sse.c proto/grpc.c \
 *      base/result.c -o /tmp/micro_parsers && /tmp/micro_parsers
 *
 * Prints MB/s for: WebSocket unmasking (word-at-a-time vs byte-at-a-time),
 * the WebSocket parser on masked 16 KiB binary frames, the SSE parser on a
 * token-streaming body, and the gRPC parser on 1 KiB messages. Input is fed in
 * 16 KiB chunks. Numbers are for comparison between builds on one machine. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/grpc.h"
#include "proto/sse.h"
#include "proto/websocket.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile uint64_t sink;

static void count_ws(void *ctx, const struct sm_ws_event *ev)
{
	(void)ctx;
	sink += ev->length;
}

static void count_sse(void *ctx, const struct sm_sse_event *ev)
{
	(void)ctx;
	sink += ev->data_len;
}

static void count_grpc(void *ctx, const struct sm_grpc_event *ev)
{
	(void)ctx;
	sink += ev->length;
}

static void report(const char *what, size_t bytes, int reps, double secs)
{
	printf("%-34s %8.0f MB/s\n", what, (double)bytes * reps / secs / 1e6);
}

static void unmask_bytewise(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4])
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] ^ key[i & 3];
}

static void feed_all(long (*feed)(void *, const void *, size_t), void *p, const uint8_t *b,
                     size_t n)
{
	for (size_t at = 0; at < n; at += 16384) {
		size_t len = n - at < 16384 ? n - at : 16384;
		if (feed(p, b + at, len) != (long)len)
			abort();
	}
}

static long ws_feed(void *p, const void *b, size_t n)
{
	return sm_ws_feed(p, b, n);
}

static long sse_feed(void *p, const void *b, size_t n)
{
	return sm_sse_feed(p, b, n);
}

static long grpc_feed(void *p, const void *b, size_t n)
{
	return sm_grpc_feed(p, b, n);
}

int main(void)
{
	const size_t n = 16u << 20;
	uint8_t *in = malloc(n + 64), *out = malloc(n + 64);
	const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
	if (!in || !out)
		return 1;
	for (size_t i = 0; i < n; i++)
		in[i] = (uint8_t)(i * 131 + 7);

	int reps = 20;
	double t = now_s();
	for (int r = 0; r < reps; r++)
		sm_ws_unmask(out, in, n, key, (unsigned)r & 3);
	report("ws unmask, 64-bit words", n, reps, now_s() - t);
	t = now_s();
	for (int r = 0; r < reps; r++)
		unmask_bytewise(out, in, n, key);
	report("ws unmask, bytewise (reference)", n, reps, now_s() - t);

	/* masked 16 KiB binary frames */
	size_t fl = 16384, o = 0;
	while (o + fl + 8 <= n) {
		in[o++] = 0x82;
		in[o++] = 0x80 | 126;
		in[o++] = (uint8_t)(fl >> 8);
		in[o++] = (uint8_t)fl;
		memcpy(in + o, key, 4);
		o += 4 + fl;
	}
	struct sm_ws_config wc = {.dir = SM_WS_CLIENT_TO_SERVER, .max_message = 1u << 20};
	t = now_s();
	for (int r = 0; r < reps; r++) {
		struct sm_ws *p = sm_ws_new(&wc, count_ws, NULL);
		feed_all(ws_feed, p, in, o);
		sm_ws_free(p);
	}
	report("ws parser, masked 16 KiB binary", o, reps, now_s() - t);

	/* SSE: token-sized events as LLM APIs stream them */
	static const char ev[] =
	        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
	        "\"delta\":{\"type\":\"text_delta\",\"text\":\" hello\"}}\n\n";
	o = 0;
	while (o + sizeof(ev) <= n) {
		memcpy(in + o, ev, sizeof(ev) - 1);
		o += sizeof(ev) - 1;
	}
	t = now_s();
	for (int r = 0; r < reps; r++) {
		struct sm_sse *p = sm_sse_new(NULL, count_sse, NULL);
		feed_all(sse_feed, p, in, o);
		sm_sse_finish(p);
		sm_sse_free(p);
	}
	report("sse parser, token events", o, reps, now_s() - t);

	/* gRPC: 1 KiB messages */
	o = 0;
	while (o + 1029 <= n) {
		memcpy(in + o, "\0\0\0\x04\x00", 5);
		o += 1029;
	}
	t = now_s();
	for (int r = 0; r < reps; r++) {
		struct sm_grpc *p = sm_grpc_new(NULL, count_grpc, NULL);
		feed_all(grpc_feed, p, in, o);
		sm_grpc_free(p);
	}
	report("grpc parser, 1 KiB messages", o, reps, now_s() - t);
	free(in);
	free(out);
	return sink == 42; /* keep the sink alive */
}
