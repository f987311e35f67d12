/* Internals of proto/h2 shared by h2.c (sessions, forwarding, API) and
 * h2_hdr.c (header storage, validation, events). Not a public header. */
#ifndef SM_PROTO_H2_INT_H
#define SM_PROTO_H2_INT_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "proto/h2.h"
#include "proto/hdrcheck.h"

/* A growable byte FIFO bounded by `max` (the stream window). */
struct h2_buf {
	uint8_t *p;
	uint32_t off, len, cap;
};

/* Trailers copied out of the header arena, waiting for the body to drain. */
struct h2_trailers {
	uint32_t n;
	nghttp2_nv nv[]; /* names and values follow the array */
};

/* One client stream and its upstream twin. dir 0 = request (client to
 * upstream), dir 1 = response (upstream to client). */
struct h2_stream {
	int32_t sid[2];         /* [0] client-side id, [1] upstream-side id (0: none) */
	uint8_t used;           /* slot in use */
	uint8_t open[2];        /* the stream exists in session [side] (not closed) */
	uint8_t ended[2];       /* END_STREAM received and validated for dir */
	uint8_t provider[2];    /* a data provider is attached for dir (on the receiving session) */
	uint8_t deferred[2];    /* that provider returned DEFERRED */
	uint8_t end_pending[2]; /* a DATA frame with END_STREAM began for dir */
	uint8_t dead;           /* reset: no more forwarding, buffers dropped */
	uint8_t reported;       /* STREAM_RESET event emitted */
	uint8_t final;          /* final response head received */
	uint8_t head;           /* request method HEAD: response has no body */
	uint8_t stop_other;     /* a side ended its message with RST_STREAM(NO_ERROR) */
	uint8_t rst_code[2];    /* code to send when resetting side (pending) */
	int64_t cl[2];          /* Content-Length of dir, -1 if none */
	uint64_t rx[2];         /* DATA bytes received for dir */
	struct h2_buf buf[2];
	struct h2_trailers *tr[2];
};

/* The header block being received on one side (HEADERS + CONTINUATION are
 * contiguous per connection, so one per side). */
struct h2_block {
	int32_t sid;     /* stream of the block (session's id) */
	uint8_t cat;     /* H2_K_*: what the block is */
	uint8_t active;  /* a block is being received */
	uint8_t reason;  /* first fault (enum sm_h2_reason), 0 if none */
	uint8_t regular; /* a regular field was seen (pseudo after it is a fault) */
	uint8_t pseudo;  /* pseudo fields seen (bit per kind) */
	int32_t detail;
	uint32_t first;                /* index of its first field in the side's field array */
	uint32_t nfields;              /* fields stored */
	uint64_t size;                 /* RFC 9113 size so far */
	uint32_t ps_off[6], ps_len[6]; /* method, scheme, authority, path, status values */
	uint32_t host_off, host_len;   /* value of the Host field (host_seen) */
	uint8_t host_seen;
	struct sm_hdrcheck_msg msg;
};

struct h2_field {
	uint32_t noff, nlen, voff, vlen;
	uint8_t flags; /* nghttp2_nv_flag */
};

/* Per-side header storage: bytes and fields of the blocks received since
 * the event queue was last empty (events point into it). */
struct h2_side {
	nghttp2_session *s;
	uint8_t *arena;
	uint32_t alen, acap;
	struct h2_field *fields;
	uint32_t flen, fcap;
	struct h2_block blk;
	uint8_t goaway_seen; /* GOAWAY event for a GOAWAY from this side emitted */
	uint8_t goaway_sent; /* we submitted a GOAWAY to this side */
	uint8_t eof;         /* transport closed */
	uint8_t failed;      /* fatal nghttp2 error */
	uint8_t lost;        /* its streams are over (eof, failure, nghttp2 ended it) */
	const uint8_t *in;   /* input of the feed in progress */
};

/* Internal event entry; expanded by sm_h2_next_event(). */
struct h2_ev {
	uint8_t type, dir, who, reason;
	uint16_t flags, status;
	int32_t sid, usid;
	uint32_t code;
	int32_t last_id, detail;
	const uint8_t *data;
	uint32_t len;
	uint32_t hfirst, nheaders;
	uint32_t ps_off[6], ps_len[6]; /* REQUEST pseudo values (arena offsets, PS_*) */
	uint8_t ps_has[6];
};

/* nghttp2's send callback into a caller's buffer out[*len..cap): takes what
 * fits, WOULDBLOCK when nothing does (the relay drains it and resumes). */
static inline ssize_t h2_send_into(uint8_t *out, size_t *len, size_t cap, const uint8_t *data,
                                   size_t n)
{
	size_t room = cap - *len;
	if (room == 0)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (n > room)
		n = room;
	memcpy(out + *len, data, n);
	*len += n;
	return (ssize_t)n;
}

/* The GOAWAY event of frame f (received from side dir, or sent on it by
 * nghttp2 itself when who is SM_H2_PROXY). */
static inline struct h2_ev h2_goaway_ev(int dir, int who, int reason, const nghttp2_frame *f)
{
	return (struct h2_ev){.type = SM_H2_EV_GOAWAY,
	                      .dir = (uint8_t)dir,
	                      .who = (uint8_t)who,
	                      .reason = (uint8_t)reason,
	                      .code = f->goaway.error_code,
	                      .last_id = f->goaway.last_stream_id};
}

/* What the public sm_h2_* calls run on one object, installed once by its
 * constructor: sm_h2_new() the relay of two h2 sessions (h2_conn.c),
 * sm_h2h1_new() the HTTP/2-to-HTTP/1.1 translator (h2h1.c), sm_h1h2_new()
 * the HTTP/1.1-to-HTTP/2 translator (h1h2.c). The caller never knows which:
 * events, flow control and limits keep the contract of proto/h2.h. Each
 * entry is that public call for one side (enum sm_h2_side). */
struct sm_h2_ops {
	const char *name;
	long (*feed)(struct sm_h2 *h, int side, const uint8_t *in, size_t len);
	long (*out)(struct sm_h2 *h, int side, uint8_t *buf, size_t cap);
	int (*want_out)(const struct sm_h2 *h, int side);
	int (*eof)(struct sm_h2 *h, int side);
	int (*done)(const struct sm_h2 *h, int side);
	enum sm_h2_wait (*wait)(const struct sm_h2 *h, int side);
	/* Frees the translator's own state (NULL: it has none). */
	void (*release)(struct sm_h2 *h);
};

struct sm_h2 {
	struct sm_h2_limits lim;
	nghttp2_mem mem;
	size_t mem_used;
	struct h2_side side[2];
	struct h2_stream *st;
	uint32_t nslots, nopen;
	size_t buffered;
	struct h2_ev *evq;
	uint32_t evhead, evlen, evcap;
	uint32_t ev_soft;  /* pause receiving when this many events are queued */
	uint8_t paused[2]; /* feed of side stopped for events */
	uint8_t failed;
	uint8_t xconnect; /* SETTINGS_ENABLE_CONNECT_PROTOCOL offered to the client */
	/* client abuse (limits.max_resets): counts in this window of
	 * 10 x max_streams opened streams and the one before it */
	uint32_t abuse_cur, abuse_prev, abuse_opened;
	uint8_t client_end;       /* enum sm_h2_reason that ended the client's connection */
	uint32_t client_end_code; /* the error code of that GOAWAY */
	/* output in progress */
	uint8_t *out;
	size_t out_cap, out_len;
	struct sm_h2_stats stats;
	nghttp2_nv *nvscratch;
	const struct sm_h2_ops *ops; /* what the public calls run: set once by the constructor */
	struct sm_h2h1 *h2h1;        /* the HTTP/2-to-HTTP/1.1 translator's state (h2h1.c) */
	struct sm_h1h2 *h1h2;        /* the HTTP/1.1-to-HTTP/2 translator's state (h1h2.c) */
};

/* h2_conn.c: the client opened a stream (refused ones included); the
 * client abused (reason SM_H2_R_RAPID_RESET or _STREAM_FLOOD): past
 * max_resets its session is terminated with ENHANCE_YOUR_CALM. */
void h2_abuse_opened(struct sm_h2 *h);
void h2_abuse(struct sm_h2 *h, int reason);
/* A GOAWAY went to the client: what ended its connection, for
 * sm_h2_client_ended(); returns the reason to report it with. */
int h2_client_goaway_sent(struct sm_h2 *h, uint32_t code);

/* h2_hdr.c, h2_event.c */
int h2_ev_push(struct sm_h2 *h, const struct h2_ev *e);
int h2_ev_room(const struct sm_h2 *h);
void h2_arena_reset(struct sm_h2 *h, int side);
void h2_block_begin(struct sm_h2 *h, int side, int32_t sid, uint8_t cat);
/* 0 stored (or fault recorded), NGHTTP2_ERR_PAUSE: no room, retry later. */
int h2_block_field(struct sm_h2 *h, int side, const uint8_t *name, size_t nlen,
                   const uint8_t *value, size_t vlen, uint8_t flags);
/* A translator's nghttp2 on_header: a field of the block being collected on
 * `side` for stream sid (others are ignored), NGHTTP2_ERR_PAUSE once the
 * event queue is full, or h2_block_field()'s refusal. */
int h2_block_header(struct sm_h2 *h, int side, int32_t sid, const uint8_t *name, size_t nlen,
                    const uint8_t *value, size_t vlen, uint8_t flags);
/* Final checks of the block for its kind; returns reason (0 = ok), the
 * :status of a response and the Content-Length (-1: none). */
int h2_block_finish(struct sm_h2 *h, int side, int end_stream, uint16_t *status, int64_t *cl);
/* nghttp2_nv array of the current block, in h->nvscratch. */
size_t h2_block_nv(struct sm_h2 *h, int side);
struct h2_trailers *h2_trailers_copy(struct sm_h2 *h, int side);
void *h2_alloc(struct sm_h2 *h, size_t n);
/* Appends to a stream buffer holding at most max bytes (h->buffered
 * counts it): 0, -1 over max, -2 no memory. */
int h2_buf_put(struct sm_h2 *h, struct h2_buf *b, const uint8_t *p, size_t n, uint32_t max);
/* Moves up to max bytes out of it; returns the count. */
size_t h2_buf_take(struct sm_h2 *h, struct h2_buf *b, uint8_t *out, size_t max);
void *h2_realloc(struct sm_h2 *h, void *p, size_t n);
void h2_free(struct sm_h2 *h, void *p);

/* h2_conn.c: the object without sessions (with_streams: the 1:1 stream
 * table too) running ops; a session of `side` with the given callbacks and user data,
 * our SETTINGS and connection window queued. */
struct sm_h2 *h2_core_new(const struct sm_h2_limits *lim, int with_streams,
                          const struct sm_h2_ops *ops);
int h2_session_open(struct sm_h2 *h, int side, nghttp2_session_callbacks *cb, void *ud);
/* h2_conn.c: side's connection is gone (EOF, fatal error, or nghttp2 ended
 * it): its streams are over, the other side gets a GOAWAY. */
void h2_side_lost(struct sm_h2 *h, int side);
/* h2_conn.c: the relay of two h2 sessions. */
extern const struct sm_h2_ops h2_relay_ops;

/* h2.c: stream bookkeeping shared with h2_conn.c. Queues an event; frees a
 * stream closed on both sides; ends a stream on both sides (`side` reset
 * with `code`, the other with its peer code), reported once; refuses what
 * `side` sent on it (reason, detail as in the STREAM_RESET event). */
struct h2_ev;
void h2_push(struct sm_h2 *h, struct h2_ev *e);
void h2_maybe_free(struct sm_h2 *h, struct h2_stream *st);
void h2_kill_stream(struct sm_h2 *h, struct h2_stream *st, int side, uint8_t who, uint32_t code,
                    int reason, int detail);
void h2_reject(struct sm_h2 *h, struct h2_stream *st, int side, int reason, int detail);
/* Event fields of the block just finished on `side`. */
void h2_ev_fill_headers(struct sm_h2 *h, struct h2_ev *e, int side, int32_t sid, int32_t usid);
/* 1 if a DATA frame with this header cannot fit Content-Length cl (-1:
 * none) after rx bytes (padding counted as possibly empty). */
int h2_data_len_bad(int64_t cl, uint64_t rx, const nghttp2_frame_hd *hd);

enum { PS_METHOD = 0, PS_SCHEME, PS_AUTHORITY, PS_PATH, PS_STATUS, PS_PROTOCOL, PS_N };
enum { H2_K_REQ = 1, H2_K_RESP, H2_K_TRAIL }; /* header block kinds */

#endif
