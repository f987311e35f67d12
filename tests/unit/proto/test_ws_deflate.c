/* permessage-deflate: the response parameters (proto/ws_deflate) and the
 * WebSocket parser inflating compressed messages (proto/websocket +
 * decode/inflate). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/result.h"
#include "proto/websocket.h"
#include "proto/ws_deflate.h"

/* ---- parameters ---- */

static const struct {
	const char *v;
	bool on, inflate;
	bool nct0, nct1;
	int wb0, wb1;
} params[] = {
        {"", false, false, false, false, 15, 15},
        {"x-webkit-deflate-frame", false, false, false, false, 15, 15},
        {"permessage-deflate", true, true, false, false, 15, 15},
        {"PerMessage-Deflate ; client_max_window_bits", true, true, false, false, 15, 15},
        {"permessage-deflate; server_no_context_takeover; client_no_context_takeover", true, true,
         true, true, 15, 15},
        {"permessage-deflate;server_max_window_bits=10;client_max_window_bits=\"9\"", true, true,
         false, false, 9, 10},
        {"foo; a=\"x,y\", permessage-deflate; client_no_context_takeover", true, true, true, false,
         15, 15},
        {"permessage-deflate; server_max_window_bits=7", true, false, false, false, 15, 15},
        {"permessage-deflate; server_max_window_bits=16", true, false, false, false, 15, 15},
        {"permessage-deflate; server_max_window_bits", true, false, false, false, 15, 15},
        {"permessage-deflate; server_no_context_takeover=1", true, false, false, false, 15, 15},
        {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", true, false,
         false, true, 15, 15},
        {"permessage-deflate; x_unknown", true, false, false, false, 15, 15},
        {"permessage-deflate; client_max_window_bits=\"1", true, false, false, false, 15, 15},
        {"permessage-deflate junk", true, false, false, false, 15, 15},
        {"permessage-deflate, permessage-deflate; server_no_context_takeover", true, true, false,
         false, 15, 15},
};

Test(ws_deflate, parameters)
{
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		struct sm_ws_deflate_params p;
		bool on = sm_ws_deflate_parse(params[i].v, strlen(params[i].v), &p);
		cr_assert_eq(on, params[i].on, "%s", params[i].v);
		cr_assert_eq(p.on, params[i].on, "%s", params[i].v);
		cr_assert_eq(p.inflate, params[i].inflate, "%s", params[i].v);
		if (!p.inflate)
			continue;
		cr_assert_eq(p.no_context_takeover[0], params[i].nct0, "%s", params[i].v);
		cr_assert_eq(p.no_context_takeover[1], params[i].nct1, "%s", params[i].v);
		cr_assert_eq(p.window_bits[0], params[i].wb0, "%s", params[i].v);
		cr_assert_eq(p.window_bits[1], params[i].wb1, "%s", params[i].v);
	}
	struct sm_ws_deflate_params p;
	cr_assert(!sm_ws_deflate_parse(NULL, 0, &p));
	/* not NUL-terminated: only n bytes are read */
	cr_assert(sm_ws_deflate_parse("permessage-deflateXYZ", 18, &p) && p.inflate);
}

/* ---- the parser inflating messages ---- */

struct rec {
	char log[1 << 16];
	size_t len;
};

static void on_ev(void *arg, const struct sm_ws_event *ev)
{
	struct rec *r = arg;
	size_t room = sizeof(r->log) - r->len;
	int k;
	if (ev->type == SM_WS_EV_MESSAGE)
		k = snprintf(r->log + r->len, room, "M%u len=%llu dec=%llu%s%s%s%s%s ex=%.*s\n",
		             ev->opcode, (unsigned long long)ev->length,
		             (unsigned long long)ev->decoded_length, ev->compressed ? " C" : "",
		             ev->decoded ? " D" : "", ev->oversized ? " O" : "",
		             ev->truncated ? " T" : "", ev->payload ? "" : " nopl",
		             (int)ev->excerpt_len, ev->excerpt);
	else if (ev->type == SM_WS_EV_ERROR)
		k = snprintf(r->log + r->len, room, "E %s/%u%s\n", sm_ws_reason_str(ev->error),
		             ev->suggested_close, ev->fatal ? " F" : "");
	else
		k = snprintf(r->log + r->len, room, "T%d\n", ev->type);
	cr_assert(k > 0 && (size_t)k < room);
	r->len += (size_t)k;
	if (ev->type == SM_WS_EV_MESSAGE && ev->payload)
		cr_assert_eq(ev->payload_len, ev->decoded_length);
}

/* A frame (masked with a fixed key for client->server). */
static size_t frame(uint8_t *out, uint8_t b0, const uint8_t *pl, size_t n, bool mask)
{
	size_t h = 0;
	out[h++] = b0;
	uint8_t mb = mask ? 0x80 : 0;
	if (n < 126) {
		out[h++] = mb | (uint8_t)n;
	} else if (n < 65536) {
		out[h++] = mb | 126;
		out[h++] = (uint8_t)(n >> 8);
		out[h++] = (uint8_t)n;
	} else {
		out[h++] = mb | 127;
		for (int i = 7; i >= 0; i--)
			out[h++] = (uint8_t)((uint64_t)n >> (8 * i));
	}
	static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
	if (mask) {
		memcpy(out + h, key, 4);
		h += 4;
		for (size_t i = 0; i < n; i++)
			out[h + i] = pl[i] ^ key[i & 3];
	} else {
		memcpy(out + h, pl, n);
	}
	return h + n;
}

/* Compresses msg as one permessage-deflate message (tail stripped). */
static size_t pmd(z_stream *zs, const void *msg, size_t n, uint8_t *out, size_t cap)
{
	zs->next_in = (Bytef *)msg;
	zs->avail_in = (uInt)n;
	zs->next_out = out;
	zs->avail_out = (uInt)cap;
	cr_assert_eq(deflate(zs, Z_SYNC_FLUSH), Z_OK);
	return cap - zs->avail_out - 4;
}

static uint8_t stream[1 << 20];

/* Builds: compressed text "hello hello hello" (one frame), the same again
 * in two frames (context takeover), an uncompressed binary, a compressed
 * 200 KiB message, "bye" compressed. */
static size_t build_stream(bool c2s, bool reset_each)
{
	z_stream zs = {0};
	cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	static uint8_t enc[1 << 19];
	size_t at = 0, n;
	const char *h = "hello hello hello";
	n = pmd(&zs, h, strlen(h), enc, sizeof(enc));
	at += frame(stream + at, 0xC1, enc, n, c2s);
	if (reset_each)
		deflateReset(&zs);
	n = pmd(&zs, h, strlen(h), enc, sizeof(enc));
	at += frame(stream + at, 0x41, enc, n / 2, c2s);
	at += frame(stream + at, 0x80, enc + n / 2, n - n / 2, c2s);
	at += frame(stream + at, 0x82, (const uint8_t *)"\x01\x02", 2, c2s);
	static char big[200 * 1024];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + (i * 7 + i / 13) % 26);
	if (reset_each)
		deflateReset(&zs);
	n = pmd(&zs, big, sizeof(big), enc, sizeof(enc));
	at += frame(stream + at, 0xC2, enc, n, c2s);
	if (reset_each)
		deflateReset(&zs);
	n = pmd(&zs, "bye", 3, enc, sizeof(enc));
	at += frame(stream + at, 0xC1, enc, n, c2s);
	deflateEnd(&zs);
	return at;
}

static struct sm_ws_config cfg(bool c2s, bool inflate, uint32_t max_message, uint32_t max_inflate)
{
	return (struct sm_ws_config){.dir = c2s ? SM_WS_CLIENT_TO_SERVER : SM_WS_SERVER_TO_CLIENT,
	                             .permessage_deflate = true,
	                             .max_message = max_message,
	                             .excerpt = 8,
	                             .inflate = inflate,
	                             .max_inflate = max_inflate};
}

static void run(const struct sm_ws_config *c, const uint8_t *in, size_t n, size_t cut,
                struct rec *r, struct sm_ws_stats *st)
{
	r->len = 0;
	r->log[0] = 0;
	struct sm_ws *p = sm_ws_new(c, on_ev, r);
	cr_assert_not_null(p);
	cr_assert_eq(sm_ws_feed(p, in, cut), (long)cut);
	cr_assert_eq(sm_ws_feed(p, in + cut, n - cut), (long)(n - cut));
	cr_assert_eq(sm_ws_finish(p), SM_OK);
	if (st)
		*st = *sm_ws_stats(p);
	sm_ws_free(p);
}

Test(ws_deflate, messages_inflated_with_context_takeover)
{
	for (int c2s = 0; c2s < 2; c2s++) {
		size_t n = build_stream(c2s, false);
		struct sm_ws_config c = cfg(c2s, true, 1 << 20, 0);
		static struct rec r, r2;
		struct sm_ws_stats st;
		run(&c, stream, n, 0, &r, &st);
		/* wire lengths vary with zlib; check the decoded side */
		cr_assert(strstr(r.log, "dec=17 C D ex=hello he\n"), "%s", r.log);
		cr_assert(strstr(r.log, "M2 len=2 dec=2 ex=\x01\x02\n"), "%s", r.log);
		cr_assert(strstr(r.log, "dec=204800 C D ex=ahovcjqx\n"), "%s", r.log);
		cr_assert(strstr(r.log, "dec=3 C D ex=bye\n"), "%s", r.log);
		cr_assert(!strstr(r.log, "E "), "%s", r.log);
		cr_assert_eq(st.inflated, 4);
		/* every split gives the same log */
		for (size_t cut = 1; cut < n; cut += (cut < 300 ? 1 : 211)) {
			run(&c, stream, n, cut, &r2, NULL);
			cr_assert_str_eq(r2.log, r.log, "cut %zu", cut);
		}
		/* without inflate: compressed bytes as before */
		c.inflate = false;
		run(&c, stream, n, 0, &r2, NULL);
		cr_assert(!strstr(r2.log, " D "), "%s", r2.log);
		cr_assert(strstr(r2.log, "M2 len=2 dec=2 ex=\x01\x02\n"), "%s", r2.log);
	}
}

Test(ws_deflate, no_context_takeover_each_message_alone)
{
	size_t n = build_stream(true, true);
	struct sm_ws_config c = cfg(true, true, 1 << 20, 0);
	c.no_context_takeover = true;
	static struct rec r;
	run(&c, stream, n, 0, &r, NULL);
	cr_assert(strstr(r.log, "dec=204800 C D ex=ahovcjqx\n"), "%s", r.log);
	cr_assert(strstr(r.log, "dec=3 C D ex=bye\n"), "%s", r.log);
}

Test(ws_deflate, bomb_and_oversize_bounded)
{
	size_t n = build_stream(false, false);
	/* 64 KiB kept, 1 MiB budget: the 200 KiB message is too big, not a bomb */
	struct sm_ws_config c = cfg(false, true, 65536, 1 << 20);
	static struct rec r;
	struct sm_ws_stats st;
	run(&c, stream, n, 0, &r, &st);
	cr_assert(strstr(r.log, "E too_big/1009\nM2 len="), "%s", r.log);
	cr_assert(strstr(r.log, "dec=204800 C D O nopl ex=ahovcjqx\n"), "%s", r.log);
	cr_assert(strstr(r.log, "dec=3 C D ex=bye\n"), "window kept: %s", r.log);
	cr_assert_leq(st.reassembly_hwm, 65536);
	/* 64 KiB budget: bomb; takeover: later compressed messages stay compressed */
	c = cfg(false, true, 1 << 20, 65536);
	run(&c, stream, n, 0, &r, &st);
	cr_assert(strstr(r.log, "E inflate_bomb/1009\nM2 len="), "%s", r.log);
	cr_assert(strstr(r.log, "dec=65536 C D nopl ex=ahovcjqx\n"), "%s", r.log);
	cr_assert(strstr(r.log, "M1 len=5 dec=5 C nopl ex=") || strstr(r.log, " dec=5 C ex="), "%s",
	          r.log);
	cr_assert_eq(st.inflate_bombs, 1);
	cr_assert_eq(st.inflate_errors, 1);
	cr_assert_eq(st.inflated, 2, "%s", r.log);
}

Test(ws_deflate, corrupt_message_is_an_event_not_a_failure)
{
	uint8_t buf[256];
	size_t at = frame(buf, 0xC1, (const uint8_t *)"\xff\xff\xff\xff", 4, false);
	at += frame(buf + at, 0x81, (const uint8_t *)"plain", 5, false);
	struct sm_ws_config c = cfg(false, true, 4096, 0);
	static struct rec r;
	struct sm_ws_stats st;
	run(&c, buf, at, 3, &r, &st);
	cr_assert_str_eq(r.log, "E inflate_corrupt/1007\n"
	                        "M1 len=4 dec=0 C D nopl ex=\n"
	                        "M1 len=5 dec=5 ex=plain\n");
	/* decoded text is UTF-8 checked */
	z_stream zs = {0};
	deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
	uint8_t enc[64];
	size_t n = pmd(&zs, "ok\xff", 3, enc, sizeof(enc));
	deflateEnd(&zs);
	at = frame(buf, 0xC1, enc, n, false);
	run(&c, buf, at, 0, &r, &st);
	cr_assert(strstr(r.log, "E bad_utf8/1007\nM1 len="), "%s", r.log);
	cr_assert(strstr(r.log, " dec=3 C D nopl ex=ok\xff\n"), "%s", r.log);
	/* RSV1 without permessage-deflate: a framing error, the frame skipped */
	c.permessage_deflate = false;
	r.len = 0;
	struct sm_ws *p = sm_ws_new(&c, on_ev, &r);
	cr_assert_eq(sm_ws_feed(p, buf, at), (long)at);
	sm_ws_free(p);
	cr_assert_str_eq(r.log, "E rsv_bits/1002\n");
}

/* A compressed message cut by a framing error is reported with what was
 * decoded of it. Its deflate stream never ends: with context takeover the
 * window is lost and the next compressed message is reported undecoded;
 * without, the next one decodes alone. */
Test(ws_deflate, cut_compressed_message)
{
	for (int nct = 0; nct < 2; nct++) {
		z_stream zs = {0};
		cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
		uint8_t enc[256];
		size_t at = 0, n;
		n = pmd(&zs, "hello hello hello", 17, enc, sizeof(enc));
		at += frame(stream + at, 0xC1, enc, n, false);
		if (nct)
			deflateReset(&zs);
		n = pmd(&zs, "second message", 14, enc, sizeof(enc));
		at += frame(stream + at, 0x41, enc, n, false);                  /* no FIN */
		at += frame(stream + at, 0xA0, (const uint8_t *)"x", 1, false); /* RSV2: cuts it */
		if (nct)
			deflateReset(&zs);
		n = pmd(&zs, "bye", 3, enc, sizeof(enc));
		at += frame(stream + at, 0xC1, enc, n, false);
		deflateEnd(&zs);
		struct sm_ws_config c = cfg(false, true, 4096, 0);
		c.no_context_takeover = nct;
		static struct rec r, r2;
		struct sm_ws_stats st;
		run(&c, stream, at, 0, &r, &st);
		cr_assert(strstr(r.log,
		                 "dec=17 C D ex=hello he\nE rsv_bits/1002\nE truncated/0\nM1 "),
		          "%s", r.log);
		cr_assert(strstr(r.log, " dec=14 C D T nopl ex=second m\n"), "%s", r.log);
		if (nct)
			cr_assert(strstr(r.log, "dec=3 C D ex=bye\n"), "%s", r.log);
		else
			cr_assert(!strstr(r.log, "bye") && strstr(r.log, "C ex="), "lost: %s",
			          r.log);
		cr_assert_eq(st.truncated, 1);
		cr_assert_eq(st.skipped, 1);
		for (size_t cut = 1; cut < at; cut++) {
			run(&c, stream, at, cut, &r2, NULL);
			cr_assert_str_eq(r2.log, r.log, "cut %zu", cut);
		}
	}
}
