/* observe/observe.c through a fake sink: the flow events (as the collector
 * writes them) that the WebSocket observer reports. */
#include "observe/observe.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "telemetry/event.h"

/* A sink that formats each committed event as its JSONL line, from
 * "type" on (ts, core, flow and seq are the collector's). */
struct fake {
	struct sm_event ev;
	char log[1 << 15];
	size_t len;
};

static struct sm_event *fk_event(void *ctx, int type)
{
	struct fake *f = ctx;
	f->ev = (struct sm_event){.type = (uint16_t)type};
	return &f->ev;
}

static void fk_commit(void *ctx)
{
	struct fake *f = ctx;
	char buf[SM_EVENT_JSON_MAX];
	if (f->ev.type == SM_EV_WS_TURN)
		f->ev.i[3] = 0; /* span_us: wall-clock time */
	size_t n = sm_event_to_json(&f->ev, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	const char *t = strstr(buf, "\"type\"");
	cr_assert_not_null(t);
	size_t k = n - (size_t)(t - buf);
	cr_assert_lt(f->len + k + 1, sizeof(f->log));
	f->log[f->len++] = '{';
	memcpy(f->log + f->len, t, k);
	f->len += k;
	f->log[f->len] = 0;
}

static void fk_count(void *ctx, int stage)
{
	(void)ctx;
	(void)stage;
}

static const struct sm_observe_config cfg = {
        .websocket = true,
        .excerpt_bytes = 64,
        .max_message_bytes = 1 << 16,
};

static struct sm_observe_ws *ws_new(struct fake *f)
{
	struct sm_observe_sink sink = {fk_event, fk_commit, fk_count, f};
	struct sm_observe_ws *o = sm_observe_ws_new(&cfg, &sink, 0, NULL, 0);
	cr_assert_not_null(o);
	return o;
}

#define C2S             0
#define S2C             1
#define FEED(o, dir, s) sm_observe_ws_data(o, dir, (const uint8_t *)(s), sizeof(s) - 1)

/* A frame with an error is skipped and the next message of that direction
 * is still reported; a message cut by it is reported with what was seen. */
Test(observe_ws, framing_error_then_next_message)
{
	static struct fake f;
	struct sm_observe_ws *o = ws_new(&f);
	FEED(o, C2S,
	     "\x81\x03"
	     "bad");                                                  /* unmasked from the client */
	FEED(o, C2S, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"); /* "Hello", masked */
	FEED(o, S2C,
	     "\x01\x02"
	     "ab"
	     "\xc0\x02"
	     "cd" /* RSV1 without permessage-deflate: cuts "ab" */
	     "\x81\x02"
	     "ok");
	sm_observe_ws_free(o);
	cr_assert_str_eq(
	        f.log,
	        "{\"type\":\"parse_error\",\"dir\":\"client_to_server\",\"stage\":\"framing\","
	        "\"fatal\":0,\"stream\":0,\"module\":\"websocket\",\"reason\":\"mask_required\"}\n"
	        "{\"type\":\"ws_message\",\"dir\":\"client_to_server\",\"opcode\":1,\"length\":5,"
	        "\"compressed\":0,\"decoded_length\":5,\"stream\":0,\"excerpt\":\"Hello\"}\n"
	        "{\"type\":\"parse_error\",\"dir\":\"server_to_client\",\"stage\":\"framing\","
	        "\"fatal\":0,\"stream\":0,\"module\":\"websocket\",\"reason\":\"rsv_bits\"}\n"
	        "{\"type\":\"parse_error\",\"dir\":\"server_to_client\",\"stage\":\"framing\","
	        "\"fatal\":0,\"stream\":0,\"module\":\"websocket\",\"reason\":\"truncated\"}\n"
	        "{\"type\":\"ws_turn\",\"dir\":\"client_to_server\",\"messages\":1,\"bytes\":5,"
	        "\"span_us\":0,\"flush\":0,\"stream\":0}\n"
	        "{\"type\":\"ws_message\",\"dir\":\"server_to_client\",\"opcode\":1,\"length\":2,"
	        "\"compressed\":0,\"decoded_length\":2,\"stream\":0,\"excerpt\":\"ab\"}\n"
	        "{\"type\":\"ws_message\",\"dir\":\"server_to_client\",\"opcode\":1,\"length\":2,"
	        "\"compressed\":0,\"decoded_length\":2,\"stream\":0,\"excerpt\":\"ok\"}\n"
	        "{\"type\":\"ws_turn\",\"dir\":\"server_to_client\",\"messages\":2,\"bytes\":4,"
	        "\"span_us\":0,\"flush\":2,\"stream\":0}\n");
}

/* The connection ends inside a message (FIN or RST mid-message): the
 * observer's end reports what was seen of it. */
Test(observe_ws, end_mid_message_is_reported_truncated)
{
	static struct fake f;
	struct sm_observe_ws *o = ws_new(&f);
	FEED(o, S2C,
	     "\x81\x02"
	     "hi"
	     "\x01\x03"
	     "par"
	     "\x80\x06"
	     "ti"); /* 2 of the last frame's 6 bytes */
	sm_observe_ws_free(o);
	cr_assert_str_eq(
	        f.log,
	        "{\"type\":\"ws_message\",\"dir\":\"server_to_client\",\"opcode\":1,\"length\":2,"
	        "\"compressed\":0,\"decoded_length\":2,\"stream\":0,\"excerpt\":\"hi\"}\n"
	        "{\"type\":\"parse_error\",\"dir\":\"server_to_client\",\"stage\":\"framing\","
	        "\"fatal\":0,\"stream\":0,\"module\":\"websocket\",\"reason\":\"truncated\"}\n"
	        "{\"type\":\"ws_message\",\"dir\":\"server_to_client\",\"opcode\":1,\"length\":5,"
	        "\"compressed\":0,\"decoded_length\":5,\"stream\":0,\"excerpt\":\"parti\"}\n"
	        "{\"type\":\"ws_turn\",\"dir\":\"server_to_client\",\"messages\":2,\"bytes\":7,"
	        "\"span_us\":0,\"flush\":2,\"stream\":0}\n");
}

/* A 64-bit length with the high bit set cannot be skipped: the one fatal
 * error, said in the event; the other direction goes on. */
Test(observe_ws, unrecoverable_length_stops_that_direction)
{
	static struct fake f;
	struct sm_observe_ws *o = ws_new(&f);
	FEED(o, S2C,
	     "\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00"
	     "\x81\x02"
	     "no");
	FEED(o, C2S, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
	sm_observe_ws_free(o);
	cr_assert_str_eq(
	        f.log,
	        "{\"type\":\"parse_error\",\"dir\":\"server_to_client\",\"stage\":\"framing\","
	        "\"fatal\":1,\"stream\":0,\"module\":\"websocket\",\"reason\":\"bad_length\"}\n"
	        "{\"type\":\"ws_message\",\"dir\":\"client_to_server\",\"opcode\":1,\"length\":5,"
	        "\"compressed\":0,\"decoded_length\":5,\"stream\":0,\"excerpt\":\"Hello\"}\n"
	        "{\"type\":\"ws_turn\",\"dir\":\"client_to_server\",\"messages\":1,\"bytes\":5,"
	        "\"span_us\":0,\"flush\":2,\"stream\":0}\n");
}
