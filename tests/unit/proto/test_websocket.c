#include "proto/websocket.h"

#include "base/result.h"
#include "parsers_testutil.h"

#define C2S SM_WS_CLIENT_TO_SERVER
#define S2C SM_WS_SERVER_TO_CLIENT

struct ctx {
	struct rec r;
	bool verbose; /* offsets and payload hashes, for split comparisons */
	enum sm_ws_dir dir;
};

static uint32_t fnv(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static void on_event(void *arg, const struct sm_ws_event *ev)
{
	struct ctx *c = arg;
	cr_assert_eq(ev->dir, c->dir);
	switch (ev->type) {
	case SM_WS_EV_MESSAGE:
		rec_printf(&c->r, "M:%s len=%llu fr=%u%s%s%s%s ex=",
		           ev->opcode == SM_WS_OP_TEXT ? "t" : "b", (unsigned long long)ev->length,
		           ev->frames, ev->compressed ? " C" : "", ev->oversized ? " O" : "",
		           ev->invalid_utf8 ? " U" : "", ev->truncated ? " T" : "");
		rec_bytes(&c->r, ev->excerpt, ev->excerpt_len);
		if (!ev->payload)
			rec_printf(&c->r, " pl=-");
		else if (ev->payload_len <= 16 && !c->verbose) {
			rec_printf(&c->r, " pl=");
			rec_bytes(&c->r, ev->payload, ev->payload_len);
		} else
			rec_printf(&c->r, " pl=#%zu", ev->payload_len);
		if (ev->payload) {
			cr_assert_eq(ev->payload_len, ev->length);
			cr_assert_eq(memcmp(ev->payload, ev->excerpt, ev->excerpt_len), 0);
			if (c->verbose)
				rec_printf(&c->r, "/%08x", fnv(ev->payload, ev->payload_len));
		}
		break;
	case SM_WS_EV_PING:
	case SM_WS_EV_PONG:
		rec_printf(&c->r, "%s:", ev->type == SM_WS_EV_PING ? "PING" : "PONG");
		rec_bytes(&c->r, ev->payload, ev->payload_len);
		break;
	case SM_WS_EV_CLOSE:
		rec_printf(&c->r, "CLOSE:%u ", ev->close_code);
		rec_bytes(&c->r, ev->reason, ev->reason_len);
		break;
	case SM_WS_EV_ERROR:
		rec_printf(&c->r, "E:%s/%u%s", sm_ws_reason_str(ev->error), ev->suggested_close,
		           ev->fatal ? "F" : "");
		break;
	}
	if (c->verbose)
		rec_printf(&c->r, "@%llu", (unsigned long long)ev->offset);
	rec_printf(&c->r, "\n");
}

static struct sm_ws_config g_cfg;

static char *run_chunks(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts, bool verbose,
                        struct sm_ws_stats *stats)
{
	struct ctx c = {.verbose = verbose, .dir = g_cfg.dir};
	struct sm_ws *p = sm_ws_new(&g_cfg, on_event, &c);
	cr_assert_not_null(p);
	size_t at = 0;
	long first_err = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : n;
		void *chunk = chunk_dup(in + at, end - at);
		long r = sm_ws_feed(p, chunk, end - at);
		free(chunk);
		cr_assert(r < 0 || r == (long)(end - at));
		if (r < 0 && !first_err)
			first_err = r;
		if (first_err)
			cr_assert_eq(r, first_err);
		at = end;
	}
	if (first_err)
		rec_printf(&c.r, "!%s\n", sm_result_str((int)first_err));
	rec_printf(&c.r, "$%s\n", sm_result_str(sm_ws_finish(p)));
	if (stats)
		*stats = *sm_ws_stats(p);
	sm_ws_free(p);
	return rec_take(&c.r);
}

static char *run_split(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts)
{
	return run_chunks(in, n, cuts, ncuts, true, NULL);
}

/* ---- frame builder ---- */

static uint8_t pattern[70000];

static void init_pattern(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)('a' + i % 26);
}

/* One frame: b0 = FIN|RSV|opcode; pl NULL = n bytes of pattern; mask -1 =
 * as the direction requires; form 0 = shortest length, 126/127 forced. */
struct fr {
	uint8_t b0;
	const char *pl;
	size_t n;
	int mask;
	int form;
};

#define F(b0, s)                                                                                   \
	{                                                                                          \
		b0, s, sizeof(s) - 1, -1, 0                                                        \
	}
#define FP(b0, n)                                                                                  \
	{                                                                                          \
		b0, NULL, n, -1, 0                                                                 \
	}

static size_t build_frame(uint8_t *out, const struct fr *f, enum sm_ws_dir dir, unsigned idx)
{
	size_t o = 0;
	bool mask = f->mask < 0 ? dir == C2S : f->mask;
	const uint8_t *pl = f->pl ? (const uint8_t *)f->pl : pattern;
	int form = f->form ? f->form : f->n < 126 ? 0 : f->n <= 0xffff ? 126 : 127;
	out[o++] = f->b0;
	uint8_t mbit = mask ? 0x80 : 0;
	if (form == 0) {
		out[o++] = mbit | (uint8_t)f->n;
	} else if (form == 126) {
		out[o++] = mbit | 126;
		out[o++] = (uint8_t)(f->n >> 8);
		out[o++] = (uint8_t)f->n;
	} else {
		out[o++] = mbit | 127;
		for (int s = 56; s >= 0; s -= 8)
			out[o++] = (uint8_t)((uint64_t)f->n >> s);
	}
	uint8_t key[4] = {(uint8_t)(0x37 + idx), 0xfa, (uint8_t)(0x21 ^ idx), 0x3d};
	if (mask) {
		memcpy(out + o, key, 4);
		o += 4;
	}
	for (size_t i = 0; i < f->n; i++)
		out[o + i] = pl[i] ^ (mask ? key[i & 3] : 0);
	return o + f->n;
}

struct ws_case {
	const char *name;
	enum sm_ws_dir dir;
	bool deflate;
	uint32_t max; /* 0 = 100 */
	struct fr f[6];
	size_t nf;
	const char *raw; /* used instead of frames when set */
	size_t rawlen;
	size_t raw_cut; /* bytes dropped off the end of the frames (a cut stream) */
	const char *want;
};

#define RAW(s) .raw = s, .rawlen = sizeof(s) - 1
#define OK     "$ok\n"
#define FATAL  "!protocol\n$protocol\n"

static const struct ws_case cases[] = {
        /* RFC 6455 5.7 examples */
        {"rfc_unmasked_text", S2C, RAW("\x81\x05Hello"),
         .want = "M:t len=5 fr=1 ex=Hello pl=Hello\n" OK},
        {"rfc_masked_text", C2S, RAW("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"),
         .want = "M:t len=5 fr=1 ex=Hello pl=Hello\n" OK},
        {"rfc_fragmented", S2C, RAW("\x01\x03Hel\x80\x02lo"),
         .want = "M:t len=5 fr=2 ex=Hello pl=Hello\n" OK},
        {"rfc_ping", S2C, RAW("\x89\x05Hello"), .want = "PING:Hello\n" OK},
        {"rfc_masked_pong", C2S, RAW("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"),
         .want = "PONG:Hello\n" OK},
        {"rfc_256_binary", S2C, .max = 1000, .f = {FP(0x82, 256)}, .nf = 1,
         .want = "M:b len=256 fr=1 ex=abcdefgh pl=#256\n" OK},
        {"rfc_64k_binary", S2C, .max = 65536, .f = {FP(0x82, 65536)}, .nf = 1,
         .want = "M:b len=65536 fr=1 ex=abcdefgh pl=#65536\n" OK},
        {"masked_64k_binary", C2S, .max = 65536, .f = {FP(0x82, 65536)}, .nf = 1,
         .want = "M:b len=65536 fr=1 ex=abcdefgh pl=#65536\n" OK},
        /* messages */
        {"empty_text", C2S, .f = {F(0x81, "")}, .nf = 1, .want = "M:t len=0 fr=1 ex= pl=\n" OK},
        {"empty_fragments", C2S, .f = {F(0x01, ""), F(0x00, ""), F(0x80, "")}, .nf = 3,
         .want = "M:t len=0 fr=3 ex= pl=\n" OK},
        {"binary_any_bytes", C2S, .f = {F(0x82, "\xff\x00\xfe")}, .nf = 1,
         .want = "M:b len=3 fr=1 ex=\\xff\\x00\\xfe pl=\\xff\\x00\\xfe\n" OK},
        {"control_between_fragments", C2S,
         .f = {F(0x01, "Hel"), F(0x89, "p"), F(0x00, "l"), F(0x8a, ""), F(0x80, "o")}, .nf = 5,
         .want = "PING:p\nPONG:\nM:t len=5 fr=3 ex=Hello pl=Hello\n" OK},
        {"two_messages", S2C, .f = {F(0x81, "a"), F(0x82, "b")}, .nf = 2,
         .want = "M:t len=1 fr=1 ex=a pl=a\nM:b len=1 fr=1 ex=b pl=b\n" OK},
        {"utf8_across_fragments", C2S, .f = {F(0x01, "\xe2\x82"), F(0x80, "\xac")}, .nf = 2,
         .want = "M:t len=3 fr=2 ex=\\xe2\\x82\\xac pl=\\xe2\\x82\\xac\n" OK},
        {"utf8_4byte_split", C2S, .f = {F(0x01, "\xf0"), F(0x00, "\x9f\x98"), F(0x80, "\x80!")},
         .nf = 3, .want = "M:t len=5 fr=3 ex=\\xf0\\x9f\\x98\\x80! pl=\\xf0\\x9f\\x98\\x80!\n" OK},
        {"deflate_compressed", C2S, .deflate = true, .f = {F(0x41, "\xff"), F(0x80, "\xfe")},
         .nf = 2, .want = "M:t len=2 fr=2 C ex=\\xff\\xfe pl=\\xff\\xfe\n" OK},
        {"deflate_uncompressed_msg", S2C, .deflate = true, .f = {F(0x82, "x")}, .nf = 1,
         .want = "M:b len=1 fr=1 ex=x pl=x\n" OK},
        /* close */
        {"close_code_reason", C2S,
         .f = {F(0x88, "\x03\xe8"
                       "bye")},
         .nf = 1, .want = "CLOSE:1000 bye\n" OK},
        {"close_empty", S2C, .f = {F(0x88, "")}, .nf = 1, .want = "CLOSE:1005 \n" OK},
        {"close_3000", S2C, .f = {F(0x88, "\x0b\xb8")}, .nf = 1, .want = "CLOSE:3000 \n" OK},
        {"close_4999", S2C, .f = {F(0x88, "\x13\x87")}, .nf = 1, .want = "CLOSE:4999 \n" OK},
        {"close_1014", S2C, .f = {F(0x88, "\x03\xf6")}, .nf = 1, .want = "CLOSE:1014 \n" OK},
        {"close_utf8_reason", S2C, .f = {F(0x88, "\x03\xe9\xc3\xa9")}, .nf = 1,
         .want = "CLOSE:1001 \\xc3\\xa9\n" OK},
        {"close_mid_message", S2C, .f = {F(0x01, "a"), F(0x88, "\x03\xe8")}, .nf = 2,
         .want = "E:truncated/0\nM:t len=1 fr=1 T ex=a pl=-\nCLOSE:1000 \n" OK},
        /* a close with a bad payload is reported and ignored */
        {"close_1_byte", S2C, .f = {F(0x88, "\x03"), F(0x81, "x")}, .nf = 2,
         .want = "E:bad_close_payload/1002\nM:t len=1 fr=1 ex=x pl=x\n" OK},
        {"close_999", S2C, .f = {F(0x88, "\x03\xe7")}, .nf = 1,
         .want = "E:bad_close_code/1002\n" OK},
        {"close_1004", S2C, .f = {F(0x88, "\x03\xec")}, .nf = 1,
         .want = "E:bad_close_code/1002\n" OK},
        {"close_1005", S2C, .f = {F(0x88, "\x03\xed")}, .nf = 1,
         .want = "E:bad_close_code/1002\n" OK},
        {"close_1006", S2C, .f = {F(0x88, "\x03\xee")}, .nf = 1,
         .want = "E:bad_close_code/1002\n" OK},
        {"close_1015", S2C, .f = {F(0x88, "\x03\xf7")}, .nf = 1,
         .want = "E:bad_close_code/1002\n" OK},
        {"close_2999", S2C, .f = {F(0x88, "\x0b\xb7")}, .nf = 1,
         .want = "E:bad_close_code/1002\n" OK},
        {"close_5000", S2C, .f = {F(0x88, "\x13\x88")}, .nf = 1,
         .want = "E:bad_close_code/1002\n" OK},
        {"close_bad_utf8_mid_message", C2S,
         .f = {F(0x01, "a"), F(0x88, "\x03\xe8\xff"), F(0x80, "b")}, .nf = 3,
         .want = "E:bad_close_utf8/1007\nM:t len=2 fr=2 ex=ab pl=ab\n" OK},
        /* bytes after a close: said once, framed on */
        {"after_close", S2C, .f = {F(0x88, "\x03\xe8"), F(0x81, "x"), F(0x81, "y")}, .nf = 3,
         .want = "CLOSE:1000 \nE:after_close/1002\nM:t len=1 fr=1 ex=x pl=x\nM:t len=1 fr=1 "
                 "ex=y pl=y\n" OK},
        /* frame errors: the frame is skipped (its length is known), the
         * framing goes on; a data frame among them cuts the open message */
        {"client_unmasked", C2S, .f = {{0x81, "x", 1, 0, 0}, F(0x81, "ok")}, .nf = 2,
         .want = "E:mask_required/1002\nM:t len=2 fr=1 ex=ok pl=ok\n" OK},
        {"server_masked", S2C, .f = {{0x81, "x", 1, 1, 0}, F(0x81, "ok")}, .nf = 2,
         .want = "E:mask_forbidden/1002\nM:t len=2 fr=1 ex=ok pl=ok\n" OK},
        {"reserved_opcode_3", C2S, .f = {F(0x83, "x"), F(0x82, "ok")}, .nf = 2,
         .want = "E:reserved_opcode/1002\nM:b len=2 fr=1 ex=ok pl=ok\n" OK},
        {"reserved_opcode_b", C2S, .f = {F(0x8b, "")}, .nf = 1,
         .want = "E:reserved_opcode/1002\n" OK},
        {"reserved_opcode_f", S2C, .f = {F(0x8f, "")}, .nf = 1,
         .want = "E:reserved_opcode/1002\n" OK},
        {"reserved_data_opcode_fragmented", C2S,
         .f = {F(0x03, "x"), F(0x00, "y"), F(0x80, "z"), F(0x82, "ok")}, .nf = 4,
         .want = "E:reserved_opcode/1002\nM:b len=2 fr=1 ex=ok pl=ok\n" OK},
        {"rsv1_without_deflate", C2S, .f = {F(0xc1, "x"), F(0x81, "ok")}, .nf = 2,
         .want = "E:rsv_bits/1002\nM:t len=2 fr=1 ex=ok pl=ok\n" OK},
        {"rsv2", C2S, .deflate = true, .f = {F(0xa1, "x")}, .nf = 1,
         .want = "E:rsv_bits/1002\n" OK},
        {"rsv3", S2C, .f = {F(0x91, "x")}, .nf = 1, .want = "E:rsv_bits/1002\n" OK},
        {"rsv1_on_continuation", C2S, .deflate = true, .f = {F(0x41, "a"), F(0xc0, "b")}, .nf = 2,
         .want = "E:rsv_bits/1002\nE:truncated/0\nM:t len=1 fr=1 C T ex=a pl=-\n" OK},
        {"rsv1_on_ping", C2S, .deflate = true, .f = {F(0xc9, "")}, .nf = 1,
         .want = "E:rsv_bits/1002\n" OK},
        {"error_mid_message_skips_its_rest", S2C,
         .f = {F(0x01, "ab"), F(0x20, "cd"), F(0x00, "ef"), F(0x89, "p"), F(0x80, "gh"),
               F(0x81, "ok")},
         .nf = 6,
         .want = "E:rsv_bits/1002\nE:truncated/0\nM:t len=2 fr=1 T ex=ab pl=-\nPING:p\n"
                 "M:t len=2 fr=1 ex=ok pl=ok\n" OK},
        {"control_too_long", C2S, .f = {FP(0x89, 126)}, .nf = 1,
         .want = "E:control_too_long/1002\n" OK},
        {"control_too_long_mid_message", C2S, .f = {F(0x01, "a"), FP(0x89, 126), F(0x80, "b")},
         .nf = 3, .want = "E:control_too_long/1002\nM:t len=2 fr=2 ex=ab pl=ab\n" OK},
        {"control_125_ok", S2C, .max = 200, .f = {FP(0x8a, 125)}, .nf = 1,
         .want = "PONG:"
                 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabc"
                 "defghij"
                 "klmnopqrstuvwxyzabcdefghijklmnopqrstu\n" OK},
        {"control_fragmented", C2S, .f = {F(0x09, ""), F(0x8a, "")}, .nf = 2,
         .want = "E:control_fragmented/1002\nPONG:\n" OK},
        {"unexpected_continuation", C2S, .f = {F(0x80, "x"), F(0x81, "ok")}, .nf = 2,
         .want = "E:unexpected_continuation/1002\nM:t len=2 fr=1 ex=ok pl=ok\n" OK},
        {"expected_continuation", C2S, .f = {F(0x01, "a"), F(0x81, "b")}, .nf = 2,
         .want = "E:expected_continuation/1002\nE:truncated/0\nM:t len=1 fr=1 T ex=a pl=-\n"
                 "M:t len=1 fr=1 ex=b pl=b\n" OK},
        {"non_minimal_16", S2C, RAW("\x82\x7e\x00\x05hello\x81\x02ok"),
         .want = "E:non_minimal_length/1002\nM:t len=2 fr=1 ex=ok pl=ok\n" OK},
        {"non_minimal_64", S2C, RAW("\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x05hello"),
         .want = "E:non_minimal_length/1002\n" OK},
        {"non_minimal_64_of_16bit", S2C, RAW("\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff"),
         .want = "E:non_minimal_length/1002\n$truncated\n"},
        /* the one fatal error: where the next frame starts is unknown */
        {"length_high_bit", S2C, RAW("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00"),
         .want = "E:bad_length/1002F\n" FATAL},
        {"length_high_bit_cuts_message", S2C,
         RAW("\x01\x02hi\xc0\x7f\x80\x00\x00\x00\x00\x00\x00\x00\x81\x01x"),
         .want = "E:bad_length/1002F\nE:truncated/0\nM:t len=2 fr=1 T ex=hi pl=-\n" FATAL},
        /* message-level errors (the parser continues) */
        {"bad_utf8", S2C, .f = {F(0x81, "\xc3\x28"), F(0x81, "ok")}, .nf = 2,
         .want = "E:bad_utf8/1007\nM:t len=2 fr=1 U ex=\\xc3( pl=-\nM:t len=2 fr=1 ex=ok "
                 "pl=ok\n" OK},
        {"utf8_overlong", C2S, .f = {F(0x81, "\xc0\xaf")}, .nf = 1,
         .want = "E:bad_utf8/1007\nM:t len=2 fr=1 U ex=\\xc0\\xaf pl=-\n" OK},
        {"utf8_surrogate", C2S, .f = {F(0x81, "\xed\xa0\x80")}, .nf = 1,
         .want = "E:bad_utf8/1007\nM:t len=3 fr=1 U ex=\\xed\\xa0\\x80 pl=-\n" OK},
        {"utf8_above_max", C2S, .f = {F(0x81, "\xf4\x90\x80\x80")}, .nf = 1,
         .want = "E:bad_utf8/1007\nM:t len=4 fr=1 U ex=\\xf4\\x90\\x80\\x80 pl=-\n" OK},
        {"utf8_cut_at_end", C2S, .f = {F(0x01, "a"), F(0x80, "\xe2\x82")}, .nf = 2,
         .want = "E:bad_utf8/1007\nM:t len=3 fr=2 U ex=a\\xe2\\x82 pl=-\n" OK},
        {"utf8_bad_in_second_fragment", C2S, .f = {F(0x01, "ab"), F(0x80, "c\xfe")}, .nf = 2,
         .want = "E:bad_utf8/1007\nM:t len=4 fr=2 U ex=abc\\xfe pl=-\n" OK},
        {"too_big_single", C2S, .f = {FP(0x82, 150), F(0x81, "ok")}, .nf = 2,
         .want = "E:too_big/1009\nM:b len=150 fr=1 O ex=abcdefgh pl=-\nM:t len=2 fr=1 ex=ok "
                 "pl=ok\n" OK},
        {"too_big_fragments", C2S,
         .f = {FP(0x02, 60), FP(0x00, 60), F(0x89, "p"), FP(0x80, 10), F(0x82, "z")}, .nf = 5,
         .want = "E:too_big/1009\nPING:p\nM:b len=130 fr=3 O ex=abcdefgh pl=-\nM:b len=1 fr=1 ex=z "
                 "pl=z\n" OK},
        {"max_exact", S2C, .f = {FP(0x82, 100)}, .nf = 1,
         .want = "M:b len=100 fr=1 ex=abcdefgh pl=#100\n" OK},
        /* end of stream: a cut message is reported with what was seen */
        {"truncated_header", S2C, RAW("\x81"), .want = "E:truncated/0\n$truncated\n"},
        {"truncated_payload", S2C, RAW("\x81\x05He"),
         .want = "E:truncated/0\nM:t len=2 fr=1 T ex=He pl=-\n$truncated\n"},
        {"truncated_open_message", S2C, RAW("\x01\x01H"),
         .want = "E:truncated/0\nM:t len=1 fr=1 T ex=H pl=-\n$truncated\n"},
        {"truncated_second_frame", C2S, .f = {F(0x01, "hi"), F(0x80, "world")}, .nf = 2,
         .raw_cut = 3, .want = "E:truncated/0\nM:t len=4 fr=2 T ex=hiwo pl=-\n$truncated\n"},
        {"truncated_header_in_message", S2C, RAW("\x01\x02hi\x80"),
         .want = "E:truncated/0\nM:t len=2 fr=1 T ex=hi pl=-\n$truncated\n"},
        {"truncated_utf8_not_bad", S2C, RAW("\x81\x03\xe2\x82"),
         .want = "E:truncated/0\nM:t len=2 fr=1 T ex=\\xe2\\x82 pl=-\n$truncated\n"},
        {"truncated_control", S2C, RAW("\x89\x05pi"), .want = "E:truncated/0\n$truncated\n"},
        {"truncated_skipped_frame", S2C, RAW("\xc1\x05pi"),
         .want = "E:rsv_bits/1002\n$truncated\n"},
        {"empty_stream", S2C, RAW(""), .want = OK},
};

static size_t build_case(const struct ws_case *t, uint8_t *out)
{
	if (t->raw) {
		memcpy(out, t->raw, t->rawlen);
		return t->rawlen;
	}
	size_t n = 0;
	for (size_t i = 0; i < t->nf; i++)
		n += build_frame(out + n, &t->f[i], t->dir, (unsigned)i);
	return n - t->raw_cut;
}

static void set_cfg(const struct ws_case *t)
{
	g_cfg = (struct sm_ws_config){.dir = t->dir,
	                              .permessage_deflate = t->deflate,
	                              .max_message = t->max ? t->max : 100,
	                              .excerpt = 8};
}

static uint8_t inbuf[200000];

Test(websocket, corpus, .init = init_pattern)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ws_case *t = &cases[i];
		size_t n = build_case(t, inbuf);
		set_cfg(t);
		char *got = run_chunks(inbuf, n, NULL, 0, false, NULL);
		cr_expect_str_eq(got, t->want, "case %s", t->name);
		free(got);
	}
}

Test(websocket, corpus_split_invariant, .init = init_pattern, .timeout = 240)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ws_case *t = &cases[i];
		size_t n = build_case(t, inbuf);
		if (n > 4096)
			continue; /* large frames: covered by random splits below */
		set_cfg(t);
		split_check(run_split, inbuf, n, t->name);
	}
}

Test(websocket, large_frames_random_splits, .init = init_pattern)
{
	struct fr f[4] = {FP(0x02, 40000), F(0x89, "x"), FP(0x80, 300), FP(0x81, 200)};
	size_t n = 0;
	for (unsigned i = 0; i < 4; i++)
		n += build_frame(inbuf + n, &f[i], C2S, i);
	g_cfg = (struct sm_ws_config){.dir = C2S, .max_message = 65536, .excerpt = 16};
	struct sm_ws_stats st;
	char *whole = run_chunks(inbuf, n, NULL, 0, true, &st);
	cr_assert_eq(st.messages, 2);
	cr_assert_eq(st.control, 1);
	cr_assert_eq(st.frames, 4);
	cr_assert_eq(st.reassembly_hwm, 40300);
	uint64_t seed = 42;
	for (int t = 0; t < 200; t++) {
		size_t cuts[16];
		for (int j = 0; j < 16; j++)
			cuts[j] = 1 + (size_t)(test_rng(&seed) % (n - 1));
		qsort(cuts, 16, sizeof(cuts[0]), cmp_size);
		char *s = run_chunks(inbuf, n, cuts, 16, true, NULL);
		cr_assert_str_eq(s, whole, "split #%d", t);
		free(s);
	}
	free(whole);
}

/* A message 100x the reassembly limit: one error, memory stays at the limit. */
Test(websocket, oversized_message_memory_bounded, .init = init_pattern)
{
	struct fr f[3] = {FP(0x02, 60000), FP(0x80, 60000), F(0x81, "after")};
	size_t n = 0;
	for (unsigned i = 0; i < 3; i++)
		n += build_frame(inbuf + n, &f[i], C2S, i);
	g_cfg = (struct sm_ws_config){.dir = C2S, .max_message = 1024, .excerpt = 4};
	struct sm_ws_stats st;
	size_t cuts[2] = {7, 70000};
	char *got = run_chunks(inbuf, n, cuts, 2, false, &st);
	cr_assert_str_eq(got, "E:too_big/1009\nM:b len=120000 fr=2 O ex=abcd pl=-\n"
	                      "M:t len=5 fr=1 ex=afte pl=after\n$ok\n");
	cr_assert_leq(st.reassembly_hwm, 1024);
	cr_assert_eq(st.oversized, 1);
	free(got);
}

Test(websocket, unmask_matches_bytewise)
{
	uint8_t src[80], dst[80], ref[80];
	const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 31 + 7);
	for (unsigned phase = 0; phase < 4; phase++) {
		for (size_t n = 0; n <= sizeof(src); n++) {
			for (size_t i = 0; i < n; i++)
				ref[i] = src[i] ^ key[(phase + i) & 3];
			unsigned next = sm_ws_unmask(dst, src, n, key, phase);
			cr_assert_eq(next, (phase + n) & 3);
			cr_assert_eq(memcmp(dst, ref, n), 0, "phase %u n %zu", phase, n);
			memcpy(dst, src, n);
			sm_ws_unmask(dst, dst, n, key, phase); /* in place */
			cr_assert_eq(memcmp(dst, ref, n), 0, "in place phase %u n %zu", phase, n);
		}
	}
}

Test(websocket, close_codes_and_names)
{
	cr_assert(sm_ws_close_code_valid(1000));
	cr_assert(sm_ws_close_code_valid(1003));
	cr_assert_not(sm_ws_close_code_valid(1004));
	cr_assert_not(sm_ws_close_code_valid(1005));
	cr_assert_not(sm_ws_close_code_valid(1006));
	cr_assert(sm_ws_close_code_valid(1007));
	cr_assert(sm_ws_close_code_valid(1014));
	cr_assert_not(sm_ws_close_code_valid(1015));
	cr_assert_not(sm_ws_close_code_valid(2999));
	cr_assert(sm_ws_close_code_valid(3000));
	cr_assert(sm_ws_close_code_valid(4999));
	cr_assert_not(sm_ws_close_code_valid(5000));
	cr_assert_str_eq(sm_ws_reason_str(SM_WS_R_TOO_BIG), "too_big");
	cr_assert_str_eq(sm_ws_reason_str(SM_WS_R_AFTER_CLOSE), "after_close");
	cr_assert_str_eq(sm_ws_ev_type_str(SM_WS_EV_CLOSE), "close");
	cr_assert_null(sm_ws_new(NULL, NULL, NULL));
	struct sm_ws_config big = {.max_message = SM_WS_MAX_MESSAGE_LIMIT + 1};
	struct ctx c = {0};
	cr_assert_null(sm_ws_new(&big, on_event, &c));
	struct sm_ws *p = sm_ws_new(NULL, on_event, &c);
	cr_assert_not_null(p);
	cr_assert_eq(sm_ws_feed(p, NULL, 0), 0);
	cr_assert_eq(sm_ws_finish(p), SM_OK);
	cr_assert_eq(sm_ws_feed(p, "x", 1), SM_ERR_STATE);
	sm_ws_free(p);
	free(rec_take(&c.r));
}

/* Frame sequences from a seeded generator (valid and invalid, both
 * directions, small limits): events must not depend on the split. */
Test(websocket, generated_frames_split_invariant, .init = init_pattern, .timeout = 240)
{
	static const uint8_t b0s[] = {0x81, 0x82, 0x01, 0x02, 0x00, 0x80, 0x89,
	                              0x8a, 0x88, 0xc1, 0x41, 0x83, 0x09, 0xa2};
	static const char *const pls[] = {
	        "",     "a",    "hello",    "\xc3\xa9",   "\xe2\x82",
	        "\xac", "\xff", "\x03\xe8", "\x03\xe8ok", "0123456789012345678901234"};
	uint64_t seed = 7;
	for (int s = 0; s < 40; s++) {
		enum sm_ws_dir dir = (s & 1) ? S2C : C2S;
		size_t n = 0;
		for (unsigned k = 0; k < 8 && n < 4000; k++) {
			uint8_t b0 = b0s[test_rng(&seed) % sizeof(b0s)];
			const char *pl = pls[test_rng(&seed) % (sizeof(pls) / sizeof(pls[0]))];
			if (b0 == 0x88 && test_rng(&seed) % 4)
				continue; /* keep most streams open past the close */
			struct fr f = {b0, pl, strlen(pl), test_rng(&seed) % 16 == 0 ? 1 : -1, 0};
			n += build_frame(inbuf + n, &f, dir, k);
		}
		g_cfg = (struct sm_ws_config){
		        .dir = dir, .permessage_deflate = s & 2, .max_message = 20, .excerpt = 6};
		char name[32];
		snprintf(name, sizeof(name), "generated #%d", s);
		split_check(run_split, inbuf, n, name);
	}
}
