/* Internals of proto/h1h2 shared by h1h2.c (the HTTP/1.1 side: proto/http1
 * in origin mode, requests, client output, API) and h1h2_up.c (the nghttp2
 * client session toward the upstream, response serialisation). Not a
 * public header. */
#ifndef SM_PROTO_H1H2_INT_H
#define SM_PROTO_H1H2_INT_H

#include "proto/h1frame.h"
#include "proto/h1h2.h"
#include "proto/h2_int.h"
#include "proto/http1.h"

#define H1H2_SCRATCH 16384 /* request bytes out of proto/http1 per step */
#define H1H2_STAGE   16384 /* HTTP/1.1 response bytes fed to proto/http1 per step */
#define H1H2_DISCARD 4096  /* request heads flushed out of proto/http1 (not used) */

/* The one exchange (request and its response) in progress. Requests are
 * served one at a time, so the fields are reset by each new request. */
struct h1h2_ex {
	int32_t ord;         /* request ordinal = client-side stream id (0: none yet) */
	int32_t sid;         /* upstream stream id (0: not opened upstream) */
	uint8_t open;        /* counted in h->nopen until retired */
	uint8_t s_closed;    /* the h2 stream is closed (or was never opened) */
	uint8_t c_done;      /* the response reached the client whole (or never will) */
	uint8_t in_body;     /* request body bytes are still coming from proto/http1 */
	uint8_t req_drop;    /* request body bytes are dropped (refused or reset) */
	uint8_t req_end;     /* request complete and queued for the upstream */
	uint8_t deferred;    /* the request data provider returned DEFERRED */
	uint8_t version;     /* client's HTTP version: 10 or 11 */
	uint8_t head_req;    /* HEAD: the response has no body */
	uint8_t final;       /* a final response head was queued for the client */
	uint8_t chunked;     /* the response body goes out chunked */
	uint8_t until_close; /* the response body ends with the connection (HTTP/1.0) */
	uint8_t resp_end;    /* the response is complete upstream (or replaced by an error) */
	uint8_t tail_done;   /* the chunked tail (or the EOF) was staged */
	uint8_t fed_any;     /* a byte of a response went into proto/http1 */
	uint8_t reset_seen;  /* STREAM_RESET event emitted */
	uint8_t local_rst;   /* the proxy reset the upstream stream (already handled) */
	uint8_t eof_fed;     /* until_close: proto/http1 was told the body ended */
	uint8_t peer_rst;    /* the upstream sent RST_STREAM on the stream */
	struct sm_h1frame_body rbody; /* request body delimiter (raw bytes from proto/http1) */
	struct h2_buf req;            /* request payload waiting for the upstream */
	uint32_t rtrl_len;            /* request trailer section bytes in x->rtrl */
	struct h2_trailers *req_tr;   /* request trailers to send after the body */
	struct h2_buf hq;             /* serialised response heads waiting for the client */
	struct h2_buf rb;             /* response payload waiting for the client */
	struct h2_buf tq;             /* response trailer lines (chunked framing) */
};

struct sm_h1h2 {
	struct sm_h2 *h; /* the core: limits, budget, header storage, events */
	struct sm_h1h2_limits lim;
	struct sm_h1 *h1; /* proto/http1, origin mode, max_pipeline 1 */
	struct sm_authority origin;
	struct h1h2_ex ex;
	int32_t ord; /* requests seen */
	/* staging toward the client: bytes fed to sm_h1_server_feed() */
	uint8_t *rs;
	uint32_t rs_off, rs_len;
	/* bytes for the client written around proto/http1 (its own error
	 * response once it failed) */
	uint8_t direct[512];
	uint32_t direct_off, direct_len;
	uint8_t *scratch; /* H1H2_SCRATCH: request body bytes of one step */
	uint8_t *lname;   /* lower-cased names (max_head) */
	uint8_t *rtrl;    /* request trailer section (max_trailer) */
	uint8_t discard[H1H2_DISCARD];
	/* connection state */
	uint8_t cl_eof;   /* the client transport closed */
	uint8_t cl_close; /* close the client once its output is flushed */
	uint8_t abort;    /* a response was cut: nothing more goes to the client */
	uint8_t h1_dead;  /* proto/http1 failed */
	uint8_t up_eof;   /* the upstream transport closed */
	uint8_t up_gone;  /* the upstream takes no new stream (GOAWAY, failure, EOF) */
	uint8_t up_fail;  /* the upstream session failed */
	uint8_t goaway_sent;
	uint8_t *out; /* send_cb target */
	size_t out_cap, out_len;
	struct sm_h1h2_stats stats;
};

static inline struct sm_h1h2 *Y(const struct sm_h2 *h)
{
	return h->h1h2;
}

static inline nghttp2_session *h1h2_up(const struct sm_h1h2 *y)
{
	return y->h->side[SM_H2_UPSTREAM].s;
}

/* h1h2.c */
void h1h2_push(struct sm_h1h2 *y, struct h2_ev *e);
/* Queues a synthetic final response for the client (502 ...) in place of
 * the upstream's, when no final head was queued yet; close: with
 * Connection: close. */
void h1h2_synth(struct sm_h1h2 *y, unsigned status, int close);
/* The response was cut after its head: the client connection ends. */
void h1h2_abort(struct sm_h1h2 *y);
/* Retires the exchange once both its halves are over. */
void h1h2_settle(struct sm_h1h2 *y);

/* h1h2_up.c */
int h1h2_up_open(struct sm_h1h2 *y);
/* Resets the upstream stream of the exchange (if open) with code. */
void h1h2_up_reset(struct sm_h1h2 *y, uint32_t code);
/* Resumes the request data provider after new bytes or the end. */
void h1h2_up_resume(struct sm_h1h2 *y);
/* Submits the request block just validated on side CLIENT; body: a data
 * provider follows. Returns the stream id or a negative nghttp2 error. */
int32_t h1h2_up_submit(struct sm_h1h2 *y, int body);
long h1h2_feed_upstream(struct sm_h1h2 *y, const uint8_t *in, size_t len);
long h1h2_out_upstream(struct sm_h1h2 *y, uint8_t *out, size_t cap);
void h1h2_upstream_lost(struct sm_h1h2 *y, int eof);

#endif
