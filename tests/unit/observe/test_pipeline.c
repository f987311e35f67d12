#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../decode/codec_helpers.h"
#include <zlib.h>

#include "base/result.h"
#include "observe/pipeline.h"

/* Events rendered as text lines so runs can be compared byte for byte. */
struct log {
	char *s;
	size_t len, cap;
};

static void logf_(struct log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct log *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(l->s + l->len, l->cap - l->len, fmt, ap);
	va_end(ap);
	cr_assert(k >= 0 && (size_t)k < l->cap - l->len, "event log full");
	l->len += (size_t)k;
}

static void on_event(void *ctx, const struct sm_pipe_event *ev)
{
	struct log *l = ctx;
	if (ev->type == SM_PIPE_EV_ERROR) {
		logf_(l, "%llu ERROR %s %s %s %s%s\n", (unsigned long long)ev->seq,
		      sm_pipe_stage_str(ev->stage), ev->who, ev->reason, sm_result_str(ev->result),
		      ev->fatal ? " fatal" : "");
		return;
	}
	logf_(l, "%llu PAYLOAD %s %s unit=%llu len=%llu%s%s%s", (unsigned long long)ev->seq,
	      sm_pipe_stage_str(ev->stage), sm_pipe_kind_str(ev->kind),
	      (unsigned long long)ev->unit, (unsigned long long)ev->length,
	      ev->sanitized ? " guard=" : "", ev->guard, ev->compressed ? " compressed" : "");
	if (ev->too_large)
		logf_(l, " too_large");
	if (ev->decoded)
		logf_(l, " decoded wire=%llu", (unsigned long long)ev->wire_length);
	else
		cr_assert(ev->wire_length > 0 || ev->length == 0, "wire %llu",
		          (unsigned long long)ev->wire_length);
	logf_(l, " label=%.*s |", (int)ev->label_len, ev->label);
	for (size_t i = 0; i < ev->excerpt_len; i++) {
		uint8_t c = ev->excerpt[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			logf_(l, "%c", c);
		else
			logf_(l, "\\x%02x", c);
	}
	logf_(l, "|\n");
}

static struct sm_pipe_config config(void)
{
	struct sm_pipe_config c = {
	        .chunked = {.max_line = 64, .max_trailers = 256},
	        .content = {.max_input = 1 << 20, .max_output = 1 << 20},
	        .msgpack = {.max_depth = 32, .max_elements = 1000, .max_output = 4096},
	        .max_unit = 8192,
	        .excerpt = 48,
	        .max_event = 8192,
	};
	return c;
}

struct body {
	const char *name;
	struct sm_pipe_headers h;
	uint8_t *b;
	size_t n;
	const char *expect; /* events of a whole-buffer run (NULL: not checked) */
};

/* Runs the pipeline over b split at the given cut points. */
static void run(const struct body *x, const size_t *cuts, size_t ncuts, struct log *l)
{
	struct sm_pipe_config cfg = config();
	l->len = 0;
	l->s[0] = 0;
	struct sm_pipe *p = sm_pipe_new(&cfg, &x->h, on_event, l);
	cr_assert_not_null(p);
	size_t at = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : x->n;
		while (at < end) {
			long r = sm_pipe_feed(p, x->b + at, end - at);
			cr_assert_geq(r, 0);
			if (r == 0)
				break;
			at += (size_t)r;
		}
		at = end;
	}
	int fr = sm_pipe_finish(p);
	logf_(l, "finish %s\n", sm_result_str(fr));
	cr_assert_eq(sm_pipe_feed(p, x->b, 1), SM_ERR_STATE);
	sm_pipe_free(p);
}

/* Chunk-encodes d with chunks of `step` bytes and an extension on each. */
static uint8_t *chunk(const uint8_t *d, size_t n, size_t step, size_t *out_n)
{
	uint8_t *o = malloc(n + (n / step + 2) * 32 + 32);
	size_t k = 0;
	for (size_t i = 0; i < n; i += step) {
		size_t c = n - i < step ? n - i : step;
		k += (size_t)sprintf((char *)o + k, "%zx;e=1\r\n", c);
		memcpy(o + k, d + i, c);
		k += c;
		o[k++] = '\r';
		o[k++] = '\n';
	}
	memcpy(o + k, "0\r\nX-Trailer: yes\r\n\r\n", 21);
	*out_n = k + 21;
	return o;
}

static uint8_t *bdup(const void *s, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	memcpy(b, s, n);
	return b;
}

#define H(ct, ce, te)                                                                              \
	{                                                                                          \
		.content_type = ct, .content_type_len = sizeof(ct) - 1, .content_encoding = ce,    \
		.content_encoding_len = sizeof(ce) - 1, .transfer_encoding = te,                   \
		.transfer_encoding_len = sizeof(te) - 1                                            \
	}

static size_t make_bodies(struct body *v)
{
	size_t k = 0, n, m;
	uint8_t *e;

	/* 1. Guarded JSON, gzip, chunked. */
	const char *json = ")]}'\n{\"user\":\"ada\",\"items\":[1,2,3],\"note\":\"guarded json\"}";
	e = tc_encode("gzip", (const uint8_t *)json, strlen(json), &n);
	v[k] = (struct body){.name = "json gzip chunked",
	                     .h = H("application/json; charset=utf-8", "gzip", "chunked")};
	v[k].b = chunk(e, n, 7, &v[k].n);
	v[k].expect = "0 PAYLOAD payload json unit=0 len=52 guard=)]}' label= "
	              "|{\"user\":\"ada\",\"items\":[1,2,3],\"note\":\"guarded js|\n"
	              "finish ok\n";
	free(e);
	k++;

	/* 2. SSE over brotli, chunked: JSON, text, guarded JSON, a comment. */
	const char *sse = "event: delta\ndata: {\"t\":\"hel\"}\n\n: keepalive\n\ndata: "
	                  "plain\r\ndata: text\r\n\r\n"
	                  "id: 7\ndata: while(1);[1,2]\n\ndata: {\"done\":true}";
	e = tc_encode("br", (const uint8_t *)sse, strlen(sse), &n);
	v[k] = (struct body){.name = "sse br chunked",
	                     .h = H("text/event-stream", "br", "chunked")};
	v[k].b = chunk(e, n, 5, &v[k].n);
	v[k].expect = "0 PAYLOAD payload json unit=0 len=11 label=delta |{\"t\":\"hel\"}|\n"
	              "1 PAYLOAD payload text unit=1 len=10 label=message |plain\\x0atext|\n"
	              "2 PAYLOAD payload json unit=2 len=5 guard=while(1); label=message |[1,2]|\n"
	              "3 PAYLOAD payload json unit=3 len=13 label=message |{\"done\":true}|\n"
	              "finish ok\n";
	free(e);
	k++;

	/* 3. gRPC+json, two messages, one compressed; zstd content coding. */
	uint8_t g[64];
	m = 0;
	const char *g1 = "{\"id\":1}", *g2 = "xyz";
	g[m++] = 0, g[m++] = 0, g[m++] = 0, g[m++] = 0, g[m++] = (uint8_t)strlen(g1);
	memcpy(g + m, g1, strlen(g1)), m += strlen(g1);
	g[m++] = 1, g[m++] = 0, g[m++] = 0, g[m++] = 0, g[m++] = 3;
	memcpy(g + m, g2, 3), m += 3;
	e = tc_encode("zstd", g, m, &n);
	v[k] = (struct body){.name = "grpc+json zstd", .h = H("application/grpc+json", "zstd", "")};
	v[k].b = e;
	v[k].n = n;
	v[k].expect = "0 PAYLOAD payload json unit=0 len=8 label= |{\"id\":1}|\n"
	              "1 ERROR content grpc-encoding no_encoding unsupported\n"
	              "2 PAYLOAD payload raw unit=1 len=3 compressed label= |xyz|\n"
	              "finish ok\n";
	k++;

	/* 3b. gRPC+json with grpc-encoding gzip: the compressed message (gzip)
	 * is decoded; then one with a corrupt member, then one with
	 * grpc-encoding snappy (unknown): errors, left compressed. */
	static const char gj[] = "{\"msg\":\"compressed json in a grpc frame, compressed\"}";
	static uint8_t gb[256];
	uint8_t *gz = tc_encode("gzip", (const uint8_t *)gj, strlen(gj), &n);
	m = 0;
	gb[m++] = 1, gb[m++] = 0, gb[m++] = 0, gb[m++] = 0, gb[m++] = (uint8_t)n;
	cr_assert(n + 12 < sizeof(gb));
	memcpy(gb + m, gz, n), m += n;
	gb[m++] = 1, gb[m++] = 0, gb[m++] = 0, gb[m++] = 0, gb[m++] = 2, gb[m++] = 0x1f,
	gb[m++] = 0x8b;
	gb[m++] = 0, gb[m++] = 0, gb[m++] = 0, gb[m++] = 0, gb[m++] = 2, gb[m++] = '[',
	gb[m++] = ']';
	free(gz);
	v[k] = (struct body){.name = "grpc gzip", .h = H("application/grpc+json", "", "")};
	v[k].h.grpc_encoding = " gzip";
	v[k].h.grpc_encoding_len = 5;
	v[k].b = bdup(gb, m);
	v[k].n = m;
	static char gexp[512];
	snprintf(
	        gexp, sizeof(gexp),
	        "0 PAYLOAD payload json unit=0 len=%zu compressed decoded wire=%zu label= |%.48s|\n"
	        "1 ERROR content gzip truncated truncated\n"
	        "2 PAYLOAD payload raw unit=1 len=2 compressed label= |\\x1f\\x8b|\n"
	        "3 PAYLOAD payload json unit=2 len=2 label= |[]|\n"
	        "finish ok\n",
	        strlen(gj), n, gj);
	v[k].expect = gexp;
	k++;
	v[k] = v[k - 1];
	v[k].name = "grpc snappy";
	v[k].h.grpc_encoding = "snappy";
	v[k].h.grpc_encoding_len = 6;
	v[k].b = bdup(gb, m);
	v[k].expect = NULL;
	k++;

	/* 4. msgpack, deflate (zlib), TE "gzip, chunked" is not used here. */
	static const uint8_t mp[] = {0x82, 0xa1, 'a',  0x01, 0xa1, 'b',  0x92, 0xc3, 0xcb,
	                             0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a};
	e = tc_encode("zlib", mp, sizeof(mp), &n);
	v[k] = (struct body){.name = "msgpack deflate",
	                     .h = H("application/msgpack", "deflate", "")};
	v[k].b = e;
	v[k].n = n;
	v[k].expect =
	        "0 PAYLOAD payload msgpack unit=0 len=22 label= |{\"a\":1,\"b\":[true,0.1]}|\n"
	        "finish ok\n";
	k++;

	/* 5. A gzip bomb (1 + 258*40000 zeros > 1 MiB budget) in a chunked body:
	 * content fails with bomb, the compressed body comes out raw. */
	e = tc_wrapped_bomb("gzip", 40000, &n);
	v[k] = (struct body){.name = "gzip bomb", .h = H("application/json", "gzip", "chunked")};
	v[k].b = chunk(e, n, 1000, &v[k].n);
	free(e);
	k++;

	/* 6. Broken chunked framing after some data: transfer fails, raw. */
	const char *bad = "4\r\n{\"a\"\r\n3\r\n:1}XX0\r\n\r\n";
	v[k] = (struct body){.name = "bad chunked", .h = H("application/json", "", "chunked")};
	v[k].b = bdup(bad, strlen(bad));
	v[k].n = strlen(bad);
	v[k].expect = "0 ERROR transfer chunked bad_crlf invalid fatal\n"
	              "1 PAYLOAD transfer raw unit=0 len=22 label= "
	              "|4\\x0d\\x0a{\"a\"\\x0d\\x0a3\\x0d\\x0a:1}XX0\\x0d\\x0a\\x0d\\x0a|\n"
	              "finish invalid\n";
	k++;

	/* 7. Unknown coding: content fails at once, raw body. */
	v[k] = (struct body){.name = "unknown coding", .h = H("text/plain", "compress", "")};
	v[k].b = bdup("hello", 5);
	v[k].n = 5;
	v[k].expect = "0 ERROR content content unknown unsupported fatal\n"
	              "1 PAYLOAD content raw unit=0 len=5 label= |hello|\n"
	              "finish unsupported\n";
	k++;

	/* 8. Malformed msgpack: a payload error for the unit only. */
	v[k] = (struct body){.name = "bad msgpack", .h = H("application/x-msgpack", "", "")};
	v[k].b = bdup("\x92\x01\xc1", 3);
	v[k].n = 3;
	v[k].expect = "0 ERROR payload msgpack bad_type invalid\n"
	              "1 PAYLOAD payload raw unit=0 len=3 label= |\\x92\\x01\\xc1|\n"
	              "finish ok\n";
	k++;

	/* 9. gRPC messages over max_event (8192), one compressed (gzip), each
	 * followed by a small one: reported with their length only, skipped
	 * unread and undecoded; framing goes on. */
	static uint8_t big[2 * (5 + 9000 + 7)];
	m = 0;
	for (int i = 0; i < 2; i++) {
		big[m++] = (uint8_t)i, big[m++] = 0, big[m++] = 0, big[m++] = 0x23, big[m++] = 0x28;
		memset(big + m, 'z', 9000), m += 9000;
		memcpy(big + m, "\0\0\0\0\2hi", 7), m += 7;
	}
	v[k] = (struct body){.name = "grpc too large", .h = H("application/grpc", "", "")};
	v[k].h.grpc_encoding = "gzip";
	v[k].h.grpc_encoding_len = 4;
	v[k].b = bdup(big, m);
	v[k].n = m;
	v[k].expect = "0 ERROR framing grpc too_large limit\n"
	              "1 PAYLOAD payload raw unit=0 len=9000 too_large label= ||\n"
	              "2 PAYLOAD payload raw unit=1 len=2 label= |hi|\n"
	              "3 ERROR framing grpc too_large limit\n"
	              "4 PAYLOAD payload raw unit=2 len=9000 compressed too_large label= ||\n"
	              "5 PAYLOAD payload raw unit=3 len=2 label= |hi|\n"
	              "finish ok\n";
	k++;

	/* 10. Transfer-Encoding "gzip, chunked": the gzip is a coding too. */
	const char *txt = "for(;;);{\"x\":[true,false,null]}";
	e = tc_encode("gzip", (const uint8_t *)txt, strlen(txt), &n);
	v[k] = (struct body){.name = "te gzip chunked",
	                     .h = H("text/javascript", "", "gzip, chunked")};
	v[k].b = chunk(e, n, 3, &v[k].n);
	v[k].expect = "0 PAYLOAD payload json unit=0 len=23 guard=for(;;); label= "
	              "|{\"x\":[true,false,null]}|\n"
	              "finish ok\n";
	free(e);
	k++;

	/* 11. Truncated brotli stream: content truncated, raw compressed bytes. */
	e = tc_encode("br", (const uint8_t *)sse, strlen(sse), &n);
	v[k] = (struct body){.name = "br truncated", .h = H("text/plain", "br", "")};
	v[k].b = e;
	v[k].n = n - 4;
	k++;

	/* 13. A WebSocket server->client stream: JSON text, ping, fragmented
	 * text, msgpack binary, bad msgpack, a masked frame (a framing error:
	 * skipped, framing goes on), a text message, then one cut by the end. */
	static const uint8_t ws[] = {0x81, 11,   '{',  '"',  'o',  'p',  '"',  ':', '"',  'h',
	                             'i',  '"',  '}',  0x89, 1,    'p',  0x01, 3,   'p',  'l',
	                             'a',  0x80, 3,    'i',  'n',  '!',  0x82, 4,   0x81, 0xa1,
	                             'a',  0x01, 0x82, 1,    0xc1, 0x81, 0x81, 1,   2,    3,
	                             4,    'x',  0x81, 2,    'o',  'k',  0x01, 5,   'c',  'u'};
	v[k] = (struct body){.name = "websocket",
	                     .h = {.websocket = true, .ws_binary_msgpack = true}};
	v[k].b = bdup(ws, sizeof(ws));
	v[k].n = sizeof(ws);
	v[k].expect = "0 PAYLOAD payload json unit=0 len=11 label= |{\"op\":\"hi\"}|\n"
	              "1 PAYLOAD payload text unit=1 len=6 label= |plain!|\n"
	              "2 PAYLOAD payload msgpack unit=2 len=7 label= |{\"a\":1}|\n"
	              "3 ERROR payload msgpack bad_type invalid\n"
	              "4 PAYLOAD payload raw unit=3 len=1 label= |\\xc1|\n"
	              "5 ERROR framing websocket mask_forbidden protocol\n"
	              "6 PAYLOAD payload text unit=4 len=2 label= |ok|\n"
	              "7 ERROR framing websocket truncated truncated\n"
	              "8 PAYLOAD payload raw unit=5 len=2 label= |cu|\n"
	              "finish ok\n";
	k++;

	/* 12. Binary body with no type: raw, excerpt bounded. */
	v[k] = (struct body){.name = "octets", .h = H("", "", "")};
	v[k].b = tc_sample(300, 5);
	v[k].n = 300;
	k++;

	/* 14. permessage-deflate WebSocket (server->client, context takeover):
	 * two compressed JSON messages, the second referring to the first's
	 * window, then a corrupt one: decoded units, then a content error. */
	static const char wj[] = "{\"op\":\"zip\",\"n\":12345}";
	z_stream zs = {0};
	cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	static uint8_t wsz[256];
	m = 0;
	for (int i = 0; i < 2; i++) {
		uint8_t tmp[128];
		zs.next_in = (Bytef *)wj;
		zs.avail_in = (uInt)strlen(wj);
		zs.next_out = tmp;
		zs.avail_out = sizeof(tmp);
		cr_assert_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
		size_t zn = sizeof(tmp) - zs.avail_out - 4;
		wsz[m++] = 0xC1;
		wsz[m++] = (uint8_t)zn;
		memcpy(wsz + m, tmp, zn);
		m += zn;
	}
	deflateEnd(&zs);
	wsz[m++] = 0xC1, wsz[m++] = 2, wsz[m++] = 0xff, wsz[m++] = 0xff;
	v[k] = (struct body){.name = "websocket deflate",
	                     .h = {.websocket = true, .ws_deflate = true}};
	v[k].b = bdup(wsz, m);
	v[k].n = m;
	v[k].expect = NULL; /* wire lengths depend on zlib: checked below */
	k++;
	return k;
}

Test(pipeline, expected_events)
{
	struct body v[20];
	size_t nb = make_bodies(v);
	struct log l = {.s = malloc(1 << 16), .cap = 1 << 16};
	for (size_t i = 0; i < nb; i++) {
		run(&v[i], NULL, 0, &l);
		if (getenv("SHOW"))
			fprintf(stderr, "== %s\n%s", v[i].name, l.s);
		if (v[i].expect)
			cr_assert_str_eq(l.s, v[i].expect, "%s:\n%s", v[i].name, l.s);
	}
	/* The bomb: content error, then the chunk-decoded gzip bytes raw. */
	run(&v[6], NULL, 0, &l);
	cr_assert(
	        strstr(l.s,
	               "0 ERROR content gzip bomb bomb fatal\n1 PAYLOAD content raw unit=0 len=") ==
	                l.s,
	        "%s", l.s);
	run(&v[12], NULL, 0, &l);
	cr_assert(strstr(l.s,
	                 "0 ERROR content br truncated truncated fatal\n1 PAYLOAD content raw") ==
	                  l.s,
	          "%s", l.s);
	run(&v[14], NULL, 0, &l);
	cr_assert(strstr(l.s, "0 PAYLOAD payload raw unit=0 len=300 label= |") == l.s, "%s", l.s);
	run(&v[15], NULL, 0, &l);
	cr_assert(strstr(l.s, "0 PAYLOAD payload json unit=0 len=22 compressed decoded wire=") ==
	                  l.s,
	          "%s", l.s);
	cr_assert(strstr(l.s, "label= |{\"op\":\"zip\",\"n\":12345}|\n1 PAYLOAD payload json "
	                      "unit=1 len=22 compressed decoded wire="),
	          "%s", l.s);
	cr_assert(strstr(l.s,
	                 "2 ERROR content permessage-deflate corrupt invalid\n"
	                 "3 PAYLOAD payload raw unit=2 len=0 compressed decoded wire=2 label= ||\n"
	                 "finish ok\n"),
	          "%s", l.s);
	for (size_t i = 0; i < nb; i++)
		free(v[i].b);
	free(l.s);
}

/* Same bytes, any chunking, same events: every single split point, then
 * 1000 seeded random multi-way splits. */
Test(pipeline, chunking_does_not_change_events)
{
	struct body v[20];
	size_t nb = make_bodies(v);
	struct log ref = {.s = malloc(1 << 16), .cap = 1 << 16};
	struct log got = {.s = malloc(1 << 16), .cap = 1 << 16};
	size_t cuts[64];
	uint64_t seed = 0x5eed;
	for (size_t i = 0; i < nb; i++) {
		run(&v[i], NULL, 0, &ref);
		size_t step = v[i].n > 4000 ? v[i].n / 500 : 1; /* the bomb body is large */
		for (size_t k = 0; k <= v[i].n; k += step) {
			cuts[0] = k;
			run(&v[i], cuts, 1, &got);
			cr_assert_str_eq(got.s, ref.s, "%s split at %zu", v[i].name, k);
		}
		for (int t = 0; t < 1000; t++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			size_t nc = (size_t)(seed >> 33) % 64;
			for (size_t c = 0; c < nc; c++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				cuts[c] = (size_t)(seed >> 33) % (v[i].n + 1);
			}
			/* sort the cut points */
			for (size_t a = 1; a < nc; a++)
				for (size_t b = a; b > 0 && cuts[b - 1] > cuts[b]; b--) {
					size_t tmp = cuts[b];
					cuts[b] = cuts[b - 1];
					cuts[b - 1] = tmp;
				}
			run(&v[i], cuts, nc, &got);
			cr_assert_str_eq(got.s, ref.s, "%s random split #%d", v[i].name, t);
		}
	}
	for (size_t i = 0; i < nb; i++)
		free(v[i].b);
	free(ref.s);
	free(got.s);
}

Test(pipeline, chunked_body_end_leaves_next_message)
{
	const char *two = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
	struct sm_pipe_config cfg = config();
	struct sm_pipe_headers h = H("text/plain", "", "chunked");
	struct log l = {.s = malloc(4096), .cap = 4096};
	struct sm_pipe *p = sm_pipe_new(&cfg, &h, on_event, &l);
	cr_assert(sm_pipe_chunked(p));
	cr_assert_eq(sm_pipe_framing(p), SM_PIPE_FRAME_NONE);
	cr_assert_eq(sm_pipe_feed(p, (const uint8_t *)two, strlen(two)), 13);
	cr_assert_eq(sm_pipe_feed(p, (const uint8_t *)two + 13, 5), 0);
	cr_assert_eq(sm_pipe_finish(p), SM_OK);
	cr_assert_str_eq(l.s, "0 PAYLOAD payload text unit=0 len=3 label= |abc|\n");
	sm_pipe_free(p);

	/* Already de-chunked by the caller: bytes are the body itself. */
	h.transfer_removed = true;
	l.len = 0;
	p = sm_pipe_new(&cfg, &h, on_event, &l);
	cr_assert(!sm_pipe_chunked(p));
	cr_assert_eq(sm_pipe_feed(p, (const uint8_t *)"3\r\nabc", 6), 6);
	cr_assert_eq(sm_pipe_finish(p), SM_OK);
	cr_assert_str_eq(l.s, "0 PAYLOAD payload text unit=0 len=6 label= |3\\x0d\\x0aabc|\n");
	sm_pipe_free(p);
	free(l.s);
}

Test(pipeline, rejects_bad_config)
{
	struct sm_pipe_config cfg = config();
	struct sm_pipe_headers h = H("", "", "");
	cfg.max_unit = 10;
	cr_assert_null(sm_pipe_new(&cfg, &h, on_event, NULL));
	cfg = config();
	cfg.excerpt = cfg.max_unit + 1;
	cr_assert_null(sm_pipe_new(&cfg, &h, on_event, NULL));
	cfg = config();
	cr_assert_null(sm_pipe_new(&cfg, &h, NULL, NULL));
}

static void count_only(void *ctx, const struct sm_pipe_event *ev)
{
	(*(int *)ctx)++;
}

Test(pipeline, stats_and_oversized_coding_list)
{
	struct sm_pipe_config cfg = config();
	size_t n;
	uint8_t *b = tc_wrapped_bomb("gzip", 40000, &n);
	struct sm_pipe_headers h = H("application/json", "gzip", "");
	int events = 0;
	struct sm_pipe *p = sm_pipe_new(&cfg, &h, count_only, &events);
	cr_assert_eq(sm_pipe_feed(p, b, n), (long)n);
	cr_assert_eq(sm_pipe_finish(p), SM_ERR_BOMB);
	const struct sm_pipe_stats *st = sm_pipe_stats(p);
	cr_assert_eq(st->bombs, 1);
	cr_assert_eq(st->fatal, 1);
	cr_assert_eq(st->errors, 1);
	cr_assert_eq(st->units, 1);
	cr_assert_eq(st->in_bytes[SM_PIPE_CONTENT], n);
	cr_assert_eq(st->in_bytes[SM_PIPE_FRAMING], 0);
	cr_assert_eq(events, 2);
	sm_pipe_free(p);
	free(b);

	/* A coding list that does not fit the 1 KiB buffer is too_deep. */
	char ce[1100];
	memset(ce, ' ', sizeof(ce));
	memcpy(ce, "gzip", 4);
	struct sm_pipe_headers h2 = {.content_type = "text/plain",
	                             .content_type_len = 10,
	                             .content_encoding = ce,
	                             .content_encoding_len = sizeof(ce),
	                             .transfer_encoding = "gzip, chunked",
	                             .transfer_encoding_len = 13};
	struct log l = {.s = malloc(4096), .cap = 4096};
	p = sm_pipe_new(&cfg, &h2, on_event, &l);
	cr_assert_eq(sm_pipe_feed(p, (const uint8_t *)"1\r\nx\r\n0\r\n\r\n", 11), 11);
	cr_assert_eq(sm_pipe_finish(p), SM_ERR_LIMIT);
	cr_assert_str_eq(l.s, "0 ERROR content content too_deep limit fatal\n"
	                      "1 PAYLOAD content raw unit=0 len=1 label= |x|\n");
	sm_pipe_free(p);
	free(l.s);
}
