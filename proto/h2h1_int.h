/* Internals of proto/h2h1 shared by h2h1.c (the h2 side: nghttp2 server
 * session, streams, FIFO, API) and h2h1_up.c (the HTTP/1.1 side: request
 * writer, response reader). Not a public header. */
#ifndef SM_PROTO_H2H1_INT_H
#define SM_PROTO_H2H1_INT_H

#include <llhttp.h>

#include "proto/h1frame.h"
#include "proto/h2_int.h"
#include "proto/h2h1.h"

/* One client stream. The upstream part (request written, response read)
 * ends before the stream does: the response may still drain to the client
 * while the next stream is served. */
struct h2h1_st {
	int32_t sid;         /* client stream id; 0: free slot */
	uint8_t open;        /* the stream exists in the nghttp2 session */
	uint8_t dead;        /* reset: nothing more is relayed */
	uint8_t reported;    /* STREAM_RESET event emitted */
	uint8_t req_end;     /* END_STREAM received and validated */
	uint8_t end_pending; /* a DATA frame with END_STREAM began */
	uint8_t head_req;    /* HEAD: the response has no body */
	uint8_t final;       /* final response head submitted to the client */
	uint8_t resp_end;    /* the response is complete (body buffered) */
	uint8_t provider;    /* a data provider is attached to the response */
	uint8_t deferred;    /* it returned DEFERRED */
	uint8_t sent_any;    /* a byte of the request went to the upstream */
	uint8_t up_done;     /* the upstream part is over */
	int64_t cl;          /* request Content-Length, -1 if none */
	uint64_t rx;         /* request DATA bytes received */
	uint32_t ordinal;    /* request number on the upstream (0: not sent) */
	struct h2_buf req;   /* client DATA waiting for the upstream */
	struct h2_buf resp;  /* response payload waiting for the client */
	uint8_t *head;       /* request line and fields, without framing nor blank line */
	uint32_t head_len;
	struct h2_trailers *req_tr, *resp_tr;
};

/* Request writer states. */
enum { W_IDLE = 0, W_HEAD, W_FRAMING, W_BODY, W_TAIL, W_DONE };
/* Response reader states. */
enum { R_HEAD = 0, R_BODY };

struct sm_h2h1 {
	struct sm_h2 *h; /* the core: limits, budget, header storage, events */
	struct sm_h2h1_limits lim;
	struct h2h1_st *st; /* max_streams slots */
	uint32_t *q;        /* waiting slots in arrival order (ring) */
	uint32_t qhead, qlen;
	int32_t act; /* slot served by the upstream, -1: none */
	/* request writer (for act) */
	uint8_t w;
	uint8_t chunked;  /* body framed as chunks */
	uint32_t woff;    /* offset in the piece being copied */
	char framing[64]; /* framing field line(s) and the blank line */
	uint32_t framing_len;
	uint8_t *tail; /* "0\r\n", trailers, "\r\n" */
	uint32_t tail_len;
	/* response reader (for act) */
	llhttp_t p;
	uint8_t r;
	uint8_t close_after; /* the response ends the upstream connection */
	uint8_t *raw;        /* head bytes (max_head) */
	uint32_t raw_fill;
	struct sm_h1frame_body body;
	uint8_t *trl; /* trailer section bytes (max_trailer) */
	uint32_t trl_len;
	uint8_t trl_over;
	/* connection state */
	uint8_t up_dead; /* the upstream serves no more requests */
	uint8_t up_eof;
	uint8_t cl_eof;
	uint8_t failed;       /* client session failed */
	uint8_t goaway;       /* GOAWAY submitted to the client (or due) */
	int32_t goaway_after; /* GOAWAY due when this stream closes (0: none) */
	uint8_t paused;       /* client feed stopped for events */
	uint32_t ordinal;     /* requests sent so far */
	int32_t last_sid;     /* last stream given to the upstream */
	uint8_t *out;         /* send_cb target */
	size_t out_cap, out_len;
	struct sm_h2h1_stats stats;
};

static inline struct sm_h2h1 *X(const struct sm_h2 *h)
{
	return h->h2h1;
}

/* h2h1.c */
void h2h1_push(struct sm_h2h1 *x, uint8_t type, int dir, const struct h2h1_st *st);
void h2h1_push_headers(struct sm_h2h1 *x, uint8_t type, int dir, const struct h2h1_st *st,
                       uint16_t flags, uint16_t status);
/* Resets the stream toward the client (502 instead when no final head
 * went out and upstream is set), reports it once, drops its buffers. */
void h2h1_kill(struct sm_h2h1 *x, struct h2h1_st *st, int who, uint32_t code, int reason,
               int detail, int upstream);
/* The upstream connection serves no more requests: refuse the waiting
 * streams, GOAWAY the client. who/reason: for the GOAWAY event. */
void h2h1_up_dead(struct sm_h2h1 *x, int who, int reason);
/* The upstream part of the active stream is over: serve the next one. */
void h2h1_next(struct sm_h2h1 *x);
void h2h1_resume(struct sm_h2h1 *x, struct h2h1_st *st);
int h2h1_buf_add(struct sm_h2h1 *x, struct h2_buf *b, const uint8_t *p, size_t n);
void h2h1_buf_drop(struct sm_h2h1 *x, struct h2_buf *b);
nghttp2_session *h2h1_srv(const struct sm_h2h1 *x);
/* Data provider of a response: st->resp, then EOF (and trailers). */
ssize_t h2h1_read_cb(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *dflags,
                     nghttp2_data_source *src, void *ud);

/* h2h1_up.c */
int h2h1_up_init(struct sm_h2h1 *x);
/* Serialises the request head of the block just validated into st->head.
 * 0, or an SM_H2_R_* reason (detail in *detail). */
int h2h1_build_head(struct sm_h2h1 *x, struct h2h1_st *st, int *detail);
/* Resets the writer and reader for the active stream. */
void h2h1_up_start(struct sm_h2h1 *x);
/* The active stream is abandoned: its upstream part is cut. */
void h2h1_up_abort(struct sm_h2h1 *x, int who);
long h2h1_feed_upstream(struct sm_h2h1 *x, const uint8_t *in, size_t len);
long h2h1_out_upstream(struct sm_h2h1 *x, uint8_t *out, size_t cap);
int h2h1_want_upstream(const struct sm_h2h1 *x);
void h2h1_upstream_eof(struct sm_h2h1 *x);

#endif
