/* Protocol observers on relayed HTTP/1.1 (plain and intercepted): bodies go
 * through decode/pipeline while the original bytes are forwarded untouched
 * (proto/http1's observer hook hands over copies). SSE streams give one
 * sse_event per event as it arrives, other decodable bodies payload events,
 * and any stage failure a parse_error; a failure never touches the traffic.
 * Switches: observe.sse, observe.decoders (config). */
#ifndef SM_CORE_OBSERVE_H
#define SM_CORE_OBSERVE_H

#include "core/reactor.h"

/* Installs the observer on the flow's HTTP layer when any switch is on. */
void sm_observe_attach(struct sm_reactor *r, struct sm_flow *f);
/* Frees whatever the flow still observes (flow end, layer reset). */
void sm_observe_detach(struct sm_flow *f);

/* WebSocket after a 101 (switch observe.websocket): both directions are
 * parsed from the relayed bytes; ws_message, ws_close, ws_turn events.
 * start returns false when the switch is off (or out of memory). */
bool sm_observe_ws_start(struct sm_reactor *r, struct sm_flow *f);
void sm_observe_ws_feed(struct sm_flow *f, int dir, const uint8_t *p, size_t n);
void sm_observe_ws_end(struct sm_flow *f);

#endif
