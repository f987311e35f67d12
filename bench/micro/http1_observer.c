/* Micro-benchmark of proto/http1 response relaying with and without an
 * observer (standalone, not part of the build).
 *
 *   S="proto/http1.c proto/http1_head.c proto/http1_text.c proto/h1frame.c \
 *      proto/hdrcheck.c proto/authority.c /usr/share/llhttp/*.c"
 *   cc -O2 -I. -isystem /usr/share/include/llhttp bench/micro/http1_observer.c $S \
 *      -o /tmp/micro_h1obs && /tmp/micro_h1obs
 *
 * Build with -DNO_OBSERVER to benchmark a tree without the hook. Relays
 * 4096 keep-alive responses (16 KiB bodies: Content-Length, and chunked in
 * 1 KiB chunks) through 16 KiB outputs and prints MB/s of upstream input.
 * Numbers are for comparison between builds on one machine. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/http1.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile uint64_t sink;

#ifndef NO_OBSERVER
static void o_head(void *ctx, int dir, const struct sm_h1_event *ev)
{
	sink += ev->status;
}
static void o_body(void *ctx, int dir, const uint8_t *p, size_t n)
{
	sink += n;
}
static void o_end(void *ctx, int dir, int complete)
{
	sink += (unsigned)complete;
}
static const struct sm_h1_observer obs = {o_head, o_body, o_end};
#endif

#define NRESP 4096
#define BODY  16384

static uint8_t *make_stream(int chunked, size_t *len)
{
	size_t cap = (size_t)NRESP * (BODY + 2048);
	uint8_t *b = malloc(cap);
	size_t n = 0;
	for (int i = 0; i < NRESP; i++) {
		if (chunked) {
			n += (size_t)snprintf(
			        (char *)b + n, cap - n,
			        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			        "Transfer-Encoding: chunked\r\n\r\n");
			for (int c = 0; c < BODY / 1024; c++) {
				n += (size_t)snprintf((char *)b + n, cap - n, "400\r\n");
				memset(b + n, 'x', 1024);
				n += 1024;
				memcpy(b + n, "\r\n", 2);
				n += 2;
			}
			n += (size_t)snprintf((char *)b + n, cap - n, "0\r\n\r\n");
		} else {
			n += (size_t)snprintf(
			        (char *)b + n, cap - n,
			        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			        "Content-Length: %d\r\n\r\n",
			        BODY);
			memset(b + n, 'x', BODY);
			n += BODY;
		}
	}
	*len = n;
	return b;
}

static double relay(const uint8_t *s, size_t slen, int observe)
{
	static _Alignas(64) uint8_t mem[1 << 17];
	static uint8_t ob[16384];
	struct sm_h1 *h = sm_h1_init(mem, sizeof(mem), NULL);
	const char *req = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n";
#ifndef NO_OBSERVER
	if (observe)
		sm_h1_set_observer(h, &obs, NULL);
#endif
	double t0 = now_s();
	size_t pos = 0;
	for (int i = 0; i < NRESP; i++) {
		struct sm_h1_out o = {ob, sizeof(ob), 0};
		size_t got = 0;
		struct sm_h1_event ev;
		while (got < strlen(req)) {
			got += (size_t)sm_h1_client_feed(h, (const uint8_t *)req + got,
			                                 strlen(req) - got, &o);
			if (sm_h1_client_wait(h) == SM_H1_WAIT_HELD)
				sm_h1_release(h);
			while (sm_h1_next_event(h, &ev))
				;
		}
		sm_h1_client_feed(h, NULL, 0, &o);
		int ended = 0;
		while (!ended) {
			o.len = 0;
			/* one response per request: all are the same size */
			size_t end = (size_t)(i + 1) * (slen / NRESP);
			long n = sm_h1_server_feed(h, s + pos, end - pos, &o);
			if (n < 0) {
				while (sm_h1_next_event(h, &ev))
					fprintf(stderr, "resp %d: error %s\n", i,
					        sm_h1_reason_str((enum sm_h1_reason)ev.reason));
				abort();
			}
			pos += (size_t)n;
			sink += o.len;
			while (sm_h1_next_event(h, &ev))
				ended |= ev.type == SM_H1_EV_RESPONSE_END;
		}
	}
	return now_s() - t0;
}

int main(void)
{
	for (int chunked = 0; chunked < 2; chunked++) {
		size_t len;
		uint8_t *s = make_stream(chunked, &len);
		for (int observe = 0; observe < 2; observe++) {
			double best = 1e9;
			for (int rep = 0; rep < 7; rep++) {
				double t = relay(s, len, observe);
				best = t < best ? t : best;
			}
#ifdef NO_OBSERVER
			if (observe)
				continue;
#endif
			printf("%-8s %-12s %8.0f MB/s\n", chunked ? "chunked" : "length",
			       observe ? "observer" : "no observer", (double)len / best / 1e6);
		}
		free(s);
	}
	return 0;
}
