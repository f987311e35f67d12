#include "proto/grpc.h"

#include "base/result.h"
#include "parsers_testutil.h"

struct ctx {
	struct rec r;
	bool offsets;
};

static void on_event(void *arg, const struct sm_grpc_event *ev)
{
	struct ctx *c = arg;
	if (ev->type == SM_GRPC_EV_MESSAGE)
		rec_printf(&c->r, "M#%llu %u c%d%s ", (unsigned long long)ev->index, ev->length,
		           ev->compressed, ev->too_large ? " T" : "");
	else
		rec_printf(&c->r, "E:%s #%llu %u r%u ", sm_grpc_reason_str(ev->reason),
		           (unsigned long long)ev->index, ev->length, ev->received);
	rec_bytes(&c->r, ev->excerpt, ev->excerpt_len);
	if (c->offsets)
		rec_printf(&c->r, "@%llu", (unsigned long long)ev->offset);
	rec_printf(&c->r, "\n");
}

static struct sm_grpc_config g_cfg = {.max_message = 64, .excerpt = 8};

static char *run_chunks(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts, bool offsets,
                        struct sm_grpc_stats *stats)
{
	struct ctx c = {.offsets = offsets};
	struct sm_grpc *p = sm_grpc_new(&g_cfg, on_event, &c);
	cr_assert_not_null(p);
	size_t at = 0;
	long first_err = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : n;
		void *chunk = chunk_dup(in + at, end - at);
		long r = sm_grpc_feed(p, chunk, end - at);
		free(chunk);
		if (r < 0 && first_err == 0)
			first_err = r;
		cr_assert(r < 0 || r == (long)(end - at));
		if (first_err)
			cr_assert_eq(r, first_err, "errors are sticky");
		at = end;
	}
	if (first_err)
		rec_printf(&c.r, "!%s\n", sm_result_str((int)first_err));
	rec_printf(&c.r, "$%s\n", sm_result_str(sm_grpc_finish(p)));
	if (stats)
		*stats = *sm_grpc_stats(p);
	sm_grpc_free(p);
	return rec_take(&c.r);
}

static char *run_split(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts)
{
	return run_chunks(in, n, cuts, ncuts, true, NULL);
}

struct grpc_case {
	const char *name;
	const char *in;
	size_t len;
	const char *want;
};

#define B(s) s, sizeof(s) - 1

static const struct grpc_case cases[] = {
        {"one", B("\0\0\0\0\3abc"), "M#0 3 c0 abc\n$ok\n"},
        {"empty_message", B("\0\0\0\0\0"), "M#0 0 c0 \n$ok\n"},
        {"empty_stream", B(""), "$ok\n"},
        {"two_compressed", B("\1\0\0\0\2hi\0\0\0\0\1x"), "M#0 2 c1 hi\nM#1 1 c0 x\n$ok\n"},
        {"excerpt_cut",
         B("\0\0\0\0\x0a"
           "0123456789"),
         "M#0 10 c0 01234567\n$ok\n"},
        {"binary_payload", B("\0\0\0\0\3\0\xff\n"), "M#0 3 c0 \\x00\\xff\\x0a\n$ok\n"},
        {"max_exact",
         B("\0\0\0\0\x40"
           "0123456789012345678901234567890123456789012345678901234567890123"),
         "M#0 64 c0 01234567\n$ok\n"},
        /* over max_message: reported with its length, skipped, framing goes on */
        {"too_large", B("\0\0\0\0\x41xyz"),
         "E:too_large #0 65 r0 \nE:truncated #0 65 r3 \n$truncated\n"},
        {"too_large_after_ok", B("\0\0\0\0\1a\1\xff\xff\xff\xff"),
         "M#0 1 c0 a\nE:too_large #1 4294967295 r0 \nE:truncated #1 4294967295 r0 \n"
         "$truncated\n"},
        {"too_large_then_small",
         B("\1\0\0\0\x41"
           "0123456789012345678901234567890123456789012345678901234567890123X"
           "\0\0\0\0\3abc"),
         "E:too_large #0 65 r0 \nM#0 65 c1 T \nM#1 3 c0 abc\n$ok\n"},
        {"too_large_then_bad_flag",
         B("\0\0\0\0\x41"
           "0123456789012345678901234567890123456789012345678901234567890123X"
           "\7\0\0\0\0"),
         "E:too_large #0 65 r0 \nM#0 65 c0 T \nE:bad_flag #1 0 r0 \n!protocol\n$protocol\n"},
        {"bad_flag", B("\0\0\0\0\1a\2\0\0\0\1b"),
         "M#0 1 c0 a\nE:bad_flag #1 1 r0 \n!protocol\n$protocol\n"},
        {"bad_flag_ff", B("\xff\0\0\0\0"), "E:bad_flag #0 0 r0 \n!protocol\n$protocol\n"},
        {"truncated_envelope", B("\0\0\0\0\1a\0\0\0"),
         "M#0 1 c0 a\nE:truncated #1 0 r0 \n$truncated\n"},
        {"truncated_payload", B("\1\0\0\0\5ab"), "E:truncated #0 5 r2 ab\n$truncated\n"},
        {"truncated_one_byte", B("\0"), "E:truncated #0 0 r0 \n$truncated\n"},
};

Test(grpc, corpus)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = run_chunks((const uint8_t *)cases[i].in, cases[i].len, NULL, 0, false,
		                       NULL);
		cr_expect_str_eq(got, cases[i].want, "case %s", cases[i].name);
		free(got);
	}
}

Test(grpc, corpus_split_invariant)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		split_check(run_split, (const uint8_t *)cases[i].in, cases[i].len, cases[i].name);
}

/* Many messages of growing size, some compressed, ending in a partial one. */
Test(grpc, long_stream_split_invariant)
{
	uint8_t in[2048];
	size_t n = 0;
	for (uint32_t k = 0; k < 40; k++) {
		in[n++] = (uint8_t)(k % 3 == 0);
		in[n++] = 0;
		in[n++] = 0;
		in[n++] = 0;
		in[n++] = (uint8_t)k;
		for (uint32_t j = 0; j < k; j++)
			in[n++] = (uint8_t)(j * 7 + k);
	}
	memcpy(in + n, "\0\0\0\0\x09part", 9);
	n += 9;
	cr_assert_lt(n, sizeof(in));
	struct sm_grpc_stats st;
	char *got = run_chunks(in, n, NULL, 0, false, &st);
	cr_assert_eq(st.messages, 40);
	cr_assert_eq(st.compressed, 14);
	cr_assert_eq(st.errors, 1);
	cr_assert_leq(st.excerpt_hwm, 8);
	cr_assert(strstr(got, "E:truncated #40 9 r4 part\n$truncated\n") != NULL, "%s", got);
	free(got);
	split_check(run_split, in, n, "long");
}

Test(grpc, oversized_declared_length_allocates_nothing)
{
	struct sm_grpc_config save = g_cfg;
	g_cfg = (struct sm_grpc_config){.max_message = 1024, .excerpt = 1024};
	uint8_t *in = calloc(1, 5 + 100000);
	cr_assert_not_null(in);
	in[1] = 0x00;
	in[2] = 0x01;
	in[3] = 0x86;
	in[4] = 0xa0; /* 100000 */
	struct sm_grpc_stats st;
	char *got = run_chunks(in, 5 + 100000, NULL, 0, false, &st);
	cr_assert_str_eq(got, "E:too_large #0 100000 r0 \nM#0 100000 c0 T \n$ok\n");
	cr_assert_eq(st.excerpt_hwm, 0);
	cr_assert_eq(st.too_large, 1);
	free(got);
	free(in);
	g_cfg = save;
}

Test(grpc, whole_message_when_excerpt_is_max)
{
	struct sm_grpc_config save = g_cfg;
	g_cfg = (struct sm_grpc_config){.max_message = 16, .excerpt = 1000}; /* capped to 16 */
	char *got = run_chunks((const uint8_t *)"\0\0\0\0\x10"
	                                        "0123456789abcdef",
	                       21, NULL, 0, false, NULL);
	cr_assert_str_eq(got, "M#0 16 c0 0123456789abcdef\n$ok\n");
	free(got);
	g_cfg = save;
}

Test(grpc, api_edges)
{
	struct ctx c = {0};
	cr_assert_null(sm_grpc_new(NULL, NULL, NULL));
	struct sm_grpc_config huge = {.excerpt = SM_GRPC_EXCERPT_MAX + 1,
	                              .max_message = SM_GRPC_EXCERPT_MAX + 2};
	cr_assert_null(sm_grpc_new(&huge, on_event, &c));
	struct sm_grpc *p = sm_grpc_new(NULL, on_event, &c);
	cr_assert_not_null(p);
	cr_assert_eq(sm_grpc_feed(p, NULL, 0), 0);
	cr_assert_eq(sm_grpc_finish(p), SM_OK);
	cr_assert_eq(sm_grpc_finish(p), SM_ERR_STATE);
	cr_assert_eq(sm_grpc_feed(p, "x", 1), SM_ERR_STATE);
	sm_grpc_free(p);
	free(rec_take(&c.r));
	cr_assert_str_eq(sm_grpc_ev_type_str(SM_GRPC_EV_ERROR), "error");
	cr_assert_str_eq(sm_grpc_reason_str(SM_GRPC_R_BAD_FLAG), "bad_flag");
}

/* ---- status reader ---- */

#define H(n, v)                                                                                    \
	{                                                                                          \
		n, sizeof(n) - 1, v, sizeof(v) - 1                                                 \
	}

struct status_case {
	const char *name;
	struct sm_grpc_header h[4];
	size_t n;
	int rc;
	int status;
	const char *message; /* NULL: not present */
	bool cut;
	const char *encoding; /* NULL: not present */
};

static const struct status_case status_cases[] = {
        {"ok", {H("grpc-status", "0")}, 1, SM_OK, 0, NULL, false, NULL},
        {"sixteen", {H("grpc-status", "16")}, 1, SM_OK, 16, NULL, false, NULL},
        {"seventeen", {H("grpc-status", "17")}, 1, SM_ERR_INVALID, -1, NULL, false, NULL},
        {"leading_zero", {H("grpc-status", "05")}, 1, SM_OK, 5, NULL, false, NULL},
        {"three_digits", {H("grpc-status", "100")}, 1, SM_ERR_INVALID, -1, NULL, false, NULL},
        {"sign", {H("grpc-status", "+1")}, 1, SM_ERR_INVALID, -1, NULL, false, NULL},
        {"space", {H("grpc-status", " 1")}, 1, SM_ERR_INVALID, -1, NULL, false, NULL},
        {"empty", {H("grpc-status", "")}, 1, SM_ERR_INVALID, -1, NULL, false, NULL},
        {"absent", {H("content-type", "application/grpc")}, 1, SM_AGAIN, -1, NULL, false, NULL},
        {"case_insensitive",
         {H("Grpc-Status", "3"), H("GRPC-MESSAGE", "x")},
         2,
         SM_OK,
         3,
         "x",
         false,
         NULL},
        {"last_wins",
         {H("grpc-status", "1"), H("grpc-status", "2")},
         2,
         SM_OK,
         2,
         NULL,
         false,
         NULL},
        {"last_invalid_wins",
         {H("grpc-status", "1"), H("grpc-status", "x")},
         2,
         SM_ERR_INVALID,
         -1,
         NULL,
         false,
         NULL},
        {"message_decoded",
         {H("grpc-status", "13"), H("grpc-message", "bad%20thing%3a%E2%82%AC"),
          H("grpc-encoding", "gzip")},
         3,
         SM_OK,
         13,
         "bad thing:\xE2\x82\xAC",
         false,
         "gzip"},
        {"message_bad_escapes",
         {H("grpc-status", "2"), H("grpc-message", "%zz%4%")},
         2,
         SM_OK,
         2,
         "%zz%4%",
         false,
         NULL},
        {"message_escape_at_end",
         {H("grpc-status", "2"), H("grpc-message", "a%41")},
         2,
         SM_OK,
         2,
         "aA",
         false,
         NULL},
        {"encoding_cut",
         {H("grpc-status", "0"), H("grpc-encoding", "0123456789012345678901234567890123456789")},
         2,
         SM_OK,
         0,
         NULL,
         false,
         "01234567890123456789012345678901"},
};

Test(grpc, read_status)
{
	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		const struct status_case *t = &status_cases[i];
		struct sm_grpc_status st;
		int rc = sm_grpc_read_status(t->h, t->n, &st);
		cr_expect_eq(rc, t->rc, "%s: rc %d", t->name, rc);
		cr_expect_eq(st.status, t->status, "%s: status %d", t->name, st.status);
		cr_expect_eq(st.message_present, t->message != NULL, "%s", t->name);
		if (t->message) {
			cr_expect_str_eq(st.message, t->message, "%s", t->name);
			cr_expect_eq(st.message_len, strlen(t->message), "%s", t->name);
		}
		cr_expect_eq(st.message_cut, t->cut, "%s", t->name);
		cr_expect_eq(st.encoding_present, t->encoding != NULL, "%s", t->name);
		if (t->encoding)
			cr_expect_str_eq(st.encoding, t->encoding, "%s", t->name);
	}
}

Test(grpc, read_status_message_bounded)
{
	static char big[3 * 1000];
	for (size_t i = 0; i < 1000; i++)
		memcpy(big + 3 * i, "%41", 3);
	struct sm_grpc_header h[2] = {{"grpc-status", 11, "4", 1}, {"grpc-message", 12, big, 3000}};
	struct sm_grpc_status st;
	cr_assert_eq(sm_grpc_read_status(h, 2, &st), SM_OK);
	cr_assert_eq(st.message_len, SM_GRPC_MESSAGE_MAX);
	cr_assert(st.message_cut);
	cr_assert_eq(st.message[0], 'A');
	cr_assert_eq(st.message[SM_GRPC_MESSAGE_MAX], 0);
}
