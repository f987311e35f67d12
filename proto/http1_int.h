/* Internal types of proto/http1 shared by http1.c (feeds, sending, init)
 * and http1_head.c (llhttp callbacks, head checks and rewriting). Not part
 * of the contract: include proto/http1.h instead. */
#ifndef SM_PROTO_HTTP1_INT_H
#define SM_PROTO_HTTP1_INT_H

#include <llhttp.h>
#include <string.h>

#include "proto/h1frame.h"
#include "proto/hdrcheck.h"
#include "proto/http1.h"

#define EVQ_CAP   8  /* events; a feed stops while fewer than 2 are free */
#define CONN_TOKS 16 /* Connection tokens remembered per head */

struct sm_h1_span {
	uint32_t off, len;
};

struct sm_h1_field {
	struct sm_h1_span name, value;
};

struct sm_h1_pending { /* one forwarded request awaiting its response */
	uint8_t method;
	uint8_t version;
	uint8_t client_close;
};

enum sm_h1_side_state {
	S_HEAD = 0, /* parsing a head */
	S_HELD,     /* client: head parsed, waiting for sm_h1_release() */
	S_SEND,     /* flushing the staged head, then the body */
	S_TUNNEL,   /* client: CONNECT seen; server: 101 seen */
	S_CLOSED,   /* no more messages on this side; input is ignored */
	S_DEAD,     /* error reported */
};

struct sm_h1_side {
	llhttp_t p;
	struct sm_h1 *h;
	uint8_t *raw, *stage;
	struct sm_h1_field *fields;
	uint32_t raw_fill, stage_len, stage_off;
	uint16_t nfields;
	uint8_t state;
	uint8_t is_request;
	uint8_t fresh;       /* the next head byte starts a new message */
	uint8_t just_parsed; /* a head event was produced in this feed call */
	uint8_t url_done;
	uint8_t in_name;   /* a field name span is open */
	uint8_t val_open;  /* a field value span is open */
	uint8_t cb_reason; /* reason raised from a callback (HPE_USER) */
	uint16_t cb_detail;
	struct sm_h1_span url, status, cur_name, cur_val;
	struct sm_hdrcheck_msg chk;
	struct sm_h1frame_body body;
	uint64_t body_bytes;
	/* of the current message */
	uint8_t version, close, interim, forwarded, upgrade;
	uint8_t client_close; /* response: the client connection ends after it */
	uint16_t code;
	uint8_t obs_state;         /* enum sm_h1_obs_state of the current message */
	struct sm_h1_event obs_ev; /* the head event, kept for the observer */
};

enum sm_h1_obs_state {
	OBS_NONE = 0, /* head not reported (yet) */
	OBS_OPEN,     /* head reported, end not yet */
	OBS_ENDED,    /* end reported */
};

struct sm_h1 {
	struct sm_h1_limits lim;
	struct sm_h1_side cli, srv;
	struct sm_h1_pending *fifo;
	uint16_t fifo_head, fifo_len;
	struct sm_h1_event evq[EVQ_CAP];
	uint8_t ev_head, ev_len;
	uint8_t up_live;                  /* an upstream is connected and reusable */
	uint8_t held_switch;              /* the held request needs a new upstream */
	uint8_t client_done;              /* a response closed the client: read no more requests */
	uint8_t wait;                     /* enum sm_h1_wait of the last client feed */
	uint8_t origin_mode;              /* intercepted: one fixed server, origin-form */
	struct sm_authority req_auth;     /* target of the last request event */
	struct sm_authority up_auth;      /* the live upstream */
	struct sm_h1_pending req_pending; /* the last request, pushed when released */
	struct sm_h1_stats stats;
	const struct sm_h1_observer *obs; /* NULL: not observed */
	void *obs_ctx;
};

static inline size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/* Rewritten heads grow by at most one SP per field plus the added lines. */
static inline size_t stage_cap(const struct sm_h1_limits *l)
{
	return (size_t)l->max_head + 2u * l->max_headers + SM_AUTHORITY_INPUT_MAX + 64;
}

static inline int ev_free(const struct sm_h1 *h)
{
	return EVQ_CAP - h->ev_len;
}

static inline struct sm_h1_event *ev_push(struct sm_h1 *h, uint8_t type)
{
	struct sm_h1_event *ev = &h->evq[(h->ev_head + h->ev_len) % EVQ_CAP];
	h->ev_len++;
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	return ev;
}

static inline uint8_t *carve(uint8_t **cur, size_t n)
{
	uint8_t *p = *cur;
	*cur += align16(n);
	return p;
}

static inline void fifo_push(struct sm_h1 *h, struct sm_h1_pending p)
{
	h->fifo[(h->fifo_head + h->fifo_len) % h->lim.max_pipeline] = p;
	h->fifo_len++;
}

static inline const struct sm_h1_pending *fifo_front(const struct sm_h1 *h)
{
	return &h->fifo[h->fifo_head];
}

static inline void fifo_pop(struct sm_h1 *h)
{
	h->fifo_head = (uint16_t)((h->fifo_head + 1) % h->lim.max_pipeline);
	h->fifo_len--;
}

/* http1.c: observer reports (no-ops unless h->obs is set) */
void sm_h1_obs_head(struct sm_h1 *h, struct sm_h1_side *s);
void sm_h1_obs_end(struct sm_h1 *h, struct sm_h1_side *s, int complete);

/* http1_head.c */
void sm_h1_side_init(struct sm_h1 *h, struct sm_h1_side *s, int is_request, uint8_t **cur);
long sm_h1_fail(struct sm_h1 *h, struct sm_h1_side *s, enum sm_h1_reason r, unsigned detail);
long sm_h1_head_step(struct sm_h1 *h, struct sm_h1_side *s, const uint8_t *in, size_t len,
                     int *done);
long sm_h1_request_head(struct sm_h1 *h, struct sm_h1_side *s);
long sm_h1_response_head(struct sm_h1 *h, struct sm_h1_side *s);

#endif
