#include "telemetry/schema.h"

#include <stddef.h>

/* Index into a table of names; "unknown" out of range or unnamed. */
static const char *name_of(const char *const *names, size_t n, int v)
{
	if (v >= 0 && (size_t)v < n && names[v])
		return names[v];
	return "unknown";
}

#define NAME_OF(table, v) name_of((table), sizeof(table) / sizeof((table)[0]), (v))

const char *sm_close_reason_name(int r)
{
	static const char *const names[SM_CLOSE_REASON_COUNT] = {
	        [SM_CLOSE_DONE] = "done",
	        [SM_CLOSE_CLIENT_RESET] = "client_reset",
	        [SM_CLOSE_UPSTREAM_RESET] = "upstream_reset",
	        [SM_CLOSE_IDLE_TIMEOUT] = "idle_timeout",
	        [SM_CLOSE_BLOCKED] = "blocked",
	        [SM_CLOSE_CLIENT_NOT_ALLOWED] = "client_not_allowed",
	        [SM_CLOSE_BAD_REQUEST] = "bad_request",
	        [SM_CLOSE_DNS_FAILED] = "dns_failed",
	        [SM_CLOSE_CONNECT_REFUSED] = "connect_refused",
	        [SM_CLOSE_CONNECT_TIMEOUT] = "connect_timeout",
	        [SM_CLOSE_CONNECT_FAILED] = "connect_failed",
	        [SM_CLOSE_SHUTDOWN] = "shutdown",
	        [SM_CLOSE_RESOURCE_LIMIT] = "resource_limit",
	        [SM_CLOSE_CLIENT_EOF_EARLY] = "client_eof_early",
	        [SM_CLOSE_UPSTREAM_PROTOCOL] = "upstream_protocol",
	        [SM_CLOSE_TLS_CLIENT_FAILED] = "tls_client_failed",
	        [SM_CLOSE_TLS_SERVER_FAILED] = "tls_server_failed",
	        [SM_CLOSE_NOT_TLS] = "not_tls",
	        [SM_CLOSE_FAULT] = "fault",
	        [SM_CLOSE_REQUEST_TIMEOUT] = "request_timeout",
	        [SM_CLOSE_UPSTREAM_CLOSED] = "upstream_closed",
	        [SM_CLOSE_UPSTREAM_TIMEOUT] = "upstream_timeout",
	        [SM_CLOSE_UPSTREAM_NO_CLOSE_NOTIFY] = "upstream_no_close_notify",
	        [SM_CLOSE_H2_RAPID_RESET] = "h2_rapid_reset",
	        [SM_CLOSE_H2_STREAM_FLOOD] = "h2_stream_flood",
	        [SM_CLOSE_H2_CLIENT_ERROR] = "h2_client_error",
	};
	return NAME_OF(names, r);
}

const char *sm_action_name(int a)
{
	static const char *const names[SM_ACTION_COUNT] = {
	        [SM_ACTION_TUNNEL] = "tunnel",
	        [SM_ACTION_BLOCK] = "block",
	        [SM_ACTION_INTERCEPT] = "intercept",
	        [SM_ACTION_FAULT] = "fault",
	};
	return NAME_OF(names, a);
}

const char *sm_upstream_failure_name(int r)
{
	static const char *const names[SM_UPF_COUNT] = {
	        [SM_UPF_DNS_NXDOMAIN] = "dns_nxdomain", [SM_UPF_DNS_ERROR] = "dns_error",
	        [SM_UPF_REFUSED] = "connect_refused",   [SM_UPF_TIMEOUT] = "connect_timeout",
	        [SM_UPF_UNREACHABLE] = "unreachable",   [SM_UPF_DEST_BLOCKED] = "dest_blocked",
	        [SM_UPF_OTHER] = "connect_error",
	};
	return NAME_OF(names, r);
}

const char *sm_tls_reason_name(int r)
{
	static const char *const names[SM_TLS_REASON_COUNT] = {
	        [SM_TLS_OK] = "ok",
	        [SM_TLS_UNKNOWN_CA] = "unknown_ca",
	        [SM_TLS_CERT_EXPIRED] = "cert_expired",
	        [SM_TLS_CERT_NOT_YET_VALID] = "cert_not_yet_valid",
	        [SM_TLS_HOSTNAME_MISMATCH] = "hostname_mismatch",
	        [SM_TLS_HANDSHAKE_ALERT] = "handshake_alert",
	        [SM_TLS_TIMEOUT] = "timeout",
	        [SM_TLS_EOF] = "eof",
	        [SM_TLS_RESET] = "reset",
	        [SM_TLS_ALPN_MISMATCH] = "alpn_mismatch",
	        [SM_TLS_PROTOCOL_VERSION] = "protocol_version",
	        [SM_TLS_OTHER] = "other",
	};
	return NAME_OF(names, r);
}

const char *sm_tls_side_name(int side)
{
	return side == SM_TLS_SIDE_SERVER ? "server" : "client";
}

const char *sm_tls_source_name(int v)
{
	static const char *const names[] = {
	        [SM_TLS_SRC_LOCAL] = "local",
	        [SM_TLS_SRC_PEER] = "peer_alert",
	        [SM_TLS_SRC_TRANSPORT] = "transport",
	        [SM_TLS_SRC_NATIVE_AUTHORITATIVE] = "native_authoritative",
	        [SM_TLS_SRC_NATIVE_INFERRED] = "native_inferred",
	};
	return NAME_OF(names, v);
}

const char *sm_tls_inference_name(int v)
{
	static const char *const names[SM_TLS_INF_COUNT] = {
	        [SM_TLS_INF_NONE] = "none",
	        [SM_TLS_INF_CLOSED_AFTER_CERTIFICATE] = "closed_after_certificate",
	};
	return NAME_OF(names, v);
}

const char *sm_parse_stage_name(int v)
{
	static const char *const names[SM_PARSE_STAGE_COUNT] = {
	        [SM_PARSE_HTTP1_REQUEST] = "http1_request",
	        [SM_PARSE_HTTP1_RESPONSE] = "http1_response",
	        [SM_PARSE_DECODE_BOMB] = "decode_bomb",
	        [SM_PARSE_H2_CLIENT] = "h2_client",
	};
	return NAME_OF(names, v);
}
