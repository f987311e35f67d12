#include "proto/sse.h"

#include "base/result.h"
#include "parsers_testutil.h"

struct ctx {
	struct rec r;
	bool offsets;
};

static void on_event(void *arg, const struct sm_sse_event *ev)
{
	struct ctx *c = arg;
	switch (ev->type) {
	case SM_SSE_EV_MESSAGE:
		rec_printf(&c->r, "M:");
		rec_bytes(&c->r, ev->event, ev->event_len);
		rec_printf(&c->r, "|");
		rec_bytes(&c->r, ev->id, ev->id_len);
		rec_printf(&c->r, "|");
		rec_bytes(&c->r, ev->data, ev->data_len);
		if (ev->truncated)
			rec_printf(&c->r, "|T");
		break;
	case SM_SSE_EV_COMMENT:
		rec_printf(&c->r, "C:");
		rec_bytes(&c->r, ev->data, ev->data_len);
		if (ev->truncated)
			rec_printf(&c->r, "|T");
		break;
	case SM_SSE_EV_RETRY: rec_printf(&c->r, "R:%llu", (unsigned long long)ev->retry_ms); break;
	case SM_SSE_EV_ERROR: rec_printf(&c->r, "E:%s", sm_sse_reason_str(ev->reason)); break;
	}
	if (c->offsets)
		rec_printf(&c->r, "@%llu", (unsigned long long)ev->offset);
	rec_printf(&c->r, "\n");
}

static struct sm_sse_config g_cfg; /* per-test limits, set before running */

static char *run_chunks(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts, bool offsets,
                        struct sm_sse_stats *stats_out)
{
	struct ctx c = {.offsets = offsets};
	struct sm_sse *p = sm_sse_new(&g_cfg, on_event, &c);
	cr_assert_not_null(p);
	size_t at = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : n;
		void *chunk = chunk_dup(in + at, end - at);
		cr_assert_eq(sm_sse_feed(p, chunk, end - at), (long)(end - at));
		free(chunk);
		at = end;
	}
	int r = sm_sse_finish(p);
	rec_printf(&c.r, "$%s\n", sm_result_str(r));
	if (stats_out)
		*stats_out = *sm_sse_stats(p);
	cr_assert_eq(sm_sse_feed(p, "x", 1), SM_ERR_STATE);
	sm_sse_free(p);
	return rec_take(&c.r);
}

static char *run_split(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts)
{
	return run_chunks(in, n, cuts, ncuts, true, NULL);
}

static char *run_whole(const char *in, size_t n)
{
	return run_chunks((const uint8_t *)in, n, NULL, 0, false, NULL);
}

struct sse_case {
	const char *name;
	const char *in;
	size_t len; /* 0 = strlen */
	const char *want;
};

#define OK "$ok\n"
#define TR "$truncated\n"

static const struct sse_case cases[] = {
        {"basic", "data: hello\n\n", 0, "M:message||hello\n" OK},
        {"multiline", "data: a\ndata: b\n\n", 0, "M:message||a\\x0ab\n" OK},
        {"event_and_id", "event: add\nid: 7\ndata: x\n\n", 0, "M:add|7|x\n" OK},
        {"id_persists", "id: 1\ndata: a\n\ndata: b\n\n", 0, "M:message|1|a\nM:message|1|b\n" OK},
        {"id_reset_by_empty", "id: 1\ndata: a\n\nid\ndata: b\n\n", 0,
         "M:message|1|a\nM:message||b\n" OK},
        {"id_with_nul_ignored", "id: 1\n\nid: a\0b\ndata: x\n\n", 24, "M:message|1|x\n" OK},
        {"crlf", "data: a\r\ndata: b\r\n\r\n", 0, "M:message||a\\x0ab\n" OK},
        {"cr", "data: a\rdata: b\r\r", 0, "M:message||a\\x0ab\n" OK},
        {"mixed_endings", "data: a\r\n\ndata: b\n\r\ndata: c\r\r\n", 0,
         "M:message||a\nM:message||b\nM:message||c\n" OK},
        {"cr_cr_is_blank_line", "data: a\r\rdata: b\n\n", 0, "M:message||a\nM:message||b\n" OK},
        {"no_space", "data:x\n\n", 0, "M:message||x\n" OK},
        {"two_spaces", "data:  x\n\n", 0, "M:message|| x\n" OK},
        {"colon_in_value", "data: a:b\n\n", 0, "M:message||a:b\n" OK},
        {"field_without_colon", "data\n\ndata\ndata\n\n", 0, "M:message||\nM:message||\\x0a\n" OK},
        {"comment", ": hello\n:\n\n", 0, "C: hello\nC:\n" OK},
        {"comment_between_data", "data: a\n: ping\ndata: b\n\n", 0,
         "C: ping\nM:message||a\\x0ab\n" OK},
        {"retry_valid", "retry: 3000\n", 0, "R:3000\n" OK},
        {"retry_invalid", "retry: 30a\nretry:\nretry: -1\nretry: 1 \nretry: 99999999999999999999\n",
         0, "" OK},
        {"retry_no_space", "retry:0\n", 0, "R:0\n" OK},
        {"unknown_field", "foo: bar\nDATA: no\ndata: x\n\n", 0, "M:message||x\n" OK},
        {"long_unknown_field_name", "datadatadatadata: x\ndata: y\n\n", 0, "M:message||y\n" OK},
        {"blank_lines_only", "\n\n\r\n\r", 0, "" OK},
        {"event_type_reset", "event: x\n\ndata: y\n\n", 0, "M:message||y\n" OK},
        {"event_type_per_event", "event: a\ndata: 1\n\ndata: 2\n\n", 0,
         "M:a||1\nM:message||2\n" OK},
        {"bom",
         "\xEF\xBB\xBF"
         "data: x\n\n",
         0, "M:message||x\n" OK},
        {"bom_twice",
         "\xEF\xBB\xBF\xEF\xBB\xBF"
         "data: x\n\ndata: y\n\n",
         0, "M:message||y\n" OK},
        {"bom_partial",
         "\xEF\xBB"
         "data: x\n\ndata: y\n\n",
         0, "M:message||y\n" OK},
        {"bom_only", "\xEF\xBB\xBF", 0, "" OK},
        {"bom_prefix_only", "\xEF", 0, "" OK},
        {"bom_not_at_start",
         "\n\xEF\xBB\xBF"
         "data: x\n\n",
         0, "" OK},
        {"utf8_data", "data: caf\xC3\xA9\n\n", 0, "M:message||caf\\xc3\\xa9\n" OK},
        {"truncated_after_line", "data: x\n", 0, "M:message||x|T\n" TR},
        {"truncated_mid_line", "data: x\n\ndata: y", 0, "M:message||x\nM:message||y|T\n" TR},
        {"truncated_empty_data", "data:", 0, "M:message|||T\n" TR},
        {"close_mid_field_name", "dat", 0, "" OK},
        {"close_mid_comment", ": bye", 0, "C: bye\n" OK},
        /* HTML spec examples (9.2.6 "Interpreting an event stream"). */
        {"spec_stock", "data: YHOO\ndata: +2\ndata: 10\n\n", 0,
         "M:message||YHOO\\x0a+2\\x0a10\n" OK},
        {"spec_four_blocks",
         ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third "
         "event\n",
         0,
         "C: test stream\nM:message|1|first event\nM:message||second event\n"
         "M:message|| third event|T\n" TR},
        {"spec_empty_data", "data\n\ndata\ndata\n\ndata:", 0,
         "M:message||\nM:message||\\x0a\nM:message|||T\n" TR},
        {"spec_same_events", "data:test\n\ndata: test\n\n", 0,
         "M:message||test\nM:message||test\n" OK},
};

Test(sse, corpus)
{
	g_cfg = (struct sm_sse_config){0};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct sse_case *t = &cases[i];
		size_t n = t->len ? t->len : strlen(t->in);
		char *got = run_whole(t->in, n);
		cr_expect_str_eq(got, t->want, "case %s", t->name);
		free(got);
	}
}

Test(sse, corpus_split_invariant)
{
	g_cfg = (struct sm_sse_config){0};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct sse_case *t = &cases[i];
		size_t n = t->len ? t->len : strlen(t->in);
		split_check(run_split, (const uint8_t *)t->in, n, t->name);
	}
}

/* A longer stream mixing every feature, with small limits so errors occur. */
static const char mixed[] = "\xEF\xBB\xBF: hi\r\n"
                            "retry: 10\r\n"
                            "event: e1\r\nid: 1\r\ndata: one\r\ndata: two\r\n\r\n"
                            "data: 0123456789012345678901234567890123456789\n"
                            "data: still in the oversized event\n\n"
                            "event: 0123456789012345678901234567890123456789\ndata: x\n\n"
                            "data: after\r\r"
                            ": 0123456789012345678901234567890123456789\n"
                            "id: 2\ndata: last";

Test(sse, mixed_stream_with_limits)
{
	g_cfg = (struct sm_sse_config){.max_event = 32, .max_line = 16};
	struct sm_sse_stats st;
	char *got = run_chunks((const uint8_t *)mixed, sizeof(mixed) - 1, NULL, 0, false, &st);
	cr_assert_str_eq(got, "C: hi\nR:10\nM:e1|1|one\\x0atwo\nE:event_too_large\n"
	                      "E:line_too_long\nM:message|1|after\n"
	                      "C: 012345678901234|T\nM:message|2|last|T\n$truncated\n");
	free(got);
	cr_assert_eq(st.oversized_events, 1);
	cr_assert_eq(st.long_lines, 1);
	cr_assert_eq(st.errors, 2);
	cr_assert_eq(st.messages, 3);
	cr_assert_leq(st.data_hwm, 33);
	cr_assert_leq(st.line_hwm, 16);
	split_check(run_split, (const uint8_t *)mixed, sizeof(mixed) - 1, "mixed");
}

Test(sse, error_offset_is_first_byte_over)
{
	g_cfg = (struct sm_sse_config){.max_event = 4};
	char *got = run_chunks((const uint8_t *)"data: 12345\n\n", 13, NULL, 0, true, NULL);
	/* '5' is byte 11 (offset 10): the record reports the offset after it. */
	cr_assert_str_eq(got, "E:event_too_large@11\n$ok\n");
	free(got);
	got = run_chunks((const uint8_t *)"data: 1234\ndata:\n\n", 18, NULL, 0, true, NULL);
	/* 4 bytes + '\n' fit; the second line's '\n' would make 5 data bytes. */
	cr_assert_str_eq(got, "E:event_too_large@17\n$ok\n");
	free(got);
	got = run_chunks((const uint8_t *)"data: 1234\n\n", 12, NULL, 0, true, NULL);
	cr_assert_str_eq(got, "M:message||1234@12\n$ok\n");
	free(got);
}

Test(sse, oversized_event_memory_stays_bounded)
{
	const size_t big = 1u << 20;
	g_cfg = (struct sm_sse_config){.max_event = 1024, .max_line = 64};
	uint8_t *in = malloc(big + 64);
	cr_assert_not_null(in);
	size_t n = 0;
	memcpy(in, "data: ", 6);
	n = 6;
	memset(in + n, 'a', big);
	n += big;
	memcpy(in + n, "\n\ndata: ok\n\n", 12);
	n += 12;
	struct sm_sse_stats st;
	size_t cuts[3] = {1000, 5000, 700000};
	char *got = run_chunks(in, n, cuts, 3, false, &st);
	cr_assert_str_eq(got, "E:event_too_large\nM:message||ok\n$ok\n");
	cr_assert_leq(st.data_hwm, 1025);
	cr_assert_eq(st.oversized_events, 1);
	cr_assert_eq(st.bytes, n);
	free(got);
	free(in);
}

Test(sse, long_id_line_resyncs)
{
	g_cfg = (struct sm_sse_config){.max_line = 8};
	const char *in = "id: 123456789\ndata: dropped\n\ndata: kept\n\n";
	struct sm_sse_stats st;
	char *got = run_chunks((const uint8_t *)in, strlen(in), NULL, 0, false, &st);
	cr_assert_str_eq(got, "E:line_too_long\nM:message||kept\n$ok\n");
	cr_assert_leq(st.line_hwm, 8);
	free(got);
}

Test(sse, config_and_names)
{
	struct sm_sse_config big = {.max_event = SM_SSE_LIMIT_MAX + 1};
	cr_assert_null(sm_sse_new(&big, on_event, NULL));
	cr_assert_null(sm_sse_new(NULL, NULL, NULL));
	cr_assert_str_eq(sm_sse_ev_type_str(SM_SSE_EV_RETRY), "retry");
	cr_assert_str_eq(sm_sse_reason_str(SM_SSE_R_EVENT_TOO_LARGE), "event_too_large");
	cr_assert_str_eq(sm_sse_reason_str(SM_SSE_R_LINE_TOO_LONG), "line_too_long");
	struct ctx c = {0};
	struct sm_sse *p = sm_sse_new(NULL, on_event, &c);
	cr_assert_not_null(p);
	cr_assert_eq(sm_sse_feed(p, NULL, 0), 0);
	cr_assert_eq(sm_sse_finish(p), SM_OK);
	cr_assert_eq(sm_sse_finish(p), SM_ERR_STATE);
	sm_sse_free(p);
	free(rec_take(&c.r));
}

/* Streams assembled from SSE fragments by a seeded generator: every one must
 * give the same events however it is split. */
Test(sse, generated_streams_split_invariant)
{
	static const char *const tok[] = {
	        "data: ",
	        "data:",
	        "data",
	        "event: ",
	        "id: ",
	        "id",
	        "retry: ",
	        "retry: 12",
	        ": c",
	        ":",
	        "x",
	        "hello",
	        "0123456789abcdef",
	        "\xEF\xBB\xBF",
	        "\r",
	        "\n",
	        "\r\n",
	        "\n\n",
	        "\r\r",
	        " ",
	        "\0",
	        "foo: bar",
	};
	const size_t ntok = sizeof(tok) / sizeof(tok[0]);
	uint64_t seed = 0xabcdef12345ull;
	g_cfg = (struct sm_sse_config){.max_event = 24, .max_line = 10};
	for (int s = 0; s < 30; s++) {
		uint8_t in[400];
		size_t n = 0;
		while (n < 300) {
			size_t k = (size_t)(test_rng(&seed) % ntok);
			size_t len = k == 20 ? 1 : strlen(tok[k]); /* "\0" is one byte */
			memcpy(in + n, tok[k], len);
			n += len;
		}
		char name[32];
		snprintf(name, sizeof(name), "generated #%d", s);
		split_check(run_split, in, n, name);
	}
}
