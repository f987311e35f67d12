/* Protocol observers on relayed traffic: HTTP/1.1 and HTTP/2 bodies through
 * observe/pipeline (payload, sse_event, grpc_message, parse_error events),
 * WebSocket messages and turns, gRPC status. They are fed copies of the
 * bytes the relays forward and never touch the traffic: a failure is an
 * event, and the bytes go on unchanged.
 *
 * Observers report through a sink, the flow's event stream as the engine
 * provides it (core/ implements it); they know nothing of reactors, flows
 * or sockets. Switches: the observe section of the configuration. */
#ifndef SM_OBSERVE_OBSERVE_H
#define SM_OBSERVE_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/event.h"

struct sm_pipe;
struct sm_pipe_event;
struct sm_h1;
struct sm_h2;
struct sm_h2_event;

/* The observe section of the configuration (docs/config.md). */
struct sm_observe_config {
	bool sse;                   /* text/event-stream: one sse_event per event */
	bool websocket;             /* Upgrade: websocket kept; ws_message, ws_turn, ws_close */
	bool grpc;                  /* application/grpc*: grpc_message per message */
	bool decoders;              /* bodies through observe/pipeline: payload, parse_error */
	bool whole_bodies;          /* decode every body to its end (else its first
	                               SM_OBSERVE_PREFIX bytes) */
	uint32_t excerpt_bytes;     /* payload bytes quoted in events (at most 96) */
	uint32_t max_message_bytes; /* largest SSE event / WS message / unit decoded */
};

/* Bytes of a body (not SSE, gRPC or WebSocket) decoded for its payload
 * event unless observe.whole_bodies is on: the excerpt (at most 96 bytes)
 * needs far fewer, even of msgpack rendered as JSON, and the work per body
 * stays bounded by this instead of by the body (decompressing a whole 7 KB
 * gzip JSON body costs more proxy CPU than relaying it). */
#define SM_OBSERVE_PREFIX 1024

/* Where observers report: the event stream of one flow. */
struct sm_observe_sink {
	/* A new event of `type` to fill, then commit(); NULL when it is
	 * dropped (ring full, or nobody reads events). */
	struct sm_event *(*event)(void *ctx, int type);
	void (*commit)(void *ctx);
	/* A parser failure counted under stage (enum sm_parse_stage). */
	void (*count)(void *ctx, int stage);
	void *ctx;
};

/* True when any body observer is on (SSE, gRPC or the decoders). */
bool sm_observe_bodies(const struct sm_observe_config *cfg);

/* ---- HTTP/1.1: bodies of both directions of one connection ---- */

struct sm_observe_h1;
/* Watches the bodies the HTTP/1.1 layer h relays (sm_h1_set_observer);
 * NULL when no body observer is on (or out of memory). */
struct sm_observe_h1 *sm_observe_h1_new(const struct sm_observe_config *cfg,
                                        const struct sm_observe_sink *sink, struct sm_h1 *h);
/* Reports what is still open (an unfinished body) and frees; NULL is fine. */
void sm_observe_h1_free(struct sm_observe_h1 *o);

/* ---- HTTP/2: the streams of one connection ---- */

struct sm_observe_h2;
struct sm_observe_h2 *sm_observe_h2_new(const struct sm_observe_config *cfg,
                                        const struct sm_observe_sink *sink);
/* One event popped from proto/h2 (h: its object, for header lookups):
 * bodies, RFC 8441 WebSocket streams and gRPC status are followed from
 * here. o may be NULL. */
void sm_observe_h2_event(struct sm_observe_h2 *o, const struct sm_h2 *h,
                         const struct sm_h2_event *ev);
void sm_observe_h2_free(struct sm_observe_h2 *o);

/* ---- WebSocket: both directions of one upgraded stream ---- */

struct sm_observe_ws;
/* For the stream `stream` (the HTTP/2 stream of an RFC 8441 extended
 * CONNECT, 0 after an HTTP/1.1 101); ext[0..el) is the server's
 * Sec-WebSocket-Extensions (NULL: none), whose permessage-deflate is
 * followed. NULL when observe.websocket is off (or out of memory). */
struct sm_observe_ws *sm_observe_ws_new(const struct sm_observe_config *cfg,
                                        const struct sm_observe_sink *sink, int32_t stream,
                                        const uint8_t *ext, size_t el);
/* Bytes relayed in direction dir (0 client to server); o may be NULL. */
void sm_observe_ws_data(struct sm_observe_ws *o, int dir, const uint8_t *p, size_t n);
/* Reports a message the end cut (both directions), flushes the open turn
 * and frees; NULL is fine. */
void sm_observe_ws_free(struct sm_observe_ws *o);

#endif
