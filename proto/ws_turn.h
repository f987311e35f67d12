/* WebSocket turn aggregator, sans-I/O.
 *
 * A turn is a run of consecutive messages in one direction (a prompt, a
 * streamed answer). The aggregator is fed messages of both directions of one
 * connection, with a monotonic time in nanoseconds supplied by the caller,
 * and emits one turn event when the turn ends:
 *   DIRECTION  a message arrives in the other direction
 *   IDLE       more than idle_ns passed since the turn's last message (seen
 *              on the next message, or by sm_ws_turn_tick)
 *   CLOSE      sm_ws_turn_close (close frame or end of connection)
 *   ERROR      sm_ws_turn_error (a fatal parser error)
 * Nothing is emitted when no turn is open. No allocation: embed the struct. */
#ifndef SM_PROTO_WS_TURN_H
#define SM_PROTO_WS_TURN_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/websocket.h"

/* Why a turn ended. Append-only. */
enum sm_ws_turn_why {
	SM_WS_TURN_DIRECTION = 0,
	SM_WS_TURN_IDLE = 1,
	SM_WS_TURN_CLOSE = 2,
	SM_WS_TURN_ERROR = 3,
};

struct sm_ws_turn_event {
	enum sm_ws_dir dir;
	enum sm_ws_turn_why why;
	uint64_t index;    /* turn number on this connection, from 0 */
	uint32_t messages; /* messages in the turn (>= 1) */
	uint64_t bytes;    /* sum of message payload lengths */
	uint64_t first_ns; /* time of the first message */
	uint64_t last_ns;  /* time of the last message */
};

typedef void (*sm_ws_turn_cb)(void *ctx, const struct sm_ws_turn_event *ev);

/* Fields are private; embed it and use the functions. */
struct sm_ws_turn {
	sm_ws_turn_cb cb;
	void *ctx;
	uint64_t idle_ns; /* 0 = turns never end by idleness */
	bool open;
	struct sm_ws_turn_event cur;
	uint64_t turns; /* turns emitted so far */
};

void sm_ws_turn_init(struct sm_ws_turn *t, uint64_t idle_ns, sm_ws_turn_cb cb, void *ctx);

/* A complete message of `bytes` payload bytes in direction dir at now_ns. */
void sm_ws_turn_message(struct sm_ws_turn *t, enum sm_ws_dir dir, uint64_t bytes, uint64_t now_ns);

/* Ends the open turn if now_ns - last_ns > idle_ns. Call from a timer. */
void sm_ws_turn_tick(struct sm_ws_turn *t, uint64_t now_ns);

void sm_ws_turn_close(struct sm_ws_turn *t);
void sm_ws_turn_error(struct sm_ws_turn *t);

/* Routes a parser event: MESSAGE -> message, CLOSE -> close, fatal ERROR ->
 * error. Ping/pong and non-fatal errors (1009, 1007: the message event still
 * follows) do not affect turns. */
void sm_ws_turn_on_event(struct sm_ws_turn *t, const struct sm_ws_event *ev, uint64_t now_ns);

/* "direction", "idle", "close", "error". */
const char *sm_ws_turn_why_str(enum sm_ws_turn_why w);

#endif
