/* Protocol observers on relayed HTTP/1.1 (plain and intercepted): bodies go
 * through observe/pipeline while the original bytes are forwarded untouched
 * (proto/http1's observer hook hands over copies). SSE streams give one
 * sse_event per event as it arrives, other decodable bodies payload events,
 * and any stage failure a parse_error; a failure never touches the traffic.
 * Switches: observe.sse, observe.decoders (config). */
#ifndef SM_CORE_OBSERVE_H
#define SM_CORE_OBSERVE_H

#include "core/reactor.h"

struct sm_pipe;
struct sm_pipe_event;

/* Bytes of a body (not SSE, gRPC or WebSocket) decoded for its payload
 * event unless observe.whole_bodies is on: the excerpt (at most 96 bytes)
 * needs far fewer, even of msgpack rendered as JSON, and the work per body
 * stays bounded by this instead of by the body (decompressing a whole 7 KB
 * gzip JSON body costs more proxy CPU than relaying it). */
#define SM_OBSERVE_PREFIX 1024

/* A decode pipeline for a body of content type ct (content-encoding ce,
 * grpc-encoding ge, each NULL/0 when absent) when the switches ask for it;
 * NULL when they do not (or out of memory). Shared by the HTTP/1.1 and
 * HTTP/2 relays. */
struct sm_pipe *sm_observe_pipe(const struct sm_config *cfg, const uint8_t *ct, size_t ctl,
                                const uint8_t *ce, size_t cel, const uint8_t *ge, size_t gel,
                                void (*cb)(void *ctx, const struct sm_pipe_event *pe), void *ctx);
/* One pipeline event as the flow event it stands for: parse_error,
 * grpc_message (framing gRPC), sse_event (framing SSE) or payload. */
void sm_observe_emit(struct sm_reactor *r, struct sm_flow *f, int dir, int framing, int32_t stream,
                     const char *ctype, const struct sm_pipe_event *pe);

/* Installs the observer on the flow's HTTP layer when any switch is on. */
void sm_observe_attach(struct sm_reactor *r, struct sm_flow *f);
/* Frees whatever the flow still observes (flow end, layer reset). */
void sm_observe_detach(struct sm_flow *f);

/* A WebSocket observer (switch observe.websocket) for one upgraded stream:
 * both directions are parsed from the relayed bytes; ws_message, ws_close,
 * ws_turn events carry `stream` (the HTTP/2 stream of an RFC 8441 extended
 * CONNECT, 0 after an HTTP/1.1 101). ext[0..el) is the server's
 * Sec-WebSocket-Extensions (NULL: none): permessage-deflate messages are
 * inflated per its parameters (bomb budget observe.max_message_bytes).
 * NULL when the switch is off or out of memory. */
struct sm_ws_obs;
struct sm_ws_obs *sm_observe_ws_new(struct sm_reactor *r, struct sm_flow *f, int32_t stream,
                                    const uint8_t *ext, size_t el);
/* Bytes relayed in direction dir (0 client->server); o may be NULL. */
void sm_observe_ws_data(struct sm_ws_obs *o, int dir, const uint8_t *p, size_t n);
/* Flushes the open turn and frees (NULL is fine). */
void sm_observe_ws_free(struct sm_ws_obs *o);

/* The same after an HTTP/1.1 101 on the flow (fr->ws). start returns false
 * when the switch is off (or out of memory). */
bool sm_observe_ws_start(struct sm_reactor *r, struct sm_flow *f);
void sm_observe_ws_feed(struct sm_flow *f, int dir, const uint8_t *p, size_t n);
void sm_observe_ws_end(struct sm_flow *f);

#endif
