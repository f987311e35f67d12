/* permessage-deflate negotiation (RFC 7692 §7.1) as an observer sees it:
 * the Sec-WebSocket-Extensions value the server answered with (the 101 of
 * an HTTP/1.1 upgrade, or the 2xx of an RFC 8441 extended CONNECT) says
 * whether messages may be compressed and how each side's compressor is set
 * up, which is what the inflater of each direction needs.
 *
 * The value is an extension list (RFC 6455 §9.1): extensions separated by
 * ',', parameters by ';', values tokens or quoted strings, optional
 * whitespace. Only the first "permessage-deflate" element counts (a server
 * accepts at most one offer). Its parameters:
 *
 *   server_no_context_takeover          server->client window reset per message
 *   client_no_context_takeover          client->server window reset per message
 *   server_max_window_bits=8..15        server->client window
 *   client_max_window_bits[=8..15]      client->server window (15 when no value)
 *
 * An unknown parameter, a repeated one, or a value out of range makes the
 * answer invalid (a client would fail the connection): compressed frames
 * are then allowed but not inflated (params.inflate = false). Sans-I/O, no
 * allocation. */
#ifndef SM_PROTO_WS_DEFLATE_H
#define SM_PROTO_WS_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sm_ws_deflate_params {
	bool on;      /* permessage-deflate was accepted: RSV1 marks compressed messages */
	bool inflate; /* its parameters are valid: messages can be inflated */
	/* per direction: [0] client->server (client's compressor), [1] server->client */
	bool no_context_takeover[2];
	uint8_t window_bits[2]; /* 8..15; 15 when not given */
};

/* Parses the response's extension list v[0..n) (need not be NUL-terminated;
 * NULL/0 = no header). Fills *out; returns true when permessage-deflate is on. */
bool sm_ws_deflate_parse(const char *v, size_t n, struct sm_ws_deflate_params *out);

#endif
