#include "telemetry/event.h"

#include <string.h>

#include "base/json.h"

enum field_kind { F_NONE, F_INT, F_ENUM };

struct field {
	const char *name;
	enum field_kind kind;
	const char *(*enum_name)(int);
};

struct desc {
	const char *type;
	struct field i[SM_EVENT_NINT];
	const char *s[SM_EVENT_NSTR];
	const char *fixed; /* appended verbatim, e.g. ,"tls_ops_provider":"soth-mitm" */
};

static const char *dir_name(int v)
{
	return v == 0 ? "client_to_server" : "server_to_client";
}

static const char *kind_name(int v)
{
	static const char *const names[] = {"raw", "text", "json", "msgpack"};
	return v >= 0 && v < 4 ? names[v] : "unknown";
}

static const char *stage_name(int v)
{
	static const char *const names[] = {"transfer", "content", "framing", "payload"};
	return v >= 0 && v < 4 ? names[v] : "unknown";
}

static const char *tls_version_name(int v)
{
	switch (v) {
	case 0x0300: return "SSLv3";
	case 0x0301: return "TLSv1.0";
	case 0x0302: return "TLSv1.1";
	case 0x0303: return "TLSv1.2";
	case 0x0304: return "TLSv1.3";
	}
	return "unknown";
}

/* Field helpers: designated initializers keep every table entry explicit. */
#define INT(n)                                                                                     \
	{                                                                                          \
		.name = (n), .kind = F_INT                                                         \
	}
#define ENUM(n, f)                                                                                 \
	{                                                                                          \
		.name = (n), .kind = F_ENUM, .enum_name = (f)                                      \
	}

static const struct desc descs[SM_EV_TYPE_COUNT] = {
        [SM_EV_FLOW_OPEN] = {.type = "flow_open", .s = {"client", "listener"}},
        [SM_EV_PROXY_REQUEST] = {.type = "proxy_request",
                                 .i = {INT("http_minor"), INT("stream")},
                                 .s = {"method", "target"}},
        [SM_EV_CONNECT_DECISION] = {.type = "connect_decision",
                                    .i = {ENUM("action", sm_action_name), INT("rule"), INT("port")},
                                    .s = {"host", "rule_desc", "rule_name"}},
        [SM_EV_UPSTREAM_CONNECTED] = {.type = "upstream_connected",
                                      .i = {INT("connect_us"), INT("dns_us")},
                                      .s = {"address"}},
        [SM_EV_UPSTREAM_FAILED] = {.type = "upstream_failed",
                                   .i = {ENUM("reason", sm_upstream_failure_name), INT("errno")},
                                   .s = {"address"}},
        [SM_EV_FLOW_CLOSED] = {.type = "flow_closed",
                               .i = {ENUM("reason", sm_close_reason_name), INT("bytes_up"),
                                     INT("bytes_down"), INT("duration_us")}},
        [SM_EV_TLS_CLIENT_HELLO] = {.type = "tls_client_hello",
                                    .i = {ENUM("max_version", tls_version_name),
                                          ENUM("legacy_version", tls_version_name)},
                                    .s = {"sni", "alpn", "versions"}},
        [SM_EV_TLS_HANDSHAKE_OK] = {.type = "tls_handshake_succeeded",
                                    .i = {ENUM("side", sm_tls_side_name),
                                          ENUM("version", tls_version_name), INT("handshake_us")},
                                    .s = {"cipher", "alpn", "sni"}},
        [SM_EV_TLS_HANDSHAKE_FAILED] = {.type = "tls_handshake_failed",
                                        .i = {ENUM("side", sm_tls_side_name),
                                              ENUM("reason", sm_tls_reason_name), INT("alert"),
                                              INT("tls_error"),
                                              ENUM("tls_failure_source", sm_tls_source_name),
                                              ENUM("inference", sm_tls_inference_name)},
                                        .s = {"client", "host", "sni"},
                                        /* the product that ran the TLS ops, not its library */
                                        .fixed = ",\"tls_ops_provider\":\"soth-mitm\""},
        [SM_EV_TLS_NOT_TLS] = {.type = "tls_not_tls",
                               .i = {ENUM("action", sm_action_name)},
                               .s = {"first_bytes"}},
        [SM_EV_CERT_FORGED] = {.type = "tls_leaf_cert",
                               .i = {INT("forge_us"), INT("cache_hit")},
                               .s = {"name"}},
        [SM_EV_FAULT_INJECTED] = {.type = "fault_injected",
                                  .i = {INT("rule"), INT("status"), INT("delay_ms")},
                                  .s = {"method", "target"}},
        [SM_EV_PAYLOAD] = {.type = "payload",
                           .i = {ENUM("dir", dir_name), ENUM("kind", kind_name), INT("length"),
                                 INT("sanitized"), INT("stream")},
                           .s = {"excerpt", "guard", "content_type"}},
        [SM_EV_SSE_EVENT] = {.type = "sse_event",
                             .i = {ENUM("dir", dir_name), INT("index"), INT("length"),
                                   INT("stream")},
                             .s = {"event", "excerpt", "kind"}},
        [SM_EV_PARSE_ERROR] = {.type = "parse_error",
                               .i = {ENUM("dir", dir_name), ENUM("stage", stage_name), INT("fatal"),
                                     INT("stream")},
                               .s = {"module", "reason"}},
        [SM_EV_WS_MESSAGE] = {.type = "ws_message",
                              .i = {ENUM("dir", dir_name), INT("opcode"), INT("length"),
                                    INT("compressed"), INT("decoded_length"), INT("stream")},
                              .s = {"excerpt"}},
        [SM_EV_WS_TURN] = {.type = "ws_turn",
                           .i = {ENUM("dir", dir_name), INT("messages"), INT("bytes"),
                                 INT("span_us"), INT("flush"), INT("stream")}},
        [SM_EV_WS_CLOSE] = {.type = "ws_close",
                            .i = {ENUM("closed_by", dir_name), INT("code"), INT("stream")},
                            .s = {"reason"}},
        [SM_EV_GRPC_MESSAGE] = {.type = "grpc_message",
                                .i = {ENUM("dir", dir_name), INT("stream"), INT("length"),
                                      INT("compressed"), INT("decoded_length"), INT("too_large")},
                                .s = {"excerpt"}},
        [SM_EV_GRPC_STATUS] = {.type = "grpc_status",
                               .i = {INT("stream"), INT("grpc_status")},
                               .s = {"grpc_message"}},
        [SM_EV_HTTP_RESPONSE] = {.type = "http_response",
                                 .i = {INT("status"), INT("request_index"), INT("stream")},
                                 .s = {"method", "host"}},
        /* no fields: even if one reached the JSONL stream, no secret would */
        [SM_EV_TLS_KEYLOG] = {.type = "tls_keylog"},
        [SM_EV_REQUEST_DECISION] = {.type = "request_decision",
                                    .i = {ENUM("action", sm_action_name), INT("rule"),
                                          INT("stream")},
                                    .s = {"rule_desc", "rule_name"}},
};

void sm_event_set_str(struct sm_event *ev, int k, const char *s, size_t len)
{
	ev->strunc[k] = len > SM_EVENT_STR_MAX;
	if (len > SM_EVENT_STR_MAX) /* a character that does not fit is dropped whole */
		len = sm_utf8_cut((const uint8_t *)s, len, SM_EVENT_STR_MAX);
	if (len)
		memcpy(ev->s[k], s, len);
	ev->slen[k] = (uint8_t)len;
}

const char *sm_event_type_name(int type)
{
	if (type > 0 && type < SM_EV_TYPE_COUNT && descs[type].type)
		return descs[type].type;
	return "unknown";
}

/* The formatter writes into a buffer of SM_EVENT_JSON_MAX bytes without
 * checking room per field: every line fits it (test_collector.c). It runs
 * for every event the collector writes, so no printf. */

/* Strings go through the one JSON writer (base/json.h): UTF-8 as it is,
 * invalid bytes as \ufffd, so every line is valid JSON whatever bytes the
 * client sent. */
static char *put_json_str(char *o, const char *s, size_t len)
{
	return sm_json_str(o, (const uint8_t *)s, len);
}

static char *put_lit(char *o, const char *s)
{
	size_t n = strlen(s);
	memcpy(o, s, n);
	return o + n;
}

/* ,"name": */
static char *put_key(char *o, const char *name)
{
	*o++ = ',';
	*o++ = '"';
	o = put_lit(o, name);
	*o++ = '"';
	*o++ = ':';
	return o;
}

static char *put_u64(char *o, uint64_t v)
{
	char t[20];
	int n = 0;
	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*o++ = t[--n];
	return o;
}

static char *put_i64(char *o, int64_t v)
{
	if (v >= 0)
		return put_u64(o, (uint64_t)v);
	*o++ = '-';
	return put_u64(o, 0 - (uint64_t)v); /* INT64_MIN safe */
}

static size_t format(const struct sm_event *ev, char *buf)
{
	char *o = buf;
	int type = ev->type;
	const struct desc *d = (type > 0 && type < SM_EV_TYPE_COUNT) ? &descs[type] : NULL;
	o = put_lit(o, "{\"ts\":");
	o = put_u64(o, ev->ts_ns / 1000000000ull);
	*o++ = '.';
	uint64_t us = ev->ts_ns % 1000000000ull / 1000ull;
	for (int k = 5; k >= 0; k--, us /= 10)
		o[k] = (char)('0' + us % 10);
	o += 6;
	o = put_lit(o, ",\"core\":");
	o = put_u64(o, ev->core);
	o = put_lit(o, ",\"flow\":");
	o = put_u64(o, ev->flow);
	o = put_lit(o, ",\"seq\":");
	o = put_u64(o, ev->seq);
	o = put_lit(o, ",\"type\":");
	const char *tname = sm_event_type_name(type);
	o = put_json_str(o, tname, strlen(tname));
	for (int k = 0; d && k < SM_EVENT_NINT; k++) {
		const struct field *f = &d->i[k];
		if (f->kind == F_NONE)
			continue;
		o = put_key(o, f->name);
		if (f->kind == F_ENUM) {
			*o++ = '"';
			o = put_lit(o, f->enum_name((int)ev->i[k]));
			*o++ = '"';
		} else {
			o = put_i64(o, ev->i[k]);
		}
	}
	for (int k = 0; d && k < SM_EVENT_NSTR; k++) {
		if (!d->s[k])
			continue;
		o = put_key(o, d->s[k]);
		o = put_json_str(o, ev->s[k], ev->slen[k]);
		if (ev->strunc[k]) {
			*o++ = ',';
			*o++ = '"';
			o = put_lit(o, d->s[k]);
			o = put_lit(o, "_truncated\":true");
		}
	}
	if (d && d->fixed)
		o = put_lit(o, d->fixed);
	*o++ = '}';
	*o++ = '\n';
	return (size_t)(o - buf);
}

size_t sm_event_to_json(const struct sm_event *ev, char *buf, size_t cap)
{
	if (cap >= SM_EVENT_JSON_MAX)
		return format(ev, buf);
	char tmp[SM_EVENT_JSON_MAX];
	size_t n = format(ev, tmp);
	if (n > cap)
		return 0;
	memcpy(buf, tmp, n);
	return n;
}
