/* The decode pipeline on arbitrary bodies. data[0] picks the headers and
 * whether bodies are decoded only up to a prefix, data[1] the chunking of a second run; both runs
 * must produce identical events (split invariance), and every excerpt must stay within bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "observe/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct hdr {
	const char *ct, *ce, *te;
	bool ws, c2s;
	const char *ge; /* grpc-encoding */
};

static const struct hdr hdrs[] = {
        {"application/json", "gzip", "chunked", false, false, NULL},
        {"text/event-stream", "br", "chunked", false, false, NULL},
        {"application/grpc+json", "", "", false, false, NULL},
        {"application/msgpack", "deflate", "", false, false, NULL},
        {"", "", "", true, true, NULL},
        {"", "", "", true, false, NULL},
        {"text/plain", "", "chunked", false, false, NULL},
        {"text/javascript", "", "gzip, chunked", false, false, NULL},
        {"text/event-stream", "zstd", "", false, false, NULL},
        {"application/x-msgpack", "", "chunked", false, false, NULL},
        {"application/json", "zstd, br", "", false, false, NULL},
        {"text/event-stream", "", "", false, false, NULL},
        {"application/grpc", "", "", false, false, "gzip"},
        {"application/grpc+json", "", "", false, false, "deflate"},
};

struct digest {
	uint64_t h;
	uint64_t n;
	uint32_t excerpt;
};

static void mix(struct digest *d, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		d->h = (d->h ^ b[i]) * 1099511628211ull;
}

static void on_event(void *ctx, const struct sm_pipe_event *ev)
{
	struct digest *d = ctx;
	if (ev->seq != d->n)
		abort();
	d->n++;
	int v[8] = {ev->type, ev->stage,     ev->result,  ev->fatal,
	            ev->kind, ev->sanitized, ev->partial, ev->too_large};
	mix(d, v, sizeof(v));
	mix(d, ev->reason, strlen(ev->reason));
	mix(d, ev->who, strlen(ev->who));
	mix(d, &ev->unit, sizeof(ev->unit));
	mix(d, &ev->length, sizeof(ev->length));
	if (ev->excerpt_len > d->excerpt || ev->excerpt_len > ev->length)
		abort();
	mix(d, ev->excerpt, ev->excerpt_len);
	mix(d, ev->label, ev->label_len);
}

static struct digest run(const struct hdr *h, uint32_t prefix, const uint8_t *b, size_t n,
                         unsigned pattern)
{
	struct sm_pipe_config cfg = {
	        .chunked = {.max_line = 64, .max_trailers = 256},
	        .content = {.max_input = 64 << 10, .max_output = 256 << 10},
	        .msgpack = {.max_depth = 32, .max_elements = 256, .max_output = 8192},
	        .max_unit = 4096,
	        .excerpt = 64,
	        .max_event = 4096,
	        .prefix = prefix,
	};
	struct sm_pipe_headers ph = {
	        .content_type = h->ct,
	        .content_type_len = strlen(h->ct),
	        .content_encoding = h->ce,
	        .content_encoding_len = strlen(h->ce),
	        .transfer_encoding = h->te,
	        .transfer_encoding_len = strlen(h->te),
	        .websocket = h->ws,
	        .ws_client_to_server = h->c2s,
	        .ws_binary_msgpack = true,
	        .grpc_encoding = h->ge,
	        .grpc_encoding_len = h->ge ? strlen(h->ge) : 0,
	};
	struct digest d = {.h = 14695981039346656037ull, .excerpt = cfg.excerpt};
	struct sm_pipe *p = sm_pipe_new(&cfg, &ph, on_event, &d);
	if (!p)
		abort();
	size_t at = 0;
	unsigned x = pattern * 2654435761u + 1;
	while (at < n) {
		size_t k = n - at;
		if (pattern) {
			x = x * 1103515245u + 12345u;
			size_t s = (x >> 16) % 97 + 1;
			if (s < k)
				k = s;
		}
		long r = sm_pipe_feed(p, b + at, k);
		if (r < 0 || (size_t)r > k)
			abort();
		if ((size_t)r < k)
			break; /* chunked body ended: the rest is the next message */
		at += k;
	}
	int fr = sm_pipe_finish(p);
	mix(&d, &fr, sizeof(fr));
	sm_pipe_free(p);
	return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t nh = sizeof(hdrs) / sizeof(hdrs[0]);
	const struct hdr *h = &hdrs[data[0] % nh];
	uint32_t prefix = (data[0] / nh) & 1 ? 256 : 0;
	unsigned pattern = data[1] + 1u;
	struct digest a = run(h, prefix, data + 2, size - 2, 0);
	struct digest b = run(h, prefix, data + 2, size - 2, pattern);
	if (a.h != b.h || a.n != b.n)
		abort();
	return 0;
}
