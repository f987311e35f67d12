#include <criterion/criterion.h>
#include <string.h>

#include "telemetry/event.h"

static struct sm_event mk(int type)
{
	struct sm_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = 1700000000123456789ull;
	ev.flow = 42;
	ev.seq = 3;
	ev.core = 1;
	ev.type = (uint16_t)type;
	return ev;
}

Test(event, flow_closed_json_is_exact)
{
	struct sm_event ev = mk(SM_EV_FLOW_CLOSED);
	ev.i[0] = SM_CLOSE_IDLE_TIMEOUT;
	ev.i[1] = 10;
	ev.i[2] = 20;
	ev.i[3] = 30;
	char buf[1024];
	size_t n = sm_event_to_json(&ev, buf, sizeof(buf));
	buf[n] = 0;
	cr_expect_str_eq(buf,
	                 "{\"ts\":1700000000.123456,\"core\":1,\"flow\":42,\"seq\":3,"
	                 "\"type\":\"flow_closed\",\"reason\":\"idle_timeout\",\"bytes_up\":10,"
	                 "\"bytes_down\":20,\"duration_us\":30}\n");
}

/* docs/events.md's tls_handshake_failed row, field for field: the source
 * says how the reason was known, inference names the guess (if any), and
 * the provider is the product. */
Test(event, tls_handshake_failed_json_is_exact)
{
	struct sm_event ev = mk(SM_EV_TLS_HANDSHAKE_FAILED);
	ev.i[0] = SM_TLS_SIDE_CLIENT;
	ev.i[1] = SM_TLS_EOF;
	ev.i[2] = -1;
	ev.i[3] = -308;
	ev.i[4] = SM_TLS_SRC_NATIVE_INFERRED;
	ev.i[5] = SM_TLS_INF_CLOSED_AFTER_CERTIFICATE;
	sm_event_set_str(&ev, 0, "127.0.0.1:5000", 14);
	sm_event_set_str(&ev, 1, "[::1]:443", 9);
	sm_event_set_str(&ev, 2, "", 0);
	char buf[1024];
	size_t n = sm_event_to_json(&ev, buf, sizeof(buf));
	buf[n] = 0;
	cr_expect_str_eq(
	        buf, "{\"ts\":1700000000.123456,\"core\":1,\"flow\":42,\"seq\":3,"
	             "\"type\":\"tls_handshake_failed\",\"side\":\"client\",\"reason\":\"eof\","
	             "\"alert\":-1,\"tls_error\":-308,\"tls_failure_source\":\"native_inferred\","
	             "\"inference\":\"closed_after_certificate\",\"client\":\"127.0.0.1:5000\","
	             "\"host\":\"[::1]:443\",\"sni\":\"\",\"tls_ops_provider\":\"soth-mitm\"}\n");
	ev.i[1] = SM_TLS_UNKNOWN_CA;
	ev.i[2] = 48;
	ev.i[4] = SM_TLS_SRC_NATIVE_AUTHORITATIVE;
	ev.i[5] = SM_TLS_INF_NONE;
	n = sm_event_to_json(&ev, buf, sizeof(buf));
	buf[n] = 0;
	cr_expect_not_null(strstr(buf, "\"reason\":\"unknown_ca\",\"alert\":48,"));
	cr_expect_not_null(strstr(
	        buf, "\"tls_failure_source\":\"native_authoritative\",\"inference\":\"none\""));
}

Test(event, strings_are_escaped_and_truncation_is_flagged)
{
	struct sm_event ev = mk(SM_EV_PROXY_REQUEST);
	sm_event_set_str(&ev, 0, "GE\"T\\", 5);
	char target[300];
	memset(target, 'a', sizeof(target));
	target[0] = '\n';
	target[1] = (char)0xff;
	sm_event_set_str(&ev, 1, target, sizeof(target));
	cr_expect_eq(ev.slen[1], SM_EVENT_STR_MAX);
	char buf[1024];
	size_t n = sm_event_to_json(&ev, buf, sizeof(buf));
	buf[n] = 0;
	cr_expect_not_null(strstr(buf, "\"method\":\"GE\\\"T\\\\\""));
	cr_expect_not_null(strstr(buf, "\"target\":\"\\n\\ufffdaaa"));
	cr_expect_not_null(strstr(buf, "\"target_truncated\":true"));
	cr_expect_eq(buf[n - 1], '\n');
}

/* UTF-8 text reaches a JSON reader as that text (jq -r prints it): a header
 * value, an SSE data line or a WebSocket message in any language. */
Test(event, utf8_text_passes_through_as_utf8)
{
	struct sm_event ev = mk(SM_EV_PROXY_REQUEST);
	const char *t = "/caf\xc3\xa9 \xe2\x9c\x93 \xe4\xb8\xad\xf0\x9f\x98\x80";
	sm_event_set_str(&ev, 1, t, strlen(t));
	char buf[1024];
	size_t n = sm_event_to_json(&ev, buf, sizeof(buf));
	buf[n] = 0;
	cr_expect_not_null(
	        strstr(buf,
	               "\"target\":\"/caf\xc3\xa9 \xe2\x9c\x93 \xe4\xb8\xad\xf0\x9f\x98\x80\""),
	        "%s", buf);
}

/* A cut at SM_EVENT_STR_MAX drops a character that does not fit whole, so
 * a long UTF-8 value never ends in U+FFFD of its own making. */
Test(event, a_cut_never_splits_a_character)
{
	struct sm_event ev = mk(SM_EV_PROXY_REQUEST);
	char t[200];
	t[0] = 'x';
	for (int i = 1; i + 1 < (int)sizeof(t); i += 2) {
		t[i] = (char)0xc3; /* é, two bytes: 95 bytes of them end mid-character at 96 */
		t[i + 1] = (char)0xa9;
	}
	sm_event_set_str(&ev, 1, t, sizeof(t) - 1);
	cr_expect_eq(ev.slen[1], SM_EVENT_STR_MAX - 1);
	cr_expect_eq(ev.strunc[1], 1);
	char buf[1024];
	size_t n = sm_event_to_json(&ev, buf, sizeof(buf));
	buf[n] = 0;
	cr_expect_null(strstr(buf, "\\ufffd"), "%s", buf);
}

Test(event, small_buffer_returns_zero_not_a_partial_line)
{
	struct sm_event ev = mk(SM_EV_FLOW_OPEN);
	sm_event_set_str(&ev, 0, "127.0.0.1:5555", 14);
	char buf[40];
	cr_expect_eq(sm_event_to_json(&ev, buf, sizeof(buf)), 0);
}

Test(event, names_are_stable)
{
	cr_expect_str_eq(sm_event_type_name(SM_EV_FLOW_OPEN), "flow_open");
	cr_expect_str_eq(sm_event_type_name(999), "unknown");
	cr_expect_str_eq(sm_close_reason_name(SM_CLOSE_DONE), "done");
	cr_expect_str_eq(sm_close_reason_name(SM_CLOSE_UPSTREAM_PROTOCOL), "upstream_protocol");
	cr_expect_str_eq(sm_upstream_failure_name(SM_UPF_DNS_NXDOMAIN), "dns_nxdomain");
	for (int r = 0; r < SM_CLOSE_REASON_COUNT; r++)
		cr_expect_str_neq(sm_close_reason_name(r), "unknown", "reason %d unnamed", r);
	for (int r = 0; r < SM_UPF_COUNT; r++)
		cr_expect_str_neq(sm_upstream_failure_name(r), "unknown", "failure %d unnamed", r);
	for (int t = 1; t < SM_EV_TYPE_COUNT; t++)
		cr_expect_str_neq(sm_event_type_name(t), "unknown", "type %d unnamed", t);
	for (int a = 0; a < SM_ACTION_COUNT; a++)
		cr_expect_str_neq(sm_action_name(a), "unknown", "action %d unnamed", a);
	for (int r = 0; r < SM_TLS_REASON_COUNT; r++)
		cr_expect_str_neq(sm_tls_reason_name(r), "unknown", "tls reason %d unnamed", r);
	for (int k = 0; k < SM_PARSE_STAGE_COUNT; k++)
		cr_expect_str_neq(sm_parse_stage_name(k), "unknown", "stage %d unnamed", k);
	cr_expect_str_eq(sm_tls_source_name(SM_TLS_SRC_PEER), "peer_alert"); /* retired, kept */
	cr_expect_str_eq(sm_tls_source_name(SM_TLS_SRC_NATIVE_AUTHORITATIVE),
	                 "native_authoritative");
	cr_expect_str_eq(sm_tls_source_name(SM_TLS_SRC_NATIVE_INFERRED), "native_inferred");
	for (int k = 0; k < SM_TLS_INF_COUNT; k++)
		cr_expect_str_neq(sm_tls_inference_name(k), "unknown", "inference %d unnamed", k);
	cr_expect_str_eq(sm_tls_inference_name(SM_TLS_INF_CLOSED_AFTER_CERTIFICATE),
	                 "closed_after_certificate");
	cr_expect_str_eq(sm_action_name(SM_ACTION_COUNT), "unknown");
}

Test(event, a_buffer_of_the_line_length_is_enough_one_byte_less_is_not)
{
	struct sm_event ev = mk(SM_EV_PROXY_REQUEST);
	sm_event_set_str(&ev, 0, "GET", 3);
	sm_event_set_str(&ev, 1, "/\x01\xfe", 3);
	char big[SM_EVENT_JSON_MAX], small[SM_EVENT_JSON_MAX];
	size_t n = sm_event_to_json(&ev, big, sizeof(big));
	cr_assert(n > 0 && big[n - 1] == '\n');
	cr_assert_eq(sm_event_to_json(&ev, small, n), n);
	cr_assert(!memcmp(big, small, n));
	cr_assert_eq(sm_event_to_json(&ev, small, n - 1), 0);
}
