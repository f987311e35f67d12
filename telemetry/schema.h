/* Every enumeration that leaves the process: flow event types, close
 * reasons, policy actions, upstream failures, TLS failure reasons, sides and
 * sources, parser error stages. Their names appear in the JSONL events and in
 * Prometheus labels (docs/events.md, docs/metrics.md, docs/tls.md), so every
 * enum here is APPEND-ONLY: a value never changes meaning, a new one goes at
 * the end (before its _COUNT). The names are in telemetry/schema.c. */
#ifndef SM_TELEMETRY_SCHEMA_H
#define SM_TELEMETRY_SCHEMA_H

enum sm_event_type {
	SM_EV_FLOW_OPEN = 1,    /* s0 client address, s1 listener address */
	SM_EV_PROXY_REQUEST,    /* s0 method, s1 target, i0 http minor version */
	SM_EV_CONNECT_DECISION, /* i0 action, i1 rule index (-1 default), i2 port, s0 host, s1 rule
	                         */
	SM_EV_UPSTREAM_CONNECTED, /* s0 address, i0 connect time us, i1 dns time us */
	SM_EV_UPSTREAM_FAILED,    /* s0 address or host, i0 reason, i1 errno */
	SM_EV_FLOW_CLOSED, /* i0 reason, i1 bytes client->upstream, i2 bytes upstream->client, i3 us
	                    */
	SM_EV_HTTP_RESPONSE, /* i0 status, i1 request index on the connection, s0 method, s1 host */
	SM_EV_TLS_CLIENT_HELLO,     /* i0 max version, i1 legacy version, s0 sni, s1 alpn list, s2
	                               versions */
	SM_EV_TLS_HANDSHAKE_OK,     /* i0 side, i1 version, i2 us, s0 cipher, s1 alpn, s2 sni */
	SM_EV_TLS_HANDSHAKE_FAILED, /* i0 side, i1 reason, i2 alert (-1), i3 wolfSSL error,
	                               i4 source, i5 inference, s0 client address, s1 host:port,
	                               s2 sni */
	SM_EV_TLS_NOT_TLS,          /* i0 action taken (tunnel/block), s0 first bytes (hex) */
	SM_EV_CERT_FORGED,          /* i0 us to forge, i1 cache hit (1) or forge (0), s0 name */
	/* i0 rule, i1 status (0 = reset), i2 delay ms, s0 method, s1 target */
	SM_EV_FAULT_INJECTED,
	/* i0 dir, i1 kind, i2 length, i3 sanitized, i4 stream, s0 excerpt, s1 guard, s2 type */
	SM_EV_PAYLOAD,
	/* i0 dir, i1 index, i2 length, i3 stream, s0 event type, s1 data excerpt, s2 kind */
	SM_EV_SSE_EVENT,
	/* i0 dir, i1 stage, i2 fatal, i3 stream, s0 module, s1 reason */
	SM_EV_PARSE_ERROR,
	/* i0 dir, i1 opcode, i2 length, i3 compressed, i4 decoded length, i5 stream, s0 excerpt */
	SM_EV_WS_MESSAGE,
	/* i0 dir, i1 messages, i2 bytes, i3 first..last us, i4 flush reason, i5 stream */
	SM_EV_WS_TURN,
	/* i0 dir (who closed first), i1 code, i2 stream, s0 reason */
	SM_EV_WS_CLOSE,
	/* i0 dir, i1 stream, i2 length, i3 compressed, i4 decoded length, i5 too large
	 * (skipped unread), s0 excerpt */
	SM_EV_GRPC_MESSAGE,
	/* i0 stream, i1 grpc-status (-1 if absent), s0 grpc-message */
	SM_EV_GRPC_STATUS,
	/* s0 label, s1 client random (hex), s2 secret (hex): one SSLKEYLOGFILE line
	 * for the collector's key log, never written to the JSONL stream */
	SM_EV_TLS_KEYLOG,
	/* a request-level rule decided one request: i0 action, i1 rule index,
	 * i2 stream (0 on HTTP/1.x), s0 rule description, s1 rule name */
	SM_EV_REQUEST_DECISION,
	SM_EV_TYPE_COUNT
};

/* Why a flow ended. Append-only. */
enum sm_close_reason {
	SM_CLOSE_DONE = 0,           /* both sides finished normally */
	SM_CLOSE_CLIENT_RESET,       /* client reset or errored */
	SM_CLOSE_UPSTREAM_RESET,     /* upstream reset or errored */
	SM_CLOSE_IDLE_TIMEOUT,       /* no bytes either way for idle_timeout_ms */
	SM_CLOSE_BLOCKED,            /* policy said block: 403 sent */
	SM_CLOSE_CLIENT_NOT_ALLOWED, /* client address outside allow_clients: 403 sent */
	SM_CLOSE_BAD_REQUEST,        /* malformed proxy request: 4xx sent */
	SM_CLOSE_DNS_FAILED,         /* name did not resolve: 502 sent */
	SM_CLOSE_CONNECT_REFUSED,    /* upstream refused: 502 sent */
	SM_CLOSE_CONNECT_TIMEOUT,    /* upstream connect deadline: 504 sent */
	SM_CLOSE_CONNECT_FAILED,     /* other connect error (unreachable...): 502 sent */
	SM_CLOSE_SHUTDOWN,           /* proxy stopping and the grace period ended */
	SM_CLOSE_RESOURCE_LIMIT,     /* flow table, pipes or buffers exhausted: 503 sent */
	SM_CLOSE_CLIENT_EOF_EARLY,   /* client closed before finishing its request */
	SM_CLOSE_UPSTREAM_PROTOCOL,  /* upstream sent an unparseable response: 502 sent */
	SM_CLOSE_TLS_CLIENT_FAILED,  /* TLS handshake with the client failed */
	SM_CLOSE_TLS_SERVER_FAILED,  /* TLS handshake with the upstream failed: 502 sent over TLS */
	SM_CLOSE_NOT_TLS, /* intercept asked, the client did not speak TLS, policy refused */
	SM_CLOSE_FAULT,   /* a fault rule answered (or reset) instead of the upstream */
	SM_CLOSE_REQUEST_TIMEOUT,  /* a request head not complete within request_head_ms: 408 */
	SM_CLOSE_UPSTREAM_CLOSED,  /* the upstream closed (FIN) before its response ended: 502
	                              when nothing of it was sent yet */
	SM_CLOSE_UPSTREAM_TIMEOUT, /* no response head within upstream_response_ms: 504 */
	SM_CLOSE_UPSTREAM_NO_CLOSE_NOTIFY, /* the upstream's TLS ended without close_notify: what
	                                      it sent was delivered, the client closed cleanly */
	SM_CLOSE_H2_RAPID_RESET,           /* HTTP/2 client reset too many streams: GOAWAY
	                                      ENHANCE_YOUR_CALM */
	SM_CLOSE_H2_STREAM_FLOOD,          /* HTTP/2 client opened too many streams past the
	                                      concurrency limit: GOAWAY ENHANCE_YOUR_CALM */
	SM_CLOSE_H2_CLIENT_ERROR, /* the HTTP/2 client broke the protocol or one of nghttp2's
	                             own limits: GOAWAY with that error */
	SM_CLOSE_REASON_COUNT
};

/* What to do with a proxied connection. Append-only: logged in events. */
enum sm_action {
	SM_ACTION_TUNNEL = 0,    /* relay bytes untouched */
	SM_ACTION_BLOCK = 1,     /* refuse (403) without opening an upstream socket */
	SM_ACTION_INTERCEPT = 2, /* terminate TLS and parse */
	SM_ACTION_FAULT = 3,     /* answer with the rule's fault (or reset); rules only */
	SM_ACTION_COUNT
};

/* Why an upstream could not be reached. Append-only. */
enum sm_upstream_failure {
	SM_UPF_DNS_NXDOMAIN = 0, /* the name does not exist */
	SM_UPF_DNS_ERROR,        /* resolver failure or timeout */
	SM_UPF_REFUSED,          /* connection refused */
	SM_UPF_TIMEOUT,          /* connect deadline passed */
	SM_UPF_UNREACHABLE,      /* network or host unreachable */
	SM_UPF_DEST_BLOCKED,     /* every resolved address was blocked by a dest rule */
	SM_UPF_OTHER,            /* any other connect error (errno in the event) */
	SM_UPF_COUNT
};

enum sm_tls_reason {
	SM_TLS_OK = 0,
	SM_TLS_UNKNOWN_CA,         /* chain does not lead to a trusted CA (or the peer said so) */
	SM_TLS_CERT_EXPIRED,       /* certificate past notAfter */
	SM_TLS_CERT_NOT_YET_VALID, /* certificate before notBefore */
	SM_TLS_HOSTNAME_MISMATCH,  /* certificate does not name the host */
	SM_TLS_HANDSHAKE_ALERT,    /* the peer sent a fatal alert not covered above */
	SM_TLS_TIMEOUT,            /* the handshake did not finish in time */
	SM_TLS_EOF,                /* the peer closed during the handshake */
	SM_TLS_RESET,              /* the connection was reset during the handshake */
	SM_TLS_ALPN_MISMATCH,      /* no common application protocol */
	SM_TLS_PROTOCOL_VERSION,   /* no common TLS version */
	SM_TLS_OTHER,              /* anything else (wolfSSL error in the event) */
	SM_TLS_REASON_COUNT
};

/* Which side of the proxy failed. */
enum sm_tls_side {
	SM_TLS_SIDE_CLIENT = 0, /* between the client and the proxy */
	SM_TLS_SIDE_SERVER = 1, /* between the proxy and the upstream server */
};

/* How a TLS failure's reason was known (tls_failure_source). Append-only.
 * The first three said who noticed the failure; they are no longer
 * emitted: "peer_alert" was also given to a client that closed without
 * any alert. */
enum sm_tls_source {
	SM_TLS_SRC_LOCAL = 0,            /* retired: our own checks */
	SM_TLS_SRC_PEER,                 /* retired: the peer's fatal alert */
	SM_TLS_SRC_TRANSPORT,            /* retired: the connection: EOF, reset, timeout */
	SM_TLS_SRC_NATIVE_AUTHORITATIVE, /* the reason is what was seen: an alert (received or
	                                    sent), our own verification, the transport itself */
	SM_TLS_SRC_NATIVE_INFERRED,      /* the event carries a guess from timing (enum
	                                    sm_tls_inference); the reason is still what was seen */
};

/* The guess a tls_handshake_failed event carries, if any. Append-only.
 * Nothing automated may act on one (docs/tls.md). */
enum sm_tls_inference {
	SM_TLS_INF_NONE = 0,                 /* no guess: the source is authoritative */
	SM_TLS_INF_CLOSED_AFTER_CERTIFICATE, /* the client got our whole certificate flight and
	                                        closed (eof, reset) before its Finished, without
	                                        an alert: likely it does not trust our CA, or pins
	                                      */
	SM_TLS_INF_COUNT
};

/* Parser errors by stage. Append-only (exported as labels). */
enum sm_parse_stage {
	SM_PARSE_HTTP1_REQUEST = 0, /* client bytes refused by proto/http1 */
	SM_PARSE_HTTP1_RESPONSE,    /* upstream bytes refused by proto/http1 */
	SM_PARSE_DECODE_BOMB,       /* an observed body or message decompressed past its
	                               budget (content coding, gRPC, permessage-deflate) */
	SM_PARSE_H2_CLIENT,         /* an HTTP/2 client's connection ended by proto/h2: abuse
	                               (rapid reset, stream flood) or a protocol error */
	SM_PARSE_STAGE_COUNT
};

/* Names as they appear in events and labels; "unknown" out of range. */
const char *sm_close_reason_name(int reason);
const char *sm_action_name(int action);
const char *sm_upstream_failure_name(int reason);
const char *sm_tls_reason_name(int reason);
const char *sm_tls_side_name(int side);
const char *sm_tls_source_name(int source);
const char *sm_tls_inference_name(int inference);
const char *sm_parse_stage_name(int stage);

#endif
